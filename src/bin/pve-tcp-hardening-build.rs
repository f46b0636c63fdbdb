//! `pve-tcp-hardening-build`: the build-time tool (never shipped in a .deb).
//! It lists, checks, renders, explains and compares profiles, builds one
//! Debian package per profile, and publishes them as a signed apt repository.

use anyhow::{Context, Result};
use clap::{Args, CommandFactory, Parser, Subcommand};
use pve_tcp_hardening::atomic::{write_atomic, NewFileMode};
use pve_tcp_hardening::build::catalog::Catalog;
use pve_tcp_hardening::build::compliance::load_compliance_maps;
use pve_tcp_hardening::build::manual::insert_man_context;
use pve_tcp_hardening::build::package::{build_package, BuildSettings};
use pve_tcp_hardening::build::profile::{profile_names, ProfileLoader};
use pve_tcp_hardening::build::render::Renderer;
use pve_tcp_hardening::build::repo::{publish_repo, signing, RepoSettings};
use pve_tcp_hardening::build::rfc2822::iso_date;
use pve_tcp_hardening::contract::{Profile, FULL_HELPER_NAME};
use pve_tcp_hardening::output::emit;
use pve_tcp_hardening::output::render_table;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Build tool of pve-tcp-hardening: profiles in, sysctl files and .debs out.
#[derive(Debug, Parser)]
#[command(name = "pve-tcp-hardening-build", version, about)]
struct Cli {
    #[command(flatten)]
    dirs: DataDirs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct DataDirs {
    /// Directory holding the profiles (`NAME.toml`).
    #[arg(long, global = true, value_name = "DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles"))]
    profiles_dir: PathBuf,
    /// The key catalog.
    #[arg(long, global = true, value_name = "FILE", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/catalog/keys.toml"))]
    catalog: PathBuf,
    /// Directory holding the tera templates.
    #[arg(long, global = true, value_name = "DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/templates"))]
    templates_dir: PathBuf,
    /// Directory holding the maintainer files (rendered per profile).
    #[arg(long, global = true, value_name = "DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/debian"))]
    debian_dir: PathBuf,
}

#[derive(Debug, Args)]
struct BuildArgs {
    /// Profiles to build (default: `default`).
    #[arg(conflicts_with = "all")]
    profiles: Vec<String>,
    /// Build every profile of the profiles directory.
    #[arg(long)]
    all: bool,
    /// Output directory for the .deb files.
    #[arg(long, value_name = "DIR", default_value = "dist")]
    out: PathBuf,
    /// Debian version of the packages (with a revision).
    #[arg(long, value_name = "V", default_value = concat!(env!("CARGO_PKG_VERSION"), "-1"))]
    version: String,
    /// Maintainer field of the packages.
    #[arg(
        long,
        value_name = "NAME <EMAIL>",
        default_value = "pve-tcp-hardening maintainers <pve-tcp-hardening@example.org>"
    )]
    maintainer: String,
    /// The release build of the helper to ship; the full helper
    /// (`pve-tcp-hardening-full`) is taken from the same directory.
    #[arg(long, value_name = "FILE", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/pve-tcp-hardening"))]
    helper: PathBuf,
    /// Scratch directory for the per-profile staging crates.
    #[arg(long, value_name = "DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/pkg"))]
    work_dir: PathBuf,
}

