//! What `status` reports: the report and its parts, serialized as the JSON
//! schema documented in the README (version [`JSON_SCHEMA_VERSION`]).

use crate::host::release::{Detected, Unfinished};
use crate::host::sockets::Listener;
use crate::host::sysctl::abandoned::AbandonedSetting;
use crate::host::sysctl::merge::{SetterReport, Unread};
use crate::host::units::FailedUnit;
use serde::Serialize;

/// Bumped when a field changes meaning or disappears (adding one does not).
pub const JSON_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Boot gives the wanted value and it is live.
    Ok,
    /// Boot gives the wanted value, but the live value differs.
    Drift,
    /// At boot another file wins with another value (or nothing sets it).
    Shadowed,
    /// The admin changed (or removed) the key in the package's own
    /// conffile: their choice, not a problem. `desired` keeps the
    /// package's value, `boot` is theirs.
    Local,
    /// The running kernel has no such key.
    Missing,
}

impl KeyState {
    /// The name used in JSON, tables and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Ok => "ok",
            KeyState::Drift => "drift",
            KeyState::Shadowed => "shadowed",
            KeyState::Local => "local",
            KeyState::Missing => "missing",
        }
    }

    pub const ALL: [KeyState; 5] = [
        KeyState::Ok,
        KeyState::Drift,
        KeyState::Shadowed,
        KeyState::Local,
        KeyState::Missing,
    ];
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
    /// Set when procps `sysctl --system` (which reads /etc/sysctl.conf, where
    /// it exists, once more at the very end) would end with another value.
    pub procps_system_winner: Option<SetterReport>,
    /// How procps `sysctl --system` ends compared with boot.
    pub procps_system: ProcpsSystem,
}

/// What procps `sysctl --system` does with a key, compared with boot
/// (systemd-sysctl). It reads the same files with procps' own rules, so
/// some lines mean something else to it (`- key = 1`, CR line ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcpsSystem {
    /// The same value as boot (or neither sets the key); the line may be
    /// another (systemd keeps an equal value where it first saw it).
    Same,
    /// Another value: see `procps_system_winner`.
    Differs,
    /// Boot sets the key, `sysctl --system` leaves it alone.
    Unset,
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
pub struct StatusReport {
    pub schema: u32,
    pub package: String,
    /// The package's version in dpkg's database; null when not recorded.
    pub package_version: Option<String>,
    pub profile: String,
    /// True when nothing below needs attention (exit status 0).
    pub ok: bool,
    pub keys: Vec<KeyReport>,
    pub chrony: ChronyReport,
    pub reboot_pending: bool,
    /// Only collected when the profile turns IPv6 off. Only those bound to
    /// an address are problems; wildcard ones are information.
    pub ipv6_listeners: Vec<Listener>,
    /// The release whose rules read this root.
    pub release: Detected,
    /// The admin's settings of the profile's keys in files nothing applies
    /// at boot any more (`/etc/sysctl.conf` on Debian 13, its `.dpkg-bak`).
    pub abandoned: Vec<AbandonedSetting>,
    /// Units that failed since boot for want of an IPv6 address (profiles
    /// that turn IPv6 off, on a running system).
    pub failed_units: Vec<FailedUnit>,
    /// sysctl.d directories and files that could not be read (skipped).
    pub unread: Vec<Unread>,
    /// Our packages whose install, switch or purge dpkg left unfinished.
    pub unfinished: Vec<Unfinished>,
    /// One line per problem, for humans and monitoring.
    pub problems: Vec<String>,
}
