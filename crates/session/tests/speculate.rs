//! Speculative decoding on the default model: a self-draft reproduces plain sampling, and greedy speculation
//! equals greedy plain decoding for every drafter.

mod common;

use std::ops::ControlFlow;

use tokscope_dist::SamplingParams;
use tokscope_gguf::Value;
use tokscope_model::ModelFile;
use tokscope_model::cpu::{CpuBackend, Precision};
use tokscope_model::{Backend, LogitsFor};
use tokscope_session::event::{SpecSource, SpecSummary};
use tokscope_session::{
    DoneEvent, Drafter, Event, GenerateOptions, Prompt, Session, SpeculateOptions,
};

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

fn speculate(
    session: &mut Session,
    drafter: &mut Drafter,
    opts: &GenerateOptions,
    gamma: usize,
) -> (Vec<u32>, DoneEvent, Vec<SpecSource>) {
    let (mut ids, mut sources) = (Vec::new(), Vec::new());
    let done = session
        .speculate(
            drafter,
            &SpeculateOptions {
                generate: opts.clone(),
                gamma,
            },
            &mut |e| {
                if let Event::Step(s) = e {
                    ids.push(s.token.id);
                    sources.push(s.spec.as_ref().unwrap().source);
                }
                ControlFlow::Continue(())
            },
        )
        .unwrap();
    (ids, done, sources)
}

fn summary(done: &DoneEvent) -> &SpecSummary {
    done.spec.as_ref().unwrap()
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
    let (got, done, _) = speculate(&mut session, &mut drafter, &opts, 4);
    let s = summary(&done);
    assert_eq!(got, want);
    assert!(s.n_drafted > 0);
    assert_eq!(s.acceptance_rate, 1.0, "{s:?}");
    assert!(s.mean_beta.unwrap() > 0.999, "{s:?}");
    // 24 tokens at 5 per call (4 drafts + bonus) → 5 calls.
    assert_eq!(s.target_calls, TOKENS.div_ceil(5));
    assert_eq!(done.tokens, TOKENS);
}

#[test]
fn greedy_speculation_equals_greedy_decoding_for_every_drafter() {
    let file = model_file();
    let mut session = Session::cpu(file.clone(), 2, Some(N_CTX), Precision::Exact).unwrap();
    let opts = options(0.0);
    let want = plain(&mut session, &opts);
    let mut drafters = vec![
        Drafter::model_cpu(file.clone(), &session.tokenizer, 2, N_CTX, Precision::Exact).unwrap(),
        Drafter::early_exit_cpu(file.clone(), 8, 2, N_CTX, Precision::Exact).unwrap(),
        Drafter::Ngram { max_ngram: 3 },
        Drafter::Trigram,
    ];
    for drafter in &mut drafters {
        let (got, done, sources) = speculate(&mut session, drafter, &opts, 5);
        let s = summary(&done);
        assert_eq!(got, want, "drafter {}", s.drafter);
        assert_eq!(
            s.n_accepted,
            sources
                .iter()
                .filter(|&&x| x == SpecSource::Accepted)
                .count()
        );
        assert_eq!(s.target_calls + s.n_accepted, TOKENS, "{s:?}");
        assert!(s.acceptance_rate <= 1.0);
    }
    // The repetitive prompt gives the model-free drafters matches to propose.
    let (_, done, _) = speculate(&mut session, &mut Drafter::Ngram { max_ngram: 3 }, &opts, 5);
    assert!(summary(&done).n_drafted > 0);
}

#[test]
fn sampled_speculation_reports_consistent_statistics() {
    let file = model_file();
    let mut session = Session::cpu(file.clone(), 2, Some(N_CTX), Precision::Exact).unwrap();
    let mut drafter = Drafter::early_exit_cpu(file, 6, 2, N_CTX, Precision::Exact).unwrap();
    let mut steps = Vec::new();
    let done = session
        .speculate(
            &mut drafter,
            &SpeculateOptions {
                generate: options(0.7),
                gamma: 3,
            },
            &mut |e| {
                if let Event::Step(s) = e {
                    steps.push(s.clone());
                }
                ControlFlow::Continue(())
            },
        )
        .unwrap();
    let s = summary(&done);
    assert_eq!(steps.len(), TOKENS);
    let rounds = steps
        .iter()
        .filter(|st| !st.spec.as_ref().unwrap().drafts.is_empty())
        .count();
    assert!(rounds <= s.target_calls);
    for st in &steps {
        let spec = st.spec.as_ref().unwrap();
        for d in &spec.drafts {
            assert!((0.0..=1.0).contains(&d.accept_prob));
            let want = if d.q > 0.0 { (d.p / d.q).min(1.0) } else { 0.0 };
            assert!((d.accept_prob - want).abs() < 1e-12);
            assert!(d.beta <= 1.0 + 1e-9);
        }
        if spec.source == SpecSource::Resampled {
            assert!(!spec.residual.is_empty());
        }
    }
    assert!(
        s.acceptance_rate < 1.0,
        "a 6-layer draft should miss sometimes: {s:?}"
    );
    assert_eq!(s.acceptance_by_position.len(), 3);
}

#[test]
fn a_different_vocabulary_is_refused() {
    let file = model_file();
    let session = Session::cpu(file.clone(), 1, Some(64), Precision::Exact).unwrap();
    let mut other = file.clone();
    let mut tokens: Vec<&str> = other
        .metadata
        .get_array("tokenizer.ggml.tokens")
        .and_then(|a| a.as_strings())
        .unwrap()
        .iter()
        .collect();
    // A control token (ids below 17 are never merged), so the tokenizer still builds.
    tokens[10] = "<|not-the-same|>";
    let tokens = Value::strings(tokens);
    other
        .metadata
        .insert("tokenizer.ggml.tokens".into(), tokens);
    let err = Drafter::model_cpu(other, &session.tokenizer, 1, 64, Precision::Exact)
        .err()
        .expect("a different vocabulary must be refused");
    assert!(err.to_string().contains("10"), "{err}");
    assert!(Drafter::model_cpu(file, &session.tokenizer, 1, 64, Precision::Exact).is_ok());
}

#[test]
fn early_exit_backend_with_every_layer_is_the_model() {
    let file = model_file();
    let mut full = CpuBackend::with_context(file.clone(), 2, 32).unwrap();
    let mut same = CpuBackend::with_layers(file.clone(), 2, 32, file.config.n_layer).unwrap();
    let mut cut = CpuBackend::with_layers(file.clone(), 2, 32, 4).unwrap();
    let toks = [1u32, 504, 2263, 17];
    let a = full.forward(&toks, LogitsFor::Last).unwrap();
    assert_eq!(a, same.forward(&toks, LogitsFor::Last).unwrap());
    let c = cut.forward(&toks, LogitsFor::Last).unwrap();
    assert_eq!(c.len(), a.len());
    assert_ne!(c, a);
    assert_eq!(cut.config().n_layer, 4);
    assert!(CpuBackend::with_layers(file.clone(), 1, 32, 0).is_err());
    assert!(CpuBackend::with_layers(file.clone(), 1, 32, file.config.n_layer + 1).is_err());
}
