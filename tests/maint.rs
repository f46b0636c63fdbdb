//! The maintainer lifecycle on a fake host tree: the real helper binary with
//! `--root`/`--proc-root` pointing into a temp dir (dpkg-divert runs for real
//! with `--root`), and the shipped sh postrm with `DPKG_ROOT`. Nothing here
//! touches the machine's own /proc/sys or /etc.

mod common;

use common::fake_host::{catalog, profile, FakeHost};
use common::repo_root;
use pve_tcp_hardening::build::render::Renderer;
use pve_tcp_hardening::contract::Profile;
use std::process::Command;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn count_minus_four(chrony: &str) -> usize {
    chrony
        .lines()
        .filter(|l| l.starts_with("DAEMON_OPTS="))
        .map(|l| l.split(['"', ' ']).filter(|w| *w == "-4").count())
        .sum()
}

#[test]
fn first_install_snapshots_applies_diverts_and_announces() {
    let host = FakeHost::new();
    let stock_chrony = host.read("etc/default/chrony");
    let out = host.install(&profile("default"));
    let err = stderr(&out);
    assert!(
        err.contains("applied 16 settings from /etc/sysctl.d/80_tcp_hardening.conf"),
        "{err}"
    );

    for s in &profile("default").settings {
        assert_eq!(host.live(&s.key), s.value, "{} not applied", s.key);
    }
    let snapshot = host.read("var/lib/pve-tcp-hardening/snapshot.conf");
    assert!(
        snapshot.contains("net.ipv4.tcp_fin_timeout = 60\n"),
        "{snapshot}"
    );
    assert!(
        snapshot.contains("net.ipv6.conf.all.disable_ipv6 = 0\n"),
        "{snapshot}"
    );

    assert_eq!(host.read("etc/default/chrony.orig"), stock_chrony);
    let chrony = host.read("etc/default/chrony");
    assert!(chrony.contains("DAEMON_OPTS=\"-4 -F 1\"\n"), "{chrony}");
    assert_eq!(
        chrony.replace("-4 -F 1", "-F 1"),
        stock_chrony,
        "other bytes changed"
    );
    assert_eq!(
        host.diversions(),
        "diversion of /etc/default/chrony to /etc/default/chrony.orig by pve-tcp-hardening\n"
    );

    assert_eq!(host.read("run/reboot-required.pkgs"), "pve-tcp-hardening\n");
    assert!(host.path("run/reboot-required").is_file());
    assert!(err.contains("Reboot this node when convenient"), "{err}");
    let words = host.read("run/reboot-required");
    assert!(
        words.starts_with("*** System restart required ***\n")
            && words.contains("pve-tcp-hardening: Reboot this node when convenient"),
        "the same words as on stderr: {words}"
    );
}

#[test]
fn configure_twice_converges() {
    let host = FakeHost::new();
    host.install(&profile("default"));
    let snapshot = host.read("var/lib/pve-tcp-hardening/snapshot.conf");
    let chrony = host.read("etc/default/chrony");
    host.maint("postinst", &["configure", "0.1.0-1"]).run();
    host.maint("postinst", &["abort-upgrade", "0.1.0-1"]).run();
    assert_eq!(
        host.read("var/lib/pve-tcp-hardening/snapshot.conf"),
        snapshot
    );
    assert_eq!(host.read("etc/default/chrony"), chrony);
    assert_eq!(count_minus_four(&chrony), 1);
    assert_eq!(host.diversions().lines().count(), 1);
    assert_eq!(host.read("run/reboot-required.pkgs"), "pve-tcp-hardening\n");
}

#[test]
fn keys_missing_from_the_kernel_are_a_warning() {
    let host = FakeHost::new();
    std::fs::remove_dir_all(host.proc_root().join("net/ipv6")).unwrap();
    let out = host.install(&profile("default"));
    let err = stderr(&out);
    assert!(
        err.contains("skipped, not on this kernel: net.ipv6.conf.all.disable_ipv6, net.ipv6.conf.default.disable_ipv6"),
        "{err}"
    );
    assert!(err.contains("applied 14 settings"), "{err}");
    assert!(!host
        .read("var/lib/pve-tcp-hardening/snapshot.conf")
        .contains("ipv6"));
}

