//! Native file access: the header is parsed from the memory-mapped file, tensor data is
//! borrowed from the map (no copy, the OS pages weights in on demand).

use std::path::Path;
use std::sync::Arc;

use super::{Gguf, GgufError};

/// A GGUF file on disk, memory-mapped.
#[derive(Clone)]
pub struct GgufFile {
    pub header: Gguf,
    map: Arc<memmap2::Mmap>,
}

impl GgufFile {
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile, GgufError> {
        let path = path.as_ref();
        let io = |e: std::io::Error| GgufError::Io { path: path.display().to_string(), message: e.to_string() };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the map is read-only; a file truncated underneath us by another process
        // is outside what any reader can defend against (llama.cpp maps the same way).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let header = Gguf::from_bytes(&map)?;
        Ok(GgufFile { header, map: Arc::new(map) })
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Shared handle on the mapped bytes, for owners that outlive this value.
    pub fn shared_bytes(&self) -> Arc<memmap2::Mmap> {
        self.map.clone()
    }
}
