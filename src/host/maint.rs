//! What the maintainer scripts do, as functions of (host root, proc root,
//! shipped profile, dpkg's arguments). The scripts in `debian/` only
//! dispatch here; postrm's purge is the exception (it runs after this binary
//! is deleted, so it is sh restoring [`Snapshot`]).
//!
//! Every entry point is idempotent: configure run twice, `dpkg-reconfigure`,
//! `dpkg --configure -a` after an interrupted run, and the abort-* paths all
//! converge on the same state. Nothing here prompts or waits for a terminal:
//! messages go to stderr, the debconf note is queued by the config script.

use crate::contract::{Profile, BASE_PACKAGE, SYSCTL_FILE_NAME};
use crate::files::{read_to_string_if_exists, under_root};
use crate::host::chrony::{restart_chronyd, ChronyDiversion, GeneratedState, RestartOutcome};
use crate::host::cli::{MaintArgs, MaintScript};
use crate::host::state::Snapshot;
use crate::host::sysctl::apply::{apply_files, read_value, ApplyOptions, KeyResult};
use crate::host::sysctl::merge::{later_overrides, same_value};
use crate::host::sysctl::parse::{
    key_to_relative_path, parse_sysctl_text, relative_path_to_key, LineKind,
};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where things are on the host being configured.
#[derive(Debug, Clone)]
pub struct Host {
    pub root: PathBuf,
    pub proc_root: PathBuf,
}

impl Host {
    /// `abs` (an absolute host path) under the root.
    pub fn path(&self, abs: &str) -> PathBuf {
        under_root(&self.root, abs)
    }

    fn sysctl_file(&self) -> PathBuf {
        self.path(&format!("/etc/sysctl.d/{SYSCTL_FILE_NAME}"))
    }

    fn is_real_root(&self) -> bool {
        self.root == Path::new("/")
    }
}

/// Entry point of `pve-tcp-hardening maint`.
pub fn run_cli(args: &MaintArgs) -> Result<ExitCode> {
    let host = Host {
        root: args.root.clone(),
        proc_root: args.proc_root.clone(),
    };
    let profile_path = if args.profile.is_absolute() {
        args.profile.clone()
    } else {
        host.root.join(&args.profile)
    };
    let profile = Profile::load(&profile_path)?;
    let action = args.args[0].as_str();
    match args.script {
        MaintScript::Postinst => postinst(&host, &profile, action),
        MaintScript::Prerm => prerm(&host, &profile, action),
    }?;
    Ok(ExitCode::SUCCESS)
}

/// postinst: every action that leaves the package configured converges on
/// the same state; `triggered` only brings chrony's file in step.
pub fn postinst(host: &Host, profile: &Profile, action: &str) -> Result<()> {
    match action {
        "configure" | "reconfigure" | "abort-upgrade" | "abort-remove" | "abort-deconfigure" => {
            configure(host, profile)
        }
        "triggered" => {
            let restart = sync_chrony(host, profile)?;
            if restart {
                restart_chrony(host);
            }
            Ok(())
        }
        other => bail!("postinst called with unknown argument `{other}`"),
    }
}

/// prerm: on removal hand chrony its own file back now, while this binary
/// still exists; the sysctl values stay until purge (the conffile stays too).
pub fn prerm(host: &Host, profile: &Profile, action: &str) -> Result<()> {
    match action {
        "remove" | "deconfigure" => {
            if release_chrony(host, profile)? {
                restart_chrony(host);
            }
            Ok(())
        }
        "upgrade" | "failed-upgrade" => Ok(()),
        other => bail!("prerm called with unknown argument `{other}`"),
    }
}

/// Snapshot, apply, chrony, precedence warnings, reboot notice.
pub fn configure(host: &Host, profile: &Profile) -> Result<()> {
    let file = host.sysctl_file();
    let file_text = match fs_err::read_to_string(&file) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tell_admin(&format!(
                "{} is missing (deleted by the admin?): nothing applied",
                host_path_shown(&file, host)
            ));
            None
        }
        Err(e) => return Err(e).context("cannot read the sysctl file"),
    };
    let file_keys = file_text.as_deref().map(keys_of);
    let wanted = wanted_keys(profile, file_keys.as_deref());

    // Before changing anything: the first values we ever saw.
    let mut snapshot = Snapshot::load(&host.root)?;
    snapshot.record(&wanted, &host.proc_root);
    snapshot.save(&host.root)?;

    // Announce before changing anything: a postinst interrupted after the
    // apply must not leave values changed and no reboot asked for.
    let reboot_due = file_text
        .as_deref()
        .is_some_and(|text| reboot_keys_change(host, profile, text))
        || sibling_reboot_pending(host)?;
    if reboot_due {
        announce_reboot(host, profile)?;
    }
    // Keys a previous variant set and this one does not: back to before us.
    for failure in snapshot.restore(&host.proc_root, |k| !wanted.iter().any(|w| w == k)) {
        tell_admin(&format!(
            "could not restore {}: {}",
            failure.key, failure.message
        ));
    }
    if file_text.is_some() {
        apply_sysctl_file(host, &file)?;
    }
    let chrony_changed = sync_chrony(host, profile)?;
    if chrony_changed {
        restart_chrony(host);
    }
    warn_about_later_files(host, profile)?;
    Ok(())
}

