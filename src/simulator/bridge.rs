//! `eufy-hw simulate --backend bridge`: the simulator speaking the Eufy Mega bridge
//! (../shared/BRIDGE.md) on one port: the WebSocket on `/ws` (schema 1, `hello`, the auth
//! flow, `devices.list`, events), `GET /stream/<sn>` (raw Annex-B, chunked), `GET
//! /snapshot/<sn>` and `/healthz`. HTTP is written by hand here on purpose: a stand-in
//! server must be able to misbehave (headers that never come, a body cut off mid-chunk).
//!
//! What the real bridge does and this one copies: stream headers only once the camera is
//! open (`start_delay`); one shared pull per camera, a later client starting at the last
//! keyframe and then live frames; a failed open (an offline camera, an unknown serial)
//! answers 502 and then 503 `retry in N s` while backing off; 503 before login; a clean end
//! when the camera ends its stream (`cutoff`, the clip's end) and an aborted body on a P2P
//! error ([`HttpFault::Abort`]); detections as momentary events with `eventImageUpdated`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::{lock, Camera, CameraKind, Chunking, Pacing, Shared};
use crate::bridge::protocol::event_name;
use crate::eufy::protocol::{events, DetectionKind};

/// How the simulated bridge behaves beyond the shared [`super::SimConfig`].
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeSim {
    /// `hello`'s `schemaVersion`; `None` sends no `hello` at all.
    pub schema: Option<u64>,
    /// The login waits for this 2FA code (`require_2fa`, sent by email) before `ok`.
    pub code: Option<String>,
    /// The session expires this long after the start: `reauth`, streams cut, 503s, then
    /// `ok` again after `relogin`.
    pub expire_at: Option<Duration>,
    /// How long a re-login takes.
    pub relogin: Duration,
    /// How long a failed open backs off (the bridge: 30 s doubling).
    pub backoff: Duration,
    /// What every `/stream` body does wrong.
    pub http_fault: Option<HttpFault>,
    /// After `hello`, events the client must survive: unknown names, fields of the wrong
    /// type, not JSON.
    pub bad_events: bool,
    /// Cameras with a battery (listed with the capability; their streams end by themselves
    /// after `cutoff` as on the real bridge).
    pub battery: Vec<String>,
}

impl Default for BridgeSim {
    fn default() -> Self {
        BridgeSim {
            schema: Some(1),
            code: None,
            expire_at: None,
            relogin: Duration::from_secs(2),
            backoff: Duration::from_secs(30),
            http_fault: None,
            bad_events: false,
            battery: Vec::new(),
        }
    }
}

/// A `/stream` body that misbehaves.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpFault {
    /// Bytes that hold no start code, then a clean end.
    Garbage,
    /// The whole clip in one chunk, then a clean end.
    HugeChunk,
    /// The connection is accepted and nothing is ever answered.
    NoHeaders,
    /// `Content-Type: text/html` and a page instead of video.
    WrongType,
    /// `200 OK` with a JSON error body.
    JsonOk,
    /// The body is cut off (no final chunk) after this many units.
    Abort(u64),
}

impl std::str::FromStr for HttpFault {
    type Err = String;

    fn from_str(s: &str) -> Result<HttpFault, String> {
        Ok(match s {
            "garbage" => HttpFault::Garbage,
            "huge-chunk" => HttpFault::HugeChunk,
            "no-headers" => HttpFault::NoHeaders,
            "wrong-type" => HttpFault::WrongType,
            "json-ok" => HttpFault::JsonOk,
            _ => match s.strip_prefix("abort@").map(str::parse) {
                Some(Ok(n)) => HttpFault::Abort(n),
                _ => return Err(format!(
                    "HTTP fault {s:?}: use garbage, huge-chunk, no-headers, wrong-type, json-ok or abort@UNITS"
                )),
            },
        })
    }
}

