//! A model file's header read from its first bytes only: the tokenizer needs no weights, and at
//! most the reader's header cap is read whatever the file's size.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use tokscope_gguf::{Header, MAX_HEADER_BYTES, PrefixParse};

/// The first read; a 50k-token vocabulary's header takes ~1.5 MiB.
const FIRST_PREFIX: u64 = 1 << 21;

pub fn read(path: &Path) -> Result<Header> {
    let io = || format!("reading {}", path.display());
    let mut file = std::fs::File::open(path).with_context(io)?;
    let len = file.metadata().with_context(io)?.len();
    let mut prefix = Vec::new();
    let mut want = FIRST_PREFIX.min(len);
    loop {
        let more = want.saturating_sub(prefix.len() as u64);
        (&mut file)
            .take(more)
            .read_to_end(&mut prefix)
            .with_context(io)?;
        match Header::parse_prefix(&prefix, len)? {
            PrefixParse::Complete(header) => return Ok(header),
            // The parser asks for no more than the file and the cap hold; a file that shrank
            // while read would ask again for what was read.
            PrefixParse::NeedBytes(n) if n <= prefix.len() as u64 => {
                bail!("{} changed while it was read", path.display())
            }
            // Doubling keeps the number of re-parses logarithmic in the header's size.
            PrefixParse::NeedBytes(n) => want = n.max(2 * want).min(len).min(MAX_HEADER_BYTES),
        }
    }
}
