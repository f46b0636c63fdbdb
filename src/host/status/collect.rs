//! Gathering the report: the installed profile, the boot-time merge of
//! sysctl.d (systemd-sysctl and procps `--system` rules), live values,
//! chrony, a pending reboot and IPv6 sockets. It only reads.

use super::model::*;
use super::problems::{problems, Problem};
use crate::contract::{Profile, BASE_PACKAGE, SYSCTL_FILE_NAME};
use crate::files::{as_chroot_sees, under_root};
use crate::host::chrony::{add_ipv4_only, chrony_package, ChronyDiversion, ChronyPackage};
use crate::host::release::{dpkg_status, installed_version, unfinished_packages, Detected};
use crate::host::sockets::ipv6_listeners;
use crate::host::sysctl::abandoned::abandoned_settings;
use crate::host::sysctl::apply::read_value;
use crate::host::sysctl::merge::{read_tree, MergeMode, MergedTree, Setter, SetterReport, Unread};
use crate::host::sysctl::value::same_value;
use crate::host::units::failed_for_want_of_ipv6;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Where to look.
#[derive(Debug, Clone)]
pub struct StatusInputs {
    pub root: PathBuf,
    /// `/proc` of the running system; None when auditing an image.
    pub proc: Option<PathBuf>,
    pub profile: PathBuf,
}

pub fn collect(inputs: &StatusInputs) -> Result<StatusReport> {
    let profile = Profile::load(&inputs.profile).with_context(|| {
        format!(
            "is a pve-tcp-hardening package installed? (no usable {})",
            inputs.profile.display()
        )
    })?;
    // Read once: the release's facts and the package's version both come
    // from it, and status runs every minute from the metrics timer.
    let dpkg = dpkg_status(&inputs.root);
    let release = Detected::of_root(&inputs.root, &dpkg);
    let systemd = read_tree(&inputs.root, MergeMode::SystemdSysctl);
    let procps = read_tree(&inputs.root, MergeMode::ProcpsSystem);
    let proc_sys = inputs.proc.as_ref().map(|p| p.join("sys"));
    let ours = OwnFile::on(&inputs.root);
    let keys: Vec<KeyReport> = profile
        .settings
        .iter()
        .map(|s| {
            key_report(
                &s.key,
                &s.value,
                &systemd,
                &procps,
                proc_sys.as_deref(),
                &ours,
            )
        })
        .collect();
    let key_names: Vec<&str> = profile.settings.iter().map(|s| s.key.as_str()).collect();
    let abandoned = abandoned_settings(&inputs.root, &release.release, &systemd, &key_names);
    let chrony = chrony_report(&inputs.root, &profile)?;
    let reboot_pending = crate::host::reboot_request::listed(&inputs.root, &profile.package);
    let ipv6_listeners = match (&inputs.proc, profile.disable_ipv6) {
        (Some(proc), true) => ipv6_listeners(proc),
        _ => Vec::new(),
    };
    let mut unread: Vec<Unread> = systemd.unread().to_vec();
    for u in procps.unread() {
        if !unread.iter().any(|seen| seen.path == u.path) {
            unread.push(u.clone());
        }
    }
    let unfinished = unfinished_packages(&dpkg, BASE_PACKAGE);
    let failed_units = match (&inputs.proc, profile.disable_ipv6) {
        (Some(_), true) => failed_for_want_of_ipv6(&inputs.root),
        _ => Vec::new(),
    };
    // One string made per socket: a busy node has tens of thousands.
    let problems: Vec<String> = problems(
        &keys,
        &abandoned,
        &chrony,
        reboot_pending,
        &ipv6_listeners,
        &failed_units,
        &unfinished,
    )
    .iter()
    .map(Problem::text)
    .collect();
    Ok(StatusReport {
        schema: JSON_SCHEMA_VERSION,
        package_version: installed_version(&dpkg, &profile.package),
        package: profile.package.clone(),
        profile: profile.name.clone(),
        ok: problems.is_empty(),
        keys,
        chrony,
        reboot_pending,
        ipv6_listeners,
        release,
        abandoned,
        failed_units,
        unread,
        unfinished,
        problems,
    })
}

/// The package's own conffile, `/etc/sysctl.d/80_tcp_hardening.conf`: a key
/// the admin changed or removed there is their choice ([`KeyState::Local`]).
struct OwnFile {
    host_path: PathBuf,
    /// A real file (not deleted, not masked by a link to /dev/null).
    present: bool,
}

