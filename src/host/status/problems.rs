//! What needs attention in a report, decided once: [`problems`] lists each
//! finding; the report's `problems` lines ([`Problem::text`]) and every
//! monitoring format (`formats::assess`) render that one list.

use super::model::{ChronyReport, KeyReport, KeyState};
use crate::contract::SYSCTL_FILE_NAME;
use crate::host::release::Unfinished;
use crate::host::sockets::Listener;
use crate::host::sysctl::abandoned::AbandonedSetting;
use crate::host::units::FailedUnit;

/// One thing that needs attention.
#[derive(Debug, Clone, Copy)]
pub enum Problem<'a> {
    /// At boot another file wins with another value, or nothing sets it.
    Shadowed(&'a KeyReport),
    /// Boot gives the wanted value, the live one differs.
    Drift(&'a KeyReport),
    /// The admin's value of a profile key sits in a file nothing applies at
    /// boot any more (Debian 13: /etc/sysctl.conf, its .dpkg-bak), and
    /// another value is in force.
    Abandoned(&'a AbandonedSetting),
    /// The profile turns IPv6 off and chronyd runs without `-4`.
    ChronyNotIpv4Only,
    /// `/run/reboot-required` lists this package.
    RebootPending,
    /// A socket bound to an IPv6 address while the profile turns IPv6 off.
    Ipv6Listener(&'a Listener),
    /// A unit that failed since boot for want of an IPv6 address.
    UnitFailed(&'a FailedUnit),
    /// An install, switch or purge of ours that dpkg left unfinished.
    Unfinished(&'a Unfinished),
}

/// Every problem, in the report's order: keys (in the profile's order),
/// the admin's abandoned settings, chrony, the reboot, sockets, failed units.
pub fn problems<'a>(
    keys: &'a [KeyReport],
    abandoned: &'a [AbandonedSetting],
    chrony: &ChronyReport,
    reboot_pending: bool,
    listeners: &'a [Listener],
    failed_units: &'a [FailedUnit],
    unfinished: &'a [Unfinished],
) -> Vec<Problem<'a>> {
    let mut out: Vec<Problem> = keys
        .iter()
        .filter_map(|k| match k.state {
            KeyState::Shadowed => Some(Problem::Shadowed(k)),
            KeyState::Drift => Some(Problem::Drift(k)),
            KeyState::Ok | KeyState::Local | KeyState::Missing => None,
        })
        .collect();
    out.extend(abandoned.iter().filter(|a| a.lost).map(Problem::Abandoned));
    if chrony.required && chrony.installed && chrony.ipv4_only != Some(true) {
        out.push(Problem::ChronyNotIpv4Only);
    }
    if reboot_pending {
        out.push(Problem::RebootPending);
    }
    out.extend(
        listeners
            .iter()
            .filter(|l| l.holds_ipv6_address())
            .map(Problem::Ipv6Listener),
    );
    out.extend(failed_units.iter().map(Problem::UnitFailed));
    out.extend(unfinished.iter().map(Problem::Unfinished));
    out
}

/// The winning line's value; one the kernel refuses is named so, with what
/// the key keeps instead (an earlier write, or the kernel's own value).
fn refused_or_value(value: &str, boot: Option<&str>) -> String {
    if !crate::host::sysctl::merge::kernel_refuses(value) {
        return value.to_string();
    }
    format!(
        "{value:?}, which the kernel refuses (it keeps {})",
        boot.unwrap_or("its own value")
    )
}

impl Problem<'_> {
    /// The report's line for it (the text table, JSON `problems`, journal).
    pub fn text(&self) -> String {
        match self {
            Problem::Shadowed(k) => match &k.winner {
                Some(w) => format!(
                    "{} is shadowed: at boot {}:{}{} sets {} (wanted {})",
                    k.key,
                    w.file.display(),
                    w.line,
                    w.glob
                        .as_ref()
                        .map(|g| format!(" (the glob {g})"))
                        .unwrap_or_default(),
                    refused_or_value(&w.value, k.boot.as_deref()),
                    k.desired
                ),
                None => format!("{} is set by no sysctl.d file (wanted {})", k.key, k.desired),
            },
            Problem::Drift(k) => format!(
                "{} drifted: live {} (wanted {}; a reboot or `pve-tcp-hardening apply` restores it)",
                k.key,
                k.live.as_deref().unwrap_or("?"),
                k.boot.as_deref().unwrap_or(&k.desired)
            ),
            Problem::Abandoned(a) => a.problem(SYSCTL_FILE_NAME),
            Problem::ChronyNotIpv4Only => {
                "chronyd is not IPv4-only: /etc/default/chrony lacks -4 in DAEMON_OPTS".into()
            }
            Problem::RebootPending => {
                "reboot pending: /run/reboot-required lists this package".into()
            }
            Problem::Ipv6Listener(l) => {
                let (proto, address, port) = (&l.proto, &l.address, l.port);
                match &l.process {
                    Some(p) => format!(
                        "listening on IPv6: {proto} [{address}]:{port} ({p}, pid {})",
                        l.pid.unwrap_or(0)
                    ),
                    None => format!("listening on IPv6: {proto} [{address}]:{port}"),
                }
            }
            Problem::Unfinished(u) => format!(
                "{} was interrupted ({}): to finish it, {}",
                u.package, u.state, u.fix
            ),
            Problem::UnitFailed(f) => format!(
                "{} failed for want of an IPv6 address: {} (make it IPv4-only, then `systemctl restart {}`)",
                f.unit, f.line, f.unit
            ),
        }
    }
}
