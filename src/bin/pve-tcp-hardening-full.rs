//! `/usr/libexec/pve-tcp-hardening/pve-tcp-hardening-full`: every command of
//! the helper, parsed by clap. Admins and scripts call
//! `/usr/sbin/pve-tcp-hardening`, which runs `apply` itself and executes this
//! program, with the same arguments, for everything else (see
//! `pve_tcp_hardening::host::startup`).

#![no_main]

use clap::Parser;
use pve_tcp_hardening::host::cli::{HelperCli, HelperCommand};
use pve_tcp_hardening::host::{finish, maint, plan, startup, status, sysctl};
use std::ffi::{c_char, c_int};
use std::process::ExitCode;

/// The C entry point, as the front's (see `host::startup`).
#[no_mangle]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    startup::open_closed_standard_fds();
    startup::exit(run())
}

fn run() -> ExitCode {
    let result = match HelperCli::parse().command {
        HelperCommand::Apply(args) => sysctl::apply::run_cli(&args),
        HelperCommand::Status(args) => status::run_cli(&args),
        HelperCommand::Plan(args) => plan::run_cli(&args),
        HelperCommand::Finish(args) => finish::run_cli(&args),
        HelperCommand::Maint(args) => maint::run_cli(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("pve-tcp-hardening: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
