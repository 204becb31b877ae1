//! The Eufy Mega bridge backend against the simulator speaking the bridge, over loopback:
//! the same access units as the file (H.264 and H.265, per unit and cut anywhere) as over
//! eufy-security-ws, and a raw recording byte-exact over the bridge; a bridge URL without
//! `/ws` completed and its cameras listed; the backend known from the first message, a
//! server that is neither said at once (a silent one retried, then given up); `hello` of
//! schema 2 or none; clean and aborted cut-offs restarted; a camera opened only when wanted;
//! stored pictures and a momentary ring (never `mode=live`). Bad HTTP input is a clear,
//! counted failure: no headers, HTML, a 200 with JSON (each said with the next try),
//! garbage (every byte counted, no unit), the whole clip in one chunk; the bridge's own
//! back-off honoured; unknown and malformed events dropped and said. The auth flow: the 2FA
//! login (a wrong code, the right one), a session expiry recovered, the progress line saying
//! the bridge needs its code, `eufy-hw login`. A wall file moved to the bridge by changing
//! its URL alone.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::clip_path;
use eufy_hw::backend::{self, Backend};
use eufy_hw::bitstream::{AccessUnits, AssemblerConfig};
use eufy_hw::bridge::{self, Answer};
use eufy_hw::clip::Clip;
use eufy_hw::eufy::protocol::DetectionKind;
use eufy_hw::eufy::session::{
    CameraState, SessionConfig, SessionControl, SessionError, SessionEvent,
};
use eufy_hw::shutdown;
use eufy_hw::simulator::{
    BridgeSim, Camera, Chunking, HttpFault, Pacing, SimConfig, SimEvent, Simulator,
};
use tokio::sync::mpsc;

const SERIAL: &str = "T8410P0000000001";

fn camera(clip: &str) -> Camera {
    Camera {
        serial: SERIAL.into(),
        clip: Arc::new(Clip::load(&clip_path(clip)).unwrap()),
    }
}

fn bridge_sim(cam: Camera, bridge: BridgeSim) -> SimConfig {
    SimConfig {
        cameras: vec![cam],
        pacing: Pacing::Unpaced,
        realistic: false,
        looping: false,
        bridge: Some(bridge),
        ..SimConfig::default()
    }
}

/// The 720p H.264 clip's camera on a bridge simulator.
fn baseline(bridge: BridgeSim) -> SimConfig {
    bridge_sim(camera("h264_baseline_720p.h264"), bridge)
}

async fn start(config: SimConfig) -> Simulator {
    Simulator::start(config).await.unwrap()
}

fn session_config(url: String) -> SessionConfig {
    SessionConfig {
        request_timeout: Duration::from_secs(3),
        start_timeout: Duration::from_secs(3),
        data_timeout: Duration::from_secs(3),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        restart_pause: Duration::from_millis(50),
        ..SessionConfig::new(url, vec![SERIAL.into()])
    }
}

/// Runs a session (through the seam) until `until` says enough or `limit`, collecting its
/// events; `control` lets the test steer it.
async fn run_until(
    config: SessionConfig,
    limit: Duration,
    control: Option<mpsc::UnboundedReceiver<SessionControl>>,
    mut until: impl FnMut(&[SessionEvent]) -> bool,
) -> (Vec<SessionEvent>, Result<(), SessionError>) {
    let (tx, mut rx) = mpsc::channel(1024);
    let (stop_tx, stop_rx) = shutdown::channel();
    let task = tokio::spawn(backend::run_session(config, tx, stop_rx, control));
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

fn video(events: &[SessionEvent]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Video { data, .. } => Some(data.clone()),
            _ => None,
        })
        .collect()
}

fn assemble(chunks: &[Vec<u8>]) -> (Vec<Vec<u8>>, u64) {
    let mut asm = AccessUnits::new(AssemblerConfig::default());
    let mut out = Vec::new();
    for c in chunks {
        asm.push(c, (), |au| out.push(au.data));
    }
    asm.finish(|au| out.push(au.data));
    (out, asm.stats().splitter.garbage_bytes)
}

