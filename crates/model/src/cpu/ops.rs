//! The small element-wise operations of the llama graph, written as llama.cpp computes them.

use crate::config::RopeStyle;

/// `out = x / sqrt(mean(x²) + eps) * weight`, the sum of squares accumulated in f64 like ggml.
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let sum: f64 = x.iter().map(|&v| (v as f64) * (v as f64)).sum();
    let mean = (sum / x.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for ((o, &v), &w) in out.iter_mut().zip(x).zip(weight) {
        *o = (v * scale) * w;
    }
}

/// Rotates the first `rope_dims` dimensions of every head of `x` (heads of `head_dim`) to position `pos`.
///
/// The angle of pair `i` is `pos · base^(-2i/rope_dims)`, advanced multiplicatively in f32 exactly as
/// llama.cpp's rope cache does, so positions far into the context agree with it bit for bit.
pub fn rope(
    x: &mut [f32],
    head_dim: usize,
    rope_dims: usize,
    base: f32,
    style: RopeStyle,
    pos: usize,
) {
    let theta_scale = base.powf(-2.0 / rope_dims as f32);
    let half = rope_dims / 2;
    let mut cos_sin = [(0.0f32, 0.0f32); 256];
    let mut theta = pos as f32;
    for cs in cos_sin.iter_mut().take(half) {
        *cs = (theta.cos(), theta.sin());
        theta *= theta_scale;
    }
    for head in x.chunks_exact_mut(head_dim) {
        for (i, &(c, s)) in cos_sin.iter().take(half).enumerate() {
            let (a, b) = match style {
                RopeStyle::Norm => (2 * i, 2 * i + 1),
                RopeStyle::Neox => (i, i + half),
            };
            let (x0, x1) = (head[a], head[b]);
            head[a] = x0 * c - x1 * s;
            head[b] = x0 * s + x1 * c;
        }
    }
}

/// In place: `x = max-shifted exp(x)` normalised to sum 1; the sum in f64 like ggml.
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v as f64;
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// `gate = silu(gate) * up`, the SwiGLU of the feed-forward block.
pub fn silu_mul(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + (-*g).exp()) * u;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_of_constant_is_weight() {
        let x = [3.0f32; 8];
        let w = [0.5f32, 1.0, 2.0, -1.0, 0.5, 1.0, 2.0, -1.0];
        let mut out = [0.0; 8];
        rms_norm(&x, &w, 0.0, &mut out);
        for (o, w) in out.iter().zip(w) {
            assert!((o - w).abs() < 1e-6);
        }
    }

    #[test]
    fn rope_at_position_zero_is_identity_and_preserves_norm() {
        let x0: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
        for style in [RopeStyle::Norm, RopeStyle::Neox] {
            let mut x = x0.clone();
            rope(&mut x, 32, 32, 10_000.0, style, 0);
            assert_eq!(x, x0);
            rope(&mut x, 32, 32, 10_000.0, style, 17);
            let n0: f32 = x0.iter().map(|v| v * v).sum();
            let n1: f32 = x.iter().map(|v| v * v).sum();
            assert!((n0 - n1).abs() < 1e-4);
            assert_ne!(x, x0);
        }
    }

    #[test]
    fn rope_norm_rotates_adjacent_pairs() {
        // First pair has angle = pos exactly (theta_scale^0).
        let mut x = vec![1.0f32, 0.0, 0.0, 0.0];
        rope(&mut x, 4, 4, 10_000.0, RopeStyle::Norm, 1);
        assert!((x[0] - 1f32.cos()).abs() < 1e-6 && (x[1] - 1f32.sin()).abs() < 1e-6);
        let mut y = vec![1.0f32, 0.0, 0.0, 0.0];
        rope(&mut y, 4, 4, 10_000.0, RopeStyle::Neox, 1);
        assert!((y[0] - 1f32.cos()).abs() < 1e-6 && (y[2] - 1f32.sin()).abs() < 1e-6);
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut x = vec![1.0f32, 2.0, 3.0, f32::NEG_INFINITY];
        softmax(&mut x);
        assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(x[3], 0.0);
        assert!(x[2] > x[1] && x[1] > x[0]);
    }
}
