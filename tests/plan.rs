//! `pve-tcp-hardening plan` on fake host trees, for a package "extracted"
//! beside them (its profile.json and sysctl file, as `dpkg-deb -x` leaves
//! them): values now / after install / after boot with the winning file,
//! the lockout guard and its override, chrony, and what of the admin's is
//! adopted. The chroot suite compares plan with real installs.

mod common;

use common::fake_host::{profile, report_key, unpack_into, FakeHost};
use common::{repo_root, Run};
use serde_json::Value;
use std::path::PathBuf;

/// The package of `name` as `dpkg-deb -x` would leave it, in `host`'s dir.
fn extracted(host: &FakeHost, name: &str) -> PathBuf {
    unpack_into(&host.path(&format!("pkg-{name}")), &profile(name))
}

/// `plan` of the package whose profile is `profile_json`, on `host`, as text.
fn plan_text(host: &FakeHost, profile_json: &PathBuf) -> Run {
    Run::helper()
        .args(["plan", "--root"])
        .args([host.dir.path()])
        .args(["--proc"])
        .args([host.path("proc")])
        .args(["--profile"])
        .args([profile_json])
}

fn plan(host: &FakeHost, profile_json: &PathBuf, code: i32) -> Value {
    let out = plan_text(host, profile_json)
        .args(["--json"])
        .status(code)
        .run();
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn values_now_after_install_and_after_boot_with_the_winning_file() {
    let host = FakeHost::new();
    std::fs::write(
        host.path("etc/sysctl.d/99-sysctl.conf"),
        "# local\nnet.ipv4.tcp_sack = 1\n",
    )
    .unwrap();
    let pkg = extracted(&host, "default");
    let report = plan(&host, &pkg, 0);
    assert_eq!(report["schema"], 1);
    assert_eq!(report["package"], "pve-tcp-hardening");
    let sack = report_key(&report, "net.ipv4.tcp_sack");
    assert_eq!(sack["live_now"], "1", "{sack}");
    assert_eq!(sack["after_install"], "0", "{sack}");
    assert_eq!(sack["after_boot"], "1", "{sack}");
    assert_eq!(sack["boot_winner"]["file"], "/etc/sysctl.d/99-sysctl.conf");
    assert_eq!(sack["boot_winner"]["line"], 2);
    let fin = report_key(&report, "net.ipv4.tcp_fin_timeout");
    assert_eq!(fin["live_now"], "60");
    assert_eq!(fin["after_boot"], fin["wanted"]);
    assert_eq!(
        fin["boot_winner"]["file"],
        "/etc/sysctl.d/80_tcp_hardening.conf"
    );
    assert_eq!(report["reboot_after_install"], true, "disable_ipv6 changes");
    assert_eq!(report["chrony"]["action"], "divert");
    assert_eq!(report["proceeds"], true);
    assert_eq!(report["adopted"]["chrony_backup"], Value::Null);
    assert_eq!(report["adopted"]["sysctl_file"], Value::Null);
    plan_text(&host, &pkg)
        .stdout_contains("note: after the next boot net.ipv4.tcp_sack is 1 (wanted 0): /etc/sysctl.d/99-sysctl.conf:2 wins\n")
        .stdout_contains("nothing stands in the way\n")
        .run();
}

#[test]
fn ipv6_in_use_stops_ipv6_off_profiles_only_and_the_override_lets_them_go() {
    let host = FakeHost::new();
    host.set_live("net.ipv6.conf.all.forwarding", "1");
    let default = extracted(&host, "default");
    let report = plan(&host, &default, 1);
    assert_eq!(report["proceeds"], false);
    assert_eq!(report["lockout"]["would_stop"], true);
    assert_eq!(
        report["lockout"]["stops"][0],
        "net.ipv6.conf.all.forwarding = 1 (this node routes IPv6, e.g. for its guests)"
    );
    // No ipv6-in-use.sh beside this profile.json: the embedded copy runs.
    assert_eq!(
        report["lockout"]["script"],
        "the copy built into this helper"
    );
    plan_text(&host, &default)
        .status(1)
        .stdout_contains("  - net.ipv6.conf.all.forwarding = 1")
        .stdout_contains("echo 'pve-tcp-hardening pve-tcp-hardening/ipv6-in-use-ok boolean true' | debconf-set-selections")
        .run();

    let ipv6 = extracted(&host, "ipv6");
    let report = plan(&host, &ipv6, 0);
    assert_eq!(report["lockout"]["checked"], false);
    assert_eq!(report["chrony"]["action"], "none");

    std::fs::create_dir_all(host.path("var/cache/debconf")).unwrap();
    std::fs::write(
        host.path("var/cache/debconf/config.dat"),
        "Name: pve-tcp-hardening/ipv6-in-use-ok\nTemplate: pve-tcp-hardening/ipv6-in-use-ok\nValue: true\nOwners: pve-tcp-hardening\nFlags: seen\n\n",
    )
    .unwrap();
    let report = plan(&host, &default, 0);
    assert_eq!(report["lockout"]["override_set"], true);
    assert_eq!(report["lockout"]["stops"].as_array().unwrap().len(), 1);
}

#[test]
fn the_guide_done_by_hand_is_reported_as_adopted() {
    let host = FakeHost::new();
    std::fs::copy(
        host.path("etc/default/chrony"),
        host.path("etc/default/chrony.orig"),
    )
    .unwrap();
    std::fs::write(host.path("etc/default/chrony"), "DAEMON_OPTS=\"-4 -F 1\"\n").unwrap();
    std::fs::write(
        host.path("etc/sysctl.d/80_tcp_hardening.conf"),
        "net.ipv4.tcp_sack = 1\nnet.ipv4.tcp_fin_timeout = 10\nnet.core.somaxconn = 1024\n",
    )
    .unwrap();
    let pkg = extracted(&host, "default");
    let report = plan(&host, &pkg, 0);
    let adopted = &report["adopted"];
    assert_eq!(adopted["chrony_backup"], "/etc/default/chrony.orig");
    assert_eq!(adopted["chrony_ipv4_only_by_hand"], true);
    let file = &adopted["sysctl_file"];
    assert_eq!(file["path"], "/etc/sysctl.d/80_tcp_hardening.conf");
    let differs = file["differs"].as_array().unwrap();
    let sack = differs
        .iter()
        .find(|d| d["key"] == "net.ipv4.tcp_sack")
        .unwrap();
    assert_eq!(
        (&sack["theirs"], &sack["ours"]),
        (&Value::from("1"), &Value::from("0"))
    );
    let somaxconn = differs
        .iter()
        .find(|d| d["key"] == "net.core.somaxconn")
        .unwrap();
    assert_eq!(somaxconn["ours"], Value::Null);
    assert!(
        !differs
            .iter()
            .any(|d| d["key"] == "net.ipv4.tcp_fin_timeout"),
        "same value is no difference: {file}"
    );
    // The package's file replaces the hand-made one at boot.
    assert_eq!(report_key(&report, "net.ipv4.tcp_sack")["after_boot"], "0");
}

/// `--deb`: the package is extracted with dpkg-deb into a temporary
/// directory; its profile, sysctl file and check script are used.
#[test]
fn a_deb_not_yet_installed() {
    let host = FakeHost::new();
    let profile_json = extracted(&host, "strict");
    let tree = host.path("pkg-strict");
    std::fs::copy(
        repo_root().join("src/ipv6-in-use.sh"),
        profile_json.with_file_name("ipv6-in-use.sh"),
    )
    .unwrap();
    std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    std::fs::write(
        tree.join("DEBIAN/control"),
        "Package: pve-tcp-hardening-strict\nVersion: 0.1.0-1\nArchitecture: all\nMaintainer: T <t@example.org>\nDescription: test\n",
    )
    .unwrap();
    let deb = host.path("strict.deb");
    let built = std::process::Command::new("dpkg-deb")
        .args(["--root-owner-group", "-b"])
        .arg(&tree)
        .arg(&deb)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    std::fs::remove_dir_all(&tree).unwrap();
    let out = Run::helper()
        .args(["plan", "--json", "--root"])
        .args([host.dir.path()])
        .args(["--proc"])
        .args([host.path("proc")])
        .args(["--deb"])
        .args([&deb])
        .run();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["package"], "pve-tcp-hardening-strict");
    assert!(
        report["lockout"]["script"]
            .as_str()
            .unwrap()
            .ends_with("/usr/share/pve-tcp-hardening/ipv6-in-use.sh"),
        "the package's own copy runs: {}",
        report["lockout"]
    );
    assert_eq!(
        report_key(&report, "net.ipv4.tcp_syncookies")["boot_winner"]["file"],
        "/etc/sysctl.d/80_tcp_hardening.conf"
    );
}

