//! ggml tensor element types: one table row per type id ggml has assigned, with its block layout
//! (the block decoders, where tokscope has them, are `blocks::decoder`'s arms).

use std::fmt;

/// A ggml tensor type, by the id ggml gave it (ggml's `enum ggml_type`).
///
/// Every id ggml has assigned has a variant, including the ones ggml has since removed (their row
/// has no layout, and a file that uses them is refused as ggml refuses it). Whether tokscope can
/// decode or compute with a type is a question for [`GgmlType::decoder`] and the
/// model loader, not for parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
#[allow(non_camel_case_types)]
pub enum GgmlType {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    /// Removed from ggml.
    Q4_2 = 4,
    /// Removed from ggml.
    Q4_3 = 5,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    /// Removed from GGUF files (ggml repacks Q4_0 at load instead).
    Q4_0_4_4 = 31,
    /// Removed, as `Q4_0_4_4`.
    Q4_0_4_8 = 32,
    /// Removed, as `Q4_0_4_4`.
    Q4_0_8_8 = 33,
    TQ1_0 = 34,
    TQ2_0 = 35,
    /// Removed from GGUF files (ggml repacks IQ4_NL at load instead).
    IQ4_NL_4_4 = 36,
    /// Removed, as `IQ4_NL_4_4`.
    IQ4_NL_4_8 = 37,
    /// Removed, as `IQ4_NL_4_4`.
    IQ4_NL_8_8 = 38,
    MXFP4 = 39,
    NVFP4 = 40,
    Q1_0 = 41,
    Q2_0 = 42,
}

/// One row of the type table.
#[derive(Clone, Copy, Debug)]
pub struct TypeInfo {
    pub ty: GgmlType,
    /// The name llama.cpp prints (gguf-py's `GGMLQuantizationType` spelling).
    pub name: &'static str,
    /// (elements per block, bytes per block); None for a type ggml has removed.
    pub layout: Option<(usize, usize)>,
}

const fn row(ty: GgmlType, name: &'static str, block: usize, bytes: usize) -> TypeInfo {
    TypeInfo {
        ty,
        name,
        layout: Some((block, bytes)),
    }
}

const fn removed(ty: GgmlType, name: &'static str) -> TypeInfo {
    TypeInfo {
        ty,
        name,
        layout: None,
    }
}

use GgmlType as T;

/// Indexed by type id. Layouts are ggml's `type_traits` (`blck_size`, `type_size`) as of ggml's
/// `GGML_TYPE_COUNT = 43`.
static TABLE: [TypeInfo; 43] = [
    row(T::F32, "F32", 1, 4),
    row(T::F16, "F16", 1, 2),
    row(T::Q4_0, "Q4_0", 32, 18),
    row(T::Q4_1, "Q4_1", 32, 20),
    removed(T::Q4_2, "Q4_2"),
    removed(T::Q4_3, "Q4_3"),
    row(T::Q5_0, "Q5_0", 32, 22),
    row(T::Q5_1, "Q5_1", 32, 24),
    row(T::Q8_0, "Q8_0", 32, 34),
    row(T::Q8_1, "Q8_1", 32, 36),
    row(T::Q2_K, "Q2_K", 256, 84),
    row(T::Q3_K, "Q3_K", 256, 110),
    row(T::Q4_K, "Q4_K", 256, 144),
    row(T::Q5_K, "Q5_K", 256, 176),
    row(T::Q6_K, "Q6_K", 256, 210),
    row(T::Q8_K, "Q8_K", 256, 292),
    row(T::IQ2_XXS, "IQ2_XXS", 256, 66),
    row(T::IQ2_XS, "IQ2_XS", 256, 74),
    row(T::IQ3_XXS, "IQ3_XXS", 256, 98),
    row(T::IQ1_S, "IQ1_S", 256, 50),
    row(T::IQ4_NL, "IQ4_NL", 32, 18),
    row(T::IQ3_S, "IQ3_S", 256, 110),
    row(T::IQ2_S, "IQ2_S", 256, 82),
    row(T::IQ4_XS, "IQ4_XS", 256, 136),
    row(T::I8, "I8", 1, 1),
    row(T::I16, "I16", 1, 2),
    row(T::I32, "I32", 1, 4),
    row(T::I64, "I64", 1, 8),
    row(T::F64, "F64", 1, 8),
    row(T::IQ1_M, "IQ1_M", 256, 56),
    row(T::BF16, "BF16", 1, 2),
    removed(T::Q4_0_4_4, "Q4_0_4_4"),
    removed(T::Q4_0_4_8, "Q4_0_4_8"),
    removed(T::Q4_0_8_8, "Q4_0_8_8"),
    row(T::TQ1_0, "TQ1_0", 256, 54),
    row(T::TQ2_0, "TQ2_0", 256, 66),
    removed(T::IQ4_NL_4_4, "IQ4_NL_4_4"),
    removed(T::IQ4_NL_4_8, "IQ4_NL_4_8"),
    removed(T::IQ4_NL_8_8, "IQ4_NL_8_8"),
    row(T::MXFP4, "MXFP4", 32, 17),
    row(T::NVFP4, "NVFP4", 64, 36),
    row(T::Q1_0, "Q1_0", 128, 18),
    row(T::Q2_0, "Q2_0", 64, 18),
];

impl GgmlType {
    /// Every type, in id order.
    pub fn all() -> impl Iterator<Item = GgmlType> {
        TABLE.iter().map(|r| r.ty)
    }

    /// The type with this id, or None for an id ggml never assigned.
    pub fn from_id(id: u32) -> Option<Self> {
        TABLE.get(id as usize).map(|r| r.ty)
    }

    /// The raw ggml type id, as written in a GGUF file.
    pub fn id(self) -> u32 {
        self as u32
    }

    /// This type's row of the table.
    pub fn info(self) -> &'static TypeInfo {
        &TABLE[self as usize]
    }

    /// The name llama.cpp uses for the type (shown in model facts and errors).
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// (elements per block, bytes per block), or None for a type ggml has removed.
    pub fn block_layout(self) -> Option<(usize, usize)> {
        self.info().layout
    }

    /// True for a type ggml has removed: no file can hold it.
    pub fn is_removed(self) -> bool {
        self.block_layout().is_none()
    }

    /// Bytes needed for `n_elements` of this type, or None if the count is not a whole number of
    /// blocks, the type was removed, or the size overflows.
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
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sit_at_their_ids() {
        for (id, r) in TABLE.iter().enumerate() {
            assert_eq!(r.ty.id() as usize, id, "{}", r.name);
            assert_eq!(format!("{:?}", r.ty), r.name);
        }
        assert_eq!(GgmlType::from_id(TABLE.len() as u32), None);
    }
}
