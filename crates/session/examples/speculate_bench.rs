//! Speculative decoding speed on the default model: plain decoding against early-exit and prompt-lookup
//! drafting, greedy and T = 0.7, plus the cost of the per-step statistics. Run with
//! `cargo run --release -p tokscope-session --example speculate_bench [threads] [tokens]`.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use tokscope_dist::{self as dist, SamplingParams};
use tokscope_model::cpu::Precision;
use tokscope_model::{LogitsFor, ModelFile};
use tokscope_session::{DoneEvent, Drafter, GenerateOptions, Prompt, Session, SpeculateOptions};

fn main() {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().map_or(2, |a| a.parse().unwrap());
    let tokens: usize = args.next().map_or(64, |a| a.parse().unwrap());
    // Threads of the early-exit draft's own pool (its workers spin between sections like the target's).
    let draft_threads: usize = args.next().map_or(threads, |a| a.parse().unwrap());
    // Only the first prompt and the deepest early exit: a quick look.
    let quick = std::env::var_os("QUICK").is_some();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let file = ModelFile::open(&path).unwrap();
    let n_ctx = 1024;
    let mut session = Session::cpu(file.clone(), threads, Some(n_ctx), Precision::Exact).unwrap();
    let prompts = [
        ("code-edit", Prompt::Chat {
            system: None,
            user: "Rewrite this list in reverse order: apples, pears, plums, cherries, grapes, lemons, limes.".into(),
        }),
        ("story", Prompt::Chat {
            system: None,
            user: "Write a short story about a robot who learns to paint.".into(),
        }),
    ];
    for (name, prompt) in prompts.into_iter().take(if quick { 1 } else { 2 }) {
        for temperature in [0.0f32, 0.7] {
            let g = GenerateOptions {
                prompt: prompt.clone(),
                max_tokens: tokens,
                sampling: SamplingParams {
                    temperature,
                    ..SamplingParams::default()
                },
                seed: 3,
                top_n: 20,
                ignore_eos: true,
            };
            // The machine may be shared: every timing is the best of `reps` runs, plain and speculative
            // interleaved so that both see the same load.
            let reps = 3;
            let mut plain_s = f64::INFINITY;
            let mut plain_tokens = 0;
            let time_plain = |session: &mut Session| {
                let t = Instant::now();
                let d = session
                    .generate(&g, &mut |_| ControlFlow::Continue(()))
                    .unwrap();
                (t.elapsed().as_secs_f64() - d.prefill_ms / 1e3, d.tokens)
            };
            let drafters: Vec<(String, usize, usize)> = vec![
                ("ngram γ4".into(), 0, 4),
                ("trigram γ4".into(), 1, 4),
                ("early-exit L15 γ3".into(), 15, 3),
                ("early-exit L24 γ3".into(), 24, 3),
                ("early-exit L27 γ3".into(), 27, 3),
            ];
            let mut lines = Vec::new();
            for (label, kind, gamma) in drafters {
                if quick && kind != 27 {
                    continue;
                }
                let mut best = f64::INFINITY;
                let mut last = None;
                for _ in 0..reps {
                    let (ps, pt) = time_plain(&mut session);
                    plain_s = plain_s.min(ps);
                    plain_tokens = pt;
                    let mut drafter = match kind {
                        0 => Drafter::Ngram { max_ngram: 3 },
                        1 => Drafter::Trigram,
                        l => Drafter::early_exit_cpu(
                            file.clone(),
                            l,
                            draft_threads,
                            n_ctx,
                            Precision::Exact,
                        )
                        .unwrap(),
                    };
                    let t = Instant::now();
                    let done: DoneEvent = session
                        .speculate(
                            &mut drafter,
                            &SpeculateOptions {
                                generate: g.clone(),
                                gamma,
                            },
                            &mut |_| ControlFlow::Continue(()),
                        )
                        .unwrap();
                    best = best.min(t.elapsed().as_secs_f64() - done.prefill_ms / 1e3);
                    last = Some(done);
                }
                let done = last.unwrap();
                let s = done.spec.unwrap();
                lines.push(format!(
                    "  {label:<18} accept {:.3}  accepted/call {:.2}  tokens/call {:.2}  mean β {}  {:.1} tok/s",
                    s.acceptance_rate,
                    s.mean_accepted_len,
                    s.tokens_per_call,
                    s.mean_beta.map_or("-".into(), |b| format!("{b:.3}")),
                    done.tokens as f64 / best,
                ));
            }
            println!(
                "{name} T={temperature}: plain {:.1} tok/s (best of {})",
                plain_tokens as f64 / plain_s,
                reps * 5
            );
            for l in lines {
                println!("{l}");
            }
        }
    }
    // Per-step statistics against one decode step.
    let ids = session
        .prompt_tokens(&Prompt::Raw("The quick brown fox".into()))
        .unwrap();
    session.backend_mut().truncate(0);
    let logits = session
        .backend_mut()
        .forward(&ids, LogitsFor::Last)
        .unwrap();
    let reps = 50;
    let t = Instant::now();
    for _ in 0..reps {
        session.backend_mut().truncate(ids.len() - 1);
        session
            .backend_mut()
            .forward(&ids[ids.len() - 1..], LogitsFor::Last)
            .unwrap();
    }
    let step_ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
    // What one verification call costs against one decode step: the ceiling on any speed-up.
    for n in [2usize, 4, 5] {
        let batch = vec![ids[ids.len() - 1]; n];
        let t = Instant::now();
        for _ in 0..20 {
            session.backend_mut().truncate(ids.len() - 1);
            session
                .backend_mut()
                .forward(&batch, LogitsFor::All)
                .unwrap();
        }
        let ms = t.elapsed().as_secs_f64() * 1e3 / 20.0;
        println!(
            "batched forward of {n} tokens (all logits): {ms:.2} ms = {:.2} decode steps",
            ms / step_ms
        );
    }
    let reps = 200;
    let t = Instant::now();
    let mut bf = dist::BranchingFactor::new();
    for _ in 0..reps {
        let s = dist::summarize(&logits).unwrap();
        let top = dist::top_n(&logits, s.lse, 20);
        let w = dist::warp(&logits, &SamplingParams::default(), &ids).unwrap();
        let id = top[0].id;
        std::hint::black_box((
            dist::rank(&logits, id).unwrap(),
            dist::logprob(&logits, s.lse, id).unwrap(),
            bf.push(w.entropy()),
        ));
    }
    let stats_ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
    println!(
        "per-step statistics (entropy, top-20, rank, warp at T=1, BF): {stats_ms:.3} ms vs one decode step {step_ms:.2} ms = {:.1}%",
        100.0 * stats_ms / step_ms
    );
}
