//! Which instruction set the kernels run with here: detected once at run time natively, fixed at
//! compile time under wasm.

/// The instruction set the kernels run with on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// The reference code of tokscope-gguf.
    Scalar,
    /// x86_64 AVX2 with FMA and F16C.
    Avx2,
    /// wasm32 simd128 (chosen when compiled with `-C target-feature=+simd128`).
    Simd128,
}

impl Isa {
    /// Short lowercase name, for logs and benchmark labels.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Simd128 => "simd128",
        }
    }
}

/// What the kernels run with, for logs and `describe`: the instruction set, and on x86_64
/// whether the exact tiles use AVX-512F.
pub fn isa_label() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if isa() == Isa::Avx2 && has_avx512() {
        return "avx2+avx512f";
    }
    isa().name()
}

/// The best instruction set available, detected once (natively) and cached.
pub fn isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        static ISA: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *ISA.get_or_init(|| {
            if is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c")
            {
                Isa::Avx2
            } else {
                Isa::Scalar
            }
        })
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        Isa::Simd128
    }
    #[cfg(not(any(
        target_arch = "x86_64",
        all(target_arch = "wasm32", target_feature = "simd128")
    )))]
    {
        Isa::Scalar
    }
}

/// Whether the AVX-512 exact tiles can run here (detected once).
#[cfg(target_arch = "x86_64")]
pub(super) fn has_avx512() -> bool {
    static AVX512: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVX512.get_or_init(|| is_x86_feature_detected!("avx512f"))
}
