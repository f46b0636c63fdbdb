//! The build tool on profiles: rendering, golden files, the guide's exact key
//! set, and a clear error (and no output file) for every kind of bad profile.

mod common;

use common::{assert_golden, repo_root, Run};
use pve_tcp_hardening::host::sysctl::parse::{parse_sysctl_text, LineKind};
use std::collections::BTreeSet;

const SHIPPED: [&str; 4] = ["default", "ipv6", "strict", "stealth"];

fn render(profile: &str) -> String {
    let out = Run::build_tool().args(["render", profile]).run();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_shipped_profile_matches_its_golden_file() {
    for profile in SHIPPED {
        assert_golden(&format!("{profile}.conf"), &render(profile));
    }
}

#[test]
fn rendering_is_deterministic() {
    assert_eq!(render("stealth"), render("stealth"));
}

/// Active `key = value` lines as procps would read them.
fn active(text: &str) -> BTreeSet<(String, String)> {
    parse_sysctl_text(text)
        .into_iter()
        .map(|l| match l.kind {
            LineKind::Setting { key, value, .. } => (key, value),
            other => panic!("unexpected line {other:?}"),
        })
        .collect()
}

/// Lines of the form `# key = value`, the optional settings.
fn commented(text: &str) -> BTreeSet<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# net."))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (format!("net.{k}"), v.to_string()))
        .collect()
}

fn set(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn default_profile_is_exactly_the_guides_set() {
    let text = render("default");
    let guide_active = set(&[
        ("net.ipv6.conf.all.disable_ipv6", "1"),
        ("net.ipv6.conf.default.disable_ipv6", "1"),
        ("net.ipv4.tcp_fin_timeout", "10"),
        ("net.ipv4.conf.default.rp_filter", "2"),
        ("net.ipv4.conf.default.accept_source_route", "0"),
        ("net.ipv4.conf.all.send_redirects", "0"),
        ("net.ipv4.conf.default.send_redirects", "0"),
        ("net.ipv4.conf.all.accept_redirects", "0"),
        ("net.ipv4.conf.default.accept_redirects", "0"),
        ("net.ipv4.conf.all.secure_redirects", "0"),
        ("net.ipv4.conf.default.secure_redirects", "0"),
        ("net.ipv4.tcp_rfc1337", "1"),
        ("net.ipv4.tcp_syn_retries", "2"),
        ("net.ipv4.tcp_synack_retries", "2"),
        ("net.ipv4.tcp_orphan_retries", "2"),
        ("net.ipv4.tcp_sack", "0"),
    ]);
    let guide_commented = set(&[
        ("net.ipv4.icmp_echo_ignore_all", "1"),
        ("net.ipv6.icmp.echo_ignore_all", "1"),
        ("net.ipv4.conf.all.log_martians", "1"),
        ("net.ipv4.conf.default.log_martians", "1"),
    ]);
    assert_eq!(guide_active.len(), 16);
    assert_eq!(active(&text), guide_active);
    assert_eq!(commented(&text), guide_commented);
}

#[test]
fn variants_build_on_default() {
    let default = active(&render("default"));
    let stealth = active(&render("stealth"));
    assert!(default.is_subset(&stealth));
    for key in [
        "net.ipv4.icmp_echo_ignore_all",
        "net.ipv6.icmp.echo_ignore_all",
        "net.ipv4.tcp_syncookies",
    ] {
        assert!(
            stealth.contains(&(key.to_string(), "1".to_string())),
            "{key}"
        );
    }
    let ipv6 = active(&render("ipv6"));
    assert!(ipv6.contains(&("net.ipv6.conf.all.disable_ipv6".into(), "0".into())));
    assert!(ipv6.contains(&("net.ipv6.conf.all.accept_redirects".into(), "0".into())));
}

#[test]
fn list_names_every_profile_and_package() {
    Run::build_tool()
        .args(["list"])
        .stdout_contains("default  pve-tcp-hardening ")
        .stdout_contains("stealth  pve-tcp-hardening-stealth ")
        .stdout_contains("ipv6     pve-tcp-hardening-ipv6 ")
        .run();
}

#[test]
fn check_passes_on_shipped_profiles() {
    Run::build_tool()
        .args(["check"])
        .stdout(
            "4 profiles OK: default, ipv6, stealth, strict\n\
             3 compliance maps OK: anssi-bp28, cis-debian12, lynis\n",
        )
        .run();
}

#[test]
fn explain_shows_origin_in_the_chain() {
    let out = Run::build_tool().args(["explain", "stealth"]).run();
    let text = String::from_utf8(out.stdout).unwrap();
    let line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .unwrap()
            .to_string()
    };
    assert!(line("net.ipv4.tcp_sack ").contains(" default "));
    assert!(line("net.ipv4.tcp_syncookies ").contains(" strict "));
    assert!(line("net.ipv4.icmp_echo_ignore_all ").contains(" stealth "));
    assert!(text.contains("extends chain: stealth -> strict -> default"));
}

