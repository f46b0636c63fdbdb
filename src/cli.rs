//! Command line of the host helper `/usr/sbin/pve-tcp-hardening`: what each
//! subcommand takes, and nothing of what it does. Shared by both sides: the
//! helper parses its arguments with it, and the build tool renders the man
//! page and the bash, zsh and fish completions from the same definition
//! ([`documented_command`], `build::manual`) without importing any host code and without running the
//! helper it packages (which may be built for another architecture, and
//! which this project never runs outside a sandbox). The host side turns
//! each parsed command into its module's own options
//! ([`crate::host::command`]).

use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::{Args, Command, CommandFactory, Parser, Subcommand};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Host helper of the pve-tcp-hardening packages. The maintainer scripts call
/// it; admins use `apply` (like `sysctl -p FILE`).
#[derive(Debug, Parser)]
#[command(name = "pve-tcp-hardening", version, about, long_about = None)]
pub struct HelperCli {
    #[command(subcommand)]
    pub command: HelperCommand,
}

#[derive(Debug, Subcommand)]
pub enum HelperCommand {
    /// Apply sysctl files exactly like procps `sysctl -p FILE...`.
    Apply(ApplyArgs),
    /// What is really in force: per key, the boot-time winner and the live
    /// value; chrony; pending reboot; sockets still on IPv6. Exit status:
    /// 0 all in force, 1 something needs attention, 2 error; with
    /// `--format nagios` the plugin's 0 OK, 1 WARNING, 2 CRITICAL and 3
    /// UNKNOWN, also for a usage error.
    Status(StatusArgs),
    /// What installing, or switching to, a profile will do on this host,
    /// before it does it: values now, after install and after the next
    /// boot; IPv6 lockout findings; sockets that go away; chrony; what of
    /// the admin's is adopted. Exit status: 0 nothing stands in the way,
    /// 1 the install would be refused, 2 error.
    Plan(PlanArgs),
    /// Complete an IPv6-off profile without a reboot: restart, one at a
    /// time, the services still bound to an IPv6 address (never the cluster
    /// stack, Ceph, guests, or units listed in
    /// /etc/pve-tcp-hardening/finish.conf), then take back the reboot
    /// request when nothing is left. Exit status: 0 nothing left, 1 a reboot
    /// is still needed (what for is printed), 2 error.
    Finish(FinishArgs),
    /// Entry points of the package's maintainer scripts (not for admins).
    #[command(hide = true)]
    Maint(MaintArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Root of the tree to audit (a mounted image, a test tree).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// The running system's /proc (default: /proc when --root is /; none,
    /// so no live values or sockets, otherwise).
    #[arg(long, value_name = "DIR")]
    pub proc: Option<PathBuf>,
    /// Profile description to check against (default: the installed one,
    /// /usr/share/pve-tcp-hardening/profile.json under --root).
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Print the report as JSON (schema in the README); the same as
    /// `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Output format: the table, JSON, a Nagios/Icinga plugin line (exit
    /// 0/1/2/3), Prometheus metrics (node_exporter textfile collector), a
    /// Checkmk local check line, or journal lines with syslog priorities
    /// (the boot-time check).
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub format: StatusFormat,
    /// Write the output to FILE atomically (a temp file in its directory,
    /// then a rename) instead of stdout, e.g. a node_exporter textfile.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also check the live values against a benchmark's network controls
    /// (every format but journal; a failing control makes the exit status
    /// 1, in Nagios mode WARNING); NAME is one of the compliance maps the
    /// package ships.
    #[arg(long, value_name = "NAME")]
    pub compliance: Option<String>,
    /// The compliance maps (default: the installed ones,
    /// /usr/share/pve-tcp-hardening/compliance.json under --root).
    #[arg(long, value_name = "FILE", requires = "compliance")]
    pub compliance_maps: Option<PathBuf>,
}

/// The helper's command line as a package documents it (man page,
/// completions): without the maintainer scripts' `maint` and the hidden
/// options, and with `benchmarks`, the names of the compliance maps the
/// package ships, as the values of `status --compliance`. The helper itself
/// parses any NAME and checks it against the installed maps (so a map file
/// given with `--compliance-maps` may name others).
pub fn documented_command(benchmarks: &[String]) -> Command {
    let public = HelperCli::command();
    let benchmarks = PossibleValuesParser::new(benchmarks.iter().map(PossibleValue::new));
    // clap has no way to take a subcommand or an argument out of a built
    // command, so the documented one is put together from the visible parts.
    let mut documented = Command::new(public.get_name().to_string())
        .version(public.get_version().map(str::to_string).unwrap_or_default())
        .about(public.get_about().cloned().unwrap_or_default())
        .subcommand_required(true);
    for sub in public.get_subcommands().filter(|s| !s.is_hide_set()) {
        let mut visible = Command::new(sub.get_name().to_string())
            .about(sub.get_about().cloned().unwrap_or_default());
        for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
            let arg = if arg.get_id() == "compliance" {
                arg.clone().value_parser(benchmarks.clone())
            } else {
                arg.clone()
            };
            visible = visible.arg(arg);
        }
        documented = documented.subcommand(visible);
    }
    documented
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFormat {
    Text,
    Json,
    Nagios,
    Prometheus,
    Checkmk,
    Journal,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Root of the host tree (a mounted image, a test tree).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// The running system's /proc (default: /proc when --root is /; none,
    /// so no live values, sockets or addresses, otherwise).
    #[arg(long, value_name = "DIR")]
    pub proc: Option<PathBuf>,
    /// The profile to plan for: a package's profile.json, e.g. from
    /// `dpkg-deb -x` (default: the installed one).
    #[arg(long, value_name = "FILE", conflicts_with = "deb")]
    pub profile: Option<PathBuf>,
    /// A .deb not yet installed (extracted with dpkg-deb to a temp dir).
    #[arg(long, value_name = "FILE")]
    pub deb: Option<PathBuf>,
    /// Print the plan as JSON (schema in the README).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FinishArgs {
    /// Show what would be restarted and what would still need a reboot;
    /// change nothing (exit status as without it).
    #[arg(long)]
    pub dry_run: bool,
    /// Root of the host tree: the installed profile and finish.conf (tests).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// The running system's /proc (default: /proc when --root is /).
    #[arg(long, value_name = "DIR")]
    pub proc: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MaintArgs {
    /// Root of the host tree (tests and image builds use a directory).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    #[command(flatten)]
    pub proc: ProcArgs,
    /// The resolved profile the package ships (relative paths are under
    /// --root; default: /usr/share/pve-tcp-hardening/profile.json under it).
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Which maintainer script is calling.
    #[arg(value_enum)]
    pub script: MaintScript,
    /// The arguments dpkg gave the script (`configure 0.1.0-1`, `remove`...).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MaintScript {
    Postinst,
    Prerm,
}

#[derive(Debug, PartialEq, Eq, Args)]
pub struct ApplyArgs {
    /// Print nothing on stdout for applied keys (like `sysctl -q`).
    #[arg(short, long)]
    pub quiet: bool,
    /// Ignore unknown keys (like `sysctl -e`).
    #[arg(short = 'e', long = "ignore")]
    pub ignore_missing: bool,
    #[command(flatten)]
    pub proc: ProcArgs,
    /// Files to apply, in order; globs are expanded, `-` reads stdin. Any
    /// bytes, as procps takes them (a name need not be UTF-8).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<OsString>,
}

/// Where the running system's /proc is, for the commands that write keys
/// (`apply`, `maint`). `--proc` means /proc, as for `status`, `plan` and
/// `finish`; `--proc-root`, the older spelling, names /proc/sys itself.
#[derive(Debug, PartialEq, Eq, Args)]
pub struct ProcArgs {
    /// The running system's /proc; keys are written below its sys/ (tests
    /// point this at a temp dir).
    #[arg(long, value_name = "DIR", default_value = "/proc")]
    pub proc: PathBuf,
    /// Where the sysctl tree is mounted (the older spelling: DIR is
    /// /proc/sys itself).
    #[arg(long, value_name = "DIR", hide = true, conflicts_with = "proc")]
    pub proc_root: Option<PathBuf>,
}

impl ProcArgs {
    /// The directory keys are below: `--proc-root` as given, else
    /// `--proc`'s `sys/`.
    pub fn sys(&self) -> PathBuf {
        self.proc_root
            .clone()
            .unwrap_or_else(|| self.proc.join("sys"))
    }
}

/// The arguments of `pve-tcp-hardening apply` (`args[0]` is the program)
/// read without clap, in the spellings scripts and admins use: `-q`/`--quiet`,
/// `-e`/`--ignore`, `--proc DIR`/`--proc=DIR` or (not both)
/// `--proc-root DIR`/`--proc-root=DIR`, each at most once and in any order, and one or more FILE arguments. Building clap's command
/// tree costs more than applying a 16-key file (BENCHMARKS.md); anything
/// else (`--help`, `--`, bundled `-qe`, a repeated flag, a value starting
/// with `-` other than a lone `-`, an empty argument, text that is not
/// UTF-8) gives `None`, and clap parses the line with its own errors and
/// help. A unit test checks the result against clap's for every
/// combination of these spellings.
pub fn parse_apply_fast(args: &[OsString]) -> Option<ApplyArgs> {
    let mut rest = args.get(1..)?.iter();
    if rest.next()?.to_str()? != "apply" {
        return None;
    }
    let (mut quiet, mut ignore_missing) = (false, false);
    let (mut proc, mut proc_root): (Option<PathBuf>, Option<PathBuf>) = (None, None);
    let mut files = Vec::new();
    let usable = |text: &str| !text.is_empty() && (text == "-" || !text.starts_with('-'));
    while let Some(raw) = rest.next() {
        // A file name need not be UTF-8; every option is.
        let Some(arg) = raw.to_str() else {
            let bytes = raw.as_bytes();
            if bytes.first() == Some(&b'-') {
                return None;
            }
            files.push(raw.clone());
            continue;
        };
        let flag = match arg {
            "-q" | "--quiet" => &mut quiet,
            "-e" | "--ignore" => &mut ignore_missing,
            _ => {
                let (slot, inline) = if let Some(inline) = arg.strip_prefix("--proc-root") {
                    (&mut proc_root, inline)
                } else if let Some(inline) = arg.strip_prefix("--proc") {
                    (&mut proc, inline)
                } else if usable(arg) {
                    files.push(raw.clone());
                    continue;
                } else {
                    return None;
                };
                let value = match inline {
                    "" => rest.next()?.to_str()?,
                    inline => inline.strip_prefix('=')?,
                };
                if slot.is_some() || !usable(value) || value == "-" {
                    return None;
                }
                *slot = Some(PathBuf::from(value));
                continue;
            }
        };
        if *flag {
            return None;
        }
        *flag = true;
    }
    if files.is_empty() || (proc.is_some() && proc_root.is_some()) {
        return None;
    }
    Some(ApplyArgs {
        quiet,
        ignore_missing,
        proc: ProcArgs {
            proc: proc.unwrap_or_else(|| PathBuf::from("/proc")),
            proc_root,
        },
        files,
    })
}

/// The output format a `status` command line asks for, read without clap,
/// for the exits that come before or without clap's parse: a usage error
/// (clap exits 2, which a Nagios plugin must not: 2 is CRITICAL) and the
/// front's failure to start the full helper. `--json`, `--format X` and
/// `--format=X` after `status` (the helper has no options before its
/// subcommand but `--help` and `--version`); `None` for any other command,
/// an unknown format name, or none given (the text default).
pub fn requested_status_format(args: &[OsString]) -> Option<StatusFormat> {
    use clap::ValueEnum;
    let mut rest = args.get(1..)?.iter().map(|a| a.to_str());
    if rest.next()?? != "status" {
        return None;
    }
    let mut found = None;
    while let Some(arg) = rest.next() {
        let value = match arg {
            Some("--") => break,
            // `--json` with a `--format` is a usage error: the format
            // named is the mode the caller runs in.
            Some("--json") => {
                found = found.or(Some(StatusFormat::Json));
                continue;
            }
            Some("--format") => rest.next().flatten(),
            Some(other) => other.strip_prefix("--format="),
            None => None,
        };
        if let Some(format) = value.and_then(|v| StatusFormat::from_str(v, false).ok()) {
            found = Some(format);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spellings the fast path takes, and neighbours it must leave to clap.
    const TOKENS: &[&str] = &[
        "-q",
        "--quiet",
        "-e",
        "--ignore",
        "--proc-root",
        "--proc-root=/p",
        "--proc-root=",
        "--proc",
        "--proc=/q",
        "/p",
        "-",
        "",
        "f.conf",
        "-qe",
        "--",
        "-h",
        "--quiet=true",
        "--proc-rootx",
    ];

    /// Every sequence of up to `len` tokens after `apply`.
    fn sequences(len: usize) -> Vec<Vec<&'static str>> {
        let mut all = vec![vec![]];
        let mut last = vec![vec![]];
        for _ in 0..len {
            last = last
                .iter()
                .flat_map(|seq: &Vec<&str>| {
                    TOKENS.iter().map(move |t| {
                        let mut next = seq.clone();
                        next.push(*t);
                        next
                    })
                })
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn fast_apply_parse_agrees_with_clap() {
        let mut taken = 0;
        for seq in sequences(4) {
            let args: Vec<OsString> = ["pve-tcp-hardening", "apply"]
                .iter()
                .chain(&seq)
                .map(OsString::from)
                .collect();
            let Some(fast) = parse_apply_fast(&args) else {
                continue;
            };
            taken += 1;
            match HelperCli::try_parse_from(&args).map(|cli| cli.command) {
                Ok(HelperCommand::Apply(slow)) => assert_eq!(fast, slow, "{seq:?}"),
                other => panic!("{seq:?}: fast path took {fast:?}, clap gave {other:?}"),
            }
        }
        // The fast path is not a path nobody takes.
        assert!(taken > 300, "fast path taken {taken} times");
    }

    #[test]
    fn documented_command_hides_maint_and_offers_the_benchmarks() {
        let benchmarks = vec!["one".to_string(), "two".to_string()];
        let command = documented_command(&benchmarks);
        let names: Vec<&str> = command.get_subcommands().map(|s| s.get_name()).collect();
        assert_eq!(names, ["apply", "status", "plan", "finish"]);
        let apply = command.find_subcommand("apply").unwrap();
        assert!(apply.get_arguments().all(|a| a.get_id() != "proc_root"));
        let status = command.find_subcommand("status").unwrap();
        let values = |id: &str| -> Vec<String> {
            let arg = status.get_arguments().find(|a| a.get_id() == id).unwrap();
            arg.get_possible_values()
                .iter()
                .map(|v| v.get_name().to_string())
                .collect()
        };
        assert_eq!(values("compliance"), benchmarks);
        assert_eq!(values("format")[..2], ["text", "json"]);
        // What it documents still parses as the helper parses it.
        let line = [
            "pve-tcp-hardening",
            "status",
            "--compliance",
            "two",
            "--format",
            "nagios",
        ];
        command.clone().try_get_matches_from(line).unwrap();
        HelperCli::try_parse_from(line).unwrap();
    }

    #[test]
    fn the_status_format_is_read_from_a_line_clap_refuses() {
        let format = |line: &[&str]| {
            let args: Vec<OsString> = line.iter().map(OsString::from).collect();
            requested_status_format(&args)
        };
        let nagios = Some(StatusFormat::Nagios);
        assert_eq!(
            format(&["x", "status", "--format", "nagios", "--bogus"]),
            nagios
        );
        assert_eq!(
            format(&["x", "status", "--bogus", "--format=nagios"]),
            nagios
        );
        assert_eq!(format(&["x", "status", "--json"]), Some(StatusFormat::Json));
        assert_eq!(
            format(&["x", "status", "--format", "nagios", "--json"]),
            nagios
        );
        assert_eq!(
            format(&["x", "status", "--json", "--format", "nagios"]),
            nagios
        );
        for line in [
            &["x", "status"][..],
            &["x", "status", "--format", "nagio"],
            &["x", "status", "--format"],
            &["x", "status", "--", "--format", "nagios"],
            &["x", "plan", "--format", "nagios"],
            &["x", "--format", "nagios", "status"],
            &["x"],
        ] {
            assert_eq!(format(line), None, "{line:?}");
        }
    }

    #[test]
    fn fast_apply_parse_cases() {
        let parse = |line: &[&str]| {
            let args: Vec<OsString> = line.iter().map(OsString::from).collect();
            parse_apply_fast(&args)
        };
        let want = ApplyArgs {
            quiet: true,
            ignore_missing: false,
            proc: ProcArgs {
                proc: PathBuf::from("/proc"),
                proc_root: Some(PathBuf::from("/tmp/sys")),
            },
            files: vec!["a.conf".into(), "-".into()],
        };
        let line = ["x", "apply", "a.conf", "-q", "--proc-root", "/tmp/sys", "-"];
        let old = parse(&line).unwrap();
        assert_eq!(old, want);
        let new = parse(&["x", "apply", "--proc", "/tmp", "a.conf", "-q", "-"]).unwrap();
        // Both spellings name the same sysctl tree.
        assert_eq!(new.proc.sys(), old.proc.sys());
        assert_eq!(new.proc.sys(), PathBuf::from("/tmp/sys"));
        for line in [
            &["x", "apply"][..],
            &["x", "apply", "--help"],
            &["x", "apply", "-q", "-q", "f"],
            &["x", "apply", "--proc", "/a", "--proc-root", "/a/sys", "f"],
            &["x", "status", "f"],
            &["x"],
        ] {
            assert_eq!(parse(line), None, "{line:?}");
        }
        // A file name need not be UTF-8 (procps takes any bytes); an
        // option must be.
        let not_utf8: OsString = std::os::unix::ffi::OsStringExt::from_vec(b"\xff.conf".to_vec());
        let args = ["x".into(), "apply".into(), not_utf8.clone()];
        assert_eq!(parse_apply_fast(&args).unwrap().files, [not_utf8]);
        let dash: OsString = std::os::unix::ffi::OsStringExt::from_vec(b"-\xff".to_vec());
        assert_eq!(parse_apply_fast(&["x".into(), "apply".into(), dash]), None);
    }
}
