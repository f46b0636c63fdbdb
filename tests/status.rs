//! `pve-tcp-hardening status` on fake host trees: the boot-time winner per
//! key, drift, missing keys, chrony, pending reboot, IPv6 listeners, the
//! exit status for monitoring, and the JSON report.

mod common;

use common::fake_host::{profile, FakeHost};
use common::Run;
use serde_json::Value;

/// A host with the default profile installed and the reboot done.
fn installed() -> FakeHost {
    let host = FakeHost::new();
    host.install(&profile("default"));
    std::fs::remove_file(host.path("run/reboot-required.pkgs")).unwrap();
    std::fs::remove_file(host.path("run/reboot-required")).unwrap();
    host
}

fn status(host: &FakeHost, extra: &[&str]) -> Run {
    Run::helper()
        .args(["status", "--root"])
        .args([host.dir.path()])
        .args(["--proc"])
        .args([host.path("proc")])
        .args(extra)
}

fn json(host: &FakeHost, code: i32) -> Value {
    let out = status(host, &["--json"]).status(code).run();
    serde_json::from_slice(&out.stdout).unwrap()
}

fn key<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == name)
        .unwrap_or_else(|| panic!("{name} not in report"))
}

#[test]
fn all_in_force_after_install_and_reboot() {
    let host = installed();
    status(&host, &[])
        .stdout_contains("net.ipv4.tcp_sack ")
        .stdout_contains("chrony: IPv4-only (-4), diverted by pve-tcp-hardening\n")
        .stdout_contains("reboot pending: no\n")
        .stdout_contains("all in force\n")
        .run();
    let report = json(&host, 0);
    assert_eq!(report["schema"], 1);
    assert_eq!(report["ok"], true);
    assert_eq!(report["keys"].as_array().unwrap().len(), 16);
    let sack = key(&report, "net.ipv4.tcp_sack");
    assert_eq!(sack["state"], "ok");
    assert_eq!(
        sack["winner"]["file"],
        "/etc/sysctl.d/80_tcp_hardening.conf"
    );
}

#[test]
fn a_later_file_shadows_a_key() {
    let host = installed();
    std::fs::write(
        host.path("etc/sysctl.d/90-local.conf"),
        "net.ipv4.tcp_sack = 1\n",
    )
    .unwrap();
    status(&host, &[])
        .status(1)
        .stdout_contains("problem: net.ipv4.tcp_sack is shadowed: at boot /etc/sysctl.d/90-local.conf:1 sets 1 (wanted 0)")
        .stdout_contains("NOT all in force")
        .run();
    let report = json(&host, 1);
    let sack = key(&report, "net.ipv4.tcp_sack");
    assert_eq!(sack["state"], "shadowed");
    assert_eq!(sack["boot"], "1");
    assert_eq!(sack["winner"]["file"], "/etc/sysctl.d/90-local.conf");
    let setters: Vec<&str> = sack["setters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        setters,
        [
            "/etc/sysctl.d/80_tcp_hardening.conf",
            "/etc/sysctl.d/90-local.conf"
        ]
    );
}

#[test]
fn same_name_in_etc_masks_usr_lib_and_dev_null_masks_ours() {
    let host = installed();
    std::fs::create_dir_all(host.path("usr/lib/sysctl.d")).unwrap();
    std::fs::write(
        host.path("usr/lib/sysctl.d/90-vendor.conf"),
        "net.ipv4.tcp_sack = 1\n",
    )
    .unwrap();
    std::fs::write(
        host.path("etc/sysctl.d/90-vendor.conf"),
        "# admin override\n",
    )
    .unwrap();
    assert_eq!(key(&json(&host, 0), "net.ipv4.tcp_sack")["state"], "ok");
    std::fs::remove_file(host.path("etc/sysctl.d/80_tcp_hardening.conf")).unwrap();
    std::os::unix::fs::symlink("/dev/null", host.path("etc/sysctl.d/80_tcp_hardening.conf"))
        .unwrap();
    let report = json(&host, 1);
    assert_eq!(key(&report, "net.ipv4.tcp_sack")["state"], "shadowed");
    assert_eq!(key(&report, "net.ipv4.tcp_sack")["winner"], Value::Null);
}

