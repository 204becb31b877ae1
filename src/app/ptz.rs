//! `eufy-hw ptz`: one pan/tilt step, a sweep or a preset, on either backend; `eufy-hw
//! reply`: a doorbell's quick replies listed or one played; for scripts and Home Assistant
//! shell commands.

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

/// Lists doorbell `serial`'s quick replies on stdout (`ID<tab>description`), or plays `voice`.
pub async fn reply(url: &str, backend: Backend, serial: &str, voice: Option<u64>) -> Result<()> {
    let config = SessionConfig {
        backend,
        reconnect: false,
        ..SessionConfig::new(url, Vec::new())
    };
    let voices = crate::backend::quick_reply(&config, serial, voice)
        .await
        .with_context(|| format!("the quick replies of {serial} at {url}"))?;
    match voice {
        Some(v) => {
            let desc = voices
                .iter()
                .find(|(id, _)| *id == v)
                .map_or("", |(_, d)| d);
            eprintln!("played quick reply {v} ({desc:?}) at {serial}");
        }
        None => {
            for (id, desc) in voices {
                println!("{id}\t{desc}");
            }
        }
    }
    Ok(())
}
