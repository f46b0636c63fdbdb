//! Make chronyd IPv4-only: with IPv6 disabled chronyd must run with `-4`,
//! which Debian passes through `DAEMON_OPTS` in chrony's conffile
//! `/etc/default/chrony`. We never edit that conffile in place (dpkg would
//! prompt on every chrony upgrade); we divert it to `/etc/default/chrony.orig`
//! and write a generated `/etc/default/chrony` = the `.orig` plus `-4`.
//!
//! [`add_ipv4_only`] is the pure text transform; [`ChronyDiversion`] is the
//! thin I/O layer over `dpkg-divert` and the two files, every path under a
//! root so tests run dpkg-divert for real against a temp dir; and
//! [`restart_chronyd`] asks `invoke-rc.d` to pick the change up.

use crate::atomic::write_atomic_as;
use crate::files::{if_exists, under_root};
use crate::tool::run_checked;
use anyhow::{bail, Context, Result};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

const CONFFILE: &str = crate::contract::CHRONY_DEFAULT;
const DIVERTED_TO: &str = crate::contract::CHRONY_DIVERTED;

/// Add `-4` once to the `DAEMON_OPTS` assignment that takes effect (the last
/// active one: the file is sourced by sh), keeping every other byte.
///
/// `DAEMON_OPTS="-F 1"` becomes `DAEMON_OPTS="-4 -F 1"`; single quotes stay
/// single; an unquoted word gets double quotes (`DAEMON_OPTS=-F1` becomes
/// `DAEMON_OPTS="-4 -F1"`, the same value: an assignment neither splits nor
/// globs). A value that already has a `-4` word is left alone; one using
/// `$OTHER` still gets `-4` (we cannot see what it expands to). When no
/// active assignment exists the line `DAEMON_OPTS="-4"` is appended (after a
/// newline if the text lacks a final one). An assignment we cannot edit
/// safely (continued on the next line, an unterminated quote, command
/// substitution, more words after it) is an error naming the line.
pub fn add_ipv4_only(text: &str) -> Result<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut last = None;
    for (i, line) in lines.iter().enumerate() {
        if let Some(value_start) = assignment_value_start(line) {
            last = Some((i, value_start));
        }
    }
    let Some((index, value_start)) = last else {
        return Ok(append_assignment(text));
    };
    let line = lines[index];
    let edited = edit_value(line, value_start).with_context(|| {
        format!(
            "line {}: cannot add -4 to `{}`; write it as one line like \
             DAEMON_OPTS=\"-F 1\" and try again",
            index + 1,
            line.trim_end()
        )
    })?;
    let mut out = String::with_capacity(text.len() + 4);
    for (i, l) in lines.iter().enumerate() {
        out.push_str(if i == index { &edited } else { l });
    }
    Ok(out)
}

/// Where the value starts when `line` is an active `[export ]DAEMON_OPTS=`
/// assignment (sh allows no blanks around `=`).
fn assignment_value_start(line: &str) -> Option<usize> {
    let blank = |c: char| c == ' ' || c == '\t';
    let rest = line.trim_start_matches(blank);
    let rest = match rest.strip_prefix("export") {
        Some(after) if after.starts_with(blank) => after.trim_start_matches(blank),
        _ => rest,
    };
    rest.strip_prefix("DAEMON_OPTS=")
        .map(|value| line.len() - value.len())
}

fn append_assignment(text: &str) -> String {
    let eol = if text.ends_with("\r\n") { "\r\n" } else { "\n" };
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("DAEMON_OPTS=\"-4\"");
    out.push_str(eol);
    out
}

