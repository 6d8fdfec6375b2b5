//! Chat templates against `shared/fixtures/chat/chat_golden.json`: 56 renderings by
//! transformers' `apply_chat_template` (4 templates x 14 conversations), their token ids, and
//! the template read from the fixture GGUFs. 8 of the cases have tool calls this crate renders
//! on purpose unlike transformers (arguments as a JSON string, templates that do not render
//! `tool_calls`: see `chat::template`); those are checked against the same conversation with
//! that normalization done by hand, and, where jinja2 renders them, against its rendering with
//! the written calls taken out.

use std::sync::OnceLock;

use lfm_webgpu::chat::template::{
    ChatTemplate, DateTime, Origin, RenderExtra, SpecialTokens, TemplateError, LFM2_5_TEMPLATE,
};
use lfm_webgpu::gguf::{Gguf, GgufFile};
use lfm_webgpu::tokenizer::Tokenizer;
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures");

struct Case {
    name: String,
    conversation: String,
    template_file: String,
    messages: Vec<Value>,
    tools: Option<Vec<Value>>,
    add_generation_prompt: bool,
    /// `Ok(rendered, ids)` or `Err(jinja2's error)`.
    expected: Result<(String, Vec<u32>), String>,
}

fn golden() -> &'static (DateTime, Vec<Case>) {
    static G: OnceLock<(DateTime, Vec<Case>)> = OnceLock::new();
    G.get_or_init(|| {
        let path = format!("{FIXTURES}/chat/chat_golden.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let g: Value = serde_json::from_str(&text).expect("chat_golden.json is JSON");
        let date: Vec<i64> =
            g["fixed_date"].as_str().expect("fixed_date").split('-').map(|p| p.parse().unwrap()).collect();
        // fixlib pins datetime.now() to 12:00:00 of that date
        let now = DateTime {
            year: date[0] as i32,
            month: date[1] as u32,
            day: date[2] as u32,
            hour: 12,
            minute: 0,
            second: 0,
        };
        let cases: Vec<Case> = g["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .map(|c| {
                let expected = match (&c["rendered"], &c["error"]) {
                    (Value::String(r), _) => {
                        let ids =
                            c["ids"].as_array().expect("ids").iter().map(|i| i.as_u64().unwrap() as u32).collect();
                        Ok((r.clone(), ids))
                    }
                    (_, Value::String(e)) => Err(e.clone()),
                    _ => panic!("case without rendered or error"),
                };
                Case {
                    name: format!("{} / {}", c["template"].as_str().unwrap(), c["conversation"].as_str().unwrap()),
                    conversation: c["conversation"].as_str().unwrap().to_string(),
                    template_file: c["template_file"].as_str().unwrap().to_string(),
                    messages: c["messages"].as_array().expect("messages").clone(),
                    tools: c["tools"].as_array().cloned(),
                    add_generation_prompt: c["add_generation_prompt"].as_bool().expect("add_generation_prompt"),
                    expected,
                }
            })
            .collect();
        assert_eq!(cases.len(), 56, "golden file should have 56 cases");
        (now, cases)
    })
}

fn fixture_text(rel: &str) -> String {
    let path = format!("{FIXTURES}/chat/{rel}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The LFM2 tokenizer's special tokens, as transformers passes them.
fn lfm2_special() -> SpecialTokens {
    SpecialTokens { bos: Some("<|startoftext|>".into()), eos: Some("<|im_end|>".into()), pad: Some("<|pad|>".into()) }
}

fn tokenizer() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| {
        let bytes = std::fs::read(format!("{FIXTURES}/lfm2-tokenizer.json")).expect("lfm2-tokenizer.json");
        Tokenizer::from_json_bytes(&bytes).expect("tokenizer")
    })
}

fn header(rel: &str) -> Gguf {
    GgufFile::open(format!("{FIXTURES}/{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}")).header
}

