//! Times building the tokenizer and chat template of a GGUF file (default: the default model).
//! `cargo run -p tokscope-tokenizer --release --example load_time -- [MODEL.gguf]`
//! Prints wall time and, on Linux, this thread's time on a CPU, which a busy machine inflates less.

use std::time::Instant;

use tokscope_gguf::Gguf;
use tokscope_tokenizer::{ChatTemplate, Tokenizer};

/// Nanoseconds this thread has run on a CPU (Linux's schedstat); `None` elsewhere.
fn cpu_ns() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "models/SmolLM2-135M-Instruct.Q4_1.gguf".to_string());
    let bytes = std::fs::read(&path)?;
    let start = Instant::now();
    let gguf = Gguf::parse(&bytes)?;
    let parsed = start.elapsed();
    let (mut best, mut best_cpu) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..5 {
        let (start, cpu_start) = (Instant::now(), cpu_ns());
        let tokenizer = Tokenizer::from_gguf(&gguf.metadata)?;
        let _template = ChatTemplate::from_gguf(&gguf.metadata)?;
        best = best.min(start.elapsed().as_secs_f64() * 1e3);
        if let (Some(a), Some(b)) = (cpu_start, cpu_ns()) {
            best_cpu = best_cpu.min((b - a) / 1e6);
        }
        std::hint::black_box(tokenizer);
    }
    let cpu = if best_cpu.is_finite() {
        format!(", {best_cpu:.1} ms on the CPU")
    } else {
        String::new()
    };
    println!(
        "GGUF parse {:.1} ms; tokenizer + chat template {best:.1} ms{cpu} (best of 5)",
        parsed.as_secs_f64() * 1e3
    );
    Ok(())
}
