//! The GGUF v2/v3 reader: header, metadata and tensor directory over a borrowed byte slice.
//!
//! Every count read from the file is checked against the bytes that remain before anything is
//! allocated from it, and the header may take at most [`MAX_HEADER_BYTES`]; metadata arrays are
//! held as typed vectors (crate::metadata::Array), so a hostile header cannot make the reader
//! allocate more than a small multiple of that.

use std::collections::HashSet;

use crate::error::{GgufError, Result};
use crate::metadata::{Array, Metadata, Strings, Value, ValueType};
use crate::types::GgmlType;

/// "GGUF" read as a little-endian u32.
pub const MAGIC: [u8; 4] = *b"GGUF";
/// The alignment of the tensor data section when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// The longest header (metadata and tensor directory) the reader accepts, natively and in the
/// browser: real ones (256k-token vocabularies) take ~20 MiB.
pub const MAX_HEADER_BYTES: u64 = 64 << 20;
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

    /// The metadata keys in the order the file holds them ([`Metadata`] is sorted by key), read
    /// again from the header when asked: what a writer needs to reproduce the file byte for byte.
    pub fn metadata_keys_in_file_order(&self) -> Result<Vec<String>> {
        // After the magic, the version and the tensor count.
        let mut r = Cursor {
            bytes: self.bytes,
            pos: 16,
            file_len: self.bytes.len() as u64,
        };
        let kv_count = r.u64()?;
        let mut keys = Vec::with_capacity(self.metadata.len());
        for _ in 0..kv_count {
            keys.push(r.string()?);
            let ty = r.value_type(r.pos)?;
            r.value(ty, 0)?;
        }
        Ok(keys)
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
    // Entries as read, each data offset still relative to the data section (whose start is known
    // once the directory ends); names are checked for duplicates where they lie in the file.
    let mut tensors = Vec::with_capacity(r.affordable(tensor_count, 24));
    let mut entry_offsets = Vec::with_capacity(r.affordable(tensor_count, 24));
    let mut names = HashSet::new();
    for _ in 0..tensor_count {
        let at = r.pos;
        let name = r.str()?;
        let n_dims_at = r.pos;
        let n_dims = r.u32()?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(GgufError::BadDims {
                name: name.to_string(),
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
                    name: name.to_string(),
                    ty: t,
                    offset: type_at,
                });
            }
            Some(t) => t,
            None => {
                return Err(GgufError::UnknownTensorType {
                    name: name.to_string(),
                    type_id,
                    offset: type_at,
                });
            }
        };
        let rel_offset = r.u64()?;
        if !names.insert(name) {
            return Err(GgufError::DuplicateTensor {
                name: name.to_string(),
                offset: at,
            });
        }
        tensors.push(TensorInfo {
            name: name.to_string(),
            dims,
            ggml_type,
            file_offset: rel_offset,
            n_elements: 0,
            n_bytes: 0,
        });
        entry_offsets.push(at);
    }
    drop(names);
    let data_offset = align_up(r.pos as u64, alignment).ok_or(GgufError::Truncated {
        offset: r.pos,
        needed: alignment as usize,
    })?;
    for (t, &at) in tensors.iter_mut().zip(&entry_offsets) {
        let (dims, ggml_type, rel_offset) = (&t.dims, t.ggml_type, t.file_offset);
        let n_elements = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n > 0 && n < 1 << 48)
            .ok_or_else(|| GgufError::BadDims {
                name: t.name.clone(),
                reason: format!("dimensions {dims:?} overflow or are empty"),
                offset: at,
            })?;
        let n_bytes = ggml_type
            .bytes_for(n_elements)
            .filter(|_| dims[0].is_multiple_of(ggml_type.block_layout().map_or(1, |l| l.0 as u64)))
            .ok_or_else(|| GgufError::BadDims {
                name: t.name.clone(),
                reason: format!(
                    "row of {} elements is not whole {ggml_type} blocks",
                    dims[0]
                ),
                offset: at,
            })?;
        if !rel_offset.is_multiple_of(alignment) {
            return Err(GgufError::MisalignedTensor {
                name: t.name.clone(),
                offset: rel_offset,
                alignment,
            });
        }
        let file_offset = data_offset.checked_add(rel_offset);
        let end = file_offset.and_then(|o| o.checked_add(n_bytes));
        match (file_offset, end) {
            (Some(file_offset), Some(end)) if end <= file_len => {
                t.file_offset = file_offset;
                t.n_elements = n_elements;
                t.n_bytes = n_bytes;
            }
            _ => {
                return Err(GgufError::TensorOutOfBounds {
                    name: t.name.clone(),
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

    /// `n` bytes; where the bytes in hand end first, the error asks for all of them.
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        self.take_or_miss(n, (self.pos, n))
    }

    /// `count` items of `size` bytes; where the bytes in hand end first, the error names the
    /// first item missing, as reading them one by one would.
    fn take_items(&mut self, count: usize, size: usize) -> Result<&'a [u8]> {
        let missing = self.pos + self.remaining() / size * size;
        self.take_or_miss(count.saturating_mul(size), (missing, size))
    }

    /// `n` bytes, or the error for `missing` (offset, length) where the bytes in hand end first.
    /// Past [`MAX_HEADER_BYTES`] the header is refused before anything is copied, and before
    /// asking for a longer prefix.
    fn take_or_miss(&mut self, n: usize, (offset, needed): (usize, usize)) -> Result<&'a [u8]> {
        if n <= self.remaining() {
            if self.pos as u64 + n as u64 > MAX_HEADER_BYTES {
                return Err(self.too_large());
            }
            let s = &self.bytes[self.pos..self.pos + n];
            self.pos += n;
            return Ok(s);
        }
        let needed_end = offset as u64 + needed as u64;
        if needed_end <= self.file_len && needed_end > MAX_HEADER_BYTES {
            return Err(self.too_large());
        }
        Err(GgufError::Truncated { offset, needed })
    }

    fn too_large(&self) -> GgufError {
        GgufError::HeaderTooLarge {
            offset: self.pos,
            limit: MAX_HEADER_BYTES,
        }
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
        Ok(self.str()?.to_string())
    }

    /// A length-prefixed UTF-8 string, borrowed from the file.
    fn str(&mut self) -> Result<&'a str> {
        let at = self.pos;
        let len = self.u64()?;
        self.check_count(len, 1, at)?;
        let len = usize::try_from(len).map_err(|_| GgufError::CountTooLarge {
            count: len,
            offset: at as u64,
        })?;
        std::str::from_utf8(self.take(len)?).map_err(|_| GgufError::BadUtf8 { offset: at })
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
            ValueType::Array => Value::Array(self.array_value(depth)?),
        })
    }

    /// An array (its element type, count and elements), read into a vector of its type.
    fn array_value(&mut self, depth: u32) -> Result<Array> {
        let at = self.pos;
        if depth >= MAX_ARRAY_DEPTH {
            return Err(GgufError::TooDeep { offset: at });
        }
        let elem = self.value_type(at)?;
        let count_at = self.pos;
        let count = self.u64()?;
        self.check_count(count, elem.min_size(), count_at)?;
        // Within the file's length, but perhaps not the address space (wasm32).
        let n = usize::try_from(count).map_err(|_| GgufError::CountTooLarge {
            count,
            offset: count_at as u64,
        })?;
        Ok(match elem {
            ValueType::U8 => Array::U8(self.take_items(n, 1)?.to_vec()),
            ValueType::I8 => Array::I8(self.fixed(n, |[b]| b as i8)?),
            ValueType::U16 => Array::U16(self.fixed(n, u16::from_le_bytes)?),
            ValueType::I16 => Array::I16(self.fixed(n, i16::from_le_bytes)?),
            ValueType::U32 => Array::U32(self.fixed(n, u32::from_le_bytes)?),
            ValueType::I32 => Array::I32(self.fixed(n, i32::from_le_bytes)?),
            ValueType::F32 => Array::F32(self.fixed(n, f32::from_le_bytes)?),
            ValueType::U64 => Array::U64(self.fixed(n, u64::from_le_bytes)?),
            ValueType::I64 => Array::I64(self.fixed(n, i64::from_le_bytes)?),
            ValueType::F64 => Array::F64(self.fixed(n, f64::from_le_bytes)?),
            ValueType::Bool => {
                let start = self.pos;
                let raw = self.take_items(n, 1)?;
                match raw.iter().position(|&b| b > 1) {
                    Some(i) => {
                        return Err(GgufError::BadBool {
                            value: raw[i],
                            offset: start + i,
                        });
                    }
                    None => Array::Bool(raw.iter().map(|&b| b == 1).collect()),
                }
            }
            ValueType::String => {
                let mut strings = Strings::with_capacity(self.affordable(count, 8), 0);
                for _ in 0..n {
                    strings.push(self.str()?);
                }
                Array::String(Box::new(strings))
            }
            ValueType::Array => {
                let mut items = Vec::with_capacity(self.affordable(count, elem.min_size()));
                for _ in 0..n {
                    items.push(self.array_value(depth + 1)?);
                }
                Array::Array(items)
            }
        })
    }

    /// `n` fixed-size little-endian numbers.
    fn fixed<T, const N: usize>(&mut self, n: usize, from: fn([u8; N]) -> T) -> Result<Vec<T>> {
        let raw = self.take_items(n, N)?;
        Ok(raw
            .chunks_exact(N)
            .map(|c| from(c.try_into().expect("chunks of N")))
            .collect())
    }
}
