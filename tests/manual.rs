//! The manual as an admin meets it: the helper's man page, completions,
//! README.Debian and NEWS.Debian taken out of built packages (the default
//! profile, IPv6 off, and `ipv6`, IPv6 on), and the build tool's man page
//! from `pve-tcp-hardening-build man`. Pages are read by man-db itself
//! (`man --warnings`, `lexgrog`), completions loaded by each shell. The
//! packages carry a stand-in helper: nothing here runs it. Where the files
//! sit in every package is tests/package.rs's.

mod common;

use clap::{CommandFactory, ValueEnum};
use common::{assert_contains, assert_lacks, repo_root, stdout_of, Run};
use pve_tcp_hardening::cli::{HelperCli, StatusFormat};
use pve_tcp_hardening::contract::{self, ComplianceMaps};
use pve_tcp_hardening::host::kill_point::KILL_POINTS_VAR;
use pve_tcp_hardening::host::maint::APPLY_IN_CHROOT_VAR;
use pve_tcp_hardening::host::status::formats::{checkmk, journal, nagios, prometheus, Severity};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Sections every man page has, in this order.
const SECTIONS: [&str; 8] = [
    "NAME",
    "SYNOPSIS",
    "DESCRIPTION",
    "COMMANDS",
    "EXIT STATUS",
    "ENVIRONMENT",
    "FILES",
    "EXAMPLES",
];

/// The packages' files, extracted: package name -> directory.
fn packages() -> &'static BTreeMap<String, PathBuf> {
    static BUILT: OnceLock<(tempfile::TempDir, BTreeMap<String, PathBuf>)> = OnceLock::new();
    &BUILT
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            // A stand-in helper pair (the build takes the full helper from
            // beside the front): the manual is the build tool's work.
            let bin = dir.path().join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            for name in ["pve-tcp-hardening", contract::FULL_HELPER_NAME] {
                std::fs::write(bin.join(name), "#!/bin/sh\nexit 2\n").unwrap();
            }
            let out = dir.path().join("out");
            Run::build_tool()
                .env("SOURCE_DATE_EPOCH", "1790000000")
                .args(["build", "default", "ipv6", "--out"])
                .args([&out])
                .args(["--work-dir"])
                .args([dir.path().join("work")])
                .args(["--helper"])
                .args([bin.join("pve-tcp-hardening")])
                .stdout_contains("pve-tcp-hardening_0.1.0-1_")
                .run();
            let mut trees = BTreeMap::new();
            for package in ["pve-tcp-hardening", "pve-tcp-hardening-ipv6"] {
                let tree = dir.path().join("x").join(package);
                std::fs::create_dir_all(&tree).unwrap();
                let deb = out.join(format!("{package}.deb")); // the stable name
                stdout_of(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tree));
                std::fs::copy(&deb, tree.join("package.deb")).unwrap();
                trees.insert(package.to_string(), tree);
            }
            (dir, trees)
        })
        .1
}

fn read(tree: &Path, path: &str) -> String {
    let file = tree.join(path.trim_start_matches('/'));
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// The man page at `path` in `tree`, uncompressed.
fn man_source(tree: &Path, path: &str) -> String {
    stdout_of(Command::new("zcat").arg(tree.join(format!("{}.gz", path.trim_start_matches('/')))))
}

/// What `man` prints when it reads the page at `file`; it must warn of
/// nothing (`--warnings`: groff's own checks).
fn man_renders_cleanly(file: &Path) -> String {
    let out = Command::new("man")
        .args(["--warnings", "-l", "-E", "UTF-8"])
        .arg(file)
        .env("MANWIDTH", "80")
        .output()
        .expect("man is not installed: run `make deps-test` (man-db)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "man --warnings on {}: {stderr}",
        file.display()
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.len() > 2000,
        "{} renders to almost nothing",
        file.display()
    );
    text
}

/// `lexgrog` (what mandb indexes) reads the NAME line as `name - summary`.
fn lexgrog_reads(file: &Path, name: &str) {
    let out = stdout_of(Command::new("lexgrog").arg(file));
    assert!(
        out.contains(&format!(": \"{name} - ")),
        "lexgrog cannot read the NAME section of {}: {out}",
        file.display()
    );
}

/// The `.SH` sections of `source`, in order, each with its text.
fn sections(source: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in source.lines() {
        if let Some(title) = line.strip_prefix(".SH ") {
            out.push((title.trim_matches('"').to_string(), String::new()));
        } else if let Some((_, text)) = out.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    out
}

fn section<'a>(all: &'a [(String, String)], title: &str) -> &'a str {
    all.iter()
        .find(|(t, _)| t == title)
        .map(|(_, text)| text.as_str())
        .unwrap_or_else(|| panic!("no .SH {title}"))
}

