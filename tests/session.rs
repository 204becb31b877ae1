//! The client session against the simulator over loopback: access units received equal the
//! file's for every clip and both framings; faults are reported, reconnected, never a panic.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::clip_path;
use eufy_hw::bitstream::{AccessUnits, AssemblerConfig};
use eufy_hw::clip::Clip;
use eufy_hw::eufy::session::{run_session, SessionConfig, SessionError, SessionEvent};
use eufy_hw::eufy::simulator::{Camera, Chunking, Fault, FaultKind, Pacing, SimConfig, Simulator};
use tokio::sync::{mpsc, watch};

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
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run_session(config, tx, stop_rx));
    let mut events = Vec::new();
    let deadline = Instant::now() + limit;
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline.into(), rx.recv()).await {
        events.push(ev);
        if until(&events) {
            break;
        }
    }
    let _ = stop_tx.send(true);
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

/// Faults that lose the stream: the session reports, reconnects and streams again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_streams_reconnect() {
    for (kind, reason) in [
        (FaultKind::Close, "lost"),
        (FaultKind::Stop, "stopped"),
        (FaultKind::Restart, "shutting down"),
        (FaultKind::Stall(Duration::from_secs(3)), "did not answer"),
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
