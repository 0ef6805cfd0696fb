//! The ggml block formats: dequantization of every format tokscope decodes (one decoder per
//! format, in `basic`, `kquants` and `iquants`, run by one shared row loop), the checks a loader
//! runs on a weight's blocks, and for the formats tokscope computes with, their byte layouts,
//! llama.cpp's reference quantizers and the scalar reference dot products that faster kernels
//! are checked against.
//!
//! Every block is an alignment-1 `#[repr(C)]` struct whose f16 fields are kept as little-endian
//! bits, so any byte slice of a tensor casts to a block slice (`bytemuck::cast_slice`) without an
//! alignment requirement. Semantics and order of operations follow llama.cpp's `ggml-quants.c`
//! (`quantize_row_*_ref`, `dequantize_row_*`) and the generic `ggml_vec_dot_*` of its CPU backend.
//! In every decoder but Q8_K's, the products of an f16 scale and small integers are exact in f32,
//! so a value has at most one rounding (the added minimum): any order of operations, fused or not,
//! gives ggml's bits.

pub(crate) mod basic;
mod dots;
pub(crate) mod iquants;
pub(crate) mod kquants;
mod layouts;
mod random;

pub use dots::{
    SuperInts, q8_k_bsum, quantize_row_q8_k, super_ints, vec_dot_iq4_nl_q8_0, vec_dot_q5_0_q8_0,
    vec_dot_q5_1_q8_1, vec_dot_super_q8_k,
};
pub use iquants::LEVELS as IQ4_LEVELS;
pub use kquants::{k4_scale_min, q3_k_scales};
pub use layouts::{
    BlockIq4Nl, BlockIq4Xs, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K, BlockQ6K,
    BlockQ8K, QK_K,
};
pub use random::random_blocks;

use bytemuck::{Pod, Zeroable};
use half::{bf16, f16};
use thiserror::Error;

use crate::types::GgmlType;

/// Elements per block of Q4_0, Q4_1, Q8_0 and Q8_1.
pub const QK: usize = 32;

/// 4-bit symmetric block: `x = d * (q - 8)`. Byte `j` of `qs` holds element `j` in its low
/// nibble and element `j + 16` in its high nibble.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ4_0 {
    /// Scale, f16 bits.
    pub d: [u8; 2],
    pub qs: [u8; QK / 2],
}

/// 4-bit block with an offset: `x = d * q + m` (nibble order as in [`BlockQ4_0`]).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ4_1 {
    /// Scale, f16 bits.
    pub d: [u8; 2],
    /// Minimum (offset), f16 bits.
    pub m: [u8; 2],
    pub qs: [u8; QK / 2],
}

/// 8-bit symmetric block: `x = d * q`.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ8_0 {
    /// Scale, f16 bits.
    pub d: [u8; 2],
    pub qs: [i8; QK],
}

/// 8-bit block that also carries `s = d * sum(qs)`: the activation format dotted with Q4_1,
/// whose offset `m` then contributes `m * s` per block.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ8_1 {
    /// Scale, f16 bits.
    pub d: [u8; 2],
    /// `d * sum(qs)` computed in f32, stored as f16 bits.
    pub s: [u8; 2],
    pub qs: [i8; QK],
}

const _: () = assert!(std::mem::size_of::<BlockQ4_0>() == 18);
const _: () = assert!(std::mem::size_of::<BlockQ4_1>() == 20);
const _: () = assert!(std::mem::size_of::<BlockQ8_0>() == 34);
const _: () = assert!(std::mem::size_of::<BlockQ8_1>() == 36);
const _: () = assert!(std::mem::align_of::<BlockQ8_1>() == 1);

/// How one format's blocks become f32 values: a row of a type is decoded block by block.
#[derive(Clone, Copy, Debug)]
pub struct Decoder {
    /// Decodes one block: `block` is exactly the type's bytes per block, `out` its elements.
    pub decode: fn(block: &[u8], out: &mut [f32]),
    /// The block's float scales, each checked to be finite before the block is decoded.
    pub scales: &'static [Scale],
}

impl Decoder {
    pub(crate) const fn new(decode: fn(&[u8], &mut [f32]), scales: &'static [Scale]) -> Self {
        Self { decode, scales }
    }
}

/// A float scale inside a block, by its byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    F16(usize),
    F32(usize),
}

