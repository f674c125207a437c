//! The network-namespace re-run for tests that feed the server hostile or
//! foreign SIP messages: such a test runs in a namespace of its own with
//! only loopback up, so no reply can leave the machine.

use std::process::Command;

/// Re-runs `test` in a network namespace of its own with only loopback up
/// (returns `false`), or returns `true` when already inside it. Without
/// `unshare` the test is skipped, unless CI is set.
pub(crate) fn in_own_netns(test: &str) -> bool {
    if std::env::var_os("OKCC_TEST_IN_NETNS").is_some() {
        return true;
    }
    let exe = std::env::current_exe().unwrap();
    let status = Command::new("unshare")
        .args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(&exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("OKCC_TEST_IN_NETNS", "1")
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) if s.code() == Some(101) => panic!("{test} failed inside its network namespace"),
        other => {
            assert!(
                std::env::var_os("CI").is_none(),
                "cannot run {test} in its own network namespace (unshare -n): {other:?}"
            );
            eprintln!("skipping {test}: unshare -n is not available here ({other:?})");
        }
    }
    false
}
