//! `carelog`: a Carelog clinic node without a window, for hubs, scripts, tests and benchmarks.
//! The contract (names, flags, JSON fields) is fixed in docs/cli.md; the work is done by `carelog-node`.

mod args;
mod commands;
mod demo;
mod devices;
mod network;
mod progress;
mod secrets;
mod service;
mod standing;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use args::Cli;

/// What a command prints: one JSON object for scripts, text for people.
pub struct Output {
    json: serde_json::Value,
    human: String,
}

impl Output {
    /// An output with both forms.
    pub fn new(json: serde_json::Value, human: impl Into<String>) -> Output {
        Output {
            json,
            human: human.into(),
        }
    }

    /// Nothing more to print (the command printed as it went).
    pub fn silent() -> Output {
        Output::new(serde_json::Value::Null, "")
    }
}

/// A refusal or failure, printed as one line on stderr.
pub type Failure = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr and never carry chart content or keys; RUST_LOG raises the level.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    // The same home the desktop app opens when started from the menu.
    progress::set_json(cli.json);
    let home = cli.home.clone().unwrap_or_else(carelog_node::default_home);
    match commands::run(&home, cli.command, cli.json) {
        Ok(output) if output.json.is_null() => ExitCode::SUCCESS,
        Ok(output) => {
            let mut stdout = std::io::stdout().lock();
            let printed = if cli.json {
                writeln!(stdout, "{}", output.json)
            } else {
                writeln!(stdout, "{}", output.human.trim_end())
            };
            if printed.is_err() {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let line = e.to_string().replace('\n', " ");
            eprintln!("carelog: {line}");
            ExitCode::from(1)
        }
    }
}
