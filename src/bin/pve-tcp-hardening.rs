//! `/usr/sbin/pve-tcp-hardening`: the host helper shipped in every package.
//!
//! It starts without std's runtime set-up (`#![no_main]` and a C `main`).
//! That set-up reads `/proc/self/maps` (glibc's `pthread_getattr_np`, for
//! the main thread's stack guard), installs a stack-overflow handler on an
//! alternate stack and ignores SIGPIPE: about 20 system calls and 0.12 ms,
//! a fifth of what applying the 16-key default file takes in all
//! (BENCHMARKS.md, issue 18). What changes: SIGPIPE keeps the disposition
//! the caller gave, as in procps' `sysctl` and other C tools (a reader that
//! went away ends the process; with SIGPIPE ignored, output stops quietly
//! as before); a stack overflow is a plain SIGSEGV without std's message.
//! What is kept: a closed stdin, stdout or stderr is opened on /dev/null
//! first, so no file the helper opens takes its number; stdout is flushed
//! at exit (`std::process::exit`).

#![no_main]

use clap::Parser;
use pve_tcp_hardening::host::cli::{parse_apply_fast, HelperCli, HelperCommand};
use std::ffi::{c_char, c_int, OsString};
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, IntoRawFd};
use std::process::ExitCode;

/// The C entry point (see the module documentation).
#[no_mangle]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    open_closed_standard_fds();
    let code = run();
    // std has no stable getter for an ExitCode's number.
    let status = (0..=u8::MAX).find(|&n| ExitCode::from(n) == code);
    std::process::exit(status.map_or(1, c_int::from))
}

/// What std's runtime does for a closed fd 0, 1 or 2: open /dev/null on it
/// (the lowest free number), so a key file opened later cannot become the
/// helper's stdout.
fn open_closed_standard_fds() {
    let closed = |fd: std::os::fd::BorrowedFd| rustix::io::fcntl_getfd(fd).is_err();
    let standard = [
        closed(io::stdin().as_fd()),
        closed(io::stdout().as_fd()),
        closed(io::stderr().as_fd()),
    ];
    for _ in standard.iter().filter(|&&is_closed| is_closed) {
        if let Ok(null) = OpenOptions::new().read(true).write(true).open("/dev/null") {
            // Kept open for the life of the process, as the fd it stands in for.
            let _ = null.into_raw_fd();
        }
    }
}

fn run() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    // `apply` is read without building clap's command tree when it can be.
    let command = match parse_apply_fast(&args) {
        Some(apply) => HelperCommand::Apply(apply),
        None => HelperCli::parse_from(args).command,
    };
    let result = match command {
        HelperCommand::Apply(args) => pve_tcp_hardening::host::sysctl::apply::run_cli(&args),
        HelperCommand::Status(args) => pve_tcp_hardening::host::status::run_cli(&args),
        HelperCommand::Plan(args) => pve_tcp_hardening::host::plan::run_cli(&args),
        HelperCommand::Finish(args) => pve_tcp_hardening::host::finish::run_cli(&args),
        HelperCommand::Maint(args) => pve_tcp_hardening::host::maint::run_cli(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("pve-tcp-hardening: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
