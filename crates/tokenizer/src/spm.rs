//! SentencePiece-style tokenization (`tokenizer.ggml.model = llama`) as llama.cpp does it: the
//! text, spaces already written as U+2581, is cut into UTF-8 characters; adjacent pieces whose
//! concatenation is a vocabulary entry are merged, highest score first (leftmost on ties), until
//! no pair forms one; a piece that is still no token falls back to byte tokens `<0xXX>`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::TokenizerError;
use crate::text_index::TextIndex;
use crate::vocab::Vocab;

pub use crate::vocab::SPACE_MARKER;

/// The vocabulary as the merge loop needs it: text → id, scores, byte fallbacks.
#[derive(Debug)]
pub struct SentencePiece {
    vocab: Arc<Vocab>,
    /// Every token's text (empty ones aside); a later duplicate wins, as in llama.cpp.
    ids: TextIndex,
    scores: Vec<f32>,
    /// The token `<0xXX>` of each byte, if the vocabulary has it.
    byte_ids: [Option<u32>; 256],
    /// Longest token text in bytes: longer pairs cannot be tokens, so are not looked up.
    max_token_len: usize,
}

/// One piece of the text being tokenized: a byte range, linked to its neighbours.
#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    /// 0 once merged into its left neighbour.
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate merge of the symbols `left` and `right`, valid while their lengths still add up
/// to `len` (symbols only grow, so a stale candidate never matches).
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    len: usize,
}

impl Ord for Bigram {
    /// The heap's maximum is the best merge: highest score, then the leftmost.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Bigram {}

impl SentencePiece {
    /// `scores[i]` is token `i`'s score; the caller checks that there is one per token.
    pub fn new(vocab: Arc<Vocab>, scores: Vec<f32>) -> Self {
        let texts = &vocab.texts;
        let ids = TextIndex::new(texts);
        let max_token_len = texts.iter().map(String::len).max().unwrap_or(0);
        // (llama.cpp also tries the byte itself as a one-byte token, which only an ASCII
        // character could be, and such a character is looked up whole before any fallback.)
        let mut byte_ids = [None; 256];
        for (b, slot) in byte_ids.iter_mut().enumerate() {
            *slot = ids.get(texts, &format!("<0x{b:02X}>"));
        }
        Self {
            vocab,
            ids,
            scores,
            byte_ids,
            max_token_len,
        }
    }

    /// Appends the tokens of `text` (spaces already replaced by [`SPACE_MARKER`]).
    pub fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<(), TokenizerError> {
        let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
        for (start, c) in text.char_indices() {
            let index = symbols.len();
            symbols.push(Symbol {
                start,
                len: c.len_utf8(),
                prev: index.checked_sub(1),
                next: Some(index + 1),
            });
        }
        let Some(last) = symbols.last_mut() else {
            return Ok(());
        };
        last.next = None;

        let mut queue = BinaryHeap::new();
        for right in 1..symbols.len() {
            self.push_bigram(text, &symbols, right - 1, right, &mut queue);
        }
        while let Some(bigram) = queue.pop() {
            let (left, right) = (symbols[bigram.left], symbols[bigram.right]);
            if left.len == 0 || right.len == 0 || left.len + right.len != bigram.len {
                continue;
            }
            symbols[bigram.left].len += right.len;
            symbols[bigram.left].next = right.next;
            symbols[bigram.right].len = 0;
            if let Some(next) = right.next {
                symbols[next].prev = Some(bigram.left);
            }
            if let Some(prev) = left.prev {
                self.push_bigram(text, &symbols, prev, bigram.left, &mut queue);
            }
            if let Some(next) = right.next {
                self.push_bigram(text, &symbols, bigram.left, next, &mut queue);
            }
        }

        let mut at = Some(0);
        while let Some(i) = at {
            let symbol = symbols[i];
            let piece = &text[symbol.start..symbol.start + symbol.len];
            match self.ids.get(&self.vocab.texts, piece) {
                Some(id) => out.push(id),
                // Only an unmerged single character can miss the vocabulary: merges form tokens.
                None => {
                    for &b in piece.as_bytes() {
                        out.push(self.byte_ids[b as usize].ok_or(TokenizerError::NoByteToken(b))?);
                    }
                }
            }
            at = symbol.next;
        }
        Ok(())
    }

