//! Multi-draft speculative decoding: on a toy target/draft pair over four tokens the output is distributed as the
//! target's (chi-square over 100,000 tokens) and acceptance follows K-SEQ's theory; on the default model a
//! self-draft reproduces plain sampling and greedy multi-draft equals greedy decoding.

mod common;

use std::ops::ControlFlow;

use tokscope_dist::{SamplingParams, warp};
use tokscope_gguf::{Metadata, Value};
use tokscope_model::cpu::Precision;
use tokscope_model::{Backend, Config, FfnActivation, LogitsFor, ModelFile, RopeStyle};
use tokscope_session::event::{SpecSource, SpecSummary, StepEvent};
use tokscope_session::{
    DoneEvent, Drafter, Event, GenerateOptions, MultiDraftOptions, Prompt, Session,
};
use tokscope_tokenizer::{ChatUnavailable, Tokenizer};

// ---- A toy pair: second-order Markov models over four tokens, each a Backend with a real KV cache record. ----

const V: usize = 4;

/// Logits of the next token from the two before it: the target's and the draft's rules differ, and with top-k 3
/// their kept sets often differ too.
fn target_rule(a: u32, b: u32) -> [f32; V] {
    std::array::from_fn(|x| ((a * 7 + b * 3 + x as u32 * 5) % 11) as f32 * 0.35 - 1.5)
}

fn draft_rule(a: u32, b: u32) -> [f32; V] {
    std::array::from_fn(|x| ((a * 5 + b * 2 + x as u32 * 3) % 7) as f32 * 0.4 - 1.0)
}

/// A model whose logits after a token depend on it and the token before it in its cache: a cache that
/// does not hold exactly the history gives wrong distributions, which the chi-square test would see.
struct Markov2 {
    config: Config,
    rule: fn(u32, u32) -> [f32; V],
    cache: Vec<u32>,
}

impl Markov2 {
    fn new(rule: fn(u32, u32) -> [f32; V], n_ctx: usize) -> Self {
        let config = Config {
            arch: "llama".into(),
            n_vocab: V,
            n_embd: 4,
            n_layer: 1,
            n_head: 1,
            n_head_kv: 1,
            head_dim: 4,
            n_ff: 4,
            rope_dims: 4,
            rope_base: 10000.0,
            rope_style: RopeStyle::Norm,
            rms_eps: 1e-5,
            n_ctx_train: n_ctx,
            tied_embeddings: true,
            qkv_bias: false,
            rope_freq_scale: 1.0,
            rope_freq_factors: false,
            qk_norm: false,
            post_norms: false,
            ffn_activation: FfnActivation::Silu,
            embd_scale: 1.0,
            attn_scale: 0.5,
            sliding_window: None,
        };
        Self {
            config,
            rule,
            cache: Vec::new(),
        }
    }
}

impl Backend for Markov2 {
    fn config(&self) -> &Config {
        &self.config
    }
    fn n_ctx(&self) -> usize {
        self.config.n_ctx_train
    }
    fn cache_len(&self) -> usize {
        self.cache.len()
    }
    fn truncate(&mut self, len: usize) {
        self.cache.truncate(len);
    }
    fn forward(&mut self, tokens: &[u32], which: LogitsFor) -> tokscope_model::Result<Vec<f32>> {
        assert!(self.cache.len() + tokens.len() <= self.n_ctx());
        let mut out = Vec::new();
        for (i, &t) in tokens.iter().enumerate() {
            let prev = self.cache.last().copied().unwrap_or(0);
            self.cache.push(t);
            if which == LogitsFor::All || i + 1 == tokens.len() {
                out.extend((self.rule)(prev, t));
            }
        }
        Ok(out)
    }
    fn describe(&self) -> String {
        "markov2".into()
    }
}

