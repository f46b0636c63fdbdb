//! The manual: man pages and shell completions, from the clap definitions
//! of the commands plus prose in data files.
//!
//! A man page is a tera template of roff (`debian/pve-tcp-hardening.8` for
//! the helper, rendered per package; `templates/pve-tcp-hardening-build.1.tera`
//! for the build tool, which no package ships). The template holds the
//! prose sections (DESCRIPTION, EXIT STATUS, ENVIRONMENT, FILES, EXAMPLES,
//! SEE ALSO) and takes the paths from [`crate::contract`]; this module
//! writes the parts clap knows (SYNOPSIS and one subsection per command
//! with its options) into the template's `synopsis` and `commands`.
//! Completions come from clap_complete over the same command.
//!
//! Not here: which command is documented ([`crate::cli::documented_command`]
//! drops the internal ones), where the files go ([`crate::build::package`]).

use crate::contract;
use anyhow::{Context, Result};
use clap::{Arg, ArgAction, Command};
use clap_complete::Shell;
use serde::Serialize;
use std::collections::BTreeMap;

/// The shells a package ships completions for, with where each shell's
/// Debian package looks for them.
pub const COMPLETIONS: [(Shell, &str); 3] = [
    (Shell::Bash, contract::BASH_COMPLETION),
    (Shell::Zsh, contract::ZSH_COMPLETION),
    (Shell::Fish, contract::FISH_COMPLETION),
];

/// The completion script of `command` for `shell`.
pub fn completion(shell: Shell, command: &Command) -> Vec<u8> {
    let mut command = command.clone();
    let name = command.get_name().to_string();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, &name, &mut out);
    if shell == Shell::Bash {
        // clap_complete 4.6's bash script spells a subcommand's state
        // `pve__tcp__hardening__subcmd__status` where it is set but
        // `pve__subcmd__tcp__subcmd__hardening__subcmd__status` in the arm
        // that completes its options, so for a command name with a hyphen
        // no option of a subcommand ever completes (clap-rs/clap#6421,
        // open). The arms are spelled as the state is set; with the bug
        // fixed upstream this finds nothing to change. tests/manual.rs
        // runs the completion as bash does.
        let wrong = name.replace('-', "__subcmd__");
        let right = name.replace('-', "__");
        let text = String::from_utf8_lossy(&out).replace(
            &format!("\n        {wrong}__subcmd__"),
            &format!("\n        {right}__subcmd__"),
        );
        out = text.into_bytes();
    }
    out
}

/// What a man page template is rendered with, on top of the package's own
/// context: the paths of [`crate::contract`] (`paths.*`), the synopsis,
/// the command's own options and the reference of its subcommands, and the
/// page's date.
pub fn insert_man_context(
    context: &mut tera::Context,
    command: &Command,
    date: &str,
) -> Result<()> {
    let paths =
        serde_json::to_value(ManPaths::new()).context("cannot list the man page's paths")?;
    context
        .try_insert("paths", &roff_strings(paths))
        .and_then(|()| context.try_insert("synopsis", &synopsis(command)))
        .and_then(|()| context.try_insert("commands", &command_reference(command)))
        .and_then(|()| context.try_insert("options", &option_list(command)))
        .and_then(|()| context.try_insert("man_date", date))
        .context("cannot build the man page's template context")
}

/// Every path a man page may name, from [`crate::contract`]: absolute host
/// paths, so a page cannot drift from what the package installs and reads.
#[derive(Debug, Serialize)]
pub struct ManPaths {
    helper: &'static str,
    full_helper: &'static str,
    sysctl_file: &'static str,
    sysctl_file_name: &'static str,
    profile_json: &'static str,
    compliance_json: &'static str,
    ipv6_in_use_script: &'static str,
    unit_dir: &'static str,
    units: BTreeMap<&'static str, &'static str>,
    state_dir: String,
    snapshot: String,
    restore: String,
    unsaved: String,
    reboot_after_purge: String,
    configured_by: String,
    adopted_dir: String,
    chrony_default: &'static str,
    chrony_diverted: &'static str,
    postfix_main_cf: &'static str,
    postfix_record: String,
    reboot_required: &'static str,
    reboot_required_pkgs: &'static str,
    finish_config: &'static str,
    sysctl_conf: &'static str,
    sysctl_conf_dpkg_bak: &'static str,
    systemd_sysctl_dirs: Vec<String>,
    procps_sysctl_dirs: Vec<String>,
    bash_completion: &'static str,
    zsh_completion: &'static str,
    fish_completion: &'static str,
}

