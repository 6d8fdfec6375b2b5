//! `lfm chat`: a streaming chat in the terminal (or through a pipe: lines in, answers out).
//!
//! The conversation lives in one engine [`Session`], so each turn prefills only its new
//! tokens. A line is a user message, or a command: `/reset`, `/system [TEXT]`,
//! `/tools [FILE]`, `/messages`, `/help`, `/quit` (or end of input). Answers stream to stdout;
//! the rest (banner, tool calls and their confirmations, speed, warnings) goes to stderr.
//!
//! Ctrl-C during an answer stops it (what was written stays in the conversation); at the
//! prompt it only says how to leave.
//!
//! Tools: the built-in `clock` and `calculator` are always offered and run here after the user
//! confirms each call (`[y/N]`); the tools of `--tools FILE` / `/tools FILE` have no
//! implementation here, so the user types their results (`!error MESSAGE` for a failure). A
//! declined or failing call answers the model with an `error: ...` result. Results go back as
//! `tool` messages and the model continues, for at most `--max-tool-rounds` rounds a turn.

use std::io::{BufRead, IsTerminal, StdinLock, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use lfm_webgpu::chat::tool_calls::pythonic_call;
use lfm_webgpu::engine::{Cancel, Done, EngineError, Event, FinishReason, Request, Session};
use lfm_webgpu::sampling::SamplingParams;
use serde_json::{json, Value};

use crate::args::{speed_line, ForcedOutputs, ModelArgs, SamplingArgs};
use crate::{tools, Result};

#[derive(clap::Args)]
pub struct ChatArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The system prompt (change it later with /system).
    #[arg(long)]
    system: Option<String>,
    /// A JSON array of tool schemas (OpenAI shape) offered besides clock and calculator.
    #[arg(long)]
    tools: Option<PathBuf>,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Most tokens one answer may have [default: until the model ends its turn or the context is full]
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Most tool-call rounds the model may make for one message.
    #[arg(long, default_value_t = 8)]
    max_tool_rounds: usize,
    /// After each answer, also print its finish reason, token counts and timings as one JSON
    /// line on stderr: `stats: {...}`.
    #[arg(long)]
    stats: bool,
}

const HELP: &str = "\
/reset          start a new conversation (keeps the system prompt and tools)
/system TEXT    set the system prompt (/system alone removes it)
/tools FILE     offer the tools of FILE (a JSON array of schemas) besides clock and calculator;
                /tools alone lists the tools
/messages       print the conversation as JSON (what `lfm prompt --messages` reads)
/quit           leave (Ctrl-D too); Ctrl-C stops an answer";

/// What the program is doing, for the Ctrl-C handler.
const AT_PROMPT: u8 = 0;
const GENERATING: u8 = 1;
const ASKING: u8 = 2;

pub fn run(a: &ChatArgs) -> Result<()> {
    let user_tools = match &a.tools {
        Some(path) => tools::load_file(path)?,
        None => Vec::new(),
    };
    let forced = ForcedOutputs::from_env()?;
    let (loaded, _, session) = a.model.open()?;
    let interactive = std::io::stdin().is_terminal();
    let phase = Arc::new(AtomicU8::new(ASKING));
    let cancel = Cancel::new();
    catch_ctrl_c(cancel.clone(), phase.clone(), interactive);

    let mut chat = Chat {
        session,
        system: a.system.clone(),
        user_tools,
        messages: Vec::new(),
        sampling: a.sampling.params(),
        max_tokens: a.max_tokens,
        max_tool_rounds: a.max_tool_rounds,
        stats: a.stats,
        forced,
        cancel,
        phase,
        input: std::io::stdin().lock(),
        interactive,
        dim: std::io::stderr().is_terminal(),
    };
    let name = loaded.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    eprintln!("lfm chat · {name} on {} · {}-token context", loaded.device, chat.session.capacity());
    eprintln!("tools: {} · /help lists the commands; /quit or Ctrl-D leaves", chat.tool_names().join(", "));
    chat.repl()
}

/// Ctrl-C stops the answer being written; elsewhere it only prints how to leave.
fn catch_ctrl_c(cancel: Cancel, phase: Arc<AtomicU8>, interactive: bool) {
    let result = ctrlc::set_handler(move || match phase.load(Ordering::SeqCst) {
        GENERATING => cancel.cancel(),
        p => {
            eprintln!("\n(Ctrl-C stops an answer; to leave, type /quit or press Ctrl-D)");
            if p == AT_PROMPT && interactive {
                print!("> ");
                std::io::stdout().flush().ok();
            }
        }
    });
    if let Err(e) = result {
        eprintln!("warning: Ctrl-C cannot be caught ({e}): it will end the program");
    }
}

