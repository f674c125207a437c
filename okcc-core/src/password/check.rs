//! Applying the policy to one candidate.

use super::runs::{has_keyboard_run, has_sequential_run};
use super::{AcceptedPassword, MAX_INPUT_BYTES, PasswordPolicy, Rejection, Violation, WeakList};

/// Score reported for an accepted password when the policy skips zxcvbn.
const UNSCORED: u8 = 4;

impl PasswordPolicy {
    /// Checks `candidate` against every rule.
    ///
    /// `user_inputs` are the account's user name, extension number and any
    /// other words the password must not contain (and that zxcvbn should
    /// treat as guessable). Returns the proof [`AcceptedPassword`], or a
    /// [`Rejection`] listing every failed rule.
    ///
    /// zxcvbn runs only when every other rule passed; input over
    /// [`MAX_INPUT_BYTES`] bytes is refused at once as too long.
    pub fn check(
        &self,
        candidate: &str,
        user_inputs: &[&str],
    ) -> Result<AcceptedPassword, Rejection> {
        let violations = self.rule_violations(candidate, user_inputs);
        if !violations.is_empty() {
            return Err(Rejection::new(violations, None));
        }
        let Some(min) = self.min_score else {
            return Ok(AcceptedPassword::new(candidate, UNSCORED));
        };
        let score = zxcvbn_score(candidate, user_inputs);
        if score < min {
            return Err(Rejection::new(
                vec![Violation::TooGuessable { score, min }],
                Some(score),
            ));
        }
        Ok(AcceptedPassword::new(candidate, score))
    }

    /// The zxcvbn guessability score (0..=4) of `candidate`, whatever the
    /// rules say; `None` for input over [`MAX_INPUT_BYTES`] bytes, which is
    /// never handed to zxcvbn. [`PasswordPolicy::check`] skips this work
    /// when a rule already refuses; call it when a report needs the score
    /// anyway (about 150 µs).
    pub fn score(&self, candidate: &str, user_inputs: &[&str]) -> Option<u8> {
        (candidate.len() <= MAX_INPUT_BYTES).then(|| zxcvbn_score(candidate, user_inputs))
    }

    /// Every rule except the zxcvbn score, in the order the rules are
    /// listed on [`PasswordPolicy`]. Cheap (about a microsecond); useful for
    /// live feedback while a user types.
    pub fn rule_violations(&self, candidate: &str, user_inputs: &[&str]) -> Vec<Violation> {
        let mut out = Vec::new();
        if candidate.len() > MAX_INPUT_BYTES {
            out.push(Violation::TooLong {
                max: self.max_len.min(MAX_INPUT_BYTES),
            });
            return out;
        }
        let stats = CharStats::of(candidate, self.allowed_symbols.as_deref());
        if stats.chars < self.min_len {
            out.push(Violation::TooShort { min: self.min_len });
        }
        if stats.chars > self.max_len {
            out.push(Violation::TooLong { max: self.max_len });
        }
        if self.require_digit && !stats.digit {
            out.push(Violation::MissingDigit);
        }
        if self.require_letter && !stats.letter {
            out.push(Violation::MissingLetter);
        }
        if self.require_symbol && !stats.symbol {
            out.push(Violation::MissingSymbol);
        }
        if self.allowed_symbols.is_some() {
            if stats.disallowed_symbol {
                out.push(Violation::DisallowedSymbol);
            }
            if stats.whitespace {
                out.push(Violation::Whitespace);
            }
            if stats.control {
                out.push(Violation::ControlCharacter);
            }
            if stats.non_ascii {
                out.push(Violation::NonAscii);
            }
        }
        if let Some(len) = self.sequential_run
            && has_sequential_run(candidate, len)
        {
            out.push(Violation::SequentialRun { len: len.max(2) });
        }
        if let Some(len) = self.keyboard_run
            && has_keyboard_run(candidate, len)
        {
            out.push(Violation::KeyboardRun { len: len.max(2) });
        }
        if self.refuse_user_name
            && contains_user_input(candidate, user_inputs, self.user_name_min_len)
        {
            out.push(Violation::ContainsUserName);
        }
        if self.refuse_common && WeakList::contains(candidate) {
            out.push(Violation::CommonPassword);
        }
        out
    }
}

