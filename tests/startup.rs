//! How the helper starts without std's runtime set-up (src/host/
//! startup.rs): it runs with closed standard fds, SIGPIPE keeps
//! the caller's disposition (default: the process ends on it, as procps'
//! `sysctl` does), and the exit status comes through. And how the front
//! (`apply`) hands every other command line to the full helper. All against a fake proc root; no root needed.

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
        .arg("--proc")
        .arg(dir)
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
    // The key directory's descriptor would otherwise be fd 1; /dev/null
    // stands in, and the printed lines fail as procps' do on a closed
    // stdout: `write error` at exit, exit 1, every key written first.
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "sysctl: write error: Bad file descriptor\n"
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(value(dir.path(), "tcp_sack"), "0\n");
    assert_eq!(value(dir.path(), "tcp_syncookies"), "2\n");
}

#[test]
fn a_closed_stdout_with_nothing_to_print_is_no_error_in_either_binary() {
    let dir = fixture();
    for program in [HELPER, FULL_HELPER] {
        let out = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$@" >&-"#)
            .arg("sh")
            .arg(program)
            .args(["apply", "-q", "--proc"])
            .arg(dir.path())
            .arg(dir.path().join("t.conf"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{program}");
        assert_eq!(out.status.code(), Some(0), "{program}");
        // Without -q the full helper fails as the front does.
        let out = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$@" >&-"#)
            .arg("sh")
            .arg(program)
            .args(["apply", "--proc"])
            .arg(dir.path())
            .arg(dir.path().join("t.conf"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "sysctl: write error: Bad file descriptor\n",
            "{program}"
        );
        assert_eq!(out.status.code(), Some(1), "{program}");
    }
}

#[test]
fn a_closed_pipe_ends_the_process_by_sigpipe_like_procps() {
    let dir = fixture();
    let writer = pipe_without_reader();
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

/// The front (`/usr/sbin/pve-tcp-hardening`) and the full helper laid out as
/// a package unpacks them below `dir`; `full: false` leaves the full helper
/// out.
fn unpacked_layout(dir: &Path, full: bool) -> std::path::PathBuf {
    let sbin = dir.join("usr/sbin");
    std::fs::create_dir_all(&sbin).unwrap();
    let front = sbin.join("pve-tcp-hardening");
    std::fs::copy(HELPER, &front).unwrap();
    if full {
        let libexec = dir.join("usr/libexec/pve-tcp-hardening");
        std::fs::create_dir_all(&libexec).unwrap();
        std::fs::copy(FULL_HELPER, libexec.join("pve-tcp-hardening-full")).unwrap();
    }
    front
}

const FULL_HELPER: &str = env!("CARGO_BIN_EXE_pve-tcp-hardening-full");

#[test]
fn the_front_applies_alone_and_names_a_missing_full_helper() {
    let dir = fixture();
    let front = unpacked_layout(&dir.path().join("pkg"), false);
    let out = Command::new(&front)
        .args(apply(dir.path()).get_args())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(value(dir.path(), "tcp_sack"), "0\n");

    // Everything else needs the full helper: a clear error, exit 2.
    let out = Command::new(&front).arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let pkg = dir.path().join("pkg");
    for tried in [
        "usr/libexec/pve-tcp-hardening/pve-tcp-hardening-full: No such file",
        "usr/sbin/pve-tcp-hardening-full: No such file",
    ] {
        assert!(
            stderr.contains(&format!("{}/{tried}", pkg.display())),
            "{tried}: {stderr}"
        );
    }
    assert!(stderr.starts_with("pve-tcp-hardening: error: cannot run the full helper"));
    // In Nagios mode that is UNKNOWN, with the plugin line on stdout.
    let out = Command::new(&front)
        .args(["status", "--format", "nagios"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("PVE-TCP-HARDENING UNKNOWN - cannot run the full helper"),
        "{stdout}"
    );
}

#[test]
fn an_unpacked_package_runs_its_own_full_helper_with_the_same_arguments() {
    let dir = fixture();
    // Only the unpacked copy exists (no full helper beside the front, none
    // installed on a test machine), so success shows which one ran.
    let front = unpacked_layout(&dir.path().join("pkg"), true);
    assert!(!Path::new("/usr/libexec/pve-tcp-hardening").exists());
    let version = Command::new(&front).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("pve-tcp-hardening {}\n", env!("CARGO_PKG_VERSION"))
    );

    // `-qe` bundled and `--` are clap's: the front hands them over (with
    // `--proc-root`, the older spelling that names /proc/sys itself).
    let out = Command::new(&front)
        .args(["apply", "-qe", "--proc-root"])
        .arg(dir.path().join("sys"))
        .arg("--")
        .arg(dir.path().join("t.conf"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    assert_eq!(value(dir.path(), "tcp_syncookies"), "2\n");
}

#[test]
fn the_full_helper_also_ends_by_sigpipe() {
    let dir = fixture();
    let writer = pipe_without_reader();
    // `--` is left to clap, so the full helper applies and prints.
    let status = Command::new(HELPER)
        .args(["apply", "--proc"])
        .arg(dir.path())
        .arg("--")
        .arg(dir.path().join("t.conf"))
        .stdout(writer)
        .status()
        .unwrap();
    assert_eq!(status.signal(), Some(13), "{status:?}");
    assert_eq!(value(dir.path(), "tcp_sack"), "0\n");
}

/// The write end of a pipe whose read end is closed (std::io::pipe is newer
/// than Debian 13's rustc 1.85).
fn pipe_without_reader() -> std::process::Stdio {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills both descriptors on success; each is owned once.
    let (reader, writer) = unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    };
    drop(reader);
    writer.into()
}
