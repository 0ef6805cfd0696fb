//! Where a run's events go: JSON lines, or the readable text (coloured on a terminal), on stdout.

use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;

use tokscope_session::Event;

use crate::args::Format;
use crate::text_output;

pub struct Output {
    format: Format,
    printer: text_output::Printer,
    out: std::io::StdoutLock<'static>,
}

impl Output {
    pub fn new(format: Format) -> Self {
        let stdout = std::io::stdout();
        let color = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Self {
            format,
            printer: text_output::Printer::new(color),
            out: stdout.lock(),
        }
    }

    /// Writes one event; a closed output (e.g. `| head`) stops the run quietly.
    pub fn event(&mut self, event: &Event) -> ControlFlow<()> {
        match self.format {
            Format::Text => self.printer.event(&mut self.out, event),
            Format::Jsonl => {
                let line = serde_json::to_string(event).expect("events serialise");
                match writeln!(self.out, "{line}").and_then(|_| self.out.flush()) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(_) => ControlFlow::Break(()),
                }
            }
        }
    }
}
