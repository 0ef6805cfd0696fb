//! GGUF: the file format of llama.cpp models. A zero-copy reader for v2 and v3, the table of ggml
//! tensor types, the block formats tokscope decodes, and a writer that tests use to make tiny
//! models.

pub mod blocks;
pub mod error;
pub mod metadata;
pub mod reader;
pub mod types;
pub mod writer;

pub use blocks::{BlockError, Decoder, Scale};
pub use error::{GgufError, Result};
pub use metadata::{Array, Metadata, Strings, Value, ValueType};
pub use reader::{Gguf, Header, MAX_HEADER_BYTES, PrefixParse, TensorInfo};
pub use types::{GgmlType, TypeInfo};
pub use writer::GgufWriter;