/// The zxcvbn score (0–4) of a candidate that passed the cheap rules.
fn zxcvbn_score(candidate: &str, user_inputs: &[&str]) -> u8 {
    // zxcvbn panics on nothing we know of, but only sees bounded input:
    // the caller refused anything over MAX_INPUT_BYTES, and user inputs are
    // cut to the same size.
    let inputs: Vec<&str> = user_inputs
        .iter()
        .filter(|u| !u.is_empty() && u.len() <= MAX_INPUT_BYTES)
        .copied()
        .take(16)
        .collect();
    u8::from(zxcvbn::zxcvbn(candidate, &inputs).score())
}

/// Whether `candidate` contains one of `inputs` (ASCII case-insensitive),
/// looking only at inputs of at least `min_len` characters.
fn contains_user_input(candidate: &str, inputs: &[&str], min_len: usize) -> bool {
    let min_len = min_len.max(1);
    let hay = candidate.to_lowercase();
    inputs.iter().any(|input| {
        let n = input.chars().count();
        n >= min_len && n <= MAX_INPUT_BYTES && hay.contains(&input.to_lowercase())
    })
}

/// What one pass over the characters found.
#[derive(Default)]
struct CharStats {
    chars: usize,
    digit: bool,
    letter: bool,
    symbol: bool,
    disallowed_symbol: bool,
    whitespace: bool,
    control: bool,
    non_ascii: bool,
}

