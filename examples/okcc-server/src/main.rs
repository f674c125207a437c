//! `okcc-server`: the okcc example server and command-line tool.
//!
//! Each subcommand lives in its own module and uses only the public API of
//! the okcc crates, so integrators can copy what they need.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod access;
mod audit;
mod content_check;
mod http;
mod mask;
mod password;

/// okcc: security for VoIP and call-center software.
#[derive(Debug, Parser)]
#[command(name = "okcc-server", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check passwords against the policy; audit SIP HA1 values for weak secrets.
    Password(password::PasswordArgs),
    /// Mask phone numbers or SIP/tel URIs read from stdin, one per line.
    Mask(mask::MaskArgs),
    /// Check a voice file, TTS template or SMS template as the reviewer will see it.
    ContentCheck(content_check::ContentCheckArgs),
    /// The operation log: verify, export, tail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// IP, network and region access control.
    #[command(subcommand)]
    Access(access::AccessCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Password(args) => password::run(args),
        Command::Mask(args) => mask::run(&args),
        Command::ContentCheck(args) => content_check::run(&args),
        Command::Audit(cmd) => audit::run(cmd),
        Command::Access(cmd) => access::run(cmd),
    }
}
