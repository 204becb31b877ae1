//! The benchmark's report: percentiles, stages, CPU by part, rounds (JSON with serde; the
//! table and plot are [`super::table`]'s), and how a round's measurements become one
//! ([`Report::build`]).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::cpu::{cpu_parts_since, peak_rss_mib};
use super::measure::{FeedOut, Measured, RenderOut, Shown};
use super::{BenchConfig, BenchError, WARMUP_FRAMES};
use crate::decode::DecodeStats;
use crate::ingest::Gaps;
use crate::pipeline::CameraStatus;
use crate::record::Written;
use crate::render::{ColourPath, RenderTimings};

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
    /// The colour path (empty without rendering): the WGSL shader, or libswscale.
    pub colour_path: String,
    /// The render thread's CPU time per frame shown, by step (without rendering: none).
    pub render_split_ms: Option<RenderSplit>,
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
    /// The pictures' stillness: the longest time a stream went without a new picture, and
    /// how often that reached the watchdog's limit (the viewer would restart the stream).
    pub stills: Stills,
    /// The sound, when `--audio` was given.
    pub audio: Option<AudioBench>,
    /// `--publish`: the latency publishing adds, through the RTSP server and back.
    pub publish: Option<PublishBench>,
    /// Latency per stage.
    pub latency_ms: Stages,
    /// End-to-end latency of each shown frame, in order (for plots).
    pub timeline: Vec<(f64, f64)>,
}

/// The first stream's sound, played on a real device.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct AudioBench {
    /// The output device.
    pub device: String,
    /// Frames (one sample per channel) decoded and queued.
    pub frames_in: u64,
    /// Frames played.
    pub frames_played: u64,
    /// Frames dropped (late, or over the buffer's bound).
    pub frames_dropped: u64,
    /// Times the buffer ran dry.
    pub underruns: u64,
    /// The delay used at the end (the picture's latency and a margin), ms.
    pub delay_ms: f64,
    /// A chunk's arrival → its first sample at the device, ms.
    pub latency_ms: Percentiles,
    /// Beep at the device − flash on screen, ms (positive: sound behind the picture), for
    /// each beep with a flash within 0.5 s; a clip without flashes and beeps has none.
    pub av_offset_ms: Percentiles,
    /// Sound onsets (beeps) heard, and flashes shown.
    pub beeps: u64,
    /// Flashes (a frame much brighter than the one before) shown.
    pub flashes: u64,
}

/// The simulated cameras published (`eufy-hw publish`'s pipeline) to an RTSP server and
/// read back from it (`--source`): each frame the reader showed, paired with the unit
/// pushed by its last slice, timed from when that unit arrived at eufy-hw.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PublishBench {
    /// Where the cameras were pushed.
    pub to: String,
    /// Units pushed.
    pub units_pushed: u64,
    /// Frames shown by the reader and paired with a pushed unit (after its warm-up).
    pub frames_paired: u64,
    /// Arrival at the publisher → the reader has the packet from the server, ms.
    pub to_reader_ms: Percentiles,
    /// Arrival → decoded by the reader, ms: the latency a viewer of the restream sees,
    /// before its own display.
    pub to_decoded_ms: Percentiles,
    /// Arrival → converted and finished on the reader's GPU, ms.
    pub to_shown_ms: Percentiles,
}

/// Where rendering's time goes, ms per frame shown (means).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct RenderSplit {
    /// Converting pictures on the CPU (libswscale; 0 on the shader's path).
    pub convert: f64,
    /// Recording and submitting the GPU's work: plane or picture uploads, the draw and the
    /// copies, the overlay.
    pub submit: f64,
    /// Waiting for the GPU to finish (offscreen; on a CPU adapter, the driver executing the
    /// draw or copies on its threads).
    pub wait: Option<f64>,
}

/// How long pictures stood still, all streams (after each stream's first picture).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Stills {
    /// The longest time between two pictures of one stream, s.
    pub longest_secs: f64,
    /// Times a stream went `limit_secs` or more without a new picture.
    pub frozen: u64,
    /// The watchdog's limit, s.
    pub limit_secs: f64,
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
    /// `--publish`: eufy-hw's publisher, its session and FFmpeg's RTSP muxer
    /// (`bench-publish`).
    pub publisher: f64,
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

/// FFmpeg alone on the same access units, run after the pipeline.
#[derive(Debug, Clone)]
pub(super) struct Baseline {
    /// Frames per second, all streams.
    pub fps: f64,
    /// Time per decoded access unit.
    pub decode_ms: Percentiles,
}