impl Scale {
    fn offset(self) -> usize {
        match self {
            Scale::F16(o) | Scale::F32(o) => o,
        }
    }

    fn read(self, block: &[u8]) -> f32 {
        match self {
            Scale::F16(o) => f16_at(block, o),
            Scale::F32(o) => {
                f32::from_le_bytes([block[o], block[o + 1], block[o + 2], block[o + 3]])
            }
        }
    }
}

/// The little-endian f16 at byte `o` of a block, as f32.
fn f16_at(block: &[u8], o: usize) -> f32 {
    f16_bits_to_f32([block[o], block[o + 1]])
}

/// Why a row could not be converted.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum BlockError {
    #[error("ggml type {0} has no block implementation here")]
    Unsupported(GgmlType),
    /// A scale that is NaN or infinite: every value of its block would be garbage.
    #[error(
        "{ty} block {block} has a non-finite scale ({value}) at byte {offset}: the weights are corrupt"
    )]
    NonFiniteScale {
        ty: GgmlType,
        block: usize,
        /// Byte offset from the start of the checked bytes.
        offset: usize,
        value: f32,
    },
    /// A byte count that is not the size of the row, or an element count that is not a whole
    /// number of blocks (`expected` is then the next whole-block count).
    #[error("length mismatch: expected {expected}, found {found}")]
    Length { expected: usize, found: usize },
}

/// Decodes little-endian f16 bits.
pub fn f16_bits_to_f32(bits: [u8; 2]) -> f32 {
    f16::from_bits(u16::from_le_bytes(bits)).to_f32()
}

/// Encodes to little-endian f16 bits, rounding to nearest even like `GGML_FP32_TO_FP16`.
pub fn f32_to_f16_bits(x: f32) -> [u8; 2] {
    f16::from_f32(x).to_bits().to_le_bytes()
}

/// Decodes little-endian bf16 bits (the upper half of an f32).
pub fn bf16_bits_to_f32(bits: [u8; 2]) -> f32 {
    bf16::from_bits(u16::from_le_bytes(bits)).to_f32()
}

/// Encodes to little-endian bf16 bits like ggml's `ggml_compute_fp32_to_bf16`: round to nearest
/// even, NaN made quiet.
pub fn f32_to_bf16_bits(x: f32) -> [u8; 2] {
    let u = x.to_bits();
    let bits = if u & 0x7fff_ffff > 0x7f80_0000 {
        (u >> 16) as u16 | 64
    } else {
        (u.wrapping_add(0x7fff + ((u >> 16) & 1)) >> 16) as u16
    };
    bits.to_le_bytes()
}

impl GgmlType {
    /// The block decoder, for the types tokscope can dequantize: a new format is one arm here plus
    /// its row in the type table (`types.rs`).
    pub fn decoder(self) -> Option<Decoder> {
        use GgmlType as T;
        Some(match self {
            T::F32 => basic::F32,
            T::F16 => basic::F16,
            T::Q4_0 => basic::Q4_0,
            T::Q4_1 => basic::Q4_1,
            T::Q5_0 => basic::Q5_0,
            T::Q5_1 => basic::Q5_1,
            T::Q8_0 => basic::Q8_0,
            T::Q8_1 => basic::Q8_1,
            T::Q2_K => kquants::Q2_K,
            T::Q3_K => kquants::Q3_K,
            T::Q4_K => kquants::Q4_K,
            T::Q5_K => kquants::Q5_K,
            T::Q6_K => kquants::Q6_K,
            T::Q8_K => kquants::Q8_K,
            T::IQ4_NL => iquants::IQ4_NL,
            T::IQ4_XS => iquants::IQ4_XS,
            T::BF16 => basic::BF16,
            _ => return None,
        })
    }
}

/// The activation format each weight format is dotted with, as in llama.cpp's CPU backend:
/// Q4_0, Q5_0, IQ4_NL, Q8_0→Q8_0; Q4_1, Q5_1→Q8_1; Q2_K..Q6_K, IQ4_XS→Q8_K; F16→F16,
/// BF16→BF16, F32→F32.
///
/// Q8_1 and Q8_K are only ever activation formats (ggml has no dot product with them as the
/// weight), so they get None, like every type without a block implementation.
pub fn vec_dot_type(t: GgmlType) -> Option<GgmlType> {
    use GgmlType as T;
    match t {
        T::Q4_0 | T::Q5_0 | T::IQ4_NL | T::Q8_0 => Some(T::Q8_0),
        T::Q4_1 | T::Q5_1 => Some(T::Q8_1),
        T::Q2_K | T::Q3_K | T::Q4_K | T::Q5_K | T::Q6_K | T::IQ4_XS => Some(T::Q8_K),
        GgmlType::F16 | GgmlType::BF16 | GgmlType::F32 => Some(t),
        _ => None,
    }
}

