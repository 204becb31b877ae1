//! Talk back as eufy-security-ws and the driver do it (../shared/PROTOCOL.md, measured):
//! schema 13+; `device.start_talkback` needs the camera's livestream running on the server
//! and answers at once, `talkback started` follows after [`super::SimConfig::talk_delay`] (a
//! busy camera sends `talkback stopped` instead); audio before that, or after the
//! livestream was cut (which ends the talk back silently), is refused
//! (`device_talkback_not_running`); one talk back for the whole server (another client:
//! `device_only_one_talkback_at_a_time`, the same: `device_talkback_already_running`);
//! audio goes to the camera that talks, whatever serial it names. What arrives is kept in
//! [`super::SimStats::talk`] with its arrival time.

use serde_json::Value;
use tokio::time::Instant;

use super::serve::{device_event, result_err, result_ok, Conn, Out};
use super::{lock, CameraKind, Shared, TalkReceived, MAX_TALK_KEPT};
use crate::eufy::protocol::{codes, events};
use crate::eufy::talk::TALK_SCHEMA;

/// The server's one talk back.
pub(super) struct TalkRun {
    conn: u64,
    serial: String,
    /// The livestream run it rides on: when that ends, so does the talk back.
    run: u64,
    /// When the camera answers.
    answered_at: Instant,
}

/// The talk back still running: its livestream run is the camera's current one.
fn alive(st: &Shared) -> Option<(u64, String, Instant)> {
    let mut talk = lock(&st.talk);
    let t = talk.as_ref()?;
    let cams = lock(&st.cameras);
    let live = cams
        .get(&t.serial)
        .is_some_and(|r| r.id == t.run && !r.silent);
    if !live {
        tracing::info!(camera = %t.serial, "simulator: the livestream ended, and with it the talk back (silently)");
        *talk = None;
        return None;
    }
    Some((t.conn, t.serial.clone(), t.answered_at))
}

/// A connection closed: its talk back ends.
pub(super) fn closed(st: &Shared, conn: u64) {
    let mut talk = lock(&st.talk);
    if talk.as_ref().is_some_and(|t| t.conn == conn) {
        *talk = None;
    }
}

