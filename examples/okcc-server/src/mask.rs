//! `okcc-server mask`: masks one number or SIP/tel URI per line.
//!
//! Reads stdin line by line and writes each line masked, in the same
//! order. A line that does not parse as a number is masked strictly
//! (every digit hidden), so no number is ever echoed in clear. Lines
//! longer than [`MAX_LINE`] bytes are masked strictly as well; invalid
//! UTF-8 is replaced before masking.

use std::io::{self, BufRead, Read, Write};
use std::process::ExitCode;

use clap::Args;
use okcc_core::mask::{MaskMode, mask_best_effort, mask_strict};

/// The longest line read at once, in bytes.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// Arguments of `okcc-server mask`.
#[derive(Debug, Args)]
pub(crate) struct MaskArgs {
    /// `middle4` hides the middle four digits; `full` shows `00000000`.
    #[arg(long, default_value = "middle4")]
    mode: MaskMode,
}

/// Masks stdin to stdout.
pub(crate) fn run(args: &MaskArgs) -> ExitCode {
    let stdin = io::stdin();
    let stdout = io::stdout();
    match mask_lines(stdin.lock(), stdout.lock(), args.mode) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("okcc-server mask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Masks every line of `input` into `output`.
pub(crate) fn mask_lines(
    mut input: impl BufRead,
    mut output: impl Write,
    mode: MaskMode,
) -> io::Result<()> {
    let mut buf = Vec::new();
    // Inside a line longer than MAX_LINE: every chunk is masked strictly.
    let mut continuing = false;
    loop {
        buf.clear();
        let n = Read::take(&mut input, MAX_LINE as u64).read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        let ended = buf.last() == Some(&b'\n');
        let whole = !continuing && (ended || n < MAX_LINE);
        let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        let text = String::from_utf8_lossy(body);
        let masked = if whole {
            mask_best_effort(&text, mode)
        } else {
            mask_strict(&text, mode)
        };
        output.write_all(masked.as_bytes())?;
        continuing = !ended && n == MAX_LINE;
        if !continuing {
            output.write_all(b"\n")?;
        }
    }
    output.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str, mode: MaskMode) -> String {
        let mut out = Vec::new();
        mask_lines(input.as_bytes(), &mut out, mode).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn req_8_3_cli_masks_line_per_line_in_order() {
        let input = "13812345678\nsip:+8613812345678@pbx.example.com\n1001\nnot a 13812345678 number\n\ntel:010-12345678";
        assert_eq!(
            run(input, MaskMode::MiddleFour),
            "138****5678\nsip:+86138****5678@pbx.example.com\n1001\nnot a *********** number\n\ntel:010-****5678\n"
        );
        assert_eq!(
            run("13812345678\n1001\n", MaskMode::Full),
            "00000000\n00000000\n"
        );
    }

    #[test]
    fn req_8_3_cli_never_echoes_long_or_binary_lines_in_clear() {
        let long = format!("{}\n1001\n", "1".repeat(MAX_LINE + 10));
        let out = run(&long, MaskMode::MiddleFour);
        assert_eq!(out, format!("{}\n1001\n", "*".repeat(MAX_LINE + 10)));
        let mut out = Vec::new();
        mask_lines(&b"138\xff12345678\n"[..], &mut out, MaskMode::MiddleFour).unwrap();
        assert!(!String::from_utf8_lossy(&out).contains("1234"));
    }
}
