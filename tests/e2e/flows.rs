//! The scenarios, written once against the package contract and run twice:
//! with the fixture (proving the harness) and with the real packages.
//! Each takes a closure for its packages so that nothing is built or read
//! before the gate has decided the suite runs here.

use crate::harness::{
    chroot::Ran, Deb, Release, Scenario, Snapshot, CHRONY_DEFAULT, CHRONY_ORIG, STATE_DIR,
};

/// Scenarios 1 and 2: install with chrony present, then purge.
pub fn install_then_purge(release: Release, name: &str, debs: impl FnOnce() -> Deb) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let deb = debs();
    s.baseline();
    s.apt_install(&[&deb], "").expect_active(&deb, &[]);
    s.apt_purge(&[&deb.package])
        .expect_pristine("after apt-get purge");
}

/// Scenario 3: chrony absent at install, installed later (offline, from
/// the base's apt cache): its default file gets `-4` through the trigger.
pub fn chrony_installed_later(release: Release, name: &str, debs: impl FnOnce() -> Deb) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let deb = debs();
    let chrony_as_shipped = s.chroot.read(CHRONY_DEFAULT).expect("base has chrony");
    s.run("apt-get purge -y chrony");
    s.baseline();
    s.apt_install(&[&deb], "").expect_active(&deb, &[]);

    s.run("apt-get install -y --no-download chrony");
    s.chrony_original = Some(chrony_as_shipped);
    s.expect_active(&deb, &[]);

    s.apt_purge(&[&deb.package]).expect_chrony_untouched();
    let before = s.before.clone().expect("baseline");
    let after = s.snapshot();
    assert_eq!(
        net_diff(&before, &after),
        Vec::<String>::new(),
        "live values after purge differ from before install"
    );
    assert!(
        !s.chroot.path(STATE_DIR).exists(),
        "{STATE_DIR} left after purge"
    );
}

/// A fresh scenario and the two packages of an upgrade, the second higher.
fn start_upgrade(
    release: Release,
    name: &str,
    debs: impl FnOnce() -> (Deb, Deb),
) -> Option<(Scenario, Deb, Deb)> {
    let s = Scenario::start(release, name)?;
    let (old, new) = debs();
    assert!(
        crate::harness::packages::version_gt(&new.version, &old.version),
        "upgrade target {} is not higher than {}",
        new.version,
        old.version
    );
    Some((s, old, new))
}

/// Scenario 4: upgrade to a rebuilt higher version keeps the saved state,
/// one diversion, one `-4`; a purge afterwards still restores everything.
pub fn upgrade(release: Release, name: &str, debs: impl FnOnce() -> (Deb, Deb)) {
    let Some((mut s, old, new)) = start_upgrade(release, name, debs) else {
        return;
    };
    s.baseline();
    s.apt_install(&[&old], "").expect_active(&old, &[]);
    let saved_before = state_files(&s.snapshot());
    s.apt_install(&[&new], "").expect_active(&new, &[]);
    let saved_after = state_files(&s.snapshot());
    assert_eq!(
        saved_before, saved_after,
        "the upgrade changed the saved state in {STATE_DIR}"
    );
    s.apt_purge(&[&new.package])
        .expect_pristine("after purging the upgraded package");
}

/// Scenario 17: an upgrade from the release that shipped its units under
/// `/lib/systemd/system` (0.1.0-1) to this tree's `/usr/lib/systemd/system`.
/// Each unit keeps its enabled state, an admin's `systemctl disable`
/// included; the purge prints no dpkg warning (dpkg 1.22 warns `directory
/// '/lib/systemd/system' not empty so not removed` when a package still owns
/// it) and is exact. The upgrade prints no warning on bookworm and, on
/// trixie, exactly dpkg's two about the old directories (see
/// `Release::dpkg_warnings_moving_units_from_lib`).
pub fn upgrade_moves_units_to_usr_lib(
    release: Release,
    name: &str,
    debs: impl FnOnce() -> (Deb, Deb),
) {
    let Some((mut s, old, new)) = start_upgrade(release, name, debs) else {
        return;
    };
    s.baseline();
    let boot_check = "pve-tcp-hardening-boot-check.service";
    let timer = "pve-tcp-hardening-prometheus.timer";
    let boot_link = format!("/etc/systemd/system/multi-user.target.wants/{boot_check}");
    let timer_link = format!("/etc/systemd/system/timers.target.wants/{timer}");
    let linked = |s: &Scenario, path: &str| s.chroot.path(path).symlink_metadata().is_ok();
    let owned_units = |s: &mut Scenario, package: &str| -> Vec<String> {
        s.run(&format!("dpkg-query -L {package}"))
            .stdout
            .lines()
            .filter(|l| l.contains("/systemd/system/"))
            .map(str::to_string)
            .collect()
    };

    s.apt_install(&[&old], "").expect_active(&old, &[]);
    let old_units = owned_units(&mut s, &old.package);
    assert!(
        old_units.len() == 3
            && old_units
                .iter()
                .all(|u| u.starts_with("/lib/systemd/system/")),
        "{} {} is not the /lib layout: {old_units:?}",
        old.package,
        old.version
    );
    assert!(
        linked(&s, &boot_link) && linked(&s, &timer_link),
        "not enabled by {}",
        old.version
    );
    // The admin turns the metrics timer off. Debian 12's minbase has no
    // systemctl: there the link goes as `systemctl disable` removes it.
    s.run(&format!(
        "if command -v systemctl >/dev/null; then systemctl disable {timer}; else rm {timer_link}; fi"
    ));

    let path = s.chroot.copy_in(&new.path);
    let upgraded = s.run(&format!("apt-get install -y {path} 2>&1"));
    s.expect_active(&new, &[]);
    let new_units = owned_units(&mut s, &new.package);
    assert!(
        new_units.len() == 3
            && new_units
                .iter()
                .all(|u| u.starts_with("/usr/lib/systemd/system/")),
        "{} {} does not own its units under /usr/lib: {new_units:?}",
        new.package,
        new.version
    );
    for unit in &new_units {
        assert!(s.chroot.path(unit).is_file(), "{unit} lost in the upgrade");
    }
    assert!(linked(&s, &boot_link), "the upgrade disabled {boot_check}");
    assert!(
        !linked(&s, &timer_link),
        "the upgrade enabled {timer} again, which the admin disabled"
    );
    let warnings: Vec<&str> = upgraded
        .stdout
        .lines()
        .filter(|l| l.contains("warning"))
        .collect();
    assert_eq!(
        warnings,
        s.release.dpkg_warnings_moving_units_from_lib(),
        "the upgrade's warnings on {}:\n{}",
        s.release,
        upgraded.stdout
    );

    let purged = s.run(&format!("apt-get purge -y {} 2>&1", new.package));
    assert!(
        !purged.stdout.contains("warning") && !purged.stdout.contains("not empty so not removed"),
        "the purge printed a warning:\n{}",
        purged.stdout
    );
    s.expect_pristine("after purging a package upgraded from the /lib layout");
}

