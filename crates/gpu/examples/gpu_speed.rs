//! Decode and prefill speed of the GPU backend under each matvec variant and arithmetic the
//! adapter has, plus the bytes a decode step reads, for comparing against the memory-bandwidth
//! bound on a hardware GPU (tests/bench/README.md).
//!
//! Where the adapter has timestamp queries, each configuration also prints where a decode step's
//! GPU time goes: each kernel's time per step (mean of 16 profiled steps), its weights' bandwidth,
//! and the launches' sum against the step's span on the GPU and its time seen from the host.
//!
//! usage: cargo run --release -p tokscope-gpu --example gpu_speed -- MODEL.gguf [DECODE_TOKENS]
//! ($VARIANTS and $ARITHMETICS pick some of the configurations, $PREFILL the prompt's length,
//! $DECODE_AT the position decoding starts at (default 16: attention over a long context shows
//! at 2000), $SPLIT the attention splits (`gpu,none`: AttentionSplit::GPU and ::NONE; default
//! the adapter's), $PIECES below.)
use std::time::Instant;

use tokscope_gpu::{
    Arithmetic, AttentionSplit, GpuBackend, GpuContext, LoadOptions, MatvecVariant, StepProfile,
};
use tokscope_model::{Backend, LogitsFor, ModelFile};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: gpu_speed MODEL.gguf [DECODE_TOKENS]")?;
    let decode: usize = args.next().map_or(Ok(256), |s| s.parse())?;
    let file = ModelFile::open(std::path::Path::new(&path))?;
    let ctx = GpuContext::new_blocking()?;
    println!("adapter: {}", ctx.describe());
    let weight_bytes: u64 = file.tensors.iter().map(|t| t.n_bytes).sum();
    println!("weights: {:.1} MB", weight_bytes as f64 / 1e6);

    let mut variants = vec![MatvecVariant::Workgroup, MatvecVariant::Rowwise];
    if ctx.has_subgroups() {
        variants.push(MatvecVariant::Subgroup);
    }
    let mut arithmetics = vec![Arithmetic::F32];
    if ctx.has_f16() {
        arithmetics.push(Arithmetic::F16);
    }
    // Only some of them ($VARIANTS: e.g. `rowwise,workgroup`; $ARITHMETICS: `f32`), where a
    // software adapter makes the whole table slow.
    let chosen = |var: &str, name: String| std::env::var(var).map_or(true, |v| v.contains(&name));
    variants.retain(|v| chosen("VARIANTS", format!("{v:?}").to_lowercase()));
    arithmetics.retain(|a| chosen("ARITHMETICS", a.name().to_string()));
    // Launches per command buffer ($PIECES, comma-separated, `all` for the whole step).
    let pieces: Vec<Option<usize>> = match std::env::var("PIECES") {
        Ok(v) => v.split(',').map(|p| p.parse().ok()).collect(),
        Err(_) => vec![None],
    };
    // Prompt tokens prefilled ($PREFILL, default 512).
    let prefill_tokens: u32 = std::env::var("PREFILL").map_or(Ok(512), |v| v.parse())?;
    let decode_at: usize = std::env::var("DECODE_AT").map_or(Ok(16), |v| v.parse())?;
    let n_ctx = 1024
        .max(prefill_tokens as usize + 1)
        .max(decode_at + decode + 64);
    let splits: Vec<Option<AttentionSplit>> = match std::env::var("SPLIT") {
        Ok(v) => v
            .split(',')
            .map(|s| match s {
                "none" => Some(AttentionSplit::NONE),
                _ => Some(AttentionSplit::GPU),
            })
            .collect(),
        Err(_) => vec![None],
    };
    for &matvec in &variants {
        for &arithmetic in &arithmetics {
            for (&launches_per_submit, &attention_split) in pieces
                .iter()
                .flat_map(|p| splits.iter().map(move |s| (p, s)))
            {
                let options = LoadOptions {
                    matvec: Some(matvec),
                    arithmetic: Some(arithmetic),
                    launches_per_submit,
                    attention_split,
                    ..LoadOptions::default()
                };
                let mut gpu = GpuBackend::with_options(&ctx, &file, n_ctx, options)?;
                let n_vocab = file.config.n_vocab as u32;
                let prompt: Vec<u32> = (0..(prefill_tokens as usize).max(decode_at).max(32) as u32)
                    .map(|i| (100 + i) % n_vocab)
                    .collect();

                // Prefill: the prompt in the backend's batches, logits of the last one.
                gpu.forward(&prompt[..32], LogitsFor::Last)?; // warm-up
                gpu.truncate(0);
                let t = Instant::now();
                gpu.forward(&prompt, LogitsFor::Last)?;
                let prefill = prompt.len() as f64 / t.elapsed().as_secs_f64();
                let split = attention_split.map_or(String::new(), |s| format!(", split {s:?}"));

                // Decode: one token per step after a 16-token prompt, the summary read back (top 20),
                // as generate does; then with the full logits read back.
                let mut run = |summary: bool| -> Result<f64, Box<dyn std::error::Error>> {
                    gpu.truncate(0);
                    gpu.forward(&prompt[..decode_at], LogitsFor::Last)?;
                    let t = Instant::now();
                    let mut token = 0u32;
                    for _ in 0..decode {
                        if summary {
                            let s = gpu.forward_summary(&[token], 20)?;
                            token = s.top.first().map_or(0, |e| e.0);
                        } else {
                            let l = gpu.forward(&[token], LogitsFor::Last)?;
                            token = l[0].to_bits() % n_vocab;
                        }
                    }
                    Ok(decode as f64 / t.elapsed().as_secs_f64())
                };
                run(true)?; // warm-up
                let summary = run(true)?;
                let logits = run(false)?;
                let pieces =
                    launches_per_submit.map_or("whole step".into(), |p| format!("{p} launches"));
                println!(
                    "{matvec:?} {} ({pieces} per submit{split}): prefill {prefill:.0} tok/s; decode {summary:.0} tok/s (summary read back), {logits:.0} tok/s (logits read back); {decode} tokens at positions {decode_at}..",
                    arithmetic.name()
                );
                if gpu.can_profile() {
                    gpu.truncate(0);
                    gpu.forward(&prompt[..decode_at], LogitsFor::Last)?;
                    print_profile(&mut gpu, 1e6 / summary)?;
                }
            }
        }
    }
    Ok(())
}

