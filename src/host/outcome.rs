//! What one `configure` really did on this host, and the words for it. The
//! reboot text is assembled here and only here: the same paragraphs go to
//! stderr, to `/run/reboot-required` and, on a first install or a profile
//! switch on a terminal, into the debconf note postinst shows. Each
//! sentence is said only when it is true of this host: nothing about chrony
//! when chrony is absent, no "applied" when nothing was applied.

use crate::host::chrony::RestartOutcome;

/// Why this configure runs, from the package that configured last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Occasion {
    /// No variant was ever configured on this host (or it was purged).
    FirstInstall,
    /// Another variant was configured last: apt switched profiles.
    Switch { from: String },
    /// This package again: upgrade, reinstall, reconfigure, retry.
    Again,
}

impl Occasion {
    /// Whether the admin should see the note (Debian: notes are rare).
    pub fn deserves_note(&self) -> bool {
        !matches!(self, Occasion::Again)
    }
}

/// The sysctl file applied now, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Settings the kernel accepted.
    pub accepted: usize,
    /// Of those, how many changed the live value.
    pub changed: usize,
}

/// What happened to chrony's `-4`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChronyChange {
    /// chrony is not installed: not a word about it.
    Absent,
    /// Nothing to do (the profile keeps IPv6, or all was in place already).
    Unchanged,
    /// `-4` added now; whether chronyd was restarted.
    MadeIpv4Only(RestartOutcome),
    /// The admin had `-4` already; the file is now ours, same content.
    AlreadyIpv4Only,
    /// chrony has its own file back (IPv6 on again); the restart.
    GivenBack(RestartOutcome),
}

/// IPv6 before and after this configure (`net.ipv6.conf.all.disable_ipv6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Change {
    TurnedOff,
    TurnedOn,
    StaysOff,
    StaysOn,
    /// The kernel has no IPv6 (the key is missing).
    Unknown,
}

