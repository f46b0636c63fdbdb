//! The repository's OpenPGP signature, made with gpg: `InRelease` (the
//! clear-signed Release apt fetches first), `Release.gpg` (detached, for
//! clients that ask for it) and the public key exported in binary form,
//! the format apt's `Signed-By:` takes as a file.
//!
//! The key is either the admin's (`--sign-key`, looked up in their keyring
//! or in `--key-home`) or a dedicated key this tool generates once in its
//! own GNUPGHOME, outside the published tree, with a name that says what it
//! is. The admin's keyring is only read and used for signing, never changed.

use anyhow::{bail, Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The exported public key, at the top of the repository.
pub const KEYRING_FILE: &str = "pve-tcp-hardening-archive-keyring.gpg";
/// The same key armored: what a deb822 source can carry inline in its
/// `Signed-By:` field (the Ansible role does), and what a web page can show.
pub const ARMORED_KEY_FILE: &str = "pve-tcp-hardening-archive-keyring.asc";
/// Start of the user ID of a generated key.
pub const GENERATED_KEY_NAME: &str = "pve-tcp-hardening repository signing key";

/// A secret key gpg can sign with.
#[derive(Debug, Clone)]
pub struct SigningKey {
    /// GNUPGHOME to use; `None` is gpg's default (`$GNUPGHOME` or ~/.gnupg).
    pub home: Option<PathBuf>,
    pub fingerprint: String,
    pub user_id: String,
    /// Whether this run created the key.
    pub generated: bool,
}

/// One `sec` entry of `gpg --with-colons --list-secret-keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretKey {
    pub fingerprint: String,
    pub user_id: String,
    /// Not expired, revoked or disabled, and able to sign (`S` capability).
    pub can_sign: bool,
}

/// `${XDG_DATA_HOME:-$HOME/.local/share}/pve-tcp-hardening/repo-gnupg`.
pub fn default_key_home() -> Result<PathBuf> {
    let data = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|home| Path::new(&home).join(".local/share"))
            .context("neither XDG_DATA_HOME nor HOME is set: pass --key-home DIR")?,
    };
    Ok(data.join("pve-tcp-hardening/repo-gnupg"))
}

