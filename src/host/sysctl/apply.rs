//! `pve-tcp-hardening apply`: write sysctl files under a proc root with the
//! semantics of procps-ng 4.0.2 `sysctl -p FILE...` (Debian 12): the same
//! parsing, the same stdout and stderr bytes (`sysctl: ` prefix included)
//! and the same exit status. The maintainer scripts use [`apply_files`] and
//! [`read_value`]; admins get the same through [`run_files`].
//!
//! Like procps, all files are parsed first (parse-time warnings come first),
//! then the settings are written in order. Unlike procps it does not `stat`
//! and `realpath` every key: it opens the key for writing and only when that
//! fails asks `stat` which of procps' messages applies, so an applied key
//! costs `openat`, `write`, `close`. Keys are opened relative to their
//! directory, opened once per run: the kernel then looks up one name
//! instead of walking `/proc/sys/net/ipv4/conf/all/` again, and in a
//! network namespace every step of that walk checks permissions through the
//! sysctl tables. Paths are checked to stay below the proc root lexically
//! (`/proc/sys` holds no symlinks); only keys with `..` components take the
//! slow `stat`-first route procps takes.
//!
//! Errors here are procps' messages, byte for byte, so this module reads
//! files with `std::fs` and prints the bare `strerror` text instead of the
//! `fs_err`/`anyhow` context used elsewhere.
//!
//! Globs (keys and file arguments) go through glibc's own `glob(3)`, as in
//! procps; exact keys never do.
//!
//! Known differences, none reachable with Debian's `/proc/sys` in the C
//! locale: glob matches sort in the C locale (this process never calls
//! `setlocale`; procps sorts in the admin's locale); keys and
//! values that are not UTF-8 are written lossily; on EINVAL procps retries
//! the identical `write` once (same outcome, so we do not); a fake proc root
//! used by root cannot refuse writes to 0444 files the way `/proc/sys` does.
//!
//! Not here: the boot-time order of sysctl.d files (`merge`), snapshots
//! (`state`).

pub(crate) mod glob;

use crate::host::sysctl::parse::{
    count_lines, key_to_relative_path, lossy, raw_lines, swap_separators, swap_separators_owned,
    RawKind,
};
use anyhow::Result;
use rustix::fs::{Mode, OFlags, CWD};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::ops::Range;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Linux errno values procps switches on (std has no stable names for all).
const EPERM: i32 = 1;
const ENOENT: i32 = 2;
const EACCES: i32 = 13;
const EROFS: i32 = 30;
const EPIPE: i32 = 32;

/// How procps prints every path, whatever `proc_root` really is.
const DISPLAY_ROOT: &str = "/proc/sys/";

/// Options of one `apply` run (`sysctl -q`, `-e`, and where `/proc/sys` is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOptions {
    /// `-q`: print nothing on stdout for applied keys.
    pub quiet: bool,
    /// `-e`: keys that do not exist are neither reported nor failures.
    pub ignore_missing: bool,
    /// The real location of `/proc/sys`; messages still say `/proc/sys/`.
    pub proc_root: PathBuf,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            quiet: false,
            ignore_missing: false,
            proc_root: PathBuf::from("/proc/sys"),
        }
    }
}

/// What happened to one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyResult {
    /// The value was written.
    Applied,
    /// The key does not exist (`stat` failed; also `ENOTDIR` and the like).
    Missing,
    /// Opening the key failed with EACCES, EPERM or EROFS.
    PermissionDenied,
    /// The kernel refused the value or the open failed otherwise (the OS
    /// error text), or the key leaves the proc root ("Path is not under
    /// /proc/sys/").
    Invalid(String),
    /// The key is read-only (no owner write bit) or a directory: procps
    /// warns `Invalid argument` but does not fail.
    ReadOnly,
    /// Opening failed but the line had a `-` prefix: procps prints
    /// `, ignoring`, still prints `key = value` and does not fail.
    Ignored,
}

/// One write attempt, in the order procps makes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOutcome {
    /// The file as procps names it (`-` for stdin).
    pub file: String,
    /// Line number as procps counts it (continues across one glob argument).
    pub lineno: usize,
    /// Display form (`net.ipv4.tcp_sack`), as procps prints it.
    pub key: String,
    /// The value as written in the file.
    pub value: String,
    pub result: KeyResult,
}

/// Everything one run did, and the exit status `sysctl -p` would have.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApplyReport {
    pub outcomes: Vec<KeyOutcome>,
    pub exit_status: u8,
}

