//! Source-located errors for the data files (profiles, catalog): the file,
//! the line, the offending text under a caret, and a hint, in the style of
//! `just` and rustc. Used for every validation error so a tired admin sees
//! exactly which line to fix.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in one data file.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based line, 0 when the problem is about the file as a whole.
    pub line: usize,
    pub column: usize,
    /// The source line, for the caret display.
    pub source_line: String,
    pub width: usize,
    pub message: String,
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic for the byte range `span` of `source`.
    pub fn at(file: &Path, source: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let start = span.start.min(source.len());
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let source_line = source[line_start..line_end].to_string();
        let width = span.end.clamp(start + 1, line_end.max(start + 1)) - start;
        Diagnostic {
            file: file.to_path_buf(),
            line: source[..start].matches('\n').count() + 1,
            column: source[line_start..start].chars().count() + 1,
            source_line,
            width,
            message: message.into(),
            help: None,
        }
    }

    /// A diagnostic about a whole file (empty file, missing parent file...).
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            source_line: String::new(),
            width: 0,
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            writeln!(f, "{}: {}", self.file.display(), self.message)?;
        } else {
            writeln!(f, "{}:{}: {}", self.file.display(), self.line, self.message)?;
            let gutter = " ".repeat(self.line.to_string().len());
            writeln!(f, "{gutter} |")?;
            writeln!(f, "{} | {}", self.line, self.source_line)?;
            let pad = " ".repeat(self.column.saturating_sub(1));
            writeln!(f, "{gutter} | {pad}{}", "^".repeat(self.width.max(1)))?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "  = help: {help}")?;
        }
        Ok(())
    }
}

/// Every problem found, so `check` can list them all rather than the first.
#[derive(Debug)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// The known word closest to `word` by edit distance, if it is close enough
/// to be a plausible typo (at most a third of the word's length).
pub fn closest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (edit_distance(word, k), k))
        .filter(|(d, _)| *d <= (word.len() / 3).max(2))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev_diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j] + 1).min(row[j + 1] + 1).min(prev_diag + cost);
            prev_diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_under_span() {
        let src = "a = 1\n\"net.x\" = 2\n";
        let d = Diagnostic::at(Path::new("p.toml"), src, 6..13, "unknown key");
        assert_eq!(d.line, 2);
        assert_eq!(
            d.to_string(),
            "p.toml:2: unknown key\n  |\n2 | \"net.x\" = 2\n  | ^^^^^^^\n"
        );
    }

    #[test]
    fn closest_finds_typos_only() {
        let known = ["net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_sack"];
        assert_eq!(
            closest("net.ipv4.tcp_fin_timeot", known),
            Some("net.ipv4.tcp_fin_timeout")
        );
        assert_eq!(closest("kernel.panic", known), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
