//! `okcc-server`: the okcc example server and command-line tool.
//!
//! Each subcommand lives in its own module and uses only the public API of
//! the okcc crates, so integrators can copy what they need. The binary
//! (`src/main.rs`) calls [`run`]; the library exists so the fuzz targets in
//! `fuzz/` can reach the REST layer ([`fuzzing`]).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod access;
mod admin_cli;
mod audit;
mod backup;
mod content_check;
mod guard;
mod http;
mod mask;
mod monitor;
mod password;

mod extension;
mod files;
pub mod fuzzing;
mod serve;

/// okcc: security for VoIP and call-center software.
#[derive(Debug, Parser)]
#[command(name = "okcc-server", version, about)]
struct Cli {
    /// Without a subcommand the server runs with built-in defaults.
    #[command(subcommand)]
    command: Option<Command>,
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
    /// Run the SIP registrar (UDP/TCP) with okcc in the stack's hooks.
    Serve(serve::config::ServeArgs),
    /// SIP extensions (accounts) in the server's store.
    #[command(subcommand)]
    Extension(extension::ExtensionCommand),
    /// The SIP guard pipeline: explain a decision (dry run).
    #[command(subcommand)]
    Guard(guard::GuardCommand),
    /// Online backup of the SQLite database to a file (PostgreSQL: use pg_dump).
    Backup(backup::BackupArgs),
    /// Replace the SQLite database with a backup (server stopped).
    Restore(backup::RestoreArgs),
    /// Web-user recovery: set a password, reset TOTP.
    #[command(subcommand)]
    Admin(admin_cli::AdminCommand),
}

/// Parses the command line and runs the subcommand (no subcommand: `serve`
/// with built-in defaults).
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        return serve::run(&serve::config::ServeArgs::default());
    };
    match command {
        Command::Password(args) => password::run(args),
        Command::Mask(args) => mask::run(&args),
        Command::ContentCheck(args) => content_check::run(&args),
        Command::Audit(cmd) => audit::run(cmd),
        Command::Access(cmd) => access::run(cmd),
        Command::Serve(args) => serve::run(&args),
        Command::Extension(cmd) => extension::run(cmd),
        Command::Guard(cmd) => guard::run(cmd),
        Command::Backup(args) => backup::run_backup(&args),
        Command::Restore(args) => backup::run_restore(&args),
        Command::Admin(cmd) => admin_cli::run(cmd),
    }
}