/// Scenario 5: default -> stealth -> ipv6 -> purge. At each step exactly the
/// active profile's values; purging the variant left in config-files state
/// changes nothing; the final purge returns to the start.
pub fn switch_variants(release: Release, name: &str, debs: impl FnOnce() -> [Deb; 3]) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let chain = debs();
    let all: Vec<&Deb> = chain.iter().collect();
    s.baseline();
    s.apt_install(&[&chain[0]], "")
        .expect_active(&chain[0], &all);
    for pair in chain.windows(2) {
        let (old, new) = (&pair[0], &pair[1]);
        s.apt_install(&[new], "").expect_active(new, &all);
        let status = s.status(&old.package);
        assert_eq!(
            status, "deinstall ok config-files",
            "{} after switching to {}",
            old.package, new.package
        );
        let before = s.snapshot();
        s.apt_purge(&[&old.package]);
        before.assert_same(
            &s.snapshot(),
            &format!(
                "purging left-over {} while {} is active",
                old.package, new.package
            ),
        );
        s.expect_active(new, &all);
    }
    let last = chain.last().expect("three variants");
    s.apt_purge(&[&last.package])
        .expect_pristine("after purging the last variant");
}

/// Scenario 6: `apt-get install --reinstall` and `dpkg-reconfigure` leave
/// the installed state exactly as it was; a purge still restores all.
pub fn reinstall_and_reconfigure(release: Release, name: &str, debs: impl FnOnce() -> Deb) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let deb = debs();
    s.baseline();
    s.apt_install(&[&deb], "").expect_active(&deb, &[]);
    let installed = s.snapshot();
    s.apt_install(&[&deb], "--reinstall")
        .expect_active(&deb, &[]);
    installed.assert_same(&s.snapshot(), "after apt-get install --reinstall");
    s.run(&format!("dpkg-reconfigure {}", deb.package));
    s.expect_active(&deb, &[]);
    installed.assert_same(&s.snapshot(), "after dpkg-reconfigure");
    s.apt_purge(&[&deb.package])
        .expect_pristine("after purge following reinstall and reconfigure");
}

/// An admin's /etc/default/chrony: extra options, comments, odd spacing,
/// a commented-out assignment, no trailing newline.
pub const ADMIN_CHRONY: &str = "\
# Site policy: edited by the admin, keep as is.\n\
#DAEMON_OPTS=\"-F 1\"\n\
\n\
   # indented comment\t\n\
DAEMON_OPTS=\"-F 1    -r\"   \n\
SYNC_IN_CONTAINER=\"no\"\n\
EXTRA_SITE_VAR='a  b'";

/// Scenario 7: an admin-edited chrony file is kept byte for byte apart from
/// `-4`, and comes back byte for byte on purge.
pub fn admin_edited_chrony(release: Release, name: &str, debs: impl FnOnce() -> Deb) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let deb = debs();
    s.chroot.write(CHRONY_DEFAULT, ADMIN_CHRONY.as_bytes());
    s.baseline();
    s.apt_install(&[&deb], "").expect_active(&deb, &[]);
    s.apt_purge(&[&deb.package])
        .expect_pristine("after purge with an admin-edited chrony file");
    assert_eq!(
        s.chroot.read(CHRONY_DEFAULT).as_deref(),
        Some(ADMIN_CHRONY.as_bytes())
    );
}

/// Replaces /usr/bin/dpkg-divert with a script that fails the first
/// `--add` (then puts the real one back) and passes everything else through.
const DIVERT_FAILS_ONCE: &str = r#"set -e
mv /usr/bin/dpkg-divert /usr/bin/dpkg-divert.e2e-real
cat >/usr/bin/dpkg-divert <<'EOF'
#!/bin/sh
for arg in "$@"; do
	if [ "$arg" = --add ]; then
		mv /usr/bin/dpkg-divert.e2e-real /usr/bin/dpkg-divert
		echo "e2e: dpkg-divert --add fails once, on purpose" >&2
		exit 1
	fi
done
exec /usr/bin/dpkg-divert.e2e-real "$@"
EOF
chmod 0755 /usr/bin/dpkg-divert
"#;

