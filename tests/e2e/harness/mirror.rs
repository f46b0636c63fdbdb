//! Which Debian mirror the chroot is built from: this machine's own apt
//! sources, never a hard-coded host.
//!
//! We read `/etc/apt/sources.list`, `sources.list.d/*.list` (one-line format)
//! and `sources.list.d/*.sources` (deb822), keep `deb` entries of the Debian
//! archive, and pick the one serving `bookworm` `main` plus the matching
//! `bookworm-updates` / `bookworm-security` entries. Third-party sources are
//! ignored even when they also serve `bookworm main`.
//!
//! "Debian archive" is decided, in order, by the entry's Release file in apt's
//! list cache (`Origin: Debian`, authoritative when apt has fetched it), else
//! by `Signed-By` naming the Debian archive keyring, else by a URI path ending
//! in `/debian` or `/debian-security`.

use std::path::Path;

/// One `deb` line: a URI and one suite with its components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptEntry {
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
    pub signed_by: Option<String>,
}

/// The entries the chroot uses: `archive` feeds debootstrap, all of them go
/// into the chroot's sources.list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    pub archive: AptEntry,
    pub updates: Vec<AptEntry>,
}

impl Mirror {
    /// The chroot's `/etc/apt/sources.list`, archive first (make-base.sh
    /// takes the mirror from the first line).
    pub fn sources_list(&self) -> String {
        std::iter::once(&self.archive)
            .chain(&self.updates)
            .map(|e| format!("deb {} {} main\n", e.uri, e.suite))
            .collect()
    }

    /// The same archives serving another release: `bookworm-security` on a
    /// URI becomes `trixie-security` on it. The Debian archive serves every
    /// release under one URI, so a Debian 12 machine's own sources name the
    /// mirror for a trixie chroot too.
    pub fn for_codename(&self, codename: &str) -> Mirror {
        let old = self.archive.suite.clone();
        let rename = |e: &AptEntry| AptEntry {
            suite: e.suite.replacen(&old, codename, 1),
            ..e.clone()
        };
        Mirror {
            archive: rename(&self.archive),
            updates: self.updates.iter().map(rename).collect(),
        }
    }
}

/// The mirror for `codename`: this machine's own entries for it, else its
/// entries for the release it runs (`VERSION_CODENAME` in os-release) moved
/// to `codename` with [`Mirror::for_codename`].
pub fn detect_for(
    etc_apt: &Path,
    lists: &Path,
    os_release: &Path,
    codename: &str,
) -> Result<Mirror, String> {
    match detect(etc_apt, lists, codename) {
        Ok(mirror) => Ok(mirror),
        Err(none) => {
            let text = std::fs::read_to_string(os_release)
                .map_err(|e| format!("{none}; cannot read {}: {e}", os_release.display()))?;
            let ours = text
                .lines()
                .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
                .map(|v| v.trim_matches('"').to_string())
                .ok_or_else(|| {
                    format!("{none}; {} names no VERSION_CODENAME", os_release.display())
                })?;
            Ok(detect(etc_apt, lists, &ours)
                .map_err(|e| format!("{none}; {e}"))?
                .for_codename(codename))
        }
    }
}

/// Reads this machine's apt sources under `etc_apt` and apt's list cache
/// under `lists` (`/etc/apt`, `/var/lib/apt/lists`).
pub fn detect(etc_apt: &Path, lists: &Path, codename: &str) -> Result<Mirror, String> {
    let mut entries = Vec::new();
    let mut read = Vec::new();
    let main_list = etc_apt.join("sources.list");
    if let Ok(text) = std::fs::read_to_string(&main_list) {
        entries.extend(parse_one_line(&text));
        read.push(main_list.display().to_string());
    }
    let dir = etc_apt.join("sources.list.d");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    for file in files {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let parse: fn(&str) -> Vec<AptEntry> = if name.ends_with(".list") {
            parse_one_line
        } else if name.ends_with(".sources") {
            parse_deb822
        } else {
            continue; // apt ignores other names too (e.g. `*.disabled`)
        };
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        entries.extend(parse(&text));
        read.push(file.display().to_string());
    }
    choose(&entries, codename, |e| release_origin(lists, e))
        .ok_or_else(|| format!("no Debian archive entry for `{codename}` `main` in {read:?}"))
}

