//! The tokenizer of a GGUF file, tokenizing exactly as llama.cpp does: special tokens are cut
//! out of the text first (longest first), then each remaining piece goes through either the
//! pre-tokenizer regexes and byte-level BPE of the `tokenizers` library ("gpt2") or the
//! SentencePiece merge of [`crate::spm`] ("llama").

use std::collections::HashSet;
use std::sync::Arc;

use tokenizers::decoders::DecoderWrapper;
use tokenizers::decoders::byte_level::ByteLevel;
use tokenizers::models::bpe::BPE;
use tokenizers::{AddedToken, Tokenizer as HfTokenizer};
use tokscope_gguf::Metadata;

use crate::eog;
use crate::pre::PreTokenizerKind;
use crate::spm::{SPACE_MARKER, SentencePiece};
use crate::stream::StreamDecoder;
use crate::vocab::{TextForm, TokenType, Vocab};
use crate::{TokenizerError, VocabMismatch};

/// A model's tokenizer, built from its GGUF metadata.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    /// What tokenizes the text between special tokens.
    model: Model,
    vocab: Arc<Vocab>,
    /// Ids matched whole in input text, longest text first (llama.cpp's order).
    special_by_length: Vec<u32>,
    /// Special tokens that swallow the whitespace after them in input text (llama.cpp's
    /// RSTRIP attribute, which it gives Phi-3's markup).
    rstrip: HashSet<u32>,
    end_of_generation: HashSet<u32>,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    add_eos: bool,
}

/// The tokenizer proper, which sees only text without special tokens.
#[derive(Debug, Clone)]
enum Model {
    /// "gpt2": pre-tokenizer + byte-level BPE of the `tokenizers` library.
    ByteLevelBpe(Box<HfTokenizer>),
    /// "llama": SentencePiece merges by score with byte fallback.
    SentencePiece {
        spm: Arc<SentencePiece>,
        /// Whether a text piece at the start or after a special token gets a leading space
        /// (`tokenizer.ggml.add_space_prefix`, default true).
        add_space_prefix: bool,
    },
}

/// A piece of input text after special tokens are cut out.
enum Fragment<'a> {
    Text(&'a str),
    Special(u32),
}

