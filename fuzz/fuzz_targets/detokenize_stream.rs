//! Streaming detokenization (`engine::TextStream`, what the engine turns generated tokens into
//! text deltas with) on random token sequences, with the real LFM2 tokenizer built from a
//! fixture GGUF's metadata. The deltas, then `finish`, must add up to decoding all the tokens
//! at once: the stream may hold back an unfinished character, never change the text.
//!
//! Input: 2 bytes per token, a little-endian id; ids from 0xFC00 up (the vocabulary's unused
//! `[PAD]` tail) stand for the single-byte token of the low byte instead, so that the fuzzer
//! easily writes arbitrary, often invalid, UTF-8 byte sequences.

#![no_main]

use lfm_webgpu::engine::TextStream;
use lfm_webgpu::gguf::Gguf;
use lfm_webgpu::tokenizer::Tokenizer;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/tiny-dense/tiny-dense-q8_0.gguf");

/// The tokenizer, and the id of each byte's single-byte token.
static TOKENIZER: LazyLock<(Tokenizer, Vec<u32>)> = LazyLock::new(|| {
    let bytes = std::fs::read(FIXTURE).unwrap_or_else(|e| panic!("{FIXTURE}: {e}"));
    let tok = Tokenizer::from_gguf(&Gguf::from_bytes(&bytes).expect("fixture parses")).expect("fixture tokenizer");
    let byte_ids = byte_chars().iter().map(|c| tok.id_of(&c.to_string()).expect("byte token")).collect();
    (tok, byte_ids)
});

/// GPT-2's byte-level alphabet: the char that stands for each byte in token strings.
fn byte_chars() -> Vec<char> {
    let printable = |b: u32| (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
    let mut next = 256;
    (0..256u32)
        .map(|b| {
            if printable(b) {
                char::from_u32(b).unwrap()
            } else {
                next += 1;
                char::from_u32(next - 1).unwrap()
            }
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let (tok, byte_ids) = &*TOKENIZER;
    let ids: Vec<u32> = data
        .chunks_exact(2)
        .map(|c| match u16::from_le_bytes([c[0], c[1]]) {
            id if id >= 0xFC00 => byte_ids[c[0] as usize],
            id => id as u32 % tok.vocab_size() as u32,
        })
        .collect();

    let mut stream = TextStream::new();
    let mut streamed = String::new();
    for &id in &ids {
        streamed += &stream.push(tok, id).expect("ids are in range");
    }
    streamed += &stream.finish(tok).expect("ids are in range");
    assert_eq!(stream.tokens(), &ids[..]);
    let whole = tok.decode(&ids, false).expect("ids are in range");
    assert_eq!(streamed, whole, "{ids:?}");
});
