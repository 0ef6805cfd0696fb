//! Parses arbitrary bytes as GGUF. On success: reads every tensor's bytes, dequantizes the
//! decodable tensors up to a size cap (a block with a non-finite scale is refused, not decoded),
//! and checks that writing the parsed file back out and parsing that gives the same metadata and
//! tensors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokscope_gguf::blocks::{BlockError, dequantize_row};
use tokscope_gguf::{Gguf, GgufWriter};

/// Largest tensor (in elements) that is dequantized, so one input cannot take seconds.
const MAX_DEQUANT_ELEMENTS: u64 = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let Ok(g) = Gguf::parse(data) else { return };
    let mut checksum = 0u8;
    for t in &g.tensors {
        let bytes = g.tensor_data(t);
        assert_eq!(bytes.len() as u64, t.n_bytes);
        checksum ^= bytes.iter().fold(0, |a, b| a ^ b);
        if t.ggml_type.decoder().is_some() && t.n_elements <= MAX_DEQUANT_ELEMENTS {
            let (rows, cols) = t.rows_cols();
            let mut out = vec![0.0f32; cols];
            for row in bytes.chunks_exact(bytes.len() / rows) {
                match dequantize_row(t.ggml_type, row, &mut out) {
                    Ok(()) => checksum ^= out.iter().fold(0, |a, x| a ^ x.to_bits() as u8),
                    Err(BlockError::NonFiniteScale { .. }) => {}
                    Err(e) => panic!("the reader checked the sizes: {e}"),
                }
            }
        }
    }
    std::hint::black_box(checksum);

    // Round trip through the writer (metadata compared by Debug text so NaN equals NaN).
    let mut w = GgufWriter::new();
    w.version(g.version);
    for (k, v) in g.metadata.iter() {
        w.metadata(k, v.clone());
    }
    for t in &g.tensors {
        w.tensor_raw(&t.name, &t.dims, t.ggml_type, g.tensor_data(t).to_vec());
    }
    let bytes = w.to_bytes();
    let g2 = Gguf::parse(&bytes).expect("the writer's output parses");
    assert_eq!(format!("{:?}", g2.metadata), format!("{:?}", g.metadata));
    assert_eq!(g2.alignment, g.alignment);
    assert_eq!(g2.tensors.len(), g.tensors.len());
    for (a, b) in g.tensors.iter().zip(&g2.tensors) {
        assert_eq!(
            (&a.name, &a.dims, a.ggml_type),
            (&b.name, &b.dims, b.ggml_type)
        );
        assert_eq!(g.tensor_data(a), g2.tensor_data(b));
    }
});
