//! GGUF reader tests: the shipped fixtures against the tables gguf-py wrote into their
//! `golden.json`, writer/reader round trips, prefix (streaming) parsing, and bad input.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::gguf_bytes::{find, info_at, put_u32, put_u64};
use lfm_webgpu::gguf::{Gguf, GgufError, GgufFile, GgufWriter, Parsed, Value, ValueType};
use lfm_webgpu::quant::GgmlType;
use serde_json::Value as Json;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures");
const MODELS: [&str; 3] = ["tiny-moe", "small-moe", "tiny-dense"];

// ------------------------------------------------------------------------------------ helpers

fn golden(model: &str) -> Json {
    let path = format!("{FIXTURES}/{model}/golden.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// (model, variant, path) of every GGUF shipped in the fixtures.
fn shipped() -> Vec<(String, String, PathBuf)> {
    let mut out = Vec::new();
    for model in MODELS {
        let g = golden(model);
        for (variant, f) in g["files"].as_object().unwrap() {
            if f["shipped"].as_bool().unwrap() {
                let path = PathBuf::from(format!("{FIXTURES}/{model}/{}", f["file"].as_str().unwrap()));
                out.push((model.to_string(), variant.clone(), path));
            }
        }
    }
    for model in MODELS {
        assert!(out.iter().any(|(m, _, _)| m == model), "no shipped GGUF for {model}");
    }
    out
}

fn read_fixture(model: &str, file: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}/{model}/{file}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn complete(bytes: &[u8]) -> Gguf {
    match Gguf::parse_prefix(bytes).unwrap() {
        Parsed::Complete(g) => g,
        Parsed::NeedBytes(n) => panic!("{} bytes did not complete the header: asked for {n}", bytes.len()),
    }
}

fn need(bytes: &[u8]) -> u64 {
    match Gguf::parse_prefix(bytes).unwrap() {
        Parsed::NeedBytes(n) => n,
        Parsed::Complete(_) => panic!("a prefix of {} bytes completed the header", bytes.len()),
    }
}

fn assert_same_header(a: &Gguf, b: &Gguf) {
    assert_eq!(a.version, b.version);
    assert_eq!(a.metadata, b.metadata);
    assert_eq!(a.tensors, b.tensors);
    assert_eq!(a.alignment, b.alignment);
    assert_eq!(a.data_offset, b.data_offset);
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

fn f32_bytes(xs: &[f32]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A small file with a bit of everything: the base the bad-input tests corrupt.
fn sample(version: u32) -> Vec<u8> {
    GgufWriter::new(version)
        .metadata("general.architecture", s("lfm2"))
        .metadata("flag", Value::Bool(true))
        .metadata("count", Value::U32(7))
        .metadata("names", Value::Array(ValueType::String, vec![s("a"), s("bc")]))
        .metadata("nums", Value::Array(ValueType::I16, vec![Value::I16(-1), Value::I16(2)]))
        .metadata("nest", Value::Array(ValueType::Array, vec![Value::Array(ValueType::U8, vec![Value::U8(1)])]))
        .tensor("weight", &[32, 2], GgmlType::Q4_0, vec![0x11; 36])
        .unwrap()
        .tensor("bias", &[3], GgmlType::F32, f32_bytes(&[1.0, 2.0, 3.0]))
        .unwrap()
        .to_bytes()
}

/// An error in the header: `parse_prefix` and `from_bytes` must both report it.
fn header_err(bytes: &[u8]) -> GgufError {
    let err = Gguf::parse_prefix(bytes).map(|_| ()).expect_err("parse_prefix accepted a bad header");
    assert_eq!(Gguf::from_bytes(bytes).map(|_| ()).unwrap_err(), err);
    err
}

use lfm_webgpu::rng::Rng;

// ------------------------------------------------------------------------- real fixtures

/// Compares one parsed metadata value with gguf-py's summary of it in golden.json.
fn check_kv(key: &str, ours: &Value, want: &Json) {
    let ctx = format!("{key}: ours {ours}, golden {want}");
    match want {
        Json::String(w) => assert_eq!(ours.as_str(), Some(w.as_str()), "{ctx}"),
        Json::Bool(w) => assert_eq!(ours.as_bool(), Some(*w), "{ctx}"),
        Json::Number(n) if n.is_f64() => {
            assert!(matches!(ours, Value::F32(_) | Value::F64(_)), "{ctx}");
            assert_eq!(ours.as_f64(), n.as_f64(), "{ctx}");
        }
        Json::Number(n) => assert_eq!(ours.as_i64(), n.as_i64(), "{ctx}"),
        Json::Array(items) => {
            let ours_items = ours.as_array().unwrap_or_else(|| panic!("{ctx}"));
            assert_eq!(ours_items.len(), items.len(), "{ctx}");
            ours_items.iter().zip(items).for_each(|(o, w)| check_kv(key, o, w));
        }
        Json::Object(o) if o.contains_key("array_len") => {
            let ours_items = ours.as_array().unwrap_or_else(|| panic!("{ctx}"));
            assert_eq!(ours_items.len() as u64, o["array_len"].as_u64().unwrap(), "{ctx}");
            let first = o["first"].as_array().unwrap();
            let last = o["last"].as_array().unwrap();
            first.iter().zip(ours_items).for_each(|(w, o)| check_kv(key, o, w));
            last.iter().rev().zip(ours_items.iter().rev()).for_each(|(w, o)| check_kv(key, o, w));
        }
        Json::Object(o) if o.contains_key("string_len") => {
            // gguf-py's len() of a Python str: code points.
            let text = ours.as_str().unwrap_or_else(|| panic!("{ctx}"));
            assert_eq!(text.chars().count() as u64, o["string_len"].as_u64().unwrap(), "{ctx}");
        }
        _ => panic!("unexpected golden form: {ctx}"),
    }
}

#[test]
fn fixtures_match_golden_tables() {
    for (model, variant, path) in shipped() {
        let g = golden(&model);
        let want = &g["files"][&variant];
        let file = GgufFile::open(&path).unwrap();
        let h = &file.header;
        let name = path.display();
        assert_eq!(file.bytes().len() as u64, want["bytes"].as_u64().unwrap(), "{name}");
        assert_eq!(h.version, 3, "{name}");
        assert_eq!(h.alignment, 32, "{name}");
        assert_eq!(h.data_offset % 32, 0, "{name}");
        assert!(h.data_end() <= file.bytes().len() as u64, "{name}");

        // Tensors: same order, names, types, ne, sizes and absolute offsets as gguf-py saw.
        let tensors = want["tensors"].as_array().unwrap();
        assert_eq!(h.tensors.len(), tensors.len(), "{name}");
        for (t, w) in h.tensors.iter().zip(tensors) {
            let ctx = format!("{name}: {}", t.name);
            assert_eq!(t.name, w["name"].as_str().unwrap(), "{ctx}");
            assert_eq!(t.ty.name(), w["type"].as_str().unwrap(), "{ctx}");
            let ne: Vec<u64> = w["ne"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect();
            assert_eq!(t.dims, ne, "{ctx}");
            assert_eq!(t.n_bytes(), w["n_bytes"].as_u64().unwrap(), "{ctx}");
            assert_eq!(h.tensor_range(t).start, w["offset"].as_u64().unwrap(), "{ctx}");
            assert_eq!(t.offset % h.alignment, 0, "{ctx}");
            assert_eq!(want["tensor_types"][&t.name].as_str(), Some(t.ty.name()), "{ctx}");
        }

        // Metadata: the same keys, and every value agrees with gguf-py's summary.
        let kv = want["gguf_kv"].as_object().unwrap();
        let ours: Vec<&String> = h.metadata.keys().collect();
        let mut theirs: Vec<&String> = kv.keys().collect();
        theirs.sort();
        assert_eq!(ours, theirs, "{name}");
        for (key, w) in kv {
            check_kv(key, &h.metadata[key], w);
        }

        // A few typed getters on real values.
        let arch = g["arch"].as_str().unwrap();
        assert_eq!(h.get_str("general.architecture").unwrap(), arch);
        assert_eq!(
            h.get_u64(&format!("{arch}.block_count")).unwrap(),
            kv[&format!("{arch}.block_count")].as_u64().unwrap()
        );
        assert_eq!(
            h.get_usize(&format!("{arch}.embedding_length")).unwrap() as u64,
            kv[&format!("{arch}.embedding_length")].as_u64().unwrap()
        );
        assert_eq!(
            h.get_string_array("tokenizer.ggml.tokens").unwrap().len(),
            h.get_i64_array("tokenizer.ggml.token_type").unwrap().len()
        );
        assert!(h.get_bool("tokenizer.ggml.add_bos_token").is_ok());
        let eps = h.get_f32(&format!("{arch}.attention.layer_norm_rms_epsilon")).unwrap();
        assert!(eps > 0.0 && eps < 1e-3);
        assert_eq!(h.tensor("token_embd.weight").unwrap().name, "token_embd.weight");
    }
}

#[test]
fn fixture_rewritten_by_writer_reads_back_identically() {
    let bytes = read_fixture("tiny-moe", "tiny-moe-q4_0.gguf");
    let h = Gguf::from_bytes(&bytes).unwrap();
    let mut w = GgufWriter::new(h.version);
    for (k, v) in &h.metadata {
        w = w.metadata(k, v.clone());
    }
    for t in &h.tensors {
        let r = h.tensor_range(t);
        w = w.tensor(&t.name, &t.dims, t.ty, bytes[r.start as usize..r.end as usize].to_vec()).unwrap();
    }
    let out = w.to_bytes();
    let h2 = Gguf::from_bytes(&out).unwrap();
    assert_eq!(h2.metadata, h.metadata);
    assert_eq!(h2.tensors.len(), h.tensors.len());
    for (a, b) in h.tensors.iter().zip(&h2.tensors) {
        assert_eq!((&a.name, &a.dims, a.ty), (&b.name, &b.dims, b.ty));
        let (ra, rb) = (h.tensor_range(a), h2.tensor_range(b));
        assert_eq!(bytes[ra.start as usize..ra.end as usize], out[rb.start as usize..rb.end as usize], "{}", a.name);
    }
    // The fixture packs tensors like our writer (aligned, in order), so the layout is the same size.
    assert_eq!(h2.data_end() - h2.data_offset, h.data_end() - h.data_offset);
}

// ---------------------------------------------------------------------------- round trips

fn every_value() -> Vec<(String, Value)> {
    let scalars = vec![
        ("u8", Value::U8(u8::MAX)),
        ("i8", Value::I8(i8::MIN)),
        ("u16", Value::U16(u16::MAX)),
        ("i16", Value::I16(i16::MIN)),
        ("u32", Value::U32(u32::MAX)),
        ("i32", Value::I32(i32::MIN)),
        ("f32", Value::F32(-1.5e-30)),
        ("bool.true", Value::Bool(true)),
        ("bool.false", Value::Bool(false)),
        ("string", s("héllo, \u{1F600} \"world\"\n")),
        ("string.empty", s("")),
        ("u64", Value::U64(u64::MAX)),
        ("i64", Value::I64(i64::MIN)),
        ("f64", Value::F64(std::f64::consts::PI)),
    ];
    let mut out: Vec<(String, Value)> = Vec::new();
    for (k, v) in &scalars {
        out.push((k.to_string(), v.clone()));
        // An array of each type: three copies of the value.
        out.push((format!("array.{k}"), Value::Array(v.value_type(), vec![v.clone(); 3])));
    }
    out.push(("array.empty.u32".into(), Value::Array(ValueType::U32, vec![])));
    out.push(("array.empty.string".into(), Value::Array(ValueType::String, vec![])));
    out.push(("array.empty.array".into(), Value::Array(ValueType::Array, vec![])));
    let inner = vec![
        Value::Array(ValueType::I32, vec![Value::I32(-1), Value::I32(2)]),
        Value::Array(ValueType::String, vec![s("x"), s("")]),
        Value::Array(ValueType::F64, vec![]),
        Value::Array(ValueType::Array, vec![Value::Array(ValueType::Bool, vec![Value::Bool(true)])]),
    ];
    out.push(("array.of.arrays".into(), Value::Array(ValueType::Array, inner)));
    out.push(("".into(), s("empty key")));
    out
}

#[test]
fn every_value_type_round_trips_v2_and_v3() {
    for version in [2, 3] {
        let values = every_value();
        let mut w = GgufWriter::new(version);
        for (k, v) in &values {
            w = w.metadata(k, v.clone());
        }
        let bytes = w.to_bytes();
        let h = Gguf::from_bytes(&bytes).unwrap();
        assert_eq!(h.version, version);
        assert!(h.tensors.is_empty());
        assert_eq!(h.data_offset, bytes.len() as u64, "a file without tensors ends at the aligned header end");
        assert_eq!(h.data_end(), h.data_offset);
        let want: BTreeMap<String, Value> = values.into_iter().collect();
        assert_eq!(h.metadata, want);
        // Each value kept its exact type, not just an equal number.
        for (k, v) in &want {
            assert_eq!(h.metadata[k].value_type(), v.value_type(), "{k}");
        }
    }
}

#[test]
fn float_bit_patterns_round_trip() {
    let f32s = [f32::NAN, -0.0, f32::INFINITY, f32::MIN_POSITIVE / 2.0, f32::from_bits(0x7fc0_1234)];
    let f64s = [f64::NAN, -0.0, f64::NEG_INFINITY, f64::from_bits(1)];
    let mut w = GgufWriter::new(3);
    for (i, &x) in f32s.iter().enumerate() {
        w = w.metadata(format!("f32.{i}"), Value::F32(x));
    }
    for (i, &x) in f64s.iter().enumerate() {
        w = w.metadata(format!("f64.{i}"), Value::F64(x));
    }
    let h = Gguf::from_bytes(&w.to_bytes()).unwrap();
    for (i, &x) in f32s.iter().enumerate() {
        let Value::F32(y) = h.metadata[&format!("f32.{i}")] else { panic!() };
        assert_eq!(y.to_bits(), x.to_bits(), "f32.{i}");
    }
    for (i, &x) in f64s.iter().enumerate() {
        let Value::F64(y) = h.metadata[&format!("f64.{i}")] else { panic!() };
        assert_eq!(y.to_bits(), x.to_bits(), "f64.{i}");
    }
}

/// Tensors of awkward sizes; returns the file and each tensor's (name, data).
fn tensors_file(alignment: u64) -> (Vec<u8>, Vec<(&'static str, Vec<u8>)>) {
    let specs: [(&str, &[u64], GgmlType); 6] = [
        ("odd.f32", &[3], GgmlType::F32),
        ("q4_0", &[32, 3], GgmlType::Q4_0),
        ("f16", &[5, 1, 1, 1], GgmlType::F16),
        ("q8_0", &[64, 1, 2], GgmlType::Q8_0),
        ("empty", &[0, 4], GgmlType::F32),
        ("q4_k", &[256, 2], GgmlType::Q4_K),
    ];
    let mut w = GgufWriter::new(3).metadata("general.name", s("t")).alignment(alignment).unwrap();
    let mut want = Vec::new();
    for (i, (name, dims, ty)) in specs.into_iter().enumerate() {
        let n = ty.bytes_for(dims.iter().product()).unwrap() as usize;
        let data: Vec<u8> = (0..n).map(|j| (j * 7 + i * 31) as u8).collect();
        w = w.tensor(name, dims, ty, data.clone()).unwrap();
        want.push((name, data));
    }
    (w.to_bytes(), want)
}

#[test]
fn tensors_round_trip_with_alignment() {
    for alignment in [1, 8, 32, 64, 4096] {
        let (bytes, want) = tensors_file(alignment);
        let h = Gguf::from_bytes(&bytes).unwrap();
        assert_eq!(h.alignment, alignment);
        match h.metadata.get("general.alignment") {
            None => assert_eq!(alignment, 32, "general.alignment is written only when not 32"),
            Some(v) => assert_eq!(v, &Value::U32(alignment as u32)),
        }
        assert_eq!(h.data_offset % alignment, 0);
        assert_eq!(h.tensors.len(), want.len());
        for (t, (name, data)) in h.tensors.iter().zip(&want) {
            assert_eq!(&t.name, name);
            assert_eq!(t.offset % alignment, 0, "{name} offset {} with alignment {alignment}", t.offset);
            let r = h.tensor_range(t);
            assert_eq!(r.end - r.start, data.len() as u64);
            assert_eq!(&bytes[r.start as usize..r.end as usize], data.as_slice(), "{name}");
        }
        assert_eq!(bytes.len() as u64, h.data_end().next_multiple_of(alignment));
    }
    // The interesting case: 64 moves offsets that 32 would not.
    let h = Gguf::from_bytes(&tensors_file(64).0).unwrap();
    let offsets: Vec<u64> = h.tensors.iter().map(|t| t.offset).collect();
    assert_eq!(offsets, [0, 64, 128, 192, 384, 384]);
}

#[test]
fn writer_rejects_what_it_cannot_lay_out() {
    let w = || GgufWriter::new(3);
    assert!(matches!(w().tensor("t", &[4], GgmlType::F32, vec![0; 15]), Err(GgufError::BadTensor { .. })));
    assert!(matches!(w().tensor("t", &[33], GgmlType::Q4_0, vec![0; 18]), Err(GgufError::BadTensor { .. })));
    assert!(matches!(w().tensor("t", &[u64::MAX, 2], GgmlType::F32, vec![]), Err(GgufError::BadTensor { .. })));
    for a in [0, 3, 48, 1 << 40] {
        assert!(w().alignment(a).is_err(), "alignment {a}");
    }
}

// ------------------------------------------------------------------------- prefix parsing

/// Feeds exactly what the parser asks for, starting from `start` bytes: the header must come
/// in fewer than 50 parses (a streaming caller makes one round trip per parse).
fn read_what_is_asked(bytes: &[u8], start: u64) -> Gguf {
    let mut have = start;
    for _ in 0..50 {
        match Gguf::parse_prefix(&bytes[..have as usize]).unwrap() {
            Parsed::Complete(g) => return g,
            Parsed::NeedBytes(n) => {
                assert!(n > have, "asked for {n} bytes while holding {have}");
                assert!(n <= bytes.len() as u64, "asked for {n} bytes of a {}-byte file", bytes.len());
                have = n;
            }
        }
    }
    panic!("50 round trips from {start} bytes did not read the header; holding {have}")
}

#[test]
fn read_what_is_asked_completes_in_few_steps() {
    // One file per model (every full parse of a header reads ~130k vocabulary strings).
    for model in MODELS {
        let (_, _, path) = shipped().into_iter().find(|(m, _, _)| m == model).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let full = Gguf::from_bytes(&bytes).unwrap();
        assert_same_header(&read_what_is_asked(&bytes, 0), &full);
    }
}

#[test]
fn prefixes_of_a_real_file() {
    let bytes = read_fixture("tiny-moe", "tiny-moe-q4_0.gguf");
    let full = Gguf::from_bytes(&bytes).unwrap();
    // The smallest complete prefix: where the last tensor info ends.
    let (mut lo, mut hi) = (0usize, full.data_offset as usize); // lo incomplete, hi complete
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        match Gguf::parse_prefix(&bytes[..mid]).unwrap() {
            Parsed::Complete(_) => hi = mid,
            Parsed::NeedBytes(_) => lo = mid,
        }
    }
    let header_end = hi as u64;
    assert!(header_end <= full.data_offset && full.data_offset - header_end < 32);

    // Every prefix shorter than the header asks for more, and never for more than the header:
    // all short prefixes, the last bytes, and a spread in between.
    let mut lens: Vec<u64> = (0..2048).chain(header_end - 8..header_end).collect();
    lens.extend((0..40).map(|i| i * (header_end / 40) + (i * 7919) % 1000));
    for len in lens {
        let n = need(&bytes[..len as usize]);
        assert!(n > len && n <= header_end, "prefix of {len} bytes asked for {n} (header ends at {header_end})");
    }
    assert_eq!(need(&bytes[..header_end as usize - 1]), header_end);

    // Feeding what is asked converges from any start, to the same header as the full parse.
    for start in [23, header_end / 2, header_end - 1] {
        assert_same_header(&read_what_is_asked(&bytes, start), &full);
    }
    assert_same_header(&complete(&bytes[..header_end as usize]), &full);
    assert_same_header(&complete(&bytes[..full.data_offset as usize]), &full);

    // from_bytes on a prefix: a truncated header, or tensors past the end.
    for len in [0, 3, 4, 24, 1000, header_end - 1] {
        match Gguf::from_bytes(&bytes[..len as usize]) {
            Err(GgufError::Truncated { have, need }) => assert!(have == len && need > len && need <= header_end),
            other => panic!("prefix of {len}: {other:?}"),
        }
    }
    let err = Gguf::from_bytes(&bytes[..full.data_offset as usize]).unwrap_err();
    assert!(matches!(err, GgufError::TensorOutOfFile { ref tensor, .. } if tensor == &full.tensors[0].name), "{err:?}");
}

#[test]
fn prefixes_of_a_written_file() {
    let bytes = sample(3);
    let full = Gguf::from_bytes(&bytes).unwrap();
    let mut completed_at = None;
    for len in 0..=bytes.len() {
        match Gguf::parse_prefix(&bytes[..len]).unwrap() {
            Parsed::NeedBytes(n) => {
                assert!(completed_at.is_none(), "{len} bytes incomplete after {completed_at:?} completed");
                assert!(n as usize > len && n <= full.data_offset, "{len} -> {n}");
                assert!(matches!(Gguf::from_bytes(&bytes[..len]), Err(GgufError::Truncated { .. })));
            }
            Parsed::Complete(g) => {
                assert_same_header(&g, &full);
                completed_at.get_or_insert(len);
            }
        }
    }
    assert!(completed_at.unwrap() as u64 <= full.data_offset);
}

/// Found by fuzzing (`fuzz/`, target gguf_prefix): an ask made inside a tensor info or a kv
/// pair left out that item's remaining fields, so a longer prefix could ask for less than a
/// shorter one had (180 bytes asked for 213, then 191 bytes for 194). Asks only ever grow.
#[test]
fn asks_never_shrink_as_the_prefix_grows() {
    let mut w = GgufWriter::new(3);
    for (k, v) in every_value() {
        w = w.metadata(k, v);
    }
    let w = w.tensor("a", &[4], GgmlType::F32, vec![0; 16]).unwrap().tensor("b", &[2, 2], GgmlType::F32, vec![0; 16]);
    for bytes in [sample(3), w.unwrap().to_bytes()] {
        let header_end =
            (0..bytes.len()).find(|&len| matches!(Gguf::parse_prefix(&bytes[..len]), Ok(Parsed::Complete(_))));
        let mut last = 0;
        for len in 0..header_end.unwrap() {
            let n = need(&bytes[..len]);
            assert!(n >= last, "{} bytes asked for {last}, {len} bytes for {n}", len - 1);
            last = n;
        }
    }
}

// ------------------------------------------------------------------------------ bad input

#[test]
fn bad_magic() {
    let mut b = sample(3);
    b[3] = b'X';
    assert_eq!(header_err(&b), GgufError::BadMagic { found: *b"GGUX" });
    assert_eq!(header_err(b"GGML\0\0\0\0"), GgufError::BadMagic { found: *b"GGML" });
}

#[test]
fn unsupported_versions() {
    for v in [0, 1, 4, u32::MAX] {
        assert_eq!(header_err(&sample(v)), GgufError::UnsupportedVersion(v));
    }
    let mut b = sample(3);
    b[4..8].copy_from_slice(&3u32.to_be_bytes()); // a big-endian file
    assert_eq!(header_err(&b), GgufError::UnsupportedVersion(0x0300_0000));
}

#[test]
fn truncated_header() {
    let b = sample(2);
    let h = Gguf::from_bytes(&b).unwrap();
    for len in [0, 4, 7, 23, 40, h.data_offset as usize - 32] {
        let err = Gguf::from_bytes(&b[..len]).unwrap_err();
        assert!(
            matches!(err, GgufError::Truncated { have, need } if have == len as u64 && need > have),
            "{len}: {err:?}"
        );
    }
}

#[test]
fn truncated_tensor_data_names_the_tensor() {
    let b = sample(3);
    let h = Gguf::from_bytes(&b).unwrap();
    for t in &h.tensors {
        let r = h.tensor_range(t);
        for cut in [r.start + 1, r.end - 1] {
            match Gguf::from_bytes(&b[..cut as usize]) {
                Err(GgufError::TensorOutOfFile { tensor, start, end, file_len }) => {
                    assert_eq!((tensor.as_str(), start, end, file_len), (t.name.as_str(), r.start, r.end, cut));
                }
                other => panic!("cut at {cut} in `{}`: {other:?}", t.name),
            }
        }
        // The header itself is fine: a streaming caller gets it, check_file_len catches the rest.
        assert!(matches!(Gguf::parse_prefix(&b[..r.end as usize - 1]), Ok(Parsed::Complete(_))));
    }
    assert!(Gguf::from_bytes(&b[..h.data_end() as usize]).is_ok());
}

#[test]
fn tensor_offset_outside_the_file() {
    let mut b = sample(3);
    let at = info_at(&b, "bias");
    put_u64(&mut b, at.offset, 1 << 20);
    let h = complete(&b);
    assert_eq!(h.tensor("bias").unwrap().offset, 1 << 20);
    assert!(matches!(Gguf::from_bytes(&b), Err(GgufError::TensorOutOfFile { tensor, .. }) if tensor == "bias"));
    assert!(h.check_file_len(h.data_end()).is_ok());

    // Past any plausible file: rejected while parsing the header.
    put_u64(&mut b, at.offset, u64::MAX - 31);
    assert!(matches!(header_err(&b), GgufError::BadTensor { tensor, .. } if tensor == "bias"));
}

/// Two tensors whose data share bytes: a corrupt (or hostile) header, rejected while parsing
/// it, naming both. An empty tensor occupies nothing, so it overlaps nothing.
#[test]
fn overlapping_tensor_ranges() {
    let mut b = sample(3);
    // weight: Q4_0 [32, 2], bytes 0..36 of the data section; bias: 12 bytes at 64.
    let at = info_at(&b, "bias").offset;
    put_u64(&mut b, at, 32);
    let err = header_err(&b);
    assert!(
        matches!(&err, GgufError::BadTensor { tensor, reason } if tensor == "bias" && reason.contains("overlaps tensor `weight` (0..36)")),
        "{err:?}"
    );
    // The same offset as another tensor.
    let at = info_at(&b, "bias").offset;
    put_u64(&mut b, at, 0);
    assert!(matches!(header_err(&b), GgufError::BadTensor { .. }));

    let mut b = GgufWriter::new(3)
        .tensor("a", &[4], GgmlType::F32, f32_bytes(&[1.0; 4]))
        .unwrap()
        .tensor("empty", &[0, 4], GgmlType::F32, vec![])
        .unwrap()
        .to_bytes();
    let at = info_at(&b, "empty").offset;
    put_u64(&mut b, at, 0);
    let g = Gguf::from_bytes(&b).unwrap();
    assert_eq!(g.tensor("empty").unwrap().n_bytes(), 0);
}

#[test]
fn unknown_tensor_type() {
    for id in [4, 5, 31, 99, u32::MAX] {
        let mut b = sample(3);
        let at = info_at(&b, "weight").ty;
        put_u32(&mut b, at, id);
        assert_eq!(header_err(&b), GgufError::UnknownTensorType { tensor: "weight".into(), id });
    }
}

#[test]
fn unaligned_tensor_offset() {
    let mut b = sample(3);
    let at = info_at(&b, "bias").offset;
    put_u64(&mut b, at, 40);
    let err = header_err(&b);
    assert!(
        matches!(err, GgufError::BadTensor { ref tensor, ref reason } if tensor == "bias" && reason.contains("aligned")),
        "{err:?}"
    );
}

#[test]
fn row_not_a_whole_number_of_blocks() {
    let mut b = sample(3);
    let at = info_at(&b, "weight").dims;
    put_u64(&mut b, at, 33); // Q4_0 with 33 elements per row
    let err = header_err(&b);
    assert!(
        matches!(err, GgufError::BadTensor { ref tensor, ref reason } if tensor == "weight" && reason.contains("block size")),
        "{err:?}"
    );
}

#[test]
fn dimensions_too_large() {
    let mut b = sample(3);
    let at = info_at(&b, "weight");
    put_u64(&mut b, at.dims, 1 << 40);
    put_u64(&mut b, at.dims + 8, 1 << 40);
    assert!(matches!(header_err(&b), GgufError::BadTensor { tensor, .. } if tensor == "weight"));
}

#[test]
fn bad_dimension_counts() {
    for dims in [&[][..], &[1, 1, 1, 1, 1]] {
        let b = GgufWriter::new(3).tensor("t", dims, GgmlType::F32, vec![0; 4]).unwrap().to_bytes();
        let err = header_err(&b);
        assert!(
            matches!(err, GgufError::Corrupt { what: "tensor dimension count", value, .. } if value == dims.len() as u64),
            "{err:?}"
        );
    }
    let mut b = sample(3);
    let at = info_at(&b, "bias").n_dims;
    put_u32(&mut b, at, u32::MAX);
    assert!(matches!(header_err(&b), GgufError::Corrupt { what: "tensor dimension count", .. }));
}

#[test]
fn duplicates() {
    let b = GgufWriter::new(3)
        .metadata("k", Value::U8(1))
        .metadata("j", Value::U8(2))
        .metadata("k", Value::U8(1))
        .to_bytes();
    assert_eq!(header_err(&b), GgufError::DuplicateKey("k".into()));
    let t = |w: GgufWriter, name: &str| w.tensor(name, &[1], GgmlType::F32, vec![0; 4]).unwrap();
    let b = t(t(t(GgufWriter::new(3), "a"), "b"), "a").to_bytes();
    assert_eq!(header_err(&b), GgufError::DuplicateTensor("a".into()));
}

#[test]
fn invalid_utf8() {
    let mut b = sample(3);
    let at = find(&b, b"flag");
    b[at + 1] = 0xff;
    assert_eq!(header_err(&b), GgufError::InvalidUtf8 { offset: at as u64 - 8 });

    // In a string value and in a tensor name.
    let mut b = sample(3);
    let at = find(&b, b"lfm2");
    b[at] = 0xc3;
    assert!(matches!(header_err(&b), GgufError::InvalidUtf8 { .. }));
    let mut b = sample(3);
    let at = find(&b, b"bias");
    b[at] = 0x80;
    assert!(matches!(header_err(&b), GgufError::InvalidUtf8 { .. }));
}

#[test]
fn unknown_value_types() {
    let mut b = sample(3);
    let at = find(&b, b"count") + 5;
    put_u32(&mut b, at, 13);
    assert_eq!(header_err(&b), GgufError::UnknownValueType { offset: at as u64, id: 13 });
    // An array's element type.
    let mut b = sample(3);
    let at = find(&b, b"nums") + 4 + 4;
    put_u32(&mut b, at, 0x8000_0009);
    assert_eq!(header_err(&b), GgufError::UnknownValueType { offset: at as u64, id: 0x8000_0009 });
}

#[test]
fn absurd_counts_are_corrupt_not_a_wait() {
    // Each must be an error from parse_prefix too: a streaming caller must not be asked for exabytes.
    let corrupt = |b: &[u8], want: &str| {
        let err = header_err(b);
        assert!(matches!(err, GgufError::Corrupt { what, .. } if what == want), "{want}: {err:?}");
    };
    let mut b = sample(3);
    let at = find(&b, b"flag") - 8;
    put_u64(&mut b, at, u64::MAX);
    corrupt(&b, "string length");
    let mut b = sample(3);
    let at = find(&b, b"names") + 5 + 4 + 4;
    put_u64(&mut b, at, 1 << 40);
    corrupt(&b, "array length");
    let mut b = sample(3);
    put_u64(&mut b, 8, 1 << 40);
    corrupt(&b, "tensor count");
    let mut b = sample(3);
    put_u64(&mut b, 16, u64::MAX);
    corrupt(&b, "metadata count");
}

#[test]
fn bool_must_be_0_or_1() {
    let mut b = sample(3);
    let at = find(&b, b"flag") + 4 + 4;
    assert_eq!(b[at], 1);
    b[at] = 2;
    assert_eq!(header_err(&b), GgufError::Corrupt { offset: at as u64, what: "bool value", value: 2 });
}

#[test]
fn bad_alignment_and_deep_nesting() {
    for a in [Value::U32(0), Value::U32(3), Value::I32(-32), s("32")] {
        let b = GgufWriter::new(3).metadata("general.alignment", a.clone()).to_bytes();
        assert!(matches!(header_err(&b), GgufError::Corrupt { what: "general.alignment", .. }), "{a:?}");
    }
    let mut v = Value::Array(ValueType::U8, vec![]);
    for _ in 0..3 {
        v = Value::Array(ValueType::Array, vec![v]); // 4 levels in all: the most accepted
    }
    assert!(Gguf::from_bytes(&GgufWriter::new(3).metadata("ok", v.clone()).to_bytes()).is_ok());
    let b = GgufWriter::new(3).metadata("deep", Value::Array(ValueType::Array, vec![v])).to_bytes();
    assert!(matches!(header_err(&b), GgufError::Corrupt { what: "array nesting depth", .. }));
}

#[test]
fn missing_file_is_an_io_error() {
    let err = GgufFile::open(format!("{FIXTURES}/no-such-file.gguf")).map(|_| ()).unwrap_err();
    assert!(matches!(err, GgufError::Io { .. }), "{err:?}");
}

/// Thousands of single-byte mutations and truncations of a valid file: `Ok` or `Err`, never a
/// panic, and whatever is accepted is self-consistent.
#[test]
fn mutations_never_panic() {
    let base = sample(3);
    let mut rng = Rng::new(0x5eed);
    let (mut ok, mut err) = (0, 0);
    for i in 0..6000 {
        let mut b = base.clone();
        if i % 4 == 3 {
            b.truncate(rng.below(base.len()));
        } else {
            let at = rng.below(b.len());
            b[at] = match rng.below(4) {
                0 => b[at] ^ (1 << rng.below(8)),
                1 => 0xff,
                2 => 0,
                _ => rng.next_u64() as u8,
            };
        }
        match Gguf::from_bytes(&b) {
            Ok(h) => {
                ok += 1;
                assert!(h.data_end() <= b.len() as u64);
                for t in &h.tensors {
                    assert_eq!(t.offset % h.alignment, 0);
                    let _ = (t.n_bytes(), h.tensor_range(t));
                }
            }
            Err(e) => {
                err += 1;
                assert!(!e.to_string().is_empty());
            }
        }
        let _ = Gguf::parse_prefix(&b);
    }
    assert!(ok > 100 && err > 100, "ok {ok}, err {err}: the mutations should hit both sides");
}

// --------------------------------------------------------------------------- typed getters

#[test]
fn typed_getters() {
    let b = GgufWriter::new(3)
        .metadata("i32", Value::I32(5))
        .metadata("i32.neg", Value::I32(-5))
        .metadata("u32", Value::U32(u32::MAX))
        .metadata("u64", Value::U64(u64::MAX))
        .metadata("u8", Value::U8(3))
        .metadata("f32", Value::F32(0.5))
        .metadata("f64", Value::F64(0.25))
        .metadata("bool", Value::Bool(true))
        .metadata("str", s("text"))
        .metadata("strs", Value::Array(ValueType::String, vec![s("a"), s("b")]))
        .metadata("ints", Value::Array(ValueType::I64, vec![Value::I64(-1), Value::I64(2)]))
        .metadata("mixed", Value::Array(ValueType::Array, vec![Value::Array(ValueType::U8, vec![])]))
        .to_bytes();
    let h = Gguf::from_bytes(&b).unwrap();

    assert_eq!(h.get_u64("i32").unwrap(), 5);
    assert_eq!(h.get_u64("u32").unwrap(), u32::MAX as u64);
    assert_eq!(h.get_u64("u64").unwrap(), u64::MAX);
    assert_eq!(h.get_u64("u8").unwrap(), 3);
    assert_eq!(h.get_usize("i32").unwrap(), 5);
    assert!(matches!(h.get_u64("i32.neg"), Err(GgufError::WrongType { key, .. }) if key == "i32.neg"));
    assert!(matches!(h.get_u64("f32"), Err(GgufError::WrongType { .. })));
    assert!(matches!(h.get_u64("str"), Err(GgufError::WrongType { .. })));

    assert_eq!(h.get_f32("f32").unwrap(), 0.5);
    assert_eq!(h.get_f32("f64").unwrap(), 0.25);
    assert_eq!(h.get_f32("i32").unwrap(), 5.0);
    assert!(matches!(h.get_f32("bool"), Err(GgufError::WrongType { .. })));

    assert!(h.get_bool("bool").unwrap());
    assert!(matches!(h.get_bool("u8"), Err(GgufError::WrongType { .. })));
    assert_eq!(h.get_str("str").unwrap(), "text");
    let err = h.get_str("i32").unwrap_err();
    assert!(
        matches!(err, GgufError::WrongType { ref key, expected: "string", ref found } if key == "i32" && found == "I32"),
        "{err:?}"
    );

    assert_eq!(h.get_string_array("strs").unwrap(), ["a", "b"]);
    assert_eq!(h.get_i64_array("ints").unwrap(), [-1, 2]);
    assert_eq!(h.get_array("mixed").unwrap().len(), 1);
    assert!(matches!(h.get_string_array("ints"), Err(GgufError::WrongType { .. })));
    assert!(matches!(h.get_i64_array("strs"), Err(GgufError::WrongType { .. })));
    assert!(matches!(h.get_array("str"), Err(GgufError::WrongType { .. })));

    let missing = GgufError::MissingKey("nope".into());
    assert_eq!(h.get("nope").unwrap_err(), missing);
    assert_eq!(h.get_u64("nope").unwrap_err(), missing);
    assert_eq!(h.get_str("nope").unwrap_err(), missing);
    assert_eq!(h.get_string_array("nope").unwrap_err(), missing);
    assert_eq!(h.tensor("nope").unwrap_err(), GgufError::MissingTensor("nope".into()));
}
