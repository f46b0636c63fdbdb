//! The contract between the two sides: the resolved profile a package ships
//! as `/usr/share/pve-tcp-hardening/profile.json`, the paths a package
//! installs, and the names both sides agree on. The build side writes the
//! profile ([`Profile::to_json`]) and lays the package out by these paths;
//! the host side reads the profile ([`Profile::load`]), finds its files by
//! the same paths and takes nothing else from the build side.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Base name of every package; also the name of the `default` profile's.
pub const BASE_PACKAGE: &str = "pve-tcp-hardening";

// What a package installs, and where: each path named once. The build side
// lays the .deb out by them (`build::package`), the host side finds its
// files by them, the tests check the .deb against them. Absolute host
// paths; `files::under_root` places one under a `--root`. The literals are
// macros only so that `concat!` can build each path from its directory.

macro_rules! share_dir {
    () => {
        "/usr/share/pve-tcp-hardening"
    };
}

macro_rules! libexec_dir {
    () => {
        "/usr/libexec/pve-tcp-hardening"
    };
}

macro_rules! sysctl_file_name {
    () => {
        "80_tcp_hardening.conf"
    };
}

macro_rules! ipv6_in_use_script_name {
    () => {
        "ipv6-in-use.sh"
    };
}

/// The helper admins and the maintainer scripts call.
pub const HELPER: &str = "/usr/sbin/pve-tcp-hardening";

/// The command's name: the man page's, the completion's.
pub const HELPER_NAME: &str = "pve-tcp-hardening";

/// The packages' directory of programs not run by admins (FHS 3.0).
pub const LIBEXEC_DIR: &str = libexec_dir!();

/// The full helper's file name: beside the front in a cargo target
/// directory, and the last component of [`FULL_HELPER`].
pub const FULL_HELPER_NAME: &str = "pve-tcp-hardening-full";

/// Where the packages install the full helper (see `host::startup`).
pub const FULL_HELPER: &str = concat!(libexec_dir!(), "/pve-tcp-hardening-full");

/// File name of the rendered sysctl.d file on the host.
pub const SYSCTL_FILE_NAME: &str = sysctl_file_name!();

/// The package's sysctl.d file, a conffile.
pub const SYSCTL_FILE: &str = concat!("/etc/sysctl.d/", sysctl_file_name!());

/// The directory of what a package ships for the helper to read.
pub const SHARE_DIR: &str = share_dir!();

/// Where a package ships its profile.
pub const PROFILE_JSON: &str = concat!(share_dir!(), "/profile.json");

/// Where a package ships the compliance maps.
pub const COMPLIANCE_JSON: &str = concat!(share_dir!(), "/compliance.json");

/// The lockout check's file name, beside `profile.json` in a package.
pub const IPV6_IN_USE_SCRIPT_NAME: &str = ipv6_in_use_script_name!();

/// Where a package ships the lockout check.
pub const IPV6_IN_USE_SCRIPT_PATH: &str = concat!(share_dir!(), "/", ipv6_in_use_script_name!());

/// The lockout check, byte for byte: the build embeds it into the preinst
/// of every IPv6-off profile and ships it as [`IPV6_IN_USE_SCRIPT_PATH`];
/// `plan` runs the shipped copy, else this one (see `host::plan::lockout`).
pub const IPV6_IN_USE_SCRIPT: &str = include_str!("ipv6-in-use.sh");

/// The debconf question that lets an IPv6-off profile install anyway. One
/// question, owned by the base package, honoured by every IPv6-off profile:
/// the build writes it into the templates and preinst, `plan` reads it.
pub const OVERRIDE_QUESTION: &str = "pve-tcp-hardening/ipv6-in-use-ok";

/// Where the package's systemd units go: `/usr/lib`, not the `/lib` alias,
/// which trixie's lintian rejects (`aliased-location`) and dpkg 1.22 would
/// leave behind non-empty on purge. dpkg moves an upgraded 0.1.0-1's units
/// in place; the enablement links name the unit, not the directory (tests/e2e
/// s17).
pub const SYSTEMD_UNIT_DIR: &str = "/usr/lib/systemd/system";

/// The helper's man page.
pub const MAN_PAGE: &str = "/usr/share/man/man8/pve-tcp-hardening.8";

