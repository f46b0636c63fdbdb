//! The host side (shipped on every node) must not depend on the build side
//! (profiles, templates, cargo-deb): it reads only the contract. A workspace
//! would enforce this through its dependency graph; this test does here.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn host_and_shared_code_never_use_the_build_side() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src.join("host"), &mut files);
    for shared in [
        "contract.rs",
        "atomic.rs",
        "files.rs",
        "diagnostic.rs",
        "output.rs",
    ] {
        files.push(src.join(shared));
    }
    files.push(src.join("bin/pve-tcp-hardening.rs"));
    assert!(files.len() > 10, "too few files found: {files:?}");
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.contains("crate::build") || text.contains("pve_tcp_hardening::build")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "host code uses the build side: {offenders:?}"
    );
}
