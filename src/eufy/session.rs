//! The client side of eufy-security-ws: one connection, its handshake and the livestreams of
//! one or more cameras, kept alive across disconnects.
//!
//! `run_session` owns the socket and is the only code here that awaits. In order:
//! read `version`, negotiate the schema, `set_api_schema`, `start_listening`, then
//! `device.start_livestream` per serial. Every request has a timeout; every error code becomes
//! a [`SessionError`] a user can act on. Video bytes go out as [`SessionEvent::Video`] chunks
//! stamped with their arrival instant; framing into access units is the caller's (see
//! [`crate::bitstream`]), because the server's message boundaries are not a guarantee.
//!
//! Losing the stream (`livestream stopped`, socket closed, silence past the timeouts, server
//! `shutdown`) reconnects with exponential backoff, forever when so configured; errors that
//! another try cannot fix (unknown serial, schema too old) end the session. On shutdown it
//! sends `device.stop_livestream` for each camera and closes the socket cleanly.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::{timeout_at, Instant};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::protocol::{
    codes, command, parse_server_message, CommandResult, Event, ServerMessage, VersionInfo,
    MIN_LIVESTREAM_SCHEMA, SCHEMA_VERSION,
};

/// How a session behaves.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// `ws://host:port`.
    pub url: String,
    /// The cameras to stream.
    pub serials: Vec<String>,
    /// Longest wait for a command's result (and for the `version` message).
    pub request_timeout: Duration,
    /// Longest wait from a successful start to `livestream started` and the first data.
    pub start_timeout: Duration,
    /// Longest silence (no message at all) once streaming.
    pub data_timeout: Duration,
    /// WebSocket ping interval (the server never pings).
    pub ping_interval: Duration,
    /// Largest message accepted. A 4K keyframe is several MB of bytes, 3.5× that as JSON.
    pub max_message: usize,
    /// Reconnect after a lost stream; otherwise the first loss ends the session.
    pub reconnect: bool,
    /// First reconnect delay; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
}

impl SessionConfig {
    /// Defaults for `url` and `serials`.
    pub fn new(url: impl Into<String>, serials: Vec<String>) -> Self {
        SessionConfig {
            url: url.into(),
            serials,
            request_timeout: Duration::from_secs(10),
            start_timeout: Duration::from_secs(20),
            data_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(5),
            max_message: 64 << 20,
            reconnect: true,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// What the session reports to its owner.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// Handshake done.
    Connected {
        /// `serverVersion`.
        server_version: String,
        /// The schema agreed on.
        schema: u32,
        /// Serials the server knows.
        devices: Vec<String>,
    },
    /// `livestream started` for this camera.
    Started {
        /// Camera serial.
        serial: String,
    },
    /// Bytes of a camera's video stream.
    Video {
        /// Camera serial.
        serial: String,
        /// Annex-B bytes (not necessarily whole access units).
        data: Vec<u8>,
        /// When the message was read from the socket.
        received_at: std::time::Instant,
    },
    /// Audio bytes of a camera (usually one ADTS AAC frame); recorded, not played.
    Audio {
        /// Camera serial.
        serial: String,
        /// The payload.
        data: Vec<u8>,
        /// When the message was read.
        received_at: std::time::Instant,
    },
    /// A message the session dropped (bad JSON, bad buffer); counted, stream goes on.
    Dropped {
        /// Why.
        reason: String,
    },
    /// A station reported a failed command (negative `returnCode`).
    StationError {
        /// Serial.
        serial: String,
        /// The command.
        command: String,
        /// Its code.
        return_code: i64,
    },
    /// The stream was lost; the session reconnects after `delay`.
    Reconnecting {
        /// Why the stream was lost.
        reason: String,
        /// Wait before the next try.
        delay: Duration,
    },
}

/// Why a session failed or a connection was lost.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Could not open the WebSocket.
    #[error("cannot connect to eufy-security-ws at {url}: {source}")]
    Connect {
        /// The URL.
        url: String,
        /// The cause.
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// The socket failed or closed.
    #[error("connection to {url} lost: {reason}")]
    Lost {
        /// The URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// No answer in time.
    #[error("eufy-security-ws at {url} did not answer {what} within {secs:.0} s (is it still logging in to the Eufy cloud, waiting for 2FA or a captcha?)")]
    Timeout {
        /// The URL.
        url: String,
        /// What we waited for.
        what: String,
        /// How long.
        secs: f64,
    },
    /// The server's schema range excludes livestreams.
    #[error("eufy-security-ws at {url} speaks schema {min}..={max}; livestreams need at least {need}: upgrade the server")]
    SchemaTooOld {
        /// The URL.
        url: String,
        /// Server minimum.
        min: u32,
        /// Server maximum.
        max: u32,
        /// What we need.
        need: u32,
    },
    /// Unknown serial.
    #[error("camera {serial} is not known to the server at {url} (device_not_found); serials it knows: {known}; check --serial")]
    UnknownCamera {
        /// The serial asked for.
        serial: String,
        /// The URL.
        url: String,
        /// What the server listed.
        known: String,
    },
    /// Any other failed command.
    #[error("eufy-security-ws at {url} refused {command} for {serial}: {code} ({hint})")]
    Refused {
        /// The URL.
        url: String,
        /// The command.
        command: String,
        /// The serial.
        serial: String,
        /// The error code.
        code: String,
        /// What it means.
        hint: &'static str,
    },
    /// The server announced its shutdown.
    #[error("eufy-security-ws at {0} is shutting down")]
    ServerShutdown(String),
    /// The stream ended.
    #[error("livestream of {0} stopped")]
    StreamStopped(String),
}

impl SessionError {
    /// Whether another connection attempt may succeed.
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            SessionError::SchemaTooOld { .. } | SessionError::UnknownCamera { .. }
        ) && !matches!(self, SessionError::Refused { code, .. } if code == codes::NOT_SUPPORTED || code == codes::UNKNOWN_COMMAND)
    }
}

/// What an error code means, for messages.
pub fn explain_code(code: &str) -> &'static str {
    match code {
        codes::DEVICE_NOT_FOUND => "the server knows no camera with this serial",
        codes::STATION_NOT_FOUND => "the server knows no station for this camera",
        codes::NOT_SUPPORTED => "this device cannot livestream",
        codes::ALREADY_RUNNING => "this client already streams this camera",
        codes::NOT_RUNNING => "there is no livestream to stop",
        codes::SCHEMA_INCOMPATIBLE => "the server does not speak this schema version",
        codes::UNKNOWN_COMMAND => "the server does not know this command at the agreed schema",
        codes::STATION_TIMEOUT => "the station did not answer; is it online?",
        _ => "unknown error on the server",
    }
}

