//! `pve-tcp-hardening finish` on fake host trees: sockets in a fake
//! `/proc/net/tcp6`/`udp6`, owners with `/proc/PID/fd` and cgroup v2 paths,
//! and a fake `systemctl` first on PATH that logs its calls and, like a
//! real restart with IPv6 off, leaves the restarted unit's processes without
//! their IPv6 sockets.

mod common;

use common::fake_host::{profile, FakeHost};
use common::{assert_lacks, Run};
use std::net::Ipv6Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// One socket of the fake proc tree and the process that owns it.
struct Socket {
    proto: &'static str,
    address: &'static str,
    port: u16,
    pid: u32,
    comm: &'static str,
    cgroup: &'static str,
}

const CHRONY: Socket = Socket {
    proto: "udp6",
    address: "::1",
    port: 323,
    pid: 601,
    comm: "chronyd",
    cgroup: "0::/system.slice/chrony.service",
};
const MAIL: Socket = Socket {
    proto: "tcp6",
    address: "::1",
    port: 25,
    pid: 702,
    comm: "master",
    cgroup: "0::/system.slice/system-postfix.slice/postfix@-.service",
};
const COROSYNC: Socket = Socket {
    proto: "udp6",
    address: "::1",
    port: 5405,
    pid: 803,
    comm: "corosync",
    cgroup: "0::/system.slice/corosync.service",
};
const VM: Socket = Socket {
    proto: "tcp6",
    address: "::1",
    port: 5900,
    pid: 904,
    comm: "kvm",
    cgroup: "0::/qemu.slice/100.scope",
};
const SSHD_WILDCARD: Socket = Socket {
    proto: "tcp6",
    address: "::",
    port: 22,
    pid: 505,
    comm: "sshd",
    cgroup: "0::/system.slice/ssh.service",
};

/// An installed default profile (IPv6 off live, a reboot asked for), the
/// sockets in its proc tree, and a fake systemctl.
struct Node {
    host: FakeHost,
    bin: tempfile::TempDir,
}

impl Node {
    fn new(sockets: &[&Socket]) -> Node {
        let host = FakeHost::new();
        host.install(&profile("default"));
        let node = Node {
            host,
            bin: tempfile::tempdir().unwrap(),
        };
        node.add_sockets(sockets);
        node.fake_systemctl();
        node
    }

    fn proc(&self) -> PathBuf {
        self.host.path("proc")
    }

    fn add_sockets(&self, sockets: &[&Socket]) {
        let header = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n";
        std::fs::create_dir_all(self.proc().join("net")).unwrap();
        for proto in ["tcp6", "udp6"] {
            let mut table = header.to_string();
            for (n, s) in sockets.iter().enumerate().filter(|(_, s)| s.proto == proto) {
                let state = if proto == "tcp6" { "0A" } else { "07" };
                table.push_str(&format!(
                    "{n:4}: {}:{:04X} 00000000000000000000000000000000:0000 {state} 00000000:00000000 00:00000000 00000000     0        0 {} 1 0000000000000000 100 0 0 10 0\n",
                    proc_hex(s.address.parse().unwrap()),
                    s.port,
                    inode(s)
                ));
            }
            std::fs::write(self.proc().join("net").join(proto), table).unwrap();
        }
        for s in sockets {
            let dir = self.proc().join(s.pid.to_string());
            std::fs::create_dir_all(dir.join("fd")).unwrap();
            std::fs::write(dir.join("comm"), format!("{}\n", s.comm)).unwrap();
            std::fs::write(dir.join("cgroup"), format!("{}\n", s.cgroup)).unwrap();
            std::os::unix::fs::symlink(
                format!("socket:[{}]", inode(s)),
                dir.join("fd").join(s.port.to_string()),
            )
            .unwrap();
        }
    }

