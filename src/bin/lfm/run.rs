//! `lfm run`: one answer to one prompt through the engine (chat template applied).

use std::io::Write;
use std::path::PathBuf;

use lfm_webgpu::chat::tool_calls::pythonic_call;
use lfm_webgpu::engine::{Cancel, Event, Request};
use serde_json::{json, Value};

use crate::args::{speed_line, ForcedOutputs, ModelArgs, SamplingArgs};
use crate::{tools, Format, Result};

#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The user message.
    #[arg(long)]
    prompt: String,
    #[arg(long)]
    system: Option<String>,
    /// A JSON array of tool schemas the model may call (the calls are printed, not run).
    #[arg(long)]
    tools: Option<PathBuf>,
    #[arg(long, default_value_t = 512)]
    max_tokens: usize,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// text: the answer as it streams (tool calls as `tool call: f(x=1)` lines), speed on
    /// stderr; json: one object {text, tool_calls, finish_reason, usage, timings}.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(a: &RunArgs) -> Result<()> {
    let mut messages = Vec::new();
    if let Some(system) = &a.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": a.prompt}));
    let tools = match &a.tools {
        Some(path) => tools::load_file(path)?,
        None => Vec::new(),
    };
    let forced_output = ForcedOutputs::from_env()?.next_turn();
    let (_, _, mut session) = a.model.open()?;
    let req = Request {
        messages,
        tools,
        sampling: a.sampling.params(),
        max_tokens: Some(a.max_tokens),
        forced_output,
        ..Default::default()
    };

    let stream = a.format == Format::Text;
    let mut text = String::new();
    let mut calls: Vec<Value> = Vec::new();
    let mut stdout = std::io::stdout();
    let done = pollster::block_on(session.generate(&req, &Cancel::new(), &mut |event| match event {
        Event::Text { delta } => {
            if stream {
                print!("{delta}");
                stdout.flush().ok();
            }
            text.push_str(&delta);
        }
        Event::ToolCall { id, name, arguments } => {
            if stream {
                println!(
                    "{}tool call: {}",
                    if text.is_empty() || text.ends_with('\n') { "" } else { "\n" },
                    pythonic_call(&name, &arguments)
                );
            }
            calls.push(json!({"id": id, "name": name, "arguments": arguments}));
        }
        Event::Warning { message } => eprintln!("warning: {message}"),
        Event::Done(_) | Event::Error { .. } => {}
    }))?;
    match a.format {
        Format::Text => {
            if !text.is_empty() && !text.ends_with('\n') {
                println!();
            }
            eprintln!("[{}]", speed_line(&done));
        }
        Format::Json => println!(
            "{}",
            json!({
                "text": text,
                "tool_calls": calls,
                "finish_reason": done.finish_reason,
                "usage": done.usage,
                "timings": done.timings,
            })
        ),
    }
    Ok(())
}
