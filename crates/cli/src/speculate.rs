//! `tokscope speculate`: speculative decoding with a draft model, prompt lookup, early exit or the tri-gram
//! table; every step shows the drafts with q, p, acceptance probability and outcome.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use tokscope_session::{Drafter, SpeculateOptions};

use super::{Format, GenerateArgs, Output, modes, open_session};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DrafterChoice {
    /// A second GGUF model with the same vocabulary (--draft-model)
    Model,
    /// Prompt lookup: continue the longest earlier n-gram match
    Ngram,
    /// The target's first --exit-layer layers + final norm + LM head
    EarlyExit,
    /// ADED tri-gram counts of the text so far
    Trigram,
}

#[derive(Args)]
pub struct SpeculateArgs {
    #[command(flatten)]
    generate: GenerateArgs,
    /// Draft model file (same vocabulary as --model, checked token for token); implies --drafter model
    #[arg(long)]
    draft_model: Option<PathBuf>,
    /// Where drafts come from [default: model with --draft-model, else ngram]
    #[arg(long, value_enum)]
    drafter: Option<DrafterChoice>,
    /// Drafted tokens per target call (1..=16)
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=16))]
    gamma: u16,
    /// Layers the early-exit drafter keeps [default: a quarter of the model's, at least 1]
    #[arg(long)]
    exit_layer: Option<usize>,
    /// Longest n-gram prompt lookup tries
    #[arg(long, default_value_t = tokscope_dist::DEFAULT_MAX_NGRAM)]
    max_ngram: usize,
}

pub fn run(a: SpeculateArgs) -> Result<()> {
    let choice = match (a.drafter, &a.draft_model) {
        (Some(c), _) => c,
        (None, Some(_)) => DrafterChoice::Model,
        (None, None) => DrafterChoice::Ngram,
    };
    let m = &a.generate.model;
    let mut session = open_session(m)?;
    let mut drafter = match choice {
        DrafterChoice::Model => {
            let Some(path) = &a.draft_model else {
                bail!("--drafter model needs --draft-model PATH");
            };
            let file = modes::open_file(Some(path))?;
            let n_ctx = modes::n_ctx(m, &file);
            Drafter::model_cpu(
                file,
                &session.tokenizer,
                modes::threads(m),
                n_ctx,
                modes::precision(m),
            )?
        }
        DrafterChoice::EarlyExit => {
            let file = modes::open_file(m.model.as_deref())?;
            let layers = a.exit_layer.unwrap_or((file.config.n_layer / 4).max(1));
            let n_ctx = modes::n_ctx(m, &file);
            Drafter::early_exit_cpu(file, layers, modes::threads(m), n_ctx, modes::precision(m))?
        }
        DrafterChoice::Ngram => Drafter::Ngram {
            max_ngram: a.max_ngram.max(1),
        },
        DrafterChoice::Trigram => Drafter::Trigram,
    };
    let opts = SpeculateOptions {
        generate: modes::generate_options(&a.generate),
        gamma: usize::from(a.gamma),
    };
    let mut output = Output::new(a.generate.format);
    let done = session.speculate(&mut drafter, &opts, &mut |e| output.event(e))?;
    if a.generate.format == Format::Text
        && let Some(s) = &done.spec
    {
        let by_pos: Vec<String> = s
            .acceptance_by_position
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect();
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "speculative ({}, γ = {}): {} target calls, {} drafted, {} accepted (rate {:.3}), {:.2} accepted / call, \
             {:.2} tokens / call (theory {}), mean β {}, by position [{}]",
            s.drafter,
            s.gamma,
            s.target_calls,
            s.n_drafted,
            s.n_accepted,
            s.acceptance_rate,
            s.mean_accepted_len,
            s.tokens_per_call,
            s.expected_tokens_per_call
                .map_or("-".into(), |v| format!("{v:.2}")),
            s.mean_beta.map_or("-".into(), |v| format!("{v:.3}")),
            by_pos.join(", ")
        )?;
    }
    Ok(())
}
