//! The generation engine end to end on fixture models: template, tokenizer, state reuse
//! across turns, rewinds, tool calls, stop conditions and cancellation.

mod common;

use std::sync::Arc;

use common::gguf_path;
use lfm_webgpu::chat::template::{ChatTemplate, DateTime, RenderExtra};
use lfm_webgpu::engine::{Backend, Cancel, Done, EngineError, Event, FinishReason, Request, Session};
use lfm_webgpu::gguf::GgufFile;
use lfm_webgpu::gpu::GpuContext;
use lfm_webgpu::model::SharedBytes;
use lfm_webgpu::sampling::SamplingParams;
use lfm_webgpu::tokenizer::Tokenizer;
use serde_json::{json, Value};

struct Model {
    backend: Arc<Backend>,
    tokenizer: Arc<Tokenizer>,
    template: Arc<ChatTemplate>,
}

fn model(name: &str, variant: &str, gpu: bool) -> Model {
    let file = GgufFile::open(gguf_path(name, variant)).unwrap();
    let ctx = gpu.then(|| Arc::new(GpuContext::new_blocking().unwrap()));
    let backend = Backend::new(ctx, &file.header, &SharedBytes::new(file.shared_bytes())).unwrap();
    Model {
        backend: Arc::new(backend),
        tokenizer: Arc::new(Tokenizer::from_gguf(&file.header).unwrap()),
        template: Arc::new(ChatTemplate::from_gguf(&file.header).unwrap()),
    }
}

fn session(m: &Model, capacity: usize) -> Session {
    let mut s = Session::new(m.backend.clone(), m.tokenizer.clone(), m.template.clone(), capacity).unwrap();
    s.render_extra = RenderExtra::default().now(DateTime::date(2026, 1, 15));
    s
}

/// Greedy, a few tokens, no stop conditions but the ones a test sets.
fn request(messages: Vec<Value>, max_tokens: usize) -> Request {
    Request { messages, sampling: SamplingParams::default(), max_tokens: Some(max_tokens), ..Default::default() }
}

/// Runs a turn; returns the events and the final `Done`.
fn turn(s: &mut Session, req: &Request) -> (Vec<Event>, Result<Done, EngineError>) {
    let mut events = Vec::new();
    let done = pollster::block_on(s.generate(req, &Cancel::new(), &mut |e| events.push(e)));
    (events, done)
}

