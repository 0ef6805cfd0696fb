//! Every weight format of the GPU's table held as whole GGUF blocks (Q5_0, Q5_1, Q2_K … IQ4_XS),
//! on tiny random models whose widths are multiples of 256: the GPU's logits against the CPU
//! backend's exact (f32) arithmetic on the same model with each weight stored as F32, its values
//! decoded by crates/gguf's reference decoders (bit-identical to ggml's), and the CPU backend's
//! own path on the quantized file against the same. The GPU dequantizes in
//! its kernels; in f32 both differ only in summation order (relative [`BOUND`]), and the golden
//! tolerances (top-1, top-20 |Δlogprob| < 0.01, |ΔH| < 1e-3) follow.
//!
//! The blocks are random bytes with their f16 scales set so that each weight has the spread the
//! tiny writer gives it: no quantizer is needed, and every bit pattern of the quants occurs.
//! Runs on whatever adapter wgpu finds (lavapipe in CI); no adapter is a failure.

use tokscope_gguf::blocks::dequantize_row;
use tokscope_gguf::{GgmlType, Gguf, GgufWriter, Scale};
use tokscope_gpu::formats::{FORMATS, Layout};
use tokscope_gpu::{Arithmetic, GpuBackend, GpuContext, GpuError, LoadOptions, MatvecVariant};
use tokscope_model::cpu::CpuBackend;
use tokscope_model::{Backend, LogitsFor, ModelBytes, ModelFile};
use tokscope_reference::tiny::{TinySpec, tiny_llama_gguf};

const BOUND: f32 = 1e-4;
const PROMPT: [u32; 9] = [3, 17, 42, 8, 29, 0, 61, 5, 33];

fn file(bytes: &[u8]) -> ModelFile {
    ModelFile::from_bytes(ModelBytes::Owned(bytes.to_vec())).unwrap()
}

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `rows` rows of `cols` random elements of `ty` whose values have about `rms` as their root mean
/// square, and their values as crates/gguf decodes them.
fn random_rows(
    ty: GgmlType,
    rows: usize,
    cols: usize,
    rms: f32,
    rng: &mut SplitMix,
) -> (Vec<u8>, Vec<f32>) {
    let (block_elems, block_bytes) = ty.block_layout().unwrap();
    let scales = ty.decoder().unwrap().scales;
    let n_blocks = rows * cols / block_elems;
    let mut bytes: Vec<u8> = (0..n_blocks * block_bytes)
        .map(|_| rng.next() as u8)
        .collect();
    // Every scale field 1 first: the values scale with it (the minimum too), so one factor sets
    // their spread.
    let set = |bytes: &mut [u8], value: f32| {
        for block in bytes.chunks_exact_mut(block_bytes) {
            for scale in scales {
                match *scale {
                    Scale::F16(o) => {
                        block[o..o + 2].copy_from_slice(&half::f16::from_f32(value).to_le_bytes())
                    }
                    Scale::F32(o) => block[o..o + 4].copy_from_slice(&value.to_le_bytes()),
                }
            }
        }
    };
    set(&mut bytes, 1.0);
    let mut values = vec![0.0; rows * cols];
    dequantize_row(ty, &bytes, &mut values).unwrap();
    let unit_rms = (values.iter().map(|v| v * v).sum::<f32>() / values.len() as f32).sqrt();
    set(&mut bytes, rms / unit_rms.max(1e-6));
    dequantize_row(ty, &bytes, &mut values).unwrap();
    (bytes, values)
}

/// A tiny model with every 2-D weight (the embedding too) of type `ty`, and its twin with the
/// same values stored as F32.
fn model_pair(ty: GgmlType, tied: bool, seed: u64) -> (Vec<u8>, Vec<u8>, usize) {
    let spec = TinySpec {
        n_vocab: 96,
        n_embd: 256,
        n_head: 4,
        n_head_kv: 2,
        head_dim: 64,
        n_ff: 512,
        tied,
        weight_type: GgmlType::F32,
        embd_type: GgmlType::F32,
        ..TinySpec::default()
    };
    let base = tiny_llama_gguf(&spec, seed);
    let g = Gguf::parse(&base).unwrap();
    let mut quantized = GgufWriter::new();
    let mut twin = GgufWriter::new();
    for (key, value) in g.metadata.iter() {
        quantized.metadata(key, value.clone());
        twin.metadata(key, value.clone());
    }
    let mut rng = SplitMix(seed);
    for t in &g.tensors {
        let data = g.tensor_data(t);
        if t.dims.len() != 2 {
            quantized.tensor_raw(&t.name, &t.dims, t.ggml_type, data.to_vec());
            twin.tensor_raw(&t.name, &t.dims, t.ggml_type, data.to_vec());
            continue;
        }
        let (cols, rows) = (t.dims[0] as usize, t.dims[1] as usize);
        let rms = match t.name.as_str() {
            "token_embd.weight" => 1.0,
            _ => 1.0 / (cols as f32).sqrt(),
        };
        let (bytes, values) = random_rows(ty, rows, cols, rms, &mut rng);
        quantized.tensor_raw(&t.name, &t.dims, ty, bytes);
        let f32_bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        twin.tensor_raw(&t.name, &t.dims, GgmlType::F32, f32_bytes);
    }
    (quantized.to_bytes(), twin.to_bytes(), spec.n_vocab)
}

/// `max|a − b| / max|b|` per position, the largest over positions (NaN anywhere: infinite).
fn max_relative(a: &[f32], b: &[f32], n_vocab: usize) -> f32 {
    assert_eq!(a.len(), b.len());
    if a.iter().any(|v| !v.is_finite()) {
        return f32::INFINITY;
    }
    a.chunks_exact(n_vocab)
        .zip(b.chunks_exact(n_vocab))
        .map(|(a, b)| {
            let diff = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            diff / b.iter().map(|y| y.abs()).fold(0.0, f32::max)
        })
        .fold(0.0, f32::max)
}

