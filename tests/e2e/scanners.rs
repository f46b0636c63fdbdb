//! The auditors' scanners against `status --compliance` (issue 30): OpenSCAP
//! with ComplianceAsCode's Debian content (trixie's ssg-debian 0.1.76,
//! `ssg-debian12-ds.xml`) and Lynis (the release's own: 3.0.8 on bookworm,
//! 3.1.4 on trixie) run inside the scenario's chroot, in its private network
//! namespace (sandbox.sh: `/proc` mounted inside, so both read the
//! namespace's live values and never this machine's; `/proc/sys` read-only
//! but net), once per profile (default, strict, ipv6), after the install and
//! a `sysctl --system` (what the next boot applies, pve-firewall.conf's
//! rp_filter = 2 included). One chroot serves the three profiles in turn:
//! each installed alone, from a state asserted equal to the baseline (a
//! booted node's: `lo` up, `sysctl --system` run; no variant known to
//! dpkg), and purged after its scans, which must give that state back.
//!
//! Every control of a map the scanner can judge is compared, verdict for
//! verdict: `status` pass = scanner pass; `status` fail or waived = scanner
//! fail (a waiver explains a failure, it does not hide it); `status` n/a =
//! the scanner does not fail it (notapplicable, or Lynis leaving the key
//! alone). The disagreements are printed per profile and benchmark, then
//! the test fails unless there are none.
//!
//! Scanners and the release:
//! - OpenSCAP: the release's own `openscap-scanner` (1.3.7 on bookworm,
//!   1.4.2 on trixie), trixie's `ssg-debian12-ds.xml` on both (bookworm's
//!   ssg-debian 0.1.65 has no Debian 12 content; ssg-debian 0.1.76 has none
//!   for Debian 13). The content's platform test reads /etc/debian_version
//!   against `^12.[0-9]+$`, which leaves every rule `notapplicable` on
//!   trixie: the copy evaluated there accepts `13.x` too, and nothing else
//!   of the content changes. Only the sysctl rules are evaluated (`--rule`).
//!   Their platform `system_with_kernel` is "package linux-base is
//!   installed" (every Debian kernel depends on it): the scanners' base has
//!   it, as a node with a kernel does; without it every rule is
//!   `notapplicable`.
//! - anssi-bp28: the profiles `anssi_bp28_intermediary`, `_enhanced` and
//!   `_high` (`anssi_bp28_minimal` selects no sysctl rule, checked in the
//!   content: `--rule` would evaluate a rule the profile does not select);
//!   the control's rule is the first word of its `reference`.
//! - cis-debian12: the content has no CIS profile for Debian, so a
//!   tailoring selects the content's rules for the map's keys
//!   (`sysctl_<key with _ for .>`); keys without such a rule in the
//!   content are listed as not covered.
//! - lynis: `lynis audit system --tests KRNL-6000` (its group only, no
//!   plugins: [`lynis_flagged`]); a key is failed when
//!   the report has a `details[]=KRNL-6000|sysctl|...field:KEY;` line.

use crate::harness::base::{cache_dir, ensure_with_packages};
use crate::harness::packages::release_deb;
use crate::harness::{Chroot, Deb, Release, Snapshot};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

const DS: &str = "/tmp/ssg-debian12-ds.xml";
const RULE_PREFIX: &str = "xccdf_org.ssgproject.content_rule_";
const ANSSI_PROFILES: [&str; 3] = [
    "anssi_bp28_intermediary",
    "anssi_bp28_enhanced",
    "anssi_bp28_high",
];

/// One control's verdicts.
#[derive(Debug)]
struct Compared {
    key: String,
    status: String,
    scanner: String,
}

