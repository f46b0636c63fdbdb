//! The lockout check `ipv6-in-use.sh` (embedded into preinst, run by
//! `plan`) against fake host trees: each finding alone, with its exact
//! line and exit status; what only warns; what is not IPv6 traffic.

mod common;

use common::repo_root;
use std::process::Command;

const SCRIPT: &str = "src/ipv6-in-use.sh";
const TCP6_HEADER: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

/// Files of a fake tree: (path under the root, content). Paths under
/// `proc/` form the proc dir.
type Tree<'a> = &'a [(&'a str, &'a str)];

/// Runs the script with dash (Debian's /bin/sh) on a tree; (exit, stdout).
fn check(tree: Tree) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in tree {
        let file = dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    let out = Command::new("dash")
        .arg(repo_root().join(SCRIPT))
        .arg(dir.path())
        .arg(dir.path().join("proc"))
        .output()
        .unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

/// A /proc/net/tcp6 address word as the kernel prints it (host order).
fn proc_words(addr: &str) -> String {
    let ip: std::net::Ipv6Addr = addr.parse().unwrap();
    ip.octets()
        .chunks(4)
        .map(|w| format!("{:08X}", u32::from_ne_bytes(w.try_into().unwrap())))
        .collect()
}

fn tcp6_line(local: &str, lport: u16, remote: &str, rport: u16, state: &str) -> String {
    format!(
        "   0: {}:{lport:04X} {}:{rport:04X} {state} 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 20 4 30 10 -1\n",
        proc_words(local),
        proc_words(remote)
    )
}

#[test]
fn a_node_without_ipv6_traffic_passes() {
    let tcp6 = format!(
        "{TCP6_HEADER}{}{}",
        tcp6_line("::", 22, "::", 0, "0A"),
        // An IPv4 client of a dual-stack socket is IPv4 traffic.
        tcp6_line("::ffff:192.0.2.10", 8006, "::ffff:192.0.2.99", 50000, "01")
    );
    let tree: Tree = &[
        (
            "etc/network/interfaces",
            "auto lo\niface lo inet loopback\n\nauto vmbr0\niface vmbr0 inet static\n\taddress 192.0.2.10/24\n\tgateway 192.0.2.1\n# iface vmbr0 inet6 static\n",
        ),
        ("etc/pve/corosync.conf", "nodelist {\n  node {\n    ring0_addr: 192.0.2.10\n  }\n}\n"),
        ("etc/pve/ceph.conf", "[global]\n\tpublic_network = 192.0.2.0/24\n"),
        (
            "proc/net/if_inet6",
            "00000000000000000000000000000001 01 80 10 80       lo\nfe800000000000000000000000000001 05 40 20 80    vmbr0\n",
        ),
        (
            "proc/net/ipv6_route",
            "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n",
        ),
        ("proc/sys/net/ipv6/conf/all/forwarding", "0\n"),
        ("proc/net/tcp6", &tcp6),
    ];
    assert_eq!(check(tree), (0, String::new()));
}

#[test]
fn an_empty_tree_passes() {
    assert_eq!(check(&[]), (0, String::new()));
}

#[test]
fn each_finding_alone_stops() {
    let session = format!(
        "{TCP6_HEADER}{}",
        tcp6_line("2001:db8::10", 22, "2001:db8::99", 50000, "01")
    );
    let web_ui = format!(
        "{TCP6_HEADER}{}",
        tcp6_line("::1", 8006, "::1", 40000, "01")
    );
    let cases: &[(Tree, &str)] = &[
        (
            &[("etc/network/interfaces", "auto vmbr0\niface vmbr0 inet6 static\n\taddress 2001:db8::10/64\n\tgateway 2001:db8::1\n\nauto eno1\niface eno1 inet manual\n")],
            "STOP: /etc/network/interfaces:2: iface vmbr0 inet6 static, address 2001:db8::10/64, gateway 2001:db8::1 (a static IPv6 address)\n",
        ),
        (
            &[("etc/network/interfaces.d/vmbr1", "iface vmbr1 inet static\n    address fd00:1::5/64\n")],
            "STOP: /etc/network/interfaces.d/vmbr1:2: address fd00:1::5/64 in iface vmbr1 (a static IPv6 address)\n",
        ),
        (
            &[("proc/net/if_inet6", "20010db8000000000000000000000010 05 40 00 80    vmbr0\n")],
            "STOP: address 2001:db8::10/64 on vmbr0 (permanent: configured statically)\n",
        ),
        (
            &[("proc/net/if_inet6", "fd000000000000000000000000000002 04 40 00 80     eth0\n")],
            "STOP: address fd00::2/64 on eth0 (permanent: configured statically)\n",
        ),
        (
            &[("proc/net/ipv6_route", "00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db8000000000000000000000001 00000400 00000002 00000000 00000003    vmbr0\n")],
            "STOP: IPv6 default route via 2001:db8::1 dev vmbr0 (static)\n",
        ),
        (
            &[("proc/sys/net/ipv6/conf/all/forwarding", "1\n")],
            "STOP: net.ipv6.conf.all.forwarding = 1 (this node routes IPv6, e.g. for its guests)\n",
        ),
        (
            &[("etc/pve/corosync.conf", "nodelist {\n  node {\n    name: pve1\n    ring0_addr: 2001:db8::11\n  }\n}\n")],
            "STOP: /etc/pve/corosync.conf:4: ring0_addr 2001:db8::11 (a corosync link over IPv6)\n",
        ),
        (
            &[("etc/corosync/corosync.conf", "totem {\n  ip_version: ipv6\n}\n")],
            "STOP: /etc/corosync/corosync.conf:2: ip_version ipv6 (corosync links over IPv6 only)\n",
        ),
        (
            &[("etc/pve/ceph.conf", "[global]\n\t cluster network = fd00:2::/64\n")],
            "STOP: /etc/pve/ceph.conf:2: cluster_network = fd00:2::/64 (a Ceph network over IPv6)\n",
        ),
        (
            &[("proc/net/tcp6", &session)],
            "STOP: established IPv6 connection to port 22 (sshd) from [2001:db8::99]:50000 to [2001:db8::10]:22\n",
        ),
        (
            &[("proc/net/tcp6", &web_ui)],
            "STOP: established IPv6 connection to port 8006 (web UI) from [::1]:40000 to [::1]:8006\n",
        ),
    ];
    for (tree, want) in cases {
        assert_eq!(check(tree), (1, want.to_string()), "{tree:?}");
    }
}

#[test]
fn what_configured_itself_only_warns() {
    let cases: &[(Tree, &str)] = &[
        (
            &[("proc/net/if_inet6", "20010db8000000000000000000000020 05 40 00 00    vmbr0\n")],
            "WARN: address 2001:db8::20/64 on vmbr0 (not permanent: SLAAC or DHCPv6)\n",
        ),
        (
            &[("proc/net/ipv6_route", "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000002 00000000 00050003    eno1\n")],
            "WARN: IPv6 default route via fe80::1 dev eno1 (from router advertisements)\n",
        ),
        (
            &[("etc/network/interfaces", "iface eno1 inet6 auto\n")],
            "WARN: /etc/network/interfaces:1: iface eno1 inet6 auto (configures itself; not a static address)\n",
        ),
    ];
    for (tree, want) in cases {
        assert_eq!(check(tree), (0, want.to_string()), "{tree:?}");
    }
}

#[test]
fn the_script_is_posix_sh_and_the_helper_embeds_it() {
    let script = std::fs::read_to_string(repo_root().join(SCRIPT)).unwrap();
    assert_eq!(pve_tcp_hardening::contract::IPV6_IN_USE_SCRIPT, script);
    for shell in ["dash", "sh"] {
        let ok = Command::new(shell)
            .args(["-n"])
            .arg(repo_root().join(SCRIPT))
            .status()
            .unwrap();
        assert!(ok.success(), "{shell} -n");
    }
}
