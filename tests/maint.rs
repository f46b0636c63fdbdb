//! The maintainer lifecycle on a fake host tree: the real helper binary with
//! `--root`/`--proc-root` pointing into a temp dir (dpkg-divert runs for real
//! with `--root`), and the shipped sh postrm with `DPKG_ROOT`. Nothing here
//! touches the machine's own /proc/sys or /etc.

mod common;

use common::fake_host::{catalog, profile, FakeHost};
use common::gate;
use common::{assert_contains, assert_lacks, repo_root, tree};
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
    // Keys as /proc/sys paths, last applied first: a sysctl file purge
    // (and `sysctl -p`) writes back from the top.
    let snapshot = host.read("var/lib/pve-tcp-hardening/snapshot.conf");
    assert!(
        snapshot.contains("net/ipv4/tcp_fin_timeout = 60\n"),
        "{snapshot}"
    );
    let restore = host.read("var/lib/pve-tcp-hardening/restore.conf");
    let fin = restore.find("net/ipv4/tcp_fin_timeout = 60\n");
    let ipv6 = restore.find("net/ipv6/conf/all/disable_ipv6 = 0\n");
    assert!(
        fin.is_some() && ipv6.is_some() && fin < ipv6,
        "written back last applied first: {restore}"
    );
    assert!(host
        .path("var/lib/pve-tcp-hardening/reboot-after-purge")
        .exists());

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
    host.proc.remove("net/ipv6");
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
    assert_eq!(host.live("net.ipv6.conf.all.accept_source_route"), "0");
    assert_eq!(host.read("etc/default/chrony"), stock);
    assert_eq!(host.diversions(), "");
    let snapshot = host.read("var/lib/pve-tcp-hardening/snapshot.conf");
    assert!(
        snapshot.contains("net/ipv4/icmp_echo_ignore_all = 0\n"),
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
    assert_contains(&err, "warning: at boot /etc/sysctl.d/99-sysctl.conf:1 sets 1 for net.ipv4.tcp_sack (this profile: 0)");
    assert_lacks(&err, "pve.conf", "same value is no conflict");
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
    let context = pve_tcp_hardening::build::package::maintainer_script_context(p).unwrap();
    renderer.render(name, &context).unwrap()
}

