//! Malformed files: every one must give a typed error naming where the file went wrong, without
//! panicking and without allocating more than the file could hold.

mod common;

use common::largest_allocation;
use tokscope_gguf::{Array, GgmlType, Gguf, GgufError, GgufWriter, Value, ValueType};

/// Parses and returns the error, checking that no single allocation exceeded 64 KiB (all files
/// here are a few hundred bytes).
fn parse_err(bytes: &[u8]) -> GgufError {
    let (result, peak) = largest_allocation(|| Gguf::parse(bytes).map(|g| g.tensors.len()));
    assert!(peak <= 64 << 10, "allocated {peak} bytes at once");
    match result {
        Ok(n) => panic!("parsed a malformed file ({n} tensors)"),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            e
        }
    }
}

/// Builds GGUF bytes by hand so tests know every offset.
struct File(Vec<u8>);

impl File {
    fn header(version: u32, n_tensors: u64, n_kv: u64) -> Self {
        let mut f = File(b"GGUF".to_vec());
        f.u32(version).u64(n_tensors).u64(n_kv);
        f
    }
    fn pos(&self) -> usize {
        self.0.len()
    }
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend(v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend(v.to_le_bytes());
        self
    }
    fn raw_str(&mut self, s: &[u8]) -> &mut Self {
        self.u64(s.len() as u64);
        self.0.extend(s);
        self
    }
    fn str(&mut self, s: &str) -> &mut Self {
        self.raw_str(s.as_bytes())
    }
    /// A key-value pair holding a u32.
    fn kv_u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.str(key).u32(ValueType::U32.id()).u32(v)
    }
    fn tensor(&mut self, name: &str, dims: &[u64], type_id: u32, offset: u64) -> &mut Self {
        self.str(name).u32(dims.len() as u32);
        for &d in dims {
            self.u64(d);
        }
        self.u32(type_id).u64(offset)
    }
    fn pad(&mut self, to: usize) -> &mut Self {
        self.0.resize(self.0.len().next_multiple_of(to), 0);
        self
    }
    fn zeros(&mut self, n: usize) -> &mut Self {
        self.0.resize(self.0.len() + n, 0);
        self
    }
}

/// A small valid file with metadata of several kinds and three tensors.
fn small_valid_file() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.metadata("general.architecture", Value::String("llama".into()))
        .metadata("llama.block_count", Value::U32(1))
        .metadata("flag", Value::Bool(true))
        .metadata("tokens", Value::strings(["<s>", "a"]))
        .metadata(
            "nested",
            Value::Array(Array::Array(vec![Array::F32(vec![0.5])])),
        );
    let values: Vec<f32> = (0..64).map(|i| i as f32 / 10.0 - 3.0).collect();
    w.tensor_f32("a", &[32, 2], GgmlType::Q4_0, &values)
        .unwrap();
    w.tensor_f32("b", &[3], GgmlType::F32, &[1.0, 2.0, 3.0])
        .unwrap();
    w.tensor_f32("c", &[32], GgmlType::Q8_0, &values[..32])
        .unwrap();
    w.to_bytes()
}

#[test]
fn truncated_at_every_offset() {
    let bytes = small_valid_file();
    let g = Gguf::parse(&bytes).unwrap();
    let data_end = g
        .tensors
        .iter()
        .map(|t| t.file_offset + t.n_bytes)
        .max()
        .unwrap() as usize;
    assert!(data_end < bytes.len(), "the file ends with padding");
    for len in 0..bytes.len() {
        let cut = &bytes[..len];
        if len >= data_end {
            // Only the trailing padding is missing: that is still a complete file.
            assert!(Gguf::parse(cut).is_ok(), "cut at {len}");
            continue;
        }
        match parse_err(cut) {
            GgufError::Truncated { offset, needed } => {
                assert!(offset <= len && offset + needed > len, "cut at {len}");
            }
            GgufError::CountTooLarge { offset, .. } => {
                assert!(offset as usize + 8 <= len, "cut at {len}")
            }
            GgufError::TensorOutOfBounds { file_len, .. } => {
                assert_eq!(file_len as usize, len);
                assert!(len >= g.data_offset as usize - 31, "cut at {len}");
            }
            e => panic!("cut at {len}: unexpected {e:?}"),
        }
    }
}

#[test]
fn bad_magic() {
    let mut f = File::header(3, 0, 0);
    f.0[..4].copy_from_slice(b"GGML");
    assert_eq!(parse_err(&f.0), GgufError::BadMagic { found: *b"GGML" });
    assert_eq!(
        parse_err(b"GG"),
        GgufError::Truncated {
            offset: 0,
            needed: 4
        }
    );
}

