//! Pattern expansion as procps-ng 4.0.2 gets it from glibc `glob(3)`: key
//! globs below the proc root (no flags: existing paths only, sorted) and file
//! arguments (`GLOB_NOCHECK | GLOB_BRACE | GLOB_TILDE`). Only the features
//! sysctl files and admins' command lines use are covered: `*`, `?`,
//! brackets with ranges, negation and `[:class:]`, backslash escapes,
//! `FNM_PERIOD`, braces and a leading `~` / `~/`. Sorting is bytewise, which
//! is what glibc's `strcoll` does in the C locale.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// procps' `string_is_glob`: any of `*?[` sends a key through `glob(3)`.
pub(super) fn has_glob_chars(text: &str) -> bool {
    text.bytes().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// Expand the key path `rel` (text after `/proc/sys/`) below `root`. The
/// matches keep the pattern's own spelling (separators, literal parts).
pub(super) fn expand_below_root(root: &[u8], rel: &str) -> Vec<String> {
    let real = |text: &[u8]| join_below(root, text);
    walk(rel.as_bytes(), &real)
        .into_iter()
        .map(|m| String::from_utf8_lossy(&m).into_owned())
        .collect()
}

/// `root/rel` by plain concatenation, as procps builds `/proc/sys/` + key
/// (`Path::join` would drop the root for a key starting with `/`).
pub(super) fn join_below(root: &[u8], rel: &[u8]) -> PathBuf {
    let mut full = root.to_vec();
    full.push(b'/');
    full.extend_from_slice(rel);
    PathBuf::from(OsStr::from_bytes(&full))
}

/// Expand one file argument of `sysctl -p`; with `GLOB_NOCHECK` a pattern
/// that matches nothing stands for itself.
pub(super) fn expand_file_argument(arg: &str) -> Vec<PathBuf> {
    let real = |text: &[u8]| {
        let text = if text.is_empty() { b"." as &[u8] } else { text };
        PathBuf::from(OsStr::from_bytes(text))
    };
    let mut found = Vec::new();
    for alternative in expand_braces(arg.as_bytes()) {
        let pattern = expand_tilde(&alternative);
        found.extend(walk(&pattern, &real));
    }
    if found.is_empty() {
        return vec![PathBuf::from(arg)];
    }
    found
        .into_iter()
        .map(|m| PathBuf::from(OsStr::from_bytes(&m)))
        .collect()
}

/// glibc's `GLOB_BRACE`: the first `{a,b}` group, recursively, in order.
fn expand_braces(pattern: &[u8]) -> Vec<Vec<u8>> {
    let Some((open, close)) = find_brace_group(pattern) else {
        return vec![pattern.to_vec()];
    };
    let (prefix, body, suffix) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    split_top_level_commas(body)
        .into_iter()
        .flat_map(|alt| {
            let mut joined = prefix.to_vec();
            joined.extend_from_slice(alt);
            joined.extend_from_slice(suffix);
            expand_braces(&joined)
        })
        .collect()
}

fn find_brace_group(pattern: &[u8]) -> Option<(usize, usize)> {
    let open = unescaped_positions(pattern).find(|&i| pattern[i] == b'{')?;
    let mut depth = 0usize;
    for i in unescaped_positions(pattern).filter(|&i| i > open) {
        match pattern[i] {
            b'{' => depth += 1,
            b'}' if depth == 0 => return Some((open, i)),
            b'}' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn split_top_level_commas(body: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for i in unescaped_positions(body) {
        match body[i] {
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                parts.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&body[start..]);
    parts
}

/// Positions of bytes not escaped by a backslash.
fn unescaped_positions(text: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let mut escaped = false;
    text.iter().enumerate().filter_map(move |(i, &b)| {
        if escaped {
            escaped = false;
            return None;
        }
        escaped = b == b'\\';
        (!escaped).then_some(i)
    })
}

/// glibc's `GLOB_TILDE` for `~` and `~/...` (the caller's `$HOME`).
fn expand_tilde(pattern: &[u8]) -> Vec<u8> {
    let home = std::env::var_os("HOME");
    match (pattern.strip_prefix(b"~"), home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with(b"/") => {
            let mut expanded = home.as_bytes().to_vec();
            expanded.extend_from_slice(rest);
            expanded
        }
        _ => pattern.to_vec(),
    }
}

/// One path component of a pattern and the separator run after it.
struct Component<'a> {
    text: &'a [u8],
    separators: &'a [u8],
}

fn split_components(pattern: &[u8]) -> (&[u8], Vec<Component<'_>>) {
    let lead = pattern.iter().take_while(|&&b| b == b'/').count();
    let mut components = Vec::new();
    let mut rest = &pattern[lead..];
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
        let seps = rest[end..].iter().take_while(|&&b| b == b'/').count();
        components.push(Component {
            text: &rest[..end],
            separators: &rest[end..end + seps],
        });
        rest = &rest[end + seps..];
    }
    (&pattern[..lead], components)
}

/// Walk the pattern component by component like glibc: wildcard components
/// read their directory, literal ones are appended and only the last one is
/// checked with `lstat`. A trailing `/` keeps directories only.
fn walk(pattern: &[u8], real: &dyn Fn(&[u8]) -> PathBuf) -> Vec<Vec<u8>> {
    let (lead, components) = split_components(pattern);
    let mut candidates = vec![lead.to_vec()];
    let count = components.len();
    for (index, component) in components.iter().enumerate() {
        let last = index + 1 == count;
        let mut next = Vec::new();
        for prefix in &candidates {
            for name in component_matches(prefix, component.text, last, real) {
                let mut path = prefix.clone();
                path.extend_from_slice(&name);
                if last && !component.separators.is_empty() && !real(&path).is_dir() {
                    continue;
                }
                path.extend_from_slice(component.separators);
                next.push(path);
            }
        }
        candidates = next;
    }
    if components.is_empty() && std::fs::symlink_metadata(real(lead)).is_err() {
        return Vec::new();
    }
    candidates.sort();
    candidates
}

/// Names below `prefix` that `component` stands for.
fn component_matches(
    prefix: &[u8],
    component: &[u8],
    last: bool,
    real: &dyn Fn(&[u8]) -> PathBuf,
) -> Vec<Vec<u8>> {
    if !is_magic(component) {
        let name = unescape(component);
        let mut path = prefix.to_vec();
        path.extend_from_slice(&name);
        // glibc checks a literal component only at the end of the pattern;
        // earlier ones fail later when their directory cannot be read.
        if last && std::fs::symlink_metadata(real(&path)).is_err() {
            return Vec::new();
        }
        return vec![name];
    }
    // Unreadable or missing directories just match nothing (no GLOB_ERR).
    let Ok(entries) = std::fs::read_dir(real(prefix)) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            // GLOB_ONLYDIR for inner components: skip what is surely no dir.
            last || entry
                .file_type()
                .map_or(true, |t| t.is_dir() || t.is_symlink())
        })
        .map(|entry| entry.file_name().as_bytes().to_vec())
        .filter(|name| fnmatch(component, name))
        .collect()
}

/// glibc's `__glob_pattern_type`: `*`, `?`, or a `[` closed later.
fn is_magic(component: &[u8]) -> bool {
    let mut open_bracket = false;
    for i in unescaped_positions(component) {
        match component[i] {
            b'*' | b'?' => return true,
            b'[' => open_bracket = true,
            b']' if open_bracket => return true,
            _ => {}
        }
    }
    false
}

fn unescape(text: &[u8]) -> Vec<u8> {
    unescaped_positions(text)
        .filter(|&i| text[i] != b'\\' || i + 1 == text.len())
        .map(|i| text[i])
        .collect()
}

/// Whether glob(3) would expand `pattern` (a key path under the proc root,
/// `/`-separated) to `path`: the same number of components, each matched
/// by fnmatch. The boot-time merge model uses this for glob lines, so the
/// one matcher here serves both `apply` and `merge`.
pub(crate) fn path_matches(pattern: &str, path: &str) -> bool {
    let (mut pattern, mut path) = (pattern.split('/'), path.split('/'));
    loop {
        match (pattern.next(), path.next()) {
            (None, None) => return true,
            (Some(p), Some(n)) if fnmatch(p.as_bytes(), n.as_bytes()) => continue,
            _ => return false,
        }
    }
}

/// `fnmatch(pattern, name, FNM_PERIOD)`: a leading `.` of the name must be
/// matched by a literal `.`.
fn fnmatch(pattern: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') {
        let literal_dot = pattern.first() == Some(&b'.') || pattern.starts_with(b"\\.");
        if !literal_dot {
            return false;
        }
    }
    match_here(pattern, name)
}