impl SigningKey {
    /// The admin's key `key` (fingerprint, key ID or user ID), which must
    /// match exactly one secret key able to sign.
    pub fn named(key: &str, home: Option<&Path>) -> Result<SigningKey> {
        let keyring = describe_home(home);
        let out = gpg(home)
            .args(["--with-colons", "--list-secret-keys", "--", key])
            .output()
            .context(GPG_MISSING)?;
        let found = parse_secret_keys(&String::from_utf8_lossy(&out.stdout));
        let usable: Vec<&SecretKey> = found.iter().filter(|k| k.can_sign).collect();
        match usable[..] {
            [one] => Ok(SigningKey {
                home: home.map(Path::to_path_buf),
                fingerprint: one.fingerprint.clone(),
                user_id: one.user_id.clone(),
                generated: false,
            }),
            [] if found.is_empty() => bail!(
                "no secret key `{key}` in {keyring}\nnote: `gpg{} --list-secret-keys` lists the \
                 keys there; pass --key-home DIR if the key is in another GNUPGHOME",
                homedir_flag(home)
            ),
            [] => bail!("the secret key `{key}` in {keyring} cannot sign (expired, revoked or without a signing subkey)"),
            _ => bail!(
                "`{key}` matches {} secret keys in {keyring}: {}\nnote: pass a fingerprint",
                usable.len(),
                usable
                    .iter()
                    .map(|k| format!("{} ({})", k.fingerprint, k.user_id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The dedicated repository key in `home`, generated there first if
    /// there is none.
    pub fn dedicated(home: &Path) -> Result<SigningKey> {
        fs_err::create_dir_all(home).context("cannot create the repository key's GNUPGHOME")?;
        // gpg refuses to trust a home others can read ("unsafe permissions").
        fs_err::set_permissions(home, std::fs::Permissions::from_mode(0o700))?;
        if let Some(key) = find_generated(home)? {
            return Ok(key);
        }
        let user_id = generated_user_id();
        let out = gpg(Some(home))
            .args(["--pinentry-mode", "loopback", "--passphrase", ""])
            .args(["--quick-generate-key", &user_id, "ed25519", "sign", "never"])
            .output()
            .context(GPG_MISSING)?;
        check(
            &out,
            &format!("cannot generate a signing key in {}", home.display()),
        )?;
        let mut key = find_generated(home)?
            .with_context(|| format!("gpg generated no key `{user_id}` in {}", home.display()))?;
        key.generated = true;
        Ok(key)
    }

    /// Writes `InRelease` and `Release.gpg` next to `dists_dir/Release`.
    pub fn sign_release(&self, dists_dir: &Path) -> Result<()> {
        let release = dists_dir.join("Release");
        for (output, mode) in [
            ("InRelease", "--clearsign"),
            ("Release.gpg", "--detach-sign"),
        ] {
            let out = gpg(self.home.as_deref())
                .args(["--yes", "--armor", "--digest-algo", "SHA512"])
                .args(["--local-user", &self.fingerprint, mode, "--output"])
                .arg(dists_dir.join(output))
                .arg(&release)
                .output()
                .context(GPG_MISSING)?;
            check(
                &out,
                &format!(
                    "cannot sign {} with key {} in {}",
                    release.display(),
                    self.fingerprint,
                    describe_home(self.home.as_deref())
                ),
            )?;
        }
        Ok(())
    }

    /// The public key, binary (not armored): apt reads such a file as a
    /// keyring.
    pub fn export_public(&self) -> Result<Vec<u8>> {
        self.export(&[])
    }

    /// The public key, ASCII-armored.
    pub fn export_public_armored(&self) -> Result<Vec<u8>> {
        self.export(&["--armor"])
    }

    fn export(&self, extra: &[&str]) -> Result<Vec<u8>> {
        let out = gpg(self.home.as_deref())
            .args(extra)
            .args(["--export-options", "export-minimal", "--export"])
            .arg(&self.fingerprint)
            .output()
            .context(GPG_MISSING)?;
        check(&out, &format!("cannot export key {}", self.fingerprint))?;
        if out.stdout.is_empty() {
            bail!("gpg exported nothing for key {}", self.fingerprint);
        }
        Ok(out.stdout)
    }

    /// `FINGERPRINT "user id" (GNUPGHOME)`, for the build log.
    pub fn describe(&self) -> String {
        format!(
            "{} \"{}\" in {}",
            self.fingerprint,
            self.user_id,
            describe_home(self.home.as_deref())
        )
    }

    /// A GNUPGHOME named to us (the dedicated one, or --key-home) keeps no
    /// gpg-agent running after a build; gpg's default home keeps its agent,
    /// which may be caching the admin's passphrase.
    pub fn stop_agent(&self) {
        if let Some(home) = &self.home {
            let _ = Command::new("gpgconf")
                .arg("--homedir")
                .arg(home)
                .args(["--kill", "gpg-agent"])
                .stdin(Stdio::null())
                .output();
        }
    }
}

const GPG_MISSING: &str = "cannot run gpg (install gnupg; `make repo` does)";

/// gpg without prompts, on `home` or the default GNUPGHOME.
fn gpg(home: Option<&Path>) -> Command {
    let mut cmd = Command::new("gpg");
    if let Some(home) = home {
        cmd.arg("--homedir").arg(home);
    }
    cmd.args(["--batch", "--no-tty"]).stdin(Stdio::null());
    cmd
}

fn check(out: &Output, what: &str) -> Result<()> {
    if !out.status.success() {
        bail!(
            "{what}: gpg said:\n{}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    Ok(())
}

fn homedir_flag(home: Option<&Path>) -> String {
    home.map(|h| format!(" --homedir {}", h.display()))
        .unwrap_or_default()
}

fn describe_home(home: Option<&Path>) -> String {
    match home {
        Some(home) => home.display().to_string(),
        None => match std::env::var_os("GNUPGHOME") {
            Some(dir) => format!("{} (GNUPGHOME)", Path::new(&dir).display()),
            None => "the default keyring (~/.gnupg)".to_string(),
        },
    }
}

/// The key a previous run generated in `home`, if any.
fn find_generated(home: &Path) -> Result<Option<SigningKey>> {
    let out = gpg(Some(home))
        .args(["--with-colons", "--list-secret-keys"])
        .output()
        .context(GPG_MISSING)?;
    Ok(parse_secret_keys(&String::from_utf8_lossy(&out.stdout))
        .into_iter()
        .find(|k| k.can_sign && k.user_id.starts_with(GENERATED_KEY_NAME))
        .map(|k| SigningKey {
            home: Some(home.to_path_buf()),
            fingerprint: k.fingerprint,
            user_id: k.user_id,
            generated: false,
        }))
}

/// `pve-tcp-hardening repository signing key (HOST) <USER@HOST>`: whoever
/// finds the key in a keyring knows what it signs and where it was made.
fn generated_user_id() -> String {
    let host = fs_err::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".into());
    format!("{GENERATED_KEY_NAME} ({host}) <{user}@{host}>")
}

/// Secret keys from `gpg --with-colons` output (see gnupg's doc/DETAILS):
/// `sec` starts a key, the next `fpr` is its fingerprint, the first `uid`
/// its name; field 2 is the validity, field 12 the key's capabilities.
pub fn parse_secret_keys(colons: &str) -> Vec<SecretKey> {
    let mut keys: Vec<SecretKey> = Vec::new();
    let mut in_primary = false;
    for line in colons.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        let field = |i: usize| fields.get(i).copied().unwrap_or("");
        match field(0) {
            "sec" => {
                let valid = !matches!(field(1), "e" | "r" | "d" | "i");
                keys.push(SecretKey {
                    fingerprint: String::new(),
                    user_id: String::new(),
                    can_sign: valid && field(11).contains('S'),
                });
                in_primary = true;
            }
            "fpr" if in_primary => {
                if let Some(key) = keys.last_mut() {
                    key.fingerprint = field(9).to_string();
                }
                in_primary = false;
            }
            "uid" => {
                if let Some(key) = keys.last_mut().filter(|k| k.user_id.is_empty()) {
                    key.user_id = unescape_colons(field(9));
                }
            }
            "ssb" | "pub" | "sub" => in_primary = false,
            _ => {}
        }
    }
    keys
}

/// gpg writes `:` in user IDs as `\x3a`.
fn unescape_colons(text: &str) -> String {
    text.replace("\\x3a", ":")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "\
sec:u:255:22:AAAA1111BBBB2222:1790000000:::u:::scESC:::+:::ed25519:::0:
fpr:::::::::0123456789ABCDEF0123456789ABCDEFAAAA1111:
grp:::::::::FFFF:
uid:u::::1790000000::HASH::pve-tcp-hardening repository signing key (pve1) <root@pve1>::::::::::0:
sec:e:3072:1:CCCC3333DDDD4444:1600000000:1700000000::u:::scESC:::+:::::0:
fpr:::::::::1111222233334444555566667777888899990000:
uid:e::::1600000000::HASH::Old Key <old@example.org>::::::::::0:
sec:u:255:22:EEEE5555FFFF6666:1790000000:::u:::cE:::+:::ed25519:::0:
fpr:::::::::AAAABBBBCCCCDDDDEEEEFFFF0000111122223333:
uid:u::::1790000000::HASH::Certify only\\x3a no S <c@example.org>::::::::::0:
ssb:u:255:18:9999:1790000000::::::e:::+:::cv25519::
fpr:::::::::9999999999999999999999999999999999999999:
";

    #[test]
    fn secret_keys_from_colons() {
        let keys = parse_secret_keys(LISTING);
        assert_eq!(keys.len(), 3);
        assert_eq!(
            keys[0],
            SecretKey {
                fingerprint: "0123456789ABCDEF0123456789ABCDEFAAAA1111".into(),
                user_id: "pve-tcp-hardening repository signing key (pve1) <root@pve1>".into(),
                can_sign: true,
            }
        );
        assert!(!keys[1].can_sign, "expired");
        assert!(!keys[2].can_sign, "no signing capability");
        assert_eq!(keys[2].user_id, "Certify only: no S <c@example.org>");
        assert_eq!(
            keys[2].fingerprint, "AAAABBBBCCCCDDDDEEEEFFFF0000111122223333",
            "the subkey's fpr is not the key's"
        );
    }

    #[test]
    fn generated_key_has_a_clear_name() {
        let id = generated_user_id();
        assert!(id.starts_with(&format!("{GENERATED_KEY_NAME} (")), "{id}");
        assert!(id.ends_with('>') && id.contains('@'), "{id}");
    }

    #[test]
    fn default_home_is_outside_the_repository() {
        let home = default_key_home().unwrap();
        assert!(home.ends_with("pve-tcp-hardening/repo-gnupg"), "{home:?}");
    }
}
