//! Differential test of `pve-tcp-hardening apply` against Debian 12's real
//! `/usr/sbin/sysctl -p` (procps-ng 4.0.2). Each side runs in its own fresh
//! network namespace (`unshare -n`), so both start from the same defaults
//! and the host's sysctls are never touched; the fixtures only use `net.*`
//! keys, which are per namespace. Compared: stdout, stderr, exit status and
//! every value under `/proc/sys/net` afterwards. Needs root, `unshare` and
//! procps 4.0.2; otherwise it prints `SKIPPED: ...` on stderr.
//!
//! Debian 13's procps 4.0.4 runs the same cases inside the e2e harness's
//! trixie chroot (`procps_4_0_4_of_trixie_against_apply`): `apply` follows
//! 4.0.2, and where 4.0.4 answers otherwise the case is listed there with
//! what changed; the test fails if that list is no longer exact.

mod common;
#[allow(dead_code, unused_imports)] // the base chroots of the e2e harness
#[path = "e2e/harness/mod.rs"]
mod harness;
mod sysctl_gen;

use common::gate::{self, Need};
use std::path::Path;
use std::process::Command;
use sysctl_gen::{shrink, spelled_line, Rng};

const SYSCTL: &str = "/usr/sbin/sysctl";
/// Root for namespaces, and the reference itself.
const NEEDS: &[Need] = &[Need::Root, Need::NetNamespace, Need::Procps402];
const HELPER: &str = env!("CARGO_BIN_EXE_pve-tcp-hardening");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/apply");

/// Host values the guard checks before and after the whole test.
const HOST_GUARD: &[&str] = &[
    "/proc/sys/net/ipv4/tcp_fin_timeout",
    "/proc/sys/net/ipv4/tcp_sack",
    "/proc/sys/net/ipv6/conf/all/disable_ipv6",
];

/// How one invocation is run; file arguments are relative to the fixtures.
#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    flags: &'static [&'static str],
    files: &'static [&'static str],
    stdin: &'static str,
    /// Run the command as `nobody` (EACCES on every key).
    unprivileged: bool,
    /// Run it with `/proc/sys` bind-mounted read-only (EROFS).
    read_only_proc: bool,
    /// Run it with stdout closed (`>&-`).
    stdout_closed: bool,
}

const CASE: Case = Case {
    name: "",
    flags: &[],
    files: &[],
    stdin: "",
    unprivileged: false,
    read_only_proc: false,
    stdout_closed: false,
};

const CASES: &[Case] = &[
    Case {
        name: "ok lines",
        files: &["ok.conf"],
        ..CASE
    },
    Case {
        name: "ok lines -q",
        flags: &["-q"],
        files: &["ok.conf"],
        ..CASE
    },
    Case {
        name: "every failure",
        files: &["errors.conf"],
        ..CASE
    },
    Case {
        name: "every failure -e",
        flags: &["-e"],
        files: &["errors.conf"],
        ..CASE
    },
    Case {
        name: "every failure -q -e",
        flags: &["-q", "-e"],
        files: &["errors.conf"],
        ..CASE
    },
    Case {
        name: "globs",
        files: &["globs.conf"],
        ..CASE
    },
    Case {
        name: "a glob glibc accepts and matches nothing (used to panic)",
        files: &["glob-crash.conf"],
        ..CASE
    },
    Case {
        name: "separators after and between globs",
        files: &["glob-separators.conf"],
        ..CASE
    },
    Case {
        name: "collating symbols, classes, escapes, a trailing backslash",
        files: &["glob-syntax.conf"],
        ..CASE
    },
    Case {
        name: "a glob component starting with a dot matches . and ..",
        files: &["glob-dots.conf"],
        ..CASE
    },
    Case {
        name: "slash and dot keys",
        files: &["slashes.conf"],
        ..CASE
    },
    Case {
        name: "several files, one missing",
        files: &["ok.conf", "missing.conf", "globs.conf"],
        ..CASE
    },
    Case {
        name: "globbed file argument",
        files: &["multi/*.conf"],
        ..CASE
    },
    Case {
        name: "brace file argument",
        files: &["multi/{b,a,c}.conf"],
        ..CASE
    },
    Case {
        name: "unmatched file glob",
        files: &["nothing*.conf", "ok.conf"],
        ..CASE
    },
    Case {
        name: "directory as file",
        files: &["multi", "ok.conf"],
        ..CASE
    },
    Case {
        name: "stdin",
        files: &["-", "ok.conf"],
        stdin: "net.ipv4.tcp_sack = 0\nbad line\n-net.ipv4.nope = 1\n",
        ..CASE
    },
    Case {
        name: "permission denied (nobody)",
        files: &["unprivileged.conf"],
        unprivileged: true,
        ..CASE
    },
    Case {
        name: "stdout closed: write error at exit, exit 1",
        files: &["ok.conf"],
        stdout_closed: true,
        ..CASE
    },
    Case {
        name: "stdout closed with -q: nothing to write, exit 0",
        flags: &["-q"],
        files: &["ok.conf"],
        stdout_closed: true,
        ..CASE
    },
    Case {
        name: "read-only /proc/sys",
        files: &["unprivileged.conf"],
        read_only_proc: true,
        ..CASE
    },
];