pub(super) fn command(
    st: &Shared,
    conn: &Conn,
    id: &Value,
    name: &str,
    serial: &str,
    cmd: &Value,
) -> Vec<String> {
    if conn.schema < TALK_SCHEMA {
        return vec![result_err(id, codes::UNKNOWN_COMMAND)];
    }
    if st.camera(serial).is_none() {
        return vec![result_err(id, codes::DEVICE_NOT_FOUND)];
    }
    let now = Instant::now();
    match name {
        "device.start_talkback" => {
            if st.kind(serial) != CameraKind::Doorbell {
                return vec![result_err(id, codes::NOT_SUPPORTED)];
            }
            if let Some((owner, ..)) = alive(st) {
                let code = if owner == conn.id {
                    codes::TALKBACK_ALREADY_RUNNING
                } else {
                    codes::ONLY_ONE_TALKBACK
                };
                return vec![result_err(id, code)];
            }
            let run = lock(&st.cameras)
                .get(serial)
                .filter(|r| !r.silent && now >= r.started_at)
                .map(|r| r.id);
            let Some(run) = run else {
                return vec![result_err(id, codes::NOT_RUNNING)];
            };
            *lock(&st.stats)
                .talk_starts
                .entry(serial.to_owned())
                .or_default() += 1;
            let busy = st.config.talk_busy.iter().any(|s| s == serial);
            let answer = if busy {
                events::TALKBACK_STOPPED
            } else {
                *lock(&st.talk) = Some(TalkRun {
                    conn: conn.id,
                    serial: serial.to_owned(),
                    run,
                    answered_at: now + st.config.talk_delay,
                });
                events::TALKBACK_STARTED
            };
            let out = conn.out_tx.clone();
            let event = device_event(answer, serial);
            let delay = st.config.talk_delay;
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = out.send(Out::Text(event)).await;
            });
            vec![result_ok(id, serde_json::json!({}))]
        }
        "device.stop_talkback" => match alive(st) {
            Some((owner, talking, _)) if owner == conn.id => {
                *lock(&st.talk) = None;
                vec![
                    result_ok(id, serde_json::json!({})),
                    device_event(events::TALKBACK_STOPPED, &talking),
                ]
            }
            _ => vec![result_err(id, codes::TALKBACK_NOT_RUNNING)],
        },
        _ => {
            let bytes: Option<Vec<u8>> = cmd
                .get("buffer")
                .map(|b| b.get("data").unwrap_or(b))
                .and_then(|b| serde_json::from_value(b.clone()).ok());
            let Some(data) = bytes else {
                return vec![result_err(id, codes::UNKNOWN_ERROR)];
            };
            match alive(st) {
                Some((_, talking, answered_at)) if now >= answered_at => {
                    let mut stats = lock(&st.stats);
                    stats.talk_frames += 1;
                    if stats.talk.len() < MAX_TALK_KEPT {
                        stats.talk.push(TalkReceived {
                            serial: talking,
                            at: now.into_std(),
                            data,
                        });
                    }
                    vec![result_ok(id, serde_json::json!({}))]
                }
                _ => {
                    lock(&st.stats).talk_refused += 1;
                    vec![result_err(id, codes::TALKBACK_NOT_RUNNING)]
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The talk-back rules on the server's state alone, on tokio's paused clock: the camera's
    //! answer comes `talk_delay` later in virtual time, no socket, no waiting.
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::{json, Value};
    use tokio::sync::mpsc;
    use tokio::time::Instant;

    use super::super::serve::Out;
    use super::super::tests::{self as simulator_tests, conn_at as conn};
    use super::super::{CameraKind, Run, Shared};
    use super::*;

    const BELL: &str = "T8210P0000000001";
    const PLAIN: &str = "T8410P0000000002";
    const DELAY: Duration = Duration::from_millis(300);

    fn server(busy: bool) -> Arc<Shared> {
        simulator_tests::server(|c| {
            c.cameras = simulator_tests::cameras(&[BELL, PLAIN]);
            c.kinds = HashMap::from([(BELL.to_owned(), CameraKind::Doorbell)]);
            c.talk_delay = DELAY;
            if busy {
                c.talk_busy = vec![BELL.to_owned()];
            }
        })
    }

    /// The camera's livestream runs on the server (run `id`).
    fn streaming(st: &Shared, serial: &str, id: u64) {
        let now = Instant::now();
        lock(&st.cameras).insert(
            serial.to_owned(),
            Run {
                id,
                t0: now,
                started_at: now,
                silent: false,
                watchers: HashMap::new(),
            },
        );
    }

    fn ask(st: &Shared, c: &Conn, name: &str, serial: &str) -> Vec<Value> {
        let cmd =
            json!({ "command": name, "serialNumber": serial, "buffer": { "data": [255, 241] } });
        command(st, c, &json!(1), name, serial, &cmd)
            .iter()
            .map(|m| serde_json::from_str(m).unwrap())
            .collect()
    }

    fn error_of(answer: &[Value]) -> Option<&str> {
        answer[0].get("errorCode").and_then(Value::as_str)
    }

    /// The next event sent on its own (the camera's answer), with when it came.
    async fn event(rx: &mut mpsc::Receiver<Out>) -> (String, Instant) {
        simulator_tests::next(rx, Duration::from_secs(60))
            .await
            .expect("no event")
    }

    #[tokio::test(start_paused = true)]
    async fn a_doorbell_talks_after_its_answer_and_only_while_its_livestream_runs() {
        let st = server(false);
        let (c, mut rx) = conn(1, TALK_SCHEMA);
        let audio = "device.talkback_audio_data";
        // Without its livestream: refused, nothing counted as a start.
        assert_eq!(
            error_of(&ask(&st, &c, "device.start_talkback", BELL)),
            Some(codes::NOT_RUNNING)
        );
        streaming(&st, BELL, 7);
        let asked = Instant::now();
        let answer = ask(&st, &c, "device.start_talkback", BELL);
        assert_eq!(answer[0]["success"], true, "{answer:?}");
        // Audio before the camera answered is refused; the answer comes `talk_delay` later.
        assert_eq!(
            error_of(&ask(&st, &c, audio, BELL)),
            Some(codes::TALKBACK_NOT_RUNNING)
        );
        let (name, at) = event(&mut rx).await;
        assert_eq!(name, events::TALKBACK_STARTED);
        assert_eq!(at - asked, DELAY);
        assert_eq!(ask(&st, &c, audio, BELL)[0]["success"], true);
        // Audio naming another camera goes to the one that talks.
        assert_eq!(ask(&st, &c, audio, PLAIN)[0]["success"], true);
        {
            let stats = lock(&st.stats);
            assert_eq!(stats.talk_frames, 2);
            assert_eq!(stats.talk_refused, 1);
            assert!(stats
                .talk
                .iter()
                .all(|t| t.serial == BELL && t.data == [255, 241]));
            assert_eq!(stats.talk_starts.get(BELL), Some(&1));
        }
        // The same client again; another client: the server's one talk back is taken.
        assert_eq!(
            error_of(&ask(&st, &c, "device.start_talkback", BELL)),
            Some(codes::TALKBACK_ALREADY_RUNNING)
        );
        let (other, _) = conn(2, TALK_SCHEMA);
        assert_eq!(
            error_of(&ask(&st, &other, "device.start_talkback", BELL)),
            Some(codes::ONLY_ONE_TALKBACK)
        );
        assert_eq!(
            error_of(&ask(&st, &other, "device.stop_talkback", BELL)),
            Some(codes::TALKBACK_NOT_RUNNING),
            "only its owner stops it"
        );
        // The livestream is cut (a new run): the talk back ended with it, silently.
        streaming(&st, BELL, 8);
        assert_eq!(
            error_of(&ask(&st, &c, audio, BELL)),
            Some(codes::TALKBACK_NOT_RUNNING)
        );
        assert!(lock(&st.talk).is_none());
        // Started again on the new run, then stopped by its owner: ok and `talkback stopped`.
        ask(&st, &c, "device.start_talkback", BELL);
        event(&mut rx).await;
        let stopped = ask(&st, &c, "device.stop_talkback", BELL);
        assert_eq!(stopped[0]["success"], true);
        assert_eq!(stopped[1]["event"]["event"], events::TALKBACK_STOPPED);
        assert_eq!(ask(&st, &c, audio, BELL)[0]["success"], false);
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_old_schema_plain_camera_unknown_camera_busy_doorbell_a_closed_owner() {
        let st = server(false);
        streaming(&st, BELL, 1);
        streaming(&st, PLAIN, 2);
        let (old, _) = conn(1, TALK_SCHEMA - 1);
        assert_eq!(
            error_of(&ask(&st, &old, "device.start_talkback", BELL)),
            Some(codes::UNKNOWN_COMMAND)
        );
        let (c, mut rx) = conn(2, TALK_SCHEMA);
        assert_eq!(
            error_of(&ask(&st, &c, "device.start_talkback", PLAIN)),
            Some(codes::NOT_SUPPORTED)
        );
        assert_eq!(
            error_of(&ask(&st, &c, "device.start_talkback", "T0000000000000000")),
            Some(codes::DEVICE_NOT_FOUND)
        );
        // Its owner's connection closes: the talk back is free for another.
        ask(&st, &c, "device.start_talkback", BELL);
        event(&mut rx).await;
        closed(&st, c.id);
        let (next, _) = conn(3, TALK_SCHEMA);
        assert_eq!(
            ask(&st, &next, "device.start_talkback", BELL)[0]["success"],
            true
        );

        // A busy doorbell answers `talkback stopped`, and holds no talk back.
        let st = server(true);
        streaming(&st, BELL, 1);
        let (c, mut rx) = conn(1, TALK_SCHEMA);
        assert_eq!(
            ask(&st, &c, "device.start_talkback", BELL)[0]["success"],
            true
        );
        assert_eq!(event(&mut rx).await.0, events::TALKBACK_STOPPED);
        assert!(lock(&st.talk).is_none());
    }
}