/// Bytes of a row of `n` elements of a decodable type, or the error that says why not.
fn row_bytes(t: GgmlType, n: usize) -> Result<usize, BlockError> {
    let (block, _) = t
        .block_layout()
        .filter(|_| t.decoder().is_some())
        .ok_or(BlockError::Unsupported(t))?;
    t.bytes_for(n as u64)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or(BlockError::Length {
            expected: n.next_multiple_of(block),
            found: n,
        })
}

/// Decodes one row: `src` must be exactly `t.bytes_for(dst.len())` bytes of a type with a
/// decoder ([`GgmlType::decoder`]), and every block's scales finite.
pub fn dequantize_row(t: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), BlockError> {
    let expected = row_bytes(t, dst.len())?;
    if src.len() != expected {
        return Err(BlockError::Length {
            expected,
            found: src.len(),
        });
    }
    let decoder = check_blocks(t, src)?;
    let (block, bytes) = t.block_layout().ok_or(BlockError::Unsupported(t))?;
    for (b, y) in src.chunks_exact(bytes).zip(dst.chunks_exact_mut(block)) {
        (decoder.decode)(b, y);
    }
    Ok(())
}

/// Checks `src` as a run of whole blocks of `t` whose scales are all finite, without decoding it:
/// what a loader runs on a weight before computing with it. Returns the type's decoder.
pub fn check_blocks(t: GgmlType, src: &[u8]) -> Result<Decoder, BlockError> {
    let (decoder, (_, bytes)) = t
        .decoder()
        .zip(t.block_layout())
        .ok_or(BlockError::Unsupported(t))?;
    if !src.len().is_multiple_of(bytes) {
        return Err(BlockError::Length {
            expected: src.len().next_multiple_of(bytes),
            found: src.len(),
        });
    }
    if !decoder.scales.is_empty() {
        for (i, b) in src.chunks_exact(bytes).enumerate() {
            for scale in decoder.scales {
                let value = scale.read(b);
                if !value.is_finite() {
                    return Err(BlockError::NonFiniteScale {
                        ty: t,
                        block: i,
                        offset: i * bytes + scale.offset(),
                        value,
                    });
                }
            }
        }
    }
    Ok(decoder)
}

/// Encodes one row with llama.cpp's reference quantizers (`quantize_row_*_ref`); used by the
/// writer and by tests. `src.len()` must be a whole number of blocks.
pub fn quantize_row(t: GgmlType, src: &[f32]) -> Result<Vec<u8>, BlockError> {
    row_bytes(t, src.len())?;
    let n_blocks = src.len() / t.block_layout().map_or(1, |(block, _)| block);
    Ok(match t {
        GgmlType::F32 => src.iter().flat_map(|x| x.to_le_bytes()).collect(),
        GgmlType::F16 => src.iter().flat_map(|&x| f32_to_f16_bits(x)).collect(),
        GgmlType::BF16 => src.iter().flat_map(|&x| f32_to_bf16_bits(x)).collect(),
        GgmlType::Q4_0 => {
            let mut y = vec![BlockQ4_0::zeroed(); n_blocks];
            quantize_row_q4_0(src, &mut y);
            bytemuck::cast_slice(&y).to_vec()
        }
        GgmlType::Q4_1 => {
            let mut y = vec![BlockQ4_1::zeroed(); n_blocks];
            quantize_row_q4_1(src, &mut y);
            bytemuck::cast_slice(&y).to_vec()
        }
        GgmlType::Q8_0 => {
            let mut y = vec![BlockQ8_0::zeroed(); n_blocks];
            quantize_row_q8_0(src, &mut y);
            bytemuck::cast_slice(&y).to_vec()
        }
        GgmlType::Q8_1 => {
            let mut y = vec![BlockQ8_1::zeroed(); n_blocks];
            quantize_row_q8_1(src, &mut y);
            bytemuck::cast_slice(&y).to_vec()
        }
        GgmlType::Q8_K => {
            let mut y = vec![BlockQ8K::zeroed(); n_blocks];
            quantize_row_q8_k(src, &mut y);
            bytemuck::cast_slice(&y).to_vec()
        }
        _ => return Err(BlockError::Unsupported(t)),
    })
}