/// How a name is written in roff (dashes escaped).
fn roff(text: &str) -> String {
    text.replace('-', "\\-")
}

/// The helper's public command line: subcommand -> its long options.
fn public_commands() -> Vec<(String, Vec<String>)> {
    HelperCli::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| {
            let longs = s
                .get_arguments()
                .filter(|a| !a.is_hide_set())
                .filter_map(|a| a.get_long().map(str::to_string))
                .collect();
            (s.get_name().to_string(), longs)
        })
        .collect()
}

fn hidden_names() -> Vec<String> {
    let command = HelperCli::command();
    let mut hidden: Vec<String> = command
        .get_subcommands()
        .filter(|s| s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect();
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        hidden.extend(
            sub.get_arguments()
                .filter(|a| a.is_hide_set())
                .filter_map(|a| a.get_long().map(|l| format!("--{l}"))),
        );
    }
    assert!(hidden.contains(&"maint".to_string()) && hidden.contains(&"--proc-root".to_string()));
    hidden
}

/// `word` stands alone in `text` (not as part of `maintainer`): roff
/// font escapes, quotes and punctuation around it count as separators.
fn has_word(text: &str, word: &str) -> bool {
    let plain = text
        .replace("\\fB", " ")
        .replace("\\fI", " ")
        .replace("\\fR", " ");
    plain
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '\\' || c == '_'))
        .any(|w| w == word)
}

fn shipped_benchmarks(tree: &Path) -> Vec<String> {
    let maps = ComplianceMaps::load(&tree.join(contract::COMPLIANCE_JSON.trim_start_matches('/')))
        .unwrap();
    let names: Vec<String> = maps.maps.into_iter().map(|m| m.name).collect();
    assert!(names.len() >= 3, "{names:?}");
    names
}

fn format_names() -> Vec<String> {
    StatusFormat::value_variants()
        .iter()
        .map(|f| f.to_possible_value().unwrap().get_name().to_string())
        .collect()
}

#[test]
fn helper_man_page_has_every_section_command_option_and_path() {
    for (package, tree) in packages() {
        let source = man_source(tree, contract::MAN_PAGE);
        assert!(
            source.contains(
                ".TH PVE\\-TCP\\-HARDENING 8 \"2026-09-21\" \"pve\\-tcp\\-hardening 0.1.0-1\""
            ),
            "{package}: .TH line"
        );
        let all = sections(&source);
        let titles: Vec<&str> = all.iter().map(|(t, _)| t.as_str()).collect();
        let mut want: Vec<&str> = SECTIONS.to_vec();
        want.push("SEE ALSO");
        assert_eq!(titles, want, "{package}: sections");

        let commands = section(&all, "COMMANDS");
        let synopsis = section(&all, "SYNOPSIS");
        let exit = section(&all, "EXIT STATUS");
        for (name, longs) in public_commands() {
            assert_contains(commands, &format!(".SS {}\n", roff(&name)));
            assert_contains(synopsis, &format!("\\fB{}\\fR", roff(&name)));
            assert_contains(exit, &format!(".B {}\n", roff(&name)));
            for long in longs {
                assert_contains(commands, &format!("\\fB\\-\\-{}\\fR", roff(&long)));
            }
        }
        for name in hidden_names() {
            assert!(
                !has_word(&source, &roff(&name)),
                "{package}: the man page names {name}, hidden from admins"
            );
        }
        for value in format_names().iter().chain(&shipped_benchmarks(tree)) {
            assert_contains(commands, &format!("\\fB{}\\fR", roff(value)));
        }
        // The codes as the formats define them.
        for severity in [
            Severity::Ok,
            Severity::Warning,
            Severity::Critical,
            Severity::Unknown,
        ] {
            let code = nagios::exit_status(severity);
            assert_contains(exit, &format!("{code} {}", severity.label()));
        }
        for code in [
            checkmk::EXIT_STATUS,
            prometheus::EXIT_STATUS,
            journal::EXIT_STATUS,
        ] {
            assert_contains(exit, &format!("{code} whenever the output was written"));
        }
        assert_contains(section(&all, "ENVIRONMENT"), &roff(APPLY_IN_CHROOT_VAR));
        assert_contains(section(&all, "ENVIRONMENT"), &roff(KILL_POINTS_VAR));

        let files = section(&all, "FILES");
        for path in contract_paths() {
            assert_contains(files, &format!(".I {}", roff(&path)));
        }

        let file = tree.join(format!("{}.gz", contract::MAN_PAGE.trim_start_matches('/')));
        let shown = man_renders_cleanly(&file);
        assert_contains(&shown, "EXIT STATUS");
        lexgrog_reads(&file, contract::HELPER_NAME);
        see_also_is_installed_with(&source, tree);
    }
}

