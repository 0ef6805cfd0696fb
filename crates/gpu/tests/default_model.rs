//! The GPU backend on the default model (SmolLM2-135M-Instruct Q4_1) against the CPU backend's
//! exact arithmetic, which matches llama.cpp's f32 results (crates/session/tests/golden_llamacpp.rs):
//! 64 teacher-forced positions of tests/golden/logprobs.json's sequences, each with
//! KL(cpu‖gpu) < 1e-4 nats and the same top-1 token wherever the CPU's top-2 margin exceeds 1e-3,
//! with block scales held as f32 and, where the adapter has shader-f16 (lavapipe does), as f16.

use std::path::PathBuf;

use tokscope_gpu::{
    Arithmetic, AttentionSplit, GpuBackend, GpuContext, LoadOptions, MatvecVariant,
};
use tokscope_model::cpu::CpuBackend;
use tokscope_model::{Backend, LogitsFor, ModelFile};

const POSITIONS: usize = 64;
const KL_BOUND: f64 = 1e-4;
const MARGIN: f32 = 1e-3;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn default_model() -> ModelFile {
    let path = root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask setup`",
        path.display()
    );
    ModelFile::open(&path).expect("the default model loads")
}

/// The golden file's token sequences, in order.
fn sequences() -> Vec<Vec<u32>> {
    let text = std::fs::read_to_string(root().join("tests/golden/logprobs.json")).unwrap();
    let golden: serde_json::Value = serde_json::from_str(&text).unwrap();
    golden["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| id.as_u64().unwrap() as u32)
                .collect()
        })
        .collect()
}

/// The top two logits' difference.
fn top2_margin(logits: &[f32]) -> f32 {
    let (mut a, mut b) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
    for &z in logits {
        if z > a {
            (a, b) = (z, a);
        } else if z > b {
            b = z;
        }
    }
    a - b
}

#[test]
fn teacher_forced_distributions_match_the_cpu_backend() {
    let ctx = GpuContext::new_blocking().unwrap_or_else(|e| panic!("{e}"));
    println!("adapter: {}", ctx.describe());
    let mut cpu = CpuBackend::with_context(default_model(), 2, 256).unwrap();
    // The adapter's own kernels (rowwise matvec, attention unsplit on lavapipe), then the
    // workgroup matvec a hardware GPU takes, with the RMSNorms folded in; then decode steps
    // with attention split over positions as on a hardware GPU, here in chunks of 16 so that
    // these sequences have up to 4 (decoded one token at a time: batches are not split).
    check(&ctx, &mut cpu, Arithmetic::F32, LoadOptions::default());
    let workgroup = LoadOptions {
        matvec: Some(MatvecVariant::Workgroup),
        ..LoadOptions::default()
    };
    check(&ctx, &mut cpu, Arithmetic::F32, workgroup);
    let split = LoadOptions {
        attention_split: Some(AttentionSplit {
            min_len: 16,
            max_chunks: 16,
        }),
        ..LoadOptions::default()
    };
    check(&ctx, &mut cpu, Arithmetic::F32, split);
    if ctx.has_f16() {
        check(&ctx, &mut cpu, Arithmetic::F16, LoadOptions::default());
    } else {
        println!("no shader-f16: f16 scales are not tested");
    }
}

/// The deliberately wrong kernel the browser's WebGPU self-check is tested with (the embedding
/// reading each token's neighbour's row) is far from the CPU backend, in batches and decode
/// steps alike, where the right kernels agree to 1e-4 nats (above).
#[test]
fn the_test_only_wrong_embedding_is_far_from_the_cpu_backend() {
    let ctx = GpuContext::new_blocking().unwrap_or_else(|e| panic!("{e}"));
    let mut cpu = CpuBackend::with_context(default_model(), 2, 16).unwrap();
    let options = LoadOptions {
        test_wrong_embedding: true,
        ..LoadOptions::default()
    };
    let mut gpu = GpuBackend::with_options(&ctx, &default_model(), 16, options).unwrap();
    let seq = &sequences()[1][..8];
    let n_vocab = cpu.config().n_vocab;
    let want = cpu.forward(seq, LogitsFor::All).unwrap();
    let mut got = gpu.forward(&seq[..4], LogitsFor::All).unwrap();
    for &t in &seq[4..] {
        got.extend(gpu.forward(&[t], LogitsFor::Last).unwrap());
    }
    for (pos, (w, g)) in want
        .chunks_exact(n_vocab)
        .zip(got.chunks_exact(n_vocab))
        .enumerate()
    {
        let kl = tokscope_dist::divergences_from_logits(w, g).unwrap().kl_ab;
        assert!(kl > 0.01, "position {pos}: KL(cpu‖gpu) = {kl:.3e}");
    }
}

fn check(ctx: &GpuContext, cpu: &mut CpuBackend, arithmetic: Arithmetic, options: LoadOptions) {
    let matvec = options.matvec;
    let options = LoadOptions {
        arithmetic: Some(arithmetic),
        ..options
    };
    let split = options.attention_split;
    let mut gpu = GpuBackend::with_options(ctx, &default_model(), 256, options).unwrap();
    let n_vocab = cpu.config().n_vocab;
    let (mut checked, mut worst_kl, mut top1_checked) = (0, 0.0f64, 0);
    for seq in sequences() {
        let n = seq.len().min(POSITIONS - checked);
        if n == 0 {
            break;
        }
        cpu.truncate(0);
        gpu.truncate(0);
        let want = cpu.forward(&seq[..n], LogitsFor::All).unwrap();
        let got = match split {
            None => gpu.forward(&seq[..n], LogitsFor::All).unwrap(),
            Some(_) => seq[..n]
                .iter()
                .flat_map(|&t| gpu.forward(&[t], LogitsFor::Last).unwrap())
                .collect(),
        };
        for (pos, (w, g)) in want
            .chunks_exact(n_vocab)
            .zip(got.chunks_exact(n_vocab))
            .enumerate()
        {
            assert!(
                g.iter().all(|v| v.is_finite()),
                "position {pos}: non-finite GPU logits"
            );
            let kl = tokscope_dist::divergences_from_logits(w, g).unwrap().kl_ab;
            worst_kl = worst_kl.max(kl);
            assert!(
                kl < KL_BOUND,
                "{arithmetic:?} position {pos}: KL(cpu‖gpu) = {kl:.3e}"
            );
            if top2_margin(w) > MARGIN {
                top1_checked += 1;
                assert_eq!(
                    tokscope_dist::argmax(g).unwrap(),
                    tokscope_dist::argmax(w).unwrap(),
                    "{arithmetic:?} position {pos}: top-1 differs"
                );
            }
        }
        checked += n;

        // The same last position summarized on the GPU: only a few hundred bytes come back, with
        // the last token scored and a draw at T 0.7, top-p 0.9 as crates/dist would make it.
        gpu.truncate(0);
        let params = tokscope_dist::SamplingParams {
            temperature: 0.7,
            top_p: 0.9,
            ..Default::default()
        };
        let u = tokscope_dist::Sampler::new(checked as u64).uniform();
        let request = tokscope_gpu::SummaryRequest {
            top_n: 20,
            target: Some(seq[n - 1]),
            sample: Some(tokscope_gpu::GpuSampling { params, u }),
        };
        let summary = gpu.forward_summary_with(&seq[..n], &request).unwrap();
        // The logits it summarized (the LM head over the last token alone, a matvec, where the
        // batch above went through the matmul, which sums in another order), checked against
        // the CPU's too.
        let last = &gpu.last_logits().unwrap()[..];
        let kl = tokscope_dist::divergences_from_logits(&want[(n - 1) * n_vocab..], last)
            .unwrap()
            .kl_ab;
        assert!(
            kl < KL_BOUND,
            "{arithmetic:?} summarized logits: KL {kl:.3e}"
        );
        let want = tokscope_dist::summarize(last).unwrap();
        assert!(
            (f64::from(summary.lse) - want.lse).abs() < 1e-4,
            "{summary:?} vs {want:?}"
        );
        assert!(
            (f64::from(summary.entropy) - want.entropy).abs() < 1e-4,
            "{summary:?} vs {want:?}"
        );
        assert_eq!(summary.max_logit, want.max_logit);
        let top: Vec<u32> = tokscope_dist::top_n(last, want.lse, 20)
            .iter()
            .map(|t| t.id)
            .collect();
        let gpu_top: Vec<u32> = summary.top.iter().map(|&(id, _)| id).collect();
        assert_eq!(gpu_top, top);
        for &(id, logit) in &summary.top {
            assert_eq!(logit, last[id as usize]);
        }
        let scored = summary.target.unwrap();
        assert_eq!(
            scored.rank as usize,
            tokscope_dist::rank(last, seq[n - 1]).unwrap()
        );
        let warped = tokscope_dist::warp(last, &params, &[]).unwrap();
        match summary.sample.unwrap() {
            tokscope_gpu::GpuSample::Drawn(t) => {
                assert_eq!(t.token.id, warped.quantile(u), "u {u}");
                assert_eq!(t.kept as usize, warped.kept());
                assert!((f64::from(t.warped_entropy) - warped.entropy()).abs() < 1e-4);
            }
            // Only when the top-p set outgrows the GPU's head.
            tokscope_gpu::GpuSample::Undecided(why) => {
                assert!(warped.kept() > tokscope_gpu::MAX_TOP, "{why:?}")
            }
        }
    }
    println!(
        "{arithmetic:?}, {matvec:?} matvec, attention split {split:?}: {checked} positions, worst KL {worst_kl:.3e}, top-1 checked at {top1_checked}"
    );
    assert_eq!(checked, POSITIONS);
}
