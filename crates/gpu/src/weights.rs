//! Weights in the layout the kernels read, as the format table says ([`Layout`]): the split
//! formats' GGUF blocks repacked at load into u32 quant words and block scales, f32 or f16
//! ([`Arithmetic`]) (WGSL storage arrays have 2- or 4-byte elements; Q4_0's 18-byte and Q8_0's
//! 34-byte blocks are not 4-byte aligned), the other formats' blocks kept whole, each row padded to
//! whole words. The quants keep GGUF's bit layout and are never expanded to f32;
//! shaders/common/quant.wgsl and shaders/common/blocks.wgsl document the layouts.

use crate::error::GpuError;
use crate::formats::{Arithmetic, Layout, QK, format};
use tokscope_gguf::GgmlType;
use tokscope_gguf::blocks::f16_bits_to_f32;

/// One weight (or a row range of it) ready for upload.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Packed {
    /// Quant words, row-major: `words_per_row(ty, cols)` per row.
    pub quants: Vec<u32>,
    /// Block scales as GGUF's f16 bits, row-major: `scales_per_row(ty, cols)` per row (empty
    /// for float types).
    pub scales: Vec<u16>,
}

impl Packed {
    /// The scales widened to f32: the binding of [`Arithmetic::F32`] kernels.
    pub fn scales_f32(&self) -> Vec<f32> {
        self.scales
            .iter()
            .map(|s| f16_bits_to_f32(s.to_le_bytes()))
            .collect()
    }

    /// The scales' words for `arithmetic`'s kernels: f32 bits, or f16 bits two to a word (low
    /// half first, the last one padded with zero), as `array<st>` reads them.
    pub fn scale_words(&self, arithmetic: Arithmetic) -> Vec<u32> {
        match arithmetic {
            Arithmetic::F32 => self.scales_f32().iter().map(|s| s.to_bits()).collect(),
            Arithmetic::F16 => self
                .scales
                .chunks(2)
                .map(|p| u32::from(p[0]) | u32::from(p.get(1).copied().unwrap_or(0)) << 16)
                .collect(),
        }
    }
}

/// u32 quant words per row of `cols` elements (a type no kernel reads: one per element).
pub fn words_per_row(ty: GgmlType, cols: usize) -> usize {
    match format(ty) {
        None => cols,
        Some(f) => match f.layout {
            Layout::Split { words, .. } => cols * words / QK,
            Layout::Blocks => (cols / f.block_elems * f.block_bytes).div_ceil(4),
        },
    }
}

/// Scales per row of `cols` elements (Q4_1 keeps d and m; whole blocks keep theirs inside).
pub fn scales_per_row(ty: GgmlType, cols: usize) -> usize {
    match format(ty).map(|f| f.layout) {
        Some(Layout::Split { scales, .. }) => cols * scales / QK,
        _ => 0,
    }
}

/// GPU bytes of one row (quants, or f32 scales: the larger binding) that splitting by binding
/// size counts; f16 scales take half as much.
pub fn gpu_row_bytes(ty: GgmlType, cols: usize) -> usize {
    4 * words_per_row(ty, cols).max(scales_per_row(ty, cols))
}

/// Repacks `rows` rows of `cols` elements of GGUF data (`data` is exactly those rows).
pub fn repack(
    name: &str,
    ty: GgmlType,
    data: &[u8],
    rows: usize,
    cols: usize,
) -> Result<Packed, GpuError> {
    let unsupported = || GpuError::UnsupportedType {
        name: name.to_string(),
        ty,
    };
    let f = format(ty).ok_or_else(unsupported)?;
    // The kernels read whole blocks of 32 inputs; a block of the format must not straddle rows.
    let multiple = QK.max(f.block_elems);
    if !cols.is_multiple_of(multiple) {
        return Err(GpuError::Unsupported(format!(
            "{name}: rows of {cols} elements (the GPU kernels need a multiple of {multiple} for \
             {ty})"
        )));
    }
    let expected = ty.bytes_for((rows * cols) as u64).ok_or_else(unsupported)?;
    if data.len() as u64 != expected {
        return Err(GpuError::Unsupported(format!(
            "{name}: {} bytes for {rows}×{cols} {ty}, expected {expected}",
            data.len()
        )));
    }
    tokscope_model::file::check_weight_data(name, ty, data)?;
    fn words(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
        bytes
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
    }
    let f16 = |b: &[u8]| u16::from_le_bytes([b[0], b[1]]);
    // Exact capacities: the largest weight is repacked whole, and growing by doubling would
    // hold up to 1.5× its size more at once (in the browser, wasm memory that never shrinks).
    let mut packed = Packed {
        quants: Vec::with_capacity(rows * words_per_row(ty, cols)),
        scales: Vec::with_capacity(rows * scales_per_row(ty, cols)),
    };
    if f.layout == Layout::Blocks {
        // Each row from a word boundary, its last word padded with zeros.
        let row_bytes = data.len() / rows.max(1);
        for row in data.chunks_exact(row_bytes.max(1)) {
            packed.quants.extend(words(row));
            let tail = row.chunks_exact(4).remainder();
            if !tail.is_empty() {
                let mut last = [0; 4];
                last[..tail.len()].copy_from_slice(tail);
                packed.quants.push(u32::from_le_bytes(last));
            }
        }
        return Ok(packed);
    }
    match ty {
        GgmlType::Q4_0 | GgmlType::Q8_0 => {
            let block = if ty == GgmlType::Q4_0 { 18 } else { 34 };
            for b in data.chunks_exact(block) {
                packed.scales.push(f16(&b[..2]));
                packed.quants.extend(words(&b[2..]));
            }
        }
        GgmlType::Q4_1 => {
            for b in data.chunks_exact(20) {
                packed.scales.extend([f16(&b[..2]), f16(&b[2..4])]);
                packed.quants.extend(words(&b[4..]));
            }
        }
        _ => packed.quants.extend(words(data)),
    }
    Ok(packed)
}

