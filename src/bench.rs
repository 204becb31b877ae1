//! `eufy-hw bench`: frames per second and latency of the whole pipeline, per stage, with
//! FFmpeg alone on the same clip as the baseline in the same run.
//!
//! The pipeline: the simulator in-process on loopback (or a live server), the real client
//! over a real WebSocket, JSON and buffer decoding, access units, one decoder thread per
//! stream, plane upload and the YUV→RGB shader into an offscreen target, waiting for the GPU
//! to finish each frame. The baseline: the same decoder settings decoding the same access
//! units from memory, one thread per stream, nothing else.
//!
//! Stages, per frame, on one clock (`Instant`):
//! - `network`: the simulator hands the event to its socket (after its JSON encoding) →
//!   the client has read and parsed it (one event per access unit only);
//! - `assemble`: received → access unit complete;
//! - `decode`: received → frame out of the decoder (includes the decoder queue);
//! - `render`: frame decoded → uploaded, converted and finished on the GPU;
//! - `end_to_end`: received → finished on the GPU.
//!
//! JSON report (`--json`), schema version 1: see [`Report`]; every duration in ms.

use std::collections::HashMap;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::bitstream::AccessUnit;
use crate::clip::Clip;
use crate::decode::{DecodeError, Decoder, DecoderConfig, FrameSink};
use crate::eufy::session::{run_session, SessionConfig, SessionEvent};
use crate::eufy::simulator::{Camera, Chunking, Pacing, SendLog, SimConfig, Simulator};
use crate::frame::Frame;
use crate::pipeline::{Feed, PipelineError};
use crate::render::{Gpu, Offscreen, RenderError, Renderer, TileState, TileView};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The clip (simulator mode).
    pub clip: Arc<Clip>,
    /// Simulated cameras.
    pub streams: usize,
    /// Decoders.
    pub decoder: DecoderConfig,
    /// As fast as possible (throughput) instead of paced at `fps` (latency).
    pub unpaced: bool,
    /// Pace (default: the clip's rate, else 15).
    pub fps: Option<f64>,
    /// Frames per stream to show (default 300).
    pub frames: u64,
    /// Stop after this long even if fewer frames were shown.
    pub duration: Option<Duration>,
    /// Render on the GPU (or stop after decoding).
    pub render: bool,
    /// Render into a real 1280x720 window instead of an offscreen target.
    pub window: bool,
    /// Offscreen target size (None: the streams' tiles at the clip's size, at most 1920x1080).
    pub target: Option<(u32, u32)>,
    /// Cut events at random instead of one per access unit.
    pub random_chunks: bool,
    /// Measure a live server (URL, serials) instead of the simulator; no baseline.
    pub live: Option<(String, Vec<String>)>,
    /// Pipeline-then-baseline rounds; the report is the round with the median ratio (the
    /// median fps for paced runs), with every round listed.
    pub rounds: usize,
    /// Simulator streams end by themselves this long after they start (cut-offs, bridged by
    /// restarts; the gaps are reported).
    pub cutoff: Option<Duration>,
    /// With `live`: how long to wait for a server still logging in.
    pub wait_server: Duration,
}

/// Latency percentiles of one stage, ms.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Percentiles {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    /// From samples (ms).
    pub fn of(samples: &[f64]) -> Percentiles {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Percentiles::default();
        }
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        Percentiles {
            count: v.len(),
            p50: at(0.5),
            p95: at(0.95),
            p99: at(0.99),
            max: v[v.len() - 1],
        }
    }
}

/// Latency per stage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stages {
    /// Server send → received and parsed.
    pub network: Percentiles,
    /// Received → access unit.
    pub assemble: Percentiles,
    /// Received → decoded.
    pub decode: Percentiles,
    /// Decoded → finished on the GPU.
    pub render: Percentiles,
    /// Received → finished on the GPU.
    pub end_to_end: Percentiles,
}

