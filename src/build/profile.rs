//! Profiles (`profiles/NAME.toml`): load, follow `extends`, validate against
//! the [`Catalog`], and resolve into the flat list of settings a package
//! ships. The package name comes from the file name: `default` ->
//! `pve-tcp-hardening`, `NAME` -> `pve-tcp-hardening-NAME`, so adding a
//! profile is adding a file. Rendering and packaging live elsewhere.

use crate::build::catalog::{is_catalog_key, Catalog};
use crate::contract::{Profile, Setting, BASE_PACKAGE};
use crate::diagnostic::{closest, Diagnostic, Diagnostics};
use anyhow::{Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Package name for a profile name.
pub fn package_name(profile: &str) -> String {
    if profile == "default" {
        BASE_PACKAGE.to_string()
    } else {
        format!("{BASE_PACKAGE}-{profile}")
    }
}

/// A profile name must make a valid Debian package name suffix.
pub fn is_profile_name(name: &str) -> bool {
    name.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Names of all profiles in `dir` (every `*.toml` directly inside), sorted.
pub fn profile_names(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs_err::read_dir(dir).context("cannot list the profiles directory")? {
        let path = entry.context("cannot list the profiles directory")?.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                names.push(stem.to_string());
            }
        }
    }
    names.sort();
    Ok(names)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    description: Spanned<String>,
    extends: Option<Spanned<String>>,
    #[serde(default)]
    unset: Vec<Spanned<String>>,
    #[serde(default)]
    flags: RawFlags,
    #[serde(default)]
    set: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    #[serde(default)]
    commented: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    #[serde(default)]
    custom: BTreeMap<Spanned<String>, Spanned<RawCustom>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFlags {
    disable_ipv6: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCustom {
    value: toml::Value,
    reason: String,
}

/// Loads profiles from one directory and resolves them against a catalog.
pub struct ProfileLoader<'a> {
    dir: PathBuf,
    catalog: &'a Catalog,
}

/// Settings being built up along the `extends` chain.
#[derive(Default, Clone)]
struct Inherited {
    active: BTreeMap<String, Setting>,
    commented: BTreeMap<String, Setting>,
    disable_ipv6: Option<bool>,
    chain: Vec<String>,
    /// The description of the profile applied last (the child's own).
    description: String,
}

impl<'a> ProfileLoader<'a> {
    pub fn new(dir: &Path, catalog: &'a Catalog) -> Self {
        ProfileLoader {
            dir: dir.to_path_buf(),
            catalog,
        }
    }

    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.toml"))
    }

    /// Load and resolve one profile, or every problem found on the way.
    pub fn load(&self, name: &str) -> Result<Profile> {
        let path = self.path_of(name);
        if !path.is_file() {
            let known = profile_names(&self.dir).unwrap_or_default();
            let mut msg = format!("no profile `{name}`: {} does not exist", path.display());
            if let Some(near) = closest(name, known.iter().map(String::as_str)) {
                msg.push_str(&format!(" (did you mean `{near}`?)"));
            }
            anyhow::bail!(msg);
        }
        let mut errors = Vec::new();
        let layered = self.resolve(name, &mut Vec::new(), &mut errors);
        match layered {
            Some(inherited) if errors.is_empty() => Ok(self.finish(name, inherited)),
            _ => Err(Diagnostics(errors).into()),
        }
    }

    /// Load every profile in the directory, listing all problems of all files.
    pub fn load_all(&self) -> Result<Vec<Profile>> {
        let mut profiles = Vec::new();
        let mut all: Vec<Diagnostic> = Vec::new();
        for name in profile_names(&self.dir)? {
            match self.load(&name) {
                Ok(p) => profiles.push(p),
                Err(e) => match e.downcast::<Diagnostics>() {
                    Ok(Diagnostics(list)) => {
                        for d in list {
                            // A broken parent is reported once, not per child.
                            if !all.iter().any(|o| o.to_string() == d.to_string()) {
                                all.push(d);
                            }
                        }
                    }
                    Err(other) => return Err(other),
                },
            }
        }
        if all.is_empty() {
            Ok(profiles)
        } else {
            Err(Diagnostics(all).into())
        }
    }

    fn resolve(
        &self,
        name: &str,
        stack: &mut Vec<String>,
        errors: &mut Vec<Diagnostic>,
    ) -> Option<Inherited> {
        let path = self.path_of(name);
        if !is_profile_name(name) {
            errors.push(Diagnostic::whole_file(
                &path,
                format!("`{name}` cannot name a package: use lowercase letters, digits and `-`"),
            ));
            return None;
        }
        let source = match fs_err::read_to_string(&path) {
            Ok(s) => s,
            Err(e) => {
                errors.push(Diagnostic::whole_file(&path, e.to_string()));
                return None;
            }
        };
        if source.trim().is_empty() {
            errors.push(
                Diagnostic::whole_file(&path, "the profile file is empty")
                    .with_help("a profile needs at least `description = \"...\"`"),
            );
            return None;
        }
        let raw: RawProfile = match toml::from_str(&source) {
            Ok(raw) => raw,
            Err(e) => {
                let d = match e.span() {
                    Some(span) => Diagnostic::at(&path, &source, span, e.message()),
                    None => Diagnostic::whole_file(&path, e.message()),
                };
                errors.push(d);
                return None;
            }
        };
        stack.push(name.to_string());
        let base = self.resolve_parent(&raw, &path, &source, stack, errors);
        stack.pop();
        let file = ProfileFile {
            name,
            path: &path,
            source: &source,
            catalog: self.catalog,
        };
        file.apply(&raw, base?, errors)
    }

    fn resolve_parent(
        &self,
        raw: &RawProfile,
        path: &Path,
        source: &str,
        stack: &mut Vec<String>,
        errors: &mut Vec<Diagnostic>,
    ) -> Option<Inherited> {
        let Some(parent) = &raw.extends else {
            return Some(Inherited::default());
        };
        let parent_name = parent.get_ref();
        let at = |msg: String| Diagnostic::at(path, source, parent.span(), msg);
        if stack.iter().any(|s| s == parent_name) {
            let mut cycle = stack.clone();
            cycle.push(parent_name.clone());
            errors.push(at(format!("`extends` cycle: {}", cycle.join(" -> "))));
            return None;
        }
        if !self.path_of(parent_name).is_file() {
            let known = profile_names(&self.dir).unwrap_or_default();
            let mut d = at(format!(
                "extends `{parent_name}`, but {} does not exist",
                self.path_of(parent_name).display()
            ));
            if let Some(near) = closest(parent_name, known.iter().map(String::as_str)) {
                d = d.with_help(format!("did you mean `{near}`?"));
            }
            errors.push(d);
            return None;
        }
        self.resolve(parent_name, stack, errors)
    }

    fn finish(&self, name: &str, inherited: Inherited) -> Profile {
        // Key order is catalog order: it is the kernel-safe write order.
        let order = |s: &Setting| {
            (
                self.catalog.position(&s.key).unwrap_or(usize::MAX),
                s.key.clone(),
            )
        };
        let mut settings: Vec<Setting> = inherited.active.into_values().collect();
        settings.sort_by_key(order);
        let mut commented: Vec<Setting> = inherited.commented.into_values().collect();
        commented.sort_by_key(order);
        Profile {
            name: name.to_string(),
            package: package_name(name),
            description: inherited.description,
            disable_ipv6: inherited.disable_ipv6.unwrap_or(false),
            chain: inherited.chain,
            settings,
            commented,
        }
    }
}

