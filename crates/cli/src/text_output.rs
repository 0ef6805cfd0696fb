//! The readable output: one line per step (token, logprob, rank, entropy, alternatives), then the
//! whole text with each token coloured by its surprisal when writing to a terminal.

use std::io::Write;
use std::ops::ControlFlow;

use tokscope_session::{DoneEvent, Event, StepEvent};

/// Collects steps and prints them as they come.
pub struct Printer {
    color: bool,
    steps: Vec<(String, f64)>,
}

/// Surprisal (bits) thresholds and the 256-colour codes they map to: green → yellow → red → purple.
const SURPRISAL_COLORS: [(f64, u8); 4] = [(1.0, 34), (4.0, 178), (8.0, 196), (f64::INFINITY, 129)];

impl Printer {
    pub fn new(color: bool) -> Self {
        Self {
            color,
            steps: Vec::new(),
        }
    }

    /// Prints one event; a closed output stops the run.
    pub fn event(&mut self, out: &mut impl Write, event: &Event) -> ControlFlow<()> {
        let written = match event {
            Event::Step(s) => self.step(out, s),
            Event::Done(d) => self.done(out, d),
        };
        match written {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    }

    fn step(&mut self, out: &mut impl Write, s: &StepEvent) -> std::io::Result<()> {
        let surprisal = -s.logprob / std::f64::consts::LN_2;
        self.steps.push((s.token.text.clone(), surprisal));
        let alts: Vec<String> = s
            .top
            .iter()
            .map(|t| format!("{} {:.3}", quoted(&t.text), t.logprob.exp()))
            .collect();
        writeln!(
            out,
            "{:>4} {:<16} logp {:>8.4}  rank {:>5}  H {:>6.3} nats  | {}",
            s.index,
            quoted(&s.token.text),
            s.logprob,
            s.rank,
            s.entropy,
            alts.join("  ")
        )?;
        out.flush()
    }

    fn done(&mut self, out: &mut impl Write, d: &DoneEvent) -> std::io::Result<()> {
        writeln!(out)?;
        for (text, surprisal) in &self.steps {
            let shown = printable(text);
            if self.color {
                let code = SURPRISAL_COLORS
                    .iter()
                    .find(|(limit, _)| surprisal < limit)
                    .map_or(129, |&(_, c)| c);
                write!(out, "\x1b[38;5;{code}m{shown}\x1b[0m")?;
            } else {
                write!(out, "{shown}")?;
            }
        }
        writeln!(out)?;
        if let Some(score) = &d.score {
            writeln!(
                out,
                "\nperplexity {:.3}  min-{:.0}% {:.4}  min-{:.0}%++ {:.4}",
                score.perplexity,
                score.k * 100.0,
                score.min_k,
                score.k * 100.0,
                score.min_k_pp
            )?;
        }
        writeln!(
            out,
            "\n{} tokens ({:?}); prompt {} tokens, prefill {:.0} ms; decode {:.1} tok/s",
            d.tokens, d.stop, d.prompt_tokens, d.prefill_ms, d.decode_tok_s
        )?;
        out.flush()
    }
}

/// A token's text made safe for a terminal: control characters escaped, so token text (untrusted)
/// cannot move the cursor or change colours.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\t' => c.to_string(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// A token's text quoted for the step table, every control character escaped.
fn quoted(text: &str) -> String {
    format!("{:?}", text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_in_token_text_are_neutralised() {
        assert_eq!(printable("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("line\n"), "line\n");
        assert_eq!(quoted("\n"), "\"\\n\"");
    }
}
