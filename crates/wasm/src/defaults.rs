//! The settings the page starts from and the limits it keeps to, in one place: the page reads them from
//! web/src/lib/engineDefaults.ts, which the test below writes from [`PageDefaults`] (typed by its generated
//! TypeScript declaration), so a value changed here reaches the page and nothing restates it there.

use serde::Serialize;
use tokscope_model::context::DEFAULT_CONTEXT;
use tokscope_session::{CompareMode, GenerateOptions};
use tsify::Tsify;

use crate::options::{MAX_PAGE_DRAFTS, SpeculateRequest};

/// The page's starting settings: livelier sampling than the CLI's plain temperature 1 (so the warpers show),
/// the engine's own defaults elsewhere.
#[derive(Clone, Debug, PartialEq, Serialize, Tsify)]
pub struct PageDefaults {
    pub temperature: f32,
    pub top_k: usize,
    pub top_p: f32,
    pub min_p: f32,
    pub seed: u64,
    pub max_tokens: usize,
    /// Alternatives shown per step.
    pub top_n: usize,
    /// speculate: drafts per target call, prompt lookup's longest n-gram, and the most draft sequences per
    /// round the page offers.
    pub gamma: usize,
    pub max_ngram: usize,
    pub max_drafts: usize,
    /// compare: α of emulated disalignment, and of contrastive decoding and USCD; USCD's threshold (nats).
    pub ed_alpha: f64,
    pub cd_alpha: f64,
    pub threshold: f64,
    /// Positions of the KV cache a load asks for (the page's memory estimate assumes it too).
    pub n_ctx: usize,
}

impl Default for PageDefaults {
    fn default() -> Self {
        let generate = GenerateOptions::default();
        let speculate = SpeculateRequest::default();
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: generate.sampling.min_p,
            seed: 42,
            max_tokens: generate.max_tokens,
            top_n: 10,
            gamma: speculate.gamma,
            max_ngram: speculate.max_ngram,
            max_drafts: MAX_PAGE_DRAFTS,
            ed_alpha: CompareMode::ED_ALPHA,
            cd_alpha: CompareMode::CD_ALPHA,
            threshold: CompareMode::USCD_THRESHOLD,
            n_ctx: DEFAULT_CONTEXT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// web/src/lib/engineDefaults.ts as [`PageDefaults`] writes it.
    pub fn page_defaults_ts() -> String {
        let json = serde_json::to_string_pretty(&PageDefaults::default()).expect("plain numbers");
        format!(
            "// Written by crates/wasm/src/defaults.rs (its test `the_page_file_holds_these_defaults`, with \
             TOKSCOPE_BLESS=1): do not edit.\n\
             import type {{ PageDefaults }} from '../../pkg/tokscope_wasm';\n\n\
             export const ENGINE_DEFAULTS: PageDefaults = {json};\n"
        )
    }

    #[test]
    fn the_page_file_holds_these_defaults() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../web/src/lib/engineDefaults.ts"
        );
        let want = page_defaults_ts();
        if std::env::var_os("TOKSCOPE_BLESS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let got = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            got == want,
            "web/src/lib/engineDefaults.ts differs from PageDefaults: rewrite it with \
             `TOKSCOPE_BLESS=1 cargo test -p tokscope-wasm --lib defaults`"
        );
    }

    #[test]
    fn the_page_keeps_the_engine_limits_and_mode_defaults() {
        let d = PageDefaults::default();
        assert_eq!(d.max_drafts, MAX_PAGE_DRAFTS);
        assert_eq!(d.ed_alpha, 0.5, "metrics.md §6: ED's default α");
        assert_eq!(d.cd_alpha, 0.1, "metrics.md §6: CD's default α");
        let uscd = crate::options::CompareRequest {
            mode: tokscope_session::ModeName::Uscd,
            ..Default::default()
        };
        assert_eq!(
            uscd.options().mode,
            CompareMode::Uscd {
                alpha: d.cd_alpha,
                threshold: d.threshold
            }
        );
        // The page and the CLI share α's default: ED's is its own, not CD's.
        let ed = crate::options::CompareRequest {
            mode: tokscope_session::ModeName::Ed,
            ..Default::default()
        };
        assert_eq!(ed.options().mode, CompareMode::Ed { alpha: d.ed_alpha });
    }
}
