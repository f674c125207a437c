//! `okcc-server audit verify|export|tail`: the operation log from the
//! command line.
//!
//! The store is chosen by [`StoreArgs`]. Today that is an exported JSON
//! Lines file (`--file`); opening the server's database (`--data-dir` /
//! `--database-url`, as the other subcommands do) is not built yet. Every
//! subcommand works through [`Source`], so only it changes then.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use okcc_audit::export::{CSV_HEADER, JsonlRecord, read_jsonl, write_csv_row, write_jsonl_line};
use okcc_audit::{ChainAnchor, ChainVerifier, CheckpointKey, StoredEvent};

/// `okcc-server audit ...`
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Verify the hash chain (and keyed checkpoints with --key-file);
    /// exits 1 and names the first tampered event if any.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// File holding the checkpoint key (at least 32 bytes).
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Export the events as CSV or JSON Lines.
    Export {
        #[command(flatten)]
        store: StoreArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the last events, one line each.
    Tail {
        #[command(flatten)]
        store: StoreArgs,
        /// How many events.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
    },
}

/// Where the events come from.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// An exported JSON Lines file (`okcc-server audit export --format jsonl`
    /// or a retention archive).
    #[arg(long)]
    file: PathBuf,
}

/// Export formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Format {
    /// CSV with a header row.
    Csv,
    /// JSON Lines, verifiable.
    Jsonl,
}

/// The records of the selected store, in stored order.
struct Source {
    records: Box<dyn Iterator<Item = Result<JsonlRecord, String>>>,
}

impl Source {
    fn open(args: &StoreArgs) -> Result<Self, String> {
        let file = File::open(&args.file)
            .map_err(|e| format!("cannot open {}: {e}", args.file.display()))?;
        let iter = read_jsonl(BufReader::new(file)).map(|r| r.map_err(|e| e.to_string()));
        Ok(Self {
            records: Box::new(iter),
        })
    }
}

pub(crate) fn run(cmd: AuditCommand) -> ExitCode {
    let result = match cmd {
        AuditCommand::Verify { store, key_file } => verify(&store, key_file.as_ref()),
        AuditCommand::Export { store, format, out } => export(&store, format, out.as_ref()),
        AuditCommand::Tail { store, lines } => tail(&store, lines),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("okcc-server audit: {msg}");
            ExitCode::from(2)
        }
    }
}

fn verify(store: &StoreArgs, key_file: Option<&PathBuf>) -> Result<ExitCode, String> {
    let key = match key_file {
        None => None,
        Some(p) => {
            let bytes = std::fs::read(p)
                .map_err(|e| format!("cannot read key file {}: {e}", p.display()))?;
            Some(CheckpointKey::new(bytes.trim_ascii()).map_err(|e| e.to_string())?)
        }
    };
    let mut verifier: Option<ChainVerifier> = None;
    let mut source = Source::open(store)?;
    for rec in source.records.by_ref() {
        let rec = rec?;
        let v = verifier.get_or_insert_with(|| {
            let start = match &rec {
                JsonlRecord::Anchor(a) => *a,
                _ => ChainAnchor::GENESIS,
            };
            ChainVerifier::new(start).with_key(key.clone())
        });
        let found = match rec {
            JsonlRecord::Event(e) => v.push(*e),
            JsonlRecord::Checkpoint(c) => v.push_checkpoint(&c),
            _ => None,
        };
        if found.is_some() {
            break;
        }
    }
    let report = verifier
        .unwrap_or_else(|| ChainVerifier::new(ChainAnchor::GENESIS))
        .finish();
    match report.tamper {
        None => {
            println!(
                "ok: {} events verified ({}..={}), {} keyed checkpoints matched{}",
                report.checked,
                report.start.seq + 1,
                report.last.seq,
                report.checkpoints_verified,
                report
                    .last_checkpoint
                    .map(|s| format!(", keyed up to {s}"))
                    .unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(t) => {
            println!(
                "TAMPERED: {t} ({} events verified before it)",
                report.checked
            );
            Ok(ExitCode::from(1))
        }
    }
}

fn export(store: &StoreArgs, format: Format, out: Option<&PathBuf>) -> Result<ExitCode, String> {
    let mut w: Box<dyn Write> = match out {
        Some(p) => Box::new(BufWriter::new(
            File::create_new(p).map_err(|e| format!("cannot create {}: {e}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let io = |e: std::io::Error| format!("writing: {e}");
    if matches!(format, Format::Csv) {
        write!(w, "{CSV_HEADER}\r\n").map_err(io)?;
    }
    let mut row = String::new();
    let mut line = Vec::new();
    for rec in Source::open(store)?.records {
        let rec = rec?;
        match (format, rec) {
            (Format::Csv, JsonlRecord::Event(e)) => {
                row.clear();
                write_csv_row(&e, &mut row);
                w.write_all(row.as_bytes()).map_err(io)?;
            }
            (Format::Csv, _) => {}
            (Format::Jsonl, rec) => {
                line.clear();
                write_jsonl_line(&rec, &mut line).map_err(|e| e.to_string())?;
                w.write_all(&line).map_err(io)?;
            }
        }
    }
    w.flush().map_err(io)?;
    Ok(ExitCode::SUCCESS)
}

fn tail(store: &StoreArgs, n: usize) -> Result<ExitCode, String> {
    let mut last: std::collections::VecDeque<StoredEvent> =
        std::collections::VecDeque::with_capacity(n.min(10_000));
    for rec in Source::open(store)?.records {
        if let JsonlRecord::Event(e) = rec? {
            if n == 0 {
                continue;
            }
            if last.len() == n {
                last.pop_front();
            }
            last.push_back(*e);
        }
    }
    let mut out = std::io::stdout().lock();
    for e in last {
        let ev = &e.event;
        let time = ev
            .time
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:>8} {time} {} {} {}{}{}",
            e.seq,
            ev.actor,
            ev.action,
            ev.outcome.code(),
            ev.outcome
                .rule()
                .map(|r| format!(" rule={r}"))
                .unwrap_or_default(),
            ev.target
                .as_ref()
                .map(|t| format!(" target={t}"))
                .unwrap_or_default(),
        );
    }
    Ok(ExitCode::SUCCESS)
}
