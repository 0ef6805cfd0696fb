//! A decode step answered on the GPU ([`Backend::forward_step_async`]): the summary kernel gives
//! the top tokens, entropy and the drawn token, so the step reads back a few hundred bytes; the
//! logits come back only where the kernel cannot decide the draw, or where the backend was loaded
//! without it ([`crate::LoadOptions::gpu_summary`]).

use tokscope_model::{Drawn, LogitsFor, StepAnswer, StepOutput, StepQuery};

use crate::backend::GpuBackend;
use crate::error::GpuError;
use crate::summary::{GpuSample, MAX_TOP, SummaryRequest};

impl GpuBackend {
    /// Runs `tokens` and answers `query` about the last position (see [`StepOutput`]).
    pub async fn step_async(
        &mut self,
        tokens: &[u32],
        query: &StepQuery,
    ) -> Result<StepOutput, GpuError> {
        if query.top_n > MAX_TOP || !self.gpu_summary {
            let logits = self.forward_async(tokens, LogitsFor::Last).await?;
            return Ok(StepOutput::Logits(logits));
        }
        let request = SummaryRequest {
            top_n: query.top_n,
            target: None,
            sample: query.draw,
        };
        let s = self.forward_summary_with_async(tokens, &request).await?;
        let drawn = match s.sample {
            None => None,
            Some(GpuSample::Drawn(t)) => Some(Drawn {
                id: t.token.id,
                logprob: f64::from(t.token.logprob),
                rank: t.token.rank as usize,
                warped_logprob: f64::from(t.warped_logprob),
                warped_entropy: f64::from(t.warped_entropy),
                kept: t.kept as usize,
            }),
            Some(GpuSample::Undecided(_)) => {
                return Ok(StepOutput::Logits(self.last_logits_async().await?));
            }
        };
        let lse = f64::from(s.lse);
        Ok(StepOutput::Answer(StepAnswer {
            lse,
            entropy: f64::from(s.entropy),
            top: s
                .top
                .iter()
                .map(|&(id, z)| (id, f64::from(z) - lse))
                .collect(),
            drawn,
        }))
    }
}
