//! `status --format ...` in every state a node can be in: the same fake
//! host rendered as the table, JSON, a Nagios plugin line, Prometheus
//! metrics, a Checkmk local check and journal lines, each with its exit
//! status, compared with `tests/golden/status/STATE.txt`
//! (`UPDATE_GOLDEN=1` rewrites them). Then: the metrics pass
//! `promtool check metrics`, and `--output` replaces the file atomically.

mod common;

use common::assert_golden;
use common::fake_host::{profile, FakeHost};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const FORMATS: [&str; 6] = ["text", "json", "nagios", "prometheus", "checkmk", "journal"];

/// A `/proc/net/udp6` line for a socket bound to `addr_hex` (as /proc
/// prints it) on `port`, owned by socket inode `inode`.
fn udp6_line(addr_hex: &str, port: u16, inode: u32) -> String {
    format!(
        "   1: {addr_hex}:{port:04X} 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 {inode} 2 0000000000000000 0\n"
    )
}

const UDP6_HEADER: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n";

/// `::1` and `::` as /proc prints them on this machine's byte order.
fn proc_hex(addr: std::net::Ipv6Addr) -> String {
    addr.octets()
        .chunks(4)
        .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
        .collect()
}

/// A later-sorting file that sets tcp_sack back to 1 at boot.
fn shadow_tcp_sack(host: &FakeHost) {
    std::fs::write(
        host.path("etc/sysctl.d/90-local.conf"),
        "net.ipv4.tcp_sack = 1\n",
    )
    .unwrap();
}

/// chronyd's socket on [::1]:323 (a problem under an IPv6-off profile) and
/// rpcbind's on [::]:111 (information).
fn add_ipv6_listeners(host: &FakeHost) {
    std::fs::create_dir_all(host.path("proc/net")).unwrap();
    let text = format!(
        "{UDP6_HEADER}{}{}",
        udp6_line(&proc_hex(std::net::Ipv6Addr::LOCALHOST), 323, 4242),
        udp6_line(&proc_hex(std::net::Ipv6Addr::UNSPECIFIED), 111, 4343)
    );
    std::fs::write(host.path("proc/net/udp6"), text).unwrap();
}

fn state(name: &str) -> FakeHost {
    match name {
        "ok" => FakeHost::installed("default"),
        "drift" => {
            let host = FakeHost::installed("default");
            host.set_live("net.ipv4.tcp_fin_timeout", "60");
            host
        }
        "shadowed" => {
            let host = FakeHost::installed("default");
            shadow_tcp_sack(&host);
            host
        }
        "local" => {
            let host = FakeHost::installed("default");
            let file = host.path("etc/sysctl.d/80_tcp_hardening.conf");
            let text = std::fs::read_to_string(&file).unwrap();
            std::fs::write(
                &file,
                text.replace(
                    "net.ipv4.tcp_syn_retries = 2",
                    "net.ipv4.tcp_syn_retries = 3",
                ),
            )
            .unwrap();
            host.set_live("net.ipv4.tcp_syn_retries", "3");
            host
        }
        "missing" => {
            let host = FakeHost::installed("default");
            std::fs::remove_dir_all(host.proc_root().join("net/ipv6")).unwrap();
            host
        }
        "ipv6-listener" => {
            let host = FakeHost::installed("default");
            add_ipv6_listeners(&host);
            host
        }
        "reboot-pending" => {
            let host = FakeHost::new();
            host.install(&profile("default"));
            host
        }
        "nothing-installed" => FakeHost::new(),
        // Something of each kind: drift, a shadowing file, an admin's edit,
        // a socket on an IPv6 address and one on [::].
        "several" => {
            let host = state("local");
            host.set_live("net.ipv4.tcp_fin_timeout", "60");
            shadow_tcp_sack(&host);
            add_ipv6_listeners(&host);
            host
        }
        // `strict` unpacked and not applied: every key it changes drifted
        // (a 2630-byte Nagios line before issue 31).
        "strict-unapplied" => {
            let host = FakeHost::new();
            host.unpack(&profile("strict"));
            host
        }
        other => panic!("no state {other}"),
    }
}

