//! `pve-tcp-hardening status`: what is really in force on this host. For each
//! key of the installed profile: the value wanted, the value the boot-time
//! merge of sysctl.d gives and the file that wins it, every other file that
//! sets it, and the live value; then chrony, a pending reboot, and sockets
//! still listening on IPv6 when the profile turns IPv6 off. It only reads.

mod collect;
pub mod compliance;
pub mod formats;
mod model;
pub mod problems;
mod render;

pub use collect::{collect, StatusInputs};
pub use model::*;
pub use render::{exit_status, render_text};

use crate::atomic::{write_atomic, NewFileMode};
use crate::cli::{StatusArgs, StatusFormat};
use crate::contract::{ComplianceMaps, COMPLIANCE_JSON, PROFILE_JSON};
use crate::files::{as_chroot_sees, under_root};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Entry point of `pve-tcp-hardening status`. Each format says its exit
/// status (text and JSON: [`exit_status`]; `formats::*`); an error is 2,
/// or UNKNOWN (3) in Nagios mode ([`crate::host::command::error_exit`]).
pub fn run_cli(args: &StatusArgs) -> Result<ExitCode> {
    use std::io::IsTerminal;
    let format = if args.json {
        StatusFormat::Json
    } else {
        args.format
    };
    if args.compliance.is_some() && format == StatusFormat::Journal {
        bail!("--compliance goes with the text, JSON, Nagios, Checkmk or Prometheus format");
    }
    let proc = match &args.proc {
        Some(p) => Some(p.clone()),
        None if args.root == Path::new("/") => Some(PathBuf::from("/proc")),
        None => None,
    };
    if !args.root.is_dir() {
        anyhow::bail!(
            "--root {}: no such directory (give the root of a mounted system)",
            args.root.display()
        );
    }
    let profile = args
        .profile
        .clone()
        .unwrap_or_else(|| as_chroot_sees(&args.root, PROFILE_JSON));
    let report = collect(&StatusInputs {
        root: args.root.clone(),
        proc: proc.clone(),
        profile,
    });
    // Checked only with a report: without one there is nothing to weigh
    // the benchmark against (and the format says why).
    let compliance = match (&report, &args.compliance) {
        (Ok(_), Some(name)) => {
            let maps_path = args
                .compliance_maps
                .clone()
                .unwrap_or_else(|| under_root(&args.root, COMPLIANCE_JSON));
            let maps = ComplianceMaps::load(&maps_path)?;
            Some(compliance::check(&maps, name, &args.root, proc.as_deref())?)
        }
        _ => None,
    };
    let code = match format {
        StatusFormat::Text | StatusFormat::Json => {
            let report = report?;
            let text = if format == StatusFormat::Json {
                let mut text = serde_json::to_string_pretty(&WithCompliance {
                    report: &report,
                    compliance: compliance.as_ref(),
                })
                .context("cannot write JSON")?;
                text.push('\n');
                text
            } else {
                let mut text = render_text(&report, std::io::stdout().is_terminal());
                text.push_str(&finish_choice(&report, &args.root, proc.as_deref()));
                if let Some(c) = &compliance {
                    text.push_str(&compliance::render_text(c));
                }
                text
            };
            write_output(args, &text)?;
            exit_status(&report, compliance.as_ref())
        }
        StatusFormat::Nagios => {
            let (line, severity) = match &report {
                Ok(r) => formats::nagios::render(r, compliance.as_ref()),
                Err(e) => formats::nagios::render_error(e),
            };
            write_output(args, &line)?;
            formats::nagios::exit_status(severity)
        }
        StatusFormat::Checkmk => {
            let line = match &report {
                Ok(r) => formats::checkmk::render(r, compliance.as_ref()),
                Err(e) => formats::checkmk::render_error(e),
            };
            write_output(args, &line)?;
            formats::checkmk::EXIT_STATUS
        }
        StatusFormat::Prometheus => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            let text = match &report {
                Ok(r) => formats::prometheus::render(r, compliance.as_ref(), now),
                Err(e) => {
                    eprintln!("pve-tcp-hardening: error: {e:#}");
                    formats::prometheus::render_error(now)
                }
            };
            write_output(args, &text)?;
            formats::prometheus::EXIT_STATUS
        }
        StatusFormat::Journal => {
            let text = match &report {
                Ok(r) => formats::journal::render(r),
                Err(e) => formats::journal::render_error(e),
            };
            write_output(args, &text)?;
            formats::journal::EXIT_STATUS
        }
    };
    Ok(ExitCode::from(code))
}

/// "reboot, or run `pve-tcp-hardening finish` ...": the choice, when
/// sockets still hold IPv6 (only collected for IPv6-off profiles).
fn finish_choice(report: &StatusReport, root: &Path, proc: Option<&Path>) -> String {
    let Some(proc) = proc.filter(|_| report.ipv6_listeners.iter().any(|l| l.holds_ipv6_address()))
    else {
        return String::new();
    };
    match crate::host::finish::alternative_to_reboot_among(root, proc, &report.ipv6_listeners) {
        Ok(Some(choice)) => format!("to finish: {choice}\n"),
        Ok(None) => String::new(),
        Err(e) => format!("note: `finish` cannot tell: {e:#}\n"),
    }
}

/// The JSON report with the compliance result beside it, when asked for.
#[derive(Serialize)]
struct WithCompliance<'a> {
    #[serde(flatten)]
    report: &'a StatusReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    compliance: Option<&'a compliance::ComplianceReport>,
}

/// stdout, or `--output FILE` replaced atomically (mode 0644).
fn write_output(args: &StatusArgs, text: &str) -> Result<()> {
    match &args.output {
        Some(path) => write_atomic(path, text.as_bytes(), NewFileMode { mode: 0o644 })
            .with_context(|| format!("cannot write {}", path.display())),
        None => Ok(crate::output::emit(text)?),
    }
}
