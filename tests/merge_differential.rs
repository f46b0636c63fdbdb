//! Differential test of the merge model against the real programs: for a
//! set of generated trees, what `lookup` says wins must be the last value
//! `/usr/lib/systemd/systemd-sysctl` and `/usr/sbin/sysctl --system` write.
//!
//! Each run happens inside `unshare -n -m`: the tree's directories are bind
//! mounted over the real sysctl.d directories in a private mount namespace,
//! and the trees hold only `net.*` keys, which are per network namespace, so
//! the host is never touched. Needs root; otherwise it prints `SKIPPED`.
//!
//! The oracle is what each program says it writes (systemd's debug log
//! `Setting '/proc/sys/K' to 'V'`, procps' `K = V` lines), not the values read
//! back: the kernel copies `conf.default.*` to interfaces on its own.

mod common;

use common::gate::{self, Need};
use pve_tcp_hardening::host::sysctl::merge::{read_tree, same_value, MergeMode};
use pve_tcp_hardening::host::sysctl::parse::key_to_relative_path;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

const SYSTEMD_SYSCTL: &str = "/usr/lib/systemd/systemd-sysctl";
const PROCPS_SYSCTL: &str = "/usr/sbin/sysctl";

/// Bind the tree ($1) over the real directories, then run the rest.
const IN_NAMESPACE: &str = r#"
T=$1; shift
mount --make-rprivate /
mount -t tmpfs tmpfs /run
mkdir -p /run/sysctl.d
if [ ! -d /usr/local/lib/sysctl.d ]; then
  mount -t tmpfs tmpfs /usr/local/lib
  mkdir -p /usr/local/lib/sysctl.d
fi
for d in etc/sysctl.d run/sysctl.d usr/local/lib/sysctl.d usr/lib/sysctl.d; do
  mount --bind "$T/$d" "/$d"
done
mount --bind "$T/etc/sysctl.conf" /etc/sysctl.conf
exec "$@"
"#;

/// Keys every check asks about; all exist in a fresh network namespace.
const KEYS: &[&str] = &[
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.conf.default.rp_filter",
    "net.ipv4.conf.lo.rp_filter",
    "net.ipv4.conf.all.log_martians",
    "net.ipv4.conf.lo.log_martians",
    "net.ipv4.tcp_sack",
    "net.ipv4.tcp_timestamps",
    "net.ipv4.tcp_rmem",
];

/// Lines the generator picks from: exact, slash, `-` prefixed, glob and
/// exclusion lines, with values each key accepts.
const LINES: &[&str] = &[
    "net.ipv4.conf.all.rp_filter = 2",
    "net.ipv4.conf.all.rp_filter = 1",
    "net/ipv4/conf/lo/rp_filter = 1",
    "net.ipv4.conf.*.rp_filter = 0",
    "net.ipv4.conf.*.rp_filter = 1",
    "net.ipv4.conf.l?.rp_filter = 2",
    "-net.ipv4.conf.lo.rp_filter",
    "-net.ipv4.conf.all.rp_filter",
    "net.ipv4.conf.[al]*.log_martians = 1",
    "net.ipv4.conf.l*.log_martians = 0",
    "net.ipv4.conf.*.log_martians = 1",
    "-net.ipv4.conf.lo.log_martians",
    "net.ipv4.tcp_sack = 0",
    "net.ipv4.tcp_sack = 1",
    "-net.ipv4.tcp_sack = 0",
    "net/ipv4/tcp_timestamps = 0",
    "net.ipv4.tcp_timestamps=1",
    "net.ipv4.tcp_rmem = 4096 87380 6291456",
    "net.ipv4.tcp_rmem = 4096\t131072  6291456",
    "# net.ipv4.tcp_sack = 1",
];

const DIRS: &[&str] = &[
    "etc/sysctl.d",
    "run/sysctl.d",
    "usr/local/lib/sysctl.d",
    "usr/lib/sysctl.d",
];

const NAMES: &[&str] = &[
    "10-pve.conf",
    "50-b.conf",
    "80_tcp_hardening.conf",
    "99-sysctl.conf",
    "pve-firewall.conf",
    ".hidden.conf",
];

