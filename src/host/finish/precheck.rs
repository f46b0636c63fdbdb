//! What `finish` asks a daemon before restarting it: its own configuration
//! test (`postfix check`, `sshd -t`). A restart stops the running daemon
//! first; with a configuration it cannot start from, the node would trade a
//! socket on `::1` for a dead service. A unit whose check fails is not
//! restarted, and is named with what the check said.
//!
//! The table is the data: a unit pattern (fnmatch, as in [`super::policy`];
//! a template's `*` must match a non-empty instance), and the command with
//! `%i` for a template unit's instance. A unit the table does
//! not name is restarted unchecked, as `systemctl` would.

use std::io::ErrorKind;
use std::process::{Command, Stdio};

use super::policy::fnmatch;

/// Unit, program, arguments. `postfix@-.service` is Debian's default
/// instance; `postmulti -i INSTANCE -p check` is how its unit runs each.
const CHECKS: [(&str, &str, &[&str]); 5] = [
    ("postfix.service", "postfix", &["check"]),
    (
        "postfix@*.service",
        "postmulti",
        &["-i", "%i", "-p", "check"],
    ),
    ("ssh.service", "sshd", &["-t"]),
    ("sshd.service", "sshd", &["-t"]),
    ("ssh@*.service", "sshd", &["-t"]),
];

/// The outcome of a unit's check.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No check is known for the unit, or its program is not installed.
    Unchecked,
    /// The check passed (the command as run).
    Passed(String),
    /// The check failed: the command, and its last line of output.
    Failed { command: String, said: String },
}

/// Runs the check the table has for `unit`; programs are found on PATH.
pub fn check(unit: &str) -> Verdict {
    let Some((pattern, program, args)) = CHECKS.iter().find(|(p, _, _)| glob(p, unit)) else {
        return Verdict::Unchecked;
    };
    let instance = instance_of(pattern, unit);
    let args: Vec<String> = args.iter().map(|a| a.replace("%i", instance)).collect();
    let command = std::iter::once(*program)
        .chain(args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let out = match Command::new(program)
        .args(&args)
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => return Verdict::Unchecked,
        Err(e) => {
            return Verdict::Failed {
                command,
                said: format!("cannot run it: {e}"),
            }
        }
    };
    if out.status.success() {
        return Verdict::Passed(command);
    }
    let text = [out.stderr, out.stdout].concat();
    let said = String::from_utf8_lossy(&text)
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map_or_else(|| format!("exit {}", out.status), str::to_string);
    Verdict::Failed { command, said }
}

/// `*` of a pattern such as `postfix@*.service` in `unit`: the instance.
fn instance_of<'u>(pattern: &str, unit: &'u str) -> &'u str {
    match pattern.split_once('*') {
        Some((head, tail)) => unit
            .strip_prefix(head)
            .and_then(|rest| rest.strip_suffix(tail))
            .unwrap_or(""),
        None => "",
    }
}

/// The table's pattern matches `unit`, a template's with an instance.
fn glob(pattern: &str, unit: &str) -> bool {
    fnmatch(pattern, unit) && (!pattern.contains('*') || !instance_of(pattern, unit).is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_postfix_instances_and_sshd() {
        assert!(glob("postfix@*.service", "postfix@-.service"));
        assert_eq!(instance_of("postfix@*.service", "postfix@-.service"), "-");
        assert_eq!(
            instance_of("postfix@*.service", "postfix@postfix-out.service"),
            "postfix-out"
        );
        assert!(!glob("postfix@*.service", "postfix@.service"));
        assert!(!glob("ssh.service", "ssh.socket"));
        assert_eq!(check("chrony.service"), Verdict::Unchecked);
    }
}
