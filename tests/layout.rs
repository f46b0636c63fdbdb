//! The layout holds both ways. The host side (shipped on every node) never
//! uses the build side (profiles, templates, cargo-deb), the build side
//! never uses the host side, and the shared modules use neither: the two
//! sides meet only in the shared ones ([`SHARED`]: the contract, the
//! helper's command line, file and output helpers). And no two rooms of the
//! host side import each other, directly or round a circle
//! (status -> finish -> status): a noun one room shares with another gets
//! a room of its own. A workspace would enforce the first through its
//! dependency graph; this test does here, from the `crate::` and `super::`
//! paths each file names, at module granularity.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules both sides may use; they import neither side.
const SHARED: &[&str] = &[
    "atomic",
    "cli",
    "contract",
    "diagnostic",
    "files",
    "output",
    "tool",
];

/// Module -> the modules it names.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/host/status/mod.rs` -> `host::status`; `src/bin/x-y.rs` -> `bin::x-y`.
fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// The code of a file without comments and without its unit tests (whose
/// `super::*` means the file itself).
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path `text` names after `prefix` (`crate::`, `super::`...), with
/// `{a, b::c}` groups spread out: `host::{a, b::c}` -> `host::a`, `host::b::c`.
fn paths_after(text: &str, prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = text[from..].find(prefix) {
        let start = from + at;
        from = start + prefix.len();
        let before = start.checked_sub(1).map(|i| bytes[i]);
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':') {
            continue;
        }
        let (mut paths, _) = tree(&text[from..]);
        found.append(&mut paths);
    }
    found
}

/// The paths at the start of `text` (after a `::`), and how much it read.
fn tree(text: &str) -> (Vec<String>, usize) {
    let ident_len = text
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    if ident_len > 0 {
        let ident = &text[..ident_len];
        if let Some(rest) = text[ident_len..].strip_prefix("::") {
            let (tails, used) = tree(rest);
            let paths = if tails.is_empty() {
                vec![ident.to_string()]
            } else {
                tails.iter().map(|t| format!("{ident}::{t}")).collect()
            };
            return (paths, ident_len + 2 + used);
        }
        return (vec![ident.to_string()], ident_len);
    }
    if let Some(mut rest) = text.strip_prefix('{') {
        let mut used = 1;
        let mut paths = Vec::new();
        loop {
            let trimmed = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
            used += rest.len() - trimmed.len();
            rest = trimmed;
            if rest.starts_with('}') {
                return (paths, used + 1);
            }
            let (mut inner, n) = tree(rest);
            if n == 0 {
                return (paths, used);
            }
            paths.append(&mut inner);
            rest = &rest[n..];
            used += n;
        }
    }
    (Vec::new(), 0)
}

/// The longest known module a path starts with (`host::status::model::X`
/// -> `host::status::model`).
fn owning_module(path: &str, modules: &BTreeSet<String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|m| modules.contains(m))
}

/// What module `module` names, from its code.
fn imports_of(module: &str, text: &str, modules: &BTreeSet<String>) -> Vec<String> {
    let code = code(text);
    let mut named: Vec<String> = paths_after(&code, "crate::");
    named.extend(paths_after(&code, "pve_tcp_hardening::"));
    // `super::` of `a::b::c` is `a::b`, be it `a/b/c.rs` or `a/b/c/mod.rs`.
    let mut parent: Vec<&str> = module.split("::").collect();
    parent.pop();
    for path in paths_after(&code, "super::") {
        let mut base = parent.clone();
        let mut rest = path.as_str();
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        base.push(rest);
        named.push(base.join("::"));
    }
    named
        .iter()
        .filter_map(|p| owning_module(p, modules))
        .filter(|m| m != module)
        .collect()
}

