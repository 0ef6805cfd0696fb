//! Writes a model of the same shape as a given GGUF (its metadata, tensor names, dims and
//! types) whose tensor data is each tensor's first 12 KB repeated: a file that compresses to a
//! few hundred KB, for carrying to a benchmark machine where the real file cannot travel. Speed
//! does not depend on weight values; the block scales stay realistic, so activations stay finite.
//!
//! usage: cargo run --release -p tokscope-gguf --example synthesize -- IN.gguf OUT.gguf
use tokscope_gguf::{Gguf, GgufWriter};

/// How much of each tensor is kept and repeated: a multiple of every block size (2, 4, 18, 20,
/// 34 bytes), and small enough for gzip's 32 KiB window to see the repeats.
const PATTERN: usize = 4 * 3060;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        return Err("usage: synthesize IN.gguf OUT.gguf".into());
    };
    let bytes = std::fs::read(input)?;
    let gguf = Gguf::parse(&bytes)?;
    let mut w = GgufWriter::new();
    w.version(gguf.version);
    for (key, value) in gguf.metadata.iter() {
        w.metadata(key, value.clone());
    }
    for t in &gguf.tensors {
        let data = gguf.tensor_data(t);
        let pattern = &data[..data.len().min(PATTERN)];
        let synthetic: Vec<u8> = pattern.iter().copied().cycle().take(data.len()).collect();
        w.tensor_raw(&t.name, &t.dims, t.ggml_type, synthetic);
    }
    std::fs::write(output, w.to_bytes())?;
    Ok(())
}
