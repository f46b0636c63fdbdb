//! The key catalog (`profiles/catalog/keys.toml`): every sysctl key a profile
//! may use, its value type and range, the comment rendered above it, a
//! reference, and whether it needs a reboot to take full effect. Profiles are
//! validated against it; rendering takes its comments and its key order.
//! It holds no values: those belong to profiles.

use crate::diagnostic::{Diagnostic, Diagnostics};
use anyhow::{Context, Result};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The loaded catalog, keys in file order (the order keys are written).
#[derive(Debug, Clone)]
pub struct Catalog {
    pub path: PathBuf,
    pub topics: Vec<Topic>,
    pub keys: Vec<KeyInfo>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub name: String,
    pub topic: String,
    pub value_type: ValueType,
    pub reboot: bool,
    pub rationale: String,
    pub reference: String,
}

/// What values a key accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueType {
    Bool,
    Enum(Vec<i64>),
    Int { min: i64, max: i64 },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    #[serde(default)]
    topic: Vec<Topic>,
    #[serde(default)]
    key: Vec<Spanned<RawKey>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    name: String,
    topic: String,
    #[serde(rename = "type")]
    value_type: String,
    #[serde(default)]
    values: Vec<i64>,
    min: Option<i64>,
    max: Option<i64>,
    reboot: bool,
    rationale: String,
    reference: String,
}

impl Catalog {
    /// Load and check the catalog file; every problem is reported at once.
    pub fn load(path: &Path) -> Result<Catalog> {
        let source = fs_err::read_to_string(path).context("cannot read the key catalog")?;
        Catalog::parse(path, &source)
    }

    pub fn parse(path: &Path, source: &str) -> Result<Catalog> {
        let raw: RawCatalog = toml::from_str(source).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            Diagnostics(vec![Diagnostic::at(path, source, span, e.message())])
        })?;
        let topic_ids: HashSet<&str> = raw.topic.iter().map(|t| t.id.as_str()).collect();
        let mut seen = HashSet::new();
        let mut errors = Vec::new();
        let mut keys = Vec::new();
        for spanned in &raw.key {
            let at = |msg: String| Diagnostic::at(path, source, spanned.span(), msg);
            let k = spanned.get_ref();
            if !is_catalog_key(&k.name) {
                errors.push(at(format!("`{}` is not a dotted sysctl key name", k.name)));
            }
            if !seen.insert(k.name.clone()) {
                errors.push(at(format!("key `{}` is listed twice", k.name)));
            }
            if !topic_ids.contains(k.topic.as_str()) {
                errors.push(at(format!(
                    "key `{}` names unknown topic `{}`",
                    k.name, k.topic
                )));
            }
            if k.rationale.trim().is_empty() {
                errors.push(at(format!("key `{}` has no rationale", k.name)));
            }
            match value_type(k) {
                Ok(value_type) => keys.push(KeyInfo {
                    name: k.name.clone(),
                    topic: k.topic.clone(),
                    value_type,
                    reboot: k.reboot,
                    rationale: k.rationale.trim().to_string(),
                    reference: k.reference.clone(),
                }),
                Err(msg) => errors.push(at(format!("key `{}`: {msg}", k.name))),
            }
        }
        if !errors.is_empty() {
            return Err(Diagnostics(errors).into());
        }
        Ok(Catalog {
            path: path.to_path_buf(),
            topics: raw.topic,
            keys,
        })
    }

    pub fn get(&self, name: &str) -> Option<&KeyInfo> {
        self.keys.iter().find(|k| k.name == name)
    }

    /// Position of a key in catalog order (the write order).
    pub fn position(&self, name: &str) -> Option<usize> {
        self.keys.iter().position(|k| k.name == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.name.as_str())
    }
}

