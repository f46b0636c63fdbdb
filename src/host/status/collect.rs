//! Gathering the report: the installed profile, the boot-time merge of
//! sysctl.d (systemd-sysctl and procps `--system` rules), live values,
//! chrony, a pending reboot and IPv6 sockets. It only reads.

use super::model::*;
use super::sockets::ipv6_listeners;
use crate::contract::{Profile, BASE_PACKAGE, SYSCTL_FILE_NAME};
use crate::files::{resolve_in_root, under_root};
use crate::host::chrony::{add_ipv4_only, chrony_package, ChronyDiversion, ChronyPackage};
use crate::host::sysctl::apply::read_value;
use crate::host::sysctl::merge::{read_tree, same_value, MergeMode, MergedTree, Setter};
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
    let systemd = read_tree(&inputs.root, MergeMode::SystemdSysctl)?;
    let procps = read_tree(&inputs.root, MergeMode::ProcpsSystem)?;
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
    let chrony = chrony_report(&inputs.root, &profile)?;
    let reboot_pending = crate::host::reboot_request::listed(&inputs.root, &profile.package);
    let ipv6_listeners = match (&inputs.proc, profile.disable_ipv6) {
        (Some(proc), true) => ipv6_listeners(proc),
        _ => Vec::new(),
    };
    let problems = problems(&keys, &chrony, reboot_pending, &ipv6_listeners);
    Ok(StatusReport {
        schema: JSON_SCHEMA_VERSION,
        package_version: package_version(&inputs.root, &profile.package),
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
    let merged = systemd.lookup(key);
    let boot = merged.as_ref().map(|m| m.winner.value.clone());
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
    let procps_winner = procps.lookup(key).map(|m| m.winner);
    let procps_system = match (&merged, &procps_winner) {
        (Some(m), Some(p)) if p.file == m.winner.file && same_value(&p.value, &m.winner.value) => {
            ProcpsSystem::Same
        }
        (None, None) => ProcpsSystem::Same,
        (Some(_), None) => ProcpsSystem::Unset,
        (_, Some(_)) => ProcpsSystem::Differs,
    };
    let procps_system_winner = match procps_system {
        ProcpsSystem::Differs => procps_winner.as_ref().map(setter_report),
        ProcpsSystem::Same | ProcpsSystem::Unset => None,
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
        procps_system,
    }
}

fn chrony_report(root: &Path, profile: &Profile) -> Result<ChronyReport> {
    let diverted_by = ChronyDiversion::new(root, &profile.package, BASE_PACKAGE).diverted_by()?;
    let file = in_root(root, "/etc/default/chrony");
    // chrony purged while diverted leaves both files behind: ask dpkg first.
    let installed = match chrony_package(root) {
        ChronyPackage::Known => true,
        ChronyPackage::Purged => false,
        ChronyPackage::Unknown => file.is_file() || root.join("etc/default/chrony.orig").is_file(),
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

/// A host path under the audited root, symlinks resolved inside it as in a
/// chroot (a link that cannot be followed reads as missing, later).
pub(super) fn in_root(root: &Path, abs: &str) -> PathBuf {
    resolve_in_root(root, abs).unwrap_or_else(|_| under_root(root, abs))
}

/// `Version:` of the installed package in dpkg's status file.
fn package_version(root: &Path, package: &str) -> Option<String> {
    let text = fs_err::read_to_string(root.join("var/lib/dpkg/status")).ok()?;
    text.split("\n\n").find_map(|stanza| {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(name).map(str::trim))
        };
        (field("Package:") == Some(package)
            && field("Status:").is_some_and(|s| s.ends_with(" installed")))
        .then(|| field("Version:").map(str::to_string))
        .flatten()
    })
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
                k.boot.as_deref().unwrap_or(&k.desired)
            )),
            KeyState::Ok | KeyState::Local | KeyState::Missing => {}
        }
    }
    if chrony.required && chrony.installed && chrony.ipv4_only != Some(true) {
        out.push("chronyd is not IPv4-only: /etc/default/chrony lacks -4 in DAEMON_OPTS".into());
    }
    if reboot_pending {
        out.push("reboot pending: /run/reboot-required lists this package".into());
    }
    for l in listeners.iter().filter(|l| l.holds_ipv6_address()) {
        // One string made per socket: a busy node has tens of thousands.
        let (proto, address, port) = (&l.proto, &l.address, l.port);
        out.push(match &l.process {
            Some(p) => format!(
                "listening on IPv6: {proto} [{address}]:{port} ({p}, pid {})",
                l.pid.unwrap_or(0)
            ),
            None => format!("listening on IPv6: {proto} [{address}]:{port}"),
        });
    }
    out
}
