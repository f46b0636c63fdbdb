//! Keep postfix able to start when IPv6 goes off. With `inet_protocols`
//! naming IPv6 (`all`, the default on a dual-stack host) and
//! `inet_interfaces = localhost` (`/etc/hosts` maps it to `::1` too),
//! postfix stops at its next start with "fatal: parameter inet_interfaces:
//! no local interface found for ::1": a node whose mail (backup, fencing,
//! ZFS and SMART notices) is dead. The Debian way to fix it is postfix's own
//! `postconf -e inet_protocols=ipv4` (main.cf is not a conffile; postfix's
//! maintainer scripts edit it with postconf too).
//!
//! **The rule** ([`decide`]): nothing is done when the effective value
//! (`postconf -h inet_protocols`) names no IPv6. `all`, whether it is
//! postfix's built-in default (the Proxmox VE installer's main.cf sets no
//! `inet_protocols`) or written into main.cf (Debian's postinst writes
//! `inet_protocols = all` itself on every fresh main.cf: the debconf answer
//! it takes from the host's protocols), is not taken as the admin's choice
//! and becomes `ipv4`. Any other explicit value naming IPv6 (`ipv6`,
//! `ipv4, ipv6`) only an admin writes: it is left alone, with a warning.
//!
//! **The record**, under `/var/lib/pve-tcp-hardening/postfix/`, rewritten at
//! each change we make: `main.cf.before` (main.cf's bytes, mode and times
//! just before), `main.cf.ours` (its bytes just after) and, when main.cf
//! had an explicit setting, `inet_protocols.before` (that value). Giving
//! back ([`give_back`], and postrm's `restore_postfix`, its image in sh:
//! tests/maint.rs runs both) puts `main.cf.before` back only when main.cf
//! still is exactly what we left; when it was edited since, only our one key
//! is put back with postconf, and only while it still is our `ipv4`; an
//! admin's later edits are never overwritten.
//!
//! Not here: restarting services (`chrony::try_restart`), when this runs
//! (`maint`).

use crate::atomic::write_atomic;
use crate::files::{if_exists, under_root};
use crate::host::state::STATE_DIR;
use crate::tool::run_checked;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const MAIN_CF: &str = crate::contract::POSTFIX_MAIN_CF;
pub const POSTCONF: &str = "/usr/sbin/postconf";
const CONFIG_DIR: &str = "/etc/postfix";
// The record's directory below the state dir, and its files (postrm
// reads them by these names too).
use crate::contract::{
    POSTFIX_BEFORE_FILE as BEFORE_FILE, POSTFIX_EXPLICIT_BEFORE_FILE as EXPLICIT_BEFORE_FILE,
    POSTFIX_OURS_FILE as OURS_FILE, POSTFIX_RECORD_DIR as RECORD_DIR,
};
/// The value we set.
pub const IPV4_ONLY: &str = "ipv4";

/// What to do about postfix's `inet_protocols`, from what postconf says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// It names no IPv6 (`ipv4`, set by the admin or by us): nothing to do.
    Ipv4Only(String),
    /// It names IPv6 and nobody chose it: set `ipv4`. `was` is the
    /// effective value.
    SetIpv4 { was: String },
    /// The admin wrote a value naming IPv6 other than `all`: theirs.
    AdminChoice(String),
}

/// Whether a value of `inet_protocols` makes postfix use IPv6: `all`, or
/// `ipv6` among its words (postconf(5): separated by commas or blanks).
pub fn includes_ipv6(value: &str) -> bool {
    value
        .split([',', ' ', '\t'])
        .any(|w| w.eq_ignore_ascii_case("all") || w.eq_ignore_ascii_case("ipv6"))
}

/// The rule, from the effective value and the explicit one in main.cf.
pub fn decide(effective: &str, explicit: Option<&str>) -> Decision {
    if !includes_ipv6(effective) {
        return Decision::Ipv4Only(effective.to_string());
    }
    match explicit {
        None => Decision::SetIpv4 {
            was: effective.to_string(),
        },
        Some(v) if v.trim().eq_ignore_ascii_case("all") => Decision::SetIpv4 {
            was: effective.to_string(),
        },
        Some(v) => Decision::AdminChoice(v.to_string()),
    }
}

