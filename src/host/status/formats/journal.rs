//! The boot-time check (`pve-tcp-hardening-boot-check.service`): one line
//! per finding with a syslog priority prefix (`<4>` warning, `<5>` notice,
//! `<6>` info) that journald turns into the entry's priority, so
//! `journalctl -p warning -b` shows each key not in force and each
//! address-bound IPv6 listener, and nothing on a clean node.

use crate::host::status::model::{KeyState, StatusReport};

/// journald keeps the lines' priorities; the boot-time check's unit does
/// not fail over what it reports: 0 whenever the lines were written.
pub const EXIT_STATUS: u8 = 0;

const WARNING: &str = "<4>";
const NOTICE: &str = "<5>";
const INFO: &str = "<6>";

pub fn render(report: &StatusReport) -> String {
    let mut out = String::new();
    for problem in &report.problems {
        out.push_str(&format!("{WARNING}{problem}\n"));
    }
    for k in &report.keys {
        match k.state {
            KeyState::Local => out.push_str(&format!(
                "{NOTICE}{} is the admin's value {} (the profile's is {})\n",
                k.key,
                k.boot.as_deref().unwrap_or("?"),
                k.desired
            )),
            KeyState::Missing => out.push_str(&format!("{INFO}{} is not in this kernel\n", k.key)),
            KeyState::Ok | KeyState::Drift | KeyState::Shadowed => {}
        }
    }
    for l in report
        .ipv6_listeners
        .iter()
        .filter(|l| !l.holds_ipv6_address())
    {
        out.push_str(&format!(
            "{INFO}wildcard listener {} (no IPv6 address to be reached on)\n",
            l.describe_short()
        ));
    }
    let summary = if report.ok {
        format!(
            "{INFO}{} (profile {}): all in force\n",
            report.package, report.profile
        )
    } else {
        format!(
            "{WARNING}{} (profile {}): NOT all in force, see `pve-tcp-hardening status`\n",
            report.package, report.profile
        )
    };
    out.push_str(&summary);
    out
}

pub fn render_error(err: &anyhow::Error) -> String {
    format!("{WARNING}cannot check: {}\n", super::one_line(err))
}