fn count(events: &[SessionEvent], f: impl Fn(&SessionEvent) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

fn restart_reasons(events: &[SessionEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::State {
                state: CameraState::Restarting { reason, .. },
                ..
            } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

/// Plays the clip once over `backend` (a simulator of that kind), reconnects off.
async fn play_once(cam: &Camera, chunking: Chunking, bridge: bool) -> Vec<Vec<u8>> {
    let sim = start(SimConfig {
        chunking,
        end_timeout: Duration::from_millis(50),
        bridge: bridge.then(BridgeSim::default),
        ..bridge_sim(cam.clone(), BridgeSim::default())
    })
    .await;
    let mut cfg = session_config(sim.url());
    cfg.reconnect = false;
    let (events, result) = run_until(cfg, Duration::from_secs(30), None, |_| false).await;
    sim.shutdown().await;
    // The clip's end is a stream that stopped: the one error of a non-reconnecting session.
    assert!(
        matches!(result, Err(SessionError::StreamStopped(_))),
        "{result:?}"
    );
    let connected: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Connected { server_version, .. } => Some(server_version),
            _ => None,
        })
        .collect();
    assert_eq!(
        connected.iter().any(|v| v.contains("bridge")),
        bridge,
        "{connected:?}"
    );
    assemble(&video(&events)).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_deliver_the_files_access_units() {
    for clip in ["h264_baseline_720p.h264", "h265_main_1080p.h265"] {
        let cam = camera(clip);
        let expected: Vec<Vec<u8>> = cam.clip.units.iter().map(|u| u.data.to_vec()).collect();
        for chunking in [
            Chunking::AccessUnit,
            Chunking::Random { seed: 9, max: 3000 },
        ] {
            for bridge in [true, false] {
                let got = play_once(&cam, chunking, bridge).await;
                assert_eq!(
                    got.len(),
                    expected.len(),
                    "{clip} {chunking:?} bridge={bridge}"
                );
                assert!(
                    got == expected,
                    "{clip} {chunking:?} bridge={bridge}: bytes differ"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_url_without_its_path_is_completed_and_known() {
    let sim = start(baseline(BridgeSim::default())).await;
    let bare = format!("ws://{}", sim.addr());
    let config = SessionConfig::new(bare.clone(), Vec::new());
    let probed = backend::probe(&config).await.unwrap();
    assert_eq!(probed.backend, Backend::Bridge);
    assert_eq!(probed.url, format!("{bare}/ws"));
    drop(probed);
    // `eufy-hw cameras` through the seam.
    let list = backend::list_cameras(&SessionConfig {
        wait_server: Some(Duration::from_secs(5)),
        ..config
    })
    .await
    .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].serial, SERIAL);
    assert_eq!(list[0].name.as_deref(), Some("Camera 1"));
    sim.shutdown().await;
}

/// A WebSocket server that sends `first` (or nothing) and then waits.
async fn odd_server(first: Option<&'static str>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                use futures_util::SinkExt;
                let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                if let Some(text) = first {
                    let _ = ws
                        .send(tokio_tungstenite::tungstenite::Message::Text(text.into()))
                        .await;
                }
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    format!("ws://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neither_server_is_a_clear_error() {
    let url = odd_server(Some(r#"{"welcome":"mqtt bridge"}"#)).await;
    let (_, result) = run_until(session_config(url), Duration::from_secs(10), None, |_| {
        false
    })
    .await;
    let e = result.unwrap_err();
    assert!(matches!(e, SessionError::UnknownServer { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("not eufy-security-ws nor the Eufy Mega bridge") && text.contains("welcome"),
        "{text}"
    );

    // A server that says nothing: retried, then given up with the reason after wait_server.
    let url = odd_server(None).await;
    let config = SessionConfig {
        request_timeout: Duration::from_millis(300),
        wait_server: Some(Duration::from_secs(1)),
        ..session_config(url)
    };
    let (events, result) = run_until(config, Duration::from_secs(10), None, |_| false).await;
    let e = result.unwrap_err();
    assert!(matches!(e, SessionError::NotReady { .. }), "{e}");
    assert!(e.to_string().contains("sent nothing"), "{e}");
    assert!(count(&events, |e| matches!(e, SessionEvent::Reconnecting { .. })) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_of_another_schema_or_none_fails_loudly() {
    let sim = start(baseline(BridgeSim {
        schema: Some(2),
        ..BridgeSim::default()
    }))
    .await;
    let (_, result) = run_until(
        session_config(sim.url()),
        Duration::from_secs(10),
        None,
        |_| false,
    )
    .await;
    let e = result.unwrap_err();
    assert!(
        matches!(e, SessionError::BridgeSchema { schema: 2, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("schema 2"), "{e}");
    sim.shutdown().await;

    // No hello at all, the bridge named: its own timeout, said as the bridge's.
    let sim = start(baseline(BridgeSim {
        schema: None,
        ..BridgeSim::default()
    }))
    .await;
    let config = SessionConfig {
        backend: Backend::Bridge,
        reconnect: false,
        request_timeout: Duration::from_millis(500),
        ..session_config(sim.url())
    };
    let (_, result) = run_until(config, Duration::from_secs(10), None, |_| false).await;
    let e = result.unwrap_err().to_string();
    assert!(
        e.contains("Eufy Mega bridge") && e.contains("did not answer hello"),
        "{e}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_offs_clean_and_aborted_are_restarted() {
    for (fault, cutoff, said) in [
        (
            None,
            Some(Duration::from_millis(400)),
            "the bridge ended the stream",
        ),
        (Some(HttpFault::Abort(5)), None, "broke off"),
    ] {
        let sim = start(SimConfig {
            looping: true,
            pacing: Pacing::Fps(60.0),
            cutoff,
            ..baseline(BridgeSim {
                http_fault: fault.clone(),
                ..BridgeSim::default()
            })
        })
        .await;
        let (events, result) = run_until(
            session_config(sim.url()),
            Duration::from_secs(20),
            None,
            |ev| count(ev, |e| matches!(e, SessionEvent::Started { .. })) >= 3,
        )
        .await;
        assert!(result.is_ok(), "{result:?}");
        let ended: Vec<&String> = events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Ended { reason, .. } => Some(reason),
                _ => None,
            })
            .collect();
        assert!(ended.len() >= 2, "{fault:?}: {ended:?}");
        assert!(
            ended.iter().all(|r| r.contains(said)),
            "{fault:?}: {ended:?}"
        );
        assert!(sim.stats().starts[SERIAL] >= 3);
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_streams_only_while_wanted() {
    let sim = start(SimConfig {
        looping: true,
        pacing: Pacing::Fps(30.0),
        ..baseline(BridgeSim::default())
    })
    .await;
    let (ctl, rx) = mpsc::unbounded_channel();
    ctl.send(SessionControl::Want(Vec::new())).unwrap();
    let mut asked = false;
    let (events, result) = run_until(
        session_config(sim.url()),
        Duration::from_secs(20),
        Some(rx),
        |ev| {
            // Once it is idle (never opened), want it; then stop at its video.
            let idle = count(ev, |e| {
                matches!(
                    e,
                    SessionEvent::State {
                        state: CameraState::Idle,
                        ..
                    }
                )
            }) > 0;
            if idle && !asked {
                asked = true;
                assert_eq!(count(ev, |e| matches!(e, SessionEvent::Video { .. })), 0);
                ctl.send(SessionControl::Want(vec![SERIAL.into()])).unwrap();
            }
            count(ev, |e| matches!(e, SessionEvent::Video { .. })) >= 5
        },
    )
    .await;
    assert!(result.is_ok(), "{result:?}");
    assert!(asked, "the camera was never idle");
    assert_eq!(
        sim.stats().starts.get(SERIAL),
        Some(&1),
        "opened once, when wanted"
    );
    assert!(video(&events).len() >= 5);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pictures_and_momentary_events() {
    let jpeg = std::fs::read(clip_path("still_420.jpg")).unwrap();
    let sim = start(SimConfig {
        looping: true,
        pacing: Pacing::Fps(30.0),
        pictures: [(SERIAL.to_owned(), Arc::new(jpeg.clone()))].into(),
        events: vec![SimEvent {
            kind: DetectionKind::Ring,
            serial: None,
            at: Duration::from_millis(500),
        }],
        ..baseline(BridgeSim::default())
    })
    .await;
    let (events, _) = run_until(
        session_config(sim.url()),
        Duration::from_secs(10),
        None,
        |ev| count(ev, |e| matches!(e, SessionEvent::Picture { .. })) >= 2,
    )
    .await;
    let pictures: Vec<&Vec<u8>> = events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Picture { data, .. } => Some(data),
            _ => None,
        })
        .collect();
    assert!(pictures.len() >= 2, "at the start and after the ring");
    assert!(pictures.iter().all(|p| **p == jpeg));
    let rings: Vec<&SessionEvent> = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                SessionEvent::Detection {
                    kind: DetectionKind::Ring,
                    ..
                }
            )
        })
        .collect();
    // Momentary: one start, no end.
    assert_eq!(rings.len(), 1, "{rings:?}");
    assert!(matches!(
        rings[0],
        SessionEvent::Detection { state: true, .. }
    ));
    assert_eq!(
        sim.stats().count("snapshot.live"),
        0,
        "stored pictures only"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_bad_input_is_said_and_counted() {
    let clip = "h264_baseline_720p.h264";
    // Errors before video: each said on the camera's state with the next try.
    for (fault, said) in [
        (HttpFault::NoHeaders, "sent no answer within 1 s"),
        (HttpFault::WrongType, "text/html instead of video"),
        (HttpFault::JsonOk, "camera session failed"),
    ] {
        let sim = start(bridge_sim(
            camera(clip),
            BridgeSim {
                http_fault: Some(fault.clone()),
                ..BridgeSim::default()
            },
        ))
        .await;
        let config = SessionConfig {
            start_timeout: Duration::from_secs(1),
            ..session_config(sim.url())
        };
        let (events, result) = run_until(config, Duration::from_secs(15), None, |ev| {
            restart_reasons(ev).len() >= 2
        })
        .await;
        assert!(result.is_ok(), "{fault:?}: {result:?}");
        let reasons = restart_reasons(&events);
        assert!(reasons.len() >= 2, "{fault:?}: {reasons:?}");
        assert!(
            reasons.iter().all(|r| r.contains(said)),
            "{fault:?}: {reasons:?}"
        );
        assert!(video(&events).is_empty());
        sim.shutdown().await;
    }

    // Garbage bodies: bytes come, no access unit, every byte counted as garbage.
    let sim = start(bridge_sim(
        camera(clip),
        BridgeSim {
            http_fault: Some(HttpFault::Garbage),
            ..BridgeSim::default()
        },
    ))
    .await;
    let mut cfg = session_config(sim.url());
    cfg.reconnect = false;
    let (events, _) = run_until(cfg, Duration::from_secs(20), None, |_| false).await;
    let chunks = video(&events);
    let total: usize = chunks.iter().map(Vec::len).sum();
    let (units, garbage) = assemble(&chunks);
    assert!(total > 10_000, "{total}");
    assert!(units.is_empty());
    assert!(garbage as usize >= total - 4, "{garbage} of {total}");
    sim.shutdown().await;

    // The whole clip in one chunk: the same units.
    let cam = camera(clip);
    let sim = start(bridge_sim(
        cam.clone(),
        BridgeSim {
            http_fault: Some(HttpFault::HugeChunk),
            ..BridgeSim::default()
        },
    ))
    .await;
    let mut cfg = session_config(sim.url());
    cfg.reconnect = false;
    let (events, _) = run_until(cfg, Duration::from_secs(20), None, |_| false).await;
    let (units, _) = assemble(&video(&events));
    assert_eq!(units.len(), cam.clip.units.len());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_open_honours_the_bridges_backoff() {
    let sim = start(SimConfig {
        offline: vec![SERIAL.into()],
        ..baseline(BridgeSim {
            backoff: Duration::from_secs(3),
            ..BridgeSim::default()
        })
    })
    .await;
    let (events, result) = run_until(
        session_config(sim.url()),
        Duration::from_secs(15),
        None,
        |ev| restart_reasons(ev).len() >= 2,
    )
    .await;
    assert!(result.is_ok());
    let waits: Vec<(String, std::time::Instant)> = events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::State {
                state: CameraState::Restarting { reason, at, .. },
                ..
            } => Some((reason.clone(), *at)),
            _ => None,
        })
        .collect();
    assert!(
        waits[0].0.contains("HTTP 502") && waits[0].0.contains("P2P unreachable"),
        "{waits:?}"
    );
    // The second try met the bridge's back-off: a 503 saying so, and a wait of its length
    // (3 s), not ours (at most 0.2 s).
    assert!(
        waits[1].0.contains("HTTP 503") && waits[1].0.contains("retry in"),
        "{waits:?}"
    );
    let gap = waits[1].1.duration_since(waits[0].1);
    assert!(gap >= Duration::from_millis(2500), "{gap:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_malformed_events_are_dropped_not_fatal() {
    let sim = start(SimConfig {
        looping: true,
        pacing: Pacing::Fps(30.0),
        ..baseline(BridgeSim {
            bad_events: true,
            ..BridgeSim::default()
        })
    })
    .await;
    let (events, result) = run_until(
        session_config(sim.url()),
        Duration::from_secs(15),
        None,
        |ev| video(ev).len() >= 10,
    )
    .await;
    assert!(result.is_ok(), "{result:?}");
    assert!(video(&events).len() >= 10);
    let dropped: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Dropped { reason } => Some(reason),
            _ => None,
        })
        .collect();
    assert!(
        dropped.iter().any(|r| r.contains("fooBarred")),
        "{dropped:?}"
    );
    assert_eq!(
        count(&events, |e| matches!(e, SessionEvent::Reconnecting { .. })),
        0,
        "no reconnect for bad events"
    );
    sim.shutdown().await;
}

fn login_states(events: &[SessionEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::State {
                state: CameraState::Login { what },
                ..
            } => Some(what.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_flow_and_a_session_expiry() {
    let sim = start(SimConfig {
        looping: true,
        pacing: Pacing::Fps(30.0),
        ..baseline(BridgeSim {
            code: Some("123456".into()),
            expire_at: Some(Duration::from_secs(3)),
            relogin: Duration::from_millis(500),
            ..BridgeSim::default()
        })
    })
    .await;
    let url = sim.url();
    let login_url = url.clone();
    let login = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let config = SessionConfig::new(login_url, Vec::new());
        let wrong = bridge::login(&config, Answer::Code("000000".into()))
            .await
            .unwrap();
        let right = bridge::login(&config, Answer::Code("123456".into()))
            .await
            .unwrap();
        (wrong, right)
    });
    // Until the stream started again after the expiry and its video came (a loaded machine
    // can take a while between the two).
    let (events, result) = run_until(session_config(url), Duration::from_secs(20), None, |ev| {
        let again = ev.iter().position(|e| {
            matches!(e, SessionEvent::State { state: CameraState::Login { what }, .. } if what.contains("again"))
        });
        count(ev, |e| matches!(e, SessionEvent::Started { .. })) >= 2
            && again.is_some_and(|k| {
                ev[k..]
                    .iter()
                    .any(|e| matches!(e, SessionEvent::Video { .. }))
            })
    })
    .await;
    assert!(result.is_ok(), "{result:?}");
    let (wrong, right) = login.await.unwrap();
    assert_eq!(
        wrong.after.word(),
        "require_2fa",
        "a wrong code leaves it waiting"
    );
    assert!(right.after.is_ok());
    let said = login_states(&events);
    assert!(
        said[0].contains("needs a 2FA code (sent by email)"),
        "{said:?}"
    );
    assert!(
        said.iter().any(|s| s.contains("logging in again")),
        "{said:?}"
    );
    // Video before and after the expiry.
    let first_login = events.iter().position(|e| matches!(e, SessionEvent::State { state: CameraState::Login { what }, .. } if what.contains("again"))).unwrap();
    assert!(events[..first_login]
        .iter()
        .any(|e| matches!(e, SessionEvent::Video { .. })));
    assert!(events[first_login..]
        .iter()
        .any(|e| matches!(e, SessionEvent::Video { .. })));
    sim.shutdown().await;
}

fn run_cli(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args(args)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn eufy_hw_login_with_a_wrong_then_a_right_code() {
    let (mut sim, url) = common::simulate(&["--backend", "bridge", "--code", "424242"]);
    let (ok, stdout, stderr) = run_cli(&["login", "--url", &url]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "require_2fa");
    assert!(stderr.contains("needs a 2FA code"), "{stderr}");
    let (ok, _, stderr) = run_cli(&["login", "--url", &url, "--code", "111111"]);
    assert!(!ok, "a wrong code fails");
    assert!(stderr.contains("did not take that answer"), "{stderr}");
    let (ok, stdout, stderr) = run_cli(&["login", "--url", &url, "--code", "424242"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "ok");
    // eufy-security-ws has no such login.
    let _ = sim.kill();
    let _ = sim.wait();
    let (mut ws, ws_url) = common::simulate(&[]);
    let (ok, _, stderr) = run_cli(&["login", "--url", &ws_url]);
    assert!(!ok);
    assert!(stderr.contains("is for the Eufy Mega bridge"), "{stderr}");
    let _ = ws.kill();
    let _ = ws.wait();
}

/// A wall file written for eufy-security-ws, moved to the bridge by changing its URL alone:
/// the headless viewer decodes its camera on both.
#[test]
fn a_wall_file_moves_to_the_bridge_by_its_url_alone() {
    let clip = clip_path("h264_baseline_720p.h264");
    let dir = std::env::temp_dir().join(format!("eufy-bridge-wall-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for backend in ["ws", "bridge"] {
        let (mut sim, url) = common::simulate(&[
            "--backend",
            backend,
            "--camera",
            &format!("T1={}", clip.display()),
            "--immediate",
        ]);
        let file = dir.join(format!("{backend}.toml"));
        std::fs::write(
            &file,
            format!(
                "url = \"{url}\"\npage_seconds = 0\n\n[[camera]]\nserial = \"T1\"\nname = \"Front door\"\n"
            ),
        )
        .unwrap();
        let (ok, stdout, stderr) = run_cli(&[
            "--config",
            file.to_str().unwrap(),
            "--headless",
            "--summary",
            "json",
            "--duration",
            "3",
            "--accel",
            "none",
        ]);
        let _ = sim.kill();
        let _ = sim.wait();
        assert!(ok, "{backend}: {stderr}");
        let done: serde_json::Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{backend}: no JSON summary ({e})\n{stdout}\n{stderr}"));
        let frames = done["frames"].as_u64().unwrap_or(0);
        assert!(frames >= 10, "{backend}: {done}");
        assert_eq!(
            done["cameras"]["T1"]["path_name"], "software",
            "{backend}: {done}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `record` over the bridge: the raw recording is the clip's bytes, exactly (H.264 and
/// H.265, cut anywhere).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_recording_over_the_bridge_equals_the_clip() {
    for name in ["h264_slices4_720p.h264", "h265_main_1080p.h265"] {
        let cam = camera(name);
        let sim = start(SimConfig {
            chunking: Chunking::Random { seed: 3, max: 4000 },
            looping: true,
            ..bridge_sim(cam.clone(), BridgeSim::default())
        })
        .await;
        let out =
            std::env::temp_dir().join(format!("eufy-bridge-rec-{}-{name}", std::process::id()));
        let config = eufy_hw::record::RecordConfig {
            session: SessionConfig::new(sim.url(), vec![SERIAL.into()]),
            output: out.display().to_string(),
            duration: Some(Duration::from_secs(30)),
            frames: Some(25),
        };
        let r = eufy_hw::record::record(config, shutdown::Shutdown::never())
            .await
            .unwrap();
        assert_eq!(r[0].units, 25);
        let expected: Vec<u8> = cam.clip.units[..25]
            .iter()
            .flat_map(|u| u.data.iter().copied())
            .collect();
        let got = std::fs::read(&out).unwrap();
        assert!(
            got == expected,
            "{name}: {} vs {} bytes",
            got.len(),
            expected.len()
        );
        let _ = std::fs::remove_file(&out);
        sim.shutdown().await;
    }
}

/// The headless progress line says what the bridge waits for instead of "starting".
#[test]
fn the_progress_line_says_the_bridge_needs_a_code() {
    let (mut sim, url) = common::simulate(&["--backend", "bridge", "--code", "999000"]);
    let (_, stdout, stderr) = run_cli(&[
        "--url",
        &url,
        "--serial",
        SERIAL,
        "--headless",
        "--duration",
        "2",
        "--accel",
        "none",
        "--log",
        "warn",
    ]);
    let _ = sim.kill();
    let _ = sim.wait();
    let progress: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| l.starts_with(SERIAL) && l.contains("frames"))
        .collect();
    assert!(!progress.is_empty(), "{stdout}\n{stderr}");
    assert!(
        progress
            .iter()
            .all(|l| l.contains("the bridge needs a 2FA code (sent by email)")),
        "{progress:?}"
    );
}
