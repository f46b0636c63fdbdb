//! Differential test of the merge model against the real programs: for a
//! set of generated trees, what `lookup` says wins must be the last value
//! `/usr/lib/systemd/systemd-sysctl` and `/usr/sbin/sysctl --system` write.
//! The trees mix fixed lines with generated ones (`sysctl_gen`: every
//! spelling of a key, globs, `\v`/`\f`, CR and NUL inside lines, `- key`);
//! `make fuzz` runs many more seeds (`PTH_FUZZ_SEED`, `PTH_FUZZ_CASES`) and
//! prints a mismatch shrunk to the fewest lines.
//!
//! The same trees run against Debian 13's programs too (systemd-sysctl 257,
//! procps 4.0.4), inside the e2e harness's trixie chroot
//! (`model_matches_trixie_systemd_sysctl_and_procps`); where they part from
//! the model (which follows systemd 252 and procps 4.0.2) the difference is
//! listed there, and the test fails if the list is no longer exact.
//!
//! Each run happens inside `unshare -n -m`: the tree's directories are bind
//! mounted over the real sysctl.d directories in a private mount namespace,
//! and the trees hold only `net.*` keys, which are per network namespace, so
//! the host is never touched. Needs root; otherwise it prints `SKIPPED`.
//!
//! The oracle is what each program says it writes (systemd's debug log
//! `Setting '/proc/sys/K' to 'V'`, procps' `K = V` lines of `--dry-run`),
//! not the values read back: the kernel copies `conf.default.*` to
//! interfaces on its own, and refuses values such as `1\v` that the model
//! still reports as the line that decides.

mod sysctl_gen;

mod common;
#[allow(dead_code, unused_imports)] // the base chroots of the e2e harness
#[path = "e2e/harness/mod.rs"]
mod harness;

use common::gate::{self, Need};
use pve_tcp_hardening::host::sysctl::merge::{read_tree, MergeMode};
use pve_tcp_hardening::host::sysctl::parse::key_to_relative_path;
use pve_tcp_hardening::host::sysctl::value::same_value;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use sysctl_gen::{shrink, spelled_line, Rng};

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
    "net.ipv4.conf.default.log_martians",
    "net.ipv4.conf.lo.log_martians",
    "net.ipv4.conf.all.accept_redirects",
    "net.ipv4.conf.lo.accept_redirects",
    "net.ipv4.tcp_sack",
    "net.ipv4.tcp_timestamps",
    "net.ipv4.tcp_dsack",
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
    "-net.ipv4.conf.*.rp_filter",
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

/// A tree as a list of items, so that a mismatch can be shrunk item by
/// item: `HOST\tLINE` is one line of a file (a file's lines keep their
/// order), `HOST\t->TARGET` a symlink, `HOST\t` an empty file.
type Items = Vec<String>;

/// Lines for one file: fixed ones, generated spellings, and now and then
/// two settings on one line joined by CR or NUL (systemd ends a line at
/// either, procps at neither).
fn lines(rng: &mut Rng, host: &str) -> Items {
    (0..1 + rng.below(4))
        .map(|_| {
            let line = match rng.below(10) {
                0..=4 => format!("{}\n", LINES[rng.below(LINES.len())]),
                5 => {
                    let first = spelled_line(rng, 20);
                    let joint = if rng.chance(50) { "\r" } else { "\0" };
                    format!(
                        "{}{joint}{}",
                        first.trim_end_matches('\n'),
                        spelled_line(rng, 20)
                    )
                }
                _ => spelled_line(rng, 20),
            };
            format!("{host}\t{line}")
        })
        .collect()
}

fn generate_items(seed: u64) -> Items {
    let mut rng = Rng::new(seed);
    let mut items = lines(&mut rng, "/etc/sysctl.conf");
    let mut used = Vec::new();
    for _ in 0..2 + rng.below(6) {
        let dir = DIRS[rng.below(DIRS.len())];
        let host = format!("/{dir}/{}", NAMES[rng.below(NAMES.len())]);
        if used.contains(&host) {
            continue;
        }
        used.push(host.clone());
        match rng.below(10) {
            0 => items.push(format!("{host}\t->/dev/null")),
            1 => items.push(format!("{host}\t")),
            2 if dir == "etc/sysctl.d" => items.push(format!("{host}\t->../sysctl.conf")),
            _ => items.extend(lines(&mut rng, &host)),
        }
    }
    items
}

