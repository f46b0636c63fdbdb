//! End-to-end tests: the packages installed, upgraded, switched and purged
//! in real Debian 12 and Debian 13 chroots (laid out like Proxmox VE 8 and 9)
//! inside private network and mount namespaces.
//!
//! Needs root, unshare and debootstrap; otherwise every test prints
//! `SKIPPED: ...` on stderr. `PTH_E2E=0` skips on purpose. `tests/e2e/run.sh`
//! is the entry point for `make test` / CI (it also guards the host's
//! /proc/sys/net). See tests/e2e/README.md.
//!
//! `fixture_*` run every scenario against a tiny contract-shaped .deb built
//! here, proving the harness; `real_*` run them against dist/ (`make debs`).

#[path = "../common/mod.rs"]
mod common;
mod flows;
mod harness;
mod killpoint;
mod lockout;
mod scanners;

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use harness::fixture::Fixture;
use harness::{Deb, Release, Variants};

/// Each fixture is built once per run: the bookworm and trixie scenarios run
/// in parallel and ask for the same .deb, and a second build would rewrite the
/// file while another thread reads or installs it (a CI run failed so).
fn fixture(kind: Fixture, version: &str) -> Deb {
    static BUILT: Mutex<BTreeMap<String, Deb>> = Mutex::new(BTreeMap::new());
    let name = format!("{kind:?}-{version}");
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(deb) = built.get(&name) {
        return deb.clone();
    }
    let dir = harness::base::cache_dir()
        .join("runs")
        .join(format!("fixtures.{}", std::process::id()));
    let deb = kind.build(version, &dir.join(&name));
    built.insert(name, deb.clone());
    deb
}

fn dist() -> &'static Variants {
    static DIST: OnceLock<Variants> = OnceLock::new();
    DIST.get_or_init(Variants::dist)
}

/// dist/ built again at a higher version: the target of the upgrades.
fn rebuilt_higher() -> &'static Variants {
    static REBUILT: OnceLock<Variants> = OnceLock::new();
    REBUILT.get_or_init(|| {
        let out = harness::base::cache_dir()
            .join("runs")
            .join(format!("upgrade-debs.{}", std::process::id()));
        Variants::build(&format!("{}+e2e1", dist().default.version), &out)
    })
}

/// The last release whose units were under /lib/systemd/system: its commit
/// and version (issue 27).
const UNITS_IN_LIB: (&str, &str) = ("31b4f59", "0.1.0-1");

/// The suite's gate is the shared one: under `CI=true` a scenario that
/// cannot run fails, naming why (here `PTH_E2E=0`), instead of passing.
#[test]
fn under_ci_a_skipped_scenario_fails() {
    common::Run::program(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "bookworm::real_packages::s0_dist_has_four_distinct_variants",
        ])
        .env("CI", "true")
        .env("PTH_E2E", "0")
        .status(101)
        .stdout_contains(
            "e2e::bookworm-s0-dist cannot run here: PTH_E2E=0; with CI set no test may skip",
        )
        .run();
}

