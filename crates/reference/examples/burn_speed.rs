//! Times the reference model on Burn's own GPU backend (the device `BURN_DEVICE` picks, Vulkan by
//! default with the `wgpu` feature): the comparison issue 4 asks for beside tokscope's kernels.
//! The reference keeps no KV cache, so a one-token forward at position 0 is the closest it has to
//! a decode step (a lower bound on one), and an n-token forward is its prefill.
//!
//! usage: cargo run --release -p tokscope-reference --features wgpu --example burn_speed -- MODEL.gguf
use std::time::Instant;

use burn::tensor::Device;
use tokscope_reference::Reference;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: burn_speed MODEL.gguf")?;
    let bytes = std::fs::read(&path)?;
    let t = Instant::now();
    let model = Reference::from_gguf_on(&bytes, Device::default())?;
    println!("load: {:.2} s", t.elapsed().as_secs_f64());

    let one = |token: u32| model.forward(&[token]).map(|l| l.len());
    for token in 0..3 {
        one(token)?; // warm-up: kernel compilation and autotuning
    }
    let runs = 20;
    let t = Instant::now();
    for token in 0..runs {
        one(token + 10)?;
    }
    let per = t.elapsed().as_secs_f64() / runs as f64;
    println!(
        "one-token forward (decode at position 0): {:.2} ms, {:.1} tok/s",
        per * 1e3,
        1.0 / per
    );

    for n in [64u32, 256] {
        let tokens: Vec<u32> = (0..n).map(|i| 100 + i).collect();
        model.forward(&tokens)?; // warm-up for this shape
        let t = Instant::now();
        model.forward(&tokens)?;
        let s = t.elapsed().as_secs_f64();
        println!(
            "prefill {n} tokens: {:.1} ms, {:.0} tok/s",
            s * 1e3,
            n as f64 / s
        );
    }
    Ok(())
}