fn run_sh_script(host: &FakeHost, name: &str, p: &Profile, action: &str) -> std::process::Output {
    let script = host.path(name);
    std::fs::write(&script, maint_script(name, p)).unwrap();
    let out = Command::new("sh")
        .arg(&script)
        .arg(action)
        .env("DPKG_ROOT", host.dir.path())
        // The fake root stands in for the running host's files and values,
        // as in the e2e chroots; preinst's IPv6 lockout check, which reads
        // this machine's network, stays off (an image build for it).
        .env(
            "PVE_TCP_HARDENING_APPLY_IN_CHROOT",
            if name == "preinst" { "0" } else { "1" },
        )
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
    if gate::skipped(gate::NET_NAMESPACE) {
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
         {maint} prerm remove\nDPKG_ROOT={root} PVE_TCP_HARDENING_APPLY_IN_CHROOT=1 sh {root}/postrm purge\n{dump} > {root}/after\n"
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

// ---- partial failures, image builds, read-only /proc/sys, lost state ----

const UNEDITABLE_CHRONY: &str = "DAEMON_OPTS=\"-F 1 \\\n  -r\"\n";

#[test]
fn chrony_file_we_cannot_edit_changes_nothing() {
    let host = FakeHost::new();
    std::fs::write(host.path("etc/default/chrony"), UNEDITABLE_CHRONY).unwrap();
    host.unpack(&profile("default"));
    host.maint("postinst", &["configure"])
        .status(2)
        .stderr_contains("line 1: cannot add -4")
        .stderr_contains("nothing was changed")
        .run();
    assert_eq!(host.read("etc/default/chrony"), UNEDITABLE_CHRONY);
    assert!(!host.path("etc/default/chrony.orig").exists());
    assert_eq!(host.diversions(), "");
    assert_eq!(host.live("net.ipv4.tcp_sack"), "1", "values changed");
    assert!(!host.path("var/lib/pve-tcp-hardening").exists());
    assert!(!host.path("run/reboot-required").exists());
}

#[test]
fn chrony_trigger_with_a_file_we_cannot_edit_changes_nothing() {
    let host = FakeHost::new();
    host.install(&profile("default"));
    let generated = host.read("etc/default/chrony");
    // A chrony upgrade writes a new conffile where the diversion sends it.
    std::fs::write(host.path("etc/default/chrony.orig"), UNEDITABLE_CHRONY).unwrap();
    host.maint("postinst", &["triggered", "/etc/default/chrony.orig"])
        .status(2)
        .stderr_contains("cannot add -4")
        .run();
    assert_eq!(host.read("etc/default/chrony"), generated);
    assert_eq!(host.read("etc/default/chrony.orig"), UNEDITABLE_CHRONY);
    assert_eq!(host.diversions().lines().count(), 1);

    // No diversion yet (chrony unpacked before we diverted): its conffile is
    // at the real path and the trigger on /etc/default/chrony fires.
    host.maint("prerm", &["remove"]).run();
    std::fs::write(host.path("etc/default/chrony"), UNEDITABLE_CHRONY).unwrap();
    host.maint("postinst", &["triggered", "/etc/default/chrony"])
        .status(2)
        .stderr_contains("cannot add -4")
        .run();
    assert_eq!(host.read("etc/default/chrony"), UNEDITABLE_CHRONY);
    assert!(!host.path("etc/default/chrony.orig").exists());
    assert_eq!(host.diversions(), "");
}

#[test]
fn an_unreadable_sysctl_d_file_is_a_warning_not_a_failed_install() {
    let host = FakeHost::new();
    // A link through a regular file: inspecting it fails (ENOTDIR).
    std::fs::write(host.path("etc/hostname"), "pve1\n").unwrap();
    std::os::unix::fs::symlink("/etc/hostname/x", host.path("etc/sysctl.d/90-broken.conf"))
        .unwrap();
    let out = host.install(&profile("default"));
    let err = stderr(&out);
    // systemd-sysctl skips it at boot ("Failed to open ..., ignoring").
    assert!(
        err.contains("warning: /etc/sysctl.d/90-broken.conf cannot be read (Not a directory (os error 20)): skipped, as systemd-sysctl and `sysctl --system` skip it"),
        "{err}"
    );
    assert_eq!(host.live("net.ipv4.tcp_sack"), "0");
    assert_eq!(count_minus_four(&host.read("etc/default/chrony")), 1);
}

#[test]
fn image_build_applies_nothing_and_says_the_file_waits_for_boot() {
    let host = FakeHost::new();
    host.unpack(&profile("default"));
    let out = host
        .maint("postinst", &["configure"])
        .env("DPKG_ROOT", &host.dir.path().display().to_string())
        .stderr_contains("installing into a chroot or image (DPKG_ROOT is set)")
        .stderr_contains(
            "/etc/sysctl.d/80_tcp_hardening.conf takes effect when the system it is installed in boots",
        )
        .run();
    assert_eq!(host.live("net.ipv4.tcp_sack"), "1", "{}", stderr(&out));
    assert_eq!(host.live("net.ipv6.conf.all.disable_ipv6"), "0");
    assert!(!host.path("run/reboot-required").exists());
    assert!(!host
        .path("var/lib/pve-tcp-hardening/snapshot.conf")
        .exists());
    // The files are in place for the first boot.
    assert_eq!(count_minus_four(&host.read("etc/default/chrony")), 1);
    assert!(host.diversions().contains("by pve-tcp-hardening"));
}

#[test]
fn read_only_proc_sys_installs_and_says_nothing_was_applied() {
    if common::gate::skipped(&[common::gate::Need::Root, common::gate::Need::MountNamespace]) {
        return;
    }
    let host = FakeHost::new();
    host.unpack(&profile("default"));
    let helper = env!("CARGO_BIN_EXE_pve-tcp-hardening");
    let root = host.dir.path().display().to_string();
    let proc = host.proc_root().display().to_string();
    // A read-only bind mount in a private mount namespace: writes get EROFS,
    // as in an LXC container.
    let script = format!(
        "set -e\nmount --bind {proc} {proc}\nmount -o remount,bind,ro {proc}\n\
         {helper} maint --root {root} --proc-root {proc} postinst configure\n"
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "install failed: {err}");
    assert!(
        err.contains("/proc/sys is read-only here (a container or a locked-down host): no value could be applied now"),
        "{err}"
    );
    assert!(err.contains("At boot systemd-sysctl applies"), "{err}");
    assert!(!err.contains("reboot required"), "{err}");
    assert!(!err.contains("applied 16 settings"), "{err}");
    assert!(!host.path("run/reboot-required").exists());
    assert!(!host.path("run/reboot-required.pkgs").exists());
    assert_eq!(host.live("net.ipv4.tcp_sack"), "1");
    assert_eq!(count_minus_four(&host.read("etc/default/chrony")), 1);
}

#[test]
fn purge_with_the_snapshot_lost_completes_and_names_the_keys_left_hardened() {
    let host = FakeHost::new();
    let p = profile("default");
    host.install(&p);
    std::fs::remove_dir_all(host.path("var/lib/pve-tcp-hardening")).unwrap();
    host.maint("prerm", &["remove"]).run();
    let out = run_postrm(&host, &p, "purge");
    let err = stderr(&out);
    assert!(
        err.contains("these keep this profile's values until the next boot:"),
        "{err}"
    );
    for key in ["net/ipv4/tcp_sack", "net/ipv6/conf/all/disable_ipv6"] {
        assert!(err.contains(key), "{key} not named: {err}");
    }
    assert!(!host.path("var/lib/pve-tcp-hardening").exists());
}

const RESTORE_FILE: &str = "var/lib/pve-tcp-hardening/restore.conf";

#[test]
fn purge_with_a_damaged_snapshot_restores_what_it_can_and_keeps_the_file() {
    let host = FakeHost::new();
    let p = profile("default");
    host.install(&p);
    // One truncated line, one key whose write fails (a directory).
    let damaged = host.read(RESTORE_FILE).replace(
        "net/ipv4/tcp_fin_timeout = 60\n",
        "net/ipv4/tcp_fin_timeo\n",
    ) + "net/ipv4/conf = 1\n";
    std::fs::write(host.path(RESTORE_FILE), &damaged).unwrap();
    host.maint("prerm", &["remove"]).run();
    let out = run_postrm(&host, &p, "purge");
    let err = stderr(&out);
    assert_eq!(host.live("net.ipv4.tcp_sack"), "1", "{err}");
    assert!(err.contains("could not restore: net/ipv4/conf;"), "{err}");
    assert!(
        err.contains(&format!(
            "kept {}/{RESTORE_FILE}",
            host.dir.path().display()
        )),
        "{err}"
    );
    assert_eq!(
        host.read(RESTORE_FILE),
        damaged,
        "the file pointed at is gone"
    );
    let lost = err.split("until the next boot:").nth(1).unwrap_or_default();
    assert!(lost.contains(" net/ipv4/tcp_fin_timeout"), "{err}");
    assert!(!lost.contains("tcp_sack"), "{err}");
}

#[test]
fn purge_with_a_cut_short_snapshot_restores_its_lines_and_names_the_rest() {
    let host = FakeHost::new();
    let p = profile("default");
    host.install(&p);
    let text = host.read(RESTORE_FILE);
    let cut = &text[..text.find("net/ipv4/tcp_sack").expect("tcp_sack saved")];
    std::fs::write(host.path(RESTORE_FILE), cut).unwrap();
    host.maint("prerm", &["remove"]).run();
    let out = run_postrm(&host, &p, "purge");
    let err = stderr(&out);
    assert_eq!(host.live("net.ipv4.tcp_sack"), "0", "{err}");
    assert_eq!(host.live("net.ipv6.conf.all.disable_ipv6"), "1", "{err}");
    // Last applied first: the keys before tcp_sack in the file are back.
    assert_eq!(
        host.live("net.ipv4.conf.all.accept_redirects"),
        "1",
        "{err}"
    );
    let lost = err.split("until the next boot:").nth(1).unwrap_or_default();
    assert!(lost.contains(" net/ipv4/tcp_sack"), "{err}");
    assert!(lost.contains(" net/ipv6/conf/all/disable_ipv6"), "{err}");
    assert!(!lost.contains("all/accept_redirects"), "{err}");
    assert!(!host.path("var/lib/pve-tcp-hardening").exists());
}

#[test]
fn reinstall_never_records_hardened_values_as_before() {
    // Removed, not purged: the snapshot stays and is still the truth.
    let host = FakeHost::new();
    host.install(&profile("default"));
    let snapshot = host.read("var/lib/pve-tcp-hardening/snapshot.conf");
    host.maint("prerm", &["remove"]).run();
    host.maint("postinst", &["configure", "0.1.0-1"]).run();
    assert_eq!(
        host.read("var/lib/pve-tcp-hardening/snapshot.conf"),
        snapshot
    );

    // The snapshot lost while the sysctl file is in force.
    std::fs::remove_dir_all(host.path("var/lib/pve-tcp-hardening")).unwrap();
    host.set_live("net.ipv4.tcp_fin_timeout", "45");
    let out = host
        .maint("postinst", &["configure", "0.1.0-1"])
        .stderr_contains("the values saved before the first install are lost")
        .run();
    let saved = host.read("var/lib/pve-tcp-hardening/snapshot.conf");
    assert!(
        !saved.contains("net/ipv4/tcp_sack"),
        "hardened value recorded as before: {saved}\n{}",
        stderr(&out)
    );
    assert!(saved.contains("net/ipv4/tcp_fin_timeout = 45\n"), "{saved}");

    // Purge writes back what was saved and names what was not.
    host.maint("prerm", &["remove"]).run();
    let out = run_postrm(&host, &profile("default"), "purge");
    let err = stderr(&out);
    assert_eq!(host.live("net.ipv4.tcp_fin_timeout"), "45", "{err}");
    assert_eq!(host.live("net.ipv4.tcp_sack"), "0", "{err}");
    let lost = err
        .split("until the next boot:")
        .nth(1)
        .unwrap_or_else(|| panic!("no key named: {err}"));
    assert!(lost.contains(" net/ipv4/tcp_sack"), "{err}");
    assert!(!lost.contains("tcp_fin_timeout"), "{err}");
}

#[test]
fn snapshot_never_reads_outside_proc_sys() {
    let host = FakeHost::new();
    let p = profile("default");
    host.unpack(&p);
    // proc root is <root>/proc/sys: this key would reach <root>/etc/shadow.
    std::fs::write(host.path("etc/shadow"), "root:SECRET-HASH:19000::::::\n").unwrap();
    let conf = "etc/sysctl.d/80_tcp_hardening.conf";
    let text = host.read(conf) + "net/../../../etc/shadow = 1\n";
    std::fs::write(host.path(conf), text).unwrap();
    // The key is refused as procps refuses it, and only that.
    host.maint("postinst", &["configure"])
        .stderr_contains("sysctl: Path is not under /proc/sys/: /proc/sys/net/../../../etc/shadow")
        .stderr_contains("1 refused by the kernel")
        .run();
    let saved = host.read("var/lib/pve-tcp-hardening/snapshot.conf");
    assert!(!saved.contains("SECRET"), "{saved}");
    assert!(!saved.contains("shadow"), "{saved}");
}

/// Restore files for the differential test: whole ones, and every kind of
/// damage postrm's loop must treat as the helper's `restore_lines` does.
const RESTORE_CASES: &[(&str, &str)] = &[
    (
        "whole",
        "# header\nnet/ipv4/conf/vmbr0.100/rp_filter = 2\nnet/ipv4/tcp_rmem = 4096\t131072\t6291456\n\
         net/ipv4/conf/bond0.20.30/accept_redirects = 1\nnet/ipv4/tcp_sack = 1\n\
         net/ipv6/conf/eth9/accept_ra = 1\nnet/ipv6/conf/all/disable_ipv6 = 0\n# end\n",
    ),
    (
        "damaged",
        "net/ipv4/tcp_fin_timeo\nnet/ipv4/conf = 1\n\nnet/../../etc/shadow = x\nnet/../net/ipv4/tcp_sack = 5\n\
         net/ipv4/tcp_syn_retries =  7 = 8 \n; not a comment for us\n# end\n",
    ),
    (
        "cut short",
        "net/ipv4/tcp_sack = 1\nnet/ipv4/tcp_fin_timeout = 60\nnet/ipv6/conf/all/disa",
    ),
    ("end in the middle", "# end\nnet/ipv4/tcp_sack = 1\n"),
    ("empty", ""),
    ("only the end", "# end\n"),
];

/// The words after `marker` on its line in `err`, up to `end`.
fn named_after(err: &str, marker: &str, end: char) -> Vec<String> {
    err.lines()
        .find_map(|l| l.split_once(marker))
        .map(|(_, rest)| {
            rest.split(end)
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// postrm's loop (sh) is the mechanical image of the helper's restore rule
/// (Rust, `state::restore_lines` and `Restored::lost`): on the same restore
/// file and the same proc tree, both leave the same values and name the
/// same failed and lost keys.
#[test]
fn postrm_restores_exactly_as_the_helper_does() {
    use pve_tcp_hardening::host::state::restore_lines;
    use pve_tcp_hardening::host::sysctl::parse::key_to_relative_path;
    let p = profile("default");
    let profile_paths: Vec<String> = p
        .settings
        .iter()
        .map(|s| key_to_relative_path(&s.key))
        .collect();
    for unsaved in [None, Some(" net/ipv4/tcp_rfc1337\n")] {
        for (name, text) in RESTORE_CASES {
            let hosts = [FakeHost::new(), FakeHost::new()];
            for host in &hosts {
                for rel in [
                    "net/ipv4/conf/vmbr0.100/rp_filter",
                    "net/ipv4/conf/bond0.20.30/accept_redirects",
                    "net/ipv4/tcp_rmem",
                ] {
                    let path = host.proc_root().join(rel);
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    std::fs::write(&path, "hardened\n").unwrap();
                }
                std::fs::write(host.path("etc/shadow"), "root:SECRET\n").unwrap();
            }
            let [by_helper, by_postrm] = &hosts;
            let done = restore_lines(text, &by_helper.proc_root());
            let unsaved_paths: Vec<String> = unsaved
                .map(|u| u.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default();
            let lost = done.lost(&profile_paths, &unsaved_paths);

            let state = by_postrm.path("var/lib/pve-tcp-hardening");
            std::fs::create_dir_all(&state).unwrap();
            std::fs::write(state.join("restore.conf"), text).unwrap();
            if let Some(u) = unsaved {
                std::fs::write(state.join("unsaved"), u).unwrap();
            }
            let out = run_postrm(by_postrm, &p, "purge");
            let err = stderr(&out);

            let case = format!("case {name:?}, unsaved {unsaved:?}:\n{err}");
            assert_eq!(
                tree(&by_postrm.proc_root()),
                tree(&by_helper.proc_root()),
                "{case}"
            );
            assert_eq!(by_postrm.read("etc/shadow"), "root:SECRET\n", "{case}");
            let failed: Vec<String> = done.failed.iter().map(|(p, _)| p.clone()).collect();
            assert_eq!(
                named_after(&err, "could not restore:", ';'),
                failed,
                "{case}"
            );
            assert_eq!(
                named_after(&err, "until the next boot:", '\n'),
                lost,
                "{case}"
            );
            assert_eq!(state.exists(), !failed.is_empty(), "{case}");
        }
    }
}

/// A snapshot written by 0.1.0 (dotted keys, first applied first, no
/// restore file) is converted by the next configure, which postinst runs
/// before any purge can: the purge then writes its values back.
#[test]
fn a_snapshot_from_0_1_0_is_converted_and_restores() {
    let host = FakeHost::new();
    let p = profile("default");
    host.install(&p);
    let state = "var/lib/pve-tcp-hardening";
    std::fs::remove_dir_all(host.path(state)).unwrap();
    std::fs::create_dir_all(host.path(state)).unwrap();
    std::fs::write(
        host.path(&format!("{state}/configured-by")),
        "pve-tcp-hardening\n",
    )
    .unwrap();
    let old = "\
# Values of the keys pve-tcp-hardening changes, as they were before it was
# first installed. Written by the package; purging it writes them back.
net.ipv6.conf.all.disable_ipv6 = 0
net.ipv4.tcp_fin_timeout = 60
net.ipv4.tcp_sack = 1
net.ipv4.conf.vmbr0/100.rp_filter = 2
";
    let vlan = host.proc_root().join("net/ipv4/conf/vmbr0.100/rp_filter");
    std::fs::create_dir_all(vlan.parent().unwrap()).unwrap();
    std::fs::write(&vlan, "1\n").unwrap();
    std::fs::write(host.path(&format!("{state}/snapshot.conf")), old).unwrap();

    host.maint("postinst", &["configure", "0.1.0-1"]).run();
    let snapshot = host.read(&format!("{state}/snapshot.conf"));
    let order: Vec<&str> = snapshot
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(" = ").next().unwrap())
        .collect();
    assert_eq!(
        &order[order.len() - 4..],
        [
            "net/ipv4/conf/vmbr0.100/rp_filter",
            "net/ipv4/tcp_sack",
            "net/ipv4/tcp_fin_timeout",
            "net/ipv6/conf/all/disable_ipv6"
        ],
        "{snapshot}"
    );
    // A key of the old snapshot this profile does not set is back already.
    assert_eq!(std::fs::read_to_string(&vlan).unwrap(), "2\n");
    std::fs::write(&vlan, "1\n").unwrap();

    host.maint("prerm", &["remove"]).run();
    let out = run_postrm(&host, &p, "purge");
    let err = stderr(&out);
    assert_eq!(host.live("net.ipv4.tcp_sack"), "1", "{err}");
    assert_eq!(host.live("net.ipv4.tcp_fin_timeout"), "60", "{err}");
    assert_eq!(host.live("net.ipv6.conf.all.disable_ipv6"), "0", "{err}");
    assert_eq!(
        std::fs::read_to_string(&vlan).unwrap(),
        "1\n",
        "not ours to write: {err}"
    );
    assert!(err.contains("IPv6 is back on"), "{err}");
    assert!(!host.path(state).exists(), "{err}");
}

/// dpkg's database under the fake root: chrony gone (purged), as dpkg-query
/// then reports it ("no packages found matching chrony").
fn chrony_purged_from_dpkg(host: &FakeHost) {
    host.dpkg_status(None);
}

#[test]
fn chrony_purged_while_diverted_leaves_no_file_that_no_package_owns() {
    let host = FakeHost::new();
    let p = profile("default");
    host.install(&p);
    // `apt purge chrony`: dpkg deletes neither the diverted conffile nor ours.
    chrony_purged_from_dpkg(&host);
    host.maint("prerm", &["remove"])
        .stderr_contains("chrony was purged: deleted the /etc/default/chrony and /etc/default/chrony.orig it left behind")
        .run();
    assert!(!host.path("etc/default/chrony").exists());
    assert!(!host.path("etc/default/chrony.orig").exists());
    assert_eq!(host.diversions(), "");
    run_postrm(&host, &p, "purge");
    assert!(!host.path("etc/default/chrony").exists());
}

#[test]
fn chrony_removed_not_purged_gets_its_conffile_back() {
    let host = FakeHost::new();
    let stock = host.read("etc/default/chrony");
    host.install(&profile("default"));
    host.dpkg_status(Some("deinstall ok config-files"));
    host.maint("prerm", &["remove"]).run();
    assert_eq!(host.read("etc/default/chrony"), stock);
    assert_eq!(host.diversions(), "");
}

/// The keys postrm names when the restore file is lost are the profile's,
/// mapped to paths as the helper maps them (the template swaps no `/`:
/// profile keys are plain dotted names).
#[test]
fn postrm_names_the_profile_keys_as_the_helper_maps_them() {
    use pve_tcp_hardening::host::sysctl::parse::key_to_relative_path;
    for name in ["default", "stealth", "strict", "ipv6"] {
        let p = profile(name);
        let script = maint_script("postrm", &p).replacen(
            "case \"$1\" in",
            "printf '%s' \"$PROFILE_PATHS\"; exit 0\ncase \"$1\" in",
            1,
        );
        let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
        assert!(out.status.success(), "{}\n{script}", stderr(&out));
        let expected: String = p
            .settings
            .iter()
            .map(|s| format!(" {}", key_to_relative_path(&s.key)))
            .collect();
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{name}");
    }
}

/// The guide's hand-made sysctl file (its text, as an admin types it; shared
/// with the e2e scenarios).
const GUIDE_SYSCTL: &str = include_str!("fixtures/guide/80_tcp_hardening.conf");

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

/// preinst and postrm tell an image build from the running host with one
/// sh definition (debian/live-kernel.sh), and it decides as the helper's
/// `live_kernel_is_ours` does, for every opt-in, DPKG_ROOT and ischroot
/// answer (a stub ischroot on PATH).
#[test]
fn the_image_build_rule_is_the_same_in_sh_and_in_the_helper() {
    use pve_tcp_hardening::host::maint::live_kernel_is_ours;
    let sh_rule = std::fs::read_to_string(repo_root().join("debian/live-kernel.sh")).unwrap();
    for script in ["preinst", "postrm"] {
        assert!(
            std::fs::read_to_string(repo_root().join("debian").join(script))
                .unwrap()
                .contains("{% include \"live-kernel.sh\" %}"),
            "{script} has its own image-build rule"
        );
    }
    let stub = tempfile::tempdir().unwrap();
    for apply in [None, Some("1"), Some("0")] {
        for dpkg_root in [None, Some(""), Some("/"), Some("/srv/image")] {
            for ischroot in [0, 1, 2] {
                std::fs::write(
                    stub.path().join("ischroot"),
                    format!("#!/bin/sh\nexit {ischroot}\n"),
                )
                .unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(
                    stub.path().join("ischroot"),
                    std::fs::Permissions::from_mode(0o755),
                )
                .unwrap();
                let rust = live_kernel_is_ours(apply, dpkg_root.map(std::ffi::OsStr::new), || {
                    ischroot == 0
                })
                .is_ok();
                let mut cmd = Command::new("sh");
                cmd.arg("-c")
                    .arg(format!("{sh_rule}\nlive_kernel_is_ours"))
                    .env("PATH", format!("{}:/usr/bin:/bin", stub.path().display()))
                    .env_remove("PVE_TCP_HARDENING_APPLY_IN_CHROOT")
                    .env_remove("DPKG_ROOT");
                if let Some(a) = apply {
                    cmd.env("PVE_TCP_HARDENING_APPLY_IN_CHROOT", a);
                }
                if let Some(r) = dpkg_root {
                    cmd.env("DPKG_ROOT", r);
                }
                let sh = cmd.status().unwrap().success();
                assert_eq!(
                    sh, rust,
                    "opt-in {apply:?}, DPKG_ROOT {dpkg_root:?}, ischroot exit {ischroot}"
                );
            }
        }
    }
}

/// postrm writes back what the helper decided (restore.conf) and keeps no
/// second copy of the helper's key rules: no separator swap, no value
/// comparison, no blank folding, no reading of live values.
#[test]
fn postrm_parses_no_key_and_compares_no_value() {
    for name in ["default", "ipv6"] {
        let script = maint_script("postrm", &profile(name));
        for copy in [
            "swap",
            "same_value",
            "tr -s",
            "tr -d",
            "[[:space:]]",
            "cat \"$path\"",
            "$(cat",
            "snapshot.conf",
        ] {
            assert_lacks(&script, copy, &format!("postrm of {name}"));
        }
    }
}

// postfix (src/host/postfix.rs): with IPv6 off, inet_protocols = ipv4 by
// postconf, given back byte for byte at purge.

/// main.cf as the Proxmox VE installer writes it (Proxmox/Install.pm in
/// pve-installer: no inet_protocols), with the admin's `localhost`.
const PVE_MAIN_CF: &str = "\
# See /usr/share/postfix/main.cf.dist for a commented, more complete version

myhostname=pve1.example.org

smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)
biff = no
alias_maps = hash:/etc/aliases
mydestination = $myhostname, localhost.$mydomain, localhost
relayhost =
mynetworks = 127.0.0.0/8
inet_interfaces = localhost
recipient_delimiter = +

compatibility_level = 3.6
";

/// The same as Debian's postinst leaves it on a fresh main.cf: it writes
/// the debconf answer (`all` on a dual-stack host) itself.
fn debian_main_cf() -> String {
    format!("{PVE_MAIN_CF}inet_protocols = all\n")
}

const POSTFIX_RECORD: &str = "var/lib/pve-tcp-hardening/postfix";

fn set_mode(host: &FakeHost, rel: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(host.path(rel), std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode_of(host: &FakeHost, rel: &str) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(host.path(rel))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn postfix_gets_ipv4_only_and_purge_gives_main_cf_back_byte_for_byte() {
    for (name, original) in [
        ("the installer's default", PVE_MAIN_CF.to_string()),
        ("Debian's explicit all", debian_main_cf()),
    ] {
        let host = FakeHost::new().with_postfix(&original);
        set_mode(&host, "etc/postfix/main.cf", 0o640);
        let p = profile("default");
        let out = host.install(&p);
        let err = stderr(&out);
        assert_contains(
            &err,
            "postfix: inet_protocols set to ipv4 (was all) in /etc/postfix/main.cf with postconf: \
             with IPv6 off, postfix with inet_interfaces = localhost cannot start",
        );
        let changed = host.read("etc/postfix/main.cf");
        assert_eq!(
            changed
                .lines()
                .filter(|l| l.starts_with("inet_protocols"))
                .collect::<Vec<_>>(),
            ["inet_protocols = ipv4"],
            "{name}: {changed}"
        );
        // configure again and the trigger: nothing more to do.
        host.maint("postinst", &["configure", "0.1.0-1"]).run();
        host.maint("postinst", &["triggered", "/usr/sbin/postconf"])
            .run();
        assert_eq!(host.read("etc/postfix/main.cf"), changed, "{name}");
        assert_eq!(host.postconf_log().matches("-e ").count(), 1, "{name}");

        host.maint("prerm", &["remove"]).run();
        assert_eq!(
            host.read("etc/postfix/main.cf"),
            changed,
            "remove keeps it: {name}"
        );
        let out = run_postrm(&host, &p, "purge");
        assert_eq!(host.read("etc/postfix/main.cf"), original, "{name}");
        assert_eq!(mode_of(&host, "etc/postfix/main.cf"), 0o640, "{name}");
        assert_contains(
            &stderr(&out),
            "main.cf is back as it was before the install",
        );
        assert!(!host.path("var/lib/pve-tcp-hardening").exists(), "{name}");
    }
}

#[test]
fn postfix_the_admin_made_ipv4_only_or_chose_ipv6_for_is_left_alone() {
    for (main_cf, warned) in [
        (format!("{PVE_MAIN_CF}inet_protocols = ipv4\n"), false),
        (format!("{PVE_MAIN_CF}inet_protocols = ipv4, ipv6\n"), true),
        (format!("{PVE_MAIN_CF}inet_protocols = ipv6\n"), true),
    ] {
        let host = FakeHost::new().with_postfix(&main_cf);
        let p = profile("default");
        let err = stderr(&host.install(&p));
        assert_eq!(host.read("etc/postfix/main.cf"), main_cf);
        assert!(!host.postconf_log().contains("-e "), "{main_cf}");
        assert!(!host.path(POSTFIX_RECORD).exists(), "{main_cf}");
        assert_lacks(&err, "inet_protocols set to", "nothing set");
        assert_eq!(
            err.contains("taken as your choice and left alone"),
            warned,
            "{main_cf}: {err}"
        );
        run_postrm(&host, &p, "purge");
        assert_eq!(host.read("etc/postfix/main.cf"), main_cf);
    }
}

#[test]
fn postfix_edits_after_the_install_are_kept_at_purge() {
    const RELAY: &str = "relayhost = [smtp.example.org]:587\n";
    type Edit = fn(&str) -> String;
    let add_relay: Edit = |now| format!("{now}{RELAY}");
    let theirs: Edit = |now| now.replace("inet_protocols = ipv4", "inet_protocols = ipv4, ipv6");
    // (main.cf before, the admin's change after the install, main.cf after purge)
    let cases = [
        (
            debian_main_cf(),
            add_relay,
            format!("{}{RELAY}", debian_main_cf()),
        ),
        (
            PVE_MAIN_CF.to_string(),
            add_relay,
            format!("{PVE_MAIN_CF}{RELAY}"),
        ),
        (
            debian_main_cf(),
            theirs,
            format!("{PVE_MAIN_CF}inet_protocols = ipv4, ipv6\n"),
        ),
    ];
    for (original, edit, want) in cases {
        let host = FakeHost::new().with_postfix(&original);
        let p = profile("default");
        host.install(&p);
        let edited = edit(&host.read("etc/postfix/main.cf"));
        std::fs::write(host.path("etc/postfix/main.cf"), &edited).unwrap();
        let out = run_postrm(&host, &p, "purge");
        assert_eq!(host.read("etc/postfix/main.cf"), want, "{}", stderr(&out));
        assert_contains(&stderr(&out), "main.cf was edited since the install");
    }
}

#[test]
fn postfix_ipv6_profile_or_no_postfix_means_no_word_of_postfix() {
    let host = FakeHost::new().with_postfix(PVE_MAIN_CF);
    let err = stderr(&host.install(&profile("ipv6")));
    assert_eq!(host.read("etc/postfix/main.cf"), PVE_MAIN_CF);
    assert!(!host.path(POSTFIX_RECORD).exists());
    assert_lacks(
        &err,
        "postfix",
        "an IPv6-keeping profile leaves postfix alone",
    );

    let host = FakeHost::new();
    let p = profile("default");
    let err = stderr(&host.install(&p));
    assert_lacks(&err, "postfix", "no postfix installed");
    assert!(!host.path(POSTFIX_RECORD).exists());
    let err = stderr(&run_postrm(&host, &p, "purge"));
    assert_lacks(&err, "postfix", "no postfix installed");
}

#[test]
fn postfix_upgrade_that_writes_all_again_is_undone_by_the_trigger() {
    let host = FakeHost::new().with_postfix(PVE_MAIN_CF);
    let p = profile("default");
    host.install(&p);
    // postfix's postinst, on a new main.cf or a debconf answer, runs
    // `postconf -e inet_protocols=all`; dpkg then runs our trigger.
    let postconf = host.path("usr/sbin/postconf");
    let cfg = host.path("etc/postfix");
    let status = Command::new(&postconf)
        .arg("-c")
        .arg(&cfg)
        .arg("-e")
        .arg("inet_protocols=all")
        .status()
        .unwrap();
    assert!(status.success());
    let by_upgrade = host.read("etc/postfix/main.cf");
    assert_contains(&by_upgrade, "inet_protocols = all\n");
    host.maint("postinst", &["triggered", "/usr/sbin/postconf"])
        .stderr_contains("inet_protocols set to ipv4 (was all)")
        .run();
    assert_contains(&host.read("etc/postfix/main.cf"), "inet_protocols = ipv4\n");
    // Purge undoes the last change: main.cf as postfix's upgrade left it.
    run_postrm(&host, &p, "purge");
    assert_eq!(host.read("etc/postfix/main.cf"), by_upgrade);
}

#[test]
fn postfix_reinstalled_in_between_still_gets_main_cf_back() {
    // A reinstall (or an upgrade that keeps our value) configures postfix
    // again: its postinst writes inet_protocols = ipv4 again (the debconf
    // answer it read with postconf), which leaves the same bytes.
    let host = FakeHost::new().with_postfix(&debian_main_cf());
    let p = profile("default");
    host.install(&p);
    let ours = host.read("etc/postfix/main.cf");
    let status = Command::new(host.path("usr/sbin/postconf"))
        .arg("-c")
        .arg(host.path("etc/postfix"))
        .args(["-e", "inet_protocols=ipv4"])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(host.read("etc/postfix/main.cf"), ours);
    host.maint("postinst", &["triggered", "/usr/sbin/postconf"])
        .run();
    run_postrm(&host, &p, "purge");
    assert_eq!(host.read("etc/postfix/main.cf"), debian_main_cf());
}

#[test]
fn postfix_switching_to_the_ipv6_profile_gives_main_cf_back() {
    let host = FakeHost::new().with_postfix(PVE_MAIN_CF);
    host.install(&profile("default"));
    host.unpack(&profile("ipv6"));
    host.maint("postinst", &["configure"])
        .stderr_contains("postfix: /etc/postfix/main.cf is back as it was before the install")
        .run();
    assert_eq!(host.read("etc/postfix/main.cf"), PVE_MAIN_CF);
    assert!(!host.path(POSTFIX_RECORD).exists());
}

#[test]
fn postfix_in_an_image_build_is_set_and_not_restarted() {
    let host = FakeHost::new().with_postfix(PVE_MAIN_CF);
    host.unpack(&profile("default"));
    host.maint("postinst", &["configure"])
        .env("DPKG_ROOT", &host.dir.path().display().to_string())
        .stderr_contains("inet_protocols set to ipv4 (was all)")
        .stderr_contains("not restarting postfix (DPKG_ROOT is set)")
        .run();
    assert_contains(&host.read("etc/postfix/main.cf"), "inet_protocols = ipv4\n");
}

/// postrm's `restore_postfix` and the helper's `postfix::give_back` on the
/// same cases: the same main.cf, the record gone.
#[test]
fn postrm_gives_postfix_back_exactly_as_the_helper_does() {
    use pve_tcp_hardening::host::postfix::give_back;
    fn append(host: &FakeHost, line: &str) {
        let now = host.read("etc/postfix/main.cf");
        std::fs::write(host.path("etc/postfix/main.cf"), format!("{now}{line}")).unwrap();
    }
    type Edit = fn(&FakeHost);
    let cases: [(&str, String, Edit); 7] = [
        ("untouched", PVE_MAIN_CF.into(), |_| {}),
        ("untouched, explicit all", debian_main_cf(), |_| {}),
        ("edited, our ipv4 kept", debian_main_cf(), |h| {
            append(h, "relayhost = [smtp.example.org]\n")
        }),
        ("edited, default before", PVE_MAIN_CF.into(), |h| {
            append(h, "# mine\n")
        }),
        ("the admin's own value since", debian_main_cf(), |h| {
            let now = h.read("etc/postfix/main.cf");
            let theirs = now.replace("= ipv4", "= ipv6, ipv4");
            std::fs::write(h.path("etc/postfix/main.cf"), theirs).unwrap()
        }),
        ("postfix purged", PVE_MAIN_CF.into(), |h| {
            std::fs::remove_dir_all(h.path("etc/postfix")).unwrap();
            std::fs::remove_file(h.path("usr/sbin/postconf")).unwrap();
        }),
        ("postconf gone, main.cf edited", debian_main_cf(), |h| {
            append(h, "# left\n");
            std::fs::remove_file(h.path("usr/sbin/postconf")).unwrap();
        }),
    ];
    for (name, original, edit) in cases {
        let hosts = [
            FakeHost::new().with_postfix(&original),
            FakeHost::new().with_postfix(&original),
        ];
        let p = profile("default");
        for host in &hosts {
            host.install(&p);
            edit(host);
        }
        let [by_helper, by_postrm] = &hosts;
        let outcome = give_back(by_helper.dir.path()).unwrap();
        let err = stderr(&run_postrm(by_postrm, &p, "purge"));
        let main_cf = |h: &FakeHost| std::fs::read(h.path("etc/postfix/main.cf")).ok();
        assert_eq!(main_cf(by_postrm), main_cf(by_helper), "{name}: {err}");
        if let Some(note) = outcome.note() {
            assert_contains(&err, &note);
        }
        assert!(!by_helper.path(POSTFIX_RECORD).exists(), "{name}");
        assert!(!by_postrm.path(POSTFIX_RECORD).exists(), "{name}");
    }
}

#[test]
fn postfix_whose_postconf_fails_stops_the_install_before_anything_changes() {
    let host = FakeHost::new().with_postfix(PVE_MAIN_CF);
    std::fs::write(
        host.path("usr/sbin/postconf"),
        "#!/bin/sh\necho 'postconf: fatal: bad main.cf' >&2\nexit 1\n",
    )
    .unwrap();
    host.unpack(&profile("default"));
    host.maint("postinst", &["configure"])
        .status(2)
        .stderr_contains("cannot read postfix's inet_protocols: postconf -h inet_protocols failed")
        .run();
    assert_eq!(host.live("net.ipv4.tcp_sack"), "1");
    assert_eq!(host.read("etc/postfix/main.cf"), PVE_MAIN_CF);
    assert!(!host.path("var/lib/pve-tcp-hardening").exists());
    assert!(!host.path("run/reboot-required").exists());
}

#[test]
fn postfix_installed_after_the_package_gets_ipv4_through_the_trigger() {
    let host = FakeHost::new();
    let p = profile("default");
    host.install(&p);
    // dpkg unpacks postfix (its /usr/sbin/postconf), configures it, then
    // runs our trigger.
    let host = host.with_postfix(&debian_main_cf());
    host.maint("postinst", &["triggered", "/usr/sbin/postconf"])
        .stderr_contains("postfix: inet_protocols set to ipv4 (was all)")
        .run();
    assert_contains(&host.read("etc/postfix/main.cf"), "inet_protocols = ipv4\n");
    run_postrm(&host, &p, "purge");
    assert_eq!(host.read("etc/postfix/main.cf"), debian_main_cf());
}

#[test]
fn postfix_that_cannot_be_given_back_at_a_switch_is_a_warning() {
    let host = FakeHost::new().with_postfix(PVE_MAIN_CF);
    host.install(&profile("default"));
    let edited = format!("{}# mine\n", host.read("etc/postfix/main.cf"));
    std::fs::write(host.path("etc/postfix/main.cf"), &edited).unwrap();
    std::fs::write(host.path("usr/sbin/postconf"), "#!/bin/sh\nexit 1\n").unwrap();
    host.unpack(&profile("ipv6"));
    host.maint("postinst", &["configure"])
        .stderr_contains("warning: postfix: could not give /etc/postfix/main.cf back")
        .run();
    assert_eq!(host.read("etc/postfix/main.cf"), edited);
    assert!(host.path(POSTFIX_RECORD).join("main.cf.before").is_file());
}