/// The shell word of an assignment value, split into its quoted and
/// unquoted parts.
#[derive(Debug)]
enum Part<'a> {
    Double(&'a str),
    Single(&'a str),
    Bare(&'a str),
}

/// Rewrite the value word starting at `start` in `line`.
fn edit_value(line: &str, start: usize) -> Result<String> {
    // A CR before the LF ends the line for us, as an editor shows it.
    let body_end = line
        .strip_suffix("\r\n")
        .or_else(|| line.strip_suffix('\n'))
        .map_or(line.len(), str::len);
    let (parts, word_len) = split_word(&line[start..body_end])?;
    let after = &line[start + word_len..body_end];
    check_rest_of_line(after)?;
    let literal: String = parts
        .iter()
        .map(|p| match p {
            Part::Double(s) | Part::Single(s) | Part::Bare(s) => *s,
        })
        .collect();
    if literal.split_ascii_whitespace().any(|w| w == "-4") {
        return Ok(line.to_string());
    }
    let word = &line[start..start + word_len];
    let new_word = match parts.as_slice() {
        [] => "\"-4\"".to_string(),
        [Part::Double(s)] => format!("\"{}\"", prefixed(s)),
        [Part::Single(s)] => format!("'{}'", prefixed(s)),
        [Part::Bare(s)] => format!("\"{}\"", prefixed(s)),
        // sh concatenates adjacent parts: a quoted prefix is exactly `-4 `.
        _ => format!("\"-4 \"{word}"),
    };
    Ok(format!(
        "{}{}{}",
        &line[..start],
        new_word,
        &line[start + word_len..]
    ))
}

fn prefixed(value: &str) -> String {
    if value.is_empty() {
        "-4".to_string()
    } else {
        format!("-4 {value}")
    }
}

/// Split the shell word at the start of `s` (up to the first unquoted blank
/// or `;`); returns its parts and its length in bytes.
fn split_word(s: &str) -> Result<(Vec<Part<'_>>, usize)> {
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b';' | b'\r' => break,
            b'`' => bail!("command substitution with a backquote"),
            b'$' if bytes.get(i + 1) == Some(&b'(') => bail!("command substitution $(...)"),
            b'\\' => bail!("a backslash (line continuation or escape)"),
            quote @ (b'"' | b'\'') => {
                let close = bytes[i + 1..]
                    .iter()
                    .position(|&c| c == quote)
                    .map(|p| i + 1 + p)
                    .with_context(|| format!("an unterminated {} quote", quote as char))?;
                let inner = &s[i + 1..close];
                if quote == b'"' {
                    if inner.contains(['\\', '`']) || inner.contains("$(") {
                        bail!("a backslash or command substitution inside double quotes");
                    }
                    parts.push(Part::Double(inner));
                } else {
                    parts.push(Part::Single(inner));
                }
                i = close + 1;
            }
            _ => {
                let end = bytes[i..]
                    .iter()
                    .position(|c| b" \t;\r\"'\\`".contains(c))
                    .map_or(bytes.len(), |p| i + p);
                let bare = &s[i..end];
                if bare.contains("$(") {
                    bail!("command substitution $(...)");
                }
                parts.push(Part::Bare(bare));
                i = end;
            }
        }
    }
    Ok((parts, i))
}

/// After the value only blanks, a comment or `;` and another command may
/// follow; another word would make the line a command with DAEMON_OPTS in
/// its environment, or a second assignment we would have to understand.
fn check_rest_of_line(after: &str) -> Result<()> {
    let rest = after.trim_start_matches([' ', '\t']);
    if rest.is_empty() || rest.starts_with('#') || rest.starts_with(';') || rest == "\r" {
        return Ok(());
    }
    bail!("more words after the value (`{}`)", rest.trim_end())
}

/// Where `/etc/default/chrony` stands after [`ChronyDiversion::write_generated`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneratedState {
    /// The generated file was (re)written.
    Written,
    /// It already had the right content; nothing was written.
    Unchanged,
    /// No `/etc/default/chrony.orig`: chrony is not installed, nothing to do.
    ChronyNotInstalled,
}