#[test]
fn unsupported_versions() {
    // Version 1 had 32-bit counts; 4 does not exist; a big-endian file reads as 0x03000000.
    for version in [0, 1, 4, 0x0300_0000] {
        let f = File::header(version, 0, 0);
        assert_eq!(
            parse_err(&f.0),
            GgufError::UnsupportedVersion { version, offset: 4 }
        );
    }
}

#[test]
fn unknown_value_type() {
    let mut f = File::header(3, 0, 1);
    f.str("k");
    let at = f.pos();
    f.u32(13).u32(0);
    assert_eq!(
        parse_err(&f.0),
        GgufError::UnknownValueType {
            type_id: 13,
            offset: at
        }
    );
    // The element type of an array.
    let mut f = File::header(3, 0, 1);
    f.str("k").u32(ValueType::Array.id());
    let at = f.pos();
    f.u32(99).u64(0);
    assert_eq!(
        parse_err(&f.0),
        GgufError::UnknownValueType {
            type_id: 99,
            offset: at
        }
    );
}

#[test]
fn unknown_tensor_types() {
    // 43 is past the last id ggml has assigned.
    for type_id in [43, 1000, u32::MAX] {
        let mut f = File::header(3, 1, 0);
        f.str("t").u32(1).u64(32);
        let at = f.pos();
        f.u32(type_id).u64(0).pad(32).zeros(256);
        let e = parse_err(&f.0);
        assert_eq!(
            e,
            GgufError::UnknownTensorType {
                name: "t".into(),
                type_id,
                offset: at
            }
        );
        assert!(e.to_string().contains(&type_id.to_string()), "{e}");
    }
}

#[test]
fn removed_tensor_types() {
    // Q4_2 and Q4_3, the Q4_0 and IQ4_NL repackings: ggml refuses them in files, and so no
    // layout is assumed for them here.
    for (type_id, name) in [
        (4, "Q4_2"),
        (5, "Q4_3"),
        (31, "Q4_0_4_4"),
        (33, "Q4_0_8_8"),
        (38, "IQ4_NL_8_8"),
    ] {
        let mut f = File::header(3, 1, 0);
        f.str("t").u32(1).u64(32);
        let at = f.pos();
        f.u32(type_id).u64(0).pad(32).zeros(256);
        let e = parse_err(&f.0);
        assert_eq!(
            e,
            GgufError::RemovedTensorType {
                name: "t".into(),
                ty: GgmlType::from_id(type_id).unwrap(),
                offset: at
            }
        );
        let message = e.to_string();
        assert!(
            message.contains(name) && message.contains("removed"),
            "{message}"
        );
    }
}

#[test]
fn every_assigned_type_parses_whether_or_not_it_decodes() {
    // One block of each type that ggml still assigns: the file's sizes are checked against the
    // type's layout, decodable or not.
    for ty in GgmlType::all().filter(|t| !t.is_removed()) {
        let (block, bytes) = ty.block_layout().unwrap();
        let mut f = File::header(3, 1, 0);
        f.tensor("t", &[block as u64], ty.id(), 0)
            .pad(32)
            .zeros(bytes);
        let g = Gguf::parse(&f.0).unwrap_or_else(|e| panic!("{ty}: {e}"));
        let t = &g.tensors[0];
        assert_eq!((t.ggml_type, t.n_bytes), (ty, bytes as u64), "{ty}");
        // One byte short of the block is refused as a tensor running past the file.
        let short = &f.0[..f.0.len() - 1];
        assert!(
            matches!(Gguf::parse(short), Err(GgufError::TensorOutOfBounds { .. })),
            "{ty}"
        );
    }
}

/// A file with one tensor and room for 64 bytes of data; returns the error.
fn one_tensor_err(dims: &[u64], type_id: u32, offset: u64) -> GgufError {
    let mut f = File::header(3, 1, 0);
    f.tensor("t", dims, type_id, offset).pad(32).zeros(64);
    parse_err(&f.0)
}

fn assert_bad_dims(e: GgufError, expected_offset: usize) {
    match e {
        GgufError::BadDims { name, offset, .. } => {
            assert_eq!((name.as_str(), offset), ("t", expected_offset));
        }
        e => panic!("expected BadDims, got {e:?}"),
    }
}

