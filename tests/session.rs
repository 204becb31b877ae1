//! The client session against the simulator over loopback: access units received equal the
//! file's for every clip and both framings; faults are reported, reconnected, never a panic.
//!
//! A URL no retry can mend (`http://`, a host with a space) ends a one-off job at once with
//! what to use, and in a viewer is said with that advice and tried again after a minute.
//! Unknown serial, old schema, unanswered command, silent server, closed socket, stall,
//! restart, bad messages; a clean stop, closed with 1000. Two cameras on one station take
//! turns and never start together (a client that starts both at once leaves one silent); a
//! camera that never starts is reported within its timeout and restarted alone while another
//! streams; a cut-off is bridged by a restart on the same connection with the gap measured;
//! a client started 5 s before the server logs in streams without an error, and gives up
//! with a clear message past `--wait-server`; detection events arrive typed.
//!
//! A server flooding parameter sets (4,000 messages of 50 SPS, no picture) then streaming:
//! resident memory stays within 64 MiB (it grew 840 MiB before the assembler bounded such
//! runs) and every frame after it is decoded. Only the cameras the owner wants are started,
//! one no longer wanted is stopped, and a frozen one's restart stops and starts it alone.
//! The `picture` property arrives at schema 21 (not 16) and again with an event, byte for
//! byte.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::clip_path;
use eufy_hw::bitstream::{AccessUnits, AssemblerConfig};
use eufy_hw::clip::Clip;
use eufy_hw::eufy::protocol::DetectionKind;
use eufy_hw::eufy::session::{
    run_session, run_session_with, CameraState, SessionConfig, SessionControl, SessionError,
    SessionEvent,
};
use eufy_hw::shutdown;
use eufy_hw::simulator::{Camera, Chunking, Fault, FaultKind, Pacing, SimConfig, Simulator};
use tokio::sync::mpsc;

const SERIAL: &str = "T8410P0000000001";

fn camera(clip: &str) -> Camera {
    Camera {
        serial: SERIAL.into(),
        clip: Arc::new(Clip::load(&clip_path(clip)).unwrap()),
    }
}

fn sim_config(cam: Camera) -> SimConfig {
    SimConfig {
        cameras: vec![cam],
        pacing: Pacing::Unpaced,
        realistic: false,
        looping: false,
        end_timeout: Duration::from_millis(50),
        ..SimConfig::default()
    }
}

fn session_config(url: String) -> SessionConfig {
    SessionConfig {
        request_timeout: Duration::from_secs(3),
        start_timeout: Duration::from_secs(5),
        data_timeout: Duration::from_secs(3),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        ..SessionConfig::new(url, vec![SERIAL.into()])
    }
}

/// Runs a session until `until` says enough (or `limit`), collecting its events.
async fn run_until(
    config: SessionConfig,
    limit: Duration,
    mut until: impl FnMut(&[SessionEvent]) -> bool,
) -> (Vec<SessionEvent>, Result<(), SessionError>) {
    let (tx, mut rx) = mpsc::channel(1024);
    let (stop_tx, stop_rx) = shutdown::channel();
    let task = tokio::spawn(run_session(config, tx, stop_rx));
    let mut events = Vec::new();
    let deadline = Instant::now() + limit;
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline.into(), rx.recv()).await {
        events.push(ev);
        if until(&events) {
            break;
        }
    }
    stop_tx.trigger();
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        events.push(ev);
    }
    let result = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("session did not stop")
        .expect("session panicked");
    (events, result)
}

/// Plays `cam`'s clip once through the simulator into a non-reconnecting session.
async fn play_once(
    cam: &Camera,
    chunking: Chunking,
) -> (Vec<SessionEvent>, Result<(), SessionError>) {
    let sim = Simulator::start(SimConfig {
        chunking,
        ..sim_config(cam.clone())
    })
    .await
    .unwrap();
    let mut cfg = session_config(sim.url());
    cfg.reconnect = false;
    let out = run_until(cfg, Duration::from_secs(30), |_| false).await;
    sim.shutdown().await;
    out
}

fn video_bytes(events: &[SessionEvent]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Video { data, .. } => Some(data.clone()),
            _ => None,
        })
        .collect()
}

fn assemble(chunks: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut asm = AccessUnits::new(AssemblerConfig::default());
    let mut out = Vec::new();
    for c in chunks {
        asm.push(c, (), |au| out.push(au.data));
    }
    asm.finish(|au| out.push(au.data));
    out
}

