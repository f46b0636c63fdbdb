//! Machine formats of a [`StatusReport`] for monitoring systems: Nagios and
//! Icinga plugins ([`nagios`]), node_exporter's textfile collector
//! ([`prometheus`]), Checkmk local checks ([`checkmk`]) and the boot-time
//! journal check ([`journal`]). Each is a pure function of the report (and,
//! for the metrics, the time of the check); the CLI does the I/O.
//!
//! What is WARNING and what is CRITICAL is decided once, here
//! ([`assess`]), so every format says the same thing:
//! - CRITICAL: a key shadowed at boot (the configuration itself is wrong and
//!   no reboot fixes it); a socket bound to an IPv6 address while the
//!   profile turns IPv6 off and no reboot is pending.
//! - WARNING: a key drifted (the configuration is right; the next boot or
//!   `pve-tcp-hardening apply` restores it); a pending reboot; chronyd not
//!   IPv4-only; an address-bound IPv6 socket while the reboot that removes
//!   it is still pending; an admin's value of a profile key left in a file
//!   nothing applies at boot any more (Debian 13's /etc/sysctl.conf or its
//!   .dpkg-bak: the profile is in force, the admin's choice is lost).
//! - OK: everything else. `local` keys (the admin's edit of our conffile),
//!   `missing` keys (the kernel lacks them) and `[::]` wildcard listeners
//!   are information.
//! - UNKNOWN: the report could not be made (no profile installed, unreadable
//!   files).
//! - With `--compliance NAME`, each control of that benchmark that fails is
//!   a WARNING finding too (as in the text format, where it makes the exit
//!   status 1), from the same control results the text and JSON formats
//!   show; the counts of pass, fail, waived and n/a go to perfdata and
//!   metrics.

pub mod checkmk;
pub mod journal;
pub mod nagios;
pub mod prometheus;

use super::compliance::{ComplianceReport, ControlOutcome};
use super::model::{KeyReport, KeyState, StatusReport};
use super::problems::{problems, Problem};

/// Service state as the Nagios plugin API numbers it (Checkmk too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Ok => "OK",
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
            Severity::Unknown => "UNKNOWN",
        }
    }
}

/// One finding with its severity, in words for a one-line summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub text: String,
}

/// The state of the whole report and its findings, most severe first.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub severity: Severity,
    pub findings: Vec<Finding>,
}

/// Counts every format reports as performance data or metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub keys: usize,
    pub in_force: usize,
    pub drift: usize,
    pub shadowed: usize,
    pub local: usize,
    pub missing: usize,
    pub ipv6_address_listeners: usize,
    pub ipv6_wildcard_listeners: usize,
    pub reboot_pending: bool,
}

impl Counts {
    pub fn of(report: &StatusReport) -> Counts {
        let state = |s: KeyState| report.keys.iter().filter(|k| k.state == s).count();
        let address = report
            .ipv6_listeners
            .iter()
            .filter(|l| l.holds_ipv6_address())
            .count();
        Counts {
            keys: report.keys.len(),
            in_force: state(KeyState::Ok),
            drift: state(KeyState::Drift),
            shadowed: state(KeyState::Shadowed),
            local: state(KeyState::Local),
            missing: state(KeyState::Missing),
            ipv6_address_listeners: address,
            ipv6_wildcard_listeners: report.ipv6_listeners.len() - address,
            reboot_pending: report.reboot_pending,
        }
    }

    pub fn of_state(&self, state: KeyState) -> usize {
        match state {
            KeyState::Ok => self.in_force,
            KeyState::Drift => self.drift,
            KeyState::Shadowed => self.shadowed,
            KeyState::Local => self.local,
            KeyState::Missing => self.missing,
        }
    }
}

