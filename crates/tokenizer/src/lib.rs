//! Tokenizer and chat template of a GGUF model, built from its metadata so that prompts are
//! tokenized exactly as llama.cpp tokenizes them.
//!
//! Byte-level BPE ("gpt2" in GGUF terms, used by SmolLM2, Llama 3 and Qwen2) and SentencePiece
//! ("llama": Gemma, Llama 2, Mistral, Phi-3) are supported.

mod byte_level;
mod chat;
mod eog;
mod error;
mod pre;
mod spm;
mod stream;
mod text_index;
mod tokenizer;
mod vocab;

pub use chat::{ChatTemplate, ChatUnavailable, Message};
pub use error::{TokenizerError, VocabMismatch};
pub use stream::StreamDecoder;
pub use tokenizer::Tokenizer;
pub use vocab::TokenType;
