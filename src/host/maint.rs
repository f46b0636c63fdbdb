//! What the maintainer scripts do, as functions of (host root, proc root,
//! shipped profile, dpkg's arguments). The scripts in `debian/` only
//! dispatch here; postrm's purge is the exception (it runs after this binary
//! is deleted): configure leaves it a [`PurgePlan`] to write back.
//!
//! Every entry point is idempotent: configure run twice, `dpkg-reconfigure`,
//! `dpkg --configure -a` after an interrupted run, and the abort-* paths all
//! converge on the same state. Nothing here prompts or waits for a terminal:
//! messages go to stderr; the debconf note's text goes to postinst on
//! stdout (src/host/outcome.rs).

use crate::cli::{MaintArgs, MaintScript};
use crate::contract::{Profile, BASE_PACKAGE, PROFILE_JSON, SYSCTL_FILE, SYSCTL_FILE_NAME};
use crate::files::{read_to_string_if_exists, under_root};
use crate::host::adopt::{adopt, adopted_path, adopted_path_shown, describe_differences};
use crate::host::chrony::{
    restart, restart_chronyd, try_restart, ChronyDiversion, GeneratedState, RestartOutcome,
    UndivertOutcome,
};
use crate::host::kill_point;
use crate::host::outcome::{Applied, ChronyChange, Ipv6Change, Occasion, Outcome};
use crate::host::postfix::{self, Decision, Postfix};
use crate::host::reboot_request;
use crate::host::state::{PurgePlan, Snapshot, DISABLE_IPV6, STATE_DIR};
use crate::host::sysctl::apply::{apply_files, read_value, ApplyOptions, KeyResult};
use crate::host::sysctl::merge::later_overrides;
use crate::host::sysctl::parse::{
    key_to_relative_path, parse_sysctl_text, relative_path_to_key, LineKind,
};
use crate::host::sysctl::value::same_value;
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
        self.path(SYSCTL_FILE)
    }

    fn is_real_root(&self) -> bool {
        self.root == Path::new("/")
    }
}

/// Entry point of `pve-tcp-hardening maint`.
pub fn run_cli(args: &MaintArgs) -> Result<ExitCode> {
    let host = Host {
        root: args.root.clone(),
        proc_root: args.proc.sys(),
    };
    crate::host::sysctl::proc_root::confined(&host.proc_root)?;
    let profile_path = match &args.profile {
        Some(path) if path.is_absolute() => path.clone(),
        Some(path) => host.root.join(path),
        None => host.path(PROFILE_JSON),
    };
    let profile = Profile::load(&profile_path)?;
    let action = args.args[0].as_str();
    // dpkg passes configure the version last configured, if any (policy 6.5).
    let previous = args
        .args
        .get(1)
        .map(String::as_str)
        .filter(|v| !v.is_empty());
    match args.script {
        MaintScript::Postinst => postinst(&host, &profile, action, previous),
        MaintScript::Prerm => prerm(&host, &profile, action),
    }?;
    Ok(ExitCode::SUCCESS)
}

/// postinst: every action that leaves the package configured converges on
/// the same state; `triggered` only brings chrony's file in step.
pub fn postinst(
    host: &Host,
    profile: &Profile,
    action: &str,
    previous: Option<&str>,
) -> Result<()> {
    match action {
        "configure" | "reconfigure" | "abort-upgrade" | "abort-remove" | "abort-deconfigure" => {
            configure(host, profile, previous)
        }
        // chrony's conffile or postfix's postconf was unpacked: both are
        // brought in step (each does nothing when it already is).
        "triggered" => {
            sync_chrony(host, profile)?;
            sync_postfix(host, profile)
        }
        other => bail!("postinst called with unknown argument `{other}`"),
    }
}

/// prerm: on removal hand chrony its own file back now, while this binary
/// still exists; the sysctl values stay until purge (the conffile stays too).
pub fn prerm(host: &Host, profile: &Profile, action: &str) -> Result<()> {
    match action {
        "remove" | "deconfigure" => {
            kill_point::reached("prerm-start");
            if release_chrony(host, profile)? {
                kill_point::reached("chrony-undiverted");
                restart_chrony(host);
            }
            Ok(())
        }
        "upgrade" | "failed-upgrade" => Ok(()),
        other => bail!("prerm called with unknown argument `{other}`"),
    }
}

