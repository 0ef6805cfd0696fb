//! `tokscope branch`: continue a prompt from a given token prefix (an earlier run's first tokens and a chosen
//! alternative) and sample M continuations; "done" reports the multi-sample branching factor.

use std::io::Write;

use anyhow::Result;
use clap::Args;
use tokscope_session::BranchOptions;

use super::{Format, GenerateArgs, Output, modes, open_session};

#[derive(Args)]
pub struct BranchArgs {
    #[command(flatten)]
    generate: GenerateArgs,
    /// Token ids after the prompt to continue from, comma separated (e.g. a run's first k tokens, then an
    /// alternative from step k's top list)
    #[arg(long, value_delimiter = ',', conflicts_with = "prefix")]
    prefix_ids: Option<Vec<u32>>,
    /// Text after the prompt to continue from (tokenized without the prompt)
    #[arg(long)]
    prefix: Option<String>,
    /// Continuations to sample (sample i uses seed + i)
    #[arg(long, default_value_t = 4, value_parser = super::ranges::at_least_one)]
    samples: usize,
}

pub fn run(a: BranchArgs) -> Result<()> {
    let g = &a.generate;
    let mut session = open_session(&g.model)?;
    let prefix = match (&a.prefix_ids, &a.prefix) {
        (Some(ids), _) => ids.clone(),
        (None, Some(text)) => session.tokenizer.encode(text, false)?,
        (None, None) => Vec::new(),
    };
    let opts = BranchOptions {
        generate: modes::generate_options(g),
        prefix,
        samples: a.samples,
    };
    let mut output = Output::new(g.format);
    let done = session.branch(&opts, &mut |e| output.event(e))?;
    if g.format == Format::Text
        && let Some(s) = &done.samples
    {
        writeln!(
            std::io::stdout().lock(),
            "{} samples: BF {:.3} (per sample {:?}); sample logprob {:.3} ± {:.3} nats, {} distinct",
            s.samples,
            s.bf,
            s.sample_bf
                .iter()
                .map(|b| (b * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>(),
            s.logprob_mean,
            s.logprob_std,
            s.distinct
        )?;
    }
    Ok(())
}