#[test]
fn on_pve9_a_key_kept_in_sysctl_conf_dpkg_bak_is_warned_about_before_the_install() {
    let host = FakeHost::pve9();
    std::fs::write(
        host.path("etc/sysctl.conf.dpkg-bak"),
        "net.ipv4.tcp_fin_timeout = 30\nnet.ipv4.tcp_rfc1337 = 1\n",
    )
    .unwrap();
    let pkg = extracted(&host, "default");
    let report = plan(&host, &pkg, 0);
    assert_eq!(report["release"]["codename"], "trixie");
    let abandoned = report["abandoned"].as_array().unwrap();
    assert_eq!(abandoned.len(), 2, "{abandoned:?}");
    assert_eq!(abandoned[0]["file"], "/etc/sysctl.conf.dpkg-bak");
    assert_eq!(abandoned[0]["boot"], "10");
    assert_eq!(abandoned[0]["lost"], true);
    assert_eq!(abandoned[1]["lost"], false);
    // 50-default.conf decides default.rp_filter at boot, with the profile's value.
    let rp = report_key(&report, "net.ipv4.conf.default.rp_filter");
    assert_eq!(rp["after_boot"], "2");
    assert_eq!(
        rp["boot_winner"]["file"],
        "/usr/lib/sysctl.d/50-default.conf"
    );
    plan_text(&host, &pkg)
        .stdout_contains("warning: net.ipv4.tcp_fin_timeout = 30 in /etc/sysctl.conf.dpkg-bak:1 is not applied at boot: dpkg kept your /etc/sysctl.conf under this name")
        .stdout_contains("info: net.ipv4.tcp_rfc1337 = 1 in /etc/sysctl.conf.dpkg-bak:2 is not applied at boot (")
        .stdout_contains("nothing stands in the way\n")
        .run();
}