/// Iterative wildcard matching with one backtrack point for the last `*`.
fn match_here(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() && pattern[p] == b'*' {
            p += 1;
            backtrack = Some((p, n));
            continue;
        }
        if p < pattern.len() && n < name.len() {
            if let Some(width) = match_one(&pattern[p..], name[n]) {
                p += width;
                n += 1;
                continue;
            }
        }
        if p == pattern.len() && n == name.len() {
            return true;
        }
        match backtrack {
            Some((star_p, star_n)) if star_n < name.len() => {
                backtrack = Some((star_p, star_n + 1));
                p = star_p;
                n = star_n + 1;
            }
            _ => return false,
        }
    }
}

/// Match one pattern element against one byte; returns the element's width.
fn match_one(pattern: &[u8], byte: u8) -> Option<usize> {
    match pattern[0] {
        b'?' => Some(1),
        b'[' => match parse_bracket(pattern) {
            Some((set, width)) => set.contains(byte).then_some(width),
            None => (byte == b'[').then_some(1),
        },
        b'\\' if pattern.len() > 1 => (pattern[1] == byte).then_some(2),
        literal => (literal == byte).then_some(1),
    }
}

/// A parsed `[...]` expression.
struct Bracket {
    negated: bool,
    items: Vec<BracketItem>,
}

