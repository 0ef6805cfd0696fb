//! Writer round trips: what the writer puts in, the reader gets back.

use tokscope_gguf::blocks::{dequantize_row, quantize_row};
use tokscope_gguf::{Array, GgmlType, Gguf, GgufError, GgufWriter, Metadata, Value, ValueType};

/// One value of every metadata type, including empty, nested and mixed arrays.
fn all_values() -> Vec<(&'static str, Value)> {
    vec![
        ("t.u8", Value::U8(250)),
        ("t.i8", Value::I8(-7)),
        ("t.u16", Value::U16(65000)),
        ("t.i16", Value::I16(-30000)),
        ("t.u32", Value::U32(4_000_000_000)),
        ("t.i32", Value::I32(-2_000_000_000)),
        ("t.f32", Value::F32(-1.5e-7)),
        ("t.bool_true", Value::Bool(true)),
        ("t.bool_false", Value::Bool(false)),
        ("t.string", Value::String("héllo ✓ \0 end".into())),
        ("t.string_empty", Value::String(String::new())),
        ("t.u64", Value::U64(u64::MAX)),
        ("t.i64", Value::I64(i64::MIN)),
        ("t.f64", Value::F64(std::f64::consts::PI)),
        ("t.array_i32", Value::Array(Array::I32(vec![1, -2]))),
        ("t.array_strings", Value::strings(["a", ""])),
        ("t.array_empty_u8", Value::Array(Array::U8(vec![]))),
        (
            "t.array_empty_string",
            Value::Array(Array::empty(ValueType::String)),
        ),
        (
            "t.array_nested",
            Value::Array(Array::Array(vec![
                Array::Bool(vec![true]),
                Array::F64(vec![]),
                Array::Array(vec![Array::U16(vec![9])]),
            ])),
        ),
        ("t.array_empty_arrays", Value::Array(Array::Array(vec![]))),
    ]
}

#[test]
fn every_metadata_type_round_trips() {
    let mut w = GgufWriter::new();
    let mut expected = Metadata::default();
    for (k, v) in all_values() {
        w.metadata(k, v.clone());
        expected.insert(k.to_string(), v);
    }
    let bytes = w.to_bytes();
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(g.version, 3);
    assert_eq!(g.metadata, expected);
    assert!(g.tensors.is_empty());
    // The header opens with the magic and the little-endian version.
    assert_eq!(&bytes[..8], b"GGUF\x03\0\0\0");
}

#[test]
fn metadata_key_set_twice_keeps_the_last_value() {
    let mut w = GgufWriter::new();
    w.metadata("k", Value::U8(1)).metadata("k", Value::U8(2));
    let bytes = w.to_bytes();
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(g.metadata.len(), 1);
    assert_eq!(g.metadata.get("k"), Some(&Value::U8(2)));
}

