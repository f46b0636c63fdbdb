//! pve-tcp-hardening: turn TCP/IP hardening sysctl profiles into Debian
//! packages for Proxmox VE hosts, and the host helper those packages run.
//!
//! Build side (never shipped): [`catalog`] -> [`profile`] -> [`render`] ->
//! [`package`] -> [`repo`]. Host side (shipped as `/usr/sbin/pve-tcp-hardening`):
//! [`sysctl`] (parse, apply with procps semantics, boot-time merge order) ->
//! [`state`] (snapshot/restore) -> [`chrony`] (divert/transform) -> [`maint`]
//! (maintainer-script entry points). Both sides share [`atomic`] for every
//! file they write.

pub mod atomic;
pub mod catalog;
pub mod chrony;
pub mod cli;
pub mod diagnostic;
pub mod maint;
pub mod package;
pub mod profile;
pub mod render;
pub mod repo;
pub mod state;
pub mod status;
pub mod sysctl;
