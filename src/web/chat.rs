//! `ChatSession`: one conversation on a loaded [`Model`], the engine's [`Session`] for JS.
//!
//! ```js
//! const chat = model.createSession(4096);            // capacity in tokens (default: 4096)
//! const done = await chat.chat(JSON.stringify({ messages, tools, max_tokens: 64 }), (e) => {
//!   // e: {type: "text", delta} | {type: "tool_call", id, name, arguments} |
//!   //    {type: "warning", message} | {type: "done", finish_reason, usage, timings} |
//!   //    {type: "error", message}
//! });
//! chat.interrupt();   // the running chat ends within one token, finish_reason "abort"
//! chat.reset();       // forgets the conversation
//! chat.free();
//! ```
//!
//! The request is an OpenAI chat-completions body as JSON text (`JSON.stringify` on the JS
//! side; [`ChatRequest`] lists what is read, other fields are ignored). The session keeps the
//! model state between calls: a follow-up whose messages extend the previous ones prefills
//! only what is new (`usage.cached_tokens`).

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise};
use serde::Deserialize;
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::engine::{Cancel, Event, Request, Session};

use super::device;
use super::error::{Code, LfmError, Result};
use super::fetch::js_message;
use super::model::{Loaded, Model};
use super::to_js;

/// The conversation length of `createSession()` without an argument.
const DEFAULT_CAPACITY: usize = 4096;

/// The fields of an OpenAI chat-completions request that the engine uses. Absent sampling
/// fields keep the model card's defaults ([`Request::default`]).
#[derive(Deserialize)]
struct ChatRequest {
    messages: Vec<Value>,
    #[serde(default)]
    tools: Option<Vec<Value>>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    top_k: Option<usize>,
    min_p: Option<f32>,
    repetition_penalty: Option<f32>,
    seed: Option<u64>,
    max_tokens: Option<usize>,
    /// OpenAI's newer name for `max_tokens`.
    max_completion_tokens: Option<usize>,
    stop: Option<Stop>,
    /// Not OpenAI: text the answer starts with, as if the model had written it (tests make a
    /// tiny model "call" a tool with it). See [`Request::forced_output`].
    forced_output: Option<String>,
}

/// `stop`: one string or several.
#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

impl ChatRequest {
    fn parse(json: &str) -> Result<Request> {
        let r: ChatRequest =
            serde_json::from_str(json).map_err(|e| LfmError::invalid(format!("invalid request: {e}")))?;
        if r.messages.is_empty() {
            return Err(LfmError::invalid("invalid request: `messages` is empty"));
        }
        let mut req = Request { messages: r.messages, tools: r.tools.unwrap_or_default(), ..Request::default() };
        let s = &mut req.sampling;
        s.temperature = r.temperature.unwrap_or(s.temperature);
        s.top_p = r.top_p.unwrap_or(s.top_p);
        s.top_k = r.top_k.unwrap_or(s.top_k);
        s.min_p = r.min_p.unwrap_or(s.min_p);
        s.repetition_penalty = r.repetition_penalty.unwrap_or(s.repetition_penalty);
        s.seed = r.seed.unwrap_or(s.seed);
        req.max_tokens = r.max_completion_tokens.or(r.max_tokens);
        req.stop = match r.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s],
            Some(Stop::Many(v)) => v,
        };
        req.forced_output = r.forced_output;
        Ok(req)
    }
}

/// One conversation with its model state. Calls on one session run one at a time: a `chat`
/// while another is running rejects (the npm package queues them).
#[wasm_bindgen]
pub struct ChatSession {
    model: Rc<Loaded>,
    capacity: usize,
    /// `None` while a chat runs (the session is moved into its future).
    session: Rc<RefCell<Option<Session>>>,
    cancel: Cancel,
}

#[wasm_bindgen]
impl Model {
    /// A new conversation of at most `capacity` tokens (default 4096, capped at the model's
    /// context length). Its state is allocated on the GPU now.
    #[wasm_bindgen(js_name = "createSession")]
    pub fn create_session(&self, capacity: Option<u32>) -> Result<ChatSession, JsValue> {
        let fail = |e: LfmError| e.context("createSession");
        let capacity = capacity.map_or(DEFAULT_CAPACITY, |c| c as usize);
        if capacity < 2 {
            return Err(fail(LfmError::invalid(format!("capacity {capacity} is too small"))).into());
        }
        let m = &self.inner;
        device::check_alive(&m.gpu().ctx).map_err(fail)?;
        let session = Session::new(m.backend.clone(), m.tokenizer.clone(), m.template.clone(), capacity)
            .map_err(|e| fail(e.into()))?;
        Ok(ChatSession {
            model: m.clone(),
            capacity: session.capacity(),
            session: Rc::new(RefCell::new(Some(session))),
            cancel: Cancel::new(),
        })
    }
}

