//! Export formats: JSON Lines (verifiable, re-readable) and CSV (for
//! spreadsheets and SIEM imports).
//!
//! # JSON Lines
//! One JSON object per line, externally tagged:
//!
//! ```text
//! {"anchor":{"seq":0,"hash":"00…00"}}                 where the chain starts (first line)
//! {"event":{"seq":1,"prev_hash":"…","hash":"…","id":"…","time":"…",…}}
//! {"checkpoint":{"seq":1000,"hash":"…","mac":"…"}}   keyed checkpoint, after its event
//! ```
//!
//! An unfiltered export (and a retention archive) holds the anchor, every
//! event in chain order and the checkpoints, so it verifies on its own
//! (`okcc-server audit verify --file`). Lines longer than
//! [`MAX_LINE`] bytes are refused when read.
//!
//! # CSV
//! RFC 4180 with a header row; see [`CSV_HEADER`]. Cells that a
//! spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`)
//! are prefixed with `'`.

use serde::{Deserialize, Serialize};

use crate::chain::{ChainAnchor, StoredEvent};
use crate::checkpoint::Checkpoint;
use crate::event::Outcome;
use crate::label::{Label, RequestId};

/// The longest JSON Lines record accepted when reading, in bytes.
pub const MAX_LINE: usize = 64 * 1024;

/// An export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExportFormat {
    /// JSON Lines ([`JsonlRecord`] per line).
    JsonLines,
    /// CSV with a header row.
    Csv,
}

/// One line of a JSON Lines export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum JsonlRecord {
    /// Where the chain of the following events starts.
    Anchor(ChainAnchor),
    /// A stored event.
    Event(Box<StoredEvent>),
    /// A keyed checkpoint.
    Checkpoint(Checkpoint),
}

