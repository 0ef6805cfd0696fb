//! A model file held in memory (mapped natively, owned in the browser) with its parsed directory.

use std::borrow::Cow;
use std::ops::Deref;
use std::sync::Arc;

use crate::config::Config;
use crate::error::{ModelError, Result};
use tokscope_gguf::{GgmlType, Gguf, Header, Metadata, TensorInfo};

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

/// Byte ranges of a model file, from wherever the file is: memory (a [`ModelFile`] with its
/// bytes), or piece by piece from storage (the browser reads a `Blob` slice by slice), so that a
/// backend uploading its weights to a GPU never needs the whole file in memory at once.
pub trait TensorSource {
    /// `len` bytes at `offset` from the start of the file.
    fn read(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>>;
}

/// A parsed model file: metadata, tensor directory and the bytes the tensors live in. Cloning shares the
/// bytes (an `Arc`), so two backends over one file (a draft and a target) map the weights once.
///
/// A file made by [`ModelFile::from_header`] holds no tensor bytes (`bytes` is empty): its tensors
/// are read through a [`TensorSource`], and whatever needs them in memory (the CPU backend) gets
/// an error instead.
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

    /// A file of which only the header is in memory (the browser's WebGPU path): tensors are
    /// read from a [`TensorSource`] while they are uploaded.
    pub fn from_header(header: Header) -> Result<Self> {
        Self::from_parts(header, ModelBytes::Owned(Vec::new()))
    }

    /// A header parsed from a prefix with the whole file's bytes read since (the browser's CPU
    /// path): no second parse. The bytes must be the file the header was checked against.
    pub fn from_header_and_bytes(header: Header, bytes: ModelBytes) -> Result<Self> {
        if bytes.len() as u64 != header.file_len {
            return Err(ModelError::Invalid(format!(
                "{} bytes given for a {}-byte file",
                bytes.len(),
                header.file_len
            )));
        }
        Self::from_parts(header, bytes)
    }

    fn from_parts(header: Header, bytes: ModelBytes) -> Result<Self> {
        let config = Config::from_metadata(
            &header.metadata,
            header.tensors.iter().map(|t| t.name.as_str()),
        )?;
        Ok(Self {
            bytes: Arc::new(bytes),
            version: header.version,
            metadata: header.metadata,
            tensors: header.tensors,
            config,
        })
    }

    /// Whether the tensors' bytes are in memory (false for [`ModelFile::from_header`]).
    pub fn has_data(&self) -> bool {
        let end = self.tensors.iter().map(|t| t.file_offset + t.n_bytes).max();
        self.bytes.len() as u64 >= end.unwrap_or(0)
    }

    pub fn tensor(&self, name: &str) -> Result<&TensorInfo> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| ModelError::MissingTensor(name.to_string()))
    }

    /// The raw bytes of a tensor; an error for a file that holds only its header.
    pub fn data(&self, t: &TensorInfo) -> Result<&[u8]> {
        let start = t.file_offset as usize;
        self.bytes
            .get(start..start + t.n_bytes as usize)
            .ok_or_else(|| not_in_memory(&t.name))
    }

    /// A 2-D weight of `rows` × `cols`, checked for shape, for a type we compute with and, when
    /// its bytes are in memory, by [`check_weight_data`].
    pub fn weight(&self, name: &str, rows: usize, cols: usize) -> Result<WeightRef> {
        self.weight_of(name, rows, cols, &|ty| check_type(name, ty).is_ok())
    }

    /// [`ModelFile::weight`] for a backend that computes with the types `supported` accepts (the
    /// GPU's format table); another type is [`ModelError::UnsupportedType`].
    pub fn weight_of(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
        supported: &dyn Fn(GgmlType) -> bool,
    ) -> Result<WeightRef> {
        let t = self.tensor(name)?;
        let expected = vec![cols as u64, rows as u64];
        if t.dims != expected {
            return Err(ModelError::BadShape {
                name: name.into(),
                found: t.dims.clone(),
                expected,
            });
        }
        if !supported(t.ggml_type) {
            return Err(ModelError::UnsupportedType {
                name: name.into(),
                ty: t.ggml_type,
            });
        }
        // A file of which only the header is in memory is checked by whoever reads the bytes.
        if let Ok(data) = self.data(t) {
            check_weight_data(name, t.ggml_type, data)?;
        }
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
        self.vector_from(self, name, len)
    }

    /// [`ModelFile::vector`] with the tensor's bytes read from `source`.
    pub fn vector_from(
        &self,
        source: &dyn TensorSource,
        name: &str,
        len: usize,
    ) -> Result<Vec<f32>> {
        let t = self.tensor(name)?;
        if t.dims != [len as u64] {
            return Err(ModelError::BadShape {
                name: name.into(),
                found: t.dims.clone(),
                expected: vec![len as u64],
            });
        }
        check_type(name, t.ggml_type)?;
        let data = source.read(t.file_offset, t.n_bytes as usize)?;
        let mut out = vec![0.0; len];
        tokscope_gguf::blocks::dequantize_row(t.ggml_type, &data, &mut out)
            .map_err(|e| ModelError::Invalid(format!("{name}: {e}")))?;
        Ok(out)
    }
}

/// The file's own bytes; an error where they are not in memory (a header-only file).
impl TensorSource for ModelFile {
    fn read(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>> {
        let range = usize::try_from(offset)
            .ok()
            .and_then(|start| Some(start..start.checked_add(len)?));
        match range.and_then(|r| self.bytes.get(r)) {
            Some(bytes) => Ok(Cow::Borrowed(bytes)),
            None => Err(not_in_memory(&format!("bytes {offset}..+{len}"))),
        }
    }
}

fn not_in_memory(what: &str) -> ModelError {
    ModelError::Invalid(format!(
        "{what} of the model file are not in memory (only its header was read)"
    ))
}

/// Checks a weight's bytes before computing with them: whole blocks, every scale finite (a NaN
/// or infinite scale would turn its whole block, and then every logit, into garbage).
pub fn check_weight_data(name: &str, ty: GgmlType, data: &[u8]) -> Result<()> {
    tokscope_gguf::blocks::check_blocks(ty, data)
        .map(drop)
        .map_err(|e| ModelError::Invalid(format!("tensor {name:?}: {e}")))
}

/// Whether tokscope computes with weights of type `ty` (on the CPU backend: every type with a
/// dot format, as llama.cpp's CPU backend pairs them; the GPU backend refuses what its kernels do
/// not read when it loads them).
pub fn computable(ty: GgmlType) -> bool {
    tokscope_gguf::blocks::vec_dot_type(ty).is_some()
}

/// The names of the [`computable`] types, for messages.
pub fn computable_names() -> String {
    GgmlType::all()
        .filter(|&t| computable(t))
        .map(GgmlType::name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_type(name: &str, ty: GgmlType) -> Result<()> {
    if computable(ty) {
        Ok(())
    } else {
        Err(ModelError::UnsupportedType {
            name: name.into(),
            ty,
        })
    }
}
