//! `eufy-hw record` against the simulator: raw output equals the clip's access units byte for
//! byte (both framings; with random cuts the last unit, completed by `livestream stopped`,
//! included); MP4/MKV open with FFmpeg with the right frames, codec and size, and MP4
//! carries the AAC audio; an MP4 that starts with the server's burst plays every frame at a
//! constant frame rate (7 of 30 were dropped before); a recording SIGKILLed mid-way still
//! plays; a server gone for 1.5 s is one gap; `{name}` comes from the server; a missing
//! folder is refused before connecting; stopping does not spin (CPU time well under the
//! wall time while an unanswered stop is awaited); the viewer's `r` starts at a keyframe.
//! Audio that starts 0.6 s after the video still gets an audio stream (every frame counted
//! as written is in the file); audio that starts 3 s later is counted as dropped.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use eufy_hw::clip::Clip;
use eufy_hw::eufy::session::SessionConfig;
use eufy_hw::record::{record, RecordConfig};
use eufy_hw::shutdown::Shutdown;
use eufy_hw::simulator::{Camera, Chunking, Pacing, SimConfig, Simulator};

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
    let stop = Shutdown::never();
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
    let camera = format!(
        "T1={}",
        common::clip_path("h264_baseline_720p.h264").display()
    );
    let (mut server, url) = common::simulate(&["--fps", "30", "--immediate", "--camera", &camera]);
    let out = tmp("killed.mp4");
    let mut recorder = std::process::Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args(["record", "--url", &url, "--serial", "T1", "-o"])
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
    let stop = Shutdown::never();
    let config = RecordConfig {
        session: SessionConfig::new("ws://127.0.0.1:1", vec!["A".into(), "B".into()]),
        output: "x.h264".into(),
        duration: None,
        frames: None,
    };
    let err = record(config, stop).await.unwrap_err().to_string();
    assert!(err.contains("{serial}"), "{err}");
}

/// The viewer's feed of camera T1 (software decoding, newest frame kept).
fn viewer_feed() -> eufy_hw::pipeline::Feed {
    use eufy_hw::decode::{Accel, DecoderConfig, FrameSink, LatestFrame};
    let decoder = DecoderConfig {
        accel: vec![Accel::None],
        ..Default::default()
    };
    eufy_hw::pipeline::Feed::new(&["T1".to_owned()], decoder, |_| {
        FrameSink::Latest(LatestFrame::new(|| {}))
    })
}

/// The codec the feed's status of T1 says (what the viewer passes when `r` is pressed).
fn codec(feed: &eufy_hw::pipeline::Feed) -> Option<eufy_hw::bitstream::Codec> {
    feed.statuses.lock().unwrap()["T1"].info.map(|i| i.codec)
}