/// Pairs each block of `y` with its `QK` inputs.
///
/// # Panics
/// If `x.len() != y.len() * QK`: a caller bug, like a mismatched `copy_from_slice`.
fn blocks_of<'x, 'y, B>(
    x: &'x [f32],
    y: &'y mut [B],
) -> impl Iterator<Item = (&'x [f32], &'y mut B)> {
    assert_eq!(x.len(), y.len() * QK, "input is not exactly one block row");
    x.chunks_exact(QK).zip(y.iter_mut())
}

/// `MAX(a, b)` as the C macro computes it (a NaN `b` wins), so odd inputs match llama.cpp too.
fn c_max(a: f32, b: f32) -> f32 {
    if a > b { a } else { b }
}

/// The reciprocal llama.cpp multiplies by: `d ? 1/d : 0`.
fn inverse(d: f32) -> f32 {
    if d != 0.0 { 1.0 / d } else { 0.0 }
}

/// `quantize_row_q4_0_ref`: the element of largest magnitude (sign kept) maps to -8,
/// `d = max / -8`, `q = min(15, (int8)(x / d + 8.5))`.
///
/// # Panics
/// If `x.len() != y.len() * QK`.
pub fn quantize_row_q4_0(x: &[f32], y: &mut [BlockQ4_0]) {
    for (x, b) in blocks_of(x, y) {
        let (mut amax, mut max) = (0.0f32, 0.0f32);
        for &v in x {
            if amax < v.abs() {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -8.0;
        let id = inverse(d);
        b.d = f32_to_f16_bits(d);
        for j in 0..QK / 2 {
            let q0 = ((x[j] * id + 8.5) as i8).min(15) as u8;
            let q1 = ((x[j + QK / 2] * id + 8.5) as i8).min(15) as u8;
            b.qs[j] = q0 | (q1 << 4);
        }
    }
}

/// `quantize_row_q4_1_ref`: `d = (max - min) / 15`, `m = min`,
/// `q = min(15, (int8)((x - min) / d + 0.5))`.
///
/// # Panics
/// If `x.len() != y.len() * QK`.
pub fn quantize_row_q4_1(x: &[f32], y: &mut [BlockQ4_1]) {
    for (x, b) in blocks_of(x, y) {
        let (mut min, mut max) = (f32::MAX, -f32::MAX);
        for &v in x {
            if v < min {
                min = v;
            }
            if v > max {
                max = v;
            }
        }
        let d = (max - min) / 15.0;
        let id = inverse(d);
        b.d = f32_to_f16_bits(d);
        b.m = f32_to_f16_bits(min);
        for j in 0..QK / 2 {
            let q0 = (((x[j] - min) * id + 0.5) as i8).min(15) as u8;
            let q1 = (((x[j + QK / 2] - min) * id + 0.5) as i8).min(15) as u8;
            b.qs[j] = q0 | (q1 << 4);
        }
    }
}

/// `quantize_row_q8_0_ref`: `d = amax / 127`, `q = roundf(x / d)` (halves away from zero).
///
/// # Panics
/// If `x.len() != y.len() * QK`.
pub fn quantize_row_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    for (x, b) in blocks_of(x, y) {
        let amax = x.iter().fold(0.0f32, |a, v| c_max(a, v.abs()));
        let d = amax / 127.0;
        let id = inverse(d);
        b.d = f32_to_f16_bits(d);
        for (q, &v) in b.qs.iter_mut().zip(x) {
            *q = (v * id).round() as i8;
        }
    }
}

/// `quantize_row_q8_1_ref`: as Q8_0, plus `s = d * sum(q)` computed in f32 and stored as f16.
///
/// # Panics
/// If `x.len() != y.len() * QK`.
pub fn quantize_row_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    for (x, b) in blocks_of(x, y) {
        let amax = x.iter().fold(0.0f32, |a, v| c_max(a, v.abs()));
        let d = amax / 127.0;
        let id = inverse(d);
        b.d = f32_to_f16_bits(d);
        let mut sum = 0i32;
        for (q, &v) in b.qs.iter_mut().zip(x) {
            *q = (v * id).round() as i8;
            sum += *q as i32;
        }
        b.s = f32_to_f16_bits(sum as f32 * d);
    }
}