/// The simulated bridge's own state.
pub(super) struct Bridge {
    sim: BridgeSim,
    auth: watch::Sender<Value>,
    /// Bridge-format events to every socket.
    events: broadcast::Sender<String>,
    pulls: Mutex<HashMap<String, Arc<Pull>>>,
    /// Until when a camera's opens back off after a failure.
    backoff: Mutex<HashMap<String, Instant>>,
}

/// One unit on its way to a pull's viewers: its bytes, and whether it is a keyframe.
type Sent = (Arc<[u8]>, bool);

/// A unit receiver.
type Units = broadcast::Receiver<Sent>;

/// A late joiner's start: its receiver, and the last keyframe to send first.
type Joined = (Units, Option<Arc<[u8]>>);

/// One camera's shared pull: live units, and the last keyframe for late joiners.
struct Pull {
    /// Taken (closed) when the camera's stream ends: its viewers' bodies end.
    units: Mutex<Option<broadcast::Sender<Sent>>>,
    /// The last keyframe, under the same lock as the sends (see [`Pull::join`]).
    key: Mutex<Option<Arc<[u8]>>>,
    open: watch::Sender<bool>,
    viewers: Mutex<usize>,
}

impl Pull {
    /// A new viewer's receiver, with the last keyframe sent before it (for a late joiner):
    /// taken under the key's lock, so the keyframe is neither missed nor sent twice.
    fn join(&self) -> Option<Joined> {
        let key = lock(&self.key);
        let rx = lock(&self.units).as_ref()?.subscribe();
        Some((rx, key.clone()))
    }

    /// Sends a unit to every viewer (keeping it as the last keyframe when it is one).
    fn send(&self, data: Arc<[u8]>, keyframe: bool) {
        let mut key = lock(&self.key);
        if keyframe {
            *key = Some(data.clone());
        }
        if let Some(tx) = lock(&self.units).as_ref() {
            let _ = tx.send((data, keyframe));
        }
    }

    /// Ends the stream: every viewer's body ends.
    fn close(&self) {
        lock(&self.units).take();
    }
}

impl Bridge {
    pub(super) fn new(sim: BridgeSim) -> Arc<Bridge> {
        let first = match &sim.code {
            Some(_) => json!({"state": "require_2fa", "method": "email"}),
            None => json!({"state": "ok"}),
        };
        Arc::new(Bridge {
            sim,
            auth: watch::channel(first).0,
            events: broadcast::channel(256).0,
            pulls: Mutex::new(HashMap::new()),
            backoff: Mutex::new(HashMap::new()),
        })
    }

    fn logged_in(&self) -> bool {
        self.auth.borrow().get("state").and_then(Value::as_str) == Some("ok")
    }

    fn set_auth(&self, state: Value) {
        self.auth.send_replace(state.clone());
        let mut flat = json!({"event": "auth"});
        if let (Some(m), Value::Object(s)) = (flat.as_object_mut(), state) {
            m.extend(s);
        }
        let _ = self.events.send(flat.to_string());
    }

    /// The cameras streaming now, sorted.
    pub(super) fn streaming(&self) -> Vec<String> {
        let mut v: Vec<String> = lock(&self.pulls).keys().cloned().collect();
        v.sort();
        v
    }
}