impl ManPaths {
    pub fn new() -> ManPaths {
        let state = format!("/{}", contract::STATE_DIR);
        let in_state = |name: &str| format!("{state}/{name}");
        let absolute = |dirs: &[&str]| dirs.iter().map(|d| format!("/{d}")).collect();
        ManPaths {
            helper: contract::HELPER,
            full_helper: contract::FULL_HELPER,
            sysctl_file: contract::SYSCTL_FILE,
            sysctl_file_name: contract::SYSCTL_FILE_NAME,
            profile_json: contract::PROFILE_JSON,
            compliance_json: contract::COMPLIANCE_JSON,
            ipv6_in_use_script: contract::IPV6_IN_USE_SCRIPT_PATH,
            unit_dir: contract::SYSTEMD_UNIT_DIR,
            units: BTreeMap::from([
                ("boot_check", contract::BOOT_CHECK_UNIT),
                ("metrics_service", contract::METRICS_SERVICE_UNIT),
                ("metrics_timer", contract::METRICS_TIMER_UNIT),
            ]),
            snapshot: in_state(contract::SNAPSHOT_FILE),
            restore: in_state(contract::RESTORE_FILE),
            unsaved: in_state(contract::UNSAVED_FILE),
            reboot_after_purge: in_state(contract::REBOOT_AFTER_PURGE_FILE),
            configured_by: in_state(contract::CONFIGURED_BY_FILE),
            adopted_dir: in_state(contract::ADOPTED_DIR),
            postfix_record: in_state(contract::POSTFIX_RECORD_DIR),
            state_dir: state,
            chrony_default: contract::CHRONY_DEFAULT,
            chrony_diverted: contract::CHRONY_DIVERTED,
            postfix_main_cf: contract::POSTFIX_MAIN_CF,
            reboot_required: contract::REBOOT_REQUIRED_FILE,
            reboot_required_pkgs: contract::REBOOT_REQUIRED_PKGS_FILE,
            finish_config: contract::FINISH_CONFIG,
            sysctl_conf: contract::SYSCTL_CONF,
            sysctl_conf_dpkg_bak: contract::SYSCTL_CONF_DPKG_BAK,
            systemd_sysctl_dirs: absolute(contract::SYSTEMD_SYSCTL_DIRS),
            procps_sysctl_dirs: absolute(contract::PROCPS_SYSCTL_DIRS),
            bash_completion: contract::BASH_COMPLETION,
            zsh_completion: contract::ZSH_COMPLETION,
            fish_completion: contract::FISH_COMPLETION,
        }
    }
}

impl Default for ManPaths {
    fn default() -> Self {
        ManPaths::new()
    }
}

/// Every string of `value` with its dashes as roff wants them in a path
/// (`\-`: a hyphen would not paste into a shell).
fn roff_strings(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(text) => Value::String(escape(&text)),
        Value::Array(items) => Value::Array(items.into_iter().map(roff_strings).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, roff_strings(v))).collect())
        }
        other => other,
    }
}

/// The SYNOPSIS lines: one per visible subcommand.
pub fn synopsis(command: &Command) -> String {
    let name = escape(command.get_name());
    let options = if visible_args(command).next().is_some() {
        " [\\fIOPTIONS\\fR]"
    } else {
        ""
    };
    let mut out = String::new();
    for sub in visible_subcommands(command) {
        out.push_str(&format!(
            ".br\n\\fB{name}\\fR{options} \\fB{}\\fR",
            escape(sub.get_name())
        ));
        for arg in visible_args(sub) {
            out.push(' ');
            out.push_str(&usage(arg));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        ".br\n\\fB{name}\\fR \\fB\\-\\-help\\fR | \\fB\\-\\-version\\fR\n"
    ));
    out.trim_start_matches(".br\n").to_string()
}

/// One `.SS` per visible subcommand: what it does and its options.
pub fn command_reference(command: &Command) -> String {
    let mut out = String::new();
    for sub in visible_subcommands(command) {
        out.push_str(&format!(".SS {}\n", escape(sub.get_name())));
        if let Some(about) = sub.get_long_about().or(sub.get_about()) {
            out.push_str(&paragraphs(&about.to_string()));
        }
        out.push_str(&option_list(sub));
    }
    out
}

