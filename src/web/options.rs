//! The optional last arguments of `Model.load` and `model.generate`: plain JS objects, checked
//! here so a typo or an out-of-range value is an `invalid_request` error rather than silently
//! ignored.

use js_sys::{Object, Reflect};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::gpu::{ContextOptions, KvPrecision};
use crate::sampling::SamplingParams;

use super::error::{Code, LfmError, Result};
use super::fetch::js_message;

#[wasm_bindgen(typescript_custom_section)]
const OPTION_TYPES: &str = r#"
/** `Model.load`'s options. */
export interface LoadOptions {
  /** Most bytes one GPU storage binding may hold (mobile GPUs: 128 MiB); weights are split to fit. */
  maxBindingBytes?: number;
  /** How the KV cache keeps K and V: 'f16' (default, half the memory) or 'f32' (exact). */
  kvCache?: 'f16' | 'f32';
  /** Weights in GPU textures (true) or storage buffers (false) instead of the adapter's default (textures on CPU adapters): for measuring. */
  weightTextures?: boolean;
  /** Stops the load (code `aborted`) between two requests once it fires. */
  signal?: AbortSignal;
}
/** `model.generate`'s options; without them decoding is greedy and stops only at `maxTokens`. */
export interface GenerateOptions {
  temperature?: number;
  top_k?: number;
  top_p?: number;
  min_p?: number;
  repetition_penalty?: number;
  seed?: number;
  /** Token ids that end the generation; the stop id is the last one returned. */
  stop?: number[];
}
"#;

#[wasm_bindgen]
extern "C" {
    /// A `LoadOptions` object (checked by [`LoadOptions::parse`]).
    #[wasm_bindgen(typescript_type = "LoadOptions")]
    pub type JsLoadOptions;
    /// A `GenerateOptions` object (checked by [`Generation::parse`]).
    #[wasm_bindgen(typescript_type = "GenerateOptions")]
    pub type JsGenerateOptions;
}

/// `Model.load(source, onProgress, { maxBindingBytes?, kvCache?, weightTextures?, signal? })`.
#[derive(Default)]
pub struct LoadOptions {
    /// The device options: `maxBindingBytes` lowers the storage-binding limit,
    /// `weightTextures` overrides where the weights are kept.
    pub context: ContextOptions,
    /// `kvCache`: how the model's states keep K and V.
    pub kv_precision: KvPrecision,
    /// An `AbortSignal`: the load stops with `aborted` between two requests once it fires.
    signal: Option<JsValue>,
}

impl LoadOptions {
    pub fn parse(options: Option<JsLoadOptions>) -> Result<LoadOptions> {
        let Some(options) = options.map(JsValue::from).filter(|o| !o.is_undefined() && !o.is_null()) else {
            return Ok(LoadOptions::default());
        };
        let Some(object) = options.dyn_ref::<Object>() else {
            return Err(LfmError::invalid("options must be an object"));
        };
        for key in Object::keys(object).iter() {
            let key = key.as_string().unwrap_or_default();
            if !["maxBindingBytes", "kvCache", "weightTextures", "signal"].contains(&key.as_str()) {
                return Err(LfmError::invalid(format!(
                    "unknown option `{key}` (known: maxBindingBytes, kvCache, weightTextures, signal)"
                )));
            }
        }
        let get = |key: &str| Reflect::get(object, &key.into()).ok().filter(|v| !v.is_undefined() && !v.is_null());
        let mut parsed = LoadOptions::default();
        if let Some(v) = get("maxBindingBytes") {
            let bytes = v.as_f64().filter(|b| b.fract() == 0.0 && (4.0..=9.007_199_254_740_991e15).contains(b));
            let Some(bytes) = bytes else {
                return Err(LfmError::invalid(format!(
                    "options.maxBindingBytes must be a whole number of bytes, at least 4 (got {})",
                    js_sys::JSON::stringify(&v).ok().and_then(|s| s.as_string()).unwrap_or_else(|| js_message(v))
                )));
            };
            parsed.context.max_binding_bytes = Some(bytes as u64);
        }
        if let Some(v) = get("kvCache") {
            parsed.kv_precision = match v.as_string().as_deref() {
                Some("f16") => KvPrecision::F16,
                Some("f32") => KvPrecision::F32,
                _ => {
                    let shown =
                        js_sys::JSON::stringify(&v).ok().and_then(|s| s.as_string()).unwrap_or_else(|| js_message(v));
                    return Err(LfmError::invalid(format!("options.kvCache must be 'f16' or 'f32' (got {shown})")));
                }
            };
        }
        if let Some(v) = get("weightTextures") {
            let Some(on) = v.as_bool() else {
                return Err(LfmError::invalid("options.weightTextures must be true or false"));
            };
            parsed.context.weight_textures = Some(on);
        }
        if let Some(signal) = get("signal") {
            if !signal.is_object() {
                return Err(LfmError::invalid("options.signal must be an AbortSignal"));
            }
            parsed.signal = Some(signal);
        }
        Ok(parsed)
    }

