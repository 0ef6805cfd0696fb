//! The ranges of the numeric flags, checked as clap parses them: a value out of range is a usage error
//! naming the flag and the range, before any model is loaded.

use tokscope_dist::params::flags::checked;

/// Most alternatives a step lists (`--top`): more than anyone reads, and bounded output per step.
const MAX_TOP_N: usize = 1000;

/// Most CPU threads (`--threads`): far beyond any machine's cores, short of what the OS refuses.
const MAX_THREADS: usize = 1024;

/// `--min-k`: a fraction of the tokens in (0, 1].
pub fn fraction(s: &str) -> Result<f64, String> {
    checked(s, |k: &f64| *k > 0.0 && *k <= 1.0, "in (0, 1]")
}

/// `--top`: alternatives listed per step.
pub fn top_n(s: &str) -> Result<usize, String> {
    checked(
        s,
        |n: &usize| *n <= MAX_TOP_N,
        &format!("in 0..={MAX_TOP_N}"),
    )
}

/// `--threads`: at least one.
pub fn threads(s: &str) -> Result<usize, String> {
    checked(
        s,
        |n: &usize| (1..=MAX_THREADS).contains(n),
        &format!("in 1..={MAX_THREADS}"),
    )
}

/// Counts that must be at least 1 (`--ctx`, `--samples`, `--max-ngram`, `--exit-layer`).
pub fn at_least_one(s: &str) -> Result<usize, String> {
    checked(s, |n: &usize| *n >= 1, ">= 1")
}

/// Real-valued settings (`--alpha`, `--threshold`, `--weights`): finite.
pub fn finite(s: &str) -> Result<f64, String> {
    checked(s, |x: &f64| x.is_finite(), "that is finite")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokscope_dist::params::flags::{min_p, repetition_penalty, temperature, top_p};

    #[test]
    fn each_range_keeps_its_edges_and_refuses_beyond() {
        assert_eq!(temperature("0"), Ok(0.0));
        for bad in ["-0.1", "inf", "NaN", "x"] {
            assert!(temperature(bad).is_err(), "{bad}");
        }
        assert_eq!(top_p("1"), Ok(1.0));
        assert!(top_p("0").is_err() && top_p("1.01").is_err());
        assert_eq!(min_p("0"), Ok(0.0));
        assert!(min_p("-0.01").is_err() && min_p("1.5").is_err() && min_p("NaN").is_err());
        assert!(repetition_penalty("0").is_err() && repetition_penalty("inf").is_err());
        assert_eq!(fraction("1"), Ok(1.0));
        assert!(fraction("0").is_err());
        assert_eq!(top_n("0"), Ok(0));
        assert!(top_n("1001").is_err() && top_n("-1").is_err());
        assert_eq!(threads("1"), Ok(1));
        assert!(threads("0").is_err() && threads("100000").is_err());
        assert!(at_least_one("0").is_err());
        assert!(finite("-inf").is_err());
        assert_eq!(finite("-2.5"), Ok(-2.5));
    }
}
