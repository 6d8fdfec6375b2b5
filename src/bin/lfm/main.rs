//! `lfm`: the native command line of lfm-webgpu (model inspection, generation, logits).
//!
//! `generate` and `logits` print JSON whose shape external checks rely on; keep it stable.

mod backend;
mod bench;
mod info;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

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
    /// Print the architecture, hyperparameters and tensor table of a GGUF file.
    Info {
        #[arg(long)]
        model: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Also list every tensor (name, type, shape, bytes).
        #[arg(long)]
        tensors: bool,
    },
    /// Continue a prompt (raw text or token ids) and print the result.
    Generate {
        #[command(flatten)]
        args: run::GenerateArgs,
    },
    /// Print the top-K logits at every position of a token sequence.
    Logits {
        #[command(flatten)]
        args: run::LogitsArgs,
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
        Command::Info { model, format, tensors } => info::run(&model, format, tensors),
        Command::Generate { args } => run::generate(&args),
        Command::Logits { args } => run::logits(&args),
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