fn text_of(events: &[Event]) -> String {
    events.iter().filter_map(|e| if let Event::Text { delta } = e { Some(delta.as_str()) } else { None }).collect()
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

/// A follow-up turn prefills only the new tokens, and gives exactly what a fresh session
/// computing the whole conversation gives; editing the last user message rewinds correctly.
#[test]
fn follow_up_turns_reuse_state_and_match_a_fresh_session() {
    let m = model("tiny-moe", "q8_0", false);
    let mut s = session(&m, 512);
    let first = vec![user("Write a haiku about small language models.")];
    let (ev1, done1) = turn(&mut s, &request(first.clone(), 6));
    let done1 = done1.unwrap();
    assert_eq!(done1.usage.cached_tokens, 0);
    assert_eq!(done1.usage.completion_tokens, 6);
    assert_eq!(done1.finish_reason, FinishReason::Length);

    let mut second = first.clone();
    second.push(json!({"role": "assistant", "content": text_of(&ev1)}));
    second.push(user("Now one about GPUs."));
    let (ev2, done2) = turn(&mut s, &request(second.clone(), 6));
    let done2 = done2.unwrap();
    assert!(
        done2.usage.cached_tokens >= done1.usage.prompt_tokens,
        "turn 2 reused {} of turn 1's {} prompt tokens",
        done2.usage.cached_tokens,
        done1.usage.prompt_tokens
    );
    assert!(done2.usage.cached_tokens < done2.usage.prompt_tokens);

    let (fresh_ev2, fresh2) = turn(&mut session(&m, 512), &request(second.clone(), 6));
    assert_eq!(text_of(&ev2), text_of(&fresh_ev2), "reused state gives the same answer as a fresh session");
    assert_eq!(fresh2.unwrap().usage.cached_tokens, 0);

    // Edit the last user message: the state goes back to the end of turn 1's prompt at most.
    let mut edited = second.clone();
    *edited.last_mut().unwrap() = user("Now one about the sea.");
    let (ev3, done3) = turn(&mut s, &request(edited.clone(), 6));
    let done3 = done3.unwrap();
    assert!(done3.usage.cached_tokens > 0 && done3.usage.cached_tokens < done2.usage.prompt_tokens);
    let (fresh_ev3, _) = turn(&mut session(&m, 512), &request(edited, 6));
    assert_eq!(text_of(&ev3), text_of(&fresh_ev3), "after a rewind the answer equals a fresh session's");

    // Regenerate the first answer: back to turn 1's prompt, same greedy answer as before.
    let (ev4, done4) = turn(&mut s, &request(first, 6));
    assert_eq!(text_of(&ev4), text_of(&ev1));
    assert_eq!(done4.unwrap().usage.cached_tokens, done1.usage.prompt_tokens - 1);
}

/// The full tool round trip on the GPU: the model's tool call (forced as its output, since a
/// random tiny model cannot write one) is parsed into a ToolCall event; the tool result is
/// sent back and the second turn prefills only the tokens after the first turn's.
#[test]
fn tool_round_trip_on_the_gpu() {
    let m = model("small-moe", "q4_k_m", true); // LFM2.5 template: tool results as `tool` turns
    let mut s = session(&m, 1024);
    let tools = vec![json!({"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}}})];
    let messages = vec![
        json!({"role": "system", "content": "You are a helpful assistant."}),
        user("Weather in Paris for 3 days?"),
    ];
    let call_text = "<|tool_call_start|>[get_weather(city='Paris', days=3)]<|tool_call_end|>";
    let req = Request {
        tools: tools.clone(),
        forced_output: Some(format!("{call_text}<|im_end|>")),
        ..request(messages.clone(), 64)
    };
    let (events, done) = turn(&mut s, &req);
    let done = done.unwrap();
    assert_eq!(done.finish_reason, FinishReason::ToolCalls, "{events:?}");
    let calls: Vec<&Event> = events.iter().filter(|e| matches!(e, Event::ToolCall { .. })).collect();
    assert_eq!(calls.len(), 1, "{events:?}");
    let Event::ToolCall { id, name, arguments } = calls[0] else { unreachable!() };
    assert_eq!(name, "get_weather");
    assert_eq!(arguments, &json!({"city": "Paris", "days": 3}));
    assert_eq!(text_of(&events), "", "the call is not shown as text");
    assert!(matches!(events.last(), Some(Event::Done(_))));

    let mut messages = messages;
    messages.push(json!({"role": "assistant", "content": "", "tool_calls": [
        {"id": id, "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}}]}));
    messages.push(json!({"role": "tool", "tool_call_id": id, "content": "{\"forecast\": \"sunny\", \"high_c\": 21}"}));
    let req2 = Request { tools, ..request(messages, 4) };
    let prompt2 = s.prompt_tokens(&req2).unwrap();
    let before = s.history().to_vec();
    let (_, done2) = turn(&mut s, &req2);
    let done2 = done2.unwrap();
    let shared = before.iter().zip(&prompt2).take_while(|(a, b)| a == b).count();
    assert_eq!(done2.usage.cached_tokens, shared, "turn 2 reuses exactly the common prefix");
    assert!(
        shared >= done.usage.prompt_tokens,
        "turn 2 reused the whole first prompt ({shared} of {})",
        done.usage.prompt_tokens
    );
    assert_eq!(done2.usage.prompt_tokens, prompt2.len());
}

#[test]
fn context_overflow_is_a_clear_error_and_the_session_survives() {
    let m = model("tiny-dense", "q8_0", false);
    let mut s = session(&m, 24);
    let long = vec![user(&"many words ".repeat(40))];
    let (events, done) = turn(&mut s, &request(long, 4));
    let err = done.unwrap_err();
    assert!(matches!(err, EngineError::ContextOverflow { limit: 24, .. }), "{err}");
    assert!(err.to_string().contains("context"));
    assert!(matches!(events.last(), Some(Event::Error { .. })));
    // A short conversation still works, and generation stops at the context's end.
    let (_, done) = turn(&mut s, &request(vec![user("Hi")], 100));
    let done = done.unwrap();
    assert_eq!(done.finish_reason, FinishReason::Length);
    assert!(done.usage.prompt_tokens + done.usage.completion_tokens <= 24);
}

#[test]
fn cancel_stops_within_one_token() {
    let m = model("tiny-moe", "q4_0", false);
    let mut s = session(&m, 256);
    let cancel = Cancel::new();
    let mut events = Vec::new();
    let mut seen = 0;
    let handle = cancel.clone();
    let done = pollster::block_on(s.generate(&request(vec![user("Count to a hundred.")], 50), &cancel, &mut |e| {
        if matches!(e, Event::Text { .. }) {
            seen += 1;
            handle.cancel();
        }
        events.push(e);
    }))
    .unwrap();
    assert_eq!(done.finish_reason, FinishReason::Abort);
    assert!(done.usage.completion_tokens <= 2, "{} tokens after cancel", done.usage.completion_tokens);
    // The next turn runs normally (the flag is cleared).
    let (_, again) = turn(&mut s, &request(vec![user("Count to a hundred.")], 3));
    assert_eq!(again.unwrap().finish_reason, FinishReason::Length);
    assert!(seen >= 1);
}

/// An interrupt during a long prefill stops it within one chunk of the prompt: the turn ends
/// with `Abort` and no answer, what was fed stays in the state, and the same request asked
/// again resumes from there and gives the answer of an uninterrupted session. On the reference
/// and on the GPU (where a step only submits work: the chunks must be waited for).
#[test]
fn cancel_during_prefill_stops_it_and_the_conversation_resumes() {
    for gpu in [false, true] {
        cancel_during_prefill(&model("tiny-moe", "q8_0", gpu));
    }
}

fn cancel_during_prefill(m: &Model) {
    let long = request(vec![user(&"Tell me about the sea and the sky. ".repeat(150))], 4);
    let (clean_events, clean) = turn(&mut session(m, 4096), &long);
    let clean = clean.unwrap();
    assert!(clean.usage.prompt_tokens > 1000, "{} prompt tokens", clean.usage.prompt_tokens);
    let prefill = std::time::Duration::from_secs_f64(clean.timings.prefill_ms / 1e3);

    // Interrupted a quarter of the way in (a thread: nothing else runs during a prefill).
    let mut s = session(m, 4096);
    let cancel = Cancel::new();
    let timer = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(prefill / 4);
            cancel.cancel();
        })
    };
    let mut events = Vec::new();
    let done = pollster::block_on(s.generate(&long, &cancel, &mut |e| events.push(e))).unwrap();
    timer.join().unwrap();
    assert_eq!(done.finish_reason, FinishReason::Abort);
    assert_eq!(done.usage.completion_tokens, 0);
    assert_eq!(text_of(&events), "");
    let fed = s.history().len();
    assert!(fed < clean.usage.prompt_tokens - 1, "the prefill ran to its end ({fed} tokens) despite the interrupt");

    let (events, again) = turn(&mut s, &long);
    let again = again.unwrap();
    assert_eq!(again.usage.cached_tokens, fed, "the interrupted prefill's tokens are reused");
    assert_eq!(text_of(&events), text_of(&clean_events), "the resumed answer equals the uninterrupted one");
}

#[test]
fn stop_strings_and_loops_end_generation() {
    let m = model("tiny-moe", "q8_0", false);
    let mut s = session(&m, 512);
    // A forced answer containing a stop string: the text before it is shown, not the string.
    let req = Request {
        stop: vec!["STOP".into()],
        forced_output: Some("Hello there STOP and more".into()),
        ..request(vec![user("Hi")], 40)
    };
    let (events, done) = turn(&mut s, &req);
    assert_eq!(done.unwrap().finish_reason, FinishReason::Stop);
    assert_eq!(text_of(&events), "Hello there ");

    // A forced answer that repeats itself trips the loop guard.
    let req = Request { forced_output: Some("la la la ".repeat(40)), ..request(vec![user("Sing")], 200) };
    let (_, done) = turn(&mut s, &req);
    let done = done.unwrap();
    assert_eq!(done.finish_reason, FinishReason::Loop);
    assert!(done.usage.completion_tokens < 100);
}

#[test]
fn malformed_tool_call_is_shown_as_text_with_a_warning() {
    let m = model("tiny-moe", "q8_0", false);
    let mut s = session(&m, 512);
    let bad = "<|tool_call_start|>[get_weather(city='Par]<|tool_call_end|>";
    let req = Request { forced_output: Some(format!("{bad}<|im_end|>")), ..request(vec![user("Weather?")], 64) };
    let (events, done) = turn(&mut s, &req);
    assert_eq!(done.unwrap().finish_reason, FinishReason::Stop);
    assert!(events.iter().any(|e| matches!(e, Event::Warning { .. })), "{events:?}");
    assert!(!events.iter().any(|e| matches!(e, Event::ToolCall { .. })));
    assert!(text_of(&events).contains("get_weather(city='Par]"), "{}", text_of(&events));
}

/// Token by token, the text stream never emits half a character (no U+FFFD), keeps special
/// tokens whole, and its deltas add up to the full decoding.
#[test]
fn streaming_detokenization_never_splits_a_character() {
    let tok =
        Tokenizer::from_json_bytes(&std::fs::read(common::fixtures().join("lfm2-tokenizer.json")).unwrap()).unwrap();
    let text = "Grüße 👩‍👩‍👧‍👦 日本語のテキスト 🇫🇷 naïve <|tool_call_start|>[f(x='é')]<|tool_call_end|> done";
    let ids = tok.encode(text, false).unwrap();
    let mut stream = lfm_webgpu::engine::TextStream::new();
    let mut deltas = Vec::new();
    for &id in &ids {
        let d = stream.push(&tok, id).unwrap();
        assert!(!d.contains('\u{FFFD}'), "delta {d:?} splits a character");
        deltas.push(d);
    }
    deltas.push(stream.finish(&tok).unwrap());
    assert_eq!(deltas.concat(), text);
    assert!(deltas.iter().any(|d| d.contains("<|tool_call_start|>")), "the special token arrives whole: {deltas:?}");
    assert!(
        ids.len() > deltas.iter().filter(|d| !d.is_empty()).count(),
        "some tokens were held back until a character completed"
    );
}

/// Found by fuzzing (`fuzz/`, target detokenize_stream): after 8 tokens held back the stream
/// emitted all it had, cutting a character whose first byte had just come, so the deltas no
/// longer added up to the full decoding. Invalid bytes then characters, in single-byte tokens.
#[test]
fn streaming_detokenization_of_invalid_bytes_adds_up_to_the_full_decoding() {
    let tok =
        Tokenizer::from_json_bytes(&std::fs::read(common::fixtures().join("lfm2-tokenizer.json")).unwrap()).unwrap();
    // The single-byte token of `b`: GPT-2's byte-level alphabet keeps printable Latin-1 bytes
    // as their own char and maps the others, in order, to U+0100 onwards.
    let printable = |b: u8| matches!(b, 0x21..=0x7e | 0xa1..=0xac | 0xae..=0xff);
    let byte_token = |b: u8| {
        let c = if printable(b) { b as u32 } else { 256 + (0..b).filter(|&x| !printable(x)).count() as u32 };
        tok.id_of(&char::from_u32(c).unwrap().to_string()).unwrap()
    };
    for bytes in [
        [&[0x80; 7][..], "\u{200d}😀".as_bytes()].concat(),
        [&b"\xff\x80\xe2"[..], "é".as_bytes(), b"\xf0\x9f", &[0x80; 9], "👦".as_bytes(), b"\xe2\x80"].concat(),
    ] {
        let ids: Vec<u32> = bytes.iter().map(|&b| byte_token(b)).collect();
        let mut stream = lfm_webgpu::engine::TextStream::new();
        let mut deltas: Vec<String> = ids.iter().map(|&id| stream.push(&tok, id).unwrap()).collect();
        deltas.push(stream.finish(&tok).unwrap());
        assert_eq!(deltas.concat(), tok.decode(&ids, false).unwrap(), "{deltas:?}");
        assert_eq!(deltas.concat(), String::from_utf8_lossy(&bytes));
    }
}