/// Scenario 8: the postinst fails once (dpkg-divert --add fails); after the
/// obstacle is gone, `dpkg --configure -a` converges to the state of a clean
/// install, and a purge still restores the start.
pub fn interrupted_postinst(release: Release, name: &str, debs: impl FnOnce() -> Deb) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let deb = debs();
    s.baseline();
    let inside = s.chroot.copy_in(&deb.path);
    s.run(&format!("dpkg --unpack {inside}"));
    s.run(DIVERT_FAILS_ONCE);
    let failed: Ran = s
        .chroot
        .try_run(&format!("dpkg --configure {}", deb.package));
    assert!(
        !failed.success(),
        "the obstacle did not trip: dpkg --configure succeeded with dpkg-divert --add failing"
    );
    assert!(
        !s.chroot.path("/usr/bin/dpkg-divert.e2e-real").exists(),
        "the failing dpkg-divert was never called with --add"
    );
    s.run("dpkg --configure -a");
    s.expect_active(&deb, &[]);
    let recovered = s.snapshot();

    let mut clean =
        Scenario::start(release, &format!("{name}-clean")).expect("gate passed already");
    clean.apt_install(&[&deb], "").expect_active(&deb, &[]);
    without_state_files(&clean.snapshot()).assert_same(
        &without_state_files(&recovered),
        "recovered install vs clean install (left: clean)",
    );
    drop(clean);

    s.apt_purge(&[&deb.package])
        .expect_pristine("after purge of the recovered install");
}

/// Scenario 9: the real piuparts install/purge test, offline, in private
/// namespaces, from the same cached base (tests/e2e/piuparts.sh).
pub fn piuparts(release: Release, name: &str, debs: impl FnOnce() -> Deb) {
    let name = format!("{release}-{name}");
    if crate::harness::gate::skipped(&name) {
        return;
    }
    let base = crate::harness::base(release).expect("gate passed");
    let deb = debs();
    let started = std::time::Instant::now();
    let out = std::process::Command::new(crate::harness::base::e2e_dir().join("piuparts.sh"))
        .arg(&base.tar)
        .arg(release.codename())
        .arg(&base.mirror)
        .arg(&deb.path)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("piuparts.sh");
    let log = String::from_utf8_lossy(&out.stdout);
    let verdicts: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("PASS:") || l.contains("FAIL:") || l.contains("ERROR:"))
        .collect();
    eprintln!(
        "[{name}] piuparts {} in {:.1} s:\n  {}",
        out.status,
        started.elapsed().as_secs_f64(),
        verdicts.join("\n  ")
    );
    assert!(
        out.status.success() && log.contains("PASS: All tests."),
        "piuparts failed for {}:\n{log}{}",
        deb.package,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The saved-state files (STATE_DIR) of a snapshot.
fn state_files(snap: &Snapshot) -> Vec<(String, String)> {
    snap.files
        .iter()
        .filter(|(p, _)| p.starts_with(STATE_DIR))
        .map(|(p, d)| (p.clone(), d.clone()))
        .collect()
}

/// A snapshot without STATE_DIR contents: they may hold a timestamp, and
/// whether they are right is proven by the purge that follows.
fn without_state_files(snap: &Snapshot) -> Snapshot {
    let mut snap = snap.clone();
    snap.files
        .retain(|p, _| !p.starts_with(&format!("{STATE_DIR}/")));
    snap
}

fn net_diff(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let only_net = |s: &Snapshot| Snapshot {
        files: Default::default(),
        diversions: vec![],
        net: s.net.clone(),
    };
    only_net(before).diff(&only_net(after))
}

/// `status` in the chroot after a real install: a later
/// `/etc/sysctl.d/90-local.conf` setting `net.ipv4.tcp_sack = 1` shadows the
/// profile's 0; status names that file, exits 1, and the JSON agrees.
pub fn status_names_a_shadowing_file(release: Release, name: &str, debs: impl FnOnce() -> Deb) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let deb = debs();
    s.apt_install(&[&deb], "");
    s.run("printf 'net.ipv4.tcp_sack = 1\\n' > /etc/sysctl.d/90-local.conf");
    let text = s.chroot.try_run("pve-tcp-hardening status");
    assert_eq!(
        text.code,
        Some(1),
        "status exit\n{}{}",
        text.stdout,
        text.stderr
    );
    assert!(
        text.stdout.contains(
            "problem: net.ipv4.tcp_sack is shadowed: at boot /etc/sysctl.d/90-local.conf:1 sets 1 (wanted 0)"
        ),
        "{}",
        text.stdout
    );
    let json = s.chroot.try_run("pve-tcp-hardening status --json");
    assert_eq!(json.code, Some(1), "status --json exit\n{}", json.stderr);
    let report: serde_json::Value =
        serde_json::from_str(&json.stdout).expect("status --json is JSON");
    let sack = report["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["key"] == "net.ipv4.tcp_sack")
        .expect("tcp_sack in the report");
    assert_eq!(sack["state"], "shadowed", "{sack}");
    assert_eq!(
        sack["winner"]["file"], "/etc/sysctl.d/90-local.conf",
        "{sack}"
    );
    assert_eq!(
        sack["live"], "0",
        "installed value still live until reboot: {sack}"
    );
    assert_eq!(report["chrony"]["ipv4_only"], true, "{report}");
    // The PVE-like layout's pve-firewall.conf sets a key default does not
    // set (all.rp_filter): it must not count as a problem.
    assert!(
        !report["problems"].to_string().contains("rp_filter"),
        "{report}"
    );
}

/// An image build: the chroot without the opt-in. Nothing reaches the
/// running kernel, no service is restarted (policy-rc.d logs every ask),
/// the files are in place for the image's first boot and apt's output says
/// so; a purge there writes no value either.
pub fn image_build(release: Release, name: &str, debs: impl FnOnce() -> Deb) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let deb = debs();
    s.chroot.as_image_build();
    s.run(
        "printf '#!/bin/sh\\necho \"$*\" >> /var/tmp/policy-rc.d.log\\nexit 101\\n' > /usr/sbin/policy-rc.d",
    );
    s.baseline();
    let net_before = s.chroot.net_sysctls();
    let inside = s.chroot.copy_in(&deb.path);
    let ran = s.run(&format!("apt-get install -y {inside}"));
    // apt passes the maintainer scripts' output on through its stdout.
    let said = format!("{}{}", ran.stdout, ran.stderr);
    for want in [
        "installing into a chroot or image (ischroot says this is a chroot): no value applied",
        "takes effect when the system it is installed in boots",
    ] {
        assert!(said.contains(want), "apt output lacks {want:?}:\n{said}");
    }
    assert_eq!(
        s.chroot.net_sysctls(),
        net_before,
        "values applied in an image build"
    );
    assert_eq!(
        s.chroot.read("/var/tmp/policy-rc.d.log"),
        None,
        "a service was restarted"
    );
    assert_eq!(s.chroot.read("/run/reboot-required"), None);
    assert!(s.chroot.path(&deb.sysctl_file).is_file());
    let chrony = String::from_utf8(s.chroot.read(CHRONY_DEFAULT).expect("chrony file")).unwrap();
    assert!(chrony.contains("DAEMON_OPTS=\"-4 "), "{chrony}");
    let ran = s.run(&format!("apt-get purge -y {}", deb.package));
    let said = format!("{}{}", ran.stdout, ran.stderr);
    assert!(
        said.contains("purging in a chroot or image build: no value written"),
        "{said}"
    );
    s.expect_pristine("after purge in an image build");
}

