//! `/usr/sbin/pve-tcp-hardening`: the host helper shipped in every package.

use clap::Parser;
use pve_tcp_hardening::host::cli::{HelperCli, HelperCommand};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = HelperCli::parse();
    let result = match cli.command {
        HelperCommand::Apply(args) => pve_tcp_hardening::host::sysctl::apply::run_cli(&args),
        HelperCommand::Status(args) => pve_tcp_hardening::host::status::run_cli(&args),
        HelperCommand::Plan(args) => pve_tcp_hardening::host::plan::run_cli(&args),
        HelperCommand::Finish(args) => pve_tcp_hardening::host::finish::run_cli(&args),
        HelperCommand::Maint(args) => pve_tcp_hardening::host::maint::run_cli(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("pve-tcp-hardening: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
