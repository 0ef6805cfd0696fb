//! The byte layouts of the formats beyond Q4_0, Q4_1 and Q8_0 that tokscope computes with, as
//! ggml declares them (`ggml-common.h`), and Q8_K, the activation format the K-quants and IQ4_XS
//! are dotted with. Like the others, alignment-1 `#[repr(C)]` structs with f16 fields as
//! little-endian bits, so any byte slice of whole blocks casts.

use bytemuck::{Pod, Zeroable};

use super::QK;

/// Elements per super-block of the K-quants, IQ4_XS and Q8_K.
pub const QK_K: usize = 256;

/// 5-bit symmetric block: `x = d·(q − 16)`, nibbles as [`super::BlockQ4_0`], the fifth bit of
/// element `j` in bit `j` of the little-endian u32 `qh`.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ5_0 {
    pub d: [u8; 2],
    pub qh: [u8; 4],
    pub qs: [u8; QK / 2],
}

/// 5-bit block with an offset: `x = d·q + m`, bits as [`BlockQ5_0`].
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ5_1 {
    pub d: [u8; 2],
    pub m: [u8; 2],
    pub qh: [u8; 4],
    pub qs: [u8; QK / 2],
}

/// Non-linear 4-bit block: `x = d·LEVELS[q]`, nibbles as [`super::BlockQ4_0`].
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockIq4Nl {
    pub d: [u8; 2],
    pub qs: [u8; QK / 2],
}

/// 2-bit super-block: sixteen sub-blocks of 16, `x = d·sc·q − dmin·m` with the 4-bit `sc` and
/// `m` of `scales[sub]`.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ2K {
    pub scales: [u8; QK_K / 16],
    pub qs: [u8; QK_K / 4],
    pub d: [u8; 2],
    pub dmin: [u8; 2],
}

/// 3-bit super-block: sixteen sub-blocks of 16, `x = d·(sc − 32)·(q − 4·(1 − hbit))`.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ3K {
    pub hmask: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 4],
    pub scales: [u8; 12],
    pub d: [u8; 2],
}

/// 4-bit super-block: eight sub-blocks of 32, `x = d·sc·q − dmin·m` with 6-bit `sc`, `m`.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ4K {
    pub d: [u8; 2],
    pub dmin: [u8; 2],
    pub scales: [u8; 12],
    pub qs: [u8; QK_K / 2],
}

/// 5-bit super-block: [`BlockQ4K`] with a fifth bit per element in `qh`.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ5K {
    pub d: [u8; 2],
    pub dmin: [u8; 2],
    pub scales: [u8; 12],
    pub qh: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 2],
}

/// 6-bit super-block: sixteen sub-blocks of 16, `x = d·sc·(q − 32)` with signed 8-bit `sc`.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ6K {
    pub ql: [u8; QK_K / 2],
    pub qh: [u8; QK_K / 4],
    pub scales: [i8; QK_K / 16],
    pub d: [u8; 2],
}

/// Non-linear 4-bit super-block: eight sub-blocks of 32, `x = d·(s − 32)·LEVELS[q]` with the
/// 6-bit `s` split over `scales_l` (low nibbles) and `scales_h` (bit pairs).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockIq4Xs {
    pub d: [u8; 2],
    /// Little-endian u16.
    pub scales_h: [u8; 2],
    pub scales_l: [u8; QK_K / 64],
    pub qs: [u8; QK_K / 2],
}

/// 8-bit activation super-block: `x = d·q` with an f32 `d`, plus the sums of each 16 quants
/// (what the formats with minimums multiply their `m` with).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ8K {
    /// f32, little-endian bits.
    pub d: [u8; 4],
    pub qs: [i8; QK_K],
    /// i16, little-endian bits.
    pub bsums: [[u8; 2]; QK_K / 16],
}

const _: () = assert!(std::mem::size_of::<BlockQ5_0>() == 22);
const _: () = assert!(std::mem::size_of::<BlockQ5_1>() == 24);
const _: () = assert!(std::mem::size_of::<BlockIq4Nl>() == 18);
const _: () = assert!(std::mem::size_of::<BlockQ2K>() == 84);
const _: () = assert!(std::mem::size_of::<BlockQ3K>() == 110);
const _: () = assert!(std::mem::size_of::<BlockQ4K>() == 144);
const _: () = assert!(std::mem::size_of::<BlockQ5K>() == 176);
const _: () = assert!(std::mem::size_of::<BlockQ6K>() == 210);
const _: () = assert!(std::mem::size_of::<BlockIq4Xs>() == 136);
const _: () = assert!(std::mem::size_of::<BlockQ8K>() == 292);
const _: () = assert!(std::mem::align_of::<BlockQ8K>() == 1);