#[test]
fn chrony_installed_later_gets_minus_four_through_the_trigger() {
    let host = FakeHost::new();
    let stock = host.read("etc/default/chrony");
    std::fs::remove_file(host.path("etc/default/chrony")).unwrap();
    let out = host.install(&profile("default"));
    assert!(
        stderr(&out).contains("chrony is not installed"),
        "{}",
        stderr(&out)
    );
    assert!(!host.path("etc/default/chrony").exists());
    // dpkg unpacks chrony's conffile where the diversion sends it, then
    // runs our file trigger.
    std::fs::write(host.path("etc/default/chrony.orig"), &stock).unwrap();
    host.maint("postinst", &["triggered", "/etc/default/chrony.orig"])
        .run();
    assert_eq!(count_minus_four(&host.read("etc/default/chrony")), 1);
    assert_eq!(host.read("etc/default/chrony.orig"), stock);
}

#[test]
fn remove_gives_chrony_its_file_back_and_keeps_values() {
    let host = FakeHost::new();
    let stock = host.read("etc/default/chrony");
    host.install(&profile("default"));
    host.maint("prerm", &["remove"]).run();
    assert_eq!(host.read("etc/default/chrony"), stock);
    assert!(!host.path("etc/default/chrony.orig").exists());
    assert_eq!(host.diversions(), "");
    assert_eq!(
        host.live("net.ipv4.tcp_sack"),
        "0",
        "remove keeps values until purge"
    );
    host.maint("prerm", &["remove"]).run();
    assert_eq!(host.read("etc/default/chrony"), stock);
}

#[test]
fn admin_edited_chrony_file_is_kept_byte_for_byte() {
    let host = FakeHost::new();
    let edited = "# local tweaks\r\nexport  DAEMON_OPTS='-F 1 -r'   # keep -r\nOTHER=1\n";
    std::fs::write(host.path("etc/default/chrony"), edited).unwrap();
    host.install(&profile("default"));
    assert_eq!(
        host.read("etc/default/chrony"),
        "# local tweaks\r\nexport  DAEMON_OPTS='-4 -F 1 -r'   # keep -r\nOTHER=1\n"
    );
    host.maint("prerm", &["remove"]).run();
    assert_eq!(host.read("etc/default/chrony"), edited);
}

#[test]
fn switching_variants_leaves_exactly_the_new_profile() {
    let host = FakeHost::new();
    let stock = host.read("etc/default/chrony");
    host.install(&profile("stealth"));
    assert_eq!(host.live("net.ipv4.icmp_echo_ignore_all"), "1");
    assert_eq!(host.live("net.ipv4.ipfrag_high_thresh"), "262144");
    // apt: stealth's prerm remove, then default unpacked and configured.
    host.maint(
        "prerm",
        &["remove", "in-favour", "pve-tcp-hardening", "0.1.0-1"],
    )
    .run();
    host.install(&profile("default"));
    assert_eq!(
        host.live("net.ipv4.icmp_echo_ignore_all"),
        "0",
        "stealth-only key not restored"
    );
    assert_eq!(host.live("net.ipv4.tcp_syncookies"), "1");
    assert_eq!(host.live("net.ipv4.ipfrag_high_thresh"), "4194304");
    assert_eq!(host.live("net.ipv4.ipfrag_low_thresh"), "3145728");
    assert_eq!(host.live("net.ipv4.tcp_sack"), "0");
    assert!(
        host.diversions().ends_with("by pve-tcp-hardening\n"),
        "{}",
        host.diversions()
    );

    // To the ipv6 profile: IPv6 back on, chrony its own again.
    host.maint(
        "prerm",
        &["remove", "in-favour", "pve-tcp-hardening-ipv6", "0.1.0-1"],
    )
    .run();
    host.install(&profile("ipv6"));
    assert_eq!(host.live("net.ipv6.conf.all.disable_ipv6"), "0");
    assert_eq!(host.live("net.ipv6.conf.all.accept_source_route"), "-1");
    assert_eq!(host.read("etc/default/chrony"), stock);
    assert_eq!(host.diversions(), "");
    let snapshot = host.read("var/lib/pve-tcp-hardening/snapshot.conf");
    assert!(
        snapshot.contains("net.ipv4.icmp_echo_ignore_all = 0\n"),
        "first values kept: {snapshot}"
    );
}

