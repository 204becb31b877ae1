//! The benchmark's report: percentiles, stages, CPU by part, rounds; as JSON (serde), as a
//! table and as an SVG plot.

use serde::Serialize;

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

/// The report as a human table.
///
/// Long because it is one line per part of the report, in the order printed.
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
    if let Some(sp) = &r.render_split_ms {
        let wait = sp
            .wait
            .map_or_else(String::new, |w| format!(", waiting for the GPU {w:.2}"));
        let _ = writeln!(
            s,
            "colour      {}: convert {:.2}, record and submit {:.2}{wait} ms per frame",
            r.colour_path, sp.convert, sp.submit
        );
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
    if let Some(a) = &r.audio {
        let _ = writeln!(
            s,
            "audio       {}: {} frames in, {} played, {} dropped, {} underruns; delay {:.0} ms",
            a.device, a.frames_in, a.frames_played, a.frames_dropped, a.underruns, a.delay_ms
        );
        let l = &a.latency_ms;
        let _ = writeln!(
            s,
            "            arrival → device p50 {:.1} p95 {:.1} p99 {:.1} ms",
            l.p50, l.p95, l.p99
        );
        let o = &a.av_offset_ms;
        if o.count > 0 {
            let _ = writeln!(
                s,
                "            A/V offset (sound − picture) p50 {:+.1} p95 {:+.1} p99 {:+.1} ms over {} beeps ({} flashes)",
                o.p50, o.p95, o.p99, o.count, a.flashes
            );
        }
    }
    let _ = writeln!(
        s,
        "stills      longest {:.2} s without a new picture; frozen {} time(s) (no picture for {:.0} s)",
        r.stills.longest_secs, r.stills.frozen, r.stills.limit_secs
    );
    if let Some(c) = r.cpu_ms_per_frame {
        let _ = write!(s, "cpu         {c:.2} ms per frame");
    }
    if let Some(m) = r.peak_rss_mib {
        let _ = write!(s, ", peak RSS {m:.0} MiB");
    }
    let _ = writeln!(s);
    let p = &r.cpu_ms_per_frame_by_part;
    if p.decoder + p.client + p.simulator + p.publisher + p.other > 0.0 {
        let publisher = if r.publish.is_some() {
            format!(", publisher {:.2}", p.publisher)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "cpu parts   decoder {:.2}, client {:.2}, simulator {:.2}{publisher}, other {:.2} ms per frame",
            p.decoder, p.client, p.simulator, p.other
        );
    }
    if let Some(b) = &r.publish {
        let _ = writeln!(
            s,
            "publish     {} units pushed to {}, {} frames of them shown by the reader",
            b.units_pushed, b.to, b.frames_paired
        );
        for (name, p) in [
            ("            arrival → reader received", &b.to_reader_ms),
            ("            arrival → reader decoded ", &b.to_decoded_ms),
            ("            arrival → reader shown   ", &b.to_shown_ms),
        ] {
            let _ = writeln!(
                s,
                "{name} p50 {:.1} p95 {:.1} p99 {:.1} ms",
                p.p50, p.p95, p.p99
            );
        }
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
