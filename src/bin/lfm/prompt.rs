//! `lfm prompt`: the exact text the model's chat template renders for a conversation. Reads
//! only the GGUF header (template and special tokens); no weights are loaded.

use std::path::{Path, PathBuf};

use lfm_webgpu::chat::template::ChatTemplate;
use lfm_webgpu::gguf::GgufFile;
use serde_json::Value;

use crate::{args, hub, tools, Result};

#[derive(clap::Args)]
pub struct PromptArgs {
    /// GGUF file or Hub repo (ORG/NAME[:FILE_OR_QUANT]).
    #[arg(long)]
    model: String,
    /// The conversation: a JSON array of messages ({role, content, tool_calls?, ...}), or an
    /// object with `messages` (and optionally `tools`).
    #[arg(long)]
    messages: PathBuf,
    /// A JSON array of tool schemas (overrides the messages file's `tools`).
    #[arg(long)]
    tools: Option<PathBuf>,
    /// Leave out the assistant header that invites the next answer.
    #[arg(long)]
    no_generation_prompt: bool,
}

pub fn run(a: &PromptArgs) -> Result<()> {
    let (messages, file_tools) = read_conversation(&a.messages)?;
    let tools = match &a.tools {
        Some(path) => Some(tools::load_file(path)?),
        None => file_tools,
    };
    let file = GgufFile::open(hub::resolve(&a.model)?)?;
    let template = ChatTemplate::from_gguf(&file.header)?;
    let text = template.render(&messages, tools.as_deref(), !a.no_generation_prompt, &args::render_extra()?)?;
    print!("{text}");
    Ok(())
}

fn read_conversation(path: &Path) -> Result<(Vec<Value>, Option<Vec<Value>>)> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    match value {
        Value::Array(messages) => Ok((messages, None)),
        Value::Object(mut o) => match o.remove("messages") {
            Some(Value::Array(messages)) => {
                let tools = match o.remove("tools") {
                    Some(Value::Array(tools)) => Some(tools),
                    _ => None,
                };
                Ok((messages, tools))
            }
            _ => Err(format!("{}: the object has no `messages` array", path.display()).into()),
        },
        _ => Err(format!("{}: expected a JSON array of messages", path.display()).into()),
    }
}
