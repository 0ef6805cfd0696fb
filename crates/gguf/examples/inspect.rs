//! Prints a GGUF file's metadata (long arrays summarised) and tensor directory.
fn main() {
    let path = std::env::args().nth(1).expect("usage: inspect FILE.gguf");
    let bytes = std::fs::read(&path).expect("read");
    let g = tokscope_gguf::Gguf::parse(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
    println!(
        "version {} alignment {} data at {}",
        g.version, g.alignment, g.data_offset
    );
    for (k, v) in g.metadata.iter() {
        match v.as_array() {
            Some(items) if items.len() > 8 => {
                let first: Vec<_> = items.values().take(3).collect();
                println!("{k} = [{} items] {first:?}..", items.len())
            }
            _ => {
                let s = format!("{v:?}");
                println!("{k} = {}", &s[..s.len().min(200)]);
            }
        }
    }
    for t in &g.tensors {
        println!("{} {:?} {} @{}", t.name, t.dims, t.ggml_type, t.file_offset);
    }
}
