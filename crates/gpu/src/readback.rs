//! Reading GPU results back: `map_async` with a one-shot channel that works natively and in the
//! browser (std channels cannot be awaited on wasm), plus the native blocking wait.

use crate::error::GpuError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// The shared cell of a one-shot channel: the value once sent, and who waits for it.
type Slot<T> = Arc<Mutex<(Option<T>, Option<Waker>)>>;

/// A future resolved by the map callback.
struct Receiver<T>(Slot<T>);

impl<T> Future for Receiver<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match slot.0.take() {
            Some(v) => Poll::Ready(v),
            None => {
                slot.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Copies the first `floats` f32 values out of a MAP_READ buffer, waiting for the GPU.
pub async fn read_f32(
    device: &wgpu::Device,
    staging: &wgpu::Buffer,
    floats: usize,
) -> Result<Vec<f32>, GpuError> {
    let words = read_u32(device, staging, floats).await?;
    Ok(words.into_iter().map(f32::from_bits).collect())
}

/// Copies the first `words` u32 values out of a MAP_READ buffer, waiting for the GPU.
pub async fn read_u32(
    device: &wgpu::Device,
    staging: &wgpu::Buffer,
    words: usize,
) -> Result<Vec<u32>, GpuError> {
    let bytes = (words * 4) as u64;
    let slot: Slot<Result<(), wgpu::BufferAsyncError>> = Arc::new(Mutex::new((None, None)));
    let sender = slot.clone();
    staging.map_async(wgpu::MapMode::Read, ..bytes, move |result| {
        let mut s = sender.lock().unwrap_or_else(|e| e.into_inner());
        s.0 = Some(result);
        if let Some(w) = s.1.take() {
            w.wake();
        }
    });
    // Natively nothing drives the callback but a poll; in the browser the event loop does.
    #[cfg(not(target_arch = "wasm32"))]
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    #[cfg(target_arch = "wasm32")]
    let _ = device;
    Receiver(slot)
        .await
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    let out = {
        let view = staging
            .get_mapped_range(..bytes)
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        view.chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect::<Vec<u32>>()
    };
    staging.unmap();
    Ok(out)
}
