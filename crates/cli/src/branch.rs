//! `tokscope branch`: continue a prompt from a given token prefix (an earlier run's first tokens and a chosen
//! alternative) and sample M continuations; "done" reports the multi-sample branching factor.

use std::io::Write;

use anyhow::Result;
use tokscope_session::BranchOptions;

use crate::args::{BranchArgs, Format};
use crate::modes::{self, open_session};
use crate::output::Output;

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
