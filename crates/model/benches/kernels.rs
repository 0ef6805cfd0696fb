//! Matmul kernels on SmolLM2-135M's shapes (width 576, ffn 1536, k/v 192, vocab 49152; Q4_1 layers,
//! a Q8_0 tied LM head), single-threaded, throughput in weight bytes read.
//!
//! Every case runs on both paths: `q8` (activations quantized to Q8_0/Q8_1, integer dots) and
//! `f32` (the exact path: f32 activations, weight blocks dequantized in registers).
//!
//! Besides criterion's per-shape numbers (each matrix stays warm in cache between iterations),
//! `model decode` runs one token through 30 distinct layers' worth of weights plus the LM head
//! (~98 MB, as a real decode step streams them), and a closing summary prints the implied
//! per-token time and this machine's memcpy bandwidth for comparison.
//!
//! `cargo bench -p tokscope-model --bench kernels`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use tokscope_gguf::GgmlType;
use tokscope_gguf::blocks;
use tokscope_model::cpu::kernels::{self, QuantActs};

const WIDTH: usize = 576;
const FFN: usize = 1536;
const KV: usize = 192;
const VOCAB: usize = 49152;
const LAYERS: usize = 30;

/// One matrix of the model: `rows × cols` of type `ty`.
struct Matrix {
    name: &'static str,
    ty: GgmlType,
    rows: usize,
    cols: usize,
}

/// Per layer: q, k, v, o, gate, up, down; then the LM head.
const LAYER: [Matrix; 7] = [
    Matrix {
        name: "q 576x576",
        ty: GgmlType::Q4_1,
        rows: WIDTH,
        cols: WIDTH,
    },
    Matrix {
        name: "k 192x576",
        ty: GgmlType::Q4_1,
        rows: KV,
        cols: WIDTH,
    },
    Matrix {
        name: "v 192x576",
        ty: GgmlType::Q4_1,
        rows: KV,
        cols: WIDTH,
    },
    Matrix {
        name: "o 576x576",
        ty: GgmlType::Q4_1,
        rows: WIDTH,
        cols: WIDTH,
    },
    Matrix {
        name: "gate 1536x576",
        ty: GgmlType::Q4_1,
        rows: FFN,
        cols: WIDTH,
    },
    Matrix {
        name: "up 1536x576",
        ty: GgmlType::Q4_1,
        rows: FFN,
        cols: WIDTH,
    },
    Matrix {
        name: "down 576x1536",
        ty: GgmlType::Q4_1,
        rows: WIDTH,
        cols: FFN,
    },
];
const HEAD: Matrix = Matrix {
    name: "lm_head 49152x576",
    ty: GgmlType::Q8_0,
    rows: VOCAB,
    cols: WIDTH,
};

/// Deterministic pseudo-random values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Quantized weights: 256 random rows, repeated to the full height (distinct memory all the same).
fn weights(m: &Matrix, seed: u64) -> Vec<u8> {
    let sample = blocks::quantize_row(m.ty, &values(256.min(m.rows) * m.cols, seed)).unwrap();
    let row_bytes = sample.len() / 256.min(m.rows);
    sample
        .iter()
        .copied()
        .cycle()
        .take(row_bytes * m.rows)
        .collect()
}

/// The two ways activations meet the weights.
#[derive(Clone, Copy)]
enum Path {
    /// Quantized to the weight's 8-bit dot format (llama.cpp's CPU arithmetic).
    Q8,
    /// Kept in f32, weights dequantized in registers (the exact path).
    F32,
}

impl Path {
    const BOTH: [Path; 2] = [Path::Q8, Path::F32];

    fn name(self) -> &'static str {
        match self {
            Path::Q8 => "q8",
            Path::F32 => "f32",
        }
    }
}

fn acts(m: &Matrix, n: usize, path: Path) -> QuantActs {
    let mut a = QuantActs::default();
    let x = values(n * m.cols, 7);
    match path {
        Path::Q8 => a.quantize(&x, n, m.cols, m.ty),
        Path::F32 => a.set_f32(&x, n, m.cols),
    }
    a
}

