//! Boot-time merge model on temp trees: each test builds a root, then asks
//! which file wins a key.

use pve_tcp_hardening::host::sysctl::merge::{
    later_overrides, read_tree, MergeMode, MergedTree, Override, Setter,
};
use std::path::{Path, PathBuf};

struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        Tree {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn file(self, host_path: &str, text: &str) -> Tree {
        let p = self.root().join(host_path.trim_start_matches('/'));
        fs_err::create_dir_all(p.parent().unwrap()).unwrap();
        fs_err::write(p, text).unwrap();
        self
    }

    fn symlink(self, host_path: &str, target: &str) -> Tree {
        let p = self.root().join(host_path.trim_start_matches('/'));
        fs_err::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
        self
    }

    fn read(&self, mode: MergeMode) -> MergedTree {
        read_tree(self.root(), mode)
    }

    /// (file, value) of the winner of `key`, or None.
    fn winner(&self, mode: MergeMode, key: &str) -> Option<(String, String)> {
        self.read(mode)
            .lookup(key)
            .map(|m| (m.winner.file.display().to_string(), m.winner.value))
    }
}

fn w(file: &str, value: &str) -> Option<(String, String)> {
    Some((file.to_string(), value.to_string()))
}

const BOTH: [MergeMode; 2] = [MergeMode::SystemdSysctl, MergeMode::ProcpsSystem];

#[test]
fn files_sort_by_name_across_directories() {
    let t = Tree::new()
        .file("/usr/lib/sysctl.d/90-b.conf", "net.ipv4.tcp_sack = 1\n")
        .file("/etc/sysctl.d/10-a.conf", "net.ipv4.tcp_sack = 0\n")
        .file("/run/sysctl.d/50-c.conf", "net.ipv4.tcp_sack = 2\n")
        .file("/etc/sysctl.d/README", "net.ipv4.tcp_sack = 9\n");
    for mode in BOTH {
        let merged = t.read(mode).lookup("net.ipv4.tcp_sack").unwrap();
        assert_eq!(
            merged.winner.file,
            PathBuf::from("/usr/lib/sysctl.d/90-b.conf")
        );
        let files: Vec<_> = merged.setters.iter().map(|s| s.file.clone()).collect();
        assert_eq!(
            files,
            [
                "/etc/sysctl.d/10-a.conf",
                "/run/sysctl.d/50-c.conf",
                "/usr/lib/sysctl.d/90-b.conf"
            ]
            .map(PathBuf::from)
        );
    }
}

#[test]
fn etc_beats_usr_lib_for_the_same_name() {
    let t = Tree::new()
        .file(
            "/usr/lib/sysctl.d/50-x.conf",
            "net.ipv4.tcp_sack = 1\nnet.ipv4.tcp_dsack = 1\n",
        )
        .file("/etc/sysctl.d/50-x.conf", "net.ipv4.tcp_sack = 0\n");
    for mode in BOTH {
        assert_eq!(
            t.winner(mode, "net.ipv4.tcp_sack"),
            w("/etc/sysctl.d/50-x.conf", "0")
        );
        // The shadowed file is not read at all.
        assert_eq!(t.winner(mode, "net.ipv4.tcp_dsack"), None);
    }
}

#[test]
fn masking_entries_hide_lower_files_and_set_nothing() {
    let t = Tree::new()
        .file("/usr/lib/sysctl.d/10-null.conf", "net.ipv4.tcp_sack = 1\n")
        .symlink("/etc/sysctl.d/10-null.conf", "/dev/null")
        .file(
            "/usr/lib/sysctl.d/20-empty.conf",
            "net.ipv4.tcp_dsack = 1\n",
        )
        .file("/etc/sysctl.d/20-empty.conf", "")
        .file(
            "/usr/lib/sysctl.d/30-dangling.conf",
            "net.ipv4.tcp_fack = 1\n",
        )
        .symlink("/etc/sysctl.d/30-dangling.conf", "/nonexistent")
        .file("/usr/lib/sysctl.d/40-dir.conf", "net.ipv4.tcp_ecn = 1\n")
        .symlink("/etc/sysctl.d/40-dir.conf", "../../usr/lib/sysctl.d");
    for mode in BOTH {
        for key in [
            "net.ipv4.tcp_sack",
            "net.ipv4.tcp_dsack",
            "net.ipv4.tcp_fack",
            "net.ipv4.tcp_ecn",
        ] {
            assert_eq!(t.winner(mode, key), None, "{key} in {mode:?}");
        }
    }
}

