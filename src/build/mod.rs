//! The build side, never shipped: profiles go in, Debian packages and an apt
//! repository come out. [`catalog`] (the keys a profile may set) ->
//! [`profile`] (load, inherit, validate) -> [`render`] (the sysctl.d file
//! and the debian/ files through tera; [`manual`]: man pages and shell
//! completions) -> [`package`] (cargo-deb) ->
//! [`repo`] (a signed apt repository of the packages).
//!
//! What it hands the host side is only the [`crate::contract`]: the
//! resolved profile as `profile.json` and the paths both sides agree on.

pub mod catalog;
pub mod compliance;
pub mod manual;
pub mod package;
pub mod profile;
pub mod render;
pub mod repo;
pub mod rfc2822;
