//! Which tokens end generation, as llama.cpp decides (the version llama-cpp-python 0.3.36
//! vendors): the ids the metadata names, and tokens whose text is a well-known end marker,
//! which also become control tokens whatever the file says.

use std::collections::HashSet;

use crate::vocab::TokenType;

/// Metadata keys whose token ids end generation.
pub const END_OF_GENERATION_KEYS: &[&str] = &[
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.eot_token_id",
    "tokenizer.ggml.eom_token_id",
    "tokenizer.ggml.fim_pad_token_id",
    "tokenizer.ggml.fim_rep_token_id",
    "tokenizer.ggml.fim_sep_token_id",
];

/// Token texts that end generation whatever the file says (end-of-turn and end-of-text markers,
/// fill-in-the-middle pad/repo/file-separator tokens).
const END_OF_GENERATION_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<\u{FF5C}end\u{2581}of\u{2581}sentence\u{FF5C}>",
    "[e~[",
    "<|fim_pad|>",
    "<fim-pad>",
    "<fim_pad>",
    "<PAD>",
    "[PAD]",
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
    "<|file_sep|>",
];

/// Adds to `eog` the tokens whose text marks an end, making them control tokens; then applies
/// llama.cpp's two exceptions, which give such a token back to text.
pub fn add_by_text(texts: &[String], types: &mut [TokenType], eog: &mut HashSet<u32>) {
    for (id, text) in texts.iter().enumerate() {
        if END_OF_GENERATION_TEXTS.contains(&text.as_str()) {
            eog.insert(id as u32);
            types[id] = TokenType::Control;
        }
    }
    let find = |eog: &HashSet<u32>, wanted: &str| {
        eog.iter()
            .copied()
            .find(|&id| texts.get(id as usize).map(String::as_str) == Some(wanted))
    };
    // gpt-oss and Solar Open: "<|end|>" ends a message, not the generation.
    if let Some(end) = find(eog, "<|end|>") {
        let has = |text| find(eog, text).is_some();
        if (has("<|return|>") && has("<|call|>")) || (has("<|calls|>") && has("<|flush|>")) {
            eog.remove(&end);
            types[end as usize] = TokenType::UserDefined;
        }
    }
    // Gemma 4 and PLaMo: "</s>" is ordinary text there (HTML strikethrough), not an end.
    let normal_end = find(eog, "<|tool_response>").or_else(|| find(eog, "<|plamo:eos|>"));
    if let (Some(s), Some(_)) = (find(eog, "</s>"), normal_end) {
        eog.remove(&s);
        types[s as usize] = TokenType::Normal;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(texts: &[&str], mut eog: HashSet<u32>) -> (Vec<u32>, Vec<TokenType>) {
        let texts: Vec<String> = texts.iter().map(|s| s.to_string()).collect();
        let mut types = vec![TokenType::Normal; texts.len()];
        add_by_text(&texts, &mut types, &mut eog);
        let mut ids: Vec<u32> = eog.into_iter().collect();
        ids.sort_unstable();
        (ids, types)
    }

    #[test]
    fn end_markers_become_control_tokens() {
        let (ids, types) = run(&["a", "</s>", "<end_of_turn>", "<s>"], HashSet::new());
        assert_eq!(ids, vec![1, 2]);
        assert_eq!(types[1], TokenType::Control);
        assert_eq!(types[3], TokenType::Normal);
    }

    #[test]
    fn end_of_message_is_no_end_beside_return_and_call() {
        let (ids, types) = run(&["<|end|>", "<|return|>", "<|call|>"], HashSet::new());
        assert_eq!(ids, vec![1, 2]);
        assert_eq!(types[0], TokenType::UserDefined);
        let (ids, _) = run(&["<|end|>", "<|return|>"], HashSet::new());
        assert_eq!(ids, vec![0, 1]);
    }

    #[test]
    fn strikethrough_is_text_beside_a_plamo_end() {
        // "<|plamo:eos|>" ends generation only as the file's EOS.
        let (ids, types) = run(&["</s>", "<|plamo:eos|>"], HashSet::from([1]));
        assert_eq!(ids, vec![1]);
        assert_eq!(types[0], TokenType::Normal);
    }
}
