//! Whether the e2e suite can run here: the shared gate
//! (tests/common/gate.rs: a skip is printed on the real stderr, and fails
//! the run under `CI=true`) with what the chroots need.

use crate::common::gate::{self, Need};

const NEEDS: &[Need] = &[
    Need::Enabled("PTH_E2E"),
    Need::Root,
    Need::Tool("unshare"),
    Need::Tool("nsenter"),
    Need::Tool("debootstrap"),
    Need::Tool("chroot"),
    Need::Tool("dpkg-deb"),
    Need::Tool("flock"),
    Need::Tool("sha256sum"),
    Need::Tool("timeout"),
    Need::MountNamespace,
];

/// `None` when the suite may run, else why not.
pub fn skip_reason() -> Option<String> {
    gate::check(NEEDS).err()
}

/// Reports the skip of `test` (a failure under `CI=true`).
pub fn announce_skip(test: &str, reason: &str) {
    gate::announce_skip(&format!("{}::{test}", env!("CARGO_CRATE_NAME")), reason);
}

/// `true` (after announcing) when the scenario `test` cannot run here.
pub fn skipped(test: &str) -> bool {
    match skip_reason() {
        Some(reason) => {
            announce_skip(test, &reason);
            true
        }
        None => false,
    }
}
