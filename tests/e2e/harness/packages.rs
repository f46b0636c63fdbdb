//! The packages under test and what they promise, read from the .deb itself:
//! `Package`/`Version` from the control file, the profile from
//! `/usr/share/pve-tcp-hardening/profile.json`, the sysctl file from the one
//! `etc/sysctl.d/*.conf` in the data tar.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::chroot::normalize_value;
use super::release::Release;

/// The profile contract every variant ships as profile.json.
#[derive(Clone, Debug)]
pub struct Profile {
    pub name: String,
    pub package: String,
    pub disable_ipv6: bool,
    /// (key, value) with whitespace folded as the live reading folds it.
    pub settings: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
pub struct Deb {
    pub path: PathBuf,
    pub package: String,
    pub version: String,
    pub profile: Profile,
    /// The sysctl.d file the package ships (absolute, in the chroot).
    pub sysctl_file: String,
}

pub const PROFILE_JSON: &str = "./usr/share/pve-tcp-hardening/profile.json";

impl Deb {
    pub fn inspect(path: &Path) -> Deb {
        let field = |name: &str| {
            let out = host(Command::new("dpkg-deb").arg("-f").arg(path).arg(name));
            out.trim().to_string()
        };
        let listing = host(Command::new("dpkg-deb").arg("--contents").arg(path));
        let sysctl_files: Vec<String> = listing
            .lines()
            .filter_map(|l| l.split_whitespace().nth(5))
            .filter(|p| p.starts_with("./etc/sysctl.d/") && p.ends_with(".conf"))
            .map(|p| p.trim_start_matches('.').to_string())
            .collect();
        assert_eq!(
            sysctl_files.len(),
            1,
            "{}: expected exactly one etc/sysctl.d/*.conf, found {sysctl_files:?}",
            path.display()
        );
        let json = host(Command::new("sh").arg("-c").arg(format!(
            "dpkg-deb --fsys-tarfile '{}' | tar -xOf - {PROFILE_JSON}",
            path.display()
        )));
        let package = field("Package");
        let profile = parse_profile(&json)
            .unwrap_or_else(|e| panic!("{}: {PROFILE_JSON}: {e}", path.display()));
        assert_eq!(
            profile.package,
            package,
            "{}: profile.json names another package",
            path.display()
        );
        Deb {
            path: path.to_path_buf(),
            package,
            version: field("Version"),
            profile,
            sysctl_file: sysctl_files[0].clone(),
        }
    }
}

pub fn parse_profile(json: &str) -> Result<Profile, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let text = |name: &str| {
        v.get(name)
            .and_then(|x| x.as_str())
            .map(str::to_string)
            .ok_or_else(|| format!("missing string `{name}`"))
    };
    let settings = v
        .get("settings")
        .and_then(|s| s.as_array())
        .ok_or("missing array `settings`")?
        .iter()
        .map(|s| {
            let key = s
                .get("key")
                .and_then(|k| k.as_str())
                .ok_or("setting without `key`")?;
            let value = match s.get("value") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                other => return Err(format!("{key}: unusable value {other:?}")),
            };
            Ok((key.to_string(), normalize_value(&value)))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Profile {
        name: text("name")?,
        package: text("package")?,
        disable_ipv6: v
            .get("disable_ipv6")
            .and_then(|b| b.as_bool())
            .ok_or("missing bool `disable_ipv6`")?,
        settings,
    })
}

/// The four variants built by `make debs` (or the build tool) in one dir.
pub struct Variants {
    pub default: Deb,
    pub ipv6: Deb,
    pub strict: Deb,
    pub stealth: Deb,
}

