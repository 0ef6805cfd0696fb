//! The loops every instruction set shares: a tile of R weight rows × T activation rows walked
//! block by block ([`exact`], [`quant`]), and the drivers that cut a matrix product into tiles.
//! What varies by ISA and format is asked of two small traits: the ISA's vector arithmetic
//! ([`Simd`], [`ExactSimd`], [`QuantSimd`]) and the format's block decode ([`ExactDecode`],
//! [`QuantDecode`]), both implemented in the ISA files with their intrinsics.
//!
//! Everything here is `#[inline(always)]` and has no target features of its own: an ISA file
//! instantiates it inside a function that enables its features (its [`Tiles`] impls and its
//! matmul entry points), so that the decode and the arithmetic inline into one loop compiled for
//! that ISA. A generic function here called on its own would not inline the intrinsics.
//!
//! The exact loop serves x86 (AVX2, AVX-512) and simd128's formats of K-quant files; simd128's
//! Q4_0, Q4_1 and Q8_0 keep their own loop, which sums each block's `Σ q·a` before scaling it
//! (see `simd128.rs`).

use tokscope_gguf::GgmlType;

use super::acts::QuantActs;
use super::format::{Format, GROUP};
use super::format::{PREFETCH_BYTES, QuantFormat};

/// The f32 vectors of one instruction set.
pub(super) trait Simd {
    /// A vector of f32 lanes.
    type F: Copy;
    /// # Safety
    /// The ISA must be available (so for every method here and in the traits below).
    unsafe fn zero() -> Self::F;
    /// The sum of the lanes.
    ///
    /// # Safety
    /// As [`Simd::zero`].
    unsafe fn hsum(v: Self::F) -> f32;
    /// A hint to load `p`'s cache line; `p` may point anywhere (a prefetch never faults).
    ///
    /// # Safety
    /// As [`Simd::zero`].
    unsafe fn prefetch(p: *const u8);
}

/// What the exact path (f32 activations) needs besides [`Simd`].
pub(super) trait ExactSimd: Simd {
    /// [`GROUP`] f32 values as vectors, in element order.
    type Group: Copy + AsRef<[Self::F]>;
    /// # Safety
    /// As [`Simd::zero`].
    unsafe fn load_group(a: &[f32; GROUP]) -> Self::Group;
    /// # Safety
    /// As [`Simd::zero`].
    unsafe fn add(a: Self::F, b: Self::F) -> Self::F;
    /// `a · b + c` in one rounding.
    ///
    /// # Safety
    /// As [`Simd::zero`].
    unsafe fn fmadd(a: Self::F, b: Self::F, c: Self::F) -> Self::F;
}

/// One format's weights dequantized in registers, a [`GROUP`] at a time.
pub(super) trait ExactDecode<S: ExactSimd>: Format {
    /// What is read once per block and shared by its groups: the scales as vectors (a
    /// super-block's sub-block scales and mins unpacked), `()` for float formats.
    type Scales: Copy;
    /// # Safety
    /// As [`Simd::zero`].
    unsafe fn scales(w: &Self::W) -> Self::Scales;
    /// Group `g` (`< Self::GROUPS`) of the block as f32, in element order.
    ///
    /// # Safety
    /// As [`Simd::zero`].
    unsafe fn group(w: &Self::W, s: Self::Scales, g: usize) -> S::Group;
}

/// What the q8 path (quantized activations) needs besides [`Simd`]: a block's scales as a pair
/// (lane 0: the product's scale, lane 1: the format's offset term).
pub(super) trait QuantSimd: Simd {
    type Scales: Copy;
    /// # Safety
    /// As [`Simd::zero`].
    unsafe fn scales_zero() -> Self::Scales;
    /// Lane by lane.
    ///
    /// # Safety
    /// As [`Simd::zero`].
    unsafe fn scales_mul(a: Self::Scales, b: Self::Scales) -> Self::Scales;
    /// Lane by lane.
    ///
    /// # Safety
    /// As [`Simd::zero`].
    unsafe fn scales_add(a: Self::Scales, b: Self::Scales) -> Self::Scales;
    /// Lane 1.
    ///
    /// # Safety
    /// As [`Simd::zero`].
    unsafe fn offset(s: Self::Scales) -> f32;
    /// `acc + lane0(s) · p`, in this ISA's rounding (one FMA, or a product and a sum).
    ///
    /// # Safety
    /// As [`Simd::zero`].
    unsafe fn scale_add(acc: Self::F, s: Self::Scales, p: Self::F) -> Self::F;
}

