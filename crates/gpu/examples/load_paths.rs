//! What reading weights costs a CPU-run adapter (SwiftShader, lavapipe) by each load path: the
//! rowwise matvec's 32-bit storage loads, vec4 storage loads, and `rgba32uint` texels through
//! `textureLoad` (a texture row per group of 4 rows). Each kernel reads as much as the LM head's
//! weights (28 MB) with almost no arithmetic, one invocation per row, lanes on adjacent rows.
//!
//! usage: cargo run --release -p tokscope-gpu --example load_paths
//! (SwiftShader: `VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json`; tests/bench/README.md)
use std::time::Instant;

use tokscope_gpu::GpuContext;
use wgpu::util::DeviceExt;

const ROWS: u32 = 49152;
/// u32 words per row: 576 Q8_0 weights.
const WORDS: u32 = 144;
/// Texels per texture row: two groups of 4 matrix rows, 36 texels each per matrix row.
const WIDTH: u32 = 2 * WORDS;

/// The kernels, after `const W` (WORDS).
const KERNELS: &str = r#"
@group(0) @binding(0) var<storage, read> words: array<u32>;
@group(0) @binding(1) var<storage, read> quads: array<vec4<u32>>;
@group(0) @binding(2) var texels: texture_2d<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

// Indices count up by constants: SwiftShader runs a shift (a multiply by a power of two
// becomes one) or a division lane by lane, which would dwarf the loads.
fn mix4(v: vec4<u32>) -> u32 {
    return v.x + v.y * 3u + v.z * 5u + v.w * 7u;
}

@compute @workgroup_size(64)
fn storage_words(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    var i = (r / 4u) * W * 4u + r % 4u;
    let end = i + W * 4u;
    var acc = 0u;
    for (; i < end; i += 16u) {
        acc ^= mix4(vec4<u32>(words[i], words[i + 4u], words[i + 8u], words[i + 12u]));
    }
    out[r] = acc;
}

@compute @workgroup_size(64)
fn storage_vec4s(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    var i = (r / 4u) * W + r % 4u;
    let end = i + W;
    var acc = 0u;
    for (; i < end; i += 4u) {
        acc ^= mix4(quads[i]);
    }
    out[r] = acc;
}

@compute @workgroup_size(64)
fn texels_by_row(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    let g = r / 4u;
    let y = g / 2u;
    var x = (g % 2u) * W + r % 4u;
    let end = x + W;
    var acc = 0u;
    for (; x < end; x += 4u) {
        acc ^= mix4(textureLoad(texels, vec2<u32>(x, y), 0));
    }
    out[r] = acc;
}
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ctx = GpuContext::new_blocking()?;
    println!("adapter: {}", ctx.describe());
    let (device, queue) = (&ctx.device, &ctx.queue);
    let n = (ROWS * WORDS) as usize;
    let data: Vec<u32> = (0..n as u32).map(|i| i.wrapping_mul(2654435761)).collect();
    let storage = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("weights"),
        contents: bytemuck::cast_slice(&data),
        usage: wgpu::BufferUsages::STORAGE,
    });
    let height = n as u32 / 4 / WIDTH;
    let texture = device.create_texture_with_data(
        queue,
        &wgpu::TextureDescriptor {
            label: Some("weights"),
            size: wgpu::Extent3d {
                width: WIDTH,
                height,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba32Uint,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        },
        wgpu::util::TextureDataOrder::LayerMajor,
        bytemuck::cast_slice(&data),
    );
    let view = texture.create_view(&Default::default());
    let out = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("out"),
        size: ROWS as u64 * 4,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("load paths"),
        source: wgpu::ShaderSource::Wgsl(format!("const W: u32 = {WORDS}u;\n{KERNELS}").into()),
    });
    let mb = n as f64 * 4.0 / 1e6;
    for (entry, binding) in [
        ("storage_words", 0),
        ("storage_vec4s", 1),
        ("texels_by_row", 2),
    ] {
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        let input = match binding {
            2 => wgpu::BindingResource::TextureView(&view),
            _ => storage.as_entire_binding(),
        };
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(entry),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding,
                    resource: input,
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: out.as_entire_binding(),
                },
            ],
        });
        let run = |passes: u32| -> Result<f64, wgpu::PollError> {
            let start = Instant::now();
            let mut encoder = device.create_command_encoder(&Default::default());
            for _ in 0..passes {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                pass.set_pipeline(&pipeline);
                pass.set_bind_group(0, &bind_group, &[]);
                pass.dispatch_workgroups(ROWS / 64, 1, 1);
            }
            queue.submit([encoder.finish()]);
            device.poll(wgpu::PollType::wait_indefinitely())?;
            Ok(start.elapsed().as_secs_f64() * 1e3 / passes as f64)
        };
        run(1)?;
        let ms = run(10)?;
        println!(
            "{entry:14} {ms:7.2} ms per {mb:.1} MB ({:.2} GB/s)",
            mb / ms
        );
    }
    Ok(())
}