/// What the install says (and `plan` announces) when it sets ipv4.
pub fn change_note(was: &str) -> String {
    format!(
        "postfix: inet_protocols set to ipv4 (was {was}) in {MAIN_CF} with postconf: with IPv6 \
         off, postfix with inet_interfaces = localhost cannot start; purging the package puts \
         main.cf back"
    )
}

/// postfix under a root: its postconf and main.cf.
#[derive(Debug, Clone)]
pub struct Postfix {
    root: PathBuf,
}

impl Postfix {
    pub fn new(root: &Path) -> Postfix {
        Postfix {
            root: root.to_path_buf(),
        }
    }

    /// postconf and a main.cf (Debian's "No configuration" has none: a
    /// postfix that does not run).
    pub fn is_installed(&self) -> bool {
        self.path(POSTCONF).is_file() && self.path(MAIN_CF).is_file()
    }

    fn path(&self, abs: &str) -> PathBuf {
        under_root(&self.root, abs)
    }

    fn record(&self, name: &str) -> PathBuf {
        self.root.join(STATE_DIR).join(RECORD_DIR).join(name)
    }

    /// The root's own postconf, on the root's config directory.
    fn postconf(&self, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new(self.path(POSTCONF));
        cmd.arg("-c").arg(self.path(CONFIG_DIR)).args(args);
        let out = run_checked(&mut cmd, &format!("postconf {}", args.join(" ")))?;
        Ok(String::from_utf8_lossy(&out).trim().to_string())
    }

    /// The effective value (`postconf -h`) and the one main.cf sets, if
    /// any (`postconf -nh` prints nothing for a value not set there).
    pub fn inet_protocols(&self) -> Result<(String, Option<String>)> {
        let effective = self.postconf(&["-h", "inet_protocols"])?;
        let explicit = self.postconf(&["-nh", "inet_protocols"])?;
        Ok((effective, (!explicit.is_empty()).then_some(explicit)))
    }

    /// What [`decide`] says for this postfix; None when it is not installed.
    pub fn assess(&self) -> Result<Option<Decision>> {
        if !self.is_installed() {
            return Ok(None);
        }
        let (effective, explicit) = self
            .inet_protocols()
            .context("cannot read postfix's inet_protocols")?;
        Ok(Some(decide(&effective, explicit.as_deref())))
    }

    /// Record main.cf as it is, set `inet_protocols = ipv4`, record what
    /// we left. The record of an earlier change is replaced: purge undoes
    /// the last one (postfix's own upgrade or reinstall rewrote the key
    /// since, or the earlier main.cf is gone with a postfix purge).
    pub fn set_ipv4_only(&self) -> Result<()> {
        let main_cf = self.path(MAIN_CF);
        let (_, explicit) = self.inet_protocols()?;
        let dir = self.record("");
        crate::atomic::create_dir_all(&dir).context("cannot create the postfix record")?;
        copy_keeping_metadata(&main_cf, &self.record(BEFORE_FILE))?;
        let explicit_file = self.record(EXPLICIT_BEFORE_FILE);
        match explicit {
            Some(v) => write_atomic(
                &explicit_file,
                format!("{v}\n").as_bytes(),
                Default::default(),
            )?,
            None => crate::atomic::remove_file(&explicit_file).map(drop)?,
        }
        self.postconf(&["-e", &format!("inet_protocols={IPV4_ONLY}")])?;
        let ours = fs_err::read(&main_cf)?;
        write_atomic(&self.record(OURS_FILE), &ours, Default::default())
            .context("cannot record postfix's main.cf as changed")
    }
}

/// `cp -p`: the bytes, mode, owner and times, so a restore is exact;
/// durable before postconf changes main.cf.
fn copy_keeping_metadata(from: &Path, to: &Path) -> Result<()> {
    let mut cmd = Command::new("cp");
    cmd.arg("-p").arg(from).arg(to);
    run_checked(&mut cmd, &format!("cp -p {}", from.display()))?;
    crate::atomic::sync_file(to)
}