/// The benchmark's result (`--json`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Schema version of this report.
    pub schema: u32,
    /// Clip name.
    pub clip: String,
    /// Codec, size.
    pub video: String,
    /// Streams.
    pub streams: usize,
    /// `unpaced` or `paced at N fps`.
    pub mode: String,
    /// Decoder path(s) used.
    pub decoder_path: Vec<String>,
    /// GPU adapter (empty without rendering).
    pub gpu: String,
    /// Video events received.
    pub events_in: u64,
    /// Access units assembled.
    pub access_units: u64,
    /// Frames decoded.
    pub frames_decoded: u64,
    /// Frames uploaded, converted and finished on the GPU.
    pub frames_shown: u64,
    /// Access units or frames dropped or failed in the decoders (frames decoded after the
    /// target was reached, while the pipeline stops, are not shown and not counted here).
    pub frames_dropped: u64,
    /// Wall time of the measured part, s.
    pub seconds: f64,
    /// Frames shown per second, all streams.
    pub fps: f64,
    /// The baseline's frames per second (FFmpeg alone, same streams and settings).
    pub baseline_fps: Option<f64>,
    /// The baseline's time per decoded access unit, ms.
    pub baseline_decode_ms: Percentiles,
    /// `fps / baseline_fps`, for unpaced runs (a paced run's fps is the pace).
    pub ratio: Option<f64>,
    /// Frames per stream left out of the latency figures (decoder start-up).
    pub warmup_frames: u64,
    /// From the start (before connecting) to each stream's first frame finished on the GPU,
    /// ms, the slowest stream: connection, handshake, stream start, first keyframe, decoder
    /// opening (hardware probing included), upload and draw.
    pub first_frame_ms: Option<f64>,
    /// CPU seconds (user + system) per shown frame, the whole process.
    pub cpu_ms_per_frame: Option<f64>,
    /// CPU ms per shown frame by part of the program (threads grouped by name).
    pub cpu_ms_per_frame_by_part: CpuParts,
    /// Peak resident memory, MiB.
    pub peak_rss_mib: Option<f64>,
    /// Every round's throughput (one entry unless `--rounds`).
    pub rounds: Vec<Round>,
    /// Interruptions of the pictures (cut-offs, station turns, reconnects), all streams:
    /// how many, the longest and the total.
    pub gaps: crate::ingest::Gaps,
    /// Latency per stage.
    pub latency_ms: Stages,
    /// End-to-end latency of each shown frame, in order (for plots).
    pub timeline: Vec<(f64, f64)>,
}

/// CPU ms per shown frame by part: where the pipeline's time goes besides decoding.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CpuParts {
    /// The in-process simulator (the server's side: `bench-sim`).
    pub simulator: f64,
    /// The client: WebSocket, JSON and buffer decoding, access units (`bench-io`,
    /// `bench-feed`).
    pub client: f64,
    /// FFmpeg, its own threads included (`decode-*`).
    pub decoder: f64,
    /// Everything else: upload and draw (`bench-render`), the GPU driver's threads
    /// (llvmpipe renders on the CPU), start-up.
    pub other: f64,
}

/// One pipeline run and the baseline run after it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Round {
    /// Pipeline frames per second.
    pub fps: f64,
    /// Baseline frames per second.
    pub baseline_fps: Option<f64>,
    /// `fps / baseline_fps` (unpaced runs).
    pub ratio: Option<f64>,
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Runtime, threads, sockets.
    #[error("{0}")]
    Setup(String),
    /// Rendering.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// Decoding (e.g. --accel-strict).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The pipeline.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The window (`--window`).
    #[error(transparent)]
    Window(#[from] crate::view::ViewError),
}

/// User + system CPU seconds from a `/proc/.../stat` file (process or thread).
fn stat_cpu_seconds(path: &std::path::Path) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

fn cpu_seconds() -> Option<f64> {
    stat_cpu_seconds(std::path::Path::new("/proc/self/stat"))
}

/// CPU seconds of each live thread of this process, by thread name: from `schedstat`
/// (nanoseconds on the CPU) where the kernel has it, else from `stat` (10 ms ticks).
fn thread_cpu_seconds() -> Vec<(String, f64)> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|task| {
            let name = std::fs::read_to_string(task.path().join("comm")).ok()?;
            let from_schedstat = std::fs::read_to_string(task.path().join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
                .map(|ns| ns / 1e9);
            let secs = from_schedstat.or_else(|| stat_cpu_seconds(&task.path().join("stat")))?;
            Some((name.trim_end().to_owned(), secs))
        })
        .collect()
}