#[derive(Debug, Args)]
struct RepoArgs {
    /// The repository directory; replaced as a whole by each run.
    #[arg(long, value_name = "DIR", default_value = "dist/repo")]
    out: PathBuf,
    /// Directory holding the built .debs (the newest version of each
    /// package is published).
    #[arg(long, value_name = "DIR", default_value = "dist")]
    debs: PathBuf,
    /// Suite (and codename) of the repository, the client's `Suites:`.
    #[arg(long, default_value = "stable")]
    suite: String,
    /// gpg key that signs (fingerprint, key ID or user ID). Default: a
    /// dedicated repository key, generated on first use.
    #[arg(long, value_name = "KEYID")]
    sign_key: Option<String>,
    /// GNUPGHOME holding the key. Default: gpg's own for --sign-key, else
    /// ${XDG_DATA_HOME:-~/.local/share}/pve-tcp-hardening/repo-gnupg.
    #[arg(long, value_name = "DIR")]
    key_home: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List profiles with their package name and description.
    List,
    /// Render a profile's sysctl.d file to stdout, or atomically to FILE.
    Render {
        /// The profile's name (its file under the profiles directory
        /// without `.toml`).
        profile: String,
        /// Write to FILE atomically instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Show every key of a profile: value, the profile that set it, why.
    Explain {
        /// The profile's name.
        profile: String,
    },
    /// Keys added, removed or changed from profile A to profile B.
    Diff {
        /// The profile compared from.
        a: String,
        /// The profile compared to.
        b: String,
    },
    /// Validate every profile; lists all problems, exits 1 if any.
    Check,
    /// Build one Debian package per profile into the output directory.
    Build(BuildArgs),
    /// Publish the built packages as a signed apt repository directory.
    Repo(RepoArgs),
    /// Write this tool's man page, pve-tcp-hardening-build(1), into DIR
    /// (no package ships it; read it with `man -l`).
    Man {
        /// Directory the page is written to.
        #[arg(long, value_name = "DIR", default_value = "target/man")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
    // Publishing reads only .debs, the man page only templates: a broken
    // profile must block neither.
    match &cli.command {
        Command::Repo(args) => return repo(args),
        Command::Man { out } => return man(&cli.dirs, out),
        _ => {}
    }
    let catalog = Catalog::load(&cli.dirs.catalog)?;
    let loader = ProfileLoader::new(&cli.dirs.profiles_dir, &catalog);
    match &cli.command {
        Command::List => list(&loader),
        Command::Render { profile, output } => {
            let renderer = Renderer::load(&cli.dirs.templates_dir)?;
            let text = renderer.render_sysctl(&loader.load(profile)?, &catalog)?;
            write_output(output.as_deref(), &text)
        }
        Command::Explain { profile } => explain(&loader.load(profile)?, &catalog),
        Command::Diff { a, b } => Ok(emit(&diff(&loader.load(a)?, &loader.load(b)?))?),
        Command::Check => check(&loader, &catalog, &cli.dirs),
        Command::Build(args) => build(&loader, &catalog, &cli.dirs, args),
        Command::Repo(args) => repo(args),
        Command::Man { out } => man(&cli.dirs, out),
    }
}

fn write_output(output: Option<&Path>, text: &str) -> Result<()> {
    match output {
        Some(path) => write_atomic(path, text.as_bytes(), NewFileMode::default())
            .with_context(|| format!("cannot write {}", path.display())),
        None => Ok(emit(text)?),
    }
}

fn list(loader: &ProfileLoader) -> Result<()> {
    let rows: Vec<[String; 3]> = loader
        .load_all()?
        .into_iter()
        .map(|p| [p.name, p.package, p.description])
        .collect();
    Ok(emit(&render_table(
        ["PROFILE", "PACKAGE", "DESCRIPTION"],
        &rows,
    ))?)
}

fn explain(profile: &Profile, catalog: &Catalog) -> Result<()> {
    let mut text = format!(
        "profile {} (package {}): {}\nextends chain: {}\nIPv6 off (chronyd made IPv4-only): {}\n\n",
        profile.name,
        profile.package,
        profile.description,
        profile.chain.join(" -> "),
        if profile.disable_ipv6 { "yes" } else { "no" }
    );
    let active = profile.settings.iter().map(|s| (s, ""));
    let commented = profile.commented.iter().map(|s| (s, "# "));
    let rows: Vec<[String; 4]> = active
        .chain(commented)
        .map(|(s, mark)| {
            let why = match (&s.custom_reason, catalog.get(&s.key)) {
                (Some(reason), _) => format!("(custom) {reason}"),
                (None, Some(info)) => info
                    .rationale
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
                (None, None) => String::new(),
            };
            [
                format!("{mark}{}", s.key),
                s.value.clone(),
                s.set_by.clone(),
                why,
            ]
        })
        .collect();
    text.push_str(&render_table(["KEY", "VALUE", "SET BY", "WHY"], &rows));
    Ok(emit(&text)?)
}

/// A key's state in a profile: its value, marked `# ` when commented out.
fn key_states(p: &Profile) -> std::collections::BTreeMap<&str, String> {
    let active = p.settings.iter().map(|s| (s.key.as_str(), s.value.clone()));
    let commented = p
        .commented
        .iter()
        .map(|s| (s.key.as_str(), format!("# {}", s.value)));
    active.chain(commented).collect()
}

fn diff(a: &Profile, b: &Profile) -> String {
    let (sa, sb) = (key_states(a), key_states(b));
    let mut keys: Vec<&str> = sa.keys().chain(sb.keys()).copied().collect();
    keys.sort();
    keys.dedup();
    let mut out = format!("--- {}\n+++ {}\n", a.name, b.name);
    for key in keys {
        match (sa.get(key), sb.get(key)) {
            (None, Some(v)) => out.push_str(&format!("+ {key} = {v}\n")),
            (Some(v), None) => out.push_str(&format!("- {key} = {v}\n")),
            (Some(x), Some(y)) if x != y => out.push_str(&format!("~ {key} = {x} -> {y}\n")),
            _ => {}
        }
    }
    out
}

/// Validate every profile, then render each so template errors show too.
fn check(loader: &ProfileLoader, catalog: &Catalog, dirs: &DataDirs) -> Result<()> {
    let profiles = loader.load_all()?;
    let renderer = Renderer::load(&dirs.templates_dir)?;
    for p in &profiles {
        renderer.render_sysctl(p, catalog)?;
    }
    let names = profile_names(&dirs.profiles_dir)?;
    let compliance = load_compliance_maps(&dirs.profiles_dir.join("compliance"))?;
    let maps: Vec<&str> = compliance.maps.iter().map(|m| m.name.as_str()).collect();
    Ok(emit(&format!(
        "{} profiles OK: {}\n{} compliance maps OK: {}\n",
        profiles.len(),
        names.join(", "),
        maps.len(),
        maps.join(", ")
    ))?)
}

fn build(
    loader: &ProfileLoader,
    catalog: &Catalog,
    dirs: &DataDirs,
    args: &BuildArgs,
) -> Result<()> {
    let profiles: Vec<Profile> = if args.all {
        loader.load_all()?
    } else if args.profiles.is_empty() {
        vec![loader.load("default")?]
    } else {
        args.profiles
            .iter()
            .map(|p| loader.load(p))
            .collect::<Result<_>>()?
    };
    let full_helper = args.helper.with_file_name(FULL_HELPER_NAME);
    for binary in [&args.helper, &full_helper] {
        if !binary.is_file() {
            anyhow::bail!(
                "the helper {} is missing: run `cargo build --release --locked` first (or `make deb`)",
                binary.display()
            );
        }
    }
    let renderer = Renderer::load_with_debian(&dirs.templates_dir, &dirs.debian_dir)?;
    let settings = BuildSettings {
        version: args.version.clone(),
        maintainer: args.maintainer.clone(),
        helper_binary: fs_err::canonicalize(&args.helper)?,
        full_helper_binary: fs_err::canonicalize(&full_helper)?,
        work_dir: args.work_dir.clone(),
        out_dir: args.out.clone(),
        source_date_epoch: source_date_epoch()?,
        compliance: load_compliance_maps(&dirs.profiles_dir.join("compliance"))?,
    };
    // One thread per profile: each has its own staging crate and scratch
    // dir, and most of the time goes to cargo-deb's child processes
    // (dpkg-shlibdeps, xz), so they overlap well (BENCHMARKS.md).
    let results: Vec<Result<_>> = std::thread::scope(|scope| {
        let handles: Vec<_> = profiles
            .iter()
            .map(|profile| {
                let (renderer, settings) = (&renderer, &settings);
                scope.spawn(move || {
                    build_package(profile, catalog, renderer, settings).with_context(|| {
                        format!("cannot build the package of profile `{}`", profile.name)
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a build thread panicked")))
            })
            .collect()
    });
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok(built) => emit(&format!("{}\n", built.deb.display()))?,
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    if !failures.is_empty() {
        anyhow::bail!("{}", failures.join("\nerror: "));
    }
    Ok(())
}

fn repo(args: &RepoArgs) -> Result<()> {
    // Release's Date: apt refuses a repository dated in the future, so
    // without SOURCE_DATE_EPOCH it is now, not the commit time.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?;
    let settings = RepoSettings {
        out: args.out.clone(),
        debs_dir: args.debs.clone(),
        suite: args.suite.clone(),
        sign_key: args.sign_key.clone(),
        key_home: args.key_home.clone(),
        date_epoch: env_source_date_epoch()?.unwrap_or(now.as_secs()),
    };
    let published = publish_repo(&settings)?;
    let mut report = format!("{} (suite {}):\n", published.out.display(), settings.suite);
    for deb in &published.packages {
        report.push_str(&format!("  {} {} {}\n", deb.package, deb.version, deb.arch));
    }
    for deb in &published.older {
        report.push_str(&format!("  left out (older): {}\n", deb.source.display()));
    }
    if published.key.generated {
        report.push_str("generated the repository signing key (keep a backup of its GNUPGHOME):\n");
    }
    report.push_str(&format!(
        "signed by {}\nclients need {} (armored, for deploy/ansible: {})\n",
        published.key.describe(),
        published.out.join(signing::KEYRING_FILE).display(),
        published.out.join(signing::ARMORED_KEY_FILE).display()
    ));
    Ok(emit(&report)?)
}

/// The man page's template under the templates directory, and its name.
const MAN_PAGE: &str = "pve-tcp-hardening-build.1";

/// pve-tcp-hardening-build(1) from its template and this command line. The
/// defaults under the source tree show as `<source>/...`, not as the path
/// of the checkout the tool was built in.
fn man(dirs: &DataDirs, out: &Path) -> Result<()> {
    let renderer = Renderer::load(&dirs.templates_dir)?;
    let source = env!("CARGO_MANIFEST_DIR");
    let command = relative_defaults(Cli::command(), source);
    let mut context = tera::Context::new();
    context.insert("version", env!("CARGO_PKG_VERSION"));
    insert_man_context(&mut context, &command, &iso_date(source_date_epoch()?))?;
    let page = renderer.render(&format!("{MAN_PAGE}.tera"), &context)?;
    fs_err::create_dir_all(out).context("cannot create the man page's directory")?;
    let path = out.join(MAN_PAGE);
    write_atomic(&path, page.as_bytes(), NewFileMode { mode: 0o644 })
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(emit(&format!("{}\n", path.display()))?)
}

/// `command` with every default value under `source` shown as `<source>`.
fn relative_defaults(command: clap::Command, source: &str) -> clap::Command {
    let relative = |arg: clap::Arg| {
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().replace(source, "<source>"))
            .collect();
        match defaults.as_slice() {
            [one] => arg.default_value(one.clone()),
            _ => arg,
        }
    };
    let ids = |c: &clap::Command| -> Vec<String> {
        c.get_arguments().map(|a| a.get_id().to_string()).collect()
    };
    let mut command = ids(&command)
        .into_iter()
        .fold(command, |c, id| c.mut_arg(id, relative));
    let subs: Vec<String> = command
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in subs {
        command = command.mut_subcommand(name, |sub| {
            ids(&sub)
                .into_iter()
                .fold(sub, |s, id| s.mut_arg(id, relative))
        });
    }
    command
}

/// SOURCE_DATE_EPOCH if set.
fn env_source_date_epoch() -> Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value
            .trim()
            .parse()
            .map(Some)
            .with_context(|| format!("SOURCE_DATE_EPOCH={value:?} is not a number of seconds")),
        Err(_) => Ok(None),
    }
}

/// SOURCE_DATE_EPOCH, else the time of the current git commit, so two builds
/// of one commit are byte-identical.
fn source_date_epoch() -> Result<u64> {
    if let Some(epoch) = env_source_date_epoch()? {
        return Ok(epoch);
    }
    let out = std::process::Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .context("cannot run git to find the commit time; set SOURCE_DATE_EPOCH")?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("no git commit time found; set SOURCE_DATE_EPOCH")
}
