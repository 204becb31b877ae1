//! The pipeline measured: the pipeline's driver with the [`Feed`] as its sink on the
//! `bench-feed` thread (every frame counted: the feed waits for a decoder that is behind),
//! the decoders' frames drawn on the `bench-render` thread into an offscreen target or a
//! window, each stage timed on one clock.

use std::collections::HashMap;
use std::sync::mpsc::{sync_channel, Receiver};
use std::time::{Duration, Instant};

use crate::bitstream::annexb::{fnv1a, last_nal};
use crate::decode::{DecodeStats, FrameSink};
use crate::eufy::session::SessionEvent;
use crate::frame::Frame;
use crate::pipeline::drive::{self, Flow, Inputs, Sink};
use crate::pipeline::{CameraStatus, Feed, PipelineError};
use crate::render::window::PumpedWindow;
use crate::render::{
    ColourChoice, ColourPath, Gpu, Offscreen, RenderTimings, Renderer, TileState, TileView,
};
use crate::shutdown::Shutdown;
use crate::simulator::SendLog;

use super::cpu::{cpu_seconds, thread_cpu_seconds, ThreadCpu};
use super::{BenchConfig, BenchError, WARMUP_FRAMES};

/// One frame shown: its stream and the instants of its stages.
pub(super) struct Shown {
    pub stream: usize,
    pub received: Instant,
    pub decoded: Instant,
    pub done: Instant,
}

/// What the threads of a round measured.
pub(super) struct Measured {
    pub render: RenderOut,
    pub feed: FeedOut,
    /// The sound's counters, when it played.
    pub audio: Option<crate::audio::AudioReport>,
    /// When the clients started (before connecting).
    pub started: Instant,
    /// Process CPU seconds over the run.
    pub cpu: Option<f64>,
    /// Each part's CPU seconds when the run started.
    pub threads0: Vec<ThreadCpu>,
}

/// Where the round's frames come from, and where their sound goes.
pub(super) struct Streams {
    /// The pipeline's inputs: a session, or RTSP sources.
    pub inputs: Inputs,
    /// The cameras, in tile order.
    pub serials: Vec<String>,
    /// When the simulator sent each camera's video events.
    pub send_log: SendLog,
}

/// Runs the pipeline until `config.frames` per stream were shown (or the time limit): the
/// driver on `bench-feed` (its session on `runtime`), the render loop on `bench-render`.
pub(super) fn measure(
    config: &BenchConfig,
    runtime: &tokio::runtime::Runtime,
    streams: Streams,
    progress: &(impl Fn(u64, u64) + Send + Sync),
) -> Result<Measured, BenchError> {
    let Streams {
        inputs,
        serials,
        send_log,
    } = streams;
    let index: HashMap<String, usize> = serials
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, s)| (s, i))
        .collect();
    let (frame_tx, frame_rx) = sync_channel::<Frame>(4 * serials.len());
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let render_cfg = render_config(config, serials.len());
    let target_frames = config.frames.max(1) * serials.len() as u64;
    let cpu0 = cpu_seconds();
    let threads0 = thread_cpu_seconds();
    let started = Instant::now();
    let (audio, tuner) = first_stream_sound(config, &serials)?;
    let mut feed = Feed::new(&serials, config.decoder.clone(), move |_| {
        FrameSink::Every(frame_tx.clone())
    });
    feed.lossless = true;
    feed.assembly_ms = Some(HashMap::new());
    feed.audio = audio.as_ref().map(|a| a.feed());
    let sink = BenchSink::new(feed, send_log, config.publish.is_some());
    let (stop, shutdown) = crate::shutdown::channel();
    let (render, feed) = std::thread::scope(|s| {
        let named = |name: &str| std::thread::Builder::new().name(name.to_owned());
        let index = &index;
        let renderer = named("bench-render")
            .spawn_scoped(s, move || {
                render_loop(
                    render_cfg,
                    frame_rx,
                    index,
                    target_frames,
                    done_tx,
                    progress,
                    tuner,
                )
            })
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        let feeder = named("bench-feed")
            .spawn_scoped(s, move || runtime.block_on(sink.run(inputs, shutdown)))
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        // Until enough frames were shown, or the time limit.
        let limit = config.duration.unwrap_or(Duration::from_secs(3600));
        let _ = done_rx.recv_timeout(limit);
        stop.trigger();
        let feed_out = feeder.join();
        let rendered = renderer.join();
        match (rendered, feed_out) {
            (Ok(r), Ok(f)) => Ok((r?, f?)),
            _ => Err(BenchError::Setup("a benchmark thread panicked".into())),
        }
    })?;
    let cpu = cpu_seconds().zip(cpu0).map(|(a, b)| a - b);
    Ok(Measured {
        render,
        feed,
        audio: audio.as_ref().map(|a| a.report()),
        started,
        cpu,
        threads0,
    })
}