/// Apply files exactly like `sysctl -p`, writing procps-identical
/// stdout/stderr to the given writers. `-` reads the process's stdin.
pub fn apply_files(
    files: &[String],
    opts: &ApplyOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ApplyReport {
    let stdin = io::stdin();
    let mut stdin = stdin.lock();
    apply_files_with_stdin(files, opts, &mut stdin, out, err)
}

/// [`apply_files`] with the stream `-` stands for.
pub fn apply_files_with_stdin(
    files: &[String],
    opts: &ApplyOptions,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ApplyReport {
    apply(files, opts, stdin, out, err, true)
}

/// The one implementation; `outcomes: false` leaves the report's outcomes
/// empty (the command line needs only the exit status).
fn apply<F: AsRef<OsStr>>(
    files: &[F],
    opts: &ApplyOptions,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
    outcomes: bool,
) -> ApplyReport {
    let mut run = Run {
        opts,
        root: opts.proc_root.as_os_str().as_bytes(),
        out,
        err,
        report: ApplyReport::default(),
        outcomes,
        out_error: None,
        value_buf: Vec::new(),
        names: Vec::new(),
        key_dirs: BTreeMap::new(),
        last_dir: None,
    };
    let (mut entries, mut data) = (Vec::new(), Vec::new());
    for arg in files {
        run.load_argument(arg.as_ref(), stdin, &mut entries, &mut data);
    }
    run.write_entries(&entries, &data);
    run.finish()
}

/// Read the live value of one key like `sysctl -n key` prints it (trailing
/// newline removed).
pub fn read_value(proc_root: &Path, key: &str) -> io::Result<String> {
    let rel = key_to_relative_path(key);
    // Values read here are saved in a world-readable snapshot: a key such as
    // `net/../../../etc/shadow` in the admin's file must not read outside.
    if !stays_below_root(&rel) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{key}: not a key below /proc/sys"),
        ));
    }
    let path = glob::join_below(proc_root.as_os_str().as_bytes(), rel.as_bytes());
    let bytes = fs_err::read(path)?;
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if text.ends_with('\n') {
        text.pop();
    }
    Ok(text)
}

/// Entry point of `pve-tcp-hardening apply`.
pub fn run_files(files: &[OsString], opts: &ApplyOptions) -> Result<ExitCode> {
    // One buffered stdout, flushed once, as procps' stdio does on a pipe.
    // With `-q` nothing is printed on it, and std's stdout and the buffer
    // are not set up; std's stdin (an 8 KiB buffer) only at a `-` file. Each
    // buffer made at start-up costs fresh heap pages (issue 18).
    let (mut buffered, mut sink, mut closed);
    let out: &mut dyn Write = if opts.quiet {
        sink = io::sink();
        &mut sink
    } else if crate::host::startup::stdout_was_closed() {
        // fd 1 is /dev/null standing in for a closed stdout: fail as a
        // write to the closed descriptor fails (procps: `write error`).
        closed = BufWriter::with_capacity(64 * 1024, ClosedStdout);
        &mut closed
    } else {
        buffered = BufWriter::with_capacity(64 * 1024, io::stdout().lock());
        &mut buffered
    };
    let mut err = io::stderr().lock();
    let report = apply(files, opts, &mut StdinAtFirstRead, out, &mut err, false);
    Ok(ExitCode::from(report.exit_status))
}

/// A stdout that was closed when the process started: every write fails
/// with EBADF, as `write(1, ...)` would have.
struct ClosedStdout;

impl Write for ClosedStdout {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::from_raw_os_error(libc::EBADF))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The process's stdin, set up by std at the first read.
struct StdinAtFirstRead;

impl Read for StdinAtFirstRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        io::stdin().lock().read(buf)
    }
}

/// One parsed line that names a key: a setting or (no value) an exclusion.
struct Entry {
    /// Index of the file's name in `Run::names`.
    file: usize,
    lineno: usize,
    /// Path below the proc root as procps builds it.
    rel: String,
    /// Where the value is in its file's bytes (`None`: an exclusion); it is
    /// only copied if it is not UTF-8.
    value: Option<Range<usize>>,
    ignore_failure: bool,
}

impl Entry {
    /// The value as text (lossy if the file's bytes are not UTF-8).
    fn value<'d>(&self, data: &'d [Vec<u8>]) -> Option<Cow<'d, str>> {
        let range = self.value.clone()?;
        Some(String::from_utf8_lossy(&data[self.file][range]))
    }
}

struct Run<'a> {
    opts: &'a ApplyOptions,
    root: &'a [u8],
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    report: ApplyReport,
    /// Whether `report.outcomes` is filled in.
    outcomes: bool,
    out_error: Option<io::Error>,
    value_buf: Vec<u8>,
    /// The names of the files read, as procps prints them.
    names: Vec<String>,
    /// Directories below the root that keys were opened in, by their path
    /// (`None`: it could not be opened, keys in it use the full path).
    key_dirs: BTreeMap<String, Option<OwnedFd>>,
    /// The directory of the previous key: files list keys directory by
    /// directory, so most keys find theirs without a map lookup.
    last_dir: Option<(String, Option<OwnedFd>)>,
}

