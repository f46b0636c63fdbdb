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
    /// What is really in force: per key, the boot-time winner and the live
    /// value; chrony; pending reboot; sockets still on IPv6. Exit status:
    /// 0 all in force, 1 something needs attention, 2 error.
    Status(StatusArgs),
    /// What installing, or switching to, a profile will do on this host,
    /// before it does it: values now, after install and after the next
    /// boot; IPv6 lockout findings; sockets that go away; chrony; what of
    /// the admin's is adopted. Exit status: 0 nothing stands in the way,
    /// 1 the install would be refused, 2 error.
    Plan(PlanArgs),
    /// Complete an IPv6-off profile without a reboot: restart, one at a
    /// time, the services still bound to an IPv6 address (never the cluster
    /// stack, Ceph, guests, or units listed in
    /// /etc/pve-tcp-hardening/finish.conf), then take back the reboot
    /// request when nothing is left. Exit status: 0 nothing left, 1 a reboot
    /// is still needed (what for is printed), 2 error.
    Finish(FinishArgs),
    /// Entry points of the package's maintainer scripts (not for admins).
    #[command(hide = true)]
    Maint(MaintArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Root of the tree to audit (a mounted image, a test tree).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// The running system's /proc (default: /proc when --root is /; none,
    /// so no live values or sockets, otherwise).
    #[arg(long, value_name = "DIR")]
    pub proc: Option<PathBuf>,
    /// Profile description to check against (default: the installed one,
    /// /usr/share/pve-tcp-hardening/profile.json under --root).
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Print the report as JSON (schema in the README); the same as
    /// `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Output format: the table, JSON, a Nagios/Icinga plugin line (exit
    /// 0/1/2/3), Prometheus metrics (node_exporter textfile collector), a
    /// Checkmk local check line, or journal lines with syslog priorities
    /// (the boot-time check).
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub format: StatusFormat,
    /// Write the output to FILE atomically (a temp file in its directory,
    /// then a rename) instead of stdout, e.g. a node_exporter textfile.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also check the live values against a benchmark's network controls:
    /// cis-debian12, anssi-bp28 or lynis (text and JSON).
    #[arg(long, value_name = "NAME")]
    pub compliance: Option<String>,
    /// The compliance maps (default: the installed ones,
    /// /usr/share/pve-tcp-hardening/compliance.json under --root).
    #[arg(long, value_name = "FILE", requires = "compliance")]
    pub compliance_maps: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFormat {
    Text,
    Json,
    Nagios,
    Prometheus,
    Checkmk,
    Journal,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Root of the host tree (a mounted image, a test tree).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// The running system's /proc (default: /proc when --root is /; none,
    /// so no live values, sockets or addresses, otherwise).
    #[arg(long, value_name = "DIR")]
    pub proc: Option<PathBuf>,
    /// The profile to plan for: a package's profile.json, e.g. from
    /// `dpkg-deb -x` (default: the installed one).
    #[arg(long, value_name = "FILE", conflicts_with = "deb")]
    pub profile: Option<PathBuf>,
    /// A .deb not yet installed (extracted with dpkg-deb to a temp dir).
    #[arg(long, value_name = "FILE")]
    pub deb: Option<PathBuf>,
    /// Print the plan as JSON (schema in the README).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FinishArgs {
    /// Show what would be restarted and what would still need a reboot;
    /// change nothing (exit status as without it).
    #[arg(long)]
    pub dry_run: bool,
    /// Root of the host tree: the installed profile and finish.conf (tests).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// The running system's /proc (default: /proc when --root is /).
    #[arg(long, value_name = "DIR")]
    pub proc: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MaintArgs {
    /// Root of the host tree (tests and image builds use a directory).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Where the sysctl tree is mounted.
    #[arg(long, value_name = "DIR", default_value = "/proc/sys")]
    pub proc_root: PathBuf,
    /// The resolved profile the package ships (relative paths are under --root).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "usr/share/pve-tcp-hardening/profile.json"
    )]
    pub profile: PathBuf,
    /// Which maintainer script is calling.
    #[arg(value_enum)]
    pub script: MaintScript,
    /// The arguments dpkg gave the script (`configure 0.1.0-1`, `remove`...).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MaintScript {
    Postinst,
    Prerm,
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
