//! The summary kernel's scoring and sampling (shaders/summary.wgsl) against crates/dist on many
//! logit rows: peaked, flat and heavily tied, over small and SmolLM2-sized vocabularies, with
//! temperature, top-k, top-p and min-p settings and uniform draws from dist's ChaCha20 `Sampler`.
//!
//! - The scored token's rank equals `tokscope_dist::rank` exactly; its logprob is within 1e-5.
//! - A drawn token equals `warp(..).quantile(u)`, the token `Sampler::sample` gives for that
//!   draw, except where u lies within 1e-5 of a boundary of the inverse CDF, or a top-p or
//!   min-p cut lies within 1e-5 of its threshold: the kernel works in f32 where dist uses f64,
//!   so those few draws may go either way; they are counted and must stay rare.
//! - The warped logprob and entropy are within 1e-4 of dist's, the kept count equal.
//! - Where the kernel cannot decide (top-k > 64, top-p mass or the draw beyond its sorted top
//!   64), the reason is checked against dist's answer.

use tokscope_dist::{Sampler, SamplingParams, warp};
use tokscope_gpu::{
    GpuContext, GpuSample, GpuSampling, MAX_TOP, SummaryRequest, Undecided, summarize_logits,
};

/// How close to a decision boundary a draw must be to be allowed either way.
const AMBIGUOUS: f64 = 1e-5;

fn context() -> GpuContext {
    GpuContext::new_blocking().unwrap_or_else(|e| panic!("{e}"))
}

/// A row of `n` logits: `scale` sets how peaked, `step` > 0 rounds to multiples of it (ties).
fn row(rng: &mut Sampler, n: usize, scale: f64, step: f64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            // A heavy upper tail, as real logits have: a few tokens far above the rest.
            let u = rng.uniform();
            let z = scale * (-(1.0 - u).ln()).powf(1.5);
            let z = if step > 0.0 {
                (z / step).round() * step
            } else {
                z
            };
            z as f32
        })
        .collect()
}

/// The tokens in dist's order: descending logit, lower id first.
fn sorted(logits: &[f32]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..logits.len() as u32).collect();
    order.sort_by(|&a, &b| {
        logits[b as usize]
            .total_cmp(&logits[a as usize])
            .then(a.cmp(&b))
    });
    order
}

/// True when one of dist's decisions for this row lies within [`AMBIGUOUS`] of its threshold:
/// a top-p cut (over the top-k set), a min-p cut, or the inverse CDF of `u`.
fn near_a_boundary(logits: &[f32], params: &SamplingParams, u: f64) -> bool {
    let order = sorted(logits);
    let inv_t = 1.0 / f64::from(params.temperature);
    let y: Vec<f64> = order
        .iter()
        .map(|&id| f64::from(logits[id as usize]) * inv_t)
        .collect();
    let mut n = y.len();
    if params.top_k > 0 && params.top_k < n {
        let kth = y[params.top_k - 1];
        n = y.iter().take_while(|&&v| v >= kth).count();
    }
    let probs = |n: usize| -> Vec<f64> {
        let lse = y[0] + y[..n].iter().map(|v| (v - y[0]).exp()).sum::<f64>().ln();
        y[..n].iter().map(|v| (v - lse).exp()).collect()
    };
    let cums = |p: &[f64]| -> Vec<f64> {
        p.iter()
            .scan(0.0, |c, p| {
                *c += p;
                Some(*c)
            })
            .collect()
    };
    if params.top_p < 1.0 {
        let top_p = f64::from(params.top_p);
        let cum = cums(&probs(n));
        if cum.iter().any(|c| (c - top_p).abs() < AMBIGUOUS) {
            return true;
        }
        if let Some(i) = cum.iter().position(|&c| c >= top_p) {
            n = i + 1;
        }
    }
    if params.min_p > 0.0 {
        let p = probs(n);
        let floor = f64::from(params.min_p) * p[0];
        if p.iter().any(|p| (p - floor).abs() < AMBIGUOUS * floor) {
            return true;
        }
        n = p.iter().filter(|&&p| p >= floor).count();
    }
    cums(&probs(n)).iter().any(|c| (c - u).abs() < AMBIGUOUS)
}