    /// Fails with `aborted` (and the signal's reason) once the signal has fired.
    pub fn check_signal(&self) -> Result<()> {
        let Some(signal) = &self.signal else { return Ok(()) };
        let aborted = Reflect::get(signal, &"aborted".into()).is_ok_and(|a| a.is_truthy());
        if !aborted {
            return Ok(());
        }
        let reason = Reflect::get(signal, &"reason".into()).ok().filter(|r| !r.is_undefined());
        let why = reason.map_or_else(|| "the signal was aborted".to_string(), js_message);
        Err(LfmError::new(Code::Aborted, format!("aborted: {why}")))
    }
}

/// `model.generate(tokens, maxTokens, options)`: OpenAI's sampling names, and stop token ids.
/// Absent fields keep greedy decoding ([`SamplingParams::default`]) and no stop token.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateOptions {
    temperature: Option<f32>,
    top_k: Option<usize>,
    top_p: Option<f32>,
    min_p: Option<f32>,
    repetition_penalty: Option<f32>,
    seed: Option<u64>,
    /// Token ids that end the generation (the stop id is the last one returned).
    stop: Option<Vec<u32>>,
}

/// What `generate` runs with: the sampler's settings and the stop ids.
pub struct Generation {
    pub sampling: SamplingParams,
    pub stop: Vec<u32>,
}

impl Generation {
    /// Parses `options` (a plain object, through `JSON.stringify`) and checks every value.
    pub fn parse(options: Option<JsGenerateOptions>, vocab: usize) -> Result<Generation> {
        let o: GenerateOptions = match options.map(JsValue::from).filter(|o| !o.is_undefined() && !o.is_null()) {
            None => GenerateOptions::default(),
            Some(v) => {
                let json = js_sys::JSON::stringify(&v)
                    .ok()
                    .and_then(|s| s.as_string())
                    .ok_or_else(|| LfmError::invalid("options cannot be converted to JSON"))?;
                serde_json::from_str(&json).map_err(|e| LfmError::invalid(format!("invalid options: {e}")))?
            }
        };
        let mut s = SamplingParams::default();
        let check = |ok: bool, name: &str, want: &str, value: f32| {
            if ok {
                Ok(())
            } else {
                Err(LfmError::invalid(format!("options.{name} must be {want} (got {value})")))
            }
        };
        if let Some(t) = o.temperature {
            check(t.is_finite() && t >= 0.0, "temperature", "a number >= 0", t)?;
            s.temperature = t;
        }
        if let Some(p) = o.top_p {
            check(p > 0.0 && p <= 1.0, "top_p", "in (0, 1]", p)?;
            s.top_p = p;
        }
        if let Some(p) = o.min_p {
            check((0.0..=1.0).contains(&p), "min_p", "in [0, 1]", p)?;
            s.min_p = p;
        }
        if let Some(r) = o.repetition_penalty {
            check(r.is_finite() && r > 0.0, "repetition_penalty", "a number > 0", r)?;
            s.repetition_penalty = r;
        }
        s.top_k = o.top_k.unwrap_or(s.top_k);
        s.seed = o.seed.unwrap_or(s.seed);
        let stop = o.stop.unwrap_or_default();
        if let Some(id) = stop.iter().find(|&&id| id as usize >= vocab) {
            return Err(LfmError::invalid(format!(
                "options.stop: token id {id} is outside the vocabulary of {vocab} tokens"
            )));
        }
        Ok(Generation { sampling: s, stop })
    }
}
