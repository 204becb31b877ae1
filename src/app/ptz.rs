//! `eufy-hw ptz`: one pan/tilt step, a sweep or a preset, on either backend, for scripts
//! and Home Assistant shell commands.

use anyhow::{Context, Result};

use crate::backend::{Backend, Ptz};
use crate::eufy::session::SessionConfig;

/// Sends `action` to camera `serial` of the server at `url`; says what was sent.
pub async fn ptz(url: &str, backend: Backend, serial: &str, action: Ptz) -> Result<()> {
    let config = SessionConfig {
        backend,
        reconnect: false,
        ..SessionConfig::new(url, Vec::new())
    };
    crate::backend::act(&config, serial, action)
        .await
        .with_context(|| format!("asking {serial} for {action} at {url}"))?;
    eprintln!("sent {action} to {serial}");
    Ok(())
}
