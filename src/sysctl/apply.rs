//! TODO(skeleton): filled by its owner.

use crate::cli::ApplyArgs;
use anyhow::Result;
use std::process::ExitCode;

/// Entry point of `pve-tcp-hardening apply`.
pub fn run_cli(_args: &ApplyArgs) -> Result<ExitCode> {
    anyhow::bail!("apply is not implemented yet")
}