/// The helper's completions, where each shell's Debian package looks.
pub const BASH_COMPLETION: &str = "/usr/share/bash-completion/completions/pve-tcp-hardening";
pub const ZSH_COMPLETION: &str = "/usr/share/zsh/vendor-completions/_pve-tcp-hardening";
pub const FISH_COMPLETION: &str = "/usr/share/fish/vendor_completions.d/pve-tcp-hardening.fish";

// ---- Files of the host the helper reads or changes, but no package ships ----
// Named here so the man page's FILES section is rendered from the same
// constants the helper uses (tests/manual.rs checks it lists each).

/// chrony's own defaults file; IPv6-off profiles divert it and write a copy
/// with `-4` (`host::chrony`).
pub const CHRONY_DEFAULT: &str = "/etc/default/chrony";
/// Where the diversion keeps chrony's file.
pub const CHRONY_DIVERTED: &str = "/etc/default/chrony.orig";
/// The reboot request motd and unattended-upgrades read.
pub const REBOOT_REQUIRED_FILE: &str = "/run/reboot-required";
/// The packages that asked for the reboot, one a line.
pub const REBOOT_REQUIRED_PKGS_FILE: &str = "/run/reboot-required.pkgs";
/// The admin's list of units `finish` never restarts.
pub const FINISH_CONFIG: &str = "/etc/pve-tcp-hardening/finish.conf";
/// The admin's classic sysctl file (Debian 13's systemd no longer reads it).
pub const SYSCTL_CONF: &str = "/etc/sysctl.conf";
/// Where dpkg keeps a modified /etc/sysctl.conf when procps drops it.
pub const SYSCTL_CONF_DPKG_BAK: &str = "/etc/sysctl.conf.dpkg-bak";
/// The sysctl.d directories systemd-sysctl reads at boot, highest
/// precedence first (relative to the root; systemd 252 and 257).
pub const SYSTEMD_SYSCTL_DIRS: &[&str] = &[
    "etc/sysctl.d",
    "run/sysctl.d",
    "usr/local/lib/sysctl.d",
    "usr/lib/sysctl.d",
];
/// The ones `sysctl --system` reads (procps adds /lib/sysctl.d).
pub const PROCPS_SYSCTL_DIRS: &[&str] = &[
    "etc/sysctl.d",
    "run/sysctl.d",
    "usr/local/lib/sysctl.d",
    "usr/lib/sysctl.d",
    "lib/sysctl.d",
];

/// A profile after inheritance: what its package ships.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    pub name: String,
    pub package: String,
    pub description: String,
    /// Whether the profile turns IPv6 off (drives the chrony `-4` change).
    pub disable_ipv6: bool,
    /// This profile first, then its parent, grandparent...
    pub chain: Vec<String>,
    /// Active settings, in write order (catalog order, then custom keys).
    pub settings: Vec<Setting>,
    /// Settings shipped commented out for the admin to enable.
    pub commented: Vec<Setting>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Setting {
    pub key: String,
    pub value: String,
    /// The profile in the `extends` chain that set this value.
    pub set_by: String,
    /// From the catalog: the change takes full effect only after a reboot.
    #[serde(default)]
    pub reboot: bool,
    /// Set for keys outside the catalog (the per-key escape hatch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_reason: Option<String>,
}

impl Profile {
    pub fn setting(&self, key: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.key == key)
    }
}

impl Profile {
    /// Read an installed (or extracted) `profile.json`.
    pub fn load(path: &Path) -> Result<Profile> {
        let text = fs_err::read_to_string(path).context("cannot read the shipped profile")?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid profile", path.display()))
    }

    /// The profile as the helper reads it on the host.
    pub fn to_json(&self) -> Result<String> {
        let mut json =
            serde_json::to_string_pretty(self).context("cannot serialize the profile")?;
        json.push('\n');
        Ok(json)
    }
}