/// The viewer's `r`: a raw recording through the feed starts at the next keyframe and holds
/// the access units as received until it is stopped.
#[test]
fn viewer_recording_starts_at_a_keyframe() {
    use eufy_hw::eufy::session::SessionEvent;
    use eufy_hw::pipeline::toggle_recording;
    let clip = Clip::load(&common::clip_path("h264_baseline_720p.h264")).unwrap();
    let dir = tmp("viewer");
    std::fs::create_dir_all(&dir).unwrap();
    let mut feed = viewer_feed();
    let video = |i: usize| SessionEvent::Video {
        serial: "T1".into(),
        data: clip.units[i].data.to_vec(),
        received_at: std::time::Instant::now(),
    };
    for i in 0..3 {
        feed.on_event(video(i));
    }
    let (path, on) = toggle_recording(&feed.recordings, codec(&feed), "T1", &dir).unwrap();
    assert!(on && path.extension().unwrap() == "h264");
    for i in 3..25 {
        feed.on_event(video(i));
    }
    let (same, on) = toggle_recording(&feed.recordings, codec(&feed), "T1", &dir).unwrap();
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
    let stop = Shutdown::never();
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

/// Audio that starts after the first keyframe (0.6 s later) still gets an audio stream: the
/// first video units wait for it; every frame counted as written is in the file. Audio that
/// starts after the wait (3 s later) is counted as dropped, not as written, and the video
/// is recorded without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_audio_is_declared_or_counted_honestly() {
    let clip = Arc::new(Clip::load(&common::clip_path("h264_baseline_720p.h264")).unwrap());
    let aac = std::fs::read(common::clip_path("aac_16k_mono.aac")).unwrap();
    let frames: Arc<Vec<Arc<[u8]>>> = Arc::new(
        eufy_hw::bitstream::adts::split_frames(&aac)
            .into_iter()
            .map(Arc::from)
            .collect(),
    );
    for (delay_ms, expect_audio) in [(600, true), (3000, false)] {
        let s = Simulator::start(SimConfig {
            cameras: vec![Camera {
                serial: "T1".into(),
                clip: clip.clone(),
            }],
            pacing: Pacing::Fps(30.0),
            realistic: false,
            audio: Some(frames.clone()),
            audio_delay: std::time::Duration::from_millis(delay_ms),
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let out = tmp(&format!("late-{delay_ms}.mp4"));
        let stop = Shutdown::never();
        let config = RecordConfig {
            session: SessionConfig::new(s.url(), vec!["T1".into()]),
            output: out.display().to_string(),
            duration: None,
            frames: Some(120),
        };
        let r = record(config, stop).await.unwrap();
        let probe = ffprobe(&out);
        let lines: Vec<&str> = probe.lines().collect();
        assert_eq!(lines[0], "h264,1280,720,120", "{probe}");
        if expect_audio {
            let audio: Vec<&str> = lines[1].split(',').collect();
            assert_eq!(audio[0], "aac", "{probe}");
            let in_file: u64 = audio.last().unwrap().parse().unwrap();
            assert!(r[0].audio_frames >= 20, "{:?}", r[0]);
            assert_eq!(in_file, r[0].audio_frames, "{probe} {:?}", r[0]);
        } else {
            assert_eq!(lines.len(), 1, "no audio stream expected: {probe}");
            assert_eq!(r[0].audio_frames, 0, "{:?}", r[0]);
            assert!(r[0].audio_dropped > 0, "{:?}", r[0]);
        }
        s.shutdown().await;
    }
}

/// With arbitrary chunking the last access unit is only completed by the next start code,
/// which never comes when the stream stops: it is complete when `livestream stopped`
/// arrives, so the recording holds the whole clip, its last unit included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_recording_with_random_chunking_ends_with_the_last_unit() {
    let clip = Arc::new(Clip::load(&common::clip_path("h264_slices4_720p.h264")).unwrap());
    let s = Simulator::start(SimConfig {
        cameras: vec![Camera {
            serial: "T1".into(),
            clip: clip.clone(),
        }],
        pacing: Pacing::Unpaced,
        realistic: false,
        looping: false,
        end_timeout: Duration::from_millis(100),
        chunking: Chunking::Random {
            seed: 11,
            max: 4000,
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let out = tmp("whole.h264");
    let n = clip.units.len() as u64;
    // The whole clip, then the stream stops; the restart is far off (a restart's first
    // start code would complete the unit too), the recording ends before it.
    let stop = Shutdown::never();
    let config = RecordConfig {
        session: SessionConfig {
            restart_pause: Duration::from_secs(60),
            ..SessionConfig::new(s.url(), vec!["T1".into()])
        },
        output: out.display().to_string(),
        duration: Some(Duration::from_secs(3)),
        frames: None,
    };
    let r = record(config, stop).await.unwrap();
    assert_eq!(r[0].units, n);
    let expected: Vec<u8> = clip
        .units
        .iter()
        .flat_map(|u| u.data.iter().copied())
        .collect();
    let got = std::fs::read(&out).unwrap();
    assert!(got == expected, "{} vs {} bytes", got.len(), expected.len());
    s.shutdown().await;
}

/// Gaps count outages: the server gone for a while (several reconnects failing) is one gap,
/// and the recording goes on from the next keyframe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_one_gap_however_many_reconnects() {
    let clip = Arc::new(Clip::load(&common::clip_path("h264_baseline_720p.h264")).unwrap());
    let config = |bind| SimConfig {
        bind,
        cameras: vec![Camera {
            serial: "T1".into(),
            clip: clip.clone(),
        }],
        pacing: Pacing::Fps(30.0),
        realistic: false,
        ..SimConfig::default()
    };
    let first = Simulator::start(config("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let addr = first.addr();
    let out = tmp("outage.h264");
    let stop = Shutdown::never();
    let session = eufy_hw::eufy::session::SessionConfig {
        backoff_min: Duration::from_millis(100),
        backoff_max: Duration::from_millis(200),
        ..SessionConfig::new(first.url(), vec!["T1".into()])
    };
    let task = tokio::spawn(record(
        RecordConfig {
            session,
            output: out.display().to_string(),
            duration: Some(Duration::from_secs(5)),
            frames: None,
        },
        stop,
    ));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    first.shutdown().await;
    // Down for 1.5 s: reconnects every 100-200 ms fail meanwhile.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = Simulator::start(config(addr)).await.unwrap();
    let r = task.await.unwrap().unwrap();
    assert_eq!(r[0].gaps, 1, "{:?}", r[0]);
    // Both stretches are in the file, each from a keyframe: FFmpeg decodes every unit.
    let probe = ffprobe(&out);
    let frames: u64 = probe.rsplit(',').next().unwrap().parse().unwrap();
    assert_eq!(frames, r[0].units, "{probe}");
    assert!(r[0].units > 60, "{:?}", r[0]);
    second.shutdown().await;
}

/// The real server sends the frames captured while a stream starts in one burst. Timed by
/// arrival alone, they land a millisecond apart and a constant-frame-rate player drops most
/// of them; smoothed, every frame written is played.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mp4_of_a_burst_start_plays_every_frame() {
    let clip = Arc::new(Clip::load(&common::clip_path("h264_baseline_720p.h264")).unwrap());
    let s = Simulator::start(SimConfig {
        cameras: vec![Camera {
            serial: "T1".into(),
            clip,
        }],
        // At the rate its SPS declares (30 fps), as a camera sends: the smoother keeps units
        // at least one declared interval apart, which is what a constant-rate player needs.
        // (Paced at 15 fps, a 30-fps stream could lose frames at 15 fps CFR whenever a loaded
        // machine delayed one arrival: 27 of 30 seen twice.)
        pacing: Pacing::Clip,
        // The real server's timing: the start delay's frames come in a burst.
        realistic: true,
        start_delay: Duration::from_millis(650),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let out = tmp("burst.mp4");
    assert_eq!(rec(s.url(), &out, 30).await, 30);
    // FFmpeg at a constant frame rate (the stream's), counting the frames it outputs.
    let played = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&out)
        .args(["-vsync", "cfr", "-f", "framemd5", "-"])
        .output()
        .unwrap();
    assert!(played.status.success());
    // Frames repeated to fill the rate are fine; frames dropped are not. Every frame of the
    // test pattern differs, so distinct pictures in a row count the frames played.
    let text = String::from_utf8_lossy(&played.stdout);
    let mut hashes: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next())
        .map(str::trim)
        .collect();
    hashes.dedup();
    assert_eq!(hashes.len(), 30, "frames played at a constant rate");
    assert!(ffprobe(&out).ends_with(",30"), "{}", ffprobe(&out));
    s.shutdown().await;
}

/// `{name}` in the output is the camera's name from the server, made safe for a file name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_names_come_from_the_server() {
    let clip = Arc::new(Clip::load(&common::clip_path("h264_baseline_720p.h264")).unwrap());
    let s = Simulator::start(SimConfig {
        cameras: vec![Camera {
            serial: "T1".into(),
            clip,
        }],
        names: [("T1".to_owned(), "Front door".to_owned())].into(),
        pacing: Pacing::Unpaced,
        realistic: false,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tmp("names");
    std::fs::create_dir_all(&dir).unwrap();
    let stop = Shutdown::never();
    let r = record(
        RecordConfig {
            session: SessionConfig::new(s.url(), vec!["T1".into()]),
            output: dir.join("{name}-{serial}.h264").display().to_string(),
            duration: None,
            frames: Some(5),
        },
        stop,
    )
    .await
    .unwrap();
    let expected = dir.join("Front_door-T1.h264");
    assert_eq!(r[0].path, expected.display().to_string());
    assert!(std::fs::metadata(&expected).unwrap().len() > 0);
    s.shutdown().await;
}

/// Bad output paths are refused before connecting (nothing listens at this URL: a connect
/// error would mean it tried).
#[tokio::test]
async fn a_missing_output_folder_is_refused_before_connecting() {
    let stop = Shutdown::never();
    let config = RecordConfig {
        session: SessionConfig::new("ws://127.0.0.1:1", vec!["T1".into()]),
        output: "/no/such/folder/x.mp4".into(),
        duration: None,
        frames: None,
    };
    let err = record(config, stop).await.unwrap_err().to_string();
    assert!(
        err.contains("/no/such/folder") && err.contains("does not exist"),
        "{err}"
    );
}

/// Stopping waits for the server to confirm the streams' stop (up to 2 s when it does not
/// answer); meanwhile the recorder must not spin: its CPU time stays a small part of it.
#[test]
fn stopping_does_not_spin() {
    let clip = common::clip_path("h264_baseline_720p.h264");
    let camera = format!("T1={}", clip.display());
    let (mut server, url) = common::simulate(&[
        "--fps",
        "30",
        "--immediate",
        "--ignore",
        "device.stop_livestream",
        "--camera",
        &camera,
    ]);
    let out = tmp("spin.h264");
    // bash's `times` prints the children's user and system CPU time.
    let script = format!(
        "start=$(date +%s%N); '{}' record --url {} --serial T1 --duration 1 -o '{}' 2>/dev/null; end=$(date +%s%N); echo $(( (end - start) / 1000000 )); times",
        env!("CARGO_BIN_EXE_eufy-hw"),
        url,
        out.display()
    );
    let run = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    let mut lines = text.lines();
    let wall_ms: f64 = lines.next().unwrap().trim().parse().unwrap();
    // `times`: the shell's own line, then the children's: "0m0.123s 0m0.045s".
    let children = lines.nth(1).unwrap();
    let cpu: f64 = children
        .split_whitespace()
        .map(|t| {
            let (m, s) = t.trim_end_matches('s').split_once('m').unwrap();
            m.parse::<f64>().unwrap() * 60.0 + s.parse::<f64>().unwrap()
        })
        .sum();
    // 1 s of recording, then about 2 s waiting for the unanswered stop.
    assert!(
        wall_ms >= 2500.0,
        "stopped after {wall_ms} ms: was the stop awaited?"
    );
    assert!(
        cpu * 1000.0 < wall_ms * 0.4,
        "{cpu:.2} s of CPU in {wall_ms:.0} ms: spinning while stopping"
    );
}

/// `r` pressed twice within a second makes two recordings: the second never truncates the
/// first (names were whole seconds once).
#[test]
fn viewer_recordings_in_the_same_second_are_two_files() {
    use eufy_hw::eufy::session::SessionEvent;
    use eufy_hw::pipeline::toggle_recording;
    let clip = Clip::load(&common::clip_path("h264_baseline_720p.h264")).unwrap();
    let dir = tmp("same-second");
    std::fs::create_dir_all(&dir).unwrap();
    let mut feed = viewer_feed();
    let mut paths = Vec::new();
    for round in 0..3 {
        let (path, on) = toggle_recording(&feed.recordings, codec(&feed), "T1", &dir).unwrap();
        assert!(on);
        // One keyframe's worth, then stop: within the same second every time.
        for i in round * 10..round * 10 + 11 {
            feed.on_event(SessionEvent::Video {
                serial: "T1".into(),
                data: clip.units[i % clip.units.len()].data.to_vec(),
                received_at: std::time::Instant::now(),
            });
        }
        let (same, on) = toggle_recording(&feed.recordings, codec(&feed), "T1", &dir).unwrap();
        assert!(!on && same == path);
        paths.push(path);
    }
    let mut unique = paths.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "{paths:?}");
    for p in &paths {
        assert!(
            std::fs::metadata(p).unwrap().len() > 0,
            "{} is empty",
            p.display()
        );
    }
    feed.finish().unwrap();
}
