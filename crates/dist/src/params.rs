//! The sampling settings a run is asked for ([`SamplingParams`]), their ranges, and the parsers the CLI's
//! flags check them with.

use serde::{Deserialize, Serialize};

use crate::DistError;

/// The user's sampling knobs; each has an "off" value, and [`Default`] is plain temperature-1 sampling.
///
/// One shape everywhere: the page's requests flatten it (serde), the CLI's arguments flatten it (clap, with the
/// `clap` feature), and a run carries it unchanged to the warpers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default)]
pub struct SamplingParams {
    /// Divides logits; 0 means greedy (argmax, lowest id on ties), 1 = off.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT.temperature, value_parser = flags::temperature))]
    pub temperature: f32,
    /// Keep the tokens whose logit is at least the k-th largest (ties kept); 0 = off.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT.top_k))]
    pub top_k: usize,
    /// Keep the most probable tokens until their mass reaches `top_p`; 1 = off.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT.top_p, value_parser = flags::top_p))]
    pub top_p: f32,
    /// Drop tokens with `p < min_p · max p`; 0 = off.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT.min_p, value_parser = flags::min_p))]
    pub min_p: f32,
    /// Locally typical sampling mass; 1 = off.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT.typical, value_parser = flags::typical))]
    pub typical: f32,
    /// HF repetition penalty on tokens seen in the history (negative logits ×, positive ÷); 1 = off.
    #[cfg_attr(
        feature = "clap",
        arg(long, default_value_t = DEFAULT.repetition_penalty, value_parser = flags::repetition_penalty)
    )]
    pub repetition_penalty: f32,
}

/// Plain temperature-1 sampling: every knob off.
const DEFAULT: SamplingParams = SamplingParams {
    temperature: 1.0,
    top_k: 0,
    top_p: 1.0,
    min_p: 0.0,
    typical: 1.0,
    repetition_penalty: 1.0,
};

impl Default for SamplingParams {
    fn default() -> Self {
        DEFAULT
    }
}

impl SamplingParams {
    /// Greedy decoding: temperature 0, every other knob off.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            ..Self::default()
        }
    }

    /// Checks every knob is in its range, so that a bad setting is reported instead of giving a silent NaN.
    pub fn validate(&self) -> Result<(), DistError> {
        let bad = |name, value: f32, expected| DistError::InvalidParam {
            name,
            value: f64::from(value),
            expected,
        };
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(bad("temperature", self.temperature, "finite and >= 0"));
        }
        if !(0.0..=1.0).contains(&self.top_p) {
            return Err(bad("top_p", self.top_p, "in [0, 1]"));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err(bad("min_p", self.min_p, "in [0, 1]"));
        }
        if !(self.typical > 0.0 && self.typical <= 1.0) {
            return Err(bad("typical", self.typical, "in (0, 1]"));
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return Err(bad(
                "repetition_penalty",
                self.repetition_penalty,
                "finite and > 0",
            ));
        }
        Ok(())
    }
}

/// Parsers of the sampling flags, checked as the CLI parses them: a value out of range is a usage error naming
/// the range. Stricter than [`SamplingParams::validate`] where a value is allowed but pointless (top-p 0).
pub mod flags {
    use std::str::FromStr;

    /// Parses `s` as a `T` and keeps it if `ok` holds, else says what the flag takes.
    pub fn checked<T: FromStr>(
        s: &str,
        ok: impl Fn(&T) -> bool,
        expected: &str,
    ) -> Result<T, String> {
        let value = s
            .trim()
            .parse::<T>()
            .map_err(|_| format!("expected a number {expected}"))?;
        if ok(&value) {
            Ok(value)
        } else {
            Err(format!("must be {expected}"))
        }
    }

    /// `--temperature`: finite and at least 0 (0 = greedy).
    pub fn temperature(s: &str) -> Result<f32, String> {
        checked(s, |t: &f32| t.is_finite() && *t >= 0.0, "finite and >= 0")
    }

    /// `--top-p`: a probability mass in (0, 1] (1 = off).
    pub fn top_p(s: &str) -> Result<f32, String> {
        checked(s, |p: &f32| *p > 0.0 && *p <= 1.0, "in (0, 1]")
    }

    /// `--min-p`: a fraction of the top probability in [0, 1] (0 = off).
    pub fn min_p(s: &str) -> Result<f32, String> {
        checked(s, |p: &f32| (0.0..=1.0).contains(p), "in [0, 1]")
    }

    /// `--typical`: a probability mass in (0, 1] (1 = off).
    pub fn typical(s: &str) -> Result<f32, String> {
        checked(s, |p: &f32| *p > 0.0 && *p <= 1.0, "in (0, 1]")
    }

    /// `--repetition-penalty`: finite and above 0 (1 = off).
    pub fn repetition_penalty(s: &str) -> Result<f32, String> {
        checked(s, |r: &f32| r.is_finite() && *r > 0.0, "finite and > 0")
    }
}