impl CpuParts {
    /// CPU ms per frame between two snapshots of CPU seconds.
    fn per_frame_since(&self, before: &CpuParts, frames: u64) -> CpuParts {
        let f = |now: f64, then: f64| (now - then) * 1e3 / frames.max(1) as f64;
        CpuParts {
            simulator: f(self.simulator, before.simulator),
            client: f(self.client, before.client),
            decoder: f(self.decoder, before.decoder),
            other: f(self.other, before.other),
        }
    }
}

/// Sums thread CPU seconds into parts, by the names this program gives its threads.
fn cpu_parts(threads: &[(String, f64)]) -> CpuParts {
    let mut p = CpuParts::default();
    for (name, secs) in threads {
        let part = if name.starts_with("decode-") {
            &mut p.decoder
        } else if name == "bench-sim" {
            &mut p.simulator
        } else if name == "bench-io" || name == "bench-feed" {
            &mut p.client
        } else {
            &mut p.other
        };
        *part += secs;
    }
    p
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Frames per stream left out of latency figures: the decoder's start (device probing,
/// first keyframe) is not the steady state a viewer lives in.
pub const WARMUP_FRAMES: u64 = 10;

struct Shown {
    stream: usize,
    received: Instant,
    decoded: Instant,
    done: Instant,
}

/// Runs the benchmark: `config.rounds` rounds of the pipeline, each followed by the
/// baseline, so that a drift in the machine's speed hits both sides of a ratio alike.
/// `progress(shown, target)` is called as frames are shown.
pub fn run(
    config: &BenchConfig,
    progress: impl Fn(u64, u64) + Send + Sync,
) -> Result<Report, BenchError> {
    let mut reports = Vec::new();
    for _ in 0..config.rounds.max(1) {
        reports.push(run_round(config, &progress)?);
    }
    let rounds: Vec<Round> = reports
        .iter()
        .map(|r| Round {
            fps: r.fps,
            baseline_fps: r.baseline_fps,
            ratio: r.ratio,
        })
        .collect();
    reports.sort_by(|a, b| {
        a.ratio
            .unwrap_or(a.fps)
            .total_cmp(&b.ratio.unwrap_or(b.fps))
    });
    let mut median = reports.swap_remove(reports.len() / 2);
    median.rounds = rounds;
    Ok(median)
}

fn one_thread_runtime(name: &str) -> Result<tokio::runtime::Runtime, BenchError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(|e| BenchError::Setup(e.to_string()))
}