/// `ggml_vec_dot_q4_0_q8_0`, generic path: integer sums per block, then
/// `sumf += sumi * dx * dy` in f32.
///
/// # Panics
/// If the rows have different block counts.
pub fn vec_dot_q4_0_q8_0(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    assert_eq!(x.len(), y.len(), "rows of different lengths");
    let mut sumf = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        let (mut sumi0, mut sumi1) = (0i32, 0i32);
        for j in 0..QK / 2 {
            let v0 = (x.qs[j] & 0x0f) as i32 - 8;
            let v1 = (x.qs[j] >> 4) as i32 - 8;
            sumi0 += v0 * y.qs[j] as i32;
            sumi1 += v1 * y.qs[j + QK / 2] as i32;
        }
        let sumi = sumi0 + sumi1;
        sumf += sumi as f32 * f16_bits_to_f32(x.d) * f16_bits_to_f32(y.d);
    }
    sumf
}

/// `ggml_vec_dot_q4_1_q8_1`, generic path:
/// `sumf += (dx * dy) * sumi + m * s` per block, in f32.
///
/// # Panics
/// If the rows have different block counts.
pub fn vec_dot_q4_1_q8_1(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    assert_eq!(x.len(), y.len(), "rows of different lengths");
    let mut sumf = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        let (mut sumi0, mut sumi1) = (0i32, 0i32);
        for j in 0..QK / 2 {
            let v0 = (x.qs[j] & 0x0f) as i32;
            let v1 = (x.qs[j] >> 4) as i32;
            sumi0 += v0 * y.qs[j] as i32;
            sumi1 += v1 * y.qs[j + QK / 2] as i32;
        }
        let sumi = sumi0 + sumi1;
        sumf += (f16_bits_to_f32(x.d) * f16_bits_to_f32(y.d)) * sumi as f32
            + f16_bits_to_f32(x.m) * f16_bits_to_f32(y.s);
    }
    sumf
}

/// `ggml_vec_dot_q8_0_q8_0`, generic path: `sumf += sumi * (dx * dy)` per block, in f32.
///
/// # Panics
/// If the rows have different block counts.
pub fn vec_dot_q8_0_q8_0(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    assert_eq!(x.len(), y.len(), "rows of different lengths");
    let mut sumf = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        let sumi: i32 =
            x.qs.iter()
                .zip(&y.qs)
                .map(|(&a, &b)| a as i32 * b as i32)
                .sum();
        sumf += sumi as f32 * (f16_bits_to_f32(x.d) * f16_bits_to_f32(y.d));
    }
    sumf
}

/// `ggml_vec_dot_f16`, scalar path: products in f32, accumulated in f64.
///
/// # Panics
/// If the rows have different lengths.
pub fn vec_dot_f16_f16(x: &[[u8; 2]], y: &[[u8; 2]]) -> f32 {
    assert_eq!(x.len(), y.len(), "rows of different lengths");
    x.iter()
        .zip(y)
        .map(|(&a, &b)| (f16_bits_to_f32(a) * f16_bits_to_f32(b)) as f64)
        .sum::<f64>() as f32
}

/// `ggml_vec_dot_bf16`, scalar path: products in f32, accumulated in f64.
///
/// # Panics
/// If the rows have different lengths.
pub fn vec_dot_bf16_bf16(x: &[[u8; 2]], y: &[[u8; 2]]) -> f32 {
    assert_eq!(x.len(), y.len(), "rows of different lengths");
    x.iter()
        .zip(y)
        .map(|(&a, &b)| (bf16_bits_to_f32(a) * bf16_bits_to_f32(b)) as f64)
        .sum::<f64>() as f32
}

/// `ggml_vec_dot_f32`, scalar path: products in f32, accumulated in f64.
///
/// # Panics
/// If the rows have different lengths.
pub fn vec_dot_f32(x: &[f32], y: &[f32]) -> f32 {
    assert_eq!(x.len(), y.len(), "rows of different lengths");
    x.iter().zip(y).map(|(&a, &b)| (a * b) as f64).sum::<f64>() as f32
}
