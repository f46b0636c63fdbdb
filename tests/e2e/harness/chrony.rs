//! The one difference allowed between chrony's original default file and
//! the generated one: a single `-4` in the effective `DAEMON_OPTS`.

/// Ok if `generated` is `original` with exactly one `-4` token (and one
/// blank next to it) added to the last uncommented `DAEMON_OPTS=` line,
/// every other byte kept.
pub fn check_dash4(original: &[u8], generated: &[u8]) -> Result<(), String> {
    let fail = |why: String| Err(format!("{why}\n{}", show_both(original, Some(generated))));
    let (Ok(orig), Ok(gen)) = (
        std::str::from_utf8(original),
        std::str::from_utf8(generated),
    ) else {
        return fail("chrony default file is not UTF-8".into());
    };
    let orig_lines: Vec<&str> = orig.split_inclusive('\n').collect();
    let gen_lines: Vec<&str> = gen.split_inclusive('\n').collect();
    if orig_lines.len() != gen_lines.len() {
        return fail(format!(
            "line count changed: {} -> {}",
            orig_lines.len(),
            gen_lines.len()
        ));
    }
    let Some(effective) = orig_lines
        .iter()
        .rposition(|l| l.trim_start().starts_with("DAEMON_OPTS="))
    else {
        return fail("the original has no DAEMON_OPTS= line".into());
    };
    for (i, (o, g)) in orig_lines.iter().zip(&gen_lines).enumerate() {
        if i != effective && o != g {
            return fail(format!("line {} changed: {o:?} -> {g:?}", i + 1));
        }
    }
    let line = gen_lines[effective];
    let count = line
        .split(['"', '\'', ' ', '\t', '='])
        .filter(|t| *t == "-4")
        .count();
    if count != 1 {
        return fail(format!("DAEMON_OPTS line has {count} `-4`: {line:?}"));
    }
    let without = ["-4 ", " -4", "-4"]
        .iter()
        .find_map(|pat| {
            line.match_indices(pat).find_map(|(at, _)| {
                let candidate = format!("{}{}", &line[..at], &line[at + pat.len()..]);
                (candidate == orig_lines[effective]).then_some(())
            })
        })
        .is_some();
    if !without {
        return fail(format!(
            "DAEMON_OPTS line is not the original plus `-4`: {:?} -> {line:?}",
            orig_lines[effective]
        ));
    }
    Ok(())
}

/// Whether the effective (last uncommented) `DAEMON_OPTS=` line already
/// has a `-4` word: the admin made chronyd IPv4-only by hand.
pub fn has_dash4(original: &[u8]) -> bool {
    String::from_utf8_lossy(original)
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("DAEMON_OPTS="))
        .is_some_and(|l| l.split(['"', '\'', ' ', '\t', '=']).any(|t| t == "-4"))
}

/// Both versions, line by line, for a failure message.
pub fn show_both(original: &[u8], now: Option<&[u8]>) -> String {
    let now = match now {
        None => "(missing)".to_string(),
        Some(b) => format!("{:?}", String::from_utf8_lossy(b)),
    };
    format!(
        "    original: {:?}\n    now:      {now}",
        String::from_utf8_lossy(original)
    )
}

#[cfg(test)]
mod tests {
    use super::{check_dash4, has_dash4};

    const DEBIAN: &str = "# This is a configuration file for /etc/init.d/chrony and\n\
                          DAEMON_OPTS=\"-F 1\"\n\nSYNC_IN_CONTAINER=\"no\"\n";

    #[test]
    fn accepts_dash4_in_front_or_at_the_end() {
        for g in [
            DEBIAN.replace("\"-F 1\"", "\"-4 -F 1\""),
            DEBIAN.replace("\"-F 1\"", "\"-F 1 -4\""),
        ] {
            check_dash4(DEBIAN.as_bytes(), g.as_bytes()).unwrap();
        }
        check_dash4(b"DAEMON_OPTS=\"\"\n", b"DAEMON_OPTS=\"-4\"\n").unwrap();
    }

    #[test]
    fn rejects_twice_missing_respaced_or_other_edits() {
        let bad = [
            DEBIAN.replace("\"-F 1\"", "\"-4 -4 -F 1\""),
            DEBIAN.to_string(),
            DEBIAN.replace("\"-F 1\"", "\"-4  -F 1\""),
            DEBIAN
                .replace("\"-F 1\"", "\"-4 -F 1\"")
                .replace("# This", "#This"),
            DEBIAN.replace("\"-F 1\"", "\"-4 -F 1\"") + "\n",
        ];
        for g in bad {
            assert!(
                check_dash4(DEBIAN.as_bytes(), g.as_bytes()).is_err(),
                "{g:?}"
            );
        }
    }

    #[test]
    fn dash4_by_hand_is_seen_on_the_effective_line_only() {
        assert!(has_dash4(b"DAEMON_OPTS=\"-4 -F 1\"\n"));
        assert!(!has_dash4(DEBIAN.as_bytes()));
        assert!(!has_dash4(b"DAEMON_OPTS=\"-4\"\nDAEMON_OPTS=\"-F 1\"\n"));
    }

    #[test]
    fn only_the_last_assignment_counts() {
        let orig = "DAEMON_OPTS=\"-F 1\"\n#DAEMON_OPTS=\"-x\"\n  DAEMON_OPTS=\"-r\"\n";
        let good = "DAEMON_OPTS=\"-F 1\"\n#DAEMON_OPTS=\"-x\"\n  DAEMON_OPTS=\"-4 -r\"\n";
        let bad = "DAEMON_OPTS=\"-4 -F 1\"\n#DAEMON_OPTS=\"-x\"\n  DAEMON_OPTS=\"-r\"\n";
        check_dash4(orig.as_bytes(), good.as_bytes()).unwrap();
        assert!(check_dash4(orig.as_bytes(), bad.as_bytes()).is_err());
    }
}