/// Where the render thread draws: the streams' tiles at their size (at most 1920x1080), the
/// clip's, or for live streams the first frame's (known when it comes).
fn render_config(config: &BenchConfig, tiles: usize) -> RenderConfig {
    let live = config.live.is_some() || !config.sources.is_empty();
    let size = config.target.or_else(|| {
        let first = config.clip.units.first().filter(|_| !live)?;
        Some(grid_size(tiles, (first.info.width, first.info.height)))
    });
    RenderConfig {
        target: match (config.render, config.window) {
            (false, _) => Target::None,
            (true, false) => Target::Offscreen(size),
            (true, true) => Target::Window,
        },
        tiles,
        colour: config.colour,
    }
}

/// With `--audio`, the first stream's sound on the default device, and what tunes its delay.
fn first_stream_sound(
    config: &BenchConfig,
    serials: &[String],
) -> Result<
    (
        Option<crate::audio::AudioOut>,
        Option<crate::audio::AudioTuner>,
    ),
    BenchError,
> {
    if config.audio.is_none() {
        return Ok((None, None));
    }
    let out = crate::audio::AudioOut::open(1.0)
        .map_err(|e| BenchError::Setup(format!("--audio: {e}")))?;
    out.set_source(serials.first().map(String::as_str));
    let tuner = out.tuner();
    Ok((Some(out), Some(tuner)))
}

/// What the feed thread measured.
pub(super) struct FeedOut {
    /// The decoders' final counters.
    pub decoders: HashMap<String, DecodeStats>,
    /// Received → access unit complete, ms.
    pub assemble_ms: Vec<f64>,
    /// Handed to the server's socket → parsed by the client, ms.
    pub network_ms: Vec<f64>,
    /// Video events received.
    pub events_in: u64,
    /// The cameras' statuses at the end.
    pub statuses: HashMap<String, CameraStatus>,
    /// `--publish`: each video event's arrival → its last slice's name.
    pub keys: HashMap<Instant, u64>,
}

/// The feed as the driver's sink, timing the network stage (against the simulator's send
/// log) and naming units for `--publish`.
struct BenchSink {
    feed: Feed,
    send_log: SendLog,
    name_units: bool,
    network: Vec<f64>,
    keys: HashMap<Instant, u64>,
    /// Video events seen per camera (the index into its send log).
    seen: HashMap<String, usize>,
    events: u64,
}

impl BenchSink {
    fn new(feed: Feed, send_log: SendLog, name_units: bool) -> BenchSink {
        BenchSink {
            feed,
            send_log,
            name_units,
            network: Vec::new(),
            keys: HashMap::new(),
            seen: HashMap::new(),
            events: 0,
        }
    }

    fn on_video(&mut self, serial: &str, data: &[u8], received_at: Instant) {
        self.events += 1;
        if self.name_units {
            self.keys.insert(received_at, fnv1a(last_nal(data)));
        }
        let k = self.seen.entry(serial.to_owned()).or_default();
        let sent = self
            .send_log
            .lock()
            .ok()
            .and_then(|l| l.get(serial).and_then(|v| v.get(*k)).copied());
        if let Some(sent) = sent.filter(|_| *k as u64 >= WARMUP_FRAMES) {
            self.network
                .push(received_at.saturating_duration_since(sent).as_secs_f64() * 1e3);
        }
        *k += 1;
    }

    /// Runs the driver until `shutdown`, then finishes the decoders; fails when the pipeline
    /// or a decoder failed.
    async fn run(mut self, inputs: Inputs, shutdown: Shutdown) -> Result<FeedOut, PipelineError> {
        let ran = drive::run(inputs, &mut self, shutdown).await;
        let statuses = self
            .feed
            .statuses
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        // Like the other stages, without each camera's first units (start-up: until message
        // boundaries are trusted, a unit completes only when the next one starts).
        let assemble = self
            .feed
            .assembly_ms
            .take()
            .unwrap_or_default()
            .into_values()
            .flat_map(|v| v.into_iter().skip(WARMUP_FRAMES as usize))
            .collect();
        let finished = self.feed.finish();
        Ok(FeedOut {
            decoders: ran.and(finished)?,
            assemble_ms: assemble,
            network_ms: self.network,
            events_in: self.events,
            statuses,
            keys: self.keys,
        })
    }
}

impl Sink for BenchSink {
    type Error = PipelineError;

    fn event(&mut self, event: SessionEvent) -> Result<Flow, PipelineError> {
        if let SessionEvent::Video {
            serial,
            received_at,
            data,
        } = &event
        {
            self.on_video(serial, data, *received_at);
        }
        self.feed.on_event(event);
        Ok(Flow::Continue)
    }