/// One pipeline run, then the baseline.
fn run_round(
    config: &BenchConfig,
    progress: &(impl Fn(u64, u64) + Send + Sync),
) -> Result<Report, BenchError> {
    // The client's runtime, and the simulator's own (its CPU is the server's, not ours).
    let runtime = one_thread_runtime("bench-io")?;
    let sim_runtime = one_thread_runtime("bench-sim")?;
    let clip_fps = config.fps.or(config.clip.fps()).unwrap_or(15.0);
    let send_log: SendLog = Arc::new(Mutex::new(HashMap::new()));
    let (sim, session) = match &config.live {
        Some((url, serials)) => (
            None,
            SessionConfig {
                wait_server: Some(config.wait_server),
                ..SessionConfig::new(url.clone(), serials.clone())
            },
        ),
        None => {
            let cameras: Vec<Camera> = (1..=config.streams.max(1))
                .map(|i| Camera {
                    serial: format!("BENCH{i:03}"),
                    clip: config.clip.clone(),
                })
                .collect();
            let serials = cameras.iter().map(|c| c.serial.clone()).collect();
            let sim = sim_runtime
                .block_on(Simulator::start(SimConfig {
                    cameras,
                    pacing: if config.unpaced {
                        Pacing::Unpaced
                    } else {
                        Pacing::Fps(clip_fps)
                    },
                    realistic: false,
                    chunking: if config.random_chunks {
                        Chunking::Random {
                            seed: 1,
                            max: 65536,
                        }
                    } else {
                        Chunking::AccessUnit
                    },
                    send_log: Some(send_log.clone()),
                    cutoff: config.cutoff,
                    ..SimConfig::default()
                }))
                .map_err(|e| BenchError::Setup(format!("cannot start the simulator: {e}")))?;
            let url = sim.url();
            let session = SessionConfig {
                // Cut-offs are bridged as soon as the simulator allows.
                restart_pause: Duration::from_millis(100),
                ..SessionConfig::new(url, serials)
            };
            (Some(sim), session)
        }
    };
    let serials = session.serials.clone();
    let index: HashMap<String, usize> = serials
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, s)| (s, i))
        .collect();
    let target_frames = config.frames.max(1) * serials.len() as u64;
    let size = config.target.unwrap_or_else(|| {
        let (cols, rows) = crate::render::layout::grid(serials.len());
        let (w, h) = config
            .clip
            .units
            .first()
            .map_or((1280, 720), |u| (u.info.width, u.info.height));
        ((w * cols).min(1920), (h * rows).min(1080))
    });

    // Render thread: frames in, GPU work, timings out.
    let (frame_tx, frame_rx) = sync_channel::<Frame>(4 * serials.len());
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let render_cfg = RenderConfig {
        target: match (config.render, config.window) {
            (false, _) => Target::None,
            (true, false) => Target::Offscreen(size),
            (true, true) => Target::Window,
        },
        tiles: serials.len(),
    };
    let idx = index.clone();
    let (stop_tx, stop_rx) = watch::channel(false);
    let cpu0 = cpu_seconds();
    let threads0 = cpu_parts(&thread_cpu_seconds());
    let started = Instant::now();

    // A short queue: in unpaced runs, backpressure reaches the simulator instead of events
    // piling up (which would only measure queueing).
    let (tx, rx) = mpsc::channel::<SessionEvent>(8);
    let session_task = runtime.spawn(run_session(session, tx, stop_rx));
    let mut feed = Feed::new(&serials, config.decoder.clone(), move |_| {
        FrameSink::Every(frame_tx.clone())
    });
    feed.lossless = true;
    feed.assembly_ms = Some(HashMap::new());

    let (
        RenderOut {
            shown,
            target_at,
            gpu: gpu_name,
            threads,
        },
        feed_out,
    ) = std::thread::scope(|s| {
        let named = |name: &str| std::thread::Builder::new().name(name.to_owned());
        let renderer = named("bench-render")
            .spawn_scoped(s, move || {
                render_loop(render_cfg, frame_rx, &idx, target_frames, done_tx, progress)
            })
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        let feeder = named("bench-feed")
            .spawn_scoped(s, move || feed_loop(feed, rx, &send_log))
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        // Until enough frames were shown, or the time limit.
        let limit = config.duration.unwrap_or(Duration::from_secs(3600));
        let _ = done_rx.recv_timeout(limit);
        let _ = stop_tx.send(true);
        let feed_out = feeder.join();
        let rendered = renderer.join();
        match (rendered, feed_out) {
            (Ok(r), Ok(f)) => r.map(|r| (r, f)),
            _ => Err(BenchError::Setup("a benchmark thread panicked".into())),
        }
    })?;
    let seconds = target_at
        .unwrap_or_else(Instant::now)
        .duration_since(started)
        .as_secs_f64();
    let cpu = cpu_seconds().zip(cpu0).map(|(a, b)| a - b);
    let _ = runtime.block_on(session_task);
    if let Some(sim) = sim {
        sim_runtime.block_on(sim.shutdown());
    }
    let (feed_result, assemble_ms, network_ms, events_in, statuses) = feed_out;
    let decoder_stats = feed_result?;

    // Baseline: the same decoders on the same access units, nothing around them.
    let frames_per_stream = (shown.len() as u64 / serials.len() as u64).max(1);
    let (baseline_fps, baseline_decode_ms) = match config.live {
        Some(_) => (None, Percentiles::default()),
        None => {
            let (fps, times) = baseline(
                &config.clip,
                &config.decoder,
                serials.len(),
                frames_per_stream,
            )?;
            (Some(fps), Percentiles::of(&times))
        }
    };

    let mut decode_ms = Vec::new();
    let mut render_ms = Vec::new();
    let mut e2e_ms = Vec::new();
    let mut timeline = Vec::new();
    let mut per_stream = vec![0u64; serials.len()];
    let mut first = vec![None; serials.len()];
    for f in &shown {
        let k = per_stream.get_mut(f.stream).map(|k| {
            *k += 1;
            *k
        });
        if let (Some(1), Some(slot)) = (k, first.get_mut(f.stream)) {
            *slot = Some(f.done.duration_since(started).as_secs_f64() * 1e3);
        }
        if k.is_none_or(|k| k <= WARMUP_FRAMES) {
            continue;
        }
        decode_ms.push(f.decoded.duration_since(f.received).as_secs_f64() * 1e3);
        render_ms.push(f.done.duration_since(f.decoded).as_secs_f64() * 1e3);
        let e2e = f.done.duration_since(f.received).as_secs_f64() * 1e3;
        e2e_ms.push(e2e);
        timeline.push((f.done.duration_since(started).as_secs_f64(), e2e));
    }
    let first_frame_ms = first
        .iter()
        .copied()
        .collect::<Option<Vec<f64>>>()
        .and_then(|v| v.into_iter().reduce(f64::max));
    let shown_n = shown.len() as u64;
    let fps = shown_n as f64 / seconds.max(1e-9);
    let access_units: u64 = statuses.values().map(|s| s.access_units).sum();
    let frames_decoded: u64 = decoder_stats.values().map(|d| d.frames_out).sum();
    let dropped: u64 = decoder_stats
        .values()
        .map(|d| d.dropped_behind + d.dropped_before_keyframe + d.unsupported_frames + d.errors)
        .sum::<u64>();
    let mut paths: Vec<String> = decoder_stats.values().map(|d| d.path.clone()).collect();
    paths.sort();
    paths.dedup();
    let info = config.clip.units.first().map(|u| u.info);
    Ok(Report {
        schema: 1,
        clip: config.clip.name.clone(),
        video: info.map_or_else(String::new, |i| {
            format!("{} {} {}x{}", i.codec, i.profile_name(), i.width, i.height)
        }),
        streams: serials.len(),
        mode: if config.unpaced {
            "unpaced".into()
        } else {
            format!("paced at {clip_fps:.0} fps")
        },
        decoder_path: paths,
        gpu: gpu_name,
        events_in,
        access_units,
        frames_decoded,
        frames_shown: shown_n,
        frames_dropped: dropped,
        seconds,
        fps,
        baseline_fps,
        baseline_decode_ms,
        ratio: baseline_fps.filter(|_| config.unpaced).map(|b| fps / b),
        warmup_frames: WARMUP_FRAMES,
        first_frame_ms,
        cpu_ms_per_frame: cpu.map(|c| c * 1e3 / shown_n.max(1) as f64),
        cpu_ms_per_frame_by_part: cpu_parts(&threads).per_frame_since(&threads0, shown_n),
        peak_rss_mib: peak_rss_mib(),
        rounds: Vec::new(),
        gaps: statuses
            .values()
            .fold(crate::ingest::Gaps::default(), |a, s| crate::ingest::Gaps {
                count: a.count + s.gaps.count,
                last_secs: s.gaps.last_secs.max(a.last_secs),
                longest_secs: a.longest_secs.max(s.gaps.longest_secs),
                total_secs: a.total_secs + s.gaps.total_secs,
            }),
        latency_ms: Stages {
            network: Percentiles::of(&network_ms),
            assemble: Percentiles::of(&assemble_ms),
            decode: Percentiles::of(&decode_ms),
            render: Percentiles::of(&render_ms),
            end_to_end: Percentiles::of(&e2e_ms),
        },
        timeline,
    })
}