/// One format's integer dot product with its activation blocks.
pub(super) trait QuantDecode<S: QuantSimd>: QuantFormat {
    /// The weight block unpacked once, reused for every activation row of a tile (a super-block:
    /// its quants and integer sub-block scales).
    type Decoded: Copy;
    /// # Safety
    /// As [`Simd::zero`].
    unsafe fn decode(w: &Self::W) -> Self::Decoded;
    /// Lanes whose sum is the block's integer dot product `Σ w_q · a_q` (sub-block scales
    /// applied), as f32.
    ///
    /// # Safety
    /// As [`Simd::zero`].
    unsafe fn products(w: Self::Decoded, a: &Self::A) -> S::F;
    /// Lane 0: `d_w`; lane 1: the weight's offset factor (Q4_1's `m`), if any.
    ///
    /// # Safety
    /// As [`Simd::zero`].
    unsafe fn w_scales(w: &Self::W) -> S::Scales;
    /// Lane 0: `d_a`; lane 1: the activation's offset factor (Q8_1's `s`), if any.
    ///
    /// # Safety
    /// As [`Simd::zero`].
    unsafe fn a_scales(a: &Self::A) -> S::Scales;
    /// What the block adds to the offset accumulator (lane 1 counts), given `sc`, the product of
    /// the two scale pairs: `sc` itself for Q4_1 (`m · s`); a super-block with mins would scale
    /// it by its mins dotted with the activation's partial sums.
    ///
    /// # Safety
    /// As [`Simd::zero`].
    #[inline(always)]
    unsafe fn offset(sc: S::Scales, w: Self::Decoded, a: &Self::A) -> S::Scales {
        let _ = (w, a);
        sc
    }
}

/// Prefetches [`PREFETCH_BYTES`] ahead of block `b` of every weight row.
#[inline(always)]
unsafe fn prefetch_rows<S: Simd, W, const R: usize>(w: &[&[W]; R], b: usize) {
    for w in w {
        // The hardware prefetcher alone leaves the weight stream at a quarter of L3 bandwidth
        // (the Q8_0 LM head on AVX2: 7 → 28 GB/s with this).
        let ahead = (&w[b] as *const W)
            .cast::<u8>()
            .wrapping_add(PREFETCH_BYTES);
        // SAFETY: the caller's ISA is available.
        unsafe { S::prefetch(ahead) };
    }
}

/// The exact dots of R weight rows (whole blocks) with T f32 activation rows (at least as
/// long): `out[r][t]`. Two accumulators per pair, alternating over a group's vectors, so that
/// even a 1 × 1 tile keeps two FMA chains.
///
/// # Safety
/// `S`'s ISA must be available.
#[inline(always)]
pub(super) unsafe fn exact<S: ExactSimd, K: ExactDecode<S>, const R: usize, const T: usize>(
    w: [&[K::W]; R],
    a: [&[[f32; GROUP]]; T],
) -> [[f32; T]; R] {
    let nb = w[0].len();
    assert!(w.iter().all(|w| w.len() == nb) && a.iter().all(|a| a.len() >= nb * K::GROUPS));
    // SAFETY: the caller checked the ISA; the loads read whole groups.
    unsafe {
        let mut acc = [[[S::zero(); 2]; T]; R];
        for b in 0..nb {
            prefetch_rows::<S, K::W, R>(&w, b);
            for r in 0..R {
                // SAFETY: b < nb, the length of every row (asserted above); unchecked because
                // LLVM keeps this check inside the loop here.
                let wb = w[r].get_unchecked(b);
                let s = K::scales(wb);
                for g in 0..K::GROUPS {
                    let x = K::group(wb, s, g);
                    for t in 0..T {
                        let y = S::load_group(&a[t][b * K::GROUPS + g]);
                        for (k, (x, y)) in x.as_ref().iter().zip(y.as_ref()).enumerate() {
                            let acc = &mut acc[r][t][k % 2];
                            *acc = S::fmadd(*x, *y, *acc);
                        }
                    }
                }
            }
        }
        std::array::from_fn(|r| {
            std::array::from_fn(|t| S::hsum(S::add(acc[r][t][0], acc[r][t][1])))
        })
    }
}