#[test]
fn interrupted_configure_still_asked_for_the_reboot_and_converges() {
    let clean = FakeHost::new();
    clean.install(&profile("default"));
    let host = FakeHost::new();
    host.unpack(&profile("default"));
    // dpkg-divert fails: no dpkg admin dir. The values are applied by then.
    std::fs::remove_dir_all(host.path("var/lib/dpkg")).unwrap();
    host.maint("postinst", &["configure"]).status(2).run();
    assert_eq!(host.live("net.ipv4.tcp_sack"), "0");
    assert_eq!(host.read("run/reboot-required.pkgs"), "pve-tcp-hardening\n");
    // The admin fixes the cause; `dpkg --configure -a` runs configure again.
    std::fs::create_dir_all(host.path("var/lib/dpkg")).unwrap();
    host.maint("postinst", &["configure"]).run();
    for rel in [
        "var/lib/pve-tcp-hardening/snapshot.conf",
        "etc/default/chrony",
        "etc/default/chrony.orig",
        "run/reboot-required.pkgs",
    ] {
        assert_eq!(host.read(rel), clean.read(rel), "{rel}");
    }
    assert_eq!(host.diversions(), clean.diversions());
}

#[test]
fn a_pending_reboot_passes_to_the_variant_that_replaces_its_owner() {
    let host = FakeHost::new();
    std::fs::create_dir_all(host.path("run")).unwrap();
    std::fs::write(host.path("run/reboot-required.pkgs"), "linux-image-amd64\n").unwrap();
    host.install(&profile("default"));
    host.maint(
        "prerm",
        &[
            "remove",
            "in-favour",
            "pve-tcp-hardening-stealth",
            "0.1.0-1",
        ],
    )
    .run();
    host.install(&profile("stealth"));
    assert_eq!(
        host.read("run/reboot-required.pkgs"),
        "linux-image-amd64\npve-tcp-hardening-stealth\n"
    );
}

#[test]
fn no_reboot_asked_when_nothing_that_needs_one_changes() {
    let host = FakeHost::new();
    host.set_live("net.ipv6.conf.all.disable_ipv6", "1");
    host.set_live("net.ipv6.conf.default.disable_ipv6", "1");
    let out = host.install(&profile("default"));
    assert!(
        !host.path("run/reboot-required").exists(),
        "{}",
        stderr(&out)
    );
}

#[test]
fn later_sysctl_files_that_win_at_boot_are_named() {
    let host = FakeHost::new();
    std::fs::write(
        host.path("etc/sysctl.d/99-sysctl.conf"),
        "net.ipv4.tcp_sack = 1\n",
    )
    .unwrap();
    std::fs::write(
        host.path("etc/sysctl.d/pve.conf"),
        "net.ipv4.tcp_fin_timeout = 10\n",
    )
    .unwrap();
    let out = host.install(&profile("default"));
    let err = stderr(&out);
    assert!(
        err.contains("warning: at boot /etc/sysctl.d/99-sysctl.conf:1 sets 1 for net.ipv4.tcp_sack (this profile: 0)"),
        "{err}"
    );
    assert!(
        !err.contains("pve.conf"),
        "same value is no conflict: {err}"
    );
}

#[test]
fn unknown_actions_fail_and_say_which() {
    let host = FakeHost::new();
    host.unpack(&profile("default"));
    host.maint("postinst", &["bogus"])
        .status(2)
        .stderr_contains("postinst called with unknown argument `bogus`")
        .run();
}

/// A shipped maintainer script (`postrm`, `preinst`), rendered for `p`.
fn maint_script(name: &str, p: &Profile) -> String {
    let renderer =
        Renderer::load_with_debian(&repo_root().join("templates"), &repo_root().join("debian"))
            .unwrap();
    let mut context = tera::Context::new();
    context.insert("profile", p);
    renderer.render(name, &context).unwrap()
}

