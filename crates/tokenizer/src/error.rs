//! Errors of this crate: every bad input becomes one of these, never a panic.

/// Why a tokenizer or chat template could not be built or used.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A required metadata key is absent or has the wrong type.
    #[error("GGUF metadata: {0}")]
    Metadata(String),
    /// `tokenizer.ggml.model` names a tokenizer kind tokscope does not implement yet.
    #[error(
        "unsupported tokenizer model '{0}' (tokscope supports 'gpt2' byte-level BPE and 'llama' SentencePiece; 'bert', 't5' and others are not implemented)"
    )]
    UnsupportedModel(String),
    /// SentencePiece byte fallback needs a token `<0xXX>` that the vocabulary lacks.
    #[error("the vocabulary has no byte token <0x{0:02X}> for text that needs it")]
    NoByteToken(u8),
    /// `tokenizer.ggml.pre` names a pre-tokenizer tokscope does not know.
    #[error(
        "unsupported pre-tokenizer '{0}' (supported: default, gpt-2, smollm, llama-bpe/llama3, qwen2 and their llama.cpp aliases)"
    )]
    UnsupportedPreTokenizer(String),
    /// The `tokenizers` library refused the vocabulary, merges or input.
    #[error("tokenizer: {0}")]
    Tokenizers(String),
    /// The chat template does not parse or failed while rendering.
    #[error("chat template: {0}")]
    Template(String),
}

/// Where two vocabularies first differ (speculative decoding and compare need identical ones).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VocabMismatch {
    /// The vocabularies have different sizes.
    #[error("vocabulary sizes differ: {0} vs {1}")]
    Size(usize, usize),
    /// The token with this id differs in text or type.
    #[error("token {id} differs: {left} vs {right}")]
    Token {
        id: u32,
        left: String,
        right: String,
    },
}
