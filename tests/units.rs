//! The package's systemd units are sandboxed: `systemd-analyze security
//! --offline=yes` (systemd 250 and later; Debian 12 has 252, Debian 13 257,
//! both give 1.8 for each unit) scores each service at exposure 2.0 or
//! less. `--threshold=20` makes systemd-analyze itself exit non-zero above
//! 2.0; the test also reads the number, and checks that the same unit
//! without its sandbox scores above the threshold (so the check can fail).
//!
//! Whether the sandbox still lets the services do their work, without
//! systemd (tests run where PID 1 may be anything), in a private network
//! namespace with a socket of user nobody on [::1]: the capabilities the
//! units keep are enough, and each is needed, to name the socket's owner;
//! every system call `status` makes for the two units (strace) passes
//! their `SystemCallFilter=`; with the kept capabilities the report is
//! root's. The rest (read-only tree, namespaces) is proven on a booted
//! kernel by the VM proof (tests/vm/check.sh: the boot check's warnings,
//! the metrics file written by the sandboxed service).

mod common;

use common::fake_host::FakeHost;
use common::gate::{self, Need};
use common::repo_root;
use std::path::Path;
use std::process::Command;

const UNITS: [&str; 2] = [
    "debian/pve-tcp-hardening-prometheus.service",
    "debian/pve-tcp-hardening-boot-check.service",
];

/// The highest exposure the issue allows, and systemd-analyze's
/// `--threshold` for it (exposure times ten).
const MAX_EXPOSURE: f64 = 2.0;
const THRESHOLD: &str = "--threshold=20";

