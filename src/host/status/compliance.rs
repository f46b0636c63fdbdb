//! `status --compliance NAME`: the node's values against one benchmark's
//! network controls (the shipped compliance maps, built from
//! `profiles/compliance/`). Each control passes, fails, is waived (the value
//! differs the way a documented Proxmox VE waiver allows) or does not apply
//! (the kernel lacks the key, or an IPv6-only control on a node with IPv6
//! off). It only reads.

use crate::contract::{ComplianceMap, ComplianceMaps, Control};
use crate::host::sysctl::apply::read_value;
use crate::host::sysctl::merge::{read_tree, MergeMode, MergedTree, Setter};
use crate::host::sysctl::value::same_value;
use crate::output::render_table;
use anyhow::{bail, Result};
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ControlOutcome {
    #[serde(rename = "pass")]
    Pass,
    #[serde(rename = "fail")]
    Fail,
    #[serde(rename = "waived")]
    Waived,
    #[serde(rename = "n/a")]
    NotApplicable,
}

impl ControlOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ControlOutcome::Pass => "pass",
            ControlOutcome::Fail => "fail",
            ControlOutcome::Waived => "waived",
            ControlOutcome::NotApplicable => "n/a",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ControlResult {
    pub id: String,
    pub title: String,
    pub key: String,
    pub expected: Vec<String>,
    /// The live value; null when the kernel lacks the key or no live
    /// system is inspected.
    pub live: Option<String>,
    /// The boot-time value (systemd-sysctl merge); null when no file sets it.
    pub boot: Option<String>,
    /// `FILE:LINE` of the line the boot-time reader applies for the key.
    pub configured_at: Option<String>,
    /// The configured half of the verdict, for benchmarks whose check
    /// reads the configuration (null for the others).
    pub configured_result: Option<ControlOutcome>,
    /// The live half (null when auditing a tree).
    pub live_result: Option<ControlOutcome>,
    pub result: ControlOutcome,
    /// Why: the waiver's reason, why a stricter value passes, or why the
    /// control does not apply.
    pub note: Option<String>,
    pub waiver: Option<String>,
    pub reference: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComplianceReport {
    pub map: String,
    pub title: String,
    pub source: String,
    /// What the results were checked on: "configured and live" (the
    /// benchmark's check reads both: a sysctl.d/sysctl.conf line the
    /// boot-time reader applies, and the live value), "live" values, or
    /// "boot" values when auditing a tree without a running system.
    pub checked: &'static str,
    pub controls: Vec<ControlResult>,
    pub pass: usize,
    pub fail: usize,
    pub waived: usize,
    pub not_applicable: usize,
}

/// Check the node at `root` (live values from `proc`, when given) against
/// the map called `name`.
pub fn check(
    maps: &ComplianceMaps,
    name: &str,
    root: &Path,
    proc: Option<&Path>,
) -> Result<ComplianceReport> {
    let Some(map) = maps.maps.iter().find(|m| m.name == name) else {
        let names: Vec<&str> = maps.maps.iter().map(|m| m.name.as_str()).collect();
        bail!(
            "no compliance map `{name}`: the package ships {}",
            names.join(", ")
        );
    };
    let boot_tree = read_tree(root, MergeMode::SystemdSysctl);
    let proc_sys = proc.map(|p| p.join("sys"));
    let values = |key: &str| Values::read(key, &boot_tree, proc_sys.as_deref());
    let ipv6 = values("net.ipv6.conf.all.disable_ipv6");
    let ipv6_off = ipv6
        .live
        .as_deref()
        .or(ipv6.boot.as_ref().map(|b| b.value.as_str()))
        .is_some_and(|v| same_value(v, "1"));
    let controls: Vec<ControlResult> = map
        .controls
        .iter()
        .map(|c| evaluate(maps, map, c, values(&c.key), ipv6_off))
        .collect();
    Ok(summarize(map, proc.is_some(), controls))
}

struct Values {
    live: Option<String>,
    /// The line the boot-time reader applies last for the key.
    boot: Option<Setter>,
    live_system: bool,
}

impl Values {
    fn read(key: &str, boot: &MergedTree, proc_sys: Option<&Path>) -> Values {
        Values {
            live: proc_sys.and_then(|p| read_value(p, key).ok()),
            boot: boot.lookup(key).and_then(|m| m.held),
            live_system: proc_sys.is_some(),
        }
    }
}

/// One half of a verdict (the configured value or the live one).
type Half = (ControlOutcome, Option<String>);

/// What the benchmark says of `value`.
fn judge(maps: &ComplianceMaps, c: &Control, value: &str) -> Half {
    let any_of = |set: &[String]| set.iter().any(|e| same_value(e, value));
    if any_of(&c.expected) {
        (ControlOutcome::Pass, None)
    } else if any_of(&c.stricter) {
        (ControlOutcome::Pass, c.stricter_why.clone())
    } else if any_of(&c.waived) {
        (ControlOutcome::Waived, waiver_why(maps, c))
    } else {
        (ControlOutcome::Fail, None)
    }
}

fn waiver_why(maps: &ComplianceMaps, c: &Control) -> Option<String> {
    c.waiver.as_ref().and_then(|id| {
        maps.waivers
            .iter()
            .find(|w| &w.id == id)
            .map(|w| w.why.clone())
    })
}

/// The configured half: the value of the line the boot-time reader
/// applies, or, with no such line, a failure (the scanner finds no
/// configuration) unless the waiver covers leaving the key unset.
fn configured_half(maps: &ComplianceMaps, c: &Control, boot: Option<&Setter>) -> Half {
    match boot {
        Some(setter) => judge(maps, c, &setter.value),
        None if c.waived_unset => (ControlOutcome::Waived, waiver_why(maps, c)),
        None => (
            ControlOutcome::Fail,
            Some("no sysctl.d/sysctl.conf line the boot-time reader applies sets it (the benchmark's check reads the configuration too)".to_string()),
        ),
    }
}

fn rank(o: ControlOutcome) -> u8 {
    match o {
        ControlOutcome::NotApplicable => 0,
        ControlOutcome::Pass => 1,
        ControlOutcome::Waived => 2,
        ControlOutcome::Fail => 3,
    }
}

fn evaluate(
    maps: &ComplianceMaps,
    map: &ComplianceMap,
    c: &Control,
    v: Values,
    ipv6_off: bool,
) -> ControlResult {
    let not_applicable = |why: &str| (ControlOutcome::NotApplicable, Some(why.to_string()));
    // The live half on a running system; when auditing a tree, the
    // boot-time value stands in for it.
    let live_half = if v.live_system {
        match &v.live {
            Some(value) => judge(maps, c, value),
            None => not_applicable("the running kernel has no such key"),
        }
    } else {
        match &v.boot {
            Some(setter) => judge(maps, c, &setter.value),
            None => not_applicable("no sysctl.d file sets it: the kernel default applies"),
        }
    };
    let configured = map
        .checks_configured
        .then(|| configured_half(maps, c, v.boot.as_ref()));
    let (result, note) = if c.ipv6_only && ipv6_off {
        not_applicable("IPv6 is off on this node (net.ipv6.conf.all.disable_ipv6 = 1); the benchmark asks this only where IPv6 is on")
    } else {
        match &configured {
            Some(conf) if rank(conf.0) >= rank(live_half.0) => conf.clone(),
            _ => live_half.clone(),
        }
    };
    ControlResult {
        id: c.id.clone(),
        title: c.title.clone(),
        key: c.key.clone(),
        expected: c.expected.clone(),
        live: v.live,
        boot: v.boot.as_ref().map(|s| s.value.clone()),
        configured_at: v
            .boot
            .as_ref()
            .map(|s| format!("{}:{}", s.file.display(), s.lineno)),
        configured_result: configured.map(|(o, _)| o),
        live_result: v.live_system.then_some(live_half.0),
        waiver: (result == ControlOutcome::Waived)
            .then(|| c.waiver.clone())
            .flatten(),
        result,
        note,
        reference: c.reference.clone(),
    }
}

fn summarize(map: &ComplianceMap, live: bool, controls: Vec<ControlResult>) -> ComplianceReport {
    let count = |o: ControlOutcome| controls.iter().filter(|c| c.result == o).count();
    ComplianceReport {
        map: map.name.clone(),
        title: map.title.clone(),
        source: map.source.clone(),
        checked: match (map.checks_configured, live) {
            (true, true) => "configured and live",
            (false, true) => "live",
            (_, false) => "boot",
        },
        pass: count(ControlOutcome::Pass),
        fail: count(ControlOutcome::Fail),
        waived: count(ControlOutcome::Waived),
        not_applicable: count(ControlOutcome::NotApplicable),
        controls,
    }
}

/// The compliance part of the text report: a table, then one line per
/// note (waivers, stricter values, controls that do not apply).
pub fn render_text(report: &ComplianceReport) -> String {
    let rows: Vec<[String; 7]> = report
        .controls
        .iter()
        .map(|c| {
            [
                c.id.clone(),
                c.key.clone(),
                c.expected.join("|"),
                c.live.clone().unwrap_or_else(|| "-".into()),
                c.boot.clone().unwrap_or_else(|| "-".into()),
                c.configured_at.clone().unwrap_or_else(|| "-".into()),
                c.result.as_str().to_string(),
            ]
        })
        .collect();
    let mut out = format!(
        "compliance: {} ({}; values checked: {})\n",
        report.title, report.map, report.checked
    );
    out.push_str(&render_table(
        [
            "CONTROL", "KEY", "EXPECTED", "LIVE", "BOOT", "SET BY", "RESULT",
        ],
        &rows,
    ));
    for c in &report.controls {
        if let Some(note) = &c.note {
            let label = match (&c.waiver, c.result) {
                (Some(w), _) => format!("waived ({w})"),
                (None, ControlOutcome::Pass) => "stricter".to_string(),
                (None, _) => c.result.as_str().to_string(),
            };
            out.push_str(&format!("  {} {}: {label}: {note}\n", c.id, c.key));
        }
    }
    out.push_str(&format!(
        "compliance {}: {} pass, {} fail, {} waived, {} n/a\n",
        report.map, report.pass, report.fail, report.waived, report.not_applicable
    ));
    out
}
