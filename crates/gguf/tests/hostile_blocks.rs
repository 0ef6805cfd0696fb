//! Blocks a hostile or corrupt file can hold: non-finite scales and cut-off blocks are errors that
//! say where, never garbage values or panics.

use tokscope_gguf::blocks::{BlockError, Scale, check_blocks, dequantize_row};
use tokscope_gguf::{GgmlType, Gguf, GgufError, GgufWriter};

const F16_NAN: [u8; 2] = [0x00, 0x7e];
const F16_INF: [u8; 2] = [0x00, 0x7c];
const F16_MINUS_INF: [u8; 2] = [0x00, 0xfc];

/// Every type with a decoder and at least one scale field.
fn scaled_types() -> Vec<GgmlType> {
    GgmlType::all()
        .filter(|t| t.decoder().is_some_and(|d| !d.scales.is_empty()))
        .collect()
}

#[test]
fn every_quantized_decodable_type_has_scales() {
    let types = scaled_types();
    for t in [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q8_1,
        GgmlType::Q2_K,
        GgmlType::Q3_K,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
        GgmlType::Q8_K,
        GgmlType::IQ4_NL,
        GgmlType::IQ4_XS,
    ] {
        assert!(types.contains(&t), "{t}");
    }
}

#[test]
fn non_finite_scales_are_errors_naming_block_and_byte() {
    for t in scaled_types() {
        let (block, bytes) = t.block_layout().unwrap();
        for &scale in t.decoder().unwrap().scales {
            let bad_values: Vec<Vec<u8>> = match scale {
                Scale::F16(_) => vec![F16_NAN.to_vec(), F16_INF.to_vec(), F16_MINUS_INF.to_vec()],
                Scale::F32(_) => [f32::NAN, f32::INFINITY, f32::NEG_INFINITY]
                    .iter()
                    .map(|v| v.to_le_bytes().to_vec())
                    .collect(),
            };
            let offset = match scale {
                Scale::F16(o) | Scale::F32(o) => o,
            };
            for bad in bad_values {
                // Three zero blocks, the third one corrupt.
                let mut src = vec![0u8; 3 * bytes];
                let at = 2 * bytes + offset;
                src[at..at + bad.len()].copy_from_slice(&bad);
                let mut out = vec![0.0f32; 3 * block];
                let e = dequantize_row(t, &src, &mut out).unwrap_err();
                match &e {
                    BlockError::NonFiniteScale {
                        ty,
                        block: b,
                        offset: o,
                        value,
                    } => {
                        assert_eq!((*ty, *b, *o), (t, 2, at), "{t}");
                        assert!(!value.is_finite());
                    }
                    other => panic!("{t}: {other:?}"),
                }
                let message = e.to_string();
                assert!(
                    message.contains(t.name()) && message.contains("block 2"),
                    "{message}"
                );
                // (Debug text, so that NaN equals NaN.)
                let again = check_blocks(t, &src).unwrap_err();
                assert_eq!(format!("{again:?}"), format!("{e:?}"));
                // The same bytes with the scale finite decode, to zeros.
                src[at..at + bad.len()].fill(0);
                dequantize_row(t, &src, &mut out).unwrap();
                assert!(out.iter().all(|&v| v == 0.0), "{t}");
                assert!(check_blocks(t, &src).is_ok());
            }
        }
    }
}

#[test]
fn cut_off_blocks_are_length_errors() {
    for t in [
        GgmlType::Q4_K,
        GgmlType::Q6_K,
        GgmlType::IQ4_XS,
        GgmlType::Q5_0,
    ] {
        let (block, bytes) = t.block_layout().unwrap();
        let src = vec![0u8; 2 * bytes - 1];
        assert_eq!(
            dequantize_row(t, &src, &mut vec![0.0; 2 * block]),
            Err(BlockError::Length {
                expected: 2 * bytes,
                found: 2 * bytes - 1
            }),
            "{t}"
        );
        assert_eq!(
            check_blocks(t, &src).map(drop),
            Err(BlockError::Length {
                expected: 2 * bytes,
                found: 2 * bytes - 1
            }),
            "{t}"
        );
        // A row that is not whole super-blocks.
        assert!(matches!(
            dequantize_row(t, &vec![0u8; bytes], &mut vec![0.0; block - 1]),
            Err(BlockError::Length { .. })
        ));
    }
}

#[test]
fn types_without_a_decoder_are_named() {
    for t in [
        GgmlType::IQ2_XXS,
        GgmlType::TQ1_0,
        GgmlType::MXFP4,
        GgmlType::I32,
    ] {
        let (block, bytes) = t.block_layout().unwrap();
        assert_eq!(
            dequantize_row(t, &vec![0; bytes], &mut vec![0.0; block]),
            Err(BlockError::Unsupported(t))
        );
        assert!(
            matches!(check_blocks(t, &vec![0; bytes]), Err(BlockError::Unsupported(u)) if u == t)
        );
    }
}

#[test]
fn files_with_cut_off_super_blocks_are_refused_at_parse() {
    // A row of 300 elements is not whole 256-element super-blocks.
    let mut w = GgufWriter::new();
    w.tensor_raw("w", &[300], GgmlType::Q4_K, vec![0; 144 * 2]);
    match Gguf::parse(&w.to_bytes()) {
        Err(GgufError::BadDims { name, reason, .. }) => {
            assert_eq!(name, "w");
            assert!(reason.contains("Q4_K"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // A super-block cut off by the end of the file.
    let mut w = GgufWriter::new();
    w.tensor_raw("w", &[512], GgmlType::Q6_K, vec![0; 210 * 2]);
    let bytes = w.to_bytes();
    let t = &Gguf::parse(&bytes).unwrap().tensors[0];
    let end = (t.file_offset + t.n_bytes) as usize - 1;
    assert!(matches!(
        Gguf::parse(&bytes[..end]),
        Err(GgufError::TensorOutOfBounds { ref name, n_bytes: 420, .. }) if name == "w"
    ));
}

#[test]
fn q8_k_decodes_its_f32_scale_times_bytes() {
    let mut b = vec![0u8; 292];
    b[..4].copy_from_slice(&0.375f32.to_le_bytes());
    for i in 0..256 {
        b[4 + i] = (i as i32 - 128) as i8 as u8;
    }
    // The block sums only serve dot products: garbage there changes nothing.
    b[260..].fill(0xff);
    let mut out = vec![0.0; 256];
    dequantize_row(GgmlType::Q8_K, &b, &mut out).unwrap();
    for (i, v) in out.iter().enumerate() {
        assert_eq!(*v, 0.375 * (i as f32 - 128.0));
    }
}
