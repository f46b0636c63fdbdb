//! How the helper starts without std's runtime set-up (src/bin/
//! pve-tcp-hardening.rs): it runs with closed standard fds, SIGPIPE keeps
//! the caller's disposition (default: the process ends on it, as procps'
//! `sysctl` does), and the exit status comes through. All against a fake proc root; no root needed.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

const HELPER: &str = env!("CARGO_BIN_EXE_pve-tcp-hardening");

/// A fake `/proc/sys` with two keys and a file setting both.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("sys/net/ipv4");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(keys.join("tcp_sack"), "1\n").unwrap();
    std::fs::write(keys.join("tcp_syncookies"), "1\n").unwrap();
    std::fs::write(
        dir.path().join("t.conf"),
        "net.ipv4.tcp_sack = 0\nnet.ipv4.tcp_syncookies = 2\n",
    )
    .unwrap();
    dir
}

fn value(dir: &Path, key: &str) -> String {
    std::fs::read_to_string(dir.join("sys/net/ipv4").join(key)).unwrap()
}

fn apply(dir: &Path) -> Command {
    let mut cmd = Command::new(HELPER);
    cmd.arg("apply")
        .arg("--proc-root")
        .arg(dir.join("sys"))
        .arg(dir.join("t.conf"));
    cmd
}

#[test]
fn runs_with_closed_standard_fds() {
    let dir = fixture();
    // `sh` closes stdout and stdin, then execs the helper with them closed.
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"exec "$@" >&- <&-"#)
        .arg("sh")
        .arg(apply(dir.path()).get_program())
        .args(apply(dir.path()).get_args())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    // The key directory's descriptor would otherwise be fd 1 (std drops
    // writes to a bad stdout silently, so this only shows that a start with
    // closed fds applies everything, prints nothing and exits 0).
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(value(dir.path(), "tcp_sack"), "0\n");
    assert_eq!(value(dir.path(), "tcp_syncookies"), "2\n");
}

#[test]
fn a_closed_pipe_ends_the_process_by_sigpipe_like_procps() {
    let dir = fixture();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = apply(dir.path()).stdout(writer).status().unwrap();
    assert_eq!(status.signal(), Some(13), "{status:?}");
    // The keys were written before the output.
    assert_eq!(value(dir.path(), "tcp_sack"), "0\n");
}

#[test]
fn exit_status_passes_through() {
    let dir = fixture();
    std::fs::write(dir.path().join("t.conf"), "net.ipv4.nope = 1\n").unwrap();
    let out = apply(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let usage = Command::new(HELPER).arg("apply").output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("Usage: pve-tcp-hardening apply"));
}
