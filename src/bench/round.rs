//! One round: the pipeline (simulator or live server → session → feed → decoders → render
//! thread) measured, then the baseline (FFmpeg alone on the same access units).

use std::collections::HashMap;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::bitstream::annexb::{fnv1a, last_nal};
use crate::bitstream::AccessUnit;
use crate::clip::Clip;
use crate::decode::{DecodeError, Decoder, DecoderConfig, FrameSink};
use crate::eufy::session::{run_session, SessionConfig, SessionEvent};
use crate::eufy::simulator::{Camera, Chunking, Pacing, SendLog, SimConfig, Simulator};
use crate::frame::Frame;
use crate::pipeline::{Feed, PipelineError};
use crate::record::Written;
use crate::render::{
    ColourChoice, ColourPath, Gpu, Offscreen, RenderTimings, Renderer, TileState, TileView,
};

use super::cpu::{cpu_parts_since, cpu_seconds, peak_rss_mib, thread_cpu_seconds, ThreadCpu};
use super::report::{AudioBench, Percentiles, PublishBench, RenderSplit, Report, Stages, Stills};
use super::{one_thread_runtime, BenchConfig, BenchError, WARMUP_FRAMES};

struct Shown {
    stream: usize,
    received: Instant,
    decoded: Instant,
    done: Instant,
}

/// The sound's report: counters, arrival → device latency, and each beep's offset from the
/// nearest flash (within 0.5 s).
fn audio_bench(r: &crate::audio::AudioReport, flashes: &[Instant]) -> AudioBench {
    let b = &r.buffer;
    let offsets: Vec<f64> = b
        .onsets
        .iter()
        .filter_map(|&beep| {
            flashes
                .iter()
                .map(|&f| {
                    if beep >= f {
                        (beep - f).as_secs_f64() * 1e3
                    } else {
                        -((f - beep).as_secs_f64() * 1e3)
                    }
                })
                .min_by(|a, b| a.abs().total_cmp(&b.abs()))
                .filter(|o| o.abs() <= 500.0)
        })
        .collect();
    let latency: Vec<f64> = b.latency_ms.iter().copied().collect();
    AudioBench {
        device: r.device.clone(),
        frames_in: b.frames_in,
        frames_played: b.frames_played,
        frames_dropped: b.frames_dropped,
        underruns: b.underruns,
        delay_ms: r.delay.as_secs_f64() * 1e3,
        latency_ms: Percentiles::of(&latency),
        av_offset_ms: Percentiles::of(&offsets),
        beeps: b.onsets.len() as u64,
        flashes: flashes.len() as u64,
    }
}

/// The longest wait between two pictures of a stream, and the waits of `limit` or more.
fn stills(shown: &[Shown], limit: Duration) -> Stills {
    let mut last: HashMap<usize, Instant> = HashMap::new();
    let mut out = Stills {
        limit_secs: limit.as_secs_f64(),
        ..Stills::default()
    };
    for s in shown {
        if let Some(prev) = last.insert(s.stream, s.done) {
            let still = s.done.saturating_duration_since(prev);
            out.longest_secs = out.longest_secs.max(still.as_secs_f64());
            if still >= limit {
                out.frozen += 1;
            }
        }
    }
    out
}

/// One pipeline run, then the baseline.
pub(super) fn run_round(
    config: &BenchConfig,
    progress: &(impl Fn(u64, u64) + Send + Sync),
) -> Result<Report, BenchError> {
    // The client's runtime, and the simulator's own (its CPU is the server's, not ours).
    let runtime = one_thread_runtime("bench-io")?;
    let sim_runtime = one_thread_runtime("bench-sim")?;
    let clip_fps = config.fps.or(config.clip.fps()).unwrap_or(15.0);
    let send_log: SendLog = Arc::new(Mutex::new(HashMap::new()));
    let (sim, session) = source(config, &sim_runtime, clip_fps, &send_log)?;
    // --publish: the simulated cameras go to the RTSP server through the publisher; what is
    // measured reads them back from it.
    let (session, publisher) = match &config.publish {
        None => (session, None),
        Some(to) => {
            let publisher = Publisher::start(to, session)?;
            (sources_session(config), Some(publisher))
        }
    };
    let serials = session.serials.clone();
    let measured = measure(config, &runtime, session, send_log, progress);
    let published = publisher.map(Publisher::stop).transpose();
    if let Some(sim) = sim {
        sim_runtime.block_on(sim.shutdown());
    }
    report(config, clip_fps, serials.len(), measured?, published?)
}