#[test]
fn symlinks_are_followed_inside_the_root() {
    let t = Tree::new()
        .file("/etc/sysctl.conf", "net.ipv4.tcp_sack = 0\n")
        .symlink("/etc/sysctl.d/99-sysctl.conf", "../sysctl.conf")
        .file("/srv/abs.conf", "net.ipv4.tcp_dsack = 0\n")
        .symlink("/etc/sysctl.d/98-abs.conf", "/srv/abs.conf");
    let merged = t.read(MergeMode::SystemdSysctl);
    assert_eq!(
        merged.lookup("net.ipv4.tcp_sack").unwrap().winner,
        Setter {
            file: "/etc/sysctl.d/99-sysctl.conf".into(),
            lineno: 1,
            value: "0".into(),
            glob: None,
        }
    );
    assert_eq!(
        merged.lookup("net.ipv4.tcp_dsack").unwrap().winner.value,
        "0"
    );
}

#[test]
fn slash_keys_and_ignore_failure_keys_set_the_same_key() {
    let t = Tree::new()
        .file("/etc/sysctl.d/10-a.conf", "net.ipv4.tcp_sack = 0\n")
        .file("/etc/sysctl.d/20-b.conf", "net/ipv4/tcp_sack = 1\n")
        .file("/etc/sysctl.d/30-c.conf", "# c\n-net.ipv4.tcp_sack = 2\n");
    for mode in BOTH {
        let merged = t.read(mode).lookup("net/ipv4/tcp_sack").unwrap();
        assert_eq!(merged.key, "net.ipv4.tcp_sack");
        assert_eq!(merged.winner.value, "2");
        assert_eq!(merged.winner.lineno, 2);
        assert_eq!(merged.setters.len(), 3);
    }
}

#[test]
fn exact_keys_beat_globs_whatever_the_order() {
    let t = Tree::new()
        .file(
            "/etc/sysctl.d/10-a.conf",
            "net.ipv4.conf.all.rp_filter = 2\n",
        )
        .file("/etc/sysctl.d/20-b.conf", "net.ipv4.conf.*.rp_filter = 1\n");
    for mode in BOTH {
        assert_eq!(
            t.winner(mode, "net.ipv4.conf.all.rp_filter"),
            w("/etc/sysctl.d/10-a.conf", "2")
        );
        assert_eq!(
            t.winner(mode, "net.ipv4.conf.lo.rp_filter"),
            w("/etc/sysctl.d/20-b.conf", "1")
        );
        let setters = t
            .read(mode)
            .lookup("net.ipv4.conf.all.rp_filter")
            .unwrap()
            .setters;
        assert_eq!(setters.len(), 2, "glob lines are listed as setters");
    }
}

#[test]
fn glob_repeats_with_an_equal_value_keep_their_place_in_systemd_only() {
    let t = Tree::new()
        .file(
            "/etc/sysctl.d/10-a.conf",
            "net.ipv4.conf.*.log_martians = 1\n",
        )
        .file(
            "/etc/sysctl.d/20-b.conf",
            "net.ipv4.conf.l*.log_martians = 0\n",
        )
        .file(
            "/etc/sysctl.d/30-c.conf",
            "net.ipv4.conf.*.log_martians = 1\n",
        );
    let key = "net.ipv4.conf.lo.log_martians";
    assert_eq!(
        t.winner(MergeMode::SystemdSysctl, key),
        w("/etc/sysctl.d/20-b.conf", "0")
    );
    assert_eq!(
        t.winner(MergeMode::ProcpsSystem, key),
        w("/etc/sysctl.d/30-c.conf", "1")
    );
}

