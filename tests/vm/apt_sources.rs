//! Prints the apt sources a VM image is built from: this machine's own
//! Debian bookworm entries, picked by the e2e suite's mirror detection (the
//! same module, not a copy, so all images come from the same archive).
//! For another release (trixie) the same archive entries with the suite
//! renamed (`bookworm-security` -> `trixie-security`): this machine's apt
//! sources name bookworm only, and the mirror serves both.
//!
//!   cargo run --quiet --example vm-apt-sources [RELEASE] > SOURCES

use std::path::Path;
use std::process::ExitCode;

#[path = "../e2e/harness/mirror.rs"]
mod mirror;

fn main() -> ExitCode {
    let release = std::env::args().nth(1).unwrap_or_else(|| "bookworm".into());
    match mirror::detect(
        Path::new("/etc/apt"),
        Path::new("/var/lib/apt/lists"),
        "bookworm",
    ) {
        Ok(mut m) => {
            for entry in std::iter::once(&mut m.archive).chain(&mut m.updates) {
                entry.suite = entry.suite.replacen("bookworm", &release, 1);
            }
            print!("{}", m.sources_list());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vm-apt-sources: {e}");
            ExitCode::from(2)
        }
    }
}
