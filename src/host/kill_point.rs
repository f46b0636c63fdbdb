//! Test-only stops for the e2e kill-point scenario (tests/e2e, issue 29):
//! with `PVE_TCP_HARDENING_TEST_KILL_POINTS=DIR` in the environment, each
//! step of a maintainer-script entry point appends its name to `DIR/passed`;
//! when the number of lines there equals the number in `DIR/stop-at`, it
//! writes the step's name to `DIR/stopped` and sleeps until the harness
//! SIGKILLs the whole apt/dpkg process group. The maintainer scripts and the
//! harness's dpkg hooks keep the same count in the same file
//! (debian/kill-point.sh), so one number names any point of an operation.
//!
//! Unset on every real host: nothing here runs then, not even a stat. Only
//! `maint` reads the variable. Not here: the kill itself and the recovery
//! (tests/e2e/killpoint.rs).

use std::io::Write;
use std::path::Path;

/// The environment variable naming the harness's directory.
pub const KILL_POINTS_VAR: &str = "PVE_TCP_HARDENING_TEST_KILL_POINTS";

/// One step of the helper is done (or about to start): count it, and stop
/// here if this is the point the harness asked for.
pub fn reached(step: &str) {
    let Some(dir) = std::env::var_os(KILL_POINTS_VAR) else {
        return;
    };
    let dir = Path::new(&dir);
    let passed = dir.join("passed");
    // Test-only: a harness that cannot record its points fails its own
    // census, so errors here are not the admin's business.
    let Ok(mut file) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&passed)
    else {
        return;
    };
    let _ = writeln!(file, "helper-{step}");
    drop(file);
    let count = std::fs::read_to_string(&passed)
        .map(|t| t.lines().count())
        .unwrap_or(0);
    let stop_at: Option<usize> = std::fs::read_to_string(dir.join("stop-at"))
        .ok()
        .and_then(|t| t.trim().parse().ok());
    if stop_at == Some(count) {
        let _ = std::fs::write(dir.join("stopped"), format!("helper-{step}\n"));
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