/// A small deterministic generator (no extra crate for randomness).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn lines(rng: &mut Lcg) -> String {
    (0..1 + rng.next(4))
        .map(|_| format!("{}\n", LINES[rng.next(LINES.len())]))
        .collect()
}

fn generate_tree(root: &Path, seed: u64) {
    let mut rng = Lcg(seed);
    for d in DIRS {
        fs_err::create_dir_all(root.join(d)).unwrap();
    }
    // As on Debian: /lib is /usr/lib.
    std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
    fs_err::write(root.join("etc/sysctl.conf"), lines(&mut rng)).unwrap();
    for _ in 0..2 + rng.next(6) {
        let dir = root.join(DIRS[rng.next(DIRS.len())]);
        let path = dir.join(NAMES[rng.next(NAMES.len())]);
        if path.symlink_metadata().is_ok() {
            continue;
        }
        match rng.next(10) {
            0 => std::os::unix::fs::symlink("/dev/null", &path).unwrap(),
            1 => fs_err::write(&path, "").unwrap(),
            2 if dir.ends_with("etc/sysctl.d") => {
                std::os::unix::fs::symlink("../sysctl.conf", &path).unwrap()
            }
            _ => fs_err::write(&path, lines(&mut rng)).unwrap(),
        }
    }
}

/// Trees for the quirks random trees rarely hit: (host path, contents), a
/// contents starting with `->` is a symlink.
const HANDCRAFTED: &[&[(&str, &str)]] = &[
    // systemd: a glob repeated with an equal value keeps its old place.
    &[
        (
            "/etc/sysctl.d/10-a.conf",
            "net.ipv4.conf.*.log_martians = 1\n",
        ),
        (
            "/etc/sysctl.d/20-b.conf",
            "net.ipv4.conf.l*.log_martians = 0\n",
        ),
        (
            "/etc/sysctl.d/30-c.conf",
            "net.ipv4.conf.*.log_martians = 1\n",
        ),
    ],
    // systemd: a later exclusion cancels an exact setting; procps keeps it.
    &[
        (
            "/etc/sysctl.d/10-a.conf",
            "net.ipv4.conf.all.rp_filter = 2\n",
        ),
        (
            "/usr/lib/sysctl.d/20-b.conf",
            "-net.ipv4.conf.all.rp_filter\n",
        ),
    ],
    // The PVE layout: pve-firewall.conf sorts after ours and 99-sysctl.conf.
    &[
        (
            "/etc/sysctl.d/80_tcp_hardening.conf",
            "net.ipv4.conf.all.rp_filter = 1\nnet.ipv4.tcp_sack = 0\n",
        ),
        (
            "/usr/lib/sysctl.d/pve-firewall.conf",
            "net.ipv4.conf.all.rp_filter = 2\n",
        ),
        ("/etc/sysctl.d/99-sysctl.conf", "->../sysctl.conf"),
        ("/etc/sysctl.conf", "net.ipv4.tcp_sack = 1\n"),
        ("/usr/lib/sysctl.d/zz-late.conf", "net.ipv4.tcp_sack = 0\n"),
    ],
    // Masks of every kind in /etc hide /usr/lib files of the same name.
    &[
        ("/usr/lib/sysctl.d/10-a.conf", "net.ipv4.tcp_sack = 0\n"),
        ("/etc/sysctl.d/10-a.conf", "->/dev/null"),
        (
            "/usr/lib/sysctl.d/20-b.conf",
            "net.ipv4.tcp_timestamps = 0\n",
        ),
        ("/etc/sysctl.d/20-b.conf", "->/nonexistent"),
        (
            "/usr/lib/sysctl.d/30-c.conf",
            "net.ipv4.tcp_rmem = 4096 87380 6291456\n",
        ),
        ("/etc/sysctl.d/30-c.conf", "->../../usr/lib/sysctl.d"),
        (
            "/usr/lib/sysctl.d/40-d.conf",
            "net.ipv4.conf.all.rp_filter = 2\n",
        ),
        ("/etc/sysctl.d/40-d.conf", ""),
    ],
];