struct Chat {
    session: Session,
    system: Option<String>,
    /// Schemas from `--tools` / `/tools`.
    user_tools: Vec<Value>,
    /// The conversation after the system prompt.
    messages: Vec<Value>,
    sampling: SamplingParams,
    max_tokens: Option<usize>,
    max_tool_rounds: usize,
    stats: bool,
    forced: ForcedOutputs,
    cancel: Cancel,
    phase: Arc<AtomicU8>,
    input: StdinLock<'static>,
    /// stdin is a terminal: show a prompt.
    interactive: bool,
    /// stderr is a terminal: dim the notes.
    dim: bool,
}

/// One generated answer.
struct Answer {
    text: String,
    calls: Vec<Call>,
    done: Done,
}

struct Call {
    id: String,
    name: String,
    arguments: Value,
}

impl Chat {
    fn repl(&mut self) -> Result<()> {
        loop {
            self.phase.store(AT_PROMPT, Ordering::SeqCst);
            if self.interactive {
                print!("> ");
                std::io::stdout().flush()?;
            }
            let Some(line) = self.read_line() else {
                if self.interactive {
                    println!();
                }
                return Ok(());
            };
            self.phase.store(ASKING, Ordering::SeqCst);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            match line.strip_prefix('/') {
                Some(command) => {
                    if !self.command(command)? {
                        return Ok(());
                    }
                }
                None => self.user_turn(line),
            }
        }
    }

    /// Runs a `/command`; false when it is time to leave.
    fn command(&mut self, command: &str) -> Result<bool> {
        let (name, arg) = match command.split_once(char::is_whitespace) {
            Some((name, arg)) => (name, arg.trim()),
            None => (command, ""),
        };
        match name {
            "quit" | "exit" | "q" => return Ok(false),
            "reset" | "clear" => {
                self.messages.clear();
                self.session.reset()?;
                self.note("new conversation");
            }
            "system" if arg.is_empty() => {
                self.system = None;
                self.note("system prompt removed");
            }
            "system" => {
                self.system = Some(arg.to_string());
                self.note("system prompt set");
            }
            "tools" if arg.is_empty() => self.note(&format!("tools: {}", self.tool_names().join(", "))),
            "tools" => match tools::load_file(Path::new(arg)) {
                Ok(t) => {
                    self.user_tools = t;
                    self.note(&format!("tools: {}", self.tool_names().join(", ")));
                }
                Err(e) => self.error(&e.to_string()),
            },
            "messages" => println!("{}", Value::Array(self.conversation())),
            "help" => eprintln!("{HELP}"),
            _ => self.error(&format!("unknown command /{name}; /help lists the commands")),
        }
        Ok(true)
    }

    /// One user message and the answers it takes, tool rounds included.
    fn user_turn(&mut self, text: &str) {
        let start = self.messages.len();
        self.messages.push(json!({"role": "user", "content": text}));
        let mut forced = self.forced.next_turn();
        for round in 1.. {
            let req = Request {
                messages: self.conversation(),
                tools: self.tools(),
                sampling: self.sampling.clone(),
                max_tokens: self.max_tokens,
                forced_output: forced.take(),
                ..Default::default()
            };
            let Answer { text, calls, done } = match self.answer(&req) {
                Ok(answer) => answer,
                Err(e) => {
                    self.messages.truncate(start);
                    match e {
                        EngineError::ContextOverflow { needed, limit } => self.error(&format!(
                            "the conversation would need {needed} tokens, more than the {limit}-token context. \
                             Your last message was dropped: type /reset to start a new conversation \
                             (or restart with a larger --context)"
                        )),
                        e => self.error(&format!("{e} (your last message was dropped)")),
                    }
                    return;
                }
            };
            let stopped = done.finish_reason == FinishReason::Abort;
            if stopped && text.is_empty() && self.interactive {
                eprintln!(); // after the terminal's `^C`
            }
            let calls = if stopped { Vec::new() } else { calls }; // calls of a stopped answer are not run
            self.messages.push(Self::assistant_message(text, &calls));
            self.note(&speed_line(&done));
            if self.stats {
                eprintln!("stats: {}", serde_json::to_string(&done).unwrap_or_default());
            }
            let u = &done.usage;
            if stopped {
                self.note("stopped");
                return;
            }
            if done.finish_reason == FinishReason::Length
                && u.prompt_tokens + u.completion_tokens + 1 >= self.session.capacity()
            {
                self.note("the context is full: type /reset to start a new conversation");
                return;
            }
            if calls.is_empty() {
                return;
            }
            if round > self.max_tool_rounds {
                self.note(&format!("not running more tools: {} rounds for one message", self.max_tool_rounds));
                return;
            }
            for call in &calls {
                let result = self.run_tool(call);
                self.messages.push(json!({"role": "tool", "tool_call_id": call.id, "content": result}));
            }
        }
    }