/// The pure part of [`detect`]: `origin` looks up an entry's Release origin.
pub fn choose(
    entries: &[AptEntry],
    codename: &str,
    origin: impl Fn(&AptEntry) -> Option<String>,
) -> Option<Mirror> {
    let is_debian = |e: &AptEntry| match origin(e) {
        Some(o) => o == "Debian",
        None => {
            e.signed_by
                .as_deref()
                .is_some_and(|k| k.contains("debian-archive-keyring"))
                || matches!(
                    e.uri.trim_end_matches('/').rsplit('/').next(),
                    Some("debian" | "debian-security")
                )
        }
    };
    let usable = |e: &&AptEntry| e.components.iter().any(|c| c == "main") && is_debian(e);
    let archive = entries
        .iter()
        .filter(usable)
        .find(|e| e.suite == codename)?;
    let mut updates: Vec<AptEntry> = Vec::new();
    for wanted in [
        format!("{codename}-updates"),
        format!("{codename}-security"),
    ] {
        if let Some(e) = entries.iter().filter(usable).find(|e| e.suite == wanted) {
            updates.push(e.clone());
        }
    }
    Some(Mirror {
        archive: archive.clone(),
        updates,
    })
}

/// `Origin:` of the entry's InRelease/Release in apt's list cache, named as
/// apt names it (URI without scheme, `/` -> `_`, then `dists_SUITE_`).
fn release_origin(lists: &Path, entry: &AptEntry) -> Option<String> {
    let uri = entry.uri.split_once("://").map_or(&*entry.uri, |(_, r)| r);
    let prefix = format!(
        "{}_dists_{}_",
        uri.trim_end_matches('/').replace('/', "_"),
        entry.suite.replace('/', "_")
    );
    ["InRelease", "Release"].iter().find_map(|name| {
        let text = std::fs::read_to_string(lists.join(format!("{prefix}{name}"))).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("Origin:"))
            .map(|o| o.trim().to_string())
    })
}

/// `deb [opt=val ...] URI SUITE COMPONENT...`; `deb-src` and comments skipped.
pub fn parse_one_line(text: &str) -> Vec<AptEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("deb ").or(line.strip_prefix("deb\t")) else {
            continue;
        };
        let mut rest = rest.trim_start();
        let mut signed_by = None;
        if let Some(opts) = rest.strip_prefix('[') {
            let Some((opts, tail)) = opts.split_once(']') else {
                continue;
            };
            signed_by = opts
                .split_whitespace()
                .find_map(|o| o.strip_prefix("signed-by="))
                .map(str::to_string);
            rest = tail.trim_start();
        }
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        out.push(AptEntry {
            uri: uri.to_string(),
            suite: suite.to_string(),
            components: words.map(str::to_string).collect(),
            signed_by,
        });
    }
    out
}

