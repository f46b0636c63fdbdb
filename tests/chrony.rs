//! chrony: the `-4` transform as a table, and the diversion run for real
//! through dpkg-divert against a temp root.

use pve_tcp_hardening::host::chrony::{
    add_ipv4_only, ChronyDiversion, GeneratedState, UndivertOutcome,
};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

const STOCK: &str = include_str!("fixtures/chrony/debian12-default-chrony");

#[test]
fn transform_table() {
    let cases: &[(&str, &str)] = &[
        ("DAEMON_OPTS=\"-F 1\"\n", "DAEMON_OPTS=\"-4 -F 1\"\n"),
        ("DAEMON_OPTS='-F 1'\n", "DAEMON_OPTS='-4 -F 1'\n"),
        ("DAEMON_OPTS=-F1\n", "DAEMON_OPTS=\"-4 -F1\"\n"),
        ("DAEMON_OPTS=\"\"\n", "DAEMON_OPTS=\"-4\"\n"),
        ("DAEMON_OPTS=''\n", "DAEMON_OPTS='-4'\n"),
        ("DAEMON_OPTS=\n", "DAEMON_OPTS=\"-4\"\n"),
        (
            "export DAEMON_OPTS=\"-F 1\"\n",
            "export DAEMON_OPTS=\"-4 -F 1\"\n",
        ),
        (
            "  \tDAEMON_OPTS=\"-F 1\"\n",
            "  \tDAEMON_OPTS=\"-4 -F 1\"\n",
        ),
        // No final newline: none added.
        ("DAEMON_OPTS=\"-F 1\"", "DAEMON_OPTS=\"-4 -F 1\""),
        // CRLF: the CR stays after the closing quote.
        (
            "# c\r\nDAEMON_OPTS=\"-F 1\"\r\n",
            "# c\r\nDAEMON_OPTS=\"-4 -F 1\"\r\n",
        ),
        ("DAEMON_OPTS=-F1\r\n", "DAEMON_OPTS=\"-4 -F1\"\r\n"),
        // Trailing comment and a following command are kept.
        (
            "DAEMON_OPTS=\"-F 1\"  # why\n",
            "DAEMON_OPTS=\"-4 -F 1\"  # why\n",
        ),
        (
            "DAEMON_OPTS=\"-F 1\"; export DAEMON_OPTS\n",
            "DAEMON_OPTS=\"-4 -F 1\"; export DAEMON_OPTS\n",
        ),
        // Commented assignments are not the active one.
        (
            "#DAEMON_OPTS=\"-x\"\nDAEMON_OPTS=\"-F 1\"\n# DAEMON_OPTS=\"-y\"\n",
            "#DAEMON_OPTS=\"-x\"\nDAEMON_OPTS=\"-4 -F 1\"\n# DAEMON_OPTS=\"-y\"\n",
        ),
        // Several assignments: sh keeps the last, so only it changes.
        (
            "DAEMON_OPTS=\"-a\"\nDAEMON_OPTS=\"-F 1\"\n",
            "DAEMON_OPTS=\"-a\"\nDAEMON_OPTS=\"-4 -F 1\"\n",
        ),
        // Already IPv4-only: unchanged.
        ("DAEMON_OPTS=\"-F 1 -4\"\n", "DAEMON_OPTS=\"-F 1 -4\"\n"),
        ("DAEMON_OPTS=-4\n", "DAEMON_OPTS=-4\n"),
        // `-46` is not the `-4` word.
        ("DAEMON_OPTS=\"-46\"\n", "DAEMON_OPTS=\"-4 -46\"\n"),
        // Expansion: we cannot see the value, so -4 goes in front anyway.
        (
            "DAEMON_OPTS=\"$OTHER -F 1\"\n",
            "DAEMON_OPTS=\"-4 $OTHER -F 1\"\n",
        ),
        ("DAEMON_OPTS=$OTHER\n", "DAEMON_OPTS=\"-4 $OTHER\"\n"),
        // Mixed quoting: a quoted prefix, concatenated by sh.
        (
            "DAEMON_OPTS=\"-F\"' 1'\n",
            "DAEMON_OPTS=\"-4 \"\"-F\"' 1'\n",
        ),
        // No assignment at all: appended.
        ("# nothing\n", "# nothing\nDAEMON_OPTS=\"-4\"\n"),
        ("# nothing", "# nothing\nDAEMON_OPTS=\"-4\"\n"),
        ("", "DAEMON_OPTS=\"-4\"\n"),
        (
            "#DAEMON_OPTS=\"-F 1\"\r\n",
            "#DAEMON_OPTS=\"-F 1\"\r\nDAEMON_OPTS=\"-4\"\r\n",
        ),
        // Similar names are not ours.
        (
            "MY_DAEMON_OPTS=\"-F 1\"\n",
            "MY_DAEMON_OPTS=\"-F 1\"\nDAEMON_OPTS=\"-4\"\n",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(&add_ipv4_only(input).unwrap(), want, "input {input:?}");
    }
}

#[test]
fn transform_refuses_what_it_cannot_edit_safely() {
    let cases: &[(&str, &str)] = &[
        ("# c\nDAEMON_OPTS=\"-F \\\n 1\"\n", "line 2"),
        ("DAEMON_OPTS=-F\\\n1\n", "line 1"),
        ("\n\nDAEMON_OPTS=\"-F 1\n1\"\n", "line 3"),
        ("DAEMON_OPTS='-F 1\n", "unterminated"),
        ("DAEMON_OPTS=\"$(cat /x)\"\n", "command substitution"),
        ("DAEMON_OPTS=`cat /x`\n", "command substitution"),
        ("DAEMON_OPTS=\"-F 1\" chronyd\n", "more words"),
    ];
    for (input, want) in cases {
        let err = format!("{:#}", add_ipv4_only(input).unwrap_err());
        assert!(err.contains(want), "input {input:?}: {err}");
        assert!(err.contains("DAEMON_OPTS"), "names the line: {err}");
    }
}

#[test]
fn debian12_stock_file() {
    let out = add_ipv4_only(STOCK).unwrap();
    assert_eq!(
        out,
        STOCK.replace("DAEMON_OPTS=\"-F 1\"", "DAEMON_OPTS=\"-4 -F 1\"")
    );
    assert_eq!(out.len(), STOCK.len() + 3);
    assert_eq!(add_ipv4_only(&out).unwrap(), out, "idempotent");
}

/// A temp root with what dpkg-divert needs (only `var/lib/dpkg/`) and
/// chrony's conffile installed.
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn with_chrony(text: &str, mode: u32) -> Root {
        let root = Root::without_chrony();
        let conf = root.path("/etc/default/chrony");
        fs_err::write(&conf, text).unwrap();
        fs_err::set_permissions(&conf, std::fs::Permissions::from_mode(mode)).unwrap();
        root
    }

    fn without_chrony() -> Root {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(dir.path().join("var/lib/dpkg")).unwrap();
        fs_err::create_dir_all(dir.path().join("etc/default")).unwrap();
        Root { dir }
    }

    fn path(&self, host: &str) -> std::path::PathBuf {
        self.dir.path().join(host.trim_start_matches('/'))
    }

    fn diversion(&self, package: &str) -> ChronyDiversion {
        ChronyDiversion::new(self.dir.path(), package, "pve-tcp-hardening")
    }

    fn read(&self, host: &str) -> String {
        fs_err::read_to_string(self.path(host)).unwrap()
    }

    fn diversions_file(&self) -> String {
        self.read("/var/lib/dpkg/diversions")
    }
}

