//! Generated sysctl input for the differential tests (`tests/apply.rs`
//! against `sysctl -p`, `tests/merge_differential.rs` against
//! systemd-sysctl and `sysctl --system`): keys spelled every way the two
//! programs read differently (slashes and dots, repeated, leading and
//! trailing separators, `.` and `..` components, globs with brackets,
//! classes, collating symbols, escapes and malformed brackets), with odd
//! blanks (`\v`, `\f`, CR) and `-` prefixes.
//!
//! `cargo test` runs a fixed seed and a modest number of cases; `make fuzz`
//! sets `PTH_FUZZ_SEED` (first seed) and `PTH_FUZZ_CASES` (how many) to run
//! long with random seeds. A mismatch is shrunk to the smallest set of
//! lines that still shows it ([`shrink`]) before it is reported.

/// A small deterministic generator (no extra crate for randomness).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x0005_DEEC_E66D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Which seeds to run: `cargo test` uses `default_first..default_first+default_cases`;
/// `PTH_FUZZ_SEED` and `PTH_FUZZ_CASES` override either.
pub fn seeds(default_first: u64, default_cases: u64) -> std::ops::Range<u64> {
    let read = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    };
    let first = read("PTH_FUZZ_SEED", default_first);
    first..first + read("PTH_FUZZ_CASES", default_cases)
}

/// Keys that are writable in a fresh network namespace and take 0 or 1.
pub const CONF_IFACES: &[&str] = &["all", "default", "lo"];
pub const CONF_KEYS: &[&str] = &["rp_filter", "log_martians", "accept_redirects"];
pub const IPV4_KEYS: &[&str] = &["tcp_sack", "tcp_timestamps", "tcp_dsack"];

/// Components of one real key below /proc/sys.
pub fn key_components(rng: &mut Rng) -> Vec<String> {
    let mut c = vec!["net".to_string(), "ipv4".to_string()];
    if rng.chance(60) {
        c.push("conf".into());
        c.push(rng.pick(CONF_IFACES).to_string());
        c.push(rng.pick(CONF_KEYS).to_string());
    } else {
        c.push(rng.pick(IPV4_KEYS).to_string());
    }
    c
}

/// Spell one component, maybe as a glob. Most globs still match the
/// name; a few are malformed or match nothing. In a dotted key a `.`
/// inside the component would become a separator, so collating symbols
/// and `.*` only appear in slashed keys.
pub fn spell_component(rng: &mut Rng, name: &str, glob_percent: usize, dotted: bool) -> String {
    if !rng.chance(glob_percent) {
        return name.to_string();
    }
    let chars: Vec<char> = name.chars().collect();
    let i = rng.below(chars.len());
    let head: String = chars[..i].iter().collect();
    let tail: String = chars[i + 1..].iter().collect();
    let ch = chars[i];
    let other = if ch == 'x' { 'y' } else { 'x' };
    let middle = match rng.below(if dotted { 16 } else { 20 }) {
        0..=2 => return "*".into(),
        3 => return format!("{head}*"),
        4 => return format!("*{tail}"),
        5 => "?".into(),
        6 => format!("[{ch}]"),
        7 => format!("[!{other}]"),
        8 => format!("[^{other}]"),
        9 => "[[:alpha:]]".into(),
        10 => format!("\\{ch}"),
        11 => format!("[{ch}-{ch}]"),
        12 => return format!("{name}\\"),
        13 => return format!("[[:]{name}"),
        14 => format!("[{ch}"),
        15 => format!("[]{ch}]"),
        16 | 17 => format!("[[.{ch}.]]"),
        18 => return ".*".into(),
        _ => return format!("{name}.*"),
    };
    format!("{head}{middle}{tail}")
}

/// Join components into a key: dotted or slashed, with repeated, leading
/// and trailing separators, `.` and `..` components now and then.
pub fn spell_key(rng: &mut Rng, components: &[String], glob_percent: usize) -> String {
    let dotted = rng.chance(60);
    let (sep, other) = if dotted { (".", "/") } else { ("/", ".") };
    let mut key = String::new();
    if rng.chance(10) {
        key.push_str(if rng.chance(50) { sep } else { other });
    }
    for (i, c) in components.iter().enumerate() {
        if i > 0 {
            key.push_str(sep);
            match rng.below(20) {
                0 => key.push_str(sep),
                // `.` as a component (`//` in a dotted key).
                1 => key.push_str(&format!("{other}{sep}")),
                // `..` back into the same directory (`///` dotted).
                2 if i > 1 => {
                    key.push_str(&format!("{other}{other}{sep}{}{sep}", components[i - 1]))
                }
                _ => {}
            }
        }
        key.push_str(&spell_component(rng, c, glob_percent, dotted));
    }
    if rng.chance(8) {
        key.push_str(sep);
    }
    key
}

/// One line of a sysctl file setting (or excluding) a spelled key.
pub fn spelled_line(rng: &mut Rng, glob_percent: usize) -> String {
    let components = key_components(rng);
    let key = spell_key(rng, &components, glob_percent);
    let lead = *rng.pick(&["", "", "", "-", "- ", " ", "\t", "\x0b", "\x0c"]);
    if rng.chance(8) {
        return format!("-{key}\n");
    }
    let eq = *rng.pick(&[" = ", "=", "\t=\t", " =", "\x0b= ", " =\x0c"]);
    let value = rng.below(2);
    let tail = *rng.pick(&["", "", "", " ", "\r", "\x0b", "\x0c"]);
    format!("{lead}{key}{eq}{value}{tail}\n")
}

/// Shrink `lines` to a smaller list for which `fails` still holds: drop
/// one line at a time while the failure stays (a 1-minimal set).
pub fn shrink(lines: Vec<String>, fails: &mut dyn FnMut(&[String]) -> bool) -> Vec<String> {
    let mut lines = lines;
    let mut i = 0;
    while i < lines.len() {
        let mut fewer = lines.clone();
        fewer.remove(i);
        if fails(&fewer) {
            lines = fewer;
        } else {
            i += 1;
        }
    }
    lines
}
