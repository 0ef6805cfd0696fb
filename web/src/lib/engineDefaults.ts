// Written by crates/wasm/src/defaults.rs (its test `the_page_file_holds_these_defaults`, with TOKSCOPE_BLESS=1): do not edit.
import type { PageDefaults } from '../../pkg/tokscope_wasm';

export const ENGINE_DEFAULTS: PageDefaults = {
  "temperature": 0.8,
  "top_k": 40,
  "top_p": 0.95,
  "min_p": 0.0,
  "seed": 42,
  "max_tokens": 64,
  "top_n": 10,
  "gamma": 4,
  "max_ngram": 3,
  "max_drafts": 8,
  "ed_alpha": 0.5,
  "cd_alpha": 0.1,
  "threshold": 1.0,
  "n_ctx": 2048
};