/// Picks the schema: ours, or the highest both sides speak.
pub fn negotiate_schema(v: &VersionInfo) -> Option<u32> {
    let s = SCHEMA_VERSION.min(v.max_schema_version);
    (s >= v.min_schema_version).then_some(s)
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Runs a session until `stop` turns true (then stops the streams cleanly and returns Ok),
/// or until an error another try cannot fix (or any loss, without `reconnect`).
pub async fn run_session(
    config: SessionConfig,
    events: mpsc::Sender<SessionEvent>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), SessionError> {
    let mut delay = config.backoff_min;
    loop {
        let mut conn = Connection::new(&config, &events);
        let mut stop_during = stop.clone();
        let outcome = tokio::select! {
            r = conn.run(&mut stop) => r,
            _ = wait_true(&mut stop_during) => Ok(()),
        };
        if *stop.borrow() {
            conn.shutdown().await;
            return Ok(());
        }
        let err = match outcome {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if !config.reconnect || !err.is_transient() {
            conn.shutdown().await;
            return Err(err);
        }
        if conn.streamed {
            delay = config.backoff_min;
        }
        tracing::warn!("{err}; reconnecting in {:.1} s", delay.as_secs_f64());
        let _ = events
            .send(SessionEvent::Reconnecting {
                reason: err.to_string(),
                delay,
            })
            .await;
        drop(conn);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = wait_true(&mut stop) => return Ok(()),
        }
        delay = (delay * 2).min(config.backoff_max);
    }
}

async fn wait_true(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            // Sender gone: nobody can ask us to stop any more.
            std::future::pending::<()>().await;
        }
    }
}

struct Connection<'a> {
    config: &'a SessionConfig,
    events: &'a mpsc::Sender<SessionEvent>,
    ws: Option<Ws>,
    next_id: u64,
    /// Results that arrived while we waited for another one.
    early: HashMap<String, CommandResult>,
    /// Cameras whose start succeeded on this connection.
    started: Vec<String>,
    /// Whether any video arrived on this connection (resets the backoff).
    streamed: bool,
    /// Dropped messages are all counted; logged at most once a minute.
    drop_warnings: crate::throttle::Throttle,
}

