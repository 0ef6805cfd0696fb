//! Property tests: invariants every distribution the crate hands out must satisfy, whatever the logits and knobs.

use proptest::prelude::*;
use tokscope_dist::{
    Sampler, SamplingParams, divergences, divergences_from_logits, entropy_of_probs, rank, softmax,
    summarize, top_n, warp,
};

/// Logits with occasional -inf (removed tokens) and at least one finite entry.
fn logits() -> impl Strategy<Value = Vec<f32>> {
    (
        -30.0f32..30.0,
        prop::collection::vec(
            prop_oneof![9 => -30.0f32..30.0, 1 => Just(f32::NEG_INFINITY), 1 => Just(1.5f32)],
            0..64,
        ),
    )
        .prop_map(|(first, mut rest)| {
            rest.insert(0, first);
            rest
        })
}

fn params() -> impl Strategy<Value = SamplingParams> {
    (
        prop_oneof![1 => Just(0.0f32), 1 => Just(1.0f32), 4 => 0.05f32..3.0],
        0usize..10,
        prop_oneof![1 => Just(1.0f32), 3 => 0.0f32..=1.0],
        prop_oneof![1 => Just(0.0f32), 1 => 0.0f32..=1.0],
        prop_oneof![1 => Just(1.0f32), 1 => 0.01f32..=1.0],
        prop_oneof![1 => Just(1.0f32), 1 => 0.5f32..2.0],
    )
        .prop_map(
            |(temperature, top_k, top_p, min_p, typical, repetition_penalty)| SamplingParams {
                temperature,
                top_k,
                top_p,
                min_p,
                typical,
                repetition_penalty,
            },
        )
}

/// A normalised probability vector of length n, with some exact zeros.
fn probs(n: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(prop_oneof![4 => 0.0f64..1.0, 1 => Just(0.0)], n).prop_filter_map(
        "all zero",
        |w| {
            let s: f64 = w.iter().sum();
            (s > 0.0).then(|| w.iter().map(|x| x / s).collect())
        },
    )
}

proptest! {
    #[test]
    fn warped_is_a_nonempty_normalised_distribution(
        z in logits(), p in params(), history in prop::collection::vec(0u32..80, 0..8)
    ) {
        let w = warp(&z, &p, &history).unwrap();
        prop_assert!(w.kept() >= 1);
        let total: f64 = w.iter().map(|t| t.1).sum();
        prop_assert!((total - 1.0).abs() < 1e-6, "sum = {}", total);
        let h = w.entropy();
        prop_assert!(h >= 0.0 && h <= (w.kept() as f64).ln() + 1e-9, "H = {}, kept = {}", h, w.kept());
        // Kept tokens are real, possible tokens.
        for (id, _) in w.iter() {
            prop_assert!((id as usize) < z.len() && z[id as usize] > f32::NEG_INFINITY);
        }
    }

    #[test]
    fn sampled_ids_are_kept_and_the_seed_fixes_them(z in logits(), p in params(), seed in any::<u64>()) {
        let w = warp(&z, &p, &[]).unwrap();
        let (mut a, mut b) = (Sampler::new(seed), Sampler::new(seed));
        for _ in 0..20 {
            let id = a.sample(&w);
            prop_assert!(w.logprob(id).is_some());
            prop_assert_eq!(id, b.sample(&w));
        }
    }

    #[test]
    fn truncation_keeps_the_most_probable_token(z in logits(), p in params()) {
        // Every warper but typical keeps the argmax; typical may legitimately drop it.
        let p = SamplingParams { typical: 1.0, repetition_penalty: 1.0, ..p };
        let w = warp(&z, &p, &[]).unwrap();
        let best = top_n(&z, summarize(&z).unwrap().lse, 1)[0].id;
        prop_assert!(w.logprob(best).is_some());
    }

    #[test]
    fn top_k_keeps_every_token_above_every_removed_one(z in logits(), k in 1usize..10) {
        let w = warp(&z, &SamplingParams { top_k: k, ..SamplingParams::default() }, &[]).unwrap();
        let finite = z.iter().filter(|v| **v > f32::NEG_INFINITY).count();
        prop_assert!(w.kept() >= k.min(finite));
        let min_kept = w.iter().map(|(id, _)| z[id as usize]).fold(f32::INFINITY, f32::min);
        for (id, &v) in z.iter().enumerate() {
            if w.logprob(id as u32).is_none() {
                prop_assert!(v < min_kept);
            }
        }
    }

    #[test]
    fn summary_agrees_with_softmax_and_the_untouched_warp(z in logits()) {
        let s = summarize(&z).unwrap();
        let p = softmax(&z).unwrap();
        prop_assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        prop_assert!((s.entropy - entropy_of_probs(&p).unwrap()).abs() < 1e-6);
        let w = warp(&z, &SamplingParams::default(), &[]).unwrap();
        prop_assert!((s.entropy - w.entropy()).abs() < 1e-6);
    }

    #[test]
    fn top_n_order_is_rank_order(z in logits(), n in 0usize..70) {
        let lse = summarize(&z).unwrap().lse;
        for (r, t) in top_n(&z, lse, n).iter().enumerate() {
            prop_assert_eq!(rank(&z, t.id).unwrap(), r);
        }
    }

    #[test]
    fn divergence_bounds((p, q) in (1usize..20).prop_flat_map(|n| (probs(n), probs(n)))) {
        let d = divergences(&p, &q).unwrap();
        prop_assert!(d.kl_ab >= 0.0 && d.kl_ba >= 0.0);
        prop_assert!(d.js >= 0.0 && d.js <= std::f64::consts::LN_2);
        prop_assert!((0.0..=1.0).contains(&d.tv));
        // Pinsker's inequality ties KL to TV: TV ≤ sqrt(KL / 2).
        prop_assert!(d.tv <= (d.kl_ab / 2.0).sqrt() + 1e-9);
    }

    #[test]
    fn divergences_from_logits_are_bounded_and_symmetric(
        (a, b) in (1usize..40).prop_flat_map(|n| (
            prop::collection::vec(-20.0f32..20.0, n),
            prop::collection::vec(-20.0f32..20.0, n),
        ))
    ) {
        let ab = divergences_from_logits(&a, &b).unwrap();
        let ba = divergences_from_logits(&b, &a).unwrap();
        prop_assert!(ab.kl_ab >= 0.0 && ab.js <= std::f64::consts::LN_2);
        prop_assert!((ab.kl_ab - ba.kl_ba).abs() < 1e-9);
        prop_assert!((ab.js - ba.js).abs() < 1e-12 && (ab.tv - ba.tv).abs() < 1e-12);
    }
}