    fn tick(&mut self) -> Result<Flow, PipelineError> {
        self.feed.check()?;
        Ok(Flow::Continue)
    }

    fn tick_every(&self) -> Duration {
        Duration::from_millis(100)
    }
}

/// What the render thread measured.
pub(super) struct RenderOut {
    pub shown: Vec<Shown>,
    /// When a flash (a frame much brighter than the one before) of the first stream was
    /// finished.
    pub flashes: Vec<Instant>,
    /// When the last frame of the target was finished.
    pub target_at: Option<Instant>,
    pub gpu: String,
    /// Each thread's CPU seconds then (while every pipeline thread still runs).
    pub threads: Vec<ThreadCpu>,
    /// The colour path, where the renderer's time went, and the time waited for the GPU.
    pub split: Option<(ColourPath, RenderTimings, Option<Duration>)>,
}

/// `tiles` pictures of `(w, h)` in a grid, at most 1920x1080.
fn grid_size(tiles: usize, (w, h): (u32, u32)) -> (u32, u32) {
    let (cols, rows) = crate::layout::grid(tiles);
    ((w * cols).min(1920), (h * rows).min(1080))
}

/// Where the render thread draws.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// Nowhere (`--no-render`).
    None,
    /// An offscreen texture of this size (None: sized by the first frame).
    Offscreen(Option<(u32, u32)>),
    /// A real window (`--window`).
    Window,
}

struct RenderConfig {
    target: Target,
    tiles: usize,
    colour: ColourChoice,
}

/// The render thread's GPU state.
enum Drawing {
    None,
    /// Offscreen, sized by the first frame: not open yet.
    Pending(usize, ColourChoice),
    /// The GPU, the renderer, the target, and the time spent waiting for the GPU.
    Offscreen(Gpu, Box<Renderer>, Box<Offscreen>, Duration),
    Window(Box<PumpedWindow>),
}

impl Drawing {
    fn open(target: Target, tiles: usize, colour: ColourChoice) -> Result<Drawing, BenchError> {
        Ok(match target {
            Target::None => Drawing::None,
            Target::Offscreen(None) => Drawing::Pending(tiles, colour),
            Target::Offscreen(Some((w, h))) => {
                let gpu = Gpu::headless()?;
                let mut renderer = Renderer::with_colour(&gpu, colour);
                renderer.set_tile_count(&gpu, tiles);
                let offscreen = Offscreen::new(&gpu, w, h);
                Drawing::Offscreen(gpu, Box::new(renderer), Box::new(offscreen), Duration::ZERO)
            }
            Target::Window => Drawing::Window(Box::new(PumpedWindow::open(tiles, colour)?)),
        })
    }

    /// Uploads and draws `frame` into tile `stream`, waiting for the GPU to finish. False
    /// when the window was closed.
    fn draw(
        &mut self,
        stream: usize,
        frame: &Frame,
        views: &[TileView],
    ) -> Result<bool, BenchError> {
        if let Drawing::Pending(tiles, colour) = *self {
            let size = grid_size(tiles, (frame.width, frame.height));
            *self = Drawing::open(Target::Offscreen(Some(size)), tiles, colour)?;
        }
        match self {
            Drawing::None | Drawing::Pending(..) => {}
            Drawing::Offscreen(gpu, renderer, offscreen, waited) => {
                renderer.upload(gpu, stream, frame)?;
                renderer.render(gpu, &offscreen.texture, views);
                let t = Instant::now();
                Offscreen::wait(gpu);
                *waited += t.elapsed();
            }
            Drawing::Window(w) => {
                if !w.pump(Duration::ZERO) {
                    return Ok(false);
                }
                if let Some(s) = w.surface() {
                    s.renderer.upload(&s.gpu, stream, frame)?;
                    s.draw(views);
                    Offscreen::wait(&s.gpu);
                }
            }
        }
        Ok(true)
    }

    /// The colour path, the renderer's timings and the time waited for the GPU (offscreen
    /// only: a window's drawing also waits for presentation).
    fn split(&mut self) -> Option<(ColourPath, RenderTimings, Option<Duration>)> {
        match self {
            Drawing::None | Drawing::Pending(..) => None,
            Drawing::Offscreen(_, r, _, waited) => {
                Some((r.colour_path(), r.timings(), Some(*waited)))
            }
            Drawing::Window(w) => w
                .surface()
                .map(|s| (s.renderer.colour_path(), s.renderer.timings(), None)),
        }
    }

