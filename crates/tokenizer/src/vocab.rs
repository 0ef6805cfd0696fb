//! The vocabulary as the GGUF file lists it: token texts and types, by id.

use crate::byte_level;

/// SentencePiece's stand-in for a space inside token texts (U+2581, "▁").
pub const SPACE_MARKER: char = '\u{2581}';

/// A token's kind, from `tokenizer.ggml.token_type` (llama.cpp's numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    /// Ordinary text, in the vocabulary's [`TextForm`].
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

/// How ordinary token texts spell their bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextForm {
    /// GPT-2's byte-level alphabet ("gpt2" vocabularies).
    ByteLevel,
    /// UTF-8 with U+2581 for a space, raw bytes as `<0xXX>` tokens ("llama" vocabularies).
    SentencePiece,
}

/// Token texts and types, shared (behind an `Arc`) by the tokenizer and its stream decoders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocab {
    pub texts: Vec<String>,
    pub types: Vec<TokenType>,
    pub form: TextForm,
}

impl Vocab {
    /// The bytes a token stands for, as llama.cpp's `token_to_piece` with special tokens shown;
    /// empty for an id outside the vocabulary.
    pub fn bytes_into(&self, id: u32, out: &mut Vec<u8>) {
        let (Some(text), Some(&kind)) = (self.texts.get(id as usize), self.types.get(id as usize))
        else {
            return;
        };
        if kind.is_special() {
            out.extend_from_slice(text.as_bytes());
            return;
        }
        match (self.form, kind) {
            (TextForm::ByteLevel, _) => byte_level::decode_into(text, out),
            (TextForm::SentencePiece, TokenType::Byte) => match byte_token_value(text) {
                Some(b) => out.push(b),
                None => out.extend_from_slice(text.as_bytes()),
            },
            // llama.cpp shows nothing for an unused token of a SentencePiece vocabulary.
            (TextForm::SentencePiece, TokenType::Unused) => {}
            (TextForm::SentencePiece, _) => {
                for c in text.chars() {
                    let c = if c == SPACE_MARKER { ' ' } else { c };
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
            }
        }
    }
}

/// The byte of a byte token `<0xXX>`; `None` for any other text.
fn byte_token_value(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}
