//! Cameras that are not behind eufy-security-ws: any RTSP stream (a restream from go2rtc or
//! MediaMTX, a published eufy-hw stream, a camera with its own RTSP), read with FFmpeg's
//! demuxer on a named thread and handed on as session events, so that the same access
//! units → decoder → GPU path shows them. A stream that fails or ends is opened again with
//! backoff (0.5 s doubling to 30 s), each time from its next keyframe.

use std::time::{Duration, Instant};

use ffmpeg_next as ffmpeg;
use tokio::sync::mpsc;

use crate::eufy::session::{CameraState, SessionEvent};
use crate::shutdown::Shutdown;

/// One RTSP stream shown as a camera.
#[derive(Debug, Clone, PartialEq)]
pub struct RtspSource {
    /// `rtsp://…`.
    pub url: String,
    /// The camera name it goes by (its tile, logs).
    pub label: String,
}

impl RtspSource {
    /// The URL without credentials, for titles and logs.
    pub fn display_url(&self) -> String {
        let Some((scheme, rest)) = self.url.split_once("://") else {
            return self.url.clone();
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        format!("{scheme}://{host}{path}")
    }
}

/// Reads `source` until `stop`, sending its video as [`SessionEvent`]s on `tx`.
pub(crate) fn spawn(
    source: RtspSource,
    tx: mpsc::Sender<SessionEvent>,
    stop: Shutdown,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("rtsp-{}", source.label))
        .spawn(move || {
            let mut backoff = Duration::from_millis(500);
            while !stop.is_triggered() {
                let began = Instant::now();
                let why = match read(&source, &tx, &stop) {
                    Ok(()) => "the stream ended".to_owned(),
                    Err(e) => e,
                };
                if stop.is_triggered() || tx.is_closed() {
                    return;
                }
                if began.elapsed() > Duration::from_secs(10) {
                    backoff = Duration::from_millis(500);
                }
                tracing::warn!(camera = %source.label, "{}: {why}; opening again in {:.1} s", source.display_url(), backoff.as_secs_f64());
                let _ = tx.blocking_send(SessionEvent::Ended {
                    serial: source.label.clone(),
                    reason: why.clone(),
                });
                let at = Instant::now() + backoff;
                let _ = tx.blocking_send(SessionEvent::State {
                    serial: source.label.clone(),
                    state: CameraState::Restarting {
                        reason: why,
                        at,
                        failures: 0,
                    },
                });
                while Instant::now() < at && !stop.is_triggered() {
                    std::thread::sleep(Duration::from_millis(50));
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        })
}

/// One connection: open, then packets until an error, the end, or `stop`.
fn read(
    source: &RtspSource,
    tx: &mpsc::Sender<SessionEvent>,
    stop: &Shutdown,
) -> Result<(), String> {
    ffmpeg::init().map_err(|e| e.to_string())?;
    ffmpeg::format::network::init();
    let mut opts = ffmpeg::Dictionary::new();
    opts.set("rtsp_transport", "tcp");
    // No packet for this long (µs) is an error: a silent server is noticed.
    opts.set("timeout", "5000000");
    // Start fast: the stream's parameters are in its SDP and first keyframe; FFmpeg's
    // default analysis reads 5 s first.
    opts.set("analyzeduration", "500000");
    opts.set("probesize", "500000");
    // What it reads while analysing is not handed over later in a burst (a second behind
    // live before it caught up); the parameter sets are in the SDP anyway.
    opts.set("fflags", "nobuffer");
    let mut input = ffmpeg::format::input_with_dictionary(&source.url, opts)
        .map_err(|e| format!("cannot open: {e}"))?;
    let stream = input
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or("no video stream")?;
    let index = stream.index();
    let codec = stream.parameters().id();
    if !matches!(codec, ffmpeg::codec::Id::H264 | ffmpeg::codec::Id::HEVC) {
        return Err(format!(
            "video codec {codec:?} is not supported (H.264 or H.265)"
        ));
    }
    // Parameter sets from the SDP, Annex-B: sent before each keyframe so that the assembler
    // and decoder have them even when the stream does not repeat them.
    let sets = crate::av::input::stream_extradata(&stream);
    let sets = if sets.starts_with(&[0, 0, 0, 1]) || sets.starts_with(&[0, 0, 1]) {
        sets
    } else {
        Vec::new()
    };
    tracing::info!(camera = %source.label, ?codec, "reading {}", source.display_url());
    let _ = tx.blocking_send(SessionEvent::State {
        serial: source.label.clone(),
        state: CameraState::Streaming,
    });
    for (s, packet) in input.packets() {
        if stop.is_triggered() {
            return Ok(());
        }
        if s.index() != index {
            continue;
        }
        let Some(data) = packet.data() else { continue };
        let mut bytes = Vec::with_capacity(data.len() + sets.len());
        if packet.is_key() {
            bytes.extend_from_slice(&sets);
        }
        bytes.extend_from_slice(data);
        let ev = SessionEvent::Video {
            serial: source.label.clone(),
            data: bytes,
            received_at: Instant::now(),
        };
        if tx.blocking_send(ev).is_err() {
            return Ok(());
        }
    }
    Err("the connection ended".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_not_shown() {
        let s = |url: &str| RtspSource {
            url: url.into(),
            label: "x".into(),
        };
        assert_eq!(
            s("rtsp://user:pw@host:554/a").display_url(),
            "rtsp://host:554/a"
        );
        assert_eq!(
            s("rtsp://host:554/a@b").display_url(),
            "rtsp://host:554/a@b"
        );
        assert_eq!(s("rtsp://host/a").display_url(), "rtsp://host/a");
    }
}
