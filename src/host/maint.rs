//! What the maintainer scripts do, as functions of (host root, proc root,
//! shipped profile, dpkg's arguments). The scripts in `debian/` only
//! dispatch here; postrm's purge is the exception (it runs after this binary
//! is deleted, so it is sh restoring [`Snapshot`]).
//!
//! Every entry point is idempotent: configure run twice, `dpkg-reconfigure`,
//! `dpkg --configure -a` after an interrupted run, and the abort-* paths all
//! converge on the same state. Nothing here prompts or waits for a terminal:
//! messages go to stderr; the debconf note's text goes to postinst on
//! stdout (src/host/outcome.rs).

use crate::contract::{Profile, BASE_PACKAGE, SYSCTL_FILE_NAME};
use crate::files::{read_to_string_if_exists, under_root};
use crate::host::adopt::{adopted_path, adopted_path_shown};
use crate::host::chrony::{restart_chronyd, ChronyDiversion, GeneratedState, RestartOutcome};
use crate::host::cli::{MaintArgs, MaintScript};
use crate::host::outcome::{Applied, ChronyChange, Ipv6Change, Occasion, Outcome};
use crate::host::state::{Snapshot, STATE_DIR};
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
        "triggered" => sync_chrony(host, profile).map(drop),
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

/// Snapshot, apply, chrony, precedence warnings, reboot notice; the
/// debconf note's text (if one is due) on stdout for postinst.
pub fn configure(host: &Host, profile: &Profile) -> Result<()> {
    let occasion = last_configured(host, profile)?;
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
    if occasion == Occasion::FirstInstall {
        report_adopted_sysctl_file(host, profile)?;
    }
    let file_keys = file_text.as_deref().map(keys_of);
    let wanted = wanted_keys(profile, file_keys.as_deref());

    // Before changing anything: the first values we ever saw.
    let mut snapshot = Snapshot::load(&host.root)?;
    snapshot.record(&wanted, &host.proc_root);
    snapshot.save(&host.root)?;

    // Mark the reboot before changing anything: a postinst interrupted after
    // the apply must not leave values changed and no reboot asked for.
    let reboot_keys_change_now = file_text
        .as_deref()
        .is_some_and(|text| reboot_keys_change(host, profile, text));
    let reboot_due = reboot_keys_change_now || sibling_reboot_pending(host)?;
    if reboot_due {
        mark_reboot_required(host, profile)?;
    }
    let ipv6_before = read_value(&host.proc_root, DISABLE_IPV6).ok();
    // Keys a previous variant set and this one does not: back to before us.
    for failure in snapshot.restore(&host.proc_root, |k| !wanted.iter().any(|w| w == k)) {
        tell_admin(&format!(
            "could not restore {}: {}",
            failure.key, failure.message
        ));
    }
    let applied = match &file_text {
        Some(text) => Some(apply_sysctl_file(host, &file, text)?),
        None => None,
    };
    let chrony = sync_chrony(host, profile)?;
    warn_about_later_files(host, profile)?;
    let outcome = Outcome {
        profile: profile.name.clone(),
        occasion,
        applied,
        ipv6: Ipv6Change::from_values(
            ipv6_before.as_deref(),
            read_value(&host.proc_root, DISABLE_IPV6).ok().as_deref(),
        ),
        chrony,
        reboot_due,
        reboot_from_before: reboot_due && !reboot_keys_change_now,
    };
    if let Some(paragraphs) = outcome.reboot_paragraphs() {
        for p in &paragraphs {
            tell_admin(p);
        }
        write_reboot_words(host, &paragraphs)?;
    }
    record_configured(host, profile)?;
    if let Some(note) = outcome.debconf_note().filter(|_| note_can_be_shown()) {
        println!("{note}");
    }
    Ok(())
}

const DISABLE_IPV6: &str = "net.ipv6.conf.all.disable_ipv6";
/// Which package configured last, in the state directory (purge removes it).
const CONFIGURED_BY: &str = "configured-by";

fn configured_by_path(host: &Host) -> PathBuf {
    host.path(&format!("/{STATE_DIR}/{CONFIGURED_BY}"))
}

/// First install, profile switch, or this package again.
fn last_configured(host: &Host, profile: &Profile) -> Result<Occasion> {
    let text = read_to_string_if_exists(&configured_by_path(host))
        .context("cannot read which package configured last")?;
    Ok(match text.as_deref().map(str::trim) {
        None | Some("") => Occasion::FirstInstall,
        Some(p) if p == profile.package => Occasion::Again,
        Some(p) => Occasion::Switch {
            from: p.to_string(),
        },
    })
}