/// Pairs each frame the reader showed (its warm-up left out) with the unit pushed that
/// carried the same last slice, the latest one to arrive before the reader had it (a
/// looping clip repeats its slices).
fn publish_bench(
    to: &str,
    (units, written): (u64, Vec<Written>),
    shown: &[Shown],
    keys: &HashMap<Instant, u64>,
) -> PublishBench {
    let mut arrivals: HashMap<u64, Vec<Instant>> = HashMap::new();
    for w in &written {
        arrivals.entry(w.key).or_default().push(w.arrived);
    }
    let ms = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64() * 1e3;
    let (mut reader, mut decoded, mut done) = (Vec::new(), Vec::new(), Vec::new());
    let mut seen: HashMap<usize, u64> = HashMap::new();
    for f in shown {
        let n = seen.entry(f.stream).or_default();
        *n += 1;
        if *n <= WARMUP_FRAMES {
            continue;
        }
        let arrived = keys
            .get(&f.received)
            .and_then(|k| arrivals.get(k))
            .and_then(|a| a.iter().copied().filter(|&t| t <= f.received).max());
        if let Some(a) = arrived {
            reader.push(ms(a, f.received));
            decoded.push(ms(a, f.decoded));
            done.push(ms(a, f.done));
        }
    }
    PublishBench {
        to: to.to_owned(),
        units_pushed: units,
        frames_paired: reader.len() as u64,
        to_reader_ms: Percentiles::of(&reader),
        to_decoded_ms: Percentiles::of(&decoded),
        to_shown_ms: Percentiles::of(&done),
    }
}

/// `eufy-hw publish`'s pipeline on its own runtime (`bench-publish`), telling what it
/// pushed.
struct Publisher {
    runtime: tokio::runtime::Runtime,
    task: tokio::task::JoinHandle<Result<Vec<crate::record::Recorded>, crate::record::RecordError>>,
    stop: watch::Sender<bool>,
    written: Receiver<Written>,
}

impl Publisher {
    fn start(to: &str, session: SessionConfig) -> Result<Publisher, BenchError> {
        let runtime = one_thread_runtime("bench-publish")?;
        let (stop, stop_rx) = watch::channel(false);
        let (tx, written) = std::sync::mpsc::channel();
        let config = crate::record::RecordConfig {
            session,
            output: to.to_owned(),
            duration: None,
            frames: None,
        };
        let task = runtime.spawn(crate::record::record_with(config, stop_rx, Some(tx)));
        Ok(Publisher {
            runtime,
            task,
            stop,
            written,
        })
    }

    /// Stops it: the units it pushed, and each one's name and arrival.
    fn stop(self) -> Result<(u64, Vec<Written>), BenchError> {
        let _ = self.stop.send(true);
        let recorded = self
            .runtime
            .block_on(self.task)
            .map_err(|e| BenchError::Setup(format!("the publisher failed: {e}")))?
            .map_err(|e| BenchError::Setup(format!("publishing: {e}")))?;
        let units = recorded.iter().map(|r| r.units).sum();
        Ok((units, self.written.try_iter().collect()))
    }
}

