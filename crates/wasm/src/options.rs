//! What the worker sends to start a run, deserialised from plain JS objects. Each type derives its
//! TypeScript declaration (tsify), which the page imports from the wasm-bindgen `.d.ts`.

use serde::Deserialize;
use tokscope_dist::{DEFAULT_MAX_NGRAM, SamplingParams};
use tokscope_gpu::{AttentionSplit, LoadOptions, MatvecVariant};
use tokscope_model::cpu::Precision;
use tokscope_session::{
    BranchOptions, CompareMode, CompareOptions, DEFAULT_GAMMA, GenerateOptions, ModeName, Prompt,
    ScoreOptions,
};
use tsify::Tsify;

/// The greatest number of draft sequences (K) the page may ask for: each one costs γ more draft forward passes
/// per round on the browser's single thread, so the page keeps to fewer than the CLI's 16.
pub const MAX_PAGE_DRAFTS: usize = 8;

/// The prompt as the page describes it: raw text, or a chat turn with an optional system prompt.
#[derive(Clone, Debug, Deserialize, PartialEq, Tsify)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PromptRequest {
    Raw {
        text: String,
    },
    Chat {
        #[serde(default)]
        system: Option<String>,
        user: String,
    },
}

impl From<PromptRequest> for Prompt {
    fn from(p: PromptRequest) -> Self {
        match p {
            PromptRequest::Raw { text } => Prompt::Raw(text),
            PromptRequest::Chat { system, user } => Prompt::Chat {
                system: system.filter(|s| !s.is_empty()),
                user,
            },
        }
    }
}

/// Settings of a generate run; the defaults are the CLI's (`GenerateOptions::default`), and the sampling
/// settings travel to the session as they came.
#[derive(Clone, Debug, Deserialize, PartialEq, Tsify)]
#[serde(default)]
pub struct GenerateRequest {
    pub prompt: PromptRequest,
    pub max_tokens: usize,
    #[serde(flatten)]
    pub sampling: SamplingParams,
    pub seed: u64,
    pub top_n: usize,
    pub ignore_eos: bool,
}

impl Default for GenerateRequest {
    fn default() -> Self {
        let g = GenerateOptions::default();
        Self {
            prompt: PromptRequest::Raw {
                text: String::new(),
            },
            max_tokens: g.max_tokens,
            sampling: g.sampling,
            seed: g.seed,
            top_n: g.top_n,
            ignore_eos: g.ignore_eos,
        }
    }
}

impl From<GenerateRequest> for GenerateOptions {
    fn from(r: GenerateRequest) -> Self {
        GenerateOptions {
            prompt: r.prompt.into(),
            max_tokens: r.max_tokens,
            sampling: r.sampling,
            seed: r.seed,
            top_n: r.top_n,
            ignore_eos: r.ignore_eos,
        }
    }
}

/// Settings of a score run: `text` is tokenized as plain text (as `tokscope score --text` does).
#[derive(Clone, Debug, Deserialize, PartialEq, Tsify)]
#[serde(default)]
pub struct ScoreRequest {
    pub prompt: PromptRequest,
    pub text: String,
    pub top_n: usize,
    /// Fraction of lowest-scoring tokens for Min-K% and Min-K%++.
    pub k: f64,
}

impl Default for ScoreRequest {
    fn default() -> Self {
        Self {
            prompt: PromptRequest::Raw {
                text: String::new(),
            },
            text: String::new(),
            top_n: GenerateOptions::default().top_n,
            k: ScoreOptions::DEFAULT_K,
        }
    }
}