fn count(events: &[SessionEvent], f: impl Fn(&SessionEvent) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_units_match_the_file_for_every_clip_and_framing() {
    for name in common::ALL_CLIPS {
        let cam = camera(name);
        let expected: Vec<Vec<u8>> = cam.clip.units.iter().map(|u| u.data.to_vec()).collect();
        for chunking in [
            Chunking::AccessUnit,
            Chunking::Random { seed: 7, max: 3000 },
        ] {
            let (events, result) = play_once(&cam, chunking).await;
            // The clip ends with `livestream stopped`, which ends a non-reconnecting session.
            assert!(
                matches!(result, Err(SessionError::StreamStopped(_))),
                "{name}: {result:?}"
            );
            let got = assemble(&video_bytes(&events));
            if chunking == Chunking::AccessUnit {
                assert_eq!(got.len(), expected.len(), "{name} {chunking:?}");
                assert!(got == expected, "{name} {chunking:?}: access units differ");
            } else {
                // Random cuts leave the clip's tail (shorter than the next cut) unsent.
                assert!(
                    got.len() + 2 >= expected.len(),
                    "{name}: {} of {}",
                    got.len(),
                    expected.len()
                );
                let n = got.len() - 1; // the last one may be cut short
                assert!(
                    got[..n] == expected[..n],
                    "{name} {chunking:?}: access units differ"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_serial_is_a_clear_error() {
    let sim = Simulator::start(sim_config(camera("h264_baseline_720p.h264")))
        .await
        .unwrap();
    let mut cfg = session_config(sim.url());
    cfg.serials = vec!["T0000NOSUCHCAM".into()];
    let (_, result) = run_until(cfg, Duration::from_secs(10), |_| false).await;
    let err = result.unwrap_err();
    assert!(matches!(err, SessionError::UnknownCamera { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("T0000NOSUCHCAM") && msg.contains(SERIAL),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_too_old_is_a_clear_error() {
    let sim = Simulator::start(SimConfig {
        max_schema: 1,
        ..sim_config(camera("h264_baseline_720p.h264"))
    })
    .await
    .unwrap();
    let (_, result) = run_until(session_config(sim.url()), Duration::from_secs(10), |_| {
        false
    })
    .await;
    let err = result.unwrap_err();
    assert!(
        matches!(err, SessionError::SchemaTooOld { max: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_schema_is_negotiated_down() {
    let sim = Simulator::start(SimConfig {
        max_schema: 12,
        ..sim_config(camera("h264_baseline_720p.h264"))
    })
    .await
    .unwrap();
    let (events, _) = run_until(session_config(sim.url()), Duration::from_secs(10), |ev| {
        video_bytes(ev).len() > 3
    })
    .await;
    assert!(events
        .iter()
        .any(|e| matches!(e, SessionEvent::Connected { schema: 12, .. })));
    assert!(video_bytes(&events).len() > 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_command_times_out() {
    let sim = Simulator::start(SimConfig {
        ignore_commands: vec!["device.start_livestream".into()],
        ..sim_config(camera("h264_baseline_720p.h264"))
    })
    .await
    .unwrap();
    let mut cfg = session_config(sim.url());
    cfg.request_timeout = Duration::from_millis(500);
    cfg.reconnect = false;
    let (_, result) = run_until(cfg, Duration::from_secs(10), |_| false).await;
    let err = result.unwrap_err();
    assert!(matches!(err, SessionError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("device.start_livestream"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_times_out() {
    // Accepts TCP connections and never says a word: not even the WebSocket handshake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let _hold = tokio::spawn(async move {
        let mut socks = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            socks.push(s);
        }
    });
    let mut cfg = session_config(url);
    cfg.request_timeout = Duration::from_millis(400);
    cfg.reconnect = false;
    let (_, result) = run_until(cfg, Duration::from_secs(10), |_| false).await;
    assert!(
        matches!(result, Err(SessionError::Timeout { .. })),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_is_a_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = session_config(format!("ws://127.0.0.1:{port}"));
    cfg.reconnect = false;
    let (_, result) = run_until(cfg, Duration::from_secs(10), |_| false).await;
    let err = result.unwrap_err();
    assert!(matches!(err, SessionError::Connect { .. }), "{err}");
    assert!(err.to_string().contains("cannot connect"), "{err}");
}

/// Faults that lose the connection: the session reports, reconnects and streams again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_connections_reconnect() {
    for (kind, reason) in [
        (FaultKind::Close, "lost"),
        (FaultKind::Restart, "shutting down"),
        (
            FaultKind::Stall(Duration::from_secs(3)),
            "sent nothing, not even a pong",
        ),
    ] {
        let sim = Simulator::start(SimConfig {
            looping: true,
            pacing: Pacing::Fps(60.0),
            faults: vec![Fault {
                kind: kind.clone(),
                after_frames: 5,
            }],
            ..sim_config(camera("h264_baseline_720p.h264"))
        })
        .await
        .unwrap();
        let mut cfg = session_config(sim.url());
        cfg.data_timeout = Duration::from_millis(700);
        let (events, result) = run_until(cfg, Duration::from_secs(20), |ev| {
            count(ev, |e| matches!(e, SessionEvent::Connected { .. })) >= 2
                && matches!(ev.last(), Some(SessionEvent::Video { .. }))
        })
        .await;
        assert!(result.is_ok(), "{kind:?}: {result:?}");
        let reconnects: Vec<&String> = events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Reconnecting { reason, .. } => Some(reason),
                _ => None,
            })
            .collect();
        assert!(!reconnects.is_empty(), "{kind:?}: no reconnect");
        assert!(
            reconnects[0].contains(reason),
            "{kind:?}: {}",
            reconnects[0]
        );
        assert!(
            count(&events, |e| matches!(e, SessionEvent::Connected { .. })) >= 2,
            "{kind:?}"
        );
        sim.shutdown().await;
    }
}

/// Bad messages are dropped and counted; the stream goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_are_dropped_and_streaming_continues() {
    let sim = Simulator::start(SimConfig {
        looping: true,
        pacing: Pacing::Fps(60.0),
        faults: vec![
            Fault {
                kind: FaultKind::BadJson,
                after_frames: 3,
            },
            Fault {
                kind: FaultKind::BadBytes,
                after_frames: 4,
            },
            Fault {
                kind: FaultKind::Garbage,
                after_frames: 5,
            },
        ],
        ..sim_config(camera("h264_baseline_720p.h264"))
    })
    .await
    .unwrap();
    let (events, result) = run_until(session_config(sim.url()), Duration::from_secs(10), |ev| {
        video_bytes(ev).len() >= 20
    })
    .await;
    assert!(result.is_ok());
    let dropped: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Dropped { reason } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(dropped.len(), 2, "{dropped:?}");
    assert!(
        dropped.iter().any(|r| r.contains("malformed")),
        "{dropped:?}"
    );
    assert!(
        dropped.iter().any(|r| r.contains("over 255")),
        "{dropped:?}"
    );
    assert_eq!(
        count(&events, |e| matches!(e, SessionEvent::Reconnecting { .. })),
        0
    );
    // The garbage chunk reaches the assembler, which counts it and resynchronises.
    let mut asm = AccessUnits::new(AssemblerConfig::default());
    let mut aus = 0;
    for c in video_bytes(&events) {
        asm.push(&c, (), |_| aus += 1);
    }
    assert!(aus >= 15);
}

/// On stop the session sends `device.stop_livestream`: another client watching the same
/// camera sees `livestream stopped` (a mere disconnect would leave its stream running).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_stop_stops_the_livestream() {
    let sim = Simulator::start(SimConfig {
        looping: true,
        pacing: Pacing::Fps(60.0),
        ..sim_config(camera("h264_baseline_720p.h264"))
    })
    .await
    .unwrap();
    let mut watcher = common::Plain::handshake(&sim.url(), 21).await;
    let (r, _) = watcher
        .call(
            "w",
            "device.start_livestream",
            serde_json::json!({"serialNumber": SERIAL}),
        )
        .await;
    assert_eq!(r["success"], true);
    let (events, result) = run_until(session_config(sim.url()), Duration::from_secs(10), |ev| {
        video_bytes(ev).len() >= 5
    })
    .await;
    assert!(result.is_ok());
    assert!(video_bytes(&events).len() >= 5);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(
            Instant::now() < deadline,
            "the watcher's stream was not stopped"
        );
        let m = watcher
            .next(Duration::from_secs(5))
            .await
            .expect("livestream stopped");
        if m["event"]["event"] == "livestream stopped" {
            break;
        }
    }
}

/// With message ends trusted as access-unit ends ([`AccessUnits::push_message`], what the
/// viewer uses for latency), both framings still give the file's access units; with one
/// event per access unit nearly all of them come out without waiting for the next message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_framing_gives_the_same_access_units_sooner() {
    for name in [
        "h264_slices4_720p.h264",
        "h265_main_1080p.h265",
        "h264_aud_720p.h264",
    ] {
        let cam = camera(name);
        let expected: Vec<Vec<u8>> = cam.clip.units.iter().map(|u| u.data.to_vec()).collect();
        for chunking in [
            Chunking::AccessUnit,
            Chunking::Random { seed: 3, max: 3000 },
        ] {
            let (events, _) = play_once(&cam, chunking).await;
            let mut asm = AccessUnits::new(AssemblerConfig::default());
            let mut got = Vec::new();
            for c in video_bytes(&events) {
                asm.push_message(&c, (), |au| got.push(au.data));
            }
            asm.finish(|au| got.push(au.data));
            let n = got.len().min(expected.len()) - 1;
            assert!(got[..n] == expected[..n], "{name} {chunking:?}");
            assert_eq!(asm.stats().framing_misses, 0, "{name} {chunking:?}");
            if chunking == Chunking::AccessUnit {
                assert_eq!(got.len(), expected.len());
                assert!(
                    asm.stats().early_units as usize >= expected.len() - 3,
                    "{name}: {:?}",
                    asm.stats()
                );
            }
        }
    }
}

/// Audio events reach the session's owner as ADTS frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_reaches_the_owner() {
    let aac = std::fs::read(clip_path("aac_16k_mono.aac")).unwrap();
    let frames: Vec<Arc<[u8]>> = eufy_hw::bitstream::adts::split_frames(&aac)
        .into_iter()
        .map(Arc::from)
        .collect();
    let sim = Simulator::start(SimConfig {
        audio: Some(Arc::new(frames)),
        looping: true,
        pacing: Pacing::Fps(60.0),
        ..sim_config(camera("h264_baseline_720p.h264"))
    })
    .await
    .unwrap();
    let (events, result) = run_until(session_config(sim.url()), Duration::from_secs(10), |ev| {
        count(ev, |e| matches!(e, SessionEvent::Audio { .. })) >= 5
    })
    .await;
    assert!(result.is_ok());
    for e in &events {
        if let SessionEvent::Audio { data, .. } = e {
            let h = eufy_hw::bitstream::adts::parse_header(data).expect("ADTS");
            assert_eq!((h.sample_rate(), h.channels), (16000, 1));
        }
    }
    assert!(count(&events, |e| matches!(e, SessionEvent::Audio { .. })) >= 5);
}

fn camera_as(serial: &str, clip: &Arc<Clip>) -> Camera {
    Camera {
        serial: serial.into(),
        clip: clip.clone(),
    }
}

/// Which camera each video event came from, runs of the same camera merged:
/// `[("A", 40), ("B", 38), …]`.
fn video_runs(events: &[SessionEvent]) -> Vec<(String, usize)> {
    let mut runs: Vec<(String, usize)> = Vec::new();
    for e in events {
        if let SessionEvent::Video { serial, .. } = e {
            match runs.last_mut() {
                Some((s, n)) if s == serial => *n += 1,
                _ => runs.push((serial.clone(), 1)),
            }
        }
    }
    runs
}

/// Cameras A and B behind station HB, at 30 fps, streams starting 200 ms after the request.
async fn one_station() -> Simulator {
    let clip = Arc::new(Clip::load(&clip_path("h264_baseline_720p.h264")).unwrap());
    Simulator::start(SimConfig {
        cameras: vec![camera_as("A", &clip), camera_as("B", &clip)],
        stations: vec![("HB".into(), vec!["A".into(), "B".into()])],
        pacing: Pacing::Fps(30.0),
        start_delay: Duration::from_millis(200),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// Two cameras behind one HomeBase, which streams one camera at a time: they take turns,
/// each turn starting at a keyframe, and the station is never asked for both at once (a
/// real one then leaves the first camera silent, with no error at all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_cameras_on_one_station_take_turns() {
    let sim = one_station().await;
    let cfg = SessionConfig {
        station_dwell: Duration::from_millis(1500),
        restart_pause: Duration::from_millis(200),
        ..session_config(sim.url())
    };
    let cfg = SessionConfig {
        serials: vec!["A".into(), "B".into()],
        ..cfg
    };
    let (events, result) =
        run_until(cfg, Duration::from_secs(20), |ev| video_runs(ev).len() >= 4).await;
    assert!(result.is_ok(), "{result:?}");
    let runs = video_runs(&events);
    assert!(runs.len() >= 4, "{runs:?}");
    // A, B, A, B: turns alternate, each a real stretch of video.
    for (k, (serial, n)) in runs.iter().take(4).enumerate() {
        assert_eq!(serial, if k % 2 == 0 { "A" } else { "B" }, "{runs:?}");
        if k < 3 {
            assert!(*n >= 20, "turn {k} of {serial}: {n} events");
        }
    }
    let stats = sim.stats();
    assert_eq!(stats.silenced, 0, "two starts at once on one station");
    assert_eq!(stats.peak_station_streams, 1);
    assert_eq!(
        count(&events, |e| matches!(e, SessionEvent::Reconnecting { .. })),
        0
    );
    // The waiting camera says why, with its station.
    assert!(events.iter().any(|e| matches!(e,
        SessionEvent::State { serial, state: CameraState::Queued { station, next_at: Some(_) } }
            if serial == "B" && station == "HB")));
    // Names and stations came from the server.
    assert!(events.iter().any(|e| matches!(e,
        SessionEvent::Camera(i) if i.serial == "A" && i.station.as_deref() == Some("HB")
            && i.name.as_deref() == Some("Camera 1"))));
    // Each turn ends with its stream, so what is pending of it can be flushed.
    assert!(count(&events, |e| matches!(e, SessionEvent::Ended { .. })) >= 2);
    sim.shutdown().await;
}

/// The same two cameras started by a client that does not know they share a station (both
/// started at once): the first never sends anything, which the simulator reproduces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_starts_on_one_station_leave_the_first_silent() {
    let sim = one_station().await;
    let mut c = common::Plain::handshake(&sim.url(), 21).await;
    for s in ["A", "B"] {
        let (r, _) = c
            .call(
                s,
                "device.start_livestream",
                serde_json::json!({ "serialNumber": s }),
            )
            .await;
        assert_eq!(r["success"], true);
    }
    // Two seconds of what the server sends: B's stream only.
    let mut from = std::collections::HashSet::new();
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        let Ok(m) = c.next(Duration::from_secs(2)).await else {
            break;
        };
        if let Some(s) = m["event"]["serialNumber"].as_str() {
            from.insert(s.to_owned());
        }
    }
    assert_eq!(from.into_iter().collect::<Vec<_>>(), ["B"]);
    assert_eq!(sim.stats().silenced, 1);
    sim.shutdown().await;
}

/// A camera that accepts the start and never sends anything is reported within its start
/// timeout and restarted on its own, while the other camera streams on undisturbed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_that_never_starts_is_reported_while_another_streams() {
    let clip = Arc::new(Clip::load(&clip_path("h264_baseline_720p.h264")).unwrap());
    let sim = Simulator::start(SimConfig {
        cameras: vec![camera_as("A", &clip), camera_as("B", &clip)],
        offline: vec!["B".into()],
        pacing: Pacing::Fps(30.0),
        start_delay: Duration::from_millis(100),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let cfg = SessionConfig {
        serials: vec!["A".into(), "B".into()],
        start_timeout: Duration::from_millis(1500),
        restart_pause: Duration::from_millis(100),
        ..session_config(sim.url())
    };
    let t0 = Instant::now();
    let reported = std::sync::Mutex::new(None);
    let (events, result) = run_until(cfg, Duration::from_secs(15), |ev| {
        if let Some(SessionEvent::State { serial, state: CameraState::Restarting { reason, .. } }) = ev.last() {
            if serial == "B" && reported.lock().unwrap().is_none() {
                *reported.lock().unwrap() = Some((t0.elapsed(), reason.clone()));
            }
        }
        // Two restarts of B.
        count(ev, |e| matches!(e, SessionEvent::State { serial, state: CameraState::Restarting { .. } } if serial == "B")) >= 2
    })
    .await;
    assert!(result.is_ok(), "{result:?}");
    let (after, reason) = reported.lock().unwrap().clone().expect("B reported");
    assert!(
        reason.contains("no livestream started within 2 s"),
        "{reason}"
    );
    assert!(after < Duration::from_secs(5), "reported after {after:?}");
    // A streamed throughout: never stopped, never restarted, its video never interrupted.
    assert_eq!(
        count(&events, |e| matches!(e, SessionEvent::Reconnecting { .. })),
        0
    );
    assert!(!events
        .iter()
        .any(|e| matches!(e, SessionEvent::Ended { serial, .. } if serial == "A")));
    assert!(!events.iter().any(|e| matches!(e, SessionEvent::State { serial, state: CameraState::Restarting { .. } } if serial == "A")));
    let a_video: Vec<std::time::Instant> = events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Video {
                serial,
                received_at,
                ..
            } if serial == "A" => Some(*received_at),
            _ => None,
        })
        .collect();
    assert!(a_video.len() > 60, "{}", a_video.len());
    let longest = a_video.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(longest < Duration::from_secs(1), "A paused for {longest:?}");
    // B was stopped before each restart; A never.
    let stats = sim.stats();
    assert!(stats.count("device.stop_livestream") >= 2, "{stats:?}");
    assert!(stats.count("device.start_livestream") >= 3, "{stats:?}");
    sim.shutdown().await;
}

/// A stream that ends by itself (a battery camera's cut-off) is restarted after the pause,
/// the same connection on; what was pending is flushed and the gap measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_is_bridged_by_a_restart() {
    let sim = Simulator::start(SimConfig {
        pacing: Pacing::Fps(30.0),
        looping: true,
        realistic: true,
        start_delay: Duration::from_millis(100),
        cutoff: Some(Duration::from_millis(1500)),
        ..sim_config(camera("h264_baseline_720p.h264"))
    })
    .await
    .unwrap();
    let cfg = SessionConfig {
        restart_pause: Duration::from_millis(300),
        ..session_config(sim.url())
    };
    let config = cfg.clone();
    let (stop_tx, stop_rx) = shutdown::channel();
    let decoder = eufy_hw::decode::DecoderConfig {
        accel: vec![eufy_hw::decode::Accel::None],
        ..Default::default()
    };
    let run = tokio::spawn(eufy_hw::pipeline::run_headless(
        config,
        decoder,
        stop_rx,
        Duration::from_millis(200),
        |_, _, _| {},
    ));
    tokio::time::sleep(Duration::from_millis(4500)).await;
    stop_tx.trigger();
    let totals = run.await.unwrap().unwrap();
    let t = &totals[SERIAL];
    // Two cut-offs in 4.5 s, each bridged: pictures kept coming, gaps counted and short.
    assert!(t.status.gaps.count >= 2, "{:?}", t.status.gaps);
    assert!(t.status.gaps.longest_secs < 1.5, "{:?}", t.status.gaps);
    assert!(
        t.status.gaps.longest_secs > 0.3,
        "the pause is in the gap: {:?}",
        t.status.gaps
    );
    assert!(t.frames > 60, "{} frames", t.frames);
    assert!(sim.stats().count("device.start_livestream") >= 3);
    assert_eq!(sim.stats().connections, 1, "no reconnect");
    sim.shutdown().await;
}

/// At boot eufy-hw may start before eufy-security-ws has logged in: it waits, says so, and
/// streams once the server is ready — no error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_started_before_the_login_streams_without_an_error() {
    let sim = Simulator::start(SimConfig {
        login_delay: Some(Duration::from_secs(5)),
        looping: true,
        pacing: Pacing::Fps(30.0),
        ..sim_config(camera("h264_baseline_720p.h264"))
    })
    .await
    .unwrap();
    let cfg = SessionConfig {
        wait_server: Some(Duration::from_secs(30)),
        ..session_config(sim.url())
    };
    let t0 = Instant::now();
    let (events, result) = run_until(cfg, Duration::from_secs(20), |ev| {
        video_bytes(ev).len() >= 10
    })
    .await;
    assert!(result.is_ok(), "{result:?}");
    assert!(video_bytes(&events).len() >= 10);
    assert!(t0.elapsed() >= Duration::from_secs(5));
    assert!(events.iter().any(|e| matches!(
        e,
        SessionEvent::State {
            state: CameraState::LoggingIn,
            ..
        }
    )));
    assert!(events
        .iter()
        .any(|e| matches!(e, SessionEvent::Connected { devices, .. } if devices.is_empty())));
    assert_eq!(
        count(&events, |e| matches!(e, SessionEvent::Reconnecting { .. })),
        0
    );
    sim.shutdown().await;
}

/// `record` and `bench` do not wait for ever: past `wait_server` a server still logging in
/// is a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_still_logging_in_past_the_wait_is_a_clear_error() {
    let sim = Simulator::start(SimConfig {
        login_delay: Some(Duration::from_secs(60)),
        ..sim_config(camera("h264_baseline_720p.h264"))
    })
    .await
    .unwrap();
    let cfg = SessionConfig {
        wait_server: Some(Duration::from_millis(1500)),
        ..session_config(sim.url())
    };
    let t0 = Instant::now();
    let (_, result) = run_until(cfg, Duration::from_secs(10), |_| false).await;
    let err = result.unwrap_err();
    assert!(matches!(err, SessionError::NotReady { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("still logging in") && msg.contains("--wait-server"),
        "{msg}"
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    sim.shutdown().await;
}

/// Every exit closes the socket with 1000 (normal closure), not without a status (which the
/// server logs as a client implementation issue).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_is_closed_with_1000() {
    let sim = Simulator::start(SimConfig {
        looping: true,
        pacing: Pacing::Fps(60.0),
        ..sim_config(camera("h264_baseline_720p.h264"))
    })
    .await
    .unwrap();
    let (_, result) = run_until(session_config(sim.url()), Duration::from_secs(10), |ev| {
        video_bytes(ev).len() >= 5
    })
    .await;
    assert!(result.is_ok());
    // The server reads the close frame shortly after.
    let deadline = Instant::now() + Duration::from_secs(3);
    while sim.stats().close_codes.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sim.stats().close_codes, vec![Some(1000)]);
    sim.shutdown().await;
}

/// Detection events reach the owner typed, for any camera, with their state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detection_events_reach_the_owner() {
    let sim = Simulator::start(SimConfig {
        looping: true,
        pacing: Pacing::Fps(30.0),
        events: vec!["ring@0.5".parse().unwrap(), "person@0.7".parse().unwrap()],
        event_hold: Duration::from_millis(300),
        ..sim_config(camera("h264_baseline_720p.h264"))
    })
    .await
    .unwrap();
    let detections = |ev: &[SessionEvent]| -> Vec<(DetectionKind, bool)> {
        ev.iter()
            .filter_map(|e| match e {
                SessionEvent::Detection {
                    serial,
                    kind,
                    state,
                    ..
                } if serial == SERIAL => Some((*kind, *state)),
                _ => None,
            })
            .collect()
    };
    let (events, _) = run_until(session_config(sim.url()), Duration::from_secs(10), |ev| {
        detections(ev).len() >= 4
    })
    .await;
    assert_eq!(
        detections(&events),
        [
            (DetectionKind::Ring, true),
            (DetectionKind::Person, true),
            (DetectionKind::Ring, false),
            (DetectionKind::Person, false)
        ]
    );
    sim.shutdown().await;
}

/// A server of our own making that does the handshake, then sends `messages` as the
/// camera's stream (each after its pause) and keeps the connection open: for inputs the
/// simulator cannot produce.
async fn hostile_server(serial: &'static str, messages: Vec<(String, Duration)>) -> String {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let version = r#"{"type":"version","driverVersion":"3.8.0","serverVersion":"3.0.1","minSchemaVersion":0,"maxSchemaVersion":21}"#;
        ws.send(Message::text(version)).await.unwrap();
        while let Some(Ok(m)) = ws.next().await {
            let Message::Text(t) = m else { continue };
            let cmd: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
            let id = cmd["messageId"].clone();
            let name = cmd["command"].as_str().unwrap_or_default().to_owned();
            let result = match name.as_str() {
                "start_listening" => {
                    serde_json::json!({"state": {"driver": {"connected": true}, "devices": [serial]}})
                }
                "device.start_livestream" => serde_json::json!({"async": true}),
                _ => serde_json::json!({}),
            };
            let reply = serde_json::json!({"type": "result", "messageId": id, "success": true, "result": result});
            ws.send(Message::text(reply.to_string())).await.unwrap();
            if name == "device.start_livestream" {
                let started = format!(
                    r#"{{"type":"event","event":{{"source":"device","event":"livestream started","serialNumber":"{serial}"}}}}"#
                );
                ws.send(Message::text(started)).await.unwrap();
                for (m, pause) in &messages {
                    tokio::time::sleep(*pause).await;
                    if ws.send(Message::text(m.clone())).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    url
}

fn video_event(serial: &str, bytes: &[u8]) -> String {
    let data: Vec<String> = bytes.iter().map(u8::to_string).collect();
    format!(
        r#"{{"type":"event","event":{{"source":"device","event":"livestream video data","serialNumber":"{serial}","buffer":{{"type":"Buffer","data":[{}]}},"metadata":{{"videoCodec":"H264"}}}}}}"#,
        data.join(",")
    )
}

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: f64 = s
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib / 1024.0
}

/// A server that floods parameter sets (50 SPS per message, 4,000 messages, no picture) and
/// then streams: memory stays bounded, the flood is counted, and every valid frame after it
/// is decoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_parameter_sets_is_bounded_and_counted() {
    let clip = Clip::load(&clip_path("h264_baseline_720p.h264")).unwrap();
    let key = &clip.units[0].data;
    // The clip's SPS: from the first start code to the next.
    let sps_end = 4 + key[4..].windows(3).position(|w| w == [0, 0, 1]).unwrap();
    let sps: Vec<u8> = key[..sps_end].to_vec();
    let flood: Vec<u8> = sps.iter().copied().cycle().take(sps.len() * 50).collect();
    let mut messages = vec![(video_event("T1", &flood), Duration::ZERO); 4000];
    let valid = clip.units.len();
    // The valid stream at its 30 fps, as a camera sends it.
    messages.extend(
        clip.units
            .iter()
            .map(|u| (video_event("T1", &u.data), Duration::from_millis(33))),
    );
    let url = hostile_server("T1", messages).await;
    let before = rss_mib();
    let (stop_tx, stop_rx) = shutdown::channel();
    let decoder = eufy_hw::decode::DecoderConfig {
        accel: vec![eufy_hw::decode::Accel::None],
        ..Default::default()
    };
    let peak = Arc::new(std::sync::Mutex::new(0f64));
    let p = peak.clone();
    let decoded = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let d = decoded.clone();
    let run = tokio::spawn(eufy_hw::pipeline::run_headless(
        SessionConfig::new(url, vec!["T1".into()]),
        decoder,
        stop_rx,
        Duration::from_millis(100),
        move |_, totals, _| {
            let mut p = p.lock().unwrap();
            *p = p.max(rss_mib());
            d.store(totals.frames, std::sync::atomic::Ordering::SeqCst);
        },
    ));
    // Until the valid frames are through (the last one is held until the next start code),
    // at most a minute (a loaded machine takes its time through the flood).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while decoded.load(std::sync::atomic::Ordering::SeqCst) < valid as u64 - 1
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop_tx.trigger();
    let totals = run.await.unwrap().unwrap();
    let t = &totals["T1"];
    let grew = peak.lock().unwrap().max(rss_mib()) - before;
    assert!(grew < 64.0, "resident memory grew by {grew:.0} MiB");
    assert!(
        t.frames >= valid as u64 - 1,
        "{} of {valid} frames decoded",
        t.frames
    );
    assert!(
        t.status.assembler.flooded_nals > 190_000,
        "{:?}",
        t.status.assembler
    );
}

/// The owner chooses which cameras stream (a wall's hidden pages are not streamed): only the
/// wanted ones are started, a camera no longer wanted is stopped, and a camera wanted again
/// starts; a frozen camera's restart stops and starts it alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_wanted_cameras_are_streamed() {
    let clip = Arc::new(Clip::load(&clip_path("h264_baseline_720p.h264")).unwrap());
    let cams: Vec<Camera> = ["A1", "B2", "C3"]
        .iter()
        .map(|s| Camera {
            serial: (*s).into(),
            clip: clip.clone(),
        })
        .collect();
    let sim = Simulator::start(SimConfig {
        cameras: cams,
        pacing: Pacing::Fps(30.0),
        realistic: false,
        looping: true,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let serials: Vec<String> = ["A1", "B2", "C3"].iter().map(|s| s.to_string()).collect();
    let config = SessionConfig {
        serials: serials.clone(),
        ..session_config(sim.url())
    };
    let (tx, mut rx) = mpsc::channel(1024);
    let drain = tokio::spawn(async move {
        let mut restarted = 0;
        while let Some(ev) = rx.recv().await {
            if let SessionEvent::Ended { serial, reason } = ev {
                if serial == "B2" && reason.contains("froze") {
                    restarted += 1;
                }
            }
        }
        restarted
    });
    let (stop_tx, stop_rx) = shutdown::channel();
    let (ctl, ctl_rx) = mpsc::unbounded_channel();
    ctl.send(SessionControl::Want(vec!["A1".into()])).unwrap();
    let task = tokio::spawn(run_session_with(config, tx, stop_rx, ctl_rx));
    let settle = |want: &'static [&'static str]| {
        let sim = &sim;
        async move {
            let deadline = Instant::now() + Duration::from_secs(8);
            loop {
                let now = sim.streaming();
                if now == want {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "streaming {now:?}, wanted {want:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    settle(&["A1"]).await;
    // Stays so: the others are never started.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sim.streaming(), vec!["A1"]);
    assert_eq!(sim.stats().count("device.start_livestream"), 1);
    ctl.send(SessionControl::Want(vec!["B2".into(), "C3".into()]))
        .unwrap();
    settle(&["B2", "C3"]).await;
    let starts = sim.stats().count("device.start_livestream");
    assert_eq!(starts, 3);
    assert_eq!(sim.stats().count("device.stop_livestream"), 1);
    // A restart of a frozen picture: B2 stopped and started again, C3 untouched.
    tokio::time::sleep(Duration::from_millis(300)).await;
    ctl.send(SessionControl::Restart {
        serial: "B2".into(),
        reason: "its picture froze".into(),
    })
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(8);
    while sim.stats().count("device.start_livestream") < starts + 1 {
        assert!(Instant::now() < deadline, "B2 was not restarted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    settle(&["B2", "C3"]).await;
    assert_eq!(sim.stats().count("device.stop_livestream"), 2);
    stop_tx.trigger();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(drain.await.unwrap(), 1);
    sim.shutdown().await;
}

/// Issue 23, as a user runs it: two cameras, one of which accepts the start and never sends.
/// The headless viewer says so at WARN, naming the camera and the reason, the first time
/// (not at every retry); the camera's progress line says why and when it tries again instead
/// of "starting"; the progress lines name the decoder path alone (the log says once why it
/// was chosen).
#[test]
fn a_camera_that_never_starts_is_a_warning_and_its_status_says_why() {
    let clip = clip_path("h264_baseline_720p.h264");
    let (mut sim, url) = common::simulate(&[
        "--camera",
        &format!("T1={}", clip.display()),
        "--camera",
        &format!("T2={}", clip.display()),
        "--offline",
        "T2",
        "--name",
        "T1=Front",
        "--name",
        "T2=Back",
    ]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args([
            "--url",
            &url,
            "--serial",
            "T1",
            "--serial",
            "T2",
            "--headless",
        ])
        .args([
            "--duration",
            "9",
            "--start-timeout",
            "2",
            "--restart-pause",
            "0.5",
        ])
        .args(["--accel", "none", "--log", "info"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let _ = sim.kill();
    let _ = sim.wait();
    let plain = |b: &[u8]| strip_ansi(&String::from_utf8_lossy(b));
    let (stdout, stderr) = (plain(&out.stdout), plain(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");

    // T2's failures: the first at WARN, the later ones at INFO, each naming it.
    let failures: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("camera T2: no livestream started within 2 s"))
        .collect();
    assert!(failures.len() >= 2, "T2 failed more than once:\n{stderr}");
    assert!(failures[0].contains(" WARN "), "{}", failures[0]);
    assert!(failures[0].contains("retrying in 0.5 s"), "{}", failures[0]);
    assert!(
        failures[1..].iter().all(|l| l.contains(" INFO ")),
        "only the first at WARN:\n{}",
        failures.join("\n")
    );
    // Within its timeout: about 2 s after the viewer's first log line.
    let started = stderr.lines().next().unwrap();
    let waited = time_of(failures[0]) - time_of(started);
    assert!(
        waited < chrono::Duration::milliseconds(4500),
        "reported {waited} after {started}"
    );
    assert!(
        !stderr
            .lines()
            // (after the timestamp, which holds "T1" from 10:00 to 19:59)
            .filter_map(|l| l.split_once(' ').map(|(_, rest)| rest))
            .any(|l| l.contains("WARN ") && l.contains("T1")),
        "T1 streamed:\n{stderr}"
    );

    // Its status: the reason and the next try, not "starting" for the whole run.
    let t2: Vec<&str> = stdout.lines().filter(|l| l.starts_with("Back:")).collect();
    assert!(t2.len() >= 6, "{stdout}");
    let after_first: Vec<&&str> = t2
        .iter()
        .skip_while(|l| !l.contains("no livestream started"))
        .collect();
    assert!(after_first.len() >= 3, "the reason shows:\n{stdout}");
    assert!(
        after_first
            .iter()
            .all(|l| l.contains("no livestream started within 2 s")
                && (l.contains("retrying in") || l.contains("trying again (try"))),
        "{}",
        t2.join("\n")
    );
    // The path alone on each line; why it was chosen, once in the log.
    let t1: Vec<&str> = stdout.lines().filter(|l| l.starts_with("T1:")).collect();
    assert!(
        t1.iter().all(|l| l.contains("[software]")),
        "{}",
        t1.join("\n")
    );
    assert_eq!(
        stderr.matches("decoding H.264 with software").count(),
        1,
        "{stderr}"
    );
}

/// Text without ANSI colour sequences.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The instant a log line starts with (`2026-12-06T02:44:53.138656Z …`).
fn time_of(line: &str) -> chrono::DateTime<chrono::FixedOffset> {
    let stamp = line.split_whitespace().next().unwrap_or_default();
    chrono::DateTime::parse_from_rfc3339(stamp).unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// Pictures: a camera's `picture` property reaches the owner at the start (schema 17 and up,
/// not before), and again with each of its events, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pictures_come_with_the_properties_and_events() {
    let jpeg = std::fs::read(clip_path("still_420.jpg")).unwrap();
    for (schema, expected) in [(21, 2), (16, 1)] {
        let clip = Arc::new(Clip::load(&clip_path("h264_baseline_720p.h264")).unwrap());
        let sim = Simulator::start(SimConfig {
            cameras: vec![camera_as("A", &clip)],
            max_schema: schema,
            pictures: [("A".to_owned(), Arc::new(jpeg.clone()))].into(),
            events: vec!["person:A@1".parse().unwrap()],
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let cfg = SessionConfig {
            serials: vec!["A".into()],
            ..session_config(sim.url())
        };
        let (events, result) = run_until(cfg, Duration::from_secs(10), |ev| {
            count(ev, |e| {
                matches!(e, SessionEvent::Detection { state: false, .. })
            }) >= 1
        })
        .await;
        assert!(result.is_ok(), "{result:?}");
        let pictures: Vec<&Vec<u8>> = events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Picture { serial, data, .. } if serial == "A" => Some(data),
                _ => None,
            })
            .collect();
        // At schema 16 the properties carry none: only the event's.
        assert_eq!(pictures.len(), expected, "schema {schema}");
        assert!(pictures.iter().all(|p| **p == jpeg));
    }
}

/// A URL no retry can mend (a wrong scheme, no valid host) ends a one-off job at once with
/// what to use (no retries until `wait_server`); a viewer (no `wait_server`) keeps running,
/// says it with the advice, and tries again only after a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_that_cannot_work_is_said_with_advice() {
    let sim = Simulator::start(sim_config(camera("h264_baseline_720p.h264")))
        .await
        .unwrap();
    let port = sim.url().rsplit(':').next().unwrap().to_owned();
    for (url, advice) in [
        (format!("http://127.0.0.1:{port}"), "ws://HOST:3000/ws"),
        (format!("ws://bad host:{port}"), "no valid host"),
    ] {
        let one_off = SessionConfig {
            wait_server: Some(Duration::from_secs(120)),
            ..session_config(url.clone())
        };
        let started = Instant::now();
        let err = tokio::time::timeout(
            Duration::from_secs(20),
            eufy_hw::backend::list_cameras(&one_off),
        )
        .await
        .expect("a one-off job tried again and again")
        .unwrap_err();
        assert!(err.misconfigured().is_some(), "{err}");
        assert!(err.to_string().contains(advice), "{err}");
        assert!(started.elapsed() < Duration::from_secs(20));

        // The viewer: said with the advice, next try in a minute, no give-up.
        let (events, result) = run_until(session_config(url), Duration::from_secs(10), |ev| {
            ev.iter()
                .any(|e| matches!(e, SessionEvent::Reconnecting { .. }))
        })
        .await;
        result.unwrap();
        let reconnects: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Reconnecting { reason, delay } => Some((reason, *delay)),
                _ => None,
            })
            .collect();
        assert_eq!(reconnects.len(), 1, "{reconnects:?}");
        assert!(reconnects[0].0.contains(advice), "{:?}", reconnects[0]);
        assert!(
            reconnects[0].1 >= Duration::from_secs(60),
            "{:?}",
            reconnects[0]
        );
    }
    assert_eq!(sim.stats().connections, 0);
}