/// Where two strings first differ, with context around it.
fn first_difference(got: &str, want: &str) -> String {
    let (g, w): (Vec<char>, Vec<char>) = (got.chars().collect(), want.chars().collect());
    let i = g.iter().zip(&w).position(|(a, b)| a != b).unwrap_or(g.len().min(w.len()));
    let around = |s: &[char]| -> String { s[i.saturating_sub(40)..(i + 40).min(s.len())].iter().collect() };
    format!(
        "first difference at char {i} (lengths: got {}, want {}):\n      got: {:?}\n     want: {:?}",
        g.len(),
        w.len(),
        around(&g),
        around(&w)
    )
}

fn fixture_template(template_file: &str) -> ChatTemplate {
    ChatTemplate::new(&fixture_text(template_file))
        .expect("fixture template compiles")
        .with_special_tokens(lfm2_special())
}

fn render_messages(c: &Case, messages: &[Value], now: DateTime) -> Result<String, TemplateError> {
    let t = fixture_template(&c.template_file);
    t.render(messages, c.tools.as_deref(), c.add_generation_prompt, &RenderExtra::default().now(now))
}

fn render_case(c: &Case, now: DateTime) -> Result<String, TemplateError> {
    render_messages(c, &c.messages, now)
}

/// The call section of a golden conversation as the model writes it (Python literals).
fn written_calls(conversation: &str) -> &'static str {
    match conversation {
        "tool_call_and_response" => "<|tool_call_start|>[get_weather(city='Paris', unit='celsius')]<|tool_call_end|>",
        "parallel_tool_calls_full_cycle" => {
            "<|tool_call_start|>[get_weather(city='Paris', unit='celsius'), search_web(query='LFM2 benchmarks', \
             max_results=5, safe=True, min_score=0.25, lang=None), send_email(to='me@example.com', \
             subject='Report', body='It\\'s 18°C.\\nBye', cc=['a@example.com', 'b@example.com'], \
             options={'urgent': True, 'retries': 2.5})]<|tool_call_end|>"
        }
        "tool_call_arguments_as_json_string" => "<|tool_call_start|>[get_weather(city='Oslo')]<|tool_call_end|>",
        other => panic!("no written calls for {other}"),
    }
}

/// A case that this crate renders on purpose unlike transformers: its messages with the
/// normalization done by hand, and the call section written into the content (for a template
/// that does not render `tool_calls`). `None`: a case rendered exactly like transformers.
fn by_hand(c: &Case) -> Option<(Vec<Value>, Option<&'static str>)> {
    let renders_calls = fixture_text(&c.template_file).contains("tool_calls");
    let with_calls: Vec<usize> = (0..c.messages.len()).filter(|&i| c.messages[i].get("tool_calls").is_some()).collect();
    let string_arguments = with_calls.iter().any(|&i| {
        c.messages[i]["tool_calls"].as_array().unwrap().iter().any(|call| call["function"]["arguments"].is_string())
    });
    if with_calls.is_empty() || (renders_calls && !string_arguments) {
        return None;
    }
    assert_eq!(with_calls.len(), 1, "{}: one message with calls", c.name);
    let mut messages = c.messages.clone();
    let m = messages[with_calls[0]].as_object_mut().unwrap();
    if renders_calls {
        for call in m["tool_calls"].as_array_mut().unwrap() {
            let arguments = &mut call["function"]["arguments"];
            if let Value::String(text) = arguments {
                *arguments = serde_json::from_str(text).unwrap();
            }
        }
        return Some((messages, None));
    }
    m.remove("tool_calls");
    let section = written_calls(&c.conversation);
    let content = m.get("content").and_then(Value::as_str).unwrap_or_default();
    m.insert("content".into(), json!(format!("{content}{section}")));
    Some((messages, Some(section)))
}

