//! The headless pipeline, per camera: session chunks → access units → decoder thread, with a
//! progress report. Used by `eufy-hw demo` and the default command until the window exists.

use std::collections::HashMap;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::bitstream::{AccessUnits, AssemblerConfig};
use crate::decode::{DecodedFrame, DecoderThread};
use crate::eufy::session::{run_session, SessionConfig, SessionError, SessionEvent};

/// Totals of a pipeline run, per camera.
#[derive(Debug, Default, Clone)]
pub struct CameraTotals {
    /// Access units assembled.
    pub access_units: u64,
    /// Frames decoded.
    pub frames: u64,
    /// Bytes of video received.
    pub bytes: u64,
    /// Last picture size.
    pub size: Option<(u32, u32)>,
    /// Latency from the arrival of an access unit's last byte to its decoded frame.
    pub latencies_ms: Vec<f64>,
}

/// Runs the session and the decoders until `stop` (or a fatal session error); prints a line
/// per camera every `report` interval through `progress`.
pub async fn run_headless(
    config: SessionConfig,
    stop: watch::Receiver<bool>,
    report: Duration,
    mut progress: impl FnMut(&str, &CameraTotals, f64),
) -> Result<HashMap<String, CameraTotals>, SessionError> {
    let (tx, mut rx) = mpsc::channel(256);
    let session = tokio::spawn(run_session(config.clone(), tx, stop));
    let (frame_tx, frame_rx) = sync_channel::<DecodedFrame>(256);
    let mut cams: HashMap<String, (AccessUnits<Instant>, DecoderThread, CameraTotals, u64)> =
        HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut last_report = Instant::now();
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                match ev {
                    SessionEvent::Video { serial, data, received_at } => {
                        if !cams.contains_key(&serial) {
                            let Ok(dec) = DecoderThread::spawn(&serial, frame_tx.clone()) else { continue };
                            let asm = AccessUnits::new(AssemblerConfig { wait_for_keyframe: true, ..Default::default() });
                            cams.insert(serial.clone(), (asm, dec, CameraTotals::default(), 0));
                        }
                        if let Some((asm, dec, totals, _)) = cams.get_mut(&serial) {
                            totals.bytes += data.len() as u64;
                            asm.push(&data, received_at, |au| {
                                totals.access_units += 1;
                                tracing::trace!(len = au.data.len(), key = au.keyframe, "access unit");
                                dec.push(au);
                            });
                        }
                    }
                    SessionEvent::Reconnecting { .. } => {
                        for (asm, ..) in cams.values_mut() { asm.reset(); }
                    }
                    other => tracing::debug!(?other, "session event"),
                }
            }
            _ = tick.tick() => {
                while let Ok(f) = frame_rx.try_recv() {
                    if let Some((_, _, t, _)) = cams.get_mut(&*f.stream) {
                        t.frames += 1;
                        t.size = Some((f.width, f.height));
                        if t.latencies_ms.len() < 1_000_000 {
                            t.latencies_ms.push(f.decoded_at.duration_since(f.received_at).as_secs_f64() * 1e3);
                        }
                    }
                }
                let secs = last_report.elapsed().as_secs_f64();
                if secs < report.as_secs_f64() {
                    continue;
                }
                last_report = Instant::now();
                let mut names: Vec<&String> = cams.keys().collect();
                names.sort();
                for name in names {
                    if let Some((_, _, t, prev)) = cams.get(name) {
                        let fps = (t.frames - *prev) as f64 / secs.max(1e-3);
                        progress(name, t, fps);
                    }
                }
                for (_, _, t, prev) in cams.values_mut() { *prev = t.frames; }
            }
        }
    }
    let result = session.await.unwrap_or(Ok(()));
    let mut totals = HashMap::new();
    for (serial, (_, dec, t, _)) in cams {
        drop(dec); // joins the decoder thread
        totals.insert(serial, t);
    }
    while let Ok(f) = frame_rx.try_recv() {
        if let Some(t) = totals.get_mut(&*f.stream) {
            t.frames += 1;
            t.size = Some((f.width, f.height));
        }
    }
    result.map(|()| totals)
}
