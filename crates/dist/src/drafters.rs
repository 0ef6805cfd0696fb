//! Model-free drafters for speculative decoding (metrics.md §5b): prompt lookup (n-gram) and the ADED
//! tri-gram table. Both are plain data over token ids; the session turns their proposals into drafts.

use std::collections::HashMap;

use crate::Warped;

/// Default longest n-gram prompt lookup tries (metrics.md §5b).
pub const DEFAULT_MAX_NGRAM: usize = 3;

/// Prompt lookup: for n from `max_ngram` down to 1, finds the earliest earlier occurrence of the last n tokens
/// of `context` and proposes up to `gamma` tokens that followed it. Empty when nothing matches.
pub fn prompt_lookup(context: &[u32], max_ngram: usize, gamma: usize) -> Vec<u32> {
    let len = context.len();
    for n in (1..=max_ngram.min(len.saturating_sub(1))).rev() {
        let pattern = &context[len - n..];
        // An occurrence must leave at least one token after it inside the context, before the suffix itself.
        let found = (0..len - n).find(|&i| &context[i..i + n] == pattern);
        if let Some(i) = found {
            let from = i + n;
            return context[from..(from + gamma).min(len)].to_vec();
        }
    }
    Vec::new()
}

/// Continuations kept per two-token context (ADED keeps the top 12).
pub const TRIGRAM_TOP: usize = 12;

/// The ADED tri-gram table: counts of `c` after `(a, b)` in the text seen so far, updated with every token.
#[derive(Debug, Clone, Default)]
pub struct TrigramTable {
    counts: HashMap<(u32, u32), Vec<(u32, u32)>>,
    last: Option<(Option<u32>, u32)>,
}

impl TrigramTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one token to the text the table has seen and counts the tri-gram it completes.
    pub fn push(&mut self, token: u32) {
        if let Some((Some(a), b)) = self.last {
            let row = self.counts.entry((a, b)).or_default();
            match row.iter_mut().find(|e| e.0 == token) {
                Some(e) => e.1 += 1,
                None => row.push((token, 1)),
            }
        }
        self.last = Some((self.last.map(|l| l.1), token));
    }

    /// Appends several tokens in order.
    pub fn extend(&mut self, tokens: &[u32]) {
        tokens.iter().for_each(|&t| self.push(t));
    }

    /// The up to [`TRIGRAM_TOP`] most frequent continuations of `(a, b)`, by count descending, ties by lower id.
    pub fn continuations(&self, a: u32, b: u32) -> Vec<(u32, u32)> {
        let mut row = self.counts.get(&(a, b)).cloned().unwrap_or_default();
        row.sort_unstable_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        row.truncate(TRIGRAM_TOP);
        row
    }

    /// `P(c | a, b)` over the top continuations, renormalised; `None` for an unseen context.
    pub fn distribution(&self, a: u32, b: u32) -> Option<Warped> {
        let row = self.continuations(a, b);
        Warped::from_weights(row.into_iter().map(|(id, c)| (id, f64::from(c)))).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_lookup_prefers_the_longest_ngram_and_its_earliest_occurrence() {
        //            0  1  2  3  4  5  6  7  8  9
        let ctx = [1, 2, 3, 9, 1, 2, 4, 7, 2, 3];
        // The tri-gram (7, 2, 3) never occurred; the bi-gram (2, 3) did at 1, followed by 9 1 2 4.
        assert_eq!(prompt_lookup(&ctx, 3, 4), [9, 1, 2, 4]);
        assert_eq!(prompt_lookup(&ctx, 3, 2), [9, 1]);
        // With only unigrams, the earliest 3 is at 2.
        assert_eq!(prompt_lookup(&ctx, 1, 3), [9, 1, 2]);
        // The last token 5 never occurred before: no draft.
        assert!(prompt_lookup(&[1, 2, 3, 5], 3, 4).is_empty());
        assert!(prompt_lookup(&[], 3, 4).is_empty());
        assert!(prompt_lookup(&[4], 3, 4).is_empty());
        // A proposal stops at the end of the context.
        assert_eq!(prompt_lookup(&[6, 8, 6], 3, 5), [8, 6]);
    }

    #[test]
    fn trigram_counts_follow_the_text() {
        let mut t = TrigramTable::new();
        t.extend(&[1, 2, 3, 1, 2, 3, 1, 2, 4]);
        assert_eq!(t.continuations(1, 2), [(3, 2), (4, 1)]);
        let d = t.distribution(1, 2).unwrap();
        assert!((d.prob(3) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(t.continuations(2, 3), [(1, 2)]);
        assert!(t.distribution(4, 4).is_none());
        t.push(1);
        assert_eq!(t.continuations(2, 4), [(1, 1)]);
    }

    #[test]
    fn trigram_keeps_the_top_twelve() {
        let mut t = TrigramTable::new();
        for c in 0..20u32 {
            for _ in 0..=c {
                t.extend(&[100, 101, c]);
            }
        }
        let row = t.continuations(100, 101);
        assert_eq!(row.len(), TRIGRAM_TOP);
        assert_eq!(row[0], (19, 20));
        assert_eq!(row[11], (8, 9));
    }
}
