//! Cost of the per-step statistics of one generated step over a vocabulary of 49,152 tokens (the default
//! model's) or as many as the first argument says (Gemma 3: 262144), at T = 1, T = 0.7 with top-p 0.9, and
//! with top-k 40 and min-p 0.05: `cargo run --release -p tokscope-dist --example step_stats [-- 262144]`.

use std::time::Instant;

use tokscope_dist::{self as dist, SamplingParams};

fn main() {
    // Model-like logits: a bulk around 0 with a spread of ~2.5 and a few standouts.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut uniform = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f32 / (1u64 << 53) as f32
    };
    let n_vocab: usize = std::env::args()
        .nth(1)
        .map_or(49_152, |a| a.parse().expect("a vocabulary size"));
    let mut logits: Vec<f32> = (0..n_vocab)
        .map(|_| (0..4).map(|_| uniform()).sum::<f32>() * 3.0 - 6.0)
        .collect();
    for (i, z) in [
        (510usize, 17.0f32),
        (7, 16.2),
        (n_vocab / 2, 15.5),
        (33, 14.0),
    ] {
        logits[i] = z;
    }
    let history: Vec<u32> = (0..64).collect();
    for (label, params) in [
        ("T=1", SamplingParams::default()),
        (
            "T=0.7 top-p 0.9",
            SamplingParams {
                temperature: 0.7,
                top_p: 0.9,
                ..SamplingParams::default()
            },
        ),
        (
            "top-k 40 min-p 0.05",
            SamplingParams {
                top_k: 40,
                min_p: 0.05,
                ..SamplingParams::default()
            },
        ),
    ] {
        let reps = 500;
        let mut bf = dist::BranchingFactor::new();
        let mut u = 0.0;
        let t = Instant::now();
        for _ in 0..reps {
            let (s, w) = dist::summarize_and_warp(&logits, &params, &history).unwrap();
            u = (u + 0.618_033_988_749) % 1.0;
            let id = w.quantile(u);
            std::hint::black_box((
                dist::top_n(&logits, s.lse, 20),
                dist::rank(&logits, id).unwrap(),
                dist::logprob(&logits, s.lse, id).unwrap(),
                w.logprob(id),
                w.kept(),
                bf.push(w.entropy()),
                s.entropy,
            ));
        }
        let ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
        println!("per-step statistics over {n_vocab} tokens, {label}: {ms:.3} ms");
    }
}