/// deb822 stanzas (`Types`, `URIs`, `Suites`, `Components`, `Signed-By`,
/// `Enabled`); one entry per URI and suite. A multi-line `Signed-By` (an
/// inline key) counts as "signed by something unnamed".
pub fn parse_deb822(text: &str) -> Vec<AptEntry> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    for stanza in lines.split(|l| l.trim().is_empty()) {
        let field = |name: &str| {
            stanza.iter().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (!l.starts_with([' ', '\t']) && k.trim().eq_ignore_ascii_case(name))
                    .then(|| v.trim().to_string())
            })
        };
        let words = |name: &str| -> Vec<String> {
            field(name)
                .map(|v| v.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default()
        };
        if !words("Types").iter().any(|t| t == "deb")
            || field("Enabled").is_some_and(|v| v.eq_ignore_ascii_case("no"))
        {
            continue;
        }
        let signed_by = field("Signed-By").filter(|v| !v.is_empty());
        for uri in words("URIs") {
            for suite in words("Suites") {
                out.push(AptEntry {
                    uri: uri.clone(),
                    suite,
                    components: words("Components"),
                    signed_by: signed_by.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const THIS_MACHINE: &str = "\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

    fn no_lists(_: &AptEntry) -> Option<String> {
        None
    }

    #[test]
    fn deb822_on_this_machine_picks_archive_updates_and_security() {
        let m = choose(&parse_deb822(THIS_MACHINE), "bookworm", no_lists).unwrap();
        assert_eq!(
            m.sources_list(),
            "deb http://deb.debian.org/debian bookworm main\n\
             deb http://deb.debian.org/debian bookworm-updates main\n\
             deb http://deb.debian.org/debian-security bookworm-security main\n"
        );
    }

    #[test]
    fn third_party_bookworm_main_is_ignored_even_when_listed_first() {
        let text = "\
deb [signed-by=/usr/share/keyrings/sury.gpg] https://packages.sury.org/php/ bookworm main
deb http://download.proxmox.com/debian/pve bookworm pve-no-subscription
deb-src http://ftp.de.debian.org/debian bookworm main
# deb http://old.example/debian bookworm main
deb [arch=amd64] http://ftp.de.debian.org/debian/ bookworm main contrib
deb http://security.debian.org/debian-security bookworm-security main
";
        let m = choose(&parse_one_line(text), "bookworm", no_lists).unwrap();
        assert_eq!(m.archive.uri, "http://ftp.de.debian.org/debian/");
        assert_eq!(m.updates.len(), 1);
        assert_eq!(m.updates[0].suite, "bookworm-security");
    }

    #[test]
    fn release_origin_beats_the_uri_heuristic() {
        let entries = parse_one_line(
            "deb http://repo.example.com/debian bookworm main\n\
             deb http://mirror.local/mirror bookworm main\n",
        );
        let origin = |e: &AptEntry| {
            Some(
                if e.uri.contains("mirror.local") {
                    "Debian"
                } else {
                    "Example"
                }
                .to_string(),
            )
        };
        let m = choose(&entries, "bookworm", origin).unwrap();
        assert_eq!(m.archive.uri, "http://mirror.local/mirror");
    }

    #[test]
    fn disabled_stanzas_deb_src_and_other_suites_do_not_count() {
        let text = "\
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
";
        assert_eq!(choose(&parse_deb822(text), "bookworm", no_lists), None);
    }

    #[test]
    fn release_file_name_follows_apt() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path()
                .join("deb.debian.org_debian_dists_bookworm_InRelease"),
            "Origin: Debian\nLabel: Debian\n",
        )
        .unwrap();
        let entry = &parse_one_line("deb http://deb.debian.org/debian/ bookworm main")[0];
        assert_eq!(release_origin(dir.path(), entry).as_deref(), Some("Debian"));
    }

    #[test]
    fn a_bookworm_machine_names_the_mirror_for_trixie() {
        let m = choose(&parse_deb822(THIS_MACHINE), "bookworm", no_lists)
            .unwrap()
            .for_codename("trixie");
        assert_eq!(
            m.sources_list(),
            "deb http://deb.debian.org/debian trixie main\n\
             deb http://deb.debian.org/debian trixie-updates main\n\
             deb http://deb.debian.org/debian-security trixie-security main\n"
        );
    }

    #[test]
    fn own_entries_for_the_release_win_over_moving_ours() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("apt");
        std::fs::create_dir_all(etc.join("sources.list.d")).unwrap();
        std::fs::write(
            etc.join("sources.list"),
            "deb http://ftp.example/debian bookworm main\n\
             deb http://other.example/debian trixie main\n",
        )
        .unwrap();
        let os = dir.path().join("os-release");
        std::fs::write(&os, "ID=debian\nVERSION_CODENAME=bookworm\n").unwrap();
        let m = detect_for(&etc, dir.path(), &os, "trixie").unwrap();
        assert_eq!(m.archive.uri, "http://other.example/debian");
        std::fs::write(
            etc.join("sources.list"),
            "deb http://ftp.example/debian bookworm main\n",
        )
        .unwrap();
        let m = detect_for(&etc, dir.path(), &os, "trixie").unwrap();
        assert_eq!(
            m.sources_list(),
            "deb http://ftp.example/debian trixie main\n"
        );
    }
}