impl Run<'_> {
    /// procps `Preload`: expand one argument, read and parse each file.
    /// The first file that cannot be opened ends this argument. Each file's
    /// bytes go to `data`, at the index its name has in `names` (nothing
    /// for a file that could not be opened).
    fn load_argument(
        &mut self,
        arg: &OsStr,
        stdin: &mut dyn Read,
        entries: &mut Vec<Entry>,
        data: &mut Vec<Vec<u8>>,
    ) {
        let mut lines_before = 0;
        let paths = glob::expand_file_argument(arg);
        let last = paths.len().saturating_sub(1);
        for (index, path) in paths.into_iter().enumerate() {
            let name = path.to_string_lossy().into_owned();
            let file = self.names.len();
            self.names.push(name);
            let raw_name = path.as_os_str().as_bytes();
            let bytes = if raw_name == b"-" {
                read_like_getline(stdin)
            } else {
                match File::open(&path) {
                    Ok(mut file) => read_like_getline(&mut file),
                    Err(e) => {
                        // The name as given, byte for byte, as procps prints it.
                        let message = [
                            b"cannot open \"".as_slice(),
                            raw_name,
                            format!("\": {}", strerror(&e)).as_bytes(),
                        ]
                        .concat();
                        self.warn_bytes(&message);
                        self.fail();
                        data.push(Vec::new());
                        return;
                    }
                }
            };
            for line in raw_lines(&bytes) {
                let lineno = lines_before + line.lineno;
                let (key, value, ignore_failure) = match line.kind {
                    RawKind::Setting {
                        key,
                        value,
                        ignore_failure,
                    } => (key, Some(range_in(&bytes, value)), ignore_failure),
                    RawKind::Exclude { pattern } => (pattern, None, false),
                    RawKind::Invalid => {
                        let message = [
                            raw_name,
                            format!("({lineno}): invalid syntax, continuing...").as_bytes(),
                        ]
                        .concat();
                        self.warn_bytes(&message);
                        continue;
                    }
                };
                let rel = self.key_path(lossy(key));
                entries.push(Entry {
                    file,
                    lineno,
                    rel,
                    value,
                    ignore_failure,
                });
            }
            // Only a following file of the same argument needs the count.
            if index < last {
                lines_before += count_lines(&bytes);
            }
            data.push(bytes);
        }
    }

    /// procps `setting_new`: one more leading `-` is dropped from the path,
    /// then a dotted key becomes a path (warning on repeated separators).
    fn key_path(&mut self, mut key: String) -> String {
        if key.starts_with('-') {
            key.remove(0);
        }
        let swap = swap_separators_owned(key, '/');
        if let Some(rest) = swap.repeated_at {
            self.warn(&format!("separators should not be repeated: {rest}"));
        }
        swap.text
    }

    /// procps `write_setting_list`: globs are expanded now; a match that any
    /// line of any file names exactly (setting or exclusion) is skipped.
    fn write_entries(&mut self, entries: &[Entry], data: &[Vec<u8>]) {
        // Made at the first glob line: files without one never need it.
        let mut named: Option<HashSet<&str>> = None;
        for entry in entries {
            let Some(value) = entry.value(data) else {
                continue;
            };
            if glob::has_glob_chars(&entry.rel) {
                let named =
                    named.get_or_insert_with(|| entries.iter().map(|e| e.rel.as_str()).collect());
                for rel in glob::expand_below_root(self.root, &entry.rel) {
                    if !named.contains(rel.as_str()) {
                        self.write_key(entry, &rel, &value);
                    }
                }
            } else {
                self.write_key(entry, &entry.rel, &value);
            }
        }
    }

    /// procps `WriteSetting` for one path below the root.
    fn write_key(&mut self, entry: &Entry, rel: &str, value: &str) {
        let target = Target {
            entry,
            rel,
            value,
            root: self.root,
        };
        let plain = split_plain_key(rel);
        if plain.is_none() && needs_stat_first(rel) {
            if let Err(e) = fs::metadata(target.real()) {
                return self.missing(&target, &e);
            }
            if !stays_below_root(rel) {
                self.warn(&format!(
                    "Path is not under {DISPLAY_ROOT}: {DISPLAY_ROOT}{rel}"
                ));
                self.fail();
                let why = format!("Path is not under {DISPLAY_ROOT}");
                return self.record(&target, relative_key(rel), KeyResult::Invalid(why));
            }
        }
        match self.open_key(&target, plain) {
            Ok(file) => {
                // The printed key is for stdout, the report and messages; with
                // `-q` and no report only procps' second warning about
                // repeated separators can need it.
                let needed = !self.opts.quiet || self.outcomes || has_repeated_separator(rel);
                let key = needed.then(|| self.dotted_key(rel));
                self.write_value(&target, key, file);
            }
            Err(e) => self.open_failed(&target, &e),
        }
    }

    /// Open the key for writing (`O_WRONLY|O_TRUNC`, as procps' `fopen(.., "w")`).
    /// A plain `dir/name` key is opened relative to its directory's file
    /// descriptor; anything else (`.`/`..`/empty components) by its full
    /// path, as is every key of a directory that cannot be opened, so the
    /// errors stay those of a full-path open.
    fn open_key(&mut self, target: &Target, plain: Option<(&str, &str)>) -> io::Result<File> {
        if let Some((dir, name)) = plain {
            if let Some(dir_fd) = self.key_dir(dir) {
                let flags = OFlags::WRONLY | OFlags::TRUNC | OFlags::CLOEXEC;
                return rustix::fs::openat(dir_fd, name, flags, Mode::empty())
                    .map(File::from)
                    .map_err(io::Error::from);
            }
        }
        OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(target.real())
    }

    /// The descriptor of the key directory `dir`, opened (`O_PATH`) at its
    /// first key; `None` if it could not be opened.
    fn key_dir(&mut self, dir: &str) -> Option<BorrowedFd<'_>> {
        if self.last_dir.as_ref().is_none_or(|(last, _)| last != dir) {
            if let Some((last, fd)) = self.last_dir.take() {
                self.key_dirs.insert(last, fd);
            }
            self.last_dir = Some(self.key_dirs.remove_entry(dir).unwrap_or_else(|| {
                let path = glob::join_below(self.root, dir.as_bytes());
                let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
                let fd = rustix::fs::openat(CWD, &path, flags, Mode::empty()).ok();
                (dir.to_string(), fd)
            }));
        }
        self.last_dir.as_ref()?.1.as_ref().map(|fd| fd.as_fd())
    }

    /// One `write` of `value\n`: a short count is success, as in procps'
    /// stdio cookie (retrying the rest would write at a non-zero offset).
    fn write_value(&mut self, target: &Target, key: Option<String>, file: File) {
        self.value_buf.clear();
        self.value_buf.extend_from_slice(target.value.as_bytes());
        self.value_buf.push(b'\n');
        let written = (&file).write(&self.value_buf);
        let Some(key) = key.or_else(|| written.is_err().then(|| self.dotted_key(target.rel)))
        else {
            return;
        };
        match written {
            Ok(_written) => {
                self.print_setting(&key, target.value);
                self.record(target, key, KeyResult::Applied);
            }
            Err(e) => {
                let text = strerror(&e);
                self.warn(&format!("setting key \"{key}\": {text}"));
                self.fail();
                self.record(target, key, KeyResult::Invalid(text));
            }
        }
    }

    /// The open failed: `stat` tells which procps branch we are in.
    fn open_failed(&mut self, target: &Target, open_error: &io::Error) {
        let meta = match fs::metadata(target.real()) {
            Ok(meta) => meta,
            Err(e) => return self.missing(target, &e),
        };
        let key = self.dotted_key(target.rel);
        if meta.is_dir() || meta.permissions().mode() & 0o200 == 0 {
            // procps checks the mode before opening and prints the errno its
            // realpath() left behind (EINVAL), without failing (4.0.2 quirk).
            self.warn(&format!("setting key \"{key}\": Invalid argument"));
            return self.record(target, key, KeyResult::ReadOnly);
        }
        let ignore_failure = target.entry.ignore_failure;
        let ignoring = if ignore_failure { ", ignoring" } else { "" };
        let errno = open_error.raw_os_error();
        let (result, fails) = match errno {
            Some(ENOENT) => {
                if !self.opts.ignore_missing {
                    self.warn(&format!("\"{key}\" is an unknown key{ignoring}"));
                }
                let fails = !self.opts.ignore_missing && !ignore_failure;
                (KeyResult::Missing, fails)
            }
            Some(EPERM | EROFS | EACCES) => {
                self.warn(&format!("permission denied on key \"{key}\"{ignoring}"));
                (KeyResult::PermissionDenied, !ignore_failure)
            }
            _ => {
                let text = strerror(open_error);
                self.warn(&format!("setting key \"{key}\"{ignoring}: {text}"));
                (KeyResult::Invalid(text), !ignore_failure)
            }
        };
        if fails {
            self.fail();
            return self.record(target, key, result);
        }
        // procps prints a failed-but-ignored key as if it had been set.
        self.print_setting(&key, target.value);
        let result = if ignore_failure {
            KeyResult::Ignored
        } else {
            result
        };
        self.record(target, key, result);
    }

    /// procps' `stat` failed: `cannot stat`, unless `-e`.
    fn missing(&mut self, target: &Target, stat_error: &io::Error) {
        if !self.opts.ignore_missing {
            let text = strerror(stat_error);
            self.warn(&format!("cannot stat {DISPLAY_ROOT}{}: {text}", target.rel));
            self.fail();
        }
        self.record(target, relative_key(target.rel), KeyResult::Missing);
    }

    /// The printed key: procps converts the path back, warning again about
    /// repeated separators.
    fn dotted_key(&mut self, rel: &str) -> String {
        let swap = swap_separators(rel, '.');
        if let Some(rest) = swap.repeated_at {
            self.warn(&format!("separators should not be repeated: {rest}"));
        }
        swap.text
    }

    fn print_setting(&mut self, key: &str, value: &str) {
        if self.opts.quiet || self.out_error.is_some() {
            return;
        }
        let line = [key.as_bytes(), b" = ", value.as_bytes(), b"\n"];
        if let Err(e) = line.iter().try_for_each(|part| self.out.write_all(part)) {
            self.out_error = Some(e);
        }
    }

    fn record(&mut self, target: &Target, key: String, result: KeyResult) {
        if !self.outcomes {
            return;
        }
        self.report.outcomes.push(KeyOutcome {
            file: self.names[target.entry.file].clone(),
            lineno: target.entry.lineno,
            key,
            value: target.value.to_string(),
            result,
        });
    }

    /// procps `xwarn`/`xwarnx`: one unbuffered line on stderr. A failing
    /// stderr cannot be reported anywhere, so its error is dropped.
    fn warn(&mut self, message: &str) {
        self.warn_bytes(message.as_bytes());
    }

    /// [`Self::warn`] for a message holding a file name's raw bytes.
    fn warn_bytes(&mut self, message: &[u8]) {
        let line = [b"sysctl: ".as_slice(), message, b"\n"].concat();
        self.err.write_all(&line).ok();
    }

    fn fail(&mut self) {
        self.report.exit_status = 1;
    }

    /// procps `close_stdout` at exit: a failed stdout is `write error`.
    fn finish(mut self) -> ApplyReport {
        let flushed = match self.out_error.take() {
            Some(e) => Err(e),
            None => self.out.flush(),
        };
        if let Err(e) = flushed {
            if e.raw_os_error() != Some(EPIPE) {
                self.warn(&format!("write error: {}", strerror(&e)));
                self.fail();
            }
        }
        self.report
    }
}

