//! `eufy-hw simulate` against a plain WebSocket client over loopback: every result shape and
//! error code, both framings, the real server's timing, and each fault mode; stations (the
//! newer start wins), cut-offs, login delay, properties, detection events, offline cameras,
//! the talk-back rules, the `simulate` command; bad numbers (`--fps 0`, `nan`,
//! `--frames 0`) refused by the CLI.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{clip_path, End, Plain};
use eufy_hw::clip::Clip;
use eufy_hw::simulator::{Camera, Chunking, Fault, FaultKind, Pacing, SimConfig, Simulator};
use serde_json::json;

const SERIAL: &str = "T8410P0000000001";
const WAIT: Duration = Duration::from_secs(10);

fn camera(serial: &str, clip: &str) -> Camera {
    Camera {
        serial: serial.into(),
        clip: Arc::new(Clip::load(&clip_path(clip)).expect("clip")),
    }
}

/// Fast, unbuffered, non-looping: the clip exactly once, no delays.
fn immediate(cameras: Vec<Camera>) -> SimConfig {
    SimConfig {
        cameras,
        pacing: Pacing::Unpaced,
        realistic: false,
        looping: false,
        end_timeout: Duration::from_millis(100),
        ..SimConfig::default()
    }
}

async fn start(sim: &Simulator, schema: u32) -> Plain {
    let mut c = Plain::handshake(&sim.url(), schema).await;
    let (r, _) = c
        .call(
            "start",
            "device.start_livestream",
            json!({"serialNumber": SERIAL}),
        )
        .await;
    assert_eq!(r["success"], true, "{r}");
    c
}

/// Reads video until `livestream stopped`; returns the event payloads.
async fn collect_until_stopped(c: &mut Plain) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let m = c.next(WAIT).await.expect("event");
        match m["event"]["event"].as_str() {
            Some("livestream video data") => out.push(
                m["event"]["buffer"]["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| u8::try_from(v.as_u64().unwrap()).unwrap())
                    .collect(),
            ),
            Some("livestream stopped") => return out,
            _ => {}
        }
    }
}

#[tokio::test]
async fn version_schema_and_listening() {
    let sim = Simulator::start(immediate(vec![camera(SERIAL, "h264_baseline_720p.h264")]))
        .await
        .unwrap();
    let mut c = Plain::connect(&sim.url()).await;
    let v = c.next(WAIT).await.unwrap();
    assert_eq!(v["type"], "version");
    assert_eq!(v["minSchemaVersion"], 0);
    assert_eq!(v["maxSchemaVersion"], 21);
    assert!(v["serverVersion"].is_string() && v["driverVersion"].is_string());

    // Before set_api_schema the session is on schema 0: no livestream commands.
    let (r, _) = c
        .call(
            "s0",
            "device.start_livestream",
            json!({"serialNumber": SERIAL}),
        )
        .await;
    assert_eq!(
        r,
        json!({"type":"result","messageId":"s0","success":false,"errorCode":"unknown_command"})
    );

    let (r, _) = c
        .call("bad", "set_api_schema", json!({"schemaVersion": 22}))
        .await;
    assert_eq!(r["errorCode"], "schema_incompatible");
    assert_eq!(r["success"], false);
    let (r, _) = c
        .call("schema", "set_api_schema", json!({"schemaVersion": 21}))
        .await;
    assert_eq!(
        r,
        json!({"type":"result","messageId":"schema","success":true,"result":{}})
    );

    let (r, _) = c.call("listen", "start_listening", json!({})).await;
    let state = &r["result"]["state"];
    assert_eq!(state["devices"], json!([SERIAL]));
    assert_eq!(state["stations"], json!([SERIAL]));
    assert_eq!(state["driver"]["connected"], true);

    let (r, _) = c.call("x", "no.such_command", json!({})).await;
    assert_eq!(r["errorCode"], "unknown_command");
}

