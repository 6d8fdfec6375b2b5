//! A little-endian byte cursor that knows the difference between "corrupt" and "not here yet".

use super::value::Value;
use super::{GgufError, ValueType};

/// Largest metadata string accepted (a chat template or a merges entry is far smaller;
/// a corrupt length must not make a streaming caller wait for gigabytes).
const MAX_STRING_BYTES: u64 = 64 << 20;
/// Largest metadata array (vocabularies are ~10^5-10^6 entries).
const MAX_ARRAY_LEN: u64 = 16 << 20;
/// Arrays of arrays are legal GGUF, but nobody nests them deeply.
const MAX_ARRAY_DEPTH: usize = 4;

/// Why a read stopped.
pub(crate) enum Stop {
    /// The prefix ended; at least this many bytes of the file (from its start) are needed.
    NeedMore(u64),
    Error(GgufError),
}

impl From<GgufError> for Stop {
    fn from(e: GgufError) -> Self {
        Stop::Error(e)
    }
}

impl Stop {
    /// If the input ran out, also asks for `more` bytes known to be needed after that point.
    pub fn need_also(self, more: u64) -> Stop {
        match self {
            Stop::NeedMore(n) => Stop::NeedMore(n.saturating_add(more)),
            e => e,
        }
    }
}

pub(crate) type Read<T> = Result<T, Stop>;

pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    pub fn take(&mut self, n: u64) -> Read<&'a [u8]> {
        let end = self.pos as u64 + n;
        if end > self.bytes.len() as u64 {
            return Err(Stop::NeedMore(end));
        }
        let s = &self.bytes[self.pos..end as usize];
        self.pos = end as usize;
        Ok(s)
    }

    pub fn array<const N: usize>(&mut self) -> Read<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N as u64)?); // `take` returns exactly N bytes
        Ok(out)
    }

    pub fn u8(&mut self) -> Read<u8> {
        Ok(self.array::<1>()?[0])
    }
    pub fn u16(&mut self) -> Read<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Read<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Read<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A count (u64 in GGUF v2+), bounded so corrupt files fail fast.
    pub fn count(&mut self, what: &'static str, max: u64) -> Read<u64> {
        let at = self.pos as u64;
        let n = self.u64()?;
        if n > max {
            return Err(GgufError::Corrupt { offset: at, what, value: n }.into());
        }
        Ok(n)
    }

    pub fn string(&mut self) -> Read<String> {
        let at = self.pos as u64;
        let len = self.count("string length", MAX_STRING_BYTES)?;
        let raw = self.take(len)?;
        String::from_utf8(raw.to_vec()).map_err(|_| GgufError::InvalidUtf8 { offset: at }.into())
    }

    pub fn value_type(&mut self) -> Read<ValueType> {
        let at = self.pos as u64;
        let id = self.u32()?;
        ValueType::from_id(id).ok_or(Stop::Error(GgufError::UnknownValueType { offset: at, id }))
    }

    pub fn value(&mut self, ty: ValueType) -> Read<Value> {
        self.value_nested(ty, 0)
    }

    fn value_nested(&mut self, ty: ValueType, depth: usize) -> Read<Value> {
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
                let at = self.pos as u64;
                match self.u8()? {
                    0 => Value::Bool(false),
                    1 => Value::Bool(true),
                    v => return Err(GgufError::Corrupt { offset: at, what: "bool value", value: v.into() }.into()),
                }
            }
            ValueType::String => Value::String(self.string()?),
            ValueType::Array => {
                let at = self.pos as u64;
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(
                        GgufError::Corrupt { offset: at, what: "array nesting depth", value: depth as u64 }.into()
                    );
                }
                let elem = self.value_type().map_err(|s| s.need_also(8))?; // then the length
                let len = self.count("array length", MAX_ARRAY_LEN)?;
                // Fixed-size elements: ask for the whole array at once instead of element by element.
                if let Some(size) = elem.scalar_size() {
                    let need = self.pos as u64 + len * size as u64;
                    if need > self.bytes.len() as u64 {
                        return Err(Stop::NeedMore(need));
                    }
                }
                // Strings and arrays: when the input runs out, ask for at least the smallest
                // encoding of each remaining element too (a vocabulary is 10^5 strings; one
                // round trip each would be far too many for a streaming caller).
                let min_size = match elem {
                    ValueType::String => 8,    // length
                    ValueType::Array => 4 + 8, // element type, length
                    scalar => scalar.scalar_size().unwrap_or(0) as u64,
                };
                let mut items = Vec::with_capacity(len.min(1 << 20) as usize);
                for i in 0..len {
                    let item = self.value_nested(elem, depth + 1).map_err(|s| s.need_also((len - i - 1) * min_size))?;
                    items.push(item);
                }
                Value::Array(elem, items)
            }
        })
    }
}
