//! What a load may choose, and the one policy that chooses it from the adapter, for the CLI and
//! the browser alike: the matvec variant, how block scales are held, how attention splits, whether
//! kernels use subgroups, where a step's distribution is summarized, and how a step is submitted.

use crate::context::GpuContext;
use crate::error::GpuError;
use crate::formats::Arithmetic;
use crate::kernels::AttentionSplit;

/// Tokens one step runs at most: prefill goes through the graph in batches of this many, and
/// the activation, score and logit buffers are sized for it.
pub const MAX_BATCH: usize = 32;

/// Default launches per command buffer ([`LoadOptions::launches_per_submit`]): on an H200 a
/// decode step of the default model's shape ran faster in pieces of 64 launches than whole in
/// one (tests/bench/README.md).
pub const LAUNCHES_PER_SUBMIT: usize = 64;

/// How a matrix-vector product is spread over the GPU (shaders/matvec.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatvecVariant {
    /// One workgroup per row with a workgroup-memory reduction: for GPUs.
    Workgroup,
    /// One invocation per row, no barriers: for adapters that run on the CPU.
    Rowwise,
    /// One subgroup per row with `subgroupAdd`: where the adapter has subgroups.
    Subgroup,
}

/// Choices [`crate::GpuBackend::new`] makes from the adapter, overridable so that tests run every
/// path on whichever adapter they have.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// Split weights larger than this many bytes into row ranges (default: the device's
    /// storage binding limit; a small value exercises the path huge vocabularies take).
    pub max_binding: Option<u64>,
    /// The matvec variant (default: rowwise on software adapters, workgroup otherwise).
    pub matvec: Option<MatvecVariant>,
    /// How block scales are held (default: f16 where the adapter has shader-f16, else f32).
    pub arithmetic: Option<Arithmetic>,
    /// Launches per command buffer within a step (default [`LAUNCHES_PER_SUBMIT`]; `usize::MAX`
    /// for the whole step in one). Submitting a step in pieces lets the GPU start while the host
    /// still records the rest.
    pub launches_per_submit: Option<usize>,
    /// How attention splits a token's positions over workgroups (default:
    /// [`AttentionSplit::NONE`] on software adapters, [`AttentionSplit::GPU`] otherwise).
    pub attention_split: Option<AttentionSplit>,
    /// Whether kernels may use subgroup operations (default: where the device has them;
    /// `Some(false)` runs the fallbacks, as on an adapter without them).
    pub subgroups: Option<bool>,
    /// Whether a generation step's distribution is summarized on the GPU, or its logits read back
    /// for the host to summarize (default: on the GPU, except on a software adapter in the
    /// browser: on SwiftShader each of the summary's workgroup barriers costs a coroutine switch
    /// per SIMD group, and the wasm summarizes faster).
    pub gpu_summary: Option<bool>,
    /// Test-only: the embedding kernel reads each token's neighbour's row (shaders/embed.wgsl's
    /// `WRONG_ROW`), a deliberately wrong kernel for the browser's WebGPU self-check to catch.
    pub test_wrong_embedding: bool,
}

/// What a load settled on from [`LoadOptions`] and the adapter.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Choice {
    pub max_binding: u64,
    pub matvec: MatvecVariant,
    pub arithmetic: Arithmetic,
    pub split: AttentionSplit,
    pub subgroups: bool,
    pub gpu_summary: bool,
    pub launches_per_submit: usize,
    /// [`LoadOptions::test_wrong_embedding`].
    pub wrong_embedding: bool,
}

impl LoadOptions {
    /// The policy: each option as given, else the adapter's default. Errors where an option
    /// asks for what the adapter lacks.
    pub(crate) fn resolve(&self, ctx: &GpuContext) -> Result<Choice, GpuError> {
        let limits = ctx.device.limits();
        let max_binding = self.max_binding.unwrap_or(
            limits
                .max_storage_buffer_binding_size
                .min(limits.max_buffer_size),
        );
        let software = ctx.is_software();
        // The workgroup variant decodes faster than the subgroup one on the one hardware GPU
        // measured (H200, Vulkan; tests/bench/README.md); decoding is where the tool spends its
        // time.
        let matvec = self.matvec.unwrap_or(match software {
            true => MatvecVariant::Rowwise,
            false => MatvecVariant::Workgroup,
        });
        let subgroups = ctx.has_subgroups() && self.subgroups != Some(false);
        if matvec == MatvecVariant::Subgroup && !subgroups {
            return Err(GpuError::Unsupported(
                "the subgroup matvec on an adapter without subgroups".into(),
            ));
        }
        let arithmetic = self.arithmetic.unwrap_or(match ctx.has_f16() {
            true => Arithmetic::F16,
            false => Arithmetic::F32,
        });
        if arithmetic == Arithmetic::F16 && !ctx.has_f16() {
            return Err(GpuError::Unsupported(
                "f16 scales on an adapter without shader-f16".into(),
            ));
        }
        // A CPU-run adapter: attention in one workgroup per head, whose few cores the heads fill.
        let split = self.attention_split.unwrap_or(match software {
            true => AttentionSplit::NONE,
            false => AttentionSplit::GPU,
        });
        let gpu_summary = self
            .gpu_summary
            .unwrap_or(!(software && cfg!(target_arch = "wasm32")));
        Ok(Choice {
            max_binding,
            matvec,
            arithmetic,
            split,
            subgroups,
            gpu_summary,
            launches_per_submit: self
                .launches_per_submit
                .unwrap_or(LAUNCHES_PER_SUBMIT)
                .max(1),
            wrong_embedding: self.test_wrong_embedding,
        })
    }
}