/// Every path the helper installs, reads or changes, from contract.
fn contract_paths() -> Vec<String> {
    let state = |name: &str| format!("/{}/{name}", contract::STATE_DIR);
    let mut paths: Vec<String> = [
        contract::HELPER,
        contract::FULL_HELPER,
        contract::SYSCTL_FILE,
        contract::PROFILE_JSON,
        contract::COMPLIANCE_JSON,
        contract::IPV6_IN_USE_SCRIPT_PATH,
        contract::CHRONY_DEFAULT,
        contract::CHRONY_DIVERTED,
        contract::REBOOT_REQUIRED_FILE,
        contract::REBOOT_REQUIRED_PKGS_FILE,
        contract::FINISH_CONFIG,
        contract::SYSCTL_CONF,
        contract::SYSCTL_CONF_DPKG_BAK,
        contract::BASH_COMPLETION,
        contract::ZSH_COMPLETION,
        contract::FISH_COMPLETION,
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    for unit in contract::SYSTEMD_UNITS {
        paths.push(format!("{}/{unit}", contract::SYSTEMD_UNIT_DIR));
    }
    for dir in contract::PROCPS_SYSCTL_DIRS {
        paths.push(format!("/{dir}/"));
    }
    paths.push(format!("/{}/", contract::STATE_DIR));
    paths.push(format!("{}/", state(contract::ADOPTED_DIR)));
    for name in [
        contract::SNAPSHOT_FILE,
        contract::RESTORE_FILE,
        contract::UNSAVED_FILE,
        contract::REBOOT_AFTER_PURGE_FILE,
        contract::CONFIGURED_BY_FILE,
    ] {
        paths.push(state(name));
    }
    paths
}

/// The template names no path by hand in FILES (they come from contract,
/// so a moved file cannot leave the page behind).
#[test]
fn helper_man_page_template_takes_every_path_from_contract() {
    let template = std::fs::read_to_string(repo_root().join("debian/pve-tcp-hardening.8")).unwrap();
    let files = section(&sections(&template), "FILES").to_string();
    for line in files.lines() {
        let outside_variables: String = line
            .split("{{")
            .map(|part| part.split_once("}}").map_or(part, |(_, rest)| rest))
            .collect();
        for root in ["/etc", "/usr", "/var", "/run", "/lib", "/proc"] {
            assert!(
                !outside_variables.contains(root),
                "debian/pve-tcp-hardening.8 FILES names a path by hand (take it from contract): {line}"
            );
        }
    }
}

/// SEE ALSO names only pages an admin has: ones this package ships, or
/// ones of a package it depends on or that every Debian system has
/// (Essential, or Priority required or important: procps, systemd, dpkg,
/// debianutils). Which package ships a page is asked of this machine's dpkg.
fn see_also_is_installed_with(source: &str, tree: &Path) {
    let all = sections(source);
    let see_also = section(&all, "SEE ALSO");
    let deb = tree.join("package.deb");
    let depends = stdout_of(Command::new("dpkg-deb").arg("-f").arg(&deb).arg("Depends"));
    let mut checked = 0;
    for line in see_also.lines() {
        if let Some(path) = line.strip_prefix(".IR ") {
            let path = path.split_whitespace().next().unwrap().replace("\\-", "-");
            assert!(
                tree.join(path.trim_start_matches('/')).is_file(),
                "SEE ALSO {path}: not in the package"
            );
            checked += 1;
            continue;
        }
        let Some(entry) = line.strip_prefix(".BR ") else {
            continue;
        };
        let (name, rest) = entry.split_once(' ').unwrap();
        let name = name.replace("\\-", "-");
        let section: String = rest.chars().filter(char::is_ascii_digit).collect();
        let page = format!("/usr/share/man/man{section}/{name}.{section}");
        if tree
            .join(format!("{}.gz", page.trim_start_matches('/')))
            .is_file()
        {
            checked += 1;
            continue;
        }
        let owner = stdout_of(Command::new("dpkg").args(["-S", &format!("{page}.gz")]));
        let owner = owner.split(':').next().unwrap().trim().to_string();
        let facts = stdout_of(Command::new("dpkg-query").args([
            "-W",
            "-f",
            "${Essential} ${Priority}",
            &owner,
        ]));
        let everywhere =
            facts.starts_with("yes") || facts.ends_with("required") || facts.ends_with("important");
        let depended = depends
            .split(',')
            .any(|d| d.trim().split([' ', '|']).next() == Some(owner.as_str()));
        assert!(
            everywhere || depended,
            "SEE ALSO {name}({section}): {owner} ({facts}) is neither a dependency of {} nor on every Debian system",
            deb.display()
        );
        checked += 1;
    }
    assert!(checked >= 3, "SEE ALSO names {checked} pages:\n{see_also}");
}

#[test]
fn build_tool_man_page_documents_every_command() {
    let out = tempfile::tempdir().unwrap();
    Run::build_tool()
        .env("SOURCE_DATE_EPOCH", "1790000000")
        .args(["man", "--out"])
        .args([out.path()])
        .stdout_contains("pve-tcp-hardening-build.1")
        .run();
    let file = out.path().join("pve-tcp-hardening-build.1");
    let source = std::fs::read_to_string(&file).unwrap();
    assert_contains(
        &source,
        ".TH PVE\\-TCP\\-HARDENING\\-BUILD 1 \"2026-09-21\"",
    );
    let all = sections(&source);
    let titles: Vec<&str> = all.iter().map(|(t, _)| t.as_str()).collect();
    let mut want: Vec<&str> = SECTIONS.to_vec();
    want.insert(3, "OPTIONS");
    want.push("SEE ALSO");
    assert_eq!(titles, want, "sections");
    // Every command its --help lists has a subsection.
    let help = String::from_utf8(Run::build_tool().args(["--help"]).run().stdout).unwrap();
    let commands: Vec<&str> = help
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.split_whitespace().next().unwrap())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 8, "{commands:?}");
    for command in commands {
        assert_contains(
            section(&all, "COMMANDS"),
            &format!(".SS {}\n", roff(command)),
        );
    }
    assert_contains(section(&all, "OPTIONS"), "\\fB\\-\\-profiles\\-dir\\fR");
    assert_lacks(&source, env!("CARGO_MANIFEST_DIR"), "the checkout's path");
    man_renders_cleanly(&file);
    lexgrog_reads(&file, "pve-tcp-hardening-build");
    // Its SEE ALSO: dpkg-deb(1) and sysctl.d(5) on the build machine, and
    // the helper's page, which is in every package it builds.
    let see_also = section(&all, "SEE ALSO");
    for page in [
        ".BR dpkg\\-deb (1)",
        ".BR sysctl.d (5)",
        ".BR pve\\-tcp\\-hardening (8)",
    ] {
        assert_contains(see_also, page);
    }
    assert_eq!(see_also.matches(".BR ").count(), 3, "{see_also}");
}

