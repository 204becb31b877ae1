//! The per-camera pipeline between the cameras and the frames.
//!
//! - [`drive`]: the one driver every consumer runs: the session and the RTSP readers started
//!   together, their events handed to a [`drive::Sink`], a tick, one [`Shutdown`]
//!   (the viewer, `--headless`, bench, record and publish are sinks).
//! - [`Feed`]: the sink's core for pictures: session chunks → access units ([`Ingest`]) → a
//!   decoder thread per camera, reset when its stream is interrupted, with each camera's
//!   status ([`CameraStatus`]) and sound handed to the audio output. The window, the
//!   headless runner ([`headless`]) and bench differ only in where frames go ([`FrameSink`]).
//! - [`recording`]: the viewer's `r` key, raw recordings of the access units fed.
//!
//! [`Shutdown`]: crate::shutdown::Shutdown

pub(crate) mod drive;
pub(crate) mod headless;
pub(crate) mod recording;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::bitstream::{AccessUnit, AssemblerConfig, AssemblerStats, StreamInfo};
use crate::decode::{DecodeError, DecodeStats, DecoderConfig, DecoderThread, FrameSink};
use crate::eufy::protocol::DetectionKind;
use crate::eufy::session::{CameraState, SessionError, SessionEvent};
use crate::ingest::{Gaps, Ingest};

