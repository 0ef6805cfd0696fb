//! What a header costs in memory: real (not merely claimed) metadata of every hostile shape is
//! held in a small multiple of its size in the file, and a header longer than the cap is refused
//! before its values are copied, from the whole file or from a prefix of it.

mod common;

use common::peak_live_bytes;
use tokscope_gguf::{Gguf, GgufError, Header, MAX_HEADER_BYTES, PrefixParse, ValueType};

/// Most bytes a parse may hold per byte of header, for any shape below (many short keys cost the
/// most: a map entry per 16 bytes of file); with the header cap, at most 448 MiB.
const BYTES_PER_HEADER_BYTE: f64 = 7.0;
/// Size of the hostile headers measured (the ratio does not depend on it).
const HEADER: usize = 4 << 20;

/// GGUF v3 bytes: `n_tensors` tensor entries and `n_kv` key-value pairs written by `body`.
fn file(n_tensors: u64, n_kv: u64, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut f = b"GGUF".to_vec();
    f.extend(3u32.to_le_bytes());
    f.extend(n_tensors.to_le_bytes());
    f.extend(n_kv.to_le_bytes());
    body(&mut f);
    f
}

fn put_str(f: &mut Vec<u8>, s: &[u8]) {
    f.extend((s.len() as u64).to_le_bytes());
    f.extend(s);
}

/// One key holding an array of `count` elements of type `elem`, each encoded as `item`.
fn array_file(elem: ValueType, count: usize, item: &[u8]) -> Vec<u8> {
    file(0, 1, |f| {
        put_str(f, b"k");
        f.extend(ValueType::Array.id().to_le_bytes());
        f.extend(elem.id().to_le_bytes());
        f.extend((count as u64).to_le_bytes());
        f.reserve(count * item.len());
        for _ in 0..count {
            f.extend(item);
        }
    })
}

/// `i` as three ASCII letters of 64 (distinct below 2^18).
fn short_name(i: usize) -> [u8; 3] {
    const LETTERS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    [LETTERS[i >> 12 & 63], LETTERS[i >> 6 & 63], LETTERS[i & 63]]
}

/// Every shape of header that costs the most memory per byte of file: one-byte array elements,
/// short and empty strings, empty nested arrays, many keys, many tensors.
fn hostile_headers() -> Vec<(&'static str, Vec<u8>)> {
    let mut empty_array = ValueType::U8.id().to_le_bytes().to_vec();
    empty_array.extend(0u64.to_le_bytes());
    // The shortest distinct keys: three letters of 64.
    let n_keys = HEADER / 16;
    let keys = file(0, n_keys as u64, |f| {
        for i in 0..n_keys {
            put_str(f, &short_name(i));
            f.extend(ValueType::U8.id().to_le_bytes());
            f.push(0);
        }
    });
    let n_tensors = HEADER / 35;
    let tensors = file(n_tensors as u64, 0, |f| {
        for i in 0..n_tensors {
            put_str(f, &short_name(i));
            f.extend(1u32.to_le_bytes());
            f.extend(32u64.to_le_bytes());
            f.extend(0u32.to_le_bytes()); // f32
            f.extend(0u64.to_le_bytes()); // every tensor over the same bytes
        }
        f.resize(f.len().next_multiple_of(32) + 128, 0);
    });
    vec![
        ("u8 array", array_file(ValueType::U8, HEADER, &[7])),
        ("bool array", array_file(ValueType::Bool, HEADER, &[1])),
        (
            "one-byte strings",
            array_file(ValueType::String, HEADER / 9, b"\x01\0\0\0\0\0\0\0x"),
        ),
        (
            "empty strings",
            array_file(ValueType::String, HEADER / 8, &[0; 8]),
        ),
        (
            "empty nested arrays",
            array_file(ValueType::Array, HEADER / 12, &empty_array),
        ),
        ("many keys", keys),
        ("many tensors", tensors),
    ]
}

#[test]
fn every_hostile_header_parses_in_a_small_multiple_of_its_size() {
    for (shape, bytes) in hostile_headers() {
        let (parsed, peak) =
            peak_live_bytes(|| Gguf::parse(&bytes).map(|g| (g.metadata.len(), g.tensors.len())));
        parsed.unwrap_or_else(|e| panic!("{shape}: {e}"));
        let ratio = peak as f64 / bytes.len() as f64;
        assert!(
            ratio <= BYTES_PER_HEADER_BYTE,
            "{shape}: {peak} bytes held for a {}-byte header ({ratio:.1} per byte)",
            bytes.len()
        );
    }
}

#[test]
fn a_real_array_past_the_header_cap_is_refused_before_it_is_copied() {
    // A file that really holds its 300 M one-byte elements would cost 300 MB to copy.
    let count = MAX_HEADER_BYTES as usize + 1;
    let mut bytes = array_file(ValueType::U8, 0, &[]);
    let count_at = bytes.len() - 8;
    bytes[count_at..].copy_from_slice(&(count as u64).to_le_bytes());
    bytes.resize(bytes.len() + count, 1);
    let (result, peak) = peak_live_bytes(|| Gguf::parse(&bytes).map(|g| g.metadata.len()));
    let err = result.expect_err("a header past the cap must be refused");
    assert!(
        matches!(err, GgufError::HeaderTooLarge { limit, .. } if limit == MAX_HEADER_BYTES),
        "{err}"
    );
    assert!(
        err.to_string().contains(&MAX_HEADER_BYTES.to_string()),
        "{err}"
    );
    assert!(peak < 1 << 20, "held {peak} bytes before refusing");
}

#[test]
fn a_prefix_that_reaches_the_cap_is_refused_instead_of_asking_for_more() {
    // 300 M elements claimed in a 400 MB file: a loader reading prefixes would grow its prefix
    // to the cap and stop there.
    let mut prefix = array_file(ValueType::U8, 0, &[]);
    let count_at = prefix.len() - 8;
    prefix[count_at..].copy_from_slice(&300_000_000u64.to_le_bytes());
    let short = prefix.len() + 1000;
    prefix.resize(MAX_HEADER_BYTES as usize, 1);
    // Short of the cap, the parser asks for more; at the cap, it refuses.
    assert!(matches!(
        Header::parse_prefix(&prefix[..short], 400_000_000),
        Ok(PrefixParse::NeedBytes(n)) if n > short as u64 && n <= MAX_HEADER_BYTES
    ));
    let (result, peak) = peak_live_bytes(|| Header::parse_prefix(&prefix, 400_000_000));
    assert!(
        matches!(result, Err(GgufError::HeaderTooLarge { .. })),
        "{result:?}"
    );
    assert!(peak < 1 << 20, "held {peak} bytes before refusing");
}
