//! One builder that runs the real binaries, as `just`'s tests do: a test
//! says what it runs and what it expects, in a few lines. As in `just`,
//! stderr is checked by default: a run that prints anything on stderr fails
//! unless the test expects it (`stderr`, `stderr_contains`) or says that
//! what it prints there does not matter (`stderr_any`).

#![allow(dead_code)] // each test crate uses its own subset

pub mod fake_host;
pub mod fake_proc;
pub mod gate;
pub mod site;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Shell lines for a fresh `unshare -n -m` that writes generated keys
/// (globs such as `net/*/*` reach everything under /proc/sys/net): a few
/// keys there are writable in a child namespace but act on the whole
/// machine. `net.netfilter.nf_hooks_lwtunnel` flips a global, one-way
/// switch (the kernel cannot turn it off again), so it is bound read-only
/// first; the script exits 97 if that fails.
pub const GLOBAL_NET_KEYS_READ_ONLY: &str = "\
for f in /proc/sys/net/netfilter/nf_hooks_lwtunnel; do
  [ -e \"$f\" ] || continue
  mount --bind \"$f\" \"$f\" && mount -o remount,bind,ro \"$f\" || exit 97
done
";

/// Shell lines for a fresh `unshare -n -m` that runs a release's own
/// programs in its chroot `$R` (the e2e harness's base, extracted): `$R/proc`
/// mounted with `/proc/sys` read-only except `net` (as tests/e2e/sandbox.sh
/// does), `nf_hooks_lwtunnel` bound read-only there as in
/// [`GLOBAL_NET_KEYS_READ_ONLY`], a private `$R/run`. Then `chroot "$R" ...`.
pub const RELEASE_ROOT_NAMESPACE: &str = "\
mount --make-rprivate / || exit 97
mount -t proc proc \"$R/proc\" || exit 97
mount --bind \"$R/proc/sys\" \"$R/proc/sys\" && mount -o remount,bind,ro \"$R/proc/sys\" || exit 97
mount --bind \"$R/proc/sys/net\" \"$R/proc/sys/net\" && mount -o remount,bind,rw \"$R/proc/sys/net\" || exit 97
for f in \"$R\"/proc/sys/net/netfilter/nf_hooks_lwtunnel; do
  [ -e \"$f\" ] || continue
  mount --bind \"$f\" \"$f\" && mount -o remount,bind,ro \"$f\" || exit 97
done
mount -t tmpfs tmpfs \"$R/run\" || exit 97
";

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub struct Run {
    program: PathBuf,
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
    envs: Vec<(String, String)>,
    envs_removed: Vec<String>,
    status: i32,
    stdout: Option<String>,
    stdout_contains: Vec<String>,
    stderr: Stderr,
}

/// What a run may print on stderr.
enum Stderr {
    /// Nothing (the default).
    Empty,
    Exactly(String),
    Contains(Vec<String>),
    /// Each line starts with this: only the program's own messages.
    EveryLine(String),
    Any,
}

impl Run {
    /// The build tool.
    pub fn build_tool() -> Run {
        Run::program(env!("CARGO_BIN_EXE_pve-tcp-hardening-build"))
    }

    /// The host helper.
    pub fn helper() -> Run {
        Run::program(env!("CARGO_BIN_EXE_pve-tcp-hardening"))
    }

    pub fn program(path: impl Into<PathBuf>) -> Run {
        Run {
            program: path.into(),
            args: Vec::new(),
            stdin: None,
            envs: Vec::new(),
            envs_removed: Vec::new(),
            status: 0,
            stdout: None,
            stdout_contains: Vec::new(),
            stderr: Stderr::Empty,
        }
    }

    pub fn args<I, S>(mut self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.args.extend(
            args.into_iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned()),
        );
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Run {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Runs without `key` in the environment.
    pub fn env_remove(mut self, key: &str) -> Run {
        self.envs_removed.push(key.into());
        self
    }

    pub fn stdin(mut self, bytes: &[u8]) -> Run {
        self.stdin = Some(bytes.to_vec());
        self
    }

    pub fn status(mut self, status: i32) -> Run {
        self.status = status;
        self
    }

    pub fn stdout(mut self, exact: &str) -> Run {
        self.stdout = Some(exact.into());
        self
    }

    pub fn stdout_contains(mut self, text: &str) -> Run {
        self.stdout_contains.push(text.into());
        self
    }

    /// stderr must be exactly `exact`.
    pub fn stderr(mut self, exact: &str) -> Run {
        self.stderr = Stderr::Exactly(exact.into());
        self
    }

    /// stderr must contain `text` (and each other text given so).
    pub fn stderr_contains(mut self, text: &str) -> Run {
        match &mut self.stderr {
            Stderr::Contains(texts) => texts.push(text.into()),
            other => *other = Stderr::Contains(vec![text.into()]),
        }
        self
    }

    /// Each line of stderr (if any) must start with `prefix`: the program
    /// may narrate, nothing else may show up (a panic, a tool's noise).
    pub fn stderr_every_line(mut self, prefix: &str) -> Run {
        self.stderr = Stderr::EveryLine(prefix.into());
        self
    }

    /// The opt-out: whatever the run prints on stderr is fine (a tool's
    /// progress output); say why where it is used.
    pub fn stderr_any(mut self) -> Run {
        self.stderr = Stderr::Any;
        self
    }

    /// Run and check every expectation; returns the output for more checks.
    pub fn run(self) -> Output {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for k in &self.envs_removed {
            cmd.env_remove(k);
        }
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn the binary under test");
        if let Some(bytes) = &self.stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(bytes).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let shown = format!(
            "command: {} {}\nstatus: {:?}\n--- stdout\n{stdout}--- stderr\n{stderr}",
            self.program.display(),
            self.args.join(" "),
            out.status.code()
        );
        assert_eq!(
            out.status.code(),
            Some(self.status),
            "unexpected exit status\n{shown}"
        );
        if let Some(want) = &self.stdout {
            assert_eq!(&stdout, want, "unexpected stdout\n{shown}");
        }
        for want in &self.stdout_contains {
            assert!(
                stdout.contains(want.as_str()),
                "stdout lacks {want:?}\n{shown}"
            );
        }
        match &self.stderr {
            Stderr::Empty => assert!(stderr.is_empty(), "unexpected stderr\n{shown}"),
            Stderr::Exactly(want) => assert_eq!(&stderr, want, "unexpected stderr\n{shown}"),
            Stderr::Contains(wants) => {
                for want in wants {
                    assert!(
                        stderr.contains(want.as_str()),
                        "stderr lacks {want:?}\n{shown}"
                    );
                }
            }
            Stderr::EveryLine(prefix) => {
                for line in stderr.lines() {
                    assert!(
                        line.starts_with(prefix.as_str()),
                        "stderr line {line:?} is not from the program ({prefix:?})\n{shown}"
                    );
                }
            }
            Stderr::Any => {}
        }
        out
    }
}

/// `text` contains `want` (the message shows all of `text`).
pub fn assert_contains(text: &str, want: &str) {
    assert!(text.contains(want), "lacks {want:?}:\n{text}");
}

/// `text` does not contain `unwanted`, because `why`.
pub fn assert_lacks(text: &str, unwanted: &str, why: &str) {
    assert!(!text.contains(unwanted), "{why}: has {unwanted:?}:\n{text}");
}

/// Runs `cmd`, which must succeed (else its stderr is shown); its stdout.
pub fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The first line `child` prints on its piped stdout: a server's or a
/// holder's "ready".
pub fn first_line(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("the child's first line");
    line
}

/// The release build of the helper that packages ship (`make test` builds
/// it first; `PTH_HELPER_BINARY` points elsewhere).
pub fn release_helper() -> PathBuf {
    let path = std::env::var_os("PTH_HELPER_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/release/pve-tcp-hardening"));
    assert!(
        path.is_file(),
        "{} is missing: run `make test` (it builds the release helper first)",
        path.display()
    );
    path
}

/// Kept for tests written before [`gate`]: `Err(reason)` means "skip"
/// (already announced as `gate` does; under `CI=true` it panics instead).
/// New tests: `if gate::skipped(gate::NET_NAMESPACE) { return; }`.
pub fn can_unshare() -> Result<(), String> {
    gate::check(gate::NET_NAMESPACE)
        .inspect_err(|why| gate::announce_skip(&gate::current_test(), why))
}

/// Compare `actual` with the golden file `tests/golden/NAME`, or rewrite the
/// golden file when `UPDATE_GOLDEN=1`.
pub fn assert_golden(name: &str, actual: &str) {
    let path = repo_root().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert!(
        want == actual,
        "{} differs from the rendering (run with UPDATE_GOLDEN=1 to accept)\n--- golden\n{want}\n--- actual\n{actual}",
        path.display()
    );
}

/// Every file under `dir`: relative path -> bytes.
pub fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.insert(path.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    files
}