fn write_handcrafted(root: &Path, files: &[(&str, &str)]) {
    for d in DIRS {
        fs_err::create_dir_all(root.join(d)).unwrap();
    }
    std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
    fs_err::write(root.join("etc/sysctl.conf"), "").unwrap();
    for (host, contents) in files {
        let path = root.join(host.trim_start_matches('/'));
        let _ = fs_err::remove_file(&path);
        match contents.strip_prefix("->") {
            Some(target) => std::os::unix::fs::symlink(target, &path).unwrap(),
            None => fs_err::write(&path, contents).unwrap(),
        }
    }
}

/// Last value written per key path, from the program's own report.
fn run_real(root: &Path, mode: MergeMode) -> HashMap<String, String> {
    let mut cmd = Command::new("unshare");
    cmd.args(["-n", "-m", "sh", "-ec", IN_NAMESPACE, "sh"])
        .arg(root);
    match mode {
        MergeMode::SystemdSysctl => cmd.arg(SYSTEMD_SYSCTL).env("SYSTEMD_LOG_LEVEL", "debug"),
        MergeMode::ProcpsSystem => cmd.args([PROCPS_SYSCTL, "--system"]),
    };
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("mount:") && !stderr.contains("unshare:"),
        "namespace setup failed: {stderr}"
    );
    let mut written = HashMap::new();
    match mode {
        MergeMode::SystemdSysctl => {
            for line in stderr.lines().chain(stdout.lines()) {
                let Some(rest) = line.strip_prefix("Setting '/proc/sys/") else {
                    continue;
                };
                let (path, value) = rest.split_once("' to '").unwrap();
                written.insert(path.to_string(), value.trim_end_matches('\'').to_string());
            }
        }
        MergeMode::ProcpsSystem => {
            for line in stdout.lines().filter(|l| !l.starts_with("* ")) {
                let (key, value) = line.split_once(" = ").unwrap();
                written.insert(key_to_relative_path(key), value.to_string());
            }
        }
    }
    written
}

/// Root for the namespaces, both programs, and the directories the trees
/// are mounted over.
const NEEDS: &[Need] = &[
    Need::Root,
    Need::MountNamespace,
    Need::Tool(SYSTEMD_SYSCTL),
    Need::Tool(PROCPS_SYSCTL),
    Need::Dir("/etc/sysctl.d"),
    Need::Dir("/usr/lib/sysctl.d"),
];

#[test]
fn model_matches_systemd_sysctl_and_procps() {
    if gate::skipped(NEEDS) {
        return;
    }
    let mut mismatches = Vec::new();
    let mut values_compared = 0;
    let mut modes_differ = 0;
    for seed in 1..=(40 + HANDCRAFTED.len() as u64) {
        let dir = tempfile::tempdir().unwrap();
        match HANDCRAFTED.get(seed as usize - 1) {
            Some(files) => write_handcrafted(dir.path(), files),
            None => generate_tree(dir.path(), seed),
        }
        let mut winners = Vec::new();
        for mode in [MergeMode::SystemdSysctl, MergeMode::ProcpsSystem] {
            let tree = read_tree(dir.path(), mode).unwrap();
            let real = run_real(dir.path(), mode);
            for key in KEYS {
                let model = tree.lookup(key).map(|m| m.winner.value);
                let actual = real.get(&key_to_relative_path(key)).cloned();
                winners.push(model.clone());
                let agree = match (&model, &actual) {
                    (Some(m), Some(a)) => {
                        values_compared += 1;
                        same_value(m, a)
                    }
                    (None, None) => true,
                    _ => false,
                };
                if !agree {
                    mismatches.push(format!(
                        "tree {seed} (the first {} handcrafted) {mode:?} {key}: model {model:?}, real {actual:?}",
                        HANDCRAFTED.len()
                    ));
                }
            }
        }
        let (systemd, procps) = winners.split_at(KEYS.len());
        modes_differ += systemd.iter().zip(procps).filter(|(a, b)| a != b).count();
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // The trees must exercise the model, not agree on nothing.
    eprintln!("{values_compared} winners compared, {modes_differ} differ between modes");
    assert!(values_compared > 200 && modes_differ > 10);
}