/// A `[:class:]` test on one byte.
type ClassTest = fn(&u8) -> bool;

enum BracketItem {
    Range(u8, u8),
    Class(ClassTest),
}

impl Bracket {
    fn contains(&self, byte: u8) -> bool {
        let hit = self.items.iter().any(|item| match item {
            BracketItem::Range(lo, hi) => (*lo..=*hi).contains(&byte),
            BracketItem::Class(test) => test(&byte),
        });
        hit != self.negated
    }
}

/// Parse `[...]` at the start of `pattern`; `None` when it is not closed
/// (then `[` is an ordinary byte).
fn parse_bracket(pattern: &[u8]) -> Option<(Bracket, usize)> {
    let mut i = 1;
    let negated = matches!(pattern.get(i), Some(b'!' | b'^'));
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    let mut first = true;
    loop {
        let &b = pattern.get(i)?;
        if b == b']' && !first {
            return Some((Bracket { negated, items }, i + 1));
        }
        first = false;
        if b == b'[' && pattern.get(i + 1) == Some(&b':') {
            if let Some((class, width)) = parse_class(&pattern[i..]) {
                items.push(BracketItem::Class(class));
                i += width;
                continue;
            }
        }
        let (low, width) = bracket_byte(&pattern[i..])?;
        i += width;
        let is_range =
            pattern.get(i) == Some(&b'-') && pattern.get(i + 1).is_some_and(|&c| c != b']');
        if is_range {
            let (high, width) = bracket_byte(&pattern[i + 1..])?;
            items.push(BracketItem::Range(low, high));
            i += 1 + width;
        } else {
            items.push(BracketItem::Range(low, low));
        }
    }
}

fn bracket_byte(text: &[u8]) -> Option<(u8, usize)> {
    match text {
        [b'\\', escaped, ..] => Some((*escaped, 2)),
        [b, ..] => Some((*b, 1)),
        [] => None,
    }
}

