//! One simulated livestream: a (connection, camera) pair's task, from `livestream started`
//! to its end, as a camera behind the real server behaves — announce, hold a frame, pace,
//! send its audio at its own times, cut off, end — with the framing ([`RandomCuts`]) and
//! audio ([`AudioClock`]) pieces beside it.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::serve::{device_event, Conn, Out};
use super::{Camera, Chunking, Shared, SimConfig};
use crate::clip::Clip;
use crate::eufy::protocol::events;

fn metadata_json(unit: &crate::clip::ClipUnit, fps: f64) -> Arc<str> {
    json!({
        "videoCodec": unit.info.codec.protocol_name(),
        "videoFPS": fps.round() as u64,
        "videoHeight": unit.info.height,
        "videoWidth": unit.info.width,
    })
    .to_string()
    .into()
}

/// The random cuts of one stream ([`Chunking::Random`]): bytes in, chunks out, reproducible
/// from the seed.
struct RandomCuts {
    rng: SmallRng,
    max: usize,
    pending: Vec<u8>,
    next_cut: usize,
}

impl RandomCuts {
    fn new(seed: u64, max: usize) -> RandomCuts {
        RandomCuts {
            rng: SmallRng::seed_from_u64(seed),
            max: max.max(1),
            pending: Vec::new(),
            next_cut: 0,
        }
    }

    /// Adds `bytes`; returns the chunks now cut (what is shorter than the next cut waits).
    fn push(&mut self, bytes: &[u8]) -> Vec<Arc<[u8]>> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            if self.next_cut == 0 {
                // Many small cuts (to split start codes) and some large ones.
                self.next_cut = if self.rng.random_bool(0.25) {
                    self.rng.random_range(1..=16.min(self.max))
                } else {
                    self.rng.random_range(1..=self.max)
                };
            }
            if self.pending.len() < self.next_cut {
                return out;
            }
            out.push(
                self.pending
                    .drain(..self.next_cut)
                    .collect::<Vec<u8>>()
                    .into(),
            );
            self.next_cut = 0;
        }
    }

    /// What waits for the next cut, at the end of a stream.
    fn rest(&mut self) -> Option<Arc<[u8]>> {
        (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending).into())
    }
}

/// A stream's audio: ADTS frames of 1024 samples (looped), each sent once the video clock
/// passes its time.
struct AudioClock {
    frames: Arc<Vec<Arc<[u8]>>>,
    secs: f64,
    sent: u64,
    /// Video time at which the audio starts, s.
    start: f64,
}

impl AudioClock {
    /// Audio for a stream joined at video frame `first` of `frame_secs` each, starting
    /// `start` seconds into the video.
    fn new(
        frames: Arc<Vec<Arc<[u8]>>>,
        first: u64,
        frame_secs: f64,
        start: f64,
    ) -> Option<AudioClock> {
        let secs = frames
            .first()
            .and_then(|f| crate::bitstream::adts::parse_header(f))
            .map(|h| 1024.0 / f64::from(h.sample_rate().max(1)))?;
        Some(AudioClock {
            frames,
            secs,
            sent: ((first as f64 * frame_secs - start).max(0.0) / secs.max(1e-3)) as u64,
            start,
        })
    }

    /// The video time (s) when the next frame is due: when its last sample was captured.
    fn next_at(&self) -> f64 {
        self.start + (self.sent as f64 + 1.0) * self.secs
    }

    /// The frames due by `video_time` seconds.
    fn due(&mut self, video_time: f64) -> Vec<Arc<[u8]>> {
        let mut out = Vec::new();
        while self.start + (self.sent as f64 + 1.0) * self.secs <= video_time {
            out.push(self.frames[(self.sent % self.frames.len() as u64) as usize].clone());
            self.sent += 1;
        }
        out
    }
}

/// One (connection, camera) stream.
struct Stream {
    out: mpsc::Sender<Out>,
    serial: Arc<str>,
    run: u64,
    clip: Arc<Clip>,
    st: Arc<Shared>,
    cfg: SimConfig,
    /// Between frames, when paced.
    interval: Option<Duration>,
    /// Frames per second for the metadata (0 unpaced).
    fps: f64,
    /// Seconds a frame lasts, for the audio clock (15 fps unpaced).
    nominal: f64,
    /// The camera's run began: frame k is captured at `t0 + k * interval`.
    t0: Instant,
    /// When this connection's stream starts (`livestream started`).
    started_at: Instant,
    cuts: Option<RandomCuts>,
    audio: Option<AudioClock>,
}

