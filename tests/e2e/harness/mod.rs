//! The e2e harness: [`Scenario`] drives one fresh chroot through package
//! operations and checks the contract after each step.
//!
//! Pieces, in the order a scenario uses them: [`gate`] (may we run here),
//! [`mirror`] + [`base`] (the cached pristine chroot), [`chroot`] (a fresh
//! copy in private namespaces), [`packages`] / [`fixture`] (what to install and
//! what it promises), [`snapshot`] (piuparts-like before/after pictures),
//! [`chrony`] (the one allowed difference in /etc/default/chrony).

pub mod base;
pub mod chrony;
pub mod chroot;
pub mod fixture;
pub mod gate;
pub mod mirror;
pub mod packages;
pub mod release;
pub mod snapshot;

use std::collections::BTreeMap;
use std::sync::OnceLock;

pub use chroot::Chroot;
pub use packages::{Deb, Variants};
pub use release::Release;
pub use snapshot::Snapshot;

pub const CHRONY_DEFAULT: &str = "/etc/default/chrony";
pub const CHRONY_ORIG: &str = "/etc/default/chrony.orig";
pub const STATE_DIR: &str = "/var/lib/pve-tcp-hardening";

/// The base of `release`, built once per test process; `None` if the suite
/// is skipped here. A failing build is a test failure, not a skip.
pub fn base(release: Release) -> Option<&'static base::Base> {
    static BASE: [OnceLock<Result<base::Base, String>>; 2] = [OnceLock::new(), OnceLock::new()];
    static SKIP: OnceLock<Option<String>> = OnceLock::new();
    if SKIP.get_or_init(gate::skip_reason).is_some() {
        return None;
    }
    match BASE[release.index()].get_or_init(|| base::ensure_base(release)) {
        Ok(base) => Some(base),
        Err(e) => panic!("cannot prepare the e2e base chroot: {e}"),
    }
}

/// One scenario: a fresh chroot, the state it started from, and the steps.
pub struct Scenario {
    pub release: Release,
    pub chroot: Chroot,
    /// Taken by [`Scenario::baseline`]; what a full purge must return to.
    pub before: Option<Snapshot>,
    /// /etc/default/chrony as the admin had it before our package.
    pub chrony_original: Option<Vec<u8>>,
    /// Whether an install must ask for a reboot; false where the admin had
    /// every value live and chronyd IPv4-only already (the guide done by
    /// hand, reboot included): nothing is left to reboot for.
    pub reboot_expected: bool,
}

impl Scenario {
    /// A fresh chroot, or `None` (after printing SKIPPED) when the suite
    /// cannot run on this machine.
    pub fn start(release: Release, name: &str) -> Option<Scenario> {
        let name = format!("{release}-{name}");
        if gate::skipped(&name) {
            return None;
        }
        let chroot = Chroot::fresh(&base(release)?.tar, &name);
        let chrony_original = chroot.read(CHRONY_DEFAULT);
        Some(Scenario {
            release,
            chroot,
            before: None,
            chrony_original,
            reboot_expected: true,
        })
    }

    /// Records the state a full purge must return to; call after any setup.
    pub fn baseline(&mut self) -> &mut Self {
        self.chrony_original = self.chroot.read(CHRONY_DEFAULT);
        self.before = Some(Snapshot::take(&mut self.chroot));
        self
    }

    pub fn snapshot(&mut self) -> Snapshot {
        Snapshot::take(&mut self.chroot)
    }

    pub fn run(&mut self, script: &str) -> chroot::Ran {
        self.chroot.run(script)
    }

    /// `apt-get install` of local .debs (no network in the namespace).
    pub fn apt_install(&mut self, debs: &[&Deb], extra: &str) -> &mut Self {
        let paths: Vec<String> = debs.iter().map(|d| self.chroot.copy_in(&d.path)).collect();
        self.run(&format!("apt-get install -y {extra} {}", paths.join(" ")));
        self
    }

    pub fn apt_purge(&mut self, packages: &[&str]) -> &mut Self {
        self.run(&format!("apt-get purge -y {}", packages.join(" ")));
        self
    }

    /// dpkg's view of a package: `install ok installed`, `deinstall ok
    /// config-files`, or `not-installed`.
    pub fn status(&mut self, package: &str) -> String {
        let ran = self.chroot.try_run(&format!(
            "dpkg-query -W -f '${{Status}}' {package} 2>/dev/null || echo not-installed"
        ));
        ran.stdout.trim().to_string()
    }

    /// Everything the contract promises while `deb` is the active variant.
    /// Keys set by any of `others` but not by `deb` must be back at their
    /// baseline values.
    pub fn expect_active(&mut self, deb: &Deb, others: &[&Deb]) -> &mut Self {
        let mut problems = Vec::new();
        let status = self.status(&deb.package);
        if status != "install ok installed" {
            problems.push(format!("{}: dpkg status `{status}`", deb.package));
        }
        if !self.chroot.path(&deb.sysctl_file).is_file() {
            problems.push(format!("{} missing", deb.sysctl_file));
        }
        problems.extend(self.live_value_problems(deb, others));
        problems.extend(self.chrony_problems(Some(deb)));
        match self.chroot.read("/run/reboot-required") {
            None if self.reboot_expected => problems.push("/run/reboot-required missing".into()),
            None => {}
            Some(_) => {
                let pkgs = self
                    .chroot
                    .read("/run/reboot-required.pkgs")
                    .unwrap_or_default();
                let pkgs = String::from_utf8_lossy(&pkgs);
                if !pkgs.lines().any(|l| l.trim() == deb.package) {
                    problems.push(format!(
                        "/run/reboot-required.pkgs does not list {}: {pkgs:?}",
                        deb.package
                    ));
                }
            }
        }
        assert!(
            problems.is_empty(),
            "with {} {} (profile {}) active:\n  {}",
            deb.package,
            deb.version,
            deb.profile.name,
            problems.join("\n  ")
        );
        self
    }

