//! The small element-wise operations of the graph, written as llama.cpp's CPU backend computes them.

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

/// One layer's RoPE: which dimensions of each head turn, and how fast each pair does.
#[derive(Clone, Copy, Debug)]
pub struct Rope<'a> {
    pub head_dim: usize,
    /// Dimensions of each head that turn (the rest pass through).
    pub dims: usize,
    pub base: f32,
    /// Linear scaling: every angle times this (1: none).
    pub freq_scale: f32,
    /// Llama 3's scaling: pair `i`'s angle divided by `factors[i]`.
    pub factors: Option<&'a [f32]>,
    pub style: RopeStyle,
}

impl Rope<'_> {
    /// Rotates every head of `x` to position `pos`.
    ///
    /// The angle of pair `i` is `freq_scale · pos · base^(-2i/dims) / factors[i]`, the power advanced
    /// multiplicatively in f32 exactly as llama.cpp's rope cache does, so positions far into the
    /// context agree with it bit for bit.
    pub fn apply(&self, x: &mut [f32], pos: usize) {
        let theta_scale = self.base.powf(-2.0 / self.dims as f32);
        let half = self.dims / 2;
        let mut cos_sin = [(0.0f32, 0.0f32); 256];
        let mut theta = pos as f32;
        for (i, cs) in cos_sin.iter_mut().take(half).enumerate() {
            let factor = self.factors.map_or(1.0, |f| f[i]);
            let angle = self.freq_scale * (theta / factor);
            *cs = (angle.cos(), angle.sin());
            theta *= theta_scale;
        }
        for head in x.chunks_exact_mut(self.head_dim) {
            for (i, &(c, s)) in cos_sin.iter().take(half).enumerate() {
                let (a, b) = match self.style {
                    RopeStyle::Norm => (2 * i, 2 * i + 1),
                    RopeStyle::Neox => (i, i + half),
                };
                let (x0, x1) = (head[a], head[b]);
                head[a] = x0 * c - x1 * s;
                head[b] = x0 * s + x1 * c;
            }
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

/// `gate = gelu(gate) * up`, Gemma's GeGLU, with [`gelu`].
pub fn gelu_mul(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = gelu(*g) * u;
    }
}

/// GELU (tanh approximation) as ggml's CPU backend computes it in f32: looked up in a table of
/// f16 values at the input rounded to f16 (its `GGML_GELU_FP16`), exact outside (-10, 10).
pub fn gelu(x: f32) -> f32 {
    if x <= -10.0 {
        0.0
    } else if x >= 10.0 {
        x
    } else {
        let x = half::f16::from_f32(x).to_f32();
        half::f16::from_f32(gelu_tanh(x)).to_f32()
    }
}

/// `0.5 x (1 + tanh(√(2/π) x (1 + 0.044715 x²)))`, grouped as ggml writes it.
pub fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + 0.044_715 * x * x)).tanh())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unscaled RoPE over whole heads of `head_dim`.
    fn rope32(style: RopeStyle, head_dim: usize) -> Rope<'static> {
        Rope {
            head_dim,
            dims: head_dim,
            base: 10_000.0,
            freq_scale: 1.0,
            factors: None,
            style,
        }
    }

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
            let rope = rope32(style, 32);
            rope.apply(&mut x, 0);
            assert_eq!(x, x0);
            rope.apply(&mut x, 17);
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
        rope32(RopeStyle::Norm, 4).apply(&mut x, 1);
        assert!((x[0] - 1f32.cos()).abs() < 1e-6 && (x[1] - 1f32.sin()).abs() < 1e-6);
        let mut y = vec![1.0f32, 0.0, 0.0, 0.0];
        rope32(RopeStyle::Neox, 4).apply(&mut y, 1);
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

    #[test]
    fn rope_scaling_slows_the_angles() {
        // Linear scale 1/4 and a factor of 4 both turn the first pair by pos/4.
        let factors = [4.0f32, 1.0];
        for (freq_scale, factors) in [(0.25, None), (1.0, Some(&factors[..]))] {
            let rope = Rope {
                freq_scale,
                factors,
                ..rope32(RopeStyle::Norm, 4)
            };
            let mut x = vec![1.0f32, 0.0, 1.0, 0.0];
            rope.apply(&mut x, 2);
            assert!((x[0] - 0.5f32.cos()).abs() < 1e-6 && (x[1] - 0.5f32.sin()).abs() < 1e-6);
        }
    }

    #[test]
    fn gelu_rounds_through_f16_like_ggml() {
        assert_eq!(gelu(-10.0), 0.0);
        assert_eq!(gelu(12.5), 12.5);
        assert_eq!(gelu(0.0), 0.0);
        // Every value inside (-10, 10) is an f16 value of the tanh approximation at an f16 input.
        for x in [-3.7f32, -0.3337, 0.001_234_5, 0.5, 1.0, 2.75, 9.99] {
            let y = gelu(x);
            assert_eq!(half::f16::from_f32(y).to_f32(), y);
            let exact = gelu_tanh(x);
            assert!(
                (y - exact).abs() <= 2e-3 * exact.abs().max(1e-3),
                "{x}: {y} vs {exact}"
            );
        }
        // 1.0 is an f16 value: GELU(1) = 0.8412 in the tanh approximation, then rounded to f16.
        assert_eq!(gelu(1.0), half::f16::from_f32(0.841_192).to_f32());
    }
}