/// Why a JSON Lines record cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonlError {
    /// The line is longer than [`MAX_LINE`].
    #[error("line {line} is longer than {max} bytes")]
    TooLong {
        /// 1-based line number.
        line: u64,
        /// The limit.
        max: usize,
    },
    /// The line is not a valid record.
    #[error("line {line}: {source}")]
    Invalid {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        #[source]
        source: serde_json::Error,
    },
    /// Reading failed.
    #[error("reading line {line}")]
    Io {
        /// 1-based line number.
        line: u64,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Parses one record (without its newline; a trailing `\r` is allowed).
pub fn parse_jsonl_line(line: &[u8], line_no: u64) -> Result<JsonlRecord, JsonlError> {
    if line.len() > MAX_LINE {
        return Err(JsonlError::TooLong {
            line: line_no,
            max: MAX_LINE,
        });
    }
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    serde_json::from_slice(line).map_err(|source| JsonlError::Invalid {
        line: line_no,
        source,
    })
}

/// Appends one record and a newline to `out`.
pub fn write_jsonl_line(record: &JsonlRecord, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    serde_json::to_writer(&mut *out, record)?;
    out.push(b'\n');
    Ok(())
}

/// Reads JSON Lines records from `reader`, line by line, with bounded
/// memory: a line longer than [`MAX_LINE`] is an error, not an allocation.
/// Empty lines are skipped.
pub fn read_jsonl<R: std::io::BufRead>(reader: R) -> JsonlReader<R> {
    JsonlReader {
        reader,
        line: 0,
        buf: Vec::new(),
        done: false,
    }
}

/// The iterator of [`read_jsonl`].
#[derive(Debug)]
pub struct JsonlReader<R> {
    reader: R,
    line: u64,
    buf: Vec<u8>,
    done: bool,
}

impl<R: std::io::BufRead> Iterator for JsonlReader<R> {
    type Item = Result<JsonlRecord, JsonlError>;

    fn next(&mut self) -> Option<Self::Item> {
        use std::io::{BufRead as _, Read};
        while !self.done {
            self.line += 1;
            self.buf.clear();
            let limit = (MAX_LINE + 2) as u64;
            let read = (&mut self.reader)
                .take(limit)
                .read_until(b'\n', &mut self.buf);
            match read {
                Err(source) => {
                    self.done = true;
                    return Some(Err(JsonlError::Io {
                        line: self.line,
                        source,
                    }));
                }
                Ok(0) => {
                    self.done = true;
                    return None;
                }
                Ok(_) => {}
            }
            let ended = self.buf.last() == Some(&b'\n');
            if !ended && self.buf.len() as u64 >= limit {
                self.done = true;
                return Some(Err(JsonlError::TooLong {
                    line: self.line,
                    max: MAX_LINE,
                }));
            }
            let body = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
            if body.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(parse_jsonl_line(body, self.line));
        }
        None
    }
}

/// The CSV header row (without the line break).
pub const CSV_HEADER: &str = "seq,time,id,tenant,actor_kind,actor,actor_tenant,actor_role,source,action,target_kind,target_id,result,reason,rule,request_id,detail,prev_hash,hash";

/// Appends one CSV row (with `\r\n`) for `e` to `out`.
pub fn write_csv_row(e: &StoredEvent, out: &mut String) {
    use std::fmt::Write as _;
    let ev = &e.event;
    let time = ev
        .time
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let (reason, rule) = match &ev.outcome {
        Outcome::Success => (String::new(), String::new()),
        Outcome::Failure { reason } => (reason.to_string(), String::new()),
        Outcome::Denied { rule, reason } => (reason.code().to_owned(), rule.to_string()),
    };
    let detail = if ev.detail.is_empty() {
        String::new()
    } else {
        serde_json::to_string(&ev.detail).unwrap_or_default()
    };
    let cells: [&str; 19] = [
        &e.seq.to_string(),
        &time,
        &ev.id.to_string(),
        ev.tenant.as_ref().map_or("", |t| t.as_str()),
        ev.actor.kind(),
        ev.actor.name().unwrap_or(""),
        ev.actor.tenant().map_or("", |t| t.as_str()),
        ev.actor.role().map_or("", Label::as_str),
        &ev.source.map(|s| s.to_string()).unwrap_or_default(),
        ev.action.code(),
        ev.target.as_ref().map_or("", |t| t.kind.as_str()),
        ev.target.as_ref().map_or("", |t| t.id.as_str()),
        ev.outcome.code(),
        &reason,
        &rule,
        ev.request_id.as_ref().map_or("", RequestId::as_str),
        &detail,
        &e.prev_hash.to_hex(),
        &e.hash.to_hex(),
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_cell(cell, out);
    }
    let _ = write!(out, "\r\n");
}

fn csv_cell(cell: &str, out: &mut String) {
    let formula = cell.starts_with(['=', '+', '-', '@']);
    let quote = formula || cell.contains([',', '"', '\r', '\n']);
    if !quote {
        out.push_str(cell);
        return;
    }
    out.push('"');
    if formula {
        out.push('\'');
    }
    for c in cell.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

/// Parses and verifies a whole JSON Lines input (what the `audit_jsonl`
/// fuzz target and its corpus replay call). Never panics; returns the
/// report, or the first unreadable line.
#[doc(hidden)]
pub fn fuzz_verify_jsonl(data: &[u8]) -> Result<crate::verify::VerifyReport, JsonlError> {
    let mut verifier: Option<crate::verify::ChainVerifier> = None;
    let start = |v: &mut Option<crate::verify::ChainVerifier>, a: ChainAnchor| {
        v.get_or_insert_with(|| crate::verify::ChainVerifier::new(a));
    };
    for rec in read_jsonl(data) {
        match rec? {
            JsonlRecord::Anchor(a) => start(&mut verifier, a),
            JsonlRecord::Event(e) => {
                start(&mut verifier, ChainAnchor::GENESIS);
                if let Some(v) = verifier.as_mut() {
                    let _ = v.push(*e);
                }
            }
            JsonlRecord::Checkpoint(c) => {
                start(&mut verifier, ChainAnchor::GENESIS);
                if let Some(v) = verifier.as_mut() {
                    let _ = v.push_checkpoint(&c);
                }
            }
        }
    }
    Ok(verifier
        .unwrap_or_else(|| crate::verify::ChainVerifier::new(ChainAnchor::GENESIS))
        .finish())
}