fn toy_tokenizer() -> Tokenizer {
    let mut md = Metadata::default();
    let strings = |v: &[&str]| Value::strings(v);
    md.insert("tokenizer.ggml.model".into(), Value::String("gpt2".into()));
    md.insert(
        "tokenizer.ggml.tokens".into(),
        strings(&["a", "b", "c", "d"]),
    );
    md.insert("tokenizer.ggml.merges".into(), strings(&[]));
    md.insert("tokenizer.ggml.add_bos_token".into(), Value::Bool(false));
    Tokenizer::from_gguf(&md).unwrap()
}

fn toy_sampling() -> SamplingParams {
    SamplingParams {
        temperature: 0.9,
        top_k: 3,
        ..SamplingParams::default()
    }
}

/// `n` tokens from the toy pair with K drafts of γ tokens; the prompt "ab" is tokens 0, 1.
fn toy_run(k: usize, gamma: usize, n: usize, seed: u64) -> (Vec<u32>, DoneEvent) {
    let n_ctx = n + 8;
    let mut session = Session::new(
        Box::new(Markov2::new(target_rule, n_ctx)),
        toy_tokenizer(),
        Err(ChatUnavailable::Missing),
    );
    let mut drafter = Drafter::Model {
        backend: Box::new(Markov2::new(draft_rule, n_ctx)),
        name: "toy".into(),
    };
    let opts = MultiDraftOptions {
        generate: GenerateOptions {
            prompt: Prompt::Raw("ab".into()),
            max_tokens: n,
            sampling: toy_sampling(),
            seed,
            top_n: 2,
            ignore_eos: true,
        },
        gamma,
        drafts: k,
    };
    assert_eq!(
        session.prompt_tokens(&opts.generate.prompt).unwrap(),
        [0, 1]
    );
    let mut ids = vec![0, 1];
    let done = session
        .multidraft(&mut drafter, &opts, &mut |e| {
            if let Event::Step(s) = e {
                ids.push(s.token.id);
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    (ids, done)
}

/// The chi-square 0.999 quantile for `dof` degrees of freedom (Wilson–Hilferty, within 1% from 10 dof up).
fn chi2_999(dof: f64) -> f64 {
    let z = 3.0902;
    let c = 2.0 / (9.0 * dof);
    dof * (1.0 - c + z * c.sqrt()).powi(3)
}

#[test]
fn toy_pair_output_is_distributed_as_the_target() {
    let n = 100_000;
    let (ids, done) = toy_run(3, 3, n, 7);
    assert_eq!(done.tokens, n);
    // Transition counts (a, b) → x against the target's warped distribution after (a, b).
    let mut counts = [[0usize; V]; V * V];
    for w in ids.windows(3) {
        counts[(w[0] * V as u32 + w[1]) as usize][w[2] as usize] += 1;
    }
    let (mut chi2, mut dof) = (0.0, 0.0);
    for a in 0..V as u32 {
        for b in 0..V as u32 {
            let row = &counts[(a * V as u32 + b) as usize];
            let total: usize = row.iter().sum();
            if total == 0 {
                continue;
            }
            let p = warp(&target_rule(a, b), &toy_sampling(), &[]).unwrap();
            for (x, &c) in row.iter().enumerate() {
                let e = p.prob(x as u32) * total as f64;
                if e == 0.0 {
                    assert_eq!(
                        c, 0,
                        "token {x} after ({a}, {b}) is outside the target's top-k"
                    );
                } else {
                    chi2 += (c as f64 - e).powi(2) / e;
                }
            }
            dof += (p.kept() - 1) as f64;
        }
    }
    assert!(dof >= 24.0, "most contexts visited: {dof}");
    assert!(
        chi2 < chi2_999(dof),
        "chi2 = {chi2} over {dof} dof, counts {counts:?}"
    );
}

#[test]
fn toy_pair_acceptance_follows_kseq_theory_and_grows_with_k() {
    let summary = |k| {
        let (_, done) = toy_run(k, 2, 30_000, 11);
        done.spec.unwrap()
    };
    let rate0 = |s: &SpecSummary| s.acceptance_by_position[0];
    let (one, four) = (summary(1), summary(4));
    for s in [&one, &four] {
        let m = s.multi.as_ref().unwrap();
        // At the first position every candidate is in play: the measured rate is K-SEQ's probability.
        assert!(
            (rate0(s) - m.kseq_accept_by_position[0]).abs() < 0.015,
            "{s:?}"
        );
        assert!(m.mean_kseq_accept <= m.mean_optimal + 1e-9, "{m:?}");
        assert_eq!(m.candidates_by_position[0], m.drafts as f64);
    }
    // One draft is plain speculative sampling: K-SEQ's probability is β and equals the bound.
    let m1 = one.multi.as_ref().unwrap();
    assert!((m1.mean_kseq_accept - one.mean_beta.unwrap()).abs() < 1e-9);
    assert!((m1.mean_optimal - m1.mean_kseq_accept).abs() < 1e-9);
    assert!(rate0(&four) > rate0(&one) + 0.04, "{one:?} {four:?}");
    assert!(four.tokens_per_call > one.tokens_per_call);
}

#[test]
fn deterministic_drafters_and_bad_counts_are_refused() {
    let mut session = Session::new(
        Box::new(Markov2::new(target_rule, 64)),
        toy_tokenizer(),
        Err(ChatUnavailable::Missing),
    );
    let opts = |drafts| MultiDraftOptions {
        generate: GenerateOptions {
            prompt: Prompt::Raw("ab".into()),
            max_tokens: 4,
            ..GenerateOptions::default()
        },
        gamma: 2,
        drafts,
    };
    let mut ignore = |_: &Event| ControlFlow::Continue(());
    for mut drafter in [Drafter::Ngram { max_ngram: 3 }, Drafter::Trigram] {
        let err = session
            .multidraft(&mut drafter, &opts(2), &mut ignore)
            .unwrap_err();
        assert!(err.to_string().contains("deterministic"), "{err}");
    }
    for bad in [0, tokscope_session::MAX_DRAFTS + 1] {
        let mut drafter = Drafter::Model {
            backend: Box::new(Markov2::new(draft_rule, 64)),
            name: "toy".into(),
        };
        let err = session
            .multidraft(&mut drafter, &opts(bad), &mut ignore)
            .unwrap_err();
        assert!(err.to_string().contains(&bad.to_string()), "{err}");
    }
}

// ---- The default model. ----

const N_CTX: usize = 256;
const TOKENS: usize = 24;

fn model_file() -> ModelFile {
    common::default_model()
}

fn options(temperature: f32) -> GenerateOptions {
    GenerateOptions {
        prompt: Prompt::Raw(
            "The cat sat on the mat. The dog sat on the log. The cat sat on the".into(),
        ),
        max_tokens: TOKENS,
        sampling: SamplingParams {
            temperature,
            ..SamplingParams::default()
        },
        seed: 42,
        top_n: 3,
        ignore_eos: true,
    }
}

fn plain(session: &mut Session, opts: &GenerateOptions) -> Vec<u32> {
    let mut ids = Vec::new();
    session
        .generate(opts, &mut |e| {
            if let Event::Step(s) = e {
                ids.push(s.token.id);
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    ids
}

fn multidraft(
    session: &mut Session,
    drafter: &mut Drafter,
    generate: &GenerateOptions,
    gamma: usize,
    drafts: usize,
) -> (Vec<StepEvent>, DoneEvent) {
    let mut steps = Vec::new();
    let opts = MultiDraftOptions {
        generate: generate.clone(),
        gamma,
        drafts,
    };
    let done = session
        .multidraft(drafter, &opts, &mut |e| {
            if let Event::Step(s) = e {
                steps.push(s.clone());
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    (steps, done)
}

fn ids(steps: &[StepEvent]) -> Vec<u32> {
    steps.iter().map(|s| s.token.id).collect()
}

#[test]
fn self_draft_accepts_everything_and_reproduces_plain_sampling() {
    let file = model_file();
    let mut session = Session::cpu(file.clone(), 2, Some(N_CTX), Precision::Exact).unwrap();
    let opts = options(0.8);
    let want = plain(&mut session, &opts);
    let mut drafter = Drafter::early_exit_cpu(
        file.clone(),
        file.config.n_layer,
        2,
        N_CTX,
        Precision::Exact,
    )
    .unwrap();
    let (steps, done) = multidraft(&mut session, &mut drafter, &opts, 4, 3);
    assert_eq!(ids(&steps), want);
    let s = done.spec.as_ref().unwrap();
    let m = s.multi.as_ref().unwrap();
    assert_eq!(s.acceptance_rate, 1.0, "{s:?}");
    // 24 tokens at 5 per round (4 accepted + bonus); the path never leaves candidate 0's sequence.
    assert_eq!(s.target_calls, TOKENS.div_ceil(5));
    assert_eq!(m.target_forwards, s.target_calls);
    assert!(m.mean_kseq_accept > 0.999, "{m:?}");
}

#[test]
fn greedy_multidraft_equals_greedy_decoding() {
    let file = model_file();
    let mut session = Session::cpu(file.clone(), 2, Some(N_CTX), Precision::Exact).unwrap();
    let opts = options(0.0);
    let want = plain(&mut session, &opts);
    let mut drafters = [
        Drafter::early_exit_cpu(file.clone(), 8, 2, N_CTX, Precision::Exact).unwrap(),
        Drafter::model_cpu(file.clone(), &session.tokenizer, 2, N_CTX, Precision::Exact).unwrap(),
    ];
    for drafter in &mut drafters {
        for k in [1, 3] {
            let (steps, done) = multidraft(&mut session, drafter, &opts, 4, k);
            let s = done.spec.as_ref().unwrap();
            assert_eq!(ids(&steps), want, "drafter {} K = {k}", s.drafter);
            assert_eq!(s.target_calls + s.n_accepted, TOKENS, "{s:?}");
        }
    }
}

#[test]
fn sampled_multidraft_reports_consistent_checks() {
    let file = model_file();
    let mut session = Session::cpu(file.clone(), 2, Some(N_CTX), Precision::Exact).unwrap();
    let mut drafter = Drafter::early_exit_cpu(file, 6, 2, N_CTX, Precision::Exact).unwrap();
    let (steps, done) = multidraft(&mut session, &mut drafter, &options(0.7), 3, 3);
    let s = done.spec.as_ref().unwrap();
    let m = s.multi.as_ref().unwrap();
    assert_eq!(steps.len(), TOKENS);
    let mut checked = 0;
    for st in &steps {
        let spec = st.spec.as_ref().unwrap();
        let Some(c) = &spec.multi else {
            assert_eq!(spec.source, SpecSource::Bonus);
            continue;
        };
        checked += 1;
        if c.depth == 0 {
            assert_eq!(c.candidates.len(), 3);
        }
        let accepted: Vec<_> = c
            .candidates
            .iter()
            .filter(|x| x.outcome == tokscope_dist::Outcome::Accepted)
            .collect();
        match spec.source {
            SpecSource::Accepted => assert_eq!(accepted.len(), 1),
            SpecSource::Resampled => {
                assert!(accepted.is_empty() && !spec.residual.is_empty());
            }
            SpecSource::Bonus => panic!("a bonus token has no check"),
        }
        for x in &c.candidates {
            let want = if x.q > 0.0 {
                (x.p / (c.rho * x.q)).min(1.0)
            } else {
                0.0
            };
            assert!((x.accept_prob - want).abs() < 1e-12);
        }
        assert!((1.0..=3.0).contains(&c.rho));
        assert!(c.beta <= c.kseq_accept + 1e-6 && c.kseq_accept <= c.optimal + 1e-9);
    }
    assert_eq!(checked, s.n_drafted);
    assert!(m.target_forwards >= s.target_calls);
    assert!(
        s.acceptance_rate < 1.0,
        "a 6-layer draft misses sometimes: {s:?}"
    );
}