/// Times 16 decode steps launch by launch and prints the kernels' mean time per step, largest
/// first; `step_micros` is a step's time seen from the host (the decode speed measured above).
fn print_profile(gpu: &mut GpuBackend, step_micros: f64) -> Result<(), Box<dyn std::error::Error>> {
    const STEPS: usize = 16;
    gpu.profile_step(0)?; // warm-up
    let profiles: Vec<StepProfile> = (0..STEPS)
        .map(|i| gpu.profile_step(i as u32 + 1))
        .collect::<Result<_, _>>()?;
    // Per label: launches per step, µs per step, weight bytes per step.
    let mut rows: Vec<(String, usize, f64, u64)> = Vec::new();
    for launch in profiles.iter().flat_map(|p| &p.launches) {
        let i = match rows.iter().position(|r| r.0 == launch.label) {
            Some(i) => i,
            None => {
                rows.push((launch.label.clone(), 0, 0.0, 0));
                rows.len() - 1
            }
        };
        rows[i].1 += 1;
        rows[i].2 += launch.micros;
        rows[i].3 += launch.weight_bytes;
    }
    rows.sort_by(|a, b| b.2.total_cmp(&a.2));
    let per_step = STEPS as f64;
    let sum: f64 = rows.iter().map(|r| r.2).sum::<f64>() / per_step;
    let span = profiles.iter().map(|p| p.span_micros).sum::<f64>() / per_step;
    println!("  profile ({STEPS} steps, each launch in a pass of its own):");
    println!(
        "  {:<34} {:>8} {:>10} {:>8}",
        "kernel", "launches", "µs/step", "GB/s"
    );
    for (label, n, micros, bytes) in &rows {
        // Software adapters read weights at a few GB/s: keep their digits.
        let gbps = match *bytes as f64 / (micros * 1e3) {
            0.0 => String::new(),
            g if g < 10.0 => format!("{g:.2}"),
            g => format!("{g:.0}"),
        };
        println!(
            "  {label:<34} {:>8} {:>10.1} {gbps:>8}",
            *n as f64 / per_step,
            micros / per_step
        );
    }
    println!(
        "  launches' sum {sum:.0} µs, GPU span {span:.0} µs (profiled), host step {step_micros:.0} µs (unprofiled)"
    );
    Ok(())
}
