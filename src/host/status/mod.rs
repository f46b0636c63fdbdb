//! `pve-tcp-hardening status`: what is really in force on this host. For each
//! key of the installed profile: the value wanted, the value the boot-time
//! merge of sysctl.d gives and the file that wins it, every other file that
//! sets it, and the live value; then chrony, a pending reboot, and sockets
//! still listening on IPv6 when the profile turns IPv6 off. It only reads.

mod collect;
mod model;
mod render;
mod sockets;

pub use collect::{collect, StatusInputs};
pub use model::*;
pub use render::render_text;
pub use sockets::{ipv6_listeners, is_bound_to_ipv6_address};

use crate::contract::PROFILE_JSON;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Entry point of `pve-tcp-hardening status`: exit 0 when all is in force,
/// 1 when something needs attention, 2 on error (from main).
pub fn run_cli(args: &crate::host::cli::StatusArgs) -> Result<std::process::ExitCode> {
    use std::io::IsTerminal;
    let proc = match &args.proc {
        Some(p) => Some(p.clone()),
        None if args.root == Path::new("/") => Some(PathBuf::from("/proc")),
        None => None,
    };
    let profile = args
        .profile
        .clone()
        .unwrap_or_else(|| args.root.join(PROFILE_JSON));
    let report = collect(&StatusInputs {
        root: args.root.clone(),
        proc: proc.clone(),
        profile,
    })?;
    if args.json {
        let mut text = serde_json::to_string_pretty(&report).context("cannot write JSON")?;
        text.push('\n');
        crate::output::emit(&text)?;
    } else {
        let mut text = render_text(&report, std::io::stdout().is_terminal());
        // ipv6_listeners is only collected for profiles that turn IPv6 off.
        if let (Some(proc), false) = (&proc, report.ipv6_listeners.is_empty()) {
            match crate::host::finish::alternative_to_reboot(&args.root, proc) {
                Ok(Some(choice)) => text.push_str(&format!("to finish: {choice}\n")),
                Ok(None) => {}
                Err(e) => text.push_str(&format!("note: `finish` cannot tell: {e:#}\n")),
            }
        }
        crate::output::emit(&text)?;
    }
    Ok(std::process::ExitCode::from(if report.ok { 0 } else { 1 }))
}
