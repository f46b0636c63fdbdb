//! What `status` reports: the report and its parts, serialized as the JSON
//! schema documented in the README (version [`JSON_SCHEMA_VERSION`]).

use serde::Serialize;
use std::path::PathBuf;

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
