//! A `Blob` (or `File`) as a model source: read by slices, `blob.slice(a, b).arrayBuffer()`,
//! so a multi-GB file the user picked, or one from the OPFS cache, is never read whole.

use std::ops::Range;

use js_sys::{Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::error::{Code, LfmError, Result};
use super::fetch::js_message;

#[wasm_bindgen]
extern "C" {
    /// The global `Blob` (of pages and workers); `File` extends it. `dyn_into::<Blob>()` is an
    /// `instanceof Blob` check.
    #[derive(Clone, Debug)]
    pub type Blob;
    #[wasm_bindgen(method, getter, js_name = size)]
    fn byte_size(this: &Blob) -> f64;
    #[wasm_bindgen(catch, method)]
    fn slice(this: &Blob, start: f64, end: f64) -> std::result::Result<Blob, JsValue>;
    #[wasm_bindgen(catch, method, js_name = arrayBuffer)]
    fn array_buffer(this: &Blob) -> std::result::Result<Promise, JsValue>;
}

/// The blob's size in bytes.
pub fn size(blob: &Blob) -> u64 {
    blob.byte_size() as u64
}

/// What to call the blob in messages and `info().url`: a `File`'s name, else `"blob"`.
pub fn label(blob: &Blob) -> String {
    Reflect::get(blob, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .filter(|n| !n.is_empty())
        .unwrap_or("blob".into())
}

/// Bytes `r` of the blob (fewer at its end, none past it).
pub async fn read(blob: &Blob, r: Range<u64>) -> Result<Vec<u8>> {
    let failed = |e| LfmError::new(Code::Network, format!("reading the file failed: {}", js_message(e)));
    // Offsets below 2^53 are exact as f64.
    let part = blob.slice(r.start as f64, r.end as f64).map_err(failed)?;
    let buffer = JsFuture::from(part.array_buffer().map_err(failed)?).await.map_err(failed)?;
    Ok(Uint8Array::new(&buffer).to_vec())
}
