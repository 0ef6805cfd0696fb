//! What a GPU summary step computes and reads back (shaders/summary.wgsl): the request, the
//! uniform it becomes, and the decoding of the few hundred bytes that come back.

use crate::context::GpuContext;
use crate::error::GpuError;
use crate::formats::Arithmetic;
use crate::kernels::{Access, Family, REDUCE};
use crate::readback;
use bytemuck::{Pod, Zeroable};
use tokscope_model::ModelError;
use wgpu::util::DeviceExt;

/// Most top tokens a GPU summary holds: also the sorted head GPU sampling works within.
pub const MAX_TOP: usize = 64;

/// The summary's two launches: `summary_chunk` over chunks of the vocabulary, then `summary`,
/// which merges them (bindings: logits, output, [`SummaryParams`], chunk records).
pub const SUMMARY: Family = Family {
    file: "summary.wgsl",
    enables: "",
    weights: false,
    // A single workgroup reads the whole vocabulary: as many invocations as WebGPU guarantees,
    // so that enough loads are in flight on a hardware GPU.
    workgroup: 256,
    source: include_str!("../../../shaders/summary.wgsl"),
    helpers: &[REDUCE],
    defines: &[("MAX_TOP", MAX_TOP as u32)],
    bindings: &[
        Access::Read,
        Access::ReadWrite,
        Access::Uniform,
        Access::ReadWrite,
    ],
};

/// summary's uniform (shaders/summary.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct SummaryParams {
    pub n_vocab: u32,
    pub top_n: u32,
    /// The token scored, or `u32::MAX` for none.
    pub target: u32,
    /// 1: draw a token.
    pub sample: u32,
    /// 1 / temperature; 0 for temperature 0.
    pub inv_temp: f32,
    pub top_k: u32,
    pub top_p: f32,
    pub min_p: f32,
    /// The uniform draw.
    pub u: f32,
    /// Tokens per chunk of the first launch, and chunks (at most [`MAX_CHUNKS`]).
    pub chunk: u32,
    pub n_chunks: u32,
    pub _pad: u32,
}
const _: () = assert!(std::mem::size_of::<SummaryParams>() == 48);

/// Most chunks the first summary launch splits the vocabulary into (shaders/summary.wgsl): the
/// second launch merges their heads, MAX_CHUNKS · MAX_TOP candidates, in workgroup memory.
pub const MAX_CHUNKS: usize = 16;

/// Floats of the chunk records the two launches pass between them.
pub(crate) const CHUNK_FLOATS: usize = MAX_CHUNKS * (8 + 2 * MAX_TOP);

/// The chunks of a vocabulary: (tokens per chunk, chunks), every chunk at least 256 tokens or
/// the whole row, none empty.
pub(crate) fn chunking(n_vocab: usize) -> (u32, u32) {
    let n_chunks = n_vocab.div_ceil(256).clamp(1, MAX_CHUNKS);
    (n_vocab.div_ceil(n_chunks) as u32, n_chunks as u32)
}

/// Values before the top tokens in the kernel's output.
const HEADER: usize = 12;

/// Sample status codes of the kernel (shaders/summary.wgsl).
const DRAWN: u32 = 1;
const NEEDS_TOP_K: u32 = 2;
const NEEDS_TOP_P: u32 = 3;
const NEEDS_TAIL: u32 = 4;

/// Floats a summary with `top_n` top tokens reads back.
pub(crate) fn summary_floats(top_n: usize) -> usize {
    HEADER + 2 * top_n
}

/// A sampling step to run on the GPU: crates/dist's warpers and the uniform draw that
/// `tokscope_dist::Sampler::uniform` gave, so the GPU draws the token `Sampler::sample` would
/// (the backend interface's draw, unchanged on its way to the kernel's uniform).
pub type GpuSampling = tokscope_model::Draw;

/// What [`crate::GpuBackend::forward_summary_with`] computes besides LSE, entropy and maximum.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SummaryRequest {
    /// Top tokens to read back (at most [`MAX_TOP`]).
    pub top_n: usize,
    /// The token being scored: its logprob and rank come back.
    pub target: Option<u32>,
    /// Draw a token on the GPU.
    pub sample: Option<GpuSampling>,
}

/// A token's place in the raw (temperature 1) distribution.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TokenStats {
    pub id: u32,
    /// ln p, in nats.
    pub logprob: f32,
    /// 0-based, descending probability, ties by lower id (metrics.md §1).
    pub rank: u32,
}

