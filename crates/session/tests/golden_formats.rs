//! Fidelity against llama.cpp in other weight formats: the default model as llama.cpp's quantizer
//! makes it in each file type of tests/golden/formats (`cargo xtask setup` makes the very same
//! files with tokscope's quantizer), run with f32 arithmetic on the CPU backend and on the GPU
//! backend (lavapipe in CI), equals llama.cpp on that file dequantized to F32 with an f32 KV
//! cache: the same tokens for the prompts, and at every teacher-forced position the same top-1
//! (margin > 1e-3), top-20 logprobs within 0.01 and the entropy within 1e-3 nats.

mod common;

use common::{assert_teacher_forced, golden, golden_format_model, ids, root};
use tokscope_model::cpu::Precision;
use tokscope_session::Session;

/// The file types of tests/golden/formats, one test each per backend.
const FTYPES: [&str; 8] = [
    "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q5_1", "IQ4_NL", "IQ4_XS",
];

#[derive(Clone, Copy, Debug)]
enum Backend {
    Cpu,
    #[cfg(feature = "gpu")]
    Gpu,
}

fn matches_llama_cpp(ftype: &str, backend: Backend) {
    let g = golden(&format!("formats/{ftype}.json"));
    assert_eq!(g["ftype"], ftype);
    let file = golden_format_model(&g);
    let types: Vec<&str> = file.tensors.iter().map(|t| t.ggml_type.name()).collect();
    assert_eq!(
        serde_json::json!(types),
        g["tensor_types"],
        "{ftype}: tensor types"
    );
    let tokenizer = tokscope_tokenizer::Tokenizer::from_gguf(&file.metadata).unwrap();
    for prompt in g["prompts"].as_array().unwrap() {
        let text = prompt["text"].as_str().unwrap();
        let special = prompt["special"].as_bool().unwrap();
        assert_eq!(
            tokenizer.encode(text, special).unwrap(),
            ids(&prompt["prompt_ids"]),
            "{ftype} {}: tokens",
            prompt["name"]
        );
    }
    let session = match backend {
        Backend::Cpu => Session::cpu(file, 2, Some(512), Precision::Exact),
        #[cfg(feature = "gpu")]
        Backend::Gpu => {
            let ctx = tokscope_gpu::GpuContext::new_blocking()
                .expect("a WebGPU adapter (lavapipe in CI)");
            Session::gpu(&ctx, file, Some(512))
        }
    };
    let mut session = session.unwrap_or_else(|e| panic!("{ftype} on {backend:?}: {e}"));
    let checked = assert_teacher_forced(&mut session, &g);
    eprintln!("{ftype} on {backend:?}: {checked:?}");
    assert_eq!(
        checked.positions, 32,
        "{ftype}: 2 prompts of 16 teacher-forced positions"
    );
}

/// One test per file type on a backend.
macro_rules! per_format {
    ($backend:expr) => {
        use super::{Backend, matches_llama_cpp};

        #[test]
        fn q2_k() {
            matches_llama_cpp("Q2_K", $backend);
        }

        #[test]
        fn q3_k_m() {
            matches_llama_cpp("Q3_K_M", $backend);
        }

        #[test]
        fn q4_k_m() {
            matches_llama_cpp("Q4_K_M", $backend);
        }

        #[test]
        fn q5_k_m() {
            matches_llama_cpp("Q5_K_M", $backend);
        }

        #[test]
        fn q6_k() {
            matches_llama_cpp("Q6_K", $backend);
        }

        #[test]
        fn q5_1() {
            matches_llama_cpp("Q5_1", $backend);
        }

        #[test]
        fn iq4_nl() {
            matches_llama_cpp("IQ4_NL", $backend);
        }

        #[test]
        fn iq4_xs() {
            matches_llama_cpp("IQ4_XS", $backend);
        }
    };
}

mod cpu {
    per_format!(Backend::Cpu);
}

#[cfg(feature = "gpu")]
mod gpu {
    per_format!(Backend::Gpu);
}

/// Every golden file has its test above (setup makes a model for each file there).
#[test]
fn every_golden_format_is_tested() {
    let mut found: Vec<String> = std::fs::read_dir(root().join("tests/golden/formats"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .collect();
    found.sort();
    let mut want: Vec<String> = FTYPES.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(found, want);
}
