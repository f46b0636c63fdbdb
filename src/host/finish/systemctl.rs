//! The one side effect on services: `systemctl try-restart UNIT`, found on
//! PATH (tests put a fake `systemctl` that logs its calls first on PATH).
//! try-restart, not restart: a unit that stopped meanwhile stays stopped.

use crate::tool::checked;
use anyhow::{Context, Result};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Long enough for a daemon's stop timeout (systemd's default is 90 s) and
/// its start; the job goes on in systemd if we stop waiting.
const TIME_LIMIT: Duration = Duration::from_secs(200);

/// Restart `unit` and wait for systemd's job to finish. `Err` carries what
/// systemctl said, for the admin.
pub fn try_restart(unit: &str) -> Result<()> {
    let mut child = Command::new("systemctl")
        .args(["try-restart", unit])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run systemctl")?;
    let started = Instant::now();
    while child
        .try_wait()
        .context("cannot wait for systemctl")?
        .is_none()
    {
        if started.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!(
                "no answer within {} s (see `systemctl status {unit}`)",
                TIME_LIMIT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child
        .wait_with_output()
        .context("cannot read systemctl's output")?;
    checked(out, &format!("systemctl try-restart {unit}"))?;
    Ok(())
}