type FeedOut = (
    Result<HashMap<String, crate::decode::DecodeStats>, PipelineError>,
    Vec<f64>,
    Vec<f64>,
    u64,
    HashMap<String, crate::pipeline::CameraStatus>,
);

/// Session events → assembler → decoders (blocking when a decoder is behind: every frame
/// counts), timing assembly and the network stage.
fn feed_loop(mut feed: Feed, mut rx: mpsc::Receiver<SessionEvent>, send_log: &SendLog) -> FeedOut {
    let mut network = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut events = 0u64;
    let mut last_check = Instant::now();
    while let Some(ev) = rx.blocking_recv() {
        if let SessionEvent::Video {
            serial,
            received_at,
            ..
        } = &ev
        {
            events += 1;
            let k = seen.entry(serial.clone()).or_default();
            let sent = send_log
                .lock()
                .ok()
                .and_then(|l| l.get(serial).and_then(|v| v.get(*k)).copied());
            if let Some(sent) = sent.filter(|_| *k as u64 >= WARMUP_FRAMES) {
                network.push(received_at.saturating_duration_since(sent).as_secs_f64() * 1e3);
            }
            *k += 1;
        }
        feed.on_event(ev);
        if last_check.elapsed() >= Duration::from_millis(100) {
            last_check = Instant::now();
            if feed.check().is_err() {
                break;
            }
        }
    }
    let statuses = feed.statuses.lock().map(|s| s.clone()).unwrap_or_default();
    // Like the other stages, without each camera's first units (start-up: until message
    // boundaries are trusted, a unit completes only when the next one starts).
    let assemble = feed
        .assembly_ms
        .take()
        .unwrap_or_default()
        .into_values()
        .flat_map(|v| v.into_iter().skip(WARMUP_FRAMES as usize))
        .collect();
    (feed.finish(), assemble, network, events, statuses)
}

