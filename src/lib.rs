//! pve-tcp-hardening: turn TCP/IP hardening sysctl profiles into Debian
//! packages for Proxmox VE hosts, and the host helper those packages run.
//!
//! Two flows, one per side:
//! - [`build`] (never shipped): catalog -> profile -> render -> package ->
//!   repo, driven by `pve-tcp-hardening-build`;
//! - [`host`] (shipped as `/usr/sbin/pve-tcp-hardening`): sysctl -> state ->
//!   chrony -> maint -> status.
//!
//! They meet only in [`contract`] (the shipped `profile.json` and the names
//! both agree on). Both use [`atomic`] for every file they write,
//! [`diagnostic`] for errors that point at a line, and [`output`] for
//! what they print.

pub mod atomic;
pub mod build;
pub mod contract;
pub mod diagnostic;
pub mod files;
pub mod host;
pub mod output;

/// The tests' one fake `/proc`, shared with the integration tests.
#[cfg(test)]
#[allow(dead_code)] // each user takes a part
#[path = "../tests/common/fake_proc.rs"]
mod fake_proc;