/// How the worker asks for a model: context, backend, what it learnt of the WebGPU adapter, and
/// optionally the matvec variant (benchmarks) and the CPU arithmetic.
#[derive(Clone, Debug, Deserialize, PartialEq, Tsify)]
#[serde(default)]
pub struct LoadRequest {
    /// Positions of the KV cache; `tokscope_model::context::DEFAULT_CONTEXT` when absent, at most the
    /// model's training context.
    pub n_ctx: Option<usize>,
    pub backend: BackendChoice,
    pub adapter: Option<AdapterHint>,
    /// Overrides the engine's choice of GPU matvec (benchmarks).
    pub matvec: Option<MatvecChoice>,
    /// Overrides how GPU attention splits a decode step's positions (benchmarks and tests; the
    /// engine's choice: unsplit on an adapter that runs on the CPU, else
    /// `tokscope_gpu::AttentionSplit::GPU`).
    pub attention_split: Option<AttentionSplitChoice>,
    /// The CPU backend's arithmetic; exact when absent.
    pub precision: Option<PrecisionChoice>,
    /// CPU threads (1 when absent); more than one runs only in the threaded build, which the
    /// worker loads on a cross-origin isolated page.
    pub threads: usize,
    /// Test-only: a deliberately wrong GPU kernel (`tokscope_gpu::LoadOptions::test_wrong_embedding`),
    /// which the WebGPU self-check must catch; the page asks for it only behind its test flag.
    pub test_wrong_kernel: bool,
}

impl Default for LoadRequest {
    fn default() -> Self {
        Self {
            n_ctx: None,
            backend: BackendChoice::Auto,
            adapter: None,
            matvec: None,
            attention_split: None,
            precision: None,
            threads: 1,
            test_wrong_kernel: false,
        }
    }
}

/// Chunks of at least `min_len` positions, at most `max_chunks` (1: unsplit), one workgroup each
/// (see `tokscope_gpu::AttentionSplit`).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Tsify)]
pub struct AttentionSplitChoice {
    pub min_len: u32,
    pub max_chunks: u32,
}

/// Which compute backend runs the model.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, Tsify)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// WebGPU where the browser has a hardware adapter, else the CPU.
    #[default]
    Auto,
    Webgpu,
    Cpu,
}

/// The GPU matvec kernels a load may ask for (see `tokscope_gpu::MatvecVariant`).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Tsify)]
#[serde(rename_all = "lowercase")]
pub enum MatvecChoice {
    Workgroup,
    Rowwise,
    Subgroup,
}

/// The CPU backend's arithmetic: "exact" (f32 activations, llama.cpp's f32 numbers) or "q8"
/// (8-bit activations and integer dot products, as llama.cpp's CPU backend and wllama compute:
/// faster, and noisier by up to ~1 nat of logprob on small models).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Tsify)]
#[serde(rename_all = "lowercase")]
pub enum PrecisionChoice {
    Exact,
    Q8,
}

/// The WebGPU adapter as the browser describes it (`GPUAdapterInfo`): wgpu sees none of it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Tsify)]
#[serde(default)]
pub struct AdapterHint {
    /// "google swiftshader", "nvidia ampere", ...
    pub description: String,
    /// True for an adapter that runs on the CPU (SwiftShader, a fallback adapter).
    pub software: bool,
    /// True where the worker has the device requested with WebGPU's `subgroups` feature, which
    /// wgpu cannot do itself in the browser (gfx-rs/wgpu#10146).
    pub subgroups: bool,
}

impl LoadRequest {
    /// The CPU backend's arithmetic the request names.
    pub fn precision(&self) -> Precision {
        match self.precision {
            None | Some(PrecisionChoice::Exact) => Precision::Exact,
            Some(PrecisionChoice::Q8) => Precision::Q8,
        }
    }

    /// The GPU load options the request names.
    pub fn tuning(&self) -> LoadOptions {
        let matvec = self.matvec.map(|m| match m {
            MatvecChoice::Workgroup => MatvecVariant::Workgroup,
            MatvecChoice::Rowwise => MatvecVariant::Rowwise,
            MatvecChoice::Subgroup => MatvecVariant::Subgroup,
        });
        let attention_split = self.attention_split.map(|s| AttentionSplit {
            min_len: s.min_len.clamp(1, AttentionSplit::NONE.min_len),
            // Attention's output buffer grows with the chunks: far more than a GPU has cores
            // would only cost memory.
            max_chunks: s.max_chunks.clamp(1, 64),
        });
        LoadOptions {
            matvec,
            attention_split,
            test_wrong_embedding: self.test_wrong_kernel,
            ..LoadOptions::default()
        }
    }
}