/// /proc/sys/net read-only, as in an LXC container: the install succeeds,
/// says no value could be applied and when they will be, makes no reboot
/// claim; the purge has nothing to write back and leaves nothing behind.
pub fn read_only_proc_sys(release: Release, name: &str, debs: impl FnOnce() -> Deb) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let deb = debs();
    // Only this scenario's private mount namespace sees the change.
    s.run("mount -o remount,bind,ro /proc/sys/net");
    s.baseline();
    let net_before = s.chroot.net_sysctls();
    let inside = s.chroot.copy_in(&deb.path);
    let ran = s.run(&format!("apt-get install -y {inside}"));
    // apt passes the maintainer scripts' output on through its stdout.
    let said = format!("{}{}", ran.stdout, ran.stderr);
    assert!(
        said.contains("/proc/sys is read-only here (a container or a locked-down host): no value could be applied now"),
        "{said}"
    );
    assert!(said.contains("At boot systemd-sysctl applies"), "{said}");
    assert!(!said.contains("reboot required"), "{said}");
    assert_eq!(s.chroot.read("/run/reboot-required"), None);
    assert_eq!(s.chroot.net_sysctls(), net_before);
    s.apt_purge(&[&deb.package])
        .expect_pristine("after purge on a read-only /proc/sys");
}

/// The packages carry md5sums: `dpkg --verify` is clean after install and
/// names the helper when one byte of it changes.
pub fn dpkg_verify_names_a_changed_file(release: Release, name: &str, debs: impl FnOnce() -> Deb) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let deb = debs();
    s.apt_install(&[&deb], "");
    let clean = s.chroot.try_run(&format!("dpkg --verify {}", deb.package));
    assert!(
        clean.success() && clean.stdout.is_empty(),
        "{}{}",
        clean.stdout,
        clean.stderr
    );
    let helper = "/usr/sbin/pve-tcp-hardening";
    let original = s.chroot.read(helper).expect("helper installed");
    let mut changed = original.clone();
    changed[1000] ^= 0x01;
    s.chroot.write(helper, &changed);
    let verify = s.chroot.try_run(&format!("dpkg --verify {}", deb.package));
    let named = verify
        .stdout
        .lines()
        .any(|l| l.starts_with("??5??????") && l.split_whitespace().last() == Some(helper));
    // dpkg 1.21 exits 0 either way: the report is the output.
    assert!(
        named,
        "dpkg --verify did not name the changed helper:\n{}{}",
        verify.stdout, verify.stderr
    );
    s.chroot.write(helper, &original);
    s.apt_purge(&[&deb.package]);
}

/// chrony purged while the profile diverts its default file (dpkg deletes
/// neither file then): status says chrony is not installed, and the later
/// purge of the profile leaves no /etc/default/chrony that no package owns.
pub fn chrony_purged_while_installed(release: Release, name: &str, debs: impl FnOnce() -> Deb) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let deb = debs();
    s.apt_install(&[&deb], "");
    s.run("apt-get purge -y chrony");
    let status = s.chroot.try_run("pve-tcp-hardening status --json");
    let report: serde_json::Value =
        serde_json::from_str(&status.stdout).expect("status --json is JSON");
    assert_eq!(report["chrony"]["installed"], false, "{report}");
    assert!(
        !report["problems"].to_string().contains("chrony"),
        "{report}"
    );
    s.apt_purge(&[&deb.package]);
    for path in [CHRONY_DEFAULT, CHRONY_ORIG] {
        assert_eq!(s.chroot.read(path), None, "{path} left behind");
    }
    let diversions = s.chroot.diversions();
    assert!(
        !diversions.iter().any(|d| d.contains("chrony")),
        "{diversions:?}"
    );
}

/// A chrony default file the package cannot edit: the install fails with
/// the line named, and the file, the diversions and the values are as before.
pub fn uneditable_chrony_changes_nothing(release: Release, name: &str, debs: impl FnOnce() -> Deb) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let deb = debs();
    s.run("printf 'DAEMON_OPTS=\"-F 1 \\\\\\n  -r\"\\n' > /etc/default/chrony");
    s.baseline();
    let inside = s.chroot.copy_in(&deb.path);
    let failed = s.chroot.try_run(&format!("apt-get install -y {inside}"));
    let said = format!("{}{}", failed.stdout, failed.stderr);
    assert!(!failed.success(), "{said}");
    assert!(said.contains("line 1: cannot add -4"), "{said}");
    assert!(said.contains("nothing was changed"), "{said}");
    let mut after = s.snapshot();
    // dpkg's own record of the half-configured package is not ours to judge.
    after
        .files
        .retain(|p, _| !p.starts_with("/etc/sysctl.d/") && !p.starts_with("/usr/"));
    let mut before = s.before.clone().expect("baseline");
    before
        .files
        .retain(|p, _| !p.starts_with("/etc/sysctl.d/") && !p.starts_with("/usr/"));
    before.assert_same(&after, "after a failed install");
}

