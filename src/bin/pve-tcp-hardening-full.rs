//! `/usr/libexec/pve-tcp-hardening/pve-tcp-hardening-full`: every command of
//! the helper, parsed by clap. Admins and scripts call
//! `/usr/sbin/pve-tcp-hardening`, which runs `apply` itself and executes this
//! program, with the same arguments, for everything else (see
//! `pve_tcp_hardening::host::startup`).

#![no_main]

use clap::Parser;
use pve_tcp_hardening::cli::HelperCli;
use pve_tcp_hardening::host::{command, startup};
use std::ffi::{c_char, c_int, OsString};
use std::process::ExitCode;

/// The C entry point, as the front's (see `host::startup`).
#[no_mangle]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    startup::open_closed_standard_fds();
    startup::exit(run())
}

/// Exit status 2 on an error, 3 (UNKNOWN) in Nagios mode
/// ([`command::error_exit`]).
fn run() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match HelperCli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => return command::usage_error(err, &args),
    };
    match command::run(&cli.command) {
        Ok(code) => code,
        Err(err) => command::error_exit(&err, &args),
    }
}