fn run_status(host: &FakeHost, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pve-tcp-hardening"))
        .args(["status", "--root"])
        .arg(host.dir.path())
        .arg("--proc")
        .arg(host.path("proc"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Paths of the temp dir and the time of the check vary between runs.
fn normalize(text: &str, root: &Path) -> String {
    text.replace(&root.display().to_string(), "<root>")
        .lines()
        .map(
            |l| match l.strip_prefix("pve_tcp_hardening_last_check_timestamp_seconds ") {
                Some(t) => {
                    let t: f64 = t.parse().expect("a timestamp");
                    assert!(t > 1.7e9, "timestamp {t}");
                    "pve_tcp_hardening_last_check_timestamp_seconds <now>".to_string()
                }
                None => l.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn golden_state(name: &str) {
    let host = state(name);
    let mut all = String::new();
    for format in FORMATS {
        let (code, stdout, stderr) = run_status(&host, &["--format", format]);
        all.push_str(&format!("=== --format {format}: exit {code}\n"));
        all.push_str(&normalize(&stdout, host.dir.path()));
        if !stderr.is_empty() {
            all.push_str(&format!(
                "--- stderr\n{}",
                normalize(&stderr, host.dir.path())
            ));
        }
    }
    assert_golden(&format!("status/{name}.txt"), &all);
}

#[test]
fn ok() {
    golden_state("ok");
}

#[test]
fn drift() {
    golden_state("drift");
}

#[test]
fn shadowed() {
    golden_state("shadowed");
}

#[test]
fn local() {
    golden_state("local");
}

#[test]
fn missing() {
    golden_state("missing");
}

#[test]
fn ipv6_listener() {
    golden_state("ipv6-listener");
}

#[test]
fn reboot_pending() {
    golden_state("reboot-pending");
}

#[test]
fn nothing_installed() {
    golden_state("nothing-installed");
}

#[test]
fn several() {
    golden_state("several");
}

#[test]
fn strict_unapplied() {
    golden_state("strict-unapplied");
}

const STATES: [&str; 10] = [
    "ok",
    "drift",
    "shadowed",
    "local",
    "missing",
    "ipv6-listener",
    "reboot-pending",
    "nothing-installed",
    "several",
    "strict-unapplied",
];

/// Nagios and Checkmk say the same: a short first line, then the long
/// output one finding a line (Nagios: lines after the first; Checkmk: the
/// two characters `\n` inside its one line). No `|` after Nagios's
/// perfdata separator, no line break inside Checkmk's line.
#[test]
fn long_output_follows_the_first_line() {
    // nothing-installed: no report, one UNKNOWN line without perfdata.
    for name in STATES.iter().filter(|&&n| n != "nothing-installed") {
        let host = state(name);
        let (_, nagios, _) = run_status(&host, &["--format", "nagios"]);
        let (_, checkmk, _) = run_status(&host, &["--format", "checkmk"]);
        let mut nagios_lines = nagios.lines();
        let first = nagios_lines.next().unwrap();
        let long: Vec<&str> = nagios_lines.collect();
        assert_eq!(first.matches('|').count(), 1, "{name}: {first}");
        assert!(
            first.len() < 400,
            "{name}: first line {} bytes",
            first.len()
        );
        assert!(long.iter().all(|l| !l.contains('|')), "{name}: {nagios}");
        let (status_text, _) = first.split_once(" | ").unwrap();
        let headline = status_text.split_once(" - ").unwrap().1;

        assert_eq!(checkmk.lines().count(), 1, "{name}: {checkmk}");
        // STATUS "SERVICE" PERFDATA TEXT
        let after_service = checkmk
            .trim_end()
            .split_once("\" ")
            .map(|(_, rest)| rest)
            .unwrap();
        let (_perfdata, text) = after_service.split_once(' ').unwrap();
        let parts: Vec<&str> = text.split("\\n").collect();
        assert_eq!(parts[0], headline, "{name}");
        assert_eq!(parts[1..], long[..], "{name}");
    }
    // A state with findings of every kind has a line for each.
    let (_, nagios, _) = run_status(&state("several"), &["--format", "nagios"]);
    assert_eq!(nagios.lines().count(), 6, "{nagios}");
}

/// The Nagios exit codes: the plugin API's 0/1/2/3 per state.
#[test]
fn nagios_exit_codes() {
    for (name, want) in [
        ("ok", 0),
        ("local", 0),
        ("missing", 0),
        ("drift", 1),
        ("reboot-pending", 1),
        ("shadowed", 2),
        ("ipv6-listener", 2),
        ("nothing-installed", 3),
    ] {
        let (code, stdout, _) = run_status(&state(name), &["--format", "nagios"]);
        assert_eq!(code, want, "{name}: {stdout}");
        let label = ["OK", "WARNING", "CRITICAL", "UNKNOWN"][want as usize];
        assert!(
            stdout.starts_with(&format!("PVE-TCP-HARDENING {label} - ")),
            "{name}: {stdout}"
        );
    }
}

/// In Nagios mode every exit that is not a verdict is UNKNOWN (3) with a
/// plugin line on stdout: a command line clap refuses, an option the
/// format does not take, a --root that is not there, an --output that
/// cannot be written. Outside it a usage error stays clap's 2, and
/// `--help` 0.
#[test]
fn nagios_mode_exits_unknown_for_anything_but_a_verdict() {
    let host = state("ok");
    let unwritable = host.path("no-such-dir/out.txt");
    for args in [
        &["--format", "nagios", "--bogus"][..],
        &["--bogus", "--format=nagios"],
        &["--format", "nagios", "--compliance", "no-such-benchmark"],
        &[
            "--format",
            "nagios",
            "--output",
            unwritable.to_str().unwrap(),
        ],
        &["--format", "nagios", "--json"],
    ] {
        let (code, stdout, stderr) = run_status(&host, args);
        assert_eq!(code, 3, "{args:?}: {stdout}{stderr}");
        assert!(
            stdout.starts_with("PVE-TCP-HARDENING UNKNOWN - ") && stdout.lines().count() == 1,
            "{args:?}: one plugin line: {stdout}"
        );
        assert!(!stderr.is_empty(), "{args:?}: the error on stderr too");
    }
    let (code, stdout, _) = run_status(&host, &["--format", "nagios", "--bogus"]);
    assert_eq!(code, 3);
    assert!(
        stdout.contains("invalid command line: unexpected argument '--bogus'"),
        "{stdout}"
    );
    let missing_root = Command::new(env!("CARGO_BIN_EXE_pve-tcp-hardening"))
        .args(["status", "--format", "nagios", "--root", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(missing_root.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&missing_root.stdout);
    assert!(
        stdout.starts_with("PVE-TCP-HARDENING UNKNOWN - --root /nonexistent"),
        "{stdout}"
    );
    // Other formats and commands keep clap's usage status 2, and help is 0.
    for args in [
        &["status", "--bogus"][..],
        &["status", "--format", "text", "--bogus"],
        &["status", "--format", "nagio"],
        &["plan", "--bogus"],
        &["status", "--format", "journal", "--compliance", "lynis"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_pve-tcp-hardening"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
    let help = Command::new(env!("CARGO_BIN_EXE_pve-tcp-hardening"))
        .args(["status", "--format", "nagios", "--help"])
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
}

/// A host with `name` installed, the reboot done, and the live values of a
/// stock Debian 12 kernel for the keys the benchmarks check beyond the
/// catalog; pve-firewall.conf sets all.rp_filter = 2 as on Proxmox VE.
fn node_with(name: &str) -> FakeHost {
    let host = FakeHost::new();
    for (key, value) in [
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv4.conf.all.forwarding", "1"),
        ("net.ipv6.conf.all.forwarding", "0"),
        ("net.ipv4.conf.all.rp_filter", "2"),
        ("net.ipv4.conf.all.accept_local", "0"),
        ("net.ipv4.conf.all.route_localnet", "0"),
        ("net.ipv4.conf.all.arp_filter", "0"),
        ("net.ipv4.conf.all.arp_ignore", "0"),
        ("net.ipv4.conf.all.drop_gratuitous_arp", "0"),
        ("net.ipv4.conf.all.shared_media", "1"),
        ("net.ipv4.conf.default.shared_media", "1"),
        ("net.ipv4.conf.all.bootp_relay", "0"),
        ("net.ipv4.conf.all.mc_forwarding", "0"),
        ("net.ipv4.conf.all.proxy_arp", "0"),
        ("net.ipv4.ip_local_port_range", "32768\t60999"),
        ("net.ipv4.tcp_timestamps", "1"),
        ("net.core.bpf_jit_harden", "0"),
        ("net.ipv6.conf.all.accept_ra", "1"),
        ("net.ipv6.conf.default.accept_ra", "1"),
        ("net.ipv6.conf.all.accept_redirects", "1"),
        ("net.ipv6.conf.default.accept_redirects", "1"),
    ] {
        host.set_live(key, value);
    }
    for scope in ["all", "default"] {
        for (key, value) in [
            ("router_solicitations", "-1"),
            ("accept_ra_rtr_pref", "1"),
            ("accept_ra_pinfo", "1"),
            ("accept_ra_defrtr", "1"),
            ("autoconf", "1"),
            ("max_addresses", "16"),
        ] {
            host.set_live(&format!("net.ipv6.conf.{scope}.{key}"), value);
        }
    }
    std::fs::create_dir_all(host.path("usr/lib/sysctl.d")).unwrap();
    std::fs::write(
        host.path("usr/lib/sysctl.d/pve-firewall.conf"),
        "net.ipv4.conf.all.rp_filter = 2\n",
    )
    .unwrap();
    host.install(&profile(name));
    std::fs::remove_file(host.path("run/reboot-required.pkgs")).ok();
    std::fs::remove_file(host.path("run/reboot-required")).ok();
    host
}

const MAPS: [&str; 3] = ["cis-debian12", "anssi-bp28", "lynis"];

fn compliance_json(host: &FakeHost, map: &str) -> serde_json::Value {
    let (_, stdout, stderr) = run_status(host, &["--json", "--compliance", map]);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"))
}

/// (control id, key, result, waiver) of every control.
fn results(report: &serde_json::Value) -> Vec<(String, String, String, String)> {
    report["compliance"]["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["key"].as_str().unwrap().to_string(),
                c["result"].as_str().unwrap().to_string(),
                c["waiver"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Each map on a strict node and on a default one: table and exit status.
#[test]
fn compliance_maps_golden() {
    for profile_name in ["default", "strict", "ipv6"] {
        let host = node_with(profile_name);
        let mut all = String::new();
        for map in MAPS {
            let (code, stdout, stderr) = run_status(&host, &["--compliance", map]);
            let table = stdout
                .split_once("compliance: ")
                .map(|(_, t)| format!("compliance: {t}"))
                .unwrap_or_else(|| panic!("no compliance table: {stdout}{stderr}"));
            all.push_str(&format!("=== --compliance {map}: exit {code}\n{table}"));
        }
        assert_golden(&format!("status/compliance-{profile_name}.txt"), &all);
    }
}

/// `--compliance` in the monitoring formats: Nagios and Checkmk add each
/// failing control as a WARNING line and the counts as perfdata,
/// Prometheus the counts and a per-control metric; the counts are the
/// JSON's (the same control results), and promtool accepts the metrics.
#[test]
fn compliance_in_the_monitoring_formats() {
    for profile_name in ["default", "strict"] {
        let host = node_with(profile_name);
        let mut all = String::new();
        for map in MAPS {
            let json = compliance_json(&host, map);
            let fail = json["compliance"]["fail"].as_u64().unwrap();
            for format in ["nagios", "checkmk", "prometheus"] {
                let (code, stdout, stderr) =
                    run_status(&host, &["--format", format, "--compliance", map]);
                assert!(stderr.is_empty(), "{map} {format}: {stderr}");
                all.push_str(&format!(
                    "=== --format {format} --compliance {map}: exit {code}\n{}",
                    normalize(&stdout, host.dir.path())
                ));
                match format {
                    "nagios" => {
                        assert!(stdout.contains(&format!(" compliance_fail={fail};0;;0;")));
                        let failing = stdout
                            .lines()
                            .filter(|l| l.starts_with(&format!("WARNING: {map} ")))
                            .count();
                        assert_eq!(failing as u64, fail, "{map}: {stdout}");
                        assert_eq!(code, if fail > 0 { 1 } else { 0 }, "{stdout}");
                    }
                    "prometheus" => {
                        assert!(stdout.contains(&format!(
                            "pve_tcp_hardening_compliance_controls{{benchmark=\"{map}\",result=\"fail\"}} {fail}\n"
                        )));
                        let failing = stdout
                            .lines()
                            .filter(|l| {
                                l.starts_with("pve_tcp_hardening_compliance_control_failed{")
                                    && l.ends_with(" 1")
                            })
                            .count();
                        assert_eq!(failing as u64, fail, "{map}");
                        promtool_check(&stdout, &format!("{profile_name} {map}"));
                    }
                    _ => {}
                }
            }
        }
        assert_golden(
            &format!("status/compliance-monitoring-{profile_name}.txt"),
            &all,
        );
    }
}

/// Under `strict` nothing fails in any map: what differs is a documented
/// waiver, and the waivers are exactly these.
#[test]
fn under_strict_only_documented_waivers_remain() {
    let host = node_with("strict");
    let mut waived = Vec::new();
    for map in MAPS {
        let report = compliance_json(&host, map);
        for (id, key, result, waiver) in results(&report) {
            assert_ne!(result, "fail", "{map} {id} {key} fails under strict");
            if result == "waived" {
                waived.push(format!("{map} {key} {waiver}"));
            }
        }
    }
    assert_eq!(
        waived,
        [
            "cis-debian12 net.ipv4.ip_forward ip-forwarding",
            "cis-debian12 net.ipv4.conf.all.rp_filter rp-filter-loose",
            "cis-debian12 net.ipv4.conf.default.rp_filter rp-filter-loose",
            "anssi-bp28 net.core.bpf_jit_harden bpf-jit-harden",
            "anssi-bp28 net.ipv4.ip_forward ip-forwarding",
            "anssi-bp28 net.ipv4.conf.all.arp_ignore arp-floating-ip",
            "anssi-bp28 net.ipv4.conf.all.drop_gratuitous_arp arp-floating-ip",
            "anssi-bp28 net.ipv4.conf.all.rp_filter rp-filter-loose",
            "anssi-bp28 net.ipv4.conf.default.rp_filter rp-filter-loose",
            "anssi-bp28 net.ipv4.ip_local_port_range ephemeral-ports",
            "lynis net.core.bpf_jit_harden bpf-jit-harden",
            "lynis net.ipv4.conf.all.forwarding ip-forwarding",
            "lynis net.ipv4.conf.all.rp_filter rp-filter-loose",
        ]
    );
    // The same node under `default` fails controls strict fixes: the check
    // can fail.
    let report = compliance_json(&node_with("default"), "anssi-bp28");
    assert!(results(&report)
        .iter()
        .any(|(_, key, result, _)| key == "net.ipv4.conf.all.shared_media" && result == "fail"));
}

/// The `ipv6` profile's IPv6 keys pass every map's equality check, or the
/// map says why its value is stricter.
#[test]
fn ipv6_profile_keys_pass_or_are_stricter() {
    let host = node_with("ipv6");
    let ipv6 = profile("ipv6");
    for map in MAPS {
        let report = compliance_json(&host, map);
        for c in report["compliance"]["controls"].as_array().unwrap() {
            let key = c["key"].as_str().unwrap();
            let Some(setting) = ipv6.setting(key) else {
                continue;
            };
            if !key.starts_with("net.ipv6.") {
                continue;
            }
            assert_eq!(c["result"], "pass", "{map} {key}: {c}");
            let expected: Vec<&str> = c["expected"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            if !expected.contains(&setting.value.as_str()) {
                assert!(
                    c["note"].as_str().is_some_and(|n| !n.is_empty()),
                    "{map} {key}: a stricter value needs its reason: {c}"
                );
            }
        }
    }
}

/// `promtool check metrics` (Debian's prometheus package) accepts the
/// metrics of every state.
#[test]
fn promtool_accepts_the_metrics() {
    let Ok(probe) = Command::new("promtool").arg("--version").output() else {
        panic!("promtool is missing: apt-get install prometheus (make deps-test installs it)");
    };
    assert!(probe.status.success());
    for name in STATES {
        let host = state(name);
        let (_, metrics, _) = run_status(&host, &["--format", "prometheus"]);
        promtool_check(&metrics, name);
    }
}

/// `promtool check metrics` prints nothing and exits 0 for `metrics`.
fn promtool_check(metrics: &str, name: &str) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs (apt-get install prometheus; make deps-test installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "{name}: promtool: {}{}\n{metrics}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The series (metric name and label set) of a metrics text, without the
/// values.
fn series(metrics: &str) -> Vec<String> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit_once(' ').unwrap().0.to_string())
        .collect()
}

/// Label sets are stable: every state a `default` node can be in (each
/// key state, listeners, a pending reboot) writes the same series, only
/// the values differ; no label is ever empty; each key has one
/// `key_state` series per state, exactly one of them 1.
#[test]
fn metric_label_sets_do_not_change_with_the_state() {
    let (_, reference, _) = run_status(&state("ok"), &["--format", "prometheus"]);
    let reference_series = series(&reference);
    for name in [
        "drift",
        "shadowed",
        "local",
        "missing",
        "ipv6-listener",
        "reboot-pending",
        "several",
    ] {
        let (_, metrics, _) = run_status(&state(name), &["--format", "prometheus"]);
        assert_eq!(series(&metrics), reference_series, "{name}:\n{metrics}");
        assert!(
            !metrics.contains("=\"\""),
            "{name}: an empty label:\n{metrics}"
        );
        let key_states: Vec<&str> = metrics
            .lines()
            .filter(|l| l.starts_with("pve_tcp_hardening_key_state{"))
            .collect();
        let keys = metrics
            .lines()
            .filter(|l| l.starts_with("pve_tcp_hardening_key_in_force{"))
            .count();
        assert_eq!(keys, 16, "{name}: the default profile's keys");
        assert_eq!(key_states.len(), keys * 5, "{name}");
        let current = key_states.iter().filter(|l| l.ends_with(" 1")).count();
        assert_eq!(current, keys, "{name}: one current state per key");
    }
    // The values do change: drift is seen.
    let (_, drift, _) = run_status(&state("drift"), &["--format", "prometheus"]);
    assert!(drift.contains(
        "pve_tcp_hardening_key_state{key=\"net.ipv4.tcp_fin_timeout\",state=\"drift\"} 1\n"
    ));
    assert!(drift.contains("pve_tcp_hardening_key_in_force{key=\"net.ipv4.tcp_fin_timeout\"} 0\n"));
}

/// Every metric has a HELP line and a row in the README's table, and the
/// table lists no metric that is not written.
#[test]
fn every_metric_is_documented() {
    let (_, metrics, _) = run_status(
        &state("several"),
        &["--format", "prometheus", "--compliance", "lynis"],
    );
    let written: Vec<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE pve_tcp_hardening_"))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    for name in &written {
        let help = format!("# HELP pve_tcp_hardening_{name} ");
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with(&help) && l.len() > help.len() + 10),
            "{name}: no HELP text"
        );
    }
    let readme = std::fs::read_to_string(common::repo_root().join("README.md")).unwrap();
    let (_, table) = readme
        .split_once("| metric | labels | value |")
        .expect("the README's table of metrics");
    let documented: Vec<&str> = table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with("| `"))
        .map(|l| l.trim_start_matches("| `").split('`').next().unwrap())
        .collect();
    assert_eq!(documented, written);
}

/// `--output` replaces the textfile atomically: a reader polling it during
/// 1000 rewrites only ever sees a whole file.
#[test]
fn a_reader_never_sees_a_partial_metrics_file() {
    let host = FakeHost::installed("default");
    let dir = host.path("textfile");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pve-tcp-hardening.prom");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (file, done) = (file.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reads = 0u32;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(text) = std::fs::read_to_string(&file) {
                    assert!(
                        text.starts_with("# HELP pve_tcp_hardening_up ")
                            && text.trim_end().rsplit('\n').next().is_some_and(|l| l
                                .starts_with("pve_tcp_hardening_last_check_timestamp_seconds "))
                            && text.ends_with('\n'),
                        "partial file after {reads} reads:\n{text}"
                    );
                    reads += 1;
                }
            }
            reads
        })
    };
    for _ in 0..1000 {
        let (code, _, stderr) = run_status(
            &host,
            &["--format", "prometheus", "--output", file.to_str().unwrap()],
        );
        assert_eq!(code, 0, "{stderr}");
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.join().unwrap();
    assert!(reads > 1000, "the reader only read {reads} times");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["pve-tcp-hardening.prom"], "no temp files left");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o644
    );
}