/// Issue 15: the admin's own edit of the package's conffile is their
/// choice: `local`, not `shadowed`, and no reason for exit status 1.
#[test]
fn an_admin_edit_of_our_own_file_is_local_not_a_problem() {
    let host = installed();
    let file = host.path("etc/sysctl.d/80_tcp_hardening.conf");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("net.ipv4.tcp_fin_timeout = 10\n"), "{text}");
    let edited = text
        .replace(
            "net.ipv4.tcp_fin_timeout = 10\n",
            "net.ipv4.tcp_fin_timeout = 30\n",
        )
        .replace("net.ipv4.tcp_sack = 0\n", "");
    std::fs::write(&file, edited).unwrap();
    host.set_live("net.ipv4.tcp_fin_timeout", "30");
    host.set_live("net.ipv4.tcp_sack", "1");

    let report = json(&host, 0);
    assert_eq!(report["ok"], true, "{report}");
    let fin = key(&report, "net.ipv4.tcp_fin_timeout");
    assert_eq!(fin["state"], "local", "{fin}");
    assert_eq!(fin["desired"], "10", "desired stays the package's: {fin}");
    assert_eq!(fin["boot"], "30", "{fin}");
    assert_eq!(fin["winner"]["file"], "/etc/sysctl.d/80_tcp_hardening.conf");
    let sack = key(&report, "net.ipv4.tcp_sack");
    assert_eq!(
        sack["state"], "local",
        "a removed line is local too: {sack}"
    );
    assert_eq!(sack["boot"], Value::Null, "{sack}");
    status(&host, &[])
        .stdout_contains("  local: /etc/sysctl.d/80_tcp_hardening.conf:")
        .stdout_contains(" sets 30 (the package's value: 10); the admin's choice\n")
        .stdout_contains("  local: removed from the package's file (the package's value: 0)")
        .stdout_contains("all in force\n")
        .run();

    // Live away from the admin's value is drift, measured against theirs.
    host.set_live("net.ipv4.tcp_fin_timeout", "10");
    let report = json(&host, 1);
    assert_eq!(key(&report, "net.ipv4.tcp_fin_timeout")["state"], "drift");
    assert!(
        report["problems"]
            .to_string()
            .contains("net.ipv4.tcp_fin_timeout drifted: live 10 (wanted 30;"),
        "{report}"
    );

    // A later file still shadows, whatever our file says.
    std::fs::write(
        host.path("etc/sysctl.d/90-local.conf"),
        "net.ipv4.tcp_fin_timeout = 45\n",
    )
    .unwrap();
    let report = json(&host, 1);
    assert_eq!(
        key(&report, "net.ipv4.tcp_fin_timeout")["state"],
        "shadowed"
    );
}

#[test]
fn live_drift_and_missing_keys() {
    let host = installed();
    host.set_live("net.ipv4.tcp_fin_timeout", "60");
    std::fs::remove_dir_all(host.proc_root().join("net/ipv6")).unwrap();
    let report = json(&host, 1);
    let fin = key(&report, "net.ipv4.tcp_fin_timeout");
    assert_eq!(
        (&fin["state"], &fin["live"]),
        (&Value::from("drift"), &Value::from("60"))
    );
    let v6 = key(&report, "net.ipv6.conf.all.disable_ipv6");
    assert_eq!(
        (&v6["state"], &v6["live"]),
        (&Value::from("missing"), &Value::Null)
    );
    let problems = report["problems"].to_string();
    assert!(
        problems.contains("net.ipv4.tcp_fin_timeout drifted: live 60"),
        "{problems}"
    );
    assert!(
        !problems.contains("disable_ipv6"),
        "a missing key is not a problem: {problems}"
    );
}