fn record_configured(host: &Host, profile: &Profile) -> Result<()> {
    let path = configured_by_path(host);
    let text = format!("{}\n", profile.package);
    if read_to_string_if_exists(&path)?.as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    crate::atomic::write_atomic(&path, text.as_bytes(), Default::default())
        .context("cannot record which package configured last")
}

/// A debconf note must never wait where nobody can answer: not with
/// `DEBIAN_FRONTEND=noninteractive`, not without a controlling terminal
/// (debconf would fall back to a frontend that reads stdin).
fn note_can_be_shown() -> bool {
    std::env::var("DEBIAN_FRONTEND").as_deref() != Ok("noninteractive")
        && std::fs::File::open("/dev/tty").is_ok()
}

/// On the first install: where the admin's own sysctl file went (preinst
/// moved it aside before dpkg unpacked ours) and where it differed.
fn report_adopted_sysctl_file(host: &Host, profile: &Profile) -> Result<()> {
    let abs = format!("/etc/sysctl.d/{SYSCTL_FILE_NAME}");
    let Some(theirs) = read_to_string_if_exists(&adopted_path(&host.root, &abs))
        .context("cannot read the adopted sysctl file")?
    else {
        return Ok(());
    };
    tell_admin(&format!(
        "your own {abs} (there before this package) is kept as {}; purging the package puts it back",
        adopted_path_shown(&abs)
    ));
    let differences = sysctl_differences(&settings_of(&theirs), profile);
    if differences.is_empty() {
        tell_admin("it set the same values as this profile");
    } else {
        tell_admin(&format!(
            "it differed from this profile in: {}",
            differences.join(", ")
        ));
    }
    Ok(())
}

