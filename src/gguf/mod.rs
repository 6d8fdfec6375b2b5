//! GGUF reader (versions 2 and 3).
//!
//! The parser only ever looks at a *prefix* of the file: [`Gguf::parse_prefix`] either returns
//! the header (metadata, tensor infos, where the data section starts) or tells the caller how
//! many bytes it needs. That is what lets the browser stream a multi-GB file without holding
//! it: parse the first megabytes, then fetch tensors by byte range. [`Gguf::from_bytes`] and
//! (natively) [`GgufFile::open`] are conveniences over it.

// Input-derived paths (file bytes, requests, model output): no `unwrap`/`expect` outside
// tests; a true invariant says why with `#[allow]` and a comment.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod cursor;
#[cfg(not(target_arch = "wasm32"))]
mod file;
mod value;
mod writer;

use std::collections::BTreeMap;
use std::ops::Range;

use cursor::{Cursor, Stop};
#[cfg(not(target_arch = "wasm32"))]
pub use file::GgufFile;
pub use value::{Value, ValueType};
pub use writer::GgufWriter;

use crate::quant::GgmlType;

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// More tensors than any real model has; bounds work on a corrupt count.
const MAX_TENSORS: u64 = 1 << 20;
const MAX_METADATA: u64 = 1 << 20;
const MAX_DIMS: u32 = 4;
/// Smallest encodings (empty key or name), used to ask a streaming caller for a lower bound
/// on everything still to come rather than for one item at a time.
const MIN_KV_BYTES: u64 = 8 + 4 + 1; // key length, value type, u8 value
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 8 + 4 + 8; // name length, n_dims, one dim, type, offset

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum GgufError {
    #[error("not a GGUF file: magic bytes are {found:02x?}, expected \"GGUF\"")]
    BadMagic { found: [u8; 4] },
    #[error("unsupported GGUF version {0} (supported: 2 and 3; a huge number usually means a big-endian file)")]
    UnsupportedVersion(u32),
    #[error("GGUF header is truncated: the file has {have} bytes but the header needs at least {need}")]
    Truncated { have: u64, need: u64 },
    #[error("corrupt GGUF header at byte {offset}: {what} is {value}")]
    Corrupt { offset: u64, what: &'static str, value: u64 },
    #[error("corrupt GGUF header at byte {offset}: string is not valid UTF-8")]
    InvalidUtf8 { offset: u64 },
    #[error("corrupt GGUF header at byte {offset}: unknown metadata value type {id}")]
    UnknownValueType { offset: u64, id: u32 },
    #[error("tensor `{tensor}` has unknown ggml type id {id}")]
    UnknownTensorType { tensor: String, id: u32 },
    #[error("tensor `{tensor}`: {reason}")]
    BadTensor { tensor: String, reason: String },
    #[error(
        "tensor `{tensor}` occupies bytes {start}..{end} but the file has only {file_len} bytes (truncated download?)"
    )]
    TensorOutOfFile { tensor: String, start: u64, end: u64, file_len: u64 },
    #[error("metadata key `{0}` appears twice")]
    DuplicateKey(String),
    #[error("tensor `{0}` appears twice")]
    DuplicateTensor(String),
    #[error("metadata key `{0}` is missing")]
    MissingKey(String),
    #[error("metadata key `{key}` has type {found}, expected {expected}")]
    WrongType { key: String, expected: &'static str, found: String },
    #[error("no tensor named `{0}`")]
    MissingTensor(String),
    #[error("I/O error reading {path}: {message}")]
    Io { path: String, message: String },
}

/// One tensor's description from the header. `dims` are in ggml `ne` order (innermost first).
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Byte offset relative to the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Size of the tensor's data in bytes.
    #[allow(clippy::expect_used, reason = "the parser accepts only whole blocks of under 2^40 elements")]
    pub fn n_bytes(&self) -> u64 {
        self.ty.bytes_for(self.n_elements()).expect("checked when parsed")
    }
}

/// Result of parsing a prefix of a file.
#[derive(Debug)]
pub enum Parsed {
    Complete(Gguf),
    /// The prefix is too short: read at least this many bytes from the file start and retry.
    NeedBytes(u64),
}

/// A parsed GGUF header: everything but the tensor data.
#[derive(Clone, Debug)]
pub struct Gguf {
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Absolute file offset of the data section (aligned).
    pub data_offset: u64,
}

impl Gguf {
    /// Parses the header from the first bytes of a file. Never reads tensor data.
    pub fn parse_prefix(prefix: &[u8]) -> Result<Parsed, GgufError> {
        match parse(&mut Cursor::new(prefix)) {
            Ok(g) => Ok(Parsed::Complete(g)),
            Err(Stop::NeedMore(n)) => Ok(Parsed::NeedBytes(n)),
            Err(Stop::Error(e)) => Err(e),
        }
    }