/// The q8 dots of R weight rows with T activation rows, all of the same number of blocks:
/// `out[r][t] = Σ_blocks d_w·d_a·Σ w_q·a_q (+ Σ_blocks offset)`.
///
/// # Safety
/// `S`'s ISA must be available.
#[inline(always)]
pub(super) unsafe fn quant<S: QuantSimd, K: QuantDecode<S>, const R: usize, const T: usize>(
    w: [&[K::W]; R],
    a: [&[K::A]; T],
) -> [[f32; T]; R] {
    let nb = a[0].len();
    assert!(w.iter().all(|w| w.len() == nb) && a.iter().all(|a| a.len() == nb));
    // SAFETY: the caller checked the ISA.
    unsafe {
        let mut acc = [[S::zero(); T]; R];
        let mut offset = [[S::scales_zero(); T]; R];
        for b in 0..nb {
            prefetch_rows::<S, K::W, R>(&w, b);
            let a_sc: [S::Scales; T] = std::array::from_fn(|t| K::a_scales(&a[t][b]));
            for r in 0..R {
                let wb = &w[r][b];
                let dec = K::decode(wb);
                let w_sc = K::w_scales(wb);
                for t in 0..T {
                    let p = K::products(dec, &a[t][b]);
                    let sc = S::scales_mul(w_sc, a_sc[t]);
                    acc[r][t] = S::scale_add(acc[r][t], sc, p);
                    if K::OFFSET {
                        offset[r][t] = S::scales_add(offset[r][t], K::offset(sc, dec, &a[t][b]));
                    }
                }
            }
        }
        std::array::from_fn(|r| {
            std::array::from_fn(|t| {
                let mut s = S::hsum(acc[r][t]);
                if K::OFFSET {
                    s += S::offset(offset[r][t]);
                }
                s
            })
        })
    }
}

/// Tiles of one format on one instruction set: [`exact`] or [`quant`] instantiated inside a
/// function with the ISA's target features. The drivers below take any.
pub(super) trait Tiles {
    /// One weight block.
    type W: bytemuck::Pod;
    /// What a weight row is dotted with, unit by unit: activation blocks (q8 path) or groups of
    /// f32 (exact path).
    type A: bytemuck::Pod;
    /// `A` units per weight block.
    const PER_BLOCK: usize;
    /// The dots of R weight rows with T activation rows: `out[r][t]`.
    ///
    /// # Safety
    /// The implementation's ISA must be available.
    unsafe fn tile<const R: usize, const T: usize>(
        w: [&[Self::W]; R],
        a: [&[Self::A]; T],
    ) -> [[f32; T]; R];
}

/// `out[r * n + t]` for every weight row in `w` and activation row in `a` (`n` of them): 4-row
/// tiles when `n == 1` (each activation block loaded once for four rows), 4-token tiles
/// otherwise (each weight block decoded once for four tokens).
///
/// # Safety
/// `K`'s ISA must be available.
#[inline(always)]
unsafe fn tiles<K: Tiles>(w_rows: &[&[K::W]], a_rows: &[&[K::A]], out: &mut [f32]) {
    let n = a_rows.len();
    let nb = w_rows.first().map_or(0, |w| w.len());
    assert!(
        a_rows.iter().all(|a| a.len() == nb * K::PER_BLOCK),
        "rows of different lengths"
    );
    // SAFETY: the caller checked the ISA.
    unsafe {
        if n == 1 {
            let a = a_rows[0];
            let mut w_quads = w_rows.chunks_exact(4);
            let mut out_quads = out.chunks_exact_mut(4);
            for (w, o) in (&mut w_quads).zip(&mut out_quads) {
                let d = K::tile::<4, 1>([w[0], w[1], w[2], w[3]], [a]);
                for (o, d) in o.iter_mut().zip(d) {
                    *o = d[0];
                }
            }
            for (w, o) in w_quads.remainder().iter().zip(out_quads.into_remainder()) {
                *o = K::tile::<1, 1>([w], [a])[0][0];
            }
            return;
        }
        for (w, out_r) in w_rows.iter().zip(out.chunks_exact_mut(n)) {
            let mut t = 0;
            while t < n {
                let a = &a_rows[t..];
                let o = &mut out_r[t..];
                t += match n - t {
                    1 => {
                        o[0] = K::tile::<1, 1>([w], [a[0]])[0][0];
                        1
                    }
                    2 => {
                        let d = K::tile::<1, 2>([w], [a[0], a[1]])[0];
                        o[..2].copy_from_slice(&d);
                        2
                    }
                    3 => {
                        let d = K::tile::<1, 3>([w], [a[0], a[1], a[2]])[0];
                        o[..3].copy_from_slice(&d);
                        3
                    }
                    _ => {
                        let d = K::tile::<1, 4>([w], [a[0], a[1], a[2], a[3]])[0];
                        o[..4].copy_from_slice(&d);
                        4
                    }
                };
            }
        }
    }
}

