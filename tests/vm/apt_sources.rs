//! Prints the apt sources the VM image is built from: this machine's own
//! Debian entries for CODENAME (default bookworm; for another release its
//! own entries, else ours moved to it), picked by the e2e suite's mirror
//! detection (the same module, not a copy, so both images come from the
//! same archive).
//!
//!   cargo run --quiet --example vm-apt-sources [CODENAME] > SOURCES

use std::path::Path;
use std::process::ExitCode;

#[path = "../e2e/harness/mirror.rs"]
mod mirror;

fn main() -> ExitCode {
    let codename = std::env::args().nth(1).unwrap_or_else(|| "bookworm".into());
    match mirror::detect_for(
        Path::new("/etc/apt"),
        Path::new("/var/lib/apt/lists"),
        Path::new("/etc/os-release"),
        &codename,
    ) {
        Ok(m) => {
            print!("{}", m.sources_list());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vm-apt-sources: {e}");
            ExitCode::from(2)
        }
    }
}
