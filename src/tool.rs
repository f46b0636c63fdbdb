//! Running another program (dpkg-divert, dpkg-query, dpkg-deb, md5sum,
//! systemctl) where its failure is an error: a non-zero exit becomes an
//! error that names the command, its exit status and what it said on
//! stderr, so the admin reads dpkg's own words. Shared by both sides.

use anyhow::{bail, Context, Result};
use std::process::{Command, Output, Stdio};

/// Run `cmd` with stdin from /dev/null and wait for it; its stdout, or an
/// error naming it as `shown` (e.g. `dpkg-divert --list`).
pub fn run_checked(cmd: &mut Command, shown: &str) -> Result<Vec<u8>> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    checked(out, shown)
}

/// A finished program's stdout, or the error for its non-zero exit.
pub fn checked(out: Output, shown: &str) -> Result<Vec<u8>> {
    if !out.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_the_command_its_status_and_its_stderr() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo 'went wrong' >&2; exit 3"]);
        let err = run_checked(&mut cmd, "sh -c x").unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "sh -c x failed (exit status: 3): went wrong"
        );
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "cat; echo out"]);
        // stdin is /dev/null: `cat` ends at once.
        assert_eq!(run_checked(&mut cmd, "sh").unwrap(), b"out\n");
        let mut cmd = Command::new("/nonexistent/tool");
        let err = run_checked(&mut cmd, "tool").unwrap_err();
        assert!(
            format!("{err:#}").starts_with("cannot run tool: "),
            "{err:#}"
        );
    }
}
