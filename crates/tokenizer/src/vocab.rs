//! The vocabulary as the GGUF file lists it: token texts and types, by id.

use crate::byte_level;

/// A token's kind, from `tokenizer.ggml.token_type` (llama.cpp's numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    /// Ordinary text, written in the byte-level alphabet.
    Normal,
    /// The unknown-token placeholder.
    Unknown,
    /// Markup such as `<|im_start|>`: only written in text when special tokens are parsed.
    Control,
    /// Added by the model author; always matched in text, kept as plain UTF-8.
    UserDefined,
    /// Reserved, never produced.
    Unused,
    /// A raw byte token (SentencePiece style).
    Byte,
}

impl TokenType {
    /// Unknown numbers are read as normal tokens, as llama.cpp does for type 0.
    pub fn from_gguf(value: i64) -> Self {
        match value {
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            _ => Self::Normal,
        }
    }

    /// Tokens whose text is plain UTF-8 rather than the byte-level alphabet, and which are
    /// matched whole in input text before BPE runs.
    pub fn is_special(self) -> bool {
        matches!(self, Self::Unknown | Self::Control | Self::UserDefined)
    }
}

/// Token texts and types, shared (behind an `Arc`) by the tokenizer and its stream decoders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocab {
    pub texts: Vec<String>,
    pub types: Vec<TokenType>,
}

impl Vocab {
    /// The bytes a token stands for; empty for an id outside the vocabulary.
    pub fn bytes_into(&self, id: u32, out: &mut Vec<u8>) {
        let (Some(text), Some(kind)) = (self.texts.get(id as usize), self.types.get(id as usize))
        else {
            return;
        };
        if kind.is_special() {
            out.extend_from_slice(text.as_bytes());
        } else {
            byte_level::decode_into(text, out);
        }
    }
}
