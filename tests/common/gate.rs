//! The one gate for tests that need something of this machine: root, a
//! private network or mount namespace, procps 4.0.2, debootstrap...
//!
//! - Outside CI a missing prerequisite skips the test: one line
//!   `SKIPPED: <test>: <reason>` (no spaces in <test>) on the real stderr (file descriptor 2,
//!   which libtest's output capture does not see, so it shows even for a
//!   passing test), and a line in `$PTH_SKIP_LOG` when that names a file:
//!   `make test` ends with a summary of them (tests/common/gate.sh).
//! - With `CI=true` (or `CI=1`) a skip is a failure naming the reason: CI is
//!   never green by skipping.
//! - `PTH_TEST_MISSING=unshare,procps,...` pretends those prerequisites are
//!   missing ([`Need::name`]; `all` for every one), to prove the rule.
//!
//! tests/e2e/run.sh and tests/vm/run.sh follow the same rule through
//! tests/common/gate.sh.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// One prerequisite of a test.
#[derive(Clone, Copy, Debug)]
pub enum Need {
    /// Not switched off with `VAR=0` (`PTH_E2E`): an explicit opt-out.
    Enabled(&'static str),
    /// Effective uid 0.
    Root,
    /// `unshare -n` works (writes to /proc/sys stay in the namespace).
    NetNamespace,
    /// `unshare --net --mount` works (bind mounts stay in the namespace).
    MountNamespace,
    /// `/usr/sbin/sysctl` is procps-ng 4.0.2, the reference of `apply`.
    Procps402,
    /// A program on PATH (or in /usr/sbin, /sbin), or at an absolute path.
    Tool(&'static str),
    /// A directory that must exist.
    Dir(&'static str),
}

impl Need {
    /// The name `PTH_TEST_MISSING` uses.
    pub fn name(&self) -> &'static str {
        match self {
            Need::Enabled(var) => var,
            Need::Root => "root",
            Need::NetNamespace | Need::MountNamespace => "unshare",
            Need::Procps402 => "procps",
            Need::Tool(tool) => tool.rsplit('/').next().unwrap_or(tool),
            Need::Dir(dir) => dir,
        }
    }

    /// `Err(why)` when this machine lacks it.
    pub fn check(&self) -> Result<(), String> {
        if simulated_missing(self.name()) {
            return Err(format!(
                "{} (simulated: PTH_TEST_MISSING={})",
                self.missing(),
                std::env::var("PTH_TEST_MISSING").unwrap_or_default()
            ));
        }
        let ok = match self {
            Need::Enabled(var) => std::env::var(var).as_deref() != Ok("0"),
            Need::Root => effective_uid() == Some(0),
            Need::NetNamespace => return probe(&["-n", "true"]),
            Need::MountNamespace => return probe(&["--net", "--mount", "true"]),
            Need::Procps402 => Command::new("/usr/sbin/sysctl")
                .arg("--version")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("4.0.2")),
            Need::Tool(tool) => on_path(tool),
            Need::Dir(dir) => Path::new(dir).is_dir(),
        };
        if ok {
            Ok(())
        } else {
            Err(self.missing())
        }
    }

    fn missing(&self) -> String {
        match self {
            Need::Enabled(var) => format!("{var}=0"),
            Need::Root => "not running as root".into(),
            Need::NetNamespace => "`unshare -n` does not work here".into(),
            Need::MountNamespace => "`unshare --net --mount` does not work here".into(),
            Need::Procps402 => "/usr/sbin/sysctl is not procps-ng 4.0.2".into(),
            Need::Tool(tool) => format!("{tool} is not installed"),
            Need::Dir(dir) => format!("no directory {dir}"),
        }
    }
}

/// What real sysctl writes in a private network namespace need.
pub const NET_NAMESPACE: &[Need] = &[Need::Root, Need::NetNamespace];

/// `Err(why)` for the first need this machine lacks.
pub fn check(needs: &[Need]) -> Result<(), String> {
    needs.iter().try_for_each(Need::check)
}

/// `true` when the running test must stop here: a need is missing outside
/// CI (announced, see the module doc). Under CI it panics with the reason.
pub fn skipped(needs: &[Need]) -> bool {
    match check(needs) {
        Ok(()) => false,
        Err(why) => {
            announce_skip(&current_test(), &why);
            true
        }
    }
}

/// Reports a skip of `test` for `reason`: a failure under CI, else the
/// `SKIPPED:` line on the real stderr and in `$PTH_SKIP_LOG`.
pub fn announce_skip(test: &str, reason: &str) {
    if in_ci() {
        panic!("{test} cannot run here: {reason}; with CI set no test may skip");
    }
    let line = format!("SKIPPED: {test}: {reason}\n");
    // Not eprintln!: libtest captures that; fd 2 itself it leaves alone.
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Some(log) = std::env::var_os("PTH_SKIP_LOG").filter(|l| !l.is_empty()) {
        // One append per line: parallel tests do not interleave.
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = appended {
            panic!("cannot record the skip in {}: {e}", log.to_string_lossy());
        }
    }
}

/// `CI=true` (or `CI=1`): skips are failures.
pub fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true" | "1"))
}

/// The test's name, `<test crate>::<test>`: libtest names each test's
/// thread after the test.
pub fn current_test() -> String {
    let thread = std::thread::current();
    format!(
        "{}::{}",
        env!("CARGO_CRATE_NAME"),
        thread.name().unwrap_or("test")
    )
}

fn simulated_missing(name: &str) -> bool {
    std::env::var("PTH_TEST_MISSING")
        .unwrap_or_default()
        .split(',')
        .any(|m| m == name || m == "all")
}

fn probe(unshare_args: &[&str]) -> Result<(), String> {
    let out = Command::new("unshare")
        .args(unshare_args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`unshare {}` fails here: {}",
            unshare_args[..unshare_args.len() - 1].join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}

fn on_path(tool: &str) -> bool {
    if tool.starts_with('/') {
        return Path::new(tool).exists();
    }
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .any(|dir| Path::new(dir).join(tool).is_file());
    found
}
