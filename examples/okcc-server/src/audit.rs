//! `okcc-server audit verify|export|tail`: the operation log from the
//! command line.
//!
//! The store is chosen by [`StoreArgs`]: the server's own database (the
//! same `--config`, `--data-dir` and `--database-url` as every data
//! subcommand; SQLite by default, read while a server runs on it), or an
//! exported JSON Lines file (`--file`). Every subcommand works through
//! [`Source`]: a database is first exported (JSON Lines, with its anchor
//! and checkpoints) to an unnamed temporary file, so memory stays flat
//! however long the log is.

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use okcc_audit::export::ExportFormat;
use okcc_audit::export::{CSV_HEADER, JsonlRecord, read_jsonl, write_csv_row, write_jsonl_line};
use okcc_audit::{AuditQuery, ChainAnchor, ChainVerifier, CheckpointKey, StoredEvent};
use tokio::io::AsyncWriteExt;

use crate::serve::config::{Config, DataArgs};

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
    /// or a retention archive) instead of the server's database.
    #[arg(long, conflicts_with_all = ["config", "data_dir", "database_url"])]
    file: Option<PathBuf>,
    /// The server's database (default: `okcc.db` in the working directory).
    #[command(flatten)]
    data: DataArgs,
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
        let file = match &args.file {
            Some(path) => {
                File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?
            }
            None => export_database(&args.data)?,
        };
        let iter = read_jsonl(BufReader::new(file)).map(|r| r.map_err(|e| e.to_string()));
        Ok(Self {
            records: Box::new(iter),
        })
    }
}

/// The whole log of the database `data` names, exported as JSON Lines into
/// a temporary file that is already unlinked (gone when closed), rewound.
fn export_database(data: &DataArgs) -> Result<File, String> {
    let cfg = Config::load_for_data(data)?;
    let db = cfg.data_dir.join(crate::backup::DB_FILE);
    if cfg.database_url.is_none() && !db.is_file() {
        // Reading must not create an empty database.
        return Err(format!("no database at {}", db.display()));
    }
    let dir = std::env::temp_dir();
    let (path, mut file) = (0..16)
        .find_map(|attempt| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let path = dir.join(format!(
                "okcc-audit-{}-{nanos}-{attempt}.jsonl",
                std::process::id()
            ));
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .ok()?;
            Some((path, file))
        })
        .ok_or_else(|| format!("cannot create a temporary file in {}", dir.display()))?;
    // Unlinked at once: nothing is left behind, whatever happens next.
    let _ = std::fs::remove_file(&path);
    let copy = file
        .try_clone()
        .map_err(|e| format!("temporary file: {e}"))?;
    let rt = crate::backup::runtime()?;
    rt.block_on(async {
        let stores = crate::backup::open_config(&cfg).await?;
        let mut out = tokio::io::BufWriter::new(tokio::fs::File::from_std(copy));
        stores
            .audit
            .export(&AuditQuery::all(), ExportFormat::JsonLines, &mut out)
            .await
            .map_err(|e| format!("cannot read the operation log: {e}"))?;
        out.flush()
            .await
            .map_err(|e| format!("temporary file: {e}"))
    })?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| format!("temporary file: {e}"))?;
    Ok(file)
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
