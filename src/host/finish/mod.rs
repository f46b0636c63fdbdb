//! `pve-tcp-hardening finish`: complete an IPv6-off profile without a
//! reboot. Turning IPv6 off removes the addresses, but a socket bound to one
//! before (`[::1]:25` of a mail daemon, say) stays open until its process
//! restarts; the reboot the package asks for is what closes them. `finish`
//! lists those sockets with the systemd unit of each owner ([`placement`]),
//! restarts the units it may ([`policy`]: never the cluster stack, Ceph or
//! guests, nor what the admin lists; never one whose own configuration test
//! fails, [`precheck`]) one at a time, looks again, and when
//! nothing is left takes back the package's reboot request
//! ([`reboot_request`]). Wildcard `[::]` listeners are not its business:
//! they hold no IPv6 address (see `sockets::Listener::holds_ipv6_address`).

mod placement;
mod policy;
mod precheck;
mod systemctl;

pub use policy::CONFIG_FILE;

use crate::cli::FinishArgs;
use crate::contract::{Profile, PROFILE_JSON};
use crate::files::under_root;
use crate::host::reboot_request::{self, Withdrawn};
use crate::host::sockets::{ipv6_listeners, Listener};
use crate::host::sysctl::apply::read_value;
use crate::host::sysctl::value::same_value;
use crate::output::{emit, render_table};
use anyhow::{bail, Context, Result};
use placement::{placement_of_pid, Placement};
use policy::{reason_to_keep, AdminList};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A socket bound to an IPv6 address, who owns it, and whether `finish`
/// restarts that owner.
#[derive(Debug, Clone)]
struct Holder {
    listener: Listener,
    placement: Placement,
    /// Why the owner is not restarted; `None`: its unit is restarted.
    keep: Option<String>,
}

impl Holder {
    /// The unit, the guest, or the bare process: what the admin acts on.
    fn owner(&self) -> String {
        if let Placement::Guest(guest) = &self.placement {
            return guest.clone();
        }
        if let Some(unit) = self.placement.unit() {
            return unit.to_string();
        }
        match (&self.listener.pid, &self.listener.process) {
            (Some(pid), Some(name)) => format!("{name} (pid {pid})"),
            _ => format!("the owner of {}", self.listener.local_address()),
        }
    }
}

/// Every socket bound to an IPv6 address under `proc`, with its owner's
/// placement and the verdict of the rules (built in, and the admin's list
/// under `root`), sorted by owner.
fn holders(root: &Path, proc: &Path) -> Result<Vec<Holder>> {
    let mut found = holders_among(root, proc, ipv6_listeners(proc))?;
    found.sort_by_cached_key(owner_order);
    Ok(found)
}

/// [`holders`] among `listeners`, the [`ipv6_listeners`] of `proc`, in
/// their order. A process holding many sockets has its placement read and
/// judged once (a busy node: 20,000 sockets of 2000 processes,
/// BENCHMARKS.md).
fn holders_among(
    root: &Path,
    proc: &Path,
    listeners: impl IntoIterator<Item = Listener>,
) -> Result<Vec<Holder>> {
    let admin = AdminList::load(root)?;
    let mut by_pid: HashMap<u32, (Placement, Option<String>)> = HashMap::new();
    let found = listeners
        .into_iter()
        .filter(|l: &Listener| l.holds_ipv6_address())
        .map(|listener| {
            let (placement, keep) = match listener.pid {
                Some(pid) => by_pid
                    .entry(pid)
                    .or_insert_with(|| {
                        let placement = placement_of_pid(proc, pid);
                        let keep = reason_to_keep(&placement, &admin);
                        (placement, keep)
                    })
                    .clone(),
                None => (
                    Placement::Unknown,
                    Some("no process found for it (the kernel, or another PID namespace)".into()),
                ),
            };
            Holder {
                listener,
                placement,
                keep,
            }
        })
        .collect();
    Ok(found)
}

