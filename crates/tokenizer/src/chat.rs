//! Chat templates: the Jinja template a model ships in `tokenizer.chat_template`, rendered with
//! minijinja configured like Hugging Face's `apply_chat_template` (trimmed blocks, Python string
//! methods, `raise_exception`, loop controls, `tojson`).
//!
//! The template comes from the model file, so it is untrusted code: every render runs on a fuel
//! budget (instructions and the data they create), a recursion limit and an output cap, and a
//! hostile template fails with an error instead of running forever or filling memory.

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{Environment, Error, ErrorKind, context};
use serde::Serialize;
use tokscope_gguf::Metadata;

use crate::{Tokenizer, TokenizerError};

const TEMPLATE_NAME: &str = "chat";

/// Work one render may do, in minijinja fuel (one per instruction and per 64 bytes of data
/// created): real templates use a few thousand for a conversation of several long messages,
/// and a runaway template stops after tens of milliseconds having allocated at most ~64 MB.
const FUEL: u64 = 1_000_000;

/// Nesting depth of blocks, loops and macro calls (a macro call costs several levels): minijinja's
/// own cap of 500 overflows a small thread stack (256 KiB, unoptimised), and chat templates nest a
/// handful deep.
const RECURSION_LIMIT: usize = 200;

/// Largest rendered prompt: far more text than any model's context holds.
const MAX_OUTPUT_BYTES: usize = 4 << 20;

/// Why a model offers raw prompts only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatUnavailable {
    /// The file has no `tokenizer.chat_template`, as base models do.
    #[error("the model has no chat template (tokenizer.chat_template), as base models have none")]
    Missing,
    /// The template does not compile, or fails on a plain user message.
    #[error("the model's chat template is unusable: {0}")]
    Unusable(String),
}

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

    /// The model's template, checked by rendering a one-message conversation with the
    /// tokenizer's BOS and EOS: a file whose template is missing, does not compile or fails
    /// there gives the reason chat is unavailable (its raw prompts still work).
    pub fn for_model(metadata: &Metadata, tokenizer: &Tokenizer) -> Result<Self, ChatUnavailable> {
        let unusable = |e: TokenizerError| {
            ChatUnavailable::Unusable(match e {
                TokenizerError::Template(detail) => detail,
                other => other.to_string(),
            })
        };
        let template = Self::from_gguf(metadata)
            .map_err(unusable)?
            .ok_or(ChatUnavailable::Missing)?;
        let text = |id: Option<u32>| id.map(|id| tokenizer.token_text(id)).unwrap_or_default();
        template
            .render(
                &[Message::new("user", "Hello")],
                true,
                &text(tokenizer.bos_id()),
                &text(tokenizer.eos_id()),
            )
            .map_err(unusable)?;
        Ok(template)
    }

    /// Compiles a template from its Jinja source.
    pub fn new(source: &str) -> Result<Self, TokenizerError> {
        let mut env = Environment::new();
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(RECURSION_LIMIT);
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
        let mut out = CappedOutput::default();
        template
            .render_captured_to(
                context! {
                    messages => Serde(messages),
                    add_generation_prompt => add_generation_prompt,
                    bos_token => bos_token,
                    eos_token => eos_token,
                },
                &mut out,
            )
            .map_err(template_error)?;
        String::from_utf8(out.bytes)
            .map_err(|_| TokenizerError::Template("the rendered prompt is not UTF-8".into()))
    }
}

/// The rendered text, refusing to grow past [`MAX_OUTPUT_BYTES`].
#[derive(Default)]
struct CappedOutput {
    bytes: Vec<u8>,
}

/// What [`CappedOutput`] fails with, recognised by [`template_error`].
#[derive(Debug, thiserror::Error)]
#[error("wrote more than {} MiB of text", MAX_OUTPUT_BYTES >> 20)]
struct OutputTooLarge;

impl std::io::Write for CappedOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_OUTPUT_BYTES {
            return Err(std::io::Error::other(OutputTooLarge));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Templates call `raise_exception("...")` to reject conversations they cannot format.
fn raise_exception(message: String) -> Result<String, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// minijinja's error with its cause chain (the template line is in the detail); an exceeded
/// bound says which bound in the user's terms.
fn template_error(e: Error) -> TokenizerError {
    let mut text = match e.kind() {
        ErrorKind::OutOfFuel => {
            let mut text = format!(
                "ran out of fuel: more than {FUEL} steps or {} MB of data (a runaway loop?)",
                FUEL * 64 / 1_000_000
            );
            if let Some(line) = e.line() {
                text.push_str(&format!(" (in line {line})"));
            }
            return TokenizerError::Template(text);
        }
        // CappedOutput is the only writer, and it fails only when full.
        ErrorKind::WriteFailure => return TokenizerError::Template(OutputTooLarge.to_string()),
        _ => e.to_string(),
    };
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

    /// Renders `source` for one user message, returning the error and how long it took.
    fn hostile(source: &str) -> (TokenizerError, std::time::Duration) {
        let start = std::time::Instant::now();
        let err = ChatTemplate::new(source)
            .and_then(|t| t.render(&[Message::new("user", "hi")], true, "", ""))
            .expect_err("a hostile template must fail");
        (err, start.elapsed())
    }

    // The bounds must stop each template in well under a second; 5 s leaves room for a loaded
    // machine, and a template that got past them would run for minutes or exhaust memory.
    const PROMPT: std::time::Duration = std::time::Duration::from_secs(5);

    #[test]
    fn a_loop_bomb_runs_out_of_fuel() {
        let (err, took) = hostile(
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        );
        assert!(err.to_string().contains("ran out of fuel"), "{err}");
        assert!(took < PROMPT, "{took:?}");
    }

    #[test]
    fn an_output_bomb_is_stopped() {
        for source in [
            "{{ 'x' * 10**9 }}",
            "{% for i in range(100000) %}{% for j in range(100000) %}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}{% endfor %}",
            "{% set s = 'x' * 1000000 %}{% for i in range(100000) %}{{ s }}{% endfor %}",
            "{{ ('x' * 100000).replace('x', 'y' * 100000) }}",
            "{{ ('y' * 100000).join(range(100000)) }}",
            "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
        ] {
            let (err, took) = hostile(source);
            let text = err.to_string();
            assert!(
                text.contains("ran out of fuel") || text.contains("wrote more than"),
                "{source}: {text}"
            );
            assert!(took < PROMPT, "{source}: {took:?}");
        }
    }

    #[test]
    fn deep_recursion_is_stopped() {
        for source in [
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
            "{% macro f(n) %}{{ f(n + 1) }}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
            "{% for m in messages recursive %}{{ loop([m]) }}{% endfor %}",
        ] {
            // A small stack, on which minijinja's default recursion limit overflows it.
            let source = source.to_string();
            let (err, took) = std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || hostile(&source))
                .unwrap()
                .join()
                .unwrap();
            let text = err.to_string();
            assert!(
                text.contains("recursion limit") || text.contains("ran out of fuel"),
                "{text}"
            );
            assert!(took < PROMPT, "{took:?}");
        }
    }

    #[test]
    fn long_conversations_fit_the_bounds() {
        let template = ChatTemplate::new(LLAMA3_STYLE).unwrap();
        let long = "word ".repeat(100_000);
        let messages: Vec<Message> = (0..200)
            .map(|i| Message::new(["user", "assistant"][i % 2], "a short turn"))
            .chain([Message::new("user", long.as_str())])
            .collect();
        let text = template.render(&messages, true, "", "").unwrap();
        assert!(text.len() > long.len());
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