    /// `systemctl try-restart UNIT`: log it, and close the IPv6 sockets of
    /// the unit's processes as their restart would (the new process cannot
    /// bind an address that is gone); fail for the units in
    /// FAKE_SYSTEMCTL_FAIL; with FAKE_SYSTEMCTL_SOCKETS_STAY set, succeed
    /// and leave the sockets (a restart that did not help).
    /// `systemctl is-active UNIT` (not logged): `failed` for the units in
    /// FAKE_SYSTEMCTL_DEAD (their restart job succeeds, then the daemon
    /// dies: postfix with inet_interfaces = localhost), else `active`. A
    /// fake `journalctl` gives such a unit's last line.
    fn fake_systemctl(&self) {
        // The daemons' own configuration tests (`finish` runs them before a
        // restart): pass, unless FAKE_CHECK_FAILS names the program.
        for program in ["postmulti", "sshd"] {
            let path = self.bin.path().join(program);
            std::fs::write(
                &path,
                format!(
                    "#!/bin/sh\n\
                     echo \"{program} $*\" >> {checks}\n\
                     case \" $FAKE_CHECK_FAILS \" in *\" {program} \"*)\n\
                     \techo \"postfix/postfix-script: warning: not owned by postfix: /var/spool/postfix/active\" >&2\n\
                     \techo \"/usr/sbin/postconf: fatal: /etc/postfix/main.cf, line 12: missing '=' after attribute name: \\\"inet_interfaces localhost\\\"\" >&2\n\
                     \texit 1 ;;\n\
                     esac\n",
                    checks = self.checks_path().display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let journal = self.bin.path().join("journalctl");
        std::fs::write(
            &journal,
            "#!/bin/sh\n\
             for unit; do :; done\n\
             echo \"-- Boot 1 --\"\n\
             case \" $FAKE_JOURNAL_UNRELATED \" in *\" $unit \"*) echo \"fatal: open /etc/postfix/main.cf: No such file or directory\"; exit 0 ;; esac\n\
             echo \"fatal: parameter inet_interfaces: no local interface found for ::1 ($unit)\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o755)).unwrap();
        let script = format!(
            "#!/bin/sh\n\
             if [ \"$1\" = list-units ]; then\n\
             \tfor u in $FAKE_SYSTEMCTL_DEAD; do echo \"$u loaded failed failed Some daemon\"; done; exit 0\n\
             fi\n\
             if [ \"$1\" = is-active ]; then\n\
             \tcase \" $FAKE_SYSTEMCTL_DEAD \" in *\" $2 \"*) echo failed; exit 3 ;; esac\n\
             \techo active; exit 0\n\
             fi\n\
             echo \"$*\" >> {log}\n\
             case \" $FAKE_SYSTEMCTL_FAIL \" in *\" $2 \"*) echo \"Job for $2 failed.\" >&2; exit 1 ;; esac\n\
             [ -z \"$FAKE_SYSTEMCTL_SOCKETS_STAY\" ] || exit 0\n\
             for cg in {proc}/[0-9]*/cgroup; do\n\
             \tgrep -q \"/$2\\$\" \"$cg\" || continue\n\
             \tfor fd in \"${{cg%/cgroup}}\"/fd/*; do\n\
             \t\tinode=$(readlink \"$fd\" | tr -dc 0-9)\n\
             \t\tsed -i \"/ $inode 1 /d\" {proc}/net/tcp6 {proc}/net/udp6\n\
             \t\trm \"$fd\"\n\
             \tdone\n\
             done\n\
             exit 0\n",
            log = self.log_path().display(),
            proc = self.proc().display()
        );
        let path = self.bin.path().join("systemctl");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// PATH with the fake systemctl, journalctl and configuration tests first.
    fn path_with_fakes(&self) -> String {
        format!(
            "{}:{}",
            self.bin.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    fn log_path(&self) -> PathBuf {
        self.bin.path().join("calls.log")
    }

    fn checks_path(&self) -> PathBuf {
        self.bin.path().join("checks.log")
    }

    /// The configuration tests run, one a line.
    fn checks(&self) -> String {
        std::fs::read_to_string(self.checks_path()).unwrap_or_default()
    }

    /// What the fake systemctl was asked, one call a line.
    fn calls(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn finish(&self, extra: &[&str]) -> Run {
        let path = self.path_with_fakes();
        Run::helper()
            .args(["finish", "--root"])
            .args([self.host.dir.path()])
            .args(["--proc"])
            .args([self.proc()])
            .args(extra)
            .env("PATH", &path)
    }

    fn status(&self) -> Run {
        Run::helper()
            .args(["status", "--root"])
            .args([self.host.dir.path()])
            .args(["--proc"])
            .args([self.proc()])
    }

    /// `status` on a node where systemd runs (`/run/systemd/system`), with
    /// the fake systemctl and journalctl first on PATH.
    fn status_with_systemd(&self) -> Run {
        std::fs::create_dir_all(self.host.path("run/systemd/system")).unwrap();
        self.status().env("PATH", &self.path_with_fakes())
    }

    fn reboot_requested(&self) -> bool {
        self.host.path("run/reboot-required").exists()
    }
}

/// /proc prints an IPv6 address as four 32-bit words in host byte order.
fn proc_hex(address: Ipv6Addr) -> String {
    address
        .octets()
        .chunks(4)
        .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
        .collect()
}

fn inode(s: &Socket) -> u32 {
    10_000 + s.pid
}

#[test]
fn dry_run_lists_each_socket_with_its_unit_and_changes_nothing() {
    let node = Node::new(&[&CHRONY, &MAIL, &COROSYNC, &VM, &SSHD_WILDCARD]);
    let out = node
        .finish(&["--dry-run"])
        .status(1)
        .stdout_contains("udp6   [::1]:323      601  chronyd   chrony.service       restart\n")
        .stdout_contains("tcp6   [::1]:25       702  master    postfix@-.service    restart\n")
        .stdout_contains("udp6   [::1]:5405     803  corosync  corosync.service     keep: cluster communication: a restart can cost quorum\n")
        .stdout_contains("tcp6   [::1]:5900     904  kvm       VM 100 (qemu.slice)  keep: a guest\n")
        .stdout_contains("dry run: would restart 2 services, one at a time: chrony.service, postfix@-.service\n")
        .stdout_contains("dry run: a reboot would still be needed for: VM 100 (qemu.slice) (a guest); corosync.service (cluster communication: a restart can cost quorum)\n")
        .run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains(":22 "),
        "a wildcard listener is not listed: {stdout}"
    );
    assert_eq!(node.calls(), "", "a dry run restarts nothing");
    assert!(node.reboot_requested());
}

#[test]
fn restarts_what_it_may_and_names_what_still_needs_a_reboot() {
    let node = Node::new(&[&CHRONY, &MAIL, &COROSYNC, &SSHD_WILDCARD]);
    node.finish(&[])
        .status(1)
        .stdout_contains("restarted chrony.service\nrestarted postfix@-.service\n")
        .stdout_contains("still bound to an IPv6 address:\n")
        .stdout_contains("reboot still needed for: corosync.service (cluster communication: a restart can cost quorum)\n")
        .run();
    assert_eq!(
        node.calls(),
        "try-restart chrony.service\ntry-restart postfix@-.service\n",
        "one at a time, each once, never corosync"
    );
    assert!(node.reboot_requested(), "the reboot is still needed");
    assert!(node
        .host
        .read("run/reboot-required.pkgs")
        .contains("pve-tcp-hardening"));
}

#[test]
fn nothing_left_takes_back_the_reboot_request_and_status_is_all_in_force() {
    let node = Node::new(&[&CHRONY, &MAIL, &SSHD_WILDCARD]);
    node.status()
        .status(1)
        .stdout_contains("to finish: reboot, or run `pve-tcp-hardening finish` to restart these 2 services instead: chrony.service, postfix@-.service\n")
        .run();
    node.finish(&["--dry-run"])
        .stdout_contains("dry run: then no reboot would be needed for IPv6\n")
        .run();
    node.finish(&[])
        .stdout_contains("nothing holds an IPv6 address any more")
        .stdout_contains("pve-tcp-hardening no longer needs a reboot: /run/reboot-required removed (no other package asked for one)\n")
        .run();
    assert!(!node.reboot_requested());
    assert!(!node.host.path("run/reboot-required.pkgs").exists());
    node.status()
        .stdout_contains("reboot pending: no\n")
        .stdout_contains("all in force\n")
        .run();
    // Run again: nothing to do, still 0.
    node.finish(&[])
        .stdout_contains("no socket is bound to an IPv6 address\n")
        .run();
}

#[test]
fn another_packages_reboot_request_stays() {
    let node = Node::new(&[&MAIL]);
    std::fs::write(
        node.host.path("run/reboot-required.pkgs"),
        "linux-image-6.1.0-18-amd64\npve-tcp-hardening\n",
    )
    .unwrap();
    node.finish(&[])
        .stdout_contains(
            "still asking for one in /run/reboot-required.pkgs: linux-image-6.1.0-18-amd64\n",
        )
        .run();
    assert!(node.reboot_requested());
    assert_eq!(
        node.host.read("run/reboot-required.pkgs"),
        "linux-image-6.1.0-18-amd64\n"
    );
}

#[test]
fn units_the_admin_lists_are_never_restarted() {
    let node = Node::new(&[&CHRONY, &MAIL]);
    std::fs::create_dir_all(node.host.path("etc/pve-tcp-hardening")).unwrap();
    std::fs::write(
        node.host.path("etc/pve-tcp-hardening/finish.conf"),
        "# our mail relay restarts only in the maintenance window\npostfix@*\n",
    )
    .unwrap();
    node.finish(&[])
        .status(1)
        .stdout_contains("keep: listed in /etc/pve-tcp-hardening/finish.conf:2\n")
        .stdout_contains("reboot still needed for: postfix@-.service (listed in /etc/pve-tcp-hardening/finish.conf:2)\n")
        .run();
    assert_eq!(node.calls(), "try-restart chrony.service\n");
}

#[test]
fn a_bad_config_line_is_an_error_naming_file_and_line() {
    let node = Node::new(&[&MAIL]);
    std::fs::create_dir_all(node.host.path("etc/pve-tcp-hardening")).unwrap();
    std::fs::write(
        node.host.path("etc/pve-tcp-hardening/finish.conf"),
        "chrony.service\npostfix, exim4\n",
    )
    .unwrap();
    node.finish(&["--dry-run"])
        .status(2)
        .stderr_contains(
            "/etc/pve-tcp-hardening/finish.conf:2: `postfix, exim4` is not a unit name or pattern",
        )
        .run();
    assert_eq!(node.calls(), "");
}

#[test]
fn a_failed_restart_is_reported_and_the_reboot_stays_needed() {
    let node = Node::new(&[&CHRONY, &MAIL]);
    node.finish(&[])
        .env("FAKE_SYSTEMCTL_FAIL", "postfix@-.service")
        .status(1)
        .stdout_contains("could not restart postfix@-.service: systemctl try-restart postfix@-.service failed (exit status: 1): Job for postfix@-.service failed.\n")
        .stdout_contains("restarted chrony.service\n")
        .stdout_contains("reboot still needed for: postfix@-.service (its restart failed)\n")
        .run();
    assert!(node.reboot_requested());
}

#[test]
fn a_socket_still_bound_after_its_restart_keeps_the_reboot_needed() {
    let node = Node::new(&[&MAIL]);
    node.finish(&[])
        .env("FAKE_SYSTEMCTL_SOCKETS_STAY", "1")
        .status(1)
        .stdout_contains("restarted postfix@-.service\n")
        .stdout_contains(
            "reboot still needed for: postfix@-.service (still bound after its restart)\n",
        )
        .run();
    assert_eq!(node.calls(), "try-restart postfix@-.service\n");
    assert!(node.reboot_requested());
}

#[test]
fn with_ipv6_still_on_live_it_restarts_nothing() {
    let node = Node::new(&[&MAIL]);
    node.host.set_live("net.ipv6.conf.all.disable_ipv6", "0");
    node.finish(&[])
        .status(1)
        .stdout_contains("IPv6 is not off yet: net.ipv6.conf.all.disable_ipv6 is 0 (wanted 1)\n")
        .run();
    assert_eq!(node.calls(), "");
}

#[test]
fn a_profile_with_ipv6_on_has_nothing_to_finish() {
    let host = FakeHost::new();
    host.install(&profile("ipv6"));
    Run::helper()
        .args(["finish", "--root"])
        .args([host.dir.path()])
        .args(["--proc"])
        .args([host.path("proc")])
        .stdout("profile ipv6 keeps IPv6 on: no socket loses its address, nothing to finish\n")
        .run();
}

#[test]
fn a_tree_without_proc_is_refused() {
    let host = FakeHost::new();
    host.install(&profile("default"));
    Run::helper()
        .args(["finish", "--root"])
        .args([host.dir.path()])
        .status(2)
        .stderr_contains("finish works on a running system")
        .run();
}

/// The reboot words of the install and `plan` offer `finish` as the other
/// way, naming the services it would restart and what it would not.
#[test]
fn the_reboot_words_and_plan_offer_finish_instead() {
    let node = Node::new(&[&MAIL, &COROSYNC]);
    let choice = "reboot, or run `pve-tcp-hardening finish` to restart these 1 service instead: \
                  postfix@-.service (a reboot is still needed for: corosync.service";
    // Configure again: the reboot asked for at the install is still due.
    node.host
        .maint("postinst", &["configure"])
        .stderr_contains(&format!("Or, instead of the reboot: {choice}"))
        .run();
    let plan = Run::helper()
        .args(["plan", "--root"])
        .args([node.host.dir.path()])
        .args(["--proc"])
        .args([node.proc()])
        .args(["--profile"])
        .args([node.host.path("usr/share/pve-tcp-hardening/profile.json")])
        .stdout_contains(&format!("after the install: {choice}"))
        // Each daemon that loses its address: unit and fix, before anything.
        .stdout_contains("[postfix@-.service]\n  fix: `pve-tcp-hardening finish` restarts postfix@-.service (or reboot); make sure its configuration does not name ::1 or localhost\n")
        .stdout_contains("[corosync.service]\n  fix: only the reboot closes it (cluster communication: a restart can cost quorum)\n")
        .run();
    assert!(plan.status.success());
    let json = Run::helper()
        .args(["plan", "--json", "--root"])
        .args([node.host.dir.path()])
        .args(["--proc"])
        .args([node.proc()])
        .args(["--profile"])
        .args([node.host.path("usr/share/pve-tcp-hardening/profile.json")])
        .run();
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let going = report["ipv6_sockets_going_away"].as_array().unwrap();
    let units: Vec<&str> = going.iter().map(|g| g["unit"].as_str().unwrap()).collect();
    assert_eq!(units, ["postfix@-.service", "corosync.service"]);
    assert!(going[1]["fix"]
        .as_str()
        .unwrap()
        .starts_with("only the reboot"));
    assert_eq!(node.calls(), "", "plan and configure restart nothing");
}

#[test]
fn a_unit_that_dies_after_its_restart_fails_finish_and_keeps_the_reboot_request() {
    // The restart job succeeds, the daemon then cannot bind `localhost`
    // (::1 is gone) and exits: its sockets are gone, and "nothing holds an
    // IPv6 address" would be true of a dead mail system.
    let node = Node::new(&[&CHRONY, &MAIL]);
    let out = node
        .finish(&[])
        .env("FAKE_SYSTEMCTL_DEAD", "postfix@-.service")
        .status(1)
        .stdout_contains("restarted chrony.service\n")
        .stdout_contains("restarted postfix@-.service\n")
        .stdout_contains("postfix@-.service is failed after its restart: fatal: parameter inet_interfaces: no local interface found for ::1 (postfix@-.service)\n")
        .stdout_contains("not finished: postfix@-.service not running; see `systemctl status postfix@-.service`")
        .run();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_lacks(
        &text,
        "nothing holds an IPv6 address any more",
        "a unit is dead",
    );
    assert!(node.reboot_requested(), "the reboot request must stay");
    assert_eq!(
        node.calls(),
        "try-restart chrony.service\ntry-restart postfix@-.service\n"
    );
}

#[test]
fn a_daemon_whose_configuration_check_fails_is_not_restarted() {
    // `postfix check` before the restart: a postfix that cannot start from
    // its main.cf keeps running on ::1 rather than being stopped for good.
    let node = Node::new(&[&CHRONY, &MAIL, &SSHD_WILDCARD]);
    let out = node
        .finish(&[])
        .env("FAKE_CHECK_FAILS", "postmulti")
        .status(1)
        .stdout_contains(
            "not restarting postfix@-.service: `postmulti -i - -p check` fails: \
             /usr/sbin/postconf: fatal: /etc/postfix/main.cf, line 12: missing '=' after attribute name: \"inet_interfaces localhost\"\n",
        )
        .stdout_contains("restarted chrony.service\n")
        .stdout_contains(
            "reboot still needed for: postfix@-.service (`postmulti -i - -p check` fails: fix its configuration first)\n",
        )
        .run();
    assert_lacks(
        &String::from_utf8(out.stdout).unwrap(),
        "nothing holds an IPv6 address any more",
        "postfix still holds ::1",
    );
    assert_eq!(node.calls(), "try-restart chrony.service\n");
    assert_eq!(node.checks(), "postmulti -i - -p check\n");
    assert!(node.reboot_requested(), "the reboot request must stay");

    // The dry run says the same and restarts nothing.
    let node = Node::new(&[&CHRONY, &MAIL]);
    node.finish(&["--dry-run"])
        .env("FAKE_CHECK_FAILS", "postmulti")
        .status(1)
        .stdout_contains("dry run: would restart 1 service, one at a time: chrony.service\n")
        .stdout_contains(
            "dry run: a reboot would still be needed for: postfix@-.service (`postmulti -i - -p check` fails: fix its configuration first)\n",
        )
        .run();
    assert_eq!(node.calls(), "");
}

#[test]
fn a_passing_configuration_check_is_named_and_the_restart_goes_on() {
    let node = Node::new(&[&MAIL]);
    node.finish(&[])
        .status(0)
        .stdout_contains(
            "postfix@-.service: `postmulti -i - -p check` passes\nrestarted postfix@-.service\n",
        )
        .run();
    assert_eq!(node.checks(), "postmulti -i - -p check\n");
    assert!(!node.reboot_requested());
}

#[test]
fn status_names_a_unit_that_failed_for_want_of_an_ipv6_address() {
    // After `finish` restarted postfix into failure (or after the reboot),
    // the node's mail is dead: status and the boot check say so.
    let node = Node::new(&[&CHRONY, &MAIL]);
    node.finish(&[])
        .env("FAKE_SYSTEMCTL_DEAD", "postfix@-.service")
        .status(1)
        .run();
    let line =
        "postfix@-.service failed for want of an IPv6 address: fatal: parameter inet_interfaces: \
                no local interface found for ::1 (postfix@-.service) (make it IPv4-only, then \
                `systemctl restart postfix@-.service`)";
    node.status_with_systemd()
        .env("FAKE_SYSTEMCTL_DEAD", "postfix@-.service")
        .status(1)
        .stdout_contains(line)
        .run();
    let json = node
        .status_with_systemd()
        .args(["--json"])
        .env("FAKE_SYSTEMCTL_DEAD", "postfix@-.service")
        .status(1)
        .run();
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["failed_units"][0]["unit"], "postfix@-.service");
    assert_eq!(report["ok"], false);
    node.status_with_systemd()
        .args(["--format", "nagios"])
        .env("FAKE_SYSTEMCTL_DEAD", "postfix@-.service")
        .status(2)
        .stdout_contains("postfix@-.service failed: no IPv6 address")
        .run();
    node.status_with_systemd()
        .args(["--format", "journal"])
        .env("FAKE_SYSTEMCTL_DEAD", "postfix@-.service")
        .stdout_contains("postfix@-.service failed for want of an IPv6 address")
        .run();

    // A unit that failed for another reason is not ours to name; without a
    // running systemd under the root nothing is asked.
    let out = node
        .status_with_systemd()
        .args(["--json"])
        .env("FAKE_SYSTEMCTL_DEAD", "postfix@-.service")
        .env("FAKE_JOURNAL_UNRELATED", "postfix@-.service")
        .status(1) // the reboot request stays
        .run();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failed_units"], serde_json::json!([]));
    std::fs::remove_dir(node.host.path("run/systemd/system")).unwrap();
    let out = node
        .status()
        .args(["--json"])
        .env("FAKE_SYSTEMCTL_DEAD", "postfix@-.service")
        .env(
            "PATH",
            &format!("{}:/usr/bin:/bin", node.bin.path().display()),
        )
        .status(1)
        .run();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failed_units"], serde_json::json!([]));
}
