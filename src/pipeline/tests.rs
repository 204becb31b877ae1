//! The feed's rules with a fake decoder: which units reach a camera's decoder and when it is
//! reset, each camera's phase, and what is counted. No FFmpeg, no thread: the fake writes down
//! what it was asked, the units are the bundled demo clip's real ones.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::clip::Clip;
use crate::eufy::schedule::Retry;

/// What a fake decoder was asked, in order.
#[derive(Debug, Clone, PartialEq)]
enum Asked {
    /// A unit: whether it was a keyframe, whether the feed waited for room (`push`).
    Unit {
        keyframe: bool,
        waited: bool,
    },
    Reset,
    Finish,
}

/// What every fake decoder of a feed shares with the test.
#[derive(Default)]
struct Desk {
    /// Per camera, in order.
    asked: HashMap<String, Vec<Asked>>,
    /// Cameras whose decoder was started, in order (once each while it lives).
    started: Vec<String>,
    /// Starts to refuse before the next one succeeds.
    refuse: usize,
    /// Cameras whose decoder ends on its own, failing.
    failed: Vec<String>,
}

type Shared = Arc<Mutex<Desk>>;

struct Fake {
    serial: String,
    desk: Shared,
}

impl Fake {
    fn ask(&self, what: Asked) {
        let mut desk = self.desk.lock().unwrap();
        desk.asked
            .entry(self.serial.clone())
            .or_default()
            .push(what);
    }
}

impl CameraDecoder for Fake {
    fn try_push(&mut self, au: AccessUnit<Instant>) {
        self.ask(Asked::Unit {
            keyframe: au.keyframe,
            waited: false,
        });
    }
    fn push(&mut self, au: AccessUnit<Instant>) {
        self.ask(Asked::Unit {
            keyframe: au.keyframe,
            waited: true,
        });
    }
    fn reset(&mut self) {
        self.ask(Asked::Reset);
    }
    fn stats(&self) -> DecodeStats {
        let desk = self.desk.lock().unwrap();
        let units = desk.asked.get(&self.serial).map_or(0, |a| {
            a.iter().filter(|a| matches!(a, Asked::Unit { .. })).count()
        });
        DecodeStats {
            units_in: units as u64,
            frames_out: units as u64,
            path: "fake".into(),
            ..Default::default()
        }
    }
    fn has_ended(&self) -> bool {
        self.desk.lock().unwrap().failed.contains(&self.serial)
    }
    fn finish(self: Box<Self>) -> Result<DecodeStats, DecodeError> {
        self.ask(Asked::Finish);
        if self.has_ended() {
            return Err(DecodeError::Thread("the fake failed".into()));
        }
        Ok(self.stats())
    }
}

fn feed(serials: &[&str]) -> (Feed, Shared) {
    let desk = Shared::default();
    let theirs = desk.clone();
    let serials: Vec<String> = serials.iter().map(|s| s.to_string()).collect();
    let feed = Feed::with_decoders(
        &serials,
        Box::new(move |serial| {
            let mut desk = theirs.lock().unwrap();
            if desk.refuse > 0 {
                desk.refuse -= 1;
                return Err(DecodeError::Thread("cannot start".into()));
            }
            desk.started.push(serial.to_owned());
            Ok(Box::new(Fake {
                serial: serial.to_owned(),
                desk: theirs.clone(),
            }))
        }),
    );
    (feed, desk)
}

/// The demo clip's units, one message each, as a server sends them.
fn messages() -> Vec<Vec<u8>> {
    Clip::demo().units.iter().map(|u| u.data.to_vec()).collect()
}

fn video(serial: &str, data: &[u8]) -> SessionEvent {
    SessionEvent::Video {
        serial: serial.into(),
        data: data.to_vec(),
        received_at: Instant::now(),
    }
}

fn status(feed: &Feed, serial: &str) -> CameraStatus {
    feed.statuses.lock().unwrap()[serial].clone()
}

fn asked(desk: &Shared, serial: &str) -> Vec<Asked> {
    desk.lock()
        .unwrap()
        .asked
        .get(serial)
        .cloned()
        .unwrap_or_default()
}

