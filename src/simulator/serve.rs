//! One client connection to the simulator: the protocol's commands answered as the real
//! server answers them (result shapes, error codes, schema checks), livestreams started and
//! stopped per camera with stations taking turns, the writer that encodes media events, and
//! the faults injected for the client's tests.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::stream::spawn_stream;
use super::{lock, CameraKind, Fault, FaultKind, Run, Shared, Watcher};
use crate::eufy::buffer::encode_byte_array;
use crate::eufy::protocol::{codes, events, ASYNC_RESULT_SCHEMA, MIN_LIVESTREAM_SCHEMA};

/// What a connection's writer sends.
pub(super) enum Out {
    Text(String),
    Video {
        serial: Arc<str>,
        bytes: Arc<[u8]>,
        metadata: Arc<str>,
        /// `bytes` already encoded as a JSON array, when the simulator keeps it.
        array: Option<Arc<str>>,
    },
    Audio {
        serial: Arc<str>,
        bytes: Arc<[u8]>,
    },
    /// A streaming task reached the end of a non-looping clip.
    Ended {
        serial: String,
        run: u64,
    },
}

pub(super) fn event(body: Value) -> String {
    json!({ "type": "event", "event": body }).to_string()
}

pub(super) fn device_event(name: &str, serial: &str) -> String {
    event(json!({ "source": "device", "event": name, "serialNumber": serial }))
}

pub(super) fn result_ok(id: &Value, result: Value) -> String {
    json!({ "type": "result", "messageId": id, "success": true, "result": result }).to_string()
}

pub(super) fn result_err(id: &Value, code: &str) -> String {
    json!({ "type": "result", "messageId": id, "success": false, "errorCode": code }).to_string()
}

fn video_json(serial: &str, bytes: &[u8], metadata: &str) -> String {
    media_json(events::VIDEO_DATA, serial, Array::Bytes(bytes), metadata)
}

