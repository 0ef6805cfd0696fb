//! Whether a model offers chat: its template compiled and checked on a one-message conversation,
//! or the reason it takes raw prompts only.

mod common;

use tokscope_gguf::{Metadata, Value};
use tokscope_tokenizer::{ChatTemplate, ChatUnavailable, Message, Tokenizer};

/// The default model's metadata with `tokenizer.chat_template` replaced (or removed with `None`).
fn with_template(source: Option<&str>) -> (Metadata, Tokenizer) {
    let metadata = common::default_model_metadata();
    let mut edited = Metadata::default();
    for (key, value) in metadata.iter() {
        if key != "tokenizer.chat_template" {
            edited.insert(key.clone(), value.clone());
        }
    }
    if let Some(source) = source {
        edited.insert(
            "tokenizer.chat_template".into(),
            Value::String(source.into()),
        );
    }
    let tokenizer = Tokenizer::from_gguf(&edited).unwrap();
    (edited, tokenizer)
}

#[test]
fn the_default_models_template_is_available() {
    let (metadata, tokenizer) = with_template(Some(
        common::default_model_metadata()
            .get_str("tokenizer.chat_template")
            .unwrap(),
    ));
    let template = ChatTemplate::for_model(&metadata, &tokenizer).unwrap();
    let text = template
        .render(&[Message::new("user", "Hi")], true, "", "<|im_end|>")
        .unwrap();
    assert!(text.ends_with("<|im_start|>assistant\n"), "{text}");
}

#[test]
fn a_base_model_says_it_has_no_template() {
    let (metadata, tokenizer) = with_template(None);
    let reason = ChatTemplate::for_model(&metadata, &tokenizer).unwrap_err();
    assert_eq!(reason, ChatUnavailable::Missing);
    assert!(reason.to_string().contains("no chat template"), "{reason}");
}

#[test]
fn a_template_that_does_not_compile_is_unusable() {
    let (metadata, tokenizer) = with_template(Some("{% for m in messages %}"));
    let reason = ChatTemplate::for_model(&metadata, &tokenizer).unwrap_err();
    assert!(matches!(reason, ChatUnavailable::Unusable(_)), "{reason:?}");
    let text = reason.to_string();
    assert!(
        text.contains("chat template is unusable") && text.contains("syntax error"),
        "{text}"
    );
}

#[test]
fn a_template_that_fails_to_render_is_unusable() {
    let bomb = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
    for (source, why) in [
        (bomb, "ran out of fuel"),
        ("{{ raise_exception('no chat here') }}", "no chat here"),
        (
            "{{ messages[0].content.nonexistent_method() }}",
            "unknown method",
        ),
    ] {
        let (metadata, tokenizer) = with_template(Some(source));
        let reason = ChatTemplate::for_model(&metadata, &tokenizer).unwrap_err();
        let text = reason.to_string();
        assert!(
            text.contains("chat template is unusable") && text.contains(why),
            "{text}"
        );
    }
}
