//! `okcc-server password …`: check candidate passwords against the policy,
//! and audit stored SIP HA1 values for weak secrets.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use okcc_core::credential::{Ha1, Ha1Audit, Ha1Record, parse_ha1_line};
use okcc_core::password::{PasswordPolicy, WeakList};
use serde_json::json;

/// Longest line read from any input; longer lines are cut (and then refused
/// as too long), so a huge line costs bounded memory.
const MAX_LINE_BYTES: usize = 4096;

/// How many entries of the common-passwords list the weak-secret check of
/// a listing tries against each stored HA1 (`extension list` and the REST
/// extension listing). `okcc-server password audit-ha1` runs the full list.
pub(crate) const WEAK_CANDIDATES: usize = 1000;

/// The one weak-password dictionary a listing tries against each stored
/// HA1 (the CLI's `extension list` and the REST extension listing share
/// it): the first [`WEAK_CANDIDATES`] entries of the common-passwords list,
/// which starts with the ten most common passwords. Build it once per
/// listing.
pub(crate) fn weak_dictionary() -> Vec<&'static str> {
    WeakList::entries().take(WEAK_CANDIDATES).collect()
}

/// Why the stored MD5 HA1 of account `name` in `realm` is weak (empty:
/// not found weak): no secret at all, the secret equals the account name,
/// or it is in `dictionary` ([`weak_dictionary`]).
pub(crate) fn weak_reasons(
    name: &str,
    realm: &str,
    md5_ha1: Option<&Ha1>,
    dictionary: &[&str],
) -> Vec<String> {
    let Some(ha1) = md5_ha1 else {
        return vec!["no password is set".to_owned()];
    };
    let record = Ha1Record::new(name, ha1.clone());
    if Ha1Audit::new(realm, &[name]).check(&record).is_some() {
        vec!["the password equals the extension name".to_owned()]
    } else if Ha1Audit::new(realm, dictionary).check(&record).is_some() {
        vec!["the password is on the common-passwords list".to_owned()]
    } else {
        Vec::new()
    }
}

/// Password policy and credential audit tools.
#[derive(Debug, Args)]
pub(crate) struct PasswordArgs {
    #[command(subcommand)]
    command: PasswordCommand,
}

#[derive(Debug, Subcommand)]
enum PasswordCommand {
    /// Check candidate passwords (one per line on stdin) against the default
    /// policy; prints one JSON object per line:
    /// {"ok": bool, "violations": [{"code", "message"}], "score": 0..4, or null for over-long input}.
    Check {
        /// The account's user name or extension (the password must not contain it).
        #[arg(long)]
        user: Option<String>,
    },
    /// Find SIP accounts whose stored HA1 is the hash of a common password.
    AuditHa1 {
        /// The SIP realm the HA1 values were made for.
        #[arg(long)]
        realm: String,
        /// File of `user:ha1hex` lines (32 hex digits: MD5, 64: SHA-256).
        #[arg(long)]
        users: PathBuf,
        /// File of candidate passwords, one per line (default: the shipped
        /// list of 30,000 common passwords).
        #[arg(long)]
        candidates: Option<PathBuf>,
    },
}

/// Runs a `password` subcommand.
pub(crate) fn run(args: PasswordArgs) -> ExitCode {
    let result = match args.command {
        PasswordCommand::Check { user } => {
            check(user.as_deref(), io::stdin().lock(), io::stdout().lock())
        }
        PasswordCommand::AuditHa1 {
            realm,
            users,
            candidates,
        } => audit_ha1(&realm, &users, candidates.as_deref(), io::stdout().lock()).map(|_| ()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("okcc-server password: {e}");
            ExitCode::from(2)
        }
    }
}

/// Reads one line of at most `MAX_LINE_BYTES` into `buf` (without the
/// newline), discarding the rest of an over-long line. `false` at the end.
fn read_bounded_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<bool> {
    buf.clear();
    let mut any = false;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(any);
        }
        any = true;
        let (part, done) = match memchr_newline(chunk) {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        let room = MAX_LINE_BYTES.saturating_sub(buf.len());
        buf.extend_from_slice(&part[..part.len().min(room)]);
        let used = done.unwrap_or(chunk.len());
        reader.consume(used);
        if done.is_some() {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(true);
        }
    }
}