fn mode_and_owner(p: &Path) -> (u32, u32, u32) {
    let m = fs_err::metadata(p).unwrap();
    (m.mode() & 0o7777, m.uid(), m.gid())
}

#[test]
fn divert_write_undivert_round_trip() {
    let root = Root::with_chrony(STOCK, 0o640);
    let d = root.diversion("pve-tcp-hardening");
    assert!(!d.is_diverted().unwrap());

    d.divert().unwrap();
    assert!(d.is_diverted().unwrap());
    assert_eq!(root.read("/etc/default/chrony.orig"), STOCK);
    assert!(!root.path("/etc/default/chrony").exists());
    assert_eq!(d.write_generated().unwrap(), GeneratedState::Written);
    let generated = root.read("/etc/default/chrony");
    assert_eq!(generated.matches("-4").count(), 1);
    assert!(generated.contains("DAEMON_OPTS=\"-4 -F 1\""));
    assert_eq!(
        mode_and_owner(&root.path("/etc/default/chrony")),
        mode_and_owner(&root.path("/etc/default/chrony.orig"))
    );

    // Twice: one diversion, one -4, nothing rewritten.
    d.divert().unwrap();
    assert_eq!(d.write_generated().unwrap(), GeneratedState::Unchanged);
    assert_eq!(root.read("/etc/default/chrony"), generated);
    assert_eq!(root.diversions_file().lines().count(), 3);

    assert_eq!(d.undivert().unwrap(), UndivertOutcome::Restored);
    assert_eq!(root.read("/etc/default/chrony"), STOCK);
    assert_eq!(mode_and_owner(&root.path("/etc/default/chrony")).0, 0o640);
    assert!(!root.path("/etc/default/chrony.orig").exists());
    assert_eq!(root.diversions_file(), "");
    assert_eq!(d.undivert().unwrap(), UndivertOutcome::NotDiverted);
}