#[test]
fn exclusions_keep_globs_off_and_cancel_in_systemd() {
    let t = Tree::new()
        .file(
            "/etc/sysctl.d/10-a.conf",
            "net.ipv4.conf.*.log_martians = 1\n-net.ipv4.conf.lo.log_martians\n\
             net.ipv4.conf.*.rp_filter = 1\n-net.ipv4.conf.l*.rp_filter\n\
             net.ipv4.conf.all.arp_ignore = 2\n",
        )
        .file("/etc/sysctl.d/20-b.conf", "-net.ipv4.conf.all.arp_ignore\n");
    for mode in BOTH {
        assert_eq!(t.winner(mode, "net.ipv4.conf.lo.log_martians"), None);
        assert_eq!(
            t.winner(mode, "net.ipv4.conf.all.log_martians").unwrap().1,
            "1"
        );
        // Glob exclusions are not honoured by either program.
        assert_eq!(t.winner(mode, "net.ipv4.conf.lo.rp_filter").unwrap().1, "1");
    }
    assert_eq!(
        t.winner(MergeMode::SystemdSysctl, "net.ipv4.conf.all.arp_ignore"),
        None
    );
    assert_eq!(
        t.winner(MergeMode::ProcpsSystem, "net.ipv4.conf.all.arp_ignore"),
        w("/etc/sysctl.d/10-a.conf", "2")
    );
}

#[test]
fn procps_reads_sysctl_conf_again_at_the_end_and_lib_and_hidden_files() {
    let t = Tree::new()
        .file("/etc/sysctl.conf", "net.ipv4.tcp_sack = 0\n")
        .symlink("/etc/sysctl.d/99-sysctl.conf", "../sysctl.conf")
        .file("/usr/lib/sysctl.d/zz-late.conf", "net.ipv4.tcp_sack = 1\n")
        .file("/lib/sysctl.d/60-lib.conf", "net.ipv4.tcp_dsack = 0\n")
        .file("/etc/sysctl.d/.hidden.conf", "net.ipv4.tcp_fack = 0\n");
    let key = "net.ipv4.tcp_sack";
    assert_eq!(
        t.winner(MergeMode::SystemdSysctl, key),
        w("/usr/lib/sysctl.d/zz-late.conf", "1")
    );
    assert_eq!(
        t.winner(MergeMode::ProcpsSystem, key),
        w("/etc/sysctl.conf", "0")
    );
    let procps = t.read(MergeMode::ProcpsSystem);
    assert_eq!(procps.lookup(key).unwrap().setters.len(), 3);
    assert_eq!(
        procps.files().last().unwrap(),
        Path::new("/etc/sysctl.conf")
    );
    assert_eq!(
        t.winner(MergeMode::SystemdSysctl, "net.ipv4.tcp_dsack"),
        None
    );
    assert_eq!(
        t.winner(MergeMode::ProcpsSystem, "net.ipv4.tcp_dsack")
            .unwrap()
            .1,
        "0"
    );
    assert_eq!(
        t.winner(MergeMode::SystemdSysctl, "net.ipv4.tcp_fack"),
        None
    );
    assert_eq!(
        t.winner(MergeMode::ProcpsSystem, "net.ipv4.tcp_fack")
            .unwrap()
            .1,
        "0"
    );
}

/// The layout of a Proxmox VE 8 host (FACTS.md) plus our file.
fn pve_host() -> Tree {
    Tree::new()
        .file(
            "/usr/lib/sysctl.d/10-pve.conf",
            "net.bridge.bridge-nf-call-ip6tables = 0\nnet.bridge.bridge-nf-call-iptables = 0\n\
             net.bridge.bridge-nf-call-arptables = 0\nnet.bridge.bridge-nf-filter-vlan-tagged = 0\n\
             net.ipv4.igmp_link_local_mcast_reports = 0\nfs.aio-max-nr = 1048576\n",
        )
        .file(
            "/usr/lib/sysctl.d/pve-firewall.conf",
            "net.ipv4.conf.all.rp_filter = 2\n",
        )
        .file(
            "/usr/lib/sysctl.d/50-pid-max.conf",
            "kernel.pid_max = 4194304\n",
        )
        .file(
            "/usr/lib/sysctl.d/99-protect-links.conf",
            "fs.protected_symlinks = 1\n",
        )
        .file(
            "/etc/sysctl.d/pve.conf",
            "net.ipv4.igmp_link_local_mcast_reports = 0\n",
        )
        .file("/etc/sysctl.conf", "#net.ipv4.tcp_syncookies=1\n")
        .symlink("/etc/sysctl.d/99-sysctl.conf", "../sysctl.conf")
        .file(
            "/etc/sysctl.d/80_tcp_hardening.conf",
            "net.ipv4.conf.all.rp_filter = 1\nnet.ipv4.tcp_rmem = 4096 87380 6291456\n\
             net.ipv4.tcp_syncookies = 1\n",
        )
}

