//! Issue 15, lockout guard: in the scenario's network namespace, each way
//! IPv6 carries real traffic is made real; installing an IPv6-off profile
//! then fails in preinst naming it, and the host is unchanged. `plan` (run
//! from the extracted .deb, as the README's one-liner does) says the same
//! beforehand. The preseeded override installs, the `ipv6` profile
//! installs, and a non-permanent (SLAAC-like) address only warns; there
//! `plan`'s promises are compared with what the install really did.

use crate::harness::{Deb, Release, Scenario};
use serde_json::Value;

/// One way IPv6 is in use: how to make it real, what the refusal must
/// name, how to undo it.
struct Finding {
    name: &'static str,
    setup: &'static str,
    names: &'static str,
    undo: &'static str,
}

/// A tiny sshd stand-in on [::]:22 and a client connected to it over ::1,
/// both in the scenario's namespace (perl-base has IO::Socket::IP).
const SSH_SESSION: &str = r#"ip link set lo up
setsid perl -MIO::Socket::IP -e '
    my $l = IO::Socket::IP->new(LocalHost => "::", LocalPort => 22, Listen => 1, ReuseAddr => 1, V6Only => 0) or die "listen: $@";
    my $c = $l->accept; sleep 600' </dev/null >/dev/null 2>&1 &
echo $! > /tmp/e2e-sshd.pid
for i in 1 2 3 4 5 6 7 8 9 10; do grep -q ':0016 .* 0A ' /proc/net/tcp6 && break; sleep 0.2; done
setsid perl -MIO::Socket::IP -e '
    my $s = IO::Socket::IP->new(PeerHost => "::1", PeerPort => 22) or die "connect: $@"; sleep 600' </dev/null >/dev/null 2>&1 &
echo $! > /tmp/e2e-client.pid
for i in 1 2 3 4 5 6 7 8 9 10; do grep -q ':0016 .* 01 ' /proc/net/tcp6 && exit 0; sleep 0.2; done
echo "no established connection to port 22" >&2; exit 1"#;

const FINDINGS: &[Finding] = &[
    Finding {
        name: "inet6 static",
        setup: "mkdir -p /etc/network/interfaces.d && printf 'auto vmbr0\\niface vmbr0 inet6 static\\n\\taddress 2001:db8::10/64\\n\\tgateway 2001:db8::1\\n' > /etc/network/interfaces.d/vmbr0",
        names: "/etc/network/interfaces.d/vmbr0:2: iface vmbr0 inet6 static, address 2001:db8::10/64",
        undo: "rm -r /etc/network",
    },
    Finding {
        name: "corosync ring over IPv6",
        setup: "mkdir -p /etc/pve && printf 'nodelist {\\n  node {\\n    name: pve1\\n    ring0_addr: 2001:db8::11\\n  }\\n}\\n' > /etc/pve/corosync.conf",
        names: "/etc/pve/corosync.conf:4: ring0_addr 2001:db8::11",
        undo: "rm -r /etc/pve",
    },
    Finding {
        name: "permanent global address on vmbr0",
        setup: "ip link add vmbr0 type bridge && ip link set vmbr0 up && ip -6 addr add 2001:db8::10/64 dev vmbr0 nodad",
        names: "address 2001:db8::10/64 on vmbr0 (permanent",
        undo: "ip link del vmbr0",
    },
    Finding {
        name: "forwarding",
        setup: "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding",
        names: "net.ipv6.conf.all.forwarding = 1",
        undo: "echo 0 > /proc/sys/net/ipv6/conf/all/forwarding",
    },
    Finding {
        name: "ssh session over IPv6",
        setup: SSH_SESSION,
        names: "established IPv6 connection to port 22 (sshd) from [::1]:",
        undo: "kill $(cat /tmp/e2e-sshd.pid /tmp/e2e-client.pid); rm /tmp/e2e-sshd.pid /tmp/e2e-client.pid",
    },
];

/// `plan --json` from the .deb, as the README's one-liner runs it.
fn plan(s: &mut Scenario, deb: &Deb) -> (Option<i32>, Value) {
    let inside = s.chroot.copy_in(&deb.path);
    let ran = s.chroot.try_run(&format!(
        "d=$(mktemp -d) && dpkg-deb -x {inside} $d && \
         $d/usr/sbin/pve-tcp-hardening plan --profile $d/usr/share/pve-tcp-hardening/profile.json --json; \
         rc=$?; rm -rf $d; exit $rc"
    ));
    let json = serde_json::from_str(&ran.stdout).unwrap_or_else(|e| {
        panic!(
            "plan --json is not JSON ({e}):\n{}{}",
            ran.stdout, ran.stderr
        )
    });
    (ran.code, json)
}

fn stops(plan: &Value) -> String {
    plan["lockout"]["stops"].to_string()
}

