//! Rendering with tera: a resolved [`Profile`] plus the [`Catalog`]'s
//! comments become the sysctl.d file (`templates/80_tcp_hardening.conf.tera`)
//! and the per-profile maintainer files under `debian/`. Output depends only
//! on its inputs (no dates, no host facts), so builds are reproducible.

use crate::build::catalog::Catalog;
use crate::contract::{Profile, Setting, SYSCTL_FILE_NAME};
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use tera::Tera;

const SYSCTL_TEMPLATE: &str = "80_tcp_hardening.conf.tera";

/// Templates loaded from one directory, each registered under its file name.
pub struct Renderer {
    tera: Tera,
}

#[derive(Serialize)]
struct Group<'a> {
    title: &'a str,
    settings: Vec<KeyLine<'a>>,
}

#[derive(Serialize)]
struct KeyLine<'a> {
    key: &'a str,
    value: &'a str,
    comment: Vec<&'a str>,
    reference: &'a str,
    reboot: bool,
    commented: bool,
}

#[derive(Serialize)]
struct CustomLine<'a> {
    key: &'a str,
    value: &'a str,
    reason: &'a str,
}

impl Renderer {
    /// Parse every `*.tera` file of `dir`; a syntax error names the file and
    /// the line.
    pub fn load(dir: &Path) -> Result<Renderer> {
        Renderer::load_files(template_files(dir, true)?)
    }

    /// Also register every file of the `debian/` directory under its own
    /// name (`postinst`, `templates`...), for packaging.
    pub fn load_with_debian(dir: &Path, debian_dir: &Path) -> Result<Renderer> {
        let mut files = template_files(dir, true)?;
        files.extend(template_files(debian_dir, false)?);
        Renderer::load_files(files)
    }

    fn load_files(files: Vec<PathBuf>) -> Result<Renderer> {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![]);
        for path in files {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .with_context(|| format!("template file name is not UTF-8: {}", path.display()))?
                .to_string();
            let source = fs_err::read_to_string(&path).context("cannot read a template")?;
            tera.add_raw_template(&name, &source)
                .with_context(|| format!("template {} does not parse", path.display()))?;
        }
        Ok(Renderer { tera })
    }

    /// The sysctl.d file for `profile`.
    pub fn render_sysctl(&self, profile: &Profile, catalog: &Catalog) -> Result<String> {
        let context = sysctl_context(profile, catalog)?;
        self.render(SYSCTL_TEMPLATE, &context)
    }

    /// Render any loaded template with the profile context (used for the
    /// maintainer files under `debian/`).
    pub fn render(&self, template: &str, context: &tera::Context) -> Result<String> {
        let mut out = self
            .tera
            .render(template, context)
            .with_context(|| format!("cannot render template {template}"))?;
        if !out.ends_with('\n') {
            out.push('\n');
        }
        Ok(out)
    }
}

/// Files of `dir`: only `*.tera` ones when `tera_only`, else every file.
fn template_files(dir: &Path, tera_only: bool) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs_err::read_dir(dir).context("cannot list a templates directory")? {
        let path = entry.context("cannot list a templates directory")?.path();
        if path.is_file() && (!tera_only || path.extension().is_some_and(|e| e == "tera")) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Everything a template may use: the profile, its settings grouped by
/// catalog topic (active and commented together, in catalog order), and the
/// custom keys with their reasons.
pub fn sysctl_context(profile: &Profile, catalog: &Catalog) -> Result<tera::Context> {
    let mut groups = Vec::new();
    for topic in &catalog.topics {
        let settings: Vec<KeyLine> = catalog
            .keys
            .iter()
            .filter(|k| k.topic == topic.id)
            .filter_map(|info| {
                let (setting, commented) = find(&profile.settings, &info.name)
                    .map(|s| (s, false))
                    .or_else(|| find(&profile.commented, &info.name).map(|s| (s, true)))?;
                Some(KeyLine {
                    key: &setting.key,
                    value: &setting.value,
                    comment: info.rationale.lines().collect(),
                    reference: &info.reference,
                    reboot: info.reboot,
                    commented,
                })
            })
            .collect();
        if !settings.is_empty() {
            groups.push(Group {
                title: &topic.title,
                settings,
            });
        }
    }
    let custom: Vec<CustomLine> = profile
        .settings
        .iter()
        .filter_map(|s| {
            Some(CustomLine {
                key: &s.key,
                value: &s.value,
                reason: s.custom_reason.as_deref()?,
            })
        })
        .collect();
    let mut context = tera::Context::new();
    context
        .try_insert("profile", profile)
        .and_then(|()| context.try_insert("file_name", SYSCTL_FILE_NAME))
        .and_then(|()| context.try_insert("groups", &groups))
        .and_then(|()| context.try_insert("custom", &custom))
        .context("cannot build the template context")?;
    Ok(context)
}

fn find<'a>(settings: &'a [Setting], key: &str) -> Option<&'a Setting> {
    settings.iter().find(|s| s.key == key)
}
