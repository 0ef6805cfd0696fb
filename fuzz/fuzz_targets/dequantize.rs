//! Block decoding: the input's bytes as whole blocks of every ggml type id, through the public
//! `dequantize_row`. A type the crate decodes (today's and any added later) decodes any bytes of
//! the right length unless a block's scale is not finite; lengths that are not whole blocks, and
//! types without a decoder, are errors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokscope_gguf::GgmlType;
use tokscope_gguf::blocks::{BlockError, dequantize_row};

/// Past every id ggml has assigned (they are below 64).
const TYPE_IDS: u32 = 256;

fuzz_target!(|data: &[u8]| {
    let mut checksum = 0u32;
    for id in 0..TYPE_IDS {
        let Some(t) = GgmlType::from_id(id) else {
            continue;
        };
        let Some((block, size)) = t.block_layout() else {
            assert!(
                dequantize_row(t, &[], &mut []).is_err(),
                "{t} has no layout"
            );
            continue;
        };
        let n_blocks = data.len() / size;
        let src = &data[..n_blocks * size];
        let mut dst = vec![0.0f32; n_blocks * block];
        let decoded = dequantize_row(t, src, &mut dst);
        if t.decoder().is_some() {
            match decoded {
                Ok(()) => checksum ^= dst.iter().fold(0, |a, x| a ^ x.to_bits()),
                Err(BlockError::NonFiniteScale { value, .. }) => assert!(!value.is_finite()),
                Err(e) => panic!("{t}: {n_blocks} whole blocks refused: {e}"),
            }
        } else {
            assert!(decoded.is_err(), "{t} is unsupported yet decoded");
        }
        // One byte too many or too few, and one element too many, are refused.
        if data.len() > src.len() {
            assert!(dequantize_row(t, &data[..src.len() + 1], &mut dst).is_err());
        }
        if !src.is_empty() {
            assert!(dequantize_row(t, &src[1..], &mut dst).is_err());
        }
        let mut longer = vec![0.0f32; dst.len() + 1];
        assert!(dequantize_row(t, src, &mut longer).is_err());
    }
    std::hint::black_box(checksum);
});
