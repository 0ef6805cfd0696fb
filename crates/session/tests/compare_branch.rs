//! Compare and branch modes on the default model.

mod common;

use std::ops::ControlFlow;

use tokscope_dist::SamplingParams;
use tokscope_model::ModelFile;
use tokscope_model::cpu::Precision;
use tokscope_session::event::StepEvent;
use tokscope_session::{
    BranchOptions, CompareMode, CompareOptions, DoneEvent, Event, GenerateOptions, Prompt, Session,
    compare,
};

const N_CTX: usize = 256;

fn model_file() -> ModelFile {
    common::default_model()
}

fn two_sessions() -> (Session, Session) {
    let f = model_file();
    (
        Session::cpu(f.clone(), 2, Some(N_CTX), Precision::Exact).unwrap(),
        Session::cpu(f, 2, Some(N_CTX), Precision::Exact).unwrap(),
    )
}

fn collect(
    run: impl FnOnce(&mut dyn FnMut(&Event) -> ControlFlow<()>) -> DoneEvent,
) -> (Vec<StepEvent>, DoneEvent) {
    let mut steps = Vec::new();
    let done = run(&mut |e| {
        if let Event::Step(s) = e {
            steps.push(s.clone());
        }
        ControlFlow::Continue(())
    });
    (steps, done)
}

fn ids(steps: &[StepEvent]) -> Vec<u32> {
    steps.iter().map(|s| s.token.id).collect()
}

fn gen_opts(prompt: Prompt) -> GenerateOptions {
    GenerateOptions {
        prompt,
        max_tokens: 12,
        sampling: SamplingParams {
            temperature: 0.9,
            ..SamplingParams::default()
        },
        seed: 7,
        top_n: 5,
        ignore_eos: true,
    }
}

fn compare_opts(mode: CompareMode, a: Prompt, b: Prompt) -> CompareOptions {
    CompareOptions {
        generate: gen_opts(a),
        others: vec![b],
        mode,
    }
}

#[test]
fn compare_decodes_from_the_chosen_condition_and_measures_the_difference() {
    let (mut a, mut b) = two_sessions();
    let raw = Prompt::Raw("What is the capital of France?".into());
    let chat = Prompt::Chat {
        system: None,
        user: "What is the capital of France?".into(),
    };
    let (plain_a, _) = collect(|cb| a.generate(&gen_opts(raw.clone()), cb).unwrap());
    let (plain_b, _) = collect(|cb| b.generate(&gen_opts(chat.clone()), cb).unwrap());

    let opts = compare_opts(CompareMode::A, raw.clone(), chat.clone());
    let (steps, done) = collect(|cb| compare(&mut [&mut a, &mut b], &opts, cb).unwrap());
    assert_eq!(
        ids(&steps),
        ids(&plain_a),
        "mode a is plain generation under prompt a"
    );
    // The step's main fields are condition a's raw distribution, as in generate.
    assert_eq!(steps[3].top, plain_a[3].top);
    let c = steps[0].compare.as_ref().unwrap();
    assert!(c.kl_ab > 0.0 && c.kl_ba > 0.0 && c.tv > 0.0 && c.js <= std::f64::consts::LN_2);
    assert_eq!(c.top_mixed, steps[0].top, "mode a decodes from a itself");
    assert!(done.compare.as_ref().unwrap().mean_tv > 0.0);

    let opts = compare_opts(CompareMode::B, raw.clone(), chat.clone());
    let (steps, _) = collect(|cb| compare(&mut [&mut a, &mut b], &opts, cb).unwrap());
    assert_eq!(
        ids(&steps),
        ids(&plain_b),
        "mode b is plain generation under prompt b"
    );

    // Weighted arithmetic with weights [1, 0] is condition a again.
    let opts = compare_opts(
        CompareMode::Arith {
            weights: vec![1.0, 0.0],
        },
        raw.clone(),
        chat,
    );
    let (steps, _) = collect(|cb| compare(&mut [&mut a, &mut b], &opts, cb).unwrap());
    assert_eq!(ids(&steps), ids(&plain_a));
}

