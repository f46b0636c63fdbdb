//! IPv6 sockets from `/proc/net/tcp6` and `/proc/net/udp6` and the
//! processes that hold them (`/proc/PID/fd`), as `ss -atlnup` shows them.
//!
//! What the guide checks after its reboot is a socket bound to an IPv6
//! address (`[::1]`, a global or link-local one): it stays until its daemon
//! restarts and cannot come back once IPv6 is off. A socket on the wildcard
//! `[::]` (sshd's `[::]:22`, pveproxy's dual-stack `*:8006`, rpcbind) stays
//! after IPv6 is off and serves IPv4; it is information, not a problem.
//! Whether a wildcard socket is dual-stack or IPv6-only (`IPV6_V6ONLY`) is
//! not in /proc; like `ss`, we ask the kernel over sock_diag netlink
//! (`INET_DIAG_SKV6ONLY`).
//!
//! Its own room because three commands ask it: `status` reports the
//! sockets, `plan` the ones an install takes away, `finish` restarts their
//! owners.

use rustix::fs::{Dir, Mode, OFlags, CWD};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::net::Ipv6Addr;
use std::path::Path;

/// What an IPv6 socket is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    /// An IPv6 address (`::1`, global, link-local): it goes away with IPv6.
    Address,
    /// `::`: it stays after IPv6 is off and serves IPv4 (if dual-stack).
    Wildcard,
}

#[derive(Debug, Clone, Serialize)]
pub struct Listener {
    pub proto: String,
    pub address: String,
    pub port: u16,
    pub pid: Option<u32>,
    pub process: Option<String>,
    pub bound: Bound,
    /// IPV6_V6ONLY of a wildcard socket; null when unknown.
    pub v6only: Option<bool>,
}

impl Listener {
    /// Whether it holds IPv6 as the guide means it: bound to an IPv6
    /// address ([`Bound::Address`]). An IPv4-mapped address
    /// (`::ffff:a.b.c.d`) is IPv4 traffic.
    pub fn holds_ipv6_address(&self) -> bool {
        self.bound == Bound::Address
            && self
                .address
                .parse::<std::net::Ipv6Addr>()
                .is_ok_and(|a| a.to_ipv4_mapped().is_none())
    }
}

impl Listener {
    /// As ss prints it: `[::1]:25`.
    pub fn local_address(&self) -> String {
        format!("[{}]:{}", self.address, self.port)
    }

    /// `tcp6 [::1]:25 (exim4)`: the socket and the name of its process,
    /// as the one-line findings name it.
    pub fn describe_short(&self) -> String {
        let process = self
            .process
            .as_ref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        format!("{} {}{process}", self.proto, self.local_address())
    }

    /// `tcp6 [::]:22 (sshd, pid 812), dual-stack`, as status and plan show
    /// a socket.
    pub fn describe(&self) -> String {
        let owner = match (&self.process, self.pid) {
            (Some(p), Some(pid)) => format!(" ({p}, pid {pid})"),
            _ => String::new(),
        };
        let stack = match self.v6only {
            Some(true) => ", IPv6-only",
            Some(false) => ", dual-stack",
            None => "",
        };
        format!("{} {}{owner}{stack}", self.proto, self.local_address())
    }
}

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
    let owners = socket_owners(proc, found.iter().map(|s| s.3).collect());
    // Netlink answers for the namespace we run in, which is what /proc shows
    // only when `proc` is our own /proc (a test tree's inodes mean nothing).
    let v6only = if proc == Path::new("/proc") {
        v6only_by_inode()
    } else {
        HashMap::new()
    };
    found
        .into_iter()
        .map(|(proto, address, port, inode)| {
            let owner = owners.get(&inode);
            Listener {
                proto,
                address: address.to_string(),
                port,
                pid: owner.map(|(pid, _)| *pid),
                process: owner.map(|(_, comm)| comm.clone()),
                bound: if address.is_unspecified() {
                    Bound::Wildcard
                } else {
                    Bound::Address
                },
                v6only: v6only.get(&inode).copied(),
            }
        })
        .collect()
}

