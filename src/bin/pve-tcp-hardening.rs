//! `/usr/sbin/pve-tcp-hardening`: the command of every package. It runs
//! `apply` in the spellings scripts and admins use, and hands every other
//! command line to the full helper (`/usr/libexec/pve-tcp-hardening/
//! pve-tcp-hardening-full`) with `execv`. Kept apart so `apply` starts with
//! few libc symbols to bind; see `pve_tcp_hardening::host::startup`.

#![no_main]

use pve_tcp_hardening::cli::parse_apply_fast;
use pve_tcp_hardening::host::{command, startup};
use std::ffi::{c_char, c_int, OsString};
use std::process::ExitCode;

/// The C entry point (see `host::startup`).
#[no_mangle]
extern "C" fn main(_argc: c_int, argv: *const *const c_char) -> c_int {
    let args: Vec<OsString> = std::env::args_os().collect();
    let Some(apply_args) = parse_apply_fast(&args) else {
        // The full helper sees the descriptors as given (a closed stdout
        // included) and opens /dev/null on them itself.
        // SAFETY: `argv` is the vector C `main` was given.
        let why = unsafe { startup::exec_full_helper(argv) };
        startup::exit(command::error_exit(&anyhow::anyhow!(why), &args));
    };
    startup::open_closed_standard_fds();
    match command::run_apply(&apply_args) {
        Ok(code) => startup::exit(code),
        Err(err) => {
            eprintln!("pve-tcp-hardening: error: {err:#}");
            startup::exit(ExitCode::from(2))
        }
    }
}