/// Settings of a speculate run: the generate settings plus the drafter, γ (drafts per target call) and K (draft
/// sequences per round).
#[derive(Clone, Debug, Deserialize, PartialEq, Tsify)]
#[serde(default)]
pub struct SpeculateRequest {
    #[serde(flatten)]
    pub generate: GenerateRequest,
    pub gamma: usize,
    pub drafter: DrafterKind,
    /// Early exit: the target's first `layers` blocks draft.
    pub layers: usize,
    /// Prompt lookup: the longest n-gram matched.
    pub max_ngram: usize,
    /// Draft sequences per round: 1 is single-draft speculation, K > 1 multi-draft verified with K-SEQ
    /// (`Session::multidraft`).
    pub drafts: usize,
}

impl SpeculateRequest {
    /// K, checked as the CLI checks `--drafts`: 1..=[`MAX_PAGE_DRAFTS`], and above 1 only for a drafter that
    /// samples (n-gram and tri-gram drafts are deterministic: K of them would be one draft K times).
    pub fn drafts(&self) -> Result<usize, String> {
        let k = self.drafts;
        if !(1..=MAX_PAGE_DRAFTS).contains(&k) {
            return Err(format!("drafts must be in 1..={MAX_PAGE_DRAFTS}, got {k}"));
        }
        if k > 1 && self.drafter != DrafterKind::EarlyExit {
            return Err(format!(
                "{k} drafts need a drafter that samples (early exit): n-gram and tri-gram drafts are \
                 deterministic, so {k} drafts would be one draft {k} times; use 1 draft with them"
            ));
        }
        Ok(k)
    }
}

/// Which drafter a speculate run uses (a second model is a CLI-only drafter for now).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Tsify)]
#[serde(rename_all = "kebab-case")]
pub enum DrafterKind {
    Ngram,
    Trigram,
    EarlyExit,
}

impl Default for SpeculateRequest {
    fn default() -> Self {
        Self {
            generate: GenerateRequest::default(),
            gamma: DEFAULT_GAMMA,
            drafter: DrafterKind::Ngram,
            layers: 15,
            max_ngram: DEFAULT_MAX_NGRAM,
            drafts: 1,
        }
    }
}

/// Settings of a compare run over conditions of the one loaded model: generate's, whose prompt is condition a's,
/// the other conditions' prompts, and the mode with its settings (each absent one at the mode's default).
#[derive(Clone, Debug, Deserialize, PartialEq, Tsify)]
#[serde(default)]
pub struct CompareRequest {
    #[serde(flatten)]
    pub generate: GenerateRequest,
    /// Conditions b and, for arith, c.
    pub others: Vec<PromptRequest>,
    pub mode: ModeName,
    pub alpha: Option<f64>,
    pub threshold: Option<f64>,
    pub weights: Option<Vec<f64>>,
}

impl Default for CompareRequest {
    fn default() -> Self {
        Self {
            generate: GenerateRequest::default(),
            others: Vec::new(),
            mode: ModeName::A,
            alpha: None,
            threshold: None,
            weights: None,
        }
    }
}

impl CompareRequest {
    /// The session's options.
    pub fn options(self) -> CompareOptions {
        let conditions = self.others.len() + 1;
        let mode = CompareMode::from_name(
            self.mode,
            self.alpha,
            self.threshold,
            self.weights,
            conditions,
        );
        CompareOptions {
            generate: self.generate.into(),
            others: self.others.into_iter().map(Prompt::from).collect(),
            mode,
        }
    }
}

