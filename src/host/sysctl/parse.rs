//! Parsing of sysctl files with procps-ng 4.0.2 `sysctl -p` rules, and the
//! mapping between sysctl keys and paths under a proc root. This is the one
//! parser of the project: `apply`, `merge` (boot-time order), `state` and
//! `status` all read files through it. It is pure: no file system access and
//! no warnings printed; callers decide what to report.
//!
//! Rules (procps src/sysctl.c, 4.0.2, checked against Debian 12's binary):
//! lines are split at `\n` only and read as C strings (a NUL ends the line);
//! a line shorter than 2 bytes (newline included) is skipped; leading blanks
//! are stripped and the rest must still be 2 bytes or more; a first non-blank
//! `#` or `;` makes a comment; the line splits at the first `=`; the value is
//! trimmed on both sides (so CR goes), the key right-trimmed; a leading `-` on
//! the key means "ignore failures of this key"; `-key` without `=` is an
//! exclusion; anything else is `invalid syntax`. "Blank" is C `isspace`,
//! which includes `\v` (Rust's `is_ascii_whitespace` does not).

/// One meaningful line of a sysctl file (comments and blanks are dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlLine {
    /// 1-based line number, as procps prints it in `FILE(N)`.
    pub lineno: usize,
    pub kind: LineKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    /// `key = value`; `ignore_failure` is set by a leading `-` on the key.
    Setting {
        key: String,
        value: String,
        ignore_failure: bool,
    },
    /// `-key` with no `=`: this exact key is not written by a glob line
    /// (procps 4.0.2 compares paths literally, so a glob here excludes
    /// nothing but a key spelled the same way).
    Exclude { pattern: String },
    /// Neither `=` nor a leading `-`: procps warns `invalid syntax`.
    Invalid,
}

/// Parse the text of a sysctl file into its meaningful lines.
pub fn parse_sysctl_text(text: &str) -> Vec<SysctlLine> {
    parse_sysctl_bytes(text.as_bytes())
}

/// Parse raw file contents (procps reads bytes; keys and values that are not
/// UTF-8 are converted lossily).
pub fn parse_sysctl_bytes(data: &[u8]) -> Vec<SysctlLine> {
    raw_lines(data)
        .map(|line| SysctlLine {
            lineno: line.lineno,
            kind: match line.kind {
                RawKind::Setting {
                    key,
                    value,
                    ignore_failure,
                } => LineKind::Setting {
                    key: lossy(key),
                    value: lossy(value),
                    ignore_failure,
                },
                RawKind::Exclude { pattern } => LineKind::Exclude {
                    pattern: lossy(pattern),
                },
                RawKind::Invalid => LineKind::Invalid,
            },
        })
        .collect()
}

/// A meaningful line as [`parse_sysctl_bytes`] finds it, borrowing the
/// file's bytes: `apply` reads lines this way and copies nothing it does
/// not keep (issue 18).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawLine<'a> {
    /// 1-based line number, as procps prints it in `FILE(N)`.
    pub lineno: usize,
    pub kind: RawKind<'a>,
}

/// [`LineKind`] before any UTF-8 conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawKind<'a> {
    Setting {
        key: &'a [u8],
        value: &'a [u8],
        ignore_failure: bool,
    },
    Exclude {
        pattern: &'a [u8],
    },
    Invalid,
}

/// The meaningful lines of `data`, in order.
pub fn raw_lines(data: &[u8]) -> impl Iterator<Item = RawLine<'_>> {
    getline_records(data).enumerate().filter_map(|(i, raw)| {
        parse_line(raw).map(|kind| RawLine {
            lineno: i + 1,
            kind,
        })
    })
}

/// How many lines procps counts in `data` (getline records): line numbers
/// keep counting across the files one glob argument expands to.
pub fn count_lines(data: &[u8]) -> usize {
    getline_records(data).count()
}

/// The lines of `data` as getline returns them, each with its `\n` (the
/// last one may have none). memchr finds the ends several times faster than
/// a byte loop (the default file is mostly comments; issue 18).
fn getline_records(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = find_byte(b'\n', rest).map_or(rest.len(), |i| i + 1);
        let (line, next) = rest.split_at(end);
        rest = next;
        Some(line)
    })
}

