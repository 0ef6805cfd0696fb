//! `tokscope quantize`: requantize a model to one of llama.cpp's file types with its per-tensor
//! rules (tokscope-quant), write the GGUF, and report what each tensor became, fallbacks included;
//! with `--compare`, run the loaded and the requantized model side by side on the CPU (greedy from
//! the loaded one) and show each step's KL(loaded ‖ requantized) and where their top-1 differ.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use serde_json::json;
use tokscope_dist::SamplingParams;
use tokscope_gguf::Gguf;
use tokscope_model::cpu::Precision;
use tokscope_model::{ModelBytes, ModelFile};
use tokscope_quant::{FileType, Options, Report, TensorReport, quantize_model};
use tokscope_session::{
    CompareMode, CompareOptions, GenerateOptions, Prompt, Session, compare as session_compare,
};

use crate::args::Format;
use crate::output::Output;
use crate::{model_path, ranges};

#[derive(Args)]
pub struct QuantizeArgs {
    /// GGUF model file [default: the model `cargo xtask setup` placed in models/]
    #[arg(long)]
    model: Option<PathBuf>,
    /// File type (llama-quantize's names): Q2_K, Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S,
    /// Q5_K_M, Q6_K, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, IQ4_XS, F16, BF16, F32; Q3_K, Q4_K and
    /// Q5_K mean their _M mixtures
    #[arg(long, value_parser = parse_ftype)]
    to: FileType,
    /// Where to write the new GGUF file
    #[arg(long, required_unless_present = "compare")]
    write: Option<PathBuf>,
    /// Run the loaded and the requantized model side by side (CPU, greedy from the loaded one):
    /// per step KL(loaded ‖ requantized) and top-1 flips, then the file sizes
    #[arg(long, requires = "prompt")]
    compare: bool,
    /// The prompt --compare continues
    #[arg(long)]
    prompt: Option<String>,
    /// Tokens --compare generates
    #[arg(long, default_value_t = 16)]
    max_tokens: usize,
    /// Alternatives listed per step of --compare
    #[arg(long = "top", default_value_t = 5, value_parser = ranges::top_n)]
    top_n: usize,
    /// Every weight in the file type's default type (no extra bits for attn_v, ffn_down, ...);
    /// rows too narrow for it still fall back
    #[arg(long)]
    pure: bool,
    /// Threads [default: all cores]
    #[arg(long, value_parser = ranges::threads)]
    threads: Option<usize>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

fn parse_ftype(s: &str) -> Result<FileType, String> {
    FileType::parse(s).ok_or_else(|| {
        format!(
            "unknown file type {s:?}; one of {}",
            FileType::names().join(", ")
        )
    })
}

pub fn run(a: QuantizeArgs) -> Result<()> {
    let path = model_path::resolve(a.model.as_deref())?;
    let file = std::fs::File::open(&path).with_context(|| format!("reading {}", path.display()))?;
    // SAFETY: read-only map of a file tokscope does not write (the output goes to a new file).
    let map = unsafe { memmap2::Mmap::map(&file) }
        .with_context(|| format!("reading {}", path.display()))?;
    let gguf = Gguf::parse(&map).with_context(|| format!("parsing {}", path.display()))?;
    let start = Instant::now();
    let opts = Options {
        pure: a.pure,
        threads: a.threads.unwrap_or_else(crate::modes::default_threads),
    };
    let (bytes, report) = quantize_model(&gguf, a.to, opts)
        .with_context(|| format!("quantizing {} to {}", path.display(), a.to))?;
    if let Some(w) = &a.write {
        write_atomically(w, &bytes)?;
    }
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let loaded_bytes = map.len() as u64;
    {
        let out = std::io::stdout();
        let mut out = out.lock();
        match a.format {
            Format::Jsonl => {
                for t in &report.tensors {
                    writeln!(out, "{}", tensor_json(t))?;
                }
                writeln!(
                    out,
                    "{}",
                    done_json(&report, a.write.as_deref(), loaded_bytes, ms)
                )?;
            }
            Format::Text => text(&mut out, &report, a.write.as_deref(), loaded_bytes, ms)?,
        }
    }
    if a.compare {
        drop(gguf);
        compare(&a, &path, bytes, opts.threads)?;
    }
    Ok(())
}

/// The loaded model (condition a) against the requantized one (condition b), both on the CPU
/// with f32 activations, decoding greedily from a.
fn compare(a: &QuantizeArgs, path: &Path, bytes: Vec<u8>, threads: usize) -> Result<()> {
    let loaded = ModelFile::open(path).with_context(|| format!("loading {}", path.display()))?;
    let requantized = ModelFile::from_bytes(ModelBytes::Owned(bytes))
        .with_context(|| format!("loading the {} model", a.to))?;
    let mut sa = Session::cpu(loaded, threads, None, Precision::Exact)?;
    let mut sb = Session::cpu(requantized, threads, None, Precision::Exact)
        .with_context(|| format!("running the {} model", a.to))?;
    let prompt = Prompt::Raw(a.prompt.clone().unwrap_or_default());
    let opts = CompareOptions {
        generate: GenerateOptions {
            prompt: prompt.clone(),
            max_tokens: a.max_tokens,
            sampling: SamplingParams::greedy(),
            seed: 0,
            top_n: a.top_n,
            ignore_eos: false,
        },
        others: vec![prompt],
        mode: CompareMode::A,
    };
    let mut output = Output::new(a.format);
    let done = session_compare(&mut [&mut sa, &mut sb], &opts, &mut |e| output.event(e))?;
    if a.format == Format::Text
        && let Some(c) = &done.compare
    {
        writeln!(
            std::io::stdout().lock(),
            "loaded vs {}: mean KL(loaded‖{}) {:.5} nats; top-1 differs at {} of {} steps",
            a.to,
            a.to,
            c.mean_kl_ab,
            c.argmax_disagreements,
            done.tokens
        )?;
    }
    Ok(())
}

/// Writes beside the target, then renames: a failed run leaves no half-written model.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("--write {} is not a file name", path.display()))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(".part");
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

fn tensor_json(t: &TensorReport) -> serde_json::Value {
    json!({
        "event": "tensor",
        "name": t.name,
        "dims": t.dims,
        "from": t.from.name(),
        "to": t.to.name(),
        "bytes": t.bytes,
        "fallback": t.fallback.map(|f| json!({"wanted": f.wanted.name(), "block": f.block})),
    })
}

fn done_json(r: &Report, path: Option<&Path>, loaded_bytes: u64, ms: f64) -> serde_json::Value {
    json!({
        "event": "done",
        "ftype": r.ftype.name(),
        "ftype_id": r.ftype.id(),
        "file": path.map(|p| p.display().to_string()),
        "file_bytes": r.file_bytes,
        "loaded_bytes": loaded_bytes,
        "tensors": r.tensors.len(),
        "fallbacks": r.tensors.iter().filter(|t| t.fallback.is_some()).count(),
        "ms": ms,
    })
}

fn text(
    out: &mut impl Write,
    r: &Report,
    path: Option<&Path>,
    loaded_bytes: u64,
    ms: f64,
) -> Result<()> {
    let width = r.tensors.iter().map(|t| t.name.len()).max().unwrap_or(0);
    for t in &r.tensors {
        let dims: Vec<String> = t.dims.iter().map(u64::to_string).collect();
        write!(
            out,
            "{:width$}  {:>12}  {:>6} -> {:<6}",
            t.name,
            dims.join("x"),
            t.from.name(),
            t.to.name()
        )?;
        if let Some(f) = t.fallback {
            write!(
                out,
                "  (fallback: {} needs rows in blocks of {})",
                f.wanted, f.block
            )?;
        }
        writeln!(out)?;
    }
    let fallbacks = r.tensors.iter().filter(|t| t.fallback.is_some()).count();
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let what = match path {
        Some(p) => format!("wrote {}", p.display()),
        None => "made (not written)".to_string(),
    };
    writeln!(
        out,
        "{what}: {} ({} tensors, {:.2} MiB; the loaded file {:.2} MiB; {fallbacks} fell back) in {:.1} s",
        r.ftype,
        r.tensors.len(),
        mib(r.file_bytes),
        mib(loaded_bytes),
        ms / 1e3
    )?;
    Ok(())
}