impl Tokenizer {
    /// Builds the tokenizer that `tokenizer.ggml.*` describes: byte-level BPE ("gpt2") or
    /// SentencePiece ("llama"); other kinds give [`TokenizerError::UnsupportedModel`].
    pub fn from_gguf(metadata: &Metadata) -> Result<Self, TokenizerError> {
        let model_name = metadata
            .get_str("tokenizer.ggml.model")
            .ok_or_else(|| missing("tokenizer.ggml.model"))?;
        let form = match model_name {
            "gpt2" => TextForm::ByteLevel,
            "llama" => TextForm::SentencePiece,
            other => return Err(TokenizerError::UnsupportedModel(other.to_string())),
        };

        let texts = string_array(metadata, "tokenizer.ggml.tokens")?;
        let mut types = match metadata.get_array("tokenizer.ggml.token_type") {
            None => vec![TokenType::Normal; texts.len()],
            Some(values) => values
                .to_i64s()
                .ok_or_else(|| bad("tokenizer.ggml.token_type", "not integers"))?
                .into_iter()
                .map(TokenType::from_gguf)
                .collect(),
        };
        if types.len() != texts.len() {
            return Err(bad(
                "tokenizer.ggml.token_type",
                &format!("{} types for {} tokens", types.len(), texts.len()),
            ));
        }
        let n_tokens = u32::try_from(texts.len())
            .map_err(|_| bad("tokenizer.ggml.tokens", "too many tokens"))?;
        let token_id = |key: &str| -> Result<Option<u32>, TokenizerError> {
            match metadata.get(key) {
                None => Ok(None),
                Some(v) => match v.as_u64() {
                    Some(id) if id < u64::from(n_tokens) => Ok(Some(id as u32)),
                    _ => Err(bad(key, &format!("not a token id below {n_tokens}: {v:?}"))),
                },
            }
        };

        // What each kind assumes when the file is silent (llama.cpp's defaults): the BPE
        // pre-tokenizer decides on BOS; SentencePiece adds BOS, with BOS 1 and EOS 2.
        let pre = match form {
            TextForm::ByteLevel => Some(PreTokenizerKind::from_name(
                metadata.get_str("tokenizer.ggml.pre").unwrap_or(""),
            )?),
            TextForm::SentencePiece => None,
        };
        let (add_bos_default, default_bos, default_eos) = match &pre {
            Some(pre) => (pre.add_bos_default, None, None),
            None => {
                let default = |id: u32| (id < n_tokens).then_some(id);
                (true, default(1), default(2))
            }
        };
        let bos = token_id("tokenizer.ggml.bos_token_id")?.or(default_bos);
        let eos = token_id("tokenizer.ggml.eos_token_id")?.or(default_eos);

        let mut end_of_generation: HashSet<u32> = eos.into_iter().collect();
        for key in eog::END_OF_GENERATION_KEYS {
            end_of_generation.extend(token_id(key)?);
        }
        eog::add_by_text(&texts, &mut types, &mut end_of_generation);

        let mut special_by_length: Vec<u32> = (0..n_tokens)
            .filter(|&id| types[id as usize].is_special() && !texts[id as usize].is_empty())
            .collect();
        special_by_length.sort_by_key(|&id| std::cmp::Reverse(texts[id as usize].len()));
        let rstrip = rstrip_tokens(metadata, &texts, &special_by_length);

        let vocab = Arc::new(Vocab { texts, types, form });
        let model = match &pre {
            Some(pre) => byte_level_bpe(metadata, &vocab.texts, &special_by_length, pre)?,
            None => Model::SentencePiece {
                spm: Arc::new(SentencePiece::new(
                    Arc::clone(&vocab),
                    scores(metadata, vocab.texts.len())?,
                )),
                add_space_prefix: metadata
                    .get_bool("tokenizer.ggml.add_space_prefix")
                    .unwrap_or(true),
            },
        };

        let add_bos = metadata
            .get_bool("tokenizer.ggml.add_bos_token")
            .unwrap_or(add_bos_default);
        let add_eos = metadata
            .get_bool("tokenizer.ggml.add_eos_token")
            .unwrap_or(false);
        Ok(Self {
            model,
            vocab,
            special_by_length,
            rstrip,
            end_of_generation,
            bos,
            eos,
            add_bos,
            add_eos,
        })
    }

    /// Token ids of `text`. With `parse_special` (llama.cpp's `special`), control tokens written
    /// in the text become single tokens; without it they are tokenized as plain text.
    /// User-defined tokens are matched either way. Never adds BOS or EOS.
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>, TokenizerError> {
        let mut ids = Vec::new();
        // SentencePiece's space prefix goes on text at the start and after a special token.
        let mut after_special = true;
        for fragment in self.partition(text, parse_special) {
            match fragment {
                Fragment::Special(id) => {
                    ids.push(id);
                    after_special = true;
                }
                Fragment::Text(piece) => {
                    self.encode_text(piece, after_special, &mut ids)?;
                    after_special = false;
                }
            }
        }
        Ok(ids)
    }

    /// Appends the tokens of a piece of text that holds no special token.
    fn encode_text(
        &self,
        piece: &str,
        after_special: bool,
        ids: &mut Vec<u32>,
    ) -> Result<(), TokenizerError> {
        match &self.model {
            Model::ByteLevelBpe(inner) => {
                let encoding = inner
                    .encode_fast(piece, false)
                    .map_err(|e| TokenizerError::Tokenizers(e.to_string()))?;
                ids.extend_from_slice(encoding.get_ids());
            }
            Model::SentencePiece {
                spm,
                add_space_prefix,
            } => {
                let mut escaped = String::with_capacity(piece.len() + 3);
                if *add_space_prefix && after_special {
                    escaped.push(SPACE_MARKER);
                }
                escaped.extend(
                    piece
                        .chars()
                        .map(|c| if c == ' ' { SPACE_MARKER } else { c }),
                );
                spm.encode_into(&escaped, ids)?;
            }
        }
        Ok(())
    }