/// Where `needle` first is in `haystack`, found by glibc's `memchr`. Its
/// SIMD variant was chosen when ld.so started the process. The memchr crate
/// probes the CPU itself at its first call, with several `cpuid`s, and in a
/// VM each one traps to the hypervisor (11.6 µs each on the bench machine:
/// issue 18).
fn find_byte(needle: u8, haystack: &[u8]) -> Option<usize> {
    let start = haystack.as_ptr();
    // SAFETY: memchr reads at most `haystack.len()` bytes from its start,
    // all inside the slice; a non-null result points into it.
    let found = unsafe { libc::memchr(start.cast(), needle.into(), haystack.len()) };
    (!found.is_null()).then(|| found as usize - start as usize)
}

/// C `isspace` in the C locale.
pub fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

fn parse_line(raw: &[u8]) -> Option<RawKind<'_>> {
    // procps skips on getline's length, before it looks at the C string.
    if raw.len() < 2 {
        return None;
    }
    // Blanks first: a NUL is no blank, so the C string has the same start,
    // and a comment is known before the rest of the line is looked at.
    let line = strip_leading_space(raw);
    if matches!(line.first(), Some(b'#' | b';')) {
        return None;
    }
    let line = line.split(|&b| b == 0).next().unwrap_or_default();
    if line.len() < 2 {
        return None;
    }
    match line.iter().position(|&b| b == b'=') {
        Some(eq) => {
            let (key, ignore_failure) = match line[..eq].strip_prefix(b"-") {
                Some(rest) => (rest, true),
                None => (&line[..eq], false),
            };
            Some(RawKind::Setting {
                key: strip_trailing_space(key),
                value: strip_trailing_space(strip_leading_space(&line[eq + 1..])),
                ignore_failure,
            })
        }
        None => match line.strip_prefix(b"-") {
            Some(pattern) => Some(RawKind::Exclude {
                pattern: strip_trailing_space(pattern),
            }),
            None => Some(RawKind::Invalid),
        },
    }
}

fn strip_leading_space(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_c_space(b)).unwrap_or(s.len());
    &s[start..]
}

/// procps' `rstrip` never removes the first byte, so a key that is a single
/// blank (from `- = 1`) stays a blank.
fn strip_trailing_space(s: &[u8]) -> &[u8] {
    let keep = s.iter().rposition(|&b| !is_c_space(b)).map_or(1, |i| i + 1);
    &s[..keep.min(s.len())]
}

