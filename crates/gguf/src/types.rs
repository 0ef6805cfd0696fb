//! ggml tensor element types: the on-disk block layout each one uses.

use std::fmt;

/// A ggml tensor type as stored in a GGUF tensor directory.
///
/// Only the types tokscope can compute with get a variant; any other id is kept as
/// `Other` so that a model can be parsed and reported before it is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q8_0,
    Q8_1,
    BF16,
    /// A type id this crate knows by name but cannot compute with (K-quants, IQ types, ...).
    Other(u32),
}

impl GgmlType {
    /// Maps a raw ggml type id. Ids that ggml never assigned are rejected by the caller.
    pub fn from_id(id: u32) -> Self {
        match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            8 => Self::Q8_0,
            9 => Self::Q8_1,
            30 => Self::BF16,
            other => Self::Other(other),
        }
    }

    /// The raw ggml type id, as written in a GGUF file.
    pub fn id(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q4_0 => 2,
            Self::Q4_1 => 3,
            Self::Q8_0 => 8,
            Self::Q8_1 => 9,
            Self::BF16 => 30,
            Self::Other(id) => id,
        }
    }

    /// (elements per block, bytes per block), or None for a type whose layout is unknown here.
    pub fn block_layout(self) -> Option<(usize, usize)> {
        Some(match self {
            Self::F32 => (1, 4),
            Self::F16 | Self::BF16 => (1, 2),
            Self::Q4_0 => (32, 18),
            Self::Q4_1 => (32, 20),
            Self::Q8_0 => (32, 34),
            Self::Q8_1 => (32, 36),
            Self::Other(id) => return other_layout(id),
        })
    }

    /// True for the types whose dequantize and dot product this crate implements.
    pub fn is_supported(self) -> bool {
        !matches!(self, Self::Other(_))
    }

    /// The name llama.cpp uses for the type (shown in model facts and errors).
    pub fn name(self) -> String {
        match self {
            Self::F32 => "F32".into(),
            Self::F16 => "F16".into(),
            Self::Q4_0 => "Q4_0".into(),
            Self::Q4_1 => "Q4_1".into(),
            Self::Q8_0 => "Q8_0".into(),
            Self::Q8_1 => "Q8_1".into(),
            Self::BF16 => "BF16".into(),
            Self::Other(id) => other_name(id).map_or_else(|| format!("type {id}"), str::to_string),
        }
    }

    /// Bytes needed for `n_elements` of this type, or None if the count is not a whole number of
    /// blocks, the layout is unknown, or the size overflows.
    pub fn bytes_for(self, n_elements: u64) -> Option<u64> {
        let (block, size) = self.block_layout()?;
        if !n_elements.is_multiple_of(block as u64) {
            return None;
        }
        (n_elements / block as u64).checked_mul(size as u64)
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Layouts of the ggml types tokscope does not compute with yet, so their sizes can still be
/// checked against the file (K-quants are 256-element super-blocks).
fn other_layout(id: u32) -> Option<(usize, usize)> {
    Some(match id {
        6 => (32, 22),   // Q5_0
        7 => (32, 24),   // Q5_1
        10 => (256, 84), // Q2_K
        11 => (256, 110),
        12 => (256, 144),
        13 => (256, 176),
        14 => (256, 210),
        15 => (256, 292),
        24 => (1, 1), // I8
        25 => (1, 2), // I16
        26 => (1, 4), // I32
        27 => (1, 8), // I64
        28 => (1, 8), // F64
        _ => return None,
    })
}

fn other_name(id: u32) -> Option<&'static str> {
    Some(match id {
        6 => "Q5_0",
        7 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K",
        12 => "Q4_K",
        13 => "Q5_K",
        14 => "Q6_K",
        15 => "Q8_K",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        _ => return None,
    })
}