#[test]
fn every_golden_rendering_matches() {
    let (now, cases) = golden();
    let mut failures = Vec::new();
    let mut passed = 0;
    for c in cases.iter().filter(|c| by_hand(c).is_none()) {
        let got = render_case(c, *now);
        let failure = match (&c.expected, got) {
            (Ok((want, want_ids)), Ok(text)) => {
                if text != *want {
                    Some(first_difference(&text, want))
                } else {
                    let ids = tokenizer().encode(&text, false).expect("encode");
                    (ids != *want_ids)
                        .then(|| format!("token ids differ:\n      got: {ids:?}\n     want: {want_ids:?}"))
                }
            }
            (Ok(_), Err(e)) => Some(format!("failed: {e}")),
            (Err(want), Ok(text)) => Some(format!("should fail like jinja2 ({want}) but rendered {text:?}")),
            (Err(want), Err(e)) => {
                eprintln!("{}: fails as expected: {e}  (jinja2: {want})", c.name);
                None
            }
        };
        match failure {
            Some(f) => failures.push(format!("{}: {f}", c.name)),
            None => passed += 1,
        }
    }
    eprintln!("{passed}/{} chat template cases pass", cases.len());
    assert!(failures.is_empty(), "{} of {passed} cases fail:\n{}", failures.len(), failures.join("\n\n"));
    assert_eq!(passed, 48, "the cases without deliberate deviations");
}

/// The 8 cases with tool calls that transformers drops (LFM2, LFM2.5-Instruct) or fails on
/// (arguments as a JSON string, under LFM2.5; a message without content, under LFM2 and
/// LFM2.5-Instruct): they render like their hand-normalized messages, and where jinja2
/// renders them, exactly like it once the written calls are taken out.
#[test]
fn golden_tool_calls_render_normalized() {
    let (now, cases) = golden();
    let mut checked = Vec::new();
    for c in cases {
        let Some((messages, section)) = by_hand(c) else { continue };
        let got = render_case(c, *now).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let want = render_messages(c, &messages, *now).unwrap_or_else(|e| panic!("{}: by hand: {e}", c.name));
        assert!(got == want, "{}: {}", c.name, first_difference(&got, &want));
        let section = section.unwrap_or_else(|| written_calls("tool_call_arguments_as_json_string"));
        match &c.expected {
            Ok((golden, _)) => {
                let without = got.replacen(section, "", 1);
                assert!(without == *golden, "{}: {}", c.name, first_difference(&without, golden));
            }
            Err(_) => assert!(got.contains(section), "{}: {got}", c.name),
        }
        checked.push(c.name.as_str());
    }
    assert_eq!(checked.len(), 8, "{checked:?}");
    assert_eq!(cases.iter().filter(|c| c.expected.is_err()).count(), 4);
    assert!(cases.iter().filter(|c| c.expected.is_err()).all(|c| by_hand(c).is_some()), "jinja2's failures all render");
}

/// jinja2's errors in these templates, on inputs the normalization leaves alone, are typed
/// render errors with its wording.
#[test]
fn jinja2_errors_are_typed_render_errors() {
    let (now, cases) = golden();
    // An assistant message with neither content nor calls: `content | tojson` of Undefined, in
    // the two templates where jinja2 fails on the golden conversation (they never read its
    // `tool_calls`).
    let mut checked = 0;
    for c in cases.iter().filter(|c| c.expected.is_err() && c.conversation == "tool_call_and_response") {
        let mut messages = c.messages.clone();
        for m in &mut messages {
            m.as_object_mut().unwrap().remove("tool_calls");
        }
        match render_messages(c, &messages, *now) {
            Err(TemplateError::Render(message)) => {
                assert!(message.contains("Undefined is not JSON serializable"), "{}: {message}", c.name)
            }
            other => panic!("{}: expected a render error, got {other:?}", c.name),
        }
        checked += 1;
    }
    assert_eq!(checked, 2);
    // jinja2: "UndefinedError: 'str object' has no attribute 'items'"
    let t = ChatTemplate::new("{% for k, v in messages[0].content.items() %}{{ k }}{% endfor %}").unwrap();
    match t.render(&[json!({"role": "user", "content": "text"})], None, false, &RenderExtra::default()) {
        Err(TemplateError::Render(message)) => assert!(message.contains("items"), "{message}"),
        other => panic!("expected a render error, got {other:?}"),
    }
}