    /// Parses a whole file held in memory and checks that every tensor lies inside it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Gguf, GgufError> {
        match Gguf::parse_prefix(bytes)? {
            Parsed::Complete(g) => {
                g.check_file_len(bytes.len() as u64)?;
                Ok(g)
            }
            Parsed::NeedBytes(need) => Err(GgufError::Truncated { have: bytes.len() as u64, need }),
        }
    }

    /// Checks that the data of every tensor ends within a file of `file_len` bytes.
    pub fn check_file_len(&self, file_len: u64) -> Result<(), GgufError> {
        for t in &self.tensors {
            let r = self.tensor_range(t);
            if r.end > file_len {
                return Err(GgufError::TensorOutOfFile {
                    tensor: t.name.clone(),
                    start: r.start,
                    end: r.end,
                    file_len,
                });
            }
        }
        Ok(())
    }

    /// Absolute byte range of a tensor's data in the file.
    pub fn tensor_range(&self, t: &TensorInfo) -> Range<u64> {
        let start = self.data_offset + t.offset;
        start..start + t.n_bytes()
    }

    /// End of the last tensor: the smallest valid file length.
    pub fn data_end(&self) -> u64 {
        self.tensors.iter().map(|t| self.tensor_range(t).end).max().unwrap_or(self.data_offset)
    }

    pub fn tensor(&self, name: &str) -> Result<&TensorInfo, GgufError> {
        self.tensors.iter().find(|t| t.name == name).ok_or_else(|| GgufError::MissingTensor(name.into()))
    }

    pub fn get(&self, key: &str) -> Result<&Value, GgufError> {
        self.metadata.get(key).ok_or_else(|| GgufError::MissingKey(key.into()))
    }

    fn wrong_type(key: &str, expected: &'static str, v: &Value) -> GgufError {
        GgufError::WrongType { key: key.into(), expected, found: format!("{:?}", v.value_type()) }
    }

    pub fn get_str(&self, key: &str) -> Result<&str, GgufError> {
        let v = self.get(key)?;
        v.as_str().ok_or_else(|| Self::wrong_type(key, "string", v))
    }

    /// An integer key as u64 (any integer encoding, negative values rejected).
    pub fn get_u64(&self, key: &str) -> Result<u64, GgufError> {
        let v = self.get(key)?;
        let n = match *v {
            Value::U64(n) => Some(n), // all of u64, not only what fits an i64
            _ => v.as_i64().and_then(|i| u64::try_from(i).ok()),
        };
        n.ok_or_else(|| Self::wrong_type(key, "non-negative integer", v))
    }

    pub fn get_usize(&self, key: &str) -> Result<usize, GgufError> {
        let v = self.get_u64(key)?;
        match usize::try_from(v) {
            Ok(n) => Ok(n),
            Err(_) => Err(Self::wrong_type(key, "integer that fits usize", self.get(key)?)),
        }
    }

    pub fn get_f32(&self, key: &str) -> Result<f32, GgufError> {
        let v = self.get(key)?;
        v.as_f64().map(|f| f as f32).ok_or_else(|| Self::wrong_type(key, "number", v))
    }

    pub fn get_bool(&self, key: &str) -> Result<bool, GgufError> {
        let v = self.get(key)?;
        v.as_bool().ok_or_else(|| Self::wrong_type(key, "bool", v))
    }

    pub fn get_array(&self, key: &str) -> Result<&[Value], GgufError> {
        let v = self.get(key)?;
        v.as_array().ok_or_else(|| Self::wrong_type(key, "array", v))
    }

    pub fn get_string_array(&self, key: &str) -> Result<Vec<&str>, GgufError> {
        let items = self.get_array(key)?;
        items.iter().map(|v| v.as_str().ok_or_else(|| Self::wrong_type(key, "array of strings", v))).collect()
    }

    pub fn get_i64_array(&self, key: &str) -> Result<Vec<i64>, GgufError> {
        let items = self.get_array(key)?;
        items.iter().map(|v| v.as_i64().ok_or_else(|| Self::wrong_type(key, "array of integers", v))).collect()
    }
}

