//! Differential tests of the GPU backend on random tiny models (crates/reference's writer): its
//! logits against the CPU backend's exact (f32) arithmetic over GQA 1 and 3, head dims 32 and 64,
//! tied and untied LM heads and every weight type the kernels read, plus a qwen2-style model
//! (NeoX RoPE, q/k/v biases); against the reference on a few of them; the KV cache's decode,
//! truncate and rewind; weights split across bindings; and typed errors.
//!
//! Runs on whatever adapter wgpu finds: lavapipe on machines without a GPU (`cargo xtask test`
//! installs it). No adapter is a failure, not a skip.
//!
//! **Relative difference** of one position: `max_i |a_i − b_i| / max_i |b_i|`. In f32 arithmetic
//! both backends compute from the same dequantized weights and differ only in summation order,
//! which moves logits by ~1e-6 relative; [`BOUND`] leaves two orders of magnitude for that.
//! Adapters with shader-f16 (lavapipe included) also run [`Arithmetic::F16`], block scales held
//! as f16: the scales are GGUF's own f16 values and the kernels widen them before any
//! arithmetic, so its logits must equal the f32 arithmetic's bit for bit.
use tokscope_gguf::GgmlType;
use tokscope_gpu::{
    Arithmetic, AttentionSplit, GpuBackend, GpuContext, LoadOptions, MatvecVariant,
};
use tokscope_model::cpu::CpuBackend;
use tokscope_model::{Backend, LogitsFor, ModelBytes, ModelError, ModelFile};
use tokscope_reference::Reference;
use tokscope_reference::tiny::{TinySpec, tiny_llama_gguf};

const BOUND: f32 = 1e-4;
const PROMPT: [u32; 7] = [3, 17, 42, 8, 29, 0, 61];

fn context() -> GpuContext {
    GpuContext::new_blocking().unwrap_or_else(|e| panic!("{e}"))
}

fn file(bytes: &[u8]) -> ModelFile {
    ModelFile::from_bytes(ModelBytes::Owned(bytes.to_vec())).unwrap()
}

/// The backend in f32 arithmetic, whatever the adapter would choose: the tests of the cache
/// compare it with the CPU backend at [`BOUND`].
fn gpu(ctx: &GpuContext, bytes: &[u8]) -> GpuBackend {
    let options = LoadOptions {
        arithmetic: Some(Arithmetic::F32),
        ..LoadOptions::default()
    };
    GpuBackend::with_options(ctx, &file(bytes), 64, options).unwrap()
}

fn cpu(bytes: &[u8]) -> CpuBackend {
    CpuBackend::with_context(file(bytes), 1, 64).unwrap()
}

/// `max|a − b| / max|b|` per position of `n_vocab` logits, the largest over positions; NaN or
/// infinity anywhere in `a` counts as infinitely far.
fn max_relative(a: &[f32], b: &[f32], n_vocab: usize) -> f32 {
    assert_eq!(a.len(), b.len());
    if a.iter().any(|v| !v.is_finite()) {
        return f32::INFINITY;
    }
    a.chunks_exact(n_vocab)
        .zip(b.chunks_exact(n_vocab))
        .map(|(a, b)| {
            let diff = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            diff / b.iter().map(|y| y.abs()).fold(0.0, f32::max)
        })
        .fold(0.0, f32::max)
}

/// A matvec variant, and whether its kernels may use subgroups.
#[derive(Clone, Copy, Debug)]
struct Variant {
    matvec: MatvecVariant,
    subgroups: bool,
}

impl Variant {
    fn options(self, arithmetic: Arithmetic) -> LoadOptions {
        LoadOptions {
            matvec: Some(self.matvec),
            subgroups: Some(self.subgroups),
            arithmetic: Some(arithmetic),
            ..LoadOptions::default()
        }
    }
}

