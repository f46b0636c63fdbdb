//! The host side, shipped in every package as `/usr/sbin/pve-tcp-hardening`:
//! [`sysctl`] (parse and apply with procps semantics, the boot-time merge
//! order) -> [`state`] (snapshot and restore of live values) -> [`chrony`]
//! (the dpkg diversion and the `-4` transform) and [`postfix`]
//! (`inet_protocols = ipv4`) -> [`maint`] (the maintainer
//! scripts' entry points) -> [`status`] (what is really in force) ->
//! [`finish`] (restart what still holds IPv6, instead of a reboot).
//!
//! It reads the profile only through [`crate::contract`], never the build
//! side's profile loader, catalog or templates.

pub mod adopt;
pub mod chrony;
pub mod command;
pub mod finish;
pub mod kill_point;
pub mod maint;
pub mod outcome;
pub mod plan;
pub mod postfix;
pub mod reboot_request;
pub mod release;
pub mod sockets;
pub mod startup;
pub mod state;
pub mod status;
pub mod sysctl;
pub mod units;
