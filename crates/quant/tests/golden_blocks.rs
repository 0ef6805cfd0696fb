//! Every format's blocks equal llama.cpp's `ggml_quantize_chunk` (no importance matrix) byte for
//! byte, on rows of the default model and on adversarial rows (tests/golden/make_quant.py).

mod common;

use common::{f32_bytes, golden, golden_json, model_bytes, sha256_hex};
use tokscope_gguf::blocks::dequantize_row;
use tokscope_gguf::{GgmlType, Gguf};

/// The golden cases' input values, rebuilt here: model rows dequantized by tokscope's decoders,
/// adversarial rows from the committed file. Each is checked against the script's sha256.
fn inputs(g: &serde_json::Value) -> Vec<(String, Vec<f32>)> {
    let row_len = g["row"].as_u64().unwrap() as usize;
    let model = model_bytes();
    assert_eq!(
        sha256_hex(&model),
        g["model_sha256"].as_str().unwrap(),
        "default model"
    );
    let gguf = Gguf::parse(&model).expect("default model parses");
    let adversarial: Vec<f32> = golden("adversarial.f32")
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let mut out = Vec::new();
    for c in g["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap().to_string();
        let row = c["row"].as_u64().unwrap() as usize;
        let values = match c["source"].as_str().unwrap() {
            "model" => {
                let t = gguf.tensor(c["tensor"].as_str().unwrap()).unwrap();
                let cols = t.dims[0] as usize;
                let rb = t.ggml_type.bytes_for(cols as u64).unwrap() as usize;
                let mut v = vec![0.0f32; cols];
                let data = gguf.tensor_data(t);
                dequantize_row(t.ggml_type, &data[row * rb..(row + 1) * rb], &mut v).unwrap();
                v.truncate(row_len);
                v
            }
            "adversarial" => adversarial[row * row_len..(row + 1) * row_len].to_vec(),
            s => panic!("unknown source {s}"),
        };
        assert_eq!(
            sha256_hex(&f32_bytes(&values)),
            c["f32_sha256"].as_str().unwrap(),
            "input of case {name}"
        );
        out.push((name, values));
    }
    out
}

#[test]
fn every_format_matches_ggml_quantize_chunk() {
    let g = golden_json("blocks.json");
    let cases = inputs(&g);
    let formats = g["formats"].as_object().unwrap();
    assert_eq!(
        formats.len(),
        12,
        "every format tokscope quantizes is in the fixture"
    );
    let mut failures = Vec::new();
    for (name, want) in formats {
        let ty = GgmlType::all().find(|t| t.name() == name).unwrap();
        for ((case, x), want) in cases.iter().zip(want.as_array().unwrap()) {
            let got = tokscope_quant::quantize(ty, x).unwrap();
            if sha256_hex(&got) != want.as_str().unwrap() {
                failures.push(format!("{name}: {case}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "blocks differ from ggml's:\n{}",
        failures.join("\n")
    );
}
