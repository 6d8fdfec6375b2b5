//! A GGUF header from arbitrary bytes, then everything the loaders (native `lfm`, the browser's
//! `Model.load`) do with a parsed header before touching tensor data: typed getters, tensor
//! ranges, the model config and upload plan, the tokenizer, the chat template. Any of it may
//! fail with an error; none of it may panic, overflow or allocate without bound.

#![no_main]

use lfm_webgpu::chat::template::{ChatTemplate, DateTime, RenderExtra, SpecialTokens};
use lfm_webgpu::gguf::{Gguf, GgufError, Parsed};
use lfm_webgpu::gpu::GpuModel;
use lfm_webgpu::model::Config;
use lfm_webgpu::tokenizer::Tokenizer;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let whole = Gguf::from_bytes(data);
    let g = match Gguf::parse_prefix(data) {
        Ok(Parsed::Complete(g)) => g,
        Ok(Parsed::NeedBytes(_)) | Err(_) => {
            assert!(whole.is_err(), "from_bytes accepted what parse_prefix did not");
            return;
        }
    };
    match &whole {
        Ok(_) => assert!(g.check_file_len(data.len() as u64).is_ok()),
        Err(GgufError::TensorOutOfFile { .. }) => assert!(g.check_file_len(data.len() as u64).is_err()),
        Err(e) => panic!("the header parses but from_bytes fails with {e}"),
    }

    // Tensor geometry: ranges inside the data section, the file end covering all of them.
    assert!(g.data_offset % g.alignment == 0 && g.data_offset as usize >= data.len().min(24));
    let end = g.data_end();
    for t in &g.tensors {
        let r = g.tensor_range(t);
        assert!(r.start >= g.data_offset && r.start <= r.end && r.end <= end, "{}: {r:?}", t.name);
        assert_eq!(r.end - r.start, t.n_bytes());
        let _ = t.n_elements();
        assert_eq!(g.tensor(&t.name).map(|found| found.offset), Ok(t.offset));
    }
    assert!(g.check_file_len(end).is_ok());

    // Every typed getter on every key (`lfm info` prints them all with Display).
    for (key, value) in &g.metadata {
        let _ = format!("{value}");
        let _ = (g.get_str(key), g.get_u64(key), g.get_usize(key), g.get_f32(key), g.get_bool(key));
        let _ = (g.get_array(key), g.get_string_array(key), g.get_i64_array(key));
    }

    // What loading does with the header, in the loaders' order.
    let _ = Config::from_gguf(&g);
    let _ = GpuModel::upload_plan(&g); // config, tensor names, shapes and types; no GPU needed
    if let Ok(tok) = Tokenizer::from_gguf(&g) {
        if let Ok(ids) = tok.encode("Hi <|im_start|>user\né 👋", true) {
            let _ = tok.decode(&ids, false);
        }
    }
    let _ = SpecialTokens::from_gguf(&g);
    if let Ok(template) = ChatTemplate::from_gguf(&g) {
        // The template comes from the file: its rendering must be bounded too (fuel).
        let messages = [json!({"role": "user", "content": "Hi"})];
        let extra = RenderExtra::default().now(DateTime::date(2026, 1, 1));
        let _ = template.render(&messages, None, true, &extra);
    }
});
