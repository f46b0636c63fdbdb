//! `pve-tcp-hardening status`: what is really in force on this host. For each
//! key of the installed profile: the value wanted, the value the boot-time
//! merge of sysctl.d gives and the file that wins it, every other file that
//! sets it, and the live value; then chrony, a pending reboot, and sockets
//! still listening on IPv6 when the profile turns IPv6 off. It only reads.

use crate::chrony::{add_ipv4_only, ChronyDiversion};
use crate::maint::load_profile;
use crate::profile::{Profile, BASE_PACKAGE};
use crate::sysctl::apply::read_value;
use crate::sysctl::merge::{read_tree, same_value, MergeMode, MergedTree, Setter};
use anyhow::{Context, Result};
use serde::Serialize;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

/// Bumped when a field changes meaning or disappears (adding one does not).
pub const JSON_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Boot gives the wanted value and it is live.
    Ok,
    /// Boot gives the wanted value, but the live value differs.
    Drift,
    /// At boot another value wins (a later file, or an edit of ours).
    Shadowed,
    /// The running kernel has no such key.
    Missing,
}

#[derive(Debug, Clone, Serialize)]
pub struct SetterReport {
    pub file: PathBuf,
    pub line: usize,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyReport {
    pub key: String,
    pub desired: String,
    /// The boot-time value (systemd-sysctl); null when no file sets it.
    pub boot: Option<String>,
    /// Null when the key is missing or no live system is inspected.
    pub live: Option<String>,
    pub state: KeyState,
    pub winner: Option<SetterReport>,
    pub setters: Vec<SetterReport>,
    /// Set when procps `sysctl --system` (which reads /etc/sysctl.conf once
    /// more at the very end) would end with another file or value.
    pub procps_system_winner: Option<SetterReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChronyReport {
    /// The profile turns IPv6 off, so chronyd must run with `-4`.
    pub required: bool,
    pub installed: bool,
    pub diverted_by: Option<String>,
    /// `-4` in the DAEMON_OPTS that takes effect; null when not installed.
    pub ipv4_only: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Listener {
    pub proto: String,
    pub address: String,
    pub port: u16,
    pub pid: Option<u32>,
    pub process: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub schema: u32,
    pub package: String,
    pub profile: String,
    /// True when nothing below needs attention (exit status 0).
    pub ok: bool,
    pub keys: Vec<KeyReport>,
    pub chrony: ChronyReport,
    pub reboot_pending: bool,
    /// Only collected when the profile turns IPv6 off.
    pub ipv6_listeners: Vec<Listener>,
    /// One line per problem, for humans and monitoring.
    pub problems: Vec<String>,
}

/// Where to look.
#[derive(Debug, Clone)]
pub struct StatusInputs {
    pub root: PathBuf,
    /// `/proc` of the running system; None when auditing an image.
    pub proc: Option<PathBuf>,
    pub profile: PathBuf,
}

pub fn collect(inputs: &StatusInputs) -> Result<StatusReport> {
    let profile = load_profile(&inputs.profile).with_context(|| {
        format!(
            "is a pve-tcp-hardening package installed? (no usable {})",
            inputs.profile.display()
        )
    })?;
    let systemd = read_tree(&inputs.root, MergeMode::SystemdSysctl)?;
    let procps = read_tree(&inputs.root, MergeMode::ProcpsSystem)?;
    let proc_sys = inputs.proc.as_ref().map(|p| p.join("sys"));
    let keys: Vec<KeyReport> = profile
        .settings
        .iter()
        .map(|s| key_report(&s.key, &s.value, &systemd, &procps, proc_sys.as_deref()))
        .collect();
    let chrony = chrony_report(&inputs.root, &profile)?;
    let reboot_pending = reboot_pending(&inputs.root, &profile.package);
    let ipv6_listeners = match (&inputs.proc, profile.disable_ipv6) {
        (Some(proc), true) => ipv6_listeners(proc),
        _ => Vec::new(),
    };
    let problems = problems(&keys, &chrony, reboot_pending, &ipv6_listeners);
    Ok(StatusReport {
        schema: JSON_SCHEMA_VERSION,
        package: profile.package.clone(),
        profile: profile.name.clone(),
        ok: problems.is_empty(),
        keys,
        chrony,
        reboot_pending,
        ipv6_listeners,
        problems,
    })
}

fn setter_report(s: &Setter) -> SetterReport {
    SetterReport {
        file: s.file.clone(),
        line: s.lineno,
        value: s.value.clone(),
    }
}

fn key_report(
    key: &str,
    desired: &str,
    systemd: &MergedTree,
    procps: &MergedTree,
    proc_sys: Option<&Path>,
) -> KeyReport {
    let merged = systemd.lookup(key);
    let boot = merged.as_ref().map(|m| m.winner.value.clone());
    let live_read = proc_sys.map(|p| read_value(p, key));
    let live = live_read.as_ref().and_then(|r| r.as_ref().ok().cloned());
    let kernel_lacks =
        matches!(&live_read, Some(Err(e)) if e.kind() == std::io::ErrorKind::NotFound);
    let boot_ok = boot.as_deref().is_some_and(|b| same_value(b, desired));
    let live_ok = live.as_deref().is_none_or(|l| same_value(l, desired));
    let state = if kernel_lacks {
        KeyState::Missing
    } else if !boot_ok {
        KeyState::Shadowed
    } else if !live_ok {
        KeyState::Drift
    } else {
        KeyState::Ok
    };
    let procps_winner = procps.lookup(key).map(|m| m.winner);
    let procps_system_winner = match (&merged, procps_winner) {
        (Some(m), Some(p)) if p.file == m.winner.file && same_value(&p.value, &m.winner.value) => {
            None
        }
        (_, p) => p.as_ref().map(setter_report),
    };
    KeyReport {
        key: key.to_string(),
        desired: desired.to_string(),
        boot,
        live,
        state,
        winner: merged.as_ref().map(|m| setter_report(&m.winner)),
        setters: merged
            .map(|m| m.setters.iter().map(setter_report).collect())
            .unwrap_or_default(),
        procps_system_winner,
    }
}

fn chrony_report(root: &Path, profile: &Profile) -> Result<ChronyReport> {
    let diverted_by = ChronyDiversion::new(root, &profile.package, BASE_PACKAGE).diverted_by()?;
    let file = root.join("etc/default/chrony");
    let installed = file.is_file() || root.join("etc/default/chrony.orig").is_file();
    let ipv4_only = match fs_err::read_to_string(&file) {
        Ok(text) => Some(add_ipv4_only(&text).is_ok_and(|edited| edited == text)),
        Err(_) => None,
    };
    Ok(ChronyReport {
        required: profile.disable_ipv6,
        installed,
        diverted_by,
        ipv4_only,
    })
}

fn reboot_pending(root: &Path, package: &str) -> bool {
    fs_err::read_to_string(root.join("run/reboot-required.pkgs"))
        .is_ok_and(|text| text.lines().any(|l| l.trim() == package))
}

fn problems(
    keys: &[KeyReport],
    chrony: &ChronyReport,
    reboot_pending: bool,
    listeners: &[Listener],
) -> Vec<String> {
    let mut out = Vec::new();
    for k in keys {
        match k.state {
            KeyState::Shadowed => out.push(match &k.winner {
                Some(w) => format!(
                    "{} is shadowed: at boot {}:{} sets {} (wanted {})",
                    k.key,
                    w.file.display(),
                    w.line,
                    w.value,
                    k.desired
                ),
                None => format!("{} is set by no sysctl.d file (wanted {})", k.key, k.desired),
            }),
            KeyState::Drift => out.push(format!(
                "{} drifted: live {} (wanted {}; a reboot or `pve-tcp-hardening apply` restores it)",
                k.key,
                k.live.as_deref().unwrap_or("?"),
                k.desired
            )),
            KeyState::Ok | KeyState::Missing => {}
        }
    }
    if chrony.required && chrony.installed && chrony.ipv4_only != Some(true) {
        out.push("chronyd is not IPv4-only: /etc/default/chrony lacks -4 in DAEMON_OPTS".into());
    }
    if reboot_pending {
        out.push("reboot pending: /run/reboot-required lists this package".into());
    }
    for l in listeners {
        out.push(format!(
            "listening on IPv6: {} [{}]:{}{}",
            l.proto,
            l.address,
            l.port,
            l.process
                .as_ref()
                .map(|p| format!(" ({p}, pid {})", l.pid.unwrap_or(0)))
                .unwrap_or_default()
        ));
    }
    out
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

/// The human table: compact, aligned, colour only on a terminal.
pub fn render_text(report: &StatusReport, colour: bool) -> String {
    let paint = |state: KeyState, text: String| -> String {
        if !colour {
            return text;
        }
        let code = match state {
            KeyState::Ok => "32",
            KeyState::Drift | KeyState::Missing => "33",
            KeyState::Shadowed => "31",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    };
    let state_name = |s: KeyState| match s {
        KeyState::Ok => "ok",
        KeyState::Drift => "drift",
        KeyState::Shadowed => "shadowed",
        KeyState::Missing => "missing",
    };
    let rows: Vec<[String; 6]> = report
        .keys
        .iter()
        .map(|k| {
            let winner = k
                .winner
                .as_ref()
                .map(|w| format!("{}:{}", w.file.display(), w.line))
                .unwrap_or_else(|| "-".into());
            [
                k.key.clone(),
                k.desired.clone(),
                k.boot.clone().unwrap_or_else(|| "-".into()),
                k.live.clone().unwrap_or_else(|| "-".into()),
                state_name(k.state).to_string(),
                winner,
            ]
        })
        .collect();
    let header = ["KEY", "WANT", "BOOT", "LIVE", "STATE", "BOOT WINNER"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 6], state: Option<KeyState>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let padded = format!("{cell:<w$}", w = widths[i]);
            let padded = match (i, state) {
                (4, Some(s)) => paint(s, padded),
                _ => padded,
            };
            out.push_str(&padded);
            out.push_str(if i + 1 < cells.len() { "  " } else { "" });
        }
        format!("{}\n", out.trim_end())
    };
    let mut out = format!("{} (profile {})\n", report.package, report.profile);
    out.push_str(&line(header, None));
    for (row, key) in rows.iter().zip(&report.keys) {
        let cells = [&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]].map(String::as_str);
        out.push_str(&line(cells, Some(key.state)));
        if let Some(p) = &key.procps_system_winner {
            out.push_str(&format!(
                "  note: `sysctl --system` ends with {}:{} = {} (it reads /etc/sysctl.conf again last)\n",
                p.file.display(),
                p.line,
                p.value
            ));
        }
    }
    let c = &report.chrony;
    out.push_str(&format!(
        "chrony: {}\n",
        match (c.installed, c.ipv4_only, &c.diverted_by) {
            (false, _, _) => "not installed".to_string(),
            (true, Some(true), Some(by)) => format!("IPv4-only (-4), diverted by {by}"),
            (true, Some(true), None) => "IPv4-only (-4), not diverted".to_string(),
            (true, _, by) => format!(
                "listens on IPv6 too (no -4){}",
                by.as_ref()
                    .map(|b| format!(", diverted by {b}"))
                    .unwrap_or_default()
            ),
        }
    ));
    out.push_str(&format!(
        "reboot pending: {}\n",
        if report.reboot_pending { "yes" } else { "no" }
    ));
    for problem in &report.problems {
        out.push_str(&format!("problem: {problem}\n"));
    }
    out.push_str(if report.ok {
        "all in force\n"
    } else {
        "NOT all in force\n"
    });
    out
}

/// Entry point of `pve-tcp-hardening status`: exit 0 when all is in force,
/// 1 when something needs attention, 2 on error (from main).
pub fn run_cli(args: &crate::cli::StatusArgs) -> Result<std::process::ExitCode> {
    use std::io::IsTerminal;
    let proc = match &args.proc {
        Some(p) => Some(p.clone()),
        None if args.root == Path::new("/") => Some(PathBuf::from("/proc")),
        None => None,
    };
    let profile = args
        .profile
        .clone()
        .unwrap_or_else(|| args.root.join("usr/share/pve-tcp-hardening/profile.json"));
    let report = collect(&StatusInputs {
        root: args.root.clone(),
        proc,
        profile,
    })?;
    if args.json {
        let mut text = serde_json::to_string_pretty(&report).context("cannot write JSON")?;
        text.push('\n');
        crate::cli::emit(&text)?;
    } else {
        crate::cli::emit(&render_text(&report, std::io::stdout().is_terminal()))?;
    }
    Ok(std::process::ExitCode::from(if report.ok { 0 } else { 1 }))
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
}
