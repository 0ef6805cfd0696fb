//! What the worker sends to start a run, deserialised from plain JS objects
//! (mirrored by `GenerateRequest` and `ScoreRequest` in web/src/lib/protocol.ts).

use serde::Deserialize;
use tokscope_dist::SamplingParams;
use tokscope_session::{GenerateOptions, Prompt};

/// The prompt as the page describes it: raw text, or a chat turn with an optional system prompt.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PromptRequest {
    Raw {
        text: String,
    },
    Chat {
        #[serde(default)]
        system: Option<String>,
        user: String,
    },
}

impl From<PromptRequest> for Prompt {
    fn from(p: PromptRequest) -> Self {
        match p {
            PromptRequest::Raw { text } => Prompt::Raw(text),
            PromptRequest::Chat { system, user } => Prompt::Chat {
                system: system.filter(|s| !s.is_empty()),
                user,
            },
        }
    }
}

/// Settings of a generate run; the defaults are the CLI's.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct GenerateRequest {
    pub prompt: PromptRequest,
    pub max_tokens: usize,
    pub temperature: f32,
    pub top_k: usize,
    pub top_p: f32,
    pub min_p: f32,
    pub repetition_penalty: f32,
    pub seed: u64,
    pub top_n: usize,
    pub ignore_eos: bool,
}

impl Default for GenerateRequest {
    fn default() -> Self {
        Self {
            prompt: PromptRequest::Raw {
                text: String::new(),
            },
            max_tokens: 64,
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            seed: 0,
            top_n: 5,
            ignore_eos: false,
        }
    }
}

impl From<GenerateRequest> for GenerateOptions {
    fn from(r: GenerateRequest) -> Self {
        GenerateOptions {
            prompt: r.prompt.into(),
            max_tokens: r.max_tokens,
            sampling: SamplingParams {
                temperature: r.temperature,
                top_k: r.top_k,
                top_p: r.top_p,
                min_p: r.min_p,
                repetition_penalty: r.repetition_penalty,
                ..SamplingParams::default()
            },
            seed: r.seed,
            top_n: r.top_n,
            ignore_eos: r.ignore_eos,
        }
    }
}

/// Settings of a score run: `text` is tokenized as plain text (as `tokscope score --text` does).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct ScoreRequest {
    pub prompt: PromptRequest,
    pub text: String,
    pub top_n: usize,
    /// Fraction of lowest-scoring tokens for Min-K% and Min-K%++.
    pub k: f64,
}

impl Default for ScoreRequest {
    fn default() -> Self {
        Self {
            prompt: PromptRequest::Raw {
                text: String::new(),
            },
            text: String::new(),
            top_n: 5,
            k: 0.2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_requests_become_the_cli_options() {
        let request: GenerateRequest = serde_json::from_str(
            r#"{"prompt":{"kind":"chat","system":"","user":"Hi"},"max_tokens":8,
                "temperature":0.8,"top_k":40,"top_p":1,"min_p":0,"seed":7,"top_n":5}"#,
        )
        .unwrap();
        let opts: GenerateOptions = request.into();
        assert_eq!(
            opts.prompt,
            Prompt::Chat {
                system: None,
                user: "Hi".into()
            }
        );
        assert_eq!((opts.max_tokens, opts.seed, opts.top_n), (8, 7, 5));
        assert_eq!(opts.sampling.temperature, 0.8);
        assert_eq!(opts.sampling.top_k, 40);
        assert_eq!(opts.sampling.repetition_penalty, 1.0);
        assert!(!opts.ignore_eos);
    }

    #[test]
    fn missing_fields_take_the_cli_defaults_and_bad_ones_are_errors() {
        let request: GenerateRequest =
            serde_json::from_str(r#"{"prompt":{"kind":"raw","text":"x"}}"#).unwrap();
        assert_eq!((request.max_tokens, request.top_n), (64, 5));
        assert_eq!(request.temperature, 1.0);
        assert!(serde_json::from_str::<GenerateRequest>(r#"{"prompt":{"kind":"poem"}}"#).is_err());
        assert!(serde_json::from_str::<GenerateRequest>(r#"{"seed":-1}"#).is_err());
    }
}
