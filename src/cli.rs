//! Command line of the host helper `/usr/sbin/pve-tcp-hardening`. It lives in
//! the library, not in the binary, so the build tool can render the man page
//! and bash completion from the same definition (clap_mangen/clap_complete).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Host helper of the pve-tcp-hardening packages. The maintainer scripts call
/// it; admins use `apply` (like `sysctl -p FILE`).
#[derive(Debug, Parser)]
#[command(name = "pve-tcp-hardening", version, about, long_about = None)]
pub struct HelperCli {
    #[command(subcommand)]
    pub command: HelperCommand,
}

#[derive(Debug, Subcommand)]
pub enum HelperCommand {
    /// Apply sysctl files exactly like procps `sysctl -p FILE...`.
    Apply(ApplyArgs),
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Print nothing on stdout for applied keys (like `sysctl -q`).
    #[arg(short, long)]
    pub quiet: bool,
    /// Ignore unknown keys (like `sysctl -e`).
    #[arg(short = 'e', long = "ignore")]
    pub ignore_missing: bool,
    /// Where the sysctl tree is mounted; tests point this at a temp dir.
    #[arg(long, value_name = "DIR", default_value = "/proc/sys")]
    pub proc_root: PathBuf,
    /// Files to apply, in order; globs are expanded, `-` reads stdin.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<String>,
}
