//! One Debian package per profile, built with cargo-deb.
//!
//! cargo-deb only reads package metadata from a Cargo manifest (variants
//! must be written in it by hand), so for each profile we generate a tiny
//! staging crate under `target/pkg/<package>/`: a manifest whose
//! `[package.metadata.deb]` lists the rendered assets, plus the rendered
//! maintainer files. `cargo deb --no-build` packs it; the result is moved into
//! the output directory with a rename, so a failed build leaves no .deb.

use crate::atomic::{write_atomic, NewFileMode};
use crate::build::catalog::Catalog;
use crate::build::manual::{completion, insert_man_context, ManPaths, COMPLETIONS};
use crate::build::render::Renderer;
use crate::build::rfc2822::iso_date;
use crate::build::rfc2822::rfc2822;
use crate::cli::documented_command;
use crate::contract::{
    ComplianceMaps, Profile, BASE_PACKAGE, COMPLIANCE_JSON, ENABLED_UNITS, FULL_HELPER, HELPER,
    HELPER_NAME, IPV6_IN_USE_SCRIPT, IPV6_IN_USE_SCRIPT_NAME, IPV6_IN_USE_SCRIPT_PATH, MAN_PAGE,
    METRICS_SERVICE_UNIT, METRICS_TIMER_UNIT, OVERRIDE_QUESTION, POSTFIX_BEFORE_FILE,
    POSTFIX_EXPLICIT_BEFORE_FILE, POSTFIX_OURS_FILE, POSTFIX_RECORD_DIR, PROFILE_JSON,
    REBOOT_AFTER_PURGE_FILE, RESTORE_FILE, STATE_DIR, STATE_END_LINE, SYSCTL_FILE,
    SYSCTL_FILE_NAME, SYSTEMD_UNITS, SYSTEMD_UNIT_DIR, UNSAVED_FILE,
};
use crate::tool::run_checked;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The virtual package every variant provides, conflicts with and replaces,
/// so apt swaps variants and two can never be installed together.
pub const VIRTUAL_PACKAGE: &str = "pve-tcp-hardening-profile";

/// Maintainer files rendered from `debian/` into every package.
const MAINTAINER_FILES: [&str; 6] = [
    "config",
    "preinst",
    "postinst",
    "prerm",
    "postrm",
    "templates",
];

/// What every package of one build shares.
#[derive(Debug, Clone)]
pub struct BuildSettings {
    /// Debian version, e.g. `0.1.0-1`.
    pub version: String,
    pub maintainer: String,
    /// The release build of the helper to ship (`/usr/sbin`).
    pub helper_binary: PathBuf,
    /// The release build of the full helper the first one executes.
    pub full_helper_binary: PathBuf,
    /// Where staging crates go (`target/pkg`).
    pub work_dir: PathBuf,
    /// Where finished .debs go (`dist`).
    pub out_dir: PathBuf,
    /// Timestamp for the changelog; cargo-deb reads the same variable.
    pub source_date_epoch: u64,
    /// The compliance maps every package ships (`status --compliance`).
    pub compliance: ComplianceMaps,
}

/// Files produced for one profile.
#[derive(Debug, Clone)]
pub struct BuiltPackage {
    pub package: String,
    /// `dist/<package>_<version>_<arch>.deb`
    pub deb: PathBuf,
    /// `dist/<package>.deb`, the stable name for `apt install ./...`.
    pub stable: PathBuf,
}