impl<'a> Connection<'a> {
    fn new(config: &'a SessionConfig, events: &'a mpsc::Sender<SessionEvent>) -> Self {
        Connection {
            config,
            events,
            ws: None,
            next_id: 0,
            early: HashMap::new(),
            started: Vec::new(),
            streamed: false,
            drop_warnings: Default::default(),
        }
    }

    fn ws_mut(&mut self) -> Result<&mut Ws, SessionError> {
        let url = &self.config.url;
        self.ws.as_mut().ok_or_else(|| SessionError::Lost {
            url: url.clone(),
            reason: "not connected".into(),
        })
    }

    fn url(&self) -> String {
        self.config.url.clone()
    }

    fn lost(&self, reason: impl Into<String>) -> SessionError {
        SessionError::Lost {
            url: self.url(),
            reason: reason.into(),
        }
    }

    async fn run(&mut self, stop: &mut watch::Receiver<bool>) -> Result<(), SessionError> {
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(self.config.max_message))
            .max_frame_size(Some(self.config.max_message));
        let connect = tokio_tungstenite::connect_async_with_config(
            self.config.url.as_str(),
            Some(ws_config),
            true,
        );
        let deadline = Instant::now() + self.config.request_timeout;
        let (ws, _) = timeout_at(deadline, connect)
            .await
            .map_err(|_| self.timeout("the WebSocket handshake"))?
            .map_err(|e| SessionError::Connect {
                url: self.url(),
                source: Box::new(e),
            })?;
        self.ws = Some(ws);