/// A media event's payload: bytes, or bytes already encoded as a JSON array.
enum Array<'a> {
    Bytes(&'a [u8]),
    Encoded(&'a str),
}

fn media_json(event: &str, serial: &str, data: Array<'_>, metadata: &str) -> String {
    let len = match data {
        Array::Bytes(b) => b.len() * 4,
        Array::Encoded(t) => t.len(),
    };
    let mut s = String::with_capacity(len + 256);
    s.push_str(r#"{"type":"event","event":{"source":"device","event":"#);
    s.push_str(&Value::from(event).to_string());
    s.push_str(r#","serialNumber":"#);
    s.push_str(&Value::from(serial).to_string());
    s.push_str(r#","buffer":{"type":"Buffer","data":"#);
    match data {
        Array::Bytes(b) => encode_byte_array(b, &mut s),
        Array::Encoded(t) => s.push_str(t),
    }
    s.push_str(r#"},"metadata":"#);
    s.push_str(metadata);
    s.push_str("}}");
    s
}

/// Per-connection state.
pub(super) struct Conn {
    pub(super) id: u64,
    pub(super) schema: u32,
    listening: bool,
    pub(super) out_tx: mpsc::Sender<Out>,
    /// Cameras this connection streams (by its own start).
    streaming: HashSet<String>,
}

impl Conn {
    /// A connection that speaks `schema`, its messages to `out_tx` (the rules' unit tests).
    #[cfg(test)]
    pub(super) fn for_test(id: u64, schema: u32, out_tx: mpsc::Sender<Out>) -> Conn {
        Conn {
            id,
            schema,
            listening: true,
            out_tx,
            streaming: HashSet::new(),
        }
    }
}

pub(super) async fn serve(
    st: Arc<Shared>,
    tcp: TcpStream,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut ws = tokio_tungstenite::accept_async(tcp).await?;
    lock(&st.stats).connections += 1;
    let (out_tx, mut out_rx) = mpsc::channel::<Out>(64);
    let mut conn = Conn {
        id: st.next_id(),
        schema: 0,
        listening: false,
        out_tx,
        streaming: HashSet::new(),
    };
    let version = json!({
        "type": "version",
        "driverVersion": "3.8.0",
        "serverVersion": st.config.server_version,
        "minSchemaVersion": st.config.min_schema,
        "maxSchemaVersion": st.config.max_schema,
    });
    ws.send(Message::text(version.to_string())).await?;

    let mut faults: Vec<Fault> = st.config.faults.clone();
    let mut frames_sent: u64 = 0;
    let mut corrupt_next = false;
    let mut server_events = st.broadcast.subscribe();
    let result = loop {
        tokio::select! {
            msg = ws.next() => {
                let text = match msg {
                    None => break Ok(()),
                    Some(Err(e)) => break Err(e.into()),
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(frame))) => {
                        lock(&st.stats).close_codes.push(frame.map(|f| u16::from(f.code)));
                        break Ok(());
                    }
                    Some(Ok(_)) => continue,
                };
                let Ok(cmd) = serde_json::from_str::<Value>(text.as_str()) else {
                    // The real server closes on invalid JSON, with no close code (1005).
                    let _ = ws.close(None).await;
                    break Ok(());
                };
                let name = cmd.get("command").and_then(Value::as_str).unwrap_or_default();
                *lock(&st.stats).commands.entry(name.to_owned()).or_default() += 1;
                for reply in handle_command(&st, &mut conn, &cmd) {
                    ws.send(Message::text(reply)).await?;
                }
            }
            Ok(text) = server_events.recv() => {
                if conn.listening {
                    ws.send(Message::text(text)).await?;
                }
            }
            Some(out) = out_rx.recv() => {
                let Some(text) = out_text(&st, &mut conn, out, &mut frames_sent, &mut corrupt_next) else {
                    continue;
                };
                ws.send(Message::text(text)).await?;
                // Faults due after this frame.
                let due: Vec<Fault> = faults.iter().filter(|f| f.after_frames <= frames_sent).cloned().collect();
                faults.retain(|f| f.after_frames > frames_sent);
                for fault in due {
                    tracing::info!(conn = conn.id, frames_sent, ?fault.kind, "simulator injects fault");
                    if fault.kind == FaultKind::Corrupt {
                        corrupt_next = true;
                    } else if !inject(&st, &mut conn, &mut ws, fault.kind, frames_sent).await? {
                        return Ok(());
                    }
                }
            }
        }
    };
    stop_all(&st, &mut conn);
    result
}

/// The text a connection's writer sends for `out`; counts video events and corrupts the one
/// a fault asked for. `None` for media of a stream this connection no longer watches (queued
/// before it was stopped).
fn out_text(
    st: &Shared,
    conn: &mut Conn,
    out: Out,
    frames_sent: &mut u64,
    corrupt_next: &mut bool,
) -> Option<String> {
    if let Out::Video { serial, .. } | Out::Audio { serial, .. } = &out {
        if !conn.streaming.contains(&**serial) {
            return None;
        }
    }
    Some(match out {
        Out::Text(t) => t,
        Out::Ended { serial, run } => {
            let mut cams = lock(&st.cameras);
            if cams.get(&serial).is_some_and(|r| r.id == run) {
                cams.remove(&serial);
            }
            drop(cams);
            conn.streaming.remove(&serial);
            device_event(events::STOPPED, &serial)
        }
        Out::Audio { serial, bytes } => media_json(
            events::AUDIO_DATA,
            &serial,
            Array::Bytes(&bytes),
            &st.audio_metadata,
        ),
        Out::Video {
            serial,
            bytes,
            metadata,
            array,
        } => {
            *frames_sent += 1;
            let text = if *corrupt_next {
                *corrupt_next = false;
                video_json(&serial, &corrupt(&bytes), &metadata)
            } else if let Some(array) = &array {
                media_json(
                    events::VIDEO_DATA,
                    &serial,
                    Array::Encoded(array),
                    &metadata,
                )
            } else {
                video_json(&serial, &bytes, &metadata)
            };
            if let Some(log) = &st.config.send_log {
                lock(log)
                    .entry(serial.to_string())
                    .or_default()
                    .push(std::time::Instant::now());
            }
            text
        }
    })
}

type ServerWs = tokio_tungstenite::WebSocketStream<TcpStream>;

/// Injects a fault into a connection; false when the connection is to end (closed or
/// dropped).
async fn inject(
    st: &Shared,
    conn: &mut Conn,
    ws: &mut ServerWs,
    kind: FaultKind,
    frames_sent: u64,
) -> Result<bool, tokio_tungstenite::tungstenite::Error> {
    let first_stream = || conn.streaming.iter().next().cloned().unwrap_or_default();
    match kind {
        FaultKind::Close => {
            stop_all(st, conn);
            return Ok(false); // the caller drops the TCP stream: no close frame
        }
        FaultKind::Stall(d) => tokio::time::sleep(d).await,
        FaultKind::Garbage => {
            let serial = first_stream();
            let mut rng = SmallRng::seed_from_u64(frames_sent);
            let junk: Vec<u8> = (0..4096).map(|_| rng.random_range(2..=255u8)).collect();
            ws.send(Message::text(video_json(&serial, &junk, "{}")))
                .await?;
        }
        FaultKind::Corrupt => {}
        FaultKind::BadJson => {
            ws.send(Message::text("{\"type\":\"event\",\"event\":{\"source\":"))
                .await?
        }
        FaultKind::BadBytes => {
            let serial = first_stream();
            let text = event(
                json!({"source":"device","event":events::VIDEO_DATA,"serialNumber":serial,
                "buffer":{"type":"Buffer","data":[0,0,1,256,1.5]},"metadata":{}}),
            );
            ws.send(Message::text(text)).await?;
        }
        FaultKind::Stop => {
            let serials: Vec<String> = conn.streaming.iter().cloned().collect();
            stop_all(st, conn);
            for s in serials {
                ws.send(Message::text(device_event(events::STOPPED, &s)))
                    .await?;
            }
        }
        FaultKind::Restart => {
            stop_all(st, conn);
            ws.send(Message::text(event(
                json!({"source":"server","event":events::SHUTDOWN}),
            )))
            .await?;
            let _ = ws.close(None).await;
            return Ok(false);
        }
    }
    Ok(true)
}

/// Flips bytes in the second half of the last NAL unit, where slice data is.
fn corrupt(bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let last_start = memchr::memmem::rfind(&b, &[0, 0, 1]).map_or(0, |i| i + 4);
    let from = last_start + (b.len().saturating_sub(last_start)) / 2;
    for (i, x) in b.iter_mut().enumerate().skip(from).take(64) {
        // Keep zero bytes as they are so no start code appears.
        if *x != 0 && i % 2 == 0 {
            *x = x.wrapping_mul(31).max(1) ^ 0x5a;
            if *x == 0 {
                *x = 0xa5;
            }
        }
    }
    b
}

/// Takes this connection off every camera it watches; a camera nobody watches stops.
fn stop_all(st: &Shared, conn: &mut Conn) {
    super::talk::closed(st, conn.id);
    let mut cams = lock(&st.cameras);
    for run in cams.values_mut() {
        if let Some(w) = run.watchers.remove(&conn.id) {
            w.task.abort();
        }
    }
    cams.retain(|_, run| !run.watchers.is_empty());
    conn.streaming.clear();
}

pub(super) fn handle_command(st: &Arc<Shared>, conn: &mut Conn, cmd: &Value) -> Vec<String> {
    let id = cmd.get("messageId").cloned().unwrap_or(Value::Null);
    let name = cmd
        .get("command")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if st.config.ignore_commands.iter().any(|c| c == name) {
        tracing::info!(
            command = name,
            "simulator ignores command (fault injection)"
        );
        return Vec::new();
    }
    let serial = cmd
        .get("serialNumber")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match name {
        "set_api_schema" => {
            let v = cmd
                .get("schemaVersion")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            // The real server applies the schema even when it rejects it.
            conn.schema = u32::try_from(v).unwrap_or(u32::MAX);
            if conn.schema < st.config.min_schema || conn.schema > st.config.max_schema {
                vec![result_err(&id, codes::SCHEMA_INCOMPATIBLE)]
            } else {
                vec![result_ok(&id, json!({}))]
            }
        }
        "start_listening" => {
            conn.listening = true;
            let logged_in = st.logged_in();
            let serials: Vec<&str> = st
                .config
                .cameras
                .iter()
                .map(|c| c.serial.as_str())
                .filter(|_| logged_in)
                .collect();
            let mut stations: Vec<String> = serials.iter().map(|s| st.station(s)).collect();
            stations.dedup();
            vec![result_ok(
                &id,
                json!({ "state": {
                    "driver": { "version": "3.8.0", "connected": logged_in, "pushConnected": logged_in, "mqttConnected": false },
                    "stations": stations,
                    "devices": serials,
                }}),
            )]
        }
        // While logging in the server knows no device.
        name if name.starts_with("device.") && !st.logged_in() => {
            vec![result_err(&id, codes::DEVICE_NOT_FOUND)]
        }
        "device.get_properties" if st.camera(serial).is_none() => {
            vec![result_err(&id, codes::DEVICE_NOT_FOUND)]
        }
        "device.get_properties" => vec![result_ok(
            &id,
            json!({ "serialNumber": serial, "properties": st.properties(serial, conn.schema) }),
        )],
        "device.start_livestream" | "device.stop_livestream" | "device.is_livestreaming"
            if conn.schema < MIN_LIVESTREAM_SCHEMA =>
        {
            vec![result_err(&id, codes::UNKNOWN_COMMAND)]
        }
        "device.start_livestream" | "device.stop_livestream" | "device.is_livestreaming"
            if st.camera(serial).is_none() =>
        {
            vec![result_err(&id, codes::DEVICE_NOT_FOUND)]
        }
        "device.get_commands" | "device.pan_and_tilt" | "device.preset_position" => {
            ptz_command(st, conn, &id, name, serial, cmd)
        }
        "device.get_voices" | "device.quick_response" => quick_reply(st, &id, name, serial, cmd),
        "device.start_talkback" | "device.stop_talkback" | "device.talkback_audio_data" => {
            super::talk::command(st, conn, &id, name, serial, cmd)
        }
        "device.start_livestream" => start_livestream(st, conn, &id, serial),
        "device.stop_livestream" => stop_livestream(st, conn, &id, serial),
        "device.is_livestreaming" => {
            let running = lock(&st.cameras).contains_key(serial);
            vec![result_ok(
                &id,
                json!({ "serialNumber": serial, "livestreaming": running }),
            )]
        }
        _ => vec![result_err(&id, codes::UNKNOWN_COMMAND)],
    }
}

/// `device.get_commands` and the pan/tilt commands, with the real server's schema rules;
/// what a PTZ camera was sent is kept in the stats.
fn ptz_command(
    st: &Shared,
    conn: &Conn,
    id: &Value,
    name: &str,
    serial: &str,
    cmd: &Value,
) -> Vec<String> {
    let need = match name {
        "device.preset_position" => 21,
        _ => 3,
    };
    if conn.schema < need {
        return vec![result_err(id, codes::UNKNOWN_COMMAND)];
    }
    if st.camera(serial).is_none() {
        return vec![result_err(id, codes::DEVICE_NOT_FOUND)];
    }
    let kind = st.kind(serial);
    if name == "device.get_commands" {
        return vec![result_ok(
            id,
            json!({ "serialNumber": serial, "commands": kind.commands() }),
        )];
    }
    if kind != CameraKind::Ptz {
        return vec![result_err(id, codes::NOT_SUPPORTED)];
    }
    let arg = match name {
        "device.pan_and_tilt" => cmd.get("direction"),
        _ => cmd.get("position"),
    };
    let sent = format!(
        "{name} {}",
        arg.map_or_else(|| "-".to_owned(), Value::to_string)
    );
    lock(&st.stats).ptz.push((serial.to_owned(), sent));
    vec![result_ok(id, json!({}))]
}

/// A doorbell's voices and its quick replies (kept in the stats); other cameras refuse.
fn quick_reply(st: &Shared, id: &Value, name: &str, serial: &str, cmd: &Value) -> Vec<String> {
    if st.camera(serial).is_none() {
        return vec![result_err(id, codes::DEVICE_NOT_FOUND)];
    }
    if st.kind(serial) != CameraKind::Doorbell {
        return vec![result_err(id, codes::NOT_SUPPORTED)];
    }
    if name == "device.get_voices" {
        let voices: serde_json::Map<String, Value> = super::VOICES
            .iter()
            .map(|(v, desc)| (v.to_string(), json!({ "voice_id": v, "desc": desc })))
            .collect();
        return vec![result_ok(
            id,
            json!({ "serialNumber": serial, "voices": voices }),
        )];
    }
    match cmd.get("voiceId").and_then(Value::as_u64) {
        Some(v) if super::VOICES.iter().any(|(id, _)| *id == v) => {
            lock(&st.stats).replies.push((serial.to_owned(), v));
            vec![result_ok(id, json!({}))]
        }
        _ => vec![result_err(id, codes::UNKNOWN_ERROR)],
    }
}

fn start_livestream(st: &Arc<Shared>, conn: &mut Conn, id: &Value, serial: &str) -> Vec<String> {
    let Some(camera) = st.camera(serial).cloned() else {
        return vec![result_err(id, codes::DEVICE_NOT_FOUND)];
    };
    let ok = if conn.schema >= ASYNC_RESULT_SCHEMA {
        json!({ "async": true })
    } else {
        json!({})
    };
    let mut cams = lock(&st.cameras);
    if let Some(run) = cams.get_mut(serial).filter(|r| !r.silent) {
        if run.watchers.contains_key(&conn.id) {
            return vec![result_err(id, codes::ALREADY_RUNNING)];
        }
        // Joining a stream another client runs: `livestream started` first, then success,
        // then whatever frame comes next.
        let now = Instant::now();
        let started = now >= run.started_at;
        let task = spawn_stream(st, conn, &camera, run.id, run.t0, run.started_at, !started);
        run.watchers.insert(
            conn.id,
            Watcher {
                out: conn.out_tx.clone(),
                task,
            },
        );
        conn.streaming.insert(serial.to_owned());
        let mut replies = Vec::new();
        if started {
            replies.push(device_event(events::STARTED, serial));
        }
        replies.push(result_ok(id, ok));
        return replies;
    }
    let t0 = Instant::now();
    let started_at = if st.config.realistic {
        t0 + st.config.start_delay
    } else {
        t0
    };
    claim_station(st, &mut cams, serial, t0);
    let run_id = st.next_id();
    // An offline camera (or station) accepts the start and then sends nothing at all.
    let offline = st.config.offline.iter().any(|s| s == serial);
    let task = if offline {
        tokio::spawn(async {})
    } else {
        spawn_stream(st, conn, &camera, run_id, t0, started_at, true)
    };
    let mut watchers = HashMap::new();
    watchers.insert(
        conn.id,
        Watcher {
            out: conn.out_tx.clone(),
            task,
        },
    );
    cams.insert(
        serial.to_owned(),
        Run {
            id: run_id,
            t0,
            started_at,
            silent: offline,
            watchers,
        },
    );
    conn.streaming.insert(serial.to_owned());
    let running = cams.values().filter(|r| !r.silent).count() as u64;
    drop(cams);
    {
        let mut stats = lock(&st.stats);
        *stats.starts.entry(serial.to_owned()).or_default() += 1;
        stats.peak_streams = stats.peak_streams.max(running);
    }
    vec![result_ok(id, ok)]
}

/// One stream per station: a start of `serial` at `t0` takes its station. The newer start
/// wins: a camera of the station still waiting for its own `livestream started` goes silent
/// for good (no event, no video, no error, as real stations do), one already streaming ends
/// with `livestream stopped`. A silenced run of `serial` itself is replaced.
fn claim_station(st: &Shared, cams: &mut HashMap<String, Run>, serial: &str, t0: Instant) {
    let station = st.station(serial);
    let mut silenced = 0;
    for (other, run) in cams.iter_mut() {
        if other == serial || run.silent || st.station(other) != station {
            continue;
        }
        if t0 < run.started_at {
            run.silent = true;
            silenced += 1;
            for w in run.watchers.values() {
                w.task.abort();
            }
        } else {
            for w in run.watchers.values() {
                w.task.abort();
                let _ = w.out.try_send(Out::Ended {
                    serial: other.clone(),
                    run: run.id,
                });
            }
            run.watchers.clear();
        }
    }
    cams.retain(|_, r| r.silent || !r.watchers.is_empty());
    if let Some(old) = cams.remove(serial) {
        // A silenced run of this very camera: a new start replaces it.
        for w in old.watchers.values() {
            w.task.abort();
        }
    }
    let running = cams
        .iter()
        .filter(|(other, _)| st.station(other) == station)
        .count() as u64
        + 1;
    {
        let mut stats = lock(&st.stats);
        stats.silenced += silenced;
        stats.peak_station_streams = stats.peak_station_streams.max(running);
    }
}

fn stop_livestream(st: &Arc<Shared>, conn: &mut Conn, id: &Value, serial: &str) -> Vec<String> {
    let mut cams = lock(&st.cameras);
    let Some(run) = cams.remove(serial) else {
        return vec![result_err(id, codes::NOT_RUNNING)];
    };
    let started = Instant::now() >= run.started_at && !run.silent;
    let several = run.watchers.len() > 1;
    let mut mine = false;
    for (cid, w) in run.watchers {
        w.task.abort();
        if cid == conn.id {
            mine = true;
        } else if started {
            let _ = w
                .out
                .try_send(Out::Text(device_event(events::STOPPED, serial)));
        }
    }
    conn.streaming.remove(serial);
    let ok = result_ok(id, json!({}));
    // A stop before `livestream started` succeeds, but no `livestream stopped` follows.
    if !started || !mine {
        return vec![ok];
    }
    let stopped = device_event(events::STOPPED, serial);
    if several {
        vec![stopped, ok]
    } else {
        vec![ok, stopped]
    }
}
