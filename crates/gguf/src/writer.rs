//! A GGUF writer for tests: builds tiny models in memory, quantizing f32 values with the
//! reference quantizers, so that readers and backends can be tested without model files.

use crate::blocks::{BlockError, quantize_row};
use crate::metadata::{Array, Value};
use crate::reader::DEFAULT_ALIGNMENT;
use crate::types::GgmlType;

/// Builds a GGUF file: metadata in insertion order, tensors in insertion order, each tensor's
/// data aligned to the file's alignment.
#[derive(Clone, Debug)]
pub struct GgufWriter {
    version: u32,
    metadata: Vec<(String, Value)>,
    tensors: Vec<PendingTensor>,
}

#[derive(Clone, Debug)]
struct PendingTensor {
    name: String,
    dims: Vec<u64>,
    ggml_type: GgmlType,
    bytes: Vec<u8>,
}

impl Default for GgufWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl GgufWriter {
    /// An empty GGUF v3 file with the default alignment (32).
    pub fn new() -> Self {
        Self {
            version: 3,
            metadata: Vec::new(),
            tensors: Vec::new(),
        }
    }

    /// Sets the header's version number (2 and 3 share one layout; others make invalid files).
    pub fn version(&mut self, v: u32) -> &mut Self {
        self.version = v;
        self
    }

    /// Adds a key, or replaces its value in place if it is already there.
    pub fn metadata(&mut self, key: &str, value: Value) -> &mut Self {
        match self.metadata.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.metadata.push((key.to_string(), value)),
        }
        self
    }

    /// Adds a tensor given as f32 values in ggml order (`dims[0]` contiguous), quantized row by
    /// row to `t`.
    pub fn tensor_f32(
        &mut self,
        name: &str,
        dims: &[u64],
        t: GgmlType,
        values: &[f32],
    ) -> Result<&mut Self, BlockError> {
        let n = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(usize::MAX);
        if n != values.len() {
            return Err(BlockError::Length {
                expected: n,
                found: values.len(),
            });
        }
        let row_len = dims.first().map_or(1, |&d| d as usize);
        let mut bytes = Vec::new();
        if row_len > 0 {
            for row in values.chunks(row_len) {
                bytes.extend(quantize_row(t, row)?);
            }
        }
        Ok(self.tensor_raw(name, dims, t, bytes))
    }

    /// Adds a tensor's bytes as they are: no check of their size against `dims` and `t`, so
    /// tests can also write unsupported types and inconsistent files.
    pub fn tensor_raw(
        &mut self,
        name: &str,
        dims: &[u64],
        t: GgmlType,
        bytes: Vec<u8>,
    ) -> &mut Self {
        self.tensors.push(PendingTensor {
            name: name.to_string(),
            dims: dims.to_vec(),
            ggml_type: t,
            bytes,
        });
        self
    }

    /// The alignment the file is laid out with: `general.alignment` when it is a usable power of
    /// two, else the default. (An unusable value is still written, for tests of the reader.)
    fn alignment(&self) -> usize {
        self.metadata
            .iter()
            .find(|(k, _)| k == "general.alignment")
            .and_then(|(_, v)| v.as_u64())
            .filter(|a| a.is_power_of_two() && *a <= 1 << 20)
            .unwrap_or(DEFAULT_ALIGNMENT) as usize
    }

    /// The complete file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let alignment = self.alignment();
        let mut out = Vec::new();
        out.extend(b"GGUF");
        out.extend(self.version.to_le_bytes());
        out.extend((self.tensors.len() as u64).to_le_bytes());
        out.extend((self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            put_string(&mut out, key);
            out.extend(value.value_type().id().to_le_bytes());
            put_value(&mut out, value);
        }
        let mut offset = 0usize;
        for t in &self.tensors {
            put_string(&mut out, &t.name);
            out.extend((t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                out.extend(d.to_le_bytes());
            }
            out.extend(t.ggml_type.id().to_le_bytes());
            out.extend((offset as u64).to_le_bytes());
            offset = (offset + t.bytes.len()).next_multiple_of(alignment);
        }
        for t in &self.tensors {
            out.resize(out.len().next_multiple_of(alignment), 0);
            out.extend(&t.bytes);
        }
        if !self.tensors.is_empty() {
            out.resize(out.len().next_multiple_of(alignment), 0);
        }
        out
    }
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

/// Writes a value's payload (its type tag is written by the caller).
fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::U8(v) => out.push(*v),
        Value::I8(v) => out.extend(v.to_le_bytes()),
        Value::U16(v) => out.extend(v.to_le_bytes()),
        Value::I16(v) => out.extend(v.to_le_bytes()),
        Value::U32(v) => out.extend(v.to_le_bytes()),
        Value::I32(v) => out.extend(v.to_le_bytes()),
        Value::F32(v) => out.extend(v.to_le_bytes()),
        Value::Bool(v) => out.push(u8::from(*v)),
        Value::String(s) => put_string(out, s),
        Value::Array(a) => put_array(out, a),
        Value::U64(v) => out.extend(v.to_le_bytes()),
        Value::I64(v) => out.extend(v.to_le_bytes()),
        Value::F64(v) => out.extend(v.to_le_bytes()),
    }
}

/// Writes an array: element type, count, elements.
fn put_array(out: &mut Vec<u8>, array: &Array) {
    out.extend(array.elem_type().id().to_le_bytes());
    out.extend((array.len() as u64).to_le_bytes());
    fn each<T: Copy, const N: usize>(out: &mut Vec<u8>, v: &[T], bytes: fn(T) -> [u8; N]) {
        for &x in v {
            out.extend(bytes(x));
        }
    }
    match array {
        Array::U8(v) => out.extend(v),
        Array::I8(v) => each(out, v, i8::to_le_bytes),
        Array::U16(v) => each(out, v, u16::to_le_bytes),
        Array::I16(v) => each(out, v, i16::to_le_bytes),
        Array::U32(v) => each(out, v, u32::to_le_bytes),
        Array::I32(v) => each(out, v, i32::to_le_bytes),
        Array::F32(v) => each(out, v, f32::to_le_bytes),
        Array::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        Array::String(v) => v.iter().for_each(|s| put_string(out, s)),
        Array::Array(v) => v.iter().for_each(|a| put_array(out, a)),
        Array::U64(v) => each(out, v, u64::to_le_bytes),
        Array::I64(v) => each(out, v, i64::to_le_bytes),
        Array::F64(v) => each(out, v, f64::to_le_bytes),
    }
}
