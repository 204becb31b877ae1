//! Pan and tilt from the command line and the library, on both simulated backends:
//! `eufy-hw ptz` and what the server receives for each step, the sweep and presets (1–4 for
//! people, 0–3 on the wire), and clear refusals for cameras that cannot, a sweep the bridge
//! has not, an old schema. A doorbell's quick replies (`eufy-hw reply`): listed, one played,
//! an unknown one refused, the bridge's missing replies said. A running session's
//! capabilities per camera kind on both backends, and steps, presets and replies carried out
//! on its own connection, refusals in words.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use eufy_hw::backend::{self, Direction, Ptz};
use eufy_hw::clip::Clip;
use eufy_hw::eufy::session::{SessionConfig, SessionError};
use eufy_hw::simulator::{BridgeSim, Camera, CameraKind, SimConfig, Simulator};

const PTZ: &str = "T8410P0000000001";
const PLAIN: &str = "T8410P0000000002";
const DOORBELL: &str = "T8410P0000000003";

async fn sim(bridge: bool, max_schema: u32) -> Simulator {
    let clip = Arc::new(Clip::demo());
    Simulator::start(SimConfig {
        cameras: [PTZ, PLAIN, DOORBELL]
            .map(|s| Camera {
                serial: s.into(),
                clip: clip.clone(),
            })
            .to_vec(),
        kinds: [
            (PTZ.to_owned(), CameraKind::Ptz),
            (DOORBELL.to_owned(), CameraKind::Doorbell),
        ]
        .into(),
        max_schema,
        bridge: bridge.then(BridgeSim::default),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

async fn act(sim: &Simulator, serial: &str, action: Ptz) -> Result<(), SessionError> {
    backend::act(&SessionConfig::new(sim.url(), Vec::new()), serial, action).await
}

fn sent(sim: &Simulator) -> Vec<String> {
    sim.stats()
        .ptz
        .into_iter()
        .map(|(serial, what)| {
            assert_eq!(serial, PTZ);
            what
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_sweep_and_presets_reach_eufy_security_ws() {
    let s = sim(false, 21).await;
    for action in [
        Ptz::Move(Direction::Left),
        Ptz::Move(Direction::Down),
        Ptz::Sweep,
        Ptz::Preset(1),
        Ptz::Preset(4),
    ] {
        act(&s, PTZ, action).await.unwrap();
    }
    assert_eq!(
        sent(&s),
        [
            "device.pan_and_tilt 1",
            "device.pan_and_tilt 4",
            "device.pan_and_tilt 0",
            "device.preset_position 0",
            "device.preset_position 3",
        ]
    );
    // A camera without the command: said, nothing sent.
    let e = act(&s, PLAIN, Ptz::Move(Direction::Up)).await.unwrap_err();
    assert!(matches!(e, SessionError::Unable { .. }), "{e}");
    assert!(e.to_string().contains("no devicePanAndTilt command"), "{e}");
    assert_eq!(sent(&s).len(), 5);
    s.shutdown().await;

    // Presets need schema 21: an older server is said, not sent.
    let old = sim(false, 20).await;
    let e = act(&old, PTZ, Ptz::Preset(2))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("this needs 21"), "{e}");
    act(&old, PTZ, Ptz::Move(Direction::Right)).await.unwrap();
    assert_eq!(sent(&old), ["device.pan_and_tilt 2"]);
    old.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_and_presets_reach_the_bridge() {
    let s = sim(true, 21).await;
    act(&s, PTZ, Ptz::Move(Direction::Up)).await.unwrap();
    act(&s, PTZ, Ptz::Preset(2)).await.unwrap();
    assert_eq!(
        sent(&s),
        ["device.action up []", "device.action preset.goto [1]"]
    );
    let e = act(&s, PTZ, Ptz::Sweep).await.unwrap_err().to_string();
    assert!(e.contains("no 360° sweep"), "{e}");
    let e = act(&s, PLAIN, Ptz::Move(Direction::Left))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no ptz capability"), "{e}");
    assert_eq!(sent(&s).len(), 2);
    s.shutdown().await;
}

#[test]
fn eufy_hw_ptz_on_the_command_line() {
    for backend in ["ws", "bridge"] {
        let (mut sim, url) =
            common::simulate(&["--backend", backend, "--kind", &format!("{PTZ}=ptz")]);
        let run = |args: &[&str]| {
            std::process::Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
                .args(["ptz", "--url", &url])
                .args(args)
                .env_remove("RUST_LOG")
                .output()
                .unwrap()
        };
        let out = run(&["--serial", PTZ, "preset", "3"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{backend}: {err}");
        assert!(err.contains(&format!("sent preset 3 to {PTZ}")), "{err}");
        let out = run(&["--serial", PTZ, "preset", "9"]);
        assert!(!out.status.success(), "{backend}: preset 9 refused");
        assert!(String::from_utf8_lossy(&out.stderr).contains("preset 1-4"));
        let _ = sim.kill();
        let _ = sim.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doorbells_quick_replies() {
    let s = sim(false, 21).await;
    let config = SessionConfig::new(s.url(), Vec::new());
    let voices = backend::quick_reply(&config, DOORBELL, None).await.unwrap();
    let want: Vec<(u64, String)> = eufy_hw::simulator::VOICES
        .iter()
        .map(|(id, d)| (*id, (*d).to_owned()))
        .collect();
    assert_eq!(voices, want);
    assert!(s.stats().replies.is_empty(), "listing plays nothing");
    backend::quick_reply(&config, DOORBELL, Some(2))
        .await
        .unwrap();
    assert_eq!(s.stats().replies, [(DOORBELL.to_owned(), 2)]);
    let e = backend::quick_reply(&config, DOORBELL, Some(9))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no such reply") && e.contains("1 \"Hello"),
        "{e}"
    );
    let e = backend::quick_reply(&config, PLAIN, None)
        .await
        .unwrap_err();
    assert!(matches!(e, SessionError::Refused { .. }), "{e}");
    assert_eq!(s.stats().replies.len(), 1);
    s.shutdown().await;

    // The bridge has none: said.
    let b = sim(true, 21).await;
    let e = backend::quick_reply(&SessionConfig::new(b.url(), Vec::new()), DOORBELL, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no quick replies"), "{e}");
    b.shutdown().await;
}

#[test]
fn eufy_hw_reply_lists_and_plays() {
    let clip = common::clip_path("h264_baseline_720p.h264");
    let (mut sim, url) = common::simulate(&[
        "--camera",
        &format!("{DOORBELL}={}", clip.display()),
        "--kind",
        &format!("{DOORBELL}=doorbell"),
    ]);
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
            .args(["reply", "--url", &url, "--serial", DOORBELL])
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert!(listed.starts_with("1\tHello"), "{listed}");
    let out = run(&["--voice", "3"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("played quick reply 3"), "{err}");
    let _ = sim.kill();
    let _ = sim.wait();
}

/// A running session (the wall's) says what each camera can do and carries out steps,
/// presets and replies on its own connection, on both backends: eufy-security-ws from
/// `device.get_commands` and `device.get_voices`, the bridge from `capabilities` (pan/tilt
/// and presets; no sweep, no replies, no talk back); refusals come back in words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_session_says_what_cameras_can_do_and_does_it() {
    use eufy_hw::eufy::session::{Capabilities, SessionControl, SessionEvent};
    use tokio::sync::mpsc;
    for bridge in [false, true] {
        let s = sim(bridge, 21).await;
        let (events_tx, mut events) = mpsc::channel(1024);
        let (control, control_rx) = mpsc::unbounded_channel();
        let (trigger, stop) = eufy_hw::shutdown::channel();
        let config =
            SessionConfig::new(s.url(), [PTZ, PLAIN, DOORBELL].map(str::to_owned).to_vec());
        let session = tokio::spawn(backend::run_session(
            config,
            events_tx,
            stop,
            Some(control_rx),
        ));
        let mut caps = std::collections::HashMap::new();
        let mut done = Vec::new();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut asked = false;
        while done.len() < 3 {
            let ev = tokio::time::timeout_at(deadline, events.recv())
                .await
                .expect("the session's answers")
                .unwrap();
            match ev {
                SessionEvent::Capabilities { serial, caps: c } => {
                    caps.insert(serial, c);
                }
                SessionEvent::Done {
                    serial, outcome, ..
                } => done.push((serial, outcome)),
                _ => {}
            }
            if caps.len() == 3 && !asked {
                asked = true;
                for c in [
                    SessionControl::Ptz {
                        serial: PTZ.into(),
                        action: Ptz::Preset(3),
                    },
                    SessionControl::Reply {
                        serial: DOORBELL.into(),
                        voice: 1,
                    },
                    SessionControl::Ptz {
                        serial: PLAIN.into(),
                        action: Ptz::Move(Direction::Left),
                    },
                ] {
                    control.send(c).unwrap();
                }
            }
        }
        trigger.trigger();
        session.await.unwrap().unwrap();
        assert_eq!(caps[PLAIN], Capabilities::default(), "bridge {bridge}");
        assert!(
            caps[PTZ].ptz && caps[PTZ].presets,
            "bridge {bridge}: {caps:?}"
        );
        assert_eq!(caps[PTZ].sweep, !bridge);
        assert_eq!(caps[DOORBELL].talk, !bridge);
        assert_eq!(caps[DOORBELL].replies.len(), if bridge { 0 } else { 3 });
        assert_eq!(done[0], (PTZ.to_owned(), Ok(())));
        if bridge {
            assert!(matches!(&done[1].1, Err(w) if w.contains("no quick replies")));
            assert_eq!(sent(&s), ["device.action preset.goto [2]"]);
        } else {
            assert_eq!(done[1], (DOORBELL.to_owned(), Ok(())));
            assert_eq!(sent(&s), ["device.preset_position 2"]);
            assert_eq!(s.stats().replies, [(DOORBELL.to_owned(), 1)]);
        }
        assert!(done[2].1.is_err(), "{:?}", done[2]);
        s.shutdown().await;
    }
}