impl CharStats {
    fn of(candidate: &str, allowed_symbols: Option<&str>) -> Self {
        let mut s = Self::default();
        for c in candidate.chars() {
            s.chars += 1;
            if c.is_ascii_digit() {
                s.digit = true;
            } else if c.is_alphabetic() {
                s.letter = true;
            } else if c.is_whitespace() {
                s.whitespace = true;
            } else if c.is_control() {
                s.control = true;
            } else if !c.is_alphanumeric() {
                s.symbol = true;
                if c.is_ascii() && allowed_symbols.is_some_and(|set| !set.contains(c)) {
                    s.disallowed_symbol = true;
                }
            }
            if !c.is_ascii() {
                s.non_ascii = true;
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(policy: &PasswordPolicy, pw: &str, users: &[&str]) -> Vec<&'static str> {
        match policy.check(pw, users) {
            Ok(_) => Vec::new(),
            Err(r) => r.violations().iter().map(Violation::code).collect(),
        }
    }

    fn default_codes(pw: &str) -> Vec<&'static str> {
        codes(&PasswordPolicy::default(), pw, &[])
    }

    #[test]
    fn req_1_2_source_example_passes() {
        let accepted = PasswordPolicy::default()
            .check("TAV#1532afhj@qF344", &[])
            .unwrap();
        assert!(accepted.score() >= 3);
    }

    #[test]
    fn req_1_2_rejects_short_and_long() {
        assert!(default_codes("T#1ajQx9").contains(&"too_short")); // 8 chars
        assert!(!default_codes("T#1ajQx9k").contains(&"too_short")); // 9 chars
        let long = "T#1ajQx9kT#1ajQx9kT#1ajQx9kT#1aj"; // 32 chars
        assert!(default_codes(long).contains(&"too_long"));
        assert!(!default_codes(&long[..31]).contains(&"too_long"));
    }

    #[test]
    fn req_1_2_requires_digit_letter_symbol() {
        assert!(default_codes("TAV#afhj@qFkm").contains(&"missing_digit"));
        assert!(default_codes("1532#4@96813").contains(&"missing_letter"));
        assert!(default_codes("TAV1532afhjqF344").contains(&"missing_symbol"));
    }

    #[test]
    fn req_1_2_refuses_symbols_outside_the_set_each_with_its_own_violation() {
        assert_eq!(default_codes("TAV&1532afhj@qF344"), ["disallowed_symbol"]);
        assert_eq!(default_codes("TAV 1532afhj@qF344"), ["whitespace"]);
        assert_eq!(
            default_codes("TAV\u{7}1532afhj@qF344"),
            ["control_character"]
        );
        assert_eq!(default_codes("TAVé1532afhj@qF344"), ["non_ascii"]);
        for sym in PasswordPolicy::SOURCE_SYMBOLS.chars() {
            let pw = format!("TAV{sym}1532afhj@qF344");
            assert!(!default_codes(&pw).contains(&"disallowed_symbol"), "{pw}");
        }
    }

    #[test]
    fn req_1_2_rejects_sequential_runs() {
        for run in ["abc", "xyz", "cba", "1234", "987", "XYZ"] {
            let pw = format!("T#v{run}Q9m@wK");
            assert!(default_codes(&pw).contains(&"sequential_run"), "{pw}");
        }
    }

    #[test]
    fn req_1_2_rejects_keyboard_runs() {
        for run in ["qwer", "ASD", "!@#$", "zxc", "poi", "098"] {
            let pw = format!("T#v{run}Q9m@wK");
            assert!(default_codes(&pw).contains(&"keyboard_run"), "{pw}");
        }
    }

    #[test]
    fn req_1_1_lists_every_violation_at_once() {
        let c = default_codes("abc12345!");
        assert_eq!(c, ["sequential_run", "keyboard_run"]);
        let c = default_codes("qwerty");
        for code in [
            "too_short",
            "missing_digit",
            "missing_symbol",
            "keyboard_run",
            "common_password",
        ] {
            assert!(c.contains(&code), "{code} in {c:?}");
        }
    }

    #[test]
    fn req_1_2_rejects_user_name_and_extension() {
        let p = PasswordPolicy::default();
        assert!(codes(&p, "T#vAlice9m@wK", &["alice"]).contains(&"contains_user_name"));
        assert!(codes(&p, "T#v8017Q9m@wK", &["alice", "8017"]).contains(&"contains_user_name"));
        // Names shorter than user_name_min_len are not looked for.
        assert!(!codes(&p, "T#vAl9m@wKqP", &["al"]).contains(&"contains_user_name"));
    }

    #[test]
    fn req_1_3_rejects_common_passwords() {
        let p = PasswordPolicy::permissive();
        let p = PasswordPolicy {
            refuse_common: true,
            ..p
        };
        for pw in super::super::TOP_TEN {
            assert_eq!(codes(&p, pw, &[]), ["common_password"]);
        }
        assert_eq!(codes(&p, "Dragon", &[]), ["common_password"]);
    }

    #[test]
    fn req_1_3_zxcvbn_refuses_guessable_and_is_skipped_when_rules_refuse() {
        let mut p = PasswordPolicy::permissive();
        p.min_score = Some(3);
        let r = p.check("correcthorse", &[]).unwrap_err();
        assert!(r.has("too_guessable"));
        assert!(r.score().is_some());
        // Rules refuse first: no zxcvbn score.
        let r = PasswordPolicy::default()
            .check("abc12345!", &[])
            .unwrap_err();
        assert_eq!(r.score(), None);
        assert!(!r.has("too_guessable"));
    }

    #[test]
    fn req_1_2_huge_input_is_refused_before_any_work() {
        let big = "a".repeat(1 << 20);
        let r = PasswordPolicy::default().check(&big, &[]).unwrap_err();
        assert_eq!(r.violations(), [Violation::TooLong { max: 31 }]);
        let mut loose = PasswordPolicy::permissive();
        loose.min_score = Some(0);
        assert!(loose.check(&big, &[]).unwrap_err().has("too_long"));
    }

    #[test]
    fn req_1_2_every_rule_can_be_switched_off() {
        let p = PasswordPolicy::permissive();
        for pw in ["", "a", "abc", "qwerty", "  ", "é", "password"] {
            assert!(p.check(pw, &["a"]).is_ok(), "{pw:?}");
        }
    }
}