/// Snapshot, apply, chrony, precedence warnings, reboot notice; the
/// debconf note's text (if one is due) on stdout for postinst. `previous`
/// is the version configured before (dpkg's `$2`), if any.
pub fn configure(host: &Host, profile: &Profile, previous: Option<&str>) -> Result<()> {
    // What can fail on the admin's input is checked before anything changes.
    if profile.disable_ipv6 {
        ChronyDiversion::new(&host.root, &profile.package, BASE_PACKAGE).check_transform()?;
        Postfix::new(&host.root).assess()?;
    }
    kill_point::reached("configure-start");
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
    let target = match (live_target(host), file_text.as_deref()) {
        (LiveTarget::Host, Some(text)) if !any_key_writable(host, text) => LiveTarget::ReadOnly,
        (target, _) => target,
    };
    if let LiveTarget::ImageBuild(why) = &target {
        tell_admin(&format!(
            "installing into a chroot or image ({why}): no value applied to the running \
             kernel and no service restarted; {} takes effect when the system it is \
             installed in boots (set {APPLY_IN_CHROOT_VAR}=1 to apply now anyway)",
            host_path_shown(&file, host)
        ));
        sync_postfix(host, profile)?;
        sync_chrony(host, profile)?;
        warn_about_later_files(host, profile);
        // No state on an image: its own first install is still to come.
        return Ok(());
    }
    let file_keys = file_text.as_deref().map(keys_of);
    let wanted = wanted_keys(profile, file_keys.as_deref());

    // Before changing anything: the first values we ever saw.
    let snapshot = record_snapshot(host, &wanted, previous, file_text.as_deref())?;
    kill_point::reached("snapshot-saved");

    if target == LiveTarget::ReadOnly {
        tell_admin(&format!(
            "/proc/sys is read-only here (a container or a locked-down host): no value \
             could be applied now. At boot systemd-sysctl applies {} where the kernel \
             lets it (not inside a container: there the host's settings govern); no \
             reboot is asked for",
            host_path_shown(&file, host)
        ));
        sync_postfix(host, profile)?;
        sync_chrony(host, profile)?;
        warn_about_later_files(host, profile);
        PurgePlan::new(&snapshot, profile, &host.proc_root).save(&host.root)?;
        return record_configured(host, profile);
    }

    // Mark the reboot before changing anything: a postinst interrupted after
    // the apply must not leave values changed and no reboot asked for.
    let reboot_keys_change_now = file_text
        .as_deref()
        .is_some_and(|text| reboot_keys_change(host, profile, text));
    let reboot_due = reboot_keys_change_now || reboot_request::pending_for_any_variant(&host.root)?;
    if reboot_due {
        reboot_request::request(&host.root, &profile.package)?;
        kill_point::reached("reboot-requested");
    }
    let ipv6_before = read_value(&host.proc_root, DISABLE_IPV6).ok();
    // Keys a previous variant set and this one does not: back to before us.
    for failure in snapshot.restore(&host.proc_root, |k| !wanted.iter().any(|w| w == k)) {
        tell_admin(&format!(
            "could not restore {}: {}",
            failure.key, failure.message
        ));
    }
    kill_point::reached("other-variant-keys-restored");
    // postfix first: it must not be restarted (by chrony's restart, by
    // `finish`, at the reboot) with a main.cf that cannot start without IPv6.
    sync_postfix(host, profile)?;
    kill_point::reached("postfix-synced");
    let applied = match &file_text {
        Some(text) => Some(apply_sysctl_file(host, &file, text)?),
        None => None,
    };
    kill_point::reached("values-applied");
    let chrony = sync_chrony(host, profile)?;
    kill_point::reached("chrony-synced");
    warn_about_later_files(host, profile);
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
        finish_choice: finish_choice(host, profile, reboot_due),
    };
    if let Some(paragraphs) = outcome.reboot_paragraphs() {
        for p in &paragraphs {
            tell_admin(p);
        }
        reboot_request::write_words(&host.root, &paragraphs)?;
        kill_point::reached("reboot-words-written");
    }
    PurgePlan::new(&snapshot, profile, &host.proc_root).save(&host.root)?;
    kill_point::reached("purge-plan-saved");
    record_configured(host, profile)?;
    kill_point::reached("configured-recorded");
    if let Some(note) = outcome.debconf_note().filter(|_| note_can_be_shown()) {
        println!("{note}");
    }
    Ok(())
}