/// What [`give_back`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GiveBack {
    /// No record: we never changed main.cf.
    NothingRecorded,
    /// main.cf is gone (postfix purged): nothing to give back.
    MainCfGone,
    /// main.cf was what we left: the bytes from before are back.
    Restored,
    /// main.cf was edited since: only our key went back, to this value
    /// (None: the line removed, postfix's default again).
    KeyReverted(Option<String>),
    /// main.cf was edited since and its `inet_protocols` is no longer ours
    /// (or no postconf is left to edit it): left as it is.
    LeftAlone,
}

impl GiveBack {
    pub fn note(&self) -> Option<String> {
        match self {
            GiveBack::NothingRecorded | GiveBack::MainCfGone => None,
            GiveBack::Restored => Some(format!("{MAIN_CF} is back as it was before the install")),
            GiveBack::KeyReverted(v) => Some(format!(
                "{MAIN_CF} was edited since the install: kept as it is but for inet_protocols, {}",
                match v {
                    Some(v) => format!("set back to {v}"),
                    None => "removed (postfix's default again)".to_string(),
                }
            )),
            GiveBack::LeftAlone => Some(format!(
                "{MAIN_CF} was edited since the install and inet_protocols is no longer the ipv4 \
                 this package set: left as it is"
            )),
        }
    }
}

/// Undo our change of main.cf by the one rule postrm follows too, then
/// drop the record.
pub fn give_back(root: &Path) -> Result<GiveBack> {
    let postfix = Postfix::new(root);
    let before = postfix.record(BEFORE_FILE);
    if !before.is_file() {
        return Ok(GiveBack::NothingRecorded);
    }
    let main_cf = postfix.path(MAIN_CF);
    let current = if_exists(fs_err::read(&main_cf))?;
    let ours = if_exists(fs_err::read(postfix.record(OURS_FILE)))?;
    let outcome = match current {
        None => GiveBack::MainCfGone,
        Some(now) if Some(&now) == ours.as_ref() => {
            let tmp = main_cf.with_extension("cf.pve-tcp-hardening-new");
            copy_keeping_metadata(&before, &tmp)?;
            crate::atomic::rename(&tmp, &main_cf)?;
            GiveBack::Restored
        }
        Some(_) if !postfix.path(POSTCONF).is_file() => GiveBack::LeftAlone,
        Some(_) => {
            let (_, explicit) = postfix.inet_protocols()?;
            if explicit.as_deref() != Some(IPV4_ONLY) {
                GiveBack::LeftAlone
            } else {
                let was = if_exists(fs_err::read_to_string(postfix.record(EXPLICIT_BEFORE_FILE)))?
                    .and_then(|t| t.lines().next().map(str::to_string));
                match &was {
                    Some(v) => postfix.postconf(&["-e", &format!("inet_protocols={v}")])?,
                    None => postfix.postconf(&["-X", "inet_protocols"])?,
                };
                GiveBack::KeyReverted(was)
            }
        }
    };
    crate::atomic::remove_dir_all(&postfix.record("")).context("cannot drop the postfix record")?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_values_name_ipv6() {
        for (value, ipv6) in [
            ("all", true),
            ("ALL", true),
            ("ipv6", true),
            ("ipv4, ipv6", true),
            ("ipv4,ipv6", true),
            ("ipv4 ipv6", true),
            ("ipv4", false),
            ("", false),
        ] {
            assert_eq!(includes_ipv6(value), ipv6, "{value:?}");
        }
    }

    #[test]
    fn all_is_not_a_choice_other_ipv6_values_are() {
        let set = |was: &str| Decision::SetIpv4 { was: was.into() };
        assert_eq!(decide("all", None), set("all"));
        assert_eq!(decide("all", Some("all")), set("all"));
        assert_eq!(
            decide("ipv4", Some("ipv4")),
            Decision::Ipv4Only("ipv4".into())
        );
        assert_eq!(decide("ipv4", None), Decision::Ipv4Only("ipv4".into()));
        assert_eq!(
            decide("ipv4, ipv6", Some("ipv4, ipv6")),
            Decision::AdminChoice("ipv4, ipv6".into())
        );
        assert_eq!(
            decide("ipv6", Some("ipv6")),
            Decision::AdminChoice("ipv6".into())
        );
    }
}
