//! `eufy-hw record` (files or stdout) and `eufy-hw publish` (an RTSP server): the same
//! recorder, stopped by Ctrl-C or SIGTERM, with a line per camera at the end.

use anyhow::{bail, Context, Result};

use crate::record::{is_rtsp, RecordConfig, Recorded};
use crate::shutdown::Shutdown;

/// Records until the duration, the frame count, Ctrl-C or SIGTERM.
pub async fn record(config: RecordConfig) -> Result<()> {
    let url = config.session.url.clone();
    let recorded = crate::record::record(config, Shutdown::on_signals(None))
        .await
        .with_context(|| format!("recording from {url}"))?;
    for r in &recorded {
        eprintln!("{}", recorded_line(r));
    }
    Ok(())
}

/// Pushes to an RTSP server until the duration, the frame count, Ctrl-C or SIGTERM (what
/// go2rtc and MediaMTX send a publisher they started).
pub async fn publish(config: RecordConfig) -> Result<()> {
    if !is_rtsp(&config.output) {
        bail!("--to {:?}: expected rtsp://host:port/path", config.output);
    }
    let url = config.session.url.clone();
    let published = crate::record::record(config, Shutdown::on_signals(None))
        .await
        .with_context(|| format!("publishing from {url}"))?;
    for r in published {
        eprintln!(
            "{}: {} access units pushed to {}, {} AAC frames, {} reconnect(s) to the server, {} unit(s) skipped meanwhile, {} gap(s) from the camera",
            r.serial, r.units, r.path, r.audio_frames, r.reconnects, r.skipped, r.gaps
        );
    }
    Ok(())
}

/// What a recording holds: `path: N access units, K KiB, G gap(s)[, A AAC frames]`.
fn recorded_line(r: &Recorded) -> String {
    let name = if r.path.is_empty() {
        &r.serial
    } else {
        &r.path
    };
    let audio = if r.audio_frames > 0 {
        format!(", {} AAC frames", r.audio_frames)
    } else {
        String::new()
    };
    format!(
        "{name}: {} access units, {:.1} KiB, {} gap(s){audio}",
        r.units,
        r.bytes as f64 / 1024.0,
        r.gaps
    )
}