/// Everything a run leaves behind.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    stdout: String,
    stderr: String,
    status: String,
    values: String,
}

#[test]
fn apply_matches_procps_sysctl_p() {
    if gate::skipped(NEEDS) {
        return;
    }
    let host_before = host_values();
    for case in CASES {
        let procps = observe(case, &procps_command(case));
        let ours = observe(case, &helper_command(case));
        assert_eq!(ours.stdout, procps.stdout, "stdout of {:?}", case.name);
        assert_eq!(ours.stderr, procps.stderr, "stderr of {:?}", case.name);
        assert_eq!(ours.status, procps.status, "exit status of {:?}", case.name);
        assert_eq!(ours.values, procps.values, "values after {:?}", case.name);
    }
    assert_eq!(host_values(), host_before, "the host's sysctls changed");
}

/// A file name that is not UTF-8: procps opens it and names it byte for
/// byte in its messages; so does `apply` (clap used to refuse it).
#[test]
fn a_file_name_that_is_not_utf8_is_applied_and_named_as_procps_names_it() {
    use std::os::unix::ffi::OsStrExt;
    if gate::skipped(NEEDS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"r\xe9seau.conf"));
    fs_err::write(&file, "net.ipv4.tcp_sack = 0\nno equals sign\n").unwrap();
    let missing = dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"absent\xff.conf"));
    let argv = |program: &[&str]| -> Vec<std::ffi::OsString> {
        program
            .iter()
            .map(Into::into)
            .chain([
                file.clone().into_os_string(),
                missing.clone().into_os_string(),
            ])
            .collect()
    };
    let procps = observe(&CASE, &argv(&[SYSCTL, "-p"]));
    assert!(
        procps.stderr.starts_with('['),
        "raw bytes on stderr: {procps:?}"
    );
    for front in [HELPER, env!("CARGO_BIN_EXE_pve-tcp-hardening-full")] {
        let ours = observe(&CASE, &argv(&[front, "apply"]));
        assert_eq!(ours, procps, "{front}");
    }
}

/// Cases where Debian 13's procps 4.0.4 answers otherwise than 4.0.2 (and
/// so than `apply`). All on stderr, all one change: for a key the kernel
/// refuses with EPERM (`conf.all.mc_forwarding` in a child namespace, a
/// directory such as `net.ipv4` or `net./`), 4.0.4 prints the real
/// `Operation not permitted` where 4.0.2 printed a stale `Invalid argument`
/// (FACTS.md, "read-only key"). stdout, exit status and every value agree.
const TRIXIE_PROCPS_DIFFERS: &[&str] = &[
    "every failure",
    "every failure -e",
    "every failure -q -e",
    "a glob component starting with a dot matches . and ..",
];

/// 4.0.4's stderr told as 4.0.2 tells it (see [`TRIXIE_PROCPS_DIFFERS`]).
fn as_procps_4_0_2(stderr: &str) -> String {
    stderr
        .lines()
        .map(|l| match l.strip_suffix("\": Operation not permitted") {
            Some(key) if l.starts_with("sysctl: setting key \"") => {
                format!("{key}\": Invalid argument\n")
            }
            _ => format!("{l}\n"),
        })
        .collect()
}