/// One key path being written, with the line it came from.
struct Target<'a> {
    entry: &'a Entry,
    rel: &'a str,
    value: &'a str,
    root: &'a [u8],
}

impl Target<'_> {
    /// The key's full path, for the slow paths (`stat`, full-path `open`).
    fn real(&self) -> PathBuf {
        glob::join_below(self.root, self.rel.as_bytes())
    }
}

/// Keys with `..`, or naming the root itself, need procps' order: `stat`
/// first (its error wins), then the check that the path stays inside.
fn needs_stat_first(rel: &str) -> bool {
    let mut components = rel.split('/');
    components.clone().any(|c| c == "..") || components.all(|c| c.is_empty() || c == ".")
}

/// `(directory, name)` of a key path made of plain names only
/// (`net/ipv4/tcp_sack`); `None` for a path with a leading, trailing or
/// repeated `/`, a `.` or `..` component, or no directory at all.
fn split_plain_key(rel: &str) -> Option<(&str, &str)> {
    let slash = rel.bytes().rposition(|b| b == b'/')?;
    let plain = rel
        .as_bytes()
        .split(|&b| b == b'/')
        .all(|c| !matches!(c, b"" | b"." | b".."));
    plain.then(|| (&rel[..slash], &rel[slash + 1..]))
}