/// Add the live value of every wanted key not saved yet. After an install
/// whose snapshot was lost (`previous` set, no usable snapshot), a key that
/// already has our file's value is ours, not the value from before: it is
/// left out, and the admin told.
fn record_snapshot(
    host: &Host,
    wanted: &[String],
    previous: Option<&str>,
    file_text: Option<&str>,
) -> Result<Snapshot> {
    let mut snapshot = Snapshot::load(&host.root)?;
    let skip = match (previous, file_text) {
        (Some(_), Some(text))
            if !Snapshot::path(&host.root).is_file() || snapshot.entries.is_empty() =>
        {
            keys_already_ours(host, text, &snapshot)
        }
        _ => Vec::new(),
    };
    if !skip.is_empty() {
        tell_admin(&format!(
            "warning: the values saved before the first install are lost ({} is missing or \
             empty); not recording {} as values from before, they already have this \
             profile's values: purging leaves them so until the next boot",
            host_path_shown(&Snapshot::path(&host.root), host),
            skip.join(", ")
        ));
    }
    let to_record: Vec<String> = wanted
        .iter()
        .filter(|k| !skip.contains(k))
        .cloned()
        .collect();
    snapshot.record(&to_record, &host.proc_root);
    snapshot.save(&host.root)?;
    Ok(snapshot)
}

/// The opt-in the chroot test harnesses set in the environment of apt and
/// dpkg: a chroot standing in for a host gets values applied and services
/// restarted as a host would.
pub const APPLY_IN_CHROOT_VAR: &str = "PVE_TCP_HARDENING_APPLY_IN_CHROOT";

/// Whether values may be written to /proc/sys and chronyd restarted now.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LiveTarget {
    /// The running system is the one being configured.
    Host,
    /// An image build (`ischroot`, `DPKG_ROOT`): the build machine's kernel
    /// and services are not the ones the files are for.
    ImageBuild(String),
    /// Not one key of our file can be written (an LXC container, a
    /// locked-down host).
    ReadOnly,
}

fn live_target(host: &Host) -> LiveTarget {
    let verdict = live_kernel_is_ours(
        std::env::var(APPLY_IN_CHROOT_VAR).ok().as_deref(),
        std::env::var_os("DPKG_ROOT").as_deref(),
        // ischroot(1): exit 0 in a chroot; 1 not; 2 cannot tell (taken as
        // not). Only the real root can be the running system's.
        || {
            host.is_real_root()
                && std::process::Command::new("ischroot")
                    .stdin(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .is_ok_and(|s| s.code() == Some(0))
        },
    );
    match verdict {
        Ok(()) => LiveTarget::Host,
        Err(why) => LiveTarget::ImageBuild(why.into()),
    }
}

/// The image-build rule, once: whether the running kernel is the one being
/// configured, given the opt-in variable, `DPKG_ROOT` and whether this is a
/// chroot (asked last, only when the rest does not decide); `Err` says why
/// not. `debian/live-kernel.sh` is its image in sh for preinst and postrm,
/// which run without the helper (tests/maint.rs runs both on one table).
pub fn live_kernel_is_ours(
    apply_in_chroot: Option<&str>,
    dpkg_root: Option<&std::ffi::OsStr>,
    in_chroot: impl FnOnce() -> bool,
) -> Result<(), &'static str> {
    if apply_in_chroot == Some("1") {
        return Ok(());
    }
    if dpkg_root.is_some_and(|r| !r.is_empty() && r != "/") {
        return Err("DPKG_ROOT is set");
    }
    if in_chroot() {
        return Err("ischroot says this is a chroot");
    }
    Ok(())
}