/// A state directory that is a symlink (to /etc) or a regular file: the
/// install refuses before anything is unpacked, says why, and changes
/// nothing; with the directory sane again it installs and purges exactly.
pub fn hostile_state_dir_refused(release: Release, name: &str, debs: impl FnOnce() -> Deb) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let deb = debs();
    let inside = s.chroot.copy_in(&deb.path);
    for (what, make) in [
        ("a symlink to /etc", "ln -s /etc /var/lib/pve-tcp-hardening"),
        ("a regular file", "echo junk > /var/lib/pve-tcp-hardening"),
    ] {
        s.run(make);
        s.baseline();
        let failed = s.chroot.try_run(&format!("apt-get install -y {inside}"));
        let said = format!("{}{}", failed.stdout, failed.stderr);
        assert!(!failed.success(), "{what}: {said}");
        assert!(
            said.contains("/var/lib/pve-tcp-hardening is not a directory (a symlink or a file); nothing was changed"),
            "{what}: {said}"
        );
        let after = s.snapshot();
        s.before
            .clone()
            .expect("baseline")
            .assert_same(&after, &format!("after a refused install ({what})"));
        s.run("rm -f /var/lib/pve-tcp-hardening");
    }
    s.baseline();
    s.apt_install(&[&deb], "").expect_active(&deb, &[]);
    s.apt_purge(&[&deb.package])
        .expect_pristine("after apt-get purge");
}

pub fn units_installed_and_purged(release: Release, name: &str, debs: impl FnOnce() -> Deb) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let deb = debs();
    s.run("mkdir -p /var/lib/prometheus/node-exporter");
    s.baseline();
    s.apt_install(&[&deb], "");
    let units = [
        "/usr/lib/systemd/system/pve-tcp-hardening-boot-check.service",
        "/usr/lib/systemd/system/pve-tcp-hardening-prometheus.service",
        "/usr/lib/systemd/system/pve-tcp-hardening-prometheus.timer",
        "/etc/systemd/system/multi-user.target.wants/pve-tcp-hardening-boot-check.service",
        "/etc/systemd/system/timers.target.wants/pve-tcp-hardening-prometheus.timer",
    ];
    // Enablement links point at absolute paths inside the chroot: look at
    // the links themselves.
    let present = |s: &Scenario, path: &str| s.chroot.path(path).symlink_metadata().is_ok();
    for unit in units {
        assert!(present(&s, unit), "{unit} missing after install");
    }
    let service = String::from_utf8(
        s.chroot
            .read("/usr/lib/systemd/system/pve-tcp-hardening-prometheus.service")
            .expect("service"),
    )
    .expect("UTF-8");
    assert!(
        service.contains("\nConditionPathIsDirectory=/var/lib/prometheus/node-exporter\n"),
        "{service}"
    );
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    s.run(exec);
    let metrics = String::from_utf8(
        s.chroot
            .read("/var/lib/prometheus/node-exporter/pve-tcp-hardening.prom")
            .expect("the service wrote the textfile"),
    )
    .expect("UTF-8");
    assert!(
        metrics.contains("\npve_tcp_hardening_up 1\n")
            && metrics.contains("pve_tcp_hardening_info{package=\"pve-tcp-hardening\",profile=\"default\",version=\""),
        "{metrics}"
    );
    let journal = s
        .chroot
        .try_run("pve-tcp-hardening status --format journal");
    assert_eq!(journal.code, Some(0), "{}", journal.stderr);
    s.apt_purge(&[&deb.package])
        .expect_pristine("after purging a package whose units were enabled");
    for unit in units {
        assert!(!present(&s, unit), "{unit} left after purge");
    }
}

pub fn lynis_under_strict(
    release: Release,
    name: &str,
    debs: impl FnOnce() -> (Deb, std::path::PathBuf),
) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let (strict, lynis_deb) = debs();
    let inside = s.chroot.copy_in(&lynis_deb);
    s.run(&format!("dpkg -i {inside}"));
    let flagged = |s: &mut crate::harness::Scenario| -> Vec<String> {
        s.run("sysctl -q --system >/dev/null 2>&1 || true");
        crate::scanners::lynis_flagged(&mut s.chroot)
    };
    let before = flagged(&mut s);
    s.apt_install(&[&strict], "");
    let after = flagged(&mut s);
    assert_eq!(
        after,
        ["net.ipv4.conf.all.rp_filter"],
        "KRNL-6000 under strict (before: {before:?})"
    );
    for fixed in [
        "net.ipv4.conf.all.accept_redirects",
        "net.ipv4.conf.all.log_martians",
        "net.ipv6.conf.all.accept_redirects",
    ] {
        assert!(
            before.contains(&fixed.to_string()),
            "{fixed} not flagged before: {before:?}"
        );
    }
    let json = s
        .chroot
        .try_run("pve-tcp-hardening status --json --compliance lynis");
    let report: serde_json::Value = serde_json::from_str(&json.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", json.stdout, json.stderr));
    let controls = report["compliance"]["controls"]
        .as_array()
        .expect("controls");
    let mut waived: Vec<String> = controls
        .iter()
        .filter(|c| c["result"] == "waived")
        .map(|c| c["key"].as_str().expect("key").to_string())
        .collect();
    waived.sort();
    assert_eq!(after, waived, "Lynis flags exactly the documented waivers");
    let failed: Vec<&serde_json::Value> =
        controls.iter().filter(|c| c["result"] == "fail").collect();
    assert!(
        failed.is_empty(),
        "failing controls under strict: {failed:?}"
    );
}

