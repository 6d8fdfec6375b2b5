//! `lfm prompt`, `lfm run` and `lfm chat` (driven through pipes) on the fixture models:
//! golden prompt renderings, usage reports, state reuse across turns, the REPL's commands, a
//! tool round with the calculator (the model's call forced with `LFM_FORCE_OUTPUT`, since a
//! random tiny model cannot write one), context overflow and Ctrl-C.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{fixtures, gguf_path};
use lfm_webgpu::chat::template::{ChatTemplate, DateTime, RenderExtra};
use lfm_webgpu::gguf::GgufFile;
use lfm_webgpu::tokenizer::Tokenizer;
use serde_json::{json, Value};

fn lfm() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lfm"));
    c.env_remove("LFM_FORCE_OUTPUT").env_remove("LFM_FIXED_DATE").env("HF_ENDPOINT", "http://127.0.0.1:9");
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lfm-chat-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_json(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, v.to_string()).unwrap();
    path
}

/// Runs `lfm chat` with `input` on stdin; extra environment in `env`.
fn chat(args: &[&str], env: &[(&str, &str)], input: &str) -> Output {
    let mut child = lfm()
        .arg("chat")
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lfm chat starts");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap(); // then closed: end of input
    child.wait_with_output().unwrap()
}

/// The `stats: {...}` lines of a chat's stderr.
fn stats(stderr: &str) -> Vec<Value> {
    stderr.lines().filter_map(|l| l.strip_prefix("stats: ")).map(|s| serde_json::from_str(s).unwrap()).collect()
}

/// The conversations `/messages` printed (JSON arrays, one a line of stdout).
fn printed_conversations(stdout: &str) -> Vec<Vec<Value>> {
    stdout
        .lines()
        .filter(|l| l.starts_with("[{") || *l == "[]")
        .map(|l| serde_json::from_str::<Vec<Value>>(l).unwrap())
        .collect()
}

fn tiny() -> String {
    gguf_path("tiny-moe", "q8_0").to_str().unwrap().to_string()
}

/// Whether the library renders a golden case's tool calls on purpose unlike transformers
/// (arguments as a JSON string; a template that does not render `tool_calls`): see
/// `tests/chat_template.rs`, which checks how.
fn deviates_from_transformers(case: &Value, template: &str) -> bool {
    let calls: Vec<&Value> =
        case["messages"].as_array().unwrap().iter().filter_map(|m| m["tool_calls"].as_array()).flatten().collect();
    !calls.is_empty()
        && (!template.contains("tool_calls") || calls.iter().any(|c| c["function"]["arguments"].is_string()))
}