#[test]
fn pve_firewall_beats_our_rp_filter() {
    let t = pve_host();
    for mode in BOTH {
        assert_eq!(
            t.winner(mode, "net.ipv4.conf.all.rp_filter"),
            w("/usr/lib/sysctl.d/pve-firewall.conf", "2")
        );
    }
    let wanted: Vec<(String, String)> = [
        ("net.ipv4.conf.all.rp_filter", "1"),
        ("net.ipv4.tcp_rmem", "4096  87380\t6291456"),
        ("net.ipv4.tcp_syncookies", "1"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .to_vec();
    assert_eq!(
        later_overrides(t.root(), "80_tcp_hardening.conf", &wanted).found,
        [Override {
            key: "net.ipv4.conf.all.rp_filter".into(),
            ours: "1".into(),
            file: "/usr/lib/sysctl.d/pve-firewall.conf".into(),
            lineno: 1,
            value: "2".into(),
        }]
    );
}

#[test]
fn later_overrides_ignores_earlier_files_equal_values_and_globs() {
    let t = pve_host()
        .file(
            "/etc/sysctl.d/10-early.conf",
            "net.ipv4.tcp_syncookies = 0\n",
        )
        .file(
            "/etc/sysctl.d/90-same.conf",
            "net.ipv4.tcp_rmem = 4096 87380 6291456\n",
        )
        .file(
            "/etc/sysctl.d/95-glob.conf",
            "net.ipv4.conf.*.rp_filter = 0\n",
        )
        .file(
            "/etc/sysctl.d/96-exclude.conf",
            "-net.ipv4.tcp_syncookies\n",
        );
    let wanted: Vec<(String, String)> = [
        ("net.ipv4.tcp_rmem", "4096 87380 6291456"),
        ("net.ipv4.tcp_syncookies", "1"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .to_vec();
    let got = later_overrides(t.root(), "80_tcp_hardening.conf", &wanted).found;
    // Only the exclusion line, which makes systemd drop our syncookies.
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].file, PathBuf::from("/etc/sysctl.d/96-exclude.conf"));
    assert_eq!(got[0].value, "");
}

#[test]
fn missing_directories_are_an_empty_tree() {
    let t = Tree::new();
    for mode in BOTH {
        assert!(t.read(mode).files().is_empty());
        assert_eq!(t.winner(mode, "net.ipv4.tcp_sack"), None);
    }
}

#[test]
fn systemd_simplifies_key_spellings_procps_does_not() {
    // (spelling, whether procps reaches the key with it)
    for (spelling, procps_reaches) in [
        ("net/ipv4/tcp_sack", true),
        ("/net/ipv4/tcp_sack", true),
        ("net..ipv4.tcp_sack", true),
        ("net/./ipv4/tcp_sack", true),
        // procps opens `net/ipv4/tcp_sack/`: not a directory.
        ("net.ipv4.tcp_sack.", false),
    ] {
        let t = Tree::new()
            .file("/etc/sysctl.d/10-a.conf", "net.ipv4.tcp_sack = 0\n")
            .file(
                "/etc/sysctl.d/90-b.conf",
                &format!("{spelling} = 1\nnet.ipv4.conf.*.rp_filter. = 2\n"),
            );
        let systemd = t.winner(MergeMode::SystemdSysctl, "net.ipv4.tcp_sack");
        assert_eq!(systemd, w("/etc/sysctl.d/90-b.conf", "1"), "{spelling}");
        // procps writes every line as spelled, in order.
        let procps = t.winner(MergeMode::ProcpsSystem, "net.ipv4.tcp_sack");
        let want = match procps_reaches {
            true => w("/etc/sysctl.d/90-b.conf", "1"),
            false => w("/etc/sysctl.d/10-a.conf", "0"),
        };
        assert_eq!(procps, want, "{spelling}");
        // A separator after a glob: procps and systemd both reach the keys.
        for mode in BOTH {
            assert_eq!(
                t.winner(mode, "net.ipv4.conf.lo.rp_filter"),
                w("/etc/sysctl.d/90-b.conf", "2"),
                "{mode:?}"
            );
        }
    }
}

#[test]
fn systemd_exact_spelling_wins_over_a_glob_only_when_it_is_the_same_key() {
    // For systemd `net/ipv4/conf/all/rp_filter.` is the exact key, so the
    // glob skips it; procps spells it `.../rp_filter/`, which no glob match
    // equals, so the glob line writes it after the exact line... in order.
    let t = Tree::new().file(
        "/etc/sysctl.d/10-a.conf",
        "net.ipv4.conf.all.rp_filter. = 1\nnet.ipv4.conf.*.rp_filter = 2\n",
    );
    assert_eq!(
        t.winner(MergeMode::SystemdSysctl, "net.ipv4.conf.all.rp_filter"),
        w("/etc/sysctl.d/10-a.conf", "1")
    );
    assert_eq!(
        t.winner(MergeMode::ProcpsSystem, "net.ipv4.conf.all.rp_filter"),
        w("/etc/sysctl.d/10-a.conf", "2")
    );
}

#[test]
fn a_glob_exclusion_spelled_like_the_glob_cancels_it_in_systemd() {
    let t = Tree::new()
        .file("/etc/sysctl.d/10-a.conf", "net.ipv4.conf.*.rp_filter = 2\n")
        .file("/etc/sysctl.d/20-b.conf", "-net.ipv4.conf.*.rp_filter\n");
    assert_eq!(
        t.winner(MergeMode::SystemdSysctl, "net.ipv4.conf.lo.rp_filter"),
        None
    );
    assert_eq!(
        t.winner(MergeMode::ProcpsSystem, "net.ipv4.conf.lo.rp_filter"),
        w("/etc/sysctl.d/10-a.conf", "2")
    );
}

#[test]
fn control_characters_and_a_dash_with_a_space() {
    let t = Tree::new().file(
        "/etc/sysctl.d/10-a.conf",
        "net.ipv4.tcp_sack = 0\rnet.ipv4.tcp_dsack = 0\n\
         net.ipv4.tcp_timestamps = 0\0net.ipv4.tcp_ecn = 2\n\
         net.ipv4.tcp_fack\x0b= 1\n\
         - net.ipv4.tcp_syncookies = 2\n",
    );
    let systemd = |key| t.winner(MergeMode::SystemdSysctl, key);
    let procps = |key| t.winner(MergeMode::ProcpsSystem, key);
    let file = "/etc/sysctl.d/10-a.conf";
    // CR and NUL end a line for systemd only.
    assert_eq!(systemd("net.ipv4.tcp_sack"), w(file, "0"));
    assert_eq!(systemd("net.ipv4.tcp_dsack"), w(file, "0"));
    assert_eq!(
        procps("net.ipv4.tcp_sack"),
        w(file, "0\rnet.ipv4.tcp_dsack = 0")
    );
    assert_eq!(procps("net.ipv4.tcp_dsack"), None);
    assert_eq!(systemd("net.ipv4.tcp_ecn"), w(file, "2"));
    assert_eq!(procps("net.ipv4.tcp_ecn"), None);
    // \v is a blank for procps (isspace), part of the key for systemd.
    assert_eq!(procps("net.ipv4.tcp_fack"), w(file, "1"));
    assert_eq!(systemd("net.ipv4.tcp_fack"), None);
    // `- key`: systemd strips the blank after the dash, procps does not.
    assert_eq!(systemd("net.ipv4.tcp_syncookies"), w(file, "2"));
    assert_eq!(procps("net.ipv4.tcp_syncookies"), None);
}

#[test]
fn odd_globs_do_not_crash_the_model() {
    let t = Tree::new().file(
        "/etc/sysctl.d/10-a.conf",
        "net.ipv4.conf.[[:].rp_filter = 1\nnet/.* = 1\nnet/ipv4/conf/[[.a.]]ll/rp_filter = 2\n",
    );
    for mode in BOTH {
        assert_eq!(
            t.winner(mode, "net.ipv4.conf.all.rp_filter"),
            w("/etc/sysctl.d/10-a.conf", "2"),
            "{mode:?}"
        );
        assert_eq!(t.winner(mode, "net.ipv4.conf.lo.rp_filter"), None);
    }
}
