//! `okcc-server`: the okcc example server and command-line tool.
//!
//! Each subcommand lives in its own module and uses only the public API of
//! the okcc crates, so integrators can copy what they need.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod access;

/// okcc: security for VoIP and call-center software.
#[derive(Debug, Parser)]
#[command(name = "okcc-server", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// IP, network and region access control.
    #[command(subcommand)]
    Access(access::AccessCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Access(cmd) => access::run(cmd),
    }
}