/// `p` (`rows` rows of `cols` elements of type `ty`, row-major) in the rowwise matvec's layout
/// (shaders/matvec.wgsl): rows padded with zeros to a multiple of `lanes · groups`, then word
/// `w` of row `r` at `((r / lanes) · words_per_row + w) · lanes + r % lanes`, scales likewise, so
/// that the `lanes` invocations of a SIMD group read adjacent words.
pub fn interleave(
    p: &Packed,
    ty: GgmlType,
    rows: usize,
    cols: usize,
    lanes: usize,
    groups: usize,
) -> Packed {
    fn spread<T: Copy + Default>(v: &[T], per_row: usize, rows: usize, lanes: usize) -> Vec<T> {
        let mut out = vec![T::default(); rows * per_row];
        for (i, &e) in v.iter().enumerate() {
            let (r, w) = (i / per_row, i % per_row);
            out[((r / lanes) * per_row + w) * lanes + r % lanes] = e;
        }
        out
    }
    let padded = rows.next_multiple_of(lanes * groups);
    Packed {
        quants: spread(&p.quants, words_per_row(ty, cols), padded, lanes),
        scales: spread(&p.scales, scales_per_row(ty, cols), padded, lanes),
    }
}

/// Rows per part when a weight of `rows` rows must be split so that no part's buffer exceeds
/// `max_binding` bytes (WebGPU's maxStorageBufferBindingSize); `rows` when it fits whole.
pub fn rows_per_part(ty: GgmlType, rows: usize, cols: usize, max_binding: u64) -> usize {
    let per_row = gpu_row_bytes(ty, cols).max(1) as u64;
    ((max_binding / per_row) as usize).clamp(1, rows.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokscope_gguf::blocks::{dequantize_row, quantize_row};

    /// The element values the shaders compute from a packed row (a mirror of
    /// common/quant.wgsl; f16 scales widen to the same f32 values).
    fn shader_dequantize(ty: GgmlType, p: &Packed, cols: usize) -> Vec<f32> {
        let q = &p.quants;
        let scales = p.scales_f32();
        (0..cols)
            .map(|e| {
                let (block, j) = (e / QK, e % QK);
                match ty {
                    GgmlType::Q4_0 | GgmlType::Q4_1 => {
                        let word = q[block * 4 + (j % 16) / 4];
                        let shift = 8 * (j % 4) + if j >= 16 { 4 } else { 0 };
                        let nib = ((word >> shift) & 0xf) as f32;
                        if ty == GgmlType::Q4_0 {
                            (nib - 8.0) * scales[block]
                        } else {
                            nib * scales[2 * block] + scales[2 * block + 1]
                        }
                    }
                    GgmlType::Q8_0 => {
                        let byte = (q[e / 4] >> (8 * (e % 4))) as u8 as i8;
                        byte as f32 * scales[block]
                    }
                    GgmlType::F16 => {
                        let half = (q[e / 2] >> (16 * (e % 2))) as u16;
                        half::f16::from_bits(half).to_f32()
                    }
                    GgmlType::BF16 => f32::from_bits((q[e / 2] >> (16 * (e % 2))) << 16),
                    _ => f32::from_bits(q[e]),
                }
            })
            .collect()
    }

    #[test]
    fn repacked_rows_dequantize_like_gguf() {
        let cols = 96;
        let x: Vec<f32> = (0..cols)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.173)
            .collect();
        for ty in [
            GgmlType::Q4_0,
            GgmlType::Q4_1,
            GgmlType::Q8_0,
            GgmlType::F16,
            GgmlType::BF16,
            GgmlType::F32,
        ] {
            let data = quantize_row(ty, &x).unwrap();
            let mut want = vec![0.0; cols];
            dequantize_row(ty, &data, &mut want).unwrap();
            let packed = repack("w", ty, &data, 1, cols).unwrap();
            assert_eq!(packed.quants.len(), words_per_row(ty, cols), "{ty}");
            assert_eq!(
                packed.quants.capacity(),
                packed.quants.len(),
                "{ty}: no spare room"
            );
            assert_eq!(packed.scales.len(), scales_per_row(ty, cols), "{ty}");
            assert_eq!(shader_dequantize(ty, &packed, cols), want, "{ty}");
        }
    }

    #[test]
    fn whole_blocks_keep_their_bytes_each_row_from_a_word() {
        // Q6_K: 210-byte blocks, so a row of 256 elements ends mid-word.
        let (rows, cols) = (3, 256);
        let data: Vec<u8> = (0..rows * 210).map(|i| (i * 7 + 1) as u8).collect();
        // Finite scales (d, the f16 at byte 208 of each block).
        let mut data = data;
        for b in data.chunks_exact_mut(210) {
            b[208..].copy_from_slice(&[0x00, 0x3c]);
        }
        let packed = repack("w", GgmlType::Q6_K, &data, rows, cols).unwrap();
        assert_eq!(words_per_row(GgmlType::Q6_K, cols), 53);
        assert_eq!(packed.quants.len(), rows * 53);
        assert!(packed.scales.is_empty());
        for (r, row) in data.chunks_exact(210).enumerate() {
            let words = &packed.quants[r * 53..(r + 1) * 53];
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            assert_eq!(&bytes[..210], row);
            assert_eq!(&bytes[210..], [0, 0]);
        }
        // Rows that do not hold whole super-blocks are refused.
        assert!(repack("w", GgmlType::Q6_K, &data[..105], 1, 128).is_err());
    }

    #[test]
    fn f16_scale_words_hold_the_gguf_bits_two_to_a_word() {
        let p = Packed {
            quants: Vec::new(),
            scales: vec![0x3c00, 0xc000, 0x3555],
        };
        assert_eq!(p.scale_words(Arithmetic::F16), [0xc000_3c00, 0x0000_3555]);
        let f32_words: Vec<f32> = p
            .scale_words(Arithmetic::F32)
            .into_iter()
            .map(f32::from_bits)
            .collect();
        assert_eq!(f32_words[..2], [1.0, -2.0]);
        assert!((f32_words[2] - 1.0 / 3.0).abs() < 1e-3);
    }

    #[test]
    fn interleaved_rows_sit_lane_by_lane() {
        // 6 rows of 64 Q4_1 elements: 8 words and 4 scales per row, 4 lanes, 2 groups → 8 rows.
        let (rows, cols) = (6, 64);
        let p = Packed {
            quants: (0..rows * 8).map(|i| i as u32 + 1).collect(),
            scales: (0..rows * 4).map(|i| i as u16 + 1).collect(),
        };
        let q = interleave(&p, GgmlType::Q4_1, rows, cols, 4, 2);
        assert_eq!(q.quants.len(), 8 * 8);
        assert_eq!(q.scales.len(), 8 * 4);
        for r in 0..rows {
            for w in 0..8 {
                assert_eq!(q.quants[((r / 4) * 8 + w) * 4 + r % 4], p.quants[r * 8 + w]);
            }
            for s in 0..4 {
                assert_eq!(q.scales[((r / 4) * 4 + s) * 4 + r % 4], p.scales[r * 4 + s]);
            }
        }
        // The padding rows are zero.
        assert!(q.quants[8 * 4..].chunks(4).all(|c| c[2] == 0 && c[3] == 0));
    }

    #[test]
    fn refuses_bad_shapes_and_types() {
        assert!(matches!(
            repack("w", GgmlType::Q8_1, &[0; 36], 1, 32),
            Err(GpuError::UnsupportedType { .. })
        ));
        assert!(repack("w", GgmlType::F32, &[0; 64], 1, 16).is_err());
        assert!(repack("w", GgmlType::Q4_0, &[0; 17], 1, 32).is_err());
    }

    #[test]
    fn splits_rows_to_fit_a_binding() {
        // Q8_0 rows of 64 elements: 16 quant words = 64 bytes per row.
        assert_eq!(rows_per_part(GgmlType::Q8_0, 100, 64, 1 << 20), 100);
        assert_eq!(rows_per_part(GgmlType::Q8_0, 100, 64, 640), 10);
        assert_eq!(rows_per_part(GgmlType::Q8_0, 100, 64, 10), 1);
    }
}
