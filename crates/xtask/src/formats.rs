//! The default model in the weight formats of tests/golden/formats/ (llama.cpp's file types), which
//! `setup` makes with tokscope-quant as llama.cpp's quantizer does: the default model dequantized
//! to F32, then that F32 file quantized to each file type. Each file's SHA-256 must equal the one
//! its golden file recorded from llama.cpp, so the tests run on llama.cpp's very file.

use crate::setup;
use crate::util::{self, banner};
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tokscope_gguf::Gguf;
use tokscope_quant::{FileType, Options, quantize_model};

/// What a golden file says about the model file it was made from.
struct Golden {
    /// llama.cpp's name of the file type (`Q4_K_M`).
    ftype: String,
    /// File name in `models/`.
    file: String,
    sha256: String,
    /// SHA-256 of the default model's F32 dequantization, the quantizer's input.
    source_f32_sha256: String,
}

/// The golden data's folder.
fn golden_dir() -> PathBuf {
    util::root().join("tests/golden/formats")
}

/// Every golden file's model, in file-name order.
fn goldens() -> Result<Vec<Golden>> {
    let dir = golden_dir();
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths.iter().map(|p| golden(p)).collect()
}

fn golden(path: &Path) -> Result<Golden> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let field = |k: &str| {
        v[k].as_str()
            .map(str::to_string)
            .with_context(|| format!("{} has no string `{k}`", path.display()))
    };
    Ok(Golden {
        ftype: field("ftype")?,
        file: field("file")?,
        sha256: field("file_sha256")?,
        source_f32_sha256: field("source_f32_sha256")?,
    })
}

/// Makes every golden format's file that `models/` lacks (or holds with a wrong hash).
pub fn all() -> Result<()> {
    let mut missing = Vec::new();
    for g in goldens()? {
        let path = util::models_dir().join(&g.file);
        if !(path.is_file() && setup::verified(&path, &g.sha256, "making it again")?) {
            missing.push(g);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|g| g.ftype.as_str()).collect();
    banner(&format!(
        "setup: making the default model as {} with tokscope's quantizer",
        names.join(", ")
    ));
    let opts = Options {
        pure: false,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let start = Instant::now();
    let model_path = setup::model_path();
    let model =
        fs::read(&model_path).with_context(|| format!("reading {}", model_path.display()))?;
    let source =
        Gguf::parse(&model).with_context(|| format!("parsing {}", model_path.display()))?;
    let (f32_file, _) = quantize_model(&source, FileType::ALL_F32, opts)?;
    drop(model);
    let digest = sha256(&f32_file);
    if let Some(g) = missing.iter().find(|g| g.source_f32_sha256 != digest) {
        bail!(
            "the default model dequantized to F32 by tokscope has SHA-256 {digest}, but \
             llama.cpp's ({}.json) has {}",
            g.ftype,
            g.source_f32_sha256
        );
    }
    println!(
        "xtask: the default model dequantized to F32 ({:.0} MB, equal to llama.cpp's) in {:.1} s",
        f32_file.len() as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    let f32_model = Gguf::parse(&f32_file).context("parsing the F32 model")?;
    for g in &missing {
        let start = Instant::now();
        let ftype = FileType::parse(&g.ftype)
            .with_context(|| format!("tokscope cannot make file type {}", g.ftype))?;
        let (bytes, _) = quantize_model(&f32_model, ftype, opts)?;
        let digest = sha256(&bytes);
        if digest != g.sha256 {
            bail!(
                "{} made by tokscope has SHA-256 {digest}, but llama.cpp's has {}",
                g.file,
                g.sha256
            );
        }
        let path = util::models_dir().join(&g.file);
        // Written beside, then renamed: an interrupted run never leaves a half file.
        let partial = path.with_extension("gguf.part");
        fs::write(&partial, &bytes).with_context(|| format!("writing {}", partial.display()))?;
        fs::rename(&partial, &path)?;
        setup::write_stamp(&g.sha256, &path)?;
        println!(
            "xtask: made {} ({}, {:.1} MB, SHA-256 equal to llama.cpp's) in {:.1} s",
            path.display(),
            g.ftype,
            bytes.len() as f64 / 1e6,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