    /// The state after everything was purged: identical to the baseline.
    pub fn expect_pristine(&mut self, when: &str) -> &mut Self {
        let now = self.snapshot();
        let before = self.before.as_ref().expect("baseline() was called");
        before.assert_same(&now, when);
        self
    }

    fn live_value_problems(&mut self, deb: &Deb, others: &[&Deb]) -> Vec<String> {
        let live = self.chroot.net_sysctls();
        let base: BTreeMap<String, String> = self
            .before
            .as_ref()
            .map(|b| b.net.clone())
            .unwrap_or_default();
        let mut problems = Vec::new();
        for (key, want) in &deb.profile.settings {
            match live.get(key) {
                Some(got) if got == want => {}
                got => problems.push(format!("live {key} = {got:?}, profile wants {want:?}")),
            }
        }
        let ours: Vec<&String> = deb.profile.settings.iter().map(|(k, _)| k).collect();
        for other in others {
            for (key, _) in &other.profile.settings {
                if ours.contains(&key) {
                    continue;
                }
                if live.get(key) != base.get(key) {
                    problems.push(format!(
                        "live {key} = {:?}, not set by {} so expected its original {:?} (set by {})",
                        live.get(key),
                        deb.package,
                        base.get(key),
                        other.package
                    ));
                }
            }
        }
        problems
    }

    /// /etc/default/chrony as the contract wants it with `deb` active (or,
    /// for `None`, with no variant active): diverted with `-4` added if the
    /// profile disables IPv6 and chrony's file exists, else untouched.
    fn chrony_problems(&mut self, deb: Option<&Deb>) -> Vec<String> {
        let diversions: Vec<String> = self
            .chroot
            .diversions()
            .into_iter()
            .filter(|d| d.contains(CHRONY_DEFAULT))
            .collect();
        let current = self.chroot.read(CHRONY_DEFAULT);
        let orig = self.chroot.read(CHRONY_ORIG);
        let mut problems = Vec::new();
        let Some(original) = self.chrony_original.clone() else {
            // No chrony: nothing may appear at either path. A diversion made
            // ahead of chrony's arrival is allowed (chrony's conffile then
            // lands on .orig), as long as it is well-formed.
            if current.is_some() || orig.is_some() {
                problems.push(format!(
                    "chrony is not installed, yet {CHRONY_DEFAULT} exists: {}, {CHRONY_ORIG} exists: {}",
                    current.is_some(),
                    orig.is_some()
                ));
            }
            if !diversions.is_empty() {
                problems.extend(self.diversion_problem(&diversions));
            }
            return problems;
        };
        match deb.filter(|d| d.profile.disable_ipv6) {
            Some(_) => {
                problems.extend(self.diversion_problem(&diversions));
                if orig.as_deref() != Some(&original[..]) {
                    problems.push(format!(
                        "{CHRONY_ORIG} is not the original:\n{}",
                        chrony::show_both(&original, orig.as_deref())
                    ));
                }
                match current {
                    None => problems.push(format!("{CHRONY_DEFAULT} missing")),
                    Some(generated) if chrony::has_dash4(&original) => {
                        if generated != original {
                            problems.push(format!(
                                "{CHRONY_DEFAULT} had -4 already and must stay as it was:\n{}",
                                chrony::show_both(&original, Some(&generated))
                            ));
                        }
                    }
                    Some(generated) => {
                        if let Err(e) = chrony::check_dash4(&original, &generated) {
                            problems.push(e);
                        }
                    }
                }
            }
            None => {
                if !diversions.is_empty() {
                    problems.push(format!("unexpected diversions {diversions:?}"));
                }
                if orig.is_some() {
                    problems.push(format!("{CHRONY_ORIG} left behind"));
                }
                if current.as_deref() != Some(&original[..]) {
                    problems.push(format!(
                        "{CHRONY_DEFAULT} changed:\n{}",
                        chrony::show_both(&original, current.as_deref())
                    ));
                }
            }
        }
        problems
    }

    /// Exactly one diversion of chrony's file, to .orig, by an installed
    /// package. The contract does not name the diverting package; it must be
    /// installed, or nothing would ever remove the diversion.
    fn diversion_problem(&mut self, diversions: &[String]) -> Option<String> {
        let prefix = format!("diversion of {CHRONY_DEFAULT} to {CHRONY_ORIG} by ");
        let owner = match diversions {
            [one] => one.strip_prefix(&prefix),
            _ => None,
        };
        let Some(owner) = owner else {
            return Some(format!(
                "diversions {diversions:?}, want exactly one `{prefix}<package>`"
            ));
        };
        let status = self.status(owner);
        (status != "install ok installed")
            .then(|| format!("{CHRONY_DEFAULT} is diverted by {owner}, whose status is `{status}`"))
    }

    /// No variant active: chrony back to the original, no diversion.
    pub fn expect_chrony_untouched(&mut self) -> &mut Self {
        let problems = self.chrony_problems(None);
        assert!(problems.is_empty(), "chrony:\n  {}", problems.join("\n  "));
        self
    }
}
