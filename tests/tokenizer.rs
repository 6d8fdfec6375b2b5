//! Tokenizer against the golden cases of `shared/fixtures/tokenizer/` (HF `tokenizers` on the
//! real LFM2 `tokenizer.json`; llama.cpp agrees on all of them), from both sources: the
//! `tokenizer.ggml.*` metadata of the fixture GGUFs and the `tokenizer.json` itself.

use std::sync::OnceLock;
use std::time::Instant;

use lfm_webgpu::gguf::{Gguf, GgufError, GgufFile, Value, ValueType};
use lfm_webgpu::tokenizer::{Tokenizer, TokenizerError};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures");

struct Case {
    id: u64,
    text: String,
    add_special: bool,
    ids: Vec<u32>,
    decoded: String,
    decoded_skip_special: String,
}

fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let path = format!("{FIXTURES}/tokenizer/tokenizer_golden.jsonl");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let cases: Vec<Case> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).expect("golden line is JSON");
                let s = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("field {k}")).to_string();
                Case {
                    id: v["id"].as_u64().expect("id"),
                    text: s("text"),
                    add_special: v["add_special_tokens"].as_bool().expect("add_special_tokens"),
                    ids: v["ids"].as_array().expect("ids").iter().map(|i| i.as_u64().expect("id") as u32).collect(),
                    decoded: s("decoded"),
                    decoded_skip_special: s("decoded_skip_special"),
                }
            })
            .collect();
        assert_eq!(cases.len(), 90, "golden file should have 90 cases");
        cases
    })
}

fn header(rel: &str) -> Gguf {
    let t = Instant::now();
    let g = GgufFile::open(format!("{FIXTURES}/{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}")).header;
    eprintln!("{rel}: header parsed in {:?}", t.elapsed());
    g
}

fn tiny_header() -> &'static Gguf {
    static H: OnceLock<Gguf> = OnceLock::new();
    H.get_or_init(|| header("tiny-moe/tiny-moe-f16.gguf"))
}

fn gguf_tokenizer() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| {
        let g = tiny_header();
        let t = Instant::now();
        let tok = Tokenizer::from_gguf(g).expect("tokenizer from tiny-moe GGUF");
        eprintln!("Tokenizer::from_gguf: {:?}", t.elapsed());
        tok
    })
}

fn json_tokenizer() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| {
        let bytes = std::fs::read(format!("{FIXTURES}/lfm2-tokenizer.json")).expect("lfm2-tokenizer.json");
        let t = Instant::now();
        let tok = Tokenizer::from_json_bytes(&bytes).expect("tokenizer from tokenizer.json");
        eprintln!("Tokenizer::from_json_bytes: {:?}", t.elapsed());
        tok
    })
}

/// Every mismatch of `tok` on `cases`, one line each.
fn mismatches<'a>(tok: &Tokenizer, cases: impl IntoIterator<Item = &'a Case>) -> Vec<String> {
    let mut bad = Vec::new();
    for c in cases {
        match tok.encode(&c.text, c.add_special) {
            Ok(ids) if ids == c.ids => {}
            Ok(ids) => bad.push(format!("case {} encode {:?}: expected {:?}, got {:?}", c.id, c.text, c.ids, ids)),
            Err(e) => bad.push(format!("case {} encode {:?}: error {e}", c.id, c.text)),
        }
        for (skip, want) in [(false, &c.decoded), (true, &c.decoded_skip_special)] {
            match tok.decode(&c.ids, skip) {
                Ok(got) if &got == want => {}
                Ok(got) => {
                    bad.push(format!("case {} decode(skip_special={skip}): expected {want:?}, got {got:?}", c.id))
                }
                Err(e) => bad.push(format!("case {} decode(skip_special={skip}): error {e}", c.id)),
            }
        }
    }
    bad
}

fn assert_golden(tok: &Tokenizer, label: &str) {
    let t = Instant::now();
    let bad = mismatches(tok, cases());
    eprintln!("{label}: 90 cases encoded + decoded twice in {:?}", t.elapsed());
    assert!(bad.is_empty(), "{label}: {} mismatches:\n{}", bad.len(), bad.join("\n"));
}

#[test]
fn gguf_tokenizer_matches_golden() {
    assert_golden(gguf_tokenizer(), "tiny-moe GGUF");
}

#[test]
fn json_tokenizer_matches_golden() {
    assert_golden(json_tokenizer(), "lfm2-tokenizer.json");
}