#[test]
fn diff_lists_added_and_changed_keys() {
    Run::build_tool()
        .args(["diff", "default", "ipv6"])
        .stdout_contains("~ net.ipv6.conf.all.disable_ipv6 = 1 -> 0\n")
        .stdout_contains("+ net.ipv6.conf.all.accept_source_route = 0\n")
        .run();
    Run::build_tool()
        .args(["diff", "ipv6", "default"])
        .stdout_contains("- net.ipv6.conf.all.accept_source_route = 0\n")
        .run();
}

#[test]
fn render_to_file_is_atomic_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("80_tcp_hardening.conf");
    Run::build_tool()
        .args(["render", "default", "-o"])
        .args([&out])
        .stdout("")
        .run();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), render("default"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "temp files left behind");
}

#[test]
fn custom_key_needs_and_renders_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("site.toml"),
        "description = \"site\"\nextends = \"default\"\n\
         [custom.\"net.core.somaxconn\"]\nvalue = 4096\nreason = \"deep listen backlog for the API proxy\"\n",
    )
    .unwrap();
    std::fs::copy(
        repo_root().join("profiles/default.toml"),
        dir.path().join("default.toml"),
    )
    .unwrap();
    Run::build_tool()
        .args(["--profiles-dir"])
        .args([dir.path()])
        .args(["render", "site"])
        .stdout_contains("# == Keys outside the catalog ==\n\n# deep listen backlog for the API proxy\nnet.core.somaxconn = 4096\n")
        .run();
}

/// (fixture dir under tests/fixtures/bad-profiles, expected stderr parts)
const BAD_PROFILES: &[(&str, &[&str])] = &[
    ("typo-key", &["p.toml:7: unknown key `net.ipv4.tcp_fin_timeot`", "did you mean net.ipv4.tcp_fin_timeout?"]),
    ("out-of-range", &["p.toml:5: `net.ipv4.tcp_fin_timeout`: invalid value `0`: allowed an integer from 1 to 600"]),
    ("wrong-type", &["p.toml:5: `net.ipv4.tcp_sack`: invalid value `yes`: allowed 0 or 1"]),
    ("toml-bool", &["p.toml:5:", "expected an integer or a string, found boolean"]),
    ("newline-in-value", &["p.toml:4:", "contains a newline"]),
    ("equals-in-value", &["p.toml:4:", "contains a newline, control character, `=`"]),
    ("hash-in-key", &["p.toml:5: unknown key `net.ipv4.tcp_sack # comment`"]),
    ("newline-in-key", &["p.toml:5: unknown key `net.ipv4.tcp_sack\nkernel.panic`"]),
    ("control-in-description", &["p.toml:1: `description` must be one non-empty line"]),
    ("cycle", &["`extends` cycle: p -> q -> p"]),
    ("missing-parent", &["p.toml:2: extends `defualt`, but", "defualt.toml does not exist", "did you mean `default`?"]),
    ("unknown-field", &["p.toml:2: unknown field `colour`"]),
    ("duplicate-key", &["p.toml:6: duplicate key"]),
    ("empty-file", &["p.toml: the profile file is empty"]),
    ("broken-toml", &["p.toml:1:", "invalid basic string"]),
    ("unset-not-in-parent", &["p.toml:3: `unset` names `net.ipv4.tcp_syncookies`, but no parent profile sets it"]),
    ("set-and-commented", &["p.toml:5: `net.ipv4.tcp_sack` is listed in more than one of set/commented/unset"]),
    ("ipv6-flag-mismatch", &["p.toml:5: `[flags] disable_ipv6 = true` needs `\"net.ipv6.conf.all.disable_ipv6\" = 1`"]),
    ("unquoted-dotted-key", &["p.toml:5: `net` starts a TOML table: write the whole key in quotes"]),
    ("custom-without-reason", &["p.toml:4:", "custom key `net.core.somaxconn` needs a one-line `reason`"]),
    ("no-flags", &["p.toml: no `[flags] disable_ipv6` in the profile or its parents"]),
    ("custom-shadows-catalog", &["p.toml:4:", "`net.ipv4.tcp_sack` is in the catalog: set it under [set]"]),
];

