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