#[test]
fn small_moe_gguf_tokenizer_matches_golden() {
    let tok = Tokenizer::from_gguf(&header("small-moe/small-moe-q4_k_m.gguf")).expect("small-moe tokenizer");
    let some = cases().iter().filter(|c| c.id % 7 == 0 || c.add_special || c.text.len() > 1000);
    let bad = mismatches(&tok, some);
    assert!(bad.is_empty(), "small-moe GGUF: {} mismatches:\n{}", bad.len(), bad.join("\n"));
    let tiny = gguf_tokenizer();
    assert_eq!(
        (tok.vocab_size(), tok.bos_id(), tok.eos_id(), tok.pad_id()),
        (tiny.vocab_size(), tiny.bos_id(), tiny.eos_id(), tiny.pad_id())
    );
}

#[test]
fn special_tokens_and_vocabulary() {
    let g = gguf_tokenizer();
    assert_eq!(g.vocab_size(), 65_536);
    assert_eq!(
        (g.bos_id(), g.eos_id(), g.pad_id(), g.add_bos(), g.add_eos()),
        (Some(1), Some(7), Some(0), true, false)
    );
    assert_eq!(g.token_to_piece(1).as_deref(), Some("<|startoftext|>"));
    assert_eq!(g.token_to_piece(7).as_deref(), Some("<|im_end|>"));
    assert_eq!(g.token_to_piece(2031).as_deref(), Some("Ġworld"));
    assert_eq!(g.token_to_piece(65_536), None);
    assert_eq!(g.id_of("<|im_start|>"), Some(6));
    assert_eq!(g.id_of("[PAD65535]"), Some(65_535));
    assert_eq!(g.id_of("no such token"), None);
    // CONTROL is special; USER_DEFINED (`python`), NORMAL (`<|reserved_4|>`) and UNUSED are not.
    assert!(g.is_special(1) && g.is_special(7) && g.is_special(0));
    assert!(!g.is_special(64_014) && !g.is_special(14) && !g.is_special(2031) && !g.is_special(64_400));
    assert!(!g.is_special(u32::MAX));
    assert_eq!(g.encode("cpython", false).unwrap(), vec![g.id_of("c").unwrap(), 64_014]);
    // `<|reserved_4|>` is an ordinary token here, so its text is not matched as one token.
    assert_ne!(g.encode("<|reserved_4|>", false).unwrap(), vec![14]);

    let j = json_tokenizer();
    assert_eq!(j.vocab_size(), 64_400, "tokenizer.json has no [PADi] tail");
    assert_eq!((j.bos_id(), j.eos_id(), j.add_bos(), j.add_eos()), (Some(1), None, true, false));
    let j = j.clone().with_eos_id(7).unwrap();
    assert_eq!(j.eos_id(), Some(7));
    assert!(matches!(j.with_eos_id(64_400), Err(TokenizerError::SpecialIdOutOfRange { id: 64_400, .. })));
    for id in [0, 1, 6, 7, 14, 510, 2031, 64_011, 64_014, 64_399] {
        assert_eq!(g.is_special(id), json_tokenizer().is_special(id), "is_special({id})");
        assert_eq!(g.token_to_piece(id), json_tokenizer().token_to_piece(id), "token_to_piece({id})");
    }
}

#[test]
fn decode_rejects_out_of_range_ids() {
    let g = gguf_tokenizer();
    assert_eq!(g.decode(&[1, 65_536], false), Err(TokenizerError::IdOutOfRange { id: 65_536, n_vocab: 65_536 }));
    assert_eq!(g.decode(&[], false).unwrap(), "");
    // Half of a UTF-8 character decodes to U+FFFD, not an error.
    let ids = g.encode("é", false).unwrap();
    assert!(!g.decode(&ids[..ids.len().min(1)], false).unwrap().is_empty());
}

/// The tiny-moe header with `edit` applied to its metadata.
fn edited(edit: impl FnOnce(&mut Gguf)) -> Gguf {
    let mut g = tiny_header().clone();
    edit(&mut g);
    g
}

fn set(g: &mut Gguf, key: &str, v: Value) {
    g.metadata.insert(key.into(), v);
}

fn array<'a>(g: &'a mut Gguf, key: &str) -> &'a mut Vec<Value> {
    match g.metadata.get_mut(key) {
        Some(Value::Array(_, items)) => items,
        other => panic!("{key} is {other:?}"),
    }
}

