//! Builds the `tokenizers` pipeline from GGUF `tokenizer.ggml.*` metadata.
//!
//! The vocabulary, merges and added tokens come from the metadata; the small fixed parts
//! (pre-tokenizer, post-processor, decoder) are written as the JSON that the model's own
//! `tokenizer.json` holds, so what runs is exactly what Hugging Face runs.

use serde_json::json;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::{AddedToken, DecoderWrapper, PostProcessorWrapper, PreTokenizerWrapper};

use super::{SpecialIds, TokenType, Tokenizer, TokenizerError};
use crate::gguf::Gguf;

const KEY_MODEL: &str = "tokenizer.ggml.model";
const KEY_PRE: &str = "tokenizer.ggml.pre";
const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
const KEY_TYPES: &str = "tokenizer.ggml.token_type";
const KEY_MERGES: &str = "tokenizer.ggml.merges";
const KEY_BOS: &str = "tokenizer.ggml.bos_token_id";
const KEY_EOS: &str = "tokenizer.ggml.eos_token_id";
const KEY_PAD: &str = "tokenizer.ggml.padding_token_id";
const KEY_ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
const KEY_ADD_EOS: &str = "tokenizer.ggml.add_eos_token";

/// Values of `tokenizer.ggml.pre` we know the pre-tokenizer of.
pub(super) const SUPPORTED_PRE: &[&str] = &["lfm2"];

/// LFM2's `tokenizer.json` Split pattern (also llama.cpp's `LLAMA_VOCAB_PRE_TYPE_LFM2`).
const LFM2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

pub(super) fn build(g: &Gguf) -> Result<Tokenizer, TokenizerError> {
    let model = g.get_str(KEY_MODEL)?;
    if model != "gpt2" {
        return Err(TokenizerError::UnsupportedModel(model.into()));
    }
    let pre = g.get_str(KEY_PRE)?;
    let split = match pre {
        "lfm2" => LFM2_SPLIT,
        other => return Err(TokenizerError::UnsupportedPre(other.into())),
    };

    let tokens = g.get_string_array(KEY_TOKENS)?;
    let n = tokens.len();
    if n == 0 || u32::try_from(n).is_err() {
        return Err(TokenizerError::BadVocabSize(n));
    }
    let types = token_types(g, n)?;
    let ids = SpecialIds {
        bos: optional_id(g, KEY_BOS, n)?,
        eos: optional_id(g, KEY_EOS, n)?,
        pad: optional_id(g, KEY_PAD, n)?,
        add_bos: optional_bool(g, KEY_ADD_BOS)?.unwrap_or(false),
        add_eos: optional_bool(g, KEY_ADD_EOS)?.unwrap_or(false),
    };
    if ids.add_bos && ids.bos.is_none() {
        return Err(TokenizerError::MissingSpecialId { key: KEY_ADD_BOS, id_key: KEY_BOS });
    }
    if ids.add_eos && ids.eos.is_none() {
        return Err(TokenizerError::MissingSpecialId { key: KEY_ADD_EOS, id_key: KEY_EOS });
    }

    let mut vocab = Vocab::with_capacity(n);
    for (id, &token) in tokens.iter().enumerate() {
        if let Some(first) = vocab.insert(token.to_string(), id as u32) {
            return Err(TokenizerError::DuplicateToken { id: id as u32, first, token: token.into() });
        }
    }
    let merges = merges(g, &vocab)?;
    let bpe =
        BPE::builder().vocab_and_merges(vocab, merges).build().map_err(|e| TokenizerError::Build(e.to_string()))?;

    let mut inner = tokenizers::Tokenizer::new(bpe);
    inner.with_pre_tokenizer(Some(from_json::<PreTokenizerWrapper>(pre_tokenizer_json(split))?));
    inner.with_post_processor(Some(from_json::<PostProcessorWrapper>(post_processor_json(&tokens, ids))?));
    inner.with_decoder(Some(from_json::<DecoderWrapper>(decoder_json())?));

    // Like `tokenizer.json`'s `added_tokens`: control tokens are special (never normalized),
    // user-defined ones are not; both keep their vocabulary id.
    let added: Vec<AddedToken> = tokens
        .iter()
        .zip(&types)
        .filter_map(|(&t, ty)| match ty {
            TokenType::Control | TokenType::Unknown => Some(AddedToken::from(t, true)),
            TokenType::UserDefined => Some(AddedToken::from(t, false)),
            TokenType::Normal | TokenType::Unused | TokenType::Byte => None,
        })
        .collect();
    inner.add_tokens(&added);
    Ok(Tokenizer::assemble(inner, ids))
}

