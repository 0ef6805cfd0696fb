//! The block decoders and the type table against gguf-py (llama.cpp's Python package), from the
//! fixtures `tests/golden/make_blocks.py` wrote: every value decoded bit for bit as gguf-py
//! decodes it, and every layout as gguf-py states it.

use std::path::PathBuf;

use tokscope_gguf::GgmlType;
use tokscope_gguf::blocks::dequantize_row;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/golden/blocks")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every format the fixtures hold; a format added to the script must be added here too.
const FORMATS: [GgmlType; 12] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::IQ4_NL,
    GgmlType::IQ4_XS,
];

#[test]
fn blocks_decode_bit_for_bit_as_gguf_py() {
    for ty in FORMATS {
        let bytes = fixture(&format!("{ty}.bin"));
        let want: Vec<f32> = fixture(&format!("{ty}.f32"))
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let (block, size) = ty.block_layout().unwrap();
        assert_eq!(
            bytes.len() / size * block,
            want.len(),
            "{ty}: fixture sizes"
        );
        assert!(want.len() >= 8 * block, "{ty}: too few blocks");
        let mut got = vec![f32::NAN; want.len()];
        dequantize_row(ty, &bytes, &mut got).unwrap_or_else(|e| panic!("{ty}: {e}"));
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                g.to_bits(),
                w.to_bits(),
                "{ty}: element {i} (block {}, index {}): {g} != {w}",
                i / block,
                i % block
            );
        }
        // The fixtures exercise the formats: values of both signs, many distinct ones.
        let mut distinct: Vec<u32> = want.iter().map(|v| v.to_bits()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(
            distinct.len() > want.len() / 16,
            "{ty}: {} distinct",
            distinct.len()
        );
        assert!(want.iter().any(|&v| v < 0.0) && want.iter().any(|&v| v > 0.0));
    }
}

#[test]
fn type_table_matches_gguf_py() {
    let text = String::from_utf8(fixture("types.tsv")).unwrap();
    let mut seen = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        let [name, id, block, bytes] = f[..] else {
            panic!("bad line {line:?}")
        };
        let ty = GgmlType::from_id(id.parse().unwrap()).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(ty.name(), name);
        let layout = (block.parse().unwrap(), bytes.parse().unwrap());
        if ty == GgmlType::Q8_1 {
            // gguf-py still gives Q8_1 the 40 bytes of its old f32 scales; ggml's block_q8_1 has
            // two f16 (static_assert in ggml-common.h: 2 * sizeof(ggml_half) + 32).
            assert_eq!((layout, ty.block_layout()), ((32, 40), Some((32, 36))));
        } else {
            assert_eq!(ty.block_layout(), Some(layout), "{name}");
        }
        seen += 1;
    }
    assert!(seen >= 34, "{seen} types in the fixture");
}