fn units(asked: &[Asked]) -> usize {
    asked
        .iter()
        .filter(|a| matches!(a, Asked::Unit { .. }))
        .count()
}

#[test]
fn a_camera_goes_from_connecting_to_live_and_stays_live_across_restated_streaming() {
    let (mut feed, desk) = feed(&["A"]);
    assert_eq!(status(&feed, "A").phase, Phase::Connecting);
    feed.on_event(SessionEvent::State {
        serial: "A".into(),
        state: CameraState::LoggingIn,
    });
    assert_eq!(
        status(&feed, "A").phase,
        Phase::Session(CameraState::LoggingIn)
    );
    feed.on_event(SessionEvent::Started { serial: "A".into() });
    assert_eq!(status(&feed, "A").phase, Phase::WaitingForKeyframe);

    let msgs = messages();
    // P pictures before any keyframe: counted bytes, no unit, no decoder, still waiting.
    let p = &msgs[1];
    for _ in 0..3 {
        feed.on_event(video("A", p));
    }
    let s = status(&feed, "A");
    assert_eq!(s.phase, Phase::WaitingForKeyframe);
    assert_eq!((s.bytes, s.access_units), (3 * p.len() as u64, 0));
    assert!(desk.lock().unwrap().started.is_empty());

    for m in &msgs[..10] {
        feed.on_event(video("A", m));
    }
    let s = status(&feed, "A");
    assert_eq!(s.phase, Phase::Live);
    let info = s.info.expect("the SPS's stream info");
    assert_eq!((info.width, info.height), (640, 360));
    let a = asked(&desk, "A");
    assert!(!a.is_empty());
    assert_eq!(
        a[0],
        Asked::Unit {
            keyframe: true,
            waited: false
        },
        "the decoder starts at the keyframe"
    );
    assert_eq!(s.access_units, units(&a) as u64);

    // The session restating that it streams (a restart's end) does not send a live camera
    // back to waiting.
    feed.on_event(SessionEvent::State {
        serial: "A".into(),
        state: CameraState::Streaming,
    });
    feed.on_event(SessionEvent::Started { serial: "A".into() });
    assert_eq!(status(&feed, "A").phase, Phase::Live);
    assert_eq!(
        desk.lock().unwrap().started,
        ["A"],
        "one decoder per camera"
    );
}

#[test]
fn an_ended_stream_hands_over_what_is_pending_then_resets_the_decoder() {
    let (mut feed, desk) = feed(&["A"]);
    let msgs = messages();
    // One message: its unit ends only when the next one starts, so it is pending.
    feed.on_event(video("A", &msgs[0]));
    assert!(asked(&desk, "A").is_empty());
    feed.on_event(SessionEvent::Ended {
        serial: "A".into(),
        reason: "livestream stopped".into(),
    });
    let unit = |keyframe| Asked::Unit {
        keyframe,
        waited: false,
    };
    assert_eq!(
        asked(&desk, "A"),
        [unit(true), Asked::Reset],
        "the pending unit is complete: decoded before the reset"
    );

    // The next stream starts at its keyframe again: a P picture first is not decoded.
    feed.on_event(video("A", &msgs[1]));
    for m in &msgs[..6] {
        feed.on_event(video("A", m));
    }
    feed.on_event(SessionEvent::Ended {
        serial: "A".into(),
        reason: "livestream stopped".into(),
    });
    let a = asked(&desk, "A");
    assert_eq!(a[2], unit(true), "{a:?}");
    assert_eq!(units(&a), 1 + 6);
    assert_eq!(a.last(), Some(&Asked::Reset));
    // The pause between the streams is measured as an interruption.
    assert_eq!(status(&feed, "A").gaps.count, 1);
}

#[test]
fn a_stream_stopped_because_it_is_hidden_is_no_interruption() {
    let (mut feed, desk) = feed(&["A"]);
    let msgs = messages();
    for m in &msgs[..4] {
        feed.on_event(video("A", m));
    }
    feed.on_event(SessionEvent::Ended {
        serial: "A".into(),
        reason: crate::eufy::schedule::NOT_SHOWN.into(),
    });
    for m in &msgs[..4] {
        feed.on_event(video("A", m));
    }
    assert_eq!(units(&asked(&desk, "A")), 4 + 4);
    assert_eq!(status(&feed, "A").gaps.count, 0);
}