/// One profile file being applied on top of its parent's settings.
struct ProfileFile<'a> {
    name: &'a str,
    path: &'a Path,
    source: &'a str,
    catalog: &'a Catalog,
}

impl ProfileFile<'_> {
    fn at(&self, span: std::ops::Range<usize>, msg: String) -> Diagnostic {
        Diagnostic::at(self.path, self.source, span, msg)
    }

    fn apply(
        &self,
        raw: &RawProfile,
        mut inherited: Inherited,
        errors: &mut Vec<Diagnostic>,
    ) -> Option<Inherited> {
        let before = errors.len();
        if raw.description.get_ref().trim().is_empty() || has_control(raw.description.get_ref()) {
            errors.push(self.at(
                raw.description.span(),
                "`description` must be one non-empty line".into(),
            ));
        }
        for key in &raw.unset {
            let k = key.get_ref();
            if inherited.active.remove(k).is_none() && inherited.commented.remove(k).is_none() {
                errors.push(self.at(
                    key.span(),
                    format!("`unset` names `{k}`, but no parent profile sets it"),
                ));
            }
        }
        for (key, value) in &raw.set {
            if raw.commented.contains_key(key) || raw.unset.contains(key) {
                errors.push(self.at(
                    key.span(),
                    format!(
                        "`{}` is listed in more than one of set/commented/unset",
                        key.get_ref()
                    ),
                ));
            }
            if let Some(s) = self.catalog_setting(key, value, errors) {
                inherited.commented.remove(&s.key);
                inherited.active.insert(s.key.clone(), s);
            }
        }
        for (key, value) in &raw.commented {
            if let Some(s) = self.catalog_setting(key, value, errors) {
                inherited.active.remove(&s.key);
                inherited.commented.insert(s.key.clone(), s);
            }
        }
        for (key, custom) in &raw.custom {
            if let Some(s) = self.custom_setting(key, custom, errors) {
                inherited.active.insert(s.key.clone(), s);
            }
        }
        if let Some(flag) = raw.flags.disable_ipv6 {
            inherited.disable_ipv6 = Some(flag);
        }
        self.check_ipv6_flag(raw, &inherited, errors);
        inherited.chain.insert(0, self.name.to_string());
        inherited.description = raw.description.get_ref().trim().to_string();
        (errors.len() == before).then_some(inherited)
    }

    fn catalog_setting(
        &self,
        key: &Spanned<String>,
        value: &Spanned<toml::Value>,
        errors: &mut Vec<Diagnostic>,
    ) -> Option<Setting> {
        let name = key.get_ref();
        if value.get_ref().is_table() {
            // `net.ipv4.tcp_sack = 0` unquoted is a nested TOML table.
            errors.push(self.at(
                key.span(),
                format!("`{name}` starts a TOML table: write the whole key in quotes, e.g. \"net.ipv4.tcp_sack\" = 0"),
            ));
            return None;
        }
        let Some(info) = self.catalog.get(name) else {
            errors.push(self.unknown_key(key));
            return None;
        };
        let checked = plain_value(value.get_ref()).and_then(|v| info.value_type.check(&v));
        match checked {
            Ok(value) => Some(Setting {
                key: name.clone(),
                value,
                set_by: self.name.to_string(),
                reboot: info.reboot,
                custom_reason: None,
            }),
            Err(msg) => {
                errors.push(self.at(value.span(), format!("`{name}`: {msg}")));
                None
            }
        }
    }

    fn unknown_key(&self, key: &Spanned<String>) -> Diagnostic {
        let name = key.get_ref();
        let d = self.at(key.span(), format!("unknown key `{name}`"));
        match closest(name, self.catalog.names()) {
            Some(near) => d.with_help(format!("did you mean {near}?")),
            None if name.contains(['\n', '\r', '=', '#', ' ']) => {
                d.with_help("a key cannot contain blanks, newlines, `=` or `#`")
            }
            None => d.with_help(format!(
                "add it to {} with a rationale, or put it under [custom.\"KEY\"] with a `reason`",
                self.catalog.path.display()
            )),
        }
    }

    fn custom_setting(
        &self,
        key: &Spanned<String>,
        custom: &Spanned<RawCustom>,
        errors: &mut Vec<Diagnostic>,
    ) -> Option<Setting> {
        let name = key.get_ref();
        let c = custom.get_ref();
        let mut problem = None;
        if self.catalog.get(name).is_some() {
            problem = Some(format!("`{name}` is in the catalog: set it under [set]"));
        } else if !is_catalog_key(name) {
            problem = Some(format!("`{name}` is not a plain dotted sysctl key"));
        } else if c.reason.trim().is_empty() || has_control(&c.reason) {
            problem = Some(format!("custom key `{name}` needs a one-line `reason`"));
        }
        let value = plain_value(&c.value).and_then(|v| safe_text(&v).map(|()| v));
        match (problem, value) {
            (None, Ok(value)) => Some(Setting {
                key: name.clone(),
                value,
                set_by: self.name.to_string(),
                reboot: false,
                custom_reason: Some(c.reason.trim().to_string()),
            }),
            (Some(msg), _) | (None, Err(msg)) => {
                errors.push(self.at(custom.span(), msg));
                None
            }
        }
    }

    /// The flag drives the chrony change; it must agree with the key it names.
    fn check_ipv6_flag(
        &self,
        raw: &RawProfile,
        inherited: &Inherited,
        errors: &mut Vec<Diagnostic>,
    ) {
        let Some(flag) = inherited.disable_ipv6 else {
            errors.push(
                Diagnostic::whole_file(
                    self.path,
                    "no `[flags] disable_ipv6` in the profile or its parents",
                )
                .with_help("add `[flags]` with `disable_ipv6 = true` or `false`"),
            );
            return;
        };
        let key = "net.ipv6.conf.all.disable_ipv6";
        let want = if flag { "1" } else { "0" };
        let actual = inherited.active.get(key).map(|s| s.value.as_str());
        if actual != Some(want) && (flag || actual.is_some()) {
            let msg = format!(
                "`[flags] disable_ipv6 = {flag}` needs `\"{key}\" = {want}` under [set] (it is {})",
                actual.map_or("not set".to_string(), |v| format!("`{v}`"))
            );
            let span = raw
                .set
                .keys()
                .find(|k| k.get_ref() == key)
                .map(|k| k.span());
            errors.push(match span {
                Some(span) => self.at(span, msg),
                None => Diagnostic::whole_file(self.path, msg),
            });
        }
    }
}