#[tokio::test]
async fn livestream_commands_and_error_codes() {
    let sim = Simulator::start(SimConfig {
        looping: true,
        pacing: Pacing::Fps(30.0),
        ..immediate(vec![camera(SERIAL, "h264_baseline_720p.h264")])
    })
    .await
    .unwrap();
    let mut c = Plain::handshake(&sim.url(), 21).await;
    let (r, _) = c
        .call(
            "u",
            "device.start_livestream",
            json!({"serialNumber": "T0000000000000000"}),
        )
        .await;
    assert_eq!(r["errorCode"], "device_not_found");
    let (r, _) = c
        .call(
            "s",
            "device.stop_livestream",
            json!({"serialNumber": SERIAL}),
        )
        .await;
    assert_eq!(r["errorCode"], "device_livestream_not_running");
    let (r, _) = c
        .call(
            "i",
            "device.is_livestreaming",
            json!({"serialNumber": SERIAL}),
        )
        .await;
    assert_eq!(
        r["result"],
        json!({"serialNumber": SERIAL, "livestreaming": false})
    );

    let (r, _) = c
        .call(
            "start",
            "device.start_livestream",
            json!({"serialNumber": SERIAL}),
        )
        .await;
    assert_eq!(r["result"], json!({"async": true}));
    let (r, _) = c
        .call(
            "again",
            "device.start_livestream",
            json!({"serialNumber": SERIAL}),
        )
        .await;
    assert_eq!(r["errorCode"], "device_livestream_already_running");
    let (r, _) = c
        .call(
            "i2",
            "device.is_livestreaming",
            json!({"serialNumber": SERIAL}),
        )
        .await;
    assert_eq!(r["result"]["livestreaming"], true);

    // One client: the stop result first, then `livestream stopped`.
    let (r, _) = c
        .call(
            "stop",
            "device.stop_livestream",
            json!({"serialNumber": SERIAL}),
        )
        .await;
    assert_eq!(
        r,
        json!({"type":"result","messageId":"stop","success":true,"result":{}})
    );
    loop {
        let m = c.next(WAIT).await.unwrap();
        if m["event"]["event"] == "livestream stopped" {
            assert_eq!(m["event"]["serialNumber"], SERIAL);
            assert_eq!(m["event"]["source"], "device");
            break;
        }
    }
    let (r, _) = c
        .call(
            "stop2",
            "device.stop_livestream",
            json!({"serialNumber": SERIAL}),
        )
        .await;
    assert_eq!(r["errorCode"], "device_livestream_not_running");
    // A new start after a stop works.
    let (r, _) = c
        .call(
            "restart",
            "device.start_livestream",
            json!({"serialNumber": SERIAL}),
        )
        .await;
    assert_eq!(r["success"], true);
}

#[tokio::test]
async fn old_schema_result_shape() {
    let sim = Simulator::start(immediate(vec![camera(SERIAL, "h264_baseline_720p.h264")]))
        .await
        .unwrap();
    let mut c = Plain::handshake(&sim.url(), 12).await;
    let (r, _) = c
        .call(
            "start",
            "device.start_livestream",
            json!({"serialNumber": SERIAL}),
        )
        .await;
    assert_eq!(r["result"], json!({}));
    let mut c1 = Plain::handshake(&sim.url(), 1).await;
    let (r, _) = c1
        .call(
            "start",
            "device.start_livestream",
            json!({"serialNumber": SERIAL}),
        )
        .await;
    assert_eq!(r["errorCode"], "unknown_command");
}

#[tokio::test]
async fn invalid_json_closes_without_code() {
    let sim = Simulator::start(immediate(vec![camera(SERIAL, "h264_baseline_720p.h264")]))
        .await
        .unwrap();
    let mut c = Plain::connect(&sim.url()).await;
    c.next(WAIT).await.unwrap();
    c.send_raw("{not json").await;
    assert_eq!(c.next(WAIT).await, Err(End::Closed(None)));
}

/// Per-access-unit framing: each event is one access unit of the file, in order.
#[tokio::test]
async fn one_event_per_access_unit_for_every_clip() {
    for name in common::ALL_CLIPS {
        let cam = camera(SERIAL, name);
        let units: Vec<Vec<u8>> = cam.clip.units.iter().map(|u| u.data.to_vec()).collect();
        let sim = Simulator::start(immediate(vec![cam])).await.unwrap();
        let mut c = start(&sim, 21).await;
        let got = collect_until_stopped(&mut c).await;
        assert_eq!(got.len(), units.len(), "{name}");
        assert!(
            got == units,
            "{name}: events differ from the clip's access units"
        );
    }
}

/// Random framing: the events' bytes concatenated equal the clip; cuts land mid-NAL.
#[tokio::test]
async fn random_chunking_preserves_the_byte_stream() {
    let cam = camera(SERIAL, "h265_main_1080p.h265");
    let whole: Vec<u8> = cam
        .clip
        .units
        .iter()
        .flat_map(|u| u.data.iter().copied())
        .collect();
    let mut runs = Vec::new();
    for seed in [1, 2] {
        let sim = Simulator::start(SimConfig {
            chunking: Chunking::Random { seed, max: 4096 },
            ..immediate(vec![cam.clone()])
        })
        .await
        .unwrap();
        let mut c = start(&sim, 21).await;
        let got = collect_until_stopped(&mut c).await;
        let joined: Vec<u8> = got.iter().flatten().copied().collect();
        // The tail shorter than the next cut stays unsent when the clip ends.
        assert!(joined.len() <= whole.len() && whole.len() - joined.len() <= 4096);
        assert!(
            joined[..] == whole[..joined.len()],
            "seed {seed}: bytes differ"
        );
        assert!(
            got.len() > cam.clip.units.len(),
            "seed {seed}: not cut finer than access units"
        );
        assert!(
            got.iter().any(|c| c.len() < 4),
            "seed {seed}: no tiny chunks"
        );
        runs.push(got.iter().map(Vec::len).collect::<Vec<_>>());
    }
    assert_ne!(runs[0], runs[1], "different seeds cut alike");
}