impl OwnFile {
    fn on(root: &Path) -> OwnFile {
        let host_path = PathBuf::from(format!("/etc/sysctl.d/{SYSCTL_FILE_NAME}"));
        let path = under_root(root, &host_path);
        let present = fs_err::symlink_metadata(&path).is_ok_and(|m| m.is_file());
        OwnFile { host_path, present }
    }

    /// Whether the boot-time outcome of a key comes from the admin's edit of
    /// our file: it wins with another value, or it no longer sets the key
    /// and no other file does.
    fn edited_by_admin(&self, winner: Option<&Setter>, desired: &str) -> bool {
        match winner {
            Some(w) => w.file == self.host_path && !same_value(&w.value, desired),
            None => self.present,
        }
    }
}

fn key_report(
    key: &str,
    desired: &str,
    systemd: &MergedTree,
    procps: &MergedTree,
    proc_sys: Option<&Path>,
    ours: &OwnFile,
) -> KeyReport {
    // What the kernel will hold after boot: a value it refuses is no boot
    // value; the write before it stands.
    let merged = systemd.lookup(key);
    let held = merged.as_ref().and_then(|m| m.held.clone());
    let boot = held.as_ref().map(|w| w.value.clone());
    let live_read = proc_sys.map(|p| read_value(p, key));
    let live = live_read.as_ref().and_then(|r| r.as_ref().ok().cloned());
    let kernel_lacks =
        matches!(&live_read, Some(Err(e)) if e.kind() == std::io::ErrorKind::NotFound);
    let local = ours.edited_by_admin(merged.as_ref().map(|m| &m.winner), desired);
    // What the live value should be: for a local key the admin's value, or
    // anything when they removed it (the kernel's default stays).
    let expected_live = match (local, &boot) {
        (true, None) => None,
        (true, Some(b)) => Some(b.as_str()),
        (false, _) => Some(desired),
    };
    let boot_ok = boot.as_deref().is_some_and(|b| same_value(b, desired));
    let live_ok = match (live.as_deref(), expected_live) {
        (Some(l), Some(e)) => same_value(l, e),
        _ => true,
    };
    let state = if kernel_lacks {
        KeyState::Missing
    } else if !boot_ok && !local {
        KeyState::Shadowed
    } else if !live_ok {
        KeyState::Drift
    } else if local {
        KeyState::Local
    } else {
        KeyState::Ok
    };
    let procps_winner = procps.lookup(key).and_then(|m| m.held);
    let procps_system = match (&boot, &procps_winner) {
        // Values, not lines: systemd keeps an equal value where it first
        // saw it (Debian 13's 50-default.conf sets default.rp_filter = 2
        // before the package's file does), procps takes the last line.
        (Some(b), Some(p)) if same_value(&p.value, b) => ProcpsSystem::Same,
        (None, None) => ProcpsSystem::Same,
        (Some(_), None) => ProcpsSystem::Unset,
        (_, Some(_)) => ProcpsSystem::Differs,
    };
    let procps_system_winner = match procps_system {
        ProcpsSystem::Differs => procps_winner.map(SetterReport::from),
        ProcpsSystem::Same | ProcpsSystem::Unset => None,
    };
    KeyReport {
        key: key.to_string(),
        desired: desired.to_string(),
        boot,
        live,
        state,
        winner: merged
            .as_ref()
            .map(|m| SetterReport::from(m.winner.clone())),
        setters: merged
            .map(|m| m.setters.iter().cloned().map(SetterReport::from).collect())
            .unwrap_or_default(),
        procps_system_winner,
        procps_system,
    }
}

fn chrony_report(root: &Path, profile: &Profile) -> Result<ChronyReport> {
    let diverted_by = ChronyDiversion::new(root, &profile.package, BASE_PACKAGE).diverted_by()?;
    let file = as_chroot_sees(root, "/etc/default/chrony");
    // chrony purged while diverted leaves both files behind: ask dpkg first.
    let installed = match chrony_package(root) {
        ChronyPackage::Known => true,
        ChronyPackage::Purged => false,
        ChronyPackage::Unknown => {
            file.is_file() || under_root(root, "/etc/default/chrony.orig").is_file()
        }
    };
    let ipv4_only = match fs_err::read_to_string(&file) {
        Ok(text) if installed => Some(add_ipv4_only(&text).is_ok_and(|edited| edited == text)),
        _ => None,
    };
    Ok(ChronyReport {
        required: profile.disable_ipv6,
        installed,
        diverted_by,
        ipv4_only,
    })
}