/// A TOML value as the text written after `=`: integers and strings only.
fn plain_value(v: &toml::Value) -> std::result::Result<String, String> {
    match v {
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::String(s) => safe_text(s).map(|()| s.clone()),
        other => Err(format!(
            "expected an integer or a string, found {}",
            other.type_str()
        )),
    }
}

/// Text that cannot change the structure of the rendered sysctl file.
fn safe_text(s: &str) -> std::result::Result<(), String> {
    if s.is_empty() || s.trim() != s {
        return Err(format!(
            "value {s:?} is empty or has leading/trailing blanks"
        ));
    }
    if has_control(s) || s.contains('=') || s.starts_with(['#', ';']) {
        return Err(format!(
            "value {s:?} contains a newline, control character, `=` or a leading comment sign"
        ));
    }
    Ok(())
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> (PathBuf, Catalog) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let catalog = Catalog::load(&root.join("profiles/catalog/keys.toml")).unwrap();
        (root.join("profiles"), catalog)
    }

    #[test]
    fn package_names_follow_file_names() {
        assert_eq!(package_name("default"), "pve-tcp-hardening");
        assert_eq!(package_name("strict"), "pve-tcp-hardening-strict");
        assert!(is_profile_name("my-site2"));
        assert!(!is_profile_name("Foo") && !is_profile_name("-x") && !is_profile_name(""));
    }

    #[test]
    fn strict_inherits_and_records_origin() {
        let (dir, catalog) = repo();
        let p = ProfileLoader::new(&dir, &catalog).load("stealth").unwrap();
        assert_eq!(p.chain, ["stealth", "strict", "default"]);
        assert_eq!(p.setting("net.ipv4.tcp_sack").unwrap().set_by, "default");
        assert_eq!(
            p.setting("net.ipv4.tcp_syncookies").unwrap().set_by,
            "strict"
        );
        assert_eq!(
            p.setting("net.ipv4.icmp_echo_ignore_all").unwrap().set_by,
            "stealth"
        );
        // Enabled in stealth, so no longer shipped commented out.
        assert!(p
            .commented
            .iter()
            .all(|s| s.key != "net.ipv4.icmp_echo_ignore_all"));
        assert!(p.disable_ipv6);
    }

    #[test]
    fn ipv6_profile_turns_ipv6_back_on() {
        let (dir, catalog) = repo();
        let p = ProfileLoader::new(&dir, &catalog).load("ipv6").unwrap();
        assert!(!p.disable_ipv6);
        assert_eq!(
            p.setting("net.ipv6.conf.all.disable_ipv6").unwrap().value,
            "0"
        );
        assert_eq!(
            p.setting("net.ipv6.conf.default.disable_ipv6")
                .unwrap()
                .value,
            "0"
        );
    }

    #[test]
    fn safe_text_rejects_injection() {
        for bad in ["1\nnet.x = 2", "1 = 2", "#1", " 1", "", "a\u{7}"] {
            assert!(safe_text(bad).is_err(), "{bad:?}");
        }
        assert!(safe_text("4096 87380 6291456").is_ok());
    }
}
