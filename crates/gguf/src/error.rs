//! The reader's typed errors: each names the byte offset where the file went wrong.

use thiserror::Error;

use crate::types::GgmlType;

pub type Result<T> = std::result::Result<T, GgufError>;

/// Why a byte slice is not a GGUF file this crate can read.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum GgufError {
    #[error("not a GGUF file: magic bytes {found:02x?} (expected \"GGUF\")")]
    BadMagic { found: [u8; 4] },
    #[error("unsupported GGUF version {version} at offset {offset} (2 and 3 are supported)")]
    UnsupportedVersion { version: u32, offset: usize },
    /// `needed` bytes were to be read at `offset`, past the end of the file.
    #[error("file truncated: {needed} bytes needed at offset {offset}")]
    Truncated { offset: usize, needed: usize },
    #[error("count {count} at offset {offset} is larger than the rest of the file could hold")]
    CountTooLarge { count: u64, offset: u64 },
    #[error(
        "the GGUF header runs past {limit} bytes at offset {offset}: tokscope reads headers of at most {limit} bytes"
    )]
    HeaderTooLarge { offset: usize, limit: u64 },
    #[error("unknown metadata value type {type_id} at offset {offset}")]
    UnknownValueType { type_id: u32, offset: usize },
    #[error("invalid boolean byte {value} at offset {offset}")]
    BadBool { value: u8, offset: usize },
    #[error("string at offset {offset} is not valid UTF-8")]
    BadUtf8 { offset: usize },
    #[error("arrays nested too deeply at offset {offset}")]
    TooDeep { offset: usize },
    #[error("metadata key {key:?} appears twice (second at offset {offset})")]
    DuplicateKey { key: String, offset: usize },
    #[error("tensor {name:?} appears twice (second at offset {offset})")]
    DuplicateTensor { name: String, offset: usize },
    #[error("general.alignment must be a power of two up to 1 MiB, found {0}")]
    BadAlignment(String),
    #[error("tensor {name:?} at offset {offset}: {reason}")]
    BadDims {
        name: String,
        reason: String,
        offset: usize,
    },
    #[error("tensor {name:?} has unknown ggml type {type_id} at offset {offset}")]
    UnknownTensorType {
        name: String,
        type_id: u32,
        offset: usize,
    },
    /// A type id ggml once assigned and has since removed (as ggml, no layout is assumed for it).
    #[error(
        "tensor {name:?} has ggml type {ty} (id {}) at offset {offset}, which ggml has removed: convert the file again with a current llama.cpp",
        ty.id()
    )]
    RemovedTensorType {
        name: String,
        ty: GgmlType,
        offset: usize,
    },
    #[error("tensor {name:?} data offset {offset} is not a multiple of the alignment {alignment}")]
    MisalignedTensor {
        name: String,
        offset: u64,
        alignment: u64,
    },
    #[error(
        "tensor {name:?} ({n_bytes} bytes at offset {offset}) runs past the end of the {file_len}-byte file"
    )]
    TensorOutOfBounds {
        name: String,
        offset: u64,
        n_bytes: u64,
        file_len: u64,
    },
}