/// One weight row dotted with one quantized activation row (both of the same number of blocks).
///
/// # Safety
/// `K`'s ISA must be available.
#[inline(always)]
pub(super) unsafe fn dot_quant<K: Tiles>(w: &[u8], a: &[u8]) -> f32 {
    // SAFETY: the caller checked the ISA.
    unsafe { K::tile::<1, 1>([bytemuck::cast_slice(w)], [bytemuck::cast_slice(a)])[0][0] }
}

/// `super::matmul` for one block format with quantized activations.
///
/// # Safety
/// `K`'s ISA must be available.
#[inline(always)]
pub(super) unsafe fn matmul_quant<K: Tiles>(rows: &[u8], acts: &QuantActs, out: &mut [f32]) {
    let n = acts.n;
    let row_bytes = rows.len() / (out.len() / n);
    let w_rows: Vec<&[K::W]> = rows
        .chunks_exact(row_bytes)
        .map(bytemuck::cast_slice)
        .collect();
    let a_rows: Vec<&[K::A]> = (0..n).map(|t| bytemuck::cast_slice(acts.row(t))).collect();
    // SAFETY: the caller checked the ISA.
    unsafe { tiles::<K>(&w_rows, &a_rows, out) }
}

/// A weight row split into its whole blocks and the rest (float formats only have a rest).
fn split_row<K: Tiles>(w: &[u8]) -> (&[K::W], &[u8]) {
    let whole = w.len() - w.len() % std::mem::size_of::<K::W>();
    (bytemuck::cast_slice(&w[..whole]), &w[whole..])
}

/// One weight row of type `ty` dotted exactly with one f32 activation row: whole blocks by the
/// tiles, a float row's partial last group by the scalar code.
///
/// # Safety
/// `K`'s ISA must be available.
#[inline(always)]
pub(super) unsafe fn dot_exact<K: Tiles<A = [f32; GROUP]>>(
    ty: GgmlType,
    w: &[u8],
    a: &[f32],
) -> f32 {
    let (wb, w_tail) = split_row::<K>(w);
    let (ab, a_tail) = a.as_chunks::<GROUP>();
    assert_eq!(
        wb.len() * K::PER_BLOCK,
        ab.len(),
        "rows of different lengths"
    );
    // SAFETY: the caller checked the ISA.
    let s = unsafe { K::tile::<1, 1>([wb], [ab])[0][0] };
    if w_tail.is_empty() {
        s
    } else {
        s + super::scalar::dot_exact_scalar(ty, w_tail, a_tail)
    }
}

/// `super::matmul_exact` for one format; rows with a partial last group (float formats whose
/// rows are not a multiple of 32 long, which no llama weight is) one dot at a time.
///
/// # Safety
/// `K`'s ISA must be available.
#[inline(always)]
pub(super) unsafe fn matmul_exact<K: Tiles<A = [f32; GROUP]>>(
    ty: GgmlType,
    rows: &[u8],
    acts: &QuantActs,
    out: &mut [f32],
) {
    let n = acts.n;
    let row_bytes = rows.len() / (out.len() / n);
    // SAFETY (both blocks): the caller checked the ISA.
    if !row_bytes.is_multiple_of(std::mem::size_of::<K::W>()) {
        for (w, out_r) in rows.chunks_exact(row_bytes).zip(out.chunks_exact_mut(n)) {
            for (t, o) in out_r.iter_mut().enumerate() {
                *o = unsafe { dot_exact::<K>(ty, w, acts.row_f32(t)) };
            }
        }
        return;
    }
    let w_rows: Vec<&[K::W]> = rows
        .chunks_exact(row_bytes)
        .map(bytemuck::cast_slice)
        .collect();
    let a_rows: Vec<&[[f32; GROUP]]> = (0..n).map(|t| acts.row_f32(t).as_chunks().0).collect();
    unsafe { tiles::<K>(&w_rows, &a_rows, out) }
}

/// A matrix product one dot per (row, token), for the formats without tiles.
pub(super) fn matmul_rows(
    rows: &[u8],
    acts: &QuantActs,
    out: &mut [f32],
    dot: impl Fn(&[u8], usize) -> f32,
) {
    let n = acts.n;
    let row_bytes = rows.len() / (out.len() / n);
    for (w, out_r) in rows.chunks_exact(row_bytes).zip(out.chunks_exact_mut(n)) {
        for (t, o) in out_r.iter_mut().enumerate() {
            *o = dot(w, t);
        }
    }
}
