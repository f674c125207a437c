//! Run detection: consecutive letters or digits, and neighbouring keys on a
//! keyboard row.

/// The US keyboard rows a run may follow.
pub(super) const KEYBOARD_ROWS: [&str; 5] = [
    "1234567890",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "!@#$%^&*()",
];

/// Position of a character in an ordered sequence: (which sequence, index).
type Position = Option<(u8, u8)>;

/// Letters (case-insensitive) in alphabet order, digits in numeric order.
fn alphabet_position(c: char) -> Position {
    match c {
        'a'..='z' => Some((0, c as u8 - b'a')),
        'A'..='Z' => Some((0, c as u8 - b'A')),
        '0'..='9' => Some((1, c as u8 - b'0')),
        _ => None,
    }
}

/// Row and column of every ASCII key on a US keyboard row, upper-case
/// letters folded onto lower-case; `u8::MAX` marks keys on no row.
const KEY_TABLE: [(u8, u8); 128] = key_table();

const fn key_table() -> [(u8, u8); 128] {
    let mut table = [(u8::MAX, 0); 128];
    let mut row = 0;
    while row < KEYBOARD_ROWS.len() {
        let keys = KEYBOARD_ROWS[row].as_bytes();
        let mut col = 0;
        while col < keys.len() {
            table[keys[col] as usize] = (row as u8, col as u8);
            if keys[col].is_ascii_lowercase() {
                table[keys[col].to_ascii_uppercase() as usize] = (row as u8, col as u8);
            }
            col += 1;
        }
        row += 1;
    }
    table
}

/// Row and column on a US keyboard (case-insensitive).
fn keyboard_position(c: char) -> Position {
    let (row, col) = *KEY_TABLE.get(c as usize)?;
    (row != u8::MAX).then_some((row, col))
}

/// Whether `s` holds `len` (at least 2) characters in a row whose positions
/// step by +1 each time, or by -1 each time, within one sequence.
fn has_run(s: &str, len: usize, position: fn(char) -> Position) -> bool {
    let len = len.max(2);
    let mut prev: Position = None;
    let mut step: i16 = 0;
    let mut run = 1usize;
    for c in s.chars() {
        let pos = position(c);
        match (prev, pos) {
            (Some((ps, pi)), Some((s2, i))) if ps == s2 => {
                let d = i16::from(i) - i16::from(pi);
                if (d == 1 || d == -1) && (run == 1 || d == step) {
                    run += 1;
                    step = d;
                } else if d == 1 || d == -1 {
                    // Direction changed: the last two characters start a new run.
                    run = 2;
                    step = d;
                } else {
                    run = 1;
                }
            }
            _ => run = 1,
        }
        if run >= len {
            return true;
        }
        prev = pos;
    }
    false
}

/// A run of `len` consecutive letters (alphabet order) or digits.
pub(super) fn has_sequential_run(s: &str, len: usize) -> bool {
    has_run(s, len, alphabet_position)
}

/// A run of `len` neighbouring keys on one keyboard row.
pub(super) fn has_keyboard_run(s: &str, len: usize) -> bool {
    has_run(s, len, keyboard_position)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_1_2_sequential_runs_both_directions() {
        for s in [
            "abc", "xyz", "XYZ", "aBc", "cba", "123", "987", "x1234y", "zyx",
        ] {
            assert!(has_sequential_run(s, 3), "{s}");
        }
        for s in [
            "ab",
            "acb",
            "12",
            "1a2",
            "yza",
            "901",
            "aabb",
            "TAV#1532afhj@qF344",
        ] {
            assert!(!has_sequential_run(s, 3), "{s}");
        }
        assert!(!has_sequential_run("abc", 4));
        assert!(has_sequential_run("abcd", 4));
    }

    #[test]
    fn req_1_2_keyboard_runs_on_every_row_both_directions() {
        for s in [
            "qwer", "ASD", "!@#$", "zxc", "mnb", "890", "098", "lkj", ")(*", "poi",
        ] {
            assert!(has_keyboard_run(s, 3), "{s}");
        }
        for s in ["qw", "qaz", "1q2w", "TAV#1532afhj@qF344", "p[]", "l;'"] {
            assert!(!has_keyboard_run(s, 3), "{s}");
        }
    }

    #[test]
    fn req_1_2_direction_change_restarts_the_run() {
        // "aba": a->b (+1), b->a (-1): two runs of two, none of three.
        assert!(!has_sequential_run("abab", 3));
        assert!(has_sequential_run("abcb", 3));
        assert!(has_sequential_run("bcba", 3)); // "cba"
    }

    #[test]
    fn req_1_2_lengths_below_two_act_as_two() {
        assert!(has_sequential_run("ab", 0));
        assert!(!has_sequential_run("a", 1));
    }
}