/// How holders are listed: by owner, then protocol and port. The owner is
/// built text, so callers sort with a cached key (made once per holder, not
/// once per comparison).
fn owner_order(h: &Holder) -> (String, String, u16) {
    (h.owner(), h.listener.proto.clone(), h.listener.port)
}

/// The units to restart, each once, in order.
fn units_to_restart(holders: &[Holder]) -> Vec<String> {
    let mut units: Vec<String> = holders
        .iter()
        .filter(|h| h.keep.is_none())
        .filter_map(|h| h.placement.unit().map(str::to_string))
        .collect();
    units.sort();
    units.dedup();
    units
}

/// "corosync.service (why); VM 100 (why)": what a reboot is still needed
/// for. `not_restarted`: the units `finish` left running, and why (their
/// configuration check or their restart failed).
fn reboot_needed_for(kept: &[&Holder], not_restarted: &[(String, String)]) -> String {
    let mut owners: Vec<String> = kept
        .iter()
        .map(|h| {
            let why = match (&h.keep, h.placement.unit()) {
                (Some(why), _) => why.as_str(),
                (None, Some(unit)) => not_restarted
                    .iter()
                    .find(|(u, _)| u == unit)
                    .map_or("still bound after its restart", |(_, why)| why.as_str()),
                (None, None) => "still bound after its restart",
            };
            format!("{} ({why})", h.owner())
        })
        .collect();
    owners.dedup();
    owners.join("; ")
}

fn services(n: usize) -> &'static str {
    if n == 1 {
        "service"
    } else {
        "services"
    }
}

/// The choice to offer where a reboot is asked for (the reboot message,
/// `plan`, `status`), for a profile that turns IPv6 off: "reboot, or run
/// `pve-tcp-hardening finish` to restart these N services instead: ...",
/// naming what would still need the reboot. `None` when no service holds
/// an IPv6 address (nothing to offer). `root` holds the admin's list,
/// `proc` is the running system's /proc.
pub fn alternative_to_reboot(root: &Path, proc: &Path) -> Result<Option<String>> {
    alternative_to_reboot_among(root, proc, &ipv6_listeners(proc))
}

/// [`alternative_to_reboot`] for the [`ipv6_listeners`] of `proc` the
/// caller has already collected (`status`), without a second walk of /proc.
pub fn alternative_to_reboot_among(
    root: &Path,
    proc: &Path,
    listeners: &[Listener],
) -> Result<Option<String>> {
    let holding = listeners.iter().filter(|l| l.holds_ipv6_address()).cloned();
    let holders = holders_among(root, proc, holding)?;
    let units = units_to_restart(&holders);
    if units.is_empty() {
        return Ok(None);
    }
    let mut sentence = format!(
        "reboot, or run `pve-tcp-hardening finish` to restart these {} {} instead: {}",
        units.len(),
        services(units.len()),
        units.join(", ")
    );
    let mut kept: Vec<&Holder> = holders.iter().filter(|h| h.keep.is_some()).collect();
    if !kept.is_empty() {
        kept.sort_by_cached_key(|h| owner_order(h));
        sentence.push_str(&format!(
            " (a reboot is still needed for: {})",
            reboot_needed_for(&kept, &[])
        ));
    }
    Ok(Some(sentence))
}

/// Who owns an address-bound IPv6 socket, and whether `finish` would
/// restart it: for `plan`, before anything changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The systemd unit, when the owner runs in one.
    pub unit: Option<String>,
    /// Why `finish` leaves it to the reboot; `None`: `finish` restarts it.
    pub keep: Option<String>,
}

/// [`Owner`] of each of `listeners` (in their order), by the rules `finish`
/// applies (built in, and the admin's list under `root`).
pub fn owners(root: &Path, proc: &Path, listeners: &[Listener]) -> Result<Vec<Owner>> {
    Ok(holders_among(root, proc, listeners.iter().cloned())?
        .into_iter()
        .map(|h| Owner {
            unit: h.placement.unit().map(str::to_string),
            keep: h.keep,
        })
        .collect())
}

