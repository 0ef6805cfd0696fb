//! Token text → id for large vocabularies, built without copying any text: an open-addressing
//! table of ids, probed by a hash of the text and confirmed against the vocabulary's strings.
//! A `HashMap<String, u32>` of Gemma's 262,144 tokens costs a copy of every text and a table
//! several times larger; this one is 4 bytes a slot.

/// Marks an empty slot.
const EMPTY: u32 = u32::MAX;

/// The index; the texts it points into are passed to every call.
#[derive(Debug, Clone)]
pub struct TextIndex {
    slots: Vec<u32>,
    /// `64 - log2(slots.len())`: the hash's top bits pick the first slot.
    shift: u32,
}

impl TextIndex {
    /// Indexes every non-empty text; for a text listed twice the later id wins, as in
    /// llama.cpp's text → id map. At most half the slots are used.
    pub fn new(texts: &[String]) -> Self {
        let n_slots = (texts.len() * 2).next_power_of_two().max(2);
        let mut index = Self {
            slots: vec![EMPTY; n_slots],
            shift: 64 - n_slots.trailing_zeros(),
        };
        for (id, text) in texts.iter().enumerate() {
            if text.is_empty() {
                continue;
            }
            let slot = index.find(texts, text);
            index.slots[slot] = id as u32;
        }
        index
    }

    /// The id of `text`, if a token has exactly this text.
    pub fn get(&self, texts: &[String], text: &str) -> Option<u32> {
        let id = self.slots[self.find(texts, text)];
        (id != EMPTY).then_some(id)
    }

    /// The slot that holds `text`, or the empty slot where it would go.
    fn find(&self, texts: &[String], text: &str) -> usize {
        let mask = self.slots.len() - 1;
        let mut slot = (hash(text.as_bytes()) >> self.shift) as usize;
        loop {
            let id = self.slots[slot];
            if id == EMPTY || texts.get(id as usize).map(String::as_str) == Some(text) {
                return slot;
            }
            slot = (slot + 1) & mask;
        }
    }
}

/// A fast multiplicative hash, eight bytes at a time; its high bits are well mixed.
fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        h = (h.rotate_left(26) ^ word).wrapping_mul(K);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h.rotate_left(26) ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    h ^ (h >> 29)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finds_every_text_and_nothing_else() {
        let t: Vec<String> = (0..5000).map(|i| format!("t{i}")).collect();
        let index = TextIndex::new(&t);
        for (id, text) in t.iter().enumerate() {
            assert_eq!(index.get(&t, text), Some(id as u32));
        }
        assert_eq!(index.get(&t, "t5000"), None);
        assert_eq!(index.get(&t, ""), None);
    }

    #[test]
    fn later_duplicates_win_and_empty_texts_are_not_indexed() {
        let t = texts(&["a", "", "b", "a"]);
        let index = TextIndex::new(&t);
        assert_eq!(index.get(&t, "a"), Some(3));
        assert_eq!(index.get(&t, "b"), Some(2));
        assert_eq!(index.get(&t, ""), None);
        let none = TextIndex::new(&[]);
        assert_eq!(none.get(&[], "a"), None);
    }

    #[test]
    fn texts_that_share_a_prefix_or_differ_in_length_hash_apart() {
        // Eight-byte chunks plus a zero-padded tail: "a" and "a\0" must still differ.
        let t = texts(&["a", "a\0", "abcdefgh", "abcdefghi", "abcdefgh\0"]);
        let index = TextIndex::new(&t);
        for (id, text) in t.iter().enumerate() {
            assert_eq!(index.get(&t, text), Some(id as u32), "{text:?}");
        }
    }
}
