//! The step-by-step generation API (what the web worker drives) against the all-at-once loop.

mod common;

use std::ops::ControlFlow;

use tokscope_dist::SamplingParams;
use tokscope_model::cpu::Precision;
use tokscope_session::{Event, GenerateOptions, Prompt, Session, StopReason};

fn session() -> Session {
    Session::cpu(common::default_model(), 1, Some(256), Precision::Exact).unwrap()
}

fn opts() -> GenerateOptions {
    GenerateOptions {
        prompt: Prompt::Raw("Once upon a time".into()),
        max_tokens: 6,
        sampling: SamplingParams {
            temperature: 0.9,
            top_k: 40,
            ..SamplingParams::default()
        },
        seed: 42,
        top_n: 4,
        ignore_eos: true,
    }
}

#[test]
fn stepping_equals_the_loop_and_ends_with_one_done() {
    let mut s = session();
    let mut looped = Vec::new();
    let done = s
        .generate(&opts(), &mut |e| {
            if let Event::Step(step) = e {
                looped.push(step.token.id);
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(done.stop, StopReason::Length);
    assert_eq!(looped.len(), 6);

    let mut run = s.start_generate(&opts()).unwrap();
    let mut stepped = Vec::new();
    let mut dones = 0;
    while let Some(event) = run.next(&mut s).unwrap() {
        match event {
            Event::Step(step) => {
                assert_eq!(step.index, stepped.len());
                stepped.push(step.token.id);
            }
            Event::Done(d) => {
                dones += 1;
                assert_eq!(d.tokens, 6);
            }
        }
    }
    assert_eq!(dones, 1);
    assert_eq!(stepped, looped, "same seed, same tokens");
    assert!(run.next(&mut s).unwrap().is_none());
}

#[test]
fn stop_ends_the_run_after_the_current_step() {
    let mut s = session();
    let mut run = s.start_generate(&opts()).unwrap();
    assert!(matches!(run.next(&mut s).unwrap(), Some(Event::Step(_))));
    assert!(matches!(run.next(&mut s).unwrap(), Some(Event::Step(_))));
    run.stop();
    match run.next(&mut s).unwrap() {
        Some(Event::Done(d)) => {
            assert_eq!(d.stop, StopReason::Stopped);
            assert_eq!(d.tokens, 2);
            assert_eq!(run.generated().len(), 2);
        }
        other => panic!("expected done, got {other:?}"),
    }
}

#[test]
fn a_prompt_longer_than_the_context_is_an_error_not_a_panic() {
    let mut s = session();
    let long = "word ".repeat(400);
    let err = s
        .start_generate(&GenerateOptions {
            prompt: Prompt::Raw(long),
            ..opts()
        })
        .err()
        .expect("too long for 256 positions");
    assert!(err.to_string().contains("context"), "{err}");
}