/// Debian 13's `sysctl -p` (procps 4.0.4, from the e2e harness's trixie
/// chroot) against `apply` on every case: equal, except the cases of
/// [`TRIXIE_PROCPS_DIFFERS`], which differ on stderr by exactly the errno
/// and nothing else.
#[test]
fn procps_4_0_4_of_trixie_against_apply() {
    if harness::gate::skipped("apply-differential-trixie") {
        return;
    }
    let root = harness::base::extracted(harness::Release::Trixie).expect("gate passed");
    let version = Command::new("chroot")
        .arg(root)
        .args([SYSCTL, "--version"])
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(version.contains(" 4.0.4"), "not trixie's procps: {version}");
    let host_before = host_values();
    let mut differ = Vec::new();
    for case in CASES {
        let trixie = observe_in(case, &procps_command(case), Some((root, &[])));
        let ours = observe(case, &helper_command(case));
        assert_eq!(ours.stdout, trixie.stdout, "stdout of {:?}", case.name);
        assert_eq!(ours.status, trixie.status, "exit status of {:?}", case.name);
        assert_eq!(ours.values, trixie.values, "values after {:?}", case.name);
        assert_eq!(
            ours.stderr,
            as_procps_4_0_2(&trixie.stderr),
            "stderr of {:?}, beyond the errno 4.0.4 names",
            case.name
        );
        if ours.stderr != trixie.stderr {
            differ.push(case.name);
        }
    }
    assert_eq!(host_values(), host_before, "the host's sysctls changed");
    assert_eq!(
        differ, TRIXIE_PROCPS_DIFFERS,
        "cases where 4.0.4 names the real errno"
    );
}

/// The generated files of `apply_matches_procps_on_generated_lines` against
/// trixie's procps 4.0.4, told as 4.0.2 tells its errors
/// ([`as_procps_4_0_2`]): nothing else may differ.
#[test]
fn procps_4_0_4_of_trixie_on_generated_lines() {
    if harness::gate::skipped("apply-generated-trixie") {
        return;
    }
    let root = harness::base::extracted(harness::Release::Trixie).expect("gate passed");
    let host_before = host_values();
    let mut printed = 0;
    for seed in sysctl_gen::seeds(1, 40) {
        let mut rng = Rng::new(seed);
        let lines: Vec<String> = (0..1 + rng.below(6))
            .map(|_| spelled_line(&mut rng, 40))
            .collect();
        let observed = |l: &[String]| {
            let (mut trixie, ours) = observe_lines_in(l, Some(root));
            trixie.stderr = as_procps_4_0_2(&trixie.stderr);
            (trixie, ours)
        };
        let (trixie, ours) = observed(&lines);
        if trixie != ours {
            let small = shrink(lines, &mut |l: &[String]| {
                let (t, o) = observed(l);
                t != o
            });
            panic!(
                "seed {seed}: apply differs from trixie's sysctl -p on {:?}\n{:#?}",
                small.concat(),
                observed(&small)
            );
        }
        printed += trixie.stdout.lines().count();
    }
    assert_eq!(host_values(), host_before, "the host's sysctls changed");
    assert!(printed > 0, "trixie's procps applied nothing");
}

/// Guard against a harness that compares nothing: the ok case must really
/// change values, print, and the failure case must really fail.
#[test]
fn differential_harness_sees_effects() {
    if gate::skipped(NEEDS) {
        return;
    }
    let ok = CASES[0];
    let observed = observe(&ok, &helper_command(&ok));
    assert!(observed.values.contains("./ipv4/tcp_fin_timeout:31\n"));
    assert!(observed.stdout.contains("net.ipv4.tcp_fin_timeout = 31\n"));
    let failing = CASES[2];
    let observed = observe(&failing, &procps_command(&failing));
    assert_eq!(observed.status, "1");
    assert!(observed
        .stderr
        .contains("cannot stat /proc/sys/net/ipv4/does_not_exist"));
}

