//! `eufy-hw bench` on the simulator: the report is consistent (frames decoded = frames sent,
//! percentiles ordered, JSON schema), and the command writes its JSON and SVG. Rounds report
//! their median; every part of the program shows CPU time; cut-offs show as stills (pictures
//! standing still) and count as frozen past a limit shorter than the gap; `--publish`
//! through GStreamer's restreaming server (`scripts/rtsp-relay.py`) pairs every frame the
//! reader showed with the unit pushed, for H.264 and H.265.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use eufy_hw::bench::{run, BenchConfig, Percentiles, Report};
use eufy_hw::clip::Clip;
use eufy_hw::decode::{Accel, DecoderConfig};

fn config(unpaced: bool, render: bool, streams: usize) -> BenchConfig {
    BenchConfig {
        clip: Arc::new(Clip::demo()),
        streams,
        decoder: DecoderConfig {
            accel: vec![Accel::None],
            ..Default::default()
        },
        unpaced,
        fps: Some(60.0),
        frames: 40,
        duration: Some(std::time::Duration::from_secs(60)),
        render,
        window: false,
        target: Some((320, 180)),
        random_chunks: false,
        live: None,
        rounds: 1,
        cutoff: None,
        wait_server: std::time::Duration::from_secs(60),
        watchdog: std::time::Duration::from_secs(10),
        audio: None,
        sources: Vec::new(),
        publish: None,
        colour: Default::default(),
    }
}

fn ordered(p: &Percentiles) -> bool {
    p.count > 0 && p.p50 >= 0.0 && p.p50 <= p.p95 && p.p95 <= p.p99 && p.p99 <= p.max
}

fn check(r: &Report, streams: usize) {
    assert_eq!(r.frames_shown, 40 * streams as u64);
    assert!(r.frames_decoded >= r.frames_shown);
    // One event per access unit, one frame per access unit.
    assert_eq!(r.events_in, r.access_units);
    assert!(r.access_units >= r.frames_decoded);
    assert_eq!(r.frames_dropped, 0);
    let l = &r.latency_ms;
    for (name, p) in [
        ("network", &l.network),
        ("assemble", &l.assemble),
        ("decode", &l.decode),
        ("render", &l.render),
        ("e2e", &l.end_to_end),
    ] {
        assert!(ordered(p), "{name}: {p:?}");
    }
    assert_eq!(
        l.end_to_end.count as u64,
        r.frames_shown - r.warmup_frames * streams as u64
    );
    // End to end covers decode and render.
    assert!(l.end_to_end.p50 >= l.decode.p50);
    assert!(r.fps > 0.0 && r.seconds > 0.0);
    // Pictures kept coming: some wait between them, never the watchdog's limit.
    assert!(
        r.stills.longest_secs > 0.0 && r.stills.frozen == 0,
        "{:?}",
        r.stills
    );
    // Every stream's first frame came after the start and within the run.
    let first = r.first_frame_ms.unwrap();
    assert!(first > 0.0 && first <= r.seconds * 1e3, "{first} ms");
    assert!(r.baseline_fps.unwrap() > 0.0);
    assert_eq!(r.decoder_path, vec!["software".to_owned()]);
}

#[test]
fn unpaced_report_is_consistent() {
    let r = run(&config(true, true, 2), |_, _| {}).unwrap();
    check(&r, 2);
    assert!(r.ratio.is_some());
    // The adapter is named with its backend and kind, e.g. "llvmpipe (…) (Vulkan, Cpu)".
    assert!(
        ["Vulkan", "Metal", "Dx12", "Gl"]
            .iter()
            .any(|b| r.gpu.contains(&format!("({b}, "))),
        "{}",
        r.gpu
    );
}

#[test]
fn paced_report_is_consistent() {
    let r = run(&config(false, false, 1), |_, _| {}).unwrap();
    check(&r, 1);
    assert!(r.ratio.is_none(), "a paced run has no throughput ratio");
    assert!(r.gpu.is_empty());
    // Paced at 60 fps: 40 frames take at least ~0.6 s.
    assert!(r.seconds > 0.5, "{}", r.seconds);
}

/// Rounds alternate pipeline and baseline; the report is the median round. Each part of
/// the program shows its own CPU time.
#[test]
fn rounds_report_the_median_and_cpu_by_part() {
    let mut c = config(true, false, 1);
    c.rounds = 3;
    let r = run(&c, |_, _| {}).unwrap();
    check(&r, 1);
    assert_eq!(r.rounds.len(), 3);
    let mut ratios: Vec<f64> = r.rounds.iter().map(|x| x.ratio.unwrap()).collect();
    ratios.sort_by(f64::total_cmp);
    assert_eq!(r.ratio, Some(ratios[1]), "{:?}", r.rounds);
    let p = &r.cpu_ms_per_frame_by_part;
    assert!(
        p.decoder > 0.0 && p.client > 0.0 && p.simulator > 0.0,
        "{p:?}"
    );
}