/// Keys of the file (the admin may have added some), then the profile's.
fn wanted_keys(profile: &Profile, file_keys: Option<&[String]>) -> Vec<String> {
    let mut keys: Vec<String> = file_keys.map(<[String]>::to_vec).unwrap_or_default();
    for s in &profile.settings {
        if !keys.contains(&s.key) {
            keys.push(s.key.clone());
        }
    }
    keys
}

/// Plain `(key, value)` settings of a sysctl file, in order (globs are
/// left out: they cannot be snapshotted one by one).
fn settings_of(text: &str) -> Vec<(String, String)> {
    parse_sysctl_text(text)
        .into_iter()
        .filter_map(|line| match line.kind {
            LineKind::Setting { key, value, .. } if !key.contains(['*', '?', '[']) => {
                Some((relative_path_to_key(&key_to_relative_path(&key)), value))
            }
            _ => None,
        })
        .collect()
}

fn keys_of(text: &str) -> Vec<String> {
    settings_of(text).into_iter().map(|(key, _)| key).collect()
}

/// Whether applying `text` will change a key whose change only fully takes
/// effect at boot (IPv6 on/off: sockets opened before stay open).
fn reboot_keys_change(host: &Host, profile: &Profile, text: &str) -> bool {
    settings_of(text).iter().any(|(key, value)| {
        let needs_boot = profile.settings.iter().any(|s| &s.key == key && s.reboot);
        needs_boot && read_value(&host.proc_root, key).is_ok_and(|live| !same_value(&live, value))
    })
}

/// Apply exactly our file, like `sysctl -p FILE`. Keys this kernel lacks
/// (no IPv6 module, say) are a warning, never a failed install.
fn apply_sysctl_file(host: &Host, file: &Path) -> Result<()> {
    let opts = ApplyOptions {
        quiet: true,
        ignore_missing: true,
        proc_root: host.proc_root.clone(),
    };
    let name = file.to_string_lossy().into_owned();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let report = apply_files(&[name], &opts, &mut out, &mut err);
    eprint!("{}", String::from_utf8_lossy(&err));
    let count =
        |pred: fn(&KeyResult) -> bool| report.outcomes.iter().filter(|o| pred(&o.result)).count();
    let applied = count(|r| matches!(r, KeyResult::Applied));
    let missing: Vec<&str> = report
        .outcomes
        .iter()
        .filter(|o| o.result == KeyResult::Missing)
        .map(|o| o.key.as_str())
        .collect();
    let failed = count(|r| !matches!(r, KeyResult::Applied | KeyResult::Missing));
    let mut summary = format!(
        "applied {applied} settings from {}",
        host_path_shown(file, host)
    );
    if !missing.is_empty() {
        summary.push_str(&format!(
            "; skipped, not on this kernel: {}",
            missing.join(", ")
        ));
    }
    if failed > 0 {
        summary.push_str(&format!("; {failed} refused by the kernel (see above)"));
    }
    tell_admin(&summary);
    Ok(())
}

/// Bring `/etc/default/chrony` in line with the profile. Returns whether
/// chronyd must restart to see a change.
fn sync_chrony(host: &Host, profile: &Profile) -> Result<bool> {
    let diversion = ChronyDiversion::new(&host.root, &profile.package, BASE_PACKAGE);
    if !profile.disable_ipv6 {
        return release_chrony(host, profile);
    }
    diversion.divert()?;
    match diversion.write_generated()? {
        GeneratedState::Written => {
            tell_admin("chronyd made IPv4-only: -4 added to DAEMON_OPTS in /etc/default/chrony (original kept as /etc/default/chrony.orig)");
            Ok(true)
        }
        GeneratedState::Unchanged => Ok(false),
        GeneratedState::ChronyNotInstalled => {
            tell_admin("chrony is not installed; if it is installed later, -4 is added to its /etc/default/chrony then");
            Ok(false)
        }
    }
}