fn token_types(g: &Gguf, n: usize) -> Result<Vec<TokenType>, TokenizerError> {
    if !g.metadata.contains_key(KEY_TYPES) {
        return Ok(vec![TokenType::Normal; n]);
    }
    let raw = g.get_i64_array(KEY_TYPES)?;
    if raw.len() != n {
        return Err(TokenizerError::LengthMismatch { key: KEY_TYPES, len: raw.len(), n_tokens: n });
    }
    let ty =
        |(id, &ty): (usize, &i64)| TokenType::from_gguf(ty).ok_or(TokenizerError::BadTokenType { id: id as u32, ty });
    raw.iter().enumerate().map(ty).collect()
}

/// `"a b"` strings -> pairs, checking that both halves and their concatenation are tokens.
fn merges(g: &Gguf, vocab: &Vocab) -> Result<Vec<(String, String)>, TokenizerError> {
    let raw = g.get_string_array(KEY_MERGES)?;
    let mut merges = Vec::with_capacity(raw.len());
    for (index, &merge) in raw.iter().enumerate() {
        let (a, b) = merge
            .split_once(' ')
            .filter(|(a, b)| !a.is_empty() && !b.is_empty() && !b.contains(' '))
            .ok_or_else(|| TokenizerError::MalformedMerge { index, merge: merge.into() })?;
        let joined = [a, b].concat();
        if let Some(missing) = [a, b, &joined].into_iter().find(|t| !vocab.contains_key(*t)) {
            return Err(TokenizerError::MergeNotInVocab { index, merge: merge.into(), token: missing.into() });
        }
        merges.push((a.to_string(), b.to_string()));
    }
    Ok(merges)
}

fn optional_id(g: &Gguf, key: &'static str, n: usize) -> Result<Option<u32>, TokenizerError> {
    if !g.metadata.contains_key(key) {
        return Ok(None);
    }
    let id = g.get_u64(key)?;
    match u32::try_from(id) {
        Ok(id32) if (id32 as usize) < n => Ok(Some(id32)),
        _ => Err(TokenizerError::SpecialIdOutOfRange { key, id, n_vocab: n }),
    }
}

fn optional_bool(g: &Gguf, key: &str) -> Result<Option<bool>, TokenizerError> {
    Ok(g.metadata.get(key).map(|_| g.get_bool(key)).transpose()?)
}

fn from_json<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, TokenizerError> {
    serde_json::from_value(v).map_err(|e| TokenizerError::Build(e.to_string()))
}

fn pre_tokenizer_json(split: &str) -> serde_json::Value {
    json!({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": split}, "behavior": "Isolated", "invert": false},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
    ]})
}

/// ByteLevel (offsets only) then a template adding BOS / EOS as `add_bos_token` /
/// `add_eos_token` say; LFM2's own is `<|startoftext|> $A` (pair: `<|startoftext|> $A <|startoftext|> $B`).
fn post_processor_json(tokens: &[&str], ids: SpecialIds) -> serde_json::Value {
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true});
    let bos = ids.bos.filter(|_| ids.add_bos).map(|id| (tokens[id as usize], id));
    let eos = ids.eos.filter(|_| ids.add_eos).map(|id| (tokens[id as usize], id));
    if bos.is_none() && eos.is_none() {
        return json!({"type": "Sequence", "processors": [byte_level]});
    }
    let special = |t: &str| json!({"SpecialToken": {"id": t, "type_id": 0}});
    let sequence = |s: &str| json!({"Sequence": {"id": s, "type_id": 0}});
    let around = |s: &str| {
        let mut v: Vec<serde_json::Value> = bos.iter().map(|(t, _)| special(t)).collect();
        v.push(sequence(s));
        v.extend(eos.iter().map(|(t, _)| special(t)));
        v
    };
    let single = around("A");
    let pair = [around("A"), around("B")].concat();
    let mut special_tokens = serde_json::Map::new();
    for (t, id) in bos.iter().chain(eos.iter()) {
        special_tokens.insert(t.to_string(), json!({"id": t, "ids": [id], "tokens": [t]}));
    }
    let template =
        json!({"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": special_tokens});
    json!({"type": "Sequence", "processors": [byte_level, template]})
}

fn decoder_json() -> serde_json::Value {
    json!({"type": "Sequence", "decoders": [
        {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
    ]})
}
