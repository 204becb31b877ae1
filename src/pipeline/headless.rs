//! Decoding without a window (`--headless`, or no display): the [`Feed`] as a
//! [`drive::Sink`], every frame counted, a progress report per camera at an interval.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{sync_channel, Receiver};
use std::time::{Duration, Instant};

use super::drive::{self, Flow, Inputs, Sink};
use super::{CameraStatus, Feed, PipelineError};
use crate::decode::{DecodeStats, DecoderConfig, FrameSink};
use crate::eufy::session::{SessionConfig, SessionEvent};
use crate::frame::Frame;
use crate::shutdown::Shutdown;

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
    pub latencies_ms: VecDeque<f64>,
}

/// Latencies kept per camera.
const KEPT_LATENCIES: usize = 10_000;

/// One more frame of its camera.
fn count(totals: &mut HashMap<String, CameraTotals>, f: &Frame) {
    let t = totals.entry(f.stream.to_string()).or_default();
    t.frames += 1;
    t.size = Some((f.width, f.height));
    if t.latencies_ms.len() >= KEPT_LATENCIES {
        t.latencies_ms.pop_front();
    }
    t.latencies_ms
        .push_back(f.decoded_at.duration_since(f.received_at).as_secs_f64() * 1e3);
}

/// The feed, its frames counted, progress reported.
struct Headless<F> {
    feed: Feed,
    frames: Receiver<Frame>,
    totals: HashMap<String, CameraTotals>,
    /// Frames per camera at the last report.
    reported: HashMap<String, u64>,
    last_report: Instant,
    every: Duration,
    progress: F,
}

impl<F: FnMut(&str, &CameraTotals, f64)> Headless<F> {
    /// Counts the frames the decoders have put out.
    fn count_frames(&mut self) {
        while let Ok(f) = self.frames.try_recv() {
            count(&mut self.totals, &f);
        }
    }

    /// `progress` for each camera, in serial order.
    fn report(&mut self) {
        let secs = self.last_report.elapsed().as_secs_f64();
        self.last_report = Instant::now();
        let statuses = self
            .feed
            .statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut names: Vec<&String> = statuses.keys().collect();
        names.sort();
        for name in names {
            let t = self.totals.entry(name.clone()).or_default();
            t.status = statuses[name].clone();
            let prev = self.reported.insert(name.clone(), t.frames).unwrap_or(0);
            (self.progress)(name, t, (t.frames - prev) as f64 / secs.max(1e-3));
        }
    }
}

impl<F: FnMut(&str, &CameraTotals, f64)> Sink for Headless<F> {
    type Error = PipelineError;

    fn event(&mut self, event: SessionEvent) -> Result<Flow, PipelineError> {
        self.feed.on_event(event);
        Ok(Flow::Continue)
    }

    fn tick(&mut self) -> Result<Flow, PipelineError> {
        self.count_frames();
        self.feed.check()?;
        if self.last_report.elapsed() >= self.every {
            self.report();
        }
        Ok(Flow::Continue)
    }

    fn tick_every(&self) -> Duration {
        Duration::from_millis(50)
    }
}

/// Runs the session and the decoders until `shutdown` (or a fatal error), without a window;
/// calls `progress` per camera every `report` interval.
pub async fn run_headless(
    config: SessionConfig,
    decoder: DecoderConfig,
    shutdown: Shutdown,
    report: Duration,
    progress: impl FnMut(&str, &CameraTotals, f64),
) -> Result<HashMap<String, CameraTotals>, PipelineError> {
    let (frame_tx, frames) = sync_channel::<Frame>(256);
    let feed = Feed::new(&config.serials, decoder, move |_| {
        FrameSink::Every(frame_tx.clone())
    });
    let mut sink = Headless {
        feed,
        frames,
        totals: HashMap::new(),
        reported: HashMap::new(),
        last_report: Instant::now(),
        every: report,
        progress,
    };
    let result = drive::run(Inputs::session(config), &mut sink, shutdown).await;
    let Headless {
        feed,
        frames,
        mut totals,
        ..
    } = sink;
    let statuses = feed.statuses.clone();
    let decoders = finish_counting(feed, &frames, &mut totals)?;
    for (name, s) in statuses.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let t = totals.entry(name.clone()).or_default();
        t.status = s.clone();
        if let Some(d) = decoders.get(name) {
            t.status.decoder = d.clone();
        }
    }
    result.map(|()| totals)
}

/// Finishes the decoders while counting the frames they drain into the channel.
fn finish_counting(
    feed: Feed,
    frames: &Receiver<Frame>,
    totals: &mut HashMap<String, CameraTotals>,
) -> Result<HashMap<String, DecodeStats>, PipelineError> {
    let drain = |totals: &mut HashMap<String, CameraTotals>| {
        while let Ok(f) = frames.try_recv() {
            count(totals, &f);
        }
    };
    let finished = std::thread::scope(|s| {
        let h = s.spawn(|| feed.finish());
        while !h.is_finished() {
            drain(totals);
            std::thread::sleep(Duration::from_millis(1));
        }
        h.join()
    });
    drain(totals);
    match finished {
        Ok(r) => r,
        Err(_) => Ok(HashMap::new()),
    }
}
