//! `pve-tcp-hardening plan`: what installing, or switching to, a profile
//! will do on this host, before it does it. Per key: the live value now,
//! right after the install (it applies exactly the package's file) and after
//! the next boot (the boot-time merge of sysctl.d with the package's file
//! placed where it will be, [`read_tree_placing`]); the lockout guard's
//! findings ([`lockout`]); the IPv6 sockets that go away; chrony; postfix's
//! `inet_protocols`; what of
//! the admin's is adopted ([`adopt`]). It only reads.
//!
//! It runs from the installed helper and from a .deb not yet installed
//! (`--deb`, or the helper and profile of a `dpkg-deb -x` tree).

pub mod lockout;
mod model;
mod render;

pub use model::*;
pub use render::render_text;

use crate::cli::PlanArgs;
use crate::contract::{Profile, BASE_PACKAGE, PROFILE_JSON, SYSCTL_FILE, SYSCTL_FILE_NAME};
use crate::files::{read_to_string_if_exists, under_root};
use crate::host::adopt;
use crate::host::chrony::ChronyDiversion;
use crate::host::postfix::{self, Decision, Postfix};
use crate::host::release::{dpkg_status, Detected};
use crate::host::sockets::{ipv6_listeners, Listener};
use crate::host::sysctl::abandoned::abandoned_settings;
use crate::host::sysctl::apply::read_value;
use crate::host::sysctl::merge::{read_tree_placing, MergeMode, PlacedFile, SetterReport};
use crate::tool::run_checked;
use anyhow::{Context, Result};
use lockout::{check_ipv6_in_use, override_preseeded, CheckScript};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// Where to look, and what would be installed.
#[derive(Debug, Clone)]
pub struct PlanInputs {
    pub root: PathBuf,
    /// `/proc` of the running system; None when planning for an image.
    pub proc: Option<PathBuf>,
    /// The package's profile.json.
    pub profile: PathBuf,
    /// The package's sysctl file; None: the profile's settings, one a line.
    pub sysctl_file: Option<PathBuf>,
    pub script: CheckScript,
}

/// Entry point of `pve-tcp-hardening plan`: exit 0 when nothing stands in
/// the way, 1 when the lockout guard would stop the install, 2 on error.
pub fn run_cli(args: &PlanArgs) -> Result<ExitCode> {
    use std::io::IsTerminal;
    let proc = match &args.proc {
        Some(p) => Some(p.clone()),
        None if args.root == Path::new("/") => Some(PathBuf::from("/proc")),
        None => None,
    };
    // Kept until the report is made: an extracted .deb lives here.
    let extracted;
    let package_root = match &args.deb {
        Some(deb) => {
            extracted = extract_deb(deb)?;
            Some(extracted.path().to_path_buf())
        }
        None => None,
    };
    let profile = match (&package_root, &args.profile) {
        (Some(dir), _) => under_root(dir, PROFILE_JSON),
        (None, Some(p)) => p.clone(),
        (None, None) => under_root(&args.root, PROFILE_JSON),
    };
    let report = collect(&PlanInputs {
        sysctl_file: shipped_sysctl_file(&profile, &args.root),
        script: CheckScript::beside(&profile),
        root: args.root.clone(),
        proc,
        profile,
    })?;
    if args.json {
        let mut text = serde_json::to_string_pretty(&report).context("cannot write JSON")?;
        text.push('\n');
        crate::output::emit(&text)?;
    } else {
        crate::output::emit(&render_text(&report, std::io::stdout().is_terminal()))?;
    }
    Ok(ExitCode::from(if report.proceeds { 0 } else { 1 }))
}

/// `dpkg-deb -x` into a temporary directory.
fn extract_deb(deb: &Path) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let mut cmd = Command::new("dpkg-deb");
    cmd.arg("-x").arg(deb).arg(dir.path());
    run_checked(&mut cmd, &format!("dpkg-deb -x {}", deb.display()))?;
    Ok(dir)
}

/// The sysctl file of the package whose profile.json is `profile`: in an
/// extracted package tree it sits at `etc/sysctl.d/` of that tree. The
/// installed profile's tree is the host itself, whose file may be the
/// admin's: then the profile's settings stand for the package's file.
fn shipped_sysctl_file(profile: &Path, root: &Path) -> Option<PathBuf> {
    let tree = profile
        .to_str()?
        .strip_suffix(PROFILE_JSON.trim_start_matches('/'))?;
    let tree = Path::new(tree);
    if tree == root || tree.as_os_str().is_empty() {
        return None;
    }
    let file = under_root(tree, SYSCTL_FILE);
    file.is_file().then_some(file)
}

