//! The simulator's streaming, station and login rules on the server's state alone, on tokio's
//! paused clock: commands go to [`serve::handle_command`], what a connection would be sent is
//! read from its channel with the virtual instant it came at. No socket, no waiting: a
//! 650 ms start delay or a 2 s cut-off is exact, not "about".

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::serve::{handle_command, Conn, Out};
use super::{lock, Camera, Shared, SimConfig};
use crate::clip::Clip;
use crate::eufy::protocol::{codes, events, ASYNC_RESULT_SCHEMA, MIN_LIVESTREAM_SCHEMA};

const A: &str = "T8410P0000000001";
const B: &str = "T8410P0000000002";

/// Cameras with these serials, each streaming the demo clip.
pub(super) fn cameras(serials: &[&str]) -> Vec<Camera> {
    let clip = Arc::new(Clip::demo());
    serials
        .iter()
        .map(|serial| Camera {
            serial: (*serial).to_owned(),
            clip: clip.clone(),
        })
        .collect()
}

/// The server's state, cameras A and B unless `config` says otherwise.
pub(super) fn server(config: impl FnOnce(&mut SimConfig)) -> Arc<Shared> {
    let mut c = SimConfig {
        cameras: cameras(&[A, B]),
        ..SimConfig::default()
    };
    config(&mut c);
    Arc::new(Shared::new(
        c,
        Instant::now(),
        tokio::sync::broadcast::channel(4).0,
    ))
}

/// A connection speaking `schema`, and what it is sent.
pub(super) fn conn_at(id: u64, schema: u32) -> (Conn, mpsc::Receiver<Out>) {
    let (tx, rx) = mpsc::channel(256);
    (Conn::for_test(id, schema, tx), rx)
}

fn conn(id: u64) -> (Conn, mpsc::Receiver<Out>) {
    conn_at(id, 21)
}

/// The replies to one command, parsed.
fn ask(st: &Arc<Shared>, c: &mut Conn, command: &str, serial: &str) -> Vec<Value> {
    let cmd = json!({ "messageId": 1, "command": command, "serialNumber": serial });
    handle_command(st, c, &cmd)
        .iter()
        .map(|m| serde_json::from_str(m).unwrap())
        .collect()
}

/// A reply or event in a word: `ok`, the error code, the event's name.
pub(super) fn word(v: &Value) -> String {
    if v["type"] == "result" {
        return match v["success"].as_bool() {
            Some(true) => "ok".into(),
            _ => v["errorCode"].as_str().unwrap_or("?").into(),
        };
    }
    v["event"]["event"].as_str().unwrap_or("?").into()
}

fn words(replies: &[Value]) -> Vec<String> {
    replies.iter().map(word).collect()
}

/// What a connection is sent next on its own, in a word (`video SERIAL`, `ended SERIAL`, an
/// event's name), and the virtual instant; `None` when nothing comes within `wait`.
pub(super) async fn next(
    rx: &mut mpsc::Receiver<Out>,
    wait: Duration,
) -> Option<(String, Instant)> {
    let out = tokio::time::timeout(wait, rx.recv()).await.ok()??;
    let what = match out {
        Out::Text(t) => word(&serde_json::from_str(&t).unwrap()),
        Out::Video { serial, .. } => format!("video {serial}"),
        Out::Audio { serial, .. } => format!("audio {serial}"),
        Out::Ended { serial, .. } => format!("ended {serial}"),
    };
    Some((what, Instant::now()))
}

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn a_start_is_answered_at_once_announced_after_the_delay_then_sends_its_backlog_and_paces() {
    let st = server(|_| {});
    let (mut c, mut rx) = conn(1);
    let t0 = Instant::now();
    assert_eq!(
        ask(&st, &mut c, "device.start_livestream", A)[0]["result"],
        json!({ "async": true })
    );
    let (what, at) = next(&mut rx, SECOND).await.unwrap();
    assert_eq!(what, events::STARTED);
    assert_eq!(at - t0, st.config.start_delay);
    // The frames captured meanwhile come at once, the newest held back (the real server
    // holds a frame until the next one arrives): 650 ms at 15 fps is frames 0..=8.
    let iv = Duration::from_secs_f64(1.0 / 15.0);
    let mut burst = 0;
    let mut after = Vec::new();
    while let Some((what, at)) = next(&mut rx, SECOND).await {
        assert_eq!(what, format!("video {A}"));
        if at - t0 == st.config.start_delay {
            burst += 1;
        } else {
            after.push(at - t0);
        }
        if after.len() == 5 {
            break;
        }
    }
    assert_eq!(burst, 9);
    for (k, t) in after.iter().enumerate() {
        let due = iv.mul_f64((k + 10) as f64);
        assert!(
            t.abs_diff(due) < Duration::from_millis(1),
            "frame {} at {t:?}, due {due:?}",
            k + 9
        );
    }
    assert_eq!(lock(&st.stats).starts.get(A), Some(&1));
}