/// Bytes as text; not UTF-8: converted lossily.
pub fn lossy(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Parse raw file contents as systemd-sysctl 252 reads them (`read_line`
/// and `parse_file` in src/sysctl/sysctl.c): `\n`, `\r` and NUL all end a
/// line (a run of different markers, such as CRLF, ends one line); only
/// space and tab are blanks (`strstrip`), so `\v` and `\f` stay in the key or
/// value; `-` is taken off before the key is stripped, so `- key = 1` is
/// `key`; keys are simplified by [`systemd_normalize_key`].
pub fn parse_systemd_bytes(data: &[u8]) -> Vec<SysctlLine> {
    systemd_lines(data)
        .into_iter()
        // read_line(f, LONG_LINE_MAX): a line of 1 MiB or more fails with
        // ENOBUFS and parse_file stops reading the file there ("Failed to
        // read file ..., ignoring"); what it read before stays.
        .take_while(|line| line.len() < SYSTEMD_LONG_LINE_MAX)
        .enumerate()
        .filter_map(|(i, raw)| {
            parse_systemd_line(raw).map(|kind| SysctlLine {
                lineno: i + 1,
                kind,
            })
        })
        .collect()
}

/// systemd's LONG_LINE_MAX (src/basic/fileio.h), the longest line
/// systemd-sysctl reads, EOL markers not counted.
pub const SYSTEMD_LONG_LINE_MAX: usize = 1 << 20;

/// systemd's `read_line`: a line ends at the first EOL marker (`\n`, `\r`,
/// NUL) that is followed by an ordinary byte, by a marker of a kind already
/// seen in this run, or that follows a NUL.
fn systemd_lines(data: &[u8]) -> Vec<&[u8]> {
    let marker = |b: u8| match b {
        b'\n' => 1u8,
        b'\r' => 2,
        0 => 4,
        _ => 0,
    };
    let mut lines = Vec::new();
    let (mut start, mut end, mut seen) = (0, 0, 0u8);
    for (i, &b) in data.iter().enumerate() {
        let kind = marker(b);
        let ends = seen != 0 && (seen & 4 != 0 || kind == 0 || seen & kind != 0);
        if ends {
            lines.push(&data[start..end]);
            start = i;
            seen = 0;
        }
        if kind == 0 {
            end = i + 1;
        } else {
            if seen == 0 {
                end = i;
            }
            seen |= kind;
        }
    }
    if start < data.len() {
        let end = if seen == 0 { data.len() } else { end };
        lines.push(&data[start..end]);
    }
    lines
}

fn parse_systemd_line(raw: &[u8]) -> Option<LineKind> {
    let line = systemd_strip(raw);
    if line.is_empty() || line[0] == b'#' || line[0] == b';' {
        return None;
    }
    let (dash, rest) = match line.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    match rest.iter().position(|&b| b == b'=') {
        Some(eq) => Some(LineKind::Setting {
            key: systemd_normalize_key(&lossy(systemd_strip(&rest[..eq]))),
            value: lossy(systemd_strip(&rest[eq + 1..])),
            ignore_failure: dash,
        }),
        None if dash => Some(LineKind::Exclude {
            pattern: systemd_normalize_key(&lossy(systemd_strip(rest))),
        }),
        None => Some(LineKind::Invalid),
    }
}

/// systemd's `strstrip`: blanks are space, tab, `\n` and `\r` only.
fn systemd_strip(s: &[u8]) -> &[u8] {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let start = s.iter().position(|b| !blank(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !blank(b)).map_or(start, |i| i + 1);
    &s[start..end]
}

/// systemd's `sysctl_normalize`: dots and slashes swap when the first
/// separator is a dot, then `path_simplify` drops empty and `.` components
/// and a trailing `/`, and a leading `/` goes. So `net..ipv4.tcp_sack`,
/// `/net/ipv4/tcp_sack`, `net/./ipv4/tcp_sack` and `net.ipv4.tcp_sack.` are
/// all `net/ipv4/tcp_sack`; `..` stays (systemd then refuses the key).
pub fn systemd_normalize_key(key: &str) -> String {
    let swapped = match key.find(['.', '/']) {
        Some(first) if key[first..].starts_with('.') => swap_separators(key, '/').text,
        _ => key.to_string(),
    };
    if swapped.is_empty() {
        return swapped;
    }
    let components: Vec<&str> = swapped
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let joined = components.join("/");
    match (swapped.starts_with('/'), joined.is_empty()) {
        (true, true) => "/".to_string(),
        (false, true) => ".".to_string(),
        _ => joined,
    }
}

/// The result of procps' `slashdot`: the converted text and, when the text
/// repeats a separator, the rest of the original text from the first
/// repetition on (procps warns `separators should not be repeated: REST`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeparatorSwap {
    pub text: String,
    pub repeated_at: Option<String>,
}

/// Swap `.` and `/` everywhere unless the first separator already is
/// `wanted` (then the text is kept as is and nothing is reported).
pub fn swap_separators(text: &str, wanted: char) -> SeparatorSwap {
    swap_separators_owned(text.to_string(), wanted)
}

/// [`swap_separators`] on a text the caller gives away: the separators are
/// swapped in place, so no other string is made (`apply` runs this once per
/// key and line).
pub fn swap_separators_owned(mut text: String, wanted: char) -> SeparatorSwap {
    let unchanged = |text| SeparatorSwap {
        text,
        repeated_at: None,
    };
    let Some(first) = text.bytes().position(is_separator) else {
        return unchanged(text);
    };
    if text[first..].starts_with(wanted) {
        return unchanged(text);
    }
    // `.` and `/` differ in their lowest bit only.
    let swap = |b: u8| {
        if is_separator(b) {
            b ^ (b'.' ^ b'/')
        } else {
            b
        }
    };
    let mut repeated = None;
    let mut previous = false;
    // SAFETY: only the ASCII bytes `.` and `/` are changed, into each other.
    // No byte of a multi-byte UTF-8 sequence is ASCII, so the text stays
    // valid UTF-8 and needs no second check (a key in every line: issue 18).
    let bytes = unsafe { text.as_bytes_mut() };
    for (i, b) in bytes.iter_mut().enumerate().skip(first) {
        let separator = is_separator(*b);
        if separator {
            if previous && repeated.is_none() {
                repeated = Some(i - 1);
            }
            *b = swap(*b);
        }
        previous = separator;
    }
    // The original text from the first repetition on: swapped back.
    let repeated_at = repeated.map(|i| {
        let original = text.as_bytes()[i..].iter().map(|&b| swap(b)).collect();
        String::from_utf8(original).expect("swapping two ASCII bytes keeps UTF-8")
    });
    SeparatorSwap { text, repeated_at }
}

fn is_separator(b: u8) -> bool {
    b == b'.' || b == b'/'
}

/// Map a key to its path relative to the proc root. The first separator
/// decides: `/` first means the key already is a path; `.` first means every
/// `.` and `/` are swapped (so `net.ipv4.conf.eth0/100.rp_filter` reaches the
/// VLAN interface `eth0.100`).
pub fn key_to_relative_path(key: &str) -> String {
    swap_separators(key, '/').text
}

/// The reverse mapping, used when printing `key = value`; like procps it
/// leaves a path whose first separator is a `.` alone.
pub fn relative_path_to_key(path: &str) -> String {
    swap_separators(path, '.').text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(key: &str, value: &str, ignore_failure: bool) -> Option<LineKind> {
        Some(LineKind::Setting {
            key: key.into(),
            value: value.into(),
            ignore_failure,
        })
    }

    fn exclude(pattern: &str) -> Option<LineKind> {
        Some(LineKind::Exclude {
            pattern: pattern.into(),
        })
    }

    #[test]
    fn table_of_lines() {
        let cases: &[(&str, Option<LineKind>)] = &[
            (
                "net.ipv4.tcp_sack = 0\n",
                setting("net.ipv4.tcp_sack", "0", false),
            ),
            ("  k=1\r\n", setting("k", "1", false)),
            (
                "\tk\t=\t4096 87380\t6291456 \n",
                setting("k", "4096 87380\t6291456", false),
            ),
            ("k\x0b=\x0b1\x0b\n", setting("k", "1", false)),
            ("-k = 1\n", setting("k", "1", true)),
            ("--k = 1\n", setting("-k", "1", true)),
            ("- k = 1\n", setting(" k", "1", true)),
            ("- = 1\n", setting(" ", "1", true)),
            ("=1\n", setting("", "1", false)),
            ("k =\n", setting("k", "", false)),
            ("k == 45\n", setting("k", "= 45", false)),
            ("k = a=b # c\n", setting("k", "a=b # c", false)),
            ("k = 1\0 junk\n", setting("k", "1", false)),
            (
                "-net.ipv4.conf.*.rp_filter\n",
                exclude("net.ipv4.conf.*.rp_filter"),
            ),
            ("-k \r\n", exclude("k")),
            ("# k = 1\n", None),
            ("   ; k = 1\n", None),
            ("\n", None),
            ("  \n", None),
            ("x", None),
            ("\0x\n", None),
            ("x\n", Some(LineKind::Invalid)),
            (" x \n", Some(LineKind::Invalid)),
            ("xy", Some(LineKind::Invalid)),
            ("k\r\n", Some(LineKind::Invalid)),
            ("garbage line\n", Some(LineKind::Invalid)),
        ];
        for (input, want) in cases {
            let got: Vec<SysctlLine> = parse_sysctl_text(input);
            assert!(got.len() <= 1, "input {input:?}: {got:?}");
            let got = got.into_iter().next().map(|line| line.kind);
            assert_eq!(got, *want, "input {input:?}");
        }
    }

    #[test]
    fn systemd_reads_lines_its_own_way() {
        type Numbered = (usize, Option<LineKind>);
        let cases: &[(&str, &[Numbered])] = &[
            (
                "net/ipv4/tcp_sack = 0\n",
                &[(1, setting("net/ipv4/tcp_sack", "0", false))],
            ),
            (
                "- net.ipv4.tcp_sack = 0\n",
                &[(1, setting("net/ipv4/tcp_sack", "0", true))],
            ),
            (
                "a = 1\rb = 2\r\nc = 3\0d = 4\n\ne = 5",
                &[
                    (1, setting("a", "1", false)),
                    (2, setting("b", "2", false)),
                    (3, setting("c", "3", false)),
                    (4, setting("d", "4", false)),
                    (6, setting("e", "5", false)),
                ],
            ),
            (
                "\x0bk\x0c = \x0b1\n",
                &[(1, setting("\x0bk\x0c", "\x0b1", false))],
            ),
            (
                "-net.ipv4.conf.*.rp_filter\n",
                &[(1, exclude("net/ipv4/conf/*/rp_filter"))],
            ),
            ("x\n  # c\n", &[(1, Some(LineKind::Invalid))]),
        ];
        for (input, want) in cases {
            let got: Vec<Numbered> = parse_systemd_bytes(input.as_bytes())
                .into_iter()
                .map(|l| (l.lineno, Some(l.kind)))
                .collect();
            assert_eq!(got, *want, "input {input:?}");
        }
    }

    #[test]
    fn systemd_simplifies_key_paths() {
        for (key, want) in [
            ("net.ipv4.tcp_sack", "net/ipv4/tcp_sack"),
            ("net/ipv4/tcp_sack", "net/ipv4/tcp_sack"),
            ("/net/ipv4/tcp_sack", "net/ipv4/tcp_sack"),
            ("net..ipv4.tcp_sack", "net/ipv4/tcp_sack"),
            ("net/./ipv4/tcp_sack", "net/ipv4/tcp_sack"),
            ("net.ipv4.tcp_sack.", "net/ipv4/tcp_sack"),
            ("net//ipv4///tcp_sack/", "net/ipv4/tcp_sack"),
            (
                "net.ipv4.conf.eth0/100.rp_filter",
                "net/ipv4/conf/eth0.100/rp_filter",
            ),
            ("net/ipv4/../ipv4/tcp_sack", "net/ipv4/../ipv4/tcp_sack"),
            ("/", "/"),
            ("", ""),
        ] {
            assert_eq!(systemd_normalize_key(key), want, "key {key:?}");
        }
    }

    #[test]
    fn line_numbers_count_skipped_lines() {
        let lines = parse_sysctl_text("# c\n\nk = 1\n");
        assert_eq!(lines[0].lineno, 3);
        assert_eq!(count_lines(b"# c\n\nk = 1\n"), 3);
        assert_eq!(count_lines(b"a\nb"), 2);
        assert_eq!(count_lines(b""), 0);
    }

    #[test]
    fn getline_records_keep_their_newlines() {
        let records: Vec<&[u8]> = getline_records(b"a\n\nb = 1\nlast").collect();
        assert_eq!(records, [&b"a\n"[..], b"\n", b"b = 1\n", b"last"]);
        assert_eq!(find_byte(b'\n', b""), None);
        assert_eq!(find_byte(b'=', b"k = 1 = 2"), Some(2));
        assert_eq!(find_byte(b'\n', b"no end"), None);
    }

    #[test]
    fn key_path_mapping() {
        let cases = [
            ("net.ipv4.tcp_sack", "net/ipv4/tcp_sack"),
            (
                "net.ipv4.conf.eth0/100.rp_filter",
                "net/ipv4/conf/eth0.100/rp_filter",
            ),
            (
                "net/ipv4/conf/eth0.100/rp_filter",
                "net/ipv4/conf/eth0.100/rp_filter",
            ),
            ("kernel", "kernel"),
            ("", ""),
        ];
        for (key, path) in cases {
            assert_eq!(key_to_relative_path(key), path, "key {key:?}");
        }
        let reverse = [
            (
                "net/ipv4/conf/eth0.100/rp_filter",
                "net.ipv4.conf.eth0/100.rp_filter",
            ),
            ("net/ipv4/../ipv4/tcp_sack", "net.ipv4.//.ipv4.tcp_sack"),
            ("a.b/c", "a.b/c"),
        ];
        for (path, key) in reverse {
            assert_eq!(relative_path_to_key(path), key, "path {path:?}");
        }
    }

    #[test]
    fn repeated_separators_are_reported_from_the_first_repetition() {
        let cases = [
            ("net..ipv4.tcp_sack", '/', Some("..ipv4.tcp_sack")),
            ("net//ipv4/tcp_sack", '/', None),
            ("net//ipv4/tcp_sack", '.', Some("//ipv4/tcp_sack")),
            ("net/ipv4/../x", '.', Some("/../x")),
            ("net.ipv4.tcp_sack", '/', None),
        ];
        for (text, wanted, repeated) in cases {
            let swap = swap_separators(text, wanted);
            assert_eq!(swap.repeated_at.as_deref(), repeated, "text {text:?}");
        }
    }
}
