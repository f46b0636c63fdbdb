//! Units that failed for want of an IPv6 address: with IPv6 off, a daemon
//! told to bind `::1` or `localhost` (postfix with `inet_interfaces =
//! localhost`, a resolver on `::1`) cannot start, at `finish` or at the next
//! boot. `status` and the boot check name each such unit as a problem: a
//! node whose mail is dead is not "all in force".
//!
//! Asked of the running systemd (`systemctl` and `journalctl` on PATH) only
//! where one runs under the root (`/run/systemd/system`, as sd_booted(3)
//! tests): an image or a test tree without it has no units to ask about.

use crate::files::under_root;
use crate::tool::run_checked;
use serde::Serialize;
use std::path::Path;
use std::process::Command;

/// What daemons log when the address they are told to use is gone; matched
/// case-insensitively against the unit's journal since boot.
const WANT_OF_IPV6: [&str; 6] = [
    "cannot assign requested address",
    "no local interface found for ::1",
    "address family not supported by protocol",
    "bind to [::1]",
    "bind [::1]",
    "cannot bind any address",
];

/// How much of a failed unit's journal since boot is read.
const JOURNAL_LINES: &str = "200";

/// A failed unit and the journal line that says why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedUnit {
    pub unit: String,
    pub line: String,
}

/// Every failed unit whose journal since boot says it could not use an
/// IPv6 address, in systemctl's order; empty when no systemd runs under
/// `root` or it cannot be asked.
pub fn failed_for_want_of_ipv6(root: &Path) -> Vec<FailedUnit> {
    if !under_root(root, "/run/systemd/system").is_dir() {
        return Vec::new();
    }
    failed_units()
        .into_iter()
        .filter_map(|unit| {
            let line = reason_in_journal(&unit)?;
            Some(FailedUnit { unit, line })
        })
        .collect()
}

/// `systemctl --failed`: the names of the failed units.
fn failed_units() -> Vec<String> {
    let Some(text) = output(Command::new("systemctl").args([
        "list-units",
        "--failed",
        "--plain",
        "--no-legend",
        "--no-pager",
        "--full",
    ])) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The last line of `unit`'s journal since boot that tells of a missing
/// IPv6 address.
fn reason_in_journal(unit: &str) -> Option<String> {
    let text = output(Command::new("journalctl").args([
        "--boot",
        "--no-pager",
        "--output",
        "cat",
        "--lines",
        JOURNAL_LINES,
        "--unit",
        unit,
    ]))?;
    text.lines()
        .map(str::trim)
        .rfind(|l| is_want_of_ipv6(l))
        .map(str::to_string)
}

fn is_want_of_ipv6(line: &str) -> bool {
    let line = line.to_ascii_lowercase();
    WANT_OF_IPV6.iter().any(|p| line.contains(p))
}

/// What `cmd` prints, or `None` when it cannot run or fails: the answer
/// is advisory, as the module says.
fn output(cmd: &mut Command) -> Option<String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let stdout = run_checked(cmd, &program).ok()?;
    Some(String::from_utf8_lossy(&stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_of_daemons_that_lost_their_address() {
        for line in [
            "postfix/postfix-script[812]: fatal: parameter inet_interfaces: no local interface found for ::1",
            "error: Bind to port 22 on ::1 failed: Cannot assign requested address.",
            "unbound[402:0] error: can't bind socket: Address family not supported by protocol for ::1 port 53",
            "fatal: Cannot bind any address.",
        ] {
            assert!(is_want_of_ipv6(line), "{line}");
        }
        for line in [
            "Started Postfix Mail Transport Agent (instance -).",
            "fatal: open /etc/postfix/main.cf: No such file or directory",
        ] {
            assert!(!is_want_of_ipv6(line), "{line}");
        }
    }

    #[test]
    fn a_root_without_a_running_systemd_has_no_units_to_ask_about() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(failed_for_want_of_ipv6(dir.path()), Vec::new());
    }
}