impl Variants {
    /// From `dir`: exactly one .deb per package name, or a panic saying what
    /// to run.
    pub fn from_dir(dir: &Path) -> Variants {
        let one = |package: &str| {
            let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let name = p.file_name().unwrap().to_string_lossy();
                    name.ends_with(".deb") && name.split('_').next() == Some(package)
                })
                .collect();
            found.sort();
            assert!(
                found.len() == 1,
                "{}: expected one {package}_<ver>_<arch>.deb, found {found:?}\n\
                 note: run `make debs` in the repository (it writes dist/)",
                dir.display()
            );
            Deb::inspect(&found[0])
        };
        Variants {
            default: one("pve-tcp-hardening"),
            ipv6: one("pve-tcp-hardening-ipv6"),
            strict: one("pve-tcp-hardening-strict"),
            stealth: one("pve-tcp-hardening-stealth"),
        }
    }

    /// The repository's dist/.
    pub fn dist() -> Variants {
        Variants::from_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("dist"))
    }

    /// Every variant built again at `version` into `out`, with the
    /// repository's own build tool.
    pub fn build(version: &str, out: &Path) -> Variants {
        host(
            Command::new(env!("CARGO"))
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .args(["run", "--quiet", "--bin", "pve-tcp-hardening-build", "--"])
                .args(["build", "--all", "--version", version, "--out"])
                .arg(out),
        );
        Variants::from_dir(out)
    }

    /// Every variant of an earlier release, built from this repository's
    /// source at `commit` by its own build tool (build-release.sh), cached
    /// under `debs/release-<commit>-<version>` with flock.
    pub fn of_release(commit: &str, version: &str) -> Variants {
        let dir = super::base::cache_dir().join("debs");
        std::fs::create_dir_all(&dir).expect("cache dir");
        let out = dir.join(format!("release-{commit}-{version}"));
        if !out.is_dir() {
            host(
                Command::new("flock")
                    .arg(dir.join("release.lock"))
                    .args(["sh", "-c", r#"[ -d "$1" ] || { shift; exec "$@"; }"#, "sh"])
                    .arg(&out)
                    .arg(super::base::e2e_dir().join("build-release.sh"))
                    .args([commit, version])
                    .arg(&out),
            );
        }
        Variants::from_dir(&out)
    }

    pub fn all(&self) -> [&Deb; 4] {
        [&self.default, &self.ipv6, &self.strict, &self.stealth]
    }
}

/// `dpkg --compare-versions a gt b`.
pub fn version_gt(a: &str, b: &str) -> bool {
    Command::new("dpkg")
        .args(["--compare-versions", a, "gt", b])
        .status()
        .expect("dpkg --compare-versions")
        .success()
}

/// Runs a host command that only reads or builds (never installs); its
/// stdout, or a panic with its stderr.
pub fn host(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The release's own lynis .deb (3.0.8 on bookworm, 3.1.4 on trixie), for
/// installing offline in a scenario (the base stays as it is).
pub fn lynis_deb(release: Release) -> PathBuf {
    let version = match release {
        Release::Bookworm => "3.0.8-",
        Release::Trixie => "3.1.4-",
    };
    release_deb(release, "lynis", version)
}

/// `package`'s .deb from `release`'s Debian archive, fetched once into the
/// cache dir by `apt-get download` with a private apt state and the mirror
/// of the release's base (Debian's mirror is the one network source tests
/// may use); this machine's apt lists stay as they are.
pub fn release_deb(release: Release, package: &str, version_prefix: &str) -> PathBuf {
    let cache = super::base::cache_dir();
    let dir = cache.join("debs");
    std::fs::create_dir_all(&dir).expect("cache dir");
    let find = || {
        std::fs::read_dir(&dir)
            .expect("cache dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.starts_with(&format!("{package}_{version_prefix}")) && n.ends_with(".deb")
                })
            })
    };
    if let Some(deb) = find() {
        return deb;
    }
    let mirror = super::mirror::detect_for(
        Path::new("/etc/apt"),
        Path::new("/var/lib/apt/lists"),
        Path::new("/etc/os-release"),
        release.codename(),
    )
    .unwrap_or_else(|e| panic!("no mirror for {release}: {e}"));
    let apt = cache.join(format!("apt-{release}"));
    for sub in ["lists/partial", "archives/partial"] {
        std::fs::create_dir_all(apt.join(sub)).expect("private apt dirs");
    }
    let sources = apt.join("sources.list");
    std::fs::write(&sources, mirror.sources_list()).expect("private sources.list");
    let private = |cmd: &mut Command| {
        cmd.arg("-o")
            .arg(format!("Dir::Etc::SourceList={}", sources.display()))
            .args(["-o", "Dir::Etc::SourceParts=-"])
            .arg("-o")
            .arg(format!("Dir::State::Lists={}", apt.join("lists").display()))
            .arg("-o")
            .arg(format!(
                "Dir::Cache::Archives={}",
                apt.join("archives").display()
            ))
            .args([
                "-o",
                "Dir::Cache::pkgcache=",
                "-o",
                "Dir::Cache::srcpkgcache=",
            ]);
    };
    let mut update = Command::new("apt-get");
    private(&mut update);
    host(update.arg("update"));
    let mut download = Command::new("apt-get");
    private(&mut download);
    host(download.args(["download", package]).current_dir(&dir));
    find().unwrap_or_else(|| {
        panic!("apt-get download gave no {package} {version_prefix}* .deb for {release}")
    })
}