/// Every scenario, once per release: `bookworm::real_packages::s4_...` and
/// `trixie::real_packages::s4_...` (issue 27: each proof on both).
macro_rules! every_scenario {
    ($release:expr) => {
        use super::*;
        const RELEASE: Release = $release;

        mod fixture_proves_harness {
            use super::*;

            #[test]
            fn install_then_purge() {
                flows::install_then_purge(RELEASE, "fx-install-purge", || {
                    fixture(Fixture::Correct, "1.0")
                });
            }

            #[test]
            fn a_leaked_sysctl_is_caught() {
                if harness::gate::skipped(&format!("{RELEASE}-fx-leak")) {
                    return;
                }
                let caught = std::panic::catch_unwind(|| {
                    flows::install_then_purge(RELEASE, "fx-leak", || {
                        fixture(Fixture::LeaksSysctl, "1.0")
                    })
                });
                let message = caught.expect_err("the harness missed a leaked sysctl");
                let message = message
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_default();
                assert!(
                    message.contains("~ sysctl net.ipv4.tcp_fin_timeout: 60 -> 23"),
                    "unexpected failure text: {message}"
                );
            }

            #[test]
            fn chrony_installed_later() {
                flows::chrony_installed_later(RELEASE, "fx-chrony-later", || {
                    fixture(Fixture::Correct, "1.0")
                });
            }

            #[test]
            fn upgrade() {
                flows::upgrade(RELEASE, "fx-upgrade", || {
                    (
                        fixture(Fixture::Correct, "1.0"),
                        fixture(Fixture::Correct, "1.1"),
                    )
                });
            }

            #[test]
            fn reinstall_and_reconfigure() {
                flows::reinstall_and_reconfigure(RELEASE, "fx-reinstall", || {
                    fixture(Fixture::Correct, "1.0")
                });
            }

            #[test]
            fn admin_edited_chrony() {
                flows::admin_edited_chrony(RELEASE, "fx-admin-chrony", || {
                    fixture(Fixture::Correct, "1.0")
                });
            }

            #[test]
            fn interrupted_postinst() {
                flows::interrupted_postinst(RELEASE, "fx-interrupted", || {
                    fixture(Fixture::Correct, "1.0")
                });
            }

            #[test]
            fn piuparts() {
                flows::piuparts(RELEASE, "fx-piuparts", || fixture(Fixture::Correct, "1.0"));
            }
        }

        mod real_packages {
            use super::*;

            #[test]
            fn s0_dist_has_four_distinct_variants() {
                if harness::gate::skipped(&format!("{RELEASE}-s0-dist")) {
                    return;
                }
                let names: std::collections::BTreeSet<&str> = dist()
                    .all()
                    .iter()
                    .map(|d| d.profile.name.as_str())
                    .collect();
                assert_eq!(names.len(), 4, "profile names in dist/: {names:?}");
            }

            #[test]
            fn s1_install_with_chrony_s2_purge_restores_everything() {
                flows::install_then_purge(RELEASE, "s1-s2-install-purge", || {
                    dist().default.clone()
                });
            }

            #[test]
            fn s3_chrony_installed_after_the_package() {
                flows::chrony_installed_later(RELEASE, "s3-chrony-later", || {
                    dist().default.clone()
                });
            }

            #[test]
            fn s4_upgrade_to_a_rebuilt_higher_version() {
                flows::upgrade(RELEASE, "s4-upgrade", || {
                    (dist().default.clone(), rebuilt_higher().default.clone())
                });
            }

            #[test]
            fn s17_upgrade_from_0_1_0_1_moves_units_to_usr_lib() {
                flows::upgrade_moves_units_to_usr_lib(RELEASE, "s17-units-usr-lib", || {
                    let old = Variants::of_release(UNITS_IN_LIB.0, UNITS_IN_LIB.1);
                    (old.default, rebuilt_higher().default.clone())
                });
            }

            #[test]
            fn s18_postfix_localhost_kept_startable_and_given_back() {
                flows::postfix_localhost_stays_startable(RELEASE, "s18-postfix", || {
                    let version = match RELEASE {
                        Release::Bookworm => "3.7.",
                        Release::Trixie => "3.10.",
                    };
                    (
                        dist().default.clone(),
                        harness::packages::release_deb(RELEASE, "postfix", version),
                    )
                });
            }

            #[test]
            fn s5_switch_default_stealth_ipv6_then_purge() {
                flows::switch_variants(RELEASE, "s5-switch", || {
                    let d = dist();
                    [d.default.clone(), d.stealth.clone(), d.ipv6.clone()]
                });
            }

            #[test]
            fn s6_reinstall_and_dpkg_reconfigure() {
                flows::reinstall_and_reconfigure(RELEASE, "s6-reinstall", || {
                    dist().default.clone()
                });
            }

            #[test]
            fn s7_admin_edited_chrony_kept_byte_for_byte() {
                flows::admin_edited_chrony(RELEASE, "s7-admin-chrony", || dist().default.clone());
            }

            #[test]
            fn status_reports_a_later_file_that_shadows_a_key() {
                flows::status_names_a_shadowing_file(RELEASE, "status-shadowed", || {
                    dist().default.clone()
                });
            }

            #[test]
            fn finish_dry_run_lists_a_process_on_ipv6_loopback_as_ss_does() {
                flows::finish_lists_what_ss_shows(RELEASE, "finish-dry-run", || {
                    dist().default.clone()
                });
            }

            #[test]
            fn s8_interrupted_postinst_then_configure_a_converges() {
                flows::interrupted_postinst(RELEASE, "s8-interrupted", || dist().default.clone());
            }

            fn default_and_strict() -> (Deb, Deb) {
                (dist().default.clone(), dist().strict.clone())
            }

            #[test]
            fn s10_guide_done_fully_by_hand() {
                flows::hand_hardened(
                    RELEASE,
                    "s10-hand-whole-guide",
                    flows::HandMade::WholeGuide,
                    default_and_strict,
                );
            }

            #[test]
            fn s11_hand_made_chrony_backup_identical() {
                flows::hand_hardened(
                    RELEASE,
                    "s11-hand-chrony-orig-same",
                    flows::HandMade::ChronyBackupIdentical,
                    default_and_strict,
                );
            }

            #[test]
            fn s12_hand_made_chrony_backup_different() {
                flows::hand_hardened(
                    RELEASE,
                    "s12-hand-chrony-orig-other",
                    flows::HandMade::ChronyBackupDifferent,
                    default_and_strict,
                );
            }

            #[test]
            fn s13_hand_made_sysctl_file_guide_text() {
                flows::hand_hardened(
                    RELEASE,
                    "s13-hand-sysctl-guide",
                    flows::HandMade::SysctlGuideText,
                    default_and_strict,
                );
            }

            #[test]
            fn s14_hand_made_sysctl_file_edited() {
                flows::hand_hardened(
                    RELEASE,
                    "s14-hand-sysctl-edited",
                    flows::HandMade::SysctlEdited,
                    default_and_strict,
                );
            }

            #[test]
            fn s15_reboot_note_on_a_terminal_after_the_values_are_live() {
                flows::reboot_note_on_a_terminal(RELEASE, "s15-note-on-terminal", || {
                    dist().default.clone()
                });
            }

            #[test]
            fn s10_image_build_applies_nothing_and_restarts_nothing() {
                flows::image_build(RELEASE, "s10-image-build", || dist().default.clone());
            }

            #[test]
            fn s11_read_only_proc_sys_installs_without_applying() {
                flows::read_only_proc_sys(RELEASE, "s11-read-only", || dist().default.clone());
            }

            #[test]
            fn s12_dpkg_verify_names_a_changed_helper() {
                flows::dpkg_verify_names_a_changed_file(RELEASE, "s12-verify", || {
                    dist().default.clone()
                });
            }

            #[test]
            fn s13_chrony_purged_while_installed() {
                flows::chrony_purged_while_installed(RELEASE, "s13-chrony-purged", || {
                    dist().default.clone()
                });
            }

            #[test]
            fn s14_uneditable_chrony_file_changes_nothing() {
                flows::uneditable_chrony_changes_nothing(RELEASE, "s14-uneditable-chrony", || {
                    dist().default.clone()
                });
            }

            #[test]
            fn s19_hostile_state_dir_is_refused_before_anything_changes() {
                flows::hostile_state_dir_refused(RELEASE, "s19-hostile-state", || {
                    dist().default.clone()
                });
            }

            #[test]
            fn s15_units_installed_enabled_and_purged() {
                flows::units_installed_and_purged(RELEASE, "s15-units", || dist().default.clone());
            }

            #[test]
            fn s16_lynis_flags_only_documented_waivers_under_strict() {
                flows::lynis_under_strict(RELEASE, "s16-lynis", || {
                    (dist().strict.clone(), harness::packages::lynis_deb(RELEASE))
                });
            }

            #[test]
            fn s21_scanners_agree_with_status_compliance() {
                scanners::scanners_agree(RELEASE, "s21-scanners", || {
                    vec![
                        dist().default.clone(),
                        dist().strict.clone(),
                        dist().ipv6.clone(),
                    ]
                });
            }

            #[test]
            fn s20_killed_at_every_point_recovers_exactly() {
                killpoint::killed_at_every_point(RELEASE, "s20-kill-points", || {
                    (dist().default.clone(), dist().strict.clone())
                });
            }

            #[test]
            fn s9_piuparts_install_purge() {
                flows::piuparts(RELEASE, "s9-piuparts", || dist().default.clone());
            }

            #[test]
            fn lockout_each_finding_stops_an_ipv6_off_install() {
                lockout::each_finding_stops_the_install(RELEASE, "lockout-stops", || {
                    dist().default.clone()
                });
            }

            #[test]
            fn lockout_slaac_override_and_ipv6_profile_install() {
                lockout::installs_that_go_ahead(RELEASE, "lockout-proceeds", || {
                    (dist().default.clone(), dist().ipv6.clone())
                });
            }
        }
    };
}

mod bookworm {
    every_scenario!(Release::Bookworm);
}

mod trixie {
    every_scenario!(Release::Trixie);
}
