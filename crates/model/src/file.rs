//! A model file held in memory (mapped natively, owned in the browser) with its parsed directory.

use std::ops::Deref;
use std::sync::Arc;

use crate::config::Config;
use crate::error::{ModelError, Result};
use tokscope_gguf::{GgmlType, Gguf, Metadata, TensorInfo};

/// The bytes of a GGUF file. A memory map keeps resident memory near the file size natively.
pub enum ModelBytes {
    Owned(Vec<u8>),
    #[cfg(not(target_arch = "wasm32"))]
    Mapped(memmap2::Mmap),
}

impl Deref for ModelBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ModelBytes::Owned(v) => v,
            #[cfg(not(target_arch = "wasm32"))]
            ModelBytes::Mapped(m) => m,
        }
    }
}

/// A parsed model file: metadata, tensor directory and the bytes the tensors live in. Cloning shares the
/// bytes (an `Arc`), so two backends over one file (a draft and a target) map the weights once.
#[derive(Clone)]
pub struct ModelFile {
    pub bytes: Arc<ModelBytes>,
    pub version: u32,
    pub metadata: Metadata,
    pub tensors: Vec<TensorInfo>,
    pub config: Config,
}

/// Where one 2-D weight lives in the file: `rows` outputs of `cols` inputs, row-major blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightRef {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub offset: usize,
    pub n_bytes: usize,
}

impl WeightRef {
    /// Bytes of one row.
    pub fn row_bytes(&self) -> usize {
        self.n_bytes / self.rows
    }
}

impl ModelFile {
    /// Maps a file from disk (natively) and parses it.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(path: &std::path::Path) -> Result<Self> {
        let io = |source| ModelError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the map is read-only; tokscope never writes the file, and a file changed by
        // another program while mapped is outside what any mmap-based model loader can guard.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Self::from_bytes(ModelBytes::Mapped(map))
    }

    /// Parses a file already in memory (the browser's CPU path, tests).
    pub fn from_bytes(bytes: ModelBytes) -> Result<Self> {
        let bytes = Arc::new(bytes);
        let g = Gguf::parse(&bytes)?;
        let config = Config::from_metadata(&g.metadata, g.tensors.iter().map(|t| t.name.as_str()))?;
        let Gguf {
            version,
            metadata,
            tensors,
            ..
        } = g;
        Ok(Self {
            bytes: bytes.clone(),
            version,
            metadata,
            tensors,
            config,
        })
    }

    pub fn tensor(&self, name: &str) -> Result<&TensorInfo> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| ModelError::MissingTensor(name.to_string()))
    }

    /// The raw bytes of a tensor (bounds were checked when the file was parsed).
    pub fn data(&self, t: &TensorInfo) -> &[u8] {
        &self.bytes[t.file_offset as usize..(t.file_offset + t.n_bytes) as usize]
    }

    /// A 2-D weight of `rows` × `cols`, checked for shape and for a type we compute with.
    pub fn weight(&self, name: &str, rows: usize, cols: usize) -> Result<WeightRef> {
        let t = self.tensor(name)?;
        let expected = vec![cols as u64, rows as u64];
        if t.dims != expected {
            return Err(ModelError::BadShape {
                name: name.into(),
                found: t.dims.clone(),
                expected,
            });
        }
        check_type(name, t.ggml_type)?;
        Ok(WeightRef {
            ty: t.ggml_type,
            rows,
            cols,
            offset: t.file_offset as usize,
            n_bytes: t.n_bytes as usize,
        })
    }

    /// A 1-D tensor (norm weights, biases) dequantized to f32.
    pub fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>> {
        let t = self.tensor(name)?;
        if t.dims != [len as u64] {
            return Err(ModelError::BadShape {
                name: name.into(),
                found: t.dims.clone(),
                expected: vec![len as u64],
            });
        }
        check_type(name, t.ggml_type)?;
        let mut out = vec![0.0; len];
        tokscope_gguf::blocks::dequantize_row(t.ggml_type, self.data(t), &mut out)
            .map_err(|e| ModelError::Invalid(format!("{name}: {e}")))?;
        Ok(out)
    }
}

fn check_type(name: &str, ty: GgmlType) -> Result<()> {
    match ty {
        GgmlType::F32
        | GgmlType::F16
        | GgmlType::BF16
        | GgmlType::Q4_0
        | GgmlType::Q4_1
        | GgmlType::Q8_0 => Ok(()),
        _ => Err(ModelError::UnsupportedType {
            name: name.into(),
            ty,
        }),
    }
}