pub fn finish_lists_what_ss_shows(release: Release, name: &str, debs: impl FnOnce() -> Deb) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let deb = debs();
    // A mail-like daemon on [::1]:2525; it ends by itself should the test
    // die before it is stopped.
    s.chroot.write(
        "/tmp/pth-mail.pl",
        b"use Socket qw(:all);\n\
          socket(my $s, AF_INET6, SOCK_STREAM, 0) or die \"socket: $!\";\n\
          bind($s, pack_sockaddr_in6(2525, inet_pton(AF_INET6, '::1'))) or die \"bind: $!\";\n\
          listen($s, 5) or die \"listen: $!\";\n\
          $0 = 'pth-mail';\n\
          sleep 300;\n",
    );
    s.run(
        "ip link set lo up && \
         (setsid perl /tmp/pth-mail.pl </dev/null >/tmp/pth-mail.log 2>&1 &) && \
         for i in $(seq 50); do ss -H -tln 'sport = :2525' | grep -q . && exit 0; sleep 0.1; done; \
         cat /tmp/pth-mail.log; exit 1",
    );
    s.apt_install(&[&deb], "");
    let ss = s.run("ss -H -tlnp 'sport = :2525'").stdout;
    let pid = ss
        .split("pid=")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .unwrap_or_else(|| panic!("no pid in ss output: {ss}"))
        .to_string();
    assert!(ss.contains("[::1]:2525"), "ss: {ss}");
    let finish = s.chroot.try_run("pve-tcp-hardening finish --dry-run");
    s.run(&format!("kill {pid}"));
    assert!(
        matches!(finish.code, Some(0 | 1)),
        "finish --dry-run exit {:?}\n{}{}",
        finish.code,
        finish.stdout,
        finish.stderr
    );
    let line = finish
        .stdout
        .lines()
        .find(|l| l.contains("[::1]:2525"))
        .unwrap_or_else(|| panic!("finish does not list [::1]:2525:\n{}", finish.stdout));
    let columns: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        columns[..4],
        ["tcp6", "[::1]:2525", pid.as_str(), "pth-mail"],
        "finish: {line}\nss: {ss}"
    );
    assert!(
        finish.stdout.contains("dry run:"),
        "says what it would do:\n{}",
        finish.stdout
    );
}

pub const GUIDE_SYSCTL: &str = include_str!("../fixtures/guide/80_tcp_hardening.conf");

/// What of the guide an admin did by hand before installing the package.
#[derive(Clone, Copy, Debug)]

pub enum HandMade {
    /// All of it: the sysctl file applied, `cp -p` backup, `-4`, as after
    /// the guide's reboot (every value live).
    WholeGuide,
    /// Only `cp -p /etc/default/chrony /etc/default/chrony.orig`.
    ChronyBackupIdentical,
    /// Only a chrony.orig that differs (an older backup).
    ChronyBackupDifferent,
    /// Only the sysctl file, the guide's text, not applied.
    SysctlGuideText,
    /// Only the sysctl file, edited (other values, a key more, one less).
    SysctlEdited,
}

impl HandMade {
    fn prepare(self, s: &mut Scenario) {
        let chrony_backup = "cp -p /etc/default/chrony /etc/default/chrony.orig";
        let sysctl_file = |text: &str| {
            format!("cat > /etc/sysctl.d/80_tcp_hardening.conf <<'EOF'\n{text}EOF\nchmod 0640 /etc/sysctl.d/80_tcp_hardening.conf")
        };
        match self {
            HandMade::WholeGuide => {
                s.run(&sysctl_file(GUIDE_SYSCTL));
                s.run("sysctl -q -p /etc/sysctl.d/80_tcp_hardening.conf");
                s.run(chrony_backup);
                s.run(r#"sed -i 's/^DAEMON_OPTS="/DAEMON_OPTS="-4 /' /etc/default/chrony"#);
                s.reboot_expected = false;
            }
            HandMade::ChronyBackupIdentical => {
                s.run(chrony_backup);
            }
            HandMade::ChronyBackupDifferent => {
                s.run(
                    "printf '# backup from an older release\\nDAEMON_OPTS=\"\"\\n' > /etc/default/chrony.orig && chmod 0600 /etc/default/chrony.orig && touch -d 2020-01-01 /etc/default/chrony.orig",
                );
            }
            HandMade::SysctlGuideText => {
                s.run(&sysctl_file(GUIDE_SYSCTL));
            }
            HandMade::SysctlEdited => {
                s.run(&sysctl_file(&edited_guide()));
            }
        }
    }

    fn has_sysctl_file(self) -> bool {
        matches!(
            self,
            HandMade::WholeGuide | HandMade::SysctlGuideText | HandMade::SysctlEdited
        )
    }

    fn has_chrony_backup(self) -> bool {
        matches!(
            self,
            HandMade::WholeGuide
                | HandMade::ChronyBackupIdentical
                | HandMade::ChronyBackupDifferent
        )
    }
}

pub fn edited_guide() -> String {
    GUIDE_SYSCTL
        .replace("tcp_fin_timeout = 10", "tcp_fin_timeout = 15")
        .replace("net.ipv4.tcp_sack = 0\n", "net.ipv4.tcp_syncookies = 1\n")
}

pub fn hand_hardened(
    release: Release,
    name: &str,
    made: HandMade,
    debs: impl FnOnce() -> (Deb, Deb),
) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let (deb, strict) = debs();
    made.prepare(&mut s);
    s.baseline();
    let both = [&deb, &strict];

