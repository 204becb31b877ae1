//! The per-camera pipeline between the session and the frames: session chunks → access units
//! → a decoder thread per camera, with each camera's status. [`Feed`] is shared by the window
//! ([`crate::view`]) and the headless runner ([`run_headless`]); they differ only in where
//! frames go ([`FrameSink`]).

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::bitstream::{AccessUnit, AssemblerConfig, AssemblerStats, StreamInfo};
use crate::decode::{DecodeError, DecodeStats, DecoderConfig, DecoderThread, FrameSink};
use crate::eufy::protocol::DetectionKind;
use crate::eufy::session::{run_session, CameraState, SessionConfig, SessionError, SessionEvent};
use crate::frame::Frame;
use crate::ingest::{Gaps, Ingest};

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

/// Where a camera stands.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Phase {
    /// Opening the connection.
    #[default]
    Connecting,
    /// What the session says of it before its pictures come: the server logging in, the
    /// start sent, its turn on a shared station, a restart.
    Session(CameraState),
    /// Bytes are coming; no keyframe yet.
    WaitingForKeyframe,
    /// Access units go to the decoder.
    Live,
    /// The connection was lost; the session reconnects (why).
    Offline(String),
}

impl Phase {
    /// What a tile says in this phase (`None` when live), with the time left where there is
    /// a deadline.
    pub fn describe(&self, now: Instant) -> Option<String> {
        let left = |t: Instant| t.saturating_duration_since(now).as_secs_f64().ceil();
        Some(match self {
            Phase::Connecting => "connecting...".to_owned(),
            Phase::Session(CameraState::LoggingIn) => "server is logging in...".to_owned(),
            Phase::Session(CameraState::Starting) => "starting the stream...".to_owned(),
            Phase::Session(CameraState::Idle) => "not streamed while hidden".to_owned(),
            Phase::Session(CameraState::Queued { station, next_at }) => match next_at {
                Some(t) => format!(
                    "station {station}: streams one camera at a time, next in {:.0} s",
                    left(*t)
                ),
                None => format!("station {station}: streams one camera at a time, waiting"),
            },
            Phase::Session(CameraState::Restarting { reason, at }) => {
                format!("restarting in {:.0} s: {reason}", left(*at))
            }
            Phase::Session(CameraState::Streaming) | Phase::WaitingForKeyframe => {
                "waiting for a keyframe...".to_owned()
            }
            Phase::Live => return None,
            Phase::Offline(why) => format!("offline, reconnecting: {why}"),
        })
    }
}

/// The detection events a status keeps, newest last.
pub const KEPT_DETECTIONS: usize = 8;

/// What is known about one camera, for the overlay and reports.
#[derive(Debug, Clone, Default)]
pub struct CameraStatus {
    /// Phase.
    pub phase: Phase,
    /// Display name, from the server.
    pub name: Option<String>,
    /// Station, from the server.
    pub station: Option<String>,
    /// Bytes of video received.
    pub bytes: u64,
    /// Access units assembled.
    pub access_units: u64,
    /// What its SPS says.
    pub info: Option<StreamInfo>,
    /// The decoder's counters and path.
    pub decoder: DecodeStats,
    /// Messages dropped by the session (bad JSON or buffers).
    pub dropped_messages: u64,
    /// Interruptions of its pictures (cut-offs, turns, reconnects), measured.
    pub gaps: Gaps,
    /// What its access-unit assembler dropped or noticed.
    pub assembler: AssemblerStats,
    /// Its latest detection events: when, what, started (true) or ended.
    pub detections: VecDeque<(Instant, DetectionKind, bool)>,
}

impl CameraStatus {
    /// Its name, or the serial when the server gave none.
    pub fn label<'a>(&'a self, serial: &'a str) -> &'a str {
        self.name.as_deref().unwrap_or(serial)
    }
}

/// Shared statuses, by serial.
pub type Statuses = Arc<Mutex<HashMap<String, CameraStatus>>>;

/// A raw Annex-B recording of one camera, started from the viewer (`r`).
pub struct Recording {
    /// Where it goes.
    pub path: std::path::PathBuf,
    writer: std::io::BufWriter<std::fs::File>,
    started: bool,
    /// Access units written.
    pub units: u64,
}

/// Recordings in progress, by serial, shared between the feed and the display.
pub type Recordings = Arc<Mutex<HashMap<String, Recording>>>;

