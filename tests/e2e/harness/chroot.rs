//! One scenario's world: a fresh copy of the base chroot plus a private
//! network and mount namespace that lives as long as the [`Chroot`].
//!
//! Why a held namespace and not one `unshare` per scenario script: live sysctl
//! values exist only in the namespace, and a scenario reads them between
//! steps (install, check, purge, check) from Rust. `sandbox.sh hold` keeps the
//! namespaces alive while it waits for EOF on a pipe we own, so they die with
//! this value or with the test process, never leaking a holder. Every command
//! goes through `sandbox.sh enter`, which refuses a PID that shares our own
//! namespaces (a PID reused after the holder died).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Instant;

use super::base::{cache_dir, e2e_dir};

/// What a command in the chroot did.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

pub struct Chroot {
    name: String,
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    holder: Child,
    holder_stdin: Option<ChildStdin>,
    host_net: PathBuf,
    started: Instant,
    /// Whether commands get `PVE_TCP_HARDENING_APPLY_IN_CHROOT=1`.
    apply_opt_in: bool,
}

impl Chroot {
    /// A fresh copy of `base_tar` in its own namespaces.
    pub fn fresh(base_tar: &Path, name: &str) -> Chroot {
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{name}."))
            .tempdir_in(cache_dir().join("runs"))
            .expect("temp dir under the e2e cache");
        let root = dir.path().join("root");
        std::fs::create_dir(&root).expect("chroot dir");
        let host_net = dir.path().join("host-net.before");
        run_host(
            Command::new(e2e_dir().join("host-net-guard.sh"))
                .arg("record")
                .arg(&host_net),
        );
        run_host(
            Command::new("tar")
                .args(["--numeric-owner", "--xattrs", "-xf"])
                .arg(base_tar)
                .arg("-C")
                .arg(&root),
        );
        let mut holder = Command::new(e2e_dir().join("sandbox.sh"))
            .arg("hold")
            .arg(&root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sandbox.sh hold");
        let line = crate::common::first_line(&mut holder);
        assert_eq!(line.trim(), "ready", "sandbox.sh hold did not come up");
        let holder_stdin = holder.stdin.take();
        eprintln!(
            "[{name}] fresh chroot {} ready in {:.1} s",
            root.display(),
            started.elapsed().as_secs_f64()
        );
        Chroot {
            name: name.to_string(),
            dir: Some(dir),
            root,
            holder,
            holder_stdin,
            host_net,
            started,
            apply_opt_in: true,
        }
    }

    /// From now on, commands run without the opt-in that lets the package
    /// apply values in a chroot: the chroot is an image being built, not a
    /// stand-in for a host.
    pub fn as_image_build(&mut self) {
        self.apply_opt_in = false;
    }

    /// Host path of `path` inside the chroot.
    pub fn path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Runs `script` with `sh -c` in the chroot; panics with the transcript
    /// if it fails.
    pub fn run(&mut self, script: &str) -> Ran {
        let ran = self.try_run(script);
        assert!(
            ran.success(),
            "[{}] command failed (exit {:?}): {script}\n--- stdout\n{}--- stderr\n{}",
            self.name,
            ran.code,
            ran.stdout,
            ran.stderr
        );
        ran
    }

    /// Runs `script` and reports what happened, failure included.
    pub fn try_run(&mut self, script: &str) -> Ran {
        self.exec(script, true)
    }

    /// Like [`Chroot::run`], but leaves stdout out of the transcript (for
    /// the long dumps a snapshot reads).
    pub fn read_output(&mut self, script: &str) -> String {
        let ran = self.exec(script, false);
        assert!(
            ran.success(),
            "[{}] command failed (exit {:?}): {script}\n--- stderr\n{}",
            self.name,
            ran.code,
            ran.stderr
        );
        ran.stdout
    }

    fn exec(&mut self, script: &str, log_stdout: bool) -> Ran {
        assert!(
            self.holder.try_wait().expect("holder status").is_none(),
            "[{}] namespace holder died; refusing to run {script}",
            self.name
        );
        let started = Instant::now();
        let out = Command::new("timeout")
            .args(["--kill-after=10", "900"])
            .arg(e2e_dir().join("sandbox.sh"))
            .arg("enter")
            .arg(&self.root)
            .arg(self.holder.id().to_string())
            // The chroot stands in for a host: the package's guard against
            // applying values during an image build is lifted (sandbox.sh
            // gives the chroot a clean environment, so it goes here).
            .args(if self.apply_opt_in {
                &["/usr/bin/env", "PVE_TCP_HARDENING_APPLY_IN_CHROOT=1"][..]
            } else {
                &[][..]
            })
            .args(["/bin/sh", "-c", script])
            .stdin(Stdio::null())
            .output()
            .expect("sandbox.sh enter");
        let ran = Ran {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        eprintln!(
            "[{}] $ {script}   (exit {:?}, {:.1} s)\n{}{}",
            self.name,
            ran.code,
            started.elapsed().as_secs_f64(),
            if log_stdout { &ran.stdout } else { "" },
            ran.stderr
        );
        ran
    }

    /// Copies a host file into the chroot's /tmp; returns the chroot path.
    pub fn copy_in(&self, host: &Path) -> String {
        let name = host.file_name().expect("file name").to_string_lossy();
        let inside = format!("/tmp/e2e-debs/{name}");
        let dest = self.path(&inside);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir /tmp/e2e-debs");
        std::fs::copy(host, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", host.display()));
        inside
    }

    /// Debian's `packages` and what they depend on, into the chroot's apt
    /// cache from the base's mirror, as add-packages.sh downloads: apt
    /// chrooted from this machine's network namespace (no maintainer script
    /// runs), so that `apt-get install --no-download` installs them inside.
    pub fn download_from_mirror(&self, packages: &[&str]) {
        run_host(
            Command::new("unshare")
                .args(["--mount", "--propagation", "private", "--", "chroot"])
                .arg(&self.root)
                .args([
                    "/usr/bin/env",
                    "-i",
                    "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                    "DEBIAN_FRONTEND=noninteractive",
                    "apt-get",
                    "install",
                    "-y",
                    "--no-install-recommends",
                    "--download-only",
                ])
                .args(packages),
        );
    }

    /// A copy of the chroot's files as they are now, next to it (removed
    /// with the scenario), for [`Chroot::restore`]. Files only: live values
    /// exist in the namespace, the caller restores and checks those.
    pub fn save_files(&self, tag: &str) -> PathBuf {
        let dir = self.dir.as_ref().expect("scenario dir").path().join(tag);
        let _ = std::fs::remove_dir_all(&dir);
        run_host(
            Command::new("cp")
                .args(["-a", "--reflink=auto"])
                .arg(&self.root)
                .arg(&dir),
        );
        dir
    }

    /// Puts the files of `saved` ([`Chroot::save_files`]) back: everything
    /// added since is deleted, everything changed copied back (rsync's
    /// size and mtime check over the tree, then a content check of dpkg's,
    /// apt's and debconf's bookkeeping, which a snapshot does not hash). The
    /// namespace's mounts live in the holder's mount namespace: from here
    /// /proc and /dev are the empty directories of the copy. The caller
    /// asserts the state it expects afterwards.
    pub fn restore(&mut self, saved: &Path) {
        let rsync = |extra: &[&str], from: &Path, to: &Path| {
            run_host(
                Command::new("rsync")
                    .args(["-aHAX", "--numeric-ids", "--delete"])
                    .args(extra)
                    .arg(format!("{}/", from.display()))
                    .arg(format!("{}/", to.display())),
            )
        };
        rsync(&[], saved, &self.root);
        for dir in ["var/lib/dpkg", "var/lib/apt", "var/cache/debconf"] {
            if saved.join(dir).is_dir() {
                rsync(&["--checksum"], &saved.join(dir), &self.root.join(dir));
            }
        }
    }

    /// Bytes of a file in the chroot, `None` if it does not exist.
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        match std::fs::read(self.path(path)) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => panic!("read {path} in chroot: {e}"),
        }
    }

    pub fn write(&self, path: &str, bytes: &[u8]) {
        std::fs::write(self.path(path), bytes).unwrap_or_else(|e| panic!("write {path}: {e}"));
    }

    /// Every readable `net.*` sysctl of the namespace, key -> value with
    /// whitespace runs folded to one space (tcp_rmem prints tabs).
    pub fn net_sysctls(&mut self) -> BTreeMap<String, String> {
        self.read_output("cd /proc/sys/net && { grep -r -s '' . || true; }")
            .lines()
            .filter_map(|l| {
                let (path, value) = l.split_once(':')?;
                let key = format!("net.{}", path.trim_start_matches("./").replace('/', "."));
                Some((key, normalize_value(value)))
            })
            .collect()
    }

    /// `dpkg-divert --list`, sorted.
    pub fn diversions(&mut self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .run("dpkg-divert --list")
            .stdout
            .lines()
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    }
}

pub fn normalize_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Drop for Chroot {
    fn drop(&mut self) {
        drop(self.holder_stdin.take());
        let _ = self.holder.wait();
        let guard = Command::new(e2e_dir().join("host-net-guard.sh"))
            .arg("compare")
            .arg(&self.host_net)
            .output();
        if let Some(dir) = self.dir.take() {
            if std::env::var("PTH_E2E_KEEP").as_deref() == Ok("1") {
                let kept = dir.keep();
                let _ = writeln!(
                    std::io::stderr(),
                    "[{}] kept chroot in {}",
                    self.name,
                    kept.display()
                );
            }
        }
        eprintln!(
            "[{}] scenario took {:.1} s",
            self.name,
            self.started.elapsed().as_secs_f64()
        );
        let guard = guard.expect("host-net-guard.sh");
        if !guard.status.success() {
            let report = format!(
                "[{}] HOST /proc/sys/net CHANGED during the scenario:\n{}{}",
                self.name,
                String::from_utf8_lossy(&guard.stdout),
                String::from_utf8_lossy(&guard.stderr)
            );
            // A second panic while unwinding would abort the whole run.
            if std::thread::panicking() {
                let _ = writeln!(std::io::stderr(), "{report}");
            } else {
                panic!("{report}");
            }
        }
    }
}

fn run_host(cmd: &mut Command) {
    let out = cmd.stdin(Stdio::null()).output().expect("host command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
