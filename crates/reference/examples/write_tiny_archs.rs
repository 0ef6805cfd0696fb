//! Writes the tiny models of tests/golden/logprobs_tiny_archs.json into a directory, for
//! tests/golden/make_golden_archs.py to run through llama.cpp:
//!
//!     cargo run -p tokscope-reference --example write_tiny_archs -- /tmp/tiny-archs

use tokscope_reference::tiny::{golden_arch_models, tiny_llama_gguf};

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: write_tiny_archs DIR");
        std::process::exit(2);
    };
    let dir = std::path::Path::new(&dir);
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        std::process::exit(1);
    }
    for (name, spec, seed) in golden_arch_models() {
        let path = dir.join(format!("{name}.gguf"));
        if let Err(e) = std::fs::write(&path, tiny_llama_gguf(&spec, seed)) {
            eprintln!("cannot write {}: {e}", path.display());
            std::process::exit(1);
        }
        println!("{}", path.display());
    }
}
