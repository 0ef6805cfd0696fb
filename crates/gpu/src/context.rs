//! The GPU itself: adapter, device and queue, found once and shared by every model loaded on it.

use crate::error::GpuError;
use crate::pipelines::Pipelines;
use std::sync::{Arc, Mutex};

/// An adapter with its device and queue, the compiled kernels (shared by every model loaded on
/// the device), and the first error the device reported on its own (a lost device, an uncaptured
/// validation or out-of-memory error), which the backend returns from its next call instead of
/// panicking as wgpu's default handler does.
#[derive(Clone)]
pub struct GpuContext {
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub(crate) pipelines: Arc<Mutex<Pipelines>>,
    fault: Arc<Mutex<Option<GpuError>>>,
    /// The device has `subgroups` without wgpu knowing ([`GpuContext::device_has_subgroups`]).
    web_subgroups: bool,
    /// The adapter runs on the CPU without wgpu knowing ([`GpuContext::adapter_is_software`]).
    web_software: bool,
}

/// The Vulkan instance extensions of window systems, which [`instance`] leaves out.
#[cfg(target_os = "linux")]
const WINDOW_SYSTEM_EXTENSIONS: [&std::ffi::CStr; 3] = [
    c"VK_KHR_wayland_surface",
    c"VK_KHR_xcb_surface",
    c"VK_KHR_xlib_surface",
];

/// wgpu's instance, on Linux a Vulkan one without the window-system surface extensions: tokscope
/// computes and never presents, and with `VK_KHR_wayland_surface` enabled Mesa's device-select
/// layer connects to a Wayland display at each device enumeration, so libwayland prints
/// "error: XDG_RUNTIME_DIR is invalid or not set" wherever no desktop session runs.
#[cfg(target_os = "linux")]
fn instance() -> wgpu::Instance {
    use wgpu::hal::vulkan;
    let desc = wgpu::InstanceDescriptor::new_without_display_handle();
    let hal_desc = wgpu::hal::InstanceDescriptor {
        name: "tokscope",
        flags: desc.flags,
        memory_budget_thresholds: desc.memory_budget_thresholds,
        backend_options: desc.backend_options.clone(),
        telemetry: None,
        display: None,
    };
    let compute_only: Box<vulkan::CreateInstanceCallback> =
        Box::new(|args: vulkan::CreateInstanceCallbackArgs| {
            args.extensions
                .retain(|e| !WINDOW_SYSTEM_EXTENSIONS.contains(e));
        });
    // SAFETY: the callback only drops surface extensions. wgpu-hal records the list it enables
    // and checks it before creating a surface of that kind, which tokscope never does; no
    // feature of a compute device depends on them.
    match unsafe { vulkan::Instance::init_with_callback(&hal_desc, Some(compute_only)) } {
        // SAFETY: a Vulkan instance just made by wgpu-hal, handed over whole.
        Ok(hal) => unsafe { wgpu::Instance::from_hal::<wgpu::hal::api::Vulkan>(hal) },
        // No Vulkan loader: wgpu's own instance reports what there is (no adapter).
        Err(_) => wgpu::Instance::new(desc),
    }
}

/// wgpu's instance with its default backends.
#[cfg(not(target_os = "linux"))]
fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle())
}

impl GpuContext {
    /// Finds the best adapter (a discrete GPU before an integrated one, a software one last) and
    /// opens a device with the adapter's own limits, so large weights fit in few buffers.
    // In the browser wgpu's types are neither Send nor Sync, and the context's Arcs are shared
    // within the one worker only; natively they are shared across threads.
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
    pub async fn new() -> Result<Self, GpuError> {
        let instance = instance();
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        let info = adapter.get_info();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("tokscope"),
                // Subgroup reductions (shaders/matvec_subgroup.wgsl), f16 arithmetic
                // (kernels::Arithmetic) and timestamps (GpuBackend::profile_step) where the
                // adapter has them.
                required_features: adapter.features()
                    & (wgpu::Features::SUBGROUP
                        | wgpu::Features::SHADER_F16
                        | wgpu::Features::TIMESTAMP_QUERY),
                required_limits: adapter.limits(),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::RequestDevice(e.to_string()))?;
        let fault = Arc::new(Mutex::new(None));
        let lost = fault.clone();
        device.set_device_lost_callback(move |reason, message| {
            let detail = match message.is_empty() {
                true => format!("{reason:?}"),
                false => format!("{reason:?}: {message}"),
            };
            record(&lost, GpuError::DeviceLost(detail));
        });
        let uncaptured = fault.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let err = match e {
                wgpu::Error::OutOfMemory { .. } => GpuError::OutOfMemory("running".into()),
                other => GpuError::Wgpu(other.to_string()),
            };
            record(&uncaptured, err);
        }));
        Ok(Self {
            pipelines: Arc::new(Mutex::new(Pipelines::new(&device))),
            adapter,
            device,
            queue,
            info,
            fault,
            web_subgroups: false,
            web_software: false,
        })
    }

    /// [`GpuContext::new`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_blocking() -> Result<Self, GpuError> {
        pollster::block_on(Self::new())
    }

    /// True for an adapter that runs on the CPU (lavapipe, SwiftShader, WARP): correct, but
    /// slower than the CPU backend, so `--backend auto` does not choose it, and loads take the
    /// kernels for such adapters ([`crate::LoadOptions`]).
    pub fn is_software(&self) -> bool {
        self.web_software || self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Says that the browser's adapter runs on the CPU (SwiftShader), which the browser's WebGPU
    /// tells wgpu only as a fallback flag: the page knows software adapters by name too.
    pub fn adapter_is_software(&mut self) {
        self.web_software = true;
    }

    /// True when the device runs subgroup operations (`subgroupAdd`).
    pub fn has_subgroups(&self) -> bool {
        self.web_subgroups || self.device.features().contains(wgpu::Features::SUBGROUP)
    }

    /// Says that the browser's device has WebGPU's `subgroups` feature, which wgpu 30's WebGPU
    /// backend can neither request nor report (gfx-rs/wgpu#10146): the page adds it to the
    /// device request itself (web/src/worker.ts) and tells the engine so.
    pub fn device_has_subgroups(&mut self) {
        self.web_subgroups = true;
    }

    /// True when the device runs f16 arithmetic in shaders (WebGPU's `shader-f16`).
    pub fn has_f16(&self) -> bool {
        self.device.features().contains(wgpu::Features::SHADER_F16)
    }

    /// "NVIDIA GeForce RTX 4070 (Vulkan)", "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan)".
    pub fn describe(&self) -> String {
        // The browser's WebGPU tells wgpu no adapter name.
        let name = match self.info.name.as_str() {
            "" => "WebGPU adapter",
            name => name,
        };
        format!("{name} ({:?})", self.info.backend)
    }

    /// The error the device reported since it was last asked, if any (taken: reported once).
    pub fn take_fault(&self) -> Option<GpuError> {
        self.fault.lock().ok()?.take()
    }
}

/// Keeps the first fault: later ones are usually its consequences.
fn record(slot: &Mutex<Option<GpuError>>, err: GpuError) {
    if let Ok(mut slot) = slot.lock() {
        slot.get_or_insert(err);
    }
}