fn memchr_newline(chunk: &[u8]) -> Option<usize> {
    chunk.iter().position(|&b| b == b'\n')
}

fn check(user: Option<&str>, mut input: impl BufRead, mut out: impl Write) -> io::Result<()> {
    let policy = PasswordPolicy::default();
    let user_inputs: Vec<&str> = user.into_iter().collect();
    let mut buf = Vec::new();
    while read_bounded_line(&mut input, &mut buf)? {
        // Invalid UTF-8 becomes U+FFFD, which the policy refuses as non-ASCII.
        let candidate = String::from_utf8_lossy(&buf);
        let line = match policy.check(&candidate, &user_inputs) {
            Ok(accepted) => json!({"ok": true, "violations": [], "score": accepted.score()}),
            Err(rejection) => {
                let violations: Vec<_> = rejection
                    .violations()
                    .iter()
                    .map(|v| json!({"code": v.code(), "message": v.message()}))
                    .collect();
                // The report always carries the score (0..4) when the input
                // is small enough to score; `null` only for over-long input.
                let score = rejection
                    .score()
                    .or_else(|| policy.score(&candidate, &user_inputs));
                json!({"ok": false, "violations": violations, "score": score})
            }
        };
        writeln!(out, "{line}")?;
    }
    buf.fill(0);
    out.flush()
}

fn open(path: &Path) -> io::Result<BufReader<File>> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// What an audit run found: flagged accounts and skipped lines.
#[derive(Debug, PartialEq, Eq)]
struct AuditSummary {
    weak: usize,
    bad_lines: usize,
}