fn sample(n: usize, seed: u32) -> Vec<f32> {
    // A deterministic spread of positive and negative values of different magnitudes.
    (0..n)
        .map(|i| {
            let h = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8;
            (h % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

#[test]
fn every_tensor_type_round_trips() {
    let supported = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::BF16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q8_0,
        GgmlType::Q8_1,
    ];
    let dims = [64u64, 3];
    let mut w = GgufWriter::new();
    w.metadata("general.architecture", Value::String("llama".into()));
    for (i, t) in supported.iter().enumerate() {
        w.tensor_f32(&format!("w.{t}"), &dims, *t, &sample(192, i as u32))
            .unwrap();
    }
    // Types without a quantizer go in raw: a Q4_K tensor of one 256-element block,
    // and a 4-dimensional I32 tensor.
    let q4k: Vec<u8> = (0..144).map(|i| i as u8).collect();
    w.tensor_raw("w.Q4_K", &[256], GgmlType::Q4_K, q4k.clone());
    let i32s: Vec<u8> = (0..2 * 3 * 4 * 5 * 4).map(|i| (i * 7) as u8).collect();
    w.tensor_raw("w.I32", &[2, 3, 4, 5], GgmlType::I32, i32s.clone());
    let bytes = w.to_bytes();

    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(g.tensors.len(), supported.len() + 2);
    assert_eq!(g.alignment, 32);
    assert_eq!(g.data_offset % 32, 0);
    for (i, t) in supported.iter().enumerate() {
        let info = g.tensor(&format!("w.{t}")).unwrap();
        assert_eq!(info.dims, dims);
        assert_eq!(info.ggml_type, *t);
        assert_eq!(info.n_elements, 192);
        assert_eq!(info.rows_cols(), (3, 64));
        assert_eq!(info.file_offset % 32, 0);
        let values = sample(192, i as u32);
        let data = g.tensor_data(info);
        // Row by row quantization equals quantizing each row on its own.
        let rows: Vec<u8> = values
            .chunks(64)
            .flat_map(|r| quantize_row(*t, r).unwrap())
            .collect();
        assert_eq!(data, rows.as_slice(), "{t}");
        let mut back = vec![0.0; 192];
        dequantize_row(*t, data, &mut back).unwrap();
        let worst = values
            .iter()
            .zip(&back)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst <= 0.14, "{t}: worst error {worst}"); // Q4_0's step is 1/8 here
    }
    assert_eq!(g.tensor_data(g.tensor("w.Q4_K").unwrap()), q4k.as_slice());
    let i32_info = g.tensor("w.I32").unwrap();
    assert_eq!(i32_info.dims, [2, 3, 4, 5]);
    assert_eq!(i32_info.rows_cols(), (60, 2));
    assert_eq!(g.tensor_data(i32_info), i32s.as_slice());
    assert_eq!(bytes.len() % 32, 0);
}

#[test]
fn tensor_f32_checks_its_input() {
    let mut w = GgufWriter::new();
    assert!(
        w.tensor_f32("a", &[32, 2], GgmlType::Q8_0, &[0.0; 63])
            .is_err()
    );
    // A row of 48 elements is not whole Q4_0 blocks.
    assert!(
        w.tensor_f32("b", &[48], GgmlType::Q4_0, &[0.0; 48])
            .is_err()
    );
    assert!(
        w.tensor_f32("c", &[256], GgmlType::Q4_K, &[0.0; 256])
            .is_err()
    );
    let g_bytes = w.to_bytes();
    assert!(Gguf::parse(&g_bytes).unwrap().tensors.is_empty());
}

#[test]
fn version_2_header_round_trips() {
    let mut w = GgufWriter::new();
    w.version(2)
        .metadata("general.name", Value::String("v2".into()));
    w.tensor_f32("x", &[4], GgmlType::F32, &[1.0, 2.0, 3.0, 4.0])
        .unwrap();
    let bytes = w.to_bytes();
    assert_eq!(&bytes[4..8], &2u32.to_le_bytes());
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(g.version, 2);
    assert_eq!(g.metadata.get_str("general.name"), Some("v2"));
    assert_eq!(
        g.tensor_data(&g.tensors[0]),
        [1.0f32, 2.0, 3.0, 4.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect::<Vec<_>>()
            .as_slice()
    );
}

#[test]
fn custom_alignment_is_honoured() {
    for alignment in [1u32, 8, 64, 4096] {
        let mut w = GgufWriter::new();
        w.metadata("general.alignment", Value::U32(alignment));
        w.tensor_f32("a", &[3], GgmlType::F32, &[1.0, 2.0, 3.0])
            .unwrap();
        w.tensor_f32("b", &[32], GgmlType::Q8_0, &[0.5; 32])
            .unwrap();
        let bytes = w.to_bytes();
        let g = Gguf::parse(&bytes).unwrap();
        let a = alignment as u64;
        assert_eq!(g.alignment, a);
        assert_eq!(g.data_offset % a, 0);
        let (ta, tb) = (&g.tensors[0], &g.tensors[1]);
        assert_eq!(ta.file_offset, g.data_offset);
        // b starts at the first aligned offset after a's 12 bytes.
        assert_eq!(tb.file_offset, g.data_offset + 12u64.next_multiple_of(a));
        assert_eq!(g.tensor_data(tb).len(), 34);
        assert_eq!(bytes.len() as u64 % a, 0);
    }
}

#[test]
fn unusable_alignment_is_written_for_the_reader_to_refuse() {
    let mut w = GgufWriter::new();
    w.metadata("general.alignment", Value::U32(48));
    let bytes = w.to_bytes();
    assert!(matches!(
        Gguf::parse(&bytes),
        Err(GgufError::BadAlignment(_))
    ));
}

#[test]
fn metadata_keys_come_back_in_the_files_order() {
    let mut w = GgufWriter::new();
    for (k, v) in [
        ("z.last", Value::U8(1)),
        ("a.first", Value::String("x".into())),
        ("m.middle", Value::Array(Array::U32(vec![1, 2, 3]))),
    ] {
        w.metadata(k, v);
    }
    w.tensor_f32("t", &[4], GgmlType::F32, &[1.0, 2.0, 3.0, 4.0])
        .unwrap();
    let bytes = w.to_bytes();
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(
        g.metadata_keys_in_file_order().unwrap(),
        ["z.last", "a.first", "m.middle"]
    );
    let sorted: Vec<&str> = g.metadata.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(sorted, ["a.first", "m.middle", "z.last"]);
}