impl Report {
    /// The round's report from what was measured, the baseline (none for live streams) and
    /// what was published.
    pub(super) fn build(
        config: &BenchConfig,
        clip_fps: f64,
        streams: usize,
        measured: Measured,
        baseline: Option<Baseline>,
        published: Option<(u64, Vec<Written>)>,
    ) -> Result<Report, BenchError> {
        let Measured {
            render,
            feed,
            audio,
            started,
            cpu,
            threads0,
        } = measured;
        let FeedOut {
            decoders,
            assemble_ms,
            network_ms,
            events_in,
            statuses,
            keys,
        } = feed;
        let seconds = render
            .target_at
            .unwrap_or_else(Instant::now)
            .duration_since(started)
            .as_secs_f64();
        let times = frame_times(&render.shown, streams, started);
        let shown_n = render.shown.len() as u64;
        let fps = shown_n as f64 / seconds.max(1e-9);
        let counts = Counts::of(&decoders, &statuses);
        let described = Described::of(config, clip_fps, &statuses);
        let RenderOut {
            shown,
            flashes,
            gpu,
            threads,
            split,
            ..
        } = render;
        Ok(Report {
            schema: 1,
            clip: described.clip,
            video: described.video,
            streams,
            mode: described.mode,
            decoder_path: counts.paths,
            gpu,
            colour_path: split
                .as_ref()
                .map_or_else(String::new, |(p, ..)| p.to_string()),
            render_split_ms: split.map(|s| render_split(s, shown_n)),
            events_in,
            access_units: counts.access_units,
            frames_decoded: counts.frames_decoded,
            frames_shown: shown_n,
            frames_dropped: counts.dropped,
            seconds,
            fps,
            baseline_fps: baseline.as_ref().map(|b| b.fps),
            ratio: baseline
                .as_ref()
                .filter(|_| config.unpaced)
                .map(|b| fps / b.fps),
            baseline_decode_ms: baseline.map(|b| b.decode_ms).unwrap_or_default(),
            warmup_frames: WARMUP_FRAMES,
            first_frame_ms: times.first_frame_ms,
            cpu_ms_per_frame: cpu.map(|c| c * 1e3 / shown_n.max(1) as f64),
            cpu_ms_per_frame_by_part: cpu_parts_since(&threads, &threads0, shown_n),
            peak_rss_mib: peak_rss_mib(),
            rounds: Vec::new(),
            gaps: all_gaps(&statuses),
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
                decode: Percentiles::of(&times.decode_ms),
                render: Percentiles::of(&times.render_ms),
                end_to_end: Percentiles::of(&times.e2e_ms),
            },
            timeline: times.timeline,
        })
    }
}

/// The decoders' and assemblers' totals, all streams.
struct Counts {
    access_units: u64,
    frames_decoded: u64,
    dropped: u64,
    /// The decoder paths, each once.
    paths: Vec<String>,
}

impl Counts {
    fn of(
        decoders: &HashMap<String, DecodeStats>,
        statuses: &HashMap<String, CameraStatus>,
    ) -> Counts {
        let mut paths: Vec<String> = decoders.values().map(|d| d.path.clone()).collect();
        paths.sort();
        paths.dedup();
        Counts {
            access_units: statuses.values().map(|s| s.access_units).sum(),
            frames_decoded: decoders.values().map(|d| d.frames_out).sum(),
            dropped: decoders
                .values()
                .map(|d| {
                    d.dropped_behind + d.dropped_before_keyframe + d.unsupported_frames + d.errors
                })
                .sum(),
            paths,
        }
    }
}

/// What was measured, in words: the clip or the live streams, what they carried, the pace.
struct Described {
    clip: String,
    video: String,
    mode: String,
}

impl Described {
    fn of(
        config: &BenchConfig,
        clip_fps: f64,
        statuses: &HashMap<String, CameraStatus>,
    ) -> Described {
        let live = config.live.is_some() || !config.sources.is_empty();
        // What was measured: the clip, or what the live streams carried.
        let info = if live {
            statuses.values().find_map(|s| s.info)
        } else {
            config.clip.units.first().map(|u| u.info)
        };
        let clip = match (&config.live, config.sources.is_empty()) {
            (Some((url, _)), _) => format!("live: {url}"),
            (None, false) => format!("RTSP: {}", config.sources.join(", ")),
            (None, true) => config.clip.name.clone(),
        };
        Described {
            clip,
            video: info.map_or_else(String::new, |i| {
                format!("{} {} {}x{}", i.codec, i.profile_name(), i.width, i.height)
            }),
            mode: if live {
                "as the streams come".into()
            } else if config.unpaced {
                "unpaced".into()
            } else {
                format!("paced at {clip_fps:.0} fps")
            },
        }
    }
}

/// Where rendering's time went, per frame shown.
fn render_split(
    (_, t, waited): (ColourPath, RenderTimings, Option<Duration>),
    shown: u64,
) -> RenderSplit {
    let per = |d: Duration| d.as_secs_f64() * 1e3 / shown.max(1) as f64;
    RenderSplit {
        convert: per(t.convert),
        submit: per(t.submit.saturating_sub(t.convert)),
        wait: waited.map(per),
    }
}

/// Every stream's gaps together.
fn all_gaps(statuses: &HashMap<String, CameraStatus>) -> Gaps {
    statuses.values().fold(Gaps::default(), |a, s| Gaps {
        count: a.count + s.gaps.count,
        last_secs: s.gaps.last_secs.max(a.last_secs),
        longest_secs: a.longest_secs.max(s.gaps.longest_secs),
        total_secs: a.total_secs + s.gaps.total_secs,
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

    #[test]
    fn percentiles_are_ordered_and_exact_on_small_sets() {
        let p = Percentiles::of(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((p.count, p.p50, p.max), (5, 3.0, 5.0));
        assert!(p.p50 <= p.p95 && p.p95 <= p.p99 && p.p99 <= p.max);
        assert_eq!(Percentiles::of(&[]), Percentiles::default());
    }
}