/// What [`ChronyDiversion::undivert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UndivertOutcome {
    /// chrony's conffile is back from `.orig`; the diversion is gone.
    Restored,
    /// We held no diversion; nothing was done.
    NotDiverted,
    /// `.orig` was missing (the admin deleted it): the diversion is gone and
    /// `/etc/default/chrony` is left as it was.
    KeptAdminFile,
    /// chrony was purged while diverted (dpkg then deletes neither file):
    /// its leftover `.orig` and our generated file are deleted with the
    /// diversion, so no `/etc/default/chrony` is left that no package owns.
    ChronyPurged,
}

impl UndivertOutcome {
    /// A warning for the admin, when there is one.
    pub fn note(self) -> Option<String> {
        match self {
            UndivertOutcome::KeptAdminFile => Some(format!(
                "{DIVERTED_TO} was missing; kept {CONFFILE} as it is: check that its \
                 DAEMON_OPTS are what you want"
            )),
            UndivertOutcome::ChronyPurged => Some(format!(
                "chrony was purged: deleted the {CONFFILE} and {DIVERTED_TO} it left \
                 behind, and the diversion"
            )),
            UndivertOutcome::Restored | UndivertOutcome::NotDiverted => None,
        }
    }
}

/// The diversion of chrony's conffile by one of our packages.
#[derive(Debug, Clone)]
pub struct ChronyDiversion {
    root: PathBuf,
    package: String,
    sibling_prefix: String,
}

impl ChronyDiversion {
    /// `root` is `/` on a host; `sibling_prefix` (e.g. `pve-tcp-hardening`)
    /// names the packages whose diversion we may take over: our variants
    /// conflict with each other, so a sibling's diversion is a leftover.
    pub fn new(root: impl Into<PathBuf>, package: &str, sibling_prefix: &str) -> ChronyDiversion {
        ChronyDiversion {
            root: root.into(),
            package: package.to_string(),
            sibling_prefix: sibling_prefix.to_string(),
        }
    }

    fn host_path(&self, path: &str) -> PathBuf {
        under_root(&self.root, path)
    }

    /// Which package diverts `/etc/default/chrony`, if any.
    pub fn diverted_by(&self) -> Result<Option<String>> {
        let out = self.dpkg_divert(&["--listpackage", CONFFILE])?;
        let holder = out.trim();
        Ok((!holder.is_empty()).then(|| holder.to_string()))
    }

    /// Whether our package holds the diversion.
    pub fn is_diverted(&self) -> Result<bool> {
        Ok(self.diverted_by()?.as_deref() == Some(self.package.as_str()))
    }

    /// Divert `/etc/default/chrony` to `.orig` (moving the file). Does
    /// nothing when we already hold it; takes it over from a sibling
    /// variant; refuses when an unrelated package holds it. A `.orig` that
    /// no diversion explains is the admin's (the guide's `cp` backup): the
    /// caller adopts it first (`crate::host::adopt`, which reads this
    /// module: adoption is not chrony's business).
    pub fn divert(&self) -> Result<()> {
        match self.diverted_by()? {
            Some(holder) if holder == self.package => return Ok(()),
            Some(holder) if holder.starts_with(&self.sibling_prefix) => {
                self.remove_diversion_of(&holder)
                    .with_context(|| format!("cannot take the diversion over from {holder}"))?;
            }
            Some(holder) => bail!(
                "{CONFFILE} is diverted by package {holder}; remove that diversion \
                 (dpkg-divert --package {holder} --rename --remove {CONFFILE}) first"
            ),
            None => {}
        }
        self.dpkg_divert(&[
            "--package",
            &self.package,
            "--rename",
            "--divert",
            DIVERTED_TO,
            "--add",
            CONFFILE,
        ])?;
        Ok(())
    }

    /// Whether chrony's own file (behind the diversion) already has `-4`:
    /// the admin made chronyd IPv4-only by hand.
    pub fn original_is_ipv4_only(&self) -> Result<bool> {
        let orig = self.host_path(DIVERTED_TO);
        let Some(text) = if_exists(fs_err::read_to_string(&orig))
            .context("cannot read chrony's diverted conffile")?
        else {
            return Ok(false);
        };
        Ok(add_ipv4_only(&text).is_ok_and(|edited| edited == text))
    }

