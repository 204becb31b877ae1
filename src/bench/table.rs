//! The report for people: a text table (what `eufy-hw bench` prints) and an SVG plot of the
//! end-to-end latency (`--plot`).

use std::fmt::Write;

use super::report::{Percentiles, Report};

/// The report as a human table: one section per part of the report, in the order printed.
pub fn table(r: &Report) -> String {
    let mut s = String::new();
    what(&mut s, r);
    throughput(&mut s, r);
    interruptions(&mut s, r);
    cpu(&mut s, r);
    publish(&mut s, r);
    latency(&mut s, r);
    s
}

/// What was measured: the clip, the decoder, the GPU, the colour path, the counts.
fn what(s: &mut String, r: &Report) {
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
}

/// Frames per second against the baseline, the start, the rounds.
fn throughput(s: &mut String, r: &Report) {
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
}

/// Gaps, the sound, stills.
fn interruptions(s: &mut String, r: &Report) {
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
}

/// CPU per frame, in all and by part; memory.
fn cpu(s: &mut String, r: &Report) {
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
}

/// `--publish`: what the reader got back, and when.
fn publish(s: &mut String, r: &Report) {
    let Some(b) = &r.publish else { return };
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

/// Latency per stage.
fn latency(s: &mut String, r: &Report) {
    let _ = writeln!(
        s,
        "latency ms  {:>8} {:>8} {:>8} {:>8} {:>8}   (first {} frames per stream left out)",
        "p50", "p95", "p99", "max", "n", r.warmup_frames
    );
    let st = &r.latency_ms;
    let stages: [(&str, &Percentiles); 5] = [
        ("network", &st.network),
        ("assemble", &st.assemble),
        ("decode", &st.decode),
        ("render", &st.render),
        ("end-to-end", &st.end_to_end),
    ];
    for (name, p) in stages {
        let _ = writeln!(
            s,
            "  {name:<10}{:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8}",
            p.p50, p.p95, p.p99, p.max, p.count
        );
    }
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
