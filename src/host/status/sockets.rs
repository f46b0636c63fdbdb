//! IPv6 sockets from `/proc/net/tcp6` and `/proc/net/udp6` and the
//! processes that hold them (`/proc/PID/fd`), as `ss -atlnup` shows them.

use super::model::Listener;
use std::net::Ipv6Addr;
use std::path::Path;

/// Listening TCP and bound UDP sockets over IPv6, from `/proc/net/tcp6` and
/// `/proc/net/udp6` (what `ss -atlnup` shows), with the owning process
/// where `/proc/PID/fd` is readable.
pub fn ipv6_listeners(proc: &Path) -> Vec<Listener> {
    let mut found = Vec::new();
    for (proto, wanted_state) in [("tcp6", "0A"), ("udp6", "07")] {
        let Ok(text) = fs_err::read_to_string(proc.join("net").join(proto)) else {
            continue;
        };
        for line in text.lines().skip(1) {
            if let Some((address, port, inode)) = parse_socket_line(line, wanted_state) {
                found.push((proto.to_string(), address, port, inode));
            }
        }
    }
    let owners = socket_owners(proc);
    found
        .into_iter()
        .map(|(proto, address, port, inode)| {
            let owner = owners.iter().find(|(i, _, _)| *i == inode);
            Listener {
                proto,
                address: address.to_string(),
                port,
                pid: owner.map(|(_, pid, _)| *pid),
                process: owner.map(|(_, _, comm)| comm.clone()),
            }
        })
        .collect()
}

/// Whether `listener` holds an IPv6 address (`[::1]`, a global or a
/// link-local one): what the guide's `ss -atlnup` check looks for, a socket
/// that stays until its process closes it and that no boot with IPv6 off
/// brings back. Not the wildcard `[::]` (ss shows it as `[::]`, or `*` when
/// dual-stack): once IPv6 is off it has no IPv6 address to be reached on,
/// and a dual-stack one still serves IPv4. Not an IPv4-mapped address
/// (`[::ffff:127.0.0.1]`) either: that is IPv4.
pub fn is_bound_to_ipv6_address(listener: &Listener) -> bool {
    listener
        .address
        .parse::<Ipv6Addr>()
        .is_ok_and(|a| !a.is_unspecified() && a.to_ipv4_mapped().is_none())
}

/// `sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...`
fn parse_socket_line(line: &str, wanted_state: &str) -> Option<(Ipv6Addr, u16, u64)> {
    let cols: Vec<&str> = line.split_whitespace().collect();
    if cols.len() < 10 || cols[3] != wanted_state {
        return None;
    }
    let (addr_hex, port_hex) = cols[1].split_once(':')?;
    let port = u16::from_str_radix(port_hex, 16).ok()?;
    let inode = cols[9].parse().ok()?;
    Some((parse_proc_ipv6(addr_hex)?, port, inode))
}

/// /proc prints an IPv6 address as four 32-bit words in host byte order.
fn parse_proc_ipv6(hex: &str) -> Option<Ipv6Addr> {
    if hex.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for word in 0..4 {
        let value = u32::from_str_radix(&hex[word * 8..word * 8 + 8], 16).ok()?;
        bytes[word * 4..word * 4 + 4].copy_from_slice(&value.to_ne_bytes());
    }
    Some(Ipv6Addr::from(bytes))
}

/// (socket inode, pid, command name) for every readable `/proc/PID/fd`.
fn socket_owners(proc: &Path) -> Vec<(u64, u32, String)> {
    let mut owners = Vec::new();
    let Ok(entries) = std::fs::read_dir(proc) else {
        return owners;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let comm = std::fs::read_to_string(entry.path().join("comm"))
            .map(|c| c.trim_end().to_string())
            .unwrap_or_default();
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse().ok())
            {
                owners.push((inode, pid, comm.clone()));
            }
        }
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_ipv6_addresses() {
        // ::1 and fe80::1 as /proc/net/tcp6 prints them (words in host order).
        let word = |bytes: [u8; 4]| format!("{:08X}", u32::from_ne_bytes(bytes));
        let loopback = format!(
            "{}{}{}{}",
            word([0; 4]),
            word([0; 4]),
            word([0; 4]),
            word([0, 0, 0, 1])
        );
        assert_eq!(parse_proc_ipv6(&loopback), Some(Ipv6Addr::LOCALHOST));
        let link = format!(
            "{}{}{}{}",
            word([0xfe, 0x80, 0, 0]),
            word([0; 4]),
            word([0; 4]),
            word([0, 0, 0, 1])
        );
        assert_eq!(parse_proc_ipv6(&link), Some("fe80::1".parse().unwrap()));
        assert_eq!(parse_proc_ipv6("0"), None);
    }

    #[test]
    fn socket_lines() {
        let listen = "   0: 00000000000000000000000001000000:0143 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 12345 2 0000000000000000 0";
        let (addr, port, inode) = parse_socket_line(listen, "07").unwrap();
        assert_eq!(
            (addr.is_loopback(), port, inode),
            (cfg!(target_endian = "little"), 323, 12345)
        );
        assert!(parse_socket_line("garbage", "07").is_none());
        assert!(parse_socket_line(listen, "0A").is_none());
    }

    #[test]
    fn wildcard_or_address() {
        let bound = |address: &str| Listener {
            proto: "tcp6".into(),
            address: address.into(),
            port: 22,
            pid: None,
            process: None,
        };
        let cases = [
            ("::", false),
            ("::1", true),
            ("fe80::1", true),
            ("2001:db8::7", true),
            ("::ffff:127.0.0.1", false),
        ];
        for (address, holds_an_address) in cases {
            assert_eq!(
                is_bound_to_ipv6_address(&bound(address)),
                holds_an_address,
                "{address}"
            );
        }
    }
}
