//! The one error type of this crate: every function that can meet bad input returns it instead of panicking.

use thiserror::Error;

/// Why a distribution computation could not give a number.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DistError {
    /// Nothing to compute over: an empty slice, or every logit is -inf.
    #[error("empty distribution: no element with finite value")]
    Empty,
    /// A logit or value is NaN or +inf, which no distribution can hold.
    #[error("value at index {index} is not usable: {value}")]
    NotFinite { index: usize, value: f64 },
    /// A probability is negative or not finite.
    #[error("probability at index {index} is invalid: {value}")]
    InvalidProbability { index: usize, value: f64 },
    /// A token id is outside the vocabulary.
    #[error("token id {id} is outside the vocabulary of {vocab} tokens")]
    TokenOutOfRange { id: u32, vocab: usize },
    /// Two distributions that must be over the same vocabulary differ in length.
    #[error("length mismatch: {left} vs {right}")]
    LengthMismatch { left: usize, right: usize },
    /// A parameter is outside its allowed range.
    #[error("parameter {name} = {value} is invalid: expected {expected}")]
    InvalidParam {
        name: &'static str,
        value: f64,
        expected: &'static str,
    },
}
