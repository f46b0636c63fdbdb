//! The lockout guard: does IPv6 carry real traffic on this node? One
//! implementation, the POSIX sh script `src/ipv6-in-use.sh`
//! ([`IPV6_IN_USE_SCRIPT`], in the contract): the build embeds it into the
//! preinst of every IPv6-off profile and ships it as
//! `/usr/share/pve-tcp-hardening/ipv6-in-use.sh`; `plan` runs that shipped
//! copy (installed, or from an extracted .deb), else the copy compiled into
//! this binary, which is the same file.

use crate::contract::{IPV6_IN_USE_SCRIPT, IPV6_IN_USE_SCRIPT_NAME, OVERRIDE_QUESTION};
use crate::files::{read_to_string_if_exists, under_root};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What the check found.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Findings {
    /// IPv6 carries real traffic: each stops an IPv6-off install.
    pub stops: Vec<String>,
    /// IPv6 that configured itself (SLAAC...): listed, never stops.
    pub warnings: Vec<String>,
}

/// Which copy of the script to run.
#[derive(Debug, Clone)]
pub enum CheckScript {
    File(PathBuf),
    Embedded,
}

impl CheckScript {
    /// The copy shipped beside `profile_json` if there is one.
    pub fn beside(profile_json: &Path) -> CheckScript {
        match profile_json
            .parent()
            .map(|d| d.join(IPV6_IN_USE_SCRIPT_NAME))
        {
            Some(path) if path.is_file() => CheckScript::File(path),
            _ => CheckScript::Embedded,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            CheckScript::File(p) => p.display().to_string(),
            CheckScript::Embedded => "the copy built into this helper".into(),
        }
    }
}

/// Run the check against the host tree `root` and its `/proc` (`None`:
/// an image with no running system, so only its files are checked).
pub fn check_ipv6_in_use(
    script: &CheckScript,
    root: &Path,
    proc: Option<&Path>,
) -> Result<Findings> {
    let no_proc = tempfile::tempdir().context("cannot create a temporary directory")?;
    let proc = proc.unwrap_or(no_proc.path());
    let mut command = Command::new("sh");
    match script {
        CheckScript::File(path) => command.arg(path),
        CheckScript::Embedded => command.args(["-s", "--"]),
    };
    let mut child = command
        .arg(root)
        .arg(proc)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run the IPv6 check {}", script.describe()))?;
    let stdin = child.stdin.take();
    if let (CheckScript::Embedded, Some(mut stdin)) = (script, stdin) {
        stdin
            .write_all(IPV6_IN_USE_SCRIPT.as_bytes())
            .context("cannot feed the IPv6 check to sh")?;
    }
    let out = child
        .wait_with_output()
        .with_context(|| format!("the IPv6 check {} did not finish", script.describe()))?;
    let findings = parse_findings(&String::from_utf8_lossy(&out.stdout));
    // Exit 1 exactly when a STOP line was printed; anything else is a broken run.
    let stopped = !findings.stops.is_empty();
    match out.status.code() {
        Some(0) if !stopped => Ok(findings),
        Some(1) if stopped => Ok(findings),
        _ => bail!(
            "the IPv6 check {} failed ({}): {}",
            script.describe(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

/// `STOP: ...` and `WARN: ...` lines; anything else is not a finding.
pub fn parse_findings(text: &str) -> Findings {
    let mut findings = Findings::default();
    for line in text.lines() {
        if let Some(stop) = line.strip_prefix("STOP: ") {
            findings.stops.push(stop.to_string());
        } else if let Some(warn) = line.strip_prefix("WARN: ") {
            findings.warnings.push(warn.to_string());
        }
    }
    findings
}

/// Whether the override is set in debconf's database under `root`
/// (`/var/cache/debconf/config.dat`, where `debconf-set-selections`
/// writes): the preinst reads the same value through db_get.
pub fn override_preseeded(root: &Path) -> Result<bool> {
    let path = under_root(root, "/var/cache/debconf/config.dat");
    let Some(text) = read_to_string_if_exists(&path)
        .with_context(|| format!("cannot read debconf's database {}", path.display()))?
    else {
        return Ok(false);
    };
    let value = text
        .split("\n\n")
        .find(|record| {
            record
                .lines()
                .any(|l| l.strip_prefix("Name:").map(str::trim) == Some(OVERRIDE_QUESTION))
        })
        .and_then(|record| {
            record
                .lines()
                .find_map(|l| l.strip_prefix("Value:").map(str::trim))
        });
    Ok(value == Some("true"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_the_prefixed_lines() {
        let f = parse_findings("STOP: a b\nWARN: c\nnoise\nSTOP:no-space\n");
        assert_eq!(f.stops, vec!["a b"]);
        assert_eq!(f.warnings, vec!["c"]);
    }

    #[test]
    fn the_override_is_read_from_debconfs_database() {
        let root = tempfile::tempdir().unwrap();
        assert!(!override_preseeded(root.path()).unwrap());
        let db = root.path().join("var/cache/debconf");
        fs_err::create_dir_all(&db).unwrap();
        let record = |name: &str, value: &str| {
            format!("Name: {name}\nTemplate: {name}\nValue: {value}\nOwners: pve-tcp-hardening\n")
        };
        fs_err::write(
            db.join("config.dat"),
            format!(
                "{}\n{}",
                record("other/q", "true"),
                record(OVERRIDE_QUESTION, "false")
            ),
        )
        .unwrap();
        assert!(!override_preseeded(root.path()).unwrap());
        fs_err::write(db.join("config.dat"), record(OVERRIDE_QUESTION, "true")).unwrap();
        assert!(override_preseeded(root.path()).unwrap());
    }
}