pub fn collect(inputs: &PlanInputs) -> Result<PlanReport> {
    let profile = Profile::load(&inputs.profile)
        .with_context(|| format!("no usable profile at {}", inputs.profile.display()))?;
    let text = match &inputs.sysctl_file {
        Some(path) => read_to_string_if_exists(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .with_context(|| format!("{} is missing", path.display()))?,
        None => profile
            .settings
            .iter()
            .map(|s| format!("{} = {}\n", s.key, s.value))
            .collect(),
    };
    let placed = PlacedFile {
        name: SYSCTL_FILE_NAME.to_string(),
        text,
    };
    let boot = read_tree_placing(&inputs.root, MergeMode::SystemdSysctl, Some(&placed));
    let release = Detected::of_root(&inputs.root, &dpkg_status(&inputs.root));
    let key_names: Vec<&str> = profile.settings.iter().map(|s| s.key.as_str()).collect();
    let abandoned = abandoned_settings(&inputs.root, &release.release, &boot, &key_names);
    let proc_sys = inputs.proc.as_ref().map(|p| p.join("sys"));
    let keys: Vec<KeyPlan> = profile
        .settings
        .iter()
        .map(|s| {
            let live = proc_sys.as_ref().map(|p| read_value(p, &s.key));
            let lacks = matches!(&live, Some(Err(e)) if e.kind() == std::io::ErrorKind::NotFound);
            // The write the kernel keeps at boot (a refused value is none).
            let held = boot.lookup(&s.key).and_then(|m| m.held);
            KeyPlan {
                key: s.key.clone(),
                wanted: s.value.clone(),
                live_now: live.and_then(Result::ok),
                after_install: (!lacks).then(|| s.value.clone()),
                after_boot: held.as_ref().map(|h| h.value.clone()),
                boot_winner: held.map(SetterReport::from),
            }
        })
        .collect();
    let reboot_after_install =
        profile.settings.iter().zip(&keys).any(|(s, k)| {
            s.reboot
                && k.live_now
                    .as_deref()
                    .is_some_and(|l| !crate::host::sysctl::value::same_value(l, &s.value))
        }) || crate::host::reboot_request::pending_for_any_variant(&inputs.root)?;
    let lockout = lockout_plan(inputs, &profile)?;
    let chrony = chrony_plan(&inputs.root, &profile)?;
    let postfix = postfix_plan(&inputs.root, &profile)?;
    let chrony_restarts_ipv4_only = chrony.action == "divert" || chrony.action == "keep";
    // /proc is walked once: the sockets going away and `finish`'s offer
    // both come from these listeners.
    let bound: Vec<Listener> = match (&inputs.proc, profile.disable_ipv6) {
        (Some(proc), true) => ipv6_listeners(proc)
            .into_iter()
            .filter(|l: &Listener| l.holds_ipv6_address())
            .collect(),
        _ => Vec::new(),
    };
    let owners = match &inputs.proc {
        Some(proc) if !bound.is_empty() => crate::host::finish::owners(&inputs.root, proc, &bound)?,
        _ => Vec::new(),
    };
    let ipv6_sockets_going_away: Vec<GoingAway> = bound
        .iter()
        .cloned()
        .zip(owners)
        .map(|(l, owner)| {
            let chronyd = l.process.as_deref() == Some("chronyd");
            let when = if chrony_restarts_ipv4_only && chronyd {
                "install"
            } else {
                "reboot"
            };
            let fix = fix_for(&owner, chronyd && chrony_restarts_ipv4_only, &postfix);
            GoingAway {
                when: when.into(),
                unit: owner.unit,
                fix,
                listener: l,
            }
        })
        .collect();
    let finish_choice = match &inputs.proc {
        Some(proc) if ipv6_sockets_going_away.iter().any(|g| g.when == "reboot") => {
            crate::host::finish::alternative_to_reboot_among(&inputs.root, proc, &bound)?
        }
        _ => None,
    };
    Ok(PlanReport {
        schema: PLAN_SCHEMA_VERSION,
        package: profile.package.clone(),
        profile: profile.name.clone(),
        disables_ipv6: profile.disable_ipv6,
        proceeds: !lockout.would_stop,
        keys,
        reboot_after_install,
        lockout,
        ipv6_sockets_going_away,
        finish_choice,
        chrony,
        postfix,
        adopted: adopt::adoption(&inputs.root, &profile)?,
        release,
        abandoned,
    })
}

fn lockout_plan(inputs: &PlanInputs, profile: &Profile) -> Result<LockoutPlan> {
    let findings = check_ipv6_in_use(&inputs.script, &inputs.root, inputs.proc.as_deref())?;
    let override_set = override_preseeded(&inputs.root)?;
    Ok(LockoutPlan {
        checked: profile.disable_ipv6,
        would_stop: profile.disable_ipv6 && !override_set && !findings.stops.is_empty(),
        stops: findings.stops,
        warnings: findings.warnings,
        override_set,
        script: inputs.script.describe(),
    })
}

/// What keeps a daemon that loses its IPv6 address working, for `plan`:
/// the package's own fix (chronyd's -4, postfix's inet_protocols), then
/// how its socket goes (a restart by `finish`, or only the reboot).
fn fix_for(
    owner: &crate::host::finish::Owner,
    chrony_fixed: bool,
    postfix: &model::PostfixPlan,
) -> String {
    let unit = owner.unit.as_deref().unwrap_or("");
    let postfix_unit = unit == "postfix.service" || unit.starts_with("postfix@");
    let package = if chrony_fixed {
        "the package makes chronyd IPv4-only (-4) and restarts it at install; "
    } else if postfix_unit && postfix.action == "set-ipv4" {
        "the package sets postfix's inet_protocols = ipv4 (it would not start with ::1 gone); "
    } else if postfix_unit && postfix.action == "admin-choice" {
        "postfix keeps your explicit inet_protocols with IPv6: make it ipv4 or it may not start; "
    } else {
        ""
    };
    let how = match (&owner.keep, chrony_fixed) {
        (_, true) => "nothing left for you to do".to_string(),
        (None, false) => format!(
            "`pve-tcp-hardening finish` restarts {unit} (or reboot); make sure its configuration does not name ::1 or localhost"
        ),
        (Some(why), false) => format!("only the reboot closes it ({why})"),
    };
    format!("{package}{how}")
}

fn postfix_plan(root: &Path, profile: &Profile) -> Result<PostfixPlan> {
    let pf = Postfix::new(root);
    if !pf.is_installed() {
        return Ok(PostfixPlan {
            installed: false,
            inet_protocols: None,
            action: "none".into(),
            note: "postfix is not installed: nothing to do (installed later, this package's \
                   trigger sets inet_protocols = ipv4 if IPv6 goes off)"
                .into(),
        });
    }
    let (effective, explicit) = pf.inet_protocols()?;
    let recorded = root
        .join(crate::contract::STATE_DIR)
        .join(crate::contract::POSTFIX_RECORD_DIR)
        .join(crate::contract::POSTFIX_BEFORE_FILE)
        .is_file();
    let (action, note) = if !profile.disable_ipv6 {
        if recorded {
            (
                "give-back",
                format!("{} is given back as it was before inet_protocols was set to ipv4 (or only that key, if it was edited since)", postfix::MAIN_CF),
            )
        } else {
            ("none", "untouched: this profile keeps IPv6 on".to_string())
        }
    } else {
        match postfix::decide(&effective, explicit.as_deref()) {
            Decision::Ipv4Only(v) => ("none", format!("inet_protocols = {v}: IPv4 only already; untouched")),
            Decision::SetIpv4 { was } => (
                "set-ipv4",
                format!("{}; postfix restarts (if running)", postfix::change_note(&was)
                    .trim_start_matches("postfix: ")),
            ),
            Decision::AdminChoice(v) => (
                "admin-choice",
                format!("inet_protocols = {v} is set in {}: taken as the admin's choice and left alone; with IPv6 off postfix fails to start if inet_interfaces names an IPv6 address (localhost is ::1 too)", postfix::MAIN_CF),
            ),
        }
    };
    Ok(PostfixPlan {
        installed: true,
        inet_protocols: Some(effective),
        action: action.into(),
        note,
    })
}

fn chrony_plan(root: &Path, profile: &Profile) -> Result<ChronyPlan> {
    let installed = under_root(root, "/etc/default/chrony").is_file()
        || under_root(root, "/etc/default/chrony.orig").is_file();
    let diverted_by = ChronyDiversion::new(root, &profile.package, BASE_PACKAGE).diverted_by()?;
    let ours = diverted_by
        .as_deref()
        .is_some_and(|by| by.starts_with(BASE_PACKAGE));
    let hand_made_ipv4_only = !ours && adopt::chrony_has_ipv4_only(root)?;
    let (action, note) = match (profile.disable_ipv6, installed, ours) {
        (true, false, _) => (
            "none",
            "chrony is not installed: nothing to do (installed later, it gets -4 through this package's trigger)".to_string(),
        ),
        (true, true, true) => (
            "keep",
            format!(
                "already IPv4-only through the diversion by {}; kept",
                diverted_by.as_deref().unwrap_or_default()
            ),
        ),
        (true, true, false) if hand_made_ipv4_only => (
            "divert",
            "/etc/default/chrony is diverted to /etc/default/chrony.orig; its -4 (added by hand) is kept once; chronyd restarts".to_string(),
        ),
        (true, true, false) => (
            "divert",
            "/etc/default/chrony is diverted to /etc/default/chrony.orig, -4 is added to DAEMON_OPTS and chronyd restarts: it stops listening on IPv6 ([::1]:323) at once".to_string(),
        ),
        (false, _, true) => (
            "undivert",
            format!(
                "the diversion by {} is removed: chrony gets its own file back and restarts, listening on IPv6 again",
                diverted_by.as_deref().unwrap_or_default()
            ),
        ),
        (false, _, false) => ("none", "untouched: this profile keeps IPv6 on".to_string()),
    };
    Ok(ChronyPlan {
        installed,
        diverted_by,
        action: action.to_string(),
        note,
    })
}
