//! The GGUF v2/v3 reader: header, metadata and tensor directory over a borrowed byte slice.
//!
//! Every count read from the file is checked against the bytes that remain before anything is
//! allocated from it, so a hostile header cannot make the reader allocate more than the file holds.

use std::collections::HashSet;

use crate::error::{GgufError, Result};
use crate::metadata::{Metadata, Value, ValueType};
use crate::types::GgmlType;

/// "GGUF" read as a little-endian u32.
pub const MAGIC: [u8; 4] = *b"GGUF";
/// The alignment of the tensor data section when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Deepest nesting of arrays inside arrays that the reader accepts.
const MAX_ARRAY_DEPTH: u32 = 8;
/// Most dimensions a ggml tensor can have.
pub const MAX_DIMS: u32 = 4;

/// One entry of the tensor directory.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the contiguous (row) dimension.
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Offset of the data from the start of the file (already checked to lie inside it).
    pub file_offset: u64,
    pub n_elements: u64,
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Elements per row (`dims[0]`) and number of rows (product of the other dims).
    pub fn rows_cols(&self) -> (usize, usize) {
        let cols = self.dims.first().copied().unwrap_or(1) as usize;
        let rows = self.dims.iter().skip(1).product::<u64>() as usize;
        (rows, cols)
    }
}

/// A parsed GGUF file borrowing its bytes: metadata is owned, tensor data is not copied.
#[derive(Debug)]
pub struct Gguf<'a> {
    pub version: u32,
    pub metadata: Metadata,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Offset of the tensor data section from the start of the file.
    pub data_offset: u64,
    bytes: &'a [u8],
}

/// Everything before the tensor data (version, metadata, tensor directory), read without the
/// data: a loader that reads the file piece by piece parses this from a prefix, then reads each
/// tensor's bytes where the directory says.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub version: u32,
    pub metadata: Metadata,
    /// Every tensor's place, checked to lie inside the whole file.
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Offset of the tensor data section from the start of the file.
    pub data_offset: u64,
    /// Length of the whole file the header was checked against.
    pub file_len: u64,
}

/// What a prefix of a file gave: the header, or how long a prefix the parser needs to go on.
#[derive(Clone, Debug, PartialEq)]
pub enum PrefixParse {
    Complete(Header),
    /// The prefix ends inside the header: read at least this many bytes from the start of the
    /// file (never more than the file holds) and parse again.
    NeedBytes(u64),
}

impl Header {
    /// Parses the header from `prefix`, the first bytes of a file of `file_len` bytes. Counts and
    /// tensor places are checked against `file_len` (a file too short for its directory is an
    /// error here, not later), and nothing is allocated beyond what `prefix` could hold.
    pub fn parse_prefix(prefix: &[u8], file_len: u64) -> Result<PrefixParse> {
        // A prefix longer than the file is a caller's mistake: read only the file's part.
        let prefix = &prefix[..prefix
            .len()
            .min(usize::try_from(file_len).unwrap_or(usize::MAX))];
        match parse_header(prefix, file_len) {
            Ok(header) => Ok(PrefixParse::Complete(header)),
            // `take` fails inside the file only where the prefix ends: more bytes will do.
            Err(GgufError::Truncated { offset, needed })
                if (offset as u64).saturating_add(needed as u64) <= file_len =>
            {
                Ok(PrefixParse::NeedBytes(offset as u64 + needed as u64))
            }
            Err(e) => Err(e),
        }
    }
}

impl<'a> Gguf<'a> {
    /// Parses the header, metadata and tensor directory; tensor data stays in `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let Header {
            version,
            metadata,
            tensors,
            alignment,
            data_offset,
            ..
        } = parse_header(bytes, bytes.len() as u64)?;
        Ok(Self {
            version,
            metadata,
            tensors,
            alignment,
            data_offset,
            bytes,
        })
    }

    /// The tensor with this name, if the directory has it.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The raw bytes of a tensor (bounds were checked at parse time).
    pub fn tensor_data(&self, info: &TensorInfo) -> &'a [u8] {
        &self.bytes[info.file_offset as usize..(info.file_offset + info.n_bytes) as usize]
    }

    /// The whole file this directory was read from.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// The header of a file of `file_len` bytes from its first bytes; `Truncated` where `bytes` ends
