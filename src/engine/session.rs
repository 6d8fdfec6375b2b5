//! A conversation's state and the generation loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use web_time::Instant;

use super::{Backend, Done, EngineError, Event, FinishReason, Request, SavedState, Sequence, Timings, Usage};
use super::{StopMatcher, StopResult, TextStream};
use crate::chat::template::{ChatTemplate, RenderExtra};
use crate::chat::tool_calls::{ParseEvent, ToolCallParser};
use crate::reference::Logits;
use crate::sampling::Sampler;
use crate::tokenizer::Tokenizer;

/// Stops a running generation within one token. Clones share the flag.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    /// Clears the flag (a generation clears it when it starts, too).
    pub fn reset(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// Saved states kept for rewinding: enough for editing any of the last few turns.
const MAX_SAVED: usize = 32;

/// Prompt tokens fed between two looks at the cancel flag during a prefill: one GPU step by
/// default, so the chunks do not change how the GPU splits the prompt.
const PREFILL_CHUNK: usize = crate::gpu::PREFILL_BATCH;

pub struct Session {
    backend: Arc<Backend>,
    tokenizer: Arc<Tokenizer>,
    template: Arc<ChatTemplate>,
    capacity: usize,
    seq: Sequence,
    /// Every token the state has consumed, in order.
    history: Vec<u32>,
    /// States at turn boundaries, by increasing position, to rewind to (conv state cannot be
    /// cut back, so an edited turn resumes from the last boundary before the edit).
    saved: Vec<SavedState>,
    /// Variables and clock for the template (e.g. a fixed date in tests).
    pub render_extra: RenderExtra,
}

impl Session {
    /// A conversation of at most `capacity` tokens (capped at the model's context length).
    pub fn new(
        backend: Arc<Backend>,
        tokenizer: Arc<Tokenizer>,
        template: Arc<ChatTemplate>,
        capacity: usize,
    ) -> Result<Session, EngineError> {
        let capacity = capacity.min(backend.config().context_length);
        let seq = backend.new_sequence(capacity)?;
        Ok(Session {
            backend,
            tokenizer,
            template,
            capacity,
            seq,
            history: Vec::new(),
            saved: Vec::new(),
            render_extra: RenderExtra::default(),
        })
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The tokens the model state holds now.
    pub fn history(&self) -> &[u32] {
        &self.history
    }

    /// Forgets the conversation (a new chat).
    pub fn reset(&mut self) -> Result<(), EngineError> {
        self.seq = self.backend.new_sequence(self.capacity)?;
        self.history.clear();
        self.saved.clear();
        Ok(())
    }

    /// The request's messages rendered by the model's template, as tokens (the template
    /// writes BOS itself, so none is added).
    pub fn prompt_tokens(&self, req: &Request) -> Result<Vec<u32>, EngineError> {
        let tools = (!req.tools.is_empty()).then_some(req.tools.as_slice());
        let text = self.template.render(&req.messages, tools, true, &self.render_extra)?;
        Ok(self.tokenizer.encode(&text, false)?)
    }

    /// Runs one assistant turn for `req`, calling `on_event` with every event (the last is
    /// `Done`, or `Error` when this returns an error).
    pub async fn generate(
        &mut self,
        req: &Request,
        cancel: &Cancel,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Done, EngineError> {
        match self.run(req, cancel, on_event).await {
            Ok(done) => {
                on_event(Event::Done(done.clone()));
                Ok(done)
            }
            Err(e) => {
                on_event(Event::Error { message: e.to_string() });
                Err(e)
            }
        }
    }

    async fn run(
        &mut self,
        req: &Request,
        cancel: &Cancel,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Done, EngineError> {
        cancel.reset();
        let prompt = self.prompt_tokens(req)?;
        if prompt.len() >= self.capacity {
            return Err(EngineError::ContextOverflow { needed: prompt.len() + 1, limit: self.capacity });
        }
        let cached = self.rewind_to_prefix(&prompt)?;

        let mut sampler = Sampler::new(req.sampling.clone());
        prompt.iter().for_each(|&t| sampler.accept(t));
        let started = Instant::now();
        let forced = match &req.forced_output {
            Some(text) => self.tokenizer.encode(text, false)?,
            None => Vec::new(),
        };
        let mut forced = forced.into_iter();
        // Save the state one token before the prompt's end: a regenerated answer (same prompt)
        // resumes there, since the last prompt token must be fed again for its logits.
        let last = prompt.len() - 1;
        // In chunks, each done before the next is sent, so an interrupt stops a long prefill
        // within one chunk. What was fed stays in the state: the same prompt asked again
        // resumes from there.
        for (i, chunk) in prompt[cached..last].chunks(PREFILL_CHUNK).enumerate() {
            if i > 0 {
                self.backend.wait_idle().await?;
            }
            if cancel.is_cancelled() {
                return Ok(Done {
                    finish_reason: FinishReason::Abort,
                    usage: Usage { prompt_tokens: prompt.len(), cached_tokens: cached, completion_tokens: 0 },
                    timings: Timings { prefill_ms: 1e3 * started.elapsed().as_secs_f64(), ..Timings::default() },
                });
            }
            self.backend.forward(&mut self.seq, chunk, Logits::None).await?;
            self.history.extend_from_slice(chunk);
        }
        self.save_state()?;
        let mut next = self.backend.next_token(&mut self.seq, &prompt[last..], &mut sampler).await?;
        next = overrule(&mut sampler, forced.next(), next);
        self.history.push(prompt[last]);
        // And at its end: a follow-up whose rendering of this answer differs from the sampled
        // tokens (tokenization is not unique) resumes here.
        self.save_state()?;
        let prefill_s = started.elapsed().as_secs_f64();

        let decode_start = Instant::now();
        let mut out = Output::new(req);
        let mut generated: Vec<u32> = Vec::new();
        let eos = self.tokenizer.eos_id();
        let finish = loop {
            if cancel.is_cancelled() {
                break FinishReason::Abort;
            }
            if Some(next) == eos {
                // Feed the end of turn too: the next turn's rendering starts with it.
                self.backend.forward(&mut self.seq, &[next], Logits::None).await?;
                self.history.push(next);
                self.save_state()?;
                break if out.tool_calls > 0 { FinishReason::ToolCalls } else { FinishReason::Stop };
            }
            generated.push(next);
            if out.push_token(&self.tokenizer, next, on_event)? {
                break FinishReason::Stop;
            }
            if req.loop_guard.detect(&generated).is_some() {
                break FinishReason::Loop;
            }
            if req.max_tokens.is_some_and(|m| generated.len() >= m) || self.history.len() + 1 >= self.capacity {
                break FinishReason::Length;
            }
            let token = next;
            next = self.backend.next_token(&mut self.seq, &[token], &mut sampler).await?;
            next = overrule(&mut sampler, forced.next(), next);
            self.history.push(token);
        };
        out.finish(&self.tokenizer, on_event)?;

        let decode_s = decode_start.elapsed().as_secs_f64();
        let rate = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
        Ok(Done {
            finish_reason: finish,
            usage: Usage { prompt_tokens: prompt.len(), cached_tokens: cached, completion_tokens: generated.len() },
            timings: Timings {
                prefill_ms: 1e3 * prefill_s,
                decode_ms: 1e3 * decode_s,
                prefill_tokens_per_s: rate(prompt.len() - cached, prefill_s),
                decode_tokens_per_s: rate(generated.len().saturating_sub(1), decode_s),
            },
        })
    }

    /// Brings the state to the longest prefix of `prompt` it can reach without recomputing
    /// and returns its length. At least one prompt token is always left to feed (its logits
    /// pick the first new token). Going back means returning to the last saved turn boundary
    /// at or before the divergence, or to the start.
    fn rewind_to_prefix(&mut self, prompt: &[u32]) -> Result<usize, EngineError> {
        let common = self.history.iter().zip(prompt).take_while(|(a, b)| a == b).count();
        let keep = common.min(prompt.len() - 1);
        if keep == self.history.len() {
            return Ok(keep);
        }
        match self.saved.iter().rposition(|s| s.pos() <= keep) {
            Some(i) => {
                self.saved.truncate(i + 1);
                self.backend.restore(&mut self.seq, &self.saved[i])?;
                self.history.truncate(self.saved[i].pos());
            }
            None => self.reset()?,
        }
        Ok(self.history.len())
    }

    fn save_state(&mut self) -> Result<(), EngineError> {
        if self.saved.last().is_some_and(|s| s.pos() == self.history.len()) {
            return Ok(());
        }
        if self.saved.len() == MAX_SAVED {
            self.saved.remove(0);
        }
        self.saved.push(self.backend.checkpoint(&self.seq)?);
        Ok(())
    }
}

/// The forced token when there is one (telling the sampler), else the sampled one.
fn overrule(sampler: &mut Sampler, forced: Option<u32>, sampled: u32) -> u32 {
    match forced {
        Some(t) => {
            sampler.overrule(t);
            t
        }
        None => sampled,
    }
}

/// Generated tokens to events: detokenize, cut at stop strings, split out tool calls.
struct Output {
    text: TextStream,
    stop: StopMatcher,
    calls: ToolCallParser,
    tool_calls: usize,
}

impl Output {
    fn new(req: &Request) -> Output {
        Output {
            text: TextStream::new(),
            stop: StopMatcher::new(&req.stop),
            calls: ToolCallParser::new(req.tool_format),
            tool_calls: 0,
        }
    }

    /// Emits what `token` completes; true when a stop string was reached.
    fn push_token(
        &mut self,
        tok: &Tokenizer,
        token: u32,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<bool, EngineError> {
        let delta = self.text.push(tok, token)?;
        let (shown, stopped) = match self.stop.push(&delta) {
            StopResult::Continue(t) => (t, false),
            StopResult::Stop(t) => (t, true),
        };
        let events = self.calls.push(&shown);
        self.emit(events, on_event);
        Ok(stopped)
    }

    fn finish(&mut self, tok: &Tokenizer, on_event: &mut dyn FnMut(Event)) -> Result<(), EngineError> {
        let rest = self.text.finish(tok)?;
        let shown = match self.stop.push(&rest) {
            StopResult::Continue(t) => t + &self.stop.finish(),
            StopResult::Stop(t) => t,
        };
        let mut events = self.calls.push(&shown);
        events.extend(self.calls.finish());
        self.emit(events, on_event);
        Ok(())
    }

    fn emit(&mut self, events: Vec<ParseEvent>, on_event: &mut dyn FnMut(Event)) {
        for e in events {
            on_event(match e {
                ParseEvent::Text(delta) if delta.is_empty() => continue,
                ParseEvent::Text(delta) => Event::Text { delta },
                ParseEvent::ToolCall { id, name, arguments } => {
                    self.tool_calls += 1;
                    Event::ToolCall { id, name, arguments }
                }
                ParseEvent::Malformed { diagnostic, .. } => {
                    Event::Warning { message: format!("unparsed tool call shown as text: {diagnostic}") }
                }
            });
        }
    }
}