#[test]
fn identical_conditions_do_not_diverge_and_contrast_modes_run() {
    let (mut a, mut b) = two_sessions();
    let p = Prompt::Raw("Once upon a time".into());
    let opts = compare_opts(CompareMode::Ed { alpha: 0.5 }, p.clone(), p.clone());
    let (steps, done) = collect(|cb| compare(&mut [&mut a, &mut b], &opts, cb).unwrap());
    for s in &steps {
        let c = s.compare.as_ref().unwrap();
        assert!(c.kl_ab.abs() < 1e-6 && c.tv < 1e-6, "{c:?}");
    }
    assert_eq!(done.compare.unwrap().argmax_disagreements, 0);

    let q = Prompt::Raw("The weather today".into());
    let opts = compare_opts(
        CompareMode::Uscd {
            alpha: 0.1,
            threshold: 2.0,
        },
        p.clone(),
        q.clone(),
    );
    let (steps, _) = collect(|cb| compare(&mut [&mut a, &mut b], &opts, cb).unwrap());
    for s in &steps {
        let c = s.compare.as_ref().unwrap();
        assert!(c.uncertainty.is_some());
        assert_eq!(c.contrast_applied, Some(c.uncertainty.unwrap() >= 2.0));
        assert!((c.uncertainty.unwrap() - s.entropy).abs() < 1e-9);
    }
    let opts = compare_opts(CompareMode::Cd { alpha: 0.1 }, p.clone(), q);
    let (steps, _) = collect(|cb| compare(&mut [&mut a, &mut b], &opts, cb).unwrap());
    // CD's head set: every chosen token has expert probability ≥ α · max.
    for s in &steps {
        assert!(s.logprob >= s.top[0].logprob + 0.1f64.ln() - 1e-6);
    }
    let bad = compare_opts(CompareMode::Arith { weights: vec![1.0] }, p.clone(), p);
    assert!(
        compare(&mut [&mut a, &mut b], &bad, &mut |_| ControlFlow::Continue(
            ()
        ))
        .is_err()
    );
}

#[test]
fn branch_samples_share_the_prefix_and_report_multi_sample_bf() {
    let (mut s, _) = two_sessions();
    let g = gen_opts(Prompt::Raw("My favourite colour is".into()));
    let (trunk, _) = collect(|cb| s.generate(&g, cb).unwrap());
    // Branch at step 2 with the second most likely token instead of the sampled one.
    let alt = trunk[2]
        .top
        .iter()
        .find(|t| t.id != trunk[2].token.id)
        .unwrap()
        .id;
    let prefix = vec![trunk[0].token.id, trunk[1].token.id, alt];
    let opts = BranchOptions {
        generate: GenerateOptions {
            max_tokens: 6,
            ..g.clone()
        },
        prefix: prefix.clone(),
        samples: 4,
    };
    let (steps, done) = collect(|cb| s.branch(&opts, cb).unwrap());
    let summary = done.samples.as_ref().unwrap();
    assert_eq!(steps.len(), 24);
    assert_eq!(summary.samples, 4);
    assert_eq!(steps.iter().filter(|st| st.index == 0).count(), 4);
    // Each sample's BF is its running BF; the multi-sample BF is the geometric mean.
    let firsts: Vec<f64> = (0..4)
        .map(|i| steps[i * 6 + 5].bf.as_ref().unwrap().running)
        .collect();
    for (a, b) in firsts.iter().zip(&summary.sample_bf) {
        assert!((a - b).abs() < 1e-9);
    }
    let geo = (firsts.iter().map(|b| b.ln()).sum::<f64>() / 4.0).exp();
    assert!((summary.bf - geo).abs() < 1e-9);
    assert!(summary.logprob_std >= 0.0 && summary.distinct >= 1 && summary.distinct <= 4);

    // With an empty prefix, sample 0 is plain generation with the same seed.
    let from_prompt = BranchOptions {
        generate: GenerateOptions {
            max_tokens: 6,
            ..g.clone()
        },
        prefix: Vec::new(),
        samples: 2,
    };
    let (again, _) = collect(|cb| s.branch(&from_prompt, cb).unwrap());
    assert_eq!(ids(&again[..6]), ids(&trunk[..6]));
    assert!(
        s.branch(&BranchOptions { samples: 0, ..opts }, &mut |_| {
            ControlFlow::Continue(())
        })
        .is_err()
    );
}

