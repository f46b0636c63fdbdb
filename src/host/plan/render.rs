//! The human text of a [`PlanReport`].

use super::model::PlanReport;
use crate::output::render_table_painted;

pub fn render_text(report: &PlanReport, colour: bool) -> String {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let rows: Vec<[String; 5]> = report
        .keys
        .iter()
        .map(|k| {
            [
                k.key.clone(),
                dash(&k.live_now),
                dash(&k.after_install),
                dash(&k.after_boot),
                k.boot_winner
                    .as_ref()
                    .map(|w| format!("{}:{}", w.file.display(), w.line))
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let table = render_table_painted(
        ["KEY", "NOW", "AFTER INSTALL", "AFTER BOOT", "BOOT WINNER"],
        &rows,
        |row, column, cell| {
            let k = &report.keys[row];
            let off = k
                .after_boot
                .as_deref()
                .is_none_or(|b| !crate::host::sysctl::value::same_value(b, &k.wanted));
            if colour && column == 3 && off {
                format!("\x1b[31m{cell}\x1b[0m")
            } else {
                cell
            }
        },
    );
    let release_note = report
        .release
        .note
        .as_ref()
        .map(|n| format!("note: {n}\n"))
        .unwrap_or_default();
    let mut out = format!(
        "plan for {} (profile {}{})\n{release_note}{table}",
        report.package,
        report.profile,
        if report.disables_ipv6 {
            ", turns IPv6 off"
        } else {
            ""
        }
    );
    for k in &report.keys {
        if k.after_boot
            .as_deref()
            .is_none_or(|b| !crate::host::sysctl::value::same_value(b, &k.wanted))
        {
            out.push_str(&format!(
                "note: after the next boot {} is {} (wanted {}): {} wins\n",
                k.key,
                dash(&k.after_boot),
                k.wanted,
                k.boot_winner
                    .as_ref()
                    .map(|w| match &w.glob {
                        Some(g) => format!("{}:{} (the glob {g})", w.file.display(), w.line),
                        None => format!("{}:{}", w.file.display(), w.line),
                    })
                    .unwrap_or_else(|| "no file".into())
            ));
        }
    }
    for a in &report.abandoned {
        if a.lost {
            out.push_str(&format!(
                "warning: {}\n",
                a.problem(crate::contract::SYSCTL_FILE_NAME)
            ));
        } else {
            out.push_str(&format!("info: {}\n", a.info()));
        }
    }
    out.push_str(&format!("chrony: {}\n", report.chrony.note));
    out.push_str(&format!("postfix: {}\n", report.postfix.note));
    for l in &report.ipv6_sockets_going_away {
        out.push_str(&format!(
            "goes away at {}: {}{}\n  fix: {}\n",
            l.when,
            l.listener.describe(),
            l.unit
                .as_deref()
                .map(|u| format!(" [{u}]"))
                .unwrap_or_default(),
            l.fix
        ));
    }
    if let Some(choice) = &report.finish_choice {
        out.push_str(&format!("after the install: {choice}\n"));
    }
    let a = &report.adopted;
    if let Some(backup) = &a.chrony_backup {
        out.push_str(&format!(
            "adopted: {} (the admin's chrony backup) is kept\n",
            backup.display()
        ));
    }
    if a.chrony_ipv4_only_by_hand {
        out.push_str("adopted: -4 already in /etc/default/chrony (added by hand)\n");
    }
    if let Some(file) = &a.sysctl_file {
        let keys: Vec<String> = file
            .differs
            .iter()
            .map(|d| {
                format!(
                    "{} (theirs {}, profile {})",
                    d.key,
                    d.theirs.as_deref().unwrap_or("unset"),
                    d.ours.as_deref().unwrap_or("unset")
                )
            })
            .collect();
        out.push_str(&format!(
            "adopted: {}, which no package owns, is kept; {}\n",
            file.path.display(),
            if keys.is_empty() {
                "it sets what the profile sets".to_string()
            } else {
                format!("it differs in {}", keys.join(", "))
            }
        ));
    }
    if report.reboot_after_install {
        out.push_str("reboot: the install asks for one\n");
    }
    let l = &report.lockout;
    for w in &l.warnings {
        out.push_str(&format!("warning: IPv6 in use: {w}\n"));
    }
    if l.checked && !l.stops.is_empty() {
        out.push_str(&format!(
            "IPv6 carries real traffic on this node{}:\n",
            if l.override_set {
                " (override preseeded: the install goes ahead anyway)"
            } else {
                ""
            }
        ));
        for s in &l.stops {
            out.push_str(&format!("  - {s}\n"));
        }
    } else if !l.checked && !l.stops.is_empty() {
        for s in &l.stops {
            out.push_str(&format!(
                "info: IPv6 in use (kept on by this profile): {s}\n"
            ));
        }
    }
    if l.would_stop {
        out.push_str(&format!(
            "STOP: the install would be refused. Either install the profile that keeps IPv6 on \
             (apt install {base}-ipv6), or, if IPv6 may go off anyway, preseed the override:\n  \
             echo '{base} {q} boolean true' | debconf-set-selections\n",
            base = crate::contract::BASE_PACKAGE,
            q = crate::contract::OVERRIDE_QUESTION
        ));
    } else {
        out.push_str("nothing stands in the way\n");
    }
    out
}