#[test]
fn a_lost_connection_drops_what_is_pending_and_resets_every_decoder() {
    let (mut feed, desk) = feed(&["A", "B"]);
    let msgs = messages();
    // A's second unit is pending; B's first, its decoder not started.
    for m in &msgs[..2] {
        feed.on_event(video("A", m));
    }
    feed.on_event(video("B", &msgs[0]));
    let before = units(&asked(&desk, "A"));
    assert_eq!(before, 1);
    feed.on_event(SessionEvent::Reconnecting {
        reason: "connection reset".into(),
        delay: Duration::from_secs(1),
    });
    for s in ["A", "B"] {
        assert_eq!(
            status(&feed, s).phase,
            Phase::Offline("connection reset".into())
        );
    }
    let a = asked(&desk, "A");
    assert_eq!(units(&a), before, "what was pending was cut short: dropped");
    assert_eq!(a.last(), Some(&Asked::Reset));
    assert!(
        asked(&desk, "B").is_empty(),
        "B's cut units never reach a decoder"
    );
    // Back: B waits for its keyframe, then goes live; A's new stream does too.
    feed.on_event(video("B", &msgs[1]));
    assert_eq!(status(&feed, "B").phase, Phase::WaitingForKeyframe);
    for m in &msgs[..5] {
        feed.on_event(video("A", m));
        feed.on_event(video("B", m));
    }
    assert_eq!(status(&feed, "B").phase, Phase::Live);
    assert_eq!(
        asked(&desk, "B")[0],
        Asked::Unit {
            keyframe: true,
            waited: false
        }
    );
    assert_eq!(status(&feed, "A").gaps.count, 1);
}

#[test]
fn video_of_a_camera_not_ours_starts_nothing() {
    let (mut feed, desk) = feed(&["A"]);
    for m in &messages()[..6] {
        feed.on_event(video("STRANGER", m));
    }
    assert!(desk.lock().unwrap().started.is_empty());
    assert!(!feed.statuses.lock().unwrap().contains_key("STRANGER"));
    assert_eq!(status(&feed, "A").bytes, 0);
}

#[test]
fn the_display_drops_when_behind_and_benchmarks_wait() {
    for lossless in [false, true] {
        let (mut feed, desk) = feed(&["A"]);
        feed.lossless = lossless;
        for m in &messages()[..6] {
            feed.on_event(video("A", m));
        }
        let a = asked(&desk, "A");
        assert!(!a.is_empty());
        assert!(
            a.iter()
                .all(|x| matches!(x, Asked::Unit { waited, .. } if *waited == lossless)),
            "lossless {lossless}: {a:?}"
        );
    }
}

#[test]
fn a_decoder_that_cannot_start_is_tried_again_on_the_next_unit() {
    let (mut feed, desk) = feed(&["A"]);
    desk.lock().unwrap().refuse = 1;
    let msgs = messages();
    for m in &msgs[..6] {
        feed.on_event(video("A", m));
    }
    // The first unit (the keyframe) found no decoder; the next one started it.
    assert_eq!(desk.lock().unwrap().started, ["A"]);
    let a = asked(&desk, "A");
    assert_eq!(units(&a) as u64 + 1, status(&feed, "A").access_units);
}

#[test]
fn a_flood_of_parameter_sets_is_counted_and_the_pictures_after_it_come_through() {
    let (mut feed, desk) = feed(&["A"]);
    let msgs = messages();
    // What precedes the keyframe's first slice (its parameter sets), 50 times per message,
    // no picture.
    let mut nals = Vec::new();
    let mut splitter = crate::bitstream::NalSplitter::new(1 << 20);
    splitter.push(&msgs[0], (), |n| nals.push(n));
    splitter.finish(|n| nals.push(n));
    let mut prefix = Vec::new();
    for nal in nals.iter().take_while(|n| {
        !crate::bitstream::nal::classify(crate::bitstream::Codec::H264, &n.data)
            .is_some_and(|i| i.vcl)
    }) {
        nal.write_annexb(&mut prefix);
    }
    let flood = prefix.repeat(50);
    for _ in 0..200 {
        feed.on_event(video("A", &flood));
    }
    let s = status(&feed, "A");
    assert!(
        s.assembler.flooded_nals > 100 * 200,
        "{} counted",
        s.assembler.flooded_nals
    );
    assert_eq!(s.phase, Phase::WaitingForKeyframe);
    assert!(asked(&desk, "A").is_empty());
    for m in &msgs[..8] {
        feed.on_event(video("A", m));
    }
    let a = asked(&desk, "A");
    assert_eq!(status(&feed, "A").phase, Phase::Live);
    assert_eq!(
        a[0],
        Asked::Unit {
            keyframe: true,
            waited: false
        }
    );
    assert!(units(&a) >= 6, "{a:?}");
}

