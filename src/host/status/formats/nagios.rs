//! The Nagios plugin API (also Icinga, Naemon, Zabbix's Nagios checks): the
//! first line `PVE-TCP-HARDENING STATE - headline | perfdata`, then the long
//! output, one finding a line (the "multiple lines of output" of the
//! Nagios 3 plugin API: `TEXT | PERFDATA`, then `LONG TEXT` lines; Nagios
//! reads perfdata after the first `|` of the long text too, so none of our
//! lines carries one), and the exit status 0 OK, 1 WARNING, 2 CRITICAL,
//! 3 UNKNOWN (also for every exit that is not a verdict:
//! [`crate::host::command::error_exit`]). Perfdata thresholds say where the
//! plugin turns WARNING (`;0;`) or CRITICAL (`;;0`), as [`super::assess`]
//! decides.

use super::{assess, compliance_perfdata, lines, one_line, Counts, Severity};
use crate::host::status::compliance::ComplianceReport;
use crate::host::status::model::StatusReport;

const SERVICE: &str = "PVE-TCP-HARDENING";

/// The plugin output and its exit status (with a benchmark's verdict when
/// `--compliance` asked for one).
pub fn render(report: &StatusReport, compliance: Option<&ComplianceReport>) -> (String, Severity) {
    let assessment = assess(report, compliance);
    let c = Counts::of(report);
    let n = c.keys;
    let mut perf = vec![
        format!("keys_in_force={};;;0;{n}", c.in_force),
        format!("drift={};0;;0;{n}", c.drift),
        format!("shadowed={};;0;0;{n}", c.shadowed),
        format!("missing={};;;0;{n}", c.missing),
        format!("local={};;;0;{n}", c.local),
        format!("ipv6_listeners={};;0;0", c.ipv6_address_listeners),
        format!("ipv6_wildcard_listeners={};;;0", c.ipv6_wildcard_listeners),
        format!("reboot_pending={};0;;0;1", u8::from(c.reboot_pending)),
    ];
    if let Some(c) = compliance {
        perf.extend(compliance_perfdata(c, "0;"));
    }
    let lines = lines(report, &assessment, compliance);
    let mut out = format!(
        "{SERVICE} {} - {} | {}\n",
        assessment.severity.label(),
        no_pipe(&lines.headline),
        perf.join(" ")
    );
    for detail in &lines.details {
        out.push_str(&no_pipe(detail));
        out.push('\n');
    }
    (out, assessment.severity)
}

/// The plugin API's exit status: the state, as numbered above.
pub fn exit_status(severity: Severity) -> u8 {
    severity as u8
}

/// The plugin line when no report could be made.
pub fn render_error(err: &anyhow::Error) -> (String, Severity) {
    (
        format!("{SERVICE} UNKNOWN - {}\n", no_pipe(&one_line(err))),
        Severity::Unknown,
    )
}

/// A `|` starts perfdata wherever it stands: shown as `/`.
fn no_pipe(text: &str) -> String {
    text.replace('|', "/")
}
