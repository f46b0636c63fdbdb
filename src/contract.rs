//! The contract between the two sides: the resolved profile a package ships
//! as `/usr/share/pve-tcp-hardening/profile.json`, and the names both sides
//! agree on. The build side writes it ([`Profile::to_json`]); the host side
//! reads it ([`Profile::load`]) and takes nothing else from the build side.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File name of the rendered sysctl.d file on the host.
pub const SYSCTL_FILE_NAME: &str = "80_tcp_hardening.conf";

/// Where a package ships its profile, relative to the root.
pub const PROFILE_JSON: &str = "usr/share/pve-tcp-hardening/profile.json";

/// Base name of every package; also the name of the `default` profile's.
pub const BASE_PACKAGE: &str = "pve-tcp-hardening";

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