#[tokio::test(start_paused = true)]
async fn a_station_streams_one_camera_at_a_time_the_newer_start_wins() {
    let st = server(|c| c.stations = vec![("S1".into(), vec![A.into(), B.into()])]);
    let (mut one, mut rx1) = conn(1);
    let (mut two, mut rx2) = conn(2);
    ask(&st, &mut one, "device.start_livestream", A);
    tokio::time::sleep(2 * SECOND).await;
    while rx1.try_recv().is_ok() {}
    // B's start, once A streams: A ends (`livestream stopped` on the socket).
    assert_eq!(
        words(&ask(&st, &mut two, "device.start_livestream", B)),
        ["ok"]
    );
    assert_eq!(
        next(&mut rx1, SECOND).await.unwrap().0,
        format!("ended {A}")
    );
    assert_eq!(next(&mut rx2, SECOND).await.unwrap().0, events::STARTED);
    assert!(!lock(&st.cameras).contains_key(A));
    let stats = lock(&st.stats).clone();
    assert_eq!((stats.silenced, stats.peak_station_streams), (0, 1));

    // Two starts at once (A's before its `livestream started`): the older goes silent for
    // good, no event, no video, no error, as real stations do.
    ask(&st, &mut one, "device.start_livestream", A);
    ask(&st, &mut one, "device.start_livestream", B);
    let mut seen = Vec::new();
    while let Some((what, _)) = next(&mut rx1, 3 * SECOND).await {
        if seen.len() == 4 {
            break;
        }
        seen.push(what);
    }
    assert!(
        seen.iter().all(|w| !w.contains(A)),
        "the silenced camera sent {seen:?}"
    );
    assert_eq!(lock(&st.stats).silenced, 1);
    // Cameras of different stations stream together.
    let st = server(|_| {});
    ask(&st, &mut one, "device.start_livestream", A);
    ask(&st, &mut one, "device.start_livestream", B);
    tokio::time::sleep(2 * SECOND).await;
    assert_eq!(lock(&st.stats).peak_streams, 2);
    assert_eq!(lock(&st.stats).silenced, 0);
}

#[tokio::test(start_paused = true)]
async fn a_second_client_joins_a_running_stream_and_stops_answer_as_the_real_server() {
    let st = server(|_| {});
    let (mut one, mut rx1) = conn(1);
    let (mut two, mut rx2) = conn(2);
    // A stop before `livestream started`: success, and no `livestream stopped` follows.
    ask(&st, &mut one, "device.start_livestream", A);
    assert_eq!(
        words(&ask(&st, &mut one, "device.stop_livestream", A)),
        ["ok"]
    );
    assert_eq!(next(&mut rx1, 2 * SECOND).await, None);
    assert_eq!(
        words(&ask(&st, &mut one, "device.stop_livestream", A)),
        [codes::NOT_RUNNING]
    );

    ask(&st, &mut one, "device.start_livestream", A);
    assert_eq!(
        words(&ask(&st, &mut one, "device.start_livestream", A)),
        [codes::ALREADY_RUNNING]
    );
    tokio::time::sleep(SECOND).await;
    // Joining: `livestream started` first, then success, then the next frame captured.
    assert_eq!(
        words(&ask(&st, &mut two, "device.start_livestream", A)),
        [events::STARTED, "ok"]
    );
    assert_eq!(
        next(&mut rx2, SECOND).await.unwrap().0,
        format!("video {A}")
    );
    assert_eq!(lock(&st.stats).starts.get(A), Some(&2), "one run joined");
    // Stopped by one of two: the other is told first, the stopper gets `stopped` first.
    while rx1.try_recv().is_ok() {}
    while rx2.try_recv().is_ok() {}
    assert_eq!(
        words(&ask(&st, &mut two, "device.stop_livestream", A)),
        [events::STOPPED, "ok"]
    );
    let mut told = Vec::new();
    while let Some((what, _)) = next(&mut rx1, SECOND).await {
        told.push(what);
    }
    assert_eq!(told.last().map(String::as_str), Some(events::STOPPED));
    // Stopped by its only watcher: success, then `livestream stopped`.
    ask(&st, &mut one, "device.start_livestream", A);
    tokio::time::sleep(SECOND).await;
    assert_eq!(
        words(&ask(&st, &mut one, "device.stop_livestream", A)),
        ["ok", events::STOPPED]
    );
}