/// `IPV6_V6ONLY` of every listening TCP and bound UDP IPv6 socket of this
/// network namespace, by socket inode. Empty when the kernel has no
/// sock_diag for a protocol (then `v6only` is unknown: null).
fn v6only_by_inode() -> HashMap<u64, bool> {
    let mut found = HashMap::new();
    // (protocol, states): TCP_LISTEN = 10; a bound UDP socket is TCP_CLOSE = 7.
    for (protocol, states) in [(6u8, 1u32 << 10), (17u8, 1u32 << 7)] {
        if let Ok(answers) = sock_diag_dump(protocol, states) {
            found.extend(answers);
        }
    }
    found
}

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const INET_DIAG_SKV6ONLY: u16 = 11;
const AF_INET6: u8 = 10;

/// One `inet_diag_req_v2` dump for AF_INET6 (linux/inet_diag.h); the kernel
/// adds INET_DIAG_SKV6ONLY to every listening or closed (bound UDP) socket
/// of that family without being asked.
fn sock_diag_dump(protocol: u8, states: u32) -> std::io::Result<Vec<(u64, bool)>> {
    use rustix::net::{netlink, recv, sendto, socket, AddressFamily, RecvFlags, SendFlags};
    let fd = socket(
        AddressFamily::NETLINK,
        rustix::net::SocketType::DGRAM,
        Some(netlink::SOCK_DIAG),
    )?;
    let mut request = Vec::with_capacity(72);
    request.extend_from_slice(&72u32.to_ne_bytes()); // nlmsg_len
    request.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    request.extend_from_slice(&(0x1u16 | 0x300).to_ne_bytes()); // NLM_F_REQUEST | NLM_F_DUMP
    request.extend_from_slice(&1u32.to_ne_bytes()); // seq
    request.extend_from_slice(&0u32.to_ne_bytes()); // pid
    request.extend_from_slice(&[AF_INET6, protocol, 0, 0]); // family, protocol, ext, pad
    request.extend_from_slice(&states.to_ne_bytes());
    request.extend_from_slice(&[0u8; 48]); // inet_diag_sockid: match all
    sendto(
        &fd,
        &request,
        SendFlags::empty(),
        &netlink::SocketAddrNetlink::new(0, 0),
    )?;
    let mut found = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let (len, _) = recv(&fd, &mut buf[..], RecvFlags::empty())?;
        match parse_diag_messages(&buf[..len], &mut found) {
            Some(true) => return Ok(found),
            Some(false) => {}
            None => return Err(std::io::Error::other("sock_diag refused the dump")),
        }
    }
}