/// Starts recording `serial` into `dir` (from its next keyframe), or stops the recording in
/// progress. Returns the file and whether a recording is now running.
pub fn toggle_recording(
    recordings: &Recordings,
    statuses: &Statuses,
    serial: &str,
    dir: &std::path::Path,
) -> std::io::Result<(std::path::PathBuf, bool)> {
    let mut all = recordings.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(mut r) = all.remove(serial) {
        std::io::Write::flush(&mut r.writer)?;
        return Ok((r.path, false));
    }
    let codec = statuses
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(serial)
        .and_then(|s| s.info)
        .map_or(crate::bitstream::Codec::H264, |i| i.codec);
    let ext = match codec {
        crate::bitstream::Codec::H264 => "h264",
        crate::bitstream::Codec::H265 => "h265",
    };
    // Millisecond names, and never over an existing file: `r` pressed twice in a row must not
    // truncate the recording just saved.
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut path = dir.join(format!("eufy-hw-{serial}-{stamp}.{ext}"));
    let mut n = 1;
    let file = loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => {
                path = dir.join(format!("eufy-hw-{serial}-{stamp}-{n}.{ext}"));
                n += 1;
            }
            other => break other?,
        }
    };
    let writer = std::io::BufWriter::new(file);
    all.insert(
        serial.to_owned(),
        Recording {
            path: path.clone(),
            writer,
            started: false,
            units: 0,
        },
    );
    Ok((path, true))
}

/// Session events in, decoder threads fed, statuses kept.
pub struct Feed {
    decoder: DecoderConfig,
    sink: Box<dyn Fn(&str) -> FrameSink + Send>,
    ingest: Ingest,
    decoders: HashMap<String, DecoderThread>,
    /// Statuses, shared with the display.
    pub statuses: Statuses,
    /// Whether to block when a decoder is behind (benchmarks) instead of dropping.
    pub lossless: bool,
    /// Raw recordings in progress.
    pub recordings: Recordings,
    /// When set, collects each access unit's assembly latency (received → complete), ms,
    /// per camera in order (benchmarks).
    pub assembly_ms: Option<HashMap<String, Vec<f64>>>,
    flood_warnings: crate::throttle::Throttle,
}

impl Feed {
    /// A feed for `serials`; `sink` gives each camera's frame destination.
    pub fn new(
        serials: &[String],
        decoder: DecoderConfig,
        sink: impl Fn(&str) -> FrameSink + Send + 'static,
    ) -> Feed {
        let statuses: HashMap<String, CameraStatus> = serials
            .iter()
            .map(|s| (s.clone(), CameraStatus::default()))
            .collect();
        Feed {
            decoder,
            sink: Box::new(sink),
            ingest: Ingest::new(
                AssemblerConfig {
                    wait_for_keyframe: true,
                    ..Default::default()
                },
                true,
            ),
            decoders: HashMap::new(),
            statuses: Arc::new(Mutex::new(statuses)),
            lossless: false,
            recordings: Arc::new(Mutex::new(HashMap::new())),
            assembly_ms: None,
            flood_warnings: Default::default(),
        }
    }

    fn status<R>(&self, serial: &str, f: impl FnOnce(&mut CameraStatus) -> R) -> Option<R> {
        let mut all = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
        all.get_mut(serial).map(f)
    }

    /// Handles one session event.
    pub fn on_event(&mut self, ev: SessionEvent) {
        match ev {
            SessionEvent::Video {
                serial,
                data,
                received_at,
            } => self.on_video(serial, &data, received_at),
            SessionEvent::Started { serial } => {
                self.status(&serial, |s| {
                    if s.phase != Phase::Live {
                        s.phase = Phase::WaitingForKeyframe;
                    }
                });
            }
            SessionEvent::State { serial, state } => {
                self.status(&serial, |s| {
                    s.phase = match state {
                        CameraState::Streaming if s.phase == Phase::Live => Phase::Live,
                        CameraState::Streaming => Phase::WaitingForKeyframe,
                        other => Phase::Session(other),
                    }
                });
            }
            SessionEvent::Camera(info) => {
                self.status(&info.serial, |s| {
                    s.name = info.name.clone();
                    s.station = info.station.clone();
                });
            }
            SessionEvent::Ended { serial, reason } => {
                tracing::debug!(camera = %serial, "stream ended: {reason}");
                let mut units = Vec::new();
                if reason == crate::eufy::schedule::NOT_SHOWN {
                    self.ingest.paused(&serial, |au| units.push(au));
                } else {
                    self.ingest.ended(&serial, |au| units.push(au));
                }
                for au in units {
                    self.deliver(&serial, au);
                }
            }
            SessionEvent::Detection {
                serial,
                kind,
                state,
                ..
            } => {
                self.status(&serial, |s| {
                    if s.detections.len() >= KEPT_DETECTIONS {
                        s.detections.pop_front();
                    }
                    s.detections.push_back((Instant::now(), kind, state));
                });
            }
            SessionEvent::Reconnecting { reason, .. } => {
                self.ingest.lost();
                let mut all = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
                for s in all.values_mut() {
                    s.phase = Phase::Offline(reason.clone());
                }
            }
            SessionEvent::Dropped { .. } => {
                let mut all = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
                for s in all.values_mut() {
                    s.dropped_messages += 1;
                }
            }
            other => tracing::debug!(?other, "session event"),
        }
    }

