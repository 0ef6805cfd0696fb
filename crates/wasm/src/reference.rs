//! The CPU side of the WebGPU self-check, computed in a short-lived Web Worker of its own (the
//! page's selfCheckWorker.ts): it reads the whole file into that worker's wasm memory, which the
//! engine's worker never does on WebGPU, and the memory goes with the worker once the numbers are
//! posted. Both ends of that message live here: [`self_check_reference`] writes it,
//! [`Reference::from_js`] reads it back in the engine.

use tokscope_model::cpu::{CpuBackend, Precision};
use tokscope_tokenizer::Tokenizer;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::js_error;
use crate::load::{Blob, BlobFile, Model};
use crate::selfcheck;
use crate::yielding::Yielding;

#[wasm_bindgen(typescript_custom_section)]
const REFERENCE_TS: &str = r#"
/** The WebGPU self-check's CPU side: the fixed text's tokens, each position's logits (the model's vocabulary size
 * per position) and the milliseconds it took in its worker. */
export interface SelfCheckReference {
  tokens: Uint32Array;
  logits: Float32Array;
  ms: number;
}
"#;

/// Reads the model in `model` into memory and runs [`selfcheck::TEXT`] on a one-thread CPU
/// backend with exact arithmetic; resolves to a `SelfCheckReference`. A test's armed fault
/// (`armFault`) fires in its first forward pass.
#[wasm_bindgen(js_name = selfCheckReference, unchecked_return_type = "Promise<SelfCheckReference>")]
pub fn self_check_reference(model: Blob) -> js_sys::Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        let start = js_sys::Date::now();
        let mut model = BlobFile::new(model, None)
            .and_then(Model::open)
            .map_err(js_error)?;
        let file = model.in_memory().map_err(js_error)?;
        let tokenizer = Tokenizer::from_gguf(&file.metadata).map_err(js_error)?;
        let tokens = selfcheck::tokens(&tokenizer).map_err(js_error)?;
        // One thread: a pool of its own would start Web Workers for eight tokens.
        let mut cpu = CpuBackend::with_context(file, 1, selfcheck::N_CTX).map_err(js_error)?;
        cpu.set_precision(Precision::Exact);
        let mut cpu = Yielding::new(Box::new(cpu), None);
        let logits = selfcheck::logits(&mut cpu, &tokens)
            .await
            .map_err(js_error)?;
        let out = js_sys::Object::new();
        let set = |key: &str, value: &JsValue| js_sys::Reflect::set(&out, &key.into(), value);
        set("tokens", &js_sys::Uint32Array::from(&tokens[..]))?;
        set("logits", &js_sys::Float32Array::from(&logits[..]))?;
        set("ms", &(js_sys::Date::now() - start).into())?;
        Ok(out.into())
    })
}

/// A `SelfCheckReference` as the engine reads it.
#[derive(Debug)]
pub struct Reference {
    pub tokens: Vec<u32>,
    pub logits: Vec<f32>,
    pub ms: f64,
}

impl Reference {
    /// Reads the worker's message, checked against the model the engine loaded (`n_vocab`) and
    /// the tokens it ran on WebGPU.
    pub fn from_js(value: &JsValue, n_vocab: usize, on_gpu: &[u32]) -> Result<Self, String> {
        let get = |key: &str| js_sys::Reflect::get(value, &key.into()).ok();
        let tokens = get("tokens").and_then(|v| v.dyn_into::<js_sys::Uint32Array>().ok());
        let logits = get("logits").and_then(|v| v.dyn_into::<js_sys::Float32Array>().ok());
        let (Some(tokens), Some(logits)) = (tokens, logits) else {
            return Err("the CPU side sent no tokens and logits".into());
        };
        let ms = get("ms").and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        Self {
            tokens: tokens.to_vec(),
            logits: logits.to_vec(),
            ms,
        }
        .checked(n_vocab, on_gpu)
    }

    /// The reference, if it ran `tokens` on a model of `n_vocab` tokens.
    fn checked(self, n_vocab: usize, tokens: &[u32]) -> Result<Self, String> {
        if self.tokens != tokens {
            return Err(format!(
                "the CPU side ran tokens {:?}, WebGPU {tokens:?}",
                self.tokens
            ));
        }
        let positions = tokens.len();
        if self.logits.len() != positions * n_vocab {
            return Err(format!(
                "the CPU side sent {} logits for {positions} positions of {n_vocab}",
                self.logits.len()
            ));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(tokens: Vec<u32>, logits: usize) -> Reference {
        Reference {
            tokens,
            logits: vec![0.0; logits],
            ms: 1.0,
        }
    }

    #[test]
    fn a_reference_of_the_same_tokens_and_shape_is_taken() {
        let r = reference(vec![1, 2, 3], 3 * 10)
            .checked(10, &[1, 2, 3])
            .unwrap();
        assert_eq!(r.logits.len(), 30);
    }

    #[test]
    fn a_reference_of_other_tokens_or_shape_is_refused() {
        let err = reference(vec![1, 2], 2 * 10)
            .checked(10, &[1, 3])
            .unwrap_err();
        assert!(err.contains("tokens [1, 2], WebGPU [1, 3]"), "{err}");
        let err = reference(vec![1, 2], 3 * 10)
            .checked(10, &[1, 2])
            .unwrap_err();
        assert!(err.contains("30 logits for 2 positions of 10"), "{err}");
    }
}
