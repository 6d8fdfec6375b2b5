//! `lfm`: the native command line of lfm-webgpu: chat, one-shot answers, prompt rendering,
//! Hub downloads, model inspection, raw generation, logits and benchmarks.
//!
//! `generate` and `logits` print JSON whose shape external checks rely on; keep it stable.
//! Every `--model` takes a GGUF file or a Hugging Face repo (`ORG/NAME[:FILE_OR_QUANT]`,
//! resolved through the standard HF cache, downloaded when missing: see `hub.rs`).

mod args;
mod bench;
mod bench_runs;
mod calculator;
mod chat;
mod generate;
mod hub;
mod info;
mod load;
mod profile;
mod prompt;
mod run;
mod tools;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// The model `chat` and `run` use when `--model` is not given (its Q4_K_M file).
pub const DEFAULT_MODEL: &str = "LiquidAI/LFM2.5-8B-A1B-GGUF";

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Parser)]
#[command(name = "lfm", version, about = "Run LFM2 / LFM2.5 GGUF models locally")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Chat with a model in the terminal (streaming, multi-turn, tools).
    Chat {
        #[command(flatten)]
        args: chat::ChatArgs,
    },
    /// Answer one prompt (chat template applied) and exit.
    Run {
        #[command(flatten)]
        args: run::RunArgs,
    },
    /// Print the prompt text the model's chat template renders for a conversation.
    Prompt {
        #[command(flatten)]
        args: prompt::PromptArgs,
    },
    /// Download a GGUF file from the Hugging Face Hub into the standard HF cache.
    Download {
        #[command(flatten)]
        args: hub::DownloadArgs,
    },
    /// Print the architecture, hyperparameters and tensor table of a GGUF file.
    Info {
        /// GGUF file or Hub repo (ORG/NAME[:FILE_OR_QUANT]).
        #[arg(long)]
        model: String,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Also list every tensor (name, type, shape, bytes).
        #[arg(long)]
        tensors: bool,
    },
    /// Continue a prompt (raw text or token ids, no chat template) and print the result.
    Generate {
        #[command(flatten)]
        args: generate::GenerateArgs,
    },
    /// Print the top-K logits at every position of a token sequence.
    Logits {
        #[command(flatten)]
        args: generate::LogitsArgs,
    },
    /// Measure prefill and decode speed against the adapter's own copy bandwidth.
    Bench {
        #[command(flatten)]
        args: bench::BenchArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Chat { args } => chat::run(&args),
        Command::Run { args } => run::run(&args),
        Command::Prompt { args } => prompt::run(&args),
        Command::Download { args } => hub::download_command(&args),
        Command::Info { model, format, tensors } => info::run(&model, format, tensors),
        Command::Generate { args } => generate::generate(&args),
        Command::Logits { args } => generate::logits(&args),
        Command::Bench { args } => bench::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