#[test]
fn bad_metadata_gives_typed_errors() {
    let build = |edit: &dyn Fn(&mut Gguf)| Tokenizer::from_gguf(&edited(edit)).map(|_| ()).unwrap_err();
    let string = |s: &str| Value::String(s.into());

    let e = build(&|g| set(g, "tokenizer.ggml.model", string("llama")));
    assert_eq!(e, TokenizerError::UnsupportedModel("llama".into()));
    assert!(e.to_string().contains("`llama`"), "{e}");

    let e = build(&|g| set(g, "tokenizer.ggml.pre", string("qwen2")));
    assert_eq!(e, TokenizerError::UnsupportedPre("qwen2".into()));
    assert!(e.to_string().contains("`qwen2`") && e.to_string().contains("lfm2"), "{e}");

    let e = build(&|g| {
        array(g, "tokenizer.ggml.token_type").pop();
    });
    assert_eq!(e, TokenizerError::LengthMismatch { key: "tokenizer.ggml.token_type", len: 65_535, n_tokens: 65_536 });

    let e = build(&|g| array(g, "tokenizer.ggml.token_type")[3] = Value::I32(9));
    assert_eq!(e, TokenizerError::BadTokenType { id: 3, ty: 9 });

    let e = build(&|g| array(g, "tokenizer.ggml.merges")[5] = string("nospace"));
    assert_eq!(e, TokenizerError::MalformedMerge { index: 5, merge: "nospace".into() });
    let e = build(&|g| array(g, "tokenizer.ggml.merges")[5] = string("a b c"));
    assert!(matches!(e, TokenizerError::MalformedMerge { index: 5, .. }), "{e:?}");
    let e = build(&|g| array(g, "tokenizer.ggml.merges")[0] = string("Ċ zzzzzzzzzz"));
    assert_eq!(
        e,
        TokenizerError::MergeNotInVocab { index: 0, merge: "Ċ zzzzzzzzzz".into(), token: "zzzzzzzzzz".into() }
    );

    let e = build(&|g| array(g, "tokenizer.ggml.tokens")[9] = string("<|im_end|>"));
    assert_eq!(e, TokenizerError::DuplicateToken { id: 9, first: 7, token: "<|im_end|>".into() });

    let e = build(&|g| set(g, "tokenizer.ggml.eos_token_id", Value::U32(70_000)));
    assert_eq!(
        e,
        TokenizerError::SpecialIdOutOfRange { key: "tokenizer.ggml.eos_token_id", id: 70_000, n_vocab: 65_536 }
    );

    let e = build(&|g| {
        g.metadata.remove("tokenizer.ggml.bos_token_id");
    });
    assert!(matches!(e, TokenizerError::MissingSpecialId { .. }), "{e:?}");

    let e = build(&|g| set(g, "tokenizer.ggml.tokens", Value::Array(ValueType::String, vec![])));
    assert_eq!(e, TokenizerError::BadVocabSize(0));

    let e = build(&|g| {
        g.metadata.remove("tokenizer.ggml.merges");
    });
    assert_eq!(e, TokenizerError::Gguf(GgufError::MissingKey("tokenizer.ggml.merges".into())));

    let e = build(&|g| set(g, "tokenizer.ggml.tokens", Value::Array(ValueType::U32, vec![Value::U32(1)])));
    assert!(matches!(e, TokenizerError::Gguf(GgufError::WrongType { .. })), "{e:?}");

    let e = Tokenizer::from_json_bytes(b"{\"not\": \"a tokenizer\"}").map(|_| ()).unwrap_err();
    assert!(matches!(e, TokenizerError::Json(_)), "{e:?}");
}

#[test]
fn add_bos_and_add_eos_follow_metadata() {
    let no_bos = Tokenizer::from_gguf(&edited(|g| set(g, "tokenizer.ggml.add_bos_token", Value::Bool(false)))).unwrap();
    assert_eq!(no_bos.encode("Hello", true).unwrap(), no_bos.encode("Hello", false).unwrap());
    let eos = Tokenizer::from_gguf(&edited(|g| set(g, "tokenizer.ggml.add_eos_token", Value::Bool(true)))).unwrap();
    let plain = eos.encode("Hello", false).unwrap();
    assert_eq!(eos.encode("Hello", true).unwrap(), [&[1][..], &plain, &[7]].concat());
}
