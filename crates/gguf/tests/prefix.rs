//! Parsing the header from a prefix of a file (how the browser reads a model slice by slice):
//! a growing prefix ends in the same header as parsing the whole file, every answer short of it
//! asks for more bytes than it was given and no more than the file holds, and hostile or
//! truncated headers give typed errors without allocating for counts the prefix cannot back.

mod common;

use common::largest_allocation;
use tokscope_gguf::{GgmlType, Gguf, GgufError, GgufWriter, Header, PrefixParse, Value, ValueType};

/// `parse_prefix`, failing the test if any single allocation exceeded `limit` bytes.
fn parse_within(prefix: &[u8], file_len: u64, limit: usize) -> Result<PrefixParse, GgufError> {
    let (result, peak) = largest_allocation(|| Header::parse_prefix(prefix, file_len));
    assert!(peak <= limit, "allocated {peak} bytes at once");
    result
}

/// A file with strings, arrays and three tensors of different types.
fn model_like_file() -> Vec<u8> {
    let vocab = Value::strings((0..300).map(|i| format!("tok{i}")));
    let mut w = GgufWriter::new();
    w.metadata("general.architecture", Value::String("llama".into()))
        .metadata("llama.block_count", Value::U32(1))
        .metadata("tokenizer.ggml.tokens", vocab)
        .metadata("flag", Value::Bool(true));
    let x: Vec<f32> = (0..64 * 3).map(|i| (i as f32 * 0.37).sin()).collect();
    w.tensor_f32("a", &[64, 3], GgmlType::Q4_1, &x).unwrap();
    w.tensor_f32("b", &[64], GgmlType::F32, &x[..64]).unwrap();
    w.tensor_f32("c", &[32, 2], GgmlType::Q8_0, &x[..64])
        .unwrap();
    w.to_bytes()
}

fn whole_file_header(bytes: &[u8]) -> Header {
    let g = Gguf::parse(bytes).unwrap();
    Header {
        version: g.version,
        metadata: g.metadata,
        tensors: g.tensors,
        alignment: g.alignment,
        data_offset: g.data_offset,
        file_len: bytes.len() as u64,
    }
}

#[test]
fn every_prefix_either_asks_for_more_or_gives_the_whole_files_header() {
    let bytes = model_like_file();
    let len = bytes.len() as u64;
    let want = whole_file_header(&bytes);
    let mut complete_from = None;
    for cut in 0..=bytes.len() {
        match Header::parse_prefix(&bytes[..cut], len).unwrap() {
            PrefixParse::NeedBytes(n) => {
                assert!(n > cut as u64, "prefix of {cut} asks for {n}");
                assert!(n <= want.data_offset, "prefix of {cut} asks for {n}");
                assert!(
                    complete_from.is_none(),
                    "prefix of {cut} needs more after completing"
                );
            }
            PrefixParse::Complete(header) => {
                assert_eq!(header, want, "prefix of {cut}");
                complete_from.get_or_insert(cut);
            }
        }
    }
    // The directory ends before the data section's alignment padding.
    let from = complete_from.expect("the whole file completes");
    assert!(from as u64 <= want.data_offset && from as u64 > want.data_offset - 32);
}

#[test]
fn following_the_requests_reaches_the_header_in_few_reads() {
    let bytes = model_like_file();
    let mut have = 0;
    let mut reads = 0;
    let header = loop {
        reads += 1;
        match Header::parse_prefix(&bytes[..have], bytes.len() as u64).unwrap() {
            PrefixParse::NeedBytes(n) => have = n as usize,
            PrefixParse::Complete(h) => break h,
        }
    };
    assert_eq!(header, whole_file_header(&bytes));
    // One request per field at worst: the header has 4 keys, 300 strings, 3 tensors.
    assert!(reads < 700, "{reads} reads");
}

#[test]
fn a_prefix_longer_than_the_file_reads_only_the_file() {
    let mut bytes = model_like_file();
    let len = bytes.len() as u64;
    bytes.extend([0xAB; 100]);
    let PrefixParse::Complete(h) = Header::parse_prefix(&bytes, len).unwrap() else {
        panic!("incomplete");
    };
    assert_eq!(h.file_len, len);
}

