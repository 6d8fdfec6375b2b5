//! Table-driven tests of the streaming tool-call parser (`chat::tool_calls`).
//!
//! Every case is fed three ways: in one piece, split in two at every char boundary, and one
//! char at a time. All must give the same events (adjacent texts merged): the same text, the
//! same calls with the same ids, the same diagnostics. In the tables `<S>` and `<E>` stand for
//! `<|tool_call_start|>` and `<|tool_call_end|>`.

use lfm_webgpu::chat::tool_calls::{
    pythonic_call, ParseEvent, ToolCallParser, ToolFormat, MAX_DEPTH, TOOL_CALL_END, TOOL_CALL_START,
};
use serde_json::{json, Value};

// ---- the table ----

struct Case {
    name: &'static str,
    format: ToolFormat,
    input: String,
    /// All `Text` events concatenated.
    text: String,
    /// Expected calls: name and arguments; ids are `call_0`, `call_1`, ... in order.
    calls: Vec<(String, Value)>,
    /// One entry per malformed section, in order: a substring of its diagnostic.
    malformed: Vec<&'static str>,
}

fn expand(s: &str) -> String {
    s.replace("<S>", TOOL_CALL_START).replace("<E>", TOOL_CALL_END)
}

/// A case whose output is `input` as text, with no calls.
fn case(name: &'static str, input: impl AsRef<str>) -> Case {
    let input = expand(input.as_ref());
    Case { name, format: ToolFormat::Auto, text: String::new(), input, calls: vec![], malformed: vec![] }
}

/// A case with one malformed section: all of `input` comes back as text.
fn bad(name: &'static str, input: impl AsRef<str>, diagnostic: &'static str) -> Case {
    let case = case(name, input);
    Case { text: case.input.clone(), malformed: vec![diagnostic], ..case }
}

impl Case {
    fn text(mut self, text: &str) -> Self {
        self.text = expand(text);
        self
    }
    fn all_text(mut self) -> Self {
        self.text = self.input.clone();
        self
    }
    fn call(mut self, name: &str, arguments: Value) -> Self {
        self.calls.push((name.to_string(), arguments));
        self
    }
    fn malformed(mut self, diagnostic: &'static str) -> Self {
        self.malformed.push(diagnostic);
        self
    }
    fn format(mut self, format: ToolFormat) -> Self {
        self.format = format;
        self
    }
}

fn nested(levels: usize) -> Value {
    (0..levels).fold(json!(1), |v, _| json!([v]))
}