    /// Check that chrony's conffile (where it is now: `.orig` once diverted,
    /// `/etc/default/chrony` before) can take `-4`, before anything is
    /// diverted or written, so a file we cannot edit changes nothing.
    pub fn check_transform(&self) -> Result<()> {
        let source = match self.diverted_by()? {
            Some(holder) if holder.starts_with(&self.sibling_prefix) => DIVERTED_TO,
            _ => CONFFILE,
        };
        let path = self.host_path(source);
        let Some(text) =
            if_exists(fs_err::read_to_string(&path)).context("cannot read chrony's conffile")?
        else {
            return Ok(());
        };
        add_ipv4_only(&text).map(drop).with_context(|| {
            format!(
                "cannot make {} IPv4-only; nothing was changed",
                path.display()
            )
        })
    }

    /// Write `/etc/default/chrony` = `.orig` with `-4`, with the mode and
    /// owner of `.orig`. Requires our diversion, so chrony's own conffile is
    /// never overwritten.
    pub fn write_generated(&self) -> Result<GeneratedState> {
        let orig = self.host_path(DIVERTED_TO);
        let target = self.host_path(CONFFILE);
        let orig_meta = match fs_err::metadata(&orig) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(GeneratedState::ChronyNotInstalled)
            }
            Err(e) => return Err(e).context("cannot inspect chrony's diverted conffile"),
        };
        if !self.is_diverted()? {
            bail!(
                "{CONFFILE} is not diverted by {}; refusing to overwrite chrony's conffile",
                self.package
            );
        }
        let text = fs_err::read_to_string(&orig).context("cannot read chrony's conffile")?;
        let generated = add_ipv4_only(&text)
            .with_context(|| format!("cannot make {} IPv4-only", orig.display()))?;
        let current = if_exists(fs_err::read(&target))
            .context("cannot read the generated chrony defaults")?;
        if current.as_deref() == Some(generated.as_bytes()) {
            return Ok(GeneratedState::Unchanged);
        }
        let mode = orig_meta.mode() & 0o7777;
        // `.orig`'s mode and owner, not those of the file it replaces.
        write_atomic_as(
            &target,
            generated.as_bytes(),
            mode,
            (orig_meta.uid(), orig_meta.gid()),
        )
        .with_context(|| format!("cannot write {}", target.display()))?;
        Ok(GeneratedState::Written)
    }

    /// Put chrony's conffile back byte for byte and drop our diversion.
    /// Does nothing when we hold no diversion. If the admin deleted `.orig`,
    /// their `/etc/default/chrony` is kept (see [`UndivertOutcome::note`]).
    pub fn undivert(&self) -> Result<UndivertOutcome> {
        if !self.is_diverted()? {
            return Ok(UndivertOutcome::NotDiverted);
        }
        self.remove_diversion_of(&self.package)
    }

    fn remove_diversion_of(&self, package: &str) -> Result<UndivertOutcome> {
        let orig = self.host_path(DIVERTED_TO);
        let target = self.host_path(CONFFILE);
        if chrony_package(&self.root) == ChronyPackage::Purged {
            for path in [&orig, &target] {
                crate::atomic::remove_file(path)
                    .context("cannot delete what chrony's purge left behind")?;
            }
            self.dpkg_divert(&["--package", package, "--remove", CONFFILE])?;
            return Ok(UndivertOutcome::ChronyPurged);
        }
        let outcome = if fs_err::symlink_metadata(&orig).is_ok() {
            // dpkg-divert --rename refuses to move .orig over another file.
            crate::atomic::remove_file(&target)
                .context("cannot remove the generated chrony defaults")?;
            UndivertOutcome::Restored
        } else {
            UndivertOutcome::KeptAdminFile
        };
        self.dpkg_divert(&["--package", package, "--rename", "--remove", CONFFILE])?;
        Ok(outcome)
    }

    /// Run dpkg-divert on our root; `--root` sets both the install dir and
    /// the admin dir `<root>/var/lib/dpkg` (dpkg-divert(1)).
    fn dpkg_divert(&self, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new("dpkg-divert");
        if self.root != Path::new("/") {
            cmd.arg("--root").arg(&self.root);
        }
        cmd.args(args);
        let out = run_checked(&mut cmd, &format!("dpkg-divert {}", args.join(" ")))?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// chrony as dpkg's database under a root knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChronyPackage {
    /// Installed, or removed with its conffiles kept (config-files), or
    /// on its way in or out.
    Known,
    /// Purged, or never installed: dpkg has no record of it.
    Purged,
    /// No dpkg database under the root (an image, a test tree), or
    /// dpkg-query failed otherwise: go by the files.
    Unknown,
}