/// Keys whose value in `theirs` differs from the profile's, keys only the
/// profile sets, and keys only theirs sets.
fn sysctl_differences(theirs: &[(String, String)], profile: &Profile) -> Vec<String> {
    let last = |key: &str| {
        theirs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let mut out = Vec::new();
    for s in &profile.settings {
        match last(&s.key) {
            Some(v) if same_value(v, &s.value) => {}
            Some(v) => out.push(format!("{} ({v}, profile {})", s.key, s.value)),
            None => out.push(format!("{} (not set, profile {})", s.key, s.value)),
        }
    }
    for (key, value) in theirs {
        let extra = !profile.settings.iter().any(|s| &s.key == key);
        let first = theirs.iter().position(|(k, _)| k == key)
            == theirs.iter().position(|(k, v)| k == key && v == value);
        if extra && first {
            out.push(format!(
                "{key} ({}, not in the profile)",
                last(key).unwrap_or(value)
            ));
        }
    }
    out
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
fn apply_sysctl_file(host: &Host, file: &Path, text: &str) -> Result<Applied> {
    let opts = ApplyOptions {
        quiet: true,
        ignore_missing: true,
        proc_root: host.proc_root.clone(),
    };
    let live = |key: &str| read_value(&host.proc_root, key).ok();
    let before: Vec<(String, Option<String>)> = settings_of(text)
        .into_iter()
        .map(|(key, _)| {
            let value = live(&key);
            (key, value)
        })
        .collect();
    let name = file.to_string_lossy().into_owned();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let report = apply_files(&[name], &opts, &mut out, &mut err);
    eprint!("{}", String::from_utf8_lossy(&err));
    let count =
        |pred: fn(&KeyResult) -> bool| report.outcomes.iter().filter(|o| pred(&o.result)).count();
    let applied = count(|r| matches!(r, KeyResult::Applied));
    let changed = before
        .iter()
        .filter(|(key, was)| match (was, live(key)) {
            (Some(was), Some(now)) => !same_value(was, &now),
            _ => false,
        })
        .count();
    let missing: Vec<&str> = report
        .outcomes
        .iter()
        .filter(|o| o.result == KeyResult::Missing)
        .map(|o| o.key.as_str())
        .collect();
    let failed = count(|r| !matches!(r, KeyResult::Applied | KeyResult::Missing));
    let mut summary = format!(
        "applied {applied} settings from {} ({changed} changed a live value)",
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
    Ok(Applied {
        accepted: applied,
        changed,
    })
}

/// Bring `/etc/default/chrony` in line with the profile, restarting
/// chronyd when it must see a change.
fn sync_chrony(host: &Host, profile: &Profile) -> Result<ChronyChange> {
    let diversion = ChronyDiversion::new(&host.root, &profile.package, BASE_PACKAGE);
    if !profile.disable_ipv6 {
        return Ok(match release_chrony(host, profile)? {
            true => ChronyChange::GivenBack(restart_chrony(host)),
            false => ChronyChange::Unchanged,
        });
    }
    if diversion.divert()? {
        tell_admin(&format!(
            "your own {CHRONY_ORIG} (there before this package) is kept as {}; purging the package puts it back",
            adopted_path_shown(CHRONY_ORIG)
        ));
    }
    match diversion.write_generated()? {
        GeneratedState::Written if diversion.original_is_ipv4_only()? => {
            tell_admin("chronyd was IPv4-only already: /etc/default/chrony had -4 in DAEMON_OPTS (now behind the diversion as /etc/default/chrony.orig, same content in /etc/default/chrony)");
            Ok(ChronyChange::AlreadyIpv4Only)
        }
        GeneratedState::Written => {
            tell_admin("chronyd made IPv4-only: -4 added to DAEMON_OPTS in /etc/default/chrony (original kept as /etc/default/chrony.orig)");
            Ok(ChronyChange::MadeIpv4Only(restart_chrony(host)))
        }
        GeneratedState::Unchanged => Ok(ChronyChange::Unchanged),
        GeneratedState::ChronyNotInstalled => {
            tell_admin("chrony is not installed; if it is installed later, -4 is added to its /etc/default/chrony then");
            Ok(ChronyChange::Absent)
        }
    }
}

const CHRONY_ORIG: &str = "/etc/default/chrony.orig";

/// Undo our diversion (or a leftover sibling's). Returns whether chronyd
/// must restart.
fn release_chrony(host: &Host, profile: &Profile) -> Result<bool> {
    let holder = ChronyDiversion::new(&host.root, &profile.package, BASE_PACKAGE).diverted_by()?;
    let Some(holder) = holder.filter(|p| p.starts_with(BASE_PACKAGE)) else {
        return Ok(false);
    };
    // A diversion made ahead of chrony (never installed, or purged since):
    // dropped without a word of chrony, and nothing to restart.
    let chrony_present = ["/etc/default/chrony", CHRONY_ORIG]
        .iter()
        .any(|p| fs_err::symlink_metadata(host.path(p)).is_ok());
    let outcome = ChronyDiversion::new(&host.root, &holder, BASE_PACKAGE).undivert()?;
    if !chrony_present {
        return Ok(false);
    }
    if let Some(note) = outcome.note() {
        tell_admin(&note);
    }
    tell_admin("/etc/default/chrony is chrony's own again (diversion removed)");
    Ok(true)
}

fn restart_chrony(host: &Host) -> RestartOutcome {
    let outcome =
        restart_chronyd(&host.root).unwrap_or_else(|e| RestartOutcome::Failed(format!("{e:#}")));
    if outcome != RestartOutcome::Restarted {
        tell_admin(&outcome.note());
    }
    outcome
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
/// gives way to ours).
fn mark_reboot_required(host: &Host, profile: &Profile) -> Result<()> {
    let flag = host.path("/run/reboot-required");
    let pkgs = host.path("/run/reboot-required.pkgs");
    fs_err::create_dir_all(host.path("/run")).context("cannot create /run")?;
    if !flag.exists() {
        crate::atomic::write_atomic(&flag, REBOOT_REQUIRED_HEADER.as_bytes(), Default::default())?;
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
    Ok(())
}

const REBOOT_REQUIRED_HEADER: &str = "*** System restart required ***\n";

/// The reboot words in `/run/reboot-required` (motd shows it), as on
/// stderr: our lines replace any earlier ones of a pve-tcp-hardening
/// package; other packages' lines stay.
fn write_reboot_words(host: &Host, paragraphs: &[String]) -> Result<()> {
    let flag = host.path("/run/reboot-required");
    let old = read_to_string_if_exists(&flag)
        .context("cannot read /run/reboot-required")?
        .unwrap_or_else(|| REBOOT_REQUIRED_HEADER.to_string());
    let prefix = format!("{BASE_PACKAGE}: ");
    let mut text: String = old
        .lines()
        .filter(|l| !l.starts_with(&prefix))
        .map(|l| format!("{l}\n"))
        .collect();
    for p in paragraphs {
        text.push_str(&format!("{prefix}{p}\n"));
    }
    if text != old {
        crate::atomic::write_atomic(&flag, text.as_bytes(), Default::default())?;
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
