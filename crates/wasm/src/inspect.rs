//! What a model file is, read from its header alone before any weight is: its architecture,
//! the shapes that size its KV cache, and its tensor formats with their bytes. The page shows
//! these and estimates memory from them (web/src/lib/memory.ts) before it asks for a load, and
//! it works on files the engine cannot compute with (an architecture or type it lacks).

use std::collections::BTreeMap;

use serde::Serialize;
use tokscope_gguf::{Header, Metadata};
use tsify::Tsify;
use wasm_bindgen::prelude::*;

use crate::js_error;
use crate::load::{Blob, BlobFile};

/// Bytes a wasm32 instance can address: its memory's ceiling.
const ADDRESS_SPACE: u64 = 1 << 32;
/// The largest single allocation Rust makes on wasm32 (`isize::MAX`).
const MAX_ALLOCATION: u64 = i32::MAX as u64;

/// Tensors of one ggml type.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Tsify)]
pub struct TypeShare {
    pub count: usize,
    pub bytes: f64,
}

/// A model file's header, as the model bar shows it before loading (absent values as null).
#[derive(Clone, Debug, PartialEq, Serialize, Tsify)]
#[tsify(missing_as_null)]
pub struct HeaderFacts {
    pub name: Option<String>,
    pub architecture: String,
    pub file_bytes: f64,
    /// Bytes before the tensor data (metadata, vocabulary): parsed into wasm memory either way.
    pub header_bytes: f64,
    /// Bytes of all tensors, and of the largest one.
    pub tensor_bytes: f64,
    pub largest_tensor: f64,
    pub parameters: f64,
    /// Per ggml type name, e.g. `{"Q4_K": {count: 96, bytes: …}}`.
    #[tsify(type = "Record<string, TypeShare>")]
    pub tensor_types: BTreeMap<String, TypeShare>,
    pub layers: Option<f64>,
    pub embedding: Option<f64>,
    pub feed_forward: Option<f64>,
    pub kv_heads: Option<f64>,
    /// Width of one head's keys and of its values.
    pub key_length: Option<f64>,
    pub value_length: Option<f64>,
    pub vocab_size: Option<f64>,
    pub context_train: Option<f64>,
    /// What this engine's wasm32 instance can address, and its largest single allocation.
    pub address_space: f64,
    pub max_allocation: f64,
}

impl HeaderFacts {
    /// The facts of a parsed header of a `file_bytes`-byte file.
    pub fn of(header: &Header, file_bytes: u64) -> Self {
        let m = &header.metadata;
        let arch = m.get_str("general.architecture").unwrap_or("unknown");
        let key = |k: &str| format!("{arch}.{k}");
        let num = |k: &str| hyperparameter(m, &key(k));
        let mut tensor_types: BTreeMap<String, TypeShare> = BTreeMap::new();
        for t in &header.tensors {
            let share = tensor_types.entry(t.ggml_type.to_string()).or_default();
            share.count += 1;
            share.bytes += t.n_bytes as f64;
        }
        let embedding = num("embedding_length");
        let heads = num("attention.head_count");
        let head_dim = match (embedding, heads) {
            (Some(d), Some(h)) if h > 0.0 => Some((d / h).floor()),
            _ => None,
        };
        let vocab = m
            .get("tokenizer.ggml.tokens")
            .and_then(|v| v.as_array())
            .map(|a| a.len() as f64)
            .or_else(|| num("vocab_size"));
        HeaderFacts {
            name: m.get_str("general.name").map(str::to_string),
            architecture: arch.to_string(),
            file_bytes: file_bytes as f64,
            header_bytes: header.data_offset as f64,
            tensor_bytes: header.tensors.iter().map(|t| t.n_bytes as f64).sum(),
            largest_tensor: header.tensors.iter().map(|t| t.n_bytes).max().unwrap_or(0) as f64,
            parameters: header.tensors.iter().map(|t| t.n_elements as f64).sum(),
            tensor_types,
            layers: num("block_count"),
            embedding,
            feed_forward: num("feed_forward_length"),
            kv_heads: num("attention.head_count_kv").or(heads),
            key_length: num("attention.key_length").or(head_dim),
            value_length: num("attention.value_length").or(head_dim),
            vocab_size: vocab,
            context_train: num("context_length"),
            address_space: ADDRESS_SPACE as f64,
            max_allocation: MAX_ALLOCATION as f64,
        }
    }
}

/// A hyperparameter: a number, or the largest of a per-layer array (some files give one per layer).
fn hyperparameter(m: &Metadata, key: &str) -> Option<f64> {
    let value = m.get(key)?;
    if let Some(n) = value.as_u64() {
        return Some(n as f64);
    }
    let values = value.as_array()?.to_i64s()?;
    values.into_iter().max().map(|n| n.max(0) as f64)
}

/// Reads the header of the GGUF file in `model` (a `Blob`) and nothing else: resolves to its
/// `HeaderFacts`, or rejects with why it is not a GGUF file.
#[wasm_bindgen(js_name = inspectModel, unchecked_return_type = "HeaderFacts")]
pub fn inspect_model(model: Blob) -> Result<JsValue, JsError> {
    let file = BlobFile::new(model, None).map_err(js_error)?;
    let header = file.header().map_err(js_error)?;
    crate::to_js(&HeaderFacts::of(&header, file.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokscope_gguf::{GgmlType, GgufWriter, Value};

    #[test]
    fn reads_shapes_and_formats_of_an_architecture_the_engine_lacks() {
        let mut w = GgufWriter::new();
        w.metadata("general.architecture", Value::String("gemma3".into()))
            .metadata("gemma3.block_count", Value::U32(2))
            .metadata("gemma3.embedding_length", Value::U32(64))
            .metadata("gemma3.attention.head_count", Value::U32(4))
            .metadata("gemma3.attention.head_count_kv", Value::U32(1))
            .metadata("gemma3.attention.key_length", Value::U32(32))
            .metadata("tokenizer.ggml.tokens", Value::strings(["a", "b", "c"]));
        w.tensor_f32("a", &[64, 2], GgmlType::F32, &[0.5; 128])
            .unwrap()
            .tensor_f32("b", &[64], GgmlType::F32, &[0.5; 64])
            .unwrap()
            .tensor_f32("c", &[64, 4], GgmlType::Q8_0, &[0.5; 256])
            .unwrap();
        let bytes = w.to_bytes();
        let tokscope_gguf::PrefixParse::Complete(header) =
            Header::parse_prefix(&bytes, bytes.len() as u64).unwrap()
        else {
            panic!("the whole file holds its header");
        };
        let facts = HeaderFacts::of(&header, bytes.len() as u64);
        assert_eq!(facts.architecture, "gemma3");
        assert_eq!(facts.layers, Some(2.0));
        assert_eq!(facts.kv_heads, Some(1.0));
        assert_eq!(facts.key_length, Some(32.0));
        // No value_length: a head's width, embedding / heads.
        assert_eq!(facts.value_length, Some(16.0));
        assert_eq!(facts.vocab_size, Some(3.0));
        assert_eq!(facts.context_train, None);
        assert_eq!(facts.parameters, 448.0);
        let f32s = &facts.tensor_types["F32"];
        assert_eq!((f32s.count, f32s.bytes), (2, 768.0));
        // Q8_0: 34 bytes per 32 values.
        assert_eq!(facts.tensor_types["Q8_0"].bytes, 272.0);
        assert_eq!(facts.tensor_bytes, 1040.0);
        assert_eq!(facts.largest_tensor, 512.0);
        assert_eq!(facts.header_bytes, header.data_offset as f64);
    }
}