/// chrony's state in dpkg's database under `root`. dpkg itself (Essential)
/// is asked about too: when the database does not know dpkg, it is not a
/// real one and says nothing about chrony.
pub fn chrony_package(root: &Path) -> ChronyPackage {
    let out = Command::new("dpkg-query")
        .arg(format!("--root={}", root.display()))
        .args([
            "-W",
            "-f",
            "${Package} ${db:Status-Status}\n",
            "dpkg",
            "chrony",
        ])
        .stdin(Stdio::null())
        .output();
    // Exit 1 with "no packages found" for a name it does not know: the
    // lines of the names it knows are still printed.
    let Ok(out) = out else {
        return ChronyPackage::Unknown;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let status = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .map(str::to_string)
    };
    if status("dpkg").is_none() {
        return ChronyPackage::Unknown;
    }
    match status("chrony").as_deref() {
        None | Some("not-installed") => ChronyPackage::Purged,
        Some(_) => ChronyPackage::Known,
    }
}

/// What asking chronyd to restart came to; only `Failed` is worth an error
/// in a maintainer script, and even that should not fail the package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartOutcome {
    /// `invoke-rc.d chrony try-restart` succeeded (a stopped chronyd stays stopped).
    Restarted,
    /// Not run: the root is not `/` (a test or a chroot being prepared).
    SkippedNotHostRoot,
    /// Not run: an image build (`ischroot`, `DPKG_ROOT`); the reason.
    SkippedImageBuild(String),
    /// policy-rc.d denied it (exit 101), as in a chroot or an image build.
    DeniedByPolicy,
    /// chrony is not installed: nothing to restart.
    NotInstalled,
    /// Still running after the time limit; left to finish on its own.
    TimedOut,
    /// Any other failure, with invoke-rc.d's message.
    Failed(String),
}

impl RestartOutcome {
    /// A one-line note for the admin.
    pub fn note(&self) -> String {
        match self {
            RestartOutcome::Restarted => "chronyd restarted with -4 (if it was running)".into(),
            RestartOutcome::SkippedNotHostRoot => {
                "not restarting chronyd: not the host root".into()
            }
            RestartOutcome::SkippedImageBuild(why) => format!("not restarting chronyd ({why})"),
            RestartOutcome::DeniedByPolicy => {
                "policy-rc.d denied restarting chronyd; restart it to apply -4".into()
            }
            RestartOutcome::NotInstalled => "chrony is not installed; nothing to restart".into(),
            RestartOutcome::TimedOut => {
                "restarting chronyd takes too long; check `systemctl status chrony`".into()
            }
            RestartOutcome::Failed(msg) => format!("restarting chronyd failed: {msg}"),
        }
    }
}

const RESTART_TIME_LIMIT: Duration = Duration::from_secs(60);

/// `invoke-rc.d chrony try-restart` on the host (`root` = `/`) only.
pub fn restart_chronyd(root: &Path) -> Result<RestartOutcome> {
    try_restart(root, "chrony")
}

/// `invoke-rc.d SERVICE try-restart` (a stopped service stays stopped) on
/// the host (`root` = `/`) only; never prompts (stdin is /dev/null) and
/// gives up waiting after a minute.
pub fn try_restart(root: &Path, service: &str) -> Result<RestartOutcome> {
    invoke(root, service, "try-restart")
}

