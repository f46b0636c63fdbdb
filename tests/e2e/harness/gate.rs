//! Whether the e2e suite can run here: root, the tools, namespaces, and no
//! `PTH_E2E=0`. A skip is printed on the real stderr (not the test capture),
//! so it never looks like a pass.

use std::io::Write;
use std::process::{Command, Stdio};

const TOOLS: &[&str] = &[
    "unshare",
    "nsenter",
    "debootstrap",
    "chroot",
    "dpkg-deb",
    "flock",
    "sha256sum",
    "timeout",
];

/// `None` when the suite may run, else why not.
pub fn skip_reason() -> Option<String> {
    if std::env::var("PTH_E2E").as_deref() == Ok("0") {
        return Some("PTH_E2E=0".into());
    }
    if effective_uid() != Some(0) {
        return Some("not running as root".into());
    }
    let missing: Vec<&str> = TOOLS.iter().copied().filter(|t| !on_path(t)).collect();
    if !missing.is_empty() {
        return Some(format!(
            "missing {}; tests/e2e/run.sh installs them",
            missing.join(", ")
        ));
    }
    let probe = Command::new("unshare")
        .args(["--net", "--mount", "true"])
        .stdin(Stdio::null())
        .output();
    match probe {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "`unshare --net --mount` fails here: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("cannot run unshare: {e}")),
    }
}

/// Prints the skip line where a human (and CI log) sees it.
pub fn announce_skip(test: &str, reason: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: e2e tests need root and debootstrap ({reason}) [{test}]"
    );
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}

fn on_path(tool: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .any(|dir| std::path::Path::new(dir).join(tool).is_file());
    found
}
