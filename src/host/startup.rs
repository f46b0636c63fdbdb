//! How the two helper binaries start and hand over (issue 18).
//!
//! The helper ships as two programs:
//! - `/usr/sbin/pve-tcp-hardening` (src/bin/pve-tcp-hardening.rs), the
//!   command admins and the maintainer scripts call. It runs `apply` itself
//!   when [`crate::cli::parse_apply_fast`] reads the line, and
//!   otherwise executes the full helper with the same arguments.
//! - [`FULL_HELPER`] (src/bin/pve-tcp-hardening-full.rs, installed where
//!   the contract says): every command,
//!   parsed by clap.
//!
//! Why two: before `main`, ld.so binds every libc symbol a program imports
//! (BIND_NOW). The full helper imports 115 (process spawning, file system,
//! netlink, ...), the apply-only front about 50; the binding and the
//! relocation of the larger image were most of what `apply` spent above the
//! open/write/close floor. Splitting keeps libc shared, the binaries PIE and
//! BIND_NOW; every other command pays one `execv` (about a millisecond).
//!
//! Both binaries start at a C `main` (`#![no_main]`): std's runtime set-up
//! reads `/proc/self/maps` (glibc's `pthread_getattr_np`, for the main
//! thread's stack guard), installs a stack-overflow handler on an alternate
//! stack and ignores SIGPIPE: about 20 system calls and 0.1 ms. What
//! changes: SIGPIPE keeps the disposition the caller gave, as in procps'
//! `sysctl` and other C tools (a reader that went away ends the process); a
//! stack overflow is a plain SIGSEGV without std's message. What is kept:
//! [`open_closed_standard_fds`], and stdout flushed at exit ([`exit`]).

use crate::contract::{FULL_HELPER, FULL_HELPER_NAME, LIBEXEC_DIR};
use std::ffi::{c_char, c_int, CStr, CString};
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, IntoRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether this process started with fd 1 closed (see
/// [`open_closed_standard_fds`]).
static STDOUT_WAS_CLOSED: AtomicBool = AtomicBool::new(false);

/// What std's runtime does for a closed fd 0, 1 or 2: open /dev/null on it
/// (the lowest free number), so a key file opened later cannot become the
/// helper's stdout. A closed stdout is remembered ([`stdout_was_closed`]):
/// procps' `sysctl` then fails its first write with EBADF and says `write
/// error` at exit, and `apply` does the same.
pub fn open_closed_standard_fds() {
    let closed = |fd: BorrowedFd| rustix::io::fcntl_getfd(fd).is_err();
    let standard = [
        closed(io::stdin().as_fd()),
        closed(io::stdout().as_fd()),
        closed(io::stderr().as_fd()),
    ];
    STDOUT_WAS_CLOSED.store(standard[1], Ordering::Relaxed);
    for _ in standard.iter().filter(|&&is_closed| is_closed) {
        if let Ok(null) = OpenOptions::new().read(true).write(true).open("/dev/null") {
            // Kept open for the life of the process, as the fd it stands in for.
            let _ = null.into_raw_fd();
        }
    }
}

/// Whether fd 1 was closed when the process started.
pub fn stdout_was_closed() -> bool {
    STDOUT_WAS_CLOSED.load(Ordering::Relaxed)
}

/// End the process with `code`'s status; `std::process::exit` flushes stdout.
pub fn exit(code: ExitCode) -> ! {
    // std has no stable getter for an ExitCode's number.
    let status = (0..=u8::MAX).find(|&n| ExitCode::from(n) == code);
    std::process::exit(status.map_or(1, c_int::from))
}

/// Where the front looks for the full helper, in order, from its own path
/// (`/proc/self/exe`):
/// 1. the package's layout, wherever it is: `/usr/sbin/X` ->
///    `/usr/libexec/pve-tcp-hardening/`, and the same below a directory a
///    .deb was unpacked into (`dpkg-deb -x`, then that copy's `plan`), so an
///    unpacked package never runs the full helper of the installed one;
/// 2. beside it (a cargo target directory).
///
/// Without its own path (no /proc mounted): [`FULL_HELPER`] only.
pub fn full_helper_candidates(own_exe: Option<&Path>) -> Vec<PathBuf> {
    let Some(dir) = own_exe.and_then(Path::parent) else {
        return vec![PathBuf::from(FULL_HELPER)];
    };
    let libexec = LIBEXEC_DIR.trim_start_matches("/usr/");
    let packaged = dir
        .parent()
        .map(|usr| usr.join(libexec).join(FULL_HELPER_NAME));
    packaged
        .into_iter()
        .chain([dir.join(FULL_HELPER_NAME)])
        .collect()
}

/// Replace this process by the full helper, with the very `argv` (and
/// environment) this process got. Returns only if no candidate could be
/// executed, with a message naming each path tried and why.
///
/// # Safety
/// `argv` must be the NULL-terminated argument vector C `main` received.
pub unsafe fn exec_full_helper(argv: *const *const c_char) -> String {
    let own_exe = std::env::current_exe().ok();
    let mut tried = Vec::new();
    for path in full_helper_candidates(own_exe.as_deref()) {
        let error = match CString::new(path.as_os_str().as_bytes()) {
            // SAFETY: `path` is a C string; `argv` is main's (the caller's
            // promise), unchanged and NULL-terminated.
            Ok(c_path) => unsafe { execv_error(&c_path, argv) },
            Err(_) => io::Error::from(io::ErrorKind::InvalidInput),
        };
        tried.push(format!("{}: {error}", path.display()));
    }
    format!(
        "cannot run the full helper ({}); reinstall the package that ships {FULL_HELPER}",
        tried.join("; "),
    )
}

/// `execv(2)`; it returns only on failure.
unsafe fn execv_error(path: &CStr, argv: *const *const c_char) -> io::Error {
    // SAFETY: both pointers are valid C strings / vectors (see the caller).
    unsafe { libc::execv(path.as_ptr(), argv) };
    io::Error::last_os_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_helper_is_looked_for_in_the_package_layout_then_beside_the_front() {
        let installed = full_helper_candidates(Some(Path::new("/usr/sbin/pve-tcp-hardening")));
        assert_eq!(installed[0], PathBuf::from(FULL_HELPER));
        let unpacked = full_helper_candidates(Some(Path::new("/tmp/d/usr/sbin/pve-tcp-hardening")));
        assert_eq!(
            unpacked,
            [
                PathBuf::from("/tmp/d/usr/libexec/pve-tcp-hardening/pve-tcp-hardening-full"),
                PathBuf::from("/tmp/d/usr/sbin/pve-tcp-hardening-full"),
            ]
        );
        let cargo = full_helper_candidates(Some(Path::new("/w/target/release/pve-tcp-hardening")));
        assert_eq!(
            cargo[1],
            PathBuf::from("/w/target/release/pve-tcp-hardening-full")
        );
        // No /proc: only the installed path.
        assert_eq!(full_helper_candidates(None), [PathBuf::from(FULL_HELPER)]);
        assert_eq!(FULL_HELPER, format!("{LIBEXEC_DIR}/{FULL_HELPER_NAME}"));
    }
}