/// Median seconds of `f` over repeated runs lasting about `budget`.
fn median_secs(budget: Duration, mut f: impl FnMut()) -> f64 {
    f();
    let mut times = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget || times.len() < 5 {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// The whole model's weights for a decode step: 30 layers (distinct copies) and the head.
struct Model {
    layers: Vec<Vec<Vec<u8>>>,
    head: Vec<u8>,
}

impl Model {
    fn new() -> Model {
        let layer: Vec<Vec<u8>> = LAYER
            .iter()
            .enumerate()
            .map(|(i, m)| weights(m, i as u64))
            .collect();
        Model {
            layers: vec![layer; LAYERS],
            head: weights(&HEAD, 99),
        }
    }

    fn bytes(&self) -> usize {
        self.layers.iter().flatten().map(Vec::len).sum::<usize>() + self.head.len()
    }

    /// Every matmul of a step of `n` tokens (activations reused: the kernels' time only).
    fn step(&self, a_width: &QuantActs, a_ffn: &QuantActs, a_head: &QuantActs, out: &mut [f32]) {
        for layer in &self.layers {
            for (m, w) in LAYER.iter().zip(layer) {
                let a = if m.cols == FFN { a_ffn } else { a_width };
                kernels::matmul(m.ty, w, a, &mut out[..m.rows * a.n]);
            }
        }
        kernels::matmul(HEAD.ty, &self.head, a_head, &mut out[..VOCAB * a_head.n]);
    }
}

fn bench(c: &mut Criterion) {
    let isa = kernels::isa().name();
    let mut g = c.benchmark_group(format!("matmul {isa}"));
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let shapes = [
        (&LAYER[0], 1),
        (&LAYER[1], 1),
        (&LAYER[4], 1),
        (&LAYER[6], 1),
        (&HEAD, 1),
        (&LAYER[0], 64),
    ];
    for (m, n) in shapes {
        let w = weights(m, 1);
        let mut out = vec![0.0; m.rows * n];
        g.throughput(Throughput::Bytes(w.len() as u64));
        for path in Path::BOTH {
            let a = acts(m, n, path);
            g.bench_function(
                format!("{} {:?} n={n} {}", m.name, m.ty, path.name()),
                |b| b.iter(|| kernels::matmul(m.ty, black_box(&w), black_box(&a), &mut out)),
            );
        }
    }
    let m = &LAYER[0];
    let (w, mut out) = (weights(m, 1), vec![0.0; m.rows]);
    for path in Path::BOTH {
        let a = acts(m, 1, path);
        g.bench_function(
            format!("{} {:?} n=1 {} scalar", m.name, m.ty, path.name()),
            |b| b.iter(|| kernels::matmul_scalar(m.ty, black_box(&w), black_box(&a), &mut out)),
        );
    }
    g.finish();

    let model = Model::new();
    let mut g = c.benchmark_group(format!("model {isa}"));
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Bytes(model.bytes() as u64));
    let mut out = vec![0.0; VOCAB];
    for path in Path::BOTH {
        let (aw, af, ah) = (
            acts(&LAYER[0], 1, path),
            acts(&LAYER[6], 1, path),
            acts(&HEAD, 1, path),
        );
        g.bench_function(
            format!("decode (30 layers + head, n=1) {}", path.name()),
            |b| b.iter(|| model.step(&aw, &af, &ah, &mut out)),
        );
    }
    g.finish();
}

/// Implied per-token times from per-matrix medians, the measured whole-model step, and memcpy,
/// for both paths side by side.
fn summary() {
    let budget = Duration::from_millis(300);
    println!("\n== summary ({}, 1 thread) ==", kernels::isa().name());
    println!("{:>18}  {:>22}  {:>22}", "", "q8", "f32 (exact)");
    let mut layer_s = [0.0; 2];
    let mut head_s = [0.0; 2];
    for (i, m) in LAYER.iter().chain([&HEAD]).enumerate() {
        let (w, mut out) = (weights(m, 1), vec![0.0; m.rows]);
        let mut line = format!("{:>18}:", m.name);
        for (p, path) in Path::BOTH.into_iter().enumerate() {
            let a = acts(m, 1, path);
            let s = median_secs(budget, || kernels::matmul(m.ty, &w, &a, &mut out));
            line += &format!("  {:8.2} µs {:6.2} GB/s", s * 1e6, w.len() as f64 / s / 1e9);
            if i < LAYER.len() {
                layer_s[p] += s;
            } else {
                head_s[p] = s;
            }
        }
        println!("{line}");
    }
    for (p, path) in Path::BOTH.into_iter().enumerate() {
        println!(
            "{:>3}: implied decode (warm per matrix): {:.2} ms/token = layer {:.1} µs × {LAYERS} + head {:.1} µs",
            path.name(),
            (layer_s[p] * LAYERS as f64 + head_s[p]) * 1e3,
            layer_s[p] * 1e6,
            head_s[p] * 1e6
        );
    }

    let model = Model::new();
    let mut out = vec![0.0; VOCAB * 64];
    // Alternate the paths, so that both see the same load of this shared machine.
    for round in 0..2 {
        for path in Path::BOTH {
            let (aw, af, ah) = (
                acts(&LAYER[0], 1, path),
                acts(&LAYER[6], 1, path),
                acts(&HEAD, 1, path),
            );
            let s = median_secs(Duration::from_secs(2), || {
                model.step(&aw, &af, &ah, &mut out)
            });
            println!(
                "{:>3} (round {round}): decode step (all {:.1} MB streamed): {:.2} ms/token, {:.2} GB/s",
                path.name(),
                model.bytes() as f64 / 1e6,
                s * 1e3,
                model.bytes() as f64 / s / 1e9
            );
        }
    }
    for path in Path::BOTH {
        let (aw, af, ah) = (
            acts(&LAYER[0], 64, path),
            acts(&LAYER[6], 64, path),
            acts(&HEAD, 1, path),
        );
        let s = median_secs(Duration::from_secs(2), || {
            model.step(&aw, &af, &ah, &mut out)
        });
        println!(
            "{:>3}: prefill of 64 tokens (head for the last only): {:.2} ms = {:.0} tok/s",
            path.name(),
            s * 1e3,
            64.0 / s
        );
    }

    for mb in [32usize, 512] {
        let src = vec![1u8; mb << 20];
        let mut dst = vec![0u8; mb << 20];
        let s = median_secs(Duration::from_secs(1), || {
            dst.copy_from_slice(black_box(&src));
            black_box(&mut dst);
        });
        println!(
            "memcpy {mb} MiB: {:.2} GB/s (read + write), {:.2} GB/s read",
            2.0 * src.len() as f64 / s / 1e9,
            src.len() as f64 / s / 1e9
        );
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    summary();
}