/// Generated files (see `sysctl_gen`: odd spellings, globs of every
/// kind, odd blanks) applied by both, compared like the fixtures. A
/// mismatch is shrunk to the fewest lines that still show it.
/// `make fuzz` runs this with `PTH_FUZZ_SEED`/`PTH_FUZZ_CASES`.
#[test]
fn apply_matches_procps_on_generated_lines() {
    if gate::skipped(NEEDS) {
        return;
    }
    let host_before = host_values();
    let (mut cases, mut printed) = (0, 0);
    for seed in sysctl_gen::seeds(1, 40) {
        let mut rng = Rng::new(seed);
        let lines: Vec<String> = (0..1 + rng.below(6))
            .map(|_| spelled_line(&mut rng, 40))
            .collect();
        let (procps, ours) = observe_lines(&lines);
        if procps != ours {
            let small = shrink(lines, &mut |l: &[String]| {
                let (p, o) = observe_lines(l);
                p != o
            });
            let (procps, ours) = observe_lines(&small);
            panic!(
                "seed {seed}: apply differs from sysctl -p on {:?}\nprocps: {procps:#?}\nhelper: {ours:#?}",
                small.concat()
            );
        }
        cases += 1;
        printed += procps.stdout.lines().count();
    }
    assert_eq!(host_values(), host_before, "the host's sysctls changed");
    // The generator must reach real keys, not only produce errors.
    eprintln!("{cases} generated files, {printed} keys applied by procps");
    // (A rerun of one seed may apply nothing.)
    assert!(
        cases < 20 || printed >= cases,
        "{printed} keys applied in {cases} files"
    );
}

/// Apply `lines` as one file with procps and with the helper.
fn observe_lines(lines: &[String]) -> (Observed, Observed) {
    observe_lines_in(lines, None)
}

/// [`observe_lines`] with procps from `release_root` when given (the file's
/// directory mounted at its own path there).
fn observe_lines_in(lines: &[String], release_root: Option<&Path>) -> (Observed, Observed) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("gen.conf");
    fs_err::write(&file, lines.concat()).expect("write generated file");
    let file = file.to_string_lossy().into_owned();
    let procps = vec![SYSCTL.to_string(), "-p".into(), file.clone()];
    let helper = vec![HELPER.to_string(), "apply".into(), file];
    let binds = [dir.path()];
    let procps = observe_in(&CASE, &procps, release_root.map(|r| (r, &binds[..])));
    (procps, observe(&CASE, &helper))
}

fn procps_command(case: &Case) -> Vec<String> {
    let mut argv = vec![SYSCTL.to_string()];
    argv.extend(case.flags.iter().map(|f| f.to_string()));
    argv.push("-p".into());
    argv.extend(case.files.iter().map(|f| f.to_string()));
    argv
}

fn helper_command(case: &Case) -> Vec<String> {
    let mut argv = vec![HELPER.to_string(), "apply".into()];
    argv.extend(case.flags.iter().map(|f| f.to_string()));
    argv.extend(case.files.iter().map(|f| f.to_string()));
    argv
}

/// Run `argv` in a fresh network namespace (and mount namespace when
/// `/proc/sys` must be read-only), then dump `/proc/sys/net` there.
fn observe<A: AsRef<std::ffi::OsStr>>(case: &Case, argv: &[A]) -> Observed {
    observe_in(case, argv, None)
}

