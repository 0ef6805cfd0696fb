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

#[test]
fn max_tokens_zero_emits_no_step_and_one_done() {
    let mut s = session();
    let zero = GenerateOptions {
        max_tokens: 0,
        ..opts()
    };
    let mut events = Vec::new();
    let done = s
        .generate(&zero, &mut |e| {
            events.push(e.clone());
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!((done.tokens, done.stop), (0, StopReason::Length));
    assert!(done.prompt_tokens > 0 && done.text.is_empty());
    assert!(matches!(events.as_slice(), [Event::Done(_)]), "{events:?}");

    // The worker's stepping API: the first event is already the done event.
    let mut run = s.start_generate(&zero).unwrap();
    assert!(matches!(run.next(&mut s).unwrap(), Some(Event::Done(d)) if d.tokens == 0));
    assert!(run.next(&mut s).unwrap().is_none());
}

#[test]
fn a_full_context_ends_the_run_with_stop_context() {
    let n_ctx = 16;
    let mut s = Session::cpu(common::default_model(), 1, Some(n_ctx), Precision::Exact).unwrap();
    let done = s
        .generate(
            &GenerateOptions {
                max_tokens: 64,
                ..opts()
            },
            &mut |_| ControlFlow::Continue(()),
        )
        .unwrap();
    assert_eq!(done.stop, StopReason::Context);
    assert_eq!(done.prompt_tokens + done.tokens, n_ctx);
}

/// The default model with its chat template replaced (`None`: removed, as in a base model).
fn with_template(source: Option<&str>) -> Session {
    let mut file = common::default_model();
    let mut metadata = tokscope_gguf::Metadata::default();
    for (key, value) in file.metadata.iter() {
        if key != "tokenizer.chat_template" {
            metadata.insert(key.clone(), value.clone());
        }
    }
    if let Some(source) = source {
        metadata.insert(
            "tokenizer.chat_template".into(),
            tokscope_gguf::Value::String(source.into()),
        );
    }
    file.metadata = metadata;
    Session::cpu(file, 1, Some(64), Precision::Exact).expect("the model loads without chat")
}

#[test]
fn an_unusable_or_missing_template_leaves_raw_prompts_working() {
    let bomb = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
    for (source, why) in [
        (Some("{% for m in messages %}"), "syntax error"),
        (Some(bomb), "ran out of fuel"),
        (None, "no chat template"),
    ] {
        let mut s = with_template(source);
        let chat = GenerateOptions {
            prompt: Prompt::Chat {
                system: None,
                user: "Hi".into(),
            },
            max_tokens: 2,
            ..opts()
        };
        let err = s
            .generate(&chat, &mut |_| ControlFlow::Continue(()))
            .expect_err("chat is unavailable");
        let text = err.to_string();
        assert!(
            text.contains(why) && text.contains("raw prompts still work"),
            "{text}"
        );
        let raw = GenerateOptions {
            max_tokens: 2,
            ..opts()
        };
        let done = s
            .generate(&raw, &mut |_| ControlFlow::Continue(()))
            .unwrap();
        assert_eq!(done.tokens, 2);
    }
}