#[test]
fn every_bad_profile_fails_with_a_clear_message_and_writes_nothing() {
    let fixtures = repo_root().join("tests/fixtures/bad-profiles");
    let on_disk = std::fs::read_dir(&fixtures).unwrap().count();
    assert_eq!(
        on_disk,
        BAD_PROFILES.len(),
        "a fixture dir without a table row (or the reverse)"
    );
    assert!(BAD_PROFILES.len() >= 15);
    for (case, wants) in BAD_PROFILES {
        let dir = fixtures.join(case);
        let out_dir = tempfile::tempdir().unwrap();
        let out = out_dir.path().join("80_tcp_hardening.conf");
        let mut run = Run::build_tool()
            .args(["--profiles-dir"])
            .args([&dir])
            .args(["render", "p", "-o"])
            .args([&out])
            .status(1)
            .stderr_contains("error: ");
        for want in *wants {
            run = run.stderr_contains(want);
        }
        run.run();
        assert!(
            !out.exists(),
            "{case}: render -o wrote a file despite the error"
        );
        assert_eq!(
            std::fs::read_dir(out_dir.path()).unwrap().count(),
            0,
            "{case}: temp file left"
        );
    }
}

#[test]
fn check_lists_every_broken_profile_not_just_the_first() {
    let dir = tempfile::tempdir().unwrap();
    for case in ["typo-key", "out-of-range"] {
        let src = repo_root()
            .join("tests/fixtures/bad-profiles")
            .join(case)
            .join("p.toml");
        std::fs::copy(src, dir.path().join(format!("{case}.toml"))).unwrap();
    }
    Run::build_tool()
        .args(["--profiles-dir"])
        .args([dir.path()])
        .args(["check"])
        .status(1)
        .stderr_contains("typo-key.toml:7: unknown key")
        .stderr_contains("out-of-range.toml:5: `net.ipv4.tcp_fin_timeout`: invalid value `0`")
        .run();
}

#[test]
fn broken_template_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("80_tcp_hardening.conf.tera"),
        "# header\n{% for g in groups %}\n{{ g.title }\n{% endfor %}\n",
    )
    .unwrap();
    let out = dir.path().join("out.conf");
    Run::build_tool()
        .args(["--templates-dir"])
        .args([dir.path()])
        .args(["render", "default", "-o"])
        .args([&out])
        .status(1)
        .stderr_contains("80_tcp_hardening.conf.tera does not parse")
        .stderr_contains("3:")
        .run();
    assert!(!out.exists());
}

#[test]
fn unknown_profile_suggests_the_nearest() {
    Run::build_tool()
        .args(["render", "stelth"])
        .status(1)
        .stderr_contains("no profile `stelth`")
        .stderr_contains("did you mean `stealth`?")
        .run();
}
