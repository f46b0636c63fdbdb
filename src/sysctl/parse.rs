//! Parsing of sysctl files with procps-ng 4.0.2 `sysctl -p` rules, and the
//! mapping between sysctl keys and paths under a proc root. This is the one
//! parser of the project: `apply`, `merge` (boot-time order), `state` and
//! `status` all read files through it.
//!
//! Rules (procps src/sysctl.c, 4.0.2): blanks are stripped from both ends,
//! then lines shorter than 2 bytes are skipped; a line whose first non-blank is `#`
//! or `;` is a comment; the line splits at the first `=`; the key is
//! right-trimmed, the value trimmed on both sides (so CR goes); a leading `-`
//! on the key means "ignore failures of this key"; `-pattern` without `=` is
//! a glob exclusion; anything else is `invalid syntax`.

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
    /// `-pattern` with no `=`: keys matching the glob are not written.
    Exclude { pattern: String },
    /// Neither `=` nor a leading `-`: procps warns `invalid syntax`.
    Invalid,
}

/// Parse the text of a sysctl file into its meaningful lines.
pub fn parse_sysctl_text(text: &str) -> Vec<SysctlLine> {
    text.split_inclusive('\n')
        .enumerate()
        .filter_map(|(i, raw)| {
            parse_line(raw).map(|kind| SysctlLine {
                lineno: i + 1,
                kind,
            })
        })
        .collect()
}

fn parse_line(raw: &str) -> Option<LineKind> {
    let trimmed = raw.trim_matches(|c: char| c.is_ascii_whitespace());
    if trimmed.len() < 2 || trimmed.starts_with('#') || trimmed.starts_with(';') {
        return None;
    }
    match trimmed.split_once('=') {
        Some((key, value)) => {
            let key = key.trim_end_matches(|c: char| c.is_ascii_whitespace());
            let (key, ignore_failure) = match key.strip_prefix('-') {
                Some(rest) => (rest, true),
                None => (key, false),
            };
            Some(LineKind::Setting {
                key: key.to_string(),
                value: value
                    .trim_matches(|c: char| c.is_ascii_whitespace())
                    .to_string(),
                ignore_failure,
            })
        }
        None => match trimmed.strip_prefix('-') {
            Some(pattern) => Some(LineKind::Exclude {
                pattern: pattern.to_string(),
            }),
            None => Some(LineKind::Invalid),
        },
    }
}

/// Map a key to its path relative to the proc root. The first separator
/// decides: `/` first means the key already is a path; `.` first means every
/// `.` and `/` are swapped (so `net.ipv4.conf.eth0/100.rp_filter` reaches the
/// VLAN interface `eth0.100`).
pub fn key_to_relative_path(key: &str) -> String {
    match key.find(['.', '/']) {
        Some(i) if key.as_bytes()[i] == b'.' => key
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect(),
        _ => key.to_string(),
    }
}

/// The reverse mapping, used when printing `key = value`.
pub fn relative_path_to_key(path: &str) -> String {
    path.chars()
        .map(|c| match c {
            '/' => '.',
            '.' => '/',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(key: &str, value: &str, ignore_failure: bool) -> LineKind {
        LineKind::Setting {
            key: key.into(),
            value: value.into(),
            ignore_failure,
        }
    }

    #[test]
    fn table_of_lines() {
        let cases: &[(&str, Option<LineKind>)] = &[
            (
                "net.ipv4.tcp_sack = 0\n",
                Some(setting("net.ipv4.tcp_sack", "0", false)),
            ),
            ("  k=1\r\n", Some(setting("k", "1", false))),
            (
                "\tk\t=\t4096 87380\t6291456 \n",
                Some(setting("k", "4096 87380\t6291456", false)),
            ),
            ("-k = 1\n", Some(setting("k", "1", true))),
            ("k = a=b # c\n", Some(setting("k", "a=b # c", false))),
            (
                "-net.ipv4.conf.*.rp_filter\n",
                Some(LineKind::Exclude {
                    pattern: "net.ipv4.conf.*.rp_filter".into(),
                }),
            ),
            ("# k = 1\n", None),
            ("   ; k = 1\n", None),
            ("\n", None),
            ("x\n", None),
            ("garbage line\n", Some(LineKind::Invalid)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_line(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn line_numbers_count_skipped_lines() {
        let lines = parse_sysctl_text("# c\n\nk = 1\n");
        assert_eq!(lines[0].lineno, 3);
    }

    #[test]
    fn key_path_mapping() {
        assert_eq!(
            key_to_relative_path("net.ipv4.tcp_sack"),
            "net/ipv4/tcp_sack"
        );
        assert_eq!(
            key_to_relative_path("net.ipv4.conf.eth0/100.rp_filter"),
            "net/ipv4/conf/eth0.100/rp_filter"
        );
        assert_eq!(
            key_to_relative_path("net/ipv4/conf/eth0.100/rp_filter"),
            "net/ipv4/conf/eth0.100/rp_filter"
        );
        assert_eq!(
            relative_path_to_key("net/ipv4/conf/eth0.100/rp_filter"),
            "net.ipv4.conf.eth0/100.rp_filter"
        );
    }
}
