//! What `plan` reports, serialized as the JSON schema documented in the
//! README (`plan --json`, version [`PLAN_SCHEMA_VERSION`]).

use crate::host::adopt::Adoption;
use crate::host::release::Detected;
use crate::host::sockets::Listener;
use crate::host::sysctl::abandoned::AbandonedSetting;
use crate::host::sysctl::merge::SetterReport;
use serde::Serialize;

/// Bumped when a field changes meaning or disappears (adding one does not).
pub const PLAN_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub schema: u32,
    pub package: String,
    pub profile: String,
    pub disables_ipv6: bool,
    /// False when the lockout guard would stop the install (exit status 1).
    pub proceeds: bool,
    pub keys: Vec<KeyPlan>,
    /// The install asks for a reboot (a key that needs one changes).
    pub reboot_after_install: bool,
    pub lockout: LockoutPlan,
    /// Sockets bound to an IPv6 address that go away (IPv6-off profiles).
    pub ipv6_sockets_going_away: Vec<GoingAway>,
    /// When some of those wait for the reboot: "reboot, or run
    /// `pve-tcp-hardening finish` to restart these N services instead: ...".
    pub finish_choice: Option<String>,
    pub chrony: ChronyPlan,
    pub postfix: PostfixPlan,
    pub adopted: Adoption,
    /// The release whose rules read this root.
    pub release: Detected,
    /// Profile keys the admin keeps in files nothing applies at boot any
    /// more (Debian 13: `/etc/sysctl.conf`, its `.dpkg-bak`), `boot` being
    /// the value after the install and the next boot.
    pub abandoned: Vec<AbandonedSetting>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyPlan {
    pub key: String,
    pub wanted: String,
    /// Null when the kernel lacks the key or no live system is inspected.
    pub live_now: Option<String>,
    /// Null when the kernel lacks the key (the install skips it).
    pub after_install: Option<String>,
    /// What the boot-time merge gives with the package's file in place.
    pub after_boot: Option<String>,
    pub boot_winner: Option<SetterReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LockoutPlan {
    /// The guard runs only for profiles that turn IPv6 off.
    pub checked: bool,
    pub stops: Vec<String>,
    pub warnings: Vec<String>,
    /// `pve-tcp-hardening/ipv6-in-use-ok` is preseeded true.
    pub override_set: bool,
    pub would_stop: bool,
    /// Which copy of ipv6-in-use.sh ran.
    pub script: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GoingAway {
    #[serde(flatten)]
    pub listener: Listener,
    /// `install` (chronyd restarts with -4) or `reboot`.
    pub when: String,
    /// The owner's systemd unit, when it runs in one.
    pub unit: Option<String>,
    /// What keeps the daemon working once IPv6 is off, and who does it.
    pub fix: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChronyPlan {
    pub installed: bool,
    pub diverted_by: Option<String>,
    /// `none`, `divert` (divert and add -4), `keep` (ours already),
    /// `undivert` (an IPv6-on profile replaces an IPv6-off one).
    pub action: String,
    pub note: String,
}

/// postfix's `inet_protocols` (src/host/postfix.rs has the rule).
#[derive(Debug, Clone, Serialize)]
pub struct PostfixPlan {
    pub installed: bool,
    /// `postconf -h inet_protocols` now; null without postfix.
    pub inet_protocols: Option<String>,
    /// `none`, `set-ipv4` (postconf sets `ipv4`, postfix restarts),
    /// `admin-choice` (an explicit value naming IPv6 is left alone, with a
    /// warning), `give-back` (an IPv6-on profile replaces an IPv6-off one
    /// that changed main.cf).
    pub action: String,
    pub note: String,
}