#[test]
fn generated_file_follows_a_new_orig() {
    let root = Root::with_chrony(STOCK, 0o644);
    let d = root.diversion("pve-tcp-hardening");
    d.divert().unwrap();
    d.write_generated().unwrap();
    // A chrony upgrade writes its new conffile to .orig (FACTS.md).
    fs_err::write(
        root.path("/etc/default/chrony.orig"),
        "DAEMON_OPTS=\"-F 2\"\n",
    )
    .unwrap();
    assert_eq!(d.write_generated().unwrap(), GeneratedState::Written);
    assert_eq!(
        root.read("/etc/default/chrony"),
        "DAEMON_OPTS=\"-4 -F 2\"\n"
    );
}

#[test]
fn without_chrony_nothing_is_written() {
    let root = Root::without_chrony();
    let d = root.diversion("pve-tcp-hardening");
    d.divert().unwrap();
    assert!(d.is_diverted().unwrap());
    assert_eq!(
        d.write_generated().unwrap(),
        GeneratedState::ChronyNotInstalled
    );
    assert!(!root.path("/etc/default/chrony").exists());
    assert_eq!(d.undivert().unwrap(), UndivertOutcome::KeptAdminFile);
    assert_eq!(root.diversions_file(), "");
}

#[test]
fn write_generated_refuses_without_our_diversion() {
    let root = Root::with_chrony(STOCK, 0o644);
    fs_err::write(root.path("/etc/default/chrony.orig"), STOCK).unwrap();
    let err = root
        .diversion("pve-tcp-hardening")
        .write_generated()
        .unwrap_err();
    assert!(format!("{err:#}").contains("not diverted"), "{err:#}");
    assert_eq!(root.read("/etc/default/chrony"), STOCK);
}

#[test]
fn a_sibling_variant_diversion_is_taken_over() {
    let root = Root::with_chrony(STOCK, 0o644);
    let sibling = root.diversion("pve-tcp-hardening-stealth");
    sibling.divert().unwrap();
    sibling.write_generated().unwrap();

    let ours = root.diversion("pve-tcp-hardening");
    ours.divert().unwrap();
    assert!(ours.is_diverted().unwrap());
    assert!(!sibling.is_diverted().unwrap());
    assert_eq!(root.read("/etc/default/chrony.orig"), STOCK);
    assert_eq!(ours.write_generated().unwrap(), GeneratedState::Written);
    assert_eq!(root.read("/etc/default/chrony").matches("-4").count(), 1);
    assert_eq!(
        root.diversions_file().lines().nth(2),
        Some("pve-tcp-hardening")
    );
}

#[test]
fn a_foreign_diversion_is_an_error() {
    let root = Root::with_chrony(STOCK, 0o644);
    root.diversion("someone-else").divert().unwrap();
    let err = root.diversion("pve-tcp-hardening").divert().unwrap_err();
    assert!(format!("{err:#}").contains("someone-else"), "{err:#}");
}

#[test]
fn undivert_keeps_the_admins_file_when_orig_was_deleted() {
    let root = Root::with_chrony(STOCK, 0o644);
    let d = root.diversion("pve-tcp-hardening");
    d.divert().unwrap();
    d.write_generated().unwrap();
    fs_err::remove_file(root.path("/etc/default/chrony.orig")).unwrap();
    let outcome = d.undivert().unwrap();
    assert_eq!(outcome, UndivertOutcome::KeptAdminFile);
    assert!(outcome.note().unwrap().contains("chrony.orig"));
    assert!(root.read("/etc/default/chrony").contains("-4 -F 1"));
    assert_eq!(root.diversions_file(), "");
}

#[test]
fn unparsable_orig_is_an_error_naming_the_file_and_line() {
    let root = Root::with_chrony("DAEMON_OPTS=\"-F \\\n1\"\n", 0o644);
    let d = root.diversion("pve-tcp-hardening");
    d.divert().unwrap();
    let err = format!("{:#}", d.write_generated().unwrap_err());
    assert!(
        err.contains("chrony.orig") && err.contains("line 1"),
        "{err}"
    );
    assert!(!root.path("/etc/default/chrony").exists());
}