/// Whether at least one key of `text` that exists can be written; true
/// when none exists (missing keys are reported by the apply itself).
fn any_key_writable(host: &Host, text: &str) -> bool {
    let mut existing = settings_of(text)
        .into_iter()
        .filter_map(|(key, _)| key_path(host, &key))
        .filter(|path| path.exists())
        .peekable();
    if existing.peek().is_none() {
        return true;
    }
    existing.any(|path| rustix::fs::access(&path, rustix::fs::Access::WRITE_OK).is_ok())
}

/// The proc file of `key`, or None when the key leaves the proc root.
fn key_path(host: &Host, key: &str) -> Option<PathBuf> {
    let rel = key_to_relative_path(key);
    crate::host::sysctl::apply::stays_below_root(&rel).then(|| host.proc_root.join(&rel))
}

/// Keys of our file, not in the snapshot, whose live value already is the
/// one the file sets: with the snapshot lost after an install they are ours,
/// not the values from before.
fn keys_already_ours(host: &Host, text: &str, snapshot: &Snapshot) -> Vec<String> {
    settings_of(text)
        .into_iter()
        .filter(|(key, value)| {
            !snapshot.contains(key)
                && read_value(&host.proc_root, key).is_ok_and(|live| same_value(&live, value))
        })
        .map(|(key, _)| key)
        .collect()
}

/// "reboot, or run `pve-tcp-hardening finish` ...": after the apply and
/// chrony's restart, so it names only what still holds IPv6. Advisory: a
/// failure to tell leaves the choice out.
fn finish_choice(host: &Host, profile: &Profile, reboot_due: bool) -> Option<String> {
    if !(profile.disable_ipv6 && reboot_due) {
        return None;
    }
    let proc = host.proc_root.parent()?;
    crate::host::finish::alternative_to_reboot(&host.root, proc)
        .ok()
        .flatten()
}