#[test]
fn pending_reboot_and_ipv6_listeners_need_attention() {
    let host = FakeHost::new();
    host.install(&profile("default"));
    std::fs::create_dir_all(host.path("proc/net")).unwrap();
    std::fs::write(
        host.path("proc/net/udp6"),
        "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
         \x20 1: 00000000000000000000000001000000:0143 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 4242 2 0000000000000000 0\n",
    )
    .unwrap();
    let report = json(&host, 1);
    assert_eq!(report["reboot_pending"], true);
    let listeners = report["ipv6_listeners"].as_array().unwrap();
    assert_eq!(listeners.len(), 1);
    assert_eq!(listeners[0]["proto"], "udp6");
    assert_eq!(listeners[0]["port"], 323);
    if cfg!(target_endian = "little") {
        assert_eq!(listeners[0]["address"], "::1");
    }
    status(&host, &[])
        .status(1)
        .stdout_contains("reboot pending: yes\n")
        .stdout_contains("problem: listening on IPv6: udp6 [")
        .run();
}

#[test]
fn chrony_without_minus_four_is_a_problem() {
    let host = installed();
    host.maint("prerm", &["remove"]).run();
    status(&host, &[])
        .status(1)
        .stdout_contains("chrony: listens on IPv6 too (no -4)\n")
        .stdout_contains("problem: chronyd is not IPv4-only")
        .run();
}

#[test]
fn procps_system_reads_sysctl_conf_last() {
    let host = installed();
    // No 99-sysctl.conf link: systemd never reads /etc/sysctl.conf, procps
    // `sysctl --system` reads it at the very end.
    std::fs::write(host.path("etc/sysctl.conf"), "net.ipv4.tcp_sack = 1\n").unwrap();
    status(&host, &[])
        .stdout_contains("note: `sysctl --system` ends with /etc/sysctl.conf:1 = 1")
        .run();
    let report = json(&host, 0);
    assert_eq!(
        key(&report, "net.ipv4.tcp_sack")["procps_system_winner"]["file"],
        "/etc/sysctl.conf"
    );
}

#[test]
fn no_installed_profile_is_an_error() {
    let host = FakeHost::new();
    status(&host, &[])
        .status(2)
        .stderr_contains("is a pve-tcp-hardening package installed?")
        .stderr_contains("usr/share/pve-tcp-hardening/profile.json")
        .run();
}

/// Real sockets, in a private network namespace: a process listening on
/// [::1] over TCP and UDP is reported with its name, as `ss -atlnup` does.
#[test]
fn real_ipv6_listeners_in_a_private_network_namespace() {
    if let Err(why) = common::can_unshare() {
        eprintln!("SKIPPED: real_ipv6_listeners_in_a_private_network_namespace: {why}");
        return;
    }
    let host = installed();
    let helper = env!("CARGO_BIN_EXE_pve-tcp-hardening");
    let root = host.dir.path().display();
    let listener = "import socket,time\n\
        t=socket.socket(socket.AF_INET6); t.bind(('::1',4321)); t.listen()\n\
        u=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM); u.bind(('::1',323))\n\
        open('/dev/stdout','w').write('ready\\n'); time.sleep(30)\n";
    std::fs::write(host.path("listener.py"), listener).unwrap();
    let script = format!(
        "ip link set lo up\n\
         python3 {root}/listener.py > {root}/ready &\n\
         for i in $(seq 50); do grep -q ready {root}/ready && break; sleep 0.1; done\n\
         {helper} status --root {root} --proc /proc --json > {root}/report.json || true\n\
         kill $!\n"
    );
    let out = std::process::Command::new("unshare")
        .args(["-n", "bash", "-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&host.read("report.json")).unwrap();
    let mut seen: Vec<String> = report["ipv6_listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "{} [{}]:{} {}",
                l["proto"],
                l["address"].as_str().unwrap(),
                l["port"],
                l["process"]
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            "\"tcp6\" [::1]:4321 \"python3\"",
            "\"udp6\" [::1]:323 \"python3\""
        ],
        "{report}"
    );
    assert_eq!(report["ok"], false);
}
