//! The sysctl file model shared by both binaries: [`parse`] reads a file with
//! procps-ng 4.0.2 `sysctl -p` rules, [`apply`] writes it under a proc root
//! with the same output and exit status as `sysctl -p FILE`, and [`merge`]
//! models the boot-time merge of sysctl.d directories (systemd-sysctl order)
//! to tell which file wins a key; [`value`] compares values as the kernel
//! reads them; [`abandoned`] finds the admin's settings in files that
//! nothing applies at boot any more.

pub mod abandoned;
pub mod apply;
pub mod merge;
pub mod parse;
pub mod proc_root;
pub mod value;
