//! A whole model requantized as `llama_model_quantize` does it (no importance matrix, requantizing
//! allowed): every tensor planned by the rules, dequantized with tokscope's decoders where its
//! type changes, quantized row by row, and written with the input's metadata plus the new
//! `general.file_type` and `general.quantization_version`.

use tokscope_gguf::blocks::dequantize_row;
use tokscope_gguf::{GgmlType, Gguf, GgufWriter, TensorInfo, Value};

use crate::rules::{Fallback, Hparams, plan_tensors};
use crate::{FileType, QuantError, quantize};

/// ggml's `GGML_QNT_VERSION`, written as `general.quantization_version`.
const QUANTIZATION_VERSION: u32 = 2;

/// Keys llama.cpp's quantizer does not copy as they are: the two it sets anew and the split
/// metadata it drops (the output is one file).
const REWRITTEN_KEYS: [&str; 5] = [
    "general.quantization_version",
    "general.file_type",
    "split.no",
    "split.count",
    "split.tensors.count",
];

/// How to requantize.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Every weight the default type (llama-quantize's `--pure`); fallbacks still apply.
    pub pure: bool,
    /// Threads that share each tensor's rows (the bytes do not depend on it).
    pub threads: usize,
}

/// What happened to one tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorReport {
    pub name: String,
    /// ggml order (`dims[0]` is the row width).
    pub dims: Vec<u64>,
    pub from: GgmlType,
    pub to: GgmlType,
    pub fallback: Option<Fallback>,
    /// Bytes of the tensor's data in the new file.
    pub bytes: u64,
}

/// The new file's tensors, in file order, and its size.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub ftype: FileType,
    pub tensors: Vec<TensorReport>,
    /// Bytes of the whole new file.
    pub file_bytes: u64,
}

/// The hyperparameters the rules read, from the file's metadata.
pub fn hparams(gguf: &Gguf<'_>) -> Result<Hparams, QuantError> {
    let md = &gguf.metadata;
    let arch = md
        .get_str("general.architecture")
        .ok_or_else(|| QuantError::Metadata("general.architecture is missing".into()))?
        .to_string();
    // A per-layer array (some architectures) counts by its first layer, as llama.cpp's n_gqa().
    let number = |key: &str| -> Option<u64> {
        let v = md.get(&format!("{arch}.{key}"))?;
        v.as_u64()
            .or_else(|| v.as_array()?.to_i64s()?.first().map(|&x| x.max(0) as u64))
    };
    let small = |key: &str, v: u64| {
        u32::try_from(v).map_err(|_| QuantError::Metadata(format!("{arch}.{key} = {v} is absurd")))
    };
    let n_layer = number("block_count")
        .ok_or_else(|| QuantError::Metadata(format!("{arch}.block_count is missing")))?;
    let n_head = number("attention.head_count").unwrap_or(0);
    Ok(Hparams {
        n_layer: small("block_count", n_layer)?,
        n_head: small("attention.head_count", n_head)?,
        n_head_kv: small(
            "attention.head_count_kv",
            number("attention.head_count_kv").unwrap_or(n_head),
        )?,
        n_expert: small("expert_count", number("expert_count").unwrap_or(0))?,
        arch,
    })
}

/// Requantizes `gguf` to `ftype`: the new file's bytes and what each tensor became.
pub fn quantize_model(
    gguf: &Gguf<'_>,
    ftype: FileType,
    opts: Options,
) -> Result<(Vec<u8>, Report), QuantError> {
    let hp = hparams(gguf)?;
    let list: Vec<(&str, &[u64], GgmlType)> = gguf
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t.dims.as_slice(), t.ggml_type))
        .collect();
    let plan = plan_tensors(&hp, &list, ftype, opts.pure)?;
    let mut w = GgufWriter::new();
    // llama.cpp removes these keys and appends the new values (gguf_set_val_u32), so its header
    // ends with them; the same order makes the same file, byte for byte.
    let keys = gguf
        .metadata_keys_in_file_order()
        .map_err(|e| QuantError::Metadata(e.to_string()))?;
    for k in keys
        .iter()
        .filter(|k| !REWRITTEN_KEYS.contains(&k.as_str()))
    {
        if let Some(v) = gguf.metadata.get(k) {
            w.metadata(k, v.clone());
        }
    }
    w.metadata(
        "general.quantization_version",
        Value::U32(QUANTIZATION_VERSION),
    );
    w.metadata("general.file_type", Value::U32(ftype.id()));
    let mut tensors = Vec::with_capacity(plan.len());
    for p in plan {
        let info = &gguf.tensors[p.index];
        let bytes = requantize_tensor(gguf, info, p.ty, opts.threads)?;
        tensors.push(TensorReport {
            name: p.name.clone(),
            dims: info.dims.clone(),
            from: info.ggml_type,
            to: p.ty,
            fallback: p.fallback,
            bytes: bytes.len() as u64,
        });
        w.tensor_raw(&p.name, &info.dims, p.ty, bytes);
    }
    let file = w.to_bytes();
    let report = Report {
        ftype,
        tensors,
        file_bytes: file.len() as u64,
    };
    Ok((file, report))
}

/// One tensor's data in type `to`: its bytes as they are where the type stays (as llama.cpp
/// copies them), else dequantized and quantized row by row, the rows shared among `threads`.
pub fn requantize_tensor(
    gguf: &Gguf<'_>,
    info: &TensorInfo,
    to: GgmlType,
    threads: usize,
) -> Result<Vec<u8>, QuantError> {
    let data = gguf.tensor_data(info);
    if to == info.ggml_type {
        return Ok(data.to_vec());
    }
    let values = to_f32(info.ggml_type, data, info.n_elements, &info.name)?;
    let cols = info.dims.first().copied().unwrap_or(1) as usize;
    quantize_rows(to, &values, cols.max(1), threads)
}

/// A tensor's values as f32: tokscope's decoders, bit-identical to ggml's `to_float`.
fn to_f32(t: GgmlType, data: &[u8], n: u64, name: &str) -> Result<Vec<f32>, QuantError> {
    let n = usize::try_from(n).map_err(|_| QuantError::Metadata(format!("{name} is too big")))?;
    if t == GgmlType::F32 && data.len() == 4 * n {
        return Ok(data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect());
    }
    let mut out = vec![0.0f32; n];
    dequantize_row(t, data, &mut out).map_err(|source| QuantError::Decode {
        tensor: name.to_string(),
        source,
    })?;
    Ok(out)
}

/// Quantizes rows of `cols` values to `t`, the rows shared among `threads`.
fn quantize_rows(
    t: GgmlType,
    values: &[f32],
    cols: usize,
    threads: usize,
) -> Result<Vec<u8>, QuantError> {
    let rows = values.len() / cols;
    let per = rows.div_ceil(threads.max(1)).max(1);
    if threads <= 1 || rows < 2 {
        return quantize(t, values);
    }
    let parts: Vec<Result<Vec<u8>, QuantError>> = std::thread::scope(|s| {
        let handles: Vec<_> = values
            .chunks(per * cols)
            .map(|chunk| s.spawn(move || quantize(t, chunk)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a quantizer thread panicked"))
            .collect()
    });
    let mut out = Vec::new();
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}