pub fn scanners_agree(release: Release, name: &str, debs: impl FnOnce() -> Vec<Deb>) {
    let name = format!("{release}-{name}");
    if crate::harness::gate::skipped(&name) {
        return;
    }
    let base = crate::harness::base(release).expect("gate passed");
    let packages: &[&str] = match release {
        Release::Bookworm => &["openscap-scanner", "lynis", "linux-base"],
        Release::Trixie => &["openscap-scanner", "ssg-debian", "lynis", "linux-base"],
    };
    let tar = ensure_with_packages(base, "scanners", packages)
        .unwrap_or_else(|e| panic!("cannot prepare the scanners' base: {e}"));
    let ds = ssg_datastream(release);
    let mut table: Vec<(String, String, usize, usize, Vec<String>)> = Vec::new();
    // One chroot for the three profiles, each installed alone: the state
    // before each install is asserted to be the baseline (files, diversions,
    // live values; no variant known to dpkg), which the purge of the one
    // before must give back. The baseline is a booted node's: `lo` up and
    // `sysctl --system` run, as after every install below.
    let mut chroot = Chroot::fresh(&tar, &name);
    chroot.write(DS, &ds);
    chroot.run("ip link set lo up; sysctl -q --system >/dev/null 2>&1 || true");
    let baseline = Snapshot::take(&mut chroot);
    // The inputs oscap has validated in this chroot (the datastream, each
    // tailoring): the same bytes are not validated again.
    let mut validated = BTreeSet::new();
    for deb in debs() {
        let profile = deb.package.clone();
        assert_only_baseline(
            &mut chroot,
            &baseline,
            &format!("[{name}] before {profile}"),
        );
        let inside = chroot.copy_in(&deb.path);
        chroot.run(&format!("apt-get install -y {inside}"));
        chroot.run("sysctl -q --system >/dev/null 2>&1 || true");
        let installed = chroot.run(VARIANTS);
        assert_eq!(
            installed.stdout.trim(),
            format!("{profile} install ok installed"),
            "[{name}] {profile}: not the only variant dpkg knows"
        );
        let versions = chroot.run(
            "oscap --version | head -n1; dpkg-query -W -f '${Version}\\n' lynis openscap-scanner",
        );
        eprintln!(
            "[{name}] {profile}: {}",
            versions.stdout.replace('\n', "; ")
        );
        for (benchmark, compared, uncovered) in compare_all(&mut chroot, &name, &mut validated) {
            let disagreements: Vec<String> = compared
                .iter()
                .filter(|c| !agree(&c.status, &c.scanner))
                .map(|c| format!("{}: status {}, scanner {}", c.key, c.status, c.scanner))
                .collect();
            assert!(
                !compared.is_empty(),
                "[{name}] {profile} {benchmark}: the scanner judged none of the map's controls"
            );
            if !uncovered.is_empty() {
                eprintln!(
                    "[{name}] {profile} {benchmark}: not judged by the scanner: {}",
                    uncovered.join(", ")
                );
            }
            table.push((
                profile.clone(),
                benchmark,
                compared.len(),
                disagreements.len(),
                disagreements,
            ));
        }
        if profile.ends_with("-strict") {
            let failing = status_verdicts(&mut chroot, "anssi-bp28")
                .into_iter()
                .chain(status_verdicts(&mut chroot, "cis-debian12"))
                .chain(status_verdicts(&mut chroot, "lynis"))
                .filter(|(_, v)| v == "fail")
                .map(|(k, _)| k)
                .collect::<Vec<_>>();
            table.push((
                profile.clone(),
                "status fail (not waived) under strict".into(),
                0,
                failing.len(),
                failing,
            ));
        }
        chroot.run(&format!("apt-get purge -y {profile}"));
        std::fs::remove_file(chroot.path(&inside)).expect("remove the copied .deb");
    }
    assert_only_baseline(
        &mut chroot,
        &baseline,
        &format!("[{name}] after the last purge"),
    );
    let mut report = String::new();
    let mut total = 0;
    for (profile, benchmark, compared, n, list) in &table {
        total += n;
        report.push_str(&format!(
            "{profile:<26} {benchmark:<38} {compared:>3} compared, {n} disagree\n"
        ));
        for d in list {
            report.push_str(&format!("    {d}\n"));
        }
    }
    eprintln!("[{name}] scanners vs status --compliance:\n{report}");
    assert_eq!(total, 0, "disagreements with the scanners:\n{report}");
}