fn parse_class(text: &[u8]) -> Option<(ClassTest, usize)> {
    let end = text.windows(2).position(|w| w == b":]")?;
    let class: ClassTest = match &text[2..end] {
        b"alnum" => u8::is_ascii_alphanumeric,
        b"alpha" => u8::is_ascii_alphabetic,
        b"digit" => u8::is_ascii_digit,
        b"lower" => u8::is_ascii_lowercase,
        b"upper" => u8::is_ascii_uppercase,
        b"xdigit" => u8::is_ascii_hexdigit,
        b"punct" => u8::is_ascii_punctuation,
        b"space" => |b: &u8| crate::host::sysctl::parse::is_c_space(*b),
        b"blank" => |b: &u8| *b == b' ' || *b == b'\t',
        b"cntrl" => u8::is_ascii_control,
        b"graph" => u8::is_ascii_graphic,
        b"print" => |b: &u8| b.is_ascii_graphic() || *b == b' ',
        _ => return None,
    };
    Some((class, end + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "all", true),
            ("*", ".hidden", false),
            (".*", ".hidden", true),
            ("a?l", "all", true),
            ("a?l", "al", false),
            ("[ad]*", "default", true),
            ("[!ad]*", "default", false),
            ("[^ad]*", "lo", true),
            ("[a-c]ll", "bll", true),
            ("[]]", "]", true),
            ("[[:digit:]]x", "7x", true),
            ("[[:alpha:]]x", "7x", false),
            ("eth*.1*", "eth0.100", true),
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("[abc", "[abc", true),
            ("*o*o*", "foo", true),
            ("*o*o*", "fo", false),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(
                fnmatch(pattern.as_bytes(), name.as_bytes()),
                *want,
                "{pattern:?} vs {name:?}"
            );
        }
    }

    #[test]
    fn magic_detection_follows_glibc() {
        for (text, want) in [
            ("a*", true),
            ("a?", true),
            ("a[b]", true),
            ("a[b", false),
            ("a\\*", false),
        ] {
            assert_eq!(is_magic(text.as_bytes()), want, "{text:?}");
        }
    }

    #[test]
    fn braces_expand_in_order() {
        let got: Vec<String> = expand_braces(b"a{b,c{d,e}}f")
            .into_iter()
            .map(|v| String::from_utf8(v).expect("utf8"))
            .collect();
        assert_eq!(got, ["abf", "acdf", "acef"]);
        assert_eq!(expand_braces(b"a{b"), [b"a{b".to_vec()]);
    }

    #[test]
    fn key_globs_walk_only_existing_paths_sorted() {
        let root = tempfile::tempdir().expect("tempdir");
        for iface in ["lo", "all", "default", ".dot"] {
            let dir = root.path().join("net/ipv4/conf").join(iface);
            fs_err::create_dir_all(&dir).expect("mkdir");
            fs_err::write(dir.join("rp_filter"), "0\n").expect("write");
        }
        fs_err::write(root.path().join("net/ipv4/conf/file"), "").expect("write");
        let root_bytes = root.path().as_os_str().as_bytes();
        let cases: &[(&str, &[&str])] = &[
            (
                "net/ipv4/conf/*/rp_filter",
                &[
                    "net/ipv4/conf/all/rp_filter",
                    "net/ipv4/conf/default/rp_filter",
                    "net/ipv4/conf/lo/rp_filter",
                ],
            ),
            (
                "net//ipv4/conf/l?/rp_filter",
                &["net//ipv4/conf/lo/rp_filter"],
            ),
            ("net/ipv4/conf/*/nothere", &[]),
            (
                "net/ipv4/conf/[ad]*/",
                &["net/ipv4/conf/all/", "net/ipv4/conf/default/"],
            ),
            ("net/ipv4/conf/lo/rp_filter[", &[]),
        ];
        for (pattern, want) in cases {
            assert_eq!(expand_below_root(root_bytes, pattern), *want, "{pattern:?}");
        }
    }
}
