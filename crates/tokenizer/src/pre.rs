//! Pre-tokenizers, chosen by `tokenizer.ggml.pre` as llama.cpp chooses them: a list of regexes,
//! each splitting every piece left by the one before (matches and the text between them both
//! become pieces), then GPT-2's byte-level alphabet.

use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::tokenizer::SplitDelimiterBehavior;

use crate::TokenizerError;

/// GPT-2's word regex as llama.cpp writes it (without the final `\s+` alternative, which only
/// ever matches text that would become a piece of its own anyway).
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";

/// Llama 3's regex (case-insensitive contractions spelled out; digits in groups of up to three).
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen2's regex: Llama 3's with single digits.
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// How one `tokenizer.ggml.pre` value tokenizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreTokenizerKind {
    /// Regexes applied one after the other.
    pub regexes: &'static [&'static str],
    /// A word that is itself in the vocabulary is taken whole, without merging (Llama 3).
    pub ignore_merges: bool,
    /// llama.cpp's default for `add_bos_token` when the file does not say.
    pub add_bos_default: bool,
}

impl PreTokenizerKind {
    /// Looks up a `tokenizer.ggml.pre` value (an absent one means "default", as in llama.cpp).
    pub fn from_name(name: &str) -> Result<Self, TokenizerError> {
        let kind = |regexes, ignore_merges, add_bos_default| Self {
            regexes,
            ignore_merges,
            add_bos_default,
        };
        Ok(match name {
            // llama.cpp's fallback for files without a pre-tokenizer name.
            "" | "default" => kind(
                &[r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"],
                false,
                false,
            ),
            "gpt-2" | "gpt2" | "phi-2" | "mpt" | "olmo" | "jais" | "exaone4" | "trillion" => {
                kind(&[GPT2], false, false)
            }
            // Each digit on its own, then GPT-2's regex.
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
            | "minerva-7b" => kind(&[r"\p{N}", GPT2], false, false),
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "pixtral" => {
                kind(&[LLAMA3], true, true)
            }
            "dbrx" | "smaug-bpe" => kind(&[LLAMA3], false, false),
            "qwen2" | "deepseek-r1-qwen" | "megrez" | "stablelm2" => kind(&[QWEN2], false, false),
            other => return Err(TokenizerError::UnsupportedPreTokenizer(other.to_string())),
        })
    }

    /// The `tokenizers` pre-tokenizer: one isolating split per regex, then the byte-level alphabet.
    pub fn build(&self) -> Result<PreTokenizerWrapper, TokenizerError> {
        let mut steps = Vec::with_capacity(self.regexes.len() + 1);
        for regex in self.regexes {
            let split = Split::new(
                SplitPattern::Regex((*regex).to_string()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| TokenizerError::Tokenizers(format!("regex {regex:?}: {e}")))?;
            steps.push(PreTokenizerWrapper::Split(split));
        }
        steps.push(PreTokenizerWrapper::ByteLevel(ByteLevel::new(
            false, false, false,
        )));
        Ok(PreTokenizerWrapper::Sequence(Sequence::new(steps)))
    }
}