#[tokio::test]
async fn metadata_and_buffer_shape() {
    let sim = Simulator::start(immediate(vec![camera(SERIAL, "h265_main_1080p.h265")]))
        .await
        .unwrap();
    let mut c = start(&sim, 21).await;
    let (_, m) = c.next_video(WAIT).await.unwrap();
    assert_eq!(m["type"], "event");
    let ev = &m["event"];
    assert_eq!(ev["source"], "device");
    assert_eq!(ev["serialNumber"], SERIAL);
    assert_eq!(ev["buffer"]["type"], "Buffer");
    assert_eq!(ev["metadata"]["videoCodec"], "H265");
    assert_eq!(ev["metadata"]["videoWidth"], 1920);
    assert_eq!(ev["metadata"]["videoHeight"], 1080);
}

/// The real server's timing: `{"async":true}` at once, `livestream started` at least the start
/// delay later, the frames captured meanwhile in a burst, the last frame never sent.
#[tokio::test]
async fn realistic_timing() {
    let cam = camera(SERIAL, "h264_baseline_720p.h264");
    let n = cam.clip.units.len();
    let sim = Simulator::start(SimConfig {
        cameras: vec![cam],
        pacing: Pacing::Fps(30.0),
        realistic: true,
        start_delay: Duration::from_millis(650),
        looping: false,
        end_timeout: Duration::from_millis(300),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut c = Plain::handshake(&sim.url(), 21).await;
    let t0 = Instant::now();
    let (r, _) = c
        .call(
            "start",
            "device.start_livestream",
            json!({"serialNumber": SERIAL}),
        )
        .await;
    assert_eq!(r["result"], json!({"async": true}));
    let m = c.next(WAIT).await.unwrap();
    assert_eq!(m["event"]["event"], "livestream started");
    assert!(t0.elapsed() >= Duration::from_millis(650));
    // The burst: the frames captured during the start delay arrive back to back.
    let burst_start = Instant::now();
    for _ in 0..15 {
        c.next_video(WAIT).await.unwrap();
    }
    let burst = burst_start.elapsed();
    let frames = 15 + collect_until_stopped(&mut c).await.len();
    assert_eq!(frames, n - 1, "the last frame must not be sent");
    // 15 frames at 30 fps would take 500 ms if paced; the burst is at least 19 frames
    // (650 ms at 30 fps) so it should arrive well before that.
    assert!(burst < Duration::from_millis(450), "no burst: {burst:?}");
}

#[tokio::test]
async fn joining_a_running_stream() {
    let sim = Simulator::start(SimConfig {
        looping: true,
        pacing: Pacing::Fps(30.0),
        ..immediate(vec![camera(SERIAL, "h264_baseline_720p.h264")])
    })
    .await
    .unwrap();
    let mut a = start(&sim, 21).await;
    a.next_video(WAIT).await.unwrap();
    let mut b = Plain::handshake(&sim.url(), 21).await;
    let (r, before) = b
        .call(
            "join",
            "device.start_livestream",
            json!({"serialNumber": SERIAL}),
        )
        .await;
    assert_eq!(r["success"], true);
    assert_eq!(
        before.len(),
        1,
        "expected `livestream started` before the result"
    );
    assert_eq!(before[0]["event"]["event"], "livestream started");
    b.next_video(WAIT).await.unwrap();

    // Several clients watching: `livestream stopped` comes before the stop result.
    let (r, before) = b
        .call(
            "stop",
            "device.stop_livestream",
            json!({"serialNumber": SERIAL}),
        )
        .await;
    assert_eq!(r["success"], true);
    assert!(before
        .iter()
        .any(|m| m["event"]["event"] == "livestream stopped"));
    loop {
        let m = a.next(WAIT).await.unwrap();
        if m["event"]["event"] == "livestream stopped" {
            break;
        }
    }
}

#[tokio::test]
async fn several_cameras_on_one_connection() {
    let sim = Simulator::start(immediate(vec![
        camera("T1", "h264_baseline_720p.h264"),
        camera("T2", "h265_main_1080p.h265"),
    ]))
    .await
    .unwrap();
    let mut c = Plain::handshake(&sim.url(), 21).await;
    // Unpaced, T1 may send its whole clip while T2's start is answered: the events that
    // came before a result count too.
    let mut early = Vec::new();
    for s in ["T1", "T2"] {
        let (r, before) = c
            .call(s, "device.start_livestream", json!({"serialNumber": s}))
            .await;
        assert_eq!(r["success"], true);
        early.extend(before);
    }
    let mut seen = std::collections::HashMap::new();
    let mut stopped = 0;
    let mut early = early.into_iter();
    while stopped < 2 {
        let m = match early.next() {
            Some(m) => m,
            None => c.next(WAIT).await.unwrap(),
        };
        match m["event"]["event"].as_str() {
            Some("livestream video data") => {
                let s = m["event"]["serialNumber"].as_str().unwrap().to_owned();
                let codec = m["event"]["metadata"]["videoCodec"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                seen.insert(s, codec);
            }
            Some("livestream stopped") => stopped += 1,
            _ => {}
        }
    }
    assert_eq!(seen["T1"], "H264");
    assert_eq!(seen["T2"], "H265");
}

async fn with_fault(kind: FaultKind, after: u64) -> (Simulator, Plain) {
    let sim = Simulator::start(SimConfig {
        looping: true,
        pacing: Pacing::Fps(60.0),
        faults: vec![Fault {
            kind,
            after_frames: after,
        }],
        ..immediate(vec![camera(SERIAL, "h264_baseline_720p.h264")])
    })
    .await
    .unwrap();
    let mut c = start(&sim, 21).await;
    for _ in 0..after {
        c.next_video(WAIT).await.unwrap();
    }
    (sim, c)
}

#[tokio::test]
async fn fault_close_drops_the_connection() {
    let (_sim, mut c) = with_fault(FaultKind::Close, 3).await;
    assert_eq!(c.next(WAIT).await, Err(End::Dropped));
}

#[tokio::test]
async fn fault_stall_sends_nothing_for_a_while() {
    let (_sim, mut c) = with_fault(FaultKind::Stall(Duration::from_millis(800)), 2).await;
    let t = Instant::now();
    c.next_video(WAIT).await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(700),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn fault_garbage_sends_bytes_without_start_codes() {
    let (_sim, mut c) = with_fault(FaultKind::Garbage, 2).await;
    let (data, _) = c.next_video(WAIT).await.unwrap();
    assert!(!data.is_empty());
    assert!(!data.windows(3).any(|w| w == [0, 0, 1]));
}

#[tokio::test]
async fn fault_corrupt_changes_slice_bytes_only() {
    let cam = camera(SERIAL, "h264_baseline_720p.h264");
    let (_sim, mut c) = with_fault(FaultKind::Corrupt, 2).await;
    let (data, _) = c.next_video(WAIT).await.unwrap();
    let orig = &cam.clip.units[2].data;
    assert_eq!(data.len(), orig.len());
    assert_ne!(&data[..], &orig[..]);
    // The start of the unit (start code and NAL header) is intact.
    assert_eq!(data[..6], orig[..6]);
    // The next unit is clean again.
    let (next, _) = c.next_video(WAIT).await.unwrap();
    assert_eq!(&next[..], &cam.clip.units[3].data[..]);
}

#[tokio::test]
async fn fault_bad_json_and_bad_bytes() {
    let (_sim, mut c) = with_fault(FaultKind::BadJson, 1).await;
    let t = c.next_text(WAIT).await.unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(&t).is_err(),
        "{t}"
    );

    let (_sim, mut c) = with_fault(FaultKind::BadBytes, 1).await;
    let t = c.next_text(WAIT).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&t).unwrap();
    let data = v["event"]["buffer"]["data"].as_array().unwrap();
    assert!(data.iter().any(|x| x.as_u64().is_none_or(|x| x > 255)));
}

#[tokio::test]
async fn fault_stop_sends_livestream_stopped() {
    let (_sim, mut c) = with_fault(FaultKind::Stop, 2).await;
    let m = c.next(WAIT).await.unwrap();
    assert_eq!(m["event"]["event"], "livestream stopped");
    // Nothing more comes for the stopped camera.
    assert_eq!(c.next(Duration::from_millis(300)).await, Err(End::Timeout));
}

#[tokio::test]
async fn fault_restart_announces_shutdown_then_accepts_again() {
    let (sim, mut c) = with_fault(FaultKind::Restart, 2).await;
    let m = c.next(WAIT).await.unwrap();
    assert_eq!(m["event"], json!({"source": "server", "event": "shutdown"}));
    assert!(matches!(
        c.next(WAIT).await,
        Err(End::Closed(_) | End::Dropped)
    ));
    let mut again = start(&sim, 21).await;
    again.next_video(WAIT).await.unwrap();
}

#[tokio::test]
async fn ignored_command_is_never_answered() {
    let sim = Simulator::start(SimConfig {
        ignore_commands: vec!["device.start_livestream".into()],
        ..immediate(vec![camera(SERIAL, "h264_baseline_720p.h264")])
    })
    .await
    .unwrap();
    let mut c = Plain::handshake(&sim.url(), 21).await;
    c.send(
        json!({"messageId": "start", "command": "device.start_livestream", "serialNumber": SERIAL}),
    )
    .await;
    assert_eq!(c.next(Duration::from_millis(800)).await, Err(End::Timeout));
}

#[test]
fn fault_specs_parse() {
    assert_eq!(
        "stall=2.5@50".parse::<Fault>(),
        Ok(Fault {
            kind: FaultKind::Stall(Duration::from_millis(2500)),
            after_frames: 50
        })
    );
    assert_eq!(
        "close@3".parse::<Fault>().map(|f| f.kind),
        Ok(FaultKind::Close)
    );
    assert!("explode@3".parse::<Fault>().is_err());
    assert!("stall@3".parse::<Fault>().is_err());
    assert!("close@x".parse::<Fault>().is_err());
}

/// The binary: `eufy-hw simulate --port 0` prints its URL on stdout and serves.
#[tokio::test]
async fn simulate_command_serves_on_a_free_port() {
    use tokio::io::AsyncBufReadExt;
    let clip = clip_path("h264_aud_720p.h264");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args(["simulate", "--port", "0", "--immediate", "--camera"])
        .arg(format!("{SERIAL}={}", clip.display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let url = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(url.starts_with("ws://127.0.0.1:"), "{url}");
    let mut c = Plain::handshake(&url, 21).await;
    let (r, _) = c
        .call(
            "start",
            "device.start_livestream",
            json!({"serialNumber": SERIAL}),
        )
        .await;
    assert_eq!(r["success"], true);
    let (data, _) = c.next_video(WAIT).await.unwrap();
    assert_eq!(&data[..], &Clip::load(&clip).unwrap().units[0].data[..]);
    child.kill().await.ok();
}

#[tokio::test]
async fn simulate_command_rejects_a_bad_clip() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args([
            "simulate",
            "--port",
            "0",
            "--camera",
            "T1=/nonexistent.h264",
        ])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot read clip /nonexistent.h264"), "{err}");
}

/// With `audio`, cameras also send `livestream audio data` (ADTS AAC), paced with the video.
#[tokio::test]
async fn audio_events_accompany_the_video() {
    let aac = std::fs::read(clip_path("aac_16k_mono.aac")).unwrap();
    let frames: Vec<Arc<[u8]>> = eufy_hw::bitstream::adts::split_frames(&aac)
        .into_iter()
        .map(Arc::from)
        .collect();
    assert!(frames.len() > 50);
    let sim = Simulator::start(SimConfig {
        audio: Some(Arc::new(frames.clone())),
        looping: true,
        pacing: Pacing::Fps(30.0),
        ..immediate(vec![camera(SERIAL, "h264_baseline_720p.h264")])
    })
    .await
    .unwrap();
    let mut c = start(&sim, 21).await;
    let (mut video, mut audio) = (0, Vec::new());
    while video < 30 {
        let m = c.next(WAIT).await.unwrap();
        match m["event"]["event"].as_str() {
            Some("livestream video data") => video += 1,
            Some("livestream audio data") => {
                assert_eq!(m["event"]["metadata"]["audioCodec"], "AAC");
                let data: Vec<u8> = m["event"]["buffer"]["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as u8)
                    .collect();
                audio.push(data);
            }
            _ => {}
        }
    }
    // 30 frames at 30 fps = 1 s; 16 kHz / 1024 samples = 15.6 AAC frames per second.
    assert!(
        (13..=17).contains(&audio.len()),
        "{} audio frames",
        audio.len()
    );
    assert_eq!(audio[0], frames[0].to_vec());
}

/// Reads until an event named `name` (for `serial` when given); the events before it too.
async fn until_event(c: &mut Plain, name: &str, serial: Option<&str>) -> (Value, Vec<Value>) {
    let mut before = Vec::new();
    loop {
        let m = c.next(WAIT).await.expect("event");
        if m["event"]["event"] == name && serial.is_none_or(|s| m["event"]["serialNumber"] == s) {
            return (m, before);
        }
        before.push(m);
    }
}

use serde_json::Value;

fn looping(cameras: Vec<Camera>) -> SimConfig {
    SimConfig {
        cameras,
        pacing: Pacing::Fps(60.0),
        realistic: false,
        ..SimConfig::default()
    }
}

/// `device.get_properties`: the camera's name and the station it streams through.
#[tokio::test]
async fn properties_name_the_camera_and_its_station() {
    let sim = Simulator::start(SimConfig {
        stations: vec![("T8010HB".into(), vec!["A".into(), "B".into()])],
        names: [("A".to_owned(), "Front door".to_owned())].into(),
        ..looping(vec![
            camera("A", "h264_baseline_720p.h264"),
            camera("B", "h264_baseline_720p.h264"),
            camera("C", "h264_baseline_720p.h264"),
        ])
    })
    .await
    .unwrap();
    let mut c = Plain::handshake(&sim.url(), 21).await;
    for (serial, name, station) in [
        ("A", "Front door", "T8010HB"),
        ("B", "Camera 2", "T8010HB"),
        ("C", "Camera 3", "C"),
    ] {
        let (r, _) = c
            .call(
                "p",
                "device.get_properties",
                json!({"serialNumber": serial}),
            )
            .await;
        let p = &r["result"]["properties"];
        assert_eq!(
            (p["name"].as_str(), p["stationSerialNumber"].as_str()),
            (Some(name), Some(station)),
            "{r}"
        );
    }
    let (r, _) = c
        .call("p", "device.get_properties", json!({"serialNumber": "X"}))
        .await;
    assert_eq!(r["errorCode"], "device_not_found");
    sim.shutdown().await;
}

/// One stream per station: a start while another camera of the station streams ends that
/// stream (`livestream stopped`); the newer one streams.
#[tokio::test]
async fn a_station_streams_one_camera_the_newer_start_wins() {
    let sim = Simulator::start(SimConfig {
        stations: vec![("HB".into(), vec!["A".into(), "B".into()])],
        ..looping(vec![
            camera("A", "h264_baseline_720p.h264"),
            camera("B", "h264_baseline_720p.h264"),
        ])
    })
    .await
    .unwrap();
    let mut c = Plain::handshake(&sim.url(), 21).await;
    c.start_livestream("A").await;
    let (_, m) = c.next_video(WAIT).await.unwrap();
    assert_eq!(m["event"]["serialNumber"], "A");
    c.start_livestream("B").await;
    until_event(&mut c, "livestream stopped", Some("A")).await;
    // From here on, B only.
    for _ in 0..20 {
        let (_, m) = c.next_video(WAIT).await.unwrap();
        assert_eq!(m["event"]["serialNumber"], "B");
    }
    assert_eq!(sim.stats().silenced, 0);
    assert_eq!(sim.active_streams(), 1);
    sim.shutdown().await;
}

/// `--cutoff`: a stream ends by itself, as battery cameras' do; a new start works.
#[tokio::test]
async fn streams_end_by_themselves_at_the_cutoff() {
    let sim = Simulator::start(SimConfig {
        cutoff: Some(Duration::from_millis(800)),
        ..looping(vec![camera(SERIAL, "h264_baseline_720p.h264")])
    })
    .await
    .unwrap();
    let mut c = start(&sim, 21).await;
    let t0 = Instant::now();
    let (_, before) = until_event(&mut c, "livestream stopped", Some(SERIAL)).await;
    let ended = t0.elapsed();
    assert!(
        ended >= Duration::from_millis(700) && ended < Duration::from_secs(3),
        "{ended:?}"
    );
    assert!(before.len() > 20, "{} events first", before.len());
    let (r, _) = c.start_livestream(SERIAL).await;
    assert_eq!(r["success"], true);
    c.next_video(WAIT).await.unwrap();
    sim.shutdown().await;
}

/// `--login-delay`: until the login, no device is listed, `driver.connected` is false and
/// device commands fail as for unknown devices; then `driver connected` and `device added`
/// come to listening clients, and streams start.
#[tokio::test]
async fn the_server_logs_in_after_the_delay() {
    let sim = Simulator::start(SimConfig {
        login_delay: Some(Duration::from_millis(800)),
        ..looping(vec![camera(SERIAL, "h264_baseline_720p.h264")])
    })
    .await
    .unwrap();
    let mut c = Plain::connect(&sim.url()).await;
    c.next(WAIT).await.unwrap();
    c.call("s", "set_api_schema", json!({"schemaVersion": 21}))
        .await;
    let (r, _) = c.call("l", "start_listening", json!({})).await;
    assert_eq!(r["result"]["state"]["driver"]["connected"], false, "{r}");
    assert_eq!(r["result"]["state"]["devices"], json!([]));
    let (r, _) = c.start_livestream(SERIAL).await;
    assert_eq!(r["errorCode"], "device_not_found");
    let (_, before) = until_event(&mut c, "device added", None).await;
    assert!(
        before
            .iter()
            .any(|m| m["event"]["source"] == "driver" && m["event"]["event"] == "connected"),
        "{before:?}"
    );
    let (r, _) = c.call("l2", "start_listening", json!({})).await;
    assert_eq!(r["result"]["state"]["driver"]["connected"], true);
    assert_eq!(r["result"]["state"]["devices"], json!([SERIAL]));
    let (r, _) = c.start_livestream(SERIAL).await;
    assert_eq!(r["success"], true);
    c.next_video(WAIT).await.unwrap();
    sim.shutdown().await;
}

/// Detection events at set times, `state` true then false after the hold; an offline
/// camera accepts the start and sends nothing.
#[tokio::test]
async fn detection_events_and_offline_cameras() {
    let sim = Simulator::start(SimConfig {
        events: vec![format!("motion:{SERIAL}@0.2").parse().unwrap()],
        event_hold: Duration::from_millis(200),
        offline: vec![SERIAL.into()],
        ..looping(vec![camera(SERIAL, "h264_baseline_720p.h264")])
    })
    .await
    .unwrap();
    let mut c = start(&sim, 21).await;
    let mut states = Vec::new();
    loop {
        match c.next(Duration::from_secs(2)).await {
            Ok(m) => {
                assert_eq!(
                    m["event"]["event"], "motion detected",
                    "offline: nothing else {m}"
                );
                states.push(m["event"]["state"].as_bool().unwrap());
            }
            Err(End::Timeout) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(states, [true, false]);
    assert_eq!(sim.stats().detection_events, 2);
    sim.shutdown().await;
}

#[test]
fn event_specs_parse() {
    use eufy_hw::eufy::protocol::DetectionKind;
    use eufy_hw::simulator::SimEvent;
    let e: SimEvent = "rings@5".parse().unwrap();
    assert_eq!(
        (e.kind, e.serial, e.at),
        (DetectionKind::Ring, None, Duration::from_secs(5))
    );
    let e: SimEvent = "person:T2@0.5".parse().unwrap();
    assert_eq!(
        (e.kind, e.serial.as_deref()),
        (DetectionKind::Person, Some("T2"))
    );
    for bad in ["rings", "doorbell@1", "ring@-1", "ring@nan", "ring@x"] {
        assert!(bad.parse::<SimEvent>().is_err(), "{bad}");
    }
}

/// Bad numbers are refused with a clear message before anything starts (`--fps 0` once
/// streamed at 0.1 fps, `--fps nan` panicked, `bench --frames 0` printed a table of zeros).
#[test]
fn bad_numbers_are_refused_before_starting() {
    for args in [
        &["simulate", "--fps", "0"][..],
        &["simulate", "--fps", "nan"],
        &["simulate", "--fps=-3"],
        &["simulate", "--cutoff", "0"],
        &["simulate", "--event", "doorbell@3"],
        &["bench", "--fps", "0"],
        &["bench", "--frames", "0"],
        &["bench", "--duration", "inf"],
        &["record", "--serial", "T1", "-o", "x.h264", "--frames", "0"],
        &[
            "record",
            "--serial",
            "T1",
            "-o",
            "x.h264",
            "--duration",
            "nan",
        ],
        &["--serial", "T1", "--station-dwell", "0"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("error: invalid value"), "{args:?}: {err}");
    }
    // A folder that does not exist: refused at once, no connection tried (port 1).
    let t0 = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args([
            "record",
            "--url",
            "ws://127.0.0.1:1",
            "--serial",
            "T1",
            "-o",
            "/no/such/dir/x.mp4",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("does not exist"),
        "{err}"
    );
    assert!(!err.contains("cannot connect"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(5));
}

/// `eufy-hw simulate` in its own process, its URL read from stdout.
async fn simulate_process(args: &[&str]) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args(["simulate", "--port", "0"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let url = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    (child, url)
}

/// `eufy-hw cameras` lists what the server knows once it has logged in: serials, names,
/// stations (and which share one); `eufy-hw` with no `--serial` shows every camera listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cameras_lists_the_server_and_the_viewer_shows_them_all() {
    let clip = clip_path("h264_baseline_720p.h264").display().to_string();
    let (mut sim, url) = simulate_process(&[
        "--camera",
        &format!("T1={clip}"),
        "--camera",
        &format!("T2={clip}"),
        "--camera",
        &format!("T3={clip}"),
        "--station",
        "HB1=T1,T2",
        "--name",
        "T1=Front door",
        "--login-delay",
        "1.5",
    ])
    .await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args(["cameras", "--url", &url])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |serial: &str| {
        text.lines()
            .find(|l| l.starts_with(serial))
            .unwrap_or_else(|| panic!("{serial} missing: {text}"))
            .to_owned()
    };
    assert!(
        line("T1").contains("Front door") && line("T1").contains("HB1"),
        "{text}"
    );
    assert!(line("T1").contains("shared with 1"), "{text}");
    assert!(
        line("T2").contains("Camera 2") && line("T2").contains("HB1"),
        "{text}"
    );
    assert!(
        line("T3").contains("T3") && !line("T3").contains("shared"),
        "{text}"
    );
    // A starting wall file for them, which check-config accepts.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args(["cameras", "--url", &url, "--wall"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let wall = std::env::temp_dir().join(format!("eufy-starter-{}.toml", std::process::id()));
    std::fs::write(&wall, &out.stdout).unwrap();
    let check = tokio::process::Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args(["check-config", &wall.display().to_string()])
        .output()
        .await
        .unwrap();
    let summary = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && summary.contains("3 camera(s)"),
        "{summary}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        summary.contains("Front door") && summary.contains(&url),
        "{summary}"
    );
    std::fs::remove_file(&wall).ok();
    // The viewer with no --serial: every camera the server lists (headless here).
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args([
            "--url",
            &url,
            "--headless",
            "--duration",
            "6",
            "--station-dwell",
            "2",
        ])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (label, serial) in [("Front door", "T1"), ("Camera 2", "T2"), ("Camera 3", "T3")] {
        let decoded = text
            .lines()
            .filter(|l| l.trim_start().starts_with(&format!("{serial}:")))
            .any(|l| !l.contains(" 0 decoded"));
        assert!(decoded, "{label} ({serial}) shown: {text}");
    }
    sim.kill().await.ok();
}

/// Talk back as the real server does it: schema 13+; the livestream first
/// (`device_livestream_not_running`); audio before the camera's `talkback started` refused
/// (`device_talkback_not_running`), taken after it and kept in order; one talk back for
/// the whole server (another client: `device_only_one_talkback_at_a_time`, the same:
/// `device_talkback_already_running`); a doorbell that is busy answers `talkback stopped`;
/// a cut livestream ends talk back silently (audio refused again, no event); plain cameras
/// refuse.
#[tokio::test]
async fn talk_back_keeps_the_real_servers_rules() {
    use eufy_hw::simulator::CameraKind;
    let busy = "T8410P0000000009";
    let sim = Simulator::start(SimConfig {
        looping: true,
        pacing: Pacing::Fps(30.0),
        kinds: [
            (SERIAL.to_owned(), CameraKind::Doorbell),
            (busy.to_owned(), CameraKind::Doorbell),
        ]
        .into(),
        talk_busy: vec![busy.into()],
        talk_delay: Duration::from_millis(200),
        cutoff: Some(Duration::from_secs(3)),
        ..immediate(vec![
            camera(SERIAL, "h264_baseline_720p.h264"),
            camera(busy, "h264_baseline_720p.h264"),
            camera("T8410P0000000002", "h264_baseline_720p.h264"),
        ])
    })
    .await
    .unwrap();
    let talk = |serial: &str| json!({ "serialNumber": serial });
    let audio = |serial: &str, b: u8| json!({ "serialNumber": serial, "buffer": [0xff, 0xf1, b] });
    let code = |r: &serde_json::Value| r["errorCode"].as_str().unwrap_or("ok").to_owned();

    let mut old = Plain::handshake(&sim.url(), 12).await;
    let (r, _) = old.call("t", "device.start_talkback", talk(SERIAL)).await;
    assert_eq!(code(&r), "unknown_command");

    let mut a = Plain::handshake(&sim.url(), 21).await;
    let (r, _) = a.call("t0", "device.start_talkback", talk(SERIAL)).await;
    assert_eq!(code(&r), "device_livestream_not_running");
    let (r, _) = a.call("s", "device.start_livestream", talk(SERIAL)).await;
    assert_eq!(r["success"], true);
    a.next_video(WAIT).await.unwrap();
    let (r, _) = a.call("t1", "device.start_talkback", talk(SERIAL)).await;
    assert_eq!(code(&r), "ok");
    let (r, _) = a
        .call("a0", "device.talkback_audio_data", audio(SERIAL, 0))
        .await;
    assert_eq!(
        code(&r),
        "device_talkback_not_running",
        "before the camera answered"
    );
    loop {
        let m = a.next(WAIT).await.unwrap();
        if m["event"]["event"] == "talkback started" {
            break;
        }
    }
    for b in 1..=3 {
        let (r, _) = a
            .call(
                &format!("a{b}"),
                "device.talkback_audio_data",
                audio(SERIAL, b),
            )
            .await;
        assert_eq!(code(&r), "ok");
    }
    let (r, _) = a.call("t2", "device.start_talkback", talk(SERIAL)).await;
    assert_eq!(code(&r), "device_talkback_already_running");
    let mut b = Plain::handshake(&sim.url(), 21).await;
    let (r, _) = b.call("t", "device.start_talkback", talk(SERIAL)).await;
    assert_eq!(code(&r), "device_only_one_talkback_at_a_time");
    let (r, _) = b
        .call("p", "device.start_talkback", talk("T8410P0000000002"))
        .await;
    assert_eq!(code(&r), "device_not_supported");
    let got: Vec<u8> = sim.stats().talk.iter().map(|t| t.data[2]).collect();
    assert_eq!(got, [1, 2, 3], "in order, the refused one not kept");
    assert_eq!(sim.stats().talk_refused, 1);

    // The cut (3 s after the start): talk back is gone with it, silently.
    loop {
        let m = a.next(WAIT).await.unwrap();
        assert_ne!(
            m["event"]["event"], "talkback stopped",
            "the real server says nothing"
        );
        if m["event"]["event"] == "livestream stopped" {
            break;
        }
    }
    let (r, _) = a
        .call("a9", "device.talkback_audio_data", audio(SERIAL, 9))
        .await;
    assert_eq!(code(&r), "device_talkback_not_running");

    // A busy doorbell: accepted, then `talkback stopped` and never started.
    let (r, _) = b.call("s", "device.start_livestream", talk(busy)).await;
    assert_eq!(r["success"], true);
    b.next_video(WAIT).await.unwrap();
    let (r, _) = b.call("tb", "device.start_talkback", talk(busy)).await;
    assert_eq!(code(&r), "ok");
    loop {
        let m = b.next(WAIT).await.unwrap();
        assert_ne!(m["event"]["event"], "talkback started");
        if m["event"]["event"] == "talkback stopped" {
            break;
        }
    }
}