pub use headless::{run_headless, CameraTotals};
pub use recording::{toggle_recording, Recording, Recordings};

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
    /// The phase in a word (Home Assistant's camera state): `connecting`, `logging in`,
    /// `login needed`,
    /// `starting`, `hidden`, `station turn`, `restarting`, `live`, `offline`.
    pub fn word(&self) -> &'static str {
        match self {
            Phase::Connecting => "connecting",
            Phase::Session(CameraState::LoggingIn) => "logging in",
            Phase::Session(CameraState::Login { .. }) => "login needed",
            Phase::Session(CameraState::Starting { .. } | CameraState::Streaming)
            | Phase::WaitingForKeyframe => "starting",
            Phase::Session(CameraState::Idle) => "hidden",
            Phase::Session(CameraState::Queued { .. }) => "station turn",
            Phase::Session(CameraState::Restarting { .. }) => "restarting",
            Phase::Live => "live",
            Phase::Offline(_) => "offline",
        }
    }

    /// What a tile says in this phase (`None` when live), with the time left where there is
    /// a deadline.
    pub fn describe(&self, now: Instant) -> Option<String> {
        let left = |t: Instant| t.saturating_duration_since(now).as_secs_f64().ceil();
        Some(match self {
            Phase::Connecting => "connecting...".to_owned(),
            Phase::Session(CameraState::LoggingIn) => "server is logging in...".to_owned(),
            Phase::Session(CameraState::Login { what }) => what.clone(),
            Phase::Session(CameraState::Starting { retry: None }) => {
                "starting the stream...".to_owned()
            }
            Phase::Session(CameraState::Starting { retry: Some(r) }) => {
                format!("{}: trying again (try {})", r.reason, r.failures + 1)
            }
            Phase::Session(CameraState::Idle) => "not streamed while hidden".to_owned(),
            Phase::Session(CameraState::Queued { station, next_at }) => match next_at {
                Some(t) => format!(
                    "station {station}: streams one camera at a time, next in {:.0} s",
                    left(*t)
                ),
                None => format!("station {station}: streams one camera at a time, waiting"),
            },
            Phase::Session(CameraState::Restarting {
                reason,
                at,
                failures: 0,
            }) => format!("restarting in {:.0} s: {reason}", left(*at)),
            Phase::Session(CameraState::Restarting { reason, at, .. }) => {
                format!("{reason}: retrying in {:.0} s", left(*at))
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
    /// Its talk back, and since when in that state.
    pub talk: Option<(crate::talk::TalkState, Instant)>,
    /// What it can do besides streaming, once the session said.
    pub caps: Option<crate::eufy::session::Capabilities>,
    /// The last pan/tilt or quick reply asked of it, in words with its outcome, and when.
    pub done: Option<(String, Instant)>,
}

impl CameraStatus {
    /// Its name, or the serial when the server gave none.
    pub fn label<'a>(&'a self, serial: &'a str) -> &'a str {
        self.name.as_deref().unwrap_or(serial)
    }
}

/// Shared statuses, by serial.
pub type Statuses = Arc<Mutex<HashMap<String, CameraStatus>>>;

/// What the feed asks of a camera's decoder: the seam between the pipeline's rules (phases,
/// resets, drops, floods) and FFmpeg. The real one is a [`DecoderThread`]; the unit tests give
/// the feed a fake that writes down what it was asked.
pub(crate) trait CameraDecoder: Send {
    /// Queues a unit, dropping it when the decoder is behind (display).
    fn try_push(&mut self, au: AccessUnit<Instant>);
    /// Queues a unit, waiting for room (benchmarks).
    fn push(&mut self, au: AccessUnit<Instant>);
    /// The stream was interrupted: flush, wait for a keyframe.
    fn reset(&mut self);
    /// Its counters so far.
    fn stats(&self) -> DecodeStats;
    /// Whether it ended on its own; [`CameraDecoder::finish`] says why.
    fn has_ended(&self) -> bool;
    /// Drains and ends it, with its final counters or why it failed.
    fn finish(self: Box<Self>) -> Result<DecodeStats, DecodeError>;
}

impl CameraDecoder for DecoderThread {
    fn try_push(&mut self, au: AccessUnit<Instant>) {
        DecoderThread::try_push(self, au);
    }
    fn push(&mut self, au: AccessUnit<Instant>) {
        DecoderThread::push(self, au);
    }
    fn reset(&mut self) {
        DecoderThread::reset(self);
    }
    fn stats(&self) -> DecodeStats {
        DecoderThread::stats(self)
    }
    fn has_ended(&self) -> bool {
        DecoderThread::has_ended(self)
    }
    fn finish(self: Box<Self>) -> Result<DecodeStats, DecodeError> {
        DecoderThread::finish(*self)
    }
}

/// Starts a camera's decoder (given its serial), on its first access unit.
type StartDecoder = Box<dyn FnMut(&str) -> Result<Box<dyn CameraDecoder>, DecodeError> + Send>;

/// Session events in, decoder threads fed, statuses kept.
pub struct Feed {
    start: StartDecoder,
    ingest: Ingest,
    decoders: HashMap<String, Box<dyn CameraDecoder>>,
    /// Statuses, shared with the display.
    pub statuses: Statuses,
    /// Whether to block when a decoder is behind (benchmarks) instead of dropping.
    pub lossless: bool,
    /// Raw recordings in progress.
    pub recordings: Recordings,
    /// When set, collects each access unit's assembly latency (received → complete), ms,
    /// per camera in order (benchmarks).
    pub assembly_ms: Option<HashMap<String, Vec<f64>>>,
    /// Where the cameras' sound goes, when it plays.
    pub audio: Option<crate::audio::AudioFeed>,
    flood_warnings: crate::throttle::Throttle,
}

impl Feed {
    /// A feed for `serials`; `sink` gives each camera's frame destination.
    pub fn new(
        serials: &[String],
        decoder: DecoderConfig,
        sink: impl Fn(&str) -> FrameSink + Send + 'static,
    ) -> Feed {
        Feed::with_decoders(
            serials,
            Box::new(move |serial| {
                DecoderThread::spawn(serial, decoder.clone(), sink(serial))
                    .map(|d| Box::new(d) as Box<dyn CameraDecoder>)
            }),
        )
    }

    /// A feed for `serials` whose decoders `start` makes.
    fn with_decoders(serials: &[String], start: StartDecoder) -> Feed {
        let statuses: HashMap<String, CameraStatus> = serials
            .iter()
            .map(|s| (s.clone(), CameraStatus::default()))
            .collect();
        Feed {
            start,
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
            audio: None,
            flood_warnings: Default::default(),
        }
    }

    fn status<R>(&self, serial: &str, f: impl FnOnce(&mut CameraStatus) -> R) -> Option<R> {
        let mut all = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
        all.get_mut(serial).map(f)
    }

    /// Handles one session event.
    // Long because it is one match over the session's events, each arm short.
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
                if let Some(d) = self.decoders.get_mut(&serial) {
                    d.reset();
                }
            }
            SessionEvent::Audio {
                serial,
                codec,
                data,
                received_at,
            } => {
                if let Some(a) = &self.audio {
                    a.push(&serial, &codec, &data, received_at);
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
                for d in self.decoders.values_mut() {
                    d.reset();
                }
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
            // Pictures are the display's (the feed decodes video only).
            SessionEvent::Picture { .. } => {}
            SessionEvent::Capabilities { serial, caps } => {
                self.status(&serial, |s| s.caps = Some(caps));
            }
            SessionEvent::Done {
                serial,
                what,
                outcome,
            } => {
                let line = match outcome {
                    Ok(()) => format!("{what}: sent"),
                    Err(why) => format!("{what}: {why}"),
                };
                self.status(&serial, |s| s.done = Some((line, Instant::now())));
            }
            SessionEvent::Talk { serial, state } => {
                self.status(&serial, |s| s.talk = Some((state, Instant::now())));
            }
            other => tracing::debug!(?other, "session event"),
        }
    }

    /// The decoder thread of `serial`, started on its first access unit.
    fn decoder(&mut self, serial: &str) -> Option<&mut Box<dyn CameraDecoder>> {
        if !self.decoders.contains_key(serial) {
            match (self.start)(serial) {
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
        recording::write(&self.recordings, serial, &au);
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

#[cfg(test)]
mod tests;