#[test]
fn a_branch_from_an_earlier_run_reuses_its_cache_and_matches_a_fresh_branch() {
    let (mut warm, mut fresh) = two_sessions();
    let g = gen_opts(Prompt::Raw("Once upon a time".into()));
    let (trunk, _) = collect(|cb| warm.generate(&g, cb).unwrap());
    let alt = trunk[3]
        .top
        .iter()
        .find(|t| t.id != trunk[3].token.id)
        .unwrap()
        .id;
    let prefix: Vec<u32> = ids(&trunk[..3]).into_iter().chain([alt]).collect();
    let prompt = warm.prompt_tokens(&g.prompt).unwrap();
    let context: Vec<u32> = prompt.iter().chain(&prefix).copied().collect();
    // The run's cache holds the prompt and its tokens: everything before the fork is kept.
    assert_eq!(warm.reusable_prefix(&context), prompt.len() + 3);
    assert_eq!(fresh.reusable_prefix(&context), 0);
    let opts = BranchOptions {
        generate: GenerateOptions {
            max_tokens: 5,
            ..g.clone()
        },
        prefix,
        samples: 2,
    };
    let (a, done_a) = collect(|cb| warm.branch(&opts, cb).unwrap());
    let (b, done_b) = collect(|cb| fresh.branch(&opts, cb).unwrap());
    assert_eq!(ids(&a), ids(&b));
    for (x, y) in a.iter().zip(&b) {
        assert!(
            (x.logprob - y.logprob).abs() < 1e-4,
            "{} vs {}",
            x.logprob,
            y.logprob
        );
        assert!((x.entropy - y.entropy).abs() < 1e-4);
    }
    assert_eq!(
        done_a.samples.unwrap().distinct,
        done_b.samples.unwrap().distinct
    );
    // A direct forward through the backend makes the session forget what its cache holds.
    warm.backend_mut().truncate(0);
    assert_eq!(warm.reusable_prefix(&context), 0);
}

/// A CPU backend that counts how the session asks for distributions: step queries (which the GPU
/// answers with a summary read back instead of the vocabulary's logits) or whole logits.
struct Counting {
    inner: tokscope_model::cpu::CpuBackend,
    queries: std::rc::Rc<std::cell::Cell<usize>>,
    logits: std::rc::Rc<std::cell::Cell<usize>>,
}

impl tokscope_model::Backend for Counting {
    fn config(&self) -> &tokscope_model::Config {
        self.inner.config()
    }
    fn n_ctx(&self) -> usize {
        self.inner.n_ctx()
    }
    fn cache_len(&self) -> usize {
        self.inner.cache_len()
    }
    fn truncate(&mut self, len: usize) {
        self.inner.truncate(len)
    }
    fn forward(
        &mut self,
        tokens: &[u32],
        which: tokscope_model::LogitsFor,
    ) -> tokscope_model::Result<Vec<f32>> {
        self.logits.set(self.logits.get() + 1);
        self.inner.forward(tokens, which)
    }
    fn forward_step_async<'a>(
        &'a mut self,
        tokens: &'a [u32],
        query: &'a tokscope_model::StepQuery,
    ) -> tokscope_model::StepFuture<'a> {
        self.queries.set(self.queries.get() + 1);
        self.inner.forward_step_async(tokens, query)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[test]
fn branch_asks_step_queries_so_a_gpu_reads_back_summaries() {
    let f = model_file();
    let reference = Session::cpu(f.clone(), 2, Some(N_CTX), Precision::Exact).unwrap();
    let (queries, logits) = Default::default();
    let counting = Counting {
        inner: tokscope_model::cpu::CpuBackend::with_context(f, 2, N_CTX).unwrap(),
        queries: std::rc::Rc::clone(&queries),
        logits: std::rc::Rc::clone(&logits),
    };
    let mut s = Session::new(
        Box::new(counting),
        reference.tokenizer.clone(),
        reference.template.clone(),
    );
    let opts = BranchOptions {
        generate: GenerateOptions {
            max_tokens: 4,
            ignore_eos: true,
            ..gen_opts(Prompt::Raw("Once upon a time".into()))
        },
        prefix: Vec::new(),
        samples: 3,
    };
    let (steps, _) = collect(|cb| s.branch(&opts, cb).unwrap());
    assert_eq!(steps.len(), 12);
    // One query per step: each sample's first comes with its context, the others with a token.
    assert_eq!((queries.get(), logits.get()), (12, 0));
}