fn run_sh_script(host: &FakeHost, name: &str, p: &Profile, action: &str) -> std::process::Output {
    let script = host.path(name);
    std::fs::write(&script, maint_script(name, p)).unwrap();
    let out = Command::new("sh")
        .arg(&script)
        .arg(action)
        .env("DPKG_ROOT", host.dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    std::fs::remove_file(&script).unwrap();
    assert!(out.status.success(), "{name} {action}: {}", stderr(&out));
    out
}

fn run_postrm(host: &FakeHost, p: &Profile, action: &str) -> std::process::Output {
    run_sh_script(host, "postrm", p, action)
}

#[test]
fn purge_restores_every_saved_value_in_plain_sh() {
    let host = FakeHost::new();
    let before: Vec<(String, String)> = catalog()
        .keys
        .iter()
        .map(|k| (k.name.clone(), host.live(&k.name)))
        .collect();
    let p = profile("stealth");
    host.install(&p);
    host.maint("prerm", &["remove"]).run();
    let out = run_postrm(&host, &p, "purge");
    for (key, value) in &before {
        assert_eq!(&host.live(key), value, "{key} not restored");
    }
    assert!(!host.path("var/lib/pve-tcp-hardening").exists());
    assert!(stderr(&out).contains("IPv6 is back on"), "{}", stderr(&out));
}

#[test]
fn purge_without_state_does_nothing() {
    let host = FakeHost::new();
    run_postrm(&host, &profile("default"), "purge");
    run_postrm(&host, &profile("default"), "remove");
    assert_eq!(host.live("net.ipv4.tcp_sack"), "1");
}

/// install -> switch -> purge of real kernel values, in a private network
/// namespace. The kernel refuses ipfrag_low_thresh > ipfrag_high_thresh, so
/// this fails unless keys are applied low-first and restored high-first.
#[test]
fn lifecycle_on_a_real_kernel_in_a_private_network_namespace() {
    if let Err(why) = common::can_unshare() {
        eprintln!("SKIPPED: lifecycle_on_a_real_kernel_in_a_private_network_namespace: {why}");
        return;
    }
    let host = FakeHost::new();
    std::fs::remove_dir_all(host.path("proc")).unwrap();
    std::os::unix::fs::symlink("/proc", host.path("proc")).unwrap();
    let strict = profile("strict");
    let keys: Vec<String> = catalog().keys.iter().map(|k| k.name.clone()).collect();
    let dump = format!(
        "for k in {}; do printf '%s=' $k; cat /proc/sys/$(echo $k | tr . /); done",
        keys.join(" ")
    );
    host.unpack(&strict);
    std::fs::write(host.path("postrm"), maint_script("postrm", &strict)).unwrap();
    let helper = env!("CARGO_BIN_EXE_pve-tcp-hardening");
    let root = host.dir.path().display().to_string();
    let maint = format!("{helper} maint --root {root} --proc-root /proc/sys");
    let script = format!(
        "set -e\n{dump} > {root}/before\n\
         {maint} postinst configure\n{dump} > {root}/installed\n\
         {maint} prerm remove\nDPKG_ROOT={root} sh {root}/postrm purge\n{dump} > {root}/after\n"
    );
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "lifecycle failed: {}", stderr(&out));
    let installed = host.read("installed");
    for s in &strict.settings {
        assert!(
            installed.contains(&format!("{}={}\n", s.key, s.value)),
            "{} not live:\n{installed}",
            s.key
        );
    }
    assert_eq!(
        host.read("after"),
        host.read("before"),
        "purge did not restore every value"
    );
    assert!(
        !stderr(&out).contains("could not restore"),
        "{}",
        stderr(&out)
    );
}

/// The guide's hand-made sysctl file (its text, as an admin types it).
const GUIDE_SYSCTL: &str = "\
net.ipv6.conf.all.disable_ipv6 = 1
net.ipv6.conf.default.disable_ipv6 = 1
net.ipv4.tcp_fin_timeout = 10
net.ipv4.conf.default.rp_filter = 2
net.ipv4.conf.default.accept_source_route = 0
net.ipv4.conf.all.send_redirects = 0
net.ipv4.conf.default.send_redirects = 0
net.ipv4.conf.all.accept_redirects = 0
net.ipv4.conf.default.accept_redirects = 0
net.ipv4.conf.all.secure_redirects = 0
net.ipv4.conf.default.secure_redirects = 0
net.ipv4.tcp_rfc1337 = 1
net.ipv4.tcp_syn_retries = 2
net.ipv4.tcp_synack_retries = 2
net.ipv4.tcp_orphan_retries = 2
net.ipv4.tcp_sack = 0
";

