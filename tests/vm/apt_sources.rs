//! Prints the apt sources the VM image is built from: this machine's own
//! Debian bookworm entries, picked by the e2e suite's mirror detection (the
//! same module, not a copy, so both images come from the same archive).
//!
//!   cargo run --quiet --example vm-apt-sources > SOURCES

use std::path::Path;
use std::process::ExitCode;

#[path = "../e2e/harness/mirror.rs"]
mod mirror;

fn main() -> ExitCode {
    match mirror::detect(
        Path::new("/etc/apt"),
        Path::new("/var/lib/apt/lists"),
        "bookworm",
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