/// systemd-analyze's exit status and the exposure it printed for `unit`.
fn exposure(unit: &Path) -> (i32, f64) {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", THRESHOLD, "--no-pager"])
        .arg(unit)
        .output()
        .expect("systemd-analyze runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| {
            panic!(
                "{}: no exposure line:\n{stdout}{}",
                unit.display(),
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let number = line
        .rsplit(':')
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("{}: cannot read the exposure in {line:?}", unit.display()));
    (out.status.code().unwrap_or(-1), number)
}

#[test]
fn each_unit_is_sandboxed_to_exposure_2_or_less() {
    if gate::skipped(&[Need::Tool("systemd-analyze")]) {
        return;
    }
    for unit in UNITS {
        let path = repo_root().join(unit);
        let (code, score) = exposure(&path);
        assert!(
            score <= MAX_EXPOSURE && code == 0,
            "{unit}: exposure {score} (exit {code}), at most {MAX_EXPOSURE} wanted"
        );
    }
}

/// The check can fail: the same unit without the lines after its
/// "# The sandbox" comment scores far above the threshold.
#[test]
fn a_unit_without_its_sandbox_fails_the_check() {
    if gate::skipped(&[Need::Tool("systemd-analyze")]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for unit in UNITS {
        let text = std::fs::read_to_string(repo_root().join(unit)).unwrap();
        let (head, _) = text
            .split_once("# The sandbox")
            .unwrap_or_else(|| panic!("{unit}: no \"# The sandbox\" comment"));
        let bare: String = head
            .lines()
            .chain(text.lines().skip_while(|l| *l != "[Install]"))
            .map(|l| format!("{l}\n"))
            .collect();
        let path = dir.path().join(Path::new(unit).file_name().unwrap());
        std::fs::write(&path, bare).unwrap();
        let (code, score) = exposure(&path);
        assert!(
            score > 9.0 && code != 0,
            "{unit} without its sandbox: exposure {score} (exit {code})"
        );
    }
}

/// The capabilities a unit keeps (`CapabilityBoundingSet=`), in setpriv's
/// spelling (`+dac_read_search,+sys_ptrace`); the same in both units.
fn kept_capabilities() -> String {
    let mut sets = UNITS.iter().map(|unit| {
        let text = std::fs::read_to_string(repo_root().join(unit)).unwrap();
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
            .unwrap_or_else(|| panic!("{unit}: no CapabilityBoundingSet="))
            .to_string();
        line.split_whitespace()
            .map(|cap| format!("+{}", cap.trim_start_matches("CAP_").to_lowercase()))
            .collect::<Vec<_>>()
            .join(",")
    });
    let first = sets.next().unwrap();
    assert!(
        sets.all(|s| s == first),
        "the units keep different capabilities"
    );
    first
}

/// What [`status_in_netns`] needs of this machine.
const NETNS_NEEDS: &[Need] = &[
    Need::Root,
    Need::NetNamespace,
    Need::Tool("setpriv"),
    Need::Tool("/usr/bin/python3"),
    Need::Tool("ip"),
];

/// Run `status ARGS` (`$ROOT` in them is the fake root) as root with only
/// the capabilities `caps` (setpriv `--bounding-set -all,CAPS`, no new
/// privileges), under `strace -f -o TRACE` when `trace` is given, in a
/// private network namespace where user nobody listens on [::1]:5353, on a
/// fake root with the `default` profile installed and the real /proc.
/// Its stdout.
fn status_in_netns(host: &FakeHost, caps: &str, args: &str, trace: Option<&Path>) -> String {
    let script = r#"
        ip link set lo up
        rm -f "$ROOT/ready"
        setpriv --reuid=65534 --regid=65534 --clear-groups -- /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::1", 5353))
print("ready", flush=True)
time.sleep(60)' >"$ROOT/ready" &
        listener=$!
        tries=0
        until [ -s "$ROOT/ready" ]; do
            tries=$((tries + 1))
            [ $tries -lt 200 ] || { echo "the listener did not start" >&2; exit 1; }
            sleep 0.05
        done
        set --
        [ -z "$TRACE" ] || set -- strace -f -qq -o "$TRACE"
        eval "setpriv --no-new-privs --bounding-set -all$CAPS -- $* \"\$HELPER\" status $ARGS --proc /proc"
        kill $listener
    "#;
    let caps_arg = if caps.is_empty() {
        String::new()
    } else {
        format!(",{caps}")
    };
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", script])
        .env("ROOT", host.dir.path())
        .env("CAPS", caps_arg)
        .env("ARGS", args)
        .env("TRACE", trace.map(|t| t.as_os_str()).unwrap_or_default())
        .env("HELPER", env!("CARGO_BIN_EXE_pve-tcp-hardening"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "status {args}: {out:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The process the report names as the owner of nobody's socket, seen with
/// only the capabilities `caps`.
fn owner_seen_with(caps: &str) -> String {
    let host = FakeHost::installed("default");
    let stdout = status_in_netns(&host, caps, r#"--json --root "$ROOT""#, None);
    let report: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let listeners = report["ipv6_listeners"].as_array().unwrap();
    assert_eq!(listeners.len(), 1, "{report}");
    assert_eq!(listeners[0]["port"], 5353, "{report}");
    listeners[0]["process"].as_str().unwrap_or("").to_string()
}

/// The capabilities the units keep are enough to name the process that
/// holds another user's socket, and each of them is needed.
#[test]
fn the_kept_capabilities_name_another_users_socket() {
    if gate::skipped(NETNS_NEEDS) {
        return;
    }
    let kept = kept_capabilities();
    assert_eq!(kept, "+dac_read_search,+sys_ptrace");
    assert_eq!(owner_seen_with(&kept), "python3");
    for one in kept.split(',') {
        assert_eq!(owner_seen_with(one), "", "{one} alone is not enough");
    }
}

/// The system calls of a `SystemCallFilter=` list, groups expanded, as
/// `systemd-analyze syscall-filter` lists them: `@system-service` without
/// `@privileged` and `@resources`, the units' filter.
fn filter_allows() -> std::collections::BTreeSet<String> {
    let out = Command::new("systemd-analyze")
        .args(["syscall-filter", "--no-pager"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut groups: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut current = String::new();
    for line in text.lines() {
        let item = line.trim();
        if item.is_empty() || item.starts_with('#') {
            continue;
        }
        if line.starts_with('@') {
            current = item.to_string();
            groups.entry(current.clone()).or_default();
        } else {
            groups.get_mut(&current).unwrap().push(item.to_string());
        }
    }
    fn expand(
        groups: &std::collections::HashMap<String, Vec<String>>,
        name: &str,
    ) -> std::collections::BTreeSet<String> {
        groups[name]
            .iter()
            .flat_map(|item| match item.starts_with('@') {
                true => expand(groups, item),
                false => [item.clone()].into(),
            })
            .collect()
    }
    for unit in UNITS {
        let text = std::fs::read_to_string(repo_root().join(unit)).unwrap();
        let filters: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("SystemCallFilter="))
            .collect();
        assert_eq!(
            filters,
            ["@system-service", "~@privileged @resources"],
            "{unit}: the filter this test checks"
        );
    }
    let mut allowed = expand(&groups, "@system-service");
    for denied in ["@privileged", "@resources"] {
        for call in expand(&groups, denied) {
            allowed.remove(&call);
        }
    }
    allowed
}

/// Every system call `status` makes for the two units (the metrics file
/// replaced, the journal lines; sock_diag, the /proc walk and dpkg-query
/// included) passes the units' `SystemCallFilter=` and
/// `MemoryDenyWriteExecute=`, and with the kept capabilities only the
/// report is the same as root's.
#[test]
fn the_units_system_call_filter_allows_what_status_does() {
    let tools = [Need::Tool("strace"), Need::Tool("systemd-analyze")];
    if gate::skipped(&[NETNS_NEEDS, &tools].concat()) {
        return;
    }
    let allowed = filter_allows();
    assert!(allowed.contains("openat") && !allowed.contains("fchown"));
    let kept = kept_capabilities();
    let host = FakeHost::installed("default");
    std::fs::create_dir_all(host.path("textfile")).unwrap();
    // An earlier file of its own to replace, as every minute.
    std::fs::write(host.path("textfile/pth.prom"), "old\n").unwrap();
    let trace = host.path("strace.txt");
    let mut used = std::collections::BTreeSet::new();
    for args in [
        r#"--format prometheus --root "$ROOT" --output "$ROOT/textfile/pth.prom""#,
        r#"--format journal --root "$ROOT""#,
    ] {
        status_in_netns(&host, &kept, args, Some(&trace));
        let text = std::fs::read_to_string(&trace).unwrap();
        for line in text.lines() {
            // "PID name(args...) = result"; "PID +++ exited ..." and the like
            // are no calls.
            let call = line
                .split_once(' ')
                .map(|(_, rest)| rest.trim_start())
                .and_then(|rest| rest.split_once('('))
                .map(|(name, _)| name)
                .filter(|name| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
            if let Some(name) = call {
                used.insert(name.to_string());
                // MemoryDenyWriteExecute=: no mapping both writable and
                // executable, none made executable afterwards.
                let exec = line.contains("PROT_EXEC");
                let w_and_x = name.starts_with("mmap") && exec && line.contains("PROT_WRITE");
                let made_exec = name.ends_with("mprotect") && exec;
                assert!(
                    !w_and_x && !made_exec,
                    "MemoryDenyWriteExecute= stops: {line}"
                );
            }
        }
    }
    let metrics = host.read("textfile/pth.prom");
    assert!(metrics.contains("\npve_tcp_hardening_up 1\n"), "{metrics}");
    assert!(
        used.contains("sendto") || used.contains("sendmsg"),
        "sock_diag: {used:?}"
    );
    assert!(
        used.contains("readlinkat") && used.iter().any(|c| c.starts_with("rename")),
        "{used:?}"
    );
    let blocked: Vec<&String> = used.difference(&allowed).collect();
    assert!(blocked.is_empty(), "calls the filter blocks: {blocked:?}");
    // The report with every capability and with the kept ones: the same
    // but for the listener's pid (a new listener each run).
    let report = |caps: &str| {
        let text = status_in_netns(&host, caps, r#"--json --root "$ROOT""#, None);
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(json["ipv6_listeners"][0]["pid"].is_u64(), "{json}");
        json["ipv6_listeners"][0]["pid"] = serde_json::Value::Null;
        json["problems"] = serde_json::Value::Null;
        json
    };
    assert_eq!(report("+all"), report(&kept));
}