/// Which package configured last, in the state directory (purge removes it).
const CONFIGURED_BY: &str = crate::contract::CONFIGURED_BY_FILE;

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
    let differences = describe_differences(&theirs, profile);
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
    // A file we cannot edit must not be renamed away first.
    diversion.check_transform()?;
    // The admin's `.orig` (the guide's `cp` backup) is kept aside first:
    // the diversion needs its path.
    let adopted = diversion.diverted_by()?.is_none() && adopt(&host.root, CHRONY_ORIG)?;
    diversion.divert()?;
    kill_point::reached("chrony-diverted");
    if adopted {
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

const CHRONY_ORIG: &str = crate::contract::CHRONY_DIVERTED;

/// Keep postfix able to start with IPv6 off (the rule and the record:
/// src/host/postfix.rs); on a profile that keeps IPv6, give back what an
/// IPv6-off variant changed. Silent where postfix is not installed.
fn sync_postfix(host: &Host, profile: &Profile) -> Result<()> {
    if !profile.disable_ipv6 {
        // Advisory, as chrony's restart: the profile switch goes on.
        match postfix::give_back(&host.root) {
            Ok(outcome) => {
                if let Some(note) = outcome.note() {
                    tell_admin(&format!(
                        "postfix: {note}; postfix uses it from its next restart"
                    ));
                }
            }
            Err(e) => tell_admin(&format!(
                "warning: postfix: could not give {} back: {e:#}; what the install changed is \
                 kept under /{STATE_DIR}/postfix/",
                postfix::MAIN_CF
            )),
        }
        return Ok(());
    }
    let pf = Postfix::new(&host.root);
    match pf.assess()? {
        None | Some(Decision::Ipv4Only(_)) => {}
        Some(Decision::AdminChoice(value)) => tell_admin(&format!(
            "warning: postfix: {} sets inet_protocols = {value}, taken as your choice and left \
             alone; with IPv6 off postfix fails to start if inet_interfaces names an IPv6 \
             address (localhost is ::1 too): set inet_protocols = ipv4 then",
            postfix::MAIN_CF
        )),
        Some(Decision::SetIpv4 { was }) => {
            pf.set_ipv4_only()?;
            tell_admin(&postfix::change_note(&was));
            restart_postfix(host);
        }
    }
    Ok(())
}

fn restart_postfix(host: &Host) {
    let mut how = PostfixRestart::TryRestart;
    let outcome = match live_target(host) {
        LiveTarget::ImageBuild(why) => RestartOutcome::SkippedImageBuild(why),
        _ => {
            how = postfix_restart(postfix_unit_failed());
            match how {
                PostfixRestart::Restart => restart(&host.root, "postfix"),
                PostfixRestart::TryRestart => try_restart(&host.root, "postfix"),
            }
            .unwrap_or_else(|e| RestartOutcome::Failed(format!("{e:#}")))
        }
    };
    let note = match outcome {
        RestartOutcome::Restarted if how == PostfixRestart::Restart => {
            "postfix had failed; started again: IPv4 only".into()
        }
        RestartOutcome::Restarted => "postfix restarted (if it was running): IPv4 only".into(),
        RestartOutcome::SkippedNotHostRoot => "not restarting postfix: not the host root".into(),
        RestartOutcome::SkippedImageBuild(why) => format!("not restarting postfix ({why})"),
        RestartOutcome::DeniedByPolicy => {
            "policy-rc.d denied restarting postfix; restart it to apply inet_protocols".into()
        }
        RestartOutcome::NotInstalled => return,
        RestartOutcome::TimedOut => {
            "restarting postfix takes too long; check `systemctl status 'postfix*'`".into()
        }
        RestartOutcome::Failed(msg) => format!("warning: restarting postfix failed: {msg}"),
    };
    tell_admin(&note);
}

/// How postfix is restarted once its main.cf is IPv4-only.
#[derive(Debug, PartialEq, Eq)]
enum PostfixRestart {
    /// `invoke-rc.d postfix try-restart`: a stopped postfix stays stopped.
    TryRestart,
    /// `invoke-rc.d postfix restart`: postfix's unit failed (with IPv6 off,
    /// `inet_interfaces = localhost` fails for want of ::1, and the change
    /// just made is its fix). try-restart leaves a failed unit alone, and
    /// on Debian 13 postfix.service is postfix itself; Debian 12's
    /// postfix.service is a wrapper that stays active and brings up its
    /// failed postfix@-.service either way.
    Restart,
}

fn postfix_restart(unit_failed: bool) -> PostfixRestart {
    if unit_failed {
        PostfixRestart::Restart
    } else {
        PostfixRestart::TryRestart
    }
}

/// `systemctl is-failed` of postfix's default instance (Debian 13:
/// postfix.service; Debian 12: postfix@-.service); false when systemctl
/// cannot tell.
fn postfix_unit_failed() -> bool {
    std::process::Command::new("systemctl")
        .args([
            "is-failed",
            "--quiet",
            "postfix.service",
            "postfix@-.service",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

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
    if outcome == UndivertOutcome::ChronyPurged {
        return Ok(false);
    }
    tell_admin("/etc/default/chrony is chrony's own again (diversion removed)");
    Ok(true)
}

fn restart_chrony(host: &Host) -> RestartOutcome {
    let outcome = match live_target(host) {
        LiveTarget::ImageBuild(why) => RestartOutcome::SkippedImageBuild(why),
        _ => {
            restart_chronyd(&host.root).unwrap_or_else(|e| RestartOutcome::Failed(format!("{e:#}")))
        }
    };
    if outcome != RestartOutcome::Restarted {
        tell_admin(&outcome.note());
    }
    outcome
}

/// Tell the admin which later-sorting sysctl.d file will win at boot.
/// Advisory: a file it cannot read is a warning, never a failed install.
fn warn_about_later_files(host: &Host, profile: &Profile) {
    let wanted: Vec<(String, String)> = profile
        .settings
        .iter()
        .map(|s| (s.key.clone(), s.value.clone()))
        .collect();
    let overrides = later_overrides(&host.root, SYSCTL_FILE_NAME, &wanted);
    for unread in &overrides.unread {
        tell_admin(&format!("warning: {}", unread.note()));
    }
    for o in overrides.found {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_postfix_is_restarted_a_stopped_one_stays_stopped() {
        assert_eq!(postfix_restart(true), PostfixRestart::Restart);
        assert_eq!(postfix_restart(false), PostfixRestart::TryRestart);
    }
}