/// The matvec variants this adapter runs: each without subgroups, and, where it has them, the
/// subgroup matvec and the rowwise one sharing its input loads over a SIMD group.
fn variants(ctx: &GpuContext) -> Vec<Variant> {
    let plain = |matvec| Variant {
        matvec,
        subgroups: false,
    };
    let mut v = vec![
        plain(MatvecVariant::Workgroup),
        plain(MatvecVariant::Rowwise),
    ];
    if ctx.has_subgroups() {
        for matvec in [MatvecVariant::Rowwise, MatvecVariant::Subgroup] {
            v.push(Variant {
                matvec,
                subgroups: true,
            });
        }
    } else {
        println!(
            "no subgroups on {}: the subgroup kernels are not tested",
            ctx.describe()
        );
    }
    v
}

/// The arithmetics this adapter runs (f16 scales only where it has shader-f16).
fn arithmetics(ctx: &GpuContext) -> Vec<Arithmetic> {
    if ctx.has_f16() {
        vec![Arithmetic::F32, Arithmetic::F16]
    } else {
        println!(
            "no shader-f16 on {}: f16 scales are not tested",
            ctx.describe()
        );
        vec![Arithmetic::F32]
    }
}

fn configurations() -> Vec<(String, TinySpec)> {
    let mut out = Vec::new();
    for (n_head, n_head_kv) in [(2, 2), (6, 2)] {
        for head_dim in [32, 64] {
            for tied in [false, true] {
                for ty in [
                    GgmlType::Q4_0,
                    GgmlType::Q4_1,
                    GgmlType::Q8_0,
                    GgmlType::F16,
                    GgmlType::F32,
                ] {
                    let spec = TinySpec {
                        n_head,
                        n_head_kv,
                        head_dim,
                        n_embd: n_head * head_dim,
                        n_ff: 2 * n_head * head_dim + 64,
                        tied,
                        weight_type: ty,
                        // The default model keeps its embedding at Q8_0 next to Q4_1 weights.
                        embd_type: if ty == GgmlType::Q4_1 {
                            GgmlType::Q8_0
                        } else {
                            ty
                        },
                        ..TinySpec::default()
                    };
                    let name = format!(
                        "gqa {} hd {head_dim} {} {ty}",
                        n_head / n_head_kv,
                        if tied { "tied" } else { "untied" }
                    );
                    out.push((name, spec));
                }
            }
        }
    }
    // BF16 in one shape: its kernels differ from F16's only in the word conversion.
    for tied in [false, true] {
        let spec = TinySpec {
            tied,
            weight_type: GgmlType::BF16,
            embd_type: GgmlType::BF16,
            ..TinySpec::default()
        };
        let name = format!("gqa 2 hd 32 {} BF16", if tied { "tied" } else { "untied" });
        out.push((name, spec));
    }
    out.push((
        "qwen2 gqa 2 hd 32 untied Q8_0".into(),
        TinySpec {
            arch: "qwen2",
            ..TinySpec::default()
        },
    ));
    out
}

/// The logits of `tokens` decoded one at a time (a matvec per projection, as generation runs).
fn decoded(backend: &mut GpuBackend, tokens: &[u32]) -> Vec<f32> {
    let mut out = Vec::new();
    for &token in tokens {
        out.extend(backend.forward(&[token], LogitsFor::Last).unwrap());
    }
    out
}