/// Decide the service state (see the module documentation), from the
/// report's one list of problems and, when checked, the benchmark's
/// failing controls.
pub fn assess(report: &StatusReport, compliance: Option<&ComplianceReport>) -> Assessment {
    let problems = problems(
        &report.keys,
        &report.abandoned,
        &report.chrony,
        report.reboot_pending,
        &report.ipv6_listeners,
        &report.failed_units,
        &report.unfinished,
    );
    let mut ranked: Vec<(Severity, u8, Finding)> = problems
        .iter()
        .map(|p| {
            let (severity, rank, text) = match p {
                Problem::Shadowed(k) => (Severity::Critical, 0, shadowed_text(k)),
                Problem::Drift(k) => (
                    Severity::Warning,
                    0,
                    format!(
                        "{} drifted (live {}, wanted {})",
                        k.key,
                        k.live.as_deref().unwrap_or("?"),
                        k.desired
                    ),
                ),
                // The reboot that removes the socket is already asked for.
                Problem::Ipv6Listener(l) => (
                    if report.reboot_pending {
                        Severity::Warning
                    } else {
                        Severity::Critical
                    },
                    1,
                    format!("IPv6 listener {}", l.describe_short()),
                ),
                // The profile is in force; the admin's own value is what is lost.
                Problem::Abandoned(a) => (
                    Severity::Warning,
                    0,
                    format!(
                        "{} = {} in {}:{} not applied at boot ({} in force)",
                        a.key,
                        a.value,
                        a.file.display(),
                        a.lineno,
                        a.boot.as_deref().unwrap_or("kernel default")
                    ),
                ),
                Problem::ChronyNotIpv4Only => {
                    (Severity::Warning, 2, "chronyd not IPv4-only (no -4)".into())
                }
                Problem::RebootPending => (Severity::Warning, 3, "reboot pending".into()),
                Problem::Unfinished(u) => (
                    Severity::Warning,
                    0,
                    format!("{} interrupted ({}): {}", u.package, u.state, u.fix),
                ),
                // A service of the node is down: mail, a resolver, sshd.
                Problem::UnitFailed(f) => (
                    Severity::Critical,
                    1,
                    format!("{} failed: no IPv6 address", f.unit),
                ),
            };
            (severity, rank, Finding { severity, text })
        })
        .collect();
    for c in compliance.iter().flat_map(|c| {
        c.controls
            .iter()
            .filter(|control| control.result == ControlOutcome::Fail)
            .map(move |control| (c, control))
    }) {
        let (report, control) = c;
        let text = format!(
            "{} {} fails: {} = {} (expected {})",
            report.map,
            control.id,
            control.key,
            control
                .live
                .as_deref()
                .or(control.boot.as_deref())
                .unwrap_or("unset"),
            control.expected.join(" or ")
        );
        ranked.push((
            Severity::Warning,
            1,
            Finding {
                severity: Severity::Warning,
                text,
            },
        ));
    }
    // Most severe first; then keys, sockets and benchmark controls,
    // chrony, the reboot.
    ranked.sort_by_key(|(severity, rank, _)| (std::cmp::Reverse(*severity), *rank));
    let findings: Vec<Finding> = ranked.into_iter().map(|(_, _, f)| f).collect();
    Assessment {
        severity: findings.first().map(|f| f.severity).unwrap_or(Severity::Ok),
        findings,
    }
}

fn shadowed_text(k: &KeyReport) -> String {
    match &k.winner {
        Some(w) => format!(
            "{} shadowed by {}:{} ({}, wanted {})",
            k.key,
            w.file.display(),
            w.line,
            w.value,
            k.desired
        ),
        None => format!("{} set by no sysctl.d file (wanted {})", k.key, k.desired),
    }
}

/// What Nagios and Checkmk show of a report: a headline for the first
/// line (the status text of service lists and notifications), and the long
/// output on the lines after it: one line per finding, most severe first,
/// then the information (`local` and `missing` keys, `[::]` listeners).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lines {
    pub headline: String,
    pub details: Vec<String>,
}

/// The [`Lines`] of a report and its assessment (and the benchmark's
/// counts, when checked).
pub fn lines(
    report: &StatusReport,
    assessment: &Assessment,
    compliance: Option<&ComplianceReport>,
) -> Lines {
    let counts = Counts::of(report);
    let headline = match assessment.findings.as_slice() {
        [] => {
            let mut text = format!(
                "{} of {} keys in force (profile {})",
                counts.in_force, counts.keys, report.profile
            );
            for (n, what) in [(counts.local, "local"), (counts.missing, "missing")] {
                if n > 0 {
                    text.push_str(&format!(", {n} {what}"));
                }
            }
            text
        }
        [only] => format!("profile {}: {}", report.profile, only.text),
        [first, rest @ ..] => format!(
            "profile {}: {} and {} more",
            report.profile,
            first.text,
            rest.len()
        ),
    };
    let mut details: Vec<String> = assessment
        .findings
        .iter()
        .map(|f| format!("{}: {}", f.severity.label(), f.text))
        .collect();
    for k in &report.keys {
        match k.state {
            KeyState::Local => details.push(format!(
                "local: {} is the admin's value {} (the profile's is {})",
                k.key,
                k.boot.as_deref().unwrap_or("?"),
                k.desired
            )),
            KeyState::Missing => details.push(format!("missing: {} is not in this kernel", k.key)),
            KeyState::Ok | KeyState::Drift | KeyState::Shadowed => {}
        }
    }
    details.extend(
        report
            .ipv6_listeners
            .iter()
            .filter(|l| !l.holds_ipv6_address())
            .map(|l| {
                format!(
                    "info: wildcard listener {} (no IPv6 address to be reached on)",
                    l.describe_short()
                )
            }),
    );
    if let Some(c) = compliance {
        details.push(format!(
            "compliance {}: {} pass, {} fail, {} waived, {} n/a",
            c.map, c.pass, c.fail, c.waived, c.not_applicable
        ));
    }
    Lines { headline, details }
}

/// Perfdata of a benchmark's counts; `fail_thresholds` is the
/// `WARN;CRIT` part of `compliance_fail` (Nagios warns above 0, Checkmk
/// from 1).
pub fn compliance_perfdata(c: &ComplianceReport, fail_thresholds: &str) -> Vec<String> {
    let n = c.controls.len();
    vec![
        format!("compliance_pass={};;;0;{n}", c.pass),
        format!("compliance_fail={};{fail_thresholds};0;{n}", c.fail),
        format!("compliance_waived={};;;0;{n}", c.waived),
        format!("compliance_na={};;;0;{n}", c.not_applicable),
    ]
}

/// One line of an error for a one-line format.
pub fn one_line(err: &anyhow::Error) -> String {
    format!("{err:#}").replace('\n', " ")
}
