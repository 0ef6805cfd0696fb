//! Loads a GGUF, prefills a few token ids, decodes greedily and prints the tokens and the speed.
//! `cargo run --release -p tokscope-model --example decode_speed -- MODEL [THREADS] [TOKENS]`
use std::time::Instant;
use tokscope_model::{Backend, LogitsFor, ModelFile, cpu::CpuBackend};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("model path");
    let threads: usize = args.next().map_or(1, |s| s.parse().unwrap());
    let n: usize = args.next().map_or(64, |s| s.parse().unwrap());
    let file = ModelFile::open(path.as_ref()).unwrap();
    let mut m = CpuBackend::with_context(file, threads, 2048).unwrap();
    let prompt = [
        1u32, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411,
        407, 19712, 8182, 2, 198, 1, 4093, 198,
    ];
    let t0 = Instant::now();
    let mut logits = m.forward(&prompt, LogitsFor::Last).unwrap();
    let prefill = t0.elapsed();
    let mut out = Vec::new();
    let t1 = Instant::now();
    for _ in 0..n {
        let next = logits
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0 as u32;
        out.push(next);
        logits = m.forward(&[next], LogitsFor::Last).unwrap();
    }
    let dt = t1.elapsed();
    println!("{out:?}");
    println!(
        "prefill {} tok in {:?} ({:.1} tok/s); decode {:.1} tok/s",
        prompt.len(),
        prefill,
        prompt.len() as f64 / prefill.as_secs_f64(),
        n as f64 / dt.as_secs_f64()
    );
}
