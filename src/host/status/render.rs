//! The human table of a [`StatusReport`].

use super::compliance::ComplianceReport;
use super::model::{KeyState, ProcpsSystem, StatusReport};
use crate::host::sockets::Bound;
use crate::output::render_table_painted;

/// The exit status of the table and of the JSON report: 0 when all is in
/// force and no compliance control fails, 1 when something needs attention
/// (errors are 2, from main).
pub fn exit_status(report: &StatusReport, compliance: Option<&ComplianceReport>) -> u8 {
    let compliant = compliance.is_none_or(|c| c.fail == 0);
    u8::from(!(report.ok && compliant))
}

/// The human table: compact, aligned, colour only on a terminal.
pub fn render_text(report: &StatusReport, colour: bool) -> String {
    let paint = |state: KeyState, text: String| -> String {
        if !colour {
            return text;
        }
        let code = match state {
            KeyState::Ok => "32",
            KeyState::Drift | KeyState::Missing => "33",
            KeyState::Local => "36",
            KeyState::Shadowed => "31",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    };
    let state_name = |s: KeyState| match s {
        KeyState::Ok => "ok",
        KeyState::Drift => "drift",
        KeyState::Shadowed => "shadowed",
        KeyState::Missing => "missing",
        KeyState::Local => "local",
    };
    let rows: Vec<[String; 6]> = report
        .keys
        .iter()
        .map(|k| {
            let winner = k
                .winner
                .as_ref()
                .map(|w| format!("{}:{}", w.file.display(), w.line))
                .unwrap_or_else(|| "-".into());
            [
                k.key.clone(),
                k.desired.clone(),
                k.boot.clone().unwrap_or_else(|| "-".into()),
                k.live.clone().unwrap_or_else(|| "-".into()),
                state_name(k.state).to_string(),
                winner,
            ]
        })
        .collect();
    let header = ["KEY", "WANT", "BOOT", "LIVE", "STATE", "BOOT WINNER"];
    let table = render_table_painted(header, &rows, |row, column, cell| match column {
        4 => paint(report.keys[row].state, cell),
        _ => cell,
    });
    let mut lines = table.lines();
    let mut out = format!("{} (profile {})\n", report.package, report.profile);
    for unread in &report.unread {
        out.push_str(&format!("note: {}\n", unread.note()));
    }
    if let Some(note) = &report.release.note {
        out.push_str(&format!("note: {note}\n"));
    }
    if let Some(line) = lines.next() {
        out.push_str(&format!("{line}\n"));
    }
    for (line, key) in lines.zip(&report.keys) {
        out.push_str(&format!("{line}\n"));
        if key.state == KeyState::Local {
            out.push_str(&match &key.winner {
                Some(w) => format!(
                    "  local: {}:{} sets {} (the package's value: {}); the admin's choice\n",
                    w.file.display(),
                    w.line,
                    w.value,
                    key.desired
                ),
                None => format!(
                    "  local: removed from the package's file (the package's value: {}); the admin's choice\n",
                    key.desired
                ),
            });
        }
        if let Some(p) = &key.procps_system_winner {
            let why = if p.file == std::path::Path::new("/etc/sysctl.conf") {
                "it reads /etc/sysctl.conf again last"
            } else {
                "it reads the lines with procps rules"
            };
            out.push_str(&format!(
                "  note: `sysctl --system` ends with {}:{} = {} ({why})\n",
                p.file.display(),
                p.line,
                p.value
            ));
        }
        if key.procps_system == ProcpsSystem::Unset {
            out.push_str(
                "  note: `sysctl --system` leaves this key unset (it reads the lines with procps rules: `- key`, CR line ends)\n",
            );
        }
    }
    let c = &report.chrony;
    out.push_str(&format!(
        "chrony: {}\n",
        match (c.installed, c.ipv4_only, &c.diverted_by) {
            (false, _, None) => "not installed".to_string(),
            (false, _, Some(by)) => format!(
                "not installed (its default file stays diverted by {by} until that package is removed)"
            ),
            (true, Some(true), Some(by)) => format!("IPv4-only (-4), diverted by {by}"),
            (true, Some(true), None) => "IPv4-only (-4), not diverted".to_string(),
            (true, _, by) => format!(
                "listens on IPv6 too (no -4){}",
                by.as_ref()
                    .map(|b| format!(", diverted by {b}"))
                    .unwrap_or_default()
            ),
        }
    ));
    out.push_str(&format!(
        "reboot pending: {}\n",
        if report.reboot_pending { "yes" } else { "no" }
    ));
    for l in report
        .ipv6_listeners
        .iter()
        .filter(|l| l.bound == Bound::Wildcard)
    {
        out.push_str(&format!(
            "info: {} (wildcard: stays after IPv6 is off, serves IPv4 if dual-stack)\n",
            l.describe()
        ));
    }
    for a in report.abandoned.iter().filter(|a| !a.lost) {
        out.push_str(&format!("info: {}\n", a.info()));
    }
    for problem in &report.problems {
        out.push_str("problem: ");
        out.push_str(problem);
        out.push('\n');
    }
    out.push_str(if report.ok {
        "all in force\n"
    } else {
        "NOT all in force\n"
    });
    out
}