#[tokio::test(start_paused = true)]
async fn a_camera_cuts_its_stream_after_the_cutoff_and_an_offline_one_sends_nothing() {
    let st = server(|c| {
        c.cutoff = Some(2 * SECOND);
        c.offline = vec![B.into()];
    });
    let (mut c, mut rx) = conn(1);
    let t0 = Instant::now();
    ask(&st, &mut c, "device.start_livestream", A);
    let mut videos = 0;
    let ended = loop {
        let (what, at) = next(&mut rx, 5 * SECOND).await.expect("the stream ends");
        if what == format!("ended {A}") {
            break at;
        }
        videos += usize::from(what.starts_with("video"));
    };
    assert_eq!(ended - t0, st.config.start_delay + 2 * SECOND);
    assert!(videos > 20, "{videos}");

    assert_eq!(
        words(&ask(&st, &mut c, "device.start_livestream", B)),
        ["ok"]
    );
    assert_eq!(next(&mut rx, 30 * SECOND).await, None);
    // It counts as running (the server does not know it is asleep).
    assert_eq!(
        ask(&st, &mut c, "device.is_livestreaming", B)[0]["result"]["livestreaming"],
        true
    );
}

#[tokio::test(start_paused = true)]
async fn while_logging_in_the_server_knows_no_device() {
    let st = server(|c| c.login_delay = Some(10 * SECOND));
    let (mut c, _rx) = conn(1);
    let listen = ask(&st, &mut c, "start_listening", "");
    assert_eq!(listen[0]["result"]["state"]["devices"], json!([]));
    assert_eq!(listen[0]["result"]["state"]["driver"]["connected"], false);
    assert_eq!(
        words(&ask(&st, &mut c, "device.start_livestream", A)),
        [codes::DEVICE_NOT_FOUND]
    );
    tokio::time::sleep(10 * SECOND).await;
    let listen = ask(&st, &mut c, "start_listening", "");
    assert_eq!(listen[0]["result"]["state"]["devices"], json!([A, B]));
    assert_eq!(
        words(&ask(&st, &mut c, "device.start_livestream", A)),
        ["ok"]
    );
    assert_eq!(
        words(&ask(&st, &mut c, "device.start_livestream", "T0000")),
        [codes::DEVICE_NOT_FOUND]
    );
}

#[tokio::test(start_paused = true)]
async fn schemas_outside_the_range_are_refused_but_applied_and_old_ones_cannot_stream() {
    let st = server(|c| c.min_schema = 13);
    let (mut c, _rx) = conn(1);
    let set = |c: &mut Conn, v: u32| {
        let cmd = json!({ "messageId": 1, "command": "set_api_schema", "schemaVersion": v });
        words(
            &handle_command(&st, c, &cmd)
                .iter()
                .map(|m| serde_json::from_str(m).unwrap())
                .collect::<Vec<Value>>(),
        )
    };
    assert_eq!(set(&mut c, 99), [codes::SCHEMA_INCOMPATIBLE]);
    assert_eq!(c.schema, 99, "the real server applies it anyway");
    assert_eq!(
        set(&mut c, MIN_LIVESTREAM_SCHEMA - 1),
        [codes::SCHEMA_INCOMPATIBLE]
    );
    assert_eq!(
        words(&ask(&st, &mut c, "device.start_livestream", A)),
        [codes::UNKNOWN_COMMAND]
    );
    assert_eq!(set(&mut c, 21), ["ok"]);
    assert_eq!(
        ask(&st, &mut c, "device.start_livestream", A)[0]["result"],
        json!({ "async": true })
    );
    // Below the schema of asynchronous results the answer is empty.
    let st = server(|_| {});
    let (mut old, _rx) = conn(2);
    let cmd = json!({
        "messageId": 1,
        "command": "set_api_schema",
        "schemaVersion": ASYNC_RESULT_SCHEMA - 1,
    });
    handle_command(&st, &mut old, &cmd);
    assert_eq!(
        ask(&st, &mut old, "device.start_livestream", A)[0]["result"],
        json!({})
    );
}
