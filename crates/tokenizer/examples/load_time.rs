//! Times building the tokenizer and chat template of a GGUF file (default: the default model).
//! `cargo run -p tokscope-tokenizer --profile test --example load_time -- [MODEL.gguf]`

use std::time::Instant;

use tokscope_gguf::Gguf;
use tokscope_tokenizer::{ChatTemplate, Tokenizer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "models/SmolLM2-135M-Instruct.Q4_1.gguf".to_string());
    let bytes = std::fs::read(&path)?;
    let start = Instant::now();
    let gguf = Gguf::parse(&bytes)?;
    let parsed = start.elapsed();
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        let tokenizer = Tokenizer::from_gguf(&gguf.metadata)?;
        let _template = ChatTemplate::from_gguf(&gguf.metadata)?;
        best = best.min(start.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(tokenizer);
    }
    println!(
        "GGUF parse {:.1} ms; tokenizer + chat template {best:.1} ms (best of 5)",
        parsed.as_secs_f64() * 1e3
    );
    Ok(())
}