#[test]
fn from_gguf_reads_the_files_template_and_special_tokens() {
    let (now, cases) = golden();
    for (rel, template_file, template_name) in [
        ("tiny-moe/tiny-moe-f16.gguf", "templates/LFM2-8B-A1B.jinja", "lfm2"),
        ("small-moe/small-moe-q4_k_m.gguf", "templates/LFM2.5-8B-A1B.jinja", "lfm2.5"),
    ] {
        let t = ChatTemplate::from_gguf(&header(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(t.origin(), Origin::Gguf, "{rel}");
        assert_eq!(t.source(), fixture_text(template_file), "{rel}: template text");
        assert_eq!(*t.special_tokens(), lfm2_special(), "{rel}: special tokens");
        // Renders the golden conversations without being told the special tokens (the
        // deliberate deviations like the fixture template does).
        for c in cases.iter().filter(|c| c.template_file == template_file) {
            let got =
                t.render(&c.messages, c.tools.as_deref(), c.add_generation_prompt, &RenderExtra::default().now(*now));
            let expected = match by_hand(c) {
                Some(_) => render_case(c, *now).map(|text| (text, Vec::new())).map_err(|e| e.to_string()),
                None => c.expected.clone(),
            };
            match (&expected, got) {
                (Ok((want, _)), Ok(text)) => {
                    assert!(text == *want, "{rel} {}: {}", c.name, first_difference(&text, want))
                }
                (Err(_), Err(_)) => {}
                (want, got) => panic!("{rel} {}: want {want:?}, got {got:?}", c.name),
            }
        }
        assert!(template_name.starts_with("lfm2"));
    }
}

#[test]
fn from_gguf_falls_back_to_the_builtin_lfm2_5_template() {
    let mut g = header("tiny-moe/tiny-moe-f16.gguf");
    assert!(g.metadata.remove("tokenizer.chat_template").is_some());
    let t = ChatTemplate::from_gguf(&g).expect("fallback compiles");
    assert_eq!(t.origin(), Origin::BuiltinFallback);
    assert_eq!(t.source(), LFM2_5_TEMPLATE);
    assert_eq!(
        LFM2_5_TEMPLATE,
        fixture_text("templates/LFM2.5-8B-A1B.jinja"),
        "built-in copy drifted from the fixture"
    );
    assert_eq!(*t.special_tokens(), lfm2_special());
    let (now, cases) = golden();
    let c = cases.iter().find(|c| c.name == "lfm2.5 / parallel_tool_calls_full_cycle").expect("case");
    let text = t.render(&c.messages, c.tools.as_deref(), true, &RenderExtra::default().now(*now)).unwrap();
    assert_eq!(text, c.expected.as_ref().unwrap().0);
}

#[test]
fn python_semantics() {
    let t = |src: &str| {
        ChatTemplate::new(src)
            .unwrap()
            .render(&[], None, false, &RenderExtra::default().now(DateTime::date(2026, 1, 15)))
            .unwrap()
    };
    assert_eq!(
        t("{{ true | string }} {{ none | string }} {{ [1, 'a', none, false, 2.5] | string }}"),
        "True None [1, 'a', None, False, 2.5]"
    );
    assert_eq!(
        t("{{ true }} {{ none }} {{ 1e-5 }} {{ 1.0 }} {{ {'k': \"it's\"} }}"),
        "True None 1e-05 1.0 {'k': \"it's\"}"
    );
    assert_eq!(
        t("{{ {'b': [1, 2.0, true, none], 'a': '<é>\n'} | tojson }}"),
        "{\"b\": [1, 2.0, true, null], \"a\": \"<é>\\n\"}"
    );
    assert_eq!(
        t("{{ {'b': 1, 'a': [1]} | tojson(indent=2, sort_keys=true) }}"),
        "{\n  \"a\": [\n    1\n  ],\n  \"b\": 1\n}"
    );
    assert_eq!(t("{{ [1, true, none] | join('-') }}"), "1-True-None");
    assert_eq!(t("{{ strftime_now('%d %B %Y') }}"), "15 January 2026");
    assert_eq!(t("{{ ' x\u{1f}\n' | trim }}|{{ 'a</think> b'.split('</think>')[-1] | trim }}"), "x|b");
    assert_eq!(t("{{ {'a': 1}.get('a') }}{{ {'a': 1}.get('b') }}"), "1None");
    // Python's float repr, in print and in JSON
    let floats = "{{ [2.5, 1.0, 0.25, -0.0, 1e-5, 0.0001, 1e16, 123456789012345.6, 1.5e300, 0.1 + 0.2, 100.0] }}";
    assert_eq!(
        t(floats),
        "[2.5, 1.0, 0.25, -0.0, 1e-05, 0.0001, 1e+16, 123456789012345.6, 1.5e+300, 0.30000000000000004, 100.0]"
    );
    assert_eq!(t("{{ [1e-5, 1e16, 7] | tojson }}"), "[1e-05, 1e+16, 7]");
    // str repr: quotes, escapes, tuples from .items()
    assert_eq!(t("{{ ['a\nb\x01', \"it's\", 'say \"hi\"'] }}"), "['a\\nb\\x01', \"it's\", 'say \"hi\"']");
    assert_eq!(t("{{ {'k': 1}.items() | list }}"), "[('k', 1)]");
    // transformers' {% generation %} renders its body; lookalike tags are left alone
    assert_eq!(t("{%- generation -%} x {%- endgeneration -%}|{%+generation%}y{%endgeneration%}"), "x|y");
    assert!(matches!(ChatTemplate::new("{% generations %}"), Err(TemplateError::Syntax(_))));
    // trim_blocks + lstrip_blocks
    assert_eq!(t("a\n    {% if true %}\nb\n    {% endif %}\nc"), "a\nb\nc");
}

#[test]
fn strftime_like_python() {
    let t = DateTime { year: 2026, month: 1, day: 15, hour: 12, minute: 0, second: 0 };
    assert_eq!(t.strftime("%Y-%m-%d"), "2026-01-15");
    assert_eq!(t.strftime("%d %B %Y"), "15 January 2026");
    assert_eq!(t.strftime("%A %a %b %j %I%p %-d %e %% %q"), "Thursday Thu Jan 015 12PM 15 15 % %q");
    assert_eq!(DateTime::from_unix(0).strftime("%F %T %A"), "1970-01-01 00:00:00 Thursday");
    assert_eq!(DateTime::from_unix(951_782_400), DateTime::date(2000, 2, 29));
    assert_eq!(DateTime::from_unix(1_767_225_599).strftime("%c"), "Wed Dec 31 23:59:59 2025");
    let year = DateTime::now().year;
    assert!((2025..3000).contains(&year), "now() year {year}");
}

#[test]
fn raise_exception_and_syntax_errors_are_typed() {
    let t = ChatTemplate::new("{% if messages[0].role != 'user' %}{{ raise_exception('Only user messages: ' + messages[0].role) }}{% endif %}").unwrap();
    let err = t.render(&[json!({"role": "bot", "content": "x"})], None, false, &RenderExtra::default()).unwrap_err();
    assert_eq!(err, TemplateError::Raised("Only user messages: bot".into()));
    assert!(matches!(ChatTemplate::new("{% if %}"), Err(TemplateError::Syntax(_))));
    assert_eq!(
        ChatTemplate::new("{{ 1 }}").unwrap().render(&[json!("text")], None, false, &RenderExtra::default()),
        Err(TemplateError::BadMessage { index: 0 })
    );
}

#[test]
fn messages_are_prepared_like_transformers() {
    // null keys are dropped (so `is defined` is false); reasoning is aliased both ways.
    let t = ChatTemplate::new(
        "{% for m in messages %}[{{ m.content is defined }} {{ m.thinking }} {{ m.reasoning_content }} {{ extra_flag }}]{% endfor %}",
    )
    .unwrap();
    let messages = [
        json!({"role": "assistant", "content": null, "reasoning": "r"}),
        json!({"role": "assistant", "thinking": "t", "content": "c"}),
    ];
    let out = t.render(&messages, None, false, &RenderExtra::default().var("extra_flag", json!(true))).unwrap();
    assert_eq!(out, "[False r r True][True t t True]");
}

/// An OpenAI-style history: the assistant's call with `arguments` as a JSON string (what the
/// npm package and the browser chat send), or as an object.
fn weather_history(arguments: Value, content: Value) -> Vec<Value> {
    vec![
        json!({"role": "user", "content": "Weather in Paris?"}),
        json!({"role": "assistant", "content": content, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
        ]}),
        json!({"role": "tool", "tool_call_id": "call_1", "content": "{\"temperature\": 18}"}),
    ]
}

const PARIS_CALL: &str = "<|tool_call_start|>[get_weather(city='Paris')]<|tool_call_end|>";

#[test]
fn string_arguments_render_like_objects() {
    let t = fixture_template("templates/LFM2.5-8B-A1B.jinja");
    assert!(t.renders_tool_calls());
    let render = |messages: &[Value]| t.render(messages, None, true, &RenderExtra::default()).unwrap();
    let from_string = render(&weather_history(json!("{\"city\":\"Paris\"}"), Value::Null));
    let from_object = render(&weather_history(json!({"city": "Paris"}), Value::Null));
    assert_eq!(from_string, from_object);
    assert!(from_string.contains(&format!("<|im_start|>assistant\n{PARIS_CALL}<|im_end|>\n")), "{from_string}");
    // Blank or missing arguments are no arguments.
    for arguments in [json!(""), json!(" "), Value::Null] {
        let text = render(&weather_history(arguments.clone(), json!("")));
        assert!(text.contains("[get_weather()]"), "{arguments}: {text}");
    }
    // The same through `{name, arguments}` without the `function` wrapper.
    let bare = [json!({"role": "assistant", "tool_calls": [{"name": "f", "arguments": "{\"x\": [1, 2]}"}]})];
    let t2 = ChatTemplate::new("{{ messages[0].tool_calls[0].arguments.x[1] }}").unwrap();
    assert_eq!(t2.render(&bare, None, false, &RenderExtra::default()).unwrap(), "2");
}

#[test]
fn arguments_that_are_no_json_object_are_a_typed_error() {
    for template in ["templates/LFM2.5-8B-A1B.jinja", "templates/LFM2-8B-A1B.jinja"] {
        let t = fixture_template(template);
        for (arguments, why) in [
            (json!("{\"city\": \"Paris\""), "not valid JSON"),
            (json!("city=Paris"), "not valid JSON"),
            (json!("[\"Paris\"]"), "not a JSON object"),
            (json!("\"Paris\""), "not a JSON object"),
            (json!(["Paris"]), "not an object"),
            (json!(7), "not an object"),
        ] {
            let err = t.render(&weather_history(arguments.clone(), Value::Null), None, true, &RenderExtra::default());
            match err {
                Err(TemplateError::BadToolCall { index: 1, call: 0, ref reason }) => {
                    assert!(reason.contains(why) && reason.contains("get_weather"), "{template} {arguments}: {reason}");
                    let message = err.unwrap_err().to_string();
                    assert!(message.starts_with("message 1, tool call 0: 'get_weather': "), "{message}");
                }
                other => panic!("{template} {arguments}: expected BadToolCall, got {other:?}"),
            }
        }
    }
}

#[test]
fn calls_go_into_the_content_for_templates_that_do_not_render_them() {
    for template in ["templates/LFM2-8B-A1B.jinja", "templates/LFM2.5-Instruct.jinja"] {
        let t = fixture_template(template);
        assert!(!t.renders_tool_calls(), "{template}");
        let render = |messages: &[Value]| t.render(messages, None, true, &RenderExtra::default()).unwrap();
        for content in [Value::Null, json!("")] {
            let text = render(&weather_history(json!("{\"city\":\"Paris\"}"), content));
            assert!(text.contains(&format!("<|im_start|>assistant\n{PARIS_CALL}<|im_end|>\n")), "{template}: {text}");
            assert_eq!(text, render(&weather_history(json!({"city": "Paris"}), Value::Null)));
        }
        let text = render(&weather_history(json!({"city": "Paris"}), json!("Checking.")));
        assert!(text.contains(&format!("<|im_start|>assistant\nChecking.{PARIS_CALL}<|im_end|>\n")), "{text}");
    }

    // What the template sees: several calls in one section after the text; parts get one more
    // text part; `tool_calls` is gone; a call without a name is an error.
    // (`m | length`: the number of keys, 2 without `tool_calls`.)
    let t = ChatTemplate::new("{% for m in messages %}{{ m.content }}|{{ m | length }}\n{% endfor %}").unwrap();
    assert!(!t.renders_tool_calls());
    let call =
        |name: &str, arguments: Value| json!({"type": "function", "function": {"name": name, "arguments": arguments}});
    let messages = [
        json!({"role": "assistant", "content": "Both: ", "tool_calls": [
            call("a", json!("{\"s\": \"it's\\n\", \"n\": [1, 2.5, null, true], \"d\": {\"k\": \"v\"}}")),
            call("b", json!({})),
        ]}),
        json!({"role": "assistant", "content": [{"type": "text", "text": "x"}], "tool_calls": [call("c", json!({}))]}),
        json!({"role": "assistant", "content": "no calls", "tool_calls": []}),
    ];
    let text = t.render(&messages, None, false, &RenderExtra::default()).unwrap();
    assert_eq!(
        text,
        "Both: <|tool_call_start|>[a(s='it\\'s\\n', n=[1, 2.5, None, True], d={'k': 'v'}), b()]<|tool_call_end|>|2\n\
         [{'type': 'text', 'text': 'x'}, {'type': 'text', 'text': '<|tool_call_start|>[c()]<|tool_call_end|>'}]|2\n\
         no calls|2\n"
    );
    let nameless = [json!({"role": "assistant", "tool_calls": [{"type": "function", "function": {"arguments": {}}}]})];
    assert!(matches!(
        t.render(&nameless, None, false, &RenderExtra::default()),
        Err(TemplateError::BadToolCall { index: 0, call: 0, .. })
    ));
}

/// A template comes with the model file, so rendering must be bounded: one that never ends
/// fails with a render error (minijinja's fuel) instead of hanging the chat. A long
/// conversation with many tools stays far inside the bound.
#[test]
fn rendering_is_bounded() {
    let endless =
        ChatTemplate::new("{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}")
            .unwrap();
    let err = endless.render(&[], None, true, &RenderExtra::default()).unwrap_err();
    assert!(matches!(err, TemplateError::Render(ref m) if m.contains("fuel")), "{err}");

    let parameters =
        json!({"type": "object", "properties": {"city": {"type": "string", "description": "x".repeat(200)}}});
    let tools: Vec<Value> = (0..64)
        .map(|i| json!({"type": "function", "function": {"name": format!("tool_{i}"), "description": "y".repeat(500), "parameters": parameters}}))
        .collect();
    let messages: Vec<Value> = (0..2000)
        .flat_map(|i| {
            [
                json!({"role": "user", "content": format!("Question {i}: what is the weather in Paris today?")}),
                json!({"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "tool_1", "arguments": {"city": "Paris"}}}]}),
                json!({"role": "tool", "content": "{\"temperature\": 21, \"sky\": \"clear\"}"}),
                json!({"role": "assistant", "content": "<think>It is sunny.</think>It is 21 degrees and clear."}),
            ]
        })
        .collect();
    let extra = RenderExtra::default().now(DateTime::date(2026, 1, 15));
    let out = ChatTemplate::new(LFM2_5_TEMPLATE).unwrap().render(&messages, Some(&tools), true, &extra).unwrap();
    assert!(out.len() > 600_000 && out.ends_with("<|im_start|>assistant\n"));
}