    fn gpu_name(&mut self) -> String {
        match self {
            Drawing::None | Drawing::Pending(..) => String::new(),
            Drawing::Offscreen(gpu, _, offscreen, _) => format!(
                "{}, into {}x{} offscreen",
                gpu.description, offscreen.size.0, offscreen.size.1
            ),
            Drawing::Window(w) => w
                .surface()
                .map(|s| format!("{} (window)", s.gpu.description))
                .unwrap_or_default(),
        }
    }
}

/// The render thread's running state: what was shown, and when the target was reached.
struct Rendering<'a, P> {
    shown: Vec<Shown>,
    flashes: Vec<Instant>,
    last_luma: f64,
    target_at: Option<Instant>,
    threads: Vec<ThreadCpu>,
    /// Frames each stream has shown; each shows its share of the target.
    counts: Vec<u64>,
    per_stream: u64,
    target: u64,
    done: std::sync::mpsc::Sender<()>,
    progress: &'a P,
    tuner: Option<crate::audio::AudioTuner>,
}

impl<P: Fn(u64, u64) + Sync> Rendering<'_, P> {
    /// The target is reached (or the window closed): CPU by thread now, while every pipeline
    /// thread still runs, and the round told to stop.
    fn reached(&mut self) {
        self.target_at = Some(Instant::now());
        self.threads = thread_cpu_seconds();
        let _ = self.done.send(());
    }

    /// Records a frame of `stream` finished at `done_at`: flashes (the A/V offset), the
    /// sound's delay by the viewer's rule, progress, and the target.
    fn on_shown(&mut self, stream: usize, frame: &Frame, done_at: Instant) {
        if stream == 0 && self.tuner.is_some() {
            let luma = frame.luma_mean();
            if luma > 128.0 && luma > self.last_luma + 64.0 {
                self.flashes.push(done_at);
            }
            self.last_luma = luma;
        }
        self.shown.push(Shown {
            stream,
            received: frame.received_at,
            decoded: frame.decoded_at,
            done: done_at,
        });
        // The sound follows the picture: its delay comes from the first stream's recent
        // latency from arrival to the screen, by the viewer's rule.
        if let (Some(t), 0) = (&self.tuner, self.shown.len() % 15) {
            let mut recent: Vec<f64> = self
                .shown
                .iter()
                .rev()
                .filter(|s| s.stream == 0)
                .take(30)
                .map(|s| s.done.duration_since(s.received).as_secs_f64() * 1e3)
                .collect();
            recent.sort_by(f64::total_cmp);
            if let Some(m) = recent.get(recent.len() / 2) {
                t.set_delay(crate::audio::delay_for_picture(*m));
            }
        }
        let n = self.shown.len() as u64;
        if n % 10 == 0 || n == self.target {
            (self.progress)(n.min(self.target), self.target);
        }
        if self.counts.iter().all(|&c| c >= self.per_stream) {
            self.reached();
        }
    }
}

fn render_loop(
    RenderConfig {
        target: kind,
        tiles,
        colour,
    }: RenderConfig,
    frames: Receiver<Frame>,
    index: &HashMap<String, usize>,
    target: u64,
    done: std::sync::mpsc::Sender<()>,
    progress: &(impl Fn(u64, u64) + Sync),
    tuner: Option<crate::audio::AudioTuner>,
) -> Result<RenderOut, BenchError> {
    let mut drawing = Drawing::open(kind, tiles, colour)?;
    let views: Vec<TileView> = (0..tiles)
        .map(|i| TileView {
            bar: Vec::new(),
            slot: i,
            highlight: false,
            title: format!("{i}"),
            state: TileState::Live,
            lines: Vec::new(),
        })
        .collect();
    let mut r = Rendering {
        shown: Vec::new(),
        flashes: Vec::new(),
        last_luma: f64::NAN,
        target_at: None,
        threads: Vec::new(),
        counts: vec![0u64; tiles.max(1)],
        per_stream: target / tiles.max(1) as u64,
        target,
        done,
        progress,
        tuner,
    };
    while let Ok(frame) = frames.recv() {
        let stream = index.get(&*frame.stream).copied().unwrap_or(0);
        // Each stream shows its share; a stream that has it drains until the others catch up.
        if r.target_at.is_some() || r.counts.get(stream).is_none_or(|&c| c >= r.per_stream) {
            continue;
        }
        if let Some(c) = r.counts.get_mut(stream) {
            *c += 1;
        }
        if !drawing.draw(stream, &frame, &views)? {
            // The window was closed: the run ends with what was shown.
            tracing::warn!("the benchmark window was closed; stopping");
            r.reached();
            continue;
        }
        r.on_shown(stream, &frame, Instant::now());
    }
    Ok(RenderOut {
        gpu: drawing.gpu_name(),
        split: drawing.split(),
        shown: r.shown,
        flashes: r.flashes,
        target_at: r.target_at,
        threads: r.threads,
    })
}