/// The golden tolerances at each position: same top-1, top-20 |Δlogprob| < 0.01, |ΔH| < 1e-3.
fn golden_close(got: &[f32], want: &[f32], n_vocab: usize) -> Result<(), String> {
    let logprobs = |z: &[f32]| {
        let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let lse = m + z.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln();
        z.iter().map(|&v| v as f64 - lse).collect::<Vec<f64>>()
    };
    let entropy = |lp: &[f64]| -lp.iter().map(|l| l.exp() * l).sum::<f64>();
    for (pos, (g, w)) in got
        .chunks_exact(n_vocab)
        .zip(want.chunks_exact(n_vocab))
        .enumerate()
    {
        let (lg, lw) = (logprobs(g), logprobs(w));
        let mut order: Vec<usize> = (0..n_vocab).collect();
        order.sort_by(|&a, &b| lw[b].total_cmp(&lw[a]).then(a.cmp(&b)));
        let top_got = (0..n_vocab).max_by(|&a, &b| lg[a].total_cmp(&lg[b]).then(b.cmp(&a)));
        if top_got != Some(order[0]) && (lw[order[0]] - lw[order[1]]).abs() > 1e-3 {
            return Err(format!("position {pos}: top-1 differs"));
        }
        for &i in &order[..20] {
            if (lg[i] - lw[i]).abs() >= 0.01 {
                return Err(format!("position {pos}: token {i} logprob off"));
            }
        }
        if (entropy(&lg) - entropy(&lw)).abs() >= 1e-3 {
            return Err(format!("position {pos}: entropy off"));
        }
    }
    Ok(())
}

/// The matvec variants (and subgroup use) this adapter runs.
fn variants(ctx: &GpuContext) -> Vec<(MatvecVariant, bool)> {
    let mut v = vec![
        (MatvecVariant::Workgroup, false),
        (MatvecVariant::Rowwise, false),
    ];
    if ctx.has_subgroups() {
        v.extend([
            (MatvecVariant::Rowwise, true),
            (MatvecVariant::Subgroup, true),
        ]);
    }
    v
}

#[test]
fn every_whole_block_format_matches_the_cpu_backend_on_its_f32_twin() {
    let ctx = GpuContext::new_blocking().unwrap_or_else(|e| panic!("{e}"));
    println!("adapter: {}", ctx.describe());
    let formats: Vec<GgmlType> = FORMATS
        .iter()
        .filter(|f| f.layout == Layout::Blocks)
        .map(|f| f.ty)
        .collect();
    assert_eq!(formats.len(), 9, "the whole-block formats of the table");
    let mut failures = Vec::new();
    for (i, &ty) in formats.iter().enumerate() {
        let tied = i % 2 == 1;
        let (quantized, twin, n_vocab) = model_pair(ty, tied, 9000 + i as u64);
        let mut cpu = CpuBackend::with_context(file(&twin), 1, 64).unwrap();
        let want = cpu.forward(&PROMPT, LogitsFor::All).unwrap();
        // The CPU backend's own path on the quantized file (each block dequantized, f32 dots)
        // computes the same values.
        let mut cpu_q = CpuBackend::with_context(file(&quantized), 1, 64).unwrap();
        let direct = cpu_q.forward(&PROMPT, LogitsFor::All).unwrap();
        let rel = max_relative(&direct, &want, n_vocab);
        if rel.is_nan() || rel > BOUND {
            failures.push(format!(
                "{ty}: the CPU backend on the file itself: {rel:.3e}"
            ));
        }
        for (matvec, subgroups) in variants(&ctx) {
            let options = LoadOptions {
                matvec: Some(matvec),
                subgroups: Some(subgroups),
                arithmetic: Some(Arithmetic::F32),
                ..LoadOptions::default()
            };
            let what = format!("{ty} {matvec:?} subgroups {subgroups} tied {tied}");
            // Prefill (the matmul, or the rowwise matvec's tiles), then decoding token by token.
            let mut gpu = GpuBackend::with_options(&ctx, &file(&quantized), 64, options).unwrap();
            let all = gpu.forward(&PROMPT, LogitsFor::All).unwrap();
            let mut stepwise =
                GpuBackend::with_options(&ctx, &file(&quantized), 64, options).unwrap();
            let mut decoded = Vec::new();
            for &t in &PROMPT {
                decoded.extend(stepwise.forward(&[t], LogitsFor::Last).unwrap());
            }
            for (how, got) in [("prefill", &all), ("decoded", &decoded)] {
                let rel = max_relative(got, &want, n_vocab);
                println!("{what:<44} {how:<8} {rel:>10.3e}");
                if rel.is_nan() || rel > BOUND {
                    failures.push(format!("{what} {how}: {rel:.3e}"));
                }
                if let Err(e) = golden_close(got, &want, n_vocab) {
                    failures.push(format!("{what} {how}: {e}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "over {BOUND:e}:\n{}",
        failures.join("\n")
    );
}

#[test]
fn a_format_without_a_row_is_refused_naming_its_type() {
    let ctx = GpuContext::new_blocking().unwrap_or_else(|e| panic!("{e}"));
    // Q8_K is a type ggml computes with, but no GPU kernel reads it.
    let (quantized, _, _) = model_pair(GgmlType::Q8_K, false, 9100);
    let err = GpuBackend::new(&ctx, &file(&quantized), 64)
        .err()
        .expect("refused");
    assert!(
        matches!(
            &err,
            GpuError::UnsupportedType {
                ty: GgmlType::Q8_K,
                ..
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("Q8_K") && message.contains("Q4_K"),
        "{message}"
    );
}