        // 1. version, unasked.
        let version = loop {
            match self.read_until(deadline, "the version message").await? {
                ServerMessage::Version(v) => break v,
                other => tracing::debug!(?other, "message before version ignored"),
            }
        };
        let schema = negotiate_schema(&version)
            .filter(|s| *s >= MIN_LIVESTREAM_SCHEMA)
            .ok_or(SessionError::SchemaTooOld {
                url: self.url(),
                min: version.min_schema_version,
                max: version.max_schema_version,
                need: MIN_LIVESTREAM_SCHEMA,
            })?;
        // 2. schema, 3. listening.
        self.request("set_api_schema", json!({ "schemaVersion": schema }), "")
            .await?;
        let state = self.request("start_listening", json!({}), "").await?;
        let devices = known_devices(&state);
        tracing::info!(
            server = %version.server_version, schema, devices = ?devices,
            "connected to eufy-security-ws at {}", self.config.url
        );
        let _ = self
            .events
            .send(SessionEvent::Connected {
                server_version: version.server_version.clone(),
                schema,
                devices: devices.clone(),
            })
            .await;
        for serial in &self.config.serials {
            if !devices.is_empty() && !devices.contains(serial) {
                return Err(self.unknown(serial, &devices));
            }
        }
        // 4. start each camera.
        for serial in self.config.serials.clone() {
            let args = json!({ "serialNumber": serial });
            match self.request("device.start_livestream", args, &serial).await {
                Ok(_) => {}
                // Ours from a previous connection the server has not noticed is gone.
                Err(SessionError::Refused { code, .. }) if code == codes::ALREADY_RUNNING => {}
                Err(SessionError::Refused { code, .. }) if code == codes::DEVICE_NOT_FOUND => {
                    return Err(self.unknown(&serial, &devices))
                }
                Err(e) => return Err(e),
            }
            self.started.push(serial);
        }
        self.stream(stop).await
    }

    fn unknown(&self, serial: &str, devices: &[String]) -> SessionError {
        SessionError::UnknownCamera {
            serial: serial.to_owned(),
            url: self.url(),
            known: if devices.is_empty() {
                "none".into()
            } else {
                devices.join(", ")
            },
        }
    }

    fn timeout(&self, what: &str) -> SessionError {
        SessionError::Timeout {
            url: self.url(),
            what: what.to_owned(),
            secs: self.config.request_timeout.as_secs_f64(),
        }
    }

    /// Sends a command and waits for its result; events in between are handled as usual.
    async fn request(
        &mut self,
        name: &str,
        args: Value,
        serial: &str,
    ) -> Result<Value, SessionError> {
        self.next_id += 1;
        let id = format!("{name}-{}", self.next_id);
        self.send(command(&id, name, args)).await?;
        let deadline = Instant::now() + self.config.request_timeout;
        loop {
            let result = match self.early.remove(&id) {
                Some(r) => r,
                None => match self.read_until(deadline, name).await? {
                    ServerMessage::Result(r) if r.message_id == id => r,
                    ServerMessage::Result(r) => {
                        if self.early.len() < 64 {
                            self.early.insert(r.message_id.clone(), r);
                        }
                        continue;
                    }
                    ServerMessage::Event(ev) => {
                        self.on_event(ev).await?;
                        continue;
                    }
                    ServerMessage::Version(_) => continue,
                },
            };
            if result.success {
                return Ok(result.result);
            }
            let code = result
                .error_code
                .unwrap_or_else(|| codes::UNKNOWN_ERROR.into());
            return Err(SessionError::Refused {
                url: self.url(),
                command: name.to_owned(),
                serial: serial.to_owned(),
                hint: explain_code(&code),
                code,
            });
        }
    }

    async fn send(&mut self, text: String) -> Result<(), SessionError> {
        let ws = self.ws.as_mut().ok_or_else(|| SessionError::Lost {
            url: self.config.url.clone(),
            reason: "not connected".into(),
        })?;
        ws.send(Message::text(text))
            .await
            .map_err(|e| SessionError::Lost {
                url: self.config.url.clone(),
                reason: e.to_string(),
            })
    }

    /// Reads the next parsable server message before `deadline`. Malformed messages are
    /// reported as drops and skipped.
    async fn read_until(
        &mut self,
        deadline: Instant,
        what: &str,
    ) -> Result<ServerMessage, SessionError> {
        loop {
            let ws = self.ws_mut()?;
            let msg = match timeout_at(deadline, ws.next()).await {
                Err(_) => return Err(self.timeout(what)),
                Ok(None) => return Err(self.lost("the server closed the connection")),
                Ok(Some(Err(e))) => return Err(self.lost(e.to_string())),
                Ok(Some(Ok(m))) => m,
            };
            let received_at = std::time::Instant::now();
            match self.parse(msg, received_at).await? {
                Some(m) => return Ok(m),
                None => continue,
            }
        }
    }

    /// Parses one WebSocket message; `None` for control frames and dropped garbage.
    async fn parse(
        &mut self,
        msg: Message,
        received_at: std::time::Instant,
    ) -> Result<Option<ServerMessage>, SessionError> {
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(frame) => {
                let why = frame.map_or_else(
                    || "no close code".to_owned(),
                    |f| format!("code {}: {}", f.code, f.reason),
                );
                return Err(self.lost(format!("the server closed the connection ({why})")));
            }
            Message::Binary(_) => {
                self.drop_msg("binary frame (the protocol is text only)".into())
                    .await;
                return Ok(None);
            }
            _ => return Ok(None),
        };
        match parse_server_message(text.as_str()) {
            Ok(ServerMessage::Event(Event::Video(m))) => {
                // Fast path: hand the bytes over without going through `on_event`.
                if self.started.contains(&m.serial) {
                    self.streamed = true;
                    let _ = self
                        .events
                        .send(SessionEvent::Video {
                            serial: m.serial,
                            data: m.data,
                            received_at,
                        })
                        .await;
                } else {
                    tracing::trace!(serial = %m.serial, "video for a camera we do not stream ignored");
                }
                Ok(None)
            }
            Ok(m) => Ok(Some(m)),
            Err(e) => {
                self.drop_msg(e.to_string()).await;
                Ok(None)
            }
        }
    }

    async fn drop_msg(&mut self, reason: String) {
        if let Some(held) = self.drop_warnings.allow() {
            tracing::warn!(
                "dropped a message from {}: {reason} ({held} more not logged)",
                self.config.url
            );
        }
        let _ = self.events.send(SessionEvent::Dropped { reason }).await;
    }

    async fn on_event(&mut self, ev: Event) -> Result<(), SessionError> {
        match ev {
            Event::Video(_) => {}
            Event::Audio(m) => {
                if self.started.contains(&m.serial) {
                    let _ = self
                        .events
                        .send(SessionEvent::Audio {
                            serial: m.serial,
                            data: m.data,
                            received_at: std::time::Instant::now(),
                        })
                        .await;
                }
            }
            Event::Started { serial } => {
                if self.config.serials.contains(&serial) {
                    tracing::info!(%serial, "livestream started");
                    let _ = self.events.send(SessionEvent::Started { serial }).await;
                }
            }
            Event::Stopped { serial } => {
                if self.started.contains(&serial) {
                    self.started.retain(|s| *s != serial);
                    return Err(SessionError::StreamStopped(serial));
                }
            }
            Event::CommandResult {
                serial,
                command,
                return_code,
            } => {
                if return_code < 0 {
                    tracing::warn!(%serial, %command, return_code, "station reports a failed command");
                    let _ = self
                        .events
                        .send(SessionEvent::StationError {
                            serial,
                            command,
                            return_code,
                        })
                        .await;
                }
            }
            Event::Shutdown => return Err(SessionError::ServerShutdown(self.url())),
            Event::Other(_) => {}
        }
        Ok(())
    }

    /// Streams until a loss or until `stop`; pings the server and watches for silence.
    async fn stream(&mut self, stop: &mut watch::Receiver<bool>) -> Result<(), SessionError> {
        let start_deadline = Instant::now() + self.config.start_timeout;
        let mut last_msg = Instant::now();
        let mut ping = tokio::time::interval(self.config.ping_interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let silence_deadline = if self.streamed {
                last_msg + self.config.data_timeout
            } else {
                start_deadline
            };
            let ws = self.ws_mut()?;
            tokio::select! {
                msg = ws.next() => {
                    last_msg = Instant::now();
                    let received_at = std::time::Instant::now();
                    let msg = match msg {
                        None => return Err(self.lost("the server closed the connection")),
                        Some(Err(e)) => return Err(self.lost(e.to_string())),
                        Some(Ok(m)) => m,
                    };
                    match self.parse(msg, received_at).await? {
                        Some(ServerMessage::Event(ev)) => self.on_event(ev).await?,
                        Some(other) => tracing::debug!(?other, "unexpected message while streaming"),
                        None => {}
                    }
                }
                _ = ping.tick() => {
                    let ws = self.ws_mut()?;
                    if let Err(e) = ws.send(Message::Ping(Vec::new().into())).await {
                        return Err(self.lost(e.to_string()));
                    }
                }
                _ = tokio::time::sleep_until(silence_deadline) => {
                    let what = if self.streamed { "with any message while streaming" } else { "with livestream data after the start" };
                    let secs = if self.streamed { self.config.data_timeout } else { self.config.start_timeout };
                    return Err(SessionError::Timeout { url: self.url(), what: what.into(), secs: secs.as_secs_f64() });
                }
                _ = wait_true(stop) => return Ok(()),
            }
        }
    }

    /// Stops the streams this connection started and closes it; best effort, bounded in time.
    async fn shutdown(&mut self) {
        if self.ws.is_none() {
            return;
        }
        let limit = Instant::now() + Duration::from_secs(2).min(self.config.request_timeout);
        for serial in std::mem::take(&mut self.started) {
            let args = json!({ "serialNumber": serial });
            let r = timeout_at(limit, self.request("device.stop_livestream", args, &serial)).await;
            match r {
                Ok(Ok(_)) => tracing::info!(%serial, "livestream stopped"),
                Ok(Err(e)) => tracing::debug!(%serial, "stop_livestream: {e}"),
                Err(_) => tracing::debug!(%serial, "stop_livestream not answered in time"),
            }
        }
        if let Some(mut ws) = self.ws.take() {
            let _ = timeout_at(limit + Duration::from_millis(500), ws.close(None)).await;
        }
    }
}

/// Serials in a `start_listening` state dump (strings, or objects with `serialNumber`).
fn known_devices(result: &Value) -> Vec<String> {
    result
        .pointer("/state/devices")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|d| {
                    d.as_str()
                        .or_else(|| d.get("serialNumber").and_then(Value::as_str))
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(min: u32, max: u32) -> VersionInfo {
        VersionInfo {
            driver_version: String::new(),
            server_version: String::new(),
            min_schema_version: min,
            max_schema_version: max,
        }
    }

    #[test]
    fn schema_negotiation() {
        assert_eq!(negotiate_schema(&version(0, 21)), Some(21));
        assert_eq!(negotiate_schema(&version(0, 30)), Some(21));
        assert_eq!(negotiate_schema(&version(0, 12)), Some(12));
        assert_eq!(negotiate_schema(&version(22, 30)), None);
    }

    #[test]
    fn device_lists_in_both_shapes() {
        let v = json!({"state": {"devices": ["A", {"serialNumber": "B"}, 3]}});
        assert_eq!(known_devices(&v), vec!["A".to_owned(), "B".to_owned()]);
        assert!(known_devices(&json!({})).is_empty());
    }
}