/// What dpkg does around our scripts on a first install: preinst, unpack,
/// postinst configure.
fn install_with_preinst(host: &FakeHost, p: &Profile) -> std::process::Output {
    run_sh_script(host, "preinst", p, "install");
    host.install(p)
}

/// Issue 15: the guide done by hand (its sysctl file, edited; its chrony
/// backup; -4 already in DAEMON_OPTS). Install adopts both files, says
/// where and which keys differed; purge puts every byte back.
#[test]
fn a_hand_hardened_host_is_adopted_and_purge_gives_it_back() {
    let host = FakeHost::new();
    let stock = host.read("etc/default/chrony");
    let hand_made = GUIDE_SYSCTL
        .replace("tcp_fin_timeout = 10", "tcp_fin_timeout = 15")
        .replace("net.ipv4.tcp_sack = 0\n", "net.ipv4.tcp_syncookies = 1\n");
    std::fs::write(host.path("etc/sysctl.d/80_tcp_hardening.conf"), &hand_made).unwrap();
    std::fs::write(host.path("etc/default/chrony.orig"), &stock).unwrap();
    let with_minus_four = stock.replace("DAEMON_OPTS=\"-F 1\"", "DAEMON_OPTS=\"-4 -F 1\"");
    assert_ne!(with_minus_four, stock);
    std::fs::write(host.path("etc/default/chrony"), &with_minus_four).unwrap();

    let p = profile("default");
    let out = install_with_preinst(&host, &p);
    let err = stderr(&out);
    let kept = "/var/lib/pve-tcp-hardening/adopted";
    assert!(
        err.contains(&format!("your own /etc/sysctl.d/80_tcp_hardening.conf (there before this package) is kept as {kept}/etc/sysctl.d/80_tcp_hardening.conf")),
        "{err}"
    );
    assert!(
        err.contains("it differed from this profile in: net.ipv4.tcp_fin_timeout (15, profile 10), net.ipv4.tcp_sack (not set, profile 0), net.ipv4.tcp_syncookies (1, not in the profile)"),
        "{err}"
    );
    assert!(
        err.contains(&format!("your own /etc/default/chrony.orig (there before this package) is kept as {kept}/etc/default/chrony.orig")),
        "{err}"
    );
    assert!(err.contains("chronyd was IPv4-only already"), "{err}");
    assert!(!err.contains("-4 added"), "{err}");
    // As on a pristine host: our file, -4 once, the diversion.
    assert_ne!(host.read("etc/sysctl.d/80_tcp_hardening.conf"), hand_made);
    assert_eq!(count_minus_four(&host.read("etc/default/chrony")), 1);
    assert_eq!(host.read("etc/default/chrony.orig"), with_minus_four);
    assert_eq!(host.diversions().lines().count(), 1);
    assert_eq!(host.read(&format!("{kept}/etc/default/chrony.orig")), stock);

    host.maint("prerm", &["remove"]).run();
    std::fs::remove_file(host.path("etc/sysctl.d/80_tcp_hardening.conf")).unwrap();
    let out = run_postrm(&host, &p, "purge");
    assert!(
        stderr(&out).contains("your own /etc/sysctl.d/80_tcp_hardening.conf is back"),
        "{}",
        stderr(&out)
    );
    assert_eq!(host.read("etc/sysctl.d/80_tcp_hardening.conf"), hand_made);
    assert_eq!(host.read("etc/default/chrony.orig"), stock);
    assert_eq!(host.read("etc/default/chrony"), with_minus_four);
    assert_eq!(host.diversions(), "");
    assert!(!host.path("var/lib/pve-tcp-hardening").exists());
}

/// A failed first install (abort-install) gives the admin's file back too.
#[test]
fn abort_install_puts_the_adopted_sysctl_file_back() {
    let host = FakeHost::new();
    std::fs::write(
        host.path("etc/sysctl.d/80_tcp_hardening.conf"),
        GUIDE_SYSCTL,
    )
    .unwrap();
    let p = profile("default");
    run_sh_script(&host, "preinst", &p, "install");
    assert!(!host.path("etc/sysctl.d/80_tcp_hardening.conf").exists());
    run_postrm(&host, &p, "abort-install");
    assert_eq!(
        host.read("etc/sysctl.d/80_tcp_hardening.conf"),
        GUIDE_SYSCTL
    );
    assert!(!host.path("var/lib/pve-tcp-hardening").exists());
}

