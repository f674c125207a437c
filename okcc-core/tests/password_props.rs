//! Property tests of the password policy (issue 2): valid passwords pass,
//! inserting any forbidden run fails, tightening a rule never accepts more.

use okcc_core::password::{PasswordPolicy, Violation};
use proptest::prelude::*;

/// Allowed characters no two of which are neighbours in the alphabet, the
/// digits or a keyboard row (chosen greedily), so no string over them holds
/// a run of even two.
const POOL: &[u8] = b"acegikmptzACEGIKMPTZ02468!#%*?_-+";

fn pool_password() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(POOL), 9..=31)
        .prop_map(|v| String::from_utf8(v).unwrap_or_default())
}

/// Every forbidden run of length 3 from the rule text and the keyboard rows.
fn forbidden_run() -> impl Strategy<Value = String> {
    const SOURCES: [&str; 9] = [
        "abcdefghijklmnopqrstuvwxyz",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "0123456789",
        "1234567890",
        "qwertyuiop",
        "asdfghjkl",
        "zxcvbnm",
        "QWERTYUIOP",
        "!@#$%^", // the shifted row up to `&` (not an allowed symbol)
    ];
    (
        prop::sample::select(&SOURCES[..]),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|(src, idx, rev)| {
            let n = src.len() - 2;
            let start = idx.index(n);
            let run: String = src[start..start + 3].to_owned();
            if rev {
                run.chars().rev().collect()
            } else {
                run
            }
        })
}

fn rules_only() -> PasswordPolicy {
    let mut p = PasswordPolicy::default();
    p.min_score = None;
    p.refuse_common = false;
    p
}

proptest! {
    #[test]
    fn req_1_2_passwords_satisfying_all_rules_pass(pw in pool_password()) {
        let p = rules_only();
        let has = |f: fn(&u8) -> bool| pw.as_bytes().iter().any(f);
        prop_assume!(has(u8::is_ascii_digit) && has(u8::is_ascii_alphabetic) && has(u8::is_ascii_punctuation));
        prop_assert!(p.check(&pw, &[]).is_ok(), "{} refused: {:?}", pw, p.check(&pw, &[]).err());
    }

    #[test]
    fn req_1_2_inserting_any_forbidden_run_fails(pw in pool_password(), run in forbidden_run(), at in any::<prop::sample::Index>()) {
        let p = rules_only();
        let mut s = pw;
        let pos = at.index(s.len() + 1);
        s.insert_str(pos, &run);
        let r = p.check(&s, &[]);
        prop_assert!(r.is_err(), "{} accepted", s);
        let r = r.err().unwrap_or_else(|| unreachable!());
        prop_assert!(r.has("sequential_run") || r.has("keyboard_run"), "{:?}", r);
    }

    #[test]
    fn req_1_2_tightening_never_accepts_more(
        pw in prop_oneof![pool_password(), "[ -~]{0,40}", "\\PC{0,20}"],
        which in 0usize..10,
        amount in 1usize..4,
        base_run in 2usize..6,
    ) {
        let mut loose = PasswordPolicy::default();
        loose.min_score = None; // zxcvbn is monotone too, but slow: covered below
        loose.sequential_run = Some(base_run);
        loose.keyboard_run = Some(base_run);
        let mut tight = loose.clone();
        match which {
            0 => tight.min_len += amount,
            1 => tight.max_len = tight.max_len.saturating_sub(amount),
            2 => { loose.require_digit = false; }
            3 => { loose.require_symbol = false; }
            4 => { tight.allowed_symbols = Some("!@#".to_owned()); }
            5 => { tight.sequential_run = Some(base_run.saturating_sub(amount)); }
            6 => { tight.keyboard_run = Some(base_run.saturating_sub(amount)); }
            7 => { loose.refuse_common = false; }
            8 => { loose.allowed_symbols = None; }
            _ => { tight.user_name_min_len = 1; }
        }
        let accepted_tight = tight.check(&pw, &["ab"]).is_ok();
        let accepted_loose = loose.check(&pw, &["ab"]).is_ok();
        prop_assert!(!accepted_tight || accepted_loose, "tightening #{} accepted {:?}", which, pw);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn req_1_3_raising_min_score_never_accepts_more(pw in pool_password(), low in 0u8..4) {
        let mut loose = rules_only();
        loose.min_score = Some(low);
        let mut tight = loose.clone();
        tight.min_score = Some(low + 1);
        prop_assert!(tight.check(&pw, &[]).is_err() || loose.check(&pw, &[]).is_ok());
        if let Err(r) = tight.check(&pw, &[]) {
            let only_score = r.violations().iter().all(|v| matches!(v, Violation::TooGuessable { .. }));
            prop_assert!(only_score || r.score().is_none());
        }
    }
}
