//! [`Remote`]: a file read over HTTP or from a `Blob`, forward only, a window at a time, so a
//! multi-GB GGUF never sits in memory whole.
//!
//! Over HTTP, the first request asks for the first bytes with `Range: bytes=0-N`. A server
//! that answers 206 (Partial Content) gets one range request per later read; one that answers
//! 200 sends the whole file, and the reader then takes the response body as a stream, in
//! order, and skips the bytes nobody asks for. A `Blob` (a `File` the user picked, or one
//! from the OPFS cache) is read by slices ([`super::blob`]). Whatever the source, the caller
//! sees the same thing: reads at increasing offsets.
//!
//! `fetch`, `Response` and the stream reader are bound here directly (a handful of
//! functions) rather than through web-sys; `fetch` is the global of both pages and workers.

use std::ops::Range;

use js_sys::{Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::blob::{self, Blob};
use super::error::{Code, LfmError, Result};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_name = fetch)]
    fn js_fetch(url: &str, init: &JsValue) -> Result<Promise, JsValue>;

    type Response;
    #[wasm_bindgen(method, getter)]
    fn status(this: &Response) -> u16;
    #[wasm_bindgen(method, getter, js_name = statusText)]
    fn status_text(this: &Response) -> String;
    #[wasm_bindgen(method, getter)]
    fn headers(this: &Response) -> Headers;
    #[wasm_bindgen(method, getter)]
    fn body(this: &Response) -> Option<ReadableStream>;
    #[wasm_bindgen(catch, method, js_name = arrayBuffer)]
    fn array_buffer(this: &Response) -> Result<Promise, JsValue>;

    type Headers;
    #[wasm_bindgen(method)]
    fn get(this: &Headers, name: &str) -> Option<String>;

    type ReadableStream;
    #[wasm_bindgen(catch, method, js_name = getReader)]
    fn get_reader(this: &ReadableStream) -> Result<StreamReader, JsValue>;

    /// A `ReadableStreamDefaultReader` of bytes.
    type StreamReader;
    #[wasm_bindgen(method)]
    fn read(this: &StreamReader) -> Promise;
    #[wasm_bindgen(method)]
    fn cancel(this: &StreamReader) -> Promise;
}

/// Where later reads come from.
enum Source {
    /// One `Range` request per read.
    Ranges,
    /// The body of the first response, read in order.
    Stream(StreamReader),
    /// Slices of a Blob.
    Blob(Blob),
}

/// A file read at increasing offsets. Holds only the bytes read and not yet taken:
/// `[start, start + window.len())`.
pub struct Remote {
    url: String,
    source: Source,
    /// The file size, when known (a Blob's size; what the server said: `Content-Range` total
    /// or `Content-Length`).
    pub size: Option<u64>,
    start: u64,
    window: Vec<u8>,
}

impl Drop for Remote {
    fn drop(&mut self) {
        // Stop a download nobody will read (after an error, or past the last tensor).
        if let Source::Stream(reader) = &self.source {
            let _ = reader.cancel();
        }
    }
}

impl Remote {
    /// Requests the first `first` bytes of `url`; they are then in [`Remote::window`].
    pub async fn open(url: &str, first: u64) -> Result<Remote> {
        let response = request(url, Some(0..first)).await?;
        let headers = response.headers();
        let mut remote =
            Remote { url: url.to_string(), source: Source::Ranges, size: None, start: 0, window: Vec::new() };
        match response.status() {
            206 => {
                let (at, size) = content_range(&headers, 0)?;
                if at != 0 {
                    return Err(network(format!("asked for bytes from 0, the server sent bytes from {at}")));
                }
                remote.size = size;
                remote.window = body_bytes(&response).await?;
            }
            // The server ignores `Range`: stream the whole body. A compressed body's length
            // says nothing about the file's.
            200 => {
                let body = response.body().ok_or_else(|| network("the response has no body"))?;
                let reader = body.get_reader().map_err(|e| network(js_message(e)))?;
                if headers.get("content-encoding").is_none() {
                    remote.size = headers.get("content-length").and_then(|n| n.parse().ok());
                }
                remote.source = Source::Stream(reader);
                remote.fill(first).await?;
            }
            // A range that starts at or past the end: the file is empty.
            416 => remote.size = Some(0),
            status => return Err(http_error(&response, status)),
        }
        Ok(remote)
    }

    /// Reads the first `first` bytes of `blob`; they are then in [`Remote::window`]. `label`
    /// names it in messages (the file name).
    pub async fn open_blob(blob: Blob, label: &str, first: u64) -> Result<Remote> {
        let size = blob::size(&blob);
        let mut remote = Remote {
            url: label.to_string(),
            source: Source::Blob(blob),
            size: Some(size),
            start: 0,
            window: Vec::new(),
        };
        remote.fill(first).await?;
        Ok(remote)
    }

    /// The bytes read from the window start on (from the file start, until the first take).
    pub fn window(&self) -> &[u8] {
        &self.window
    }

    /// End of the bytes read so far (the file offset the download has reached).
    pub fn end(&self) -> u64 {
        self.start + self.window.len() as u64
    }

    /// Whether reads are streamed from one response (the server ignored `Range`).
    pub fn is_streamed(&self) -> bool {
        matches!(self.source, Source::Stream(_))
    }

    /// Reads on until the window reaches `end`, or the file ends (the window is then shorter).
    pub async fn fill(&mut self, end: u64) -> Result<()> {
        let end = self.size.map_or(end, |s| end.min(s));
        while self.end() < end {
            let got = match &self.source {
                Source::Ranges => self.fetch(self.end()..end).await?,
                Source::Stream(reader) => next_chunk(reader).await?,
                Source::Blob(b) => blob::read(b, self.end()..end).await?,
            };
            if got.is_empty() {
                break; // end of file
            }
            if self.window.is_empty() {
                self.window = got; // no copy: a range read after a skip
            } else {
                self.window.extend_from_slice(&got);
            }
        }
        Ok(())
    }

