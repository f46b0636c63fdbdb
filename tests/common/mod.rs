//! One builder that runs the real binaries, as `just`'s tests do: a test
//! says what it runs and what it expects, in a few lines.

#![allow(dead_code)] // each test crate uses its own subset

pub mod fake_host;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub struct Run {
    program: PathBuf,
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
    envs: Vec<(String, String)>,
    status: i32,
    stdout: Option<String>,
    stdout_contains: Vec<String>,
    stderr_contains: Vec<String>,
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
            status: 0,
            stdout: None,
            stdout_contains: Vec::new(),
            stderr_contains: Vec::new(),
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

    pub fn stderr_contains(mut self, text: &str) -> Run {
        self.stderr_contains.push(text.into());
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
        for want in &self.stderr_contains {
            assert!(
                stderr.contains(want.as_str()),
                "stderr lacks {want:?}\n{shown}"
            );
        }
        out
    }
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

/// Tests that write real sysctl values need root and `unshare -n` (a
/// private network namespace); without them they print SKIPPED and return.
pub fn can_unshare() -> Result<(), String> {
    let uid = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("not root".into());
    }
    let probe = std::process::Command::new("unshare")
        .args(["-n", "true"])
        .status();
    match probe {
        Ok(s) if s.success() => Ok(()),
        _ => Err("`unshare -n` does not work here".into()),
    }
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
