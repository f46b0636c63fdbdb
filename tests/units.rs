//! The package's systemd units are sandboxed: `systemd-analyze security
//! --offline=yes` (systemd 250 and later; Debian 12 has 252, Debian 13 257,
//! both give 1.8 for each unit) scores each service at exposure 2.0 or
//! less. `--threshold=20` makes systemd-analyze itself exit non-zero above
//! 2.0; the test also reads the number, and checks that the same unit
//! without its sandbox scores above the threshold (so the check can fail).
//!
//! Whether the sandbox still lets the services do their work is proven on
//! a booted kernel by the VM proof (tests/vm/check.sh: the boot check's
//! warnings, the metrics file written).

mod common;

use common::gate::{self, Need};
use common::repo_root;
use std::path::Path;
use std::process::Command;

const UNITS: [&str; 2] = [
    "debian/pve-tcp-hardening-prometheus.service",
    "debian/pve-tcp-hardening-boot-check.service",
];

/// The highest exposure the issue allows, and systemd-analyze's
/// `--threshold` for it (exposure times ten).
const MAX_EXPOSURE: f64 = 2.0;
const THRESHOLD: &str = "--threshold=20";

/// systemd-analyze's exit status and the exposure it printed for `unit`.
fn exposure(unit: &Path) -> (i32, f64) {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", THRESHOLD, "--no-pager"])
        .arg(unit)
        .output()
        .expect("systemd-analyze runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| {
            panic!(
                "{}: no exposure line:\n{stdout}{}",
                unit.display(),
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let number = line
        .rsplit(':')
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("{}: cannot read the exposure in {line:?}", unit.display()));
    (out.status.code().unwrap_or(-1), number)
}

#[test]
fn each_unit_is_sandboxed_to_exposure_2_or_less() {
    if gate::skipped(&[Need::Tool("systemd-analyze")]) {
        return;
    }
    for unit in UNITS {
        let path = repo_root().join(unit);
        let (code, score) = exposure(&path);
        assert!(
            score <= MAX_EXPOSURE && code == 0,
            "{unit}: exposure {score} (exit {code}), at most {MAX_EXPOSURE} wanted"
        );
    }
}

/// The check can fail: the same unit without the lines after its
/// "# The sandbox" comment scores far above the threshold.
#[test]
fn a_unit_without_its_sandbox_fails_the_check() {
    if gate::skipped(&[Need::Tool("systemd-analyze")]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for unit in UNITS {
        let text = std::fs::read_to_string(repo_root().join(unit)).unwrap();
        let (head, _) = text
            .split_once("# The sandbox")
            .unwrap_or_else(|| panic!("{unit}: no \"# The sandbox\" comment"));
        let bare: String = head
            .lines()
            .chain(text.lines().skip_while(|l| *l != "[Install]"))
            .map(|l| format!("{l}\n"))
            .collect();
        let path = dir.path().join(Path::new(unit).file_name().unwrap());
        std::fs::write(&path, bare).unwrap();
        let (code, score) = exposure(&path);
        assert!(
            score > 9.0 && code != 0,
            "{unit} without its sandbox: exposure {score} (exit {code})"
        );
    }
}