/// Lexical `realpath` check: `/proc/sys/REL` must resolve strictly below
/// `/proc/sys/` (the root itself fails, as `realpath` drops the slash).
pub(crate) fn stays_below_root(rel: &str) -> bool {
    let mut resolved = vec!["proc", "sys"];
    for component in rel.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                resolved.pop();
            }
            name => resolved.push(name),
        }
    }
    resolved.len() > 2 && resolved[..2] == ["proc", "sys"]
}

/// Two separators in a row anywhere in `rel` (converting it back may then
/// warn; without them it cannot).
fn has_repeated_separator(rel: &str) -> bool {
    rel.as_bytes()
        .windows(2)
        .any(|pair| matches!(pair, [b'.' | b'/', b'.' | b'/']))
}

/// Display key for outcomes where procps never converts the path back.
fn relative_key(rel: &str) -> String {
    swap_separators(rel, '.').text
}

/// Where `part`, a subslice of `whole`, lies in it.
fn range_in(whole: &[u8], part: &[u8]) -> Range<usize> {
    let start = part.as_ptr() as usize - whole.as_ptr() as usize;
    start..start + part.len()
}

/// Read a whole stream as procps' getline loop does: a read error (say,
/// EISDIR for a directory) just ends the input.
fn read_like_getline(reader: &mut dyn Read) -> Vec<u8> {
    let mut data = Vec::new();
    // On error the bytes read so far stay in `data`, like getline's lines.
    reader.read_to_end(&mut data).ok();
    data
}