/// Trees for the quirks random trees rarely hit: (host path, contents), a
/// contents starting with `->` is a symlink.
const HANDCRAFTED: &[&[(&str, &str)]] = &[
    // Braces: systemd expands a glob with GLOB_BRACE (glob_extend); procps
    // does not; without `*?[` it is no glob for either.
    &[
        (
            "/etc/sysctl.d/10-a.conf",
            "net.ipv4.conf.{a*,lo}.rp_filter = 2\nnet.ipv4.conf.{all,lo}.log_martians = 1\n",
        ),
        (
            "/etc/sysctl.d/20-b.conf",
            "net.ipv4.conf.{default,l?}.accept_redirects = 0\n",
        ),
    ],
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
    // systemd: a glob exclusion spelled like the glob cancels it.
    &[
        (
            "/etc/sysctl.d/10-a.conf",
            "net.ipv4.conf.*.rp_filter = 2\n",
        ),
        ("/etc/sysctl.d/20-b.conf", "-net.ipv4.conf.*.rp_filter\n"),
    ],
    // Spellings systemd simplifies to one key, and a separator after a glob.
    &[
        (
            "/etc/sysctl.d/10-a.conf",
            "net.ipv4.tcp_sack = 0\nnet.ipv4.tcp_timestamps = 0\nnet.ipv4.tcp_dsack = 0\n",
        ),
        (
            "/etc/sysctl.d/20-b.conf",
            "/net/ipv4/tcp_sack = 1\nnet..ipv4.tcp_timestamps = 1\nnet/./ipv4/tcp_dsack = 1\n",
        ),
        (
            "/etc/sysctl.d/30-c.conf",
            "net.ipv4.tcp_sack. = 0\nnet.ipv4.conf.*.rp_filter. = 2\nnet.ipv4.conf.all.log_martians. = 1\nnet.ipv4.conf.*.log_martians = 0\n",
        ),
    ],
    // CR and NUL inside lines, \v and \f, `- key`.
    &[(
        "/etc/sysctl.d/10-a.conf",
        "net.ipv4.tcp_sack = 0\rnet.ipv4.tcp_dsack = 0\n\
         net.ipv4.tcp_timestamps = 0\0net.ipv4.conf.all.rp_filter = 2\n\
         net.ipv4.conf.lo.rp_filter\x0b= 1\n\
         \x0cnet.ipv4.conf.all.log_martians = 1\x0b\n\
         - net.ipv4.conf.lo.log_martians = 1\n",
    )],
    // Globs glibc reads its own way.
    &[(
        "/etc/sysctl.d/10-a.conf",
        "net.ipv4.conf.[[:].rp_filter = 1\nnet/.* = 1\nnet/ipv4/conf/[[.a.]]ll/rp_filter = 2\n\
         net/ipv4/conf/*/log\\_martians = 1\nnet/ipv4/conf/*/accept_redirects\\ = 0\n",
    )],
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

/// systemd reads a line of at most 1 MiB (LONG_LINE_MAX) and stops reading
/// the file at a longer one ("No buffer space available"); the settings
/// before it stay. Around the limit, with LF and CRLF line ends.
fn long_line_trees() -> Vec<(String, Items)> {
    const LIMIT: usize = 1 << 20;
    let mut trees = Vec::new();
    for len in [LIMIT - 1, LIMIT, LIMIT + 1] {
        // A comment: a long value would be cut in systemd's debug log, the
        // oracle, not in what it writes.
        let line = format!("#{}", "x".repeat(len - 1));
        {
            for eol in ["\n", "\r\n"] {
                let file = "/etc/sysctl.d/20-long.conf";
                let items = vec![
                    format!("{file}\tnet.ipv4.tcp_sack = 0{eol}"),
                    format!("{file}\t{line}{eol}"),
                    format!("{file}\tnet.ipv4.tcp_dsack = 0{eol}"),
                    format!("/etc/sysctl.d/30-next.conf\tnet.ipv4.tcp_timestamps = 0\n"),
                ];
                trees.push((format!("a comment line of {len} bytes, {eol:?}"), items));
            }
        }
    }
    trees
}

fn handcrafted_items(files: &[(&str, &str)]) -> Items {
    let mut items = Vec::new();
    for (host, contents) in files {
        if contents.is_empty() || contents.starts_with("->") {
            items.push(format!("{host}\t{contents}"));
        } else {
            items.extend(
                contents
                    .split_inclusive('\n')
                    .map(|l| format!("{host}\t{l}")),
            );
        }
    }
    items
}

/// Create the tree `items` describe under `root` (always with the four
/// directories, `/lib -> usr/lib` as on Debian, and `/etc/sysctl.conf`).
fn write_tree(root: &Path, items: &[String]) {
    for d in DIRS {
        fs_err::create_dir_all(root.join(d)).unwrap();
    }
    std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
    fs_err::write(root.join("etc/sysctl.conf"), "").unwrap();
    let mut files: Vec<(&str, String)> = Vec::new();
    for item in items {
        let (host, content) = item.split_once('\t').unwrap();
        match files.iter_mut().find(|(h, _)| *h == host) {
            Some((_, text)) => text.push_str(content),
            None => files.push((host, content.to_string())),
        }
    }
    for (host, contents) in files {
        let path = root.join(host.trim_start_matches('/'));
        match contents.strip_prefix("->") {
            Some(target) => std::os::unix::fs::symlink(target, &path).unwrap(),
            None => fs_err::write(&path, contents).unwrap(),
        }
    }
}

/// The file a path below /proc/sys opens (`.`, `..` and empty components
/// resolved; every key here is a plain file in a plain directory).
fn resolve(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    parts.join("/")
}

/// Bind the tree ($1) over the directories of the release root $R, then
/// run the rest there.
const IN_RELEASE_ROOT: &str = r#"
T=$1; shift
mkdir -p "$R/run/sysctl.d" "$R/usr/local/lib/sysctl.d"
[ -e "$R/etc/sysctl.conf" ] || touch "$R/etc/sysctl.conf"
for d in etc/sysctl.d run/sysctl.d usr/local/lib/sysctl.d usr/lib/sysctl.d; do
  mount --bind "$T/$d" "$R/$d"
done
mount --bind "$T/etc/sysctl.conf" "$R/etc/sysctl.conf"
exec chroot "$R" "$@"
"#;

/// Whose programs answer: this machine's, or those of a release's chroot.
#[derive(Clone, Copy)]
enum Oracle {
    Host,
    Chroot(&'static Path),
}

/// Last value written per key path, from the program's own report.
fn run_real(root: &Path, mode: MergeMode, oracle: Oracle) -> HashMap<String, String> {
    let mut cmd = Command::new("unshare");
    match oracle {
        Oracle::Host => {
            let script = format!("{}{IN_NAMESPACE}", common::GLOBAL_NET_KEYS_READ_ONLY);
            cmd.args(["-n", "-m", "sh", "-ec", &script, "sh"]).arg(root);
        }
        Oracle::Chroot(release_root) => {
            let script = format!("{}{IN_RELEASE_ROOT}", common::RELEASE_ROOT_NAMESPACE);
            cmd.args(["-n", "-m", "sh", "-ec", &script, "sh"])
                .arg(root)
                .env("R", release_root);
        }
    }
    match mode {
        MergeMode::SystemdSysctl => cmd.arg(SYSTEMD_SYSCTL).env("SYSTEMD_LOG_LEVEL", "debug"),
        MergeMode::ProcpsSystem => cmd.args([PROCPS_SYSCTL, "--dry-run", "--system"]),
    };
    let out = cmd.env("LC_ALL", "C").output().unwrap();
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
                let value = value.strip_suffix('\'').unwrap_or(value);
                written.insert(resolve(path), value.to_string());
            }
        }
        MergeMode::ProcpsSystem => {
            for line in stdout
                .split('\n')
                .filter(|l| !l.is_empty() && !l.starts_with("* "))
            {
                let (key, value) = line.split_once(" = ").unwrap();
                written.insert(resolve(&key_to_relative_path(key)), value.to_string());
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

/// Keys where the model and the program disagree on `items`, in `mode`.
fn mismatches(items: &[String], mode: MergeMode, oracle: Oracle) -> (Vec<String>, usize) {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), items);
    let tree = read_tree(dir.path(), mode);
    let real = run_real(dir.path(), mode, oracle);
    let mut wrong = Vec::new();
    let mut compared = 0;
    for key in KEYS {
        let model = tree.lookup(key).map(|m| m.winner.value);
        let actual = real.get(&key_to_relative_path(key)).cloned();
        let agree = match (&model, &actual) {
            (Some(m), Some(a)) => {
                compared += 1;
                same_value(m, a)
            }
            (None, None) => true,
            _ => false,
        };
        if !agree {
            wrong.push(format!("{key}: model {model:?}, real {actual:?}"));
        }
    }
    (wrong, compared)
}

#[test]
fn model_matches_systemd_sysctl_and_procps() {
    if gate::skipped(NEEDS) {
        return;
    }
    let failures = compare_with(Oracle::Host);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Debian 13's systemd-sysctl 257 and procps 4.0.4, from the e2e harness's
/// trixie chroot, against the same trees and the same model.
#[test]
fn model_matches_trixie_systemd_sysctl_and_procps() {
    if harness::gate::skipped("merge-differential-trixie") {
        return;
    }
    let root = harness::base::extracted(harness::Release::Trixie).expect("gate passed");
    for (program, version) in [(SYSTEMD_SYSCTL, "systemd 257 "), (PROCPS_SYSCTL, " 4.0.4")] {
        let out = Command::new("chroot")
            .arg(root)
            .args([program, "--version"])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains(version),
            "{program} in {}: {said}",
            root.display()
        );
    }
    let failures = compare_with(Oracle::Chroot(root));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every tree (handcrafted, then generated) in both modes against
/// `oracle`: the failures, each shrunk to the fewest items.
fn compare_with(oracle: Oracle) -> Vec<String> {
    let mut failures = Vec::new();
    let mut values_compared = 0;
    let mut modes_differ = 0;
    let handcrafted = HANDCRAFTED
        .iter()
        .map(|files| ("handcrafted".to_string(), handcrafted_items(files)))
        .chain(long_line_trees());
    let generated =
        sysctl_gen::seeds(1, 40).map(|seed| (format!("seed {seed}"), generate_items(seed)));
    let mut trees = 0;
    for (name, items) in handcrafted.chain(generated) {
        trees += 1;
        let mut winners = Vec::new();
        for mode in [MergeMode::SystemdSysctl, MergeMode::ProcpsSystem] {
            let (wrong, compared) = mismatches(&items, mode, oracle);
            values_compared += compared;
            if !wrong.is_empty() {
                let small = shrink(items.clone(), &mut |i: &[String]| {
                    !mismatches(i, mode, oracle).0.is_empty()
                });
                failures.push(format!(
                    "tree {name}, {mode:?}:\n  {}\n  shrunk to {small:#?}\n  {}",
                    wrong.join("\n  "),
                    mismatches(&small, mode, oracle).0.join("\n  ")
                ));
            }
            let dir = tempfile::tempdir().unwrap();
            write_tree(dir.path(), &items);
            let tree = read_tree(dir.path(), mode);
            winners.push(
                KEYS.iter()
                    .map(|k| tree.lookup(k).map(|m| m.winner.value))
                    .collect::<Vec<_>>(),
            );
        }
        modes_differ += winners[0]
            .iter()
            .zip(&winners[1])
            .filter(|(a, b)| a != b)
            .count();
    }
    // The trees must exercise the model, not agree on nothing.
    eprintln!("{values_compared} winners compared, {modes_differ} differ between modes");
    assert!(values_compared > 4 * trees && modes_differ > trees / 4);
    failures
}

/// A value the kernel refuses is no boot value (issue 29): systemd-sysctl
/// writes `1008\f` (`\f` is no blank to it) and an empty value, the kernel
/// answers EINVAL and the key keeps what it had: an earlier write that
/// still happens, or (as systemd's map replaced our entry by the refused
/// one) the namespace's own value. The model's `held`, what `status` shows
/// at boot, must be the value read back after the real systemd-sysctl ran
/// (`None`: the value from before it ran); `winner` stays the last write.
#[test]
fn a_value_the_kernel_refuses_leaves_the_earlier_value_in_force() {
    if gate::skipped(NEEDS) {
        return;
    }
    let items = handcrafted_items(&[
        (
            "etc/sysctl.d/10-first.conf",
            "net.ipv4.tcp_fin_timeout = 33\nnet.ipv4.tcp_keepalive_time = 4444\n\
             net.ipv4.tcp_keepalive_intvl = 55\nnet.ipv4.tcp_syn_retries =\n",
        ),
        (
            "etc/sysctl.d/20-refused.conf",
            "net.ipv4.tcp_fin_timeout = 1008\x0c\nnet.ipv4.tcp_keepalive_time =\n\
             net.ipv4.tcp_keepalive_intvl = 66\nnet.ipv4.tcp_syn_retries = 4\n",
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), &items);
    let names = [
        "tcp_fin_timeout",
        "tcp_keepalive_time",
        "tcp_keepalive_intvl",
        "tcp_syn_retries",
    ];
    let script = format!("{}{IN_NAMESPACE}", common::GLOBAL_NET_KEYS_READ_ONLY);
    let read_back = format!(
        "cd /proc/sys/net/ipv4 && cat {0} && {SYSTEMD_SYSCTL} 2>/dev/null; cat {0}",
        names.join(" ")
    );
    let out = Command::new("unshare")
        .args(["-n", "-m", "sh", "-ec", &script, "sh"])
        .arg(dir.path())
        .args(["sh", "-c", &read_back])
        .output()
        .unwrap();
    let values: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(values.len(), 2 * names.len(), "{values:?}");
    let (before, after) = values.split_at(names.len());
    assert_ne!(after[2], before[2], "the namespace took no value at all");
    let tree = read_tree(dir.path(), MergeMode::SystemdSysctl);
    let mut refused = 0;
    for (i, name) in names.iter().enumerate() {
        let key = format!("net.ipv4.{name}");
        let merged = tree.lookup(&key).expect("set");
        refused += usize::from(merged.held.as_ref() != Some(&merged.winner));
        let held = merged.held.map(|h| h.value);
        assert_eq!(
            held.as_deref().unwrap_or(&before[i]),
            after[i],
            "{key}: model holds {held:?} (winner {:?}); before {}, after {}",
            merged.winner.value,
            before[i],
            after[i]
        );
    }
    assert_eq!(
        refused, 2,
        "fin_timeout and keepalive_time end on a refused write"
    );
}
