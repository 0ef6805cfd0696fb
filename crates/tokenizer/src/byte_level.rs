//! GPT-2's byte-level alphabet: every byte is written as one printable character in vocabulary
//! strings (space → 'Ġ', newline → 'Ċ'), so token texts must be mapped back to get real bytes.

use std::sync::OnceLock;

/// The printable byte values that stand for themselves; all others are shifted to U+0100 and up.
fn is_self_mapped(b: u8) -> bool {
    matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// char → byte for the 256 characters of the alphabet, indexed by code point (all are < U+0144).
fn char_to_byte_table() -> &'static [Option<u8>] {
    static TABLE: OnceLock<Vec<Option<u8>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = vec![None; 0x144];
        let mut shifted = 0u32;
        for b in 0..=255u8 {
            let c = if is_self_mapped(b) {
                u32::from(b)
            } else {
                shifted += 1;
                255 + shifted
            };
            table[c as usize] = Some(b);
        }
        table
    })
}

/// The alphabet character that stands for byte `b` (tests build vocabularies with it).
#[cfg(test)]
pub fn byte_char(b: u8) -> char {
    let table = char_to_byte_table();
    let position = table.iter().position(|entry| *entry == Some(b));
    position
        .and_then(|c| char::from_u32(c as u32))
        .unwrap_or('?')
}

/// Appends the bytes a byte-level vocabulary string stands for. A character outside the
/// alphabet (only in malformed vocabularies) is kept as its own UTF-8.
pub fn decode_into(text: &str, out: &mut Vec<u8>) {
    let table = char_to_byte_table();
    for c in text.chars() {
        match table.get(c as usize).copied().flatten() {
            Some(b) => out.push(b),
            None => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_characters() {
        let mut out = Vec::new();
        decode_into("ĠHelloĊ", &mut out);
        assert_eq!(out, b" Hello\n");
    }

    #[test]
    fn the_alphabet_is_a_bijection() {
        let table = char_to_byte_table();
        let mut seen = [false; 256];
        for b in table.iter().flatten() {
            assert!(!seen[*b as usize], "byte {b} mapped twice");
            seen[*b as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}