/// The bare C `strerror` text (std appends ` (os error N)`).
fn strerror(e: &io::Error) -> String {
    let text = e.to_string();
    match e.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .unwrap_or(&text)
            .to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_proc::FakeProc;
    use tempfile::TempDir;

    /// A fake `/proc/sys` with a few net keys, and a directory for files.
    struct Fixture {
        proc: FakeProc,
        files: TempDir,
    }

    const KEYS: &[(&str, &str)] = &[
        ("net/ipv4/tcp_fin_timeout", "60"),
        ("net/ipv4/tcp_sack", "1"),
        ("net/ipv4/tcp_syncookies", "1"),
        ("net/ipv4/conf/all/rp_filter", "0"),
        ("net/ipv4/conf/default/rp_filter", "0"),
        ("net/ipv4/conf/lo/rp_filter", "0"),
    ];

    impl Fixture {
        fn new() -> Self {
            let proc = FakeProc::new();
            for (rel, value) in KEYS {
                proc.set(rel, value);
            }
            // A key whose writes fail the way an EINVAL from the kernel does.
            proc.failing("net/ipv4/full");
            Self {
                proc,
                files: tempfile::tempdir().expect("tempdir"),
            }
        }

        fn file(&self, name: &str, text: &str) -> String {
            let path = self.files.path().join(name);
            fs_err::write(&path, text).expect("write conf");
            path.to_string_lossy().into_owned()
        }

        fn value(&self, rel: &str) -> String {
            read_value(&self.proc.sys(), rel).expect("read key")
        }

        fn run(&self, files: &[String], opts: ApplyOptions, stdin: &str) -> Outcome {
            let opts = ApplyOptions {
                proc_root: self.proc.sys(),
                ..opts
            };
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let report =
                apply_files_with_stdin(files, &opts, &mut stdin.as_bytes(), &mut out, &mut err);
            let dir = self.files.path().to_string_lossy().into_owned();
            let text =
                |bytes: Vec<u8>| String::from_utf8(bytes).expect("utf8").replace(&dir, "DIR");
            Outcome {
                stdout: text(out),
                stderr: text(err),
                status: report.exit_status,
                report,
            }
        }
    }

    struct Outcome {
        stdout: String,
        stderr: String,
        status: u8,
        report: ApplyReport,
    }

    struct Case {
        name: &'static str,
        conf: &'static str,
        quiet: bool,
        ignore_missing: bool,
        stdout: &'static str,
        stderr: &'static str,
        status: u8,
        /// Keys (paths below the root) and their values afterwards.
        values: &'static [(&'static str, &'static str)],
    }

    const CASE: Case = Case {
        name: "",
        conf: "",
        quiet: false,
        ignore_missing: false,
        stdout: "",
        stderr: "",
        status: 0,
        values: &[],
    };

    #[test]
    fn table_of_files() {
        let cases = [
            Case {
                name: "ok lines, tabs, CRLF, comments",
                conf: "# c\n; c\nnet.ipv4.tcp_fin_timeout = 30\nnet.ipv4.tcp_sack=0\r\n\tnet.ipv4.tcp_syncookies\t=\t2 \n",
                stdout: "net.ipv4.tcp_fin_timeout = 30\nnet.ipv4.tcp_sack = 0\nnet.ipv4.tcp_syncookies = 2\n",
                values: &[("net/ipv4/tcp_fin_timeout", "30"), ("net/ipv4/tcp_sack", "0"), ("net/ipv4/tcp_syncookies", "2")],
                ..CASE
            },
            Case {
                name: "duplicates are both written",
                conf: "net.ipv4.tcp_fin_timeout = 30\nnet.ipv4.tcp_fin_timeout = 31\n",
                stdout: "net.ipv4.tcp_fin_timeout = 30\nnet.ipv4.tcp_fin_timeout = 31\n",
                values: &[("net/ipv4/tcp_fin_timeout", "31")],
                ..CASE
            },
            Case {
                name: "quiet",
                conf: "net.ipv4.tcp_fin_timeout = 30\n",
                quiet: true,
                values: &[("net/ipv4/tcp_fin_timeout", "30")],
                ..CASE
            },
            Case {
                name: "missing key fails, even with a dash",
                conf: "net.ipv4.does_not_exist = 1\n-net.ipv4.nope = 1\nnet.ipv4.tcp_sack = 0\n",
                stdout: "net.ipv4.tcp_sack = 0\n",
                stderr: "sysctl: cannot stat /proc/sys/net/ipv4/does_not_exist: No such file or directory\n\
                         sysctl: cannot stat /proc/sys/net/ipv4/nope: No such file or directory\n",
                status: 1,
                ..CASE
            },
            Case {
                name: "missing key with -e",
                conf: "net.ipv4.does_not_exist = 1\n",
                ignore_missing: true,
                ..CASE
            },
            Case {
                name: "below a file is Not a directory",
                conf: "net.ipv4.tcp_sack.x = 1\n",
                stderr: "sysctl: cannot stat /proc/sys/net/ipv4/tcp_sack/x: Not a directory\n",
                status: 1,
                ..CASE
            },
            Case {
                name: "the kernel refusing the value fails, even with a dash",
                conf: "net.ipv4.full = abc\n-net.ipv4.full = 1\n",
                stderr: "sysctl: setting key \"net.ipv4.full\": No space left on device\n\
                         sysctl: setting key \"net.ipv4.full\": No space left on device\n",
                status: 1,
                ..CASE
            },
            Case {
                name: "a directory is reported but not a failure",
                conf: "net.ipv4 = 1\n",
                stderr: "sysctl: setting key \"net.ipv4\": Invalid argument\n",
                ..CASE
            },
            Case {
                name: "glob, exact key wins, literal exclusion",
                conf: "net.ipv4.conf.*.rp_filter = 2\nnet.ipv4.conf.all.rp_filter = 1\n-net.ipv4.conf.lo.rp_filter\n",
                stdout: "net.ipv4.conf.default.rp_filter = 2\nnet.ipv4.conf.all.rp_filter = 1\n",
                values: &[("net/ipv4/conf/all/rp_filter", "1"), ("net/ipv4/conf/default/rp_filter", "2"), ("net/ipv4/conf/lo/rp_filter", "0")],
                ..CASE
            },
            Case {
                name: "a glob exclusion excludes nothing; unmatched globs are silent",
                conf: "net.ipv4.conf.*.rp_filter = 2\n-net.ipv4.conf.*.rp_filter\nnet.ipv4.conf.*.nothere = 1\n",
                stdout: "net.ipv4.conf.all.rp_filter = 2\nnet.ipv4.conf.default.rp_filter = 2\nnet.ipv4.conf.lo.rp_filter = 2\n",
                values: &[("net/ipv4/conf/lo/rp_filter", "2")],
                ..CASE
            },
            Case {
                name: "slash and dot keys",
                conf: "net/ipv4/tcp_sack = 0\nnet..ipv4.tcp_fin_timeout = 5\n",
                stdout: "net.ipv4.tcp_sack = 0\nnet..ipv4.tcp_fin_timeout = 5\n",
                stderr: "sysctl: separators should not be repeated: ..ipv4.tcp_fin_timeout\n\
                         sysctl: separators should not be repeated: //ipv4/tcp_fin_timeout\n",
                values: &[("net/ipv4/tcp_sack", "0"), ("net/ipv4/tcp_fin_timeout", "5")],
                ..CASE
            },
            Case {
                name: "=1 names the root itself",
                conf: "=1\n",
                stderr: "sysctl: Path is not under /proc/sys/: /proc/sys/\n",
                status: 1,
                ..CASE
            },
            Case {
                name: "a path leaving the root",
                conf: "/.. = 1\n",
                stderr: "sysctl: Path is not under /proc/sys/: /proc/sys//..\n",
                status: 1,
                ..CASE
            },
            Case {
                name: "invalid syntax does not fail",
                conf: "x\nnet.ipv4.tcp_sack\n",
                stderr: "sysctl: DIR/t.conf(1): invalid syntax, continuing...\n\
                         sysctl: DIR/t.conf(2): invalid syntax, continuing...\n",
                ..CASE
            },
        ];
        for case in cases {
            let fixture = Fixture::new();
            let file = fixture.file("t.conf", case.conf);
            let opts = ApplyOptions {
                quiet: case.quiet,
                ignore_missing: case.ignore_missing,
                ..ApplyOptions::default()
            };
            let got = fixture.run(&[file], opts, "");
            assert_eq!(got.stdout, case.stdout, "stdout of {}", case.name);
            assert_eq!(got.stderr, case.stderr, "stderr of {}", case.name);
            assert_eq!(got.status, case.status, "status of {}", case.name);
            for (rel, want) in case.values {
                assert_eq!(fixture.value(rel), *want, "{rel} after {}", case.name);
            }
        }
    }

    #[test]
    fn quiet_run_without_report_still_warns_twice() {
        let fixture = Fixture::new();
        let file = fixture.file(
            "t.conf",
            "net/ipv4//tcp_sack = 0\nnet..ipv4.tcp_fin_timeout = 5\nnet.ipv4.full = 1\n",
        );
        let opts = ApplyOptions {
            quiet: true,
            proc_root: fixture.proc.sys(),
            ..ApplyOptions::default()
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let report = apply(&[file], &opts, &mut &b""[..], &mut out, &mut err, false);
        assert_eq!(String::from_utf8(out).unwrap(), "");
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "sysctl: separators should not be repeated: ..ipv4.tcp_fin_timeout\n\
             sysctl: separators should not be repeated: //tcp_sack\n\
             sysctl: separators should not be repeated: //ipv4/tcp_fin_timeout\n\
             sysctl: setting key \"net.ipv4.full\": No space left on device\n"
        );
        assert_eq!((report.exit_status, report.outcomes.len()), (1, 0));
        assert_eq!(fixture.value("net/ipv4/tcp_sack"), "0");
        assert_eq!(fixture.value("net/ipv4/tcp_fin_timeout"), "5");
    }

    #[test]
    fn unopenable_file_fails_but_others_apply() {
        let fixture = Fixture::new();
        let missing = fixture.files.path().join("missing.conf");
        let files = [
            missing.to_string_lossy().into_owned(),
            fixture.file("ok.conf", "net.ipv4.tcp_sack = 0\n"),
        ];
        let got = fixture.run(&files, ApplyOptions::default(), "");
        assert_eq!(
            got.stderr,
            "sysctl: cannot open \"DIR/missing.conf\": No such file or directory\n"
        );
        assert_eq!(got.stdout, "net.ipv4.tcp_sack = 0\n");
        assert_eq!(got.status, 1);
    }

    #[test]
    fn stdin_and_globbed_files_count_lines_on() {
        let fixture = Fixture::new();
        fixture.file("a.conf", "net.ipv4.tcp_sack = 0\n");
        fixture.file("b.conf", "junk\n");
        let pattern = format!("{}/*.conf", fixture.files.path().display());
        let files = ["-".to_string(), pattern];
        let got = fixture.run(&files, ApplyOptions::default(), "# c\nbad\n");
        assert_eq!(
            got.stderr,
            "sysctl: -(2): invalid syntax, continuing...\n\
             sysctl: DIR/b.conf(2): invalid syntax, continuing...\n"
        );
        assert_eq!(got.stdout, "net.ipv4.tcp_sack = 0\n");
        assert_eq!(got.status, 0);
    }

    #[test]
    fn report_lists_every_write_attempt() {
        let fixture = Fixture::new();
        let file = fixture.file(
            "t.conf",
            "net.ipv4.tcp_sack = 0\nnet.ipv4.nope = 1\nnet.ipv4 = 1\nnet.ipv4.full = 1\n",
        );
        let got = fixture.run(&[file], ApplyOptions::default(), "");
        let results: Vec<(usize, &str, &KeyResult)> = got
            .report
            .outcomes
            .iter()
            .map(|o| (o.lineno, o.key.as_str(), &o.result))
            .collect();
        let full = KeyResult::Invalid("No space left on device".into());
        assert_eq!(
            results,
            [
                (1, "net.ipv4.tcp_sack", &KeyResult::Applied),
                (2, "net.ipv4.nope", &KeyResult::Missing),
                (3, "net.ipv4", &KeyResult::ReadOnly),
                (4, "net.ipv4.full", &full),
            ]
        );
    }

    #[test]
    fn plain_keys_open_relative_to_their_directory() {
        let cases = [
            ("net/ipv4/tcp_sack", Some(("net/ipv4", "tcp_sack"))),
            (
                "net/ipv4/conf/all/rp_filter",
                Some(("net/ipv4/conf/all", "rp_filter")),
            ),
            ("net", None),
            ("/net/ipv4/tcp_sack", None),
            ("net/ipv4/", None),
            ("net//ipv4/tcp_sack", None),
            ("net/./ipv4", None),
            ("net/ipv4/..", None),
        ];
        for (rel, want) in cases {
            assert_eq!(split_plain_key(rel), want, "{rel:?}");
        }
    }

    #[test]
    fn lexical_root_check() {
        let cases = [
            ("net/ipv4/tcp_sack", true),
            ("", false),
            ("./.", false),
            ("net/..", false),
            ("/../../etc", false),
            ("../sys/net", true),
            ("net/../net/ipv4", true),
        ];
        for (rel, inside) in cases {
            assert_eq!(stays_below_root(rel), inside, "{rel:?}");
        }
    }
}