fn parse(c: &mut Cursor) -> Result<Gguf, Stop> {
    let magic: [u8; 4] = c.array()?;
    if &magic != MAGIC {
        return Err(GgufError::BadMagic { found: magic }.into());
    }
    let version = c.u32()?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::UnsupportedVersion(version).into());
    }
    let n_tensors = c.count("tensor count", MAX_TENSORS)?;
    let n_kv = c.count("metadata count", MAX_METADATA)?;

    let mut metadata = BTreeMap::new();
    for i in 0..n_kv {
        let rest = (n_kv - i - 1) * MIN_KV_BYTES + n_tensors * MIN_TENSOR_INFO_BYTES;
        let (key, value) = kv(c).map_err(|s| s.need_also(rest))?;
        if metadata.insert(key.clone(), value).is_some() {
            return Err(GgufError::DuplicateKey(key).into());
        }
    }
    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(v) => match v.as_i64() {
            Some(a) if a > 0 && (a as u64).is_power_of_two() => a as u64,
            _ => {
                return Err(GgufError::Corrupt {
                    offset: 0,
                    what: "general.alignment",
                    value: v.as_i64().unwrap_or(-1) as u64,
                }
                .into())
            }
        },
    };

    let mut tensors: Vec<TensorInfo> = Vec::with_capacity(n_tensors.min(4096) as usize);
    for i in 0..n_tensors {
        let rest = (n_tensors - i - 1) * MIN_TENSOR_INFO_BYTES;
        tensors.push(tensor_info(c, alignment).map_err(|s| s.need_also(rest))?);
    }
    let mut names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(GgufError::DuplicateTensor(w[0].to_string()).into());
    }
    check_overlaps(&tensors)?;
    let data_offset = (c.pos as u64).next_multiple_of(alignment);
    Ok(Gguf { version, metadata, tensors, alignment, data_offset })
}

/// Fails when two tensors' data share a byte (a corrupt or hostile header: a writer lays
/// tensors out one after the other, and llama.cpp rejects anything but that). Empty tensors
/// occupy nothing.
fn check_overlaps(tensors: &[TensorInfo]) -> Result<(), GgufError> {
    // (start, end, name) relative to the data section; the sizes were checked while parsing.
    let mut ranges: Vec<(u64, u64, &str)> = tensors
        .iter()
        .map(|t| (t.offset, t.offset + t.n_bytes(), t.name.as_str()))
        .filter(|&(start, end, _)| end > start)
        .collect();
    ranges.sort_unstable();
    // Sorted by start, disjoint ranges also end in order: each need only be checked against
    // the one before it.
    match ranges.windows(2).find(|w| w[1].0 < w[0].1) {
        Some(&[(start, end, name), (s, e, tensor)]) => Err(GgufError::BadTensor {
            tensor: tensor.to_string(),
            reason: format!("its data (bytes {s}..{e} of the data section) overlaps tensor `{name}` ({start}..{end})"),
        }),
        _ => Ok(()),
    }
}

// When the input runs out inside a kv pair or a tensor info, the ask also covers the smallest
// encoding of that item's remaining fields, as it covers the items still to come: an ask
// never drops what an earlier (shorter) prefix already asked for.

fn kv(c: &mut Cursor) -> Result<(String, Value), Stop> {
    let key = c.string().map_err(|s| s.need_also(4 + 1))?; // value type, u8 value
    let ty = c.value_type().map_err(|s| s.need_also(1))?;
    Ok((key, c.value(ty)?))
}

fn tensor_info(c: &mut Cursor, alignment: u64) -> Result<TensorInfo, Stop> {
    let name = c.string().map_err(|s| s.need_also(MIN_TENSOR_INFO_BYTES - 8))?;
    let at = c.pos as u64;
    let n_dims = c.u32().map_err(|s| s.need_also(8 + 4 + 8))?; // one dim, type, offset
    if n_dims == 0 || n_dims > MAX_DIMS {
        return Err(GgufError::Corrupt { offset: at, what: "tensor dimension count", value: n_dims.into() }.into());
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for i in 0..n_dims {
        let rest = u64::from(n_dims - i - 1) * 8 + 4 + 8; // the other dims, type, offset
        dims.push(c.u64().map_err(|s| s.need_also(rest))?);
    }
    let type_id = c.u32().map_err(|s| s.need_also(8))?;
    let offset = c.u64()?;
    let bad = |reason: String| Stop::Error(GgufError::BadTensor { tensor: name.clone(), reason });
    let ty =
        GgmlType::from_id(type_id).ok_or_else(|| GgufError::UnknownTensorType { tensor: name.clone(), id: type_id })?;
    let n = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)).filter(|&n| n < 1 << 40);
    let n = n.ok_or_else(|| bad(format!("dimensions {dims:?} are too large")))?;
    if dims[0] % ty.block_size() as u64 != 0 {
        return Err(bad(format!(
            "row length {} is not a multiple of the {} block size {}",
            dims[0],
            ty,
            ty.block_size()
        )));
    }
    if offset % alignment != 0 {
        return Err(bad(format!("data offset {offset} is not aligned to {alignment}")));
    }
    // Whole blocks (the row check above), so `bytes_for` always has an answer.
    let bytes = ty.bytes_for(n).ok_or_else(|| bad(format!("{n} elements are not whole {ty} blocks")))?;
    if offset.checked_add(bytes).is_none_or(|e| e > 1 << 48) {
        return Err(bad(format!("data offset {offset} is out of range")));
    }
    Ok(TensorInfo { name, dims, ty, offset })
}