/// Starts the task of `camera`'s stream on `conn`, part of the camera's run `run` (begun at
/// `t0`), from `started_at`; `announce` sends `livestream started` first.
pub(super) fn spawn_stream(
    st: &Arc<Shared>,
    conn: &Conn,
    camera: &Camera,
    run: u64,
    t0: Instant,
    started_at: Instant,
    announce: bool,
) -> JoinHandle<()> {
    let clip = camera.clip.clone();
    let interval = st.interval(&clip);
    let cfg = st.config.clone();
    // A joining client starts at the next frame the camera captures; the starter at frame 0.
    let first = match interval {
        Some(iv) => {
            (Instant::now().saturating_duration_since(t0).as_secs_f64() / iv.as_secs_f64()) as u64
        }
        None => 0,
    };
    let cuts = match cfg.chunking {
        Chunking::Random { seed, max } => Some(RandomCuts::new(
            seed ^ conn.id.wrapping_mul(0x9e37_79b9),
            max,
        )),
        Chunking::AccessUnit => None,
    };
    let nominal = interval.map_or(1.0 / 15.0, |iv| iv.as_secs_f64());
    let audio = cfg
        .audio
        .clone()
        .filter(|a| !a.is_empty())
        .and_then(|a| AudioClock::new(a, first, nominal, cfg.audio_delay.as_secs_f64()));
    let stream = Stream {
        out: conn.out_tx.clone(),
        serial: camera.serial.as_str().into(),
        run,
        clip,
        st: st.clone(),
        cfg,
        interval,
        fps: interval.map_or(0.0, |iv| 1.0 / iv.as_secs_f64()),
        nominal,
        t0,
        started_at,
        cuts,
        audio,
    };
    tokio::spawn(stream.run(first, announce))
}

impl Stream {
    /// Sends `msg`; false when the connection has gone.
    async fn send(&self, msg: Out) -> bool {
        self.out.send(msg).await.is_ok()
    }

    fn video(&self, bytes: Arc<[u8]>, metadata: Arc<str>, array: Option<Arc<str>>) -> Out {
        Out::Video {
            serial: self.serial.clone(),
            bytes,
            metadata,
            array,
        }
    }

    fn ended(&self) -> Out {
        Out::Ended {
            serial: self.serial.to_string(),
            run: self.run,
        }
    }

    /// From frame `first` (and the announcement) to the end.
    async fn run(mut self, first: u64, announce: bool) {
        if announce {
            tokio::time::sleep_until(self.started_at).await;
            let started = Out::Text(device_event(events::STARTED, &self.serial));
            if !self.send(started).await {
                return;
            }
        }
        let n = self.clip.units.len() as u64;
        if n == 0 {
            return;
        }
        let hold = u64::from(self.cfg.realistic);
        let mut k = first;
        loop {
            // The real server holds frame k until frame k+1 arrives: the last is never sent.
            if !self.cfg.looping && k + hold >= n {
                self.end_of_clip(k, n).await;
                return;
            }
            let due = self
                .interval
                .map(|iv| (self.t0 + iv.mul_f64((k + hold) as f64)).max(self.started_at));
            // The camera ends its stream by itself.
            if let Some(cut_at) = self.cfg.cutoff.map(|c| self.started_at + c) {
                if due.unwrap_or_else(Instant::now) >= cut_at {
                    tokio::time::sleep_until(cut_at).await;
                    let _ = self.send(self.ended()).await;
                    return;
                }
            }
            if let Some(due) = due {
                if !self.audio_before(due).await {
                    return;
                }
                tokio::time::sleep_until(due).await;
            }
            if !self.send_frame(k, n).await {
                return;
            }
            k += 1;
        }
    }

    /// A non-looping clip has ended at frame `k`: what random cuts held back of the last
    /// unit goes out as it came (the real server passes on whatever the camera sent), then
    /// `livestream stopped` after the end timeout.
    async fn end_of_clip(&mut self, k: u64, n: u64) {
        if let Some(rest) = self.cuts.as_mut().and_then(RandomCuts::rest) {
            let metadata = metadata_json(&self.clip.units[((k + n - 1) % n) as usize], self.fps);
            if !self.send(self.video(rest, metadata, None)).await {
                return;
            }
        }
        tokio::time::sleep(self.cfg.end_timeout).await;
        let _ = self.send(self.ended()).await;
    }

    /// Audio frames go out at their own times, between the video frames (a camera sends
    /// each once captured): those due before the video frame due at `due`. False when the
    /// connection has gone.
    async fn audio_before(&mut self, due: Instant) -> bool {
        while let Some(a) = self.audio.as_mut() {
            let at = self.t0 + Duration::from_secs_f64(a.next_at());
            if at >= due {
                break;
            }
            tokio::time::sleep_until(at.max(self.started_at)).await;
            let frames = a.due(a.next_at());
            for bytes in frames {
                let msg = Out::Audio {
                    serial: self.serial.clone(),
                    bytes,
                };
                if !self.send(msg).await {
                    return false;
                }
            }
        }
        true
    }

    /// Video frame `k` (of `n` in the clip, looped), after the audio captured by its time
    /// (paced runs sent it already, at its own times): whole, or in random cuts. False when
    /// the connection has gone.
    async fn send_frame(&mut self, k: u64, n: u64) -> bool {
        let index = (k % n) as usize;
        let unit = self.clip.units[index].clone();
        let metadata = metadata_json(&unit, self.fps);
        let video_time = k as f64 * self.nominal;
        let audio = self
            .audio
            .as_mut()
            .map(|a| a.due(video_time))
            .unwrap_or_default();
        for bytes in audio {
            let msg = Out::Audio {
                serial: self.serial.clone(),
                bytes,
            };
            if !self.send(msg).await {
                return false;
            }
        }
        let Some(cuts) = self.cuts.as_mut() else {
            let array = self.st.encoded_array(&self.clip, index);
            return self.send(self.video(unit.data, metadata, array)).await;
        };
        for chunk in cuts.push(&unit.data) {
            if !self.send(self.video(chunk, metadata.clone(), None)).await {
                return false;
            }
        }
        true
    }
}