/// Undo our diversion (or a leftover sibling's). Returns whether chronyd
/// must restart.
fn release_chrony(host: &Host, profile: &Profile) -> Result<bool> {
    let holder = ChronyDiversion::new(&host.root, &profile.package, BASE_PACKAGE).diverted_by()?;
    let Some(holder) = holder.filter(|p| p.starts_with(BASE_PACKAGE)) else {
        return Ok(false);
    };
    let outcome = ChronyDiversion::new(&host.root, &holder, BASE_PACKAGE).undivert()?;
    if let Some(note) = outcome.note() {
        tell_admin(&note);
    }
    tell_admin("/etc/default/chrony is chrony's own again (diversion removed)");
    Ok(true)
}

fn restart_chrony(host: &Host) {
    match restart_chronyd(&host.root) {
        Ok(RestartOutcome::Restarted) => {}
        Ok(other) => tell_admin(&other.note()),
        Err(e) => tell_admin(&format!("could not restart chrony: {e:#}")),
    }
}

/// Tell the admin which later-sorting sysctl.d file will win at boot.
fn warn_about_later_files(host: &Host, profile: &Profile) -> Result<()> {
    let wanted: Vec<(String, String)> = profile
        .settings
        .iter()
        .map(|s| (s.key.clone(), s.value.clone()))
        .collect();
    for o in later_overrides(&host.root, SYSCTL_FILE_NAME, &wanted)? {
        let theirs = if o.value.is_empty() {
            "excludes it".to_string()
        } else {
            format!("sets {}", o.value)
        };
        tell_admin(&format!(
            "warning: at boot {}:{} {theirs} for {} (this profile: {}); that file sorts after {SYSCTL_FILE_NAME} and wins",
            o.file.display(),
            o.lineno,
            o.key,
            o.ours
        ));
    }
    Ok(())
}

/// A reboot asked for by a variant apt just replaced is still due: it now
/// belongs to us.
fn sibling_reboot_pending(host: &Host) -> Result<bool> {
    Ok(reboot_pkgs(host)?
        .lines()
        .any(|l| l.trim().starts_with(BASE_PACKAGE)))
}

fn reboot_pkgs(host: &Host) -> Result<String> {
    Ok(
        read_to_string_if_exists(&host.path("/run/reboot-required.pkgs"))
            .context("cannot read /run/reboot-required.pkgs")?
            .unwrap_or_default(),
    )
}

/// `/run/reboot-required` plus our name, once, in `.pkgs` (the convention
/// update-notifier and needrestart read; a replaced sibling variant's name
/// gives way to ours), and a message.
pub fn announce_reboot(host: &Host, profile: &Profile) -> Result<()> {
    let flag = host.path("/run/reboot-required");
    let pkgs = host.path("/run/reboot-required.pkgs");
    fs_err::create_dir_all(host.path("/run")).context("cannot create /run")?;
    if !flag.exists() {
        crate::atomic::write_atomic(
            &flag,
            b"*** System restart required ***\n",
            Default::default(),
        )?;
    }
    let listed = reboot_pkgs(host)?;
    let mut lines: Vec<&str> = listed
        .lines()
        .filter(|l| !l.trim().starts_with(BASE_PACKAGE) || l.trim() == profile.package)
        .collect();
    if !lines.contains(&profile.package.as_str()) {
        lines.push(&profile.package);
    }
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    if text != listed {
        crate::atomic::write_atomic(&pkgs, text.as_bytes(), Default::default())?;
    }
    if profile.disable_ipv6 {
        tell_admin("reboot required: IPv6 is off now, but sockets opened over IPv6 before stay open until their service restarts; reboot, then check with `ss -atlnup` that nothing listens on IPv6");
    } else {
        tell_admin("reboot recommended: services started while IPv6 was off listen on IPv4 only until they restart");
    }
    Ok(())
}

fn tell_admin(message: &str) {
    eprintln!("pve-tcp-hardening: {message}");
}

/// A host path for messages: without the test root prefix.
fn host_path_shown(path: &Path, host: &Host) -> String {
    match path.strip_prefix(&host.root) {
        Ok(rel) if !host.is_real_root() => format!("/{}", rel.display()),
        _ => path.display().to_string(),
    }
}