#[wasm_bindgen]
impl ChatSession {
    /// Runs one assistant turn for `request` (an OpenAI chat-completions body as JSON text),
    /// calling `onEvent` with each event as a plain object. Resolves with the final
    /// `{type: "done", finish_reason, usage: {prompt_tokens, cached_tokens,
    /// completion_tokens}, timings}` event; rejects with an `LfmError` whose code is
    /// `invalid_request` (a bad request), `context_overflow` (a conversation longer than the
    /// capacity), `busy` (a chat already running), `aborted` (`onEvent` threw, which also
    /// stops the generation), `gpu` or `device_lost`.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn chat(&self, request: String, #[wasm_bindgen(js_name = "onEvent")] on_event: Function) -> Promise {
        let slot = self.session.clone();
        let cancel = self.cancel.clone();
        let model = self.model.clone();
        future_to_promise(async move {
            let fail = |e: LfmError| -> JsValue { e.context("chat").into() };
            let req = ChatRequest::parse(&request).map_err(fail)?;
            device::check_alive(&model.gpu().ctx).map_err(fail)?;
            let Some(mut session) = slot.borrow_mut().take() else {
                let why = "another chat is still running on this session (await it, or interrupt() it first)";
                return Err(fail(LfmError::new(Code::Busy, why)));
            };
            let mut thrown: Option<String> = None;
            let mut emit = |event: Event| {
                if thrown.is_some() {
                    return;
                }
                let sent = serde_json::to_value(&event)
                    .map_err(|e| e.to_string())
                    .and_then(|v| to_js(&v).map_err(|_| "event is not valid JSON".to_string()))
                    .and_then(|v| {
                        on_event.call1(&JsValue::NULL, &v).map_err(|e| format!("onEvent threw: {}", js_message(e)))
                    });
                if let Err(e) = sent {
                    thrown = Some(e);
                    cancel.cancel();
                }
            };
            let result = session.generate(&req, &cancel, &mut emit).await;
            *slot.borrow_mut() = Some(session);
            if let Some(e) = thrown {
                return Err(fail(LfmError::new(Code::Aborted, e)));
            }
            let done = model.gpu_result(result).await.map_err(fail)?;
            let done = serde_json::to_value(Event::Done(done))
                .map_err(|e| fail(LfmError::new(Code::Internal, e.to_string())))?;
            to_js(&done).map_err(fail)
        })
    }

    /// Stops the running chat within one token (it resolves with finish_reason `"abort"`);
    /// nothing when none runs.
    pub fn interrupt(&self) {
        self.cancel.cancel();
    }

    /// Forgets the conversation. Throws `busy` while a chat is running, `device_lost` once
    /// the GPU device is lost.
    pub fn reset(&self) -> Result<(), JsValue> {
        let fail = |e: LfmError| -> JsValue { e.context("reset").into() };
        device::check_alive(&self.model.gpu().ctx).map_err(fail)?;
        let mut slot = self.session.borrow_mut();
        let Some(session) = slot.as_mut() else {
            let why = "a chat is running on this session (interrupt() it and await it first)";
            return Err(fail(LfmError::new(Code::Busy, why)));
        };
        session.reset().map_err(|e| fail(e.into()))
    }

    /// Tokens the session can hold (the capacity asked for, capped at the model's context).
    #[wasm_bindgen(getter)]
    pub fn capacity(&self) -> u32 {
        self.capacity as u32
    }

    /// Tokens the model state holds now (the conversation so far); 0 while a chat runs.
    #[wasm_bindgen(getter, js_name = "historyTokens")]
    pub fn history_tokens(&self) -> u32 {
        self.session.borrow().as_ref().map_or(0, |s| s.history().len() as u32)
    }

    /// The model this session runs on (kept alive by the session).
    #[wasm_bindgen(getter, js_name = "modelUrl")]
    pub fn model_url(&self) -> String {
        self.model.url.clone()
    }
}
