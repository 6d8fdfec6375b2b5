//! `Sha256`: a SHA-256 hash fed chunk by chunk, so the npm package can check (and name) a
//! multi-GB download in its OPFS cache as it streams in, without holding it whole.
//!
//! ```js
//! const h = new Sha256();
//! for await (const chunk of body) h.update(chunk);   // Uint8Array chunks
//! const digest = h.hex();                             // 64 lowercase hex digits
//! h.free();
//! ```

use sha2::Digest;
use wasm_bindgen::prelude::*;

use super::error::LfmError;

/// A SHA-256 hash in progress. `hex()` finalizes it: after that, `update` and `hex` throw
/// (`invalid_request`); hash again with a new `Sha256`.
#[wasm_bindgen]
#[derive(Default)]
pub struct Sha256 {
    /// `None` once finalized.
    hasher: Option<sha2::Sha256>,
}

#[wasm_bindgen]
impl Sha256 {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Sha256 {
        Sha256 { hasher: Some(sha2::Sha256::new()) }
    }

    /// Hashes `bytes` (a `Uint8Array`) after everything before.
    pub fn update(&mut self, bytes: &[u8]) -> Result<(), JsValue> {
        self.hasher.as_mut().ok_or_else(finalized)?.update(bytes);
        Ok(())
    }

    /// The digest of everything hashed, as 64 lowercase hex digits. Finalizes the hash.
    pub fn hex(&mut self) -> Result<String, JsValue> {
        let digest = self.hasher.take().ok_or_else(finalized)?.finalize();
        Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
    }
}

fn finalized() -> JsValue {
    LfmError::invalid("Sha256: the hash was already finalized by hex(); create a new Sha256").into()
}