/// The settings tried on every row.
fn settings() -> Vec<SamplingParams> {
    let mut out = Vec::new();
    for temperature in [0.0, 0.3, 0.7, 1.0, 1.5] {
        for top_k in [0, 1, 5, 40, 64, 65, 200] {
            for top_p in [1.0, 0.95, 0.6, 0.0] {
                for min_p in [0.0, 0.05, 0.3] {
                    out.push(SamplingParams {
                        temperature,
                        top_k,
                        top_p,
                        min_p,
                        ..SamplingParams::default()
                    });
                }
            }
        }
    }
    out
}

#[derive(Default, Debug)]
struct Tally {
    drawn: usize,
    ambiguous: usize,
    top_k: usize,
    top_p: usize,
    tail: usize,
}

#[test]
fn gpu_draws_match_dist_for_the_same_uniform_draw() {
    let ctx = context();
    let mut rng = Sampler::new(11);
    let mut tally = Tally::default();
    let (mut worst_logprob, mut worst_entropy) = (0.0f64, 0.0f64);
    // (vocabulary, scale, tie step): peaked, moderate, flat, tied; one SmolLM2-sized row, and a
    // flat big one, whose chunks hold more near-top tokens than the kernel gathers (it then
    // selects them one by one).
    let rows = [
        (1000, 6.0, 0.0),
        (1000, 3.0, 0.0),
        (1000, 0.5, 0.0),
        (1000, 0.05, 0.0),
        (1000, 3.0, 0.5),
        (300, 1.0, 0.25),
        (49_152, 4.0, 0.0),
        (20_000, 0.01, 0.0),
    ];
    let settings = settings();
    for (r, &(n, scale, step)) in rows.iter().enumerate() {
        let logits = row(&mut rng, n, scale, step);
        let order = sorted(&logits);
        // A seed per row; several settings share each row, one uniform draw each.
        let mut sampler = Sampler::new(100 + r as u64);
        for (s, params) in settings.iter().enumerate() {
            // The big row is slow on a software adapter: a fifth of the settings.
            if n > 10_000 && s % 5 != 0 {
                continue;
            }
            let u = sampler.uniform();
            let request = SummaryRequest {
                top_n: 0,
                target: None,
                sample: Some(GpuSampling { params: *params, u }),
            };
            let got = summarize_logits(&ctx, &logits, &request).unwrap();
            let warped = warp(&logits, params, &[]).unwrap();
            let want = warped.quantile(u);
            let rank_of = |id: u32| order.iter().position(|&o| o == id).unwrap();
            let case = format!("row {r}, {params:?}, u {u}");
            match got.sample.unwrap() {
                GpuSample::Drawn(t) => {
                    if t.token.id != want || t.kept as usize != warped.kept() {
                        assert!(
                            params.temperature > 0.0 && near_a_boundary(&logits, params, u),
                            "{case}: GPU drew {} (kept {}), dist {want} (kept {})",
                            t.token.id,
                            t.kept,
                            warped.kept()
                        );
                        tally.ambiguous += 1;
                        continue;
                    }
                    tally.drawn += 1;
                    assert_eq!(t.token.rank as usize, rank_of(want), "{case}");
                    let lse = tokscope_dist::summarize(&logits).unwrap().lse;
                    let logprob = tokscope_dist::logprob(&logits, lse, want).unwrap();
                    assert!(
                        (f64::from(t.token.logprob) - logprob).abs() < 1e-5,
                        "{case}"
                    );
                    let dl = (f64::from(t.warped_logprob) - warped.logprob(want).unwrap()).abs();
                    let dh = (f64::from(t.warped_entropy) - warped.entropy()).abs();
                    worst_logprob = worst_logprob.max(dl);
                    worst_entropy = worst_entropy.max(dh);
                    assert!(dl < 1e-4 && dh < 1e-4, "{case}: {t:?}, {dl:e}, {dh:e}");
                }
                GpuSample::Undecided(Undecided::TopK) => {
                    assert!(params.top_k > MAX_TOP, "{case}");
                    tally.top_k += 1;
                }
                GpuSample::Undecided(Undecided::TopP) => {
                    // The top-p head of the top-k set is longer than the GPU's head.
                    let ids = warp(
                        &logits,
                        &SamplingParams {
                            min_p: 0.0,
                            ..*params
                        },
                        &[],
                    )
                    .unwrap();
                    assert!(
                        ids.kept() > MAX_TOP || near_a_boundary(&logits, params, u),
                        "{case}"
                    );
                    tally.top_p += 1;
                }
                GpuSample::Undecided(Undecided::Tail) => {
                    assert!(
                        rank_of(want) >= MAX_TOP || near_a_boundary(&logits, params, u),
                        "{case}: dist drew rank {}",
                        rank_of(want)
                    );
                    tally.tail += 1;
                }
                GpuSample::Undecided(other) => panic!("{case}: {other:?}"),
            }
        }
    }
    println!("{tally:?}; worst warped logprob {worst_logprob:.2e}, entropy {worst_entropy:.2e}");
    // Most draws are decided on the GPU (even with a nearly uniform row and top-k 65 and 200
    // among the settings), and f32 boundaries are rare.
    let total = tally.drawn + tally.ambiguous + tally.top_k + tally.top_p + tally.tail;
    assert!(tally.drawn * 2 > total, "{tally:?}");
    assert!(tally.ambiguous * 200 < total, "{tally:?}");
    assert!(
        tally.top_k > 0 && tally.top_p > 0 && tally.tail > 0,
        "{tally:?}"
    );
}

