//! `status --compliance NAME`: the node's values against one benchmark's
//! network controls (the shipped compliance maps, built from
//! `profiles/compliance/`). Each control passes, fails, is waived (the value
//! differs the way a documented Proxmox VE waiver allows) or does not apply
//! (the kernel lacks the key, or an IPv6-only control on a node with IPv6
//! off). It only reads.

use crate::contract::{ComplianceMap, ComplianceMaps, Control};
use crate::host::sysctl::apply::read_value;
use crate::host::sysctl::merge::{read_tree, MergeMode, MergedTree};
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
    /// What the results were checked on: "live" values, or "boot" values
    /// when auditing a tree without a running system.
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
    let ipv6_off = ipv6.checked().is_some_and(|v| same_value(v, "1"));
    let controls: Vec<ControlResult> = map
        .controls
        .iter()
        .map(|c| evaluate(maps, c, values(&c.key), ipv6_off))
        .collect();
    Ok(summarize(map, proc.is_some(), controls))
}

struct Values {
    live: Option<String>,
    boot: Option<String>,
    live_system: bool,
}

impl Values {
    fn read(key: &str, boot: &MergedTree, proc_sys: Option<&Path>) -> Values {
        Values {
            live: proc_sys.and_then(|p| read_value(p, key).ok()),
            boot: boot.lookup(key).and_then(|m| m.held).map(|h| h.value),
            live_system: proc_sys.is_some(),
        }
    }

    /// The value a result is decided on: live on a running system, the
    /// boot-time value when auditing a tree.
    fn checked(&self) -> Option<&str> {
        if self.live_system {
            self.live.as_deref()
        } else {
            self.boot.as_deref()
        }
    }
}

fn evaluate(maps: &ComplianceMaps, c: &Control, v: Values, ipv6_off: bool) -> ControlResult {
    let any_of = |set: &[String], value: &str| set.iter().any(|e| same_value(e, value));
    let waiver_why = || {
        c.waiver.as_ref().and_then(|id| {
            maps.waivers
                .iter()
                .find(|w| &w.id == id)
                .map(|w| w.why.clone())
        })
    };
    let (result, note) = match v.checked() {
        _ if c.ipv6_only && ipv6_off => (
            ControlOutcome::NotApplicable,
            Some("IPv6 is off on this node (net.ipv6.conf.all.disable_ipv6 = 1); the benchmark asks this only where IPv6 is on".to_string()),
        ),
        None if v.live_system => (
            ControlOutcome::NotApplicable,
            Some("the running kernel has no such key".to_string()),
        ),
        None => (
            ControlOutcome::NotApplicable,
            Some("no sysctl.d file sets it: the kernel default applies".to_string()),
        ),
        Some(value) if any_of(&c.expected, value) => (ControlOutcome::Pass, None),
        Some(value) if any_of(&c.stricter, value) => {
            (ControlOutcome::Pass, c.stricter_why.clone())
        }
        Some(value) if any_of(&c.waived, value) => (ControlOutcome::Waived, waiver_why()),
        Some(_) => (ControlOutcome::Fail, None),
    };
    ControlResult {
        id: c.id.clone(),
        title: c.title.clone(),
        key: c.key.clone(),
        expected: c.expected.clone(),
        live: v.live,
        boot: v.boot,
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
        checked: if live { "live" } else { "boot" },
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
    let rows: Vec<[String; 6]> = report
        .controls
        .iter()
        .map(|c| {
            [
                c.id.clone(),
                c.key.clone(),
                c.expected.join("|"),
                c.live.clone().unwrap_or_else(|| "-".into()),
                c.boot.clone().unwrap_or_else(|| "-".into()),
                c.result.as_str().to_string(),
            ]
        })
        .collect();
    let mut out = format!(
        "compliance: {} ({}; values checked: {})\n",
        report.title, report.map, report.checked
    );
    out.push_str(&render_table(
        ["CONTROL", "KEY", "EXPECTED", "LIVE", "BOOT", "RESULT"],
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