fn audit_ha1(
    realm: &str,
    users: &Path,
    candidates: Option<&Path>,
    mut out: impl Write,
) -> io::Result<AuditSummary> {
    let mut records: Vec<(usize, Ha1Record)> = Vec::new();
    let mut bad = 0usize;
    let mut reader = open(users)?;
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    while read_bounded_line(&mut reader, &mut buf)? {
        line_no += 1;
        let text = String::from_utf8_lossy(&buf);
        if text.trim().is_empty() || text.trim_start().starts_with('#') {
            continue;
        }
        match parse_ha1_line(&text) {
            Ok(record) => records.push((line_no, record)),
            Err(e) => {
                bad += 1;
                eprintln!("{}:{line_no}: skipped: {e}", users.display());
            }
        }
    }

    let owned: Vec<String> = match candidates {
        Some(path) => {
            let mut reader = open(path)?;
            let mut list = Vec::new();
            while read_bounded_line(&mut reader, &mut buf)? {
                if !buf.is_empty() {
                    list.push(String::from_utf8_lossy(&buf).into_owned());
                }
            }
            list
        }
        None => WeakList::entries().map(str::to_owned).collect(),
    };
    buf.fill(0);
    let candidate_refs: Vec<&str> = owned.iter().map(String::as_str).collect();

    let plain: Vec<Ha1Record> = records.iter().map(|(_, r)| r.clone()).collect();
    let bar = ProgressBar::new(plain.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} accounts ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let audit = Ha1Audit::new(realm, &candidate_refs);
    let found = audit.run_parallel(&plain, || bar.inc(1));
    bar.finish_and_clear();

    for weak in &found {
        let line = records.get(weak.record).map_or(0, |(n, _)| *n);
        writeln!(out, "{}", json!({"user": weak.user, "line": line}))?;
    }
    out.flush()?;
    eprintln!(
        "audited {} accounts against {} candidates: {} weak, {bad} bad lines skipped",
        plain.len(),
        candidate_refs.len(),
        found.len()
    );
    Ok(AuditSummary {
        weak: found.len(),
        bad_lines: bad,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_1_4_one_weak_dictionary_for_cli_and_rest() {
        use okcc_core::credential::DigestAlgorithm;
        let dict = weak_dictionary();
        assert_eq!(dict.len(), WEAK_CANDIDATES);
        for top in okcc_core::password::TOP_TEN {
            assert!(dict.contains(&top), "{top} is in the listing dictionary");
        }
        let ha1 = |user: &str, pw: &str| {
            Ha1::dangerous_from_unchecked_secret(DigestAlgorithm::Md5, user, "okcc", pw)
        };
        assert_eq!(
            weak_reasons("2001", "okcc", None, &dict),
            ["no password is set"]
        );
        assert_eq!(
            weak_reasons("2001", "okcc", Some(&ha1("2001", "2001")), &dict),
            ["the password equals the extension name"]
        );
        assert_eq!(
            weak_reasons("2001", "okcc", Some(&ha1("2001", "123456")), &dict),
            ["the password is on the common-passwords list"]
        );
        assert!(
            weak_reasons(
                "2001",
                "okcc",
                Some(&ha1("2001", "TAV#1532afhj@qF344")),
                &dict
            )
            .is_empty()
        );
        // The realm is part of the HA1: another realm's secret is not matched.
        assert!(weak_reasons("2001", "other", Some(&ha1("2001", "123456")), &dict).is_empty());
    }

    fn run_check(input: &[u8], user: Option<&str>) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        check(user, input, &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn req_1_1_cli_check_prints_one_verdict_per_line() {
        let v = run_check(b"TAV#1532afhj@qF344\nabc12345!\n", None);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0]["ok"], true);
        assert!(v[0]["score"].as_u64().unwrap() >= 3);
        assert_eq!(v[1]["ok"], false);
        assert!(v[1]["score"].as_u64().is_some_and(|s| s <= 4), "{}", v[1]);
        let codes: Vec<_> = v[1]["violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["code"].as_str().unwrap())
            .collect();
        assert!(codes.contains(&"sequential_run"), "{codes:?}");
        assert!(
            v[1]["violations"][0]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }

    #[test]
    fn req_1_2_cli_check_bounds_huge_and_binary_lines() {
        let mut input = vec![b'a'; 1 << 20];
        input.extend_from_slice(b"\n\xff\xfeTAV#1532afhj@qF\r\nTAV#1532afhj@qF344");
        let v = run_check(&input, Some("alice"));
        assert_eq!(v.len(), 3);
        assert_eq!(v[0]["violations"][0]["code"], "too_long");
        assert!(
            v[1]["violations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["code"] == "non_ascii")
        );
        assert_eq!(v[2]["ok"], true);
    }

    #[test]
    fn req_1_4_cli_audit_reads_files_and_skips_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users.txt");
        // HA1 of 100:pbx:123456 and of a strong secret, plus two bad lines.
        let weak = "585ae0e54aa1217e5fd95bcc286492e5"; // MD5("100:pbx:123456")
        let strong = "c9b0d238b1a9dbdda63d9fc56a18d2eb";
        std::fs::write(
            &users,
            format!("100:{weak}\nbroken line\n101:{strong}\n102:abcd\n"),
        )
        .unwrap();
        let mut out = Vec::new();
        let summary = audit_ha1("pbx", &users, None, &mut out).unwrap();
        assert_eq!(
            summary,
            AuditSummary {
                weak: 1,
                bad_lines: 2
            }
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"line\":1,\"user\":\"100\"}\n"
        );
        let cands = dir.path().join("c.txt");
        std::fs::write(&cands, "x\nTAV#1532afhj@qF344\r\n").unwrap();
        let mut out = Vec::new();
        let summary = audit_ha1("pbx", &users, Some(&cands), &mut out).unwrap();
        assert_eq!(summary.weak, 1);
        assert!(String::from_utf8(out).unwrap().contains("\"user\":\"101\""));
        assert!(audit_ha1("pbx", &dir.path().join("missing"), None, Vec::new()).is_err());
    }
}
