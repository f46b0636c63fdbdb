//! From a parsed command line ([`crate::cli`]) to the host module that
//! runs it. The CLI layer of the host side: each command's arguments become
//! that module's own options here, so a module such as `sysctl` knows
//! nothing of the command line.

use crate::cli::{ApplyArgs, HelperCommand};
use crate::host::sysctl::apply::{self, ApplyOptions};
use crate::host::{finish, maint, plan, status};
use anyhow::Result;
use std::process::ExitCode;

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
    apply::run_files(&args.files, &options)
}
