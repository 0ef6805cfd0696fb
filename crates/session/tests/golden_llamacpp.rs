//! Fidelity against llama.cpp: the CPU backend's teacher-forced distributions on the default model
//! equal tests/golden/logprobs.json (llama.cpp 0.3.36, f32 arithmetic on the file's dequantized
//! weights; see tests/golden/README.md for why that variant is the reference).

mod common;

use common::{assert_teacher_forced, default_model, golden, ids};
use tokscope_model::cpu::Precision;
use tokscope_session::Session;

#[test]
fn teacher_forced_distributions_match_llama_cpp() {
    let g = golden("logprobs.json");
    let mut session = Session::cpu(default_model(), 2, Some(512), Precision::Exact).unwrap();
    let checked = assert_teacher_forced(&mut session, &g).positions;
    assert_eq!(
        checked, 64,
        "the golden file holds 64 teacher-forced positions"
    );
}

#[test]
fn prompts_tokenize_as_llama_cpp_does() {
    let g = golden("prompts.json");
    let file = default_model();
    let tokenizer = tokscope_tokenizer::Tokenizer::from_gguf(&file.metadata).unwrap();
    for prompt in g["prompts"].as_array().unwrap() {
        let text = prompt["text"].as_str().unwrap();
        let special = prompt["special"].as_bool().unwrap();
        assert_eq!(
            tokenizer.encode(text, special).unwrap(),
            ids(&prompt["prompt_ids"]),
            "{}",
            prompt["name"]
        );
    }
}

#[test]
fn greedy_chat_generation_continues_like_llama_cpp() {
    // The golden chat prompt is SmolLM2's template around this system and user message; its greedy
    // continuation (from llama.cpp) must come out of the whole path: template, tokenizer, generate loop.
    let g = golden("prompts.json");
    let chat = &g["prompts"].as_array().unwrap()[0];
    assert_eq!(chat["kind"], "chat");
    let mut session = Session::cpu(default_model(), 2, Some(512), Precision::Exact).unwrap();
    let opts = tokscope_session::GenerateOptions {
        prompt: tokscope_session::Prompt::Chat {
            system: Some(
                "You are a helpful AI assistant named SmolLM, trained by Hugging Face".into(),
            ),
            user: "What is the capital of France?".into(),
        },
        max_tokens: 16,
        sampling: tokscope_dist::SamplingParams::greedy(),
        ..Default::default()
    };
    assert_eq!(
        session.prompt_tokens(&opts.prompt).unwrap(),
        ids(&chat["prompt_ids"])
    );
    let mut got = Vec::new();
    let done = session
        .generate(&opts, &mut |e| {
            if let tokscope_session::Event::Step(s) = e {
                got.push(s.token.id);
            }
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    let want = ids(&chat["continuation_ids"]);
    // Generation stops at the end-of-turn token; llama.cpp's data runs past it.
    assert_eq!(done.stop, tokscope_session::StopReason::Eos);
    assert_eq!(got, want[..got.len()]);
    assert!(
        done.text.starts_with("The capital of France is Paris."),
        "{}",
        done.text
    );
}

#[test]
fn score_mode_gives_llama_cpp_logprobs_at_the_right_positions() {
    let g = golden("logprobs.json");
    let mut session = Session::cpu(default_model(), 2, Some(512), Precision::Exact).unwrap();
    let prompt = &g["prompts"].as_array().unwrap()[1];
    let seq = ids(&prompt["ids"]);
    let opts = tokscope_session::ScoreOptions {
        prompt: tokscope_session::Prompt::Raw(String::new()),
        text: seq.clone(),
        top_n: 3,
        k: 0.2,
    };
    let mut steps = Vec::new();
    session
        .score(&opts, &mut |e| {
            if let tokscope_session::Event::Step(s) = e {
                steps.push(s.clone());
            }
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    // The first token is context; every later one is scored.
    assert_eq!(steps.len(), seq.len() - 1);
    let mut compared = 0;
    for pos in prompt["positions"].as_array().unwrap() {
        let at = pos["pos"].as_u64().unwrap() as usize;
        let Some(step) = steps.iter().find(|s| s.position == at + 1) else {
            continue;
        };
        assert_eq!(step.token.id, pos["next_id"].as_u64().unwrap() as u32);
        let want = pos["next_logprob"].as_f64().unwrap();
        assert!(
            (step.logprob - want).abs() < 0.01,
            "position {at}: {} vs {want}",
            step.logprob
        );
        compared += 1;
    }
    assert!(compared >= 16);
}
