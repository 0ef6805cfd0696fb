//! Shared pieces of the speculate, compare and branch subcommands: settings from the generate flags, and
//! extra CPU sessions (a draft model, a second condition).

use std::path::Path;

use anyhow::{Context, Result};
use tokscope_dist::SamplingParams;
use tokscope_model::ModelFile;
use tokscope_model::cpu::Precision;
use tokscope_session::{GenerateOptions, Prompt, Session};

use super::{GenerateArgs, ModelArgs, PrecisionChoice, default_threads, model_path};

/// The prompt the generate flags describe (`--chat` renders it through the chat template).
pub fn prompt(a: &GenerateArgs) -> Prompt {
    if a.chat {
        Prompt::Chat {
            system: a.system.clone(),
            user: a.prompt.clone(),
        }
    } else {
        Prompt::Raw(a.prompt.clone())
    }
}

/// The sampling knobs of the generate flags.
pub fn sampling(a: &GenerateArgs) -> SamplingParams {
    SamplingParams {
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
        min_p: a.min_p,
        repetition_penalty: a.repetition_penalty,
        ..SamplingParams::default()
    }
}

/// Generate settings from the generate flags.
pub fn generate_options(a: &GenerateArgs) -> GenerateOptions {
    GenerateOptions {
        prompt: prompt(a),
        max_tokens: a.max_tokens,
        sampling: sampling(a),
        seed: a.seed,
        top_n: a.top_n,
        ignore_eos: a.ignore_eos,
    }
}

pub fn precision(m: &ModelArgs) -> Precision {
    match m.precision {
        PrecisionChoice::Exact => Precision::Exact,
        PrecisionChoice::Q8 => Precision::Q8,
    }
}

pub fn threads(m: &ModelArgs) -> usize {
    m.threads.unwrap_or_else(default_threads)
}

/// Opens a GGUF file (`None`: the default model).
pub fn open_file(path: Option<&Path>) -> Result<ModelFile> {
    let path = model_path::resolve(path)?;
    ModelFile::open(&path).with_context(|| format!("loading {}", path.display()))
}

/// A CPU session over `file` with the thread, context and precision flags of `m`.
pub fn cpu_session(file: ModelFile, m: &ModelArgs) -> Result<Session> {
    Ok(Session::cpu(file, threads(m), m.ctx, precision(m))?)
}

/// The context size a second model gets (on the CPU): the flag, else its training context,
/// at most that and a clear error past what memory allows.
pub fn n_ctx(m: &ModelArgs, file: &ModelFile) -> Result<usize> {
    Ok(file.config.context_size(m.ctx, file.config.n_ctx_train)?)
}