/// `invoke-rc.d SERVICE restart`: as [`try_restart`], but a service that
/// is stopped or failed is started too.
pub fn restart(root: &Path, service: &str) -> Result<RestartOutcome> {
    invoke(root, service, "restart")
}

fn invoke(root: &Path, service: &str, action: &str) -> Result<RestartOutcome> {
    if root != Path::new("/") {
        return Ok(RestartOutcome::SkippedNotHostRoot);
    }
    if !Path::new("/etc/init.d").join(service).exists() {
        return Ok(RestartOutcome::NotInstalled);
    }
    let child = Command::new("invoke-rc.d")
        .args([service, action])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run invoke-rc.d {service} {action}"))?;
    // Waited for on a thread of its own, which also drains stderr: the
    // answer comes the moment invoke-rc.d ends (a polling loop added up to
    // its period to every install and purge), and a chatty init script
    // cannot fill the pipe and stall until the time limit. On a timeout
    // the service is left to finish on its own.
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let out = match result.recv_timeout(RESTART_TIME_LIMIT) {
        Ok(out) => out.context("cannot read invoke-rc.d's output")?,
        Err(RecvTimeoutError::Timeout) => return Ok(RestartOutcome::TimedOut),
        Err(RecvTimeoutError::Disconnected) => {
            bail!("invoke-rc.d's waiter ended without an answer")
        }
    };
    Ok(classify_invoke_rc_d(
        out.status.code(),
        &String::from_utf8_lossy(&out.stderr),
    ))
}

/// invoke-rc.d(8): 100 = unknown initscript, 101 = action forbidden by
/// policy-rc.d; anything else non-zero is the service's own failure. For
/// `try-restart` a denial exits 0 and only says `policy-rc.d denied
/// execution of try-restart.` on stderr: that is a denial too, not a
/// restart.
fn classify_invoke_rc_d(code: Option<i32>, stderr: &str) -> RestartOutcome {
    // `Overriding policy-rc.d denied execution ...` (--force) is allowed.
    let denied = stderr.lines().any(|line| {
        line.trim_start_matches("invoke-rc.d: ")
            .starts_with("policy-rc.d denied execution")
    });
    if denied {
        return RestartOutcome::DeniedByPolicy;
    }
    match code {
        Some(0) => RestartOutcome::Restarted,
        Some(100) => RestartOutcome::NotInstalled,
        Some(101) => RestartOutcome::DeniedByPolicy,
        Some(c) => RestartOutcome::Failed(format!("exit {c}: {}", stderr.trim())),
        None => RestartOutcome::Failed(format!("killed by a signal: {}", stderr.trim())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_rc_d_exit_codes() {
        let cases = [
            (Some(0), RestartOutcome::Restarted),
            (Some(100), RestartOutcome::NotInstalled),
            (Some(101), RestartOutcome::DeniedByPolicy),
            (Some(1), RestartOutcome::Failed("exit 1: boom".into())),
        ];
        for (code, want) in cases {
            assert_eq!(classify_invoke_rc_d(code, "boom\n"), want);
        }
        // What invoke-rc.d prints when policy-rc.d exits 101 for try-restart:
        // its own exit status is 0.
        let denied = "invoke-rc.d: policy-rc.d denied execution of try-restart.\n";
        assert_eq!(
            classify_invoke_rc_d(Some(0), denied),
            RestartOutcome::DeniedByPolicy
        );
        let forced = "invoke-rc.d: Overriding policy-rc.d denied execution of try-restart.\n";
        assert_eq!(
            classify_invoke_rc_d(Some(0), forced),
            RestartOutcome::Restarted
        );
    }

    #[test]
    fn restart_is_skipped_off_the_host_root() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            restart_chronyd(dir.path()).unwrap(),
            RestartOutcome::SkippedNotHostRoot
        );
    }
}