#[test]
fn a_file_cut_inside_its_tensor_data_is_an_error_at_header_time() {
    let bytes = model_like_file();
    let want = whole_file_header(&bytes);
    let cut = want.data_offset + 10;
    let prefix = &bytes[..want.data_offset as usize];
    match Header::parse_prefix(prefix, cut) {
        Err(GgufError::TensorOutOfBounds { file_len, .. }) => assert_eq!(file_len, cut),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_file_cut_inside_its_header_is_truncated_not_a_request() {
    let bytes = model_like_file();
    let want = whole_file_header(&bytes);
    for cut in [3, 20, 100, want.data_offset as usize - 40] {
        match Header::parse_prefix(&bytes[..cut], cut as u64) {
            Err(GgufError::Truncated { offset, needed }) => assert!(offset + needed > cut),
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn bad_magic_and_version_are_refused_from_the_first_bytes() {
    assert_eq!(
        Header::parse_prefix(b"GG", 1000).unwrap(),
        PrefixParse::NeedBytes(4)
    );
    assert!(matches!(
        Header::parse_prefix(b"PK\x03\x04", 1000),
        Err(GgufError::BadMagic { .. })
    ));
    let mut v9 = b"GGUF".to_vec();
    v9.extend(9u32.to_le_bytes());
    assert!(matches!(
        Header::parse_prefix(&v9, 1000),
        Err(GgufError::UnsupportedVersion { version: 9, .. })
    ));
}

/// A header claiming one key whose value is an array of `count` u8, in a file of `file_len`.
fn huge_array_header(count: u64) -> Vec<u8> {
    let mut f = b"GGUF".to_vec();
    f.extend(3u32.to_le_bytes());
    f.extend(0u64.to_le_bytes()); // tensors
    f.extend(1u64.to_le_bytes()); // keys
    f.extend(1u64.to_le_bytes());
    f.push(b'k');
    f.extend(ValueType::Array.id().to_le_bytes());
    f.extend(ValueType::U8.id().to_le_bytes());
    f.extend(count.to_le_bytes());
    f.extend([7u8; 16]);
    f
}

#[test]
fn a_count_the_file_could_hold_reserves_only_what_the_prefix_holds() {
    // 2^36 one-byte items fit a claimed 2^40-byte file; reserving them would need 2 TiB.
    let prefix = huge_array_header(1 << 36);
    match parse_within(&prefix, 1 << 40, 64 << 10).unwrap() {
        PrefixParse::NeedBytes(n) => assert_eq!(n, prefix.len() as u64 + 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_count_larger_than_the_file_is_refused_whatever_the_prefix() {
    let prefix = huge_array_header(1 << 36);
    assert!(matches!(
        parse_within(&prefix, 1 << 20, 64 << 10),
        Err(GgufError::CountTooLarge { count, .. }) if count == 1 << 36
    ));
    // Tensor and key counts too.
    let mut f = b"GGUF".to_vec();
    f.extend(3u32.to_le_bytes());
    f.extend((u64::MAX / 2).to_le_bytes());
    f.extend(0u64.to_le_bytes());
    assert!(matches!(
        parse_within(&f, 1 << 40, 64 << 10),
        Err(GgufError::CountTooLarge { .. })
    ));
}

#[test]
fn a_string_longer_than_the_prefix_asks_for_its_end() {
    let mut w = GgufWriter::new();
    w.metadata("long", Value::String("x".repeat(5000)));
    let bytes = w.to_bytes();
    // Magic, version, two counts, the key (8 + 4), the type (4), the length (8).
    let at = 4 + 4 + 8 + 8 + 12 + 4 + 8;
    assert_eq!(
        Header::parse_prefix(&bytes[..at + 10], bytes.len() as u64).unwrap(),
        PrefixParse::NeedBytes(at as u64 + 5000)
    );
}