fn value_type(k: &RawKey) -> std::result::Result<ValueType, String> {
    match k.value_type.as_str() {
        "bool" => Ok(ValueType::Bool),
        "enum" if !k.values.is_empty() => Ok(ValueType::Enum(k.values.clone())),
        "enum" => Err("type \"enum\" needs a non-empty `values` list".into()),
        "int" => match (k.min, k.max) {
            (Some(min), Some(max)) if min <= max => Ok(ValueType::Int { min, max }),
            _ => Err("type \"int\" needs `min` <= `max`".into()),
        },
        other => Err(format!(
            "unknown type \"{other}\" (expected \"bool\", \"enum\" or \"int\")"
        )),
    }
}

/// A catalog key: dotted lowercase sysctl name, nothing a sysctl file or a
/// shell could read as syntax.
pub fn is_catalog_key(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').count() >= 2
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
}

impl ValueType {
    /// Check a profile value (already a plain string) and return its
    /// canonical form, or a message naming the allowed values.
    pub fn check(&self, value: &str) -> std::result::Result<String, String> {
        let parsed: Option<i64> = value.parse().ok();
        match (self, parsed) {
            (ValueType::Bool, Some(v @ 0..=1)) => Ok(v.to_string()),
            (ValueType::Enum(values), Some(v)) if values.contains(&v) => Ok(v.to_string()),
            (ValueType::Int { min, max }, Some(v)) if (*min..=*max).contains(&v) => {
                Ok(v.to_string())
            }
            _ => Err(format!(
                "invalid value `{value}`: allowed {}",
                self.describe()
            )),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            ValueType::Bool => "0 or 1".into(),
            ValueType::Enum(values) => {
                let list: Vec<String> = values.iter().map(i64::to_string).collect();
                format!("one of {}", list.join(", "))
            }
            ValueType::Int { min, max } => format!("an integer from {min} to {max}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_catalog() -> Catalog {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/catalog/keys.toml");
        Catalog::load(&path).unwrap()
    }

    #[test]
    fn shipped_catalog_loads() {
        let c = repo_catalog();
        assert!(c.get("net.ipv4.tcp_sack").is_some());
        assert!(c
            .keys
            .iter()
            .all(|k| c.topics.iter().any(|t| t.id == k.topic)));
    }

    #[test]
    fn fragment_low_mark_is_written_before_high() {
        let c = repo_catalog();
        for (low, high) in [
            ("net.ipv4.ipfrag_low_thresh", "net.ipv4.ipfrag_high_thresh"),
            (
                "net.ipv6.ip6frag_low_thresh",
                "net.ipv6.ip6frag_high_thresh",
            ),
        ] {
            assert!(c.position(low).unwrap() < c.position(high).unwrap());
        }
    }

    #[test]
    fn value_checks() {
        let cases: &[(ValueType, &str, Result<&str, ()>)] = &[
            (ValueType::Bool, "1", Ok("1")),
            (ValueType::Bool, "2", Err(())),
            (ValueType::Bool, "yes", Err(())),
            (ValueType::Enum(vec![0, 1, 2]), "2", Ok("2")),
            (ValueType::Enum(vec![0, 1, 2]), "3", Err(())),
            (ValueType::Int { min: 1, max: 600 }, "10", Ok("10")),
            (ValueType::Int { min: 1, max: 600 }, "0", Err(())),
            (ValueType::Int { min: 1, max: 600 }, "10\n", Err(())),
        ];
        for (t, input, want) in cases {
            assert_eq!(
                t.check(input).map_err(|_| ()),
                want.map(str::to_string),
                "{t:?} {input:?}"
            );
        }
    }

    #[test]
    fn bad_catalog_lists_every_problem() {
        let src = "[[topic]]\nid='t'\ntitle='T'\n\
                   [[key]]\nname='a.b'\ntopic='nope'\ntype='int'\nreboot=false\nrationale='r'\nreference='x'\n\
                   [[key]]\nname='a.b'\ntopic='t'\ntype='bool'\nreboot=false\nrationale=''\nreference='x'\n";
        let err = Catalog::parse(Path::new("c.toml"), src)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown topic `nope`"), "{err}");
        assert!(err.contains("needs `min` <= `max`"), "{err}");
        assert!(err.contains("listed twice"), "{err}");
        assert!(err.contains("has no rationale"), "{err}");
    }
}