/// A token drawn on the GPU, with what a step event says about it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SampledToken {
    /// Its id, logprob and rank in the raw distribution.
    pub token: TokenStats,
    /// ln p̃ under the warped (sampling) distribution.
    pub warped_logprob: f32,
    /// Entropy of the warped distribution in nats: the `H̃_t` of the branching factor.
    pub warped_entropy: f32,
    /// Tokens the warpers kept.
    pub kept: u32,
}

/// Why the GPU did not draw: the host then samples from the full logits
/// ([`crate::GpuBackend::last_logits`]) with crates/dist, which always decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Undecided {
    /// Typical sampling or a repetition penalty: warpers the kernel does not run.
    HostWarpers,
    /// top-k above [`MAX_TOP`]: its threshold lies beyond the sorted head.
    TopK,
    /// The top-p mass is reached only beyond the head.
    TopP,
    /// The inverse CDF of u ends beyond the head (a large u on a flat distribution).
    Tail,
}

/// The outcome of sampling on the GPU.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GpuSample {
    Drawn(SampledToken),
    Undecided(Undecided),
}

/// The next-token distribution of a position, summarized on the GPU: what a step event needs
/// without reading back the vocabulary's logits.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GpuSummary {
    /// log Σ exp(logit), in nats.
    pub lse: f32,
    /// Entropy of the softmax, in nats.
    pub entropy: f32,
    pub max_logit: f32,
    /// (token id, logit) of the most likely tokens, best first (ties: lower id first).
    pub top: Vec<(u32, f32)>,
    /// The scored token's statistics, if one was asked for.
    pub target: Option<TokenStats>,
    /// The draw, if one was asked for.
    pub sample: Option<GpuSample>,
}

/// The kernel's uniform for `request` over `n_vocab` tokens, or the answer the GPU need not be
/// asked for (warpers it does not run). Errors on a bad token id or bad sampling settings.
pub(crate) fn params(
    request: &SummaryRequest,
    n_vocab: usize,
) -> Result<(SummaryParams, Option<Undecided>), GpuError> {
    let (chunk, n_chunks) = chunking(n_vocab);
    let mut p = SummaryParams {
        n_vocab: n_vocab as u32,
        chunk,
        n_chunks,
        top_n: request.top_n.min(MAX_TOP).min(n_vocab) as u32,
        target: u32::MAX,
        ..SummaryParams::default()
    };
    if let Some(id) = request.target {
        if id as usize >= n_vocab {
            return Err(ModelError::BadToken { id, n_vocab }.into());
        }
        p.target = id;
    }
    let Some(GpuSampling { params: sp, u }) = request.sample else {
        return Ok((p, None));
    };
    sp.validate()?;
    // Temperature 0 is greedy whatever the truncation settings (the repetition penalty aside).
    let greedy = sp.temperature == 0.0;
    if sp.repetition_penalty != 1.0 || (sp.typical < 1.0 && !greedy) {
        return Ok((p, Some(Undecided::HostWarpers)));
    }
    if sp.top_k > MAX_TOP && sp.top_k < n_vocab && !greedy {
        return Ok((p, Some(Undecided::TopK)));
    }
    p.sample = 1;
    // crates/dist divides by the temperature in f64: the same reciprocal, rounded once.
    p.inv_temp = match sp.temperature {
        0.0 => 0.0,
        t => (1.0 / f64::from(t)) as f32,
    };
    p.top_k = sp.top_k.min(n_vocab) as u32;
    p.top_p = sp.top_p;
    p.min_p = sp.min_p;
    p.u = u.clamp(0.0, 1.0) as f32;
    Ok((p, None))
}

