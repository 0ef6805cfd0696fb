//! What can go wrong in a run, as one error type the CLI and the web page can show.

use thiserror::Error;

/// Errors of a session: each message says what happened in the user's terms.
#[derive(Debug, Error)]
pub enum SessionError {
    #[error(transparent)]
    Model(#[from] tokscope_model::ModelError),
    #[error(transparent)]
    Tokenizer(#[from] tokscope_tokenizer::TokenizerError),
    #[error(transparent)]
    Dist(#[from] tokscope_dist::DistError),
    #[error("this model has no chat template (tokenizer.chat_template): use a raw prompt")]
    NoChatTemplate,
    #[error("the models do not share one vocabulary: {0}")]
    VocabMismatch(tokscope_tokenizer::VocabMismatch),
    #[error("{0}")]
    InvalidOption(String),
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("the prompt has {tokens} tokens but the context holds {n_ctx}")]
    PromptTooLong { tokens: usize, n_ctx: usize },
}

pub type Result<T> = std::result::Result<T, SessionError>;