    let said = install_saying(&mut s, &deb);
    s.expect_active(&deb, &both);
    let kept = "/var/lib/pve-tcp-hardening/adopted";
    if made.has_sysctl_file() {
        assert!(
            said.contains(&format!("your own /etc/sysctl.d/80_tcp_hardening.conf (there before this package) is kept as {kept}/etc/sysctl.d/80_tcp_hardening.conf")),
            "{said}"
        );
        let expected = match made {
            HandMade::SysctlEdited => "it differed from this profile in: net.ipv4.tcp_fin_timeout (15, profile 10), net.ipv4.tcp_sack (not set, profile 0), net.ipv4.tcp_syncookies (1, not in the profile)",
            _ => "it set the same values as this profile",
        };
        assert!(said.contains(expected), "{said}");
    }
    if made.has_chrony_backup() {
        assert!(
            said.contains(&format!("your own /etc/default/chrony.orig (there before this package) is kept as {kept}/etc/default/chrony.orig")),
            "{said}"
        );
    }
    let installed = s.snapshot();
    let again = install_saying(&mut s, &deb);
    assert!(
        !again.contains("your own"),
        "a reinstall adopts nothing: {again}"
    );
    installed.assert_same(&s.snapshot(), "after a reinstall");
    s.apt_purge(&[&deb.package])
        .expect_pristine("install, reinstall, purge");

    install_saying(&mut s, &deb);
    s.expect_active(&deb, &both);
    s.run(&format!("apt-get remove -y {}", deb.package));
    // From config-files state: the conffile left by the remove is ours,
    // not the admin's, and must not be adopted.
    let again = install_saying(&mut s, &deb);
    assert!(!again.contains("your own"), "after a remove: {again}");
    s.expect_active(&deb, &both);
    s.run(&format!("apt-get remove -y {}", deb.package));
    s.apt_purge(&[&deb.package])
        .expect_pristine("install, remove, install, remove, purge");

    install_saying(&mut s, &deb);
    s.expect_active(&deb, &both);
    install_saying(&mut s, &strict);
    s.expect_active(&strict, &both);
    s.apt_purge(&[&deb.package, &strict.package])
        .expect_pristine("install, switch to strict, purge both");
}

fn install_saying(s: &mut Scenario, deb: &Deb) -> String {
    let inside = s.chroot.copy_in(&deb.path);
    let ran = s.run(&format!(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y --reinstall -o Dpkg::Use-Pty=0 {inside}"
    ));
    assert!(
        !ran.stdout.contains("Configuration file") && !ran.stderr.contains("conffile prompt"),
        "dpkg asked about a conffile:\n{}{}",
        ran.stdout,
        ran.stderr
    );
    format!("{}{}", ran.stdout, ran.stderr)
}

const ON_A_TERMINAL: &str = r#"set -eu
rm -f /tmp/keys /tmp/typescript /tmp/live-during-note
mkfifo /tmp/keys
exec 9<>/tmp/keys
DEBIAN_FRONTEND=dialog TERM=xterm COLUMNS=100 LINES=40 \
	timeout 300 script -qfec "apt-get $1" /tmp/typescript </tmp/keys >/dev/null 2>&1 &
pid=$!
seen=no
while kill -0 "$pid" 2>/dev/null; do
	# debconf's Dialog backtitle: a dialog is up (the words alone also come
	# on stderr, which the terminal shows too).
	if [ $seen = no ] && grep -q 'Package configuration' /tmp/typescript 2>/dev/null; then
		seen=yes
		echo NOTE-SHOWN
		(cd /proc/sys/net && { grep -r -s '' . || true; }) >/tmp/live-during-note
		dpkg-query -W -f '${db:Status-Abbrev}\n' "$2" >>/tmp/live-during-note
	fi
	# Enter for whatever dialog is up (whiptail redraws; count nothing).
	[ $seen = no ] || printf '\r' >&9
	sleep 0.5
done
wait "$pid"
"#;

pub fn reboot_note_on_a_terminal(release: Release, name: &str, debs: impl FnOnce() -> Deb) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let deb = debs();
    s.run("command -v whiptail && command -v script");
    s.baseline();
    let inside = s.chroot.copy_in(&deb.path);
    let on_terminal = |s: &mut Scenario, args: &str| -> Ran {
        let script = format!(
            "cat > /tmp/on-a-terminal <<'EOS'\n{ON_A_TERMINAL}EOS\nsh /tmp/on-a-terminal '{args}' {}",
            deb.package
        );
        s.run(&script)
    };

    let first = on_terminal(&mut s, &format!("install -y {inside}"));
    assert_eq!(
        first.stdout.matches("NOTE-SHOWN").count(),
        1,
        "the note on the first install:\n{}",
        first.stdout
    );
    let during =
        String::from_utf8(s.chroot.read("/tmp/live-during-note").expect("recorded")).expect("text");
    for (key, want) in &deb.profile.settings {
        let path = format!("./{}:", key.trim_start_matches("net.").replace('.', "/"));
        let live = during
            .lines()
            .find_map(|l| l.strip_prefix(&path))
            .map(crate::harness::chroot::normalize_value);
        assert_eq!(
            live.as_deref(),
            Some(want.as_str()),
            "{key} while the note was on screen"
        );
    }
    assert!(
        during.trim_end().ends_with("iF") || during.trim_end().ends_with("iH"),
        "the note shows from postinst (half-configured): {during}"
    );
    s.expect_active(&deb, &[]);

    let again = on_terminal(&mut s, &format!("install -y --reinstall {inside}"));
    assert_eq!(
        again.stdout.matches("NOTE-SHOWN").count(),
        0,
        "no note on a reinstall:\n{}",
        again.stdout
    );
    s.run(&format!(
        "dpkg-reconfigure -fdialog {} </dev/null",
        deb.package
    ));
    s.apt_purge(&[&deb.package])
        .expect_pristine("after the interactive install");

    // A terminal but DEBIAN_FRONTEND=noninteractive: no dialog and nothing
    // waits (stdin is a pipe nobody writes to: a read would hang until the
    // timeout); the words are on the terminal all the same.
    s.run(&format!(
        "mkfifo /tmp/never; exec 9<>/tmp/never; DEBIAN_FRONTEND=noninteractive TERM=xterm \
         timeout 300 script -qfec 'apt-get install -y {inside}' /tmp/typescript </tmp/never >/dev/null; \
         ! grep -q 'Package configuration' /tmp/typescript && grep -q atlnup /tmp/typescript"
    ));
    s.expect_active(&deb, &[]);
    s.apt_purge(&[&deb.package]);
    // No terminal at all (setsid: no controlling tty), Dialog asked for.
    let ran = s.run(&format!(
        "exec 9<>/tmp/never; DEBIAN_FRONTEND=dialog setsid -w timeout 300 \
         apt-get install -y -o Dpkg::Use-Pty=0 {inside} </tmp/never"
    ));
    assert!(
        ran.stderr.contains("Reboot this node when convenient"),
        "the words on stderr without a terminal:\n{}",
        ran.stderr
    );
    s.expect_active(&deb, &[]);
    let words =
        String::from_utf8(s.chroot.read("/run/reboot-required").expect("flag")).expect("text");
    assert!(
        words.contains("pve-tcp-hardening: Reboot this node when convenient"),
        "{words}"
    );
    s.apt_purge(&[&deb.package])
        .expect_pristine("after the terminal-less install");
}

