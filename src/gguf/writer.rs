//! A small GGUF writer for tests and tools: metadata plus already-encoded tensor data.
//!
//! Layout (GGUF v2/v3, little-endian): magic `GGUF`, u32 version, u64 tensor count, u64 kv
//! count, the kv pairs, the tensor infos, padding to the alignment, then the data section with
//! every tensor starting at a multiple of the alignment (and padded after, as llama.cpp does).
//!
//! The writer checks what it needs to produce a well-formed layout (data lengths, alignment)
//! and otherwise writes what it is given, so tests can build files the reader must reject:
//! a duplicate key, a version other than 2 or 3, a tensor with 0 or 5 dimensions.

use super::{GgufError, Value, ValueType, DEFAULT_ALIGNMENT, MAGIC};
use crate::quant::GgmlType;

struct PendingTensor {
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
    data: Vec<u8>,
}

/// Builds a GGUF file in memory. Metadata and tensors are written in the order they are added.
pub struct GgufWriter {
    version: u32,
    alignment: u64,
    metadata: Vec<(String, Value)>,
    tensors: Vec<PendingTensor>,
}

impl GgufWriter {
    /// `version` should be 2 or 3 (their layouts are identical); any other number is written
    /// as given, with the same layout, which is what a test of version rejection wants.
    pub fn new(version: u32) -> GgufWriter {
        GgufWriter { version, alignment: DEFAULT_ALIGNMENT, metadata: Vec::new(), tensors: Vec::new() }
    }

    /// Adds a metadata pair. Keys are not deduplicated. Array items must all have the array's
    /// element type (otherwise the bytes will not read back as written). Set the alignment
    /// with [`GgufWriter::alignment`], not through a `general.alignment` pair.
    pub fn metadata(mut self, key: impl Into<String>, value: Value) -> GgufWriter {
        self.metadata.push((key.into(), value));
        self
    }

    /// Data alignment of the file; written as `general.alignment` (u32) when not 32.
    /// Fails unless `alignment` is a power of two that fits a u32.
    pub fn alignment(mut self, alignment: u64) -> Result<GgufWriter, GgufError> {
        if !alignment.is_power_of_two() || alignment > u32::MAX as u64 {
            return Err(GgufError::Corrupt { offset: 0, what: "general.alignment", value: alignment });
        }
        self.alignment = alignment;
        Ok(self)
    }

    /// Adds a tensor. `dims_ne` are in ggml order (innermost first); `data` is already encoded
    /// in `ty` and must be exactly `ty.bytes_for(product of dims_ne)` bytes long. The number
    /// of dimensions is not checked (readers accept 1 to 4).
    pub fn tensor(
        mut self,
        name: impl Into<String>,
        dims_ne: &[u64],
        ty: GgmlType,
        data: Vec<u8>,
    ) -> Result<GgufWriter, GgufError> {
        let name = name.into();
        let n = dims_ne.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
        let Some(want) = n.and_then(|n| ty.bytes_for(n)) else {
            let reason = format!("dimensions {dims_ne:?} are not a whole number of {ty} blocks");
            return Err(GgufError::BadTensor { tensor: name, reason });
        };
        if data.len() as u64 != want {
            let reason = format!("data is {} bytes, {ty} {dims_ne:?} takes {want}", data.len());
            return Err(GgufError::BadTensor { tensor: name, reason });
        }
        self.tensors.push(PendingTensor { name, dims: dims_ne.to_vec(), ty, data });
        Ok(self)
    }

    /// The whole file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        put_u32(&mut out, self.version);
        put_u64(&mut out, self.tensors.len() as u64);
        let custom_alignment = self.alignment != DEFAULT_ALIGNMENT;
        put_u64(&mut out, self.metadata.len() as u64 + custom_alignment as u64);

        if custom_alignment {
            put_kv(&mut out, "general.alignment", &Value::U32(self.alignment as u32));
        }
        for (key, value) in &self.metadata {
            put_kv(&mut out, key, value);
        }

        // Tensor offsets are relative to the data section, each one aligned.
        let mut offset = 0u64;
        for t in &self.tensors {
            put_str(&mut out, &t.name);
            put_u32(&mut out, t.dims.len() as u32);
            t.dims.iter().for_each(|&d| put_u64(&mut out, d));
            put_u32(&mut out, t.ty.id());
            put_u64(&mut out, offset);
            offset = (offset + t.data.len() as u64).next_multiple_of(self.alignment);
        }

        for t in &self.tensors {
            pad(&mut out, self.alignment);
            out.extend_from_slice(&t.data);
        }
        pad(&mut out, self.alignment);
        out
    }
}

fn pad(out: &mut Vec<u8>, alignment: u64) {
    let len = (out.len() as u64).next_multiple_of(alignment);
    out.resize(len as usize, 0);
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u64(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_kv(out: &mut Vec<u8>, key: &str, value: &Value) {
    put_str(out, key);
    put_u32(out, type_id(value.value_type()));
    put_value(out, value);
}

/// The GGUF id of a value type (the inverse of `ValueType::from_id`).
fn type_id(ty: ValueType) -> u32 {
    // The variants are declared in id order (`from_id`), so the discriminant is the id.
    ty as u32
}

/// A value's payload, without its type tag (arrays carry their element type inside).
fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::U8(v) => out.push(*v),
        Value::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U32(v) => put_u32(out, *v),
        Value::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Bool(v) => out.push(*v as u8),
        Value::String(s) => put_str(out, s),
        Value::Array(elem, items) => {
            put_u32(out, type_id(*elem));
            put_u64(out, items.len() as u64);
            items.iter().for_each(|v| put_value(out, v));
        }
        Value::U64(v) => put_u64(out, *v),
        Value::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
    }
}
