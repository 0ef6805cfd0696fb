//! `tokscope quantize`: requantize a model to one of llama.cpp's file types with its per-tensor
//! rules (tokscope-quant), write the GGUF, and report what each tensor became, fallbacks included.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use serde_json::json;
use tokscope_gguf::Gguf;
use tokscope_quant::{FileType, Options, Report, TensorReport, quantize_model};

use super::{Format, default_threads, model_path, ranges};

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
    #[arg(long)]
    write: PathBuf,
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
        threads: a.threads.unwrap_or_else(default_threads),
    };
    let (bytes, report) = quantize_model(&gguf, a.to, opts)
        .with_context(|| format!("quantizing {} to {}", path.display(), a.to))?;
    write_atomically(&a.write, &bytes)?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let out = std::io::stdout();
    let mut out = out.lock();
    match a.format {
        Format::Jsonl => {
            for t in &report.tensors {
                writeln!(out, "{}", tensor_json(t))?;
            }
            writeln!(out, "{}", done_json(&report, &a.write, ms))?;
        }
        Format::Text => text(&mut out, &report, &a.write, ms)?,
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

fn done_json(r: &Report, path: &Path, ms: f64) -> serde_json::Value {
    json!({
        "event": "done",
        "ftype": r.ftype.name(),
        "ftype_id": r.ftype.id(),
        "file": path.display().to_string(),
        "file_bytes": r.file_bytes,
        "tensors": r.tensors.len(),
        "fallbacks": r.tensors.iter().filter(|t| t.fallback.is_some()).count(),
        "ms": ms,
    })
}

fn text(out: &mut impl Write, r: &Report, path: &Path, ms: f64) -> Result<()> {
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
    writeln!(
        out,
        "wrote {}: {} ({} tensors, {:.2} MiB, {fallbacks} fell back) in {:.1} s",
        path.display(),
        r.ftype,
        r.tensors.len(),
        r.file_bytes as f64 / (1 << 20) as f64,
        ms / 1e3
    )?;
    Ok(())
}
