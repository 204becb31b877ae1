//! `eufy-hw record` against the simulator: raw output equals the clip's access units byte for
//! byte (both framings), MP4/MKV open with FFmpeg with the right frames, codec and size, and a
//! recording killed mid-way still plays.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use eufy_hw::clip::Clip;
use eufy_hw::eufy::session::SessionConfig;
use eufy_hw::eufy::simulator::{Camera, Chunking, Pacing, SimConfig, Simulator};
use eufy_hw::record::{record, RecordConfig};
use tokio::sync::watch;

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("eufy-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

async fn sim(clip: &Arc<Clip>, chunking: Chunking) -> Simulator {
    Simulator::start(SimConfig {
        cameras: vec![Camera {
            serial: "T1".into(),
            clip: clip.clone(),
        }],
        pacing: Pacing::Unpaced,
        realistic: false,
        chunking,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

async fn rec(url: String, output: &std::path::Path, frames: u64) -> u64 {
    let (_tx, stop) = watch::channel(false);
    let config = RecordConfig {
        session: SessionConfig::new(url, vec!["T1".into()]),
        output: output.display().to_string(),
        duration: Some(Duration::from_secs(30)),
        frames: Some(frames),
    };
    let r = record(config, stop).await.unwrap();
    r[0].units
}

fn ffprobe(path: &std::path::Path) -> String {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_recording_equals_the_clip() {
    for name in ["h264_slices4_720p.h264", "h265_main_1080p.h265"] {
        let clip = Arc::new(Clip::load(&common::clip_path(name)).unwrap());
        for chunking in [
            Chunking::AccessUnit,
            Chunking::Random { seed: 5, max: 5000 },
        ] {
            let s = sim(&clip, chunking).await;
            let out = tmp(&format!("raw-{name}"));
            assert_eq!(rec(s.url(), &out, 25).await, 25);
            let expected: Vec<u8> = clip.units[..25]
                .iter()
                .flat_map(|u| u.data.iter().copied())
                .collect();
            let got = std::fs::read(&out).unwrap();
            assert!(
                got == expected,
                "{name} {chunking:?}: {} vs {} bytes",
                got.len(),
                expected.len()
            );
            s.shutdown().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mp4_and_mkv_open_with_ffmpeg() {
    for (name, file, expect) in [
        ("h264_baseline_720p.h264", "a.mp4", "h264,1280,720,40"),
        ("h265_main_1080p.h265", "b.mp4", "hevc,1920,1080,40"),
        ("h264_baseline_720p.h264", "c.mkv", "h264,1280,720,40"),
    ] {
        let clip = Arc::new(Clip::load(&common::clip_path(name)).unwrap());
        let s = sim(&clip, Chunking::AccessUnit).await;
        let out = tmp(file);
        rec(s.url(), &out, 40).await;
        assert_eq!(ffprobe(&out), expect, "{name} -> {file}");
        s.shutdown().await;
    }
}

/// A recording killed without warning (SIGKILL) still plays: fragmented MP4.
#[test]
fn interrupted_mp4_still_plays() {
    let clip = common::clip_path("h264_baseline_720p.h264");
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args([
            "simulate",
            "--port",
            "0",
            "--fps",
            "30",
            "--immediate",
            "--camera",
        ])
        .arg(format!("T1={}", clip.display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let out = tmp("killed.mp4");
    let mut recorder = std::process::Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args(["record", "--url", line.trim(), "--serial", "T1", "-o"])
        .arg(&out)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    recorder.kill().unwrap(); // SIGKILL: no trailer is written
    recorder.wait().unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    let probe = ffprobe(&out);
    let frames: u64 = probe.rsplit(',').next().unwrap().parse().unwrap_or(0);
    assert!(
        probe.starts_with("h264,1280,720,") && frames >= 10,
        "{probe}"
    );
}

#[tokio::test]
async fn several_cameras_need_a_serial_in_the_name() {
    let (_tx, stop) = watch::channel(false);
    let config = RecordConfig {
        session: SessionConfig::new("ws://127.0.0.1:1", vec!["A".into(), "B".into()]),
        output: "x.h264".into(),
        duration: None,
        frames: None,
    };
    let err = record(config, stop).await.unwrap_err().to_string();
    assert!(err.contains("{serial}"), "{err}");
}

/// The viewer's `r`: a raw recording through the feed starts at the next keyframe and holds
/// the access units as received until it is stopped.
#[test]
fn viewer_recording_starts_at_a_keyframe() {
    use eufy_hw::decode::{Accel, DecoderConfig, FrameSink, LatestFrame};
    use eufy_hw::eufy::session::SessionEvent;
    use eufy_hw::pipeline::{toggle_recording, Feed};
    let clip = Clip::load(&common::clip_path("h264_baseline_720p.h264")).unwrap();
    let dir = tmp("viewer");
    std::fs::create_dir_all(&dir).unwrap();
    let decoder = DecoderConfig {
        accel: vec![Accel::None],
        ..Default::default()
    };
    let mut feed = Feed::new(&["T1".to_owned()], decoder, |_| {
        FrameSink::Latest(LatestFrame::new(|| {}))
    });
    let video = |i: usize| SessionEvent::Video {
        serial: "T1".into(),
        data: clip.units[i].data.to_vec(),
        received_at: std::time::Instant::now(),
    };
    for i in 0..3 {
        feed.on_event(video(i));
    }
    let (path, on) = toggle_recording(&feed.recordings, &feed.statuses, "T1", &dir).unwrap();
    assert!(on && path.extension().unwrap() == "h264");
    for i in 3..25 {
        feed.on_event(video(i));
    }
    let (same, on) = toggle_recording(&feed.recordings, &feed.statuses, "T1", &dir).unwrap();
    assert!(!on && same == path);
    // Units 3..9 precede the next keyframe (keyint 10); one frame interval stays in flight
    // until message ends are trusted, so the recording holds units 10.. up to at most 24.
    let first_key = (3..).find(|&i| clip.units[i].keyframe).unwrap();
    let got = std::fs::read(&path).unwrap();
    let expected: Vec<u8> = clip.units[first_key..25]
        .iter()
        .flat_map(|u| u.data.iter().copied())
        .collect();
    assert!(
        !got.is_empty() && expected.starts_with(&got),
        "{} vs {} bytes",
        got.len(),
        expected.len()
    );
    assert!(got.len() * 10 >= expected.len() * 9);
    feed.finish().unwrap();
}

/// The camera's AAC goes into MP4 next to the video, timed by arrival.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mp4_carries_the_audio() {
    let clip = Arc::new(Clip::load(&common::clip_path("h264_baseline_720p.h264")).unwrap());
    let aac = std::fs::read(common::clip_path("aac_16k_mono.aac")).unwrap();
    let frames: Vec<Arc<[u8]>> = eufy_hw::bitstream::adts::split_frames(&aac)
        .into_iter()
        .map(Arc::from)
        .collect();
    let s = Simulator::start(SimConfig {
        cameras: vec![Camera {
            serial: "T1".into(),
            clip,
        }],
        pacing: Pacing::Fps(30.0),
        realistic: false,
        audio: Some(Arc::new(frames)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let out = tmp("av.mp4");
    let (_tx, stop) = watch::channel(false);
    let config = RecordConfig {
        session: SessionConfig::new(s.url(), vec!["T1".into()]),
        output: out.display().to_string(),
        duration: None,
        frames: Some(60),
    };
    let r = record(config, stop).await.unwrap();
    assert!(r[0].audio_frames >= 20, "{:?}", r[0]);
    let probe = ffprobe(&out);
    let lines: Vec<&str> = probe.lines().collect();
    assert_eq!(lines[0], "h264,1280,720,60", "{probe}");
    let audio: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(audio[0], "aac", "{probe}");
    assert!(
        audio.last().unwrap().parse::<u64>().unwrap() >= 20,
        "{probe}"
    );
    s.shutdown().await;
}