/// Every golden rendering of the template each fixture GGUF carries, through `lfm prompt`:
/// the output is the rendering exactly (the library's, for the cases with tool calls it
/// renders unlike transformers).
#[test]
fn prompt_prints_the_golden_renderings() {
    let golden: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("chat/chat_golden.json")).unwrap()).unwrap();
    let date = golden["fixed_date"].as_str().unwrap();
    let dir = temp_dir("prompt");
    let mut checked = 0;
    for (model, variant, template) in
        [("tiny-moe", "q8_0", "templates/LFM2-8B-A1B.jinja"), ("small-moe", "q4_k_m", "templates/LFM2.5-8B-A1B.jinja")]
    {
        let path = gguf_path(model, variant);
        let library = ChatTemplate::from_gguf(&GgufFile::open(&path).unwrap().header).unwrap();
        let ymd: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
        let now = DateTime { hour: 12, ..DateTime::date(ymd[0] as i32, ymd[1] as u32, ymd[2] as u32) };
        for case in golden["cases"].as_array().unwrap().iter().filter(|c| c["template_file"] == template) {
            let name = format!("{model} / {}", case["conversation"]);
            let messages = write_json(&dir, "messages.json", &case["messages"]);
            let mut cmd = lfm();
            cmd.args(["prompt", "--model", path.to_str().unwrap(), "--messages", messages.to_str().unwrap()]);
            if let Some(tools) = case["tools"].as_array() {
                cmd.args(["--tools", write_json(&dir, "tools.json", &Value::Array(tools.clone())).to_str().unwrap()]);
            }
            let out = cmd.env("LFM_FIXED_DATE", format!("{date}T12:00:00")).output().unwrap();
            let rendered = if deviates_from_transformers(case, library.source()) {
                let messages = case["messages"].as_array().unwrap();
                let tools = case["tools"].as_array().map(Vec::as_slice);
                library.render(messages, tools, true, &RenderExtra::default().now(now)).unwrap()
            } else {
                case["rendered"].as_str().unwrap_or_else(|| panic!("{name}: jinja2 fails")).to_string()
            };
            assert!(out.status.success(), "{name}: {}", text(&out.stderr));
            assert_eq!(text(&out.stdout), rendered, "{name}");
            checked += 1;
        }
    }
    assert_eq!(checked, 28);

    // The object form with tools inside, and the prompt without the generation header.
    let case = &golden["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["template"] == "lfm2" && c["conversation"] == "tools_list")
        .unwrap();
    let file = write_json(&dir, "conversation.json", &json!({"messages": case["messages"], "tools": case["tools"]}));
    let out = lfm()
        .args(["prompt", "--model", &tiny(), "--messages", file.to_str().unwrap(), "--no-generation-prompt"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rendered = case["rendered"].as_str().unwrap();
    assert_eq!(text(&out.stdout), rendered.strip_suffix("<|im_start|>assistant\n").unwrap());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn run_prints_json_with_usage_and_tool_calls() {
    let out = lfm()
        .args([
            "run",
            "--model",
            &tiny(),
            "--prompt",
            "Hello there",
            "--backend",
            "reference",
            "--max-tokens",
            "5",
            "--temperature",
            "0",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["text", "tool_calls", "finish_reason", "usage", "timings"]);
    assert_eq!(v["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 5);
    assert_eq!(v["usage"]["cached_tokens"], 0);
    assert_eq!(v["tool_calls"], json!([]));
    assert!(v["text"].is_string());
    assert!(v["timings"]["decode_tokens_per_s"].as_f64().unwrap() > 0.0);
    // The prompt is the chat template's rendering (clock, calculator are not offered by `run`).
    let file = GgufFile::open(gguf_path("tiny-moe", "q8_0")).unwrap();
    let tok = Tokenizer::from_gguf(&file.header).unwrap();
    let rendered = "<|startoftext|><|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n";
    assert_eq!(v["usage"]["prompt_tokens"], tok.encode(rendered, false).unwrap().len());

    // A (forced) tool call comes back parsed.
    let dir = temp_dir("run");
    let tools = write_json(
        &dir,
        "tools.json",
        &json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]),
    );
    let out = lfm()
        .args([
            "run",
            "--model",
            &tiny(),
            "--prompt",
            "Weather in Paris?",
            "--tools",
            tools.to_str().unwrap(),
            "--backend",
            "reference",
            "--max-tokens",
            "40",
            "--format",
            "json",
        ])
        .env("LFM_FORCE_OUTPUT", "<|tool_call_start|>[get_weather(city='Paris')]<|tool_call_end|><|im_end|>")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["finish_reason"], "tool_calls");
    assert_eq!(v["tool_calls"], json!([{"id": "call_0", "name": "get_weather", "arguments": {"city": "Paris"}}]));
    assert_eq!(v["text"], "");
    std::fs::remove_dir_all(&dir).ok();
}

/// Text output on the GPU: the answer on stdout; the load report and speed on stderr.
#[test]
fn run_streams_text_on_the_gpu() {
    let out = lfm()
        .args(["run", "--model", &tiny(), "--prompt", "Hi", "--backend", "gpu", "--max-tokens", "4"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("loaded tiny-moe-q8_0.gguf") && err.contains("on gpu"), "{err}");
    assert!(err.contains("decode 4 tokens at") && err.contains("tok/s"), "{err}");
    assert!(!text(&out.stdout).trim().is_empty());
}

/// Two turns reuse the state (the second prefills only what is new), then /messages,
/// /system, /reset and /quit.
#[test]
fn chat_reuses_state_across_turns_and_obeys_commands() {
    let input = "Hello there\nAnd again\n/messages\n/system Be brief.\n/messages\n/reset\n/messages\nWhat now?\n/help\n/nonsense\n/quit\nNever sent\n";
    let out = chat(
        &["--model", &tiny(), "--backend", "reference", "--max-tokens", "6", "--temperature", "0", "--stats"],
        &[],
        input,
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("tools: clock, calculator"), "{stderr}");

    let s = stats(&stderr);
    assert_eq!(s.len(), 3, "one answer per user message: {stderr}");
    let (first, second, third) = (&s[0]["usage"], &s[1]["usage"], &s[2]["usage"]);
    assert_eq!(first["cached_tokens"], 0);
    assert!(
        second["cached_tokens"].as_u64().unwrap() >= first["prompt_tokens"].as_u64().unwrap(),
        "turn 2 reuses turn 1: {s:?}"
    );
    assert!(second["cached_tokens"].as_u64().unwrap() < second["prompt_tokens"].as_u64().unwrap());
    assert_eq!(third["cached_tokens"], 0, "a reset conversation with a new system prompt starts over: {s:?}");
    assert!(stderr.contains("prefill") && stderr.contains("tok/s"), "{stderr}");

    let conversations = printed_conversations(&stdout);
    assert_eq!(conversations.len(), 3, "{stdout}");
    let roles = |c: &[Value]| c.iter().map(|m| m["role"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(roles(&conversations[0]), ["user", "assistant", "user", "assistant"]);
    assert_eq!(conversations[0][2]["content"], "And again");
    assert_eq!(roles(&conversations[1]), ["system", "user", "assistant", "user", "assistant"]);
    assert_eq!(conversations[1][0]["content"], "Be brief.");
    assert_eq!(roles(&conversations[2]), ["system"], "/reset keeps the system prompt only");
    assert!(stderr.contains("/reset") && stderr.contains("unknown command /nonsense"), "{stderr}");
    assert!(!stdout.contains("Never sent") && !stderr.contains("Never sent"));
}

/// The calculator: the call is shown and confirmed, its result (14) goes back as a `tool`
/// message and the model continues, prefilling only the new tokens; a declined call and a
/// failing expression answer with errors; a `--tools` tool takes a typed result or error.
#[test]
fn chat_runs_confirmed_tool_calls() {
    let call = |expr: &str| format!("<|tool_call_start|>[calculator(expression='{expr}')]<|tool_call_end|><|im_end|>");
    let weather = "<|tool_call_start|>[get_weather(city='Paris')]<|tool_call_end|><|im_end|>".to_string();
    let forced = json!([call("2*(3+4)"), call("2*(3+4)"), call("2*(3+"), weather, weather]).to_string();
    let dir = temp_dir("tools");
    let tools = write_json(
        &dir,
        "tools.json",
        &json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]),
    );
    let input = "What is 2*(3+4)?\ny\nAgain?\nn\nAnd this?\ny\nWeather?\nsunny, 21 C\nWeather again?\n!error service offline\n/messages\n";
    let args = [
        "--model",
        &tiny(),
        "--backend",
        "reference",
        "--max-tokens",
        "30",
        "--stats",
        "--tools",
        tools.to_str().unwrap(),
    ];
    let out = chat(&args, &[("LFM_FORCE_OUTPUT", &forced)], input);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("tool call: calculator(expression='2*(3+4)') · run it? [y/N] y"), "{stderr}");
    assert!(stderr.contains("tool result: 14"), "{stderr}");
    assert!(stderr.contains("get_weather has no implementation here: type its result"), "{stderr}");

    let conversation = printed_conversations(&stdout).pop().expect("/messages printed");
    let results: Vec<&str> =
        conversation.iter().filter(|m| m["role"] == "tool").map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(
        results,
        [
            "14",
            "error: the user declined to run this tool call",
            "error: `2*(3+` ends too early",
            "sunny, 21 C",
            "error: service offline"
        ]
    );
    // The call goes back as `tool_calls` (LFM2's template does not render them, so the chat
    // template writes it into the content as the model wrote it: the prefix reuse below).
    assert_eq!(conversation[1]["content"], "");
    assert_eq!(
        conversation[1]["tool_calls"],
        json!([{"id": "call_0", "type": "function", "function": {"name": "calculator", "arguments": {"expression": "2*(3+4)"}}}])
    );

    // Each of the 5 user turns takes two answers: the call, then the answer after its result,
    // which prefills only the tokens after the call.
    let s = stats(&stderr);
    assert_eq!(s.len(), 10, "{stderr}");
    for pair in s.chunks(2) {
        assert_eq!(pair[0]["finish_reason"], "tool_calls", "{pair:?}");
        let cached = pair[1]["usage"]["cached_tokens"].as_u64().unwrap();
        assert!(cached > pair[0]["usage"]["prompt_tokens"].as_u64().unwrap(), "{pair:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn chat_reports_context_overflow_and_goes_on() {
    let long = "many words ".repeat(200);
    let input = format!("{long}\nHi\n/messages\n");
    let out = chat(
        &["--model", &tiny(), "--backend", "reference", "--context", "320", "--max-tokens", "4", "--stats"],
        &[],
        &input,
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("more than the 320-token context") && stderr.contains("/reset"), "{stderr}");
    assert!(!stderr.contains("panicked"));
    let s = stats(&stderr);
    assert_eq!(s.len(), 1, "the short message after the overflow is answered: {stderr}");
    assert_eq!(s[0]["usage"]["completion_tokens"], 4);
    let conversation = printed_conversations(&stdout).pop().unwrap();
    assert_eq!(conversation.len(), 2, "the overlong message was dropped: {conversation:?}");
    assert_eq!(conversation[0]["content"], "Hi");
}

/// Ctrl-C (SIGINT) stops the answer, not the program; at the prompt it prints a hint.
#[cfg(unix)]
#[test]
fn chat_survives_ctrl_c() {
    // Sampled at temperature 1 the tiny model writes about a thousand tokens (seconds) before
    // its loop guard ends the answer, so the interrupt lands mid-answer.
    let mut child = lfm()
        .args([
            "chat",
            "--model",
            &tiny(),
            "--backend",
            "reference",
            "--temperature",
            "1",
            "--top-k",
            "0",
            "--seed",
            "1",
            "--context",
            "2048",
            "--stats",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let collect = |mut r: Box<dyn Read + Send>| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let b = buf.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = r.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                b.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        buf
    };
    let stdout = collect(Box::new(child.stdout.take().unwrap()));
    let stderr = collect(Box::new(child.stderr.take().unwrap()));
    let wait_for = |buf: &Arc<Mutex<Vec<u8>>>, what: &dyn Fn(&str) -> bool, label: &str| {
        let start = Instant::now();
        while !what(&text(&buf.lock().unwrap())) {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "timed out waiting for {label}: {}",
                text(&stderr.lock().unwrap())
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let mut stdin = child.stdin.take().unwrap();
    let pid = child.id().to_string();
    let interrupt = || assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());

    wait_for(&stderr, &|s| s.contains("/help lists the commands"), "the banner");
    writeln!(stdin, "Count to a thousand.").unwrap();
    wait_for(&stdout, &|s| !s.is_empty(), "the answer to start");
    interrupt();
    wait_for(&stderr, &|s| s.contains("[stopped]"), "the answer to stop");
    let s = stats(&text(&stderr.lock().unwrap()));
    assert_eq!(s[0]["finish_reason"], "abort", "{s:?}");
    std::thread::sleep(Duration::from_millis(100));
    interrupt(); // at the prompt
    wait_for(&stderr, &|s| s.contains("to leave, type /quit"), "the hint");
    writeln!(stdin, "/quit").unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "chat should end normally after /quit: {status:?}");
}

/// `LFM_FIXED_DATE` pins `strftime_now`: the LFM2.5 template that prints today's date
/// (`lfm2.5-original`), in a header-only GGUF, renders every golden case exactly.
#[test]
fn prompt_uses_the_fixed_date() {
    use lfm_webgpu::gguf::{GgufWriter, Value as Meta, ValueType};
    let golden: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("chat/chat_golden.json")).unwrap()).unwrap();
    let template_file = "templates/LFM2.5-8B-A1B.original-6f4e9f58.jinja";
    let template = std::fs::read_to_string(fixtures().join("chat").join(template_file)).unwrap();
    // Token ids as in the LFM2 vocabulary: <|pad|> 0, <|startoftext|> 1, <|im_end|> 7.
    let mut tokens: Vec<Meta> = (0..8).map(|i| Meta::String(format!("<|tok{i}|>"))).collect();
    tokens[0] = Meta::String("<|pad|>".into());
    tokens[1] = Meta::String("<|startoftext|>".into());
    tokens[7] = Meta::String("<|im_end|>".into());
    let gguf = GgufWriter::new(3)
        .metadata("general.architecture", Meta::String("lfm2moe".into()))
        .metadata("tokenizer.ggml.tokens", Meta::Array(ValueType::String, tokens))
        .metadata("tokenizer.ggml.bos_token_id", Meta::U32(1))
        .metadata("tokenizer.ggml.eos_token_id", Meta::U32(7))
        .metadata("tokenizer.ggml.padding_token_id", Meta::U32(0))
        .metadata("tokenizer.chat_template", Meta::String(template))
        .to_bytes();
    let dir = temp_dir("date");
    let model = dir.join("header-only.gguf");
    std::fs::write(&model, gguf).unwrap();
    let mut checked = 0;
    for case in golden["cases"].as_array().unwrap().iter().filter(|c| c["template_file"] == template_file) {
        let Some(rendered) = case["rendered"].as_str() else { continue };
        let file =
            write_json(&dir, "conversation.json", &json!({"messages": case["messages"], "tools": case["tools"]}));
        let out = lfm()
            .args(["prompt", "--model", model.to_str().unwrap(), "--messages", file.to_str().unwrap()])
            .env("LFM_FIXED_DATE", golden["fixed_date"].as_str().unwrap())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: {}", case["conversation"], text(&out.stderr));
        assert_eq!(text(&out.stdout), rendered, "{}", case["conversation"]);
        checked += 1;
    }
    assert_eq!(checked, 13);
    assert!(golden["cases"].as_array().unwrap().iter().any(|c| c["template_file"] == template_file
        && c["rendered"].as_str().is_some_and(|r| r.contains("Today's date: 2026-01-15"))));

    let file = write_json(&dir, "messages.json", &json!([{"role": "user", "content": "Hi"}]));
    let out = lfm()
        .args(["prompt", "--model", model.to_str().unwrap(), "--messages", file.to_str().unwrap()])
        .env("LFM_FIXED_DATE", "2026-13-01")
        .output()
        .unwrap();
    assert!(!out.status.success() && text(&out.stderr).contains("LFM_FIXED_DATE=2026-13-01"), "{}", text(&out.stderr));
    std::fs::remove_dir_all(&dir).ok();
}
