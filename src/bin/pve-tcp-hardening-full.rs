//! `/usr/libexec/pve-tcp-hardening/pve-tcp-hardening-full`: every command of
//! the helper, parsed by clap. Admins and scripts call
//! `/usr/sbin/pve-tcp-hardening`, which runs `apply` itself and executes this
//! program, with the same arguments, for everything else (see
//! `pve_tcp_hardening::host::startup`).

#![no_main]

use clap::Parser;
use pve_tcp_hardening::cli::HelperCli;
use pve_tcp_hardening::host::{command, startup};
use std::ffi::{c_char, c_int};
use std::process::ExitCode;

/// The C entry point, as the front's (see `host::startup`).
#[no_mangle]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    startup::open_closed_standard_fds();
    startup::exit(run())
}

fn run() -> ExitCode {
    match command::run(&HelperCli::parse().command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("pve-tcp-hardening: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