/// [`observe`], with `argv` run inside `release_root` when given (the
/// fixtures and `binds` mounted at their own paths there, so messages name
/// the same files).
fn observe_in<A: AsRef<std::ffi::OsStr>>(
    case: &Case,
    argv: &[A],
    release_root: Option<(&Path, &[&Path])>,
) -> Observed {
    let scratch = tempfile::tempdir().expect("tempdir");
    fs_err::write(scratch.path().join("in"), case.stdin).expect("write stdin");
    let mut script = String::from("set -u\n");
    let mut chroot = String::new();
    match release_root {
        None => {
            script.push_str(common::GLOBAL_NET_KEYS_READ_ONLY);
            if case.read_only_proc {
                script.push_str(
                    "mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys || exit 97\n",
                );
            }
        }
        Some((_, binds)) => {
            script.push_str(common::RELEASE_ROOT_NAMESPACE);
            for dir in std::iter::once(&Path::new(FIXTURES)).chain(binds) {
                let dir = dir.display();
                script.push_str(&format!(
                    "mkdir -p \"$R{dir}\" && mount --bind '{dir}' \"$R{dir}\" || exit 97\n"
                ));
            }
            if case.read_only_proc {
                script.push_str("mount -o remount,bind,ro \"$R/proc/sys/net\" || exit 97\n");
            }
            chroot = format!("chroot \"$R\" sh -c 'cd {FIXTURES} && exec \"$@\"' sh ");
        }
    }
    let runner = if case.unprivileged {
        "setpriv --reuid=65534 --regid=65534 --clear-groups "
    } else {
        ""
    };
    let stdout = if case.stdout_closed {
        ": >\"$T/out\"; exec 1>&-; "
    } else {
        ""
    };
    let to_out = if case.stdout_closed {
        ""
    } else {
        " >\"$T/out\""
    };
    script.push_str(&format!(
        "{stdout}{chroot}{runner}\"$@\"{to_out} 2>\"$T/err\" <\"$T/in\"; echo $? >\"$T/rc\"\n"
    ));
    script.push_str("cd /proc/sys/net && grep -r . . 2>/dev/null | sort >\"$T/values\"\nexit 0\n");
    // A private mount namespace: the read-only remounts stay in it.
    let mut unshare = Command::new("unshare");
    if let Some((root, _)) = release_root {
        unshare.env("R", root);
    }
    let status = unshare
        .args(["-n", "-m", "--propagation", "private"])
        .args(["sh", "-c", &script, "sh"])
        .args(argv)
        .current_dir(FIXTURES)
        .env("T", scratch.path())
        .env("LC_ALL", "C")
        .status()
        .expect("run unshare");
    assert!(
        status.success(),
        "namespace setup failed for {:?}: {status}",
        case.name
    );
    // Bytes that are not UTF-8 (a file name procps prints as given) are
    // shown as bytes, so a lossy U+FFFD never compares equal to them.
    let read = |name: &str| {
        let bytes = fs_err::read(scratch.path().join(name)).expect("read result");
        String::from_utf8(bytes).unwrap_or_else(|e| format!("{:?}", e.into_bytes()))
    };
    Observed {
        stdout: read("out"),
        stderr: read("err"),
        status: read("rc").trim().to_string(),
        values: read("values"),
    }
}

fn host_values() -> Vec<String> {
    HOST_GUARD
        .iter()
        .map(|path| fs_err::read_to_string(path).unwrap_or_else(|e| e.to_string()))
        .collect()
}

/// The test-only `--proc-root` (and `--proc`) pointed at a fake tree does
/// not follow a symlink out of it (issue 29): the run is refused, naming
/// the link, and the file it points to is untouched.
#[test]
fn a_fake_proc_root_with_a_symlink_out_of_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sys = dir.path().join("sys");
    std::fs::create_dir_all(sys.join("net/ipv4")).unwrap();
    std::fs::write(dir.path().join("outside"), "precious\n").unwrap();
    std::os::unix::fs::symlink("../../../outside", sys.join("net/ipv4/tcp_sack")).unwrap();
    let conf = dir.path().join("x.conf");
    std::fs::write(&conf, "net.ipv4.tcp_sack = 0\n").unwrap();
    for flag in ["--proc-root", "--proc"] {
        let root = if flag == "--proc-root" {
            sys.clone()
        } else {
            dir.path().to_path_buf()
        };
        let out = Command::new(env!("CARGO_BIN_EXE_pve-tcp-hardening"))
            .arg("apply")
            .arg(flag)
            .arg(&root)
            .arg(&conf)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flag}: {stderr}");
        assert!(
            stderr.contains("net/ipv4/tcp_sack in it is a symlink to")
                && stderr.contains("outside it: refusing"),
            "{flag}: {stderr}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("outside")).unwrap(),
            "precious\n"
        );
    }
}
