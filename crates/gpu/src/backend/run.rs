//! Running a step: the recorded launches submitted in pieces, the step's output copied to the
//! readback buffer and mapped, the context and tokens checked before anything runs.

use super::graph::{Dispatch, GpuBackend, PerToken};
use crate::error::GpuError;
use crate::kernels::{Batch, ModelParams};
use crate::options::MAX_BATCH;
use crate::readback;
use crate::summary::{self, GpuSummary, SummaryParams, SummaryRequest, summary_floats};
use tokscope_model::{LogitsFor, ModelError};

impl GpuBackend {
    /// Records and submits one step: `tokens` (at most [`MAX_BATCH`]) at positions `pos..`, then
    /// what `out` asks for, copied to the readback buffer.
    /// With a `timer`, each launch runs in a compute pass of its own between two timestamps.
    pub(super) fn submit_step(
        &self,
        tokens: &[u32],
        pos: usize,
        out: Option<Output>,
        mut timer: Option<&mut (dyn LaunchTimer + '_)>,
    ) {
        let n = tokens.len();
        let queue = &self.ctx.queue;
        let params = ModelParams {
            n_tokens: n as u32,
            pos: pos as u32,
            ..self.base
        };
        queue.write_buffer(&self.params, 0, bytemuck::bytes_of(&params));
        let batch = Batch {
            n_tokens: n as u32,
            pos: pos as u32,
            _pad: [0; 2],
        };
        queue.write_buffer(&self.batch, 0, bytemuck::bytes_of(&batch));
        queue.write_buffer(&self.tokens, 0, bytemuck::cast_slice(tokens));
        let new_encoder = || {
            self.ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("step"),
                })
        };
        let graph = match n {
            1 => &self.decode,
            _ => &self.batched,
        };
        let head_all: &[Dispatch] = match out {
            Some(Output::All) => &graph.head_all,
            _ => &[],
        };
        // Pieces of `launches_per_submit` launches, each but the last submitted as recorded.
        let mut launches = graph.layers.iter().chain(head_all).peekable();
        let mut encoder = new_encoder();
        while launches.peek().is_some() {
            record(
                &mut encoder,
                launches.by_ref().take(self.launches_per_submit),
                n,
                timer.as_deref_mut(),
            );
            if launches.peek().is_some() {
                let full = std::mem::replace(&mut encoder, new_encoder());
                queue.submit([full.finish()]);
            }
        }
        let n_vocab = self.cfg.n_vocab;
        let row = (self.cfg.n_embd * 4) as u64;
        let last = (n - 1) as u64 * row;
        let copy_floats = match out {
            None => 0,
            Some(Output::All) => n * n_vocab,
            Some(Output::Last) => {
                encoder.copy_buffer_to_buffer(&self.x, last, &self.x_last, 0, row);
                record(&mut encoder, self.head_last.iter(), 1, timer);
                n_vocab
            }
            Some(Output::Summary(p)) => {
                queue.write_buffer(&self.summary_params, 0, bytemuck::bytes_of(&p));
                encoder.copy_buffer_to_buffer(&self.x, last, &self.x_last, 0, row);
                let head = self.head_last.iter().chain(&self.summary);
                record(&mut encoder, head, 1, timer);
                let bytes = (summary_floats(p.top_n as usize) * 4) as u64;
                encoder.copy_buffer_to_buffer(&self.summary_out, 0, &self.staging, 0, bytes);
                0
            }
        };
        if copy_floats > 0 {
            let bytes = (copy_floats * 4) as u64;
            encoder.copy_buffer_to_buffer(&self.logits, 0, &self.staging, 0, bytes);
        }
        queue.submit([encoder.finish()]);
    }

    /// The async core of [`Backend::forward`] (the browser awaits it; native code blocks on it).
    pub async fn forward_async(
        &mut self,
        tokens: &[u32],
        which: LogitsFor,
    ) -> Result<Vec<f32>, GpuError> {
        let out = match which {
            LogitsFor::All => Output::All,
            LogitsFor::Last => Output::Last,
        };
        self.run(tokens, out).await
    }

    /// Runs `tokens` like [`Backend::forward`] but reads back only the summary of the last
    /// position's distribution (a few hundred bytes instead of the vocabulary's logits), with the
    /// `top_n` (at most [`crate::MAX_TOP`]) most likely tokens.
    pub async fn forward_summary_async(
        &mut self,
        tokens: &[u32],
        top_n: usize,
    ) -> Result<GpuSummary, GpuError> {
        let request = SummaryRequest {
            top_n,
            ..SummaryRequest::default()
        };
        self.forward_summary_with_async(tokens, &request).await
    }

    /// [`GpuBackend::forward_summary_async`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn forward_summary(
        &mut self,
        tokens: &[u32],
        top_n: usize,
    ) -> Result<GpuSummary, GpuError> {
        pollster::block_on(self.forward_summary_async(tokens, top_n))
    }

    /// Runs `tokens` and summarizes the last position's distribution as `request` asks: its top
    /// tokens, the scored token's logprob and rank, and a token drawn as crates/dist would for
    /// the request's uniform draw. Where the GPU cannot decide the draw
    /// ([`crate::GpuSample::Undecided`]), [`GpuBackend::last_logits_async`] gives the logits to
    /// sample from on the host. Errors, before running anything, on a bad token or bad settings.
    pub async fn forward_summary_with_async(
        &mut self,
        tokens: &[u32],
        request: &SummaryRequest,
    ) -> Result<GpuSummary, GpuError> {
        let (p, host) = summary::params(request, self.cfg.n_vocab)?;
        let raw = self.run(tokens, Output::Summary(p)).await?;
        Ok(summary::decode(&raw, &p, host))
    }

    /// [`GpuBackend::forward_summary_with_async`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn forward_summary_with(
        &mut self,
        tokens: &[u32],
        request: &SummaryRequest,
    ) -> Result<GpuSummary, GpuError> {
        pollster::block_on(self.forward_summary_with_async(tokens, request))
    }

    /// The logits of the last position the previous call computed (for the host to sample from
    /// where the GPU could not decide), read back from GPU memory without running the model.
    pub async fn last_logits_async(&self) -> Result<Vec<f32>, GpuError> {
        let Some(row) = self.last_row else {
            return Err(GpuError::Readback(
                "no position has been computed yet".into(),
            ));
        };
        let n_vocab = self.cfg.n_vocab;
        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("last logits"),
            });
        let bytes = (n_vocab * 4) as u64;
        encoder.copy_buffer_to_buffer(&self.logits, (row * 4) as u64, &self.staging, 0, bytes);
        self.ctx.queue.submit([encoder.finish()]);
        readback::read_f32(&self.ctx.device, &self.staging, n_vocab)
            .await
            .map_err(|e| self.ctx.take_fault().unwrap_or(e))
    }

    /// [`GpuBackend::last_logits_async`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn last_logits(&self) -> Result<Vec<f32>, GpuError> {
        pollster::block_on(self.last_logits_async())
    }

    /// Errors, before anything runs, if `tokens` would overflow the context or are not in the
    /// vocabulary, or if the device has failed.
    pub(super) fn check(&self, tokens: &[u32]) -> Result<(), GpuError> {
        if self.len + tokens.len() > self.n_ctx {
            return Err(ModelError::ContextOverflow {
                needed: self.len + tokens.len(),
                n_ctx: self.n_ctx,
            }
            .into());
        }
        if let Some(&id) = tokens.iter().find(|&&id| id as usize >= self.cfg.n_vocab) {
            return Err(ModelError::BadToken {
                id,
                n_vocab: self.cfg.n_vocab,
            }
            .into());
        }
        match self.ctx.take_fault() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Runs `tokens` in steps of at most [`MAX_BATCH`] and reads back what `out` asks for.
    async fn run(&mut self, tokens: &[u32], out: Output) -> Result<Vec<f32>, GpuError> {
        let n = tokens.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        self.check(tokens)?;
        let n_vocab = self.cfg.n_vocab;
        let mut result = Vec::new();
        let mut done = 0;
        for chunk in tokens.chunks(MAX_BATCH) {
            let last_chunk = done + chunk.len() == n;
            let step_out = match out {
                Output::All => Some(Output::All),
                other => last_chunk.then_some(other),
            };
            self.submit_step(chunk, self.len + done, step_out, None);
            done += chunk.len();
            let floats = match step_out {
                None => continue,
                Some(Output::All) => chunk.len() * n_vocab,
                Some(Output::Last) => n_vocab,
                Some(Output::Summary(p)) => summary_floats(p.top_n as usize),
            };
            // The last position's logits row: the step's last token, or the head's single row.
            self.last_row = Some(match step_out {
                Some(Output::All) => (chunk.len() - 1) * n_vocab,
                _ => 0,
            });
            let read = readback::read_f32(&self.ctx.device, &self.staging, floats)
                .await
                // A failed map is usually the symptom; the device's own report says why.
                .map_err(|e| self.ctx.take_fault().unwrap_or(e))?;
            result.extend(read);
        }
        if let Some(e) = self.ctx.take_fault() {
            return Err(e);
        }
        self.len += n;
        Ok(result)
    }
}