#[test]
fn prefill_and_decode_logits_match_the_cpu_backend() {
    let ctx = context();
    println!("adapter: {}", ctx.describe());
    let mut failures = Vec::new();
    for (i, (name, spec)) in configurations().into_iter().enumerate() {
        let bytes = tiny_llama_gguf(&spec, 3000 + i as u64);
        let want = cpu(&bytes).forward(&PROMPT, LogitsFor::All).unwrap();
        // Every matvec variant and arithmetic the adapter runs, whichever it would choose.
        for variant in variants(&ctx) {
            let mut f32_logits = None;
            for arithmetic in arithmetics(&ctx) {
                let options = variant.options(arithmetic);
                let mut backend =
                    GpuBackend::with_options(&ctx, &file(&bytes), 64, options).unwrap();
                assert_eq!(backend.arithmetic(), arithmetic);
                let got = backend.forward(&PROMPT, LogitsFor::All).unwrap();
                let rel = max_relative(&got, &want, spec.n_vocab);
                println!("{name:<34} {variant:?} {arithmetic:?} {rel:>10.3e}");
                if rel.is_nan() || rel > BOUND {
                    failures.push(format!("{name} {variant:?} {arithmetic:?}: {rel:.3e}"));
                }
                let mut stepwise =
                    GpuBackend::with_options(&ctx, &file(&bytes), 64, options).unwrap();
                let rel = max_relative(&decoded(&mut stepwise, &PROMPT), &want, spec.n_vocab);
                println!("{name:<34} {variant:?} {arithmetic:?} {rel:>10.3e} (decoded)");
                if rel.is_nan() || rel > BOUND {
                    failures.push(format!(
                        "{name} {variant:?} {arithmetic:?} decoded: {rel:.3e}"
                    ));
                }
                match &f32_logits {
                    None => f32_logits = Some(got),
                    Some(f32_logits) if *f32_logits != got => {
                        failures.push(format!("{name} {variant:?}: f16 scales change the logits"))
                    }
                    Some(_) => {}
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "over {BOUND:e}:\n{}",
        failures.join("\n")
    );
}

#[test]
fn logits_match_the_reference() {
    let ctx = context();
    for (i, (name, spec)) in configurations()
        .into_iter()
        .filter(|(_, s)| s.weight_type == GgmlType::Q4_1 || s.arch == "qwen2")
        .enumerate()
    {
        let bytes = tiny_llama_gguf(&spec, 4000 + i as u64);
        let want: Vec<f32> = Reference::from_gguf(&bytes)
            .unwrap()
            .forward(&PROMPT)
            .unwrap()
            .concat();
        let got = gpu(&ctx, &bytes).forward(&PROMPT, LogitsFor::All).unwrap();
        let rel = max_relative(&got, &want, spec.n_vocab);
        println!("{name:<34} {rel:>10.3e}");
        // The reference (Burn, ndarray) is the CPU backend's oracle at 1e-3 (crates/reference).
        assert!(rel <= 1e-3, "{name}: {rel:.3e}");
    }
}

#[test]
fn decoding_token_by_token_truncating_and_rewinding_match_prefill() {
    let ctx = context();
    let spec = TinySpec {
        n_head: 6,
        n_head_kv: 2,
        head_dim: 32,
        n_embd: 192,
        n_ff: 448,
        weight_type: GgmlType::Q4_1,
        ..TinySpec::default()
    };
    let bytes = tiny_llama_gguf(&spec, 5000);
    let n_vocab = spec.n_vocab;
    let mut backend = gpu(&ctx, &bytes);
    let all = backend.forward(&PROMPT, LogitsFor::All).unwrap();
    assert_eq!(backend.cache_len(), PROMPT.len());

    let mut stepwise = gpu(&ctx, &bytes);
    for (t, &token) in PROMPT.iter().enumerate() {
        let last = stepwise.forward(&[token], LogitsFor::Last).unwrap();
        let row = &all[t * n_vocab..(t + 1) * n_vocab];
        assert!(max_relative(&last, row, n_vocab) <= 1e-5, "position {t}");
    }

    // Forget the last three positions and feed different tokens there: the result must be that
    // of a fresh backend given the new sequence (the old keys and values are overwritten).
    backend.truncate(4);
    assert_eq!(backend.cache_len(), 4);
    let branch = [50, 51, 52];
    let after = backend.forward(&branch, LogitsFor::Last).unwrap();
    let fresh_tokens: Vec<u32> = PROMPT[..4].iter().chain(&branch).copied().collect();
    let fresh = gpu(&ctx, &bytes)
        .forward(&fresh_tokens, LogitsFor::Last)
        .unwrap();
    assert!(max_relative(&after, &fresh, n_vocab) <= 1e-5);
    let cpu_fresh = cpu(&bytes).forward(&fresh_tokens, LogitsFor::Last).unwrap();
    assert!(max_relative(&after, &cpu_fresh, n_vocab) <= BOUND);
}

#[test]
fn weights_split_across_bindings_give_the_same_logits() {
    let ctx = context();
    for (i, ty) in [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q8_0,
        GgmlType::F16,
    ]
    .into_iter()
    .enumerate()
    {
        // Rows of 96 and 224 elements: 3 and 7 blocks, so parts with an odd number of rows hold
        // an odd number of Q4_0/Q8_0 scales (the f16 scale words end half empty).
        let spec = TinySpec {
            n_vocab: 100,
            n_embd: 96,
            n_head: 3,
            n_head_kv: 1,
            n_ff: 224,
            tied: i % 2 == 1,
            weight_type: ty,
            embd_type: ty,
            ..TinySpec::default()
        };
        let bytes = tiny_llama_gguf(&spec, 6000 + i as u64);
        let want = cpu(&bytes).forward(&PROMPT, LogitsFor::All).unwrap();
        for arithmetic in arithmetics(&ctx) {
            // 1000 bytes: a handful of rows per part, uneven last parts, so embedding rows and
            // LM head rows come from many buffers.
            let options = LoadOptions {
                max_binding: Some(1000),
                arithmetic: Some(arithmetic),
                ..LoadOptions::default()
            };
            let mut split = GpuBackend::with_options(&ctx, &file(&bytes), 64, options).unwrap();
            let got = split.forward(&PROMPT, LogitsFor::All).unwrap();
            let rel = max_relative(&got, &want, spec.n_vocab);
            assert!(rel <= BOUND, "{ty} {arithmetic:?}: {rel:.3e}");
        }
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    let ctx = context();
    let bytes = tiny_llama_gguf(&TinySpec::default(), 7000);
    let mut backend = gpu(&ctx, &bytes);
    assert!(matches!(
        backend.forward(&[64], LogitsFor::Last),
        Err(ModelError::BadToken { id: 64, .. })
    ));
    let long = vec![1u32; 65];
    assert!(matches!(
        backend.forward(&long, LogitsFor::Last),
        Err(ModelError::ContextOverflow { needed: 65, .. })
    ));
    assert_eq!(backend.cache_len(), 0);
    assert!(backend.forward(&[], LogitsFor::All).unwrap().is_empty());
    assert_eq!(backend.forward(&[1, 2], LogitsFor::All).unwrap().len(), 128);
}

#[test]
fn prompts_longer_than_a_batch_match_the_cpu_backend() {
    let ctx = context();
    let spec = TinySpec {
        weight_type: GgmlType::Q4_0,
        embd_type: GgmlType::Q8_0,
        ..TinySpec::default()
    };
    let bytes = tiny_llama_gguf(&spec, 8000);
    // Three batches, the last one partial, and matvec tiles that do not divide them.
    let n = 2 * tokscope_gpu::MAX_BATCH + 11;
    let tokens: Vec<u32> = (0..n as u32).map(|i| (i * 7 + 3) % 64).collect();
    let mut cpu = CpuBackend::with_context(file(&bytes), 1, 128).unwrap();
    let want = cpu.forward(&tokens, LogitsFor::All).unwrap();
    let last = &want[(n - 1) * spec.n_vocab..];
    for variant in variants(&ctx) {
        for arithmetic in arithmetics(&ctx) {
            let options = variant.options(arithmetic);
            let mut gpu = GpuBackend::with_options(&ctx, &file(&bytes), 128, options).unwrap();
            let all = gpu.forward(&tokens, LogitsFor::All).unwrap();
            let rel = max_relative(&all, &want, spec.n_vocab);
            assert!(rel <= BOUND, "{variant:?} {arithmetic:?} all: {rel:.3e}");
            gpu.truncate(0);
            let only_last = gpu.forward(&tokens, LogitsFor::Last).unwrap();
            let rel = max_relative(&only_last, last, spec.n_vocab);
            assert!(rel <= BOUND, "{variant:?} {arithmetic:?} last: {rel:.3e}");
            assert_eq!(gpu.cache_len(), n);
        }
    }
}

#[test]
fn a_destroyed_device_is_an_error_not_a_panic() {
    let ctx = context();
    let bytes = tiny_llama_gguf(&TinySpec::default(), 9000);
    let mut backend = gpu(&ctx, &bytes);
    backend.forward(&[1, 2], LogitsFor::Last).unwrap();
    ctx.device.destroy();
    let err = backend.forward(&[3], LogitsFor::Last).unwrap_err();
    println!("{err}");
    assert!(err.to_string().contains("device was lost"), "{err:?}");
    // The kind the web engine answers by moving the model to the CPU backend.
    assert!(
        matches!(err, tokscope_model::ModelError::Device(_)),
        "{err:?}"
    );
    assert_eq!(backend.cache_len(), 2);
}

#[test]
fn the_gpu_summary_matches_the_logits_it_summarizes() {
    let ctx = context();
    let spec = TinySpec::default();
    let bytes = tiny_llama_gguf(&spec, 10_000);
    let mut backend = gpu(&ctx, &bytes);
    let logits = backend.forward(&PROMPT, LogitsFor::Last).unwrap();
    backend.truncate(0);
    // Every token, so the whole order is checked; more than MAX_TOP is clamped.
    let summary = backend.forward_summary(&PROMPT, 1000).unwrap();
    assert_eq!(backend.cache_len(), PROMPT.len());
    let want = tokscope_dist::summarize(&logits).unwrap();
    assert!(
        (f64::from(summary.lse) - want.lse).abs() < 1e-5,
        "{summary:?}"
    );
    assert!(
        (f64::from(summary.entropy) - want.entropy).abs() < 1e-5,
        "{summary:?}"
    );
    assert_eq!(summary.max_logit, want.max_logit);
    let mut order: Vec<u32> = (0..spec.n_vocab as u32).collect();
    order.sort_by(|&a, &b| {
        logits[b as usize]
            .total_cmp(&logits[a as usize])
            .then(a.cmp(&b))
    });
    let top: Vec<(u32, f32)> = order.iter().map(|&id| (id, logits[id as usize])).collect();
    assert_eq!(summary.top, top);
}

#[test]
fn a_summary_step_scores_and_samples_like_dist_and_keeps_its_logits() {
    use tokscope_dist::{Sampler, SamplingParams, warp};
    use tokscope_gpu::{GpuSample, GpuSampling, SummaryRequest, Undecided};

    let ctx = context();
    let spec = TinySpec {
        n_vocab: 200,
        ..TinySpec::default()
    };
    let bytes = tiny_llama_gguf(&spec, 11_000);
    let mut backend = gpu(&ctx, &bytes);
    assert!(backend.last_logits().is_err(), "nothing computed yet");
    let all = backend.forward(&PROMPT, LogitsFor::All).unwrap();
    // After a batch of every position's logits, the last position's row.
    let last_row = &all[(PROMPT.len() - 1) * spec.n_vocab..];
    assert_eq!(backend.last_logits().unwrap(), last_row);
    // A summary step computes the last position as `LogitsFor::Last` does (the LM head over that
    // token alone, a matvec, where a batch's head is a matmul that sums in another order).
    backend.truncate(0);
    let last = &backend.forward(&PROMPT, LogitsFor::Last).unwrap()[..];

    let mut sampler = Sampler::new(42);
    let lse = tokscope_dist::summarize(last).unwrap().lse;
    for (i, params) in [
        SamplingParams::default(),
        SamplingParams::greedy(),
        SamplingParams {
            temperature: 0.8,
            top_k: 20,
            top_p: 0.9,
            min_p: 0.02,
            ..SamplingParams::default()
        },
        // Top-k past the GPU's sorted head: the host samples from the kept logits.
        SamplingParams {
            top_k: 100,
            ..SamplingParams::default()
        },
    ]
    .into_iter()
    .enumerate()
    {
        let u = sampler.uniform();
        let target = 17 * i as u32;
        let request = SummaryRequest {
            top_n: 8,
            target: Some(target),
            sample: Some(GpuSampling { params, u }),
        };
        backend.truncate(0);
        let summary = backend.forward_summary_with(&PROMPT, &request).unwrap();
        let logits = backend.last_logits().unwrap();
        assert_eq!(logits, last, "the summarized logits stay readable");
        let scored = summary.target.unwrap();
        assert_eq!(
            scored.rank as usize,
            tokscope_dist::rank(last, target).unwrap()
        );
        let logprob = tokscope_dist::logprob(last, lse, target).unwrap();
        assert!((f64::from(scored.logprob) - logprob).abs() < 1e-5);
        let want = warp(last, &params, &[]).unwrap().quantile(u);
        let got = match summary.sample.unwrap() {
            GpuSample::Drawn(t) => t.token.id,
            GpuSample::Undecided(why) => {
                assert_eq!(why, Undecided::TopK, "{params:?}");
                warp(&logits, &params, &[]).unwrap().quantile(u)
            }
        };
        assert_eq!(got, want, "{params:?}, u {u}");
    }
}

#[test]
fn a_step_submitted_in_pieces_gives_the_same_logits() {
    let ctx = context();
    let spec = TinySpec {
        weight_type: GgmlType::Q4_1,
        ..TinySpec::default()
    };
    let bytes = tiny_llama_gguf(&spec, 7000);
    let whole_step = LoadOptions {
        launches_per_submit: Some(usize::MAX),
        arithmetic: Some(Arithmetic::F32),
        ..LoadOptions::default()
    };
    let whole = GpuBackend::with_options(&ctx, &file(&bytes), 64, whole_step)
        .unwrap()
        .forward(&PROMPT, LogitsFor::All)
        .unwrap();
    // 1 and 5 launches per command buffer: every launch, and pieces that split layers unevenly.
    for pieces in [1, 5] {
        let options = LoadOptions {
            launches_per_submit: Some(pieces),
            arithmetic: Some(Arithmetic::F32),
            ..LoadOptions::default()
        };
        let mut backend = GpuBackend::with_options(&ctx, &file(&bytes), 64, options).unwrap();
        let got = backend.forward(&PROMPT, LogitsFor::All).unwrap();
        assert_eq!(got, whole, "{pieces} launches per submit");
        let next = backend.forward(&[7], LogitsFor::Last).unwrap();
        let want = gpu(&ctx, &bytes)
            .forward(&[PROMPT.as_slice(), &[7]].concat(), LogitsFor::Last)
            .unwrap();
        assert!(max_relative(&next, &want, spec.n_vocab) <= 1e-5);
    }
}

/// A profiled step is a real decode step: it times every launch (the embedding, each layer's
/// attention, each projection with its weight bytes, the LM head and the summary) and leaves the
/// token in the cache, so the next step's logits are the CPU backend's for the whole sequence.
/// lavapipe has timestamp queries; an adapter without them must say so as an error.
#[test]
fn a_profiled_step_times_every_launch_and_decodes_the_token() {
    let ctx = context();
    let spec = TinySpec::default();
    let bytes = tiny_llama_gguf(&spec, 5100);
    let mut backend = gpu(&ctx, &bytes);
    backend.forward(&PROMPT[..4], LogitsFor::Last).unwrap();
    if !backend.can_profile() {
        let e = backend.profile_step(PROMPT[4]).unwrap_err();
        assert!(e.to_string().contains("timestamp"), "{e}");
        return;
    }
    let profile = backend.profile_step(PROMPT[4]).unwrap();
    assert_eq!(backend.cache_len(), 5);
    let count = |prefix: &str| {
        let n = profile
            .launches
            .iter()
            .filter(|l| l.label.starts_with(prefix));
        n.count()
    };
    assert_eq!(count("embed_q8_0"), 1);
    assert_eq!(count("attention"), spec.n_layer);
    assert_eq!(count("summary"), 2);
    // q/k/v stacked, o, gate/up stacked and down per layer, then the LM head (any variant).
    let projections = |rows: usize, cols: usize| {
        let shape = format!(" {rows}×{cols}");
        let n = profile
            .launches
            .iter()
            .filter(|l| l.label.ends_with(&shape));
        n.filter(|l| l.label.starts_with("matvec_q8_0")).count()
    };
    let (d, kv) = (spec.n_embd, spec.n_head_kv * spec.head_dim);
    assert_eq!(projections(d + 2 * kv, d), spec.n_layer);
    assert_eq!(projections(d, d), spec.n_layer);
    assert_eq!(projections(2 * spec.n_ff, d), spec.n_layer);
    assert_eq!(projections(d, spec.n_ff), spec.n_layer);
    assert_eq!(projections(spec.n_vocab, d), 1, "{:?}", profile.launches);
    for l in &profile.launches {
        assert!(l.micros.is_finite() && l.micros >= 0.0, "{l:?}");
        assert_eq!(l.weight_bytes > 0, l.label.starts_with("matvec"), "{l:?}");
    }
    let sum: f64 = profile.launches.iter().map(|l| l.micros).sum();
    assert!(
        sum > 0.0 && profile.span_micros >= sum,
        "{sum} {}",
        profile.span_micros
    );

    let next = backend.forward(&PROMPT[5..6], LogitsFor::Last).unwrap();
    let mut reference = cpu(&bytes);
    let all = reference.forward(&PROMPT[..6], LogitsFor::Last).unwrap();
    assert!(max_relative(&next, &all, spec.n_vocab) <= BOUND);
    let e = backend.profile_step(spec.n_vocab as u32).unwrap_err();
    assert!(e.to_string().contains("vocab"), "{e}");
}

/// Attention split into chunks of positions (one workgroup each, combined by the o projection)
/// gives the CPU backend's logits when decoding, including chunks left empty by the even
/// division (with chunks of 1, at most 4: 9 positions in chunks of 3, 3, 3 and 0),
/// under the workgroup and rowwise matvecs; a batch before it (the matmul, which reads one chunk
/// per token: batches are not split) gives them too. Hardware GPUs' split
/// (`AttentionSplit::GPU`, chunks of at least 128) runs at 600 positions.
#[test]
fn attention_split_into_chunks_matches_the_cpu() {
    let ctx = context();
    let spec = TinySpec {
        n_head: 6,
        n_head_kv: 2,
        n_embd: 192,
        n_ff: 448,
        n_ctx: 1024,
        ..TinySpec::default()
    };
    let bytes = tiny_llama_gguf(&spec, 5200);
    let n_vocab = spec.n_vocab;
    let splits = [
        AttentionSplit {
            min_len: 1,
            max_chunks: 4,
        },
        AttentionSplit {
            min_len: 3,
            max_chunks: 16,
        },
    ];
    let tokens: Vec<u32> = (0..12).map(|i| (i * 7 + 3) % n_vocab as u32).collect();
    let mut reference = CpuBackend::with_context(file(&bytes), 1, 1024).unwrap();
    let expected = reference.forward(&tokens, LogitsFor::All).unwrap();
    for split in splits {
        for matvec in [MatvecVariant::Workgroup, MatvecVariant::Rowwise] {
            let options = LoadOptions {
                arithmetic: Some(Arithmetic::F32),
                matvec: Some(matvec),
                attention_split: Some(split),
                ..LoadOptions::default()
            };
            let mut gpu = GpuBackend::with_options(&ctx, &file(&bytes), 1024, options).unwrap();
            // Seven tokens in one batch, then five decoded one at a time.
            let mut got = gpu.forward(&tokens[..7], LogitsFor::All).unwrap();
            for &t in &tokens[7..] {
                got.extend(gpu.forward(&[t], LogitsFor::Last).unwrap());
            }
            let rel = max_relative(&got, &expected, n_vocab);
            assert!(rel <= BOUND, "{split:?} {matvec:?}: {rel:.3e}");
        }
    }

    let long: Vec<u32> = (0..600).map(|i| (i * 13 + 5) % n_vocab as u32).collect();
    let mut reference = CpuBackend::with_context(file(&bytes), 1, 1024).unwrap();
    reference.forward(&long[..596], LogitsFor::Last).unwrap();
    let options = LoadOptions {
        arithmetic: Some(Arithmetic::F32),
        matvec: Some(MatvecVariant::Workgroup),
        attention_split: Some(AttentionSplit::GPU),
        ..LoadOptions::default()
    };
    let mut gpu = GpuBackend::with_options(&ctx, &file(&bytes), 1024, options).unwrap();
    gpu.forward(&long[..596], LogitsFor::Last).unwrap();
    for &t in &long[596..] {
        let want = reference.forward(&[t], LogitsFor::Last).unwrap();
        let got = gpu.forward(&[t], LogitsFor::Last).unwrap();
        let rel = max_relative(&got, &want, n_vocab);
        assert!(rel <= BOUND, "600 positions: {rel:.3e}");
    }
}
