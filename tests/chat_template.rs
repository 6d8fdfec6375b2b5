//! Chat templates against `shared/fixtures/chat/chat_golden.json`: 56 renderings by
//! transformers' `apply_chat_template` (4 templates x 14 conversations; 4 of them raise in
//! jinja2 and must fail here too), their token ids, and the template read from the fixture GGUFs.

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

fn render_case(c: &Case, now: DateTime) -> Result<String, TemplateError> {
    let t = ChatTemplate::new(&fixture_text(&c.template_file))
        .expect("fixture template compiles")
        .with_special_tokens(lfm2_special());
    t.render(&c.messages, c.tools.as_deref(), c.add_generation_prompt, &RenderExtra::default().now(now))
}

#[test]
fn every_golden_rendering_matches() {
    let (now, cases) = golden();
    let mut failures = Vec::new();
    let mut passed = 0;
    for c in cases {
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
    assert!(failures.is_empty(), "{} of {} cases fail:\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

#[test]
fn jinja2_errors_are_typed_render_errors() {
    let (now, cases) = golden();
    let errors: Vec<&Case> = cases.iter().filter(|c| c.expected.is_err()).collect();
    assert_eq!(errors.len(), 4);
    for c in errors {
        match render_case(c, *now) {
            Err(TemplateError::Render(message)) => {
                let want = c.expected.as_ref().unwrap_err();
                // jinja2: "TypeError: Object of type Undefined is not JSON serializable" or
                // "UndefinedError: 'str object' has no attribute 'items'"
                let key = if want.contains("Undefined is not JSON serializable") {
                    "Undefined is not JSON serializable"
                } else {
                    "items"
                };
                assert!(
                    message.contains(key),
                    "{}: error {message:?} does not mention {key:?} (jinja2: {want})",
                    c.name
                );
            }
            other => panic!("{}: expected a render error, got {other:?}", c.name),
        }
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
        // Renders the golden conversations without being told the special tokens.
        for c in cases.iter().filter(|c| c.template_file == template_file) {
            let got =
                t.render(&c.messages, c.tools.as_deref(), c.add_generation_prompt, &RenderExtra::default().now(*now));
            match (&c.expected, got) {
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
