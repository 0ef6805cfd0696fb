//! The weight formats the SIMD kernels know, as marker types: each one's stored block, how many
//! elements a block holds and, for the q8 path, which activation block it is dotted with. No
//! instruction set here: each ISA file implements its block decode for these markers, and the
//! loops of `tile.rs` do the rest.
//!
//! A block is the unit a format stores its scales with: 32 elements for Q4_0, Q4_1 and Q8_0, 256
//! for a K-quant's super-block. The exact path reads f32 activations in [`GROUP`]s of 32 and asks
//! a block for its groups one at a time (a super-block: eight), so that a decode never has to hold
//! more than 32 dequantized weights in registers.

use tokscope_gguf::blocks::{
    BlockIq4Nl, BlockIq4Xs, BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ4_1, BlockQ4K, BlockQ5_0,
    BlockQ5_1, BlockQ5K, BlockQ6K, BlockQ8_0, BlockQ8_1, BlockQ8K, QK, QK_K,
};

/// Elements per group: the unit the exact path dequantizes in registers and multiplies with.
pub(super) const GROUP: usize = QK;

/// How far ahead of the weight block in use the tile loops prefetch: 1 to 8 KiB measured alike.
pub(super) const PREFETCH_BYTES: usize = 4096;

/// One weight format as stored: its block and the block's size.
pub(super) trait Format {
    /// One block as stored in the file (alignment 1, any byte slice of whole blocks casts).
    type W: bytemuck::Pod;
    /// Elements per block: a multiple of [`GROUP`].
    const BLOCK: usize;
    /// Groups of [`GROUP`] elements per block.
    const GROUPS: usize = {
        assert!(Self::BLOCK.is_multiple_of(GROUP));
        Self::BLOCK / GROUP
    };
}

/// A quantized format's pairing on the q8 path (llama.cpp's `vec_dot_type`).
pub(super) trait QuantFormat: Format {
    /// The activation block dotted with one weight block (same number of elements).
    type A: bytemuck::Pod;
    /// Whether every block adds a term besides `d_w · d_a · Σ w_q·a_q` (Q4_1's `m · s`).
    const OFFSET: bool;
}

/// `d · (q − 8)`, 4-bit.
pub(super) struct Q4_0;
impl Format for Q4_0 {
    type W = BlockQ4_0;
    const BLOCK: usize = QK;
}
impl QuantFormat for Q4_0 {
    type A = BlockQ8_0;
    const OFFSET: bool = false;
}

/// `d · q + m`, 4-bit.
pub(super) struct Q4_1;
impl Format for Q4_1 {
    type W = BlockQ4_1;
    const BLOCK: usize = QK;
}
impl QuantFormat for Q4_1 {
    type A = BlockQ8_1;
    const OFFSET: bool = true;
}

/// `d · q`, 8-bit.
pub(super) struct Q8_0;
impl Format for Q8_0 {
    type W = BlockQ8_0;
    const BLOCK: usize = QK;
}
impl QuantFormat for Q8_0 {
    type A = BlockQ8_0;
    const OFFSET: bool = false;
}

/// F16 weights, read 32 at a time.
#[cfg(target_arch = "x86_64")]
pub(super) struct F16;
#[cfg(target_arch = "x86_64")]
impl Format for F16 {
    type W = [[u8; 2]; GROUP];
    const BLOCK: usize = GROUP;
}

/// BF16 weights, read 32 at a time.
#[cfg(target_arch = "x86_64")]
pub(super) struct Bf16;
#[cfg(target_arch = "x86_64")]
impl Format for Bf16 {
    type W = [[u8; 2]; GROUP];
    const BLOCK: usize = GROUP;
}

/// F32 weights, read 32 at a time.
#[cfg(target_arch = "x86_64")]
pub(super) struct F32;
#[cfg(target_arch = "x86_64")]
impl Format for F32 {
    type W = [[u8; 4]; GROUP];
    const BLOCK: usize = GROUP;
}

/// Declares a marker per weight format of K-quant files: its block, block size and q8 pairing.
macro_rules! formats {
    ($($(#[$doc:meta])* $name:ident: $w:ty, $block:expr, $a:ty, $offset:expr;)*) => {$(
        $(#[$doc])*
        pub(super) struct $name;
        impl Format for $name {
            type W = $w;
            const BLOCK: usize = $block;
        }
        impl QuantFormat for $name {
            type A = $a;
            const OFFSET: bool = $offset;
        }
    )*};
}

formats! {
    /// `d · (q − 16)`, 5-bit.
    Q5_0: BlockQ5_0, QK, BlockQ8_0, false;
    /// `d · q + m`, 5-bit.
    Q5_1: BlockQ5_1, QK, BlockQ8_1, true;
    /// `d · LEVELS[q]`, 4-bit non-linear.
    Iq4Nl: BlockIq4Nl, QK, BlockQ8_0, false;
    /// `d·sc·q − dmin·m`, 2-bit, sub-blocks of 16.
    Q2K: BlockQ2K, QK_K, BlockQ8K, true;
    /// `d·sc·q`, 3-bit signed, sub-blocks of 16.
    Q3K: BlockQ3K, QK_K, BlockQ8K, false;
    /// `d·sc·q − dmin·m`, 4-bit, sub-blocks of 32.
    Q4K: BlockQ4K, QK_K, BlockQ8K, true;
    /// `d·sc·q − dmin·m`, 5-bit, sub-blocks of 32.
    Q5K: BlockQ5K, QK_K, BlockQ8K, true;
    /// `d·sc·q`, 6-bit signed, sub-blocks of 16.
    Q6K: BlockQ6K, QK_K, BlockQ8K, false;
    /// `d·sc·LEVELS[q]`, 4-bit non-linear, sub-blocks of 32.
    Iq4Xs: BlockIq4Xs, QK_K, BlockQ8K, false;
}
