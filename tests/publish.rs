//! `eufy-hw publish`: the simulator → the session → FFmpeg's RTSP muxer → a real RTSP
//! server → a reader. The server here is FFmpeg's own RTSP listener (`ffmpeg -rtsp_flags
//! listen`, from Debian), which takes one publisher and writes what it receives to a file:
//! every frame of an H.264 stream with audio and of an H.265 stream arrives with its codec
//! and size; a server that stops after 2 s and comes back gets the stream again from a
//! keyframe with the camera's side untouched; a camera cut off twice mid-stream goes on;
//! SIGTERM stops the livestream. (A restreaming server read back by the viewer and by
//! `bench --publish`: tests/window.rs and tests/bench.rs.)
#![allow(clippy::unwrap_used)]

mod common;
use common::free_port;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eufy_hw::clip::Clip;
use eufy_hw::eufy::session::SessionConfig;
use eufy_hw::record::{record, RecordConfig};
use eufy_hw::shutdown::{self, Shutdown};
use eufy_hw::simulator::{Camera, Pacing, SimConfig, Simulator};

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("eufy-publish-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// FFmpeg listening for one RTSP publisher at `url`, copying what it receives into `out`
/// (Matroska), for at most `secs` of input.
fn rtsp_server(url: &str, out: &std::path::Path, secs: Option<f64>) -> Child {
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-nostdin",
        "-v",
        "error",
        "-rtsp_flags",
        "listen",
        "-i",
        url,
    ]);
    if let Some(s) = secs {
        cmd.args(["-t", &s.to_string()]);
    }
    let child = cmd
        .args(["-c", "copy", "-f", "matroska", "-y"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg (./dev.sh setup installs it)");
    // It listens at once; give it a moment to bind.
    std::thread::sleep(Duration::from_millis(500));
    child
}

/// Waits for the server to finish its file.
fn finished(mut child: Child, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// codec,width,height,frames per stream.
fn probe(path: &std::path::Path) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries"])
        .args([
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn aac() -> Arc<Vec<Arc<[u8]>>> {
    let bytes = std::fs::read(common::clip_path("aac_16k_mono.aac")).unwrap();
    Arc::new(
        eufy_hw::bitstream::adts::split_frames(&bytes)
            .into_iter()
            .map(Arc::from)
            .collect(),
    )
}

async fn sim(clip: &str, audio: bool) -> Simulator {
    Simulator::start(SimConfig {
        cameras: vec![Camera {
            serial: "T1".into(),
            clip: Arc::new(Clip::load(&common::clip_path(clip)).unwrap()),
        }],
        pacing: Pacing::Fps(30.0),
        realistic: false,
        audio: audio.then(aac),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// H.264 with audio and H.265 without: every unit pushed arrives, codec and size right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_frame_reaches_the_rtsp_server() {
    for (clip, audio, codec, size) in [
        ("h264_baseline_720p.h264", true, "h264", "1280,720"),
        ("h265_main_1080p.h265", false, "hevc", "1920,1080"),
    ] {
        let s = sim(clip, audio).await;
        let url = format!("rtsp://127.0.0.1:{}/live", free_port());
        let file = tmp(&format!("{codec}.mkv"));
        let server = rtsp_server(&url, &file, None);
        let stop = Shutdown::never();
        let r = record(
            RecordConfig {
                session: SessionConfig::new(s.url(), vec!["T1".into()]),
                output: url.clone(),
                duration: None,
                frames: Some(60),
            },
            stop,
        )
        .await
        .unwrap();
        let err = finished(server, Duration::from_secs(10));
        assert_eq!(r[0].units, 60, "{:?}", r[0]);
        assert_eq!(r[0].reconnects, 0, "{:?}", r[0]);
        let streams = probe(&file);
        assert_eq!(
            streams[0],
            format!("{codec},{size},60"),
            "{streams:?} {err}"
        );
        if audio {
            assert!(
                streams.len() == 2 && streams[1].starts_with("aac"),
                "{streams:?}"
            );
            assert!(r[0].audio_frames >= 20, "{:?}", r[0]);
        } else {
            assert_eq!(streams.len(), 1, "{streams:?}");
        }
        s.shutdown().await;
    }
}

/// The RTSP server goes away after 2 s of input and a new one takes its place: the
/// publisher reconnects with backoff and the new server gets the stream from a keyframe,
/// while the camera's stream never stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_comes_back_gets_the_stream_again() {
    let s = sim("h264_baseline_720p.h264", false).await;
    let url = format!("rtsp://127.0.0.1:{}/live", free_port());
    let first_file = tmp("first.mkv");
    let first = rtsp_server(&url, &first_file, Some(2.0));
    let (stop_tx, stop) = shutdown::channel();
    let task = tokio::spawn(record(
        RecordConfig {
            session: SessionConfig::new(s.url(), vec!["T1".into()]),
            output: url.clone(),
            duration: Some(Duration::from_secs(9)),
            frames: None,
        },
        stop,
    ));
    let err = tokio::task::spawn_blocking(move || finished(first, Duration::from_secs(8)))
        .await
        .unwrap();
    let second_file = tmp("second.mkv");
    let second = rtsp_server(&url, &second_file, None);
    let r = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    drop(stop_tx);
    let err2 = tokio::task::spawn_blocking(move || finished(second, Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(r[0].reconnects >= 1, "{:?} {err}", r[0]);
    let a = probe(&first_file);
    let b = probe(&second_file);
    let frames = |v: &[String]| {
        v.first()
            .and_then(|l| l.rsplit(',').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert!(frames(&a) >= 30, "first server: {a:?} {err}");
    assert!(frames(&b) >= 60, "second server: {b:?} {err2}");
    assert!(b[0].starts_with("h264,1280,720"), "{b:?}");
    assert_eq!(r[0].gaps, 0, "the camera's side never stopped: {:?}", r[0]);
    s.shutdown().await;
}

/// `eufy-hw publish` ends on SIGTERM (go2rtc's `exec:` and MediaMTX's `runOnDemand` stop it
/// so) and stops the camera's livestream first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_livestream() {
    let s = sim("h264_baseline_720p.h264", false).await;
    let url = format!("rtsp://127.0.0.1:{}/T1", free_port());
    let file = tmp("sigterm.mkv");
    let server = rtsp_server(&url, &file, None);
    let mut publisher = Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args(["publish", "--url", &s.url(), "--serial", "T1", "--to"])
        .arg(url.replace("/T1", "/{serial}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(s.stats().count("device.stop_livestream"), 0);
    let kill = Command::new("kill")
        .args(["-TERM", &publisher.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = publisher.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "publish did not end on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut err = String::new();
    std::io::Read::read_to_string(publisher.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    assert!(
        err.contains("SIGTERM") && err.contains("access units pushed"),
        "{err}"
    );
    assert_eq!(s.stats().count("device.stop_livestream"), 1, "{err}");
    let _ = tokio::task::spawn_blocking(move || finished(server, Duration::from_secs(5))).await;
    let streams = probe(&file);
    assert!(
        streams
            .first()
            .is_some_and(|l| l.starts_with("h264,1280,720")),
        "{streams:?}"
    );
    s.shutdown().await;
}

/// The camera's stream cut off twice mid-publish (battery cameras end theirs every few
/// minutes): the session restarts it and the push goes on, every unit reaching the server
/// in one continuous stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_cut_off_mid_stream_goes_on() {
    let s = Simulator::start(SimConfig {
        cameras: vec![Camera {
            serial: "T1".into(),
            clip: Arc::new(Clip::load(&common::clip_path("h264_baseline_720p.h264")).unwrap()),
        }],
        pacing: Pacing::Fps(30.0),
        realistic: false,
        cutoff: Some(Duration::from_millis(1200)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let url = format!("rtsp://127.0.0.1:{}/live", free_port());
    let file = tmp("cutoff.mkv");
    let server = rtsp_server(&url, &file, None);
    let stop = Shutdown::never();
    let r = record(
        RecordConfig {
            session: SessionConfig {
                restart_pause: Duration::from_millis(200),
                ..SessionConfig::new(s.url(), vec!["T1".into()])
            },
            output: url.clone(),
            duration: None,
            frames: Some(90),
        },
        stop,
    )
    .await
    .unwrap();
    let err = finished(server, Duration::from_secs(10));
    assert!(r[0].gaps >= 2, "{:?}", r[0]);
    assert_eq!(
        r[0].reconnects, 0,
        "the server's side never failed: {:?}",
        r[0]
    );
    let streams = probe(&file);
    assert_eq!(streams[0], "h264,1280,720,90", "{streams:?} {err}");
    s.shutdown().await;
}

/// Publishing through the Eufy Mega bridge: the same units reach the RTSP server (H.265, the
/// codec from the parameter sets although the bridge says `video/H264`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridges_cameras_are_published_too() {
    let s = Simulator::start(SimConfig {
        cameras: vec![Camera {
            serial: "T1".into(),
            clip: Arc::new(Clip::load(&common::clip_path("h265_main_1080p.h265")).unwrap()),
        }],
        pacing: Pacing::Fps(30.0),
        realistic: false,
        bridge: Some(eufy_hw::simulator::BridgeSim::default()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let url = format!("rtsp://127.0.0.1:{}/live", free_port());
    let file = tmp("bridge-hevc.mkv");
    let server = rtsp_server(&url, &file, None);
    let r = record(
        RecordConfig {
            session: SessionConfig::new(s.url(), vec!["T1".into()]),
            output: url.clone(),
            duration: None,
            frames: Some(60),
        },
        Shutdown::never(),
    )
    .await
    .unwrap();
    let err = finished(server, Duration::from_secs(10));
    assert_eq!(r[0].units, 60, "{:?}", r[0]);
    let streams = probe(&file);
    assert_eq!(streams, vec!["hevc,1920,1080,60".to_owned()], "{err}");
    s.shutdown().await;
}
