//! llama.cpp's file types (`enum llama_ftype`, the `general.file_type` of a GGUF): a mixture's
//! name, its id and the tensor type most of its weights get.

use std::fmt;

use tokscope_gguf::GgmlType;

/// The file types tokscope can make (those that need no importance matrix, in tensor types it
/// can quantize to).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum FileType {
    ALL_F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2_K,
    Q3_K_S,
    Q3_K_M,
    Q3_K_L,
    Q4_K_S,
    Q4_K_M,
    Q5_K_S,
    Q5_K_M,
    Q6_K,
    IQ4_NL,
    IQ4_XS,
}

use FileType as F;

/// (file type, name, `llama_ftype` id, default tensor type).
const TABLE: [(FileType, &str, u32, GgmlType); 19] = [
    (F::ALL_F32, "F32", 0, GgmlType::F32),
    (F::F16, "F16", 1, GgmlType::F16),
    (F::Q4_0, "Q4_0", 2, GgmlType::Q4_0),
    (F::Q4_1, "Q4_1", 3, GgmlType::Q4_1),
    (F::Q8_0, "Q8_0", 7, GgmlType::Q8_0),
    (F::Q5_0, "Q5_0", 8, GgmlType::Q5_0),
    (F::Q5_1, "Q5_1", 9, GgmlType::Q5_1),
    (F::Q2_K, "Q2_K", 10, GgmlType::Q2_K),
    (F::Q3_K_S, "Q3_K_S", 11, GgmlType::Q3_K),
    (F::Q3_K_M, "Q3_K_M", 12, GgmlType::Q3_K),
    (F::Q3_K_L, "Q3_K_L", 13, GgmlType::Q3_K),
    (F::Q4_K_S, "Q4_K_S", 14, GgmlType::Q4_K),
    (F::Q4_K_M, "Q4_K_M", 15, GgmlType::Q4_K),
    (F::Q5_K_S, "Q5_K_S", 16, GgmlType::Q5_K),
    (F::Q5_K_M, "Q5_K_M", 17, GgmlType::Q5_K),
    (F::Q6_K, "Q6_K", 18, GgmlType::Q6_K),
    (F::IQ4_NL, "IQ4_NL", 25, GgmlType::IQ4_NL),
    (F::IQ4_XS, "IQ4_XS", 30, GgmlType::IQ4_XS),
    (F::BF16, "BF16", 32, GgmlType::BF16),
];

/// Names llama-quantize also accepts for a mixture.
const ALIASES: [(&str, FileType); 3] = [
    ("Q3_K", F::Q3_K_M),
    ("Q4_K", F::Q4_K_M),
    ("Q5_K", F::Q5_K_M),
];

impl FileType {
    fn row(self) -> &'static (FileType, &'static str, u32, GgmlType) {
        TABLE
            .iter()
            .find(|r| r.0 == self)
            .expect("every file type has a row")
    }

    /// Every file type, in `llama_ftype` order.
    pub fn all() -> impl Iterator<Item = FileType> {
        TABLE.iter().map(|r| r.0)
    }

    /// The name llama-quantize takes (`Q4_K_M`; `F32` for `ALL_F32`).
    pub fn name(self) -> &'static str {
        self.row().1
    }

    /// The `llama_ftype` id, written as `general.file_type`.
    pub fn id(self) -> u32 {
        self.row().2
    }

    /// The tensor type of most weights.
    pub fn default_type(self) -> GgmlType {
        self.row().3
    }

    /// Parses a name as llama-quantize does, case-insensitively, with its aliases
    /// (`Q4_K` = `Q4_K_M`, `Q3_K` = `Q3_K_M`, `Q5_K` = `Q5_K_M`).
    pub fn parse(name: &str) -> Option<FileType> {
        let upper = name.to_ascii_uppercase();
        TABLE
            .iter()
            .find(|r| r.1 == upper)
            .map(|r| r.0)
            .or_else(|| ALIASES.iter().find(|a| a.0 == upper).map(|a| a.1))
    }

    /// True where the default type is a quantized one (the per-tensor rules then apply).
    pub fn is_quantized(self) -> bool {
        !matches!(self, F::ALL_F32 | F::F16 | F::BF16)
    }

    /// Every name [`FileType::parse`] accepts, for help texts and errors.
    pub fn names() -> Vec<&'static str> {
        TABLE
            .iter()
            .map(|r| r.1)
            .chain(ALIASES.iter().map(|a| a.0))
            .collect()
    }
}

impl fmt::Display for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases_pick_the_medium_mixture() {
        for t in FileType::all() {
            assert_eq!(FileType::parse(t.name()), Some(t));
        }
        assert_eq!(FileType::parse("q4_k"), Some(F::Q4_K_M));
        assert_eq!(FileType::parse("Q3_K"), Some(F::Q3_K_M));
        assert_eq!(FileType::parse("Q2_K_S"), None);
        assert_eq!(F::Q4_K_M.id(), 15);
        assert_eq!(F::IQ4_XS.default_type(), GgmlType::IQ4_XS);
    }
}