    /// The decoder thread of `serial`, started on its first access unit.
    fn decoder(&mut self, serial: &str) -> Option<&mut DecoderThread> {
        if !self.decoders.contains_key(serial) {
            match DecoderThread::spawn(serial, self.decoder.clone(), (self.sink)(serial)) {
                Ok(d) => {
                    self.decoders.insert(serial.to_owned(), d);
                }
                Err(e) => {
                    tracing::error!(camera = %serial, "{e}");
                    return None;
                }
            }
        }
        self.decoders.get_mut(serial)
    }

    /// One access unit to the recording (if any) and the decoder.
    fn deliver(&mut self, serial: &str, au: AccessUnit<Instant>) {
        {
            let mut recordings = self.recordings.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(r) = recordings.get_mut(serial) {
                r.started |= au.keyframe;
                if r.started {
                    match std::io::Write::write_all(&mut r.writer, &au.data) {
                        Ok(()) => r.units += 1,
                        Err(e) => {
                            tracing::error!(camera = %serial, "recording to {} stopped: {e}", r.path.display());
                            recordings.remove(serial);
                        }
                    }
                }
            }
        }
        let lossless = self.lossless;
        if let Some(d) = self.decoder(serial) {
            if lossless {
                d.push(au);
            } else {
                d.try_push(au);
            }
        }
    }

    fn on_video(&mut self, serial: String, data: &[u8], received_at: Instant) {
        if self.status(&serial, |_| ()).is_none() {
            return; // not one of ours: no decoder for it
        }
        let mut units = Vec::new();
        let gap = self
            .ingest
            .video(&serial, data, received_at, |au| units.push(au));
        let mut info = None;
        let n = units.len() as u64;
        for au in units {
            if let Some(a) = self.assembly_ms.as_mut() {
                let ms = au.at.elapsed().as_secs_f64() * 1e3;
                // No key allocation per unit: this runs inside the measured client.
                match a.get_mut(&serial) {
                    Some(v) => v.push(ms),
                    None => {
                        a.insert(serial.clone(), vec![ms]);
                    }
                }
            }
            if au.new_stream_info.is_some() {
                info = au.new_stream_info;
            }
            self.deliver(&serial, au);
        }
        if let Some(g) = gap {
            tracing::info!(camera = %serial, "picture back after {:.1} s", g.as_secs_f64());
        }
        let gaps = self.ingest.gaps(&serial);
        let stats = self
            .ingest
            .assembler(&serial)
            .map(|a| a.stats())
            .unwrap_or_default();
        // One lock per message: the status update also says what the flood count grew by.
        let flooded = self.status(&serial, |s| {
            let flooded = stats.flooded_nals - s.assembler.flooded_nals;
            s.assembler = stats;
            s.bytes += data.len() as u64;
            s.access_units += n;
            if n > 0 {
                s.phase = Phase::Live;
            } else if s.phase != Phase::Live {
                s.phase = Phase::WaitingForKeyframe;
            }
            if info.is_some() {
                s.info = info;
            }
            s.gaps = gaps;
            flooded
        });
        if flooded.is_some_and(|n| n > 0) {
            if let Some(held) = self.flood_warnings.allow() {
                tracing::warn!(camera = %serial, "dropped {} parameter sets or SEI sent without a picture (a flood; {held} more warnings not logged)", flooded.unwrap_or(0));
            }
        }
    }