/// Build the package of `profile`.
pub fn build_package(
    profile: &Profile,
    catalog: &Catalog,
    renderer: &Renderer,
    settings: &BuildSettings,
) -> Result<BuiltPackage> {
    check_version(&settings.version)?;
    let stage = settings.work_dir.join(&profile.package);
    stage_crate(&stage, profile, catalog, renderer, settings)
        .with_context(|| format!("cannot stage the package in {}", stage.display()))?;
    let arch = dpkg_architecture()?;
    let file_name = format!("{}_{}_{arch}.deb", profile.package, settings.version);
    fs_err::create_dir_all(&settings.out_dir).context("cannot create the output directory")?;
    let scratch = tempfile::Builder::new()
        .prefix(".build-")
        .tempdir_in(&settings.out_dir)
        .context("cannot create a scratch directory in the output directory")?;
    let built = scratch.path().join(&file_name);
    run_cargo_deb(&stage, &built, settings)?;
    add_md5sums(&built, &scratch.path().join("tree"), settings)?;
    let deb = settings.out_dir.join(&file_name);
    let stable = settings.out_dir.join(format!("{}.deb", profile.package));
    let stable_tmp = scratch.path().join("stable.deb");
    fs_err::copy(&built, &stable_tmp).context("cannot copy the package to its stable name")?;
    fs_err::rename(&built, &deb).context("cannot move the package into place")?;
    if let Err(err) = fs_err::rename(&stable_tmp, &stable) {
        // A failed build leaves no package, not even the versioned one.
        fs_err::remove_file(&deb).context("cannot remove the package of the failed build")?;
        return Err(err).context("cannot move the package into place");
    }
    Ok(BuiltPackage {
        package: profile.package.clone(),
        deb,
        stable,
    })
}

/// Debian versions sort in ways cargo does not know; only reject what dpkg
/// would refuse and insist on a revision (changelog.Debian.gz is for
/// non-native packages).
fn check_version(version: &str) -> Result<()> {
    let ok_chars = version
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".+~-:".contains(&b));
    let starts_with_digit = version.bytes().next().is_some_and(|b| b.is_ascii_digit());
    if !ok_chars || !starts_with_digit || !version.contains('-') {
        bail!(
            "`{version}` is not a Debian version with a revision: use e.g. `0.1.0-1` \
             (digits first; letters, digits and . + ~ - : only)"
        );
    }
    Ok(())
}

