//! Weight upload: the model's tensors read from their source one weight part at a time,
//! repacked in the layout the kernels read (crates/gpu/src/weights.rs) and uploaded into buffers
//! that each fit one storage binding, with the buffers and uniforms of the graph.

use crate::error::GpuError;
use crate::formats::{self, Arithmetic, kernel_suffix};
use crate::kernels::{self, Family};
use crate::limits;
use crate::options::MatvecVariant;
use crate::pipelines::Pipelines;
use crate::weights;
use std::sync::Mutex;
use tokscope_gguf::GgmlType;
use tokscope_model::file::{TensorSource, WeightRef};
use tokscope_model::{ModelError, ModelFile};
use wgpu::util::DeviceExt;

/// Builds buffers, weights and launches for one model (what `GpuBackend::load` needs in one place).
/// A row range of a weight in its own buffers (weights larger than one binding are split).
pub(super) struct WeightPart {
    pub(super) first_row: usize,
    pub(super) rows: usize,
    pub(super) quants: wgpu::Buffer,
    pub(super) scales: wgpu::Buffer,
}

/// A weight on the GPU, as one or more row ranges.
pub(super) struct GpuWeight {
    pub(super) ty: GgmlType,
    pub(super) cols: usize,
    pub(super) parts: Vec<WeightPart>,
}

/// Builds buffers, weights and launches for one model (what `GpuBackend::load` needs in one place).
pub(super) struct Loader<'a> {
    pub(super) device: &'a wgpu::Device,
    pub(super) file: &'a ModelFile,
    /// Where the tensors' bytes are read from, one weight part at a time.
    pub(super) source: &'a dyn TensorSource,
    pub(super) pipelines: &'a Mutex<Pipelines>,
    pub(super) max_binding: u64,
    pub(super) matvec: MatvecVariant,
    /// The rowwise matvec's kernels: [`MATVEC_ROWWISE_SUBGROUP`] where the device has subgroups.
    pub(super) rowwise: &'static Family,
    /// Batched steps use the rowwise matvec too (rowwise with subgroups), not the matmul.
    pub(super) rowwise_batches: bool,
    pub(super) arithmetic: Arithmetic,
    /// A 16-byte buffer bound where a kernel's layout has a binding the weight type does not use.
    pub(super) dummy: wgpu::Buffer,
}

/// A binding: a whole buffer or a range of one (the q, k and v regions of the q/k/v buffer).
#[derive(Clone)]
pub(super) struct Region<'b> {
    buffer: &'b wgpu::Buffer,
    /// Byte offset and size; `None` for the whole buffer.
    range: Option<(u64, u64)>,
}

impl<'b> Region<'b> {
    pub(super) fn whole(buffer: &'b wgpu::Buffer) -> Self {
        Region {
            buffer,
            range: None,
        }
    }

    /// `floats` f32 elements from element `first`.
    pub(super) fn floats(buffer: &'b wgpu::Buffer, first: usize, floats: usize) -> Self {
        Region {
            buffer,
            range: Some(((first * 4) as u64, (floats * 4) as u64)),
        }
    }

    pub(super) fn binding(&self) -> wgpu::BindingResource<'b> {
        match self.range {
            None => self.buffer.as_entire_binding(),
            Some((offset, size)) => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: self.buffer,
                offset,
                size: wgpu::BufferSize::new(size),
            }),
        }
    }
}

/// Where a matvec's outputs go in y (shaders/matvec.wgsl's MatvecParams), in elements.
#[derive(Clone, Copy)]
pub(super) struct Place {
    pub(super) base: usize,
    pub(super) stride: usize,
    pub(super) seg: [usize; 2],
    pub(super) seg_base: [usize; 2],
}

impl Place {
    /// All of y, `[token][rows]`.
    pub(super) fn whole(rows: usize) -> Self {
        Place {
            base: 0,
            stride: rows,
            seg: [0; 2],
            seg_base: [0; 2],
        }
    }
}

