//! The bridge between the web page's Web Worker and tokscope's Rust crates.
//!
//! For now it exposes the crate version and the distribution summary of a logit vector, which is
//! enough for the page (and its end-to-end test) to prove that real Rust code runs in the browser.

use wasm_bindgen::prelude::*;

/// The version of this build, so the page can show which engine it loaded.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Log-sum-exp, entropy (nats) and largest logit of `softmax(logits)`, as a plain JS object
/// `{lse, entropy, max_logit}`; throws on NaN/+inf logits or when every logit is -inf.
#[wasm_bindgen]
pub fn summarize(logits: &[f32]) -> Result<JsValue, JsError> {
    let summary = tokscope_dist::summarize(logits).map_err(|e| JsError::new(&e.to_string()))?;
    serde_wasm_bindgen::to_value(&summary).map_err(|e| JsError::new(&e.to_string()))
}