    /// Cuts special tokens out of `text`: each special token in turn, longest first, is found
    /// in every piece of text that is still plain.
    fn partition<'a>(&self, text: &'a str, parse_special: bool) -> Vec<Fragment<'a>> {
        if text.is_empty() {
            return Vec::new();
        }
        let mut fragments = vec![Fragment::Text(text)];
        for &id in &self.special_by_length {
            let kind = self.vocab.types[id as usize];
            if !parse_special && kind != TokenType::UserDefined {
                continue;
            }
            let needle = self.vocab.texts[id as usize].as_str();
            if !fragments
                .iter()
                .any(|f| matches!(f, Fragment::Text(t) if t.contains(needle)))
            {
                continue;
            }
            let mut next = Vec::with_capacity(fragments.len() + 2);
            for fragment in fragments {
                let Fragment::Text(piece) = fragment else {
                    next.push(fragment);
                    continue;
                };
                let mut rest = piece;
                while let Some(at) = rest.find(needle) {
                    if at > 0 {
                        next.push(Fragment::Text(&rest[..at]));
                    }
                    next.push(Fragment::Special(id));
                    rest = &rest[at + needle.len()..];
                    if self.rstrip.contains(&id) {
                        // C's isspace, as llama.cpp strips.
                        rest = rest.trim_start_matches([' ', '\t', '\n', '\x0B', '\x0C', '\r']);
                    }
                }
                if !rest.is_empty() {
                    next.push(Fragment::Text(rest));
                }
            }
            fragments = next;
        }
        fragments
    }

    /// Whether the model expects BOS in front of a prompt (`tokenizer.ggml.add_bos_token`).
    pub fn add_bos(&self) -> bool {
        self.add_bos && self.bos.is_some()
    }

    /// Whether the model expects EOS after a prompt (`tokenizer.ggml.add_eos_token`).
    pub fn add_eos(&self) -> bool {
        self.add_eos && self.eos.is_some()
    }

    /// The beginning-of-sequence token, if the model has one.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    /// The end-of-sequence token, if the model has one.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    /// Whether generating `id` ends generation (EOS, end-of-turn and the other tokens llama.cpp
    /// stops on).
    pub fn is_end_of_generation(&self, id: u32) -> bool {
        self.end_of_generation.contains(&id)
    }

    /// Whether `id` is a control token (chat markup, BOS/EOS), which views may render dimmed.
    pub fn is_control(&self, id: u32) -> bool {
        self.vocab.types.get(id as usize) == Some(&TokenType::Control)
    }

    /// The token's text for display: its bytes as UTF-8, lossy only for a token that holds part
    /// of a multi-byte character. Empty for an id outside the vocabulary.
    pub fn token_text(&self, id: u32) -> String {
        String::from_utf8_lossy(&self.token_bytes(id)).into_owned()
    }

    /// The exact bytes the token stands for (control tokens: their markup text).
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        let mut out = Vec::new();
        self.vocab.bytes_into(id, &mut out);
        out
    }

    /// Number of tokens in the vocabulary (the width of the logits).
    pub fn vocab_size(&self) -> usize {
        self.vocab.texts.len()
    }

    /// Text of a whole id sequence (a convenience over [`Self::decoder`]).
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut decoder = self.decoder();
        let mut text: String = ids.iter().map(|&id| decoder.push(id)).collect();
        text.push_str(&decoder.flush());
        text
    }

    /// A streaming decoder for generated tokens.
    pub fn decoder(&self) -> StreamDecoder {
        StreamDecoder::new(Arc::clone(&self.vocab))
    }

    /// Checks that two tokenizers share the same vocabulary token for token (same texts and
    /// types), as speculative decoding and model comparison require.
    pub fn same_vocabulary(&self, other: &Tokenizer) -> Result<(), VocabMismatch> {
        let (a, b) = (&*self.vocab, &*other.vocab);
        if a.texts.len() != b.texts.len() {
            return Err(VocabMismatch::Size(a.texts.len(), b.texts.len()));
        }
        let differing =
            (0..a.texts.len()).find(|&i| a.texts[i] != b.texts[i] || a.types[i] != b.types[i]);
        match differing {
            None => Ok(()),
            Some(i) => Err(VocabMismatch::Token {
                id: i as u32,
                left: format!("{:?} ({:?})", a.texts[i], a.types[i]),
                right: format!("{:?} ({:?})", b.texts[i], b.types[i]),
            }),
        }
    }

    /// The underlying `tokenizers` tokenizer (pre-tokenizer + BPE, special tokens registered)
    /// of a byte-level BPE vocabulary; `None` for SentencePiece.
    pub fn hf_tokenizer(&self) -> Option<&HfTokenizer> {
        match &self.model {
            Model::ByteLevelBpe(inner) => Some(inner),
            Model::SentencePiece { .. } => None,
        }
    }
}

