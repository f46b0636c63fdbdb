//! The Nagios plugin API (also Icinga, Naemon, Zabbix's Nagios checks): one
//! line `PVE-TCP-HARDENING STATE - summary | perfdata` and the exit status
//! 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Perfdata thresholds say where
//! the plugin turns WARNING (`;0;`) or CRITICAL (`;;0`), as
//! [`super::assess`] decides.

use super::{assess, one_line, summary, Counts, Severity};
use crate::host::status::model::StatusReport;

const SERVICE: &str = "PVE-TCP-HARDENING";

/// The plugin line and its exit status.
pub fn render(report: &StatusReport) -> (String, Severity) {
    let assessment = assess(report);
    let c = Counts::of(report);
    let n = c.keys;
    let perf = [
        format!("keys_in_force={};;;0;{n}", c.in_force),
        format!("drift={};0;;0;{n}", c.drift),
        format!("shadowed={};;0;0;{n}", c.shadowed),
        format!("missing={};;;0;{n}", c.missing),
        format!("local={};;;0;{n}", c.local),
        format!("ipv6_listeners={};;0;0", c.ipv6_address_listeners),
        format!("ipv6_wildcard_listeners={};;;0", c.ipv6_wildcard_listeners),
        format!("reboot_pending={};0;;0;1", u8::from(c.reboot_pending)),
    ];
    let line = format!(
        "{SERVICE} {} - {} | {}\n",
        assessment.severity.label(),
        summary(report, &assessment).replace('|', "/"),
        perf.join(" ")
    );
    (line, assessment.severity)
}

/// The plugin API's exit status: the state, as numbered above.
pub fn exit_status(severity: Severity) -> u8 {
    severity as u8
}

/// The plugin line when no report could be made.
pub fn render_error(err: &anyhow::Error) -> (String, Severity) {
    (
        format!("{SERVICE} UNKNOWN - {}\n", one_line(err).replace('|', "/")),
        Severity::Unknown,
    )
}