#[test]
fn bad_dimensions() {
    // The tensor entry starts right after the 24-byte header; its n_dims field after the
    // 8 + 1 bytes of its name.
    let (entry, n_dims) = (24, 33);
    // u64 products that overflow, and counts beyond any real tensor (or file).
    assert_bad_dims(one_tensor_err(&[1 << 32, 1 << 32, 2], 0, 0), entry);
    assert_bad_dims(one_tensor_err(&[u64::MAX, 2], 0, 0), entry);
    assert_bad_dims(one_tensor_err(&[1 << 40, 1 << 10], 0, 0), entry);
    assert_bad_dims(one_tensor_err(&[u64::MAX / 2], 0, 0), entry);
    // A zero dimension, and zero or too many dimensions.
    assert_bad_dims(one_tensor_err(&[4, 0], 0, 0), entry);
    assert_bad_dims(one_tensor_err(&[], 0, 0), n_dims);
    assert_bad_dims(one_tensor_err(&[1, 1, 1, 1, 1], 0, 0), n_dims);
    // 32 elements of Q4_0, but rows of 16 are not whole blocks.
    assert_bad_dims(one_tensor_err(&[16, 2], 2, 0), entry);
    // Four dimensions are fine.
    let mut f = File::header(3, 1, 0);
    f.tensor("t", &[1, 2, 2, 2], 0, 0).pad(32).zeros(32);
    assert_eq!(Gguf::parse(&f.0).unwrap().tensors[0].n_elements, 8);
}

#[test]
fn tensor_past_end_of_file() {
    // 16 F32 elements are 64 bytes: they fit at offset 0 but not at 32.
    match one_tensor_err(&[16], 0, 32) {
        GgufError::TensorOutOfBounds {
            name,
            offset,
            n_bytes,
            file_len,
        } => {
            assert_eq!(name, "t");
            // Header 24 + entry 8 + 1 + 4 + 8 + 4 + 8 = 57, aligned to 64; then + 32.
            assert_eq!((offset, n_bytes, file_len), (64 + 32, 64, 128));
        }
        e => panic!("{e:?}"),
    }
    // An offset whose sum with the data section overflows u64.
    let huge = u64::MAX - 31;
    assert!(matches!(
        one_tensor_err(&[16], 0, huge),
        GgufError::TensorOutOfBounds {
            offset: u64::MAX,
            n_bytes: 64,
            ..
        }
    ));
}

#[test]
fn misaligned_tensor_offset() {
    assert_eq!(
        one_tensor_err(&[4], 0, 4),
        GgufError::MisalignedTensor {
            name: "t".into(),
            offset: 4,
            alignment: 32
        }
    );
    // With general.alignment = 8, offset 8 is fine and 12 is not.
    let file = |offset| {
        let mut f = File::header(3, 1, 1);
        f.kv_u32("general.alignment", 8)
            .tensor("t", &[2], 0, offset)
            .pad(8)
            .zeros(24);
        f.0
    };
    assert_eq!(Gguf::parse(&file(8)).unwrap().alignment, 8);
    assert_eq!(
        parse_err(&file(12)),
        GgufError::MisalignedTensor {
            name: "t".into(),
            offset: 12,
            alignment: 8
        }
    );
}

#[test]
fn huge_counts_are_refused_before_allocating() {
    let huge = u64::MAX / 2;
    assert_eq!(
        parse_err(&File::header(3, huge, 0).0),
        GgufError::CountTooLarge {
            count: huge,
            offset: 8
        }
    );
    assert_eq!(
        parse_err(&File::header(3, 0, huge).0),
        GgufError::CountTooLarge {
            count: huge,
            offset: 16
        }
    );
    // A key length.
    let mut f = File::header(3, 0, 1);
    f.u64(huge).zeros(64);
    assert_eq!(
        parse_err(&f.0),
        GgufError::CountTooLarge {
            count: huge,
            offset: 24
        }
    );
    // A string value's length.
    let mut f = File::header(3, 0, 1);
    f.str("k").u32(ValueType::String.id());
    let at = f.pos();
    f.u64(huge).zeros(64);
    assert_eq!(
        parse_err(&f.0),
        GgufError::CountTooLarge {
            count: huge,
            offset: at as u64
        }
    );
    // Array counts, for small elements and for arrays of arrays (whose size product overflows).
    for elem in [ValueType::U8, ValueType::String, ValueType::Array] {
        let mut f = File::header(3, 0, 1);
        f.str("k").u32(ValueType::Array.id()).u32(elem.id());
        let at = f.pos();
        f.u64(huge).zeros(64);
        assert_eq!(
            parse_err(&f.0),
            GgufError::CountTooLarge {
                count: huge,
                offset: at as u64
            }
        );
    }
    // A tensor name's length.
    let mut f = File::header(3, 1, 0);
    f.u64(huge).zeros(64);
    assert!(matches!(
        parse_err(&f.0),
        GgufError::CountTooLarge { offset: 24, .. }
    ));
    // A count that fits the file's size in bytes but not its minimum encoded size: 40 u64
    // values need 320 bytes.
    let mut f = File::header(3, 0, 1);
    f.str("k")
        .u32(ValueType::Array.id())
        .u32(ValueType::U64.id());
    let at = f.pos();
    f.u64(40).zeros(100);
    assert_eq!(
        parse_err(&f.0),
        GgufError::CountTooLarge {
            count: 40,
            offset: at as u64
        }
    );
}

