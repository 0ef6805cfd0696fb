//! Generate on the GPU backend (Mesa lavapipe in the tests), where each step's distribution is
//! summarized and its token drawn on the GPU, against the same run on the CPU backend.
#![cfg(feature = "gpu")]

mod common;

use std::ops::ControlFlow;

use tokscope_dist::SamplingParams;
use tokscope_gpu::GpuContext;
use tokscope_model::cpu::Precision;
use tokscope_session::event::StepEvent;
use tokscope_session::{Event, GenerateOptions, Prompt, Session};

fn steps(session: &mut Session, opts: &GenerateOptions) -> Vec<StepEvent> {
    let mut out = Vec::new();
    session
        .generate(opts, &mut |e| {
            if let Event::Step(s) = e {
                out.push(s.clone());
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    out
}

#[test]
fn gpu_drawn_steps_equal_the_cpu_steps() {
    let file = common::default_model();
    let ctx = GpuContext::new_blocking().expect("a WebGPU adapter (lavapipe in CI)");
    let mut gpu = Session::gpu(&ctx, file.clone(), Some(256)).unwrap();
    let mut cpu = Session::cpu(file, 2, Some(256), Precision::Exact).unwrap();
    let base = GenerateOptions {
        prompt: Prompt::Raw("The old lighthouse keeper".into()),
        max_tokens: 12,
        sampling: SamplingParams {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            ..SamplingParams::default()
        },
        seed: 3,
        top_n: 5,
        ignore_eos: true,
    };
    let greedy = GenerateOptions {
        sampling: SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        },
        ..base.clone()
    };
    // top-N beyond what the GPU summary holds, and a warper it does not run: logits come back.
    let wide = GenerateOptions {
        top_n: 100,
        ..base.clone()
    };
    let penalty = GenerateOptions {
        sampling: SamplingParams {
            repetition_penalty: 1.2,
            ..base.sampling
        },
        ..base.clone()
    };
    for opts in [base, greedy, wide, penalty] {
        let (g, c) = (steps(&mut gpu, &opts), steps(&mut cpu, &opts));
        assert_eq!(g.len(), 12);
        for (i, (g, c)) in g.iter().zip(&c).enumerate() {
            let what = format!("step {i} of {:?}", opts.sampling);
            assert_eq!(g.token.id, c.token.id, "{what}");
            assert_eq!(g.rank, c.rank, "{what}");
            assert!((g.logprob - c.logprob).abs() < 1e-4, "{what}");
            assert!((g.entropy - c.entropy).abs() < 1e-4, "{what}");
            let (gs, cs) = (g.sampling.as_ref().unwrap(), c.sampling.as_ref().unwrap());
            assert_eq!(gs.kept, cs.kept, "{what}");
            assert!((gs.entropy - cs.entropy).abs() < 1e-4, "{what}");
            assert!((gs.logprob - cs.logprob).abs() < 1e-4, "{what}");
            assert_eq!(g.top.len(), c.top.len(), "{what}");
            for (a, b) in g.top.iter().zip(&c.top) {
                assert!((a.logprob - b.logprob).abs() < 1e-4, "{what}");
            }
            let bf = (g.bf.as_ref().unwrap(), c.bf.as_ref().unwrap());
            assert!((bf.0.running - bf.1.running).abs() < 1e-3, "{what}");
        }
    }
}

#[test]
fn the_gpu_answers_a_step_query_with_a_summary_and_hands_back_logits_otherwise() {
    use tokscope_model::{Backend, Draw, LogitsFor, StepOutput, StepQuery};
    let file = common::default_model();
    let ctx = GpuContext::new_blocking().expect("a WebGPU adapter (lavapipe in CI)");
    let mut gpu = tokscope_gpu::GpuBackend::new(&ctx, &file, 64).unwrap();
    let draw = Draw {
        params: tokscope_dist::SamplingParams {
            temperature: 0.8,
            top_k: 40,
            top_p: 1.0,
            min_p: 0.0,
            ..Default::default()
        },
        u: 0.3,
    };
    let query = StepQuery {
        top_n: 5,
        draw: Some(draw),
    };
    let out = pollster::block_on(gpu.forward_step_async(&[1, 504, 3458], &query)).unwrap();
    let StepOutput::Answer(answer) = out else {
        panic!("the GPU answers a query it can decide: {out:?}")
    };
    assert_eq!(answer.top.len(), 5);
    assert!(answer.drawn.is_some_and(|d| d.kept <= 40));
    let wide = StepQuery {
        top_n: 100,
        draw: Some(draw),
    };
    let out = pollster::block_on(gpu.forward_step_async(&[28], &wide)).unwrap();
    assert!(matches!(out, StepOutput::Logits(l) if l.len() == file.config.n_vocab));
    // Loaded without the GPU summary (as the page loads SwiftShader), every step hands back
    // logits, the same ones.
    let options = tokscope_gpu::LoadOptions {
        gpu_summary: Some(false),
        ..Default::default()
    };
    let mut host = tokscope_gpu::GpuBackend::with_options(&ctx, &file, 64, options).unwrap();
    let mut plain = tokscope_gpu::GpuBackend::new(&ctx, &file, 64).unwrap();
    let out = pollster::block_on(host.forward_step_async(&[1, 504, 3458], &query)).unwrap();
    let want = plain.forward(&[1, 504, 3458], LogitsFor::Last).unwrap();
    assert!(matches!(out, StepOutput::Logits(l) if l == want));
}

#[test]
fn a_gpu_branch_draws_the_cpu_branch_tokens() {
    let file = common::default_model();
    let ctx = GpuContext::new_blocking().expect("a WebGPU adapter (lavapipe in CI)");
    let mut gpu = Session::gpu(&ctx, file.clone(), Some(256)).unwrap();
    let mut cpu = Session::cpu(file, 2, Some(256), Precision::Exact).unwrap();
    let opts = tokscope_session::BranchOptions {
        generate: GenerateOptions {
            prompt: Prompt::Raw("The old lighthouse keeper".into()),
            max_tokens: 6,
            sampling: SamplingParams {
                temperature: 0.9,
                top_k: 40,
                ..SamplingParams::default()
            },
            seed: 11,
            top_n: 5,
            ignore_eos: true,
        },
        prefix: vec![578, 2119],
        samples: 3,
    };
    let run = |session: &mut Session| {
        let mut out = Vec::new();
        let done = session
            .branch(&opts, &mut |e| {
                if let Event::Step(s) = e {
                    out.push(s.clone());
                }
                ControlFlow::Continue(())
            })
            .unwrap();
        (out, done.samples.unwrap())
    };
    let ((g, gs), (c, cs)) = (run(&mut gpu), run(&mut cpu));
    assert_eq!(g.len(), 18);
    for (i, (g, c)) in g.iter().zip(&c).enumerate() {
        assert_eq!((g.index, g.position), (c.index, c.position), "step {i}");
        assert_eq!(g.token.id, c.token.id, "step {i}");
        assert!((g.logprob - c.logprob).abs() < 1e-4, "step {i}");
        assert!((g.entropy - c.entropy).abs() < 1e-4, "step {i}");
    }
    assert_eq!(gs.distinct, cs.distinct);
    assert!((gs.bf - cs.bf).abs() < 1e-3);
}