/// postfix's main.cf.
const MAIN_CF: &str = "/etc/postfix/main.cf";

/// `postconf -h inet_protocols` in the chroot.
fn inet_protocols(s: &mut Scenario) -> String {
    s.run("postconf -h inet_protocols")
        .stdout
        .trim()
        .to_string()
}

/// Issue 28: Debian's real postfix, installed from the mirror, with
/// `inet_interfaces = localhost` and its postinst's own `inet_protocols =
/// all`. The install sets `ipv4` with postconf and `postfix check` passes
/// with IPv6 off (with `all` it fails on ::1: checked too); a reinstall of
/// postfix in between runs our trigger and postfix stays IPv4-only; purge
/// gives main.cf back byte for byte.
pub fn postfix_localhost_stays_startable(
    release: Release,
    name: &str,
    debs: impl FnOnce() -> (Deb, std::path::PathBuf),
) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let (deb, postfix_deb) = debs();
    s.chroot.download_from_mirror(&["postfix"]);
    // postfix's postinst (newaliases) and `postfix check` need an active
    // interface: the namespace's own loopback, up.
    s.run("ip link set lo up");
    s.run("apt-get install -y --no-install-recommends --no-download postfix");
    s.run("postconf -e inet_interfaces=localhost");
    s.run("postfix check");
    let original = s.chroot.read(MAIN_CF).expect("postfix's main.cf");
    assert_eq!(
        inet_protocols(&mut s),
        "all",
        "Debian's postfix on a dual-stack host"
    );

    let deb_inside = s.chroot.copy_in(&deb.path);
    let ran = s.run(&format!("apt-get install -y {deb_inside} 2>&1"));
    assert!(
        ran.stdout.contains(
            "postfix: inet_protocols set to ipv4 (was all) in /etc/postfix/main.cf with postconf: \
             with IPv6 off, postfix with inet_interfaces = localhost cannot start"
        ),
        "{}",
        ran.stdout
    );
    assert_eq!(inet_protocols(&mut s), "ipv4");
    s.run("postfix check");
    let ours = s.chroot.read(MAIN_CF).expect("main.cf");
    // Without the fix: the same main.cf with `all` cannot start now.
    let all_fails = s.chroot.try_run(
        "sed -i 's/^inet_protocols = ipv4$/inet_protocols = all/' /etc/postfix/main.cf \
         && postfix check",
    );
    s.run("postconf -e inet_protocols=ipv4");
    assert_eq!(s.chroot.read(MAIN_CF).expect("main.cf"), ours);
    let said = format!("{}{}", all_fails.stdout, all_fails.stderr);
    eprintln!("without the fix, postfix check said: {said}");
    assert!(
        !all_fails.success(),
        "with inet_protocols = all and IPv6 off, postfix check should fail: {said}"
    );

    // postfix's own reinstall: its postinst runs postconf on main.cf again,
    // and dpkg runs our trigger on /usr/sbin/postconf.
    let postfix_inside = s.chroot.copy_in(&postfix_deb);
    let ran = s.run(&format!("dpkg -i {postfix_inside} 2>&1"));
    assert!(
        ran.stdout
            .contains("Processing triggers for pve-tcp-hardening"),
        "our trigger on /usr/sbin/postconf did not run: {}",
        ran.stdout
    );
    assert_eq!(inet_protocols(&mut s), "ipv4", "after postfix's reinstall");
    s.run("postfix check");
    let after_reinstall = s.chroot.read(MAIN_CF).expect("main.cf");

    let ran = s.run(&format!("apt-get purge -y {} 2>&1", deb.package));
    if after_reinstall == ours {
        assert_eq!(
            s.chroot.read(MAIN_CF).expect("main.cf"),
            original,
            "main.cf not given back byte for byte: {}",
            ran.stdout
        );
    } else {
        // postfix's reinstall rewrote main.cf: only our key goes back.
        assert!(
            ran.stdout.contains("main.cf was edited since the install"),
            "{}",
            ran.stdout
        );
        assert_eq!(inet_protocols(&mut s), "all");
    }
    assert!(
        !s.chroot.path(STATE_DIR).exists(),
        "{STATE_DIR} left after purge"
    );
}