fn dpkg_architecture() -> Result<String> {
    let out = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .context("cannot run `dpkg --print-architecture` (is dpkg installed?)")?;
    if !out.status.success() {
        bail!("`dpkg --print-architecture` failed");
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Write the staging crate: manifest, empty lib, rendered assets and
/// maintainer files.
fn stage_crate(
    stage: &Path,
    profile: &Profile,
    catalog: &Catalog,
    renderer: &Renderer,
    settings: &BuildSettings,
) -> Result<()> {
    if stage.exists() {
        fs_err::remove_dir_all(stage)?;
    }
    fs_err::create_dir_all(stage.join("debian"))?;
    let context = package_context(profile, settings)?;
    let write = |name: &str, bytes: &[u8]| -> Result<()> {
        write_atomic(&stage.join(name), bytes, NewFileMode::default())
            .with_context(|| format!("cannot write {name}"))
    };
    write("lib.rs", b"")?;
    write(
        SYSCTL_FILE_NAME,
        renderer.render_sysctl(profile, catalog)?.as_bytes(),
    )?;
    write("profile.json", profile.to_json()?.as_bytes())?;
    write(IPV6_IN_USE_SCRIPT_NAME, IPV6_IN_USE_SCRIPT.as_bytes())?;
    write("compliance.json", settings.compliance.to_json()?.as_bytes())?;
    for unit in SYSTEMD_UNITS {
        write(unit, renderer.render(unit, &context)?.as_bytes())?;
    }
    let documented = documented_command(&benchmark_names(&settings.compliance));
    let mut man_context = context.clone();
    insert_man_context(
        &mut man_context,
        &documented,
        &iso_date(settings.source_date_epoch),
    )?;
    write(
        MAN_PAGE_NAME,
        renderer.render(MAN_PAGE_NAME, &man_context)?.as_bytes(),
    )?;
    for (shell, _) in COMPLETIONS {
        write(&completion_file(shell), &completion(shell, &documented))?;
    }
    write(
        "README.Debian",
        renderer.render("README.Debian", &context)?.as_bytes(),
    )?;
    let news = renderer.render("NEWS.Debian", &context)?;
    write("NEWS.Debian.gz", &gzip(news.as_bytes())?)?;
    write(
        "copyright",
        renderer.render("copyright", &context)?.as_bytes(),
    )?;
    write(
        "lintian-overrides",
        renderer.render("lintian-overrides", &context)?.as_bytes(),
    )?;
    write(
        "debian/changelog",
        renderer.render("changelog", &context)?.as_bytes(),
    )?;
    for name in MAINTAINER_FILES {
        write(
            &format!("debian/{name}"),
            renderer.render(name, &context)?.as_bytes(),
        )?;
    }
    if profile.disable_ipv6 {
        write(
            "debian/triggers",
            renderer.render("triggers", &context)?.as_bytes(),
        )?;
    }
    let description = renderer.render("description", &context)?;
    write(
        "Cargo.toml",
        manifest(profile, settings, &description)?.as_bytes(),
    )
}

fn package_context(profile: &Profile, settings: &BuildSettings) -> Result<tera::Context> {
    let mut context = maintainer_script_context(profile)?;
    context
        .try_insert("version", &settings.version)
        .and_then(|()| context.try_insert("maintainer", &settings.maintainer))
        .and_then(|()| context.try_insert("date", &rfc2822(settings.source_date_epoch)))
        // README.Debian and NEWS.Debian name the paths of contract too.
        .and_then(|()| context.try_insert("paths", &ManPaths::new()))
        .context("cannot build the template context")?;
    Ok(context)
}

/// What the maintainer scripts and debconf templates under `debian/` are
/// rendered with (tests render them with exactly this too).
pub fn maintainer_script_context(profile: &Profile) -> Result<tera::Context> {
    let mut context = tera::Context::new();
    context
        .try_insert("profile", profile)
        .and_then(|()| context.try_insert("base_package", BASE_PACKAGE))
        .and_then(|()| context.try_insert("override_question", OVERRIDE_QUESTION))
        // The lockout check, embedded into preinst as it is (the heredoc's
        // quoted delimiter keeps sh from expanding it).
        .and_then(|()| context.try_insert("ipv6_check", IPV6_IN_USE_SCRIPT.trim_end()))
        // What postrm reads (it runs after the helper is gone) and the units
        // the scripts enable, mask and purge: named once, in contract.
        .and_then(|()| context.try_insert("state_dir", STATE_DIR))
        .and_then(|()| context.try_insert("restore_file", RESTORE_FILE))
        .and_then(|()| context.try_insert("unsaved_file", UNSAVED_FILE))
        .and_then(|()| context.try_insert("reboot_after_purge_file", REBOOT_AFTER_PURGE_FILE))
        .and_then(|()| context.try_insert("restore_end_line", STATE_END_LINE))
        .and_then(|()| context.try_insert("postfix_record_dir", POSTFIX_RECORD_DIR))
        .and_then(|()| context.try_insert("postfix_before_file", POSTFIX_BEFORE_FILE))
        .and_then(|()| context.try_insert("postfix_ours_file", POSTFIX_OURS_FILE))
        .and_then(|()| {
            context.try_insert("postfix_explicit_before_file", POSTFIX_EXPLICIT_BEFORE_FILE)
        })
        .and_then(|()| context.try_insert("units", &ENABLED_UNITS.join(" ")))
        .and_then(|()| context.try_insert("metrics_timer", METRICS_TIMER_UNIT))
        .and_then(|()| context.try_insert("metrics_service", METRICS_SERVICE_UNIT))
        .context("cannot build the template context")?;
    Ok(context)
}

/// The man page's template in `debian/`, and its name in the staging crate.
const MAN_PAGE_NAME: &str = "pve-tcp-hardening.8";

/// The benchmarks `status --compliance` takes: the maps the package ships.
fn benchmark_names(maps: &ComplianceMaps) -> Vec<String> {
    maps.maps.iter().map(|m| m.name.clone()).collect()
}

/// A completion's file name in the staging crate.
fn completion_file(shell: clap_complete::Shell) -> String {
    format!("{HELPER_NAME}.{shell}")
}

/// `gzip -9n`, as dh_compress does for NEWS.Debian: no name, no time
/// stamp, so builds stay reproducible.
fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    let mut child = Command::new("gzip")
        .args(["-9n", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot run gzip")?;
    let mut stdin = child.stdin.take().context("gzip has no stdin")?;
    stdin.write_all(bytes).context("cannot write to gzip")?;
    drop(stdin);
    let out = child.wait_with_output().context("gzip did not finish")?;
    if !out.status.success() {
        bail!("gzip failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(out.stdout)
}

fn utf8_path(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("helper path is not UTF-8: {}", path.display()))
}

/// The staging crate's manifest. Values go through the toml serializer so
/// no profile text can break the manifest's syntax.
fn manifest(profile: &Profile, settings: &BuildSettings, description: &str) -> Result<String> {
    let (summary, extended) = description.split_once('\n').unwrap_or((description, ""));
    let helper = utf8_path(&settings.helper_binary)?;
    let full_helper = utf8_path(&settings.full_helper_binary)?;
    // cargo-deb takes targets relative to the package root.
    let target = |abs: &str| abs.trim_start_matches('/').to_string();
    let unit_dir = format!("{}/", target(SYSTEMD_UNIT_DIR));
    let copyright = format!("usr/share/doc/{}/copyright", profile.package);
    let overrides = format!("usr/share/lintian/overrides/{}", profile.package);
    let mut assets = vec![
        [helper.to_string(), target(HELPER), "755".into()],
        [full_helper.to_string(), target(FULL_HELPER), "755".into()],
        [SYSCTL_FILE_NAME.into(), target(SYSCTL_FILE), "644".into()],
        ["profile.json".into(), target(PROFILE_JSON), "644".into()],
        [
            IPV6_IN_USE_SCRIPT_NAME.into(),
            target(IPV6_IN_USE_SCRIPT_PATH),
            "755".into(),
        ],
        [
            "compliance.json".into(),
            target(COMPLIANCE_JSON),
            "644".into(),
        ],
    ];
    for unit in SYSTEMD_UNITS {
        assets.push([unit.into(), unit_dir.clone(), "644".into()]);
    }
    let doc = |name: &str| format!("usr/share/doc/{}/{name}", profile.package);
    assets.push([MAN_PAGE_NAME.into(), target(MAN_PAGE), "644".into()]);
    for (shell, path) in COMPLETIONS {
        assets.push([completion_file(shell), target(path), "644".into()]);
    }
    assets.extend([
        ["README.Debian".into(), doc("README.Debian"), "644".into()],
        ["NEWS.Debian.gz".into(), doc("NEWS.Debian.gz"), "644".into()],
        ["copyright".into(), copyright, "644".into()],
        ["lintian-overrides".into(), overrides, "644".into()],
    ]);
    let mut deb = toml::Table::new();
    let mut put = |k: &str, v: toml::Value| {
        deb.insert(k.to_string(), v);
    };
    let s = |v: &str| toml::Value::String(v.to_string());
    put("name", s(&profile.package));
    put("maintainer", s(&settings.maintainer));
    put("section", s("admin"));
    put("priority", s("optional"));
    put("depends", s("$auto, debconf (>= 0.5) | debconf-2.0"));
    put("provides", s(VIRTUAL_PACKAGE));
    put("conflicts", s(VIRTUAL_PACKAGE));
    put("replaces", s(VIRTUAL_PACKAGE));
    put("extended-description", s(extended.trim_end()));
    put("maintainer-scripts", s("debian/"));
    put("changelog", s("debian/changelog"));
    if profile.disable_ipv6 {
        // preinst reads the lockout override with debconf before unpacking.
        put("pre-depends", s("debconf (>= 0.5) | debconf-2.0"));
        put("triggers-file", s("debian/triggers"));
    }
    let asset_list = assets
        .iter()
        .map(|a| toml::Value::Array(a.iter().map(|x| s(x)).collect()))
        .collect();
    put("assets", toml::Value::Array(asset_list));
    let mut package = toml::Table::new();
    package.insert("name".into(), s(&profile.package));
    // cargo wants semver here; the Debian version comes from --deb-version.
    package.insert("version".into(), s("0.0.0"));
    package.insert("edition".into(), s("2021"));
    package.insert("description".into(), s(summary));
    package.insert("license".into(), s("MIT"));
    package.insert("publish".into(), toml::Value::Boolean(false));
    let mut metadata = toml::Table::new();
    metadata.insert("deb".into(), toml::Value::Table(deb));
    package.insert("metadata".into(), toml::Value::Table(metadata));
    let mut lib = toml::Table::new();
    lib.insert("path".into(), s("lib.rs"));
    let mut root = toml::Table::new();
    root.insert("package".into(), toml::Value::Table(package));
    root.insert("lib".into(), toml::Value::Table(lib));
    // Its own workspace: never part of the project's.
    root.insert("workspace".into(), toml::Value::Table(toml::Table::new()));
    toml::to_string(&root).context("cannot write the staging manifest")
}

fn run_cargo_deb(stage: &Path, output: &Path, settings: &BuildSettings) -> Result<()> {
    let out = Command::new("cargo")
        .arg("deb")
        // `--fast`: add_md5sums unpacks this .deb and packs the kept one with
        // dpkg-deb (xz), so compressing it hard is wasted time.
        .args(["--no-build", "--no-strip", "--offline", "--fast"])
        .arg("--manifest-path")
        .arg(stage.join("Cargo.toml"))
        .arg("--deb-version")
        .arg(&settings.version)
        .arg("--output")
        .arg(output)
        .env("SOURCE_DATE_EPOCH", settings.source_date_epoch.to_string())
        .output()
        .context("cannot run `cargo deb` (install it with `make deps`)")?;
    if !out.status.success() || !output.is_file() {
        bail!(
            "cargo deb failed for {}:\n{}{}",
            stage.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// cargo-deb writes no `DEBIAN/md5sums`, so `dpkg --verify` and debsums
/// could not tell a changed file from the shipped one. Unpack the .deb with
/// `dpkg-deb -R`, add the sums of every file but the conffiles (dpkg keeps
/// their hashes itself; dh_md5sums leaves them out too) and pack it again
/// with `dpkg-deb --build`, which is reproducible under SOURCE_DATE_EPOCH.
fn add_md5sums(deb: &Path, tree: &Path, settings: &BuildSettings) -> Result<()> {
    run_tool(Command::new("dpkg-deb").arg("-R").arg(deb).arg(tree))?;
    let conffiles = fs_err::read_to_string(tree.join("DEBIAN/conffiles")).unwrap_or_default();
    let mut files = Vec::new();
    list_files(tree, Path::new(""), &mut files)?;
    files.retain(|f| {
        let shown = format!("/{}", f.display());
        f.components().next() != Some(std::path::Component::Normal("DEBIAN".as_ref()))
            && !conffiles.lines().any(|c| c.trim() == shown)
    });
    files.sort();
    let sums = run_tool(
        Command::new("md5sum")
            .arg("--")
            .args(&files)
            .current_dir(tree),
    )?;
    write_atomic(
        &tree.join("DEBIAN/md5sums"),
        &sums,
        NewFileMode { mode: 0o644 },
    )
    .context("cannot write DEBIAN/md5sums")?;
    run_tool(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(tree)
            .arg(deb)
            .env("SOURCE_DATE_EPOCH", settings.source_date_epoch.to_string()),
    )?;
    Ok(())
}

/// Regular files below `dir`, as paths relative to the tree root.
fn list_files(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs_err::read_dir(dir.join(rel))? {
        let entry = entry?;
        let path = rel.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            list_files(dir, &path, out)?;
        } else if kind.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

/// Run a packaging tool; its stdout, or an error with what it said.
fn run_tool(cmd: &mut Command) -> Result<Vec<u8>> {
    let shown = format!("{cmd:?}");
    run_checked(cmd, &shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_need_a_revision() {
        assert!(check_version("0.1.0-1").is_ok());
        assert!(check_version("1:2.0~rc1-3").is_ok());
        assert!(check_version("0.1.0").is_err());
        assert!(check_version("v1-1").is_err());
        assert!(check_version("1.0-1 ").is_err());
    }
}