/// Decodes the kernel's output for `request` (its uniform `p`, and the answer `params` gave
/// without the GPU, if any).
pub(crate) fn decode(raw: &[f32], p: &SummaryParams, host: Option<Undecided>) -> GpuSummary {
    let top_n = p.top_n as usize;
    if raw.len() < summary_floats(top_n) {
        return GpuSummary::default();
    }
    let bits = |i: usize| raw[i].to_bits();
    let target = (p.target != u32::MAX).then(|| TokenStats {
        id: p.target,
        logprob: raw[3],
        rank: bits(4),
    });
    let sample = match (host, p.sample, bits(5)) {
        (Some(why), _, _) => Some(GpuSample::Undecided(why)),
        (None, 0, _) => None,
        (None, _, DRAWN) => Some(GpuSample::Drawn(SampledToken {
            token: TokenStats {
                id: bits(6),
                logprob: raw[8],
                rank: bits(7),
            },
            warped_logprob: raw[9],
            warped_entropy: raw[10],
            kept: bits(11),
        })),
        (None, _, NEEDS_TOP_K) => Some(GpuSample::Undecided(Undecided::TopK)),
        (None, _, NEEDS_TOP_P) => Some(GpuSample::Undecided(Undecided::TopP)),
        (None, _, NEEDS_TAIL) => Some(GpuSample::Undecided(Undecided::Tail)),
        // Not a status the kernel writes: let the host decide.
        (None, _, _) => Some(GpuSample::Undecided(Undecided::Tail)),
    };
    GpuSummary {
        lse: raw[0],
        entropy: raw[1],
        max_logit: raw[2],
        top: raw[HEADER..summary_floats(top_n)]
            .chunks_exact(2)
            .map(|p| (p[0].to_bits(), p[1]))
            .collect(),
        target,
        sample,
    }
}

/// Summarizes a row of logits that is not on the GPU yet (one upload and one launch of the
/// summary kernel): for logits computed elsewhere, and for testing the kernel on chosen rows.
pub async fn summarize_logits_async(
    ctx: &GpuContext,
    logits: &[f32],
    request: &SummaryRequest,
) -> Result<GpuSummary, GpuError> {
    if logits.is_empty() || logits.iter().any(|z| !z.is_finite()) {
        return Err(GpuError::Unsupported(
            "summarizing an empty row or one with non-finite logits".into(),
        ));
    }
    let (p, host) = params(request, logits.len())?;
    let device = &ctx.device;
    let size = std::mem::size_of_val(logits) as u64;
    crate::limits::check_buffer(device, "logits", size, wgpu::BufferUsages::STORAGE)?;
    let kernel = |entry| {
        ctx.pipelines.lock().unwrap_or_else(|e| e.into_inner()).get(
            &SUMMARY,
            entry,
            Arithmetic::F32,
        )
    };
    let (first, merge) = (kernel("summary_chunk"), kernel("summary"));
    let init = |label, contents: &[u8], usage| {
        device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents,
            usage,
        })
    };
    let input = init(
        "logits",
        bytemuck::cast_slice(logits),
        wgpu::BufferUsages::STORAGE,
    );
    let uniform = init(
        "summary params",
        bytemuck::bytes_of(&p),
        wgpu::BufferUsages::UNIFORM,
    );
    let bytes = (summary_floats(MAX_TOP) * 4) as u64;
    let buffer = |label, usage| {
        device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage,
            mapped_at_creation: false,
        })
    };
    let out = buffer(
        "summary",
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
    );
    let staging = buffer(
        "summary readback",
        wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
    );
    let chunks = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("summary chunks"),
        size: (CHUNK_FLOATS * 4) as u64,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("summary"),
        layout: &merge.layout,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: input.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: out.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: uniform.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 3,
                resource: chunks.as_entire_binding(),
            },
        ],
    });
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("summary"),
    });
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("summary"),
            timestamp_writes: None,
        });
        pass.set_bind_group(0, &bind_group, &[]);
        pass.set_pipeline(&first.pipeline);
        pass.dispatch_workgroups(p.n_chunks, 1, 1);
        pass.set_pipeline(&merge.pipeline);
        pass.dispatch_workgroups(1, 1, 1);
    }
    encoder.copy_buffer_to_buffer(&out, 0, &staging, 0, bytes);
    ctx.queue.submit([encoder.finish()]);
    let raw = readback::read_f32(device, &staging, summary_floats(p.top_n as usize))
        .await
        .map_err(|e| ctx.take_fault().unwrap_or(e))?;
    if let Some(e) = ctx.take_fault() {
        return Err(e);
    }
    Ok(decode(&raw, &p, host))
}

/// [`summarize_logits_async`], blocking (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn summarize_logits(
    ctx: &GpuContext,
    logits: &[f32],
    request: &SummaryRequest,
) -> Result<GpuSummary, GpuError> {
    pollster::block_on(summarize_logits_async(ctx, logits, request))
}
