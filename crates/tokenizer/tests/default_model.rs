//! Behaviour on the default model (SmolLM2-135M-Instruct): facts checked against llama.cpp
//! (llama-cpp-python 0.3.36) and the model's own chat template.

mod common;

use tokscope_tokenizer::{ChatTemplate, Message, Tokenizer};

fn tokenizer() -> Tokenizer {
    Tokenizer::from_gguf(&common::default_model_metadata()).unwrap()
}

#[test]
fn special_ids_and_flags() {
    let t = tokenizer();
    assert_eq!(t.vocab_size(), 49152);
    assert_eq!(
        (t.bos_id(), t.eos_id(), t.add_bos()),
        (Some(1), Some(2), false)
    );
    // llama_vocab_is_eog is true for exactly 0 <|endoftext|>, 2 <|im_end|> and 4 <reponame>.
    let eog: Vec<u32> = (0..49152)
        .filter(|&id| t.is_end_of_generation(id))
        .collect();
    assert_eq!(eog, vec![0, 2, 4]);
    // llama_vocab_is_control: ids 0..=16.
    let control: Vec<u32> = (0..49152).filter(|&id| t.is_control(id)).collect();
    assert_eq!(control, (0..=16).collect::<Vec<u32>>());
    assert_eq!(t.token_text(1), "<|im_start|>");
}

#[test]
fn control_tokens_in_text() {
    let t = tokenizer();
    assert_eq!(t.encode("<|im_start|>", true).unwrap(), vec![1]);
    assert!(t.encode("<|im_start|>", false).unwrap().len() > 1);
}

#[test]
fn decode_inverts_encode() {
    let t = tokenizer();
    let texts = [
        "",
        "Hello, world!",
        "  two  spaces\tand\ttabs\r\n",
        "digits 1234567890 and 3.14",
        "emoji 🎉 family 👩‍👩‍👧 flag 🇫🇷",
        "日本語、中文、한국어",
        "fn main() {\n    println!(\"{}\", 1 + 2);\n}\n",
        "<|im_start|>user\nhi<|im_end|>",
        "\u{0}\u{1}\u{7f} control bytes",
    ];
    for text in texts {
        for special in [true, false] {
            let ids = t.encode(text, special).unwrap();
            assert_eq!(t.decode(&ids), text, "special={special} ids={ids:?}");
        }
    }
}

#[test]
fn streaming_an_emoji_split_over_byte_tokens() {
    let t = tokenizer();
    let ids = t.encode("🦀!", false).unwrap();
    assert!(
        ids.len() > 2,
        "the crab should take several byte tokens: {ids:?}"
    );
    let mut decoder = t.decoder();
    let pieces: Vec<String> = ids.iter().map(|&id| decoder.push(id)).collect();
    // Nothing comes out until the character is complete, then the whole character at once.
    let first_output = pieces.iter().position(|p| !p.is_empty()).unwrap();
    assert!(first_output > 0);
    assert!(pieces[first_output].starts_with('🦀'));
    assert_eq!(pieces.concat() + &decoder.flush(), "🦀!");
}

#[test]
fn a_tokenizer_has_its_own_vocabulary() {
    assert_eq!(tokenizer().same_vocabulary(&tokenizer()), Ok(()));
}

fn template() -> ChatTemplate {
    ChatTemplate::from_gguf(&common::default_model_metadata())
        .unwrap()
        .expect("SmolLM2 ships a chat template")
}

#[test]
fn chat_template_with_system_prompt() {
    let messages = [
        Message::new("system", "Be brief."),
        Message::new("user", "Hi"),
    ];
    let text = template()
        .render(&messages, true, "", "<|im_end|>")
        .unwrap();
    assert_eq!(
        text,
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
}

#[test]
fn chat_template_inserts_default_system_prompt() {
    let messages = [
        Message::new("user", "Hi"),
        Message::new("assistant", "Hello!"),
    ];
    let text = template().render(&messages, false, "", "").unwrap();
    assert_eq!(
        text,
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
         <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
    );
}