/// A `.TP` per visible option and argument of `command` itself (for a
/// command with subcommands: the global options).
pub fn option_list(command: &Command) -> String {
    let mut out = String::new();
    for arg in visible_args(command) {
        out.push_str(&format!(".TP\n{}\n", option_head(arg)));
        let mut help = arg
            .get_long_help()
            .or(arg.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        if !help.is_empty() && !help.ends_with('.') {
            help.push('.');
        }
        if arg.get_action().takes_values() {
            help.push_str(&values_and_default(arg));
        }
        out.push_str(&paragraphs(help.trim()));
    }
    out
}

/// ` Possible values: ... Default: ...` of an option that takes a value.
fn values_and_default(arg: &Arg) -> String {
    let mut out = String::new();
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| format!("`{}`", v.get_name()))
        .collect();
    if !values.is_empty() {
        out.push_str(&format!(" Possible values: {}.", values.join(", ")));
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if !defaults.is_empty() {
        out.push_str(&format!(" Default: `{}`.", defaults.join(" ")));
    }
    out
}

fn visible_subcommands(command: &Command) -> impl Iterator<Item = &Command> {
    command
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

fn visible_args(command: &Command) -> impl Iterator<Item = &Arg> {
    command.get_arguments().filter(|a| {
        // clap's own --help and --version, where the command was built.
        let automatic = matches!(
            a.get_action(),
            ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
        );
        !a.is_hide_set() && !automatic
    })
}

/// `\fB\-q\fR, \fB\-\-quiet\fR` or `\fB\-\-root\fR \fIDIR\fR` or `\fIFILE\fR...`.
fn option_head(arg: &Arg) -> String {
    let value = value_name(arg);
    if arg.is_positional() {
        return value;
    }
    let mut names = Vec::new();
    if let Some(short) = arg.get_short() {
        names.push(format!("\\fB\\-{}\\fR", escape(&short.to_string())));
    }
    if let Some(long) = arg.get_long() {
        names.push(format!("\\fB\\-\\-{}\\fR", escape(long)));
    }
    let names = names.join(", ");
    if arg.get_action().takes_values() {
        format!("{names} {value}")
    } else {
        names
    }
}

/// How an argument shows in the SYNOPSIS: optional ones in brackets.
fn usage(arg: &Arg) -> String {
    let head = if arg.is_positional() {
        value_name(arg)
    } else {
        let name = match (arg.get_short(), arg.get_long()) {
            (_, Some(long)) => format!("\\fB\\-\\-{}\\fR", escape(long)),
            (Some(short), None) => format!("\\fB\\-{}\\fR", escape(&short.to_string())),
            (None, None) => value_name(arg),
        };
        if arg.get_action().takes_values() {
            format!("{name} {}", value_name(arg))
        } else {
            name
        }
    };
    if arg.is_required_set() {
        head
    } else {
        format!("[{head}]")
    }
}

fn value_name(arg: &Arg) -> String {
    let name = arg
        .get_value_names()
        .and_then(|names| names.first())
        .map(|n| n.to_string())
        .unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
    let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
    format!("\\fI{}\\fR{}", escape(&name), if many { "..." } else { "" })
}

/// Help text as roff paragraphs: blank lines part them, `code` is bold.
fn paragraphs(text: &str) -> String {
    let mut out = String::new();
    for (i, para) in text.split("\n\n").enumerate() {
        if i > 0 {
            out.push_str(".IP\n");
        }
        let joined = para.split_whitespace().collect::<Vec<_>>().join(" ");
        out.push_str(&line(&inline_code(&joined.replace('\\', "\\e"))));
        out.push('\n');
    }
    out
}

/// `` `x` `` as bold, with its dashes as typed (prose keeps hyphens).
fn inline_code(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str(&format!("\\fB{}\\fR", part.replace('-', "\\-")));
        } else {
            out.push_str(part);
        }
    }
    out
}

/// roff's escape character and option dashes as roff wants them (names,
/// not prose).
fn escape(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

/// A text line that roff cannot take for a request.
fn line(text: &str) -> String {
    if text.starts_with('.') || text.starts_with('\'') {
        format!("\\&{text}")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Command {
        Command::new("tool")
            .subcommand(
                Command::new("show")
                    .about("Show `x --y` -- .now")
                    .arg(
                        Arg::new("quiet")
                            .short('q')
                            .long("quiet")
                            .action(ArgAction::SetTrue)
                            .help("Say nothing."),
                    )
                    .arg(
                        Arg::new("root")
                            .long("root")
                            .value_name("DIR")
                            .default_value("/")
                            .help("The root"),
                    )
                    .arg(
                        Arg::new("as")
                            .long("as")
                            .value_parser(["a", "b"])
                            .help("Form."),
                    )
                    .arg(
                        Arg::new("files")
                            .value_name("FILE")
                            .num_args(1..)
                            .required(true)
                            .help("Files."),
                    ),
            )
            .subcommand(Command::new("secret").hide(true))
    }

    #[test]
    fn reference_lists_visible_commands_with_options() {
        let text = command_reference(&sample());
        assert_eq!(
            text,
            ".SS show\nShow \\fBx \\-\\-y\\fR -- .now\n\
             .TP\n\\fB\\-q\\fR, \\fB\\-\\-quiet\\fR\nSay nothing.\n\
             .TP\n\\fB\\-\\-root\\fR \\fIDIR\\fR\nThe root. Default: \\fB/\\fR.\n\
             .TP\n\\fB\\-\\-as\\fR \\fIAS\\fR\nForm. Possible values: \\fBa\\fR, \\fBb\\fR.\n\
             .TP\n\\fIFILE\\fR...\nFiles.\n"
        );
    }

    #[test]
    fn synopsis_brackets_what_is_optional() {
        assert_eq!(
            synopsis(&sample()),
            "\\fBtool\\fR \\fBshow\\fR [\\fB\\-\\-quiet\\fR] [\\fB\\-\\-root\\fR \\fIDIR\\fR] [\\fB\\-\\-as\\fR \\fIAS\\fR] \\fIFILE\\fR...\n\
             .br\n\\fBtool\\fR \\fB\\-\\-help\\fR | \\fB\\-\\-version\\fR\n"
        );
    }

    #[test]
    fn text_lines_are_never_requests() {
        assert_eq!(paragraphs(".x\n\nb"), "\\&.x\n.IP\nb\n");
        assert_eq!(line(".x"), "\\&.x");
        assert_eq!(line("'x"), "\\&'x");
        assert_eq!(escape("a\\b-c"), "a\\eb\\-c");
    }
}