/// too soon (inside the file when `bytes` is only a prefix).
fn parse_header(bytes: &[u8], file_len: u64) -> Result<Header> {
    let mut r = Cursor {
        bytes,
        pos: 0,
        file_len,
    };
    let magic = r.take(4)?;
    if magic != MAGIC {
        return Err(GgufError::BadMagic {
            found: [magic[0], magic[1], magic[2], magic[3]],
        });
    }
    let version_at = r.pos;
    let version = r.u32()?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::UnsupportedVersion {
            version,
            offset: version_at,
        });
    }
    let tensor_count_at = r.pos;
    let tensor_count = r.u64()?;
    let kv_count_at = r.pos;
    let kv_count = r.u64()?;
    // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes.
    r.check_count(kv_count, 13, kv_count_at)?;
    let mut metadata = Metadata::default();
    for _ in 0..kv_count {
        let key_at = r.pos;
        let key = r.string()?;
        let ty_at = r.pos;
        let ty = r.value_type(ty_at)?;
        let value = r.value(ty, 0)?;
        if metadata.insert(key.clone(), value).is_some() {
            return Err(GgufError::DuplicateKey {
                key,
                offset: key_at,
            });
        }
    }
    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(v) => match v.as_u64() {
            Some(a) if a > 0 && a.is_power_of_two() && a <= 1 << 20 => a,
            _ => return Err(GgufError::BadAlignment(format!("{v:?}"))),
        },
    };
    // A tensor info takes at least 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset) bytes.
    r.check_count(tensor_count, 24, tensor_count_at)?;
    // (offset of the entry, name, dims, type, data offset relative to the data section)
    type RawTensor = (usize, String, Vec<u64>, GgmlType, u64);
    let mut raw: Vec<RawTensor> = Vec::with_capacity(r.affordable(tensor_count, 24));
    let mut names = HashSet::new();
    for _ in 0..tensor_count {
        let at = r.pos;
        let name = r.string()?;
        let n_dims_at = r.pos;
        let n_dims = r.u32()?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(GgufError::BadDims {
                name,
                reason: format!("{n_dims} dimensions (1 to {MAX_DIMS} allowed)"),
                offset: n_dims_at,
            });
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(r.u64()?);
        }
        let type_at = r.pos;
        let type_id = r.u32()?;
        let ggml_type = match GgmlType::from_id(type_id) {
            Some(t) if t.is_removed() => {
                return Err(GgufError::RemovedTensorType {
                    name,
                    ty: t,
                    offset: type_at,
                });
            }
            Some(t) => t,
            None => {
                return Err(GgufError::UnknownTensorType {
                    name,
                    type_id,
                    offset: type_at,
                });
            }
        };
        let rel_offset = r.u64()?;
        if !names.insert(name.clone()) {
            return Err(GgufError::DuplicateTensor { name, offset: at });
        }
        raw.push((at, name, dims, ggml_type, rel_offset));
    }
    let data_offset = align_up(r.pos as u64, alignment).ok_or(GgufError::Truncated {
        offset: r.pos,
        needed: alignment as usize,
    })?;
    let mut tensors = Vec::with_capacity(raw.len());
    for (at, name, dims, ggml_type, rel_offset) in raw {
        let n_elements = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n > 0 && n < 1 << 48)
            .ok_or_else(|| GgufError::BadDims {
                name: name.clone(),
                reason: format!("dimensions {dims:?} overflow or are empty"),
                offset: at,
            })?;
        let n_bytes = ggml_type
            .bytes_for(n_elements)
            .filter(|_| dims[0].is_multiple_of(ggml_type.block_layout().map_or(1, |l| l.0 as u64)))
            .ok_or_else(|| GgufError::BadDims {
                name: name.clone(),
                reason: format!(
                    "row of {} elements is not whole {ggml_type} blocks",
                    dims[0]
                ),
                offset: at,
            })?;
        if !rel_offset.is_multiple_of(alignment) {
            return Err(GgufError::MisalignedTensor {
                name,
                offset: rel_offset,
                alignment,
            });
        }
        let file_offset = data_offset.checked_add(rel_offset);
        let end = file_offset.and_then(|o| o.checked_add(n_bytes));
        match (file_offset, end) {
            (Some(file_offset), Some(end)) if end <= file_len => tensors.push(TensorInfo {
                name,
                dims,
                ggml_type,
                file_offset,
                n_elements,
                n_bytes,
            }),
            _ => {
                return Err(GgufError::TensorOutOfBounds {
                    name,
                    offset: data_offset.saturating_add(rel_offset),
                    n_bytes,
                    file_len,
                });
            }
        }
    }
    Ok(Header {
        version,
        metadata,
        tensors,
        alignment,
        data_offset,
        file_len,
    })
}

