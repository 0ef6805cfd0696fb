//! `tokscope speculate`: speculative decoding with a draft model, prompt lookup, early exit or the tri-gram
//! table; every step shows the drafts with q, p, acceptance probability and outcome. `--drafts K` (K ≥ 2, sampling
//! drafters only) verifies K i.i.d. draft sequences per round with SpecTr's K-SEQ instead.

use std::io::Write;

use anyhow::{Result, bail};
use tokscope_session::event::SpecSummary;
use tokscope_session::{Drafter, MultiDraftOptions, SpeculateOptions};

use crate::args::{DrafterChoice, Format, SpeculateArgs};
use crate::modes::{self, open_session};
use crate::output::Output;

pub fn run(a: SpeculateArgs) -> Result<()> {
    let choice = match (a.drafter, &a.draft_model) {
        (Some(c), _) => c,
        (None, Some(_)) => DrafterChoice::Model,
        (None, None) => DrafterChoice::Ngram,
    };
    let drafts = usize::from(a.drafts);
    if drafts > 1 && matches!(choice, DrafterChoice::Ngram | DrafterChoice::Trigram) {
        bail!(
            "--drafts {drafts} needs a drafter that samples (--drafter model or early-exit): n-gram and tri-gram \
             drafts are deterministic, so {drafts} drafts would be one draft {drafts} times"
        );
    }
    let m = &a.generate.model;
    let mut session = open_session(m)?;
    let mut drafter = match choice {
        DrafterChoice::Model => {
            let Some(path) = &a.draft_model else {
                bail!("--drafter model needs --draft-model PATH");
            };
            let file = modes::open_file(Some(path))?;
            let n_ctx = modes::n_ctx(m, &file)?;
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
            let n_ctx = modes::n_ctx(m, &file)?;
            Drafter::early_exit_cpu(file, layers, modes::threads(m), n_ctx, modes::precision(m))?
        }
        DrafterChoice::Ngram => Drafter::Ngram {
            max_ngram: a.max_ngram.max(1),
        },
        DrafterChoice::Trigram => Drafter::Trigram,
    };
    let generate = modes::generate_options(&a.generate);
    let gamma = usize::from(a.gamma);
    let mut output = Output::new(a.generate.format);
    let done = if drafts == 1 {
        let opts = SpeculateOptions { generate, gamma };
        session.speculate(&mut drafter, &opts, &mut |e| output.event(e))?
    } else {
        let opts = MultiDraftOptions {
            generate,
            gamma,
            drafts,
        };
        session.multidraft(&mut drafter, &opts, &mut |e| output.event(e))?
    };
    if a.generate.format == Format::Text
        && let Some(s) = &done.spec
    {
        summary(s)?;
    }
    Ok(())
}

fn list(values: &[f64]) -> String {
    let v: Vec<String> = values.iter().map(|r| format!("{r:.2}")).collect();
    v.join(", ")
}

/// The run's aggregates as one or two text lines after the tokens.
fn summary(s: &SpecSummary) -> Result<()> {
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
        list(&s.acceptance_by_position)
    )?;
    if let Some(m) = &s.multi {
        writeln!(
            out,
            "multi-draft (K = {}): {} candidates, K-SEQ acceptance {:.3} (optimal {:.3}), by position [{}] \
             (optimal [{}], candidates in play [{}]); {} target passes run, {:.2} tokens / pass",
            m.drafts,
            m.n_candidates,
            m.mean_kseq_accept,
            m.mean_optimal,
            list(&m.kseq_accept_by_position),
            list(&m.optimal_by_position),
            list(&m.candidates_by_position),
            m.target_forwards,
            m.tokens_per_forward
        )?;
    }
    Ok(())
}