    fn push_bigram(
        &self,
        text: &str,
        symbols: &[Symbol],
        left: usize,
        right: usize,
        queue: &mut BinaryHeap<Bigram>,
    ) {
        let start = symbols[left].start;
        let len = symbols[left].len + symbols[right].len;
        if len > self.max_token_len {
            return;
        }
        if let Some(id) = self.ids.get(&self.vocab.texts, &text[start..start + len]) {
            queue.push(Bigram {
                score: self.scores[id as usize],
                left,
                right,
                len,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{TextForm, TokenType};

    fn spm(texts: Vec<String>, scores: Vec<f32>) -> SentencePiece {
        let types = vec![TokenType::Normal; texts.len()];
        let form = TextForm::SentencePiece;
        SentencePiece::new(Arc::new(Vocab { texts, types, form }), scores)
    }

    fn vocab(entries: &[(&str, f32)]) -> SentencePiece {
        let texts = entries.iter().map(|(t, _)| t.to_string()).collect();
        spm(texts, entries.iter().map(|&(_, s)| s).collect())
    }

    fn encode(spm: &SentencePiece, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let mut out = Vec::new();
        spm.encode_into(text, &mut out)?;
        Ok(out)
    }

    #[test]
    fn the_best_scoring_pair_merges_first() {
        // "abc": "ab" (score -1) beats "bc" (-2), and "abc" is then reached from "ab" + "c".
        let spm = vocab(&[
            ("a", 0.),
            ("b", 0.),
            ("c", 0.),
            ("ab", -1.),
            ("bc", -2.),
            ("abc", -3.),
        ]);
        assert_eq!(encode(&spm, "abc").unwrap(), vec![5]);
        // Without "abc", "ab" still wins and "c" stays alone.
        let spm = vocab(&[("a", 0.), ("b", 0.), ("c", 0.), ("ab", -1.), ("bc", -2.)]);
        assert_eq!(encode(&spm, "abc").unwrap(), vec![3, 2]);
        // With "bc" scoring higher, it wins instead.
        let spm = vocab(&[("a", 0.), ("b", 0.), ("c", 0.), ("ab", -2.), ("bc", -1.)]);
        assert_eq!(encode(&spm, "abc").unwrap(), vec![0, 4]);
    }

    #[test]
    fn equal_scores_merge_leftmost_first() {
        // "aaa": both "aa" pairs score the same; the left one merges, leaving "aa" + "a".
        let spm = vocab(&[("a", 0.), ("aa", -1.)]);
        assert_eq!(encode(&spm, "aaa").unwrap(), vec![1, 0]);
        assert_eq!(encode(&spm, "aaaa").unwrap(), vec![1, 1]);
    }

    #[test]
    fn unknown_characters_fall_back_to_byte_tokens() {
        let mut entries: Vec<(String, f32)> =
            (0..=255u8).map(|b| (format!("<0x{b:02X}>"), 0.)).collect();
        entries.push(("x".into(), 0.));
        let texts: Vec<String> = entries.iter().map(|(t, _)| t.clone()).collect();
        let spm = spm(texts, vec![0.; 257]);
        // "é" is C3 A9; "x" is a token of its own.
        assert_eq!(encode(&spm, "xé").unwrap(), vec![256, 0xC3, 0xA9]);
        assert_eq!(encode(&spm, "").unwrap(), Vec::<u32>::new());
    }

    #[test]
    fn a_missing_byte_token_is_an_error() {
        let spm = vocab(&[("a", 0.), ("<0xC3>", 0.)]);
        assert_eq!(encode(&spm, "a").unwrap(), vec![0]);
        let err = encode(&spm, "é").unwrap_err();
        assert!(matches!(err, TokenizerError::NoByteToken(0xA9)), "{err}");
        assert!(err.to_string().contains("<0xA9>"), "{err}");
    }
}
