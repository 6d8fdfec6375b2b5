//! [`LfmError`]: every failure of the browser API, thrown to JS as an `Error` whose `name` is
//! `"LfmError"` and whose `code` says what kind of failure it is (the list is in the module
//! header of `src/web/mod.rs`), so the npm package can react to the kind (retry a download,
//! reload after a lost device) without parsing messages. HTTP failures also carry `status`.
//!
//! The `From` impls classify the crate's own error types; call sites add what was being done
//! with [`LfmError::context`] (`"generate: ..."`).

use js_sys::Reflect;
use wasm_bindgen::prelude::*;

use crate::chat::template::TemplateError;
use crate::engine::EngineError;
use crate::gguf::GgufError;
use crate::gpu::GpuError;
use crate::model::ModelError;
use crate::quant::QuantError;
use crate::tokenizer::TokenizerError;

/// The kind of failure: the JS `code` property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// The server answered with an HTTP error status (`status` holds it).
    Http,
    /// The request failed (no connection, CORS, a body cut off), or reading a Blob failed.
    Network,
    /// Not a GGUF file, a truncated or corrupt file, bad shapes or metadata.
    BadModel,
    /// A valid file this runtime (or this GPU's limits) cannot run: architecture, tensor type.
    Unsupported,
    /// WebGPU is unavailable or reported an error.
    Gpu,
    /// The GPU ran out of memory while the weights were uploaded.
    OutOfMemory,
    /// The GPU device was lost (driver reset, `destroyDevice()`): load the model again.
    DeviceLost,
    /// More tokens than the model's context (or the session's capacity) holds.
    ContextOverflow,
    /// A bad argument: request JSON, options, token ids, empty input.
    InvalidRequest,
    /// A chat is already running on the session.
    Busy,
    /// Stopped by the caller: `onProgress` threw, the load's `signal` aborted, `onEvent` threw.
    Aborted,
    /// A bug here.
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Http => "http",
            Code::Network => "network",
            Code::BadModel => "bad_model",
            Code::Unsupported => "unsupported",
            Code::Gpu => "gpu",
            Code::OutOfMemory => "out_of_memory",
            Code::DeviceLost => "device_lost",
            Code::ContextOverflow => "context_overflow",
            Code::InvalidRequest => "invalid_request",
            Code::Busy => "busy",
            Code::Aborted => "aborted",
            Code::Internal => "internal",
        }
    }
}

/// A failure with its [`Code`], converted to a JS `Error` at the wasm boundary.
#[derive(Debug)]
pub struct LfmError {
    pub code: Code,
    pub message: String,
    /// The HTTP status, for [`Code::Http`].
    pub status: Option<u16>,
}

pub type Result<T, E = LfmError> = std::result::Result<T, E>;

impl LfmError {
    pub fn new(code: Code, message: impl Into<String>) -> LfmError {
        LfmError { code, message: message.into(), status: None }
    }

    pub fn http(status: u16, message: impl Into<String>) -> LfmError {
        LfmError { code: Code::Http, message: message.into(), status: Some(status) }
    }

    pub fn invalid(message: impl Into<String>) -> LfmError {
        LfmError::new(Code::InvalidRequest, message)
    }

    /// The device is lost (`why`: wgpu's reason and the browser's message).
    pub fn device_lost(why: &str) -> LfmError {
        LfmError::new(
            Code::DeviceLost,
            format!("the GPU device was lost ({why}); the model must be loaded again (Model.load)"),
        )
    }

    /// Prefixes the message with what was being done: `"{what}: {message}"`.
    pub fn context(mut self, what: &str) -> LfmError {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl From<LfmError> for JsValue {
    fn from(e: LfmError) -> JsValue {
        let error = js_sys::Error::new(&e.message);
        error.set_name("LfmError");
        // Setting a property of a fresh Error cannot fail.
        let _ = Reflect::set(&error, &"code".into(), &e.code.as_str().into());
        if let Some(status) = e.status {
            let _ = Reflect::set(&error, &"status".into(), &status.into());
        }
        error.into()
    }
}

impl From<GgufError> for LfmError {
    fn from(e: GgufError) -> LfmError {
        let code = match e {
            GgufError::UnsupportedVersion(_) | GgufError::UnknownTensorType { .. } => Code::Unsupported,
            _ => Code::BadModel,
        };
        LfmError::new(code, e.to_string())
    }
}

impl From<QuantError> for LfmError {
    fn from(e: QuantError) -> LfmError {
        let code = match e {
            QuantError::Unsupported(_) => Code::Unsupported,
            _ => Code::BadModel,
        };
        LfmError::new(code, e.to_string())
    }
}

impl From<GpuError> for LfmError {
    fn from(e: GpuError) -> LfmError {
        let code = match e {
            GpuError::NoAdapter(_)
            | GpuError::RequestDevice(_)
            | GpuError::Readback(_)
            | GpuError::Shader(_)
            | GpuError::Device(_) => Code::Gpu,
            // A tensor this device's binding limit cannot hold, even split.
            GpuError::BindingTooLarge { .. } | GpuError::Unsupported(_) => Code::Unsupported,
            // A tensor whose bytes do not match its shape.
            GpuError::Shape(_) => Code::BadModel,
        };
        LfmError::new(code, e.to_string())
    }
}

impl From<ModelError> for LfmError {
    fn from(e: ModelError) -> LfmError {
        let code = match e {
            ModelError::Gguf(e) => return e.into(),
            ModelError::Quant(e) => return e.into(),
            ModelError::Gpu(e) => return e.into(),
            ModelError::UnsupportedArch(_) | ModelError::UnsupportedType { .. } => Code::Unsupported,
            ModelError::BadConfig(_) | ModelError::WrongShape { .. } => Code::BadModel,
            ModelError::ContextOverflow { .. } => Code::ContextOverflow,
            ModelError::EmptyInput | ModelError::TokenOutOfRange { .. } => Code::InvalidRequest,
            ModelError::BadCheckpoint { .. } | ModelError::ForeignState => Code::Internal,
        };
        LfmError::new(code, e.to_string())
    }
}

/// Tokenizer errors while running (a bad id); those of loading are [`tokenizer_load_error`].
impl From<TokenizerError> for LfmError {
    fn from(e: TokenizerError) -> LfmError {
        let code = match e {
            TokenizerError::IdOutOfRange { .. } => Code::InvalidRequest,
            _ => Code::Internal,
        };
        LfmError::new(code, e.to_string())
    }
}

/// Template errors while rendering a request: the messages do not fit the template.
impl From<TemplateError> for LfmError {
    fn from(e: TemplateError) -> LfmError {
        let code = match e {
            TemplateError::Syntax(_) => Code::BadModel,
            _ => Code::InvalidRequest,
        };
        LfmError::new(code, e.to_string())
    }
}

impl From<EngineError> for LfmError {
    fn from(e: EngineError) -> LfmError {
        match e {
            EngineError::Model(e) => e.into(),
            EngineError::Template(e) => e.into(),
            EngineError::Tokenizer(e) => e.into(),
            EngineError::ContextOverflow { .. } => LfmError::new(Code::ContextOverflow, e.to_string()),
        }
    }
}

/// A tokenizer that cannot be built from the file's metadata.
pub fn tokenizer_load_error(e: TokenizerError) -> LfmError {
    let code = match e {
        TokenizerError::UnsupportedModel(_) | TokenizerError::UnsupportedPre(_) => Code::Unsupported,
        TokenizerError::Gguf(e) => return LfmError::from(e).context("tokenizer"),
        _ => Code::BadModel,
    };
    LfmError::new(code, e.to_string()).context("tokenizer")
}