/// The bridge's own timeline: session expiry and re-login; detections translated from the
/// simulator's eufy-security-ws events.
pub(super) async fn background(st: Arc<Shared>, br: Arc<Bridge>) {
    let mut ws_events = st.broadcast.subscribe();
    let began = Instant::now();
    let mut expire = br.sim.expire_at.map(|at| began + at);
    loop {
        let expiry = async {
            match expire {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = expiry => {
                expire = None;
                tracing::info!("bridge simulator: the session expired, logging in again");
                br.set_auth(json!({"state": "reauth"}));
                // Streams end with the session.
                for (_, p) in lock(&br.pulls).drain() {
                    p.close();
                }
                tokio::time::sleep(br.sim.relogin).await;
                br.set_auth(json!({"state": "ok"}));
            }
            got = ws_events.recv() => match got {
                Ok(text) => translate(&br, &text),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

/// A eufy-security-ws event of the simulator's schedule, as the bridge says it: a
/// detection's start (momentary; its end is not sent), a new picture as
/// `eventImageUpdated`.
fn translate(br: &Bridge, text: &str) {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let ev = v.get("event").unwrap_or(&v);
    let name = ev.get("event").and_then(Value::as_str).unwrap_or("");
    let Some(serial) = ev.get("serialNumber").and_then(Value::as_str) else {
        return;
    };
    let out = if let Some(kind) = DetectionKind::from_event(name) {
        if ev.get("state").and_then(Value::as_bool) != Some(true) {
            return;
        }
        json!({"event": event_name(kind), "deviceSn": serial, "stationSn": serial})
    } else if name == events::PROPERTY_CHANGED {
        json!({"event": "eventImageUpdated", "deviceSn": serial})
    } else {
        return;
    };
    let _ = br.events.send(out.to_string());
}

/// One TCP connection: the request head, then the WebSocket or one HTTP answer.
pub(super) async fn serve(
    st: Arc<Shared>,
    br: Arc<Bridge>,
    mut tcp: TcpStream,
) -> std::io::Result<()> {
    let Some(head) = read_head(&mut tcp).await? else {
        return Ok(());
    };
    let mut lines = head.lines();
    let request = lines.next().unwrap_or("");
    let mut parts = request.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if method != "GET" {
        return respond(
            &mut tcp,
            405,
            "application/json",
            br#"{"error":"GET only"}"#,
        )
        .await;
    }
    match (path, headers.get("sec-websocket-key")) {
        ("/ws", Some(key)) => websocket(st, br, tcp, key).await,
        ("/healthz", _) => {
            let body = json!({"ok": true, "schemaVersion": 1, "auth": *br.auth.borrow(),
                "streaming": br.streaming()});
            respond(
                &mut tcp,
                200,
                "application/json",
                body.to_string().as_bytes(),
            )
            .await
        }
        _ if !br.logged_in() => {
            let body = json!({"error": "not authenticated", "auth": *br.auth.borrow()});
            respond(
                &mut tcp,
                503,
                "application/json",
                body.to_string().as_bytes(),
            )
            .await
        }
        (p, _) if p.starts_with("/stream/") => stream(&st, &br, tcp, &p["/stream/".len()..]).await,
        (p, _) if p.starts_with("/snapshot/") => {
            snapshot(&st, &mut tcp, &p["/snapshot/".len()..], query).await
        }
        _ => {
            respond(
                &mut tcp,
                404,
                "application/json",
                br#"{"error":"not found"}"#,
            )
            .await
        }
    }
}

/// The request head (up to 16 KiB), or `None` when the client left.
async fn read_head(tcp: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(1024);
    let mut byte = [0u8; 512];
    loop {
        let n = tcp.read(&mut byte).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&byte[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(end);
            return Ok(Some(String::from_utf8_lossy(&buf).into_owned()));
        }
        if buf.len() > 16 << 10 {
            return Ok(None);
        }
    }
}

async fn respond(tcp: &mut TcpStream, status: u16, mime: &str, body: &[u8]) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {mime}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await?;
    tcp.write_all(body).await?;
    tcp.shutdown().await
}

async fn chunk(tcp: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    tcp.write_all(format!("{:x}\r\n", data.len()).as_bytes())
        .await?;
    tcp.write_all(data).await?;
    tcp.write_all(b"\r\n").await
}

async fn snapshot(
    st: &Shared,
    tcp: &mut TcpStream,
    serial: &str,
    query: &str,
) -> std::io::Result<()> {
    if query.contains("mode=live") {
        // Not simulated: a live burst would wake the camera; the client never asks for one.
        lock(&st.stats)
            .commands
            .entry("snapshot.live".into())
            .and_modify(|n| *n += 1)
            .or_insert(1);
    }
    *lock(&st.stats)
        .commands
        .entry("snapshot".into())
        .or_default() += 1;
    match st.config.pictures.get(serial) {
        Some(p) => respond(tcp, 200, "image/jpeg", p).await,
        None if st.camera(serial).is_some() => {
            respond(
                tcp,
                404,
                "application/json",
                br#"{"error":"no image available","reason":"nothing retained"}"#,
            )
            .await
        }
        None => {
            respond(
                tcp,
                502,
                "application/json",
                br#"{"error":"unknown device"}"#,
            )
            .await
        }
    }
}

/// `GET /stream/<sn>`: waits for the camera to open, then its units, chunked.
async fn stream(
    st: &Arc<Shared>,
    br: &Arc<Bridge>,
    mut tcp: TcpStream,
    serial: &str,
) -> std::io::Result<()> {
    let backing_off = lock(&br.backoff).get(serial).copied();
    if let Some(until) = backing_off.filter(|t| *t > Instant::now()) {
        let secs = until
            .saturating_duration_since(Instant::now())
            .as_secs_f64()
            .ceil();
        let body = json!({"error": format!("stream backing off after a failed open — retry in {secs:.0}s (P2P unreachable)")});
        return respond(
            &mut tcp,
            503,
            "application/json",
            body.to_string().as_bytes(),
        )
        .await;
    }
    let camera = st.camera(serial).cloned();
    let Some(camera) = camera.filter(|_| !st.config.offline.iter().any(|s| s == serial)) else {
        tokio::time::sleep(st.config.start_delay.min(Duration::from_millis(200))).await;
        lock(&br.backoff).insert(serial.to_owned(), Instant::now() + br.sim.backoff);
        let body = json!({"error": format!("failed to open the live stream of {serial}: P2P unreachable")});
        return respond(
            &mut tcp,
            502,
            "application/json",
            body.to_string().as_bytes(),
        )
        .await;
    };
    if let Some(fault) = &br.sim.http_fault {
        if answer_fault(fault, &mut tcp).await? {
            return Ok(());
        }
    }
    *lock(&st.stats).starts.entry(serial.to_owned()).or_default() += 1;
    let Some((pull, (units, cached))) = join_pull(st, br, &camera) else {
        return respond(
            &mut tcp,
            502,
            "application/json",
            br#"{"error":"the camera's stream ended"}"#,
        )
        .await;
    };
    let mut open = pull.open.subscribe();
    let viewer = Viewer {
        br: br.clone(),
        serial: serial.to_owned(),
        pull: pull.clone(),
    };
    // Headers only once the camera's session is open.
    while !*open.borrow_and_update() {
        if open.changed().await.is_err() {
            return Ok(());
        }
    }
    tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: video/H264\r\ntransfer-encoding: chunked\r\ncache-control: no-store\r\n\r\n").await?;
    let clean = send_units(st, br, &mut tcp, units, cached).await?;
    drop(viewer);
    if clean {
        tcp.write_all(b"0\r\n\r\n").await?;
        tcp.shutdown().await?;
    }
    // Aborted: dropped without the final chunk, as a P2P error does.
    Ok(())
}

/// The faults answered instead of a stream (true when answered).
async fn answer_fault(fault: &HttpFault, tcp: &mut TcpStream) -> std::io::Result<bool> {
    match fault {
        HttpFault::NoHeaders => {
            // Read nothing, answer nothing, until the client gives up.
            let mut sink = [0u8; 64];
            while tcp.read(&mut sink).await? > 0 {}
            Ok(true)
        }
        HttpFault::WrongType => respond(
            tcp,
            200,
            "text/html",
            b"<html><body>Bridge UI</body></html>",
        )
        .await
        .map(|()| true),
        HttpFault::JsonOk => respond(
            tcp,
            200,
            "application/json",
            br#"{"error":"camera session failed"}"#,
        )
        .await
        .map(|()| true),
        _ => Ok(false),
    }
}

/// A stream's units as chunks (the first viewer's from the start, a late one's from
/// `cached`), faults applied: true when the camera ended it, false when it was cut off.
async fn send_units(
    st: &Shared,
    br: &Bridge,
    tcp: &mut TcpStream,
    units: Units,
    cached: Option<Arc<[u8]>>,
) -> std::io::Result<bool> {
    let mut first = cached;
    let mut units = units;
    let mut sent = 0u64;
    let clean = loop {
        let data = match first.take() {
            Some(key) => key,
            None => match units.recv().await {
                Ok((data, _)) => data,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break true,
            },
        };
        match &br.sim.http_fault {
            Some(HttpFault::Abort(n)) if sent >= *n => break false,
            Some(HttpFault::Garbage) => {
                let garbage: Vec<u8> = (0..data.len().max(64))
                    .map(|i| 0x80 | (i as u8 & 0x7f))
                    .collect();
                chunk(tcp, &garbage).await?;
            }
            _ => match st.config.chunking {
                Chunking::AccessUnit => chunk(tcp, &data).await?,
                // Cut anywhere: the client must not care where.
                Chunking::Random { seed, max } => {
                    let mut rng = SmallRng::seed_from_u64(seed.wrapping_add(sent));
                    let mut rest: &[u8] = &data;
                    while !rest.is_empty() {
                        let n = rng.random_range(1..=max.max(1)).min(rest.len());
                        chunk(tcp, &rest[..n]).await?;
                        rest = &rest[n..];
                    }
                }
            },
        }
        sent += 1;
    };
    Ok(clean)
}

/// A client of a pull; the last one to leave stops the camera.
struct Viewer {
    br: Arc<Bridge>,
    serial: String,
    pull: Arc<Pull>,
}

impl Drop for Viewer {
    fn drop(&mut self) {
        let mut n = lock(&self.pull.viewers);
        *n = n.saturating_sub(1);
        if *n == 0 {
            let mut pulls = lock(&self.br.pulls);
            if pulls
                .get(&self.serial)
                .is_some_and(|p| Arc::ptr_eq(p, &self.pull))
            {
                pulls.remove(&self.serial);
            }
        }
    }
}

/// Joins the camera's running pull (its receiver, and the last keyframe to send first), or
/// starts one (whose first viewer gets every unit from the camera's start).
fn join_pull(st: &Arc<Shared>, br: &Arc<Bridge>, camera: &Camera) -> Option<(Arc<Pull>, Joined)> {
    let mut pulls = lock(&br.pulls);
    if let Some(p) = pulls.get(&camera.serial) {
        let joined = p.join()?;
        *lock(&p.viewers) += 1;
        return Some((p.clone(), joined));
    }
    let pull = Arc::new(Pull {
        units: Mutex::new(Some(broadcast::channel(256).0)),
        key: Mutex::new(None),
        open: watch::channel(false).0,
        viewers: Mutex::new(1),
    });
    pulls.insert(camera.serial.clone(), pull.clone());
    let mut stats = lock(&st.stats);
    stats.peak_streams = stats.peak_streams.max(pulls.len() as u64);
    drop(stats);
    let (rx, _) = pull.join()?;
    let joined = (rx, None);
    tokio::spawn(run_pull(
        st.clone(),
        br.clone(),
        camera.clone(),
        Arc::downgrade(&pull),
    ));
    Some((pull, joined))
}

/// The camera's session: opens after the start delay, sends its units paced, ends at the
/// cut-off or the clip's end, or when its last viewer left.
async fn run_pull(st: Arc<Shared>, br: Arc<Bridge>, camera: Camera, pull: std::sync::Weak<Pull>) {
    if st.config.realistic {
        tokio::time::sleep(st.config.start_delay).await;
    }
    let began = Instant::now();
    let Some(p) = pull.upgrade() else { return };
    p.open.send_replace(true);
    drop(p);
    let interval = match st.config.pacing {
        Pacing::Unpaced => None,
        Pacing::Fps(f) => Some(f),
        Pacing::Clip => Some(camera.clip.fps().unwrap_or(15.0)),
    }
    .map(|f| Duration::from_secs_f64(1.0 / f.clamp(0.1, 1000.0)));
    let units = &camera.clip.units;
    if br.sim.http_fault == Some(HttpFault::HugeChunk) {
        let all: Vec<u8> = units.iter().flat_map(|u| u.data.iter().copied()).collect();
        if let Some(p) = pull.upgrade() {
            p.send(all.into(), true);
        }
        finish(&br, &camera.serial, &pull);
        return;
    }
    let mut next = Instant::now();
    for i in 0.. {
        if !st.config.looping && i >= units.len() {
            break;
        }
        if st.config.cutoff.is_some_and(|c| began.elapsed() >= c) || !br.logged_in() {
            break;
        }
        let Some(unit) = units.get(i % units.len().max(1)) else {
            break;
        };
        let Some(p) = pull.upgrade() else { return };
        if *lock(&p.viewers) == 0 {
            return;
        }
        p.send(unit.data.clone(), unit.keyframe);
        drop(p);
        if let Some(iv) = interval {
            next += iv;
            tokio::time::sleep_until(next).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
    finish(&br, &camera.serial, &pull);
}

/// The camera's stream ended: its viewers' bodies end cleanly, the next request opens anew.
fn finish(br: &Bridge, serial: &str, pull: &std::sync::Weak<Pull>) {
    let mut pulls = lock(&br.pulls);
    if let Some(p) = pull.upgrade() {
        if pulls.get(serial).is_some_and(|q| Arc::ptr_eq(q, &p)) {
            pulls.remove(serial);
        }
        p.close();
    }
}

async fn websocket(
    st: Arc<Shared>,
    br: Arc<Bridge>,
    mut tcp: TcpStream,
    key: &str,
) -> std::io::Result<()> {
    let accept = derive_accept_key(key.as_bytes());
    tcp.write_all(format!("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n").as_bytes()).await?;
    let mut ws = WebSocketStream::from_raw_socket(tcp, Role::Server, None).await;
    lock(&st.stats).connections += 1;
    let mut events = br.events.subscribe();
    let send = |v: Value| Message::Text(v.to_string().into());
    if let Some(schema) = br.sim.schema {
        let auth = br.auth.borrow().clone();
        ws.send(send(
            json!({"event": "hello", "schemaVersion": schema, "auth": auth}),
        ))
        .await
        .map_err(io)?;
    }
    if br.sim.bad_events {
        for text in [
            r#"{"event":"fooBarred","deviceSn":"X"}"#.to_owned(),
            r#"{"event":"motion","deviceSn":42}"#.to_owned(),
            r#"{"event":"streamState","deviceSn":"X","active":"yes"}"#.to_owned(),
            "not json at all".to_owned(),
            r#"[1,2,3]"#.to_owned(),
        ] {
            ws.send(Message::Text(text.into())).await.map_err(io)?;
        }
    }
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let reply = command(&st, &br, &t);
                    ws.send(send(reply)).await.map_err(io)?;
                }
                Some(Ok(Message::Close(f))) => {
                    lock(&st.stats).close_codes.push(f.map(|f| u16::from(f.code)));
                    return Ok(());
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Ok(()),
            },
            ev = events.recv() => match ev {
                Ok(text) => {
                    if text.contains("Detected") || text.contains("doorbellPress") || text.contains("\"motion\"") {
                        lock(&st.stats).detection_events += 1;
                    }
                    ws.send(Message::Text(text.into())).await.map_err(io)?;
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
        }
    }
}

fn io(e: tokio_tungstenite::tungstenite::Error) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Commands that need a logged-in bridge.
const AUTHED: &[&str] = &[
    "devices.list",
    "device.state",
    "device.action",
    "device.set",
    "stream.start",
    "stream.stop",
    "event.refresh",
];

/// The reply to one request.
fn command(st: &Shared, br: &Bridge, text: &str) -> Value {
    let Ok(msg) = serde_json::from_str::<Value>(text) else {
        return json!({"ok": false, "error": "bad json"});
    };
    let id = msg.get("id").cloned().unwrap_or(Value::Null);
    let cmd = msg
        .get("cmd")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    *lock(&st.stats).commands.entry(cmd.clone()).or_default() += 1;
    let fail = |e: &str| json!({"id": id, "ok": false, "error": e});
    if AUTHED.contains(&cmd.as_str()) && !br.logged_in() {
        return fail("not authenticated — query auth.status and complete 2FA/captcha first");
    }
    let ok = |extra: Value| {
        let mut v = json!({"id": id, "ok": true});
        if let (Some(m), Value::Object(e)) = (v.as_object_mut(), extra) {
            m.extend(e);
        }
        v
    };
    let sn = msg.get("sn").and_then(Value::as_str).unwrap_or("");
    match cmd.as_str() {
        "auth.status" => ok(json!({"auth": *br.auth.borrow()})),
        "auth.submit" => match (msg.get("code").and_then(Value::as_str), &br.sim.code) {
            (None, _) if msg.get("captcha").is_none() => {
                fail("auth.submit needs { code } (2FA) or { captcha } (captcha answer)")
            }
            (Some(c), Some(want)) if c == want && !br.logged_in() => {
                br.set_auth(json!({"state": "ok"}));
                let _ = br
                    .events
                    .send(json!({"event": "ready", "schemaVersion": 1}).to_string());
                ok(json!({"auth": *br.auth.borrow()}))
            }
            _ => ok(json!({"auth": *br.auth.borrow()})),
        },
        "auth.retrigger" => ok(json!({"auth": *br.auth.borrow()})),
        "devices.list" => ok(
            json!({"devices": st.config.cameras.iter().map(|c| device(st, br, &c.serial)).collect::<Vec<_>>()}),
        ),
        "device.state" if st.camera(sn).is_some() => ok(json!({"device": device(st, br, sn)})),
        "device.state" => fail(&format!("unknown device {sn}")),
        "stream.start" => ok(
            json!({"path": format!("/stream/{sn}"), "http": format!("http://127.0.0.1:3000/stream/{sn}"), "rtsp": format!("rtsp://127.0.0.1:8554/{sn}")}),
        ),
        "stream.stop" => ok(json!({})),
        "device.action" if st.camera(sn).is_none() => fail(&format!("unknown device {sn}")),
        "device.action" => {
            let action = msg.get("action").and_then(Value::as_str).unwrap_or("");
            let args = msg.get("args").cloned().unwrap_or(json!([]));
            let moves = ["left", "right", "up", "down", "preset.goto"];
            if st.kind(sn) != CameraKind::Ptz || !moves.contains(&action) {
                return fail(&format!("no action '{action}' on {sn}"));
            }
            lock(&st.stats)
                .ptz
                .push((sn.to_owned(), format!("device.action {action} {args}")));
            ok(json!({"result": null}))
        }
        other => fail(&format!("unknown cmd: {other}")),
    }
}

/// A camera as `devices.list` describes it.
fn device(st: &Shared, br: &Bridge, serial: &str) -> Value {
    let props = st.properties(serial, 0);
    let mut caps = vec!["video", "snapshot", "motion"];
    if br.sim.battery.iter().any(|s| s == serial) {
        caps.push("battery");
    }
    match st.kind(serial) {
        CameraKind::Ptz => caps.push("ptz"),
        CameraKind::Doorbell => caps.push("doorbell"),
        CameraKind::Plain => {}
    }
    json!({
        "sn": serial,
        "name": props.get("name"),
        "model": "T8210",
        "modelName": "Video Doorbell",
        "codec": "camera",
        "stationSn": props.get("stationSerialNumber"),
        "capabilities": caps,
        "state": {},
        "stream": format!("/stream/{serial}"),
        "streaming": lock(&br.pulls).contains_key(serial),
        "canReboot": false,
    })
}