struct RenderOut {
    shown: Vec<Shown>,
    /// When the last frame of the target was finished.
    target_at: Option<Instant>,
    gpu: String,
    /// Each thread's CPU seconds then (while every pipeline thread still runs).
    threads: Vec<(String, f64)>,
}

/// Where the render thread draws.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// Nowhere (`--no-render`).
    None,
    /// An offscreen texture of this size.
    Offscreen((u32, u32)),
    /// A real window (`--window`).
    Window,
}

struct RenderConfig {
    target: Target,
    tiles: usize,
}

/// The render thread's GPU state.
enum Drawing {
    None,
    Offscreen(Gpu, Box<Renderer>, Offscreen),
    Window(Box<crate::view::PumpedWindow>),
}

impl Drawing {
    fn open(target: Target, tiles: usize) -> Result<Drawing, BenchError> {
        Ok(match target {
            Target::None => Drawing::None,
            Target::Offscreen((w, h)) => {
                let gpu = Gpu::headless()?;
                let mut renderer = Renderer::new(&gpu);
                renderer.set_tile_count(&gpu, tiles);
                let offscreen = Offscreen::new(&gpu, w, h);
                Drawing::Offscreen(gpu, Box::new(renderer), offscreen)
            }
            Target::Window => Drawing::Window(Box::new(crate::view::PumpedWindow::open(tiles)?)),
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
        match self {
            Drawing::None => {}
            Drawing::Offscreen(gpu, renderer, offscreen) => {
                renderer.upload(gpu, stream, frame)?;
                renderer.render(
                    gpu,
                    &offscreen.view,
                    offscreen.format,
                    offscreen.size,
                    views,
                );
                Offscreen::wait(gpu);
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

    fn gpu_name(&mut self) -> String {
        match self {
            Drawing::None => String::new(),
            Drawing::Offscreen(gpu, ..) => gpu.description.clone(),
            Drawing::Window(w) => w
                .surface()
                .map(|s| format!("{} (window)", s.gpu.description))
                .unwrap_or_default(),
        }
    }
}

fn render_loop(
    RenderConfig {
        target: kind,
        tiles,
    }: RenderConfig,
    frames: Receiver<Frame>,
    index: &HashMap<String, usize>,
    target: u64,
    done: std::sync::mpsc::Sender<()>,
    progress: &(impl Fn(u64, u64) + Sync),
) -> Result<RenderOut, BenchError> {
    let mut drawing = Drawing::open(kind, tiles)?;
    let views: Vec<TileView> = (0..tiles)
        .map(|i| TileView {
            title: format!("{i}"),
            state: TileState::Live,
            lines: Vec::new(),
        })
        .collect();
    let mut shown = Vec::new();
    let mut target_at = None;
    let mut threads = Vec::new();
    // Each stream shows its share; a stream that has it drains until the others catch up.
    let per_stream = target / tiles.max(1) as u64;
    let mut counts = vec![0u64; tiles.max(1)];
    while let Ok(frame) = frames.recv() {
        let stream = index.get(&*frame.stream).copied().unwrap_or(0);
        if target_at.is_some() || counts.get(stream).is_none_or(|&c| c >= per_stream) {
            continue; // draining
        }
        if let Some(c) = counts.get_mut(stream) {
            *c += 1;
        }
        if !drawing.draw(stream, &frame, &views)? {
            // The window was closed: the run ends with what was shown.
            tracing::warn!("the benchmark window was closed; stopping");
            target_at = Some(Instant::now());
            threads = thread_cpu_seconds();
            let _ = done.send(());
            continue;
        }
        shown.push(Shown {
            stream,
            received: frame.received_at,
            decoded: frame.decoded_at,
            done: Instant::now(),
        });
        let n = shown.len() as u64;
        if n % 10 == 0 || n == target {
            progress(n.min(target), target);
        }
        if counts.iter().all(|&c| c >= per_stream) {
            target_at = Some(Instant::now());
            threads = thread_cpu_seconds();
            let _ = done.send(());
        }
    }
    let gpu = drawing.gpu_name();
    Ok(RenderOut {
        shown,
        target_at,
        gpu,
        threads,
    })
}

/// FFmpeg alone: `streams` threads, each decoding the clip's access units from memory
/// (looping) for `frames` frames with the same settings. Returns frames per second, and the
/// time of each decode call (ms, after the first GOP).
pub fn baseline(
    clip: &Clip,
    config: &DecoderConfig,
    streams: usize,
    frames: u64,
) -> Result<(f64, Vec<f64>), DecodeError> {
    let now = Instant::now();
    let units: Vec<AccessUnit<Instant>> = clip
        .units
        .iter()
        .map(|u| AccessUnit {
            codec: u.info.codec,
            keyframe: u.keyframe,
            data: u.data.to_vec(),
            at: now,
            nal_count: 0,
            new_stream_info: None,
        })
        .collect();
    let started = Instant::now();
    let results: Vec<Result<(u64, Vec<f64>), DecodeError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..streams.max(1))
            .map(|i| {
                let units = &units;
                s.spawn(move || {
                    let mut dec = Decoder::new(&format!("baseline{i}"), config.clone())?;
                    let mut n = 0u64;
                    let mut times = Vec::new();
                    'outer: loop {
                        for au in units {
                            let t = Instant::now();
                            dec.decode(au, &mut |_| n += 1)?;
                            if n > WARMUP_FRAMES {
                                times.push(t.elapsed().as_secs_f64() * 1e3);
                            }
                            if n >= frames {
                                break 'outer;
                            }
                        }
                    }
                    Ok((n, times))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(DecodeError::Thread("baseline thread panicked".into())))
            })
            .collect()
    });
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let mut total = 0;
    let mut all = Vec::new();
    for r in results {
        let (n, t) = r?;
        total += n;
        all.extend(t);
    }
    Ok((total as f64 / secs, all))
}

/// The report as a human table.
pub fn table(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "clip        {} ({}), {} stream(s), {}",
        r.clip, r.video, r.streams, r.mode
    );
    let _ = writeln!(s, "decoder     {}", r.decoder_path.join(" | "));
    if !r.gpu.is_empty() {
        let _ = writeln!(s, "gpu         {}", r.gpu);
    }
    let _ = writeln!(
        s,
        "frames      {} events, {} access units, {} decoded, {} shown, {} dropped",
        r.events_in, r.access_units, r.frames_decoded, r.frames_shown, r.frames_dropped
    );
    let _ = write!(s, "throughput  {:.1} fps over {:.2} s", r.fps, r.seconds);
    if let (Some(b), Some(ratio)) = (r.baseline_fps, r.ratio) {
        let _ = write!(
            s,
            "; baseline (FFmpeg alone) {b:.1} fps; pipeline/baseline {ratio:.2}"
        );
    }
    let _ = writeln!(s);
    if let Some(ms) = r.first_frame_ms {
        let _ = writeln!(
            s,
            "start       first frame shown {ms:.0} ms after starting (connect, stream start, keyframe, decoder, draw)"
        );
    }
    if r.baseline_decode_ms.count > 0 {
        let b = &r.baseline_decode_ms;
        let _ = writeln!(
            s,
            "baseline    FFmpeg alone: {:.2} ms per access unit (p50), p99 {:.2} ms",
            b.p50, b.p99
        );
    }
    if r.rounds.len() > 1 {
        let list: Vec<String> = r
            .rounds
            .iter()
            .map(|x| match x.ratio {
                Some(ratio) => format!("{ratio:.2}"),
                None => format!("{:.1} fps", x.fps),
            })
            .collect();
        let _ = writeln!(
            s,
            "rounds      {} (the median round is reported)",
            list.join(", ")
        );
    }
    if r.gaps.count > 0 {
        let _ = writeln!(
            s,
            "gaps        {} (streams cut off or restarted): longest {:.2} s, {:.2} s in all",
            r.gaps.count, r.gaps.longest_secs, r.gaps.total_secs
        );
    }
    if let Some(c) = r.cpu_ms_per_frame {
        let _ = write!(s, "cpu         {c:.2} ms per frame");
    }
    if let Some(m) = r.peak_rss_mib {
        let _ = write!(s, ", peak RSS {m:.0} MiB");
    }
    let _ = writeln!(s);
    let p = &r.cpu_ms_per_frame_by_part;
    if p.decoder + p.client + p.simulator + p.other > 0.0 {
        let _ = writeln!(
            s,
            "cpu parts   decoder {:.2}, client {:.2}, simulator {:.2}, other {:.2} ms per frame",
            p.decoder, p.client, p.simulator, p.other
        );
    }
    let _ = writeln!(
        s,
        "latency ms  {:>8} {:>8} {:>8} {:>8} {:>8}   (first {} frames per stream left out)",
        "p50", "p95", "p99", "max", "n", r.warmup_frames
    );
    let st = &r.latency_ms;
    for (name, p) in [
        ("network", &st.network),
        ("assemble", &st.assemble),
        ("decode", &st.decode),
        ("render", &st.render),
        ("end-to-end", &st.end_to_end),
    ] {
        let _ = writeln!(
            s,
            "  {name:<10}{:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8}",
            p.p50, p.p95, p.p99, p.max, p.count
        );
    }
    s
}

/// Writes an SVG with end-to-end latency over time (top) and its distribution (bottom).
pub fn plot(r: &Report, path: &std::path::Path) -> Result<(), String> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (900, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (top, bottom) = root.split_vertically(350);
    let max_t = r.timeline.last().map_or(1.0, |p| p.0).max(1e-3);
    let max_l = r.timeline.iter().map(|p| p.1).fold(1.0f64, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!("end-to-end latency, {} ({})", r.clip, r.mode),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..max_t, 0.0..max_l)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("ms")
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(r.timeline.iter().copied(), &BLUE))
        .map_err(|e| e.to_string())?;
    let buckets = 40u32;
    let width = max_l / f64::from(buckets);
    let mut counts = vec![0u32; buckets as usize];
    for (_, l) in &r.timeline {
        let b = ((l / width) as usize).min(buckets as usize - 1);
        counts[b] += 1;
    }
    let max_c = counts.iter().copied().max().unwrap_or(1).max(1);
    let mut hist = ChartBuilder::on(&bottom)
        .caption("distribution", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0u32..buckets, 0u32..max_c + 1)
        .map_err(|e| e.to_string())?;
    hist.configure_mesh()
        .x_desc(format!("ms (bucket = {width:.2} ms)"))
        .x_label_formatter(&|b| format!("{:.0}", f64::from(*b) * width))
        .y_desc("frames")
        .draw()
        .map_err(|e| e.to_string())?;
    hist.draw_series(
        Histogram::vertical(&hist)
            .style(BLUE.filled())
            .data(counts.iter().enumerate().map(|(i, c)| (i as u32, *c))),
    )
    .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_ordered_and_exact_on_small_sets() {
        let p = Percentiles::of(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((p.count, p.p50, p.max), (5, 3.0, 5.0));
        assert!(p.p50 <= p.p95 && p.p95 <= p.p99 && p.p99 <= p.max);
        assert_eq!(Percentiles::of(&[]), Percentiles::default());
    }
}