#[test]
fn session_states_detections_drops_and_answers_land_in_the_statuses() {
    let (mut feed, _desk) = feed(&["A", "B"]);
    let at = Instant::now() + Duration::from_secs(30);
    feed.on_event(SessionEvent::State {
        serial: "A".into(),
        state: CameraState::Restarting {
            reason: "stream ended".into(),
            at,
            failures: 0,
        },
    });
    assert_eq!(status(&feed, "A").phase.word(), "restarting");
    feed.on_event(SessionEvent::State {
        serial: "B".into(),
        state: CameraState::Starting {
            retry: Some(Retry {
                reason: "device busy".into(),
                failures: 2,
            }),
        },
    });
    assert_eq!(
        status(&feed, "B").phase.describe(Instant::now()).as_deref(),
        Some("device busy: trying again (try 3)")
    );
    for i in 0..KEPT_DETECTIONS + 3 {
        feed.on_event(SessionEvent::Detection {
            serial: "A".into(),
            kind: if i % 2 == 0 {
                DetectionKind::Motion
            } else {
                DetectionKind::Ring
            },
            state: true,
            person: None,
        });
    }
    let d = status(&feed, "A").detections;
    assert_eq!(d.len(), KEPT_DETECTIONS, "bounded");
    assert_eq!(
        d.back().map(|x| x.1),
        Some(DetectionKind::Motion),
        "newest last"
    );
    for _ in 0..3 {
        feed.on_event(SessionEvent::Dropped {
            reason: "bad JSON".into(),
        });
    }
    assert_eq!(status(&feed, "A").dropped_messages, 3);
    assert_eq!(status(&feed, "B").dropped_messages, 3);
    feed.on_event(SessionEvent::Done {
        serial: "B".into(),
        what: "left".into(),
        outcome: Err("not supported".into()),
    });
    assert_eq!(
        status(&feed, "B").done.map(|d| d.0).as_deref(),
        Some("left: not supported")
    );
    // Events for a camera not ours change nothing.
    feed.on_event(SessionEvent::Started {
        serial: "STRANGER".into(),
    });
    assert_eq!(feed.statuses.lock().unwrap().len(), 2);
}

#[test]
fn check_refreshes_the_counters_and_reports_a_decoder_that_failed() {
    let (mut feed, desk) = feed(&["A", "B"]);
    for m in &messages()[..6] {
        feed.on_event(video("A", m));
        feed.on_event(video("B", m));
    }
    feed.check().expect("no decoder failed");
    let s = status(&feed, "A");
    assert_eq!(s.decoder.path, "fake");
    assert_eq!(s.decoder.units_in, units(&asked(&desk, "A")) as u64);

    desk.lock().unwrap().failed.push("B".into());
    match feed.check() {
        Err(PipelineError::Decode { camera, .. }) => assert_eq!(camera, "B"),
        other => panic!("expected B's failure, got {other:?}"),
    }
    assert_eq!(asked(&desk, "B").last(), Some(&Asked::Finish));
    desk.lock().unwrap().failed.clear();
    // A goes on; B's next unit starts a new decoder.
    feed.check().expect("the failed one was taken out");
    for m in &messages()[..6] {
        feed.on_event(video("B", m));
    }
    assert_eq!(desk.lock().unwrap().started, ["A", "B", "B"]);
    let done = feed.finish().expect("both finish");
    assert_eq!(done.len(), 2);
    assert_eq!(asked(&desk, "A").last(), Some(&Asked::Finish));
}
