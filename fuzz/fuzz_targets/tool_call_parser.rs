//! The streaming tool-call parser fed model output in chunks cut at fuzzer-chosen points, in
//! each format. The contract (src/chat/tool_calls/mod.rs) says the events do not depend on the
//! split: compared against feeding the text in one piece. Also checked: no empty `Text`, every
//! `Malformed` right after `Text(raw)`, text without sections comes back whole, and a parsed call
//! written back with `pythonic_call` parses to the same call.
//!
//! Input: byte 0 = number of cuts (mod 16), then 2 bytes per cut (a byte offset, moved down to
//! a char boundary), then the text (lossy UTF-8). A seed is `\0` followed by the text.

#![no_main]

use lfm_webgpu::chat::tool_calls::{
    pythonic_call, ParseEvent, ToolCallParser, ToolFormat, TOOL_CALL_END, TOOL_CALL_START,
};
use libfuzzer_sys::fuzz_target;

/// All events of `chunks`, then `finish`.
fn run(format: ToolFormat, chunks: &[&str]) -> Vec<ParseEvent> {
    let mut p = ToolCallParser::new(format);
    let mut events = Vec::new();
    for chunk in chunks {
        events.extend(p.push(chunk));
    }
    events.extend(p.finish());
    assert!(!p.in_tool_call());
    events
}

/// Events with adjacent texts merged: how texts are grouped is what a split may change.
fn merged(events: &[ParseEvent]) -> Vec<ParseEvent> {
    let mut out: Vec<ParseEvent> = Vec::new();
    for e in events {
        match (out.last_mut(), e) {
            (Some(ParseEvent::Text(prev)), ParseEvent::Text(t)) => prev.push_str(t),
            _ => out.push(e.clone()),
        }
    }
    out
}

fn check_shape(events: &[ParseEvent]) {
    for (i, e) in events.iter().enumerate() {
        match e {
            ParseEvent::Text(t) => assert!(!t.is_empty(), "empty text event"),
            ParseEvent::Malformed { raw, .. } => {
                assert!(matches!(i.checked_sub(1).map(|j| &events[j]), Some(ParseEvent::Text(t)) if t == raw))
            }
            ParseEvent::ToolCall { arguments, .. } => assert!(arguments.is_object()),
        }
    }
}

/// `pythonic_call` promises a round trip for keys that are identifiers (and the call name is
/// a dotted identifier); a string holding the end marker would end the section early.
fn check_round_trip(name: &str, arguments: &serde_json::Value) {
    let ident = |s: &str| {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
            && chars.all(|c| c == '_' || c == '-' || c.is_alphanumeric())
    };
    let keys_ok = arguments.as_object().is_some_and(|m| m.keys().all(|k| ident(k)));
    if !keys_ok || !name.split('.').all(ident) {
        return;
    }
    let written = pythonic_call(name, arguments);
    if written.contains(TOOL_CALL_END) {
        return;
    }
    let section = format!("{TOOL_CALL_START}[{written}]{TOOL_CALL_END}");
    let events = run(ToolFormat::Pythonic, &[&section]);
    match events.as_slice() {
        [ParseEvent::ToolCall { name: n, arguments: a, .. }] => {
            assert_eq!((n.as_str(), a), (name, arguments), "{written}")
        }
        other => panic!("{written} read back as {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&n_cuts, rest)) = data.split_first() else { return };
    let n_cuts = (n_cuts % 16) as usize;
    if rest.len() < 2 * n_cuts {
        return;
    }
    let (cuts, text) = rest.split_at(2 * n_cuts);
    let text = String::from_utf8_lossy(text);
    let mut at: Vec<usize> = cuts
        .chunks(2)
        .map(|c| {
            let mut i = u16::from_le_bytes([c[0], c[1]]) as usize % (text.len() + 1);
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            i
        })
        .collect();
    at.sort_unstable();
    let mut chunks = Vec::with_capacity(n_cuts + 1);
    let mut from = 0;
    for &i in at.iter().chain([text.len()].iter()) {
        chunks.push(&text[from..i]); // empty chunks too: pushing "" must change nothing
        from = i;
    }

    for format in [ToolFormat::Pythonic, ToolFormat::Json, ToolFormat::Auto] {
        let whole = run(format, &[&text]);
        let split = run(format, &chunks);
        check_shape(&whole);
        check_shape(&split);
        assert_eq!(merged(&whole), merged(&split), "{format:?}, cut at {at:?}");

        let calls: Vec<_> = whole
            .iter()
            .filter_map(|e| match e {
                ParseEvent::ToolCall { name, arguments, .. } => Some((name, arguments)),
                _ => None,
            })
            .collect();
        if !text.contains(TOOL_CALL_START) {
            // No section: every byte comes back as text.
            let texts: String = whole
                .iter()
                .filter_map(|e| if let ParseEvent::Text(t) = e { Some(t.as_str()) } else { None })
                .collect();
            assert_eq!(texts, text);
        }
        for (name, arguments) in calls {
            check_round_trip(name, arguments);
        }
    }
});