/// Each shell reads its file without a syntax error.
fn shell_loads(shell: &str, file: &Path) {
    let out = Command::new(shell)
        .arg("-n")
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{shell} is not installed ({e}): run `make deps-test`"));
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{shell} -n {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn completions_load_and_offer_public_commands_formats_and_benchmarks() {
    for (package, tree) in packages() {
        let benchmarks = shipped_benchmarks(tree);
        for (shell, path) in [
            ("bash", contract::BASH_COMPLETION),
            ("zsh", contract::ZSH_COMPLETION),
            ("fish", contract::FISH_COMPLETION),
        ] {
            let file = tree.join(path.trim_start_matches('/'));
            shell_loads(shell, &file);
            let text = read(tree, path);
            for (name, _) in public_commands() {
                assert_contains(&text, &name);
            }
            for name in hidden_names() {
                assert!(
                    !has_word(&text, &name),
                    "{package}: {shell} offers {name}, hidden from admins"
                );
            }
            for value in format_names().iter().chain(&benchmarks) {
                assert_contains(&text, value);
            }
        }
        // What each shell really offers, asked as it would at a <Tab>.
        let bash = bash_offers(tree, &["status", "--compliance", ""]);
        assert_eq!(bash, sorted(&benchmarks), "{package}: bash, --compliance");
        assert_eq!(
            bash_offers(tree, &["status", "--format", ""]),
            sorted(&format_names())
        );
        let subcommands = bash_offers(tree, &[""]);
        for (name, _) in public_commands() {
            assert!(subcommands.contains(&name), "bash offers {subcommands:?}");
        }
        assert!(
            !subcommands.contains(&"maint".to_string()),
            "bash offers {subcommands:?}"
        );

        let fish = fish_offers(tree, "pve-tcp-hardening status --compliance ");
        assert_eq!(fish, sorted(&benchmarks), "{package}: fish, --compliance");
        assert_eq!(
            fish_offers(tree, "pve-tcp-hardening status --format "),
            sorted(&format_names())
        );
        let fish_subcommands = fish_offers(tree, "pve-tcp-hardening ");
        for (name, _) in public_commands() {
            assert!(
                fish_subcommands.contains(&name),
                "fish offers {fish_subcommands:?}"
            );
        }
        assert!(
            !fish_subcommands.contains(&"maint".to_string()),
            "fish offers {fish_subcommands:?}"
        );
    }
}

fn sorted(names: &[String]) -> Vec<String> {
    let mut names = names.to_vec();
    names.sort();
    names
}

/// What the packaged bash completion puts in COMPREPLY for the command
/// line `pve-tcp-hardening WORDS...` with the cursor on the last word: the
/// function it registers with `complete -F`, called as bash would.
fn bash_offers(tree: &Path, words: &[&str]) -> Vec<String> {
    let line: Vec<String> = std::iter::once("pve-tcp-hardening")
        .chain(words.iter().copied())
        .map(|w| format!("'{w}'"))
        .collect();
    let script = format!(
        "source \"$1\"\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE=\"${{COMP_WORDS[*]}}\"\nCOMP_POINT=${{#COMP_LINE}}\n\
         complete -p pve-tcp-hardening | grep -q -- ' -F ' || exit 3\n\
         f=$(complete -p pve-tcp-hardening | sed 's/.* -F \\([^ ]*\\) .*/\\1/')\n\
         \"$f\" pve-tcp-hardening \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        line.join(" "),
        words.len()
    );
    let out = stdout_of(
        Command::new("bash")
            .args(["--norc", "-c", &script, "bash"])
            .arg(tree.join(contract::BASH_COMPLETION.trim_start_matches('/'))),
    );
    let mut offered: Vec<String> = out.split_whitespace().map(str::to_string).collect();
    offered.sort();
    offered
}

/// What fish offers for `line` with the packaged completion loaded.
fn fish_offers(tree: &Path, line: &str) -> Vec<String> {
    let file = tree.join(contract::FISH_COMPLETION.trim_start_matches('/'));
    let script = format!("source '{}'; complete -C '{line}'", file.display());
    let out = stdout_of(Command::new("fish").args(["--no-config", "-c", &script]));
    let mut offered: Vec<String> = out
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .filter(|w| !w.starts_with('-'))
        .collect();
    offered.sort();
    offered
}

#[test]
fn readme_and_news_debian_say_what_changes_and_where_state_lives() {
    for (package, tree) in packages() {
        let doc = format!("/usr/share/doc/{package}");
        let readme = read(tree, &format!("{doc}/README.Debian"));
        for want in [
            format!("/{}/", contract::STATE_DIR),
            "apt purge 'pve-tcp-hardening*'".to_string(),
            "dpkg --configure -a".to_string(),
            "run the same command again".to_string(),
            contract::SYSCTL_FILE.to_string(),
        ] {
            assert_contains(&readme, &want);
        }
        let ipv6_off = package == "pve-tcp-hardening";
        assert_eq!(
            readme.contains(contract::CHRONY_DIVERTED),
            ipv6_off,
            "{package}: chrony in README.Debian"
        );
        assert!(
            !readme.contains("{{") && !readme.contains("{%"),
            "{package}: unrendered template"
        );

        let news = stdout_of(
            Command::new("zcat")
                .arg(tree.join(format!("{}/NEWS.Debian.gz", doc.trim_start_matches('/')))),
        );
        assert!(
            news.starts_with(&format!("{package} (0.1.0-1) stable; urgency=medium\n")),
            "{package}: NEWS.Debian's first line:\n{news}"
        );
        for want in [
            contract::SYSTEMD_UNIT_DIR,
            contract::SYSCTL_CONF,
            contract::SYSCTL_CONF_DPKG_BAK,
            "pve-tcp-hardening status",
        ] {
            assert_contains(&news, want);
        }
        // apt-listchanges reads it as a changelog: dpkg's parser must too,
        // without a warning.
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &news).unwrap();
        let parsed = Command::new("dpkg-parsechangelog")
            .arg("-l")
            .arg(file.path())
            .args(["-S", "Version"])
            .output()
            .unwrap();
        assert_eq!(
            (
                String::from_utf8_lossy(&parsed.stdout).trim(),
                String::from_utf8_lossy(&parsed.stderr).trim()
            ),
            ("0.1.0-1", ""),
            "{package}: NEWS.Debian as a changelog"
        );
    }
}