#[test]
fn postfix_plan_says_what_the_install_changes_and_why() {
    let main_cf = "inet_interfaces = localhost\n";
    let host = FakeHost::new().with_postfix(main_cf);
    let default = extracted(&host, "default");
    let report = plan(&host, &default, 0);
    assert_eq!(report["postfix"]["installed"], true);
    assert_eq!(report["postfix"]["inet_protocols"], "all");
    assert_eq!(report["postfix"]["action"], "set-ipv4");
    plan_text(&host, &default)
        .stdout_contains("postfix: inet_protocols set to ipv4 (was all) in /etc/postfix/main.cf with postconf: with IPv6 off, postfix with inet_interfaces = localhost cannot start")
        .run();
    // plan only reads: postconf was only asked.
    assert_eq!(host.read("etc/postfix/main.cf"), main_cf);
    assert!(!host.postconf_log().contains("-e "));

    let ipv6 = extracted(&host, "ipv6");
    assert_eq!(plan(&host, &ipv6, 0)["postfix"]["action"], "none");

    let host = FakeHost::new().with_postfix("inet_protocols = ipv4, ipv6\n");
    let default = extracted(&host, "default");
    assert_eq!(
        plan(&host, &default, 0)["postfix"]["action"],
        "admin-choice"
    );

    let host = FakeHost::new();
    let default = extracted(&host, "default");
    let report = plan(&host, &default, 0);
    assert_eq!(report["postfix"]["installed"], false);
    assert_eq!(report["postfix"]["action"], "none");
}