/// The benchmarks `status --compliance NAME` checks a node against, and the
/// waivers that say why a Proxmox VE node must differ from them. The build
/// side reads them from `profiles/compliance/*.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ComplianceMaps {
    pub maps: Vec<ComplianceMap>,
    pub waivers: Vec<Waiver>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ComplianceMap {
    /// `cis-debian12`, `anssi-bp28`, `lynis`: the file's name.
    pub name: String,
    pub title: String,
    /// Where the controls and their values were read.
    pub source: String,
    /// Whether the benchmark's check also wants the value configured (a
    /// sysctl.d/sysctl.conf line the boot-time reader applies), as
    /// OpenSCAP's sysctl rules do (their "static" half), or only the live
    /// value, as Lynis's KRNL-6000 does.
    #[serde(default)]
    pub checks_configured: bool,
    pub controls: Vec<Control>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Control {
    pub id: String,
    pub title: String,
    pub key: String,
    /// The benchmark passes any of these values.
    pub expected: Vec<String>,
    /// Values stricter than the benchmark asks, and why they pass.
    #[serde(default)]
    pub stricter: Vec<String>,
    #[serde(default)]
    pub stricter_why: Option<String>,
    /// The id of a [`Waiver`], and the values it covers.
    #[serde(default)]
    pub waiver: Option<String>,
    #[serde(default)]
    pub waived: Vec<String>,
    /// The waiver also covers no file setting the key (the kernel default
    /// left in force on purpose).
    #[serde(default)]
    pub waived_unset: bool,
    /// The benchmark asks this only where IPv6 is on.
    #[serde(default)]
    pub ipv6_only: bool,
    /// Where the benchmark states it (a rule id, a profile line).
    pub reference: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Waiver {
    pub id: String,
    /// Why a Proxmox VE node must differ.
    pub why: String,
}

impl ComplianceMaps {
    pub fn load(path: &Path) -> Result<ComplianceMaps> {
        let text = fs_err::read_to_string(path).context("cannot read the compliance maps")?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid compliance map file", path.display()))
    }

    pub fn to_json(&self) -> Result<String> {
        let mut json =
            serde_json::to_string_pretty(self).context("cannot serialize the compliance maps")?;
        json.push('\n');
        Ok(json)
    }
}

// ---- What the helper leaves for postrm, and the units the scripts manage ----
// postrm runs after the helper is deleted: it reads the state files the
// helper wrote at configure time (src/host/state.rs), by these names, and
// handles the units named here. The build side renders both into the
// maintainer scripts (build/package.rs `maintainer_script_context`).

/// The state directory, relative to the root.
pub const STATE_DIR: &str = "var/lib/pve-tcp-hardening";
/// Every value from before the first install (the helper's record).
pub const SNAPSHOT_FILE: &str = "snapshot.conf";
/// What purge writes back: `path = value` lines, last applied first.
pub const RESTORE_FILE: &str = "restore.conf";
/// The profile's keys that purge names as keeping its values (no saved one).
pub const UNSAVED_FILE: &str = "unsaved";
/// Present when restoring turns IPv6 back on (purge asks for a reboot).
pub const REBOOT_AFTER_PURGE_FILE: &str = "reboot-after-purge";
/// Which package configured last (purge removes it).
pub const CONFIGURED_BY_FILE: &str = "configured-by";
/// The directory below [`STATE_DIR`] that keeps the admin's own files the
/// install took over, each at its own path below it.
pub const ADOPTED_DIR: &str = "adopted";

/// postfix's main.cf as the helper changed it (src/host/postfix.rs), in
/// this directory below the state dir: its bytes before and after the
/// change, and the explicit `inet_protocols` value it replaced, if any.
/// postfix's main configuration, which an IPv6-off profile edits with
/// postconf (not a conffile).
pub const POSTFIX_MAIN_CF: &str = "/etc/postfix/main.cf";
pub const POSTFIX_RECORD_DIR: &str = "postfix";
pub const POSTFIX_BEFORE_FILE: &str = "main.cf.before";
pub const POSTFIX_OURS_FILE: &str = "main.cf.ours";
pub const POSTFIX_EXPLICIT_BEFORE_FILE: &str = "inet_protocols.before";

/// The last line of the state files the helper writes: one without it was
/// cut short.
pub const STATE_END_LINE: &str = "# end";

/// The boot-time check.
pub const BOOT_CHECK_UNIT: &str = "pve-tcp-hardening-boot-check.service";
/// The Prometheus textfile writer, and the timer that starts it.
pub const METRICS_SERVICE_UNIT: &str = "pve-tcp-hardening-prometheus.service";
pub const METRICS_TIMER_UNIT: &str = "pve-tcp-hardening-prometheus.timer";
/// The systemd units every package ships (from `debian/`).
pub const SYSTEMD_UNITS: [&str; 3] = [BOOT_CHECK_UNIT, METRICS_SERVICE_UNIT, METRICS_TIMER_UNIT];
/// The units the maintainer scripts enable, mask and purge as
/// dh_installsystemd would (the service follows its timer).
pub const ENABLED_UNITS: [&str; 2] = [BOOT_CHECK_UNIT, METRICS_TIMER_UNIT];
