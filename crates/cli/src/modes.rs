//! What the subcommands share: run settings from the generate flags, and the sessions the model flags
//! open (the main one on the backend asked for, extra CPU ones for a draft model or another condition).

use std::path::Path;

use anyhow::{Context, Result};
use tokscope_gpu::GpuContext;
use tokscope_model::ModelFile;
use tokscope_model::cpu::Precision;
use tokscope_session::{GenerateOptions, Prompt, Session};

use crate::args::{BackendChoice, GenerateArgs, ModelArgs, PrecisionChoice};
use crate::model_path;

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

/// Generate settings from the generate flags.
pub fn generate_options(a: &GenerateArgs) -> GenerateOptions {
    GenerateOptions {
        prompt: prompt(a),
        max_tokens: a.max_tokens,
        sampling: a.sampling,
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

/// The session the model flags ask for: on a GPU or the CPU.
pub fn open_session(args: &ModelArgs) -> Result<Session> {
    let file = open_file(args.model.as_deref())?;
    // `auto` takes a hardware GPU only: a software adapter (lavapipe) is slower than the CPU backend.
    let gpu = match args.backend {
        BackendChoice::Gpu => Some(GpuContext::new_blocking()?),
        BackendChoice::Auto => GpuContext::new_blocking().ok().filter(|c| !c.is_software()),
        BackendChoice::Cpu => None,
    };
    if let Some(ctx) = gpu {
        return Ok(Session::gpu(&ctx, file, args.ctx)?);
    }
    cpu_session(file, args)
}

pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
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
