//! The README promises that Debian 13's own rustc builds the project
//! (`apt install rustc cargo`): `rust-version` in Cargo.toml is that
//! promise. clippy's `incompatible_msrv` (part of `make test`, `-D
//! warnings`) holds our own code to it; this test holds every locked
//! dependency to it, from the `rust-version` each one declares. A
//! `cargo update` that pulls a crate needing a newer rustc fails here, with
//! the crate named (the fix: `cargo update -p NAME --precise VERSION`).
//! A crate can understate its `rust-version` (ar_archive_writer 0.5.1 says
//! 1.85 and needs 1.88): the lock was proven once with `cargo +1.85 check
//! --locked --all-targets`; the README says how to repeat that.

use std::process::Command;

/// Debian 13's rustc.
const DEBIAN_13_RUSTC: (u64, u64) = (1, 85);

fn major_minor(version: &str) -> (u64, u64) {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The platform this is built on (`rustc -vV`): other platforms' crates
/// (windows-sys and the like) are neither built nor downloaded here.
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().expect("rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc -vV names its host")
}

#[test]
fn every_locked_crate_builds_with_debian_13s_rustc() {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host_triple()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata json");
    let packages = meta["packages"].as_array().expect("packages");
    let ours = packages
        .iter()
        .find(|p| p["name"] == env!("CARGO_PKG_NAME"))
        .expect("our package");
    assert_eq!(
        major_minor(ours["rust_version"].as_str().expect("rust-version set")),
        DEBIAN_13_RUSTC,
        "Cargo.toml's rust-version is the README's promise: Debian 13's rustc"
    );
    // Only what the resolved graph for this platform uses counts.
    let used: Vec<&str> = meta["resolve"]["nodes"]
        .as_array()
        .expect("resolve")
        .iter()
        .map(|n| n["id"].as_str().expect("id"))
        .collect();
    let too_new: Vec<String> = packages
        .iter()
        .filter(|p| used.contains(&p["id"].as_str().unwrap_or("")))
        .filter_map(|p| {
            let needs = p["rust_version"].as_str()?;
            (major_minor(needs) > DEBIAN_13_RUSTC).then(|| {
                let name = p["name"].as_str().unwrap_or("?");
                let version = p["version"].as_str().unwrap_or("?");
                format!("{name} {version} needs rustc {needs}")
            })
        })
        .collect();
    assert!(
        used.len() > 50,
        "the resolved graph looks empty ({} crates)",
        used.len()
    );
    assert!(
        too_new.is_empty(),
        "locked crates that Debian 13's rustc 1.85 cannot build:\n{}",
        too_new.join("\n")
    );
}