/// llama.cpp's per-model token attributes that change tokenization: for a model named Phi-3
/// every special token but `<unk>`, `<s>` and `<|endoftext|>`, and also `</s>`, strips the
/// whitespace that follows it.
fn rstrip_tokens(metadata: &Metadata, texts: &[String], special: &[u32]) -> HashSet<u32> {
    let name = metadata
        .get_str("general.name")
        .unwrap_or("")
        .to_lowercase();
    if !(name.contains("phi-3") || name.contains("phi3")) {
        return HashSet::new();
    }
    let text = |id: u32| texts[id as usize].as_str();
    let mut rstrip: HashSet<u32> = special.iter().copied().collect();
    rstrip.extend((0..texts.len() as u32).filter(|&id| text(id) == "</s>"));
    rstrip.retain(|&id| !["<unk>", "<s>", "<|endoftext|>"].contains(&text(id)));
    rstrip
}

/// The `tokenizers` BPE model with the file's merges, pre-tokenizer and special tokens.
fn byte_level_bpe(
    metadata: &Metadata,
    texts: &[String],
    special_by_length: &[u32],
    pre: &PreTokenizerKind,
) -> Result<Model, TokenizerError> {
    let merges = string_array(metadata, "tokenizer.ggml.merges")?
        .into_iter()
        .map(
            |merge| match merge.char_indices().find(|&(i, c)| i > 0 && c == ' ') {
                Some((at, _)) => Ok((merge[..at].to_string(), merge[at + 1..].to_string())),
                None => Err(bad(
                    "tokenizer.ggml.merges",
                    &format!("no space in {merge:?}"),
                )),
            },
        )
        .collect::<Result<Vec<_>, _>>()?;
    // Later duplicates win, as in llama.cpp's text → id map.
    let ids: tokenizers::models::bpe::Vocab = texts.iter().cloned().zip(0..).collect();
    let bpe = BPE::builder()
        .vocab_and_merges(ids, merges)
        .ignore_merges(pre.ignore_merges)
        .build()
        .map_err(|e| TokenizerError::Tokenizers(e.to_string()))?;
    let mut inner = HfTokenizer::new(bpe);
    inner.with_pre_tokenizer(Some(pre.build()?));
    inner.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevel::default())));
    let added: Vec<AddedToken> = special_by_length
        .iter()
        .map(|&id| AddedToken::from(texts[id as usize].clone(), true))
        .collect();
    inner
        .add_special_tokens(added)
        .map_err(|e| TokenizerError::Tokenizers(e.to_string()))?;
    // Special tokens are cut out by `partition` (llama.cpp's rules); `inner` must treat any it
    // still sees as plain text.
    inner.set_encode_special_tokens(true);
    Ok(Model::ByteLevelBpe(Box::new(inner)))
}

