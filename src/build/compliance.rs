//! The compliance maps (`profiles/compliance/`): one file per benchmark
//! (`cis-debian12.toml`, `anssi-bp28.toml`, `lynis.toml`) listing its
//! network controls, and `waivers.toml`, the reasons a Proxmox VE node must
//! differ, shared by all maps. They are data, validated here and shipped in
//! every package as `compliance.json` for `status --compliance NAME`.

use crate::build::catalog::is_catalog_key;
use crate::contract::{ComplianceMap, ComplianceMaps, Control, Waiver};
use crate::diagnostic::{Diagnostic, Diagnostics};
use anyhow::{Context, Result};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;
use toml::Spanned;

/// The file of shared waivers in the maps' directory.
pub const WAIVERS_FILE: &str = "waivers.toml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaivers {
    waiver: Vec<Spanned<Waiver>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMap {
    title: String,
    source: String,
    /// What the benchmark's own check reads: `["configured", "live"]` or
    /// `["live"]`.
    checks: Spanned<Vec<String>>,
    control: Vec<Spanned<RawControl>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    id: String,
    title: String,
    key: String,
    expected: Vec<String>,
    #[serde(default)]
    stricter: Vec<String>,
    stricter_why: Option<String>,
    waiver: Option<String>,
    #[serde(default)]
    waived: Vec<String>,
    #[serde(default)]
    waived_unset: bool,
    #[serde(default)]
    ipv6_only: bool,
    reference: String,
}

/// Load and check every map of `dir`; every problem is reported at once.
pub fn load_compliance_maps(dir: &Path) -> Result<ComplianceMaps> {
    let waivers_path = dir.join(WAIVERS_FILE);
    let source = fs_err::read_to_string(&waivers_path).context("cannot read the waivers")?;
    let raw: RawWaivers = parse(&waivers_path, &source)?;
    let mut errors = Vec::new();
    let mut waivers: Vec<Waiver> = Vec::new();
    for w in &raw.waiver {
        if waivers.iter().any(|o| o.id == w.get_ref().id) {
            errors.push(Diagnostic::at(
                &waivers_path,
                &source,
                w.span(),
                format!("waiver `{}` is listed twice", w.get_ref().id),
            ));
        }
        waivers.push(w.get_ref().clone());
    }
    let mut used = HashSet::new();
    let mut maps = Vec::new();
    let mut files: Vec<_> = fs_err::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && !p.ends_with(WAIVERS_FILE))
        .collect();
    files.sort();
    for path in files {
        let source = fs_err::read_to_string(&path).context("cannot read a compliance map")?;
        let raw: RawMap = parse(&path, &source)?;
        let mut controls = Vec::new();
        for spanned in raw.control {
            let at = |msg: String| Diagnostic::at(&path, &source, spanned.span(), msg);
            let c = spanned.get_ref();
            errors.extend(check_control(c, &waivers).into_iter().map(at));
            if let Some(w) = &c.waiver {
                used.insert(w.clone());
            }
            controls.push(Control {
                id: c.id.clone(),
                title: c.title.clone(),
                key: c.key.clone(),
                expected: c.expected.clone(),
                stricter: c.stricter.clone(),
                stricter_why: c.stricter_why.clone(),
                waiver: c.waiver.clone(),
                waived: c.waived.clone(),
                waived_unset: c.waived_unset,
                ipv6_only: c.ipv6_only,
                reference: c.reference.clone(),
            });
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .with_context(|| format!("{} has no UTF-8 name", path.display()))?
            .to_string();
        let checks = raw.checks.get_ref();
        let checks_configured = match checks.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["configured", "live"] => true,
            ["live"] => false,
            _ => {
                errors.push(Diagnostic::at(
                    &path,
                    &source,
                    raw.checks.span(),
                    format!("`checks` is {checks:?}: [\"configured\", \"live\"] or [\"live\"]"),
                ));
                false
            }
        };
        maps.push(ComplianceMap {
            name,
            title: raw.title,
            source: raw.source,
            checks_configured,
            controls,
        });
    }
    for w in &raw.waiver {
        if !used.contains(&w.get_ref().id) {
            errors.push(Diagnostic::at(
                &waivers_path,
                &source,
                w.span(),
                format!("waiver `{}` is used by no control", w.get_ref().id),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(Diagnostics(errors).into());
    }
    Ok(ComplianceMaps { maps, waivers })
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path, source: &str) -> Result<T> {
    toml::from_str(source).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        Diagnostics(vec![Diagnostic::at(path, source, span, e.message())]).into()
    })
}

/// What is wrong with one control, in words.
fn check_control(c: &RawControl, waivers: &[Waiver]) -> Vec<String> {
    let mut errors = Vec::new();
    let id = &c.id;
    if !is_catalog_key(&c.key) || !c.key.starts_with("net.") {
        errors.push(format!(
            "control {id}: `{}` is not a net.* sysctl key",
            c.key
        ));
    }
    if c.expected.is_empty() {
        errors.push(format!("control {id}: `expected` is empty"));
    }
    if c.stricter.is_empty() != c.stricter_why.is_none() {
        errors.push(format!(
            "control {id}: `stricter` values and `stricter_why` go together"
        ));
    }
    match &c.waiver {
        Some(w) if !waivers.iter().any(|o| &o.id == w) => errors.push(format!(
            "control {id}: unknown waiver `{w}` (not in {WAIVERS_FILE})"
        )),
        Some(_) if c.waived.is_empty() && !c.waived_unset => errors.push(format!(
            "control {id}: a waiver needs the `waived` values it covers"
        )),
        None if !c.waived.is_empty() || c.waived_unset => errors.push(format!(
            "control {id}: `waived` values need a `waiver` saying why"
        )),
        _ => {}
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIVERS: &str = "[[waiver]]\nid = \"w\"\nwhy = \"because\"\n";

    fn load(map: &str) -> Result<ComplianceMaps> {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join(WAIVERS_FILE), WAIVERS).unwrap();
        fs_err::write(dir.path().join("bench.toml"), map).unwrap();
        load_compliance_maps(dir.path())
    }

    fn map(checks: &str, control_extra: &str) -> String {
        format!(
            "title = \"t\"\nsource = \"s\"\nchecks = {checks}\n\n[[control]]\nid = \"1\"\ntitle = \"t\"\n\
             key = \"net.ipv4.ip_forward\"\nexpected = [\"0\"]\nwaiver = \"w\"\n{control_extra}reference = \"r\"\n"
        )
    }

    #[test]
    fn checks_say_which_halves_the_benchmark_reads() {
        let both = load(&map("[\"configured\", \"live\"]", "waived = [\"1\"]\n")).unwrap();
        assert!(both.maps[0].checks_configured);
        let live = load(&map("[\"live\"]", "waived = [\"1\"]\n")).unwrap();
        assert!(!live.maps[0].checks_configured);
        let err = format!(
            "{:#}",
            load(&map("[\"boot\"]", "waived = [\"1\"]\n")).unwrap_err()
        );
        assert!(err.contains("bench.toml:3"), "{err}");
        assert!(err.contains("`checks` is [\"boot\"]"), "{err}");
    }

    #[test]
    fn a_waiver_covering_only_an_unset_key_is_enough() {
        let maps = load(&map("[\"live\"]", "waived_unset = true\n")).unwrap();
        assert!(maps.maps[0].controls[0].waived_unset);
        let err = format!("{:#}", load(&map("[\"live\"]", "")).unwrap_err());
        assert!(err.contains("a waiver needs the `waived` values"), "{err}");
    }
}
