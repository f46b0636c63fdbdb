//! A Checkmk local check: `STATUS "SERVICE" PERFDATA TEXT`, the status
//! numbered as Nagios does (0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN), metrics joined
//! by `|`. The agent reads the line, not the exit status, so the command
//! exits 0 whenever it printed one.
//!
//! The long output stays on the one line: a local check is one line per
//! service, and Checkmk turns each two-character `\n` of TEXT into a line
//! break; the first line is the summary, the rest the details (the
//! documentation's section on multi-line output of local checks,
//! <https://docs.checkmk.com/latest/en/localchecks.html>; in the code,
//! `parse_local` does `text.replace("\\n", "\n")` and `check_local`
//! `text.split("\n", 1)` into summary and details:
//! Checkmk/checkmk cmk/base/plugins/agent_based/local.py). Real line
//! breaks in a text would end the service's line, so they become blanks.
//!
//! Install it on a node (Checkmk agent 2.x):
//!
//! ```sh
//! printf '#!/bin/sh\nexec /usr/sbin/pve-tcp-hardening status --format checkmk\n' | install -D -m 755 /dev/stdin /usr/lib/check_mk_agent/local/pve-tcp-hardening
//! ```

use super::{assess, compliance_perfdata, lines, one_line, Counts, Severity};
use crate::host::status::compliance::ComplianceReport;
use crate::host::status::model::StatusReport;

const SERVICE: &str = "\"PVE TCP hardening\"";

/// The agent reads the state from the line: 0 whenever one was written.
pub const EXIT_STATUS: u8 = 0;

/// The local check line (with a benchmark's verdict when `--compliance`
/// asked for one).
pub fn render(report: &StatusReport, compliance: Option<&ComplianceReport>) -> String {
    let assessment = assess(report, compliance);
    let c = Counts::of(report);
    let n = c.keys;
    let mut perf = vec![
        format!("keys_in_force={};;;0;{n}", c.in_force),
        format!("drift={};1;;0;{n}", c.drift),
        format!("shadowed={};;1;0;{n}", c.shadowed),
        format!("missing={};;;0;{n}", c.missing),
        format!("local={};;;0;{n}", c.local),
        format!("ipv6_listeners={};;;0", c.ipv6_address_listeners),
        format!("ipv6_wildcard_listeners={};;;0", c.ipv6_wildcard_listeners),
        format!("reboot_pending={};1;;0;1", u8::from(c.reboot_pending)),
    ];
    if let Some(c) = compliance {
        perf.extend(compliance_perfdata(c, "1;"));
    }
    let lines = lines(report, &assessment, compliance);
    let text: Vec<String> = std::iter::once(&lines.headline)
        .chain(&lines.details)
        .map(|line| line.replace('\n', " "))
        .collect();
    format!(
        "{} {SERVICE} {} {}\n",
        assessment.severity as u8,
        perf.join("|"),
        text.join("\\n")
    )
}

pub fn render_error(err: &anyhow::Error) -> String {
    format!(
        "{} {SERVICE} - cannot check: {}\n",
        Severity::Unknown as u8,
        one_line(err)
    )
}
