//! `tokscope`: the command line over the session crate (docs/architecture.md fixes its interface).

mod args;
mod branch;
mod compare;
mod header;
mod model_path;
mod modes;
mod output;
mod quantize;
mod ranges;
mod speculate;
mod text_output;

use std::ops::ControlFlow;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Parser;
use tokscope_dist::SamplingParams;
use tokscope_session::{GenerateOptions, Prompt, ScoreOptions};

use crate::args::{BenchArgs, Cli, Command, GenerateArgs, ScoreArgs, TokenizeArgs};
use crate::modes::open_session;
use crate::output::Output;

/// The fixed benchmark prompt shared with tests/bench/llamacpp_bench.py.
const BENCH_PROMPT: &str = include_str!("../../../tests/bench/prompt.txt");

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(a) => generate(a),
        Command::Score(a) => score(a),
        Command::Tokenize(a) => tokenize(a),
        Command::Bench(a) => bench(a),
        Command::Speculate(a) => speculate::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Branch(a) => branch::run(a),
        Command::Quantize(a) => quantize::run(a),
    };
    if let Err(e) = result {
        eprintln!("tokscope: error: {e:#}");
        std::process::exit(1);
    }
}

fn generate(a: GenerateArgs) -> Result<()> {
    let mut session = open_session(&a.model)?;
    let opts = modes::generate_options(&a);
    let mut output = Output::new(a.format);
    session.generate(&opts, &mut |e| output.event(e))?;
    Ok(())
}

fn score(a: ScoreArgs) -> Result<()> {
    let mut session = open_session(&a.model)?;
    let text = match (&a.ids, &a.text) {
        (Some(ids), _) => ids.clone(),
        (None, Some(t)) => session.tokenizer.encode(t, false)?,
        (None, None) => bail!("give --text or --ids"),
    };
    let prompt = if a.chat {
        Prompt::Chat {
            system: None,
            user: a.prompt.clone(),
        }
    } else {
        Prompt::Raw(a.prompt.clone())
    };
    let opts = ScoreOptions {
        prompt,
        text,
        top_n: a.top_n,
        k: a.min_k,
    };
    let mut output = Output::new(a.format);
    session.score(&opts, &mut |e| output.event(e))?;
    Ok(())
}

fn tokenize(a: TokenizeArgs) -> Result<()> {
    let path = model_path::resolve(a.model.as_deref())?;
    let header = header::read(&path)?;
    let tokenizer = tokscope_tokenizer::Tokenizer::from_gguf(&header.metadata)?;
    let ids = tokenizer.encode(&a.text, a.special)?;
    println!("{}", serde_json::to_string(&ids)?);
    Ok(())
}

fn bench(a: BenchArgs) -> Result<()> {
    let t_load = Instant::now();
    let mut session = open_session(&a.model)?;
    let load_ms = t_load.elapsed().as_secs_f64() * 1e3;
    let prompt = a.prompt.clone().unwrap_or_else(|| BENCH_PROMPT.to_string());
    let opts = GenerateOptions {
        prompt: Prompt::Raw(prompt),
        max_tokens: a.max_tokens,
        sampling: SamplingParams::greedy(),
        seed: 0,
        top_n: 20,
        ignore_eos: true,
    };
    // Run to the full length: an end-of-generation token must not cut the measurement short.
    let mut done = session.generate(&opts, &mut |_| ControlFlow::Continue(()))?;
    if done.tokens < a.max_tokens {
        eprintln!(
            "tokscope: note: generation stopped after {} tokens ({:?})",
            done.tokens, done.stop
        );
    }
    let prefill_tok_s = done.prompt_tokens as f64 / (done.prefill_ms / 1e3);
    done.text.clear();
    let report = serde_json::json!({
        "engine": "tokscope",
        "version": env!("CARGO_PKG_VERSION"),
        "backend": session.backend().describe(),
        "threads": modes::threads(&a.model),
        "prompt_tokens": done.prompt_tokens,
        "prefill_tok_s": prefill_tok_s,
        "decode_tok_s": done.decode_tok_s,
        "tokens": done.tokens,
        "load_ms": load_ms,
        "peak_rss_mb": peak_rss_mb(),
    });
    println!("{report}");
    Ok(())
}

/// Peak resident memory of this process (Linux: VmHWM), in MiB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
