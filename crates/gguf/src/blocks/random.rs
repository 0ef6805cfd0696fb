//! Random valid blocks of any decodable format, for tests and synthesized models of formats that
//! have no quantizer here: random bits everywhere but the float scales, which are set so that
//! every block's values have a chosen root mean square.

use super::{BlockError, Scale, f32_to_f16_bits, quantize_row};
use crate::types::GgmlType;

/// `n_blocks` blocks of `ty` whose values have a root mean square near `rms` (exactly, up to the
/// f16 rounding of the scales, unless a block's quants all decode to zero), drawing bits from
/// `next`. Float formats (one element per "block") get values uniform in ±`rms·√3`.
///
/// Each scale gets a random sign, so the minimums of the formats that have them do not all pull
/// one way.
pub fn random_blocks(
    ty: GgmlType,
    n_blocks: usize,
    rms: f32,
    mut next: impl FnMut() -> u64,
) -> Result<Vec<u8>, BlockError> {
    let (decoder, (block, bytes)) = ty
        .decoder()
        .zip(ty.block_layout())
        .ok_or(BlockError::Unsupported(ty))?;
    if block == 1 {
        let a = rms * 3f32.sqrt();
        let x: Vec<f32> = (0..n_blocks)
            .map(|_| a * ((next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0))
            .collect();
        return quantize_row(ty, &x);
    }
    let mut out = vec![0u8; n_blocks * bytes];
    let mut values = vec![0.0f32; block];
    for b in out.chunks_exact_mut(bytes) {
        for chunk in b.chunks_mut(8) {
            let r = next().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        let signs: Vec<f32> = decoder
            .scales
            .iter()
            .map(|_| if next() & 1 == 0 { 1.0 } else { -1.0 })
            .collect();
        set_scales(b, decoder.scales, &signs);
        (decoder.decode)(b, &mut values);
        let mean_sq = values.iter().map(|v| v * v).sum::<f32>() / block as f32;
        if mean_sq > 0.0 {
            let k = rms / mean_sq.sqrt();
            let scaled: Vec<f32> = signs.iter().map(|s| s * k).collect();
            set_scales(b, decoder.scales, &scaled);
        }
    }
    Ok(out)
}

fn set_scales(b: &mut [u8], scales: &[Scale], values: &[f32]) {
    for (s, &v) in scales.iter().zip(values) {
        match *s {
            Scale::F16(o) => b[o..o + 2].copy_from_slice(&f32_to_f16_bits(v)),
            Scale::F32(o) => b[o..o + 4].copy_from_slice(&v.to_le_bytes()),
        }
    }
}
