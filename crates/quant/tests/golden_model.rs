//! Whole-model files equal llama.cpp's `llama_model_quantize` output tensor for tensor: the
//! default model dequantized to F32 (checked against llama.cpp's F32 file), then requantized to
//! each golden file type: the same tensors in the same order, the same type for each (the
//! mixtures' extra bits and fallbacks) and the same bytes (tests/golden/make_quant.py).
//!
//! Bytes are compared for every tensor, except in IQ4_NL and IQ4_XS, whose search is about ten
//! times slower than the others': there for blocks 0–2 (Q5_K ffn_down), 15 and 29 and the
//! embedding. Their types are compared for every tensor.

mod common;

use common::{formats_json, golden_json, model_bytes, sha256_hex};
use tokscope_gguf::Gguf;
use tokscope_quant::{FileType, Options, hparams, plan_tensors, quantize_model, requantize_tensor};

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Which tensors' bytes a file type's check quantizes.
fn checks_bytes(ftype: FileType, name: &str) -> bool {
    if !matches!(ftype, FileType::IQ4_NL | FileType::IQ4_XS) {
        return true;
    }
    !name.starts_with("blk.")
        || ["blk.0.", "blk.1.", "blk.2.", "blk.15.", "blk.29."]
            .iter()
            .any(|b| name.starts_with(b))
}

/// The golden fingerprint: the first 16 hex digits of the sha256.
fn fingerprint(bytes: &[u8]) -> String {
    sha256_hex(bytes)[..16].to_string()
}

#[test]
fn files_match_llama_model_quantize() {
    let g = golden_json("model.json");
    let model = model_bytes();
    assert_eq!(
        sha256_hex(&model),
        g["model_sha256"].as_str().unwrap(),
        "default model"
    );
    let names: Vec<&str> = g["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let opts = Options {
        pure: false,
        threads: threads(),
    };

    // The F32 file, whole: order, types and bytes.
    let (f32_file, _) =
        quantize_model(&Gguf::parse(&model).unwrap(), FileType::ALL_F32, opts).unwrap();
    let f32_model = Gguf::parse(&f32_file).unwrap();
    let got: Vec<&str> = f32_model.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(got, names, "F32: tensor order");
    for (i, t) in f32_model.tensors.iter().enumerate() {
        assert_eq!(t.ggml_type.name(), g["f32"]["types"][i], "F32 {}", t.name);
        assert_eq!(
            fingerprint(f32_model.tensor_data(t)),
            g["f32"]["data"][i],
            "F32 {}: tokscope's dequantization differs from llama.cpp's",
            t.name
        );
    }

    let hp = hparams(&f32_model).unwrap();
    let list: Vec<_> = f32_model
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t.dims.as_slice(), t.ggml_type))
        .collect();
    let ftypes = g["ftypes"].as_object().unwrap();
    assert_eq!(ftypes.len(), 10, "the golden file types");
    let mut failures = Vec::new();
    for (name, want) in ftypes {
        let ftype = FileType::parse(name).unwrap();
        assert_eq!(
            u64::from(ftype.id()),
            want["ftype"],
            "{name}: llama_ftype id"
        );
        let plan = plan_tensors(&hp, &list, ftype, false).unwrap();
        let order: Vec<&str> = plan.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(order, names, "{name}: tensor order");
        for (i, p) in plan.iter().enumerate() {
            if p.ty.name() != want["types"][i] {
                failures.push(format!(
                    "{name} {}: {} (llama.cpp: {})",
                    p.name, p.ty, want["types"][i]
                ));
                continue;
            }
            if !checks_bytes(ftype, &p.name) {
                continue;
            }
            let info = &f32_model.tensors[p.index];
            let bytes = requantize_tensor(&f32_model, info, p.ty, threads()).unwrap();
            if fingerprint(&bytes) != want["data"][i] {
                failures.push(format!("{name} {}: {} bytes differ", p.name, p.ty));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "differences from llama.cpp:\n{}",
        failures.join("\n")
    );
}

/// Whole files, header included, equal llama.cpp's byte for byte (the SHA-256 that
/// tests/golden/formats records): the F32 dequantization and a K-quant mixture made from it.
#[test]
fn whole_files_equal_llama_cpps_byte_for_byte() {
    let g = formats_json("Q4_K_M.json");
    let model = model_bytes();
    assert_eq!(sha256_hex(&model), g["model_sha256"].as_str().unwrap());
    let opts = Options {
        pure: false,
        threads: threads(),
    };
    let (f32_file, _) =
        quantize_model(&Gguf::parse(&model).unwrap(), FileType::ALL_F32, opts).unwrap();
    assert_eq!(
        sha256_hex(&f32_file),
        g["source_f32_sha256"].as_str().unwrap(),
        "the F32 file"
    );
    let (file, report) =
        quantize_model(&Gguf::parse(&f32_file).unwrap(), FileType::Q4_K_M, opts).unwrap();
    assert_eq!(report.file_bytes, g["file_bytes"].as_u64().unwrap());
    assert_eq!(
        sha256_hex(&file),
        g["file_sha256"].as_str().unwrap(),
        "the Q4_K_M file"
    );
}

#[test]
fn a_whole_file_is_a_valid_gguf_with_the_new_file_type() {
    let model = model_bytes();
    let source = Gguf::parse(&model).unwrap();
    let opts = Options {
        pure: false,
        threads: threads(),
    };
    let (file, report) = quantize_model(&source, FileType::Q4_0, opts).unwrap();
    let out = Gguf::parse(&file).unwrap();
    assert_eq!(report.file_bytes, file.len() as u64);
    assert_eq!(
        out.metadata
            .get("general.file_type")
            .and_then(|v| v.as_u64()),
        Some(2)
    );
    assert_eq!(
        out.metadata
            .get("general.quantization_version")
            .and_then(|v| v.as_u64()),
        Some(2)
    );
    assert_eq!(
        out.metadata.get_str("tokenizer.ggml.model"),
        source.metadata.get_str("tokenizer.ggml.model")
    );
    // The tied embedding wants Q6_K, whose 256-blocks do not fit 576-wide rows: Q8_0, reported.
    let embd = report
        .tensors
        .iter()
        .find(|t| t.name == "token_embd.weight")
        .unwrap();
    assert_eq!(embd.to, tokscope_gguf::GgmlType::Q8_0);
    assert_eq!(
        embd.fallback.map(|f| f.wanted),
        Some(tokscope_gguf::GgmlType::Q6_K)
    );
    for t in &report.tensors {
        let info = out.tensor(&t.name).unwrap();
        assert_eq!(info.ggml_type, t.to, "{}", t.name);
        assert_eq!(info.n_bytes, t.bytes, "{}", t.name);
    }
}
