//! The CI rule of the test gate (tests/common/gate.rs, gate.sh), proven on
//! a real gated test of this binary and on the shell suites: with `CI=true`
//! a test that cannot run fails and names the reason; without, it passes,
//! says `SKIPPED` where a person sees it and lands in `make test`'s summary.
//! `PTH_TEST_MISSING` pretends a prerequisite is missing.

mod common;

use common::gate::{self, Need};
use common::{repo_root, Run};

const PROBE: &str = "a_private_network_namespace_has_only_lo";

/// The gated test the others run again: `unshare -n` gives a network
/// namespace of its own (only `lo`), which every test that writes
/// /proc/sys relies on.
#[test]
fn a_private_network_namespace_has_only_lo() {
    if gate::skipped(gate::NET_NAMESPACE) {
        return;
    }
    let out = std::process::Command::new("unshare")
        .args(["-n", "cat", "/proc/net/dev"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let interfaces: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(2)
        .filter_map(|l| Some(l.split(':').next()?.trim().to_string()))
        .collect();
    assert_eq!(interfaces, ["lo"]);
}

/// This test binary again, running only the probe, with a clean gate
/// environment.
fn probe() -> Run {
    Run::program(std::env::current_exe().unwrap())
        .args(["--exact", PROBE])
        .env_remove("CI")
        .env_remove("PTH_SKIP_LOG")
        .env_remove("PTH_TEST_MISSING")
}

/// A `PTH_SKIP_LOG` file of one test.
struct SkipLog(tempfile::TempDir);

impl SkipLog {
    fn new() -> SkipLog {
        SkipLog(tempfile::tempdir().unwrap())
    }

    fn path(&self) -> String {
        self.0.path().join("skipped").to_string_lossy().into_owned()
    }

    fn read(&self) -> String {
        std::fs::read_to_string(self.path()).unwrap()
    }
}

/// What the gate says when `unshare` is pretended missing.
fn no_unshare_reason() -> String {
    gate::check(&[Need::Root]).err().unwrap_or_else(|| {
        "`unshare -n` does not work here (simulated: PTH_TEST_MISSING=unshare)".into()
    })
}

#[test]
fn under_ci_a_missing_prerequisite_fails_the_test_naming_it() {
    probe()
        .env("CI", "true")
        .env("PTH_TEST_MISSING", "unshare")
        .status(101)
        .stdout_contains(&format!(
            "gate::{PROBE} cannot run here: {}; with CI set no test may skip",
            no_unshare_reason()
        ))
        .stdout_contains("test result: FAILED. 0 passed; 1 failed")
        .run();
}

#[test]
fn outside_ci_a_skip_passes_but_shows_past_the_capture_and_in_the_log() {
    let log = SkipLog::new();
    let line = format!("SKIPPED: gate::{PROBE}: {}\n", no_unshare_reason());
    // No --nocapture: the line must get past libtest's capture.
    probe()
        .env("PTH_TEST_MISSING", "unshare")
        .env("PTH_SKIP_LOG", &log.path())
        .stdout_contains("test result: ok. 1 passed")
        .stderr(&line)
        .run();
    assert_eq!(log.read(), line);
}

/// The thin entry older tests use obeys the same rule.
#[test]
fn can_unshare_fails_under_ci_too() {
    if std::env::var_os("PTH_GATE_INNER").is_some() {
        let _ = common::can_unshare();
        return;
    }
    Run::program(std::env::current_exe().unwrap())
        .args(["--exact", "can_unshare_fails_under_ci_too"])
        .env("PTH_GATE_INNER", "1")
        .env("CI", "1")
        .env("PTH_TEST_MISSING", "all")
        .status(101)
        .stdout_contains("gate::can_unshare_fails_under_ci_too cannot run here: not running as root (simulated: PTH_TEST_MISSING=all)")
        .run();
}

fn vm_suite() -> Run {
    Run::program(repo_root().join("tests/vm/run.sh"))
        .args(["dist"])
        .env_remove("CI")
        .env_remove("PTH_SKIP_LOG")
        .env_remove("PTH_TEST_MISSING")
}

#[test]
fn shell_suites_follow_the_same_rule() {
    vm_suite()
        .env("CI", "true")
        .env("PTH_VM", "0")
        .status(1)
        .stderr("FAILED: test-vm cannot run here: PTH_VM=0; with CI set no test may skip\n")
        .run();
    // Past the root check: the TCG probe, pretended missing.
    if gate::check(&[Need::Root]).is_ok() {
        vm_suite()
            .env("CI", "true")
            .env("PTH_TEST_MISSING", "qemu-tcg")
            .status(1)
            .stderr("FAILED: test-vm cannot run here: qemu-system-x86_64 has no TCG accelerator; with CI set no test may skip\n")
            .run();
    }
    for (script, suite) in [
        ("upgrade.sh", "test-vm-upgrade"),
        ("powercut.sh", "test-vm-powercut"),
    ] {
        Run::program(repo_root().join("tests/vm").join(script))
            .args(["dist"])
            .env_remove("PTH_SKIP_LOG")
            .env_remove("PTH_TEST_MISSING")
            .env("CI", "true")
            .env("PTH_VM", "0")
            .status(1)
            .stderr(&format!(
                "FAILED: {suite} cannot run here: PTH_VM=0; with CI set no test may skip\n"
            ))
            .run();
    }
    Run::program(repo_root().join("tests/e2e/run.sh"))
        .env("CI", "true")
        .env("PTH_E2E", "0")
        .status(1)
        .stderr("FAILED: e2e cannot run here: PTH_E2E=0; with CI set no test may skip\n")
        .run();

    let log = SkipLog::new();
    vm_suite()
        .env("PTH_VM", "0")
        .env("PTH_SKIP_LOG", &log.path())
        .stderr("SKIPPED: test-vm: PTH_VM=0\n")
        .run();
    let logged = format!("SKIPPED: apply::x: not running as root\n{}", log.read());
    std::fs::write(log.path(), logged).unwrap();
    Run::program(repo_root().join("tests/common/gate.sh"))
        .args(["summary", &log.path()])
        .stdout(
            "make test: skipped here (CI=true would fail on these):\n  \
             apply::x: not running as root\n  test-vm: PTH_VM=0\n\
             SKIPPED: 2 tests did not run: apply::x, test-vm\n",
        )
        .run();
    std::fs::write(log.path(), "").unwrap();
    Run::program(repo_root().join("tests/common/gate.sh"))
        .args(["summary", &log.path()])
        .stdout("make test: every suite ran, nothing skipped\n")
        .run();
}