/// `tokenizer.ggml.scores` (f32, or integers as llama.cpp also accepts), one per token; all 0
/// when absent, as in llama.cpp.
fn scores(metadata: &Metadata, n_tokens: usize) -> Result<Vec<f32>, TokenizerError> {
    let key = "tokenizer.ggml.scores";
    let Some(values) = metadata.get_array(key) else {
        return Ok(vec![0.0; n_tokens]);
    };
    if values.len() < n_tokens {
        return Err(bad(
            key,
            &format!("{} scores for {n_tokens} tokens", values.len()),
        ));
    }
    let values = values.to_f64s().ok_or_else(|| bad(key, "not numbers"))?;
    Ok(values[..n_tokens].iter().map(|&x| x as f32).collect())
}

fn missing(key: &str) -> TokenizerError {
    TokenizerError::Metadata(format!("missing {key}"))
}

fn bad(key: &str, why: &str) -> TokenizerError {
    TokenizerError::Metadata(format!("{key}: {why}"))
}

fn string_array(metadata: &Metadata, key: &str) -> Result<Vec<String>, TokenizerError> {
    let strings = metadata
        .get_array(key)
        .ok_or_else(|| missing(key))?
        .as_strings()
        .ok_or_else(|| bad(key, "not all strings"))?;
    Ok(strings.iter().map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use tokscope_gguf::{Array, Value};

    use super::*;
    use crate::byte_level::byte_char;

    fn strings(items: &[String]) -> Value {
        Value::strings(items)
    }

    /// A byte-level vocabulary: the 256 single bytes, " the" and "123" as merges, one control
    /// token.
    fn tiny_metadata(model: &str, pre: &str) -> Metadata {
        let mut tokens: Vec<String> = (0..=255u8).map(|b| byte_char(b).to_string()).collect();
        tokens.extend(["Ġt", "he", "Ġthe", "<|end|>", "12", "123"].map(String::from));
        let mut types = vec![1; tokens.len()];
        types[259] = 3;
        let merges = ["Ġ t", "h e", "Ġt he", "1 2", "12 3"].map(String::from);
        let mut m = Metadata::default();
        m.insert("tokenizer.ggml.model".into(), Value::String(model.into()));
        m.insert("tokenizer.ggml.pre".into(), Value::String(pre.into()));
        m.insert("tokenizer.ggml.tokens".into(), strings(&tokens));
        m.insert(
            "tokenizer.ggml.token_type".into(),
            Value::Array(Array::I32(types)),
        );
        m.insert("tokenizer.ggml.merges".into(), strings(&merges));
        m.insert("tokenizer.ggml.eos_token_id".into(), Value::U32(259));
        m
    }

    fn tiny() -> Tokenizer {
        Tokenizer::from_gguf(&tiny_metadata("gpt2", "gpt-2")).unwrap()
    }

    /// A SentencePiece vocabulary: <unk>, <s>, </s>, the 256 byte tokens, a few pieces with
    /// scores, a control and a user-defined token; no BOS/EOS ids in the metadata.
    fn spm_metadata() -> Metadata {
        let mut tokens: Vec<String> = ["<unk>", "<s>", "</s>"].map(String::from).to_vec();
        tokens.extend((0..=255u8).map(|b| format!("<0x{b:02X}>")));
        let pieces = ["▁", "h", "i", "▁h", "▁hi", "hi", "<ctl>", "<ud>"];
        tokens.extend(pieces.map(String::from));
        let mut types = vec![1i32; tokens.len()];
        types[0] = 2;
        types[1] = 3;
        types[2] = 3;
        for t in &mut types[3..259] {
            *t = 6;
        }
        types[265] = 3;
        types[266] = 4;
        let mut scores = vec![0.0f32; tokens.len()];
        for (i, s) in [
            (259, -1.0),
            (260, -2.0),
            (261, -3.0),
            (262, -4.0),
            (263, -5.0),
            (264, -6.0),
        ] {
            scores[i] = s;
        }
        let mut m = Metadata::default();
        m.insert("tokenizer.ggml.model".into(), Value::String("llama".into()));
        m.insert("tokenizer.ggml.tokens".into(), strings(&tokens));
        m.insert(
            "tokenizer.ggml.token_type".into(),
            Value::Array(types.into()),
        );
        m.insert("tokenizer.ggml.scores".into(), Value::Array(scores.into()));
        m
    }

    #[test]
    fn sentencepiece_defaults_follow_llama_cpp() {
        let t = Tokenizer::from_gguf(&spm_metadata()).unwrap();
        // No ids in the file: BOS 1 and EOS 2, BOS added, EOS ends generation.
        assert_eq!((t.bos_id(), t.eos_id()), (Some(1), Some(2)));
        assert!(t.add_bos() && !t.add_eos());
        assert!(t.is_end_of_generation(2) && !t.is_end_of_generation(1));
        assert!(t.hf_tokenizer().is_none());
    }

    #[test]
    fn sentencepiece_space_prefix_at_the_start_and_after_special_tokens() {
        let t = Tokenizer::from_gguf(&spm_metadata()).unwrap();
        // "▁hi": the pair "▁h" (-4) beats "hi" (-6), then "▁h" + "i" forms "▁hi".
        assert_eq!(t.encode("hi", false).unwrap(), vec![263]);
        assert_eq!(t.encode("hi hi", false).unwrap(), vec![263, 263]);
        // After a control token (parsed) the prefix comes again; after plain text it does not.
        assert_eq!(t.encode("<ctl>hi", true).unwrap(), vec![265, 263]);
        // A user-defined token is cut out either way and also counts as special.
        assert_eq!(t.encode("hi<ud>hi", false).unwrap(), vec![263, 266, 263]);
        // Empty text has no tokens at all, not a lone prefix.
        assert!(t.encode("", false).unwrap().is_empty());

        let mut m = spm_metadata();
        m.insert("tokenizer.ggml.add_space_prefix".into(), Value::Bool(false));
        let t = Tokenizer::from_gguf(&m).unwrap();
        assert_eq!(t.encode("hi", false).unwrap(), vec![264]);
        assert_eq!(t.encode(" hi", false).unwrap(), vec![263]);
        // "x" is no piece: its byte token stands in.
        assert_eq!(
            t.encode("hix", false).unwrap(),
            vec![264, 3 + u32::from(b'x')]
        );
    }

    #[test]
    fn sentencepiece_decoding_turns_markers_into_spaces_and_joins_bytes() {
        let t = Tokenizer::from_gguf(&spm_metadata()).unwrap();
        assert_eq!(t.token_bytes(263), b" hi");
        assert_eq!(t.token_bytes(3 + 0x41), b"A");
        assert_eq!(t.token_text(265), "<ctl>");
        // "é" as its two byte tokens: nothing until the second arrives.
        let mut decoder = t.decoder();
        assert_eq!(decoder.push(263), " hi");
        assert_eq!(decoder.push(3 + 0xC3), "");
        assert_eq!(decoder.push(3 + 0xA9), "é");
        let ids = t.encode("hi é hi", false).unwrap();
        assert_eq!(t.decode(&ids), " hi é hi");
    }

    #[test]
    fn phi3_markup_swallows_the_whitespace_after_it() {
        let mut m = spm_metadata();
        m.insert("general.name".into(), Value::String("Phi 3".into()));
        let plain = Tokenizer::from_gguf(&m).unwrap();
        m.insert("general.name".into(), Value::String("Phi-3 mini".into()));
        let phi3 = Tokenizer::from_gguf(&m).unwrap();
        let space = 259; // "▁"
        // "<ctl>" strips " \n" after it (so "hi" gets the prefix of text after a special);
        // "<s>" does not strip.
        assert_eq!(phi3.encode("<ctl> \nhi", true).unwrap(), vec![265, 263]);
        assert_eq!(
            plain.encode("<ctl> hi", true).unwrap(),
            vec![265, space, 263]
        );
        assert_eq!(phi3.encode("<s> hi", true).unwrap(), vec![1, space, 263]);
        // The user-defined "<ud>" strips too, special parsing or not; "</s>" (control here) too.
        assert_eq!(phi3.encode("<ud>  hi", false).unwrap(), vec![266, 263]);
        assert_eq!(phi3.encode("</s>\thi", true).unwrap(), vec![2, 263]);
    }

    #[test]
    fn sentencepiece_scores_are_checked() {
        let mut m = spm_metadata();
        m.insert(
            "tokenizer.ggml.scores".into(),
            Value::Array(vec![0.0f32; 3].into()),
        );
        assert!(matches!(
            Tokenizer::from_gguf(&m),
            Err(TokenizerError::Metadata(ref why)) if why.contains("3 scores")
        ));
        m.insert(
            "tokenizer.ggml.scores".into(),
            strings(&vec![String::new(); 267]),
        );
        assert!(matches!(
            Tokenizer::from_gguf(&m),
            Err(TokenizerError::Metadata(_))
        ));
        // Without scores every pair ties at 0 and the leftmost merges first.
        let mut unscored = Metadata::default();
        for (key, value) in m.iter().filter(|(k, _)| *k != "tokenizer.ggml.scores") {
            unscored.insert(key.clone(), value.clone());
        }
        let t = Tokenizer::from_gguf(&unscored).unwrap();
        assert_eq!(t.encode("hi", false).unwrap(), vec![263]);
    }

    #[test]
    fn merges_apply_and_unmerged_bytes_stay_single() {
        let t = tiny();
        // " the" merges fully; "x" has no merges; "é" is two byte tokens.
        assert_eq!(
            t.encode(" the xé", false).unwrap(),
            vec![258, 32, 120, 0xC3, 0xA9]
        );
    }

    #[test]
    fn pre_tokenizers_split_digits_their_own_way() {
        let encode = |pre: &str, text: &str| {
            let t = Tokenizer::from_gguf(&tiny_metadata("gpt2", pre)).unwrap();
            t.encode(text, false).unwrap()
        };
        let (one, two, three) = (u32::from(b'1'), u32::from(b'2'), u32::from(b'3'));
        // GPT-2 keeps a digit run whole, so "123" can merge inside "3123".
        assert_eq!(encode("gpt-2", "3123"), vec![three, 261]);
        // Llama 3 cuts runs into threes from the left: "312" | "3".
        assert_eq!(encode("llama-bpe", "3123"), vec![three, 260, three]);
        assert_eq!(encode("llama-bpe", "1231"), vec![261, one]);
        // SmolLM and Qwen2 take digits one by one.
        for pre in ["smollm", "qwen2"] {
            assert_eq!(encode(pre, "123"), vec![one, two, three], "{pre}");
        }
        // llama.cpp's "default" isolates punctuation runs first and cuts runs of three digits.
        assert_eq!(encode("default", "1231"), vec![261, one]);
        // SmolLM keeps GPT-2's word rule: a space joins the following word.
        assert_eq!(encode("smollm", " the"), vec![258]);
    }

    #[test]
    fn control_tokens_only_with_parse_special() {
        let t = tiny();
        assert_eq!(t.encode("a<|end|>", true).unwrap(), vec![97, 259]);
        let plain = t.encode("a<|end|>", false).unwrap();
        assert_eq!(plain.len(), 8);
        assert_eq!(t.decode(&plain), "a<|end|>");
        assert!(t.is_control(259) && !t.is_control(97));
        assert!(t.is_end_of_generation(259) && !t.is_end_of_generation(97));
    }

    #[test]
    fn stream_decoder_holds_back_a_split_emoji() {
        let t = tiny();
        let emoji = "🎉".as_bytes();
        let mut decoder = t.decoder();
        assert_eq!(decoder.push(u32::from(b'a')), "a");
        for &b in &emoji[..3] {
            assert_eq!(decoder.push(u32::from(b)), "");
        }
        assert_eq!(decoder.push(u32::from(emoji[3])), "🎉");
        assert_eq!(decoder.flush(), "");
    }

    #[test]
    fn stream_decoder_replaces_invalid_and_unfinished_bytes() {
        let t = tiny();
        let mut decoder = t.decoder();
        // 0xFF can never start a character; 0xE6 0x97 is an unfinished three-byte one.
        assert_eq!(decoder.push(0xFF), "\u{FFFD}");
        assert_eq!(decoder.push(0xE6), "");
        assert_eq!(decoder.push(0x97), "");
        assert_eq!(decoder.push(u32::from(b'b')), "\u{FFFD}b");
        assert_eq!(decoder.push(0xE6), "");
        assert_eq!(decoder.flush(), "\u{FFFD}");
    }

    #[test]
    fn token_bytes_and_text() {
        let t = tiny();
        assert_eq!(t.token_bytes(258), b" the");
        assert_eq!(t.token_bytes(259), b"<|end|>");
        assert_eq!(t.token_text(0xC3), "\u{FFFD}");
        assert!(t.token_bytes(100_000).is_empty());
        assert_eq!(t.vocab_size(), 262);
    }

    #[test]
    fn unsupported_tokenizer_models_are_named() {
        for model in ["bert", "t5", "rwkv"] {
            let err = Tokenizer::from_gguf(&tiny_metadata(model, "default")).unwrap_err();
            assert!(matches!(err, TokenizerError::UnsupportedModel(ref m) if m == model));
            assert!(err.to_string().contains(&format!("'{model}'")), "{err}");
        }
    }

    #[test]
    fn unknown_pre_tokenizers_are_named() {
        let err = Tokenizer::from_gguf(&tiny_metadata("gpt2", "no-such-pre")).unwrap_err();
        assert!(err.to_string().contains("'no-such-pre'"), "{err}");
    }

    #[test]
    fn missing_or_malformed_metadata_is_an_error() {
        let mut m = tiny_metadata("gpt2", "gpt-2");
        m.insert("tokenizer.ggml.merges".into(), strings(&["nospace".into()]));
        assert!(matches!(
            Tokenizer::from_gguf(&m),
            Err(TokenizerError::Metadata(_))
        ));
        let mut m = tiny_metadata("gpt2", "gpt-2");
        m.insert("tokenizer.ggml.eos_token_id".into(), Value::U32(5000));
        assert!(matches!(
            Tokenizer::from_gguf(&m),
            Err(TokenizerError::Metadata(_))
        ));
        assert!(matches!(
            Tokenizer::from_gguf(&Metadata::default()),
            Err(TokenizerError::Metadata(_))
        ));
    }

    #[test]
    fn same_vocabulary_names_the_first_difference() {
        let a = tiny();
        assert_eq!(a.same_vocabulary(&tiny()), Ok(()));

        let mut m = tiny_metadata("gpt2", "gpt-2");
        let mut tokens: Vec<String> = (0..=255u8).map(|b| byte_char(b).to_string()).collect();
        tokens.extend(["Ġt", "hE", "Ġthe", "<|end|>", "12", "123"].map(String::from));
        m.insert("tokenizer.ggml.tokens".into(), strings(&tokens));
        m.insert(
            "tokenizer.ggml.merges".into(),
            strings(&["Ġ t".into(), "1 2".into(), "12 3".into()]),
        );
        let b = Tokenizer::from_gguf(&m).unwrap();
        match a.same_vocabulary(&b) {
            Err(VocabMismatch::Token { id, left, right }) => {
                assert_eq!(id, 257);
                assert!(
                    left.contains("he") && right.contains("hE"),
                    "{left} {right}"
                );
            }
            other => panic!("expected a token mismatch, got {other:?}"),
        }

        tokens.pop();
        m.insert("tokenizer.ggml.tokens".into(), strings(&tokens));
        m.insert(
            "tokenizer.ggml.merges".into(),
            strings(&["Ġ t".into(), "1 2".into()]),
        );
        m.insert(
            "tokenizer.ggml.token_type".into(),
            Value::Array(Array::I32(vec![1; tokens.len()])),
        );
        m.insert("tokenizer.ggml.eos_token_id".into(), Value::U32(0));
        let c = Tokenizer::from_gguf(&m).unwrap();
        assert_eq!(a.same_vocabulary(&c), Err(VocabMismatch::Size(262, 261)));
    }
}
