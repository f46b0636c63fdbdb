//! pve-tcp-hardening: turn TCP/IP hardening sysctl profiles into Debian
//! packages for Proxmox VE hosts, and the host helper those packages run.
//!
//! Two flows, one per side:
//! - [`build`] (never shipped): catalog -> profile -> render -> package ->
//!   repo, driven by `pve-tcp-hardening-build`;
//! - [`host`] (shipped as `/usr/sbin/pve-tcp-hardening`): sysctl -> state ->
//!   chrony -> maint -> status.
//!
//! They meet only in [`contract`] (the shipped `profile.json`, the paths a
//! package installs and the names both agree on) and [`cli`] (the helper's
//! command line, which the build renders as a man page). Both use
//! [`atomic`] for every file they write, [`files`] for paths under a root,
//! [`diagnostic`] for errors that point at a line, [`output`] for what they
//! print and [`tool`] to run other programs. Neither of these imports
//! either side; `tests/layout.rs` holds that.

pub mod atomic;
pub mod build;
pub mod cli;
pub mod contract;
pub mod diagnostic;
pub mod files;
pub mod host;
pub mod output;
pub mod tool;

/// The tests' one fake `/proc`, shared with the integration tests.
#[cfg(test)]
#[allow(dead_code)] // each user takes a part
#[path = "../tests/common/fake_proc.rs"]
mod fake_proc;