/// An earlier kept file is never overwritten: the install stops instead.
#[test]
fn a_second_hand_made_file_stops_preinst_and_loses_nothing() {
    let host = FakeHost::new();
    let kept = host.path("var/lib/pve-tcp-hardening/adopted/etc/sysctl.d/80_tcp_hardening.conf");
    std::fs::create_dir_all(kept.parent().unwrap()).unwrap();
    std::fs::write(&kept, "first\n").unwrap();
    std::fs::write(host.path("etc/sysctl.d/80_tcp_hardening.conf"), "second\n").unwrap();
    let script = host.path("preinst");
    std::fs::write(&script, maint_script("preinst", &profile("default"))).unwrap();
    let out = Command::new("sh")
        .arg(&script)
        .arg("install")
        .env("DPKG_ROOT", host.dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already keeps an earlier one"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "first\n");
    assert_eq!(host.read("etc/sysctl.d/80_tcp_hardening.conf"), "second\n");
}

/// The debconf note's text goes to stdout (for postinst) only on a
/// terminal, only on a first install or a switch, and only when non-
/// interactive was not asked for. `script` gives the helper a terminal.
#[test]
fn the_note_is_handed_over_only_on_a_terminal_on_first_install_and_switch() {
    assert!(
        Command::new("script").arg("--version").output().is_ok(),
        "util-linux `script` is needed for this test"
    );
    let on_terminal = |host: &FakeHost, frontend: &str, args: &[&str]| -> String {
        let helper = std::path::Path::new(env!("CARGO_BIN_EXE_pve-tcp-hardening"));
        let mut line = format!(
            "DEBIAN_FRONTEND={frontend} '{}' maint --root '{}' --proc-root '{}' postinst",
            helper.display(),
            host.dir.path().display(),
            host.proc_root().display()
        );
        for a in args {
            line.push_str(&format!(" '{a}'"));
        }
        // The note alone in a file; messages (stderr) stay out of it.
        let note = host.path("note.out");
        line.push_str(&format!(" 2>/dev/null >'{}'", note.display()));
        let out = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        std::fs::read_to_string(note).unwrap()
    };
    let host = FakeHost::new();
    host.unpack(&profile("default"));
    let first = on_terminal(&host, "dialog", &["configure"]);
    assert!(first.contains("IPv6 is off now"), "{first:?}");
    assert!(
        first.contains("\\n\\n") && first.trim_end().lines().count() == 1,
        "{first:?}"
    );
    assert_eq!(
        on_terminal(&host, "dialog", &["configure", "0.1.0-1"]),
        "",
        "reconfigure"
    );

    host.unpack(&profile("strict"));
    let switched = on_terminal(&host, "noninteractive", &["configure"]);
    assert_eq!(switched, "", "noninteractive never gets a note");
    let host = FakeHost::new();
    host.install(&profile("default"));
    host.unpack(&profile("ipv6"));
    let switched = on_terminal(&host, "dialog", &["configure"]);
    assert!(switched.contains("IPv6 is on again"), "{switched:?}");
}

/// No chrony on the host: install, switch to the IPv6 profile and remove
/// say nothing of chrony (issue 15: every message true of this host).
#[test]
fn without_chrony_no_word_of_chrony_after_the_install() {
    let host = FakeHost::new();
    std::fs::remove_file(host.path("etc/default/chrony")).unwrap();
    host.install(&profile("default"));
    let switched = host.install(&profile("ipv6"));
    assert!(
        !stderr(&switched).contains("chrony"),
        "{}",
        stderr(&switched)
    );
    let words = host.read("run/reboot-required");
    assert!(!words.contains("chrony"), "{words}");
    host.install(&profile("default"));
    let removed = host.maint("prerm", &["remove"]).run();
    assert!(!stderr(&removed).contains("chrony"), "{}", stderr(&removed));
    assert_eq!(host.diversions(), "");
}