    /// Refreshes the decoders' counters in the statuses (call a few times a second, not per
    /// frame), and reports a decoder that ended on its own: it failed for good (e.g. a strict
    /// fallback).
    pub fn check(&mut self) -> Result<(), PipelineError> {
        {
            let mut all = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
            for (serial, d) in &self.decoders {
                if let Some(s) = all.get_mut(serial) {
                    s.decoder = d.stats();
                }
            }
        }
        let ended = self
            .decoders
            .iter()
            .find(|(_, d)| d.has_ended())
            .map(|(n, _)| n.clone());
        if let Some(camera) = ended {
            if let Some(d) = self.decoders.remove(&camera) {
                d.finish()
                    .map_err(|source| PipelineError::Decode { camera, source })?;
            }
        }
        Ok(())
    }

    /// Closes the decoders (they drain) and returns their final counters.
    pub fn finish(mut self) -> Result<HashMap<String, DecodeStats>, PipelineError> {
        let mut out = HashMap::new();
        for (camera, d) in self.decoders.drain() {
            let stats = d.finish().map_err(|source| PipelineError::Decode {
                camera: camera.clone(),
                source,
            })?;
            out.insert(camera, stats);
        }
        Ok(out)
    }
}

/// Totals of a headless run, per camera.
#[derive(Debug, Default, Clone)]
pub struct CameraTotals {
    /// Status (bytes, access units, decoder counters, path).
    pub status: CameraStatus,
    /// Frames decoded.
    pub frames: u64,
    /// Last picture size.
    pub size: Option<(u32, u32)>,
    /// Latency from the arrival of an access unit's last byte to its decoded frame, ms
    /// (the last 10 000).
    pub latencies_ms: std::collections::VecDeque<f64>,
}

/// Runs the session and the decoders until `stop` (or a fatal error), without a window;
/// calls `progress` per camera every `report` interval.
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
    let mut feed = Feed::new(&config.serials, decoder, move |_| {
        FrameSink::Every(frame_tx.clone())
    });
    let mut totals: HashMap<String, CameraTotals> = HashMap::new();
    let mut reported: HashMap<String, u64> = HashMap::new();
    let count = |totals: &mut HashMap<String, CameraTotals>, f: Frame| {
        let t = totals.entry(f.stream.to_string()).or_default();
        t.frames += 1;
        t.size = Some((f.width, f.height));
        if t.latencies_ms.len() >= 10_000 {
            t.latencies_ms.pop_front();
        }
        t.latencies_ms
            .push_back(f.decoded_at.duration_since(f.received_at).as_secs_f64() * 1e3);
    };
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut last_report = Instant::now();
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => feed.on_event(ev),
                None => break,
            },
            _ = tick.tick() => {
                while let Ok(f) = frame_rx.try_recv() {
                    count(&mut totals, f);
                }
                if let Err(e) = feed.check() {
                    session.abort();
                    return Err(e);
                }
                let secs = last_report.elapsed().as_secs_f64();
                if secs < report.as_secs_f64() {
                    continue;
                }
                last_report = Instant::now();
                let statuses = feed.statuses.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let mut names: Vec<&String> = statuses.keys().collect();
                names.sort();
                for name in names {
                    let t = totals.entry(name.clone()).or_default();
                    t.status = statuses[name].clone();
                    let prev = reported.insert(name.clone(), t.frames).unwrap_or(0);
                    progress(name, t, (t.frames - prev) as f64 / secs.max(1e-3));
                }
            }
        }
    }
    let result = session.await.unwrap_or(Ok(())).map_err(PipelineError::from);
    let statuses = feed.statuses.clone();
    // Decoders drain into the frame channel while they finish.
    let finished = std::thread::scope(|s| {
        let h = s.spawn(|| feed.finish());
        while !h.is_finished() {
            while let Ok(f) = frame_rx.try_recv() {
                count(&mut totals, f);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        h.join()
    });
    while let Ok(f) = frame_rx.try_recv() {
        count(&mut totals, f);
    }
    let decoders = match finished {
        Ok(r) => r?,
        Err(_) => HashMap::new(),
    };
    for (name, s) in statuses.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let t = totals.entry(name.clone()).or_default();
        t.status = s.clone();
        if let Some(d) = decoders.get(name) {
            t.status.decoder = d.clone();
        }
    }
    result.map(|()| totals)
}