/// Every variant of the package dpkg knows, with its status.
const VARIANTS: &str =
    "dpkg-query -W -f '${Package} ${Status}\\n' 'pve-tcp-hardening*' 2>/dev/null \
     | grep -v ' not-installed$' || true";

/// The chroot is at `baseline` (files, diversions, live values) and dpkg
/// knows no variant of the package: what the next install may start from.
fn assert_only_baseline(chroot: &mut Chroot, baseline: &Snapshot, when: &str) {
    let known = chroot.run(VARIANTS);
    assert_eq!(
        known.stdout.trim(),
        "",
        "{when}: variants left: {}",
        known.stdout
    );
    baseline.assert_same(&Snapshot::take(chroot), when);
}

/// `status` pass = scanner pass; fail and waived = scanner fail; n/a = the
/// scanner does not fail it.
fn agree(status: &str, scanner: &str) -> bool {
    match status {
        "pass" => scanner == "pass",
        "fail" | "waived" => scanner == "fail",
        "n/a" => scanner != "fail",
        _ => false,
    }
}

/// Every benchmark compared in `chroot`: (name, compared controls, keys
/// the scanner cannot judge).
fn compare_all(
    chroot: &mut Chroot,
    name: &str,
    validated: &mut BTreeSet<String>,
) -> Vec<(String, Vec<Compared>, Vec<String>)> {
    let mut out = Vec::new();
    let anssi = status_controls(chroot, "anssi-bp28");
    let rules: Vec<String> = anssi
        .iter()
        .map(|(_, reference, _)| {
            reference
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    for profile in ANSSI_PROFILES {
        let verdicts = oscap(
            chroot,
            name,
            &format!("--profile xccdf_org.ssgproject.content_profile_{profile}"),
            &rules,
            &[DS.to_string()],
            validated,
        );
        let mut compared = Vec::new();
        let mut uncovered = Vec::new();
        for ((key, _, status), rule) in anssi.iter().zip(&rules) {
            match verdicts.get(rule).map(String::as_str) {
                Some("notselected") | None => uncovered.push(key.clone()),
                Some(v) => compared.push(Compared {
                    key: key.clone(),
                    status: status.clone(),
                    scanner: v.to_string(),
                }),
            }
        }
        out.push((format!("anssi-bp28 ({profile})"), compared, uncovered));
    }
    let in_content = String::from_utf8_lossy(&chroot.read(DS).expect("datastream")).into_owned();
    let minimal = in_content
        .split("Profile id=\"xccdf_org.ssgproject.content_profile_anssi_bp28_minimal\"")
        .nth(1)
        .and_then(|p| p.split("Profile>").next())
        .expect("the content's anssi_bp28_minimal profile");
    assert!(
        !minimal.contains(&format!("{RULE_PREFIX}sysctl_net")),
        "anssi_bp28_minimal selects sysctl rules now: compare it too"
    );
    let cis = status_controls(chroot, "cis-debian12");
    let rule_of = |key: &str| format!("sysctl_{}", key.replace('.', "_"));
    let cis_rules: Vec<String> = cis
        .iter()
        .map(|(key, _, _)| rule_of(key))
        .filter(|r| in_content.contains(&format!(" id=\"{RULE_PREFIX}{r}\"")))
        .collect();
    let cis_tailoring = tailoring(&cis_rules);
    chroot.write("/tmp/cis-tailoring.xml", cis_tailoring.as_bytes());
    let verdicts = oscap(
        chroot,
        name,
        "--tailoring-file /tmp/cis-tailoring.xml --profile xccdf_pve-tcp-hardening_profile_cis_sysctl",
        &cis_rules,
        &[DS.to_string(), cis_tailoring],
        validated,
    );
    let mut compared = Vec::new();
    let mut uncovered = Vec::new();
    for (key, _, status) in &cis {
        match verdicts.get(&rule_of(key)).map(String::as_str) {
            Some("notselected") | None => uncovered.push(key.clone()),
            Some(v) => compared.push(Compared {
                key: key.clone(),
                status: status.clone(),
                scanner: v.to_string(),
            }),
        }
    }
    out.push(("cis-debian12 (tailoring)".into(), compared, uncovered));
    let flagged = lynis_flagged(chroot);
    let compared = status_controls(chroot, "lynis")
        .into_iter()
        .map(|(key, _, status)| Compared {
            scanner: if flagged.contains(&key) {
                "fail"
            } else {
                "pass"
            }
            .into(),
            key,
            status,
        })
        .collect();
    out.push(("lynis KRNL-6000".into(), compared, Vec::new()));
    out
}

/// (key, reference, result) of every control of `map`, from `status --json
/// --compliance`.
fn status_controls(chroot: &mut Chroot, map: &str) -> Vec<(String, String, String)> {
    let ran = chroot.try_run(&format!(
        "pve-tcp-hardening status --json --compliance {map}"
    ));
    let report: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap_or_else(|e| {
        panic!(
            "status --compliance {map}: {e}: {}{}",
            ran.stdout, ran.stderr
        )
    });
    report["compliance"]["controls"]
        .as_array()
        .unwrap_or_else(|| panic!("no controls: {}", ran.stdout))
        .iter()
        .map(|c| {
            let s = |f: &str| {
                c[f].as_str()
                    .unwrap_or_else(|| panic!("{f} in {c}"))
                    .to_string()
            };
            (s("key"), s("reference"), s("result"))
        })
        .collect()
}

fn status_verdicts(chroot: &mut Chroot, map: &str) -> Vec<(String, String)> {
    status_controls(chroot, map)
        .into_iter()
        .map(|(k, _, r)| (format!("{map} {k}"), r))
        .collect()
}

/// rule (without the content prefix) -> result, of `oscap xccdf eval` with
/// `args` restricted to `rules`. `inputs` names what the run reads (the
/// datastream by its path, written once per chroot; a tailoring by its
/// content): oscap validates them against their schemas unless all were
/// validated in an earlier run (a third of a run's time).
fn oscap(
    chroot: &mut Chroot,
    name: &str,
    args: &str,
    rules: &[String],
    inputs: &[String],
    validated: &mut BTreeSet<String>,
) -> BTreeMap<String, String> {
    let skip = inputs.iter().all(|i| validated.contains(i));
    let args = &format!("{}{args}", if skip { "--skip-validation " } else { "" });
    let only: Vec<String> = rules
        .iter()
        .map(|r| format!("--rule {RULE_PREFIX}{r}"))
        .collect();
    let ran = chroot.try_run(&format!(
        "rm -f /tmp/oscap.xml; oscap xccdf eval {args} {} --results /tmp/oscap.xml {DS} >/tmp/oscap.out 2>&1; echo $?",
        only.join(" ")
    ));
    let code = ran.stdout.trim();
    let log =
        String::from_utf8_lossy(&chroot.read("/tmp/oscap.out").unwrap_or_default()).into_owned();
    assert!(
        code == "0" || code == "2",
        "[{name}] oscap {args} exited {code}:\n{log}"
    );
    let xml =
        String::from_utf8(chroot.read("/tmp/oscap.xml").expect("oscap results")).expect("UTF-8");
    let mut verdicts = BTreeMap::new();
    for part in xml.split("<rule-result ").skip(1) {
        let Some(rule) = part
            .split("idref=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|r| r.strip_prefix(RULE_PREFIX))
        else {
            continue;
        };
        let result = part
            .split("<result>")
            .nth(1)
            .and_then(|r| r.split("</result>").next())
            .unwrap_or("missing");
        verdicts.insert(rule.to_string(), result.to_string());
    }
    assert!(
        rules.iter().all(|r| verdicts.contains_key(r)),
        "[{name}] oscap {args} judged {verdicts:?}, asked for {rules:?}:\n{log}"
    );
    validated.extend(inputs.iter().cloned());
    verdicts
}

/// An XCCDF 1.2 tailoring with one profile selecting `rules` (CIS Debian 12
/// 3.3 through the content's sysctl rules; the rules' own values).
fn tailoring(rules: &[String]) -> String {
    let selects: String = rules
        .iter()
        .map(|r| format!("    <xccdf:select idref=\"{RULE_PREFIX}{r}\" selected=\"true\"/>\n"))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<xccdf:Tailoring xmlns:xccdf="http://checklists.nist.gov/xccdf/1.2" id="xccdf_pve-tcp-hardening_tailoring_cis">
  <xccdf:benchmark href="{DS}"/>
  <xccdf:version time="2026-01-01T00:00:00">1</xccdf:version>
  <xccdf:Profile id="xccdf_pve-tcp-hardening_profile_cis_sysctl">
    <xccdf:title>CIS Debian Linux 12 Benchmark 3.3 through the content's sysctl rules</xccdf:title>
{selects}  </xccdf:Profile>
</xccdf:Tailoring>
"#
    )
}

/// The keys Lynis's KRNL-6000 flags in the chroot's namespace, sorted
/// (s16 reads them too). Only KRNL-6000's group file is loaded and no
/// plugin runs: with `--tests` alone Lynis still sources every other test
/// file to skip its tests and runs its plugins, most of the time
/// (3.1.4: 156 s against 35 s under load, the same `details[]=KRNL-6000`
/// lines; both options exist in 3.0.8 too).
pub fn lynis_flagged(chroot: &mut Chroot) -> Vec<String> {
    chroot.run(
        "rm -f /tmp/lynis.dat; lynis audit system --no-plugins --tests-from-group kernel_hardening \
         --tests KRNL-6000 --no-colors --quick \
         --report-file /tmp/lynis.dat >/dev/null",
    );
    let report =
        String::from_utf8(chroot.read("/tmp/lynis.dat").expect("lynis report")).expect("UTF-8");
    report
        .lines()
        .filter(|l| l.starts_with("details[]=KRNL-6000|sysctl|"))
        .filter_map(|l| l.split("field:").nth(1))
        .filter_map(|f| f.split(';').next())
        .filter(|k| k.starts_with("net."))
        .map(str::to_string)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// trixie's `ssg-debian12-ds.xml` (ssg-debian 0.1.76), its platform test
/// widened to Debian 13 (see the module documentation).
fn ssg_datastream(release: Release) -> Vec<u8> {
    let deb = release_deb(Release::Trixie, "ssg-debian", "0.1.76-");
    let dir = cache_dir()
        .join("runs")
        .join(format!("ssg.{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("ssg dir");
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&dir)
        .status()
        .expect("dpkg-deb");
    assert!(status.success(), "cannot extract {}", deb.display());
    let ds =
        std::fs::read_to_string(dir.join("usr/share/xml/scap/ssg/content/ssg-debian12-ds.xml"))
            .expect("ssg-debian12-ds.xml in ssg-debian");
    let _ = std::fs::remove_dir_all(&dir);
    let platform = "<ind:pattern operation=\"pattern match\">^12.[0-9]+$</ind:pattern>";
    assert_eq!(
        ds.matches(platform).count(),
        1,
        "the content's Debian 12 platform test changed"
    );
    match release {
        Release::Bookworm => ds.into_bytes(),
        Release::Trixie => ds
            .replace(
                platform,
                "<ind:pattern operation=\"pattern match\">^1[23].[0-9]+$</ind:pattern>",
            )
            .into_bytes(),
    }
}