/// What a step reads back.
#[derive(Clone, Copy)]
pub(super) enum Output {
    /// Every token's logits.
    All,
    /// The last token's logits.
    Last,
    /// The summary of the last token's distribution (shaders/summary.wgsl's uniform).
    Summary(SummaryParams),
}

/// Timestamps for launches (profile.rs's `Timer`): the writes that open and close launch `d`'s
/// pass, or `None` where it is not timed.
pub(super) trait LaunchTimer {
    fn next(&mut self, d: &Dispatch) -> Option<wgpu::ComputePassTimestampWrites<'_>>;
}

/// Records launches into one compute pass for a step of `n` tokens; with a `timer`, each into a
/// pass of its own that the timer's timestamps open and close.
pub(super) fn record<'a>(
    encoder: &mut wgpu::CommandEncoder,
    dispatches: impl Iterator<Item = &'a Dispatch>,
    n: usize,
    timer: Option<&mut (dyn LaunchTimer + '_)>,
) {
    let launch = |pass: &mut wgpu::ComputePass, d: &Dispatch| {
        let z = match d.per_token {
            PerToken::Each => n as u32,
            PerToken::Tiles(tile) => (n as u32).div_ceil(tile),
        };
        pass.set_pipeline(&d.pipeline);
        pass.set_bind_group(0, &d.bind_group, &[]);
        pass.dispatch_workgroups(d.groups.0, d.groups.1, z);
    };
    let Some(timer) = timer else {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("step"),
            timestamp_writes: None,
        });
        dispatches.for_each(|d| launch(&mut pass, d));
        return;
    };
    for d in dispatches {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(&d.label),
            timestamp_writes: timer.next(d),
        });
        launch(&mut pass, d);
    }
}
