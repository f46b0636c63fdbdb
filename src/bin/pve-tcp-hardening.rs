//! `/usr/sbin/pve-tcp-hardening`: the host helper shipped in every package.

use clap::Parser;
use pve_tcp_hardening::cli::{HelperCli, HelperCommand};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = HelperCli::parse();
    let result = match cli.command {
        HelperCommand::Apply(args) => pve_tcp_hardening::sysctl::apply::run_cli(&args),
        HelperCommand::Status(args) => pve_tcp_hardening::status::run_cli(&args),
        HelperCommand::Maint(args) => pve_tcp_hardening::maint::run_cli(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("pve-tcp-hardening: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
