//! The Prometheus text exposition format, for node_exporter's textfile
//! collector (`/var/lib/prometheus/node-exporter/*.prom`). The package's
//! `pve-tcp-hardening-prometheus.timer` writes it every minute with
//! `--output`, atomically (a temp file in that directory, then a rename), so
//! the collector never reads half a file.

use super::Counts;
use crate::host::status::model::{KeyState, StatusReport};
use std::fmt::Write;

/// The collector reads the state from the metrics (an error is `up 0`): 0
/// whenever the file was written, so the timer's unit does not fail.
pub const EXIT_STATUS: u8 = 0;

/// Metrics of a report checked at `now` (seconds since the epoch).
pub fn render(report: &StatusReport, now: f64) -> String {
    let mut out = String::new();
    gauge(
        &mut out,
        "up",
        "1 when the installed profile was read and the host inspected.",
        &[("", 1.0)],
    );
    let info = format!(
        "{{package=\"{}\",profile=\"{}\",version=\"{}\"}}",
        escape(&report.package),
        escape(&report.profile),
        escape(report.package_version.as_deref().unwrap_or("unknown"))
    );
    gauge(
        &mut out,
        "info",
        "The installed package, its version and profile.",
        &[(&info, 1.0)],
    );
    let keys: Vec<(String, f64)> = report
        .keys
        .iter()
        .map(|k| {
            let labels = format!(
                "{{key=\"{}\",profile=\"{}\",state=\"{}\",winner=\"{}\"}}",
                escape(&k.key),
                escape(&report.profile),
                k.state.as_str(),
                escape(
                    &k.winner
                        .as_ref()
                        .map(|w| w.file.display().to_string())
                        .unwrap_or_default()
                )
            );
            (labels, f64::from(u8::from(k.state == KeyState::Ok)))
        })
        .collect();
    gauge(
        &mut out,
        "key_in_force",
        "1 when the key's wanted value wins at boot and is live (state ok); winner is the file that wins at boot.",
        &keys.iter().map(|(l, v)| (l.as_str(), *v)).collect::<Vec<_>>(),
    );
    let counts = Counts::of(report);
    let states: Vec<(String, f64)> = KeyState::ALL
        .iter()
        .map(|s| {
            (
                format!("{{state=\"{}\"}}", s.as_str()),
                counts.of_state(*s) as f64,
            )
        })
        .collect();
    gauge(
        &mut out,
        "keys",
        "Keys of the installed profile by state (ok, drift, shadowed, local, missing).",
        &states
            .iter()
            .map(|(l, v)| (l.as_str(), *v))
            .collect::<Vec<_>>(),
    );
    gauge(
        &mut out,
        "ipv6_listeners",
        "Sockets listening on IPv6 under an IPv6-off profile: bound=\"address\" ones are problems, bound=\"wildcard\" ([::]) ones information.",
        &[
            (
                "{bound=\"address\"}",
                counts.ipv6_address_listeners as f64,
            ),
            (
                "{bound=\"wildcard\"}",
                counts.ipv6_wildcard_listeners as f64,
            ),
        ],
    );
    gauge(
        &mut out,
        "reboot_pending",
        "1 when /run/reboot-required.pkgs lists the package.",
        &[("", f64::from(u8::from(report.reboot_pending)))],
    );
    gauge(
        &mut out,
        "problems",
        "Findings that make `pve-tcp-hardening status` exit 1.",
        &[("", report.problems.len() as f64)],
    );
    last_check(&mut out, now);
    out
}

/// Metrics when no report could be made: `up` 0 and the time of the try.
pub fn render_error(now: f64) -> String {
    let mut out = String::new();
    gauge(
        &mut out,
        "up",
        "1 when the installed profile was read and the host inspected.",
        &[("", 0.0)],
    );
    last_check(&mut out, now);
    out
}

fn last_check(out: &mut String, now: f64) {
    gauge(
        out,
        "last_check_timestamp_seconds",
        "When these metrics were written (Unix time).",
        &[("", now)],
    );
}

fn gauge(out: &mut String, name: &str, help: &str, samples: &[(&str, f64)]) {
    let name = format!("pve_tcp_hardening_{name}");
    // writeln! to a String cannot fail.
    let _ = writeln!(out, "# HELP {name} {}", help.replace('\\', "\\\\"));
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