/// The holders as a table, with what `finish` does to each.
fn render_holders(holders: &[Holder]) -> String {
    let rows: Vec<[String; 6]> = holders
        .iter()
        .map(|h| {
            let l = &h.listener;
            [
                l.proto.clone(),
                h.listener.local_address(),
                l.pid.map_or("-".into(), |p| p.to_string()),
                l.process.clone().unwrap_or_else(|| "-".into()),
                match &h.placement {
                    Placement::Guest(guest) => guest.clone(),
                    p => p.unit().unwrap_or("-").to_string(),
                },
                match &h.keep {
                    None => "restart".into(),
                    Some(why) => format!("keep: {why}"),
                },
            ]
        })
        .collect();
    render_table(
        ["PROTO", "LOCAL ADDRESS", "PID", "PROCESS", "UNIT", "ACTION"],
        &rows,
    )
}

/// Keys the package changes that only a reboot completes (IPv6 off) and
/// whose live value is not the profile's yet: restarting daemons before
/// would only let them bind IPv6 again.
fn reboot_keys_not_live(profile: &Profile, proc_sys: &Path) -> Vec<String> {
    profile
        .settings
        .iter()
        .filter(|s| s.reboot)
        .filter_map(|s| match read_value(proc_sys, &s.key) {
            Ok(live) if same_value(&live, &s.value) => None,
            Ok(live) => Some(format!("{} is {live} (wanted {})", s.key, s.value)),
            // No such key: a kernel without IPv6 has no IPv6 socket either.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => Some(format!("{} cannot be read: {e}", s.key)),
        })
        .collect()
}