fn align_up(x: u64, a: u64) -> Option<u64> {
    x.checked_add(a - 1).map(|v| v / a * a)
}

/// Reads `bytes`, the first bytes of a file of `file_len` bytes (all of it when not a prefix).
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    file_len: u64,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(GgufError::Truncated {
                offset: self.pos,
                needed: n,
            });
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Refuses a count whose smallest possible encoding is larger than what is left of the file.
    fn check_count(&self, count: u64, min_size: u64, offset: usize) -> Result<()> {
        let left = self.file_len.saturating_sub(self.pos as u64);
        match count.checked_mul(min_size) {
            Some(need) if need <= left => Ok(()),
            _ => Err(GgufError::CountTooLarge {
                count,
                offset: offset as u64,
            }),
        }
    }

    /// How many of `count` items of at least `min_size` bytes to reserve room for: no more than
    /// the bytes in hand could hold (a prefix may be far shorter than the file the count fits).
    fn affordable(&self, count: u64, min_size: u64) -> usize {
        let fit = self.remaining() as u64 / min_size.max(1);
        count.min(fit) as usize
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("length checked"))
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn string(&mut self) -> Result<String> {
        let at = self.pos;
        let len = self.u64()?;
        self.check_count(len, 1, at)?;
        let raw = self.take(len as usize)?;
        String::from_utf8(raw.to_vec()).map_err(|_| GgufError::BadUtf8 { offset: at })
    }

    fn value_type(&mut self, at: usize) -> Result<ValueType> {
        let id = self.u32()?;
        ValueType::from_id(id).ok_or(GgufError::UnknownValueType {
            type_id: id,
            offset: at,
        })
    }

    fn value(&mut self, ty: ValueType, depth: u32) -> Result<Value> {
        Ok(match ty {
            ValueType::U8 => Value::U8(self.u8()?),
            ValueType::I8 => Value::I8(self.u8()? as i8),
            ValueType::U16 => Value::U16(self.u16()?),
            ValueType::I16 => Value::I16(self.u16()? as i16),
            ValueType::U32 => Value::U32(self.u32()?),
            ValueType::I32 => Value::I32(self.u32()? as i32),
            ValueType::F32 => Value::F32(f32::from_bits(self.u32()?)),
            ValueType::U64 => Value::U64(self.u64()?),
            ValueType::I64 => Value::I64(self.u64()? as i64),
            ValueType::F64 => Value::F64(f64::from_bits(self.u64()?)),
            ValueType::Bool => {
                let at = self.pos;
                match self.u8()? {
                    0 => Value::Bool(false),
                    1 => Value::Bool(true),
                    b => {
                        return Err(GgufError::BadBool {
                            value: b,
                            offset: at,
                        });
                    }
                }
            }
            ValueType::String => Value::String(self.string()?),
            ValueType::Array => {
                let at = self.pos;
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(GgufError::TooDeep { offset: at });
                }
                let elem = self.value_type(at)?;
                let count_at = self.pos;
                let count = self.u64()?;
                self.check_count(count, elem.min_size(), count_at)?;
                let mut items = Vec::with_capacity(self.affordable(count, elem.min_size()));
                for _ in 0..count {
                    items.push(self.value(elem, depth + 1)?);
                }
                Value::Array(elem, items)
            }
        })
    }
}
