//! Where a decode step's GPU time goes: each launch timed on the GPU with timestamp queries
//! (adapters with `TIMESTAMP_QUERY`), next to the step's span from its first launch's start to its
//! last one's end. The gap between the launches' sum and the span is the cost of launching them;
//! a projection's time against its weight bytes is its share of memory bandwidth.

use super::graph::{Dispatch, GpuBackend};
use super::run::{LaunchTimer, Output};
use crate::error::GpuError;
use crate::readback;
use crate::summary::{self, SummaryRequest};

/// One launch of a profiled step.
#[derive(Clone, Debug)]
pub struct LaunchTime {
    /// The entry point, with a projection's rows × columns (`matvec_q4_1 576×1536`).
    pub label: String,
    /// GPU time from the launch's start to its end.
    pub micros: f64,
    /// Weight bytes the launch reads (projections; 0 for the rest).
    pub weight_bytes: u64,
}

/// A decode step timed launch by launch ([`GpuBackend::profile_step`]).
#[derive(Clone, Debug)]
pub struct StepProfile {
    /// Every launch in order, the summary's included.
    pub launches: Vec<LaunchTime>,
    /// GPU time from the first launch's start to the last one's end.
    pub span_micros: f64,
}

/// Timestamps for a step's launches: a query set with two per launch (start, end).
struct Timer {
    set: wgpu::QuerySet,
    capacity: u32,
    launches: Vec<(String, u64)>,
}

impl Timer {
    fn new(device: &wgpu::Device, launches: usize) -> Self {
        let capacity = (2 * launches as u32).min(wgpu::QUERY_SET_MAX_QUERIES);
        Self {
            set: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("profile"),
                ty: wgpu::QueryType::Timestamp,
                count: capacity,
            }),
            capacity,
            launches: Vec::new(),
        }
    }

    /// The timestamp writes of launch `d`'s pass (`None` once the set is full: not timed).
    fn stamps(&mut self, d: &Dispatch) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        let first = 2 * self.launches.len() as u32;
        if first + 2 > self.capacity {
            return None;
        }
        self.launches.push((d.label.clone(), d.weight_bytes));
        Some(wgpu::ComputePassTimestampWrites {
            query_set: &self.set,
            beginning_of_pass_write_index: Some(first),
            end_of_pass_write_index: Some(first + 1),
        })
    }

    /// Reads the timestamps back and pairs them with the launches.
    async fn read(
        self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
    ) -> Result<StepProfile, GpuError> {
        let count = 2 * self.launches.len() as u32;
        // Buffers may not be empty: at least one timestamp's room.
        let bytes = (u64::from(count) * 8).max(8);
        let usage = wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC;
        crate::limits::check_buffer(device, "profile resolve", bytes, usage)?;
        let resolved = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("profile resolve"),
            size: bytes,
            usage,
            mapped_at_creation: false,
        });
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("profile staging"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("profile"),
        });
        encoder.resolve_query_set(&self.set, 0..count, &resolved, 0);
        encoder.copy_buffer_to_buffer(&resolved, 0, &staging, 0, bytes);
        queue.submit([encoder.finish()]);
        let words = readback::read_u32(device, &staging, 2 * count as usize).await?;
        let ticks: Vec<u64> = words
            .chunks_exact(2)
            .map(|w| u64::from(w[0]) | u64::from(w[1]) << 32)
            .collect();
        let ns_per_tick = f64::from(queue.get_timestamp_period());
        let micros = |t: u64| t as f64 * ns_per_tick / 1e3;
        let launches = self
            .launches
            .into_iter()
            .zip(ticks.chunks_exact(2))
            .map(|((label, weight_bytes), t)| LaunchTime {
                label,
                micros: micros(t[1].saturating_sub(t[0])),
                weight_bytes,
            })
            .collect();
        let span_micros = match (ticks.first(), ticks.last()) {
            (Some(&a), Some(&b)) => micros(b.saturating_sub(a)),
            _ => 0.0,
        };
        Ok(StepProfile {
            launches,
            span_micros,
        })
    }
}

impl LaunchTimer for Timer {
    fn next(&mut self, d: &Dispatch) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        self.stamps(d)
    }
}

impl GpuBackend {
    /// True where the device can time launches ([`GpuBackend::profile_step`]).
    pub fn can_profile(&self) -> bool {
        self.ctx
            .device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// Runs one decode step of `token` as `forward_summary` does (the summary with the top 20),
    /// appending it to the context, with every launch timed on the GPU. Each launch runs in a
    /// compute pass of its own, so the span includes a pass boundary per launch. Errors where the
    /// device has no timestamp queries.
    pub async fn profile_step_async(&mut self, token: u32) -> Result<StepProfile, GpuError> {
        if !self.can_profile() {
            return Err(GpuError::Unsupported(format!(
                "{} has no timestamp queries: launches cannot be timed",
                self.ctx.describe()
            )));
        }
        self.check(&[token])?;
        let request = SummaryRequest {
            top_n: 20,
            target: None,
            sample: None,
        };
        let (p, _) = summary::params(&request, self.cfg.n_vocab)?;
        let launches = self.decode.layers.len() + self.head_last.len() + self.summary.len();
        let mut timer = Timer::new(&self.ctx.device, launches);
        self.submit_step(
            &[token],
            self.len,
            Some(Output::Summary(p)),
            Some(&mut timer),
        );
        let profile = timer
            .read(&self.ctx.device, &self.ctx.queue)
            .await
            .map_err(|e| self.ctx.take_fault().unwrap_or(e))?;
        if let Some(e) = self.ctx.take_fault() {
            return Err(e);
        }
        self.last_row = Some(0);
        self.len += 1;
        Ok(profile)
    }

    /// [`GpuBackend::profile_step_async`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn profile_step(&mut self, token: u32) -> Result<StepProfile, GpuError> {
        pollster::block_on(self.profile_step_async(token))
    }
}
