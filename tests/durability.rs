//! Issue 29: what the helper writes is on disk before the step that relies
//! on it. The real helper runs a first install on a fake host under strace;
//! in its own process (not dpkg-divert's, not postconf's), every rename is
//! preceded by an fsync of the file renamed and followed by an fsync of
//! the target's directory, every mkdir and unlink by an fsync of the
//! parent, each before the next change; and the snapshot is durable before
//! the first value is written to (the fake) /proc/sys.

mod common;

use common::fake_host::{profile, FakeHost};
use common::gate::{self, Need};
use std::path::Path;
use std::process::Command;

/// One system call of the trace that changes something.
#[derive(Debug)]
enum Event {
    Fsync(String),
    Rename {
        from: String,
        to: String,
    },
    Mkdir(String),
    Unlink(String),
    /// A file opened for writing under the proc root: a value applied.
    ProcWrite(String),
}

/// The quoted paths of a strace line, and the `<path>` of fd arguments.
fn quoted(line: &str) -> Vec<String> {
    line.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn parse(trace: &str, pid: &str, proc_root: &str) -> Vec<Event> {
    let mut events = Vec::new();
    for line in trace.lines() {
        let Some((p, call)) = line.split_once(' ') else {
            continue;
        };
        if p != pid || call.contains("= -1") || call.contains("<unfinished") {
            continue;
        }
        let call = call.trim_start();
        if call.starts_with("fsync(") || call.starts_with("fdatasync(") {
            let path = call.split_once('<').and_then(|(_, r)| r.split_once('>'));
            events.push(Event::Fsync(path.expect("strace -y").0.to_string()));
        } else if call.starts_with("rename") {
            let q = quoted(call);
            let [.., from, to] = &q[..] else { continue };
            events.push(Event::Rename {
                from: from.clone(),
                to: to.clone(),
            });
        } else if call.starts_with("mkdir") {
            events.push(Event::Mkdir(quoted(call).pop().expect("path")));
        } else if call.starts_with("unlink") {
            events.push(Event::Unlink(quoted(call).pop().expect("path")));
        } else if call.starts_with("openat(")
            && (call.contains("O_WRONLY") || call.contains("O_RDWR"))
            // Keys are opened relative to their directory's descriptor,
            // which `-y` shows as `<path>`.
            && call.contains(proc_root)
        {
            events.push(Event::ProcWrite(call.to_string()));
        }
    }
    events
}

fn parent(path: &str) -> String {
    Path::new(path).parent().unwrap().display().to_string()
}

/// Whether `dir` is fsynced after event `i` before any further change.
fn dir_synced_after(events: &[Event], i: usize, dir: &str) -> bool {
    for e in &events[i + 1..] {
        match e {
            Event::Fsync(p) if p == dir => return true,
            Event::Fsync(_) => {}
            _ => return false,
        }
    }
    false
}

#[test]
fn every_change_is_fsynced_before_the_next_step() {
    if gate::skipped(&[Need::Tool("strace")]) {
        return;
    }
    let host = FakeHost::new().with_postfix("inet_interfaces = localhost\n");
    host.unpack(&profile("default"));
    let root = host.path("").display().to_string();
    let root = root.trim_end_matches('/');
    let proc_root = host.proc_root().display().to_string();
    let trace_dir = tempfile::tempdir().unwrap();
    let trace_file = trace_dir.path().join("trace");
    let out = Command::new("strace")
        .args(["-f", "-qq", "-y", "-o"])
        .arg(&trace_file)
        .args([
            "-e",
            "trace=fsync,fdatasync,rename,renameat,renameat2,mkdir,mkdirat,unlink,unlinkat,openat",
            env!("CARGO_BIN_EXE_pve-tcp-hardening"),
            "maint",
            "--root",
            root,
            "--proc",
        ])
        .arg(host.proc.path())
        .args(["postinst", "configure"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trace = std::fs::read_to_string(&trace_file).unwrap();
    let pid = trace
        .split_whitespace()
        .next()
        .expect("a trace")
        .to_string();
    let events = parse(&trace, &pid, &proc_root);

    let mut problems = Vec::new();
    let mut renames = 0;
    for (i, e) in events.iter().enumerate() {
        match e {
            Event::Rename { from, to } if to.starts_with(root) => {
                renames += 1;
                let synced_before = events[..i]
                    .iter()
                    .any(|e| matches!(e, Event::Fsync(p) if p == from));
                if !synced_before {
                    problems.push(format!("{to}: renamed from {from} without an fsync of it"));
                }
                if !dir_synced_after(&events, i, &parent(to)) {
                    problems.push(format!("{to}: its directory not fsynced after the rename"));
                }
            }
            Event::Mkdir(path) | Event::Unlink(path)
                if path.starts_with(root) && !dir_synced_after(&events, i, &parent(path)) =>
            {
                problems.push(format!(
                    "{e:?}: the parent not fsynced before the next change"
                ));
            }
            _ => {}
        }
    }
    // The dependency that matters most: the values from before are on disk
    // before the first one is overwritten.
    let snapshot = format!("{root}/var/lib/pve-tcp-hardening/snapshot.conf");
    let snapshot_at = events
        .iter()
        .position(|e| matches!(e, Event::Rename { to, .. } if *to == snapshot))
        .expect("the snapshot is written by rename");
    let (first_value, first_open) = events
        .iter()
        .enumerate()
        .find_map(|(i, e)| match e {
            Event::ProcWrite(call) => Some((i, call)),
            _ => None,
        })
        .expect("values are applied");
    assert!(
        snapshot_at < first_value && dir_synced_after(&events, snapshot_at, &parent(&snapshot)),
        "the snapshot is not durable before the first value is written ({first_open})"
    );
    assert!(
        renames >= 6,
        "only {renames} renames traced: the trace misses the helper's writes\n{trace}"
    );
    assert!(
        problems.is_empty(),
        "{}\n--- trace\n{trace}",
        problems.join("\n")
    );
}