/// A key "k" holding `depth` arrays nested in each other, the innermost holding one u8.
fn nested(depth: usize) -> Value {
    let mut v = Array::U8(vec![7]);
    for _ in 1..depth {
        v = Array::Array(vec![v]);
    }
    Value::Array(v)
}

#[test]
fn deep_array_nesting() {
    let mut w = GgufWriter::new();
    w.metadata("k", nested(8));
    let bytes = w.to_bytes();
    assert_eq!(
        Gguf::parse(&bytes).unwrap().metadata.get("k"),
        Some(&nested(8))
    );

    let mut w = GgufWriter::new();
    w.metadata("k", nested(9));
    // The ninth array's payload starts after the header, the key, the value type and eight
    // (element type, count) pairs.
    let at = 24 + 9 + 4 + 8 * 12;
    assert_eq!(parse_err(&w.to_bytes()), GgufError::TooDeep { offset: at });
    // Far deeper than that is refused the same way, without deep recursion.
    let mut f = File::header(3, 0, 1);
    f.str("k").u32(ValueType::Array.id());
    for _ in 0..100_000 {
        f.u32(ValueType::Array.id()).u64(1);
    }
    assert_eq!(parse_err(&f.0), GgufError::TooDeep { offset: at });
}

#[test]
fn bad_bool() {
    let mut f = File::header(3, 0, 1);
    f.str("k").u32(ValueType::Bool.id());
    let at = f.pos();
    f.u8(2);
    assert_eq!(
        parse_err(&f.0),
        GgufError::BadBool {
            value: 2,
            offset: at
        }
    );
    // Inside an array.
    let mut f = File::header(3, 0, 1);
    f.str("k")
        .u32(ValueType::Array.id())
        .u32(ValueType::Bool.id())
        .u64(3)
        .u8(1)
        .u8(0);
    let at = f.pos();
    f.u8(255);
    assert_eq!(
        parse_err(&f.0),
        GgufError::BadBool {
            value: 255,
            offset: at
        }
    );
}

#[test]
fn invalid_utf8() {
    let mut f = File::header(3, 0, 1);
    f.raw_str(&[0xff, 0xfe]).u32(ValueType::U8.id()).u8(0);
    assert_eq!(parse_err(&f.0), GgufError::BadUtf8 { offset: 24 });
    // A value string cut in the middle of a two-byte sequence.
    let mut f = File::header(3, 0, 1);
    f.str("k").u32(ValueType::String.id());
    let at = f.pos();
    f.raw_str(&[b'a', 0xc3]);
    assert_eq!(parse_err(&f.0), GgufError::BadUtf8 { offset: at });
    // A tensor name.
    let mut f = File::header(3, 1, 0);
    f.raw_str(b"t\xc0\x80")
        .u32(1)
        .u64(4)
        .u32(0)
        .u64(0)
        .pad(32)
        .zeros(16);
    assert_eq!(parse_err(&f.0), GgufError::BadUtf8 { offset: 24 });
}

#[test]
fn duplicate_key() {
    let mut f = File::header(3, 0, 2);
    f.kv_u32("dup", 1);
    let at = f.pos();
    f.kv_u32("dup", 2);
    assert_eq!(
        parse_err(&f.0),
        GgufError::DuplicateKey {
            key: "dup".into(),
            offset: at
        }
    );
}

#[test]
fn duplicate_tensor_name() {
    let mut f = File::header(3, 2, 0);
    f.tensor("t", &[8], 0, 0);
    let at = f.pos();
    f.tensor("t", &[8], 0, 32).pad(32).zeros(64);
    assert_eq!(
        parse_err(&f.0),
        GgufError::DuplicateTensor {
            name: "t".into(),
            offset: at
        }
    );
}

#[test]
fn bad_alignment_values() {
    for v in [
        Value::U32(0),
        Value::U32(3),
        Value::U64(1 << 21),
        Value::I32(-32),
        Value::String("32".into()),
    ] {
        let mut w = GgufWriter::new();
        w.metadata("general.alignment", v);
        assert!(matches!(
            parse_err(&w.to_bytes()),
            GgufError::BadAlignment(_)
        ));
    }
}

#[test]
fn allocation_tracker_sees_what_a_file_holds() {
    // The guard in parse_err can fail: a real 100 kB string is one 100 kB allocation.
    let mut w = GgufWriter::new();
    w.metadata("k", Value::String("x".repeat(100_000)));
    let bytes = w.to_bytes();
    let (parsed, peak) = largest_allocation(|| Gguf::parse(&bytes).map(|g| g.tensors.len()));
    parsed.unwrap();
    assert!(peak >= 100_000);
}