/// Reads one datagram of netlink messages into `found`; `Some(true)` at the
/// end of the dump, `None` on an error message or a malformed one.
fn parse_diag_messages(mut data: &[u8], found: &mut Vec<(u64, bool)>) -> Option<bool> {
    let u16_at =
        |d: &[u8], at: usize| Some(u16::from_ne_bytes(d.get(at..at + 2)?.try_into().ok()?));
    let u32_at =
        |d: &[u8], at: usize| Some(u32::from_ne_bytes(d.get(at..at + 4)?.try_into().ok()?));
    while data.len() >= 16 {
        let len = u32_at(data, 0)? as usize;
        let kind = u16_at(data, 4)?;
        if len < 16 || len > data.len() {
            return None;
        }
        match kind {
            NLMSG_DONE => return Some(true),
            NLMSG_ERROR => return None,
            _ => {}
        }
        // nlmsghdr (16) + inet_diag_msg (72): the inode is its last field.
        let message = &data[16..len];
        let inode = u32_at(message, 68)?;
        let mut attrs = message.get(72..)?;
        while attrs.len() >= 4 {
            let attr_len = u16_at(attrs, 0)? as usize;
            if attr_len < 4 || attr_len > attrs.len() {
                break;
            }
            if u16_at(attrs, 2)? == INET_DIAG_SKV6ONLY && attr_len >= 5 {
                found.push((u64::from(inode), attrs[4] != 0));
            }
            attrs = attrs
                .get(attr_len.next_multiple_of(4)..)
                .unwrap_or_default();
        }
        data = data.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
    Some(false)
}

/// `sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...`
/// (Columns are taken as they come, and none after the inode is split off:
/// a busy node lists tens of thousands of lines.)
fn parse_socket_line(line: &str, wanted_state: &str) -> Option<(Ipv6Addr, u16, u64)> {
    let mut cols = line.split_ascii_whitespace();
    let local = cols.nth(1)?;
    if cols.nth(1)? != wanted_state {
        return None;
    }
    let inode = cols.nth(5)?.parse().ok()?;
    let (addr_hex, port_hex) = local.split_once(':')?;
    let port = u16::from_str_radix(port_hex, 16).ok()?;
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

/// The owner of each socket inode in `wanted`: the first process, in
/// `/proc` order, with a readable `/proc/PID/fd` holding it, and its command
/// name. One pass over the fd links with a set lookup per socket; `comm` is
/// read only for processes holding a wanted socket, and the walk stops once
/// every socket has its owner. (A busy node has thousands of processes and
/// sockets: BENCHMARKS.md times 2000 and 20,000.)
fn socket_owners(proc: &Path, mut wanted: HashSet<u64>) -> HashMap<u64, (u32, String)> {
    let mut owners = HashMap::new();
    if wanted.is_empty() {
        return owners;
    }
    let Ok(entries) = std::fs::read_dir(proc) else {
        return owners;
    };
    let mut link = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // One descriptor per fd directory, listed and its links read
        // relative to it: the kernel then looks up one name instead of
        // walking `/proc/PID/fd/N` again. One buffer serves every link.
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let Ok(mut fds) = rustix::fs::openat(CWD, entry.path().join("fd"), flags, Mode::empty())
            .and_then(Dir::new)
        else {
            continue;
        };
        let mut held = Vec::new();
        while let Some(Ok(fd)) = fds.read() {
            if matches!(fd.file_name().to_bytes(), b"." | b"..") {
                continue;
            }
            let Ok(dir) = fds.fd() else { break };
            let Ok(target) = rustix::fs::readlinkat(dir, fd.file_name(), std::mem::take(&mut link))
            else {
                continue;
            };
            link = target.into_bytes();
            if let Some(inode) = socket_inode(&link).filter(|inode| wanted.remove(inode)) {
                held.push(inode);
            }
        }
        if held.is_empty() {
            continue;
        }
        let comm = std::fs::read_to_string(entry.path().join("comm"))
            .map(|c| c.trim_end().to_string())
            .unwrap_or_default();
        for inode in held {
            owners.insert(inode, (pid, comm.clone()));
        }
        if wanted.is_empty() {
            break;
        }
    }
    owners
}

/// The inode of an fd link `socket:[N]`.
fn socket_inode(target: &[u8]) -> Option<u64> {
    let digits = target.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
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
            bound: if address.parse::<Ipv6Addr>().unwrap().is_unspecified() {
                Bound::Wildcard
            } else {
                Bound::Address
            },
            v6only: None,
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
                bound(address).holds_ipv6_address(),
                holds_an_address,
                "{address}"
            );
        }
    }

    #[test]
    fn first_process_holding_a_socket_owns_it() {
        let proc = tempfile::tempdir().unwrap();
        let process = |pid: &str, comm: &str, links: &[&str]| {
            let fd = proc.path().join(pid).join("fd");
            std::fs::create_dir_all(&fd).unwrap();
            std::fs::write(proc.path().join(pid).join("comm"), format!("{comm}\n")).unwrap();
            for (n, link) in links.iter().enumerate() {
                std::os::unix::fs::symlink(link, fd.join(n.to_string())).unwrap();
            }
        };
        process("10", "sshd", &["/dev/null", "socket:[7]", "socket:[8]"]);
        process("11", "idle", &["/dev/null", "socket:[99]"]);
        std::fs::create_dir_all(proc.path().join("net")).unwrap();
        let owners = socket_owners(proc.path(), [7, 8, 9].into());
        let sshd = (10, "sshd".to_string());
        assert_eq!(owners, HashMap::from([(7, sshd.clone()), (8, sshd)]));
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"socket:[12x]"), None);
    }
}