impl Ipv6Change {
    pub fn from_values(before: Option<&str>, after: Option<&str>) -> Ipv6Change {
        match (before.map(str::trim), after.map(str::trim)) {
            (Some(b), Some("1")) if b != "1" => Ipv6Change::TurnedOff,
            (Some("1"), Some(a)) if a != "1" => Ipv6Change::TurnedOn,
            (_, Some("1")) => Ipv6Change::StaysOff,
            (_, Some(_)) => Ipv6Change::StaysOn,
            (_, None) => Ipv6Change::Unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub profile: String,
    pub occasion: Occasion,
    /// None: nothing was applied now (the file is missing).
    pub applied: Option<Applied>,
    pub ipv6: Ipv6Change,
    pub chrony: ChronyChange,
    /// A key that needs a reboot changed, or a replaced variant's reboot is
    /// still pending.
    pub reboot_due: bool,
    /// Nothing needing a reboot changed now: the reboot is one asked for
    /// earlier (by this package or the variant it replaced).
    pub reboot_from_before: bool,
    /// The other way than a reboot (`finish::alternative_to_reboot`), when
    /// IPv6 is off and services still hold an IPv6 address.
    pub finish_choice: Option<String>,
}

impl Outcome {
    /// The reboot text, one paragraph per element; None when no reboot is
    /// due.
    pub fn reboot_paragraphs(&self) -> Option<Vec<String>> {
        if !self.reboot_due {
            return None;
        }
        let mut out = Vec::new();
        let profile = &self.profile;
        let counts = |a: &Applied| {
            format!(
                "{} settings, {} of them changed a live value",
                a.accepted, a.changed
            )
        };
        match (&self.applied, self.ipv6) {
            (Some(a), Ipv6Change::TurnedOff) => out.push(format!(
                "The \"{profile}\" profile is applied ({}) and IPv6 is off now, but \
                 sockets opened over IPv6 before stay open until their service restarts.",
                counts(a)
            )),
            (Some(a), Ipv6Change::TurnedOn) => out.push(format!(
                "The \"{profile}\" profile is applied ({}) and IPv6 is on again; services \
                 started while it was off listen on IPv4 only until they restart.",
                counts(a)
            )),
            (Some(a), _) if self.reboot_from_before => out.push(format!(
                "The \"{profile}\" profile is applied ({}); the reboot asked for earlier \
                 is still pending.",
                counts(a)
            )),
            (Some(a), _) => out.push(format!(
                "The \"{profile}\" profile is applied ({}); some of its values only take \
                 full effect for services started after the change.",
                counts(a)
            )),
            (None, _) => out.push(format!(
                "The \"{profile}\" profile was not applied now; its values take effect \
                 at the next boot."
            )),
        }
        if let Some(chrony) = self.chrony_sentence() {
            out.push(chrony);
        }
        out.push(
            match self.ipv6 {
                Ipv6Change::TurnedOff | Ipv6Change::StaysOff => {
                    "Reboot this node when convenient, then check with \"ss -atlnup\" that \
                 nothing listens on an IPv6 address any more."
                }
                _ => {
                    "Reboot this node when convenient so that every service opens its sockets \
                 as configured."
                }
            }
            .to_string(),
        );
        if let Some(choice) = &self.finish_choice {
            out.push(format!("Or, instead of the reboot: {choice}."));
        }
        Some(out)
    }

    fn chrony_sentence(&self) -> Option<String> {
        let restarted = |r: &RestartOutcome| *r == RestartOutcome::Restarted;
        match &self.chrony {
            ChronyChange::Absent | ChronyChange::Unchanged => None,
            ChronyChange::MadeIpv4Only(r) if restarted(r) => Some(
                "chronyd is IPv4-only now (\"-4\" in /etc/default/chrony) and was restarted."
                    .into(),
            ),
            ChronyChange::MadeIpv4Only(_) => Some(
                "chronyd gets \"-4\" in /etc/default/chrony; it takes effect when chronyd \
                 restarts."
                    .into(),
            ),
            ChronyChange::AlreadyIpv4Only => {
                Some("chronyd was IPv4-only already (\"-4\" in /etc/default/chrony).".into())
            }
            ChronyChange::GivenBack(r) if restarted(r) => {
                Some("chrony has its own /etc/default/chrony back and was restarted.".into())
            }
            ChronyChange::GivenBack(_) => Some(
                "chrony has its own /etc/default/chrony back; it takes effect when chronyd \
                 restarts."
                    .into(),
            ),
        }
    }

    /// The note's text for debconf (`db_capb escape`): one line, paragraphs
    /// separated by an escaped blank line. None when no note is due.
    pub fn debconf_note(&self) -> Option<String> {
        if !self.occasion.deserves_note() {
            return None;
        }
        let paragraphs = self.reboot_paragraphs()?;
        Some(
            paragraphs
                .iter()
                .map(|p| p.replace('\\', "\\\\").replace('\n', "\\n"))
                .collect::<Vec<_>>()
                .join("\\n\\n"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome() -> Outcome {
        Outcome {
            profile: "default".into(),
            occasion: Occasion::FirstInstall,
            applied: Some(Applied {
                accepted: 16,
                changed: 9,
            }),
            ipv6: Ipv6Change::TurnedOff,
            chrony: ChronyChange::MadeIpv4Only(RestartOutcome::Restarted),
            reboot_due: true,
            reboot_from_before: false,
            finish_choice: None,
        }
    }

    #[test]
    fn first_install_says_what_happened_and_asks_for_the_reboot() {
        let text = outcome().reboot_paragraphs().unwrap().join("\n");
        assert!(
            text.contains(
                "is applied (16 settings, 9 of them changed a live value) and IPv6 is off now"
            ),
            "{text}"
        );
        assert!(text.contains("chronyd is IPv4-only now"), "{text}");
        assert!(text.contains("ss -atlnup"), "{text}");
    }

    #[test]
    fn no_chrony_no_word_of_chrony() {
        let o = Outcome {
            chrony: ChronyChange::Absent,
            ..outcome()
        };
        let text = o.reboot_paragraphs().unwrap().join("\n");
        assert!(!text.contains("chrony"), "{text}");
    }

    #[test]
    fn nothing_applied_never_claims_it_is() {
        let o = Outcome {
            applied: None,
            ..outcome()
        };
        let text = o.reboot_paragraphs().unwrap().join("\n");
        assert!(!text.contains("is applied"), "{text}");
        assert!(text.contains("was not applied now"), "{text}");
    }

    #[test]
    fn a_restart_that_did_not_happen_is_not_claimed() {
        let o = Outcome {
            chrony: ChronyChange::MadeIpv4Only(RestartOutcome::DeniedByPolicy),
            ..outcome()
        };
        let text = o.reboot_paragraphs().unwrap().join("\n");
        assert!(!text.contains("restarted"), "{text}");
        assert!(text.contains("when chronyd restarts"), "{text}");
    }

    #[test]
    fn ipv6_back_on_asks_for_services_to_restart() {
        let o = Outcome {
            profile: "ipv6".into(),
            ipv6: Ipv6Change::TurnedOn,
            chrony: ChronyChange::GivenBack(RestartOutcome::Restarted),
            ..outcome()
        };
        let text = o.reboot_paragraphs().unwrap().join("\n");
        assert!(text.contains("IPv6 is on again"), "{text}");
        assert!(!text.contains("ss -atlnup"), "{text}");
    }

    #[test]
    fn note_only_on_first_install_and_switch_and_only_when_a_reboot_is_due() {
        let first = outcome().debconf_note().unwrap();
        assert!(!first.contains('\n'), "one line for debconf: {first}");
        assert!(first.contains("\\n\\n"), "{first}");
        let switch = Outcome {
            occasion: Occasion::Switch {
                from: "pve-tcp-hardening-strict".into(),
            },
            ..outcome()
        };
        assert!(switch.debconf_note().is_some());
        let again = Outcome {
            occasion: Occasion::Again,
            ..outcome()
        };
        assert_eq!(again.debconf_note(), None);
        let nothing_due = Outcome {
            reboot_due: false,
            ..outcome()
        };
        assert_eq!(nothing_due.debconf_note(), None);
        assert_eq!(nothing_due.reboot_paragraphs(), None);
    }

    #[test]
    fn a_reboot_still_pending_from_before_is_called_so() {
        let o = Outcome {
            occasion: Occasion::Again,
            ipv6: Ipv6Change::StaysOff,
            chrony: ChronyChange::Unchanged,
            reboot_from_before: true,
            ..outcome()
        };
        let text = o.reboot_paragraphs().unwrap().join("\n");
        assert!(
            text.contains("the reboot asked for earlier is still pending"),
            "{text}"
        );
        assert!(!text.contains("IPv6 is off now"), "{text}");
    }

    #[test]
    fn ipv6_state_from_live_values() {
        use Ipv6Change::*;
        assert_eq!(Ipv6Change::from_values(Some("0"), Some("1")), TurnedOff);
        assert_eq!(Ipv6Change::from_values(Some("1"), Some("0")), TurnedOn);
        assert_eq!(Ipv6Change::from_values(Some("1"), Some("1")), StaysOff);
        assert_eq!(Ipv6Change::from_values(Some("0"), Some("0")), StaysOn);
        assert_eq!(Ipv6Change::from_values(None, None), Unknown);
    }
}