    /// Generates one answer, streaming its text to stdout.
    fn answer(&mut self, req: &Request) -> std::result::Result<Answer, EngineError> {
        let (mut text, mut calls) = (String::new(), Vec::new());
        let dim = self.dim;
        let mut stdout = std::io::stdout();
        self.phase.store(GENERATING, Ordering::SeqCst);
        let done = pollster::block_on(self.session.generate(req, &self.cancel, &mut |event| match event {
            Event::Text { delta } => {
                print!("{delta}");
                stdout.flush().ok();
                text.push_str(&delta);
            }
            Event::ToolCall { id, name, arguments } => calls.push(Call { id, name, arguments }),
            Event::Warning { message } => eprintln!("{}", dimmed(dim, &format!("warning: {message}"))),
            Event::Done(_) | Event::Error { .. } => {}
        }));
        self.phase.store(ASKING, Ordering::SeqCst);
        if !text.is_empty() && !text.ends_with('\n') {
            println!();
        }
        Ok(Answer { text, calls, done: done? })
    }

    /// The answer as an OpenAI-style message. The calls always go in `tool_calls`: for a
    /// template that does not render them (LFM2's), the chat template writes them into the
    /// content the way the model wrote them.
    fn assistant_message(text: String, calls: &[Call]) -> Value {
        if calls.is_empty() {
            return json!({"role": "assistant", "content": text});
        }
        let calls: Vec<Value> = calls
            .iter()
            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
            .collect();
        json!({"role": "assistant", "content": text, "tool_calls": calls})
    }

    /// Shows a call, runs it (built-in, once confirmed) or asks the user for its result;
    /// returns the result for the model (`error: ...` when it failed or was declined).
    fn run_tool(&mut self, call: &Call) -> String {
        let shown = pythonic_call(&call.name, &call.arguments);
        let result = if tools::is_builtin(&call.name) {
            let answer = self.ask(&format!("tool call: {shown} · run it? [y/N] "));
            if answer.is_some_and(|a| matches!(a.trim().to_ascii_lowercase().as_str(), "y" | "yes")) {
                tools::run_builtin(&call.name, &call.arguments).unwrap_or_else(|e| format!("error: {e}"))
            } else {
                "error: the user declined to run this tool call".to_string()
            }
        } else if self.user_tools.iter().any(|t| tools::name_of(t) == Some(call.name.as_str())) {
            eprintln!("tool call: {shown}");
            let prompt = format!("{} has no implementation here: type its result (or !error MESSAGE): ", call.name);
            match self.ask(&prompt) {
                None => "error: no result was given".to_string(),
                Some(line) => match line.trim().strip_prefix("!error") {
                    Some(message) => format!("error: {}", message.trim()),
                    None => line,
                },
            }
        } else {
            eprintln!("tool call: {shown}");
            format!("error: there is no tool named `{}`", call.name)
        };
        self.note(&format!("tool result: {result}"));
        result
    }

    /// Asks on stderr, reads the answer line (echoed when stdin is not a terminal).
    fn ask(&mut self, question: &str) -> Option<String> {
        eprint!("{question}");
        std::io::stderr().flush().ok();
        let answer = self.read_line();
        if !self.interactive {
            eprintln!("{}", answer.as_deref().unwrap_or(""));
        }
        answer
    }

    /// The next input line without its line ending (bytes that are not UTF-8 replaced);
    /// `None` at the end of input.
    fn read_line(&mut self) -> Option<String> {
        let mut line = Vec::new();
        match self.input.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r']).to_string()),
        }
    }

    /// The messages of the next request: the system prompt, then the conversation.
    fn conversation(&self) -> Vec<Value> {
        let system = self.system.iter().map(|s| json!({"role": "system", "content": s}));
        system.chain(self.messages.iter().cloned()).collect()
    }

    fn tools(&self) -> Vec<Value> {
        tools::builtin_schemas().into_iter().chain(self.user_tools.iter().cloned()).collect()
    }

    fn tool_names(&self) -> Vec<String> {
        self.tools().iter().filter_map(|t| tools::name_of(t).map(str::to_string)).collect()
    }

    fn note(&self, message: &str) {
        eprintln!("{}", dimmed(self.dim, &format!("[{message}]")));
    }

    fn error(&self, message: &str) {
        eprintln!("error: {message}");
    }
}

fn dimmed(on: bool, s: &str) -> String {
    if on {
        format!("\x1b[2m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}
