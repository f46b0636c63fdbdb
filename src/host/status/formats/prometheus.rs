//! The Prometheus text exposition format, for node_exporter's textfile
//! collector (`/var/lib/prometheus/node-exporter/*.prom`). The package's
//! `pve-tcp-hardening-prometheus.timer` writes it every minute with
//! `--output`, atomically (a temp file in that directory, then a rename), so
//! the collector never reads half a file.
//!
//! Label sets are stable, as the Prometheus naming and instrumentation
//! guides and node_exporter do it: a series' labels say *which* thing it
//! is (a key, a state, a kind of socket), never *how* it is, so a change
//! on the node changes values, not series. A key's state is an enum
//! metric (`key_state`: one series per possible state, 1 for the current
//! one, every state always written); the file that wins a key at boot
//! changes with the state, so it is not a label here (the text and JSON
//! formats name it). What the package is (`info`) changes only with the
//! package. Every metric is listed in the README ("Prometheus metrics").

use super::Counts;
use crate::host::status::compliance::{ComplianceReport, ControlOutcome};
use crate::host::status::model::{KeyState, StatusReport};
use std::fmt::Write;

/// The collector reads the state from the metrics (an error is `up 0`): 0
/// whenever the file was written, so the timer's unit does not fail.
pub const EXIT_STATUS: u8 = 0;

const UP_HELP: &str = "1 when the installed profile was read and the host inspected, 0 when the check failed (then only this and the time are written).";

/// Metrics of a report checked at `now` (seconds since the epoch), with a
/// benchmark's verdict when `--compliance` asked for one.
pub fn render(report: &StatusReport, compliance: Option<&ComplianceReport>, now: f64) -> String {
    let mut out = String::new();
    gauge(&mut out, "up", UP_HELP, &[(String::new(), 1.0)]);
    let info = format!(
        "{{package=\"{}\",profile=\"{}\",version=\"{}\"}}",
        escape(&report.package),
        escape(&report.profile),
        escape(report.package_version.as_deref().unwrap_or("unknown"))
    );
    gauge(
        &mut out,
        "info",
        "The installed package, its version and profile (always 1; the labels change only with the package).",
        &[(info, 1.0)],
    );
    let key_label = |key: &str| format!("key=\"{}\"", escape(key));
    let in_force: Vec<(String, f64)> = report
        .keys
        .iter()
        .map(|k| {
            (
                format!("{{{}}}", key_label(&k.key)),
                f64::from(u8::from(k.state == KeyState::Ok)),
            )
        })
        .collect();
    gauge(
        &mut out,
        "key_in_force",
        "1 when the key of the installed profile has its wanted value at boot and live (state ok), else 0.",
        &in_force,
    );
    let states: Vec<(String, f64)> = report
        .keys
        .iter()
        .flat_map(|k| {
            KeyState::ALL.iter().map(move |s| {
                (
                    format!("{{{},state=\"{}\"}}", key_label(&k.key), s.as_str()),
                    f64::from(u8::from(k.state == *s)),
                )
            })
        })
        .collect();
    gauge(
        &mut out,
        "key_state",
        "1 for the key's current state, 0 for the others (ok, drift, shadowed, local, missing; every state is always written).",
        &states,
    );
    let counts = Counts::of(report);
    let by_state: Vec<(String, f64)> = KeyState::ALL
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
        "Keys of the installed profile in each state (ok, drift, shadowed, local, missing; every state is always written).",
        &by_state,
    );
    gauge(
        &mut out,
        "ipv6_listeners",
        "Sockets listening on IPv6 under an IPv6-off profile: bound=\"address\" ones are problems, bound=\"wildcard\" ([::]) ones information.",
        &[
            (
                "{bound=\"address\"}".to_string(),
                counts.ipv6_address_listeners as f64,
            ),
            (
                "{bound=\"wildcard\"}".to_string(),
                counts.ipv6_wildcard_listeners as f64,
            ),
        ],
    );
    gauge(
        &mut out,
        "reboot_pending",
        "1 when /run/reboot-required.pkgs lists the package.",
        &[(String::new(), f64::from(u8::from(report.reboot_pending)))],
    );
    gauge(
        &mut out,
        "problems",
        "Findings that make `pve-tcp-hardening status` exit 1.",
        &[(String::new(), report.problems.len() as f64)],
    );
    if let Some(c) = compliance {
        compliance_metrics(&mut out, c);
    }
    last_check(&mut out, now);
    out
}

/// A benchmark's verdict: the controls in each result (every result always
/// written), and per control whether it fails (the label set of a control
/// is its benchmark, id and key: stable).
fn compliance_metrics(out: &mut String, c: &ComplianceReport) {
    let benchmark = format!("benchmark=\"{}\"", escape(&c.map));
    let results = [
        (ControlOutcome::Pass, c.pass),
        (ControlOutcome::Fail, c.fail),
        (ControlOutcome::Waived, c.waived),
        (ControlOutcome::NotApplicable, c.not_applicable),
    ];
    let by_result: Vec<(String, f64)> = results
        .iter()
        .map(|(result, n)| {
            let name = match result {
                ControlOutcome::NotApplicable => "not_applicable",
                other => other.as_str(),
            };
            (format!("{{{benchmark},result=\"{name}\"}}"), *n as f64)
        })
        .collect();
    gauge(
        out,
        "compliance_controls",
        "Controls of the benchmark checked with --compliance in each result (pass, fail, waived, not_applicable; every result is always written).",
        &by_result,
    );
    let failing: Vec<(String, f64)> = c
        .controls
        .iter()
        .map(|control| {
            (
                format!(
                    "{{{benchmark},control=\"{}\",key=\"{}\"}}",
                    escape(&control.id),
                    escape(&control.key)
                ),
                f64::from(u8::from(control.result == ControlOutcome::Fail)),
            )
        })
        .collect();
    gauge(
        out,
        "compliance_control_failed",
        "1 when the benchmark's control fails on this node, else 0 (pass, waived or not applicable).",
        &failing,
    );
}

/// Metrics when no report could be made: `up` 0 and the time of the try.
pub fn render_error(now: f64) -> String {
    let mut out = String::new();
    gauge(&mut out, "up", UP_HELP, &[(String::new(), 0.0)]);
    last_check(&mut out, now);
    out
}

fn last_check(out: &mut String, now: f64) {
    gauge(
        out,
        "last_check_timestamp_seconds",
        "When these metrics were written (Unix time).",
        &[(String::new(), now)],
    );
}

/// One gauge: `# HELP`, `# TYPE` and a sample per label set (`{...}`, or
/// empty for none).
fn gauge(out: &mut String, name: &str, help: &str, samples: &[(String, f64)]) {
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