#[test]
fn scored_tokens_have_dists_logprob_and_rank() {
    let ctx = context();
    let mut rng = Sampler::new(5);
    for (n, scale, step) in [(500, 3.0, 0.0), (500, 2.0, 0.5), (50, 1.0, 1.0)] {
        let logits = row(&mut rng, n, scale, step);
        let lse = tokscope_dist::summarize(&logits).unwrap().lse;
        for target in (0..n as u32).step_by(7).chain([n as u32 - 1]) {
            let request = SummaryRequest {
                top_n: 5,
                target: Some(target),
                sample: None,
            };
            let got = summarize_logits(&ctx, &logits, &request).unwrap();
            let t = got.target.unwrap();
            assert_eq!(t.id, target);
            assert_eq!(
                t.rank as usize,
                tokscope_dist::rank(&logits, target).unwrap(),
                "{n} {target}"
            );
            let want = tokscope_dist::logprob(&logits, lse, target).unwrap();
            assert!((f64::from(t.logprob) - want).abs() < 1e-5, "{n} {target}");
            assert_eq!(got.sample, None);
            assert_eq!(got.top.len(), 5);
        }
    }
}

#[test]
fn warpers_the_gpu_does_not_run_and_bad_requests() {
    let ctx = context();
    let logits = row(&mut Sampler::new(9), 100, 2.0, 0.0);
    let ask = |params: SamplingParams, target: Option<u32>| {
        let request = SummaryRequest {
            top_n: 3,
            target,
            sample: Some(GpuSampling { params, u: 0.5 }),
        };
        summarize_logits(&ctx, &logits, &request)
    };
    for params in [
        SamplingParams {
            typical: 0.9,
            ..SamplingParams::default()
        },
        SamplingParams {
            repetition_penalty: 1.2,
            ..SamplingParams::default()
        },
    ] {
        let got = ask(params, None).unwrap();
        assert_eq!(
            got.sample,
            Some(GpuSample::Undecided(Undecided::HostWarpers))
        );
        // The rest of the summary is still computed.
        assert_eq!(got.top[0].0, sorted(&logits)[0]);
    }
    let bad = SamplingParams {
        top_p: 1.5,
        ..SamplingParams::default()
    };
    assert!(ask(bad, None).is_err());
    assert!(ask(SamplingParams::default(), Some(100)).is_err());
    assert!(summarize_logits(&ctx, &[1.0, f32::NAN], &SummaryRequest::default()).is_err());
}