fn cases() -> Vec<Case> {
    let deep = |n: usize| format!("<S>[f(a={}1{})]<E>", "[".repeat(n), "]".repeat(n));
    vec![
        // ---- text only ----
        case("empty output", ""),
        case("plain text", "Hello, world!").all_text(),
        case("text with <| and [", "a <| b [c] <|im_end|> d | [f(x=1)] x<|y <|").all_text(),
        case("partial start marker at the end", "Hi <|tool_call_sta").all_text(),
        case("marker look-alikes", "<|tool_call_star|> <|tool_call_start <tool_call_start|> <<|").all_text(),
        case("lone end marker", "done<E> ok").all_text(),
        case("multi-byte text", "héllo 世界 🎉 ñ <|👀").all_text(),
        // ---- the Pythonic form ----
        case("one call", "<S>[get_weather(city='Paris', days=3)]<E>")
            .call("get_weather", json!({"city": "Paris", "days": 3})),
        case("two calls", "<S>[get_weather(city='Paris', days=3), f()]<E>")
            .call("get_weather", json!({"city": "Paris", "days": 3}))
            .call("f", json!({})),
        case("text around a section", "Sure! <S>[f(a=1)]<E> Done.")
            .text("Sure!  Done.")
            .call("f", json!({"a": 1})),
        case("double quotes", r#"<S>[f(s="it's", t="")]<E>"#).call("f", json!({"s": "it's", "t": ""})),
        case("triple single quotes", "<S>[f(s='''line 1\nit's \"q\"''')]<E>")
            .call("f", json!({"s": "line 1\nit's \"q\""})),
        case("triple double quotes", "<S>[f(s=\"\"\"say \"hi\"\nbye\"\"\")]<E>")
            .call("f", json!({"s": "say \"hi\"\nbye"})),
        case("escapes", r#"<S>[f(s='a\nb\tc\\d\'e\"f\rg\0h\x07')]<E>"#)
            .call("f", json!({"s": "a\nb\tc\\d'e\"f\rg\u{0}h\u{7}"})),
        case("unicode escapes", r"<S>[f(s='\u00e9\x41\U0001F600\u6771')]<E>")
            .call("f", json!({"s": "éA😀東"})),
        case("surrogate pair escape", r"<S>[f(s='\ud83d\ude00')]<E>").call("f", json!({"s": "😀"})),
        case("unknown escape, raw and u strings", r"<S>[f(a='\d', b=r'\d+\'', c=u'x', d=R'\n')]<E>")
            .call("f", json!({"a": "\\d", "b": "\\d+\\'", "c": "x", "d": "\\n"})),
        case("line continuation in a string", "<S>[f(s='a\\\nb')]<E>").call("f", json!({"s": "ab"})),
        case("ints", "<S>[f(a=0, b=-7, c=1_000_000, d=+5, e=007)]<E>")
            .call("f", json!({"a": 0, "b": -7, "c": 1_000_000, "d": 5, "e": 7})),
        case("hex, octal, binary", "<S>[f(a=0xFF, b=0o17, c=0b101, d=-0x10, e=0x_ff)]<E>")
            .call("f", json!({"a": 255, "b": 15, "c": 5, "d": -16, "e": 255})),
        case("floats", "<S>[f(a=1.5, b=-2e-3, c=.5, d=1., e=1E3, f=1_0.2_5, g=-0.0, h=2.5e+2)]<E>")
            .call("f", json!({"a": 1.5, "b": -0.002, "c": 0.5, "d": 1.0, "e": 1000.0, "f": 10.25, "g": -0.0, "h": 250.0})),
        case("True, False, None", "<S>[f(a=True, b=False, c=None)]<E>")
            .call("f", json!({"a": true, "b": false, "c": null})),
        case("JSON literals, as the templates write dicts", r#"<S>[f(o={"urgent": true, "n": null, "x": false})]<E>"#)
            .call("f", json!({"o": {"urgent": true, "n": null, "x": false}})),
        case("lists and tuples", "<S>[f(a=[1, 'two', 3.0], b=(1, 2), c=(), d=(5,), e=(6), g=[])]<E>")
            .call("f", json!({"a": [1, "two", 3.0], "b": [1, 2], "c": [], "d": [5], "e": 6, "g": []})),
        case("dicts", r#"<S>[f(d={'a': 1, "b": [True, None], 'c': {'d': {}}})]<E>"#)
            .call("f", json!({"d": {"a": 1, "b": [true, null], "c": {"d": {}}}})),
        case("non-string dict keys", "<S>[f(d={1: 'a', 2.5: 'b', True: 'c', None: 'd', -3: 'e'})]<E>")
            .call("f", json!({"d": {"1": "a", "2.5": "b", "true": "c", "null": "d", "-3": "e"}})),
        case("repeated dict key: the last wins", "<S>[f(d={'a': 1, 'a': 2})]<E>").call("f", json!({"d": {"a": 2}})),
        case("sets", "<S>[f(s={1, 2}, t={'x'})]<E>").call("f", json!({"s": [1, 2], "t": ["x"]})),
        case("nested values", "<S>[f(q={'filters': [{'field': 'date', 'range': (1, 2)}], 'opts': {'deep': [[['x']]]}})]<E>")
            .call("f", json!({"q": {"filters": [{"field": "date", "range": [1, 2]}], "opts": {"deep": [[["x"]]]}}})),
        case("64 levels deep", deep(MAX_DEPTH)).call("f", json!({"a": nested(MAX_DEPTH)})),
        case("whitespace everywhere", "<S>\n[ \n get_weather ( \n\tcity = 'Paris' ,\n days=\n3 ) ,\n f ( ) \n]\n<E>")
            .call("get_weather", json!({"city": "Paris", "days": 3}))
            .call("f", json!({})),
        case("trailing commas", "<S>[f(a=[1, 2,], b={'k': 1,}, c=(1, 2,),), g(),]<E>")
            .call("f", json!({"a": [1, 2], "b": {"k": 1}, "c": [1, 2]}))
            .call("g", json!({})),
        case("dotted and dashed names", "<S>[ns.fn(x=1), a.b.c(), get-time(tz='UTC')]<E>")
            .call("ns.fn", json!({"x": 1}))
            .call("a.b.c", json!({}))
            .call("get-time", json!({"tz": "UTC"})),
        case("calls without brackets", "<S>f(a=1), g(b=2)<E>").call("f", json!({"a": 1})).call("g", json!({"b": 2})),
        case("empty call list", "Before <S>[]<E> after").text("Before  after"),
        case("empty call list with whitespace", "<S> [ \n ] <E>"),
        case("CJK and emoji in strings", "<S>[f(city='東京 🗼', note=\"naïve ☕\")]<E>")
            .call("f", json!({"city": "東京 🗼", "note": "naïve ☕"})),
        case("multi-byte text next to markers", "🎉<S>[f(s='é')]<E>世界").text("🎉世界").call("f", json!({"s": "é"})),
        case("start marker inside a string", "<S>[f(s='use <|tool_call_start|> here')]<E>")
            .call("f", json!({"s": "use <|tool_call_start|> here"})),
        case(
            "the chat fixture's rendering (unescaped quote, raw newline)",
            "<S>[get_weather(city='Paris', unit='celsius'), search_web(query='LFM2 benchmarks', max_results=5, \
             safe=True, min_score=0.25, lang=None), send_email(to='me@example.com', subject='Report', \
             body='It's 18°C.\nBye', cc=['a@example.com', 'b@example.com'], options={\"urgent\": true, \"retries\": 2.5})]<E>",
        )
        .call("get_weather", json!({"city": "Paris", "unit": "celsius"}))
        .call("search_web", json!({"query": "LFM2 benchmarks", "max_results": 5, "safe": true, "min_score": 0.25, "lang": null}))
        .call("send_email", json!({"to": "me@example.com", "subject": "Report", "body": "It's 18°C.\nBye",
            "cc": ["a@example.com", "b@example.com"], "options": {"urgent": true, "retries": 2.5}})),
        case("apostrophes in single quotes", "<S>[f(a='don't', b='rock 'n' roll', c='it's')]<E>")
            .call("f", json!({"a": "don't", "b": "rock 'n' roll", "c": "it's"})),
        case("two sections and text", "A <S>[f(i=1)]<E> B <S>[g(i=2), h(i=3)]<E> C")
            .text("A  B  C")
            .call("f", json!({"i": 1}))
            .call("g", json!({"i": 2}))
            .call("h", json!({"i": 3})),
        case("ints at the edges of 64 bits", "<S>[f(n=18446744073709551615, m=-9223372036854775808)]<E>")
            .call("f", json!({"n": u64::MAX, "m": i64::MIN})),
        case("ints beyond 64 bits become floats", "<S>[f(n=123456789012345678901234567890, m=-99999999999999999999)]<E>")
            .call("f", json!({"n": 1.2345678901234568e29, "m": -1e20})),
        case("hex beyond 64 bits becomes a float", "<S>[f(n=0x1_0000_0000_0000_0000)]<E>")
            .call("f", json!({"n": 18446744073709551616.0})),
        // ---- malformed Pythonic sections ----
        bad("positional argument", "<S>[get_weather('Paris')]<E>", "positional argument"),
        bad("positional after keyword", "<S>[f(a=1, 2)]<E>", "only keyword arguments"),
        bad("comparison instead of a keyword", "<S>[f(a==1)]<E>", "positional"),
        bad("unterminated string", "<S>[f(a='abc)]<E>", "unterminated string"),
        bad("unterminated triple-quoted string", "<S>[f(a='''abc')]<E>", "unterminated string"),
        bad("unterminated escape", r"<S>[f(a='abc\<E>", "unterminated string"),
        bad("unbalanced brackets", "<S>[f(a=[1, 2)]<E>", "expected ',' or ']'"),
        bad("list not closed", "<S>[f(a=[1, 2<E>", "'[' opened at byte 5 is not closed"),
        bad("call list not closed", "<S>[f(a=1)<E>", "the call list '[' is not closed"),
        bad("call not closed", "<S>[f(a=1<E>", "the call to 'f' is not closed"),
        bad("paren closed by a bracket", "<S>[f(a=1]<E>", "expected ',' or ')'"),
        bad("unclosed section at the end", "Calling <S>[f(a=1)]", "ended inside a tool call section"),
        bad("nested start markers", "<S>[f(a=1)<S>[g()]<E>", "second <|tool_call_start|>"),
        case("end marker inside a string ends the section", "<S>[f(s='a<E>b')]<E>")
            .all_text()
            .malformed("unterminated string"),
        bad("65 levels deep", deep(MAX_DEPTH + 1), "nested deeper than 64 levels"),
        bad("1000 levels deep", deep(1000), "nested deeper than 64 levels"),
        bad("unquoted string", "<S>[f(city=Paris)]<E>", "string values must be quoted"),
        bad("repeated keyword", "<S>[f(a=1, a=2)]<E>", "'a' repeated"),
        bad("text after the call list", "<S>[f()] extra<E>", "expected the end of the section"),
        bad("empty section", "<S><E>", "empty tool call section"),
        bad("missing comma", "<S>[f(a=1 b=2)]<E>", "expected ',' or ')'"),
        bad("complex number", "<S>[f(a=1j)]<E>", "complex"),
        bad("float beyond f64", "<S>[f(a=1e400)]<E>", "beyond the f64 range"),
        bad("int beyond f64", format!("<S>[f(a={})]<E>", "9".repeat(400)), "beyond the f64 range"),
        bad("bad numbers", "<S>[f(a=1.2.3)]<E>", "invalid number"),
        bad("bad underscores", "<S>[f(a=1__0)]<E>", "invalid number"),
        bad("lone surrogate escape", r"<S>[f(s='\ud800')]<E>", "not a unicode scalar value"),
        bad("truncated hex escape", r"<S>[f(s='\x4')]<E>", "needs 2 hex digits"),
        bad("named unicode escape", r"<S>[f(s='\N{DASH}')]<E>", "not supported"),
        bad("list as a dict key", "<S>[f(d={[1]: 2})]<E>", "not hashable"),
        bad("call without parentheses", "<S>[f]<E>", "'(' after the function name 'f'"),
        bad("not a call", "<S>[42]<E>", "expected a function name"),
        bad("bytes literal", "<S>[f(b=b'x')]<E>", "must be quoted"),
        case("malformed, then a valid section", "x <S>[f(1)]<E> y <S>[g(a=1)]<E> z")
            .text("x <S>[f(1)]<E> y  z")
            .malformed("positional")
            .call("g", json!({"a": 1})),
        bad("the Pythonic format given JSON", r#"<S>[{"name": "f", "arguments": {}}]<E>"#, "looks like the JSON form")
            .format(ToolFormat::Pythonic),
        // ---- the JSON form ----
        case("JSON array", r#"<S>[{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}]<E>"#)
            .call("get_weather", json!({"city": "Paris", "days": 3})),
        case("JSON object with text around", r#"Let me check. <S>{"name": "f", "arguments": {"a": [1, {"b": null}]}}<E> ok"#)
            .text("Let me check.  ok")
            .call("f", json!({"a": [1, {"b": null}]})),
        case("JSON arguments as a string", r#"<S>[{"name": "f", "arguments": "{\"a\": 1, \"s\": \"x\"}"}]<E>"#)
            .call("f", json!({"a": 1, "s": "x"})),
        case("JSON several calls, explicit format", "<S>\n[{\"name\": \"f\", \"arguments\": {}},\n {\"name\": \"g\", \"arguments\": {\"x\": 1.5}}]\n<E>")
            .format(ToolFormat::Json)
            .call("f", json!({}))
            .call("g", json!({"x": 1.5})),
        case("JSON, OpenAI shape", r#"<S>[{"type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}]<E>"#)
            .call("f", json!({"a": 1})),
        case("JSON parameters key and no arguments", r#"<S>[{"name": "f", "parameters": {"a": 1}}, {"name": "g"}]<E>"#)
            .call("f", json!({"a": 1}))
            .call("g", json!({})),
        case("JSON unicode and escapes", r#"<S>{"name": "f", "arguments": {"s": "東京 \u00e9 \ud83d\ude00 🗼\n"}}<E>"#)
            .call("f", json!({"s": "東京 é 😀 🗼\n"})),
        case("JSON big numbers", r#"<S>{"name":"f","arguments":{"a":18446744073709551615,"b":123456789012345678901234567890,"c":-1.5e-3}}<E>"#)
            .call("f", json!({"a": u64::MAX, "b": 1.2345678901234568e29, "c": -1.5e-3})),
        case("JSON start marker inside a string", r#"<S>{"name": "f", "arguments": {"s": "<|tool_call_start|>"}}<E>"#)
            .call("f", json!({"s": "<|tool_call_start|>"})),
        case("JSON written as Python literals", "<S>[{'name': 'f', 'arguments': {'a': True, 'b': None,},}]<E>")
            .call("f", json!({"a": true, "b": null})),
        case("JSON empty list", "<S>[]<E>").format(ToolFormat::Json),
        case("Auto: a JSON section, then a Pythonic one", r#"<S>{"name": "f"}<E><S>[g(x=1)]<E>"#)
            .call("f", json!({}))
            .call("g", json!({"x": 1})),
        bad("JSON invalid", r#"<S>[{"name": "f", "arguments": {"a": }}]<E>"#, "invalid JSON"),
        bad("JSON missing name", r#"<S>[{"arguments": {}}]<E>"#, "\"name\" is missing"),
        bad("JSON arguments string is not JSON", r#"<S>{"name": "f", "arguments": "a=1"}<E>"#, "not valid JSON"),
        bad("JSON arguments not an object", r#"<S>{"name": "f", "arguments": [1]}<E>"#, "not an object"),
        bad("JSON call not an object", r#"<S>["f"]<E>"#, "call 0: expected an object").format(ToolFormat::Json),
        bad("JSON format given Pythonic", "<S>[f(a=1)]<E>", "invalid JSON").format(ToolFormat::Json),
        bad("JSON too deep", format!(r#"<S>{{"name": "f", "arguments": {{"a": {}1{}}}}}<E>"#, "[".repeat(100), "]".repeat(100)), "nested 100 levels deep"),
        bad("JSON unclosed at the end", r#"Ok <S>{"name": "f""#, "ended inside"),
    ]
}

// ---- running a case ----

/// Feeds `pieces` to a fresh parser, then finishes.
fn run(format: ToolFormat, pieces: &[&str]) -> Vec<ParseEvent> {
    let mut parser = ToolCallParser::new(format);
    let mut events: Vec<ParseEvent> = pieces.iter().flat_map(|piece| parser.push(piece)).collect();
    events.extend(parser.finish());
    events
}

/// Merges adjacent texts: the stream as a reader sees it, independent of chunking.
fn merge_texts(events: &[ParseEvent]) -> Vec<ParseEvent> {
    let mut merged: Vec<ParseEvent> = Vec::new();
    for event in events {
        match (merged.last_mut(), event) {
            (Some(ParseEvent::Text(last)), ParseEvent::Text(text)) => last.push_str(text),
            _ => merged.push(event.clone()),
        }
    }
    merged
}

/// The per-event contract: no empty text, object arguments, `Text(raw)` right before each
/// `Malformed { raw }`.
fn check_contract(events: &[ParseEvent]) -> Result<(), String> {
    for (i, event) in events.iter().enumerate() {
        match event {
            ParseEvent::Text(text) if text.is_empty() => return Err(format!("event {i} is an empty text")),
            ParseEvent::ToolCall { arguments, .. } if !arguments.is_object() => {
                return Err(format!("event {i}: arguments {arguments} are not an object"))
            }
            ParseEvent::Malformed { raw, .. } if i == 0 || events[i - 1] != ParseEvent::Text(raw.clone()) => {
                return Err(format!("event {i}: Malformed not right after Text(raw) ({raw:?})"));
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_case(case: &Case) -> Result<(), String> {
    let input = case.input.as_str();
    let one_shot = run(case.format, &[input]);
    check_contract(&one_shot).map_err(|e| format!("one piece: {e}"))?;
    let expected = merge_texts(&one_shot);

    // What the one-piece stream says.
    let mut text = String::new();
    let mut calls = Vec::new();
    let mut diagnostics = Vec::new();
    for event in &expected {
        match event {
            ParseEvent::Text(t) => text.push_str(t),
            ParseEvent::ToolCall { id, name, arguments } => {
                let want_id = format!("call_{}", calls.len());
                if *id != want_id {
                    return Err(format!("call id {id}, expected {want_id}"));
                }
                calls.push((name.clone(), arguments.clone()));
            }
            ParseEvent::Malformed { diagnostic, .. } => diagnostics.push(diagnostic.clone()),
        }
    }
    if text != case.text {
        return Err(format!("text {text:?}\n  expected {:?}", case.text));
    }
    if calls != case.calls {
        return Err(format!("calls {calls:?}\n  expected {:?}", case.calls));
    }
    if diagnostics.len() != case.malformed.len()
        || !diagnostics.iter().zip(&case.malformed).all(|(d, want)| d.contains(want))
    {
        return Err(format!("diagnostics {diagnostics:?}\n  expected ones containing {:?}", case.malformed));
    }

    // The same stream for every split into two pieces, and one char at a time.
    for at in (0..=input.len()).filter(|&at| input.is_char_boundary(at)) {
        let events = run(case.format, &[&input[..at], &input[at..]]);
        check_contract(&events).map_err(|e| format!("split at byte {at}: {e}"))?;
        if merge_texts(&events) != expected {
            return Err(format!("split at byte {at}: {:?}\n  one piece: {expected:?}", merge_texts(&events)));
        }
    }
    let chars: Vec<String> = input.chars().map(String::from).collect();
    let events = run(case.format, &chars.iter().map(String::as_str).collect::<Vec<_>>());
    check_contract(&events).map_err(|e| format!("one char at a time: {e}"))?;
    if merge_texts(&events) != expected {
        return Err(format!("one char at a time: {:?}\n  one piece: {expected:?}", merge_texts(&events)));
    }
    Ok(())
}

#[test]
fn table() {
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names must be unique");
    let failures: Vec<String> =
        cases.iter().filter_map(|case| check_case(case).err().map(|e| format!("[{}] {e}", case.name))).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    let n_malformed: usize = cases.iter().map(|c| c.malformed.len()).sum();
    eprintln!(
        "{} cases ({} with malformed sections), each fed whole, split at every char boundary, and char by char",
        cases.len(),
        n_malformed
    );
}

// ---- the streaming contract, event by event ----

fn text(s: &str) -> ParseEvent {
    ParseEvent::Text(s.to_string())
}

#[test]
fn text_streams_at_once_except_a_possible_marker_start() {
    let mut p = ToolCallParser::new(ToolFormat::Auto);
    assert_eq!(p.push("Hello "), vec![text("Hello ")]);
    assert_eq!(p.push("wor<|too"), vec![text("wor")]);
    assert_eq!(p.push("l"), vec![]);
    assert_eq!(p.push(" x <"), vec![text("<|tool x ")]);
    assert_eq!(p.push("<"), vec![text("<")]);
    assert_eq!(p.push("|tool_call_start|>[f("), vec![]);
    assert!(p.in_tool_call());
    assert_eq!(p.push("a=1)]<|tool_call_"), vec![]);
    let call = ParseEvent::ToolCall { id: "call_0".into(), name: "f".into(), arguments: json!({"a": 1}) };
    assert_eq!(p.push("end|> bye <|"), vec![call, text(" bye ")]);
    assert!(!p.in_tool_call());
    assert_eq!(p.finish(), vec![text("<|")]);
}

#[test]
fn malformed_section_is_text_then_diagnostic() {
    let raw = "<|tool_call_start|>[f('x')]<|tool_call_end|>";
    let events = run(ToolFormat::Auto, &[&format!("pre {raw} post")]);
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(events[0], text("pre "));
    assert_eq!(events[1], text(raw));
    let ParseEvent::Malformed { raw: got, diagnostic } = &events[2] else { panic!("{events:?}") };
    assert_eq!(got, raw);
    assert!(diagnostic.starts_with("positional argument at byte 3 in the call to 'f'"), "{diagnostic}");
    assert_eq!(events[3], text(" post"));

    // Unclosed: raw has no end marker, and comes out at finish.
    let mut p = ToolCallParser::new(ToolFormat::Auto);
    assert_eq!(p.push("a <|tool_call_start|>[f(x=1)]"), vec![text("a ")]);
    let events = p.finish();
    assert_eq!(events[0], text("<|tool_call_start|>[f(x=1)]"));
    assert!(matches!(&events[1], ParseEvent::Malformed { raw, .. } if raw == "<|tool_call_start|>[f(x=1)]"));
}

#[test]
fn ids_count_across_sections_and_outputs() {
    let mut p = ToolCallParser::new(ToolFormat::Pythonic);
    let ids = |events: Vec<ParseEvent>| -> Vec<String> {
        events
            .into_iter()
            .filter_map(|e| if let ParseEvent::ToolCall { id, .. } = e { Some(id) } else { None })
            .collect()
    };
    assert_eq!(ids(p.push("<|tool_call_start|>[a(), b()]<|tool_call_end|>")), ["call_0", "call_1"]);
    assert_eq!(ids(p.push("<|tool_call_start|>[c(x=1)")), Vec::<String>::new());
    assert_eq!(ids(p.finish()), Vec::<String>::new()); // unclosed: malformed, takes no id
    assert_eq!(ids(p.push("<|tool_call_start|>[d()]<|tool_call_end|>")), ["call_2"]);
    assert_eq!(p.finish(), vec![]);
}

#[test]
fn very_deep_nesting_is_malformed_not_a_stack_overflow() {
    let n = 200_000;
    for (format, section) in [
        (ToolFormat::Auto, format!("[f(a={})]", "[".repeat(n))),
        (ToolFormat::Auto, format!("[f(a={})]", "({".repeat(n))),
        (ToolFormat::Json, format!("{{\"name\": \"f\", \"arguments\": {{\"a\": {}}}}}", "[".repeat(n))),
        (ToolFormat::Json, format!("[{}]", "{'a': ".repeat(n))),
        (ToolFormat::Json, format!("{{\"name\": \"f\", \"arguments\": \"{{\\\"a\\\": {}\"}}", "[".repeat(n))),
    ] {
        let input = format!("{TOOL_CALL_START}{section}{TOOL_CALL_END}");
        let events = run(format, &[&input]);
        assert_eq!(events.len(), 2, "{:?}", &events);
        assert!(matches!(&events[1], ParseEvent::Malformed { .. }));
    }
}

#[test]
fn long_sections_stream_char_by_char_in_linear_time() {
    let long = "東京 🗼 ".repeat(100_000);
    let input = format!("x{TOOL_CALL_START}[f(s='{long}')]{TOOL_CALL_END}y");
    let mut p = ToolCallParser::new(ToolFormat::Auto);
    let mut events = Vec::new();
    let mut buf = [0u8; 4];
    for c in input.chars() {
        events.extend(p.push(c.encode_utf8(&mut buf)));
    }
    events.extend(p.finish());
    let want = ParseEvent::ToolCall { id: "call_0".into(), name: "f".into(), arguments: json!({"s": long}) };
    assert_eq!(merge_texts(&events), vec![text("x"), want, text("y")]);
}

/// Random strings of grammar fragments: no panic, the event contract holds, chunking does
/// not change the stream, and an output without calls comes back whole as text.
#[test]
fn random_fragments_never_panic_and_ignore_chunking() {
    const FRAGMENTS: &[&str] = &[
        "<|tool_call_start|>",
        "<|tool_call_end|>",
        "<|tool_call_",
        "<|",
        "[",
        "]",
        "(",
        ")",
        "{",
        "}",
        "'",
        "\"",
        "'''",
        "\\",
        "\\u",
        "\\x4",
        "=",
        "==",
        ",",
        ":",
        " ",
        "\n",
        "f",
        "a",
        "ns.",
        "1",
        "-",
        "+",
        ".",
        "e",
        "0x",
        "_",
        "j",
        "True",
        "None",
        "null",
        "r",
        "é",
        "🎉",
        "東",
        "{\"name\": \"f\", \"arguments\": ",
        "\"{}\"",
        "[f(a=1)]",
    ];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for round in 0..3000 {
        let len = 1 + next(24);
        let input: String = (0..len).map(|_| FRAGMENTS[next(FRAGMENTS.len())]).collect();
        let input = if round % 2 == 0 { format!("<|tool_call_start|>{input}") } else { input };
        for format in [ToolFormat::Auto, ToolFormat::Pythonic, ToolFormat::Json] {
            let one_shot = run(format, &[&input]);
            check_contract(&one_shot).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            let expected = merge_texts(&one_shot);
            if !expected.iter().any(|e| matches!(e, ParseEvent::ToolCall { .. })) {
                let text: String = expected
                    .iter()
                    .filter_map(|e| match e {
                        ParseEvent::Text(t) => Some(t.as_str()),
                        _ => None,
                    })
                    .collect();
                assert_eq!(text, input, "no calls, so all of the input is text");
            }
            let chars: Vec<String> = input.chars().map(String::from).collect();
            let events = run(format, &chars.iter().map(String::as_str).collect::<Vec<_>>());
            check_contract(&events).unwrap_or_else(|e| panic!("{input:?} char by char: {e}"));
            assert_eq!(merge_texts(&events), expected, "{input:?} char by char");
            let bounds: Vec<usize> = (0..=input.len()).filter(|&i| input.is_char_boundary(i)).collect();
            let mut cuts = [bounds[next(bounds.len())], bounds[next(bounds.len())]];
            cuts.sort();
            let pieces = [&input[..cuts[0]], &input[cuts[0]..cuts[1]], &input[cuts[1]..]];
            assert_eq!(merge_texts(&run(format, &pieces)), expected, "{input:?} cut at {cuts:?}");
        }
    }
}

// ---- writing calls back ----

#[test]
fn calls_are_written_as_python_literals() {
    let args = json!({
        "city": "Paris", "days": 3, "metric": true, "note": "it's", "x": null, "l": [1, "a"],
        "d": {"k": 2.5, "it's": [false]}, "big": 1e16, "small": 1e-5, "e": [], "o": {}
    });
    assert_eq!(
        pythonic_call("get_weather", &args),
        "get_weather(city='Paris', days=3, metric=True, note='it\\'s', x=None, l=[1, 'a'], \
         d={'k': 2.5, 'it\\'s': [False]}, big=1e+16, small=1e-05, e=[], o={})"
    );
    assert_eq!(pythonic_call("f", &json!({})), "f()");
    assert_eq!(
        pythonic_call("ns.f", &json!({"s": "a\\b\n\t\r\u{1}\u{7f}\u{ad}é世🎉"})),
        "ns.f(s='a\\\\b\\n\\t\\r\\x01\\x7f\\xadé世🎉')"
    );
}

/// What the writer writes, the parser reads back: the same name and arguments, whichever way
/// the text is chunked.
#[test]
fn written_calls_parse_back_to_the_same_values() {
    let strings = [
        "",
        "'",
        "''",
        "\"",
        "it's",
        "say \"hi\"",
        "a', b='c",
        "x')]",
        "\\",
        "\\'",
        "ends with \\",
        "C:\\path\\n",
        "line\nbreak\r\n\ttab",
        "é 世界 🎉 ñ",
        "\u{0}\u{1}\u{1b}[0m\u{7f}\u{85}\u{a0}\u{ad}\u{2028}\u{200b}\u{feff}\u{e000}\u{10ffff}",
        "<|im_end|> <|tool_call_start|>",
        "=, ( ) [ ] { } :",
        "True",
        "None",
        "0x10",
        "r'raw'",
        "\\N{DASH}",
        "\\x41 \\u0041",
    ];
    let numbers = [
        json!(0),
        json!(-1),
        json!(i64::MIN),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(2.5),
        json!(-0.5),
        json!(1.0),
        json!(-0.0),
        json!(1e16),
        json!(1e-5),
        json!(1.5e300),
        json!(-2.2250738585072014e-308),
        json!(0.1 + 0.2),
        json!(123456789012345.6),
        json!(100.0),
    ];
    let mut values: Vec<Value> = strings.iter().map(|s| json!(s)).collect();
    values.extend(numbers);
    values.extend([json!(true), json!(false), json!(null), json!([]), json!({})]);
    values.push(json!(strings));
    values.push(json!({"it's": {"a\nb": [1, [2, [3, {"\\": null}]]], "": "", "é": [true, 1.5, "x"]}}));
    values.push(nested(MAX_DEPTH));

    let mut args = serde_json::Map::new();
    for (i, v) in values.iter().enumerate() {
        args.insert(format!("arg_{i}"), v.clone());
        let one = json!({"value": v});
        check_round_trip("one", &one);
    }
    check_round_trip("all", &Value::Object(args));
    check_round_trip("none", &json!({}));
}

fn check_round_trip(name: &str, arguments: &Value) {
    let written = format!("{TOOL_CALL_START}[{}, again(x=1)]{TOOL_CALL_END}", pythonic_call(name, arguments));
    let want = vec![
        ParseEvent::ToolCall { id: "call_0".into(), name: name.into(), arguments: arguments.clone() },
        ParseEvent::ToolCall { id: "call_1".into(), name: "again".into(), arguments: json!({"x": 1}) },
    ];
    for format in [ToolFormat::Pythonic, ToolFormat::Auto] {
        assert_eq!(run(format, &[&written]), want, "{written}");
    }
    let chars: Vec<String> = written.chars().map(String::from).collect();
    let pieces: Vec<&str> = chars.iter().map(String::as_str).collect();
    assert_eq!(merge_texts(&run(ToolFormat::Pythonic, &pieces)), want, "char by char: {written}");
}
