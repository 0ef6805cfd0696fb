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
    #[error("{0}. Chat is unavailable for this model; raw prompts still work")]
    ChatUnavailable(tokscope_tokenizer::ChatUnavailable),
    #[error("the models do not share one vocabulary: {0}")]
    VocabMismatch(tokscope_tokenizer::VocabMismatch),
    #[error("{0}")]
    InvalidOption(String),
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("the prompt has {tokens} tokens but the context holds {n_ctx}")]
    PromptTooLong { tokens: usize, n_ctx: usize },
    #[error("this backend computes asynchronously: use the session's async methods")]
    MustAwait,
}

pub type Result<T> = std::result::Result<T, SessionError>;

/// Runs a run's future to completion where every forward pass completes at once (the CPU
/// backend; a native GPU waits inside its readback), which is what the synchronous methods
/// need. A backend that really suspends (WebGPU in the browser) gives [`SessionError::MustAwait`].
pub(crate) fn now<T>(run: impl Future<Output = Result<T>>) -> Result<T> {
    let mut run = std::pin::pin!(run);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match run.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => Err(SessionError::MustAwait),
    }
}