/// Every finding on its own stops the default profile, before anything
/// changes; plan says so first.
pub fn each_finding_stops_the_install(release: Release, name: &str, debs: impl FnOnce() -> Deb) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let deb = debs();
    for f in FINDINGS {
        s.run(f.setup);
        let before = s.snapshot();
        let (code, p) = plan(&mut s, &deb);
        assert_eq!(code, Some(1), "[{}] plan exit, plan: {p}", f.name);
        assert_eq!(p["proceeds"], false, "[{}] {p}", f.name);
        assert!(
            stops(&p).contains(f.names),
            "[{}] plan does not name `{}`: {}",
            f.name,
            f.names,
            stops(&p)
        );

        let inside = s.chroot.copy_in(&deb.path);
        let ran = s.chroot.try_run(&format!("apt-get install -y {inside}"));
        let said = format!("{}{}", ran.stdout, ran.stderr);
        assert!(
            !ran.success(),
            "[{}] the install went ahead:\n{said}",
            f.name
        );
        assert!(
            said.contains(f.names),
            "[{}] the refusal does not name `{}`:\n{said}",
            f.name,
            f.names
        );
        assert!(
            said.contains("pve-tcp-hardening/ipv6-in-use-ok boolean true")
                && said.contains("pve-tcp-hardening-ipv6"),
            "[{}] the refusal does not show both ways forward:\n{said}",
            f.name
        );
        let status = s.status(&deb.package);
        assert!(
            status.ends_with("not-installed"),
            "[{}] dpkg status `{status}`",
            f.name
        );
        before.assert_same(
            &s.snapshot(),
            &format!("after the refused install ({})", f.name),
        );
        s.run(f.undo);
    }
    // With every finding undone, nothing stands in the way.
    let (code, p) = plan(&mut s, &deb);
    assert_eq!(code, Some(0), "plan on the cleaned host: {p}");
}

/// Installs that go ahead: a SLAAC-like address only warns; the override
/// and the `ipv6` profile install despite a finding. Each time `plan`
/// beforehand agrees with what the install then did.
pub fn installs_that_go_ahead(release: Release, name: &str, debs: impl FnOnce() -> (Deb, Deb)) {
    let Some(mut s) = Scenario::start(release, name) else {
        return;
    };
    let (default, ipv6) = debs();

    // A non-permanent address, as SLAAC makes them: a warning only.
    s.run(
        "ip link add vmbr0 type bridge && ip link set vmbr0 up && \
         ip -6 addr add 2001:db8::20/64 dev vmbr0 nodad valid_lft 3600 preferred_lft 1800",
    );
    s.baseline();
    let (code, p) = plan(&mut s, &default);
    assert_eq!(code, Some(0), "plan with a SLAAC-like address: {p}");
    let warned = "address 2001:db8::20/64 on vmbr0 (not permanent";
    assert!(p["lockout"]["warnings"].to_string().contains(warned), "{p}");
    let ran = install(&mut s, &default);
    assert!(
        ran.contains(warned) && ran.contains("warning: IPv6 in use"),
        "no warning:\n{ran}"
    );
    s.expect_active(&default, &[]);
    plan_came_true(&mut s, &p, &default);
    s.apt_purge(&[&default.package])
        .expect_pristine("after purge (SLAAC-like)");

    // A corosync link over IPv6 with the override preseeded.
    s.run(FINDINGS[1].setup);
    s.run("echo 'pve-tcp-hardening pve-tcp-hardening/ipv6-in-use-ok boolean true' | debconf-set-selections");
    s.baseline();
    let (code, p) = plan(&mut s, &default);
    assert_eq!(code, Some(0), "plan with the override: {p}");
    assert_eq!(p["lockout"]["override_set"], true, "{p}");
    assert!(stops(&p).contains(FINDINGS[1].names), "{p}");
    let ran = install(&mut s, &default);
    assert!(
        ran.contains("ipv6-in-use-ok is set"),
        "override not announced:\n{ran}"
    );
    s.expect_active(&default, &[]);
    plan_came_true(&mut s, &p, &default);
    s.apt_purge(&[&default.package]);

    // The ipv6 profile is never stopped, whatever IPv6 carries.
    s.run("echo 'pve-tcp-hardening pve-tcp-hardening/ipv6-in-use-ok boolean false' | debconf-set-selections");
    s.run(
        FINDINGS[2]
            .setup
            .replace(
                "ip link add vmbr0 type bridge && ip link set vmbr0 up && ",
                "",
            )
            .as_str(),
    );
    s.run(FINDINGS[3].setup);
    s.baseline();
    let (code, p) = plan(&mut s, &ipv6);
    assert_eq!(code, Some(0), "plan for the ipv6 profile: {p}");
    assert_eq!(p["lockout"]["checked"], false, "{p}");
    install(&mut s, &ipv6);
    s.expect_active(&ipv6, &[]);
    plan_came_true(&mut s, &p, &ipv6);
    s.apt_purge(&[&ipv6.package])
        .expect_pristine("after purging the ipv6 profile");
}

fn install(s: &mut Scenario, deb: &Deb) -> String {
    let inside = s.chroot.copy_in(&deb.path);
    let ran = s.chroot.run(&format!("apt-get install -y {inside}"));
    format!("{}{}", ran.stdout, ran.stderr)
}

/// What plan promised against what the install did: every key's value
/// right after install, chrony's diversion, the reboot request.
fn plan_came_true(s: &mut Scenario, plan: &Value, deb: &Deb) {
    let live = s.chroot.net_sysctls();
    let keys = plan["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), deb.profile.settings.len(), "{plan}");
    for k in keys {
        let key = k["key"].as_str().expect("key");
        let want = k["after_install"]
            .as_str()
            .map(crate::harness::chroot::normalize_value);
        assert_eq!(live.get(key).cloned(), want, "{key}: plan said {k}");
    }
    let diverted = s
        .chroot
        .diversions()
        .iter()
        .any(|d| d.contains("/etc/default/chrony"));
    assert_eq!(
        diverted,
        plan["chrony"]["action"] == "divert",
        "plan's chrony action {} vs diversions after install",
        plan["chrony"]
    );
    let reboot = s.chroot.read("/run/reboot-required.pkgs").is_some_and(|p| {
        String::from_utf8_lossy(&p)
            .lines()
            .any(|l| l == deb.package)
    });
    assert_eq!(
        reboot,
        plan["reboot_after_install"] == true,
        "reboot request vs plan {plan}"
    );
}
