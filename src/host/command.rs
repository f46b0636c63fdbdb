//! From a parsed command line ([`crate::cli`]) to the host module that
//! runs it. The CLI layer of the host side: each command's arguments become
//! that module's own options here, so a module such as `sysctl` knows
//! nothing of the command line.

use crate::cli::{requested_status_format, ApplyArgs, HelperCommand, StatusFormat};
use crate::host::status::formats::nagios;
use crate::host::sysctl::apply::{self, ApplyOptions};
use crate::host::{finish, maint, plan, status};
use anyhow::Result;
use std::ffi::OsString;
use std::process::ExitCode;

/// The exit status of an error: 2, except in Nagios mode (`status --format
/// nagios`), where every exit that is not a verdict is UNKNOWN (3) and
/// stdout carries the plugin line saying why (the Nagios plugin
/// guidelines: "UNKNOWN: invalid command line arguments were supplied to
/// the plugin or low-level failures internal to the plugin").
pub fn error_exit(err: &anyhow::Error, args: &[OsString]) -> ExitCode {
    eprintln!("pve-tcp-hardening: error: {err:#}");
    if requested_status_format(args) != Some(StatusFormat::Nagios) {
        return ExitCode::from(2);
    }
    let (line, severity) = nagios::render_error(err);
    // Nothing more to do if stdout is gone too: the exit status still says it.
    let _ = crate::output::emit(&line);
    ExitCode::from(nagios::exit_status(severity))
}

/// A command line clap refused (or `--help`, `--version`): clap's message
/// and exit status (2 for a usage error), but UNKNOWN (3) with a plugin
/// line in Nagios mode ([`error_exit`]).
pub fn usage_error(err: clap::Error, args: &[OsString]) -> ExitCode {
    use clap::error::ErrorKind;
    let informational = matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    );
    if informational || requested_status_format(args) != Some(StatusFormat::Nagios) {
        err.exit()
    }
    let _ = err.print();
    let rendered = err.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    let (line, severity) = nagios::render_error(&anyhow::anyhow!(
        "invalid command line: {}",
        first.trim_start_matches("error: ")
    ));
    let _ = crate::output::emit(&line);
    ExitCode::from(nagios::exit_status(severity))
}

/// Run one command of the full helper.
pub fn run(command: &HelperCommand) -> Result<ExitCode> {
    match command {
        HelperCommand::Apply(args) => run_apply(args),
        HelperCommand::Status(args) => status::run_cli(args),
        HelperCommand::Plan(args) => plan::run_cli(args),
        HelperCommand::Finish(args) => finish::run_cli(args),
        HelperCommand::Maint(args) => maint::run_cli(args),
    }
}

/// `pve-tcp-hardening apply`, from the front's fast parse or from clap's.
pub fn run_apply(args: &ApplyArgs) -> Result<ExitCode> {
    let options = ApplyOptions {
        quiet: args.quiet,
        ignore_missing: args.ignore_missing,
        proc_root: args.proc.sys(),
    };
    crate::host::sysctl::proc_root::confined(&options.proc_root)?;
    apply::run_files(&args.files, &options)
}
