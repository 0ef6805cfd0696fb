//! [`Engine`]: one loaded model inside the worker, and the runs on it.

use std::collections::BTreeMap;

use serde::Serialize;
use tokscope_model::cpu::Precision;
use tokscope_model::{ModelBytes, ModelFile};
use tokscope_session::{Event, GenerateOptions, Generation, ScoreOptions, Session};
use wasm_bindgen::prelude::*;

use crate::options::{GenerateRequest, ScoreRequest};
use crate::{js_error, to_js};

/// Context positions when the page does not choose: the f32 KV cache of the default model costs
/// 45 KiB per position, so the training context (8192) would need 370 MB of wasm memory.
const DEFAULT_N_CTX: usize = 2048;

/// What the model bar shows about a loaded model.
#[derive(Serialize)]
struct Facts {
    name: Option<String>,
    architecture: String,
    parameters: u64,
    file_bytes: usize,
    /// Tensor count per ggml type, e.g. `{"Q4_1": 210, "F32": 61}`.
    tensor_types: BTreeMap<String, usize>,
    vocab_size: usize,
    context_train: usize,
    context: usize,
    layers: usize,
    embedding: usize,
    heads: usize,
    kv_heads: usize,
    chat_template: bool,
    backend: String,
}

/// A model ready to run in the browser, on the CPU backend (one thread, simd128 kernels).
#[wasm_bindgen]
pub struct Engine {
    session: Session,
    facts: Facts,
    generation: Option<Generation>,
}

#[wasm_bindgen]
impl Engine {
    /// Parses a GGUF file and prepares the model; `n_ctx` caps the context (2048 when absent).
    /// Throws a readable message for files that are not GGUF, truncated, or of an unsupported kind.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: Vec<u8>, n_ctx: Option<usize>) -> Result<Engine, JsError> {
        let file_bytes = bytes.len();
        let file = ModelFile::from_bytes(ModelBytes::Owned(bytes)).map_err(js_error)?;
        let mut tensor_types = BTreeMap::new();
        for t in &file.tensors {
            *tensor_types.entry(t.ggml_type.to_string()).or_insert(0) += 1;
        }
        let config = &file.config;
        let context = n_ctx
            .unwrap_or(DEFAULT_N_CTX)
            .clamp(1, config.n_ctx_train.max(1));
        let mut facts = Facts {
            name: file.metadata.get_str("general.name").map(str::to_string),
            architecture: file
                .metadata
                .get_str("general.architecture")
                .unwrap_or("unknown")
                .to_string(),
            parameters: file.tensors.iter().map(|t| t.n_elements).sum(),
            file_bytes,
            tensor_types,
            vocab_size: config.n_vocab,
            context_train: config.n_ctx_train,
            context,
            layers: config.n_layer,
            embedding: config.n_embd,
            heads: config.n_head,
            kv_heads: config.n_head_kv,
            chat_template: false,
            backend: String::new(),
        };
        let session = Session::cpu(file, 1, Some(context), Precision::Exact).map_err(js_error)?;
        facts.chat_template = session.template.is_some();
        facts.backend = format!("wasm {}", session.backend().describe());
        Ok(Engine {
            session,
            facts,
            generation: None,
        })
    }

    /// The model's facts: architecture, parameters, tensor types, vocabulary, context, backend.
    pub fn facts(&self) -> Result<JsValue, JsError> {
        to_js(&self.facts)
    }

    /// Token ids of `text`; `special` parses control tokens such as `<|im_start|>`.
    pub fn tokenize(&self, text: &str, special: bool) -> Result<Vec<u32>, JsError> {
        self.session
            .tokenizer
            .encode(text, special)
            .map_err(js_error)
    }

    /// Starts a generate run (`GenerateRequest` in protocol.ts) and runs the prompt's prefill;
    /// a run already in progress is dropped.
    pub fn start_generate(&mut self, request: JsValue) -> Result<(), JsError> {
        self.generation = None;
        let request: GenerateRequest = serde_wasm_bindgen::from_value(request).map_err(js_error)?;
        let opts: GenerateOptions = request.into();
        let generation = self.session.start_generate(&opts).map_err(js_error)?;
        self.generation = Some(generation);
        Ok(())
    }

    /// The run's next event (a step, then the done event), or `undefined` when it is over.
    #[wasm_bindgen(js_name = next)]
    pub fn next_event(&mut self) -> Result<JsValue, JsError> {
        let Some(generation) = self.generation.as_mut() else {
            return Ok(JsValue::UNDEFINED);
        };
        match generation.next(&mut self.session) {
            Ok(Some(event)) => {
                if matches!(event, Event::Done(_)) {
                    self.generation = None;
                }
                to_js(&event)
            }
            Ok(None) => Ok(JsValue::UNDEFINED),
            Err(e) => {
                self.generation = None;
                Err(js_error(e))
            }
        }
    }

    /// Ends the run after the step already returned: the next `next()` gives its done event.
    pub fn stop(&mut self) {
        if let Some(generation) = self.generation.as_mut() {
            generation.stop();
        }
    }

    /// Scores `text` under the model (teacher forcing, `ScoreRequest` in protocol.ts): an array of
    /// step events with surprisal and GLTR bucket, then the done event with perplexity and Min-K%++.
    pub fn score(&mut self, request: JsValue) -> Result<JsValue, JsError> {
        self.generation = None;
        let request: ScoreRequest = serde_wasm_bindgen::from_value(request).map_err(js_error)?;
        let text = self
            .session
            .tokenizer
            .encode(&request.text, false)
            .map_err(js_error)?;
        let opts = ScoreOptions {
            prompt: request.prompt.into(),
            text,
            top_n: request.top_n,
            k: request.k,
        };
        let mut events = Vec::new();
        self.session
            .score(&opts, &mut |e| {
                events.push(e.clone());
                std::ops::ControlFlow::Continue(())
            })
            .map_err(js_error)?;
        to_js(&events)
    }
}