    /// Bytes `r` of the file, which must not start before what was taken last. Drops
    /// everything before `r.end`.
    pub async fn take(&mut self, r: Range<u64>) -> Result<Vec<u8>> {
        if r.start < self.start {
            let why = format!("bytes {}..{} overlap data already read (overlapping tensors?)", r.start, r.end);
            return Err(LfmError::new(Code::BadModel, why));
        }
        self.skip_to(r.start).await?;
        self.fill(r.end).await?;
        if self.end() < r.end {
            return Err(truncated(self.end(), r.end));
        }
        let rest = self.window.split_off((r.end - r.start) as usize);
        self.start = r.end;
        Ok(std::mem::replace(&mut self.window, rest))
    }

    /// Moves the window start to `pos`, dropping (or, streaming, reading past) what lies before.
    async fn skip_to(&mut self, pos: u64) -> Result<()> {
        if pos <= self.end() {
            self.window.drain(..(pos - self.start) as usize);
            self.start = pos;
            return Ok(());
        }
        self.start = self.end();
        self.window.clear();
        let Source::Stream(reader) = &self.source else {
            self.start = pos; // the next range request starts there
            return Ok(());
        };
        while self.start < pos {
            let chunk = next_chunk(reader).await?;
            if chunk.is_empty() {
                return Err(truncated(self.start, pos));
            }
            let n = chunk.len() as u64;
            if self.start + n > pos {
                self.window = chunk[(pos - self.start) as usize..].to_vec();
                self.start = pos;
            } else {
                self.start += n;
            }
        }
        Ok(())
    }

    /// One range request; fewer bytes than asked (none past the end) when the file is shorter.
    async fn fetch(&self, r: Range<u64>) -> Result<Vec<u8>> {
        let response = request(&self.url, Some(r.clone())).await?;
        match response.status() {
            206 => {
                let (at, _) = content_range(&response.headers(), r.start)?;
                if at != r.start {
                    return Err(network(format!("asked for bytes from {}, the server sent bytes from {at}", r.start)));
                }
                body_bytes(&response).await
            }
            416 => Ok(Vec::new()),
            200 => Err(network("the server stopped honouring byte ranges (HTTP 200 to a Range request)")),
            status => Err(http_error(&response, status)),
        }
    }
}

/// `fetch(url)` with `Range: bytes=a-(b-1)` when `range` is given.
async fn request(url: &str, range: Option<Range<u64>>) -> Result<Response> {
    let init = Object::new();
    if let Some(r) = range {
        let headers = Object::new();
        set(&headers, "range", &format!("bytes={}-{}", r.start, r.end.max(r.start + 1) - 1).into());
        set(&init, "headers", &headers);
    }
    let failed = |e| network(format!("fetch failed: {}", js_message(e)));
    let response = JsFuture::from(js_fetch(url, &init).map_err(failed)?).await.map_err(failed)?;
    Ok(response.unchecked_into())
}

fn set(target: &Object, key: &str, value: &JsValue) {
    // Setting a property of a fresh plain object cannot fail.
    let _ = Reflect::set(target, &key.into(), value);
}

fn http_error(response: &Response, status: u16) -> LfmError {
    LfmError::http(status, format!("HTTP {status} {}", response.status_text()).trim_end())
}

fn network(message: impl Into<String>) -> LfmError {
    LfmError::new(Code::Network, message)
}

/// The file ended at `have` where byte `need` was expected.
fn truncated(have: u64, need: u64) -> LfmError {
    LfmError::new(Code::BadModel, format!("the file ends at byte {have}, before byte {need} (truncated file?)"))
}

/// `Content-Range: bytes a-b/total` of a response to a request from byte `asked`: `a` and the
/// total (none for `*`). Cross-origin servers may not expose the header: the range is then
/// taken to start where asked, and the total is unknown.
fn content_range(headers: &Headers, asked: u64) -> Result<(u64, Option<u64>)> {
    let Some(value) = headers.get("content-range") else {
        return Ok((asked, None));
    };
    let parse = || -> Option<(u64, Option<u64>)> {
        let (range, total) = value.strip_prefix("bytes ")?.split_once('/')?;
        let (start, _) = range.split_once('-')?;
        Some((start.trim().parse().ok()?, total.trim().parse().ok()))
    };
    parse().ok_or_else(|| network(format!("malformed Content-Range: {value:?}")))
}

async fn body_bytes(response: &Response) -> Result<Vec<u8>> {
    let failed = |e| network(format!("reading the response failed: {}", js_message(e)));
    let buffer = JsFuture::from(response.array_buffer().map_err(failed)?).await.map_err(failed)?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// The next chunk of a body stream; empty at its end.
async fn next_chunk(reader: &StreamReader) -> Result<Vec<u8>> {
    let failed = |e| network(format!("reading the response failed: {}", js_message(e)));
    let result = JsFuture::from(reader.read()).await.map_err(failed)?;
    let done = Reflect::get(&result, &"done".into()).map(|d| d.is_truthy()).unwrap_or(true);
    if done {
        return Ok(Vec::new());
    }
    let value = Reflect::get(&result, &"value".into()).map_err(failed)?;
    Ok(value.dyn_into::<Uint8Array>().map_err(|_| network("the response body is not bytes"))?.to_vec())
}

/// The message of a JS exception (`Error.message`, else its string form).
pub fn js_message(e: JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}