#[test]
fn command_writes_json_and_svg() {
    let dir = std::env::temp_dir().join(format!("eufy-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, svg) = (dir.join("r.json"), dir.join("r.svg"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args([
            "bench",
            "--unpaced",
            "--frames",
            "30",
            "--no-render",
            "--accel",
            "none",
            "--rounds",
            "2",
            "--json",
        ])
        .arg(&json)
        .arg("--plot")
        .arg(&svg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("pipeline/baseline") && table.contains("end-to-end"),
        "{table}"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["schema"], 1);
    assert_eq!(v["frames_shown"], 30);
    for key in [
        "fps",
        "baseline_fps",
        "ratio",
        "cpu_ms_per_frame",
        "peak_rss_mib",
        "decoder_path",
        "frames_dropped",
    ] {
        assert!(!v[key].is_null(), "{key} missing");
    }
    for stage in ["network", "assemble", "decode", "render", "end_to_end"] {
        for q in ["p50", "p95", "p99", "max", "count"] {
            assert!(v["latency_ms"][stage][q].is_number(), "{stage}.{q}");
        }
    }
    let rounds = v["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 2, "{rounds:?}");
    assert!(
        rounds.iter().any(|r| r["ratio"] == v["ratio"]),
        "the report is one of the rounds"
    );
    for part in ["decoder", "client", "simulator", "other"] {
        assert!(
            v["cpu_ms_per_frame_by_part"][part].is_number(),
            "cpu part {part}"
        );
    }
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("end-to-end latency"));
    std::fs::remove_dir_all(&dir).ok();
}

/// Streams cut off (and restarted after bench's 100 ms pause): the pictures stand still
/// across each gap, which the stills report measures, and counts as frozen past a limit
/// shorter than the gap.
#[test]
fn cut_offs_show_as_stills() {
    let mut c = config(false, false, 1);
    c.fps = Some(30.0);
    c.frames = 90;
    c.cutoff = Some(std::time::Duration::from_millis(1200));
    c.watchdog = std::time::Duration::from_millis(60);
    let r = run(&c, |_, _| {}).unwrap();
    assert!(r.gaps.count >= 1, "{:?}", r.gaps);
    assert!(
        r.stills.frozen >= 1 && r.stills.longest_secs >= 0.06,
        "{:?} {:?}",
        r.stills,
        r.gaps
    );
    assert!(
        r.stills.longest_secs + 0.05 >= r.gaps.longest_secs,
        "{:?} {:?}",
        r.stills,
        r.gaps
    );
}

/// `--publish`: the simulated camera pushed through `eufy-hw publish`'s pipeline to a
/// restreaming RTSP server and read back from it, H.264 and H.265. Every frame the reader
/// showed (after its warm-up) is paired with the unit pushed that carried its last slice,
/// and timed from that unit's arrival; the reader saw the camera's own codec and size.
#[test]
fn publishing_latency_is_measured_through_a_server() {
    for (clip, codec, video) in [
        (None, "h264", "H.264"),
        (Some("h265_main_1080p.h265"), "h265", "H.265 Main 1920x1080"),
    ] {
        let port = common::free_port();
        let _relay = common::rtsp_relay(port, codec);
        let mut c = config(false, false, 1);
        if let Some(name) = clip {
            c.clip = Arc::new(Clip::load(&common::clip_path(name)).unwrap());
        }
        c.fps = Some(15.0);
        c.sources = vec![format!("rtsp://127.0.0.1:{port}/out")];
        c.publish = Some(format!("rtsp://127.0.0.1:{port}/in"));
        let r = run(&c, |_, _| {}).unwrap();
        assert_eq!(r.frames_shown, 40, "{codec}");
        assert!(r.video.starts_with(video), "{codec}: {}", r.video);
        let p = r.publish.as_ref().unwrap();
        assert!(p.units_pushed >= 40, "{codec}: {p:?}");
        assert_eq!(
            p.frames_paired,
            40 - eufy_hw::bench::WARMUP_FRAMES,
            "{codec}: every frame shown paired with a unit pushed: {p:?}"
        );
        for l in [&p.to_reader_ms, &p.to_decoded_ms, &p.to_shown_ms] {
            assert!(ordered(l) && l.p50 > 0.0, "{codec}: {p:?}");
        }
        assert!(p.to_reader_ms.p50 <= p.to_decoded_ms.p50, "{codec}: {p:?}");
        assert!(p.to_decoded_ms.p50 <= p.to_shown_ms.p50, "{codec}: {p:?}");
        assert!(eufy_hw::bench::table(&r).contains("arrival → reader decoded"));
    }
}

/// The report names the colour path and splits the render thread's time: libswscale's
/// conversion on the CPU path, none on the shader's.
#[test]
fn the_report_names_the_colour_path() {
    for (choice, word) in [
        (eufy_hw::render::ColourChoice::Gpu, "gpu"),
        (eufy_hw::render::ColourChoice::Cpu, "cpu"),
    ] {
        let mut c = config(false, true, 1);
        c.colour = choice;
        let r = run(&c, |_, _| {}).unwrap();
        assert!(r.colour_path.starts_with(word), "{}", r.colour_path);
        let split = r.render_split_ms.unwrap();
        assert_eq!(split.convert > 0.0, word == "cpu", "{word}: {split:?}");
        assert!(
            split.submit > 0.0 && split.wait.is_some(),
            "{word}: {split:?}"
        );
        assert!(eufy_hw::bench::table(&r).contains(&format!("colour      {word}")));
    }
}