/// Settings of a branch run: continue prompt + `prefix` (an earlier run's first tokens and a chosen
/// alternative) with `samples` continuations.
#[derive(Clone, Debug, Deserialize, PartialEq, Tsify)]
#[serde(default)]
pub struct BranchRequest {
    #[serde(flatten)]
    pub generate: GenerateRequest,
    pub prefix: Vec<u32>,
    pub samples: usize,
}

impl Default for BranchRequest {
    fn default() -> Self {
        Self {
            generate: GenerateRequest::default(),
            prefix: Vec::new(),
            samples: 1,
        }
    }
}

impl From<BranchRequest> for BranchOptions {
    fn from(r: BranchRequest) -> Self {
        BranchOptions {
            generate: r.generate.into(),
            prefix: r.prefix,
            samples: r.samples,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_requests_become_the_cli_options() {
        let request: GenerateRequest = serde_json::from_str(
            r#"{"prompt":{"kind":"chat","system":"","user":"Hi"},"max_tokens":8,
                "temperature":0.8,"top_k":40,"top_p":1,"min_p":0,"seed":7,"top_n":5}"#,
        )
        .unwrap();
        let opts: GenerateOptions = request.into();
        assert_eq!(
            opts.prompt,
            Prompt::Chat {
                system: None,
                user: "Hi".into()
            }
        );
        assert_eq!((opts.max_tokens, opts.seed, opts.top_n), (8, 7, 5));
        assert_eq!(opts.sampling.temperature, 0.8);
        assert_eq!(opts.sampling.top_k, 40);
        assert_eq!(opts.sampling.repetition_penalty, 1.0);
        assert!(!opts.ignore_eos);
    }

    #[test]
    fn missing_fields_take_the_cli_defaults_and_bad_ones_are_errors() {
        let request: GenerateRequest =
            serde_json::from_str(r#"{"prompt":{"kind":"raw","text":"x"}}"#).unwrap();
        assert_eq!((request.max_tokens, request.top_n), (64, 5));
        assert_eq!(request.sampling.temperature, 1.0);
        assert!(serde_json::from_str::<GenerateRequest>(r#"{"prompt":{"kind":"poem"}}"#).is_err());
        assert!(serde_json::from_str::<GenerateRequest>(r#"{"seed":-1}"#).is_err());
    }

    #[test]
    fn mode_requests_flatten_the_generate_settings() {
        let spec: SpeculateRequest = serde_json::from_str(
            r#"{"prompt":{"kind":"raw","text":"a b a b"},"max_tokens":9,"seed":3,
                "gamma":6,"drafter":"early-exit","layers":20,"max_ngram":2}"#,
        )
        .unwrap();
        assert_eq!((spec.gamma, spec.layers, spec.max_ngram), (6, 20, 2));
        assert_eq!(spec.drafter, DrafterKind::EarlyExit);
        assert_eq!((spec.generate.max_tokens, spec.generate.seed), (9, 3));
        assert_eq!(
            spec.drafts(),
            Ok(1),
            "single-draft unless the page asks for more"
        );
        let branch: BranchRequest = serde_json::from_str(
            r#"{"prompt":{"kind":"raw","text":"x"},"prefix":[5,6],"samples":3,"top_n":7}"#,
        )
        .unwrap();
        let opts: BranchOptions = branch.into();
        assert_eq!(
            (opts.prefix, opts.samples, opts.generate.top_n),
            (vec![5, 6], 3, 7)
        );
    }

    #[test]
    fn multi_draft_needs_a_sampling_drafter_and_a_small_k() {
        let parse = |drafter: &str, drafts: usize| {
            serde_json::from_str::<SpeculateRequest>(&format!(
                r#"{{"prompt":{{"kind":"raw","text":"x"}},"drafter":"{drafter}","drafts":{drafts}}}"#
            ))
            .unwrap()
            .drafts()
        };
        assert_eq!(parse("early-exit", 2), Ok(2));
        assert_eq!(parse("early-exit", MAX_PAGE_DRAFTS), Ok(MAX_PAGE_DRAFTS));
        assert_eq!(parse("ngram", 1), Ok(1));
        assert_eq!(parse("trigram", 1), Ok(1));
        for drafter in ["ngram", "trigram"] {
            let e = parse(drafter, 2).unwrap_err();
            assert!(
                e.contains("deterministic") && e.contains("early exit"),
                "{e}"
            );
        }
        assert!(parse("early-exit", 0).unwrap_err().contains("1..=8"));
        assert!(parse("early-exit", MAX_PAGE_DRAFTS + 1).is_err());
    }

    #[test]
    fn compare_modes_are_parsed_and_unknown_ones_refused() {
        let parse = |mode: &str| {
            serde_json::from_str::<CompareRequest>(&format!(
                r#"{{"prompt":{{"kind":"raw","text":"a"}},"others":[{{"kind":"raw","text":"b"}}],
                    "mode":"{mode}","alpha":0.5,"threshold":1.5,"weights":[1,-1]}}"#
            ))
            .map(CompareRequest::options)
            .map_err(|e| e.to_string())
        };
        assert_eq!(
            parse("uscd").unwrap().mode,
            CompareMode::Uscd {
                alpha: 0.5,
                threshold: 1.5
            }
        );
        assert_eq!(
            parse("arith").unwrap().mode,
            CompareMode::Arith {
                weights: vec![1.0, -1.0]
            }
        );
        assert_eq!(parse("cd").unwrap().prompts().len(), 2);
        assert!(parse("poem").unwrap_err().contains("uscd"));
    }

    #[test]
    fn load_requests_name_a_backend_and_optionally_a_matvec_variant() {
        let r: LoadRequest = serde_json::from_str(
            r#"{"n_ctx":512,"backend":"webgpu","adapter":{"description":"google swiftshader","software":true}}"#,
        )
        .unwrap();
        assert_eq!((r.n_ctx, r.backend), (Some(512), BackendChoice::Webgpu));
        assert!(r.adapter.as_ref().unwrap().software);
        assert!(
            !r.adapter.as_ref().unwrap().subgroups,
            "subgroups unless the page says so"
        );
        assert_eq!(r.tuning().matvec, None);
        assert_eq!(r.tuning().attention_split, None);
        assert!(
            !r.tuning().test_wrong_embedding,
            "right kernels unless asked"
        );
        let wrong: LoadRequest = serde_json::from_str(r#"{"test_wrong_kernel":true}"#).unwrap();
        assert!(wrong.tuning().test_wrong_embedding);
        let r: LoadRequest = serde_json::from_str(
            r#"{"matvec":"rowwise","attention_split":{"min_len":0,"max_chunks":8}}"#,
        )
        .unwrap();
        let split = r.tuning().attention_split.unwrap();
        assert_eq!((split.min_len, split.max_chunks), (1, 8));
        assert_eq!(r.backend, BackendChoice::Auto);
        assert_eq!(r.tuning().matvec, Some(MatvecVariant::Rowwise));
        let bad = serde_json::from_str::<LoadRequest>(r#"{"matvec":"fast"}"#).unwrap_err();
        assert!(bad.to_string().contains("rowwise"), "{bad}");
        assert_eq!(r.precision(), Precision::Exact);
        let q8: LoadRequest = serde_json::from_str(r#"{"precision":"q8"}"#).unwrap();
        assert_eq!(q8.precision(), Precision::Q8);
        let bad = serde_json::from_str::<LoadRequest>(r#"{"precision":"f16"}"#).unwrap_err();
        assert!(bad.to_string().contains("q8"), "{bad}");
        let bad = serde_json::from_str::<LoadRequest>(r#"{"backend":"tpu"}"#).unwrap_err();
        assert!(bad.to_string().contains("webgpu"), "{bad}");
    }
}