/// `floats` rounded up to whole 256-byte units: region starts that any adapter can bind at
/// (WebGPU's largest `minStorageBufferOffsetAlignment`).
pub(super) fn aligned(floats: usize) -> usize {
    floats.next_multiple_of(64)
}

impl<'a> Loader<'a> {
    /// A buffer of `floats` f32 values, refused where the adapter could not bind it whole.
    pub(super) fn storage(
        &self,
        label: &str,
        floats: usize,
        usage: wgpu::BufferUsages,
    ) -> Result<wgpu::Buffer, GpuError> {
        let size = (floats.max(4) as u64).saturating_mul(4);
        let usage = wgpu::BufferUsages::STORAGE | usage;
        limits::check_buffer(self.device, label, size, usage)?;
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage,
            mapped_at_creation: false,
        }))
    }

    /// A buffer holding `data`, refused where the adapter could not bind it whole.
    pub(super) fn upload<T: bytemuck::Pod>(
        &self,
        label: &str,
        data: &[T],
        usage: wgpu::BufferUsages,
    ) -> Result<wgpu::Buffer, GpuError> {
        let size = std::mem::size_of_val(data) as u64;
        limits::check_buffer(self.device, label, size, usage)?;
        Ok(self.create_init(label, data, usage))
    }

    pub(super) fn create_init<T: bytemuck::Pod>(
        &self,
        label: &str,
        data: &[T],
        usage: wgpu::BufferUsages,
    ) -> wgpu::Buffer {
        if data.is_empty() {
            return self.dummy.clone();
        }
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::cast_slice(data),
                usage,
            })
    }

    /// A uniform of a few words: within every adapter's limits (WebGPU guarantees 64 KiB).
    pub(super) fn uniform<T: bytemuck::Pod>(&self, label: &str, value: &T) -> wgpu::Buffer {
        self.create_init(
            label,
            std::slice::from_ref(value),
            wgpu::BufferUsages::UNIFORM,
        )
    }

    /// A norm weight or bias, dequantized to f32 (these vectors are tiny).
    pub(super) fn vector(&self, name: &str, len: usize) -> Result<wgpu::Buffer, GpuError> {
        let v = self.file.vector_from(self.source, name, len)?;
        self.upload(name, &v, wgpu::BufferUsages::STORAGE)
    }

    /// A 2-D weight's place in the file, refused unless the format table has its type.
    pub(super) fn weight_ref(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<WeightRef, GpuError> {
        let supported = |ty| formats::format(ty).is_some();
        self.file
            .weight_of(name, rows, cols, &supported)
            .map_err(|e| match e {
                ModelError::UnsupportedType { name, ty } => GpuError::UnsupportedType { name, ty },
                other => other.into(),
            })
    }

    /// A 2-D weight for the matvec variant in use, repacked and split into parts that each fit
    /// one storage binding.
    pub(super) fn weight(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<GpuWeight, GpuError> {
        self.weight_in(name, rows, cols, self.matvec == MatvecVariant::Rowwise)
    }

    /// A 2-D weight, row-major (`interleaved` false: what embed and the other matvecs read) or in
    /// the rowwise matvec's lane-interleaved layout.
    pub(super) fn weight_in(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
        interleaved: bool,
    ) -> Result<GpuWeight, GpuError> {
        let w = self.weight_ref(name, rows, cols)?;
        let mut per_part = weights::rows_per_part(w.ty, rows, cols, self.max_binding);
        if interleaved && per_part < rows {
            // Whole lane blocks per part (padding never pushes a part past the binding).
            per_part = (per_part / kernels::RW_ROWS * kernels::RW_ROWS).max(kernels::RW_ROWS);
        }
        let row_bytes = w.row_bytes();
        let mut parts = Vec::new();
        for first_row in (0..rows).step_by(per_part) {
            let n = per_part.min(rows - first_row);
            let start = (w.offset + first_row * row_bytes) as u64;
            // The bytes read are dropped once repacked (in the browser they are wasm memory).
            let data = self.source.read(start, n * row_bytes)?;
            let packed = weights::repack(name, w.ty, &data, n, cols)?;
            drop(data);
            parts.push(self.part(name, (w.ty, cols, interleaved), packed, first_row, n)?);
        }
        Ok(GpuWeight {
            ty: w.ty,
            cols,
            parts,
        })
    }

    /// Rows `first_row..first_row + rows` of a weight of type `ty` and width `cols`, repacked,
    /// uploaded in the row-major layout or (`interleaved`) the rowwise matvec's.
    pub(super) fn part(
        &self,
        label: &str,
        (ty, cols, interleaved): (GgmlType, usize, bool),
        mut packed: weights::Packed,
        first_row: usize,
        rows: usize,
    ) -> Result<WeightPart, GpuError> {
        if interleaved {
            let (lanes, groups) = (kernels::RW_LANES as usize, kernels::RW_GROUPS as usize);
            packed = weights::interleave(&packed, ty, rows, cols, lanes, groups);
        }
        Ok(WeightPart {
            first_row,
            rows,
            quants: self.upload(label, &packed.quants, wgpu::BufferUsages::STORAGE)?,
            scales: self.upload(
                label,
                &packed.scale_words(self.arithmetic),
                wgpu::BufferUsages::STORAGE,
            )?,
        })
    }

    /// Weights that share an input, type and width (q/k/v; gate/up) stacked row-wise into one
    /// matrix, so one launch computes them all; `None` where their types differ or the stack
    /// would not fit one storage binding (they are then launched one by one).
    pub(super) fn stacked(
        &self,
        parts: &[(&str, usize)],
        cols: usize,
    ) -> Result<Option<GpuWeight>, GpuError> {
        let refs = parts
            .iter()
            .map(|&(name, rows)| self.weight_ref(name, rows, cols))
            .collect::<Result<Vec<_>, _>>()?;
        let ty = refs[0].ty;
        let rows: usize = parts.iter().map(|p| p.1).sum();
        if refs.iter().any(|w| w.ty != ty)
            || kernel_suffix(ty).is_none()
            || weights::rows_per_part(ty, rows, cols, self.max_binding) < rows
        {
            return Ok(None);
        }
        let mut packed = weights::Packed::default();
        for (w, &(name, n)) in refs.iter().zip(parts) {
            let data = self.source.read(w.offset as u64, n * w.row_bytes())?;
            let p = weights::repack(name, ty, &data, n, cols)?;
            packed.quants.extend(p.quants);
            packed.scales.extend(p.scales);
        }
        let interleaved = self.matvec == MatvecVariant::Rowwise;
        let part = self.part(parts[0].0, (ty, cols, interleaved), packed, 0, rows)?;
        Ok(Some(GpuWeight {
            ty,
            cols,
            parts: vec![part],
        }))
    }

    /// Matrices sharing an input (q/k/v; gate/up), each to write its own region of the output,
    /// `[token][its rows]` from `bases[i]` (in elements): one stacked weight when they stack,
    /// else one weight per matrix.
    pub(super) fn projection(
        &self,
        parts: &[(&str, usize)],
        cols: usize,
        bases: &[usize],
    ) -> Result<Vec<(GpuWeight, Place)>, GpuError> {
        if let Some(w) = self.stacked(parts, cols)? {
            // With two matrices the third segment starts at the last row and is never reached.
            let place = Place {
                base: 0,
                stride: parts[0].1,
                seg: [parts[0].1, parts[0].1 + parts[1].1],
                seg_base: [bases[1], bases.get(2).copied().unwrap_or(0)],
            };
            return Ok(vec![(w, place)]);
        }
        let mut out = Vec::new();
        for (&(name, rows), &base) in parts.iter().zip(bases) {
            let place = Place {
                base,
                ..Place::whole(rows)
            };
            out.push((self.weight(name, rows, cols)?, place));
        }
        Ok(out)
    }
}
