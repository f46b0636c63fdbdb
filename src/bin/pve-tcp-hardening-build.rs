//! `pve-tcp-hardening-build`: the build-time tool (never shipped in a .deb).

fn main() {}