/// Entry point of `pve-tcp-hardening finish`: exit 0 when nothing holds an
/// IPv6 address any more (or the profile keeps IPv6 on), 1 when a reboot is
/// still needed or a restarted unit is not running (what for is printed),
/// 2 on error (from main). With
/// `--dry-run` it changes nothing and exits as `finish` would.
pub fn run_cli(args: &FinishArgs) -> Result<ExitCode> {
    let proc: PathBuf = match &args.proc {
        Some(p) => p.clone(),
        None if args.root == Path::new("/") => PathBuf::from("/proc"),
        None => bail!(
            "finish works on a running system: with --root {}, give its /proc with --proc",
            args.root.display()
        ),
    };
    let profile_path = under_root(&args.root, PROFILE_JSON);
    let profile = Profile::load(&profile_path).with_context(|| {
        format!(
            "is a pve-tcp-hardening package installed? (no usable {})",
            profile_path.display()
        )
    })?;
    if !profile.disable_ipv6 {
        emit(&format!(
            "profile {} keeps IPv6 on: no socket loses its address, nothing to finish\n",
            profile.name
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let not_live = reboot_keys_not_live(&profile, &proc.join("sys"));
    if !not_live.is_empty() {
        emit(&format!(
            "IPv6 is not off yet: {}\nrun `pve-tcp-hardening apply /etc/sysctl.d/80_tcp_hardening.conf` \
             first (or reboot); restarted services would bind IPv6 again\n",
            not_live.join("; ")
        ))?;
        return Ok(ExitCode::from(1));
    }

    let before = holders(&args.root, &proc)?;
    let units = units_to_restart(&before);
    if before.is_empty() {
        emit("no socket is bound to an IPv6 address\n")?;
    } else {
        emit(&format!(
            "bound to an IPv6 address (these stay until their process restarts):\n{}",
            render_holders(&before)
        ))?;
    }
    // Each daemon's own configuration test first: a restart stops it, and
    // one that cannot start again is worse than a socket on ::1.
    let mut not_restarted: Vec<(String, String)> = Vec::new();
    for unit in &units {
        match precheck::check(unit) {
            precheck::Verdict::Failed { command, said } => {
                emit(&format!(
                    "not restarting {unit}: `{command}` fails: {said}\n"
                ))?;
                not_restarted.push((
                    unit.clone(),
                    format!("`{command}` fails: fix its configuration first"),
                ));
            }
            precheck::Verdict::Passed(command) => emit(&format!("{unit}: `{command}` passes\n"))?,
            precheck::Verdict::Unchecked => {}
        }
    }
    let units: Vec<String> = units
        .into_iter()
        .filter(|u| !not_restarted.iter().any(|(n, _)| n == u))
        .collect();
    if args.dry_run {
        return dry_run(&before, &units, &not_restarted);
    }

    for unit in &units {
        match systemctl::try_restart(unit) {
            Ok(()) => emit(&format!("restarted {unit}\n"))?,
            Err(e) => {
                emit(&format!("could not restart {unit}: {e:#}\n"))?;
                not_restarted.push((unit.clone(), "its restart failed".into()));
            }
        }
    }

    let after = if units.is_empty() {
        before
    } else {
        let after = holders(&args.root, &proc)?;
        if !after.is_empty() {
            emit(&format!(
                "still bound to an IPv6 address:\n{}",
                render_holders(&after)
            ))?;
        }
        after
    };
    // A restart whose job succeeded can still leave the unit dead: a daemon
    // that forks and then cannot bind `localhost` once ::1 is gone (postfix
    // with inet_interfaces = localhost). Its sockets are gone too, so the
    // listeners alone would read "all done".
    let dead: Vec<(String, String)> = units
        .iter()
        .map(|unit| (unit.clone(), systemctl::active_state(unit)))
        .filter(|(_, state)| !matches!(state.as_str(), "active" | "activating" | "reloading"))
        .collect();
    if !dead.is_empty() || !after.is_empty() {
        if !after.is_empty() {
            let kept: Vec<&Holder> = after.iter().collect();
            emit(&format!(
                "reboot still needed for: {}\n",
                reboot_needed_for(&kept, &not_restarted)
            ))?;
        }
        for (unit, state) in &dead {
            emit(&format!(
                "{unit} is {state} after its restart{}\n",
                systemctl::last_log_line(unit)
                    .map(|line| format!(": {line}"))
                    .unwrap_or_default()
            ))?;
        }
        if !dead.is_empty() {
            let names: Vec<&str> = dead.iter().map(|(u, _)| u.as_str()).collect();
            emit(&format!(
                "not finished: {} not running; see `systemctl status {}`, fix the cause and start it again; \
                 the reboot request stays (a reboot alone may not bring it back)\n",
                names.join(", "),
                names.join(" "),
            ))?;
        }
        return Ok(ExitCode::from(1));
    }
    emit("nothing holds an IPv6 address any more: IPv6 is off as after a reboot\n")?;
    emit(&match reboot_request::withdraw(&args.root)? {
        Withdrawn::NotListed => "no reboot request of ours in /run/reboot-required.pkgs\n".into(),
        Withdrawn::FlagRemoved => format!(
            "{} no longer needs a reboot: /run/reboot-required removed (no other package asked for one)\n",
            profile.package
        ),
        Withdrawn::OthersRemain(others) => format!(
            "{} no longer needs a reboot; still asking for one in /run/reboot-required.pkgs: {}\n",
            profile.package,
            others.join(", ")
        ),
    })?;
    Ok(ExitCode::SUCCESS)
}

/// What `finish` would do, and its exit status. `refused`: the units whose
/// configuration check fails, which `finish` would leave running.
fn dry_run(before: &[Holder], units: &[String], refused: &[(String, String)]) -> Result<ExitCode> {
    if !units.is_empty() {
        emit(&format!(
            "dry run: would restart {} {}, one at a time: {}\n",
            units.len(),
            services(units.len()),
            units.join(", ")
        ))?;
    }
    let kept: Vec<&Holder> = before
        .iter()
        .filter(|h| {
            h.keep.is_some()
                || h.placement
                    .unit()
                    .is_some_and(|u| refused.iter().any(|(r, _)| r == u))
        })
        .collect();
    if kept.is_empty() {
        emit("dry run: then no reboot would be needed for IPv6\n")?;
        Ok(ExitCode::SUCCESS)
    } else {
        emit(&format!(
            "dry run: a reboot would still be needed for: {}\n",
            reboot_needed_for(&kept, refused)
        ))?;
        Ok(ExitCode::from(1))
    }
}
