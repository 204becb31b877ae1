//! The headless pipeline, per camera: session chunks → access units → decoder thread, with a
//! progress report. Used by `eufy-hw demo` and the default command until the window exists.

use std::collections::HashMap;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::bitstream::{AccessUnits, AssemblerConfig};
use crate::decode::{DecodeError, DecodeStats, DecoderConfig, DecoderThread, FrameSink};
use crate::eufy::session::{run_session, SessionConfig, SessionError, SessionEvent};
use crate::frame::Frame;

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
    /// Latency from the arrival of an access unit's last byte to its decoded frame, ms
    /// (the last 10 000).
    pub latencies_ms: Vec<f64>,
    /// The decoder's counters and path.
    pub decoder: DecodeStats,
}

/// Why the pipeline stopped.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The session failed for good.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A camera's decoder failed for good.
    #[error("decoding camera {camera}")]
    Decode {
        /// The camera.
        camera: String,
        /// Why.
        source: DecodeError,
    },
}

struct Camera {
    assembler: AccessUnits<Instant>,
    decoder: DecoderThread,
    totals: CameraTotals,
    reported_frames: u64,
}

/// Runs the session and the decoders until `stop` (or a fatal session error); calls
/// `progress` per camera every `report` interval.
pub async fn run_headless(
    config: SessionConfig,
    decoder: DecoderConfig,
    stop: watch::Receiver<bool>,
    report: Duration,
    mut progress: impl FnMut(&str, &CameraTotals, f64),
) -> Result<HashMap<String, CameraTotals>, PipelineError> {
    let (tx, mut rx) = mpsc::channel(256);
    let session = tokio::spawn(run_session(config.clone(), tx, stop));
    let (frame_tx, frame_rx) = sync_channel::<Frame>(256);
    let mut cams: HashMap<String, Camera> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut last_report = Instant::now();
    let take_frames = |cams: &mut HashMap<String, Camera>| {
        while let Ok(f) = frame_rx.try_recv() {
            if let Some(c) = cams.get_mut(&*f.stream) {
                let t = &mut c.totals;
                t.frames += 1;
                t.size = Some((f.width, f.height));
                if t.latencies_ms.len() >= 10_000 {
                    t.latencies_ms.remove(0);
                }
                t.latencies_ms
                    .push(f.decoded_at.duration_since(f.received_at).as_secs_f64() * 1e3);
            }
        }
    };
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                match ev {
                    SessionEvent::Video { serial, data, received_at } => {
                        if !cams.contains_key(&serial) {
                            let sink = FrameSink::Every(frame_tx.clone());
                            let decoder = match DecoderThread::spawn(&serial, decoder.clone(), sink) {
                                Ok(d) => d,
                                Err(e) => {
                                    tracing::error!("{e}");
                                    continue;
                                }
                            };
                            let assembler = AccessUnits::new(AssemblerConfig { wait_for_keyframe: true, ..Default::default() });
                            cams.insert(serial.clone(), Camera { assembler, decoder, totals: CameraTotals::default(), reported_frames: 0 });
                        }
                        if let Some(c) = cams.get_mut(&serial) {
                            c.totals.bytes += data.len() as u64;
                            let (asm, dec, totals) = (&mut c.assembler, &mut c.decoder, &mut c.totals);
                            asm.push(&data, received_at, |au| {
                                totals.access_units += 1;
                                tracing::trace!(len = au.data.len(), key = au.keyframe, "access unit");
                                dec.try_push(au);
                            });
                        }
                    }
                    SessionEvent::Reconnecting { .. } => {
                        for c in cams.values_mut() { c.assembler.reset(); }
                    }
                    other => tracing::debug!(?other, "session event"),
                }
            }
            _ = tick.tick() => {
                take_frames(&mut cams);
                let ended: Option<String> = cams.iter().find(|(_, c)| c.decoder.has_ended()).map(|(n, _)| n.clone());
                if let Some(c) = ended.and_then(|name| cams.remove(&name).map(|c| (name, c))) {
                    session.abort();
                    let (camera, cam) = c;
                    if let Err(source) = cam.decoder.finish() {
                        return Err(PipelineError::Decode { camera, source });
                    }
                }
                let secs = last_report.elapsed().as_secs_f64();
                if secs < report.as_secs_f64() {
                    continue;
                }
                last_report = Instant::now();
                let mut names: Vec<String> = cams.keys().cloned().collect();
                names.sort();
                for name in names {
                    if let Some(c) = cams.get_mut(&name) {
                        c.totals.decoder = c.decoder.stats();
                        let fps = (c.totals.frames - c.reported_frames) as f64 / secs.max(1e-3);
                        c.reported_frames = c.totals.frames;
                        progress(&name, &c.totals, fps);
                    }
                }
            }
        }
    }
    let result = session.await.unwrap_or(Ok(())).map_err(PipelineError::from);
    let mut totals = HashMap::new();
    let names: Vec<String> = cams.keys().cloned().collect();
    for name in names {
        if let Some(c) = cams.remove(&name) {
            let mut t = c.totals;
            // Joins the decoder thread; frames it still sends are counted below.
            let stats = std::thread::scope(|s| {
                let h = s.spawn(|| c.decoder.finish());
                while !h.is_finished() {
                    while frame_rx.try_recv().is_ok() {
                        t.frames += 1;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                h.join()
            });
            match stats {
                Ok(Ok(s)) => t.decoder = s,
                Ok(Err(source)) => {
                    return Err(PipelineError::Decode {
                        camera: name,
                        source,
                    })
                }
                Err(_) => tracing::error!(camera = %name, "decoder thread panicked"),
            }
            totals.insert(name, t);
        }
    }
    while let Ok(f) = frame_rx.try_recv() {
        if let Some(t) = totals.get_mut(&*f.stream) {
            t.frames += 1;
        }
    }
    result.map(|()| totals)
}
