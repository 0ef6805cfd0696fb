//! Streaming detokenization: one token at a time, never splitting a UTF-8 character.

use std::sync::Arc;

use crate::vocab::Vocab;

/// Turns generated token ids into text as they arrive. A character whose bytes are spread over
/// several byte-level tokens (emoji, CJK) is held back until its last byte arrives.
#[derive(Debug, Clone)]
pub struct StreamDecoder {
    vocab: Arc<Vocab>,
    pending: Vec<u8>,
}

impl StreamDecoder {
    pub(crate) fn new(vocab: Arc<Vocab>) -> Self {
        Self {
            vocab,
            pending: Vec::new(),
        }
    }

    /// Adds one token; returns the text completed by it (possibly empty). Bytes that can never
    /// form valid UTF-8 come out as U+FFFD.
    pub fn push(&mut self, id: u32) -> String {
        self.vocab.bytes_into(id, &mut self.pending);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(text) => {
                    out.push_str(text);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // Valid by construction: `valid_up_to` bytes were just checked.
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        // An incomplete character at the end: wait for more bytes.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// Ends the stream: returns what is still held back (an incomplete character as U+FFFD).
    pub fn flush(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}
