//! Chat templates: the Jinja template a model ships in `tokenizer.chat_template`, rendered with
//! minijinja configured like Hugging Face's `apply_chat_template` (trimmed blocks, Python string
//! methods, `raise_exception`, loop controls, `tojson`).

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{Environment, Error, ErrorKind, context};
use serde::Serialize;
use tokscope_gguf::Metadata;

use crate::TokenizerError;

const TEMPLATE_NAME: &str = "chat";

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// "system", "user" or "assistant".
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// A compiled chat template.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    env: Environment<'static>,
}

impl ChatTemplate {
    /// The model's template, or `None` when the file has none.
    pub fn from_gguf(metadata: &Metadata) -> Result<Option<Self>, TokenizerError> {
        metadata
            .get_str("tokenizer.chat_template")
            .map(Self::new)
            .transpose()
    }

    /// Compiles a template from its Jinja source.
    pub fn new(source: &str) -> Result<Self, TokenizerError> {
        let mut env = Environment::new();
        // Hugging Face renders with trim_blocks and lstrip_blocks; templates are written for that.
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(template_error)?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_template_owned(TEMPLATE_NAME, source.to_string())
            .map_err(template_error)?;
        Ok(Self { env })
    }

    /// Renders the conversation; with `add_generation_prompt` the text ends where the
    /// assistant's reply begins.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
        bos_token: &str,
        eos_token: &str,
    ) -> Result<String, TokenizerError> {
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(template_error)?;
        template
            .render(context! {
                messages => Serde(messages),
                add_generation_prompt => add_generation_prompt,
                bos_token => bos_token,
                eos_token => eos_token,
            })
            .map_err(template_error)
    }
}

/// Templates call `raise_exception("...")` to reject conversations they cannot format.
fn raise_exception(message: String) -> Result<String, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// minijinja's error with its cause chain (the template line is in the detail).
fn template_error(e: Error) -> TokenizerError {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    TokenizerError::Template(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Llama-3-style template written for these tests.
    const LLAMA3_STYLE: &str = "{{- bos_token }}
{%- for message in messages %}
    {%- if message['role'] not in ['system', 'user', 'assistant'] %}
        {{- raise_exception('unknown role: ' + message['role']) }}
    {%- endif %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'].strip() + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}";

    #[test]
    fn llama3_style_template() {
        let template = ChatTemplate::new(LLAMA3_STYLE).unwrap();
        let messages = [
            Message::new("system", "  Be brief. "),
            Message::new("user", "Hi\n"),
        ];
        let text = template
            .render(&messages, true, "<|begin_of_text|>", "<|eot_id|>")
            .unwrap();
        assert_eq!(
            text,
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>\
             <|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\n"
        );
    }

    #[test]
    fn raise_exception_becomes_an_error() {
        let template = ChatTemplate::new(LLAMA3_STYLE).unwrap();
        let err = template
            .render(&[Message::new("tool", "x")], false, "", "")
            .unwrap_err();
        assert!(err.to_string().contains("unknown role: tool"), "{err}");
    }

    #[test]
    fn blocks_are_trimmed_like_hugging_face() {
        // trim_blocks drops the newline after a tag; lstrip_blocks the indentation before one.
        let source = "{% for m in messages %}\n  {% if m.role == 'system' %}{% continue %}{% endif %}\n{{ m.role }}: {{ m.content | tojson }}\n{% endfor %}";
        let template = ChatTemplate::new(source).unwrap();
        let messages = [
            Message::new("system", "s"),
            Message::new("user", "say \"hi\""),
            Message::new("assistant", "ok"),
        ];
        let text = template.render(&messages, false, "", "").unwrap();
        assert_eq!(text, "user: \"say \\\"hi\\\"\"\nassistant: \"ok\"\n");
    }

    #[test]
    fn a_broken_template_is_an_error() {
        assert!(matches!(
            ChatTemplate::new("{% for m in messages %}"),
            Err(TokenizerError::Template(_))
        ));
    }

    #[test]
    fn no_template_in_metadata_is_none() {
        assert!(
            ChatTemplate::from_gguf(&Metadata::default())
                .unwrap()
                .is_none()
        );
    }
}