/// The import graph of `src/`.
fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let files: Vec<(String, PathBuf)> = files
        .into_iter()
        .filter(|f| f != &src.join("lib.rs"))
        .map(|f| (module_of(f.strip_prefix(&src).unwrap()), f))
        .collect();
    let modules: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    files
        .iter()
        .map(|(module, file)| {
            let text = std::fs::read_to_string(file).unwrap();
            let imports = imports_of(module, &text, &modules);
            (module.clone(), imports.into_iter().collect())
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Build,
    Host,
    Shared,
}

fn side(module: &str) -> Option<Side> {
    let top = module.split("::").next().unwrap_or_default();
    match top {
        "build" => Some(Side::Build),
        "host" => Some(Side::Host),
        "bin" if module == "bin::pve-tcp-hardening-build" => Some(Side::Build),
        "bin" => Some(Side::Host),
        _ if SHARED.contains(&top) => Some(Side::Shared),
        _ => None,
    }
}

/// Each import across the boundary, and each module on no side.
fn boundary_violations(graph: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    for (module, imports) in graph {
        let Some(from) = side(module) else {
            found.push(format!("{module} is on no side (add it to SHARED?)"));
            continue;
        };
        for import in imports {
            let to = side(import);
            let allowed = to == Some(Side::Shared) || to == Some(from);
            if !allowed {
                found.push(format!("{module} ({from:?}) uses {import} ({to:?})"));
            }
        }
    }
    found
}

/// The room of a host module: `host::status::formats::nagios` -> `host::status`.
fn room(module: &str) -> Option<String> {
    let mut parts = module.split("::");
    (parts.next() == Some("host")).then(|| format!("host::{}", parts.next().unwrap_or_default()))
}

/// Sets of host rooms that import each other round a circle.
fn circles(graph: &Graph) -> Vec<BTreeSet<String>> {
    let mut rooms: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, imports) in graph {
        let Some(from) = room(module) else { continue };
        let entry = rooms.entry(from.clone()).or_default();
        entry.extend(
            imports
                .iter()
                .filter_map(|i| room(i))
                .filter(|to| *to != from),
        );
    }
    let reach = |start: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![start.to_string()];
        while let Some(r) = todo.pop() {
            for next in rooms.get(&r).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        rooms.keys().map(|r| (r, reach(r))).collect();
    let mut found: Vec<BTreeSet<String>> = Vec::new();
    for (r, from_r) in &reached {
        if !from_r.contains(*r) {
            continue;
        }
        let circle: BTreeSet<String> = from_r
            .iter()
            .filter(|o| reached.get(o).is_some_and(|back| back.contains(*r)))
            .cloned()
            .collect();
        if !found.contains(&circle) {
            found.push(circle);
        }
    }
    found
}

#[test]
fn the_sides_meet_only_in_the_shared_modules() {
    let graph = graph();
    assert!(graph.len() > 40, "too few modules found: {graph:?}");
    // The reader sees what it must: a sample of known imports.
    assert!(graph["host::status"].contains("host::finish"));
    assert!(graph["host::finish"].contains("host::sockets"));
    assert!(graph["build::package"].contains("contract"));
    let violations = boundary_violations(&graph);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn no_host_rooms_import_each_other_round_a_circle() {
    let circles = circles(&graph());
    assert!(circles.is_empty(), "import circles: {circles:?}");
}

/// The real graph with one more import.
fn with_import(from: &str, to: &str) -> Graph {
    let mut graph = graph();
    assert!(
        graph.contains_key(from) && graph.contains_key(to),
        "{from} {to}"
    );
    graph.get_mut(from).unwrap().insert(to.to_string());
    graph
}

#[test]
fn a_build_to_host_import_fails() {
    let found = boundary_violations(&with_import("build::package", "host::startup"));
    assert_eq!(
        found,
        ["build::package (Build) uses host::startup (Some(Host))"]
    );
    let found = boundary_violations(&with_import("bin::pve-tcp-hardening-build", "host::plan"));
    assert_eq!(found.len(), 1, "{found:?}");
}

#[test]
fn a_host_or_shared_to_build_import_fails() {
    let found = boundary_violations(&with_import("host::status::collect", "build::catalog"));
    assert_eq!(
        found,
        ["host::status::collect (Host) uses build::catalog (Some(Build))"]
    );
    let found = boundary_violations(&with_import("cli", "host::sysctl::apply"));
    assert_eq!(
        found,
        ["cli (Shared) uses host::sysctl::apply (Some(Host))"]
    );
}

#[test]
fn an_import_circle_between_host_rooms_fails() {
    // status -> finish exists; finish -> status closes the circle.
    let found = circles(&with_import("host::finish::policy", "host::status::model"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("host::finish") && found[0].contains("host::status"));
    // A longer one: sysctl is below status, plan and finish.
    let found = circles(&with_import("host::sysctl::merge", "host::plan::model"));
    assert!(found
        .iter()
        .any(|c| c.contains("host::sysctl") && c.contains("host::plan")));
}

#[test]
fn imports_are_read_from_use_lines_groups_super_and_inline_paths() {
    let modules: BTreeSet<String> = [
        "host::status",
        "host::status::model",
        "host::status::collect",
        "host::finish",
        "host::sockets",
        "host::sysctl::apply",
        "files",
        "cli",
    ]
    .iter()
    .map(|m| m.to_string())
    .collect();
    let text = "//! See [`crate::files`] (a comment: not an import).\n\
        use super::model::*;\n\
        use crate::host::{sockets::{ipv6_listeners, Listener}, sysctl::apply::read_value};\n\
        use crate::cli::StatusArgs;\n\
        fn f() { crate::host::finish::alternative_to_reboot_among(); }\n\
        #[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::host::status;\n}\n";
    let mut found = imports_of("host::status::collect", text, &modules);
    found.sort();
    assert_eq!(
        found,
        [
            "cli",
            "host::finish",
            "host::sockets",
            "host::sockets",
            "host::status::model",
            "host::sysctl::apply"
        ]
    );
    // In a mod.rs, `super::` is the parent of the module itself.
    let found = imports_of("host::status", "use super::sockets::Listener;", &modules);
    assert_eq!(found, ["host::sockets"]);
}