/// The round's report from what was measured, with the baseline run now.
///
/// Long because the report has many fields, each computed where it is filled in.
fn report(
    config: &BenchConfig,
    clip_fps: f64,
    streams: usize,
    measured: Measured,
    published: Option<(u64, Vec<Written>)>,
) -> Result<Report, BenchError> {
    let Measured {
        render:
            RenderOut {
                shown,
                flashes,
                target_at,
                gpu: gpu_name,
                threads,
                split,
            },
        feed:
            FeedOut {
                decoders,
                assemble_ms,
                network_ms,
                events_in,
                statuses,
                keys,
            },
        audio,
        started,
        cpu,
        threads0,
    } = measured;
    let seconds = target_at
        .unwrap_or_else(Instant::now)
        .duration_since(started)
        .as_secs_f64();
    let decoder_stats = decoders?;

    // Baseline: the same decoders on the same access units, nothing around them.
    let frames_per_stream = (shown.len() as u64 / streams as u64).max(1);
    let measured_live = config.live.is_some() || !config.sources.is_empty();
    let (baseline_fps, baseline_decode_ms) = match measured_live {
        true => (None, Percentiles::default()),
        false => {
            let (fps, times) = baseline(&config.clip, &config.decoder, streams, frames_per_stream)?;
            (Some(fps), Percentiles::of(&times))
        }
    };

    let FrameTimes {
        decode_ms,
        render_ms,
        e2e_ms,
        timeline,
        first_frame_ms,
    } = frame_times(&shown, streams, started);
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
    // What was measured: the clip, or what the live streams carried.
    let info = if measured_live {
        statuses.values().find_map(|s| s.info)
    } else {
        config.clip.units.first().map(|u| u.info)
    };
    let clip = match (&config.live, config.sources.is_empty()) {
        (Some((url, _)), _) => format!("live: {url}"),
        (None, false) => format!("RTSP: {}", config.sources.join(", ")),
        (None, true) => config.clip.name.clone(),
    };
    Ok(Report {
        schema: 1,
        clip,
        video: info.map_or_else(String::new, |i| {
            format!("{} {} {}x{}", i.codec, i.profile_name(), i.width, i.height)
        }),
        streams,
        mode: if measured_live {
            "as the streams come".into()
        } else if config.unpaced {
            "unpaced".into()
        } else {
            format!("paced at {clip_fps:.0} fps")
        },
        decoder_path: paths,
        gpu: gpu_name,
        colour_path: split
            .as_ref()
            .map_or_else(String::new, |(p, ..)| p.to_string()),
        render_split_ms: split.map(|(_, t, waited)| {
            let per = |d: Duration| d.as_secs_f64() * 1e3 / shown_n.max(1) as f64;
            RenderSplit {
                convert: per(t.convert),
                submit: per(t.submit.saturating_sub(t.convert)),
                wait: waited.map(per),
            }
        }),
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
        cpu_ms_per_frame_by_part: cpu_parts_since(&threads, &threads0, shown_n),
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
        stills: stills(&shown, config.watchdog),
        audio: audio.map(|a| audio_bench(&a, &flashes)),
        publish: config
            .publish
            .as_deref()
            .zip(published)
            .map(|(to, p)| publish_bench(to, p, &shown, &keys)),
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

/// Per-frame stage latencies of the frames shown (each stream's first [`WARMUP_FRAMES`]
/// left out), ms.
struct FrameTimes {
    decode_ms: Vec<f64>,
    render_ms: Vec<f64>,
    e2e_ms: Vec<f64>,
    /// (seconds since the start, end-to-end ms) per frame, for the plot.
    timeline: Vec<(f64, f64)>,
    /// The slowest stream's first frame, ms after the start.
    first_frame_ms: Option<f64>,
}

fn frame_times(shown: &[Shown], streams: usize, started: Instant) -> FrameTimes {
    let mut decode_ms = Vec::new();
    let mut render_ms = Vec::new();
    let mut e2e_ms = Vec::new();
    let mut timeline = Vec::new();
    let mut per_stream = vec![0u64; streams];
    let mut first = vec![None; streams];
    for f in shown {
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
    FrameTimes {
        decode_ms,
        render_ms,
        e2e_ms,
        timeline,
        first_frame_ms,
    }
}

/// Where the round's streams come from: the simulator (on its own runtime: its CPU is the
/// The `--source` streams as cameras `RTSP1`, `RTSP2`, … (no eufy-security-ws session).
fn sources_session(config: &BenchConfig) -> SessionConfig {
    let labels = (1..=config.sources.len())
        .map(|i| format!("RTSP{i}"))
        .collect();
    SessionConfig::new("", labels)
}

/// server's, not ours) or a live server.
fn source(
    config: &BenchConfig,
    sim_runtime: &tokio::runtime::Runtime,
    clip_fps: f64,
    send_log: &SendLog,
) -> Result<(Option<Simulator>, SessionConfig), BenchError> {
    if !config.sources.is_empty() && config.publish.is_none() {
        return Ok((None, sources_session(config)));
    }
    Ok(match &config.live {
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
                    audio: config.audio.clone(),
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
    })
}

/// What the threads of a round measured.
struct Measured {
    render: RenderOut,
    feed: FeedOut,
    /// The sound's counters, when it played.
    audio: Option<crate::audio::AudioReport>,
    /// When the clients started (before connecting).
    started: Instant,
    /// Process CPU seconds over the run.
    cpu: Option<f64>,
    /// Each part's CPU seconds when the run started.
    threads0: Vec<ThreadCpu>,
}

/// Runs the pipeline until `config.frames` per stream were shown (or the time limit): the
/// session on the client's runtime, the feed and the render loop on named threads.
fn measure(
    config: &BenchConfig,
    runtime: &tokio::runtime::Runtime,
    session: SessionConfig,
    send_log: SendLog,
    progress: &(impl Fn(u64, u64) + Send + Sync),
) -> Result<Measured, BenchError> {
    let serials = session.serials.clone();
    let index: HashMap<String, usize> = serials
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, s)| (s, i))
        .collect();
    let target_frames = config.frames.max(1) * serials.len() as u64;
    // The streams' tiles at their size (at most 1920x1080): the clip's, or for live streams
    // the first frame's (known when it comes).
    let live = config.live.is_some() || !config.sources.is_empty();
    let size = config.target.or_else(|| {
        let first = config.clip.units.first().filter(|_| !live)?;
        Some(grid_size(
            serials.len(),
            (first.info.width, first.info.height),
        ))
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
        colour: config.colour,
    };
    let idx = index.clone();
    let (stop_tx, stop_rx) = watch::channel(false);
    let cpu0 = cpu_seconds();
    let threads0 = thread_cpu_seconds();
    let started = Instant::now();

    // The first stream's sound on the default device.
    let audio = match &config.audio {
        None => None,
        Some(_) => {
            let out = crate::audio::AudioOut::open(1.0)
                .map_err(|e| BenchError::Setup(format!("--audio: {e}")))?;
            out.set_source(serials.first().map(String::as_str));
            Some(out)
        }
    };
    let audio_feed = audio.as_ref().map(|a| a.feed());
    let tuner = audio.as_ref().map(|a| a.tuner());

    // A short queue: in unpaced runs, backpressure reaches the simulator instead of events
    // piling up (which would only measure queueing).
    let (tx, rx) = mpsc::channel::<SessionEvent>(8);
    let session_task = if config.sources.is_empty() {
        runtime.spawn(run_session(session, tx, stop_rx))
    } else {
        // RTSP streams on their own threads instead of a session; they stop with it.
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        for (url, label) in config.sources.iter().zip(&serials) {
            let source = crate::source::RtspSource {
                url: url.clone(),
                label: label.clone(),
            };
            crate::source::spawn(source, tx.clone(), flag.clone())
                .map_err(|e| BenchError::Setup(e.to_string()))?;
        }
        drop(tx);
        let mut stop = stop_rx;
        runtime.spawn(async move {
            while !*stop.borrow_and_update() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        })
    };
    let mut feed = Feed::new(&serials, config.decoder.clone(), move |_| {
        FrameSink::Every(frame_tx.clone())
    });
    feed.lossless = true;
    feed.assembly_ms = Some(HashMap::new());

    let name_units = config.publish.is_some();
    let (render, feed) = std::thread::scope(|s| {
        let named = |name: &str| std::thread::Builder::new().name(name.to_owned());
        let renderer = named("bench-render")
            .spawn_scoped(s, move || {
                render_loop(
                    render_cfg,
                    frame_rx,
                    &idx,
                    target_frames,
                    done_tx,
                    progress,
                    tuner,
                )
            })
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        let feeder = named("bench-feed")
            .spawn_scoped(s, move || {
                feed_loop(feed, rx, &send_log, audio_feed, name_units)
            })
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
    let cpu = cpu_seconds().zip(cpu0).map(|(a, b)| a - b);
    let _ = runtime.block_on(session_task);
    Ok(Measured {
        render,
        feed,
        audio: audio.as_ref().map(|a| a.report()),
        started,
        cpu,
        threads0,
    })
}

/// What the feed thread measured.
struct FeedOut {
    /// The decoders' final counters (or why one failed).
    decoders: Result<HashMap<String, crate::decode::DecodeStats>, PipelineError>,
    /// Received → access unit complete, ms.
    assemble_ms: Vec<f64>,
    /// Handed to the server's socket → parsed by the client, ms.
    network_ms: Vec<f64>,
    /// Video events received.
    events_in: u64,
    /// The cameras' statuses at the end.
    statuses: HashMap<String, crate::pipeline::CameraStatus>,
    /// `--publish`: each video event's arrival → its last slice's name.
    keys: HashMap<Instant, u64>,
}

/// Session events → assembler → decoders (blocking when a decoder is behind: every frame
/// counts), timing assembly and the network stage.
fn feed_loop(
    mut feed: Feed,
    mut rx: mpsc::Receiver<SessionEvent>,
    send_log: &SendLog,
    audio: Option<crate::audio::AudioFeed>,
    name_units: bool,
) -> FeedOut {
    let mut network = Vec::new();
    let mut keys = HashMap::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut events = 0u64;
    let mut last_check = Instant::now();
    while let Some(ev) = rx.blocking_recv() {
        if let (
            Some(a),
            SessionEvent::Audio {
                serial,
                codec,
                data,
                received_at,
            },
        ) = (&audio, &ev)
        {
            a.push(serial, codec, data, *received_at);
        }
        if let SessionEvent::Video {
            serial,
            received_at,
            data,
        } = &ev
        {
            events += 1;
            if name_units {
                keys.insert(*received_at, fnv1a(last_nal(data)));
            }
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
    FeedOut {
        decoders: feed.finish(),
        assemble_ms: assemble,
        network_ms: network,
        events_in: events,
        statuses,
        keys,
    }
}

struct RenderOut {
    shown: Vec<Shown>,
    /// When a flash (a frame much brighter than the one before) of the first stream was
    /// finished.
    flashes: Vec<Instant>,
    /// When the last frame of the target was finished.
    target_at: Option<Instant>,
    gpu: String,
    /// Each thread's CPU seconds then (while every pipeline thread still runs).
    threads: Vec<ThreadCpu>,
    /// The colour path, where the renderer's time went, and the time waited for the GPU.
    split: Option<(ColourPath, RenderTimings, Option<Duration>)>,
}

/// `tiles` pictures of `(w, h)` in a grid, at most 1920x1080.
fn grid_size(tiles: usize, (w, h): (u32, u32)) -> (u32, u32) {
    let (cols, rows) = crate::render::layout::grid(tiles);
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
    Window(Box<crate::view::PumpedWindow>),
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
            Target::Window => {
                Drawing::Window(Box::new(crate::view::PumpedWindow::open(tiles, colour)?))
            }
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
    let mut flashes = Vec::new();
    let mut last_luma = f64::NAN;
    let mut drawing = Drawing::open(kind, tiles, colour)?;
    let views: Vec<TileView> = (0..tiles)
        .map(|i| TileView {
            slot: i,
            highlight: false,
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
        let done_at = Instant::now();
        if stream == 0 && tuner.is_some() {
            let luma = frame.luma_mean();
            if luma > 128.0 && luma > last_luma + 64.0 {
                flashes.push(done_at);
            }
            last_luma = luma;
        }
        shown.push(Shown {
            stream,
            received: frame.received_at,
            decoded: frame.decoded_at,
            done: done_at,
        });
        // The sound follows the picture: its delay comes from the first stream's recent
        // latency from arrival to the screen, by the viewer's rule.
        if let (Some(t), 0) = (&tuner, shown.len() % 15) {
            let mut recent: Vec<f64> = shown
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
        flashes,
        target_at,
        gpu,
        threads,
        split: drawing.split(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stills_are_per_stream() {
        let t0 = Instant::now();
        let at = |s: f64| t0 + Duration::from_secs_f64(s);
        let shown = |stream, s| Shown {
            stream,
            received: at(s),
            decoded: at(s),
            done: at(s),
        };
        // Stream 0: 0, 1, 13 (a 12 s still); stream 1 interleaved every 0.5 s.
        let mut list = vec![shown(0, 0.0), shown(0, 1.0), shown(0, 13.0)];
        list.extend((0..26).map(|k| shown(1, k as f64 * 0.5)));
        list.sort_by_key(|s| s.done);
        let s = stills(&list, Duration::from_secs(10));
        assert_eq!(s.frozen, 1);
        assert!((s.longest_secs - 12.0).abs() < 1e-6, "{s:?}");
        assert_eq!(stills(&list, Duration::from_secs(13)).frozen, 0);
    }
}
