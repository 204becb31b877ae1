//! The client side of eufy-security-ws: one connection, its handshake and the livestreams of
//! one or more cameras, kept alive across disconnects, cut-offs and a server still logging in.
//!
//! `run_session` owns the socket and is the only code here that awaits. In order:
//! read `version`, negotiate the schema, `set_api_schema`, `start_listening` (which says whether
//! the server has finished logging in to the Eufy cloud), `device.get_properties` per camera
//! (its name and station), then `device.start_livestream` per camera as
//! [`super::schedule`] decides: one camera per station at a time, each camera with its own
//! start and silence deadlines and its own restarts. Every request has a timeout; every error
//! code becomes a [`SessionError`] a user can act on. Video bytes go out as
//! [`SessionEvent::Video`] chunks stamped with their arrival instant; framing into access
//! units is the caller's (see [`crate::bitstream`]), because the server's message boundaries
//! are not a guarantee. [`SessionEvent::Ended`] says a camera's stream ended, so what is
//! pending of it is complete.
//!
//! Losing the connection (socket closed, no message at all past the timeout, server
//! `shutdown`) reconnects with exponential backoff, forever when so configured; errors that
//! another try cannot fix (unknown serial, schema too old) end the session. On shutdown it
//! sends `device.stop_livestream` for each camera and closes the socket with 1000 (normal
//! closure).

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{timeout_at, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::protocol::{
    self, codes, command, parse_server_message, CommandResult, DetectionKind, DeviceInfo, Event,
    ServerMessage, VersionInfo, MIN_LIVESTREAM_SCHEMA, SCHEMA_VERSION,
};
pub use super::schedule::CameraState;
use super::schedule::{Action, ScheduleConfig, Scheduler, StartFailure};
use super::talk::{TalkJob, Tick, TALK_SCHEMA};
use crate::backend::{Backend, Ptz};
use crate::shutdown::Shutdown;
use crate::talk::{TalkAudio, TalkState};

/// How a session behaves.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// `ws://host:port` (eufy-security-ws) or `ws://host:port/ws` (the bridge).
    pub url: String,
    /// Which server that is ([`Backend::Auto`]: known from its first message).
    pub backend: Backend,
    /// The cameras to stream.
    pub serials: Vec<String>,
    /// Longest wait for a command's result (and for the `version` message).
    pub request_timeout: Duration,
    /// Per camera: longest wait from a start to `livestream started`, and from there to the
    /// first video.
    pub start_timeout: Duration,
    /// Longest silence: of the connection (no message at all, pongs included), and of a
    /// camera's video once it streamed.
    pub data_timeout: Duration,
    /// WebSocket ping interval (the server never pings).
    pub ping_interval: Duration,
    /// Largest message accepted. A 4K keyframe is several MB of bytes, 3.5× that as JSON.
    pub max_message: usize,
    /// Reconnect after a lost connection and restart streams that end; otherwise the first
    /// loss ends the session.
    pub reconnect: bool,
    /// First reconnect delay; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest reconnect (and restart) delay.
    pub backoff_max: Duration,
    /// How long each camera streams before the next one of the same station (a HomeBase
    /// streams one camera at a time).
    pub station_dwell: Duration,
    /// Pause before restarting a stream that ended by itself (an immediate restart makes
    /// some cameras drop the new stream after 5 to 15 s).
    pub restart_pause: Duration,
    /// Give up when the server is not ready (unreachable, still logging in, camera not
    /// listed) this long after the start; `None` waits for ever (the viewer).
    pub wait_server: Option<Duration>,
}

impl SessionConfig {
    /// Defaults for `url` and `serials`.
    pub fn new(url: impl Into<String>, serials: Vec<String>) -> Self {
        SessionConfig {
            url: url.into(),
            backend: Backend::Auto,
            serials,
            request_timeout: Duration::from_secs(10),
            start_timeout: Duration::from_secs(20),
            data_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(5),
            max_message: 64 << 20,
            reconnect: true,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            station_dwell: Duration::from_secs(10),
            restart_pause: Duration::from_secs(1),
            wait_server: None,
        }
    }

    fn schedule(&self) -> ScheduleConfig {
        ScheduleConfig {
            start_timeout: self.start_timeout,
            video_timeout: self.data_timeout,
            dwell: self.station_dwell,
            restart_pause: self.restart_pause,
            backoff_max: self.backoff_max,
            restarts: self.reconnect,
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
    /// What the server says about one of our cameras (name, station).
    Camera(DeviceInfo),
    /// A camera's state changed (starting, streaming, queued behind its station, …).
    State {
        /// Camera serial.
        serial: String,
        /// Its state.
        state: CameraState,
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
    /// Audio bytes of a camera (usually one ADTS AAC frame).
    Audio {
        /// Camera serial.
        serial: String,
        /// The payload.
        data: Vec<u8>,
        /// `metadata.audioCodec` as sent (`AAC`, `AAC_LC`, `AAC_ELD`, `NONE`, `UNKNOWN`;
        /// empty when absent).
        codec: String,
        /// When the message was read.
        received_at: std::time::Instant,
    },
    /// A camera's stream ended (cut off, stopped for its station's next camera, silent): the
    /// bytes received are all there is, what is pending of them is complete. A restart
    /// follows unless restarts are off.
    Ended {
        /// Camera serial.
        serial: String,
        /// Why.
        reason: String,
    },
    /// A camera's latest picture (its `picture` property, at the start and when it changes):
    /// shown on its tile until its stream's first frame.
    Picture {
        /// Camera serial.
        serial: String,
        /// The image (JPEG), as sent.
        data: Vec<u8>,
        /// Its MIME type.
        mime: String,
    },
    /// A detection event (motion, person, doorbell ring, …), for any camera the server has.
    Detection {
        /// Camera serial.
        serial: String,
        /// What.
        kind: DetectionKind,
        /// True when it starts, false when it ends.
        state: bool,
        /// The recognised person, when the server names one.
        person: Option<String>,
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
    /// What a camera can do besides streaming (from `device.get_commands`, the bridge's
    /// `capabilities`), once per session.
    Capabilities {
        /// Camera.
        serial: String,
        /// What it can do.
        caps: Capabilities,
    },
    /// What came of a [`SessionControl::Ptz`] or [`SessionControl::Reply`].
    Done {
        /// Camera.
        serial: String,
        /// What was asked, in words (`left`, `preset 2`, `quick reply 1`).
        what: String,
        /// Carried out, or why not.
        outcome: Result<(), String>,
    },
    /// Where a talk back ([`SessionControl::Talk`]) is.
    Talk {
        /// Camera.
        serial: String,
        /// Its state.
        state: crate::talk::TalkState,
    },
    /// The connection was lost; the session reconnects after `delay`.
    Reconnecting {
        /// Why the connection was lost.
        reason: String,
        /// Wait before the next try.
        delay: Duration,
    },
}

/// What a camera can do besides streaming.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Talk back (`deviceStartTalkback`).
    pub talk: bool,
    /// Pan and tilt steps (`devicePanAndTilt`; the bridge's `ptz`).
    pub ptz: bool,
    /// The 360° sweep (eufy-security-ws only).
    pub sweep: bool,
    /// Presets 1–4 (`devicePresetPosition`, schema 21; the bridge's `ptz`).
    pub presets: bool,
    /// A doorbell's quick replies: voice id and description.
    pub replies: Vec<(u64, String)>,
}

impl Capabilities {
    /// Whether it can do anything beyond streaming.
    pub fn any(&self) -> bool {
        self.talk || self.ptz || self.presets || !self.replies.is_empty()
    }
}

/// What the owner of a running session may ask of it ([`run_session_with`]).
#[derive(Debug)]
pub enum SessionControl {
    /// Stream only these of the session's cameras; the others are stopped and wait (a wall's
    /// hidden pages). Until the first `Want`, every camera is wanted.
    Want(Vec<String>),
    /// Stop a streaming camera and start it again (its picture froze).
    Restart {
        /// Camera.
        serial: String,
        /// Why, for the log and its tile.
        reason: String,
    },
    /// One pan/tilt step, a sweep or a preset, on this session's connection.
    Ptz {
        /// Camera.
        serial: String,
        /// What to do.
        action: Ptz,
    },
    /// Play a doorbell's quick reply.
    Reply {
        /// Doorbell.
        serial: String,
        /// The voice id (from [`Capabilities::replies`]).
        voice: u64,
    },
    /// Talk to camera `serial` with this sound until it ends (the channel closes): its
    /// livestream is started (and kept) for it, the talk back started when the camera streams
    /// and again after a cut, frames sent one per [`crate::talk::FRAME_INTERVAL`]. A new
    /// `Talk` replaces the one before. Reported as [`SessionEvent::Talk`].
    Talk {
        /// Camera.
        serial: String,
        /// ADTS frames (16 kHz mono AAC-LC, 1024 samples each).
        audio: crate::talk::TalkAudio,
    },
}

/// The owner's end of [`SessionControl`]: unbounded, because the owner (the window's event
/// loop) must never wait; it sends only on a change.
pub type ControlReceiver = mpsc::UnboundedReceiver<SessionControl>;

/// Why a session failed or a connection was lost.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Could not open the WebSocket.
    #[error(
        "cannot connect to the camera server at {url}: {source}{}",
        advice_suffix(source)
    )]
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
    /// A request got no answer in time.
    #[error("the server at {url} did not answer {what} within {secs:.0} s")]
    Timeout {
        /// The URL.
        url: String,
        /// What we waited for.
        what: String,
        /// How long.
        secs: f64,
    },
    /// Nothing at all came from the server (not even a pong) for too long.
    #[error("the server at {url} sent nothing, not even a pong, for {secs:.0} s")]
    Silent {
        /// The URL.
        url: String,
        /// How long.
        secs: f64,
    },
    /// The server was not ready (unreachable, logging in, cameras not listed) in time.
    #[error("the server at {url} was not ready within {secs:.0} s: {why} (is it still logging in to the Eufy cloud, waiting for 2FA or a captcha? see its log, or `eufy-hw login` for the Eufy Mega bridge; --wait-server sets how long to wait)")]
    NotReady {
        /// The URL.
        url: String,
        /// How long we waited.
        secs: f64,
        /// What was missing.
        why: String,
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
    /// The stream ended (and restarts are off).
    #[error("livestream of {0} stopped")]
    StreamStopped(String),
    /// The Eufy Mega bridge failed or refused (lost, silent, an unreadable answer).
    #[error("the Eufy Mega bridge at {url}: {reason}")]
    Bridge {
        /// The URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// The bridge speaks a WebSocket schema this client does not.
    #[error("the Eufy Mega bridge at {url} speaks WebSocket schema {schema}; eufy-hw speaks schema 1: update eufy-hw, or run a bridge release of schema 1")]
    BridgeSchema {
        /// The URL.
        url: String,
        /// What its `hello` said.
        schema: u64,
    },
    /// The server is neither eufy-security-ws nor the bridge.
    #[error("{url} is not eufy-security-ws nor the Eufy Mega bridge: {what} (eufy-security-ws sends {{\"type\":\"version\",…}} and the bridge {{\"event\":\"hello\",…}} first; check --url, or say which with --backend)")]
    UnknownServer {
        /// The URL.
        url: String,
        /// What it sent, or that it sent nothing.
        what: String,
    },
    /// A camera cannot do what it was asked (no such command, refused, schema too old).
    #[error("camera {serial} cannot do {what}: {why}")]
    Unable {
        /// The camera.
        serial: String,
        /// What was asked.
        what: String,
        /// Why not.
        why: String,
    },
    /// A camera's stream failed (and restarts are off).
    #[error("camera {serial}: {reason}")]
    Camera {
        /// The camera.
        serial: String,
        /// What went wrong.
        reason: String,
    },
}

impl SessionError {
    /// What to change when no retry can mend it (a URL of the wrong scheme or no valid host,
    /// a TLS certificate refused); `None` for everything else.
    pub fn misconfigured(&self) -> Option<&'static str> {
        match self {
            SessionError::Connect { source, .. } => connect_advice(source),
            _ => None,
        }
    }

    /// Whether another connection attempt may succeed (a misconfigured URL: only once it
    /// is fixed, see [`SessionError::misconfigured`]).
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            SessionError::SchemaTooOld { .. }
                | SessionError::UnknownCamera { .. }
                | SessionError::NotReady { .. }
                | SessionError::BridgeSchema { .. }
                | SessionError::UnknownServer { .. }
                | SessionError::Unable { .. }
        ) && !matches!(self, SessionError::Refused { code, .. } if code == codes::NOT_SUPPORTED || code == codes::UNKNOWN_COMMAND)
    }
}

/// Advice for a connection error no retry can mend.
fn connect_advice(e: &tokio_tungstenite::tungstenite::Error) -> Option<&'static str> {
    use tokio_tungstenite::tungstenite::error::UrlError;
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::Url(UrlError::UnsupportedUrlScheme) => Some(
            "use ws://HOST:3000 for eufy-security-ws or ws://HOST:3000/ws for the Eufy Mega bridge; wss:// with TLS",
        ),
        Error::Url(UrlError::NoHostName | UrlError::EmptyHostName) | Error::HttpFormat(_) => {
            Some("the URL has no valid host: ws://HOST:3000, HOST a name or an address")
        }
        Error::Io(io) => {
            let refused = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)));
            refused.then_some(
                "its TLS certificate is not trusted: SSL_CERT_FILE=ca.pem for a private CA, or ws:// where the server has no TLS",
            )
        }
        _ => None,
    }
}

fn advice_suffix(e: &tokio_tungstenite::tungstenite::Error) -> String {
    connect_advice(e).map_or_else(String::new, |a| format!(" ({a})"))
}

/// How long a viewer waits before trying a URL that cannot work again (the file may have
/// been fixed); a boot unit's viewer keeps running and says why on every tile.
pub const MISCONFIGURED_RETRY: Duration = Duration::from_secs(60);

/// For a connection that failed with `err`: `None` to give up now (a one-off command, or
/// no reconnecting), else the wait before the next try, at least `delay` (slowly for a
/// URL that cannot work).
pub(crate) fn retry_after(
    config: &SessionConfig,
    err: &SessionError,
    delay: Duration,
) -> Option<Duration> {
    if !config.reconnect || !err.is_transient() {
        return None;
    }
    match err.misconfigured() {
        Some(_) if config.wait_server.is_some() => None,
        Some(_) => Some(delay.max(MISCONFIGURED_RETRY)),
        None => Some(delay),
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

/// A client WebSocket, plain or TLS.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a WebSocket to `config.url` with the session's message limits.
pub async fn connect(
    config: &SessionConfig,
) -> Result<
    (
        Ws,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    tokio_tungstenite::tungstenite::Error,
> {
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(config.max_message))
        .max_frame_size(Some(config.max_message));
    tokio_tungstenite::connect_async_with_config(config.url.as_str(), Some(ws_config), true).await
}

/// How often the state is asked for again while the server logs in (events may be missed).
const REFRESH_WHILE_LOGGING_IN: Duration = Duration::from_secs(5);

/// The most serials kept from `device added` events (a home has a few dozen at most).
const MAX_LISTED: usize = 1024;

/// After the server finishes logging in, how long it may take to list every camera before a
/// camera it does not list is an error (`device added` events follow the login).
const LISTING_GRACE: Duration = Duration::from_secs(10);

/// The error to give up with when `config.wait_server` has run out, or would during
/// `ahead` more waiting, since `begun` (`None`: go on trying); `why` is what was missing.
pub(crate) fn past_wait(
    config: &SessionConfig,
    begun: std::time::Instant,
    ahead: Duration,
    why: &dyn std::fmt::Display,
) -> Option<SessionError> {
    let wait = config.wait_server?;
    (begun.elapsed() + ahead >= wait).then(|| SessionError::NotReady {
        url: config.url.clone(),
        secs: wait.as_secs_f64(),
        why: why.to_string(),
    })
}

/// What one session remembers across its connections.
struct Memory {
    /// When the session began (for `wait_server`).
    begun: std::time::Instant,
    /// A connection found the server ready at least once.
    was_ready: bool,
    /// Names and stations learnt, by serial.
    devices: HashMap<String, DeviceInfo>,
    /// The cameras the owner wants streamed (`None`: all).
    wanted: Option<Vec<String>>,
    /// A connection already open (the backend's probe), with the first message it read:
    /// the first handshake uses it instead of connecting again.
    opened: Option<Opened>,
    /// The talk back asked for, kept across reconnections.
    talk: Option<TalkJob>,
    /// Cameras whose capabilities were told.
    told_caps: std::collections::HashSet<String>,
}

impl Memory {
    /// A session's start (on a connection already open, when given).
    fn new(opened: Option<Opened>) -> Memory {
        Memory {
            begun: std::time::Instant::now(),
            was_ready: false,
            devices: HashMap::new(),
            wanted: None,
            opened,
            talk: None,
            told_caps: Default::default(),
        }
    }
}

/// A WebSocket the backend seam opened to find out which server it is, with the first
/// text message it read (eufy-security-ws's `version`, the bridge's `hello`).
pub struct Opened {
    /// The socket.
    pub ws: Ws,
    /// Its first text message.
    pub first: String,
}

/// Runs a session until `shutdown` (then stops the streams cleanly and returns Ok), or until
/// an error another try cannot fix (or any loss, without `reconnect`).
pub async fn run_session(
    config: SessionConfig,
    events: mpsc::Sender<SessionEvent>,
    shutdown: Shutdown,
) -> Result<(), SessionError> {
    run_controlled(config, events, shutdown, None, None).await
}

/// [`run_session`], with the owner choosing which cameras stream and restarting frozen ones
/// while it runs.
pub async fn run_session_with(
    config: SessionConfig,
    events: mpsc::Sender<SessionEvent>,
    shutdown: Shutdown,
    control: ControlReceiver,
) -> Result<(), SessionError> {
    run_controlled(config, events, shutdown, Some(control), None).await
}

/// [`run_session_with`] (control optional) on a connection the backend seam already opened.
pub async fn run_opened(
    config: SessionConfig,
    events: mpsc::Sender<SessionEvent>,
    shutdown: Shutdown,
    control: Option<ControlReceiver>,
    opened: Opened,
) -> Result<(), SessionError> {
    run_controlled(config, events, shutdown, control, Some(opened)).await
}

async fn run_controlled(
    config: SessionConfig,
    events: mpsc::Sender<SessionEvent>,
    mut stop: Shutdown,
    mut control: Option<ControlReceiver>,
    opened: Option<Opened>,
) -> Result<(), SessionError> {
    let mut delay = config.backoff_min;
    let mut memory = Memory::new(opened);
    loop {
        let mut conn = Connection::new(&config, &events, &mut memory);
        let mut stop_during = stop.clone();
        let outcome = tokio::select! {
            r = conn.run(&mut stop, &mut control) => r,
            _ = stop_during.wait() => Ok(()),
        };
        if stop.is_triggered() {
            conn.shutdown().await;
            return Ok(());
        }
        let err = match outcome {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let Some(wait) = retry_after(&config, &err, delay) else {
            conn.shutdown().await;
            return Err(err);
        };
        let streamed = conn.streamed;
        drop(conn);
        if !memory.was_ready {
            if let Some(e) = past_wait(&config, memory.begun, Duration::ZERO, &err) {
                return Err(e);
            }
        }
        if streamed {
            delay = config.backoff_min;
        }
        let wait = if err.misconfigured().is_some() {
            wait
        } else {
            delay
        };
        tracing::warn!("{err}; reconnecting in {:.1} s", wait.as_secs_f64());
        let _ = events
            .send(SessionEvent::Reconnecting {
                reason: err.to_string(),
                delay: wait,
            })
            .await;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait() => return Ok(()),
        }
        delay = (delay * 2).min(config.backoff_max);
    }
}

/// The cameras the server at `config.url` lists, with their names, stations and models:
/// connects, waits for the server to log in (up to `config.wait_server`; for ever when
/// `None`), asks `device.get_properties` of each, and closes.
pub async fn list_cameras(config: &SessionConfig) -> Result<Vec<DeviceInfo>, SessionError> {
    let config = SessionConfig {
        serials: Vec::new(),
        ..config.clone()
    };
    let (tx, mut rx) = mpsc::channel(64);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let mut memory = Memory::new(None);
    let mut delay = config.backoff_min;
    let listed = loop {
        let mut conn = Connection::new(&config, &tx, &mut memory);
        let listed = conn.list().await;
        conn.shutdown().await;
        match listed {
            // A server not up yet (at boot): tried again until `wait_server`.
            Err(e) if e.is_transient() && e.misconfigured().is_none() => {
                if let Some(gone) = past_wait(&config, memory.begun, delay, &e) {
                    break Err(gone);
                }
                tracing::warn!("{e}; trying again in {:.1} s", delay.as_secs_f64());
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(config.backoff_max);
            }
            other => break other,
        }
    };
    drop(tx);
    let _ = drain.await;
    listed
}

/// The id prefix of `device.talkback_audio_data` commands (their results are not awaited).
const TALK_DATA_ID: &str = "talk-";

/// The first schema with `device.pan_and_tilt` and `device.get_commands`.
pub const PTZ_SCHEMA: u32 = 3;
/// The first schema with `device.preset_position`.
pub const PRESET_SCHEMA: u32 = 21;

/// Asks camera `serial` to carry out `action` once (`eufy-hw ptz`): connects, checks with
/// `device.get_commands` that the camera can, sends the command, closes. Presets are 1–4
/// for people, `position` 0–3 on the wire.
pub async fn act(config: &SessionConfig, serial: &str, action: Ptz) -> Result<(), SessionError> {
    one_shot(config, async |conn: &mut Connection<'_>| {
        conn.ptz(serial, action).await
    })
    .await
}

/// A doorbell's quick replies (`device.get_voices`: id and description), and with `voice`
/// that reply played at the door (`device.quick_response`; no livestream needed).
pub async fn quick_reply(
    config: &SessionConfig,
    serial: &str,
    voice: Option<u64>,
) -> Result<Vec<(u64, String)>, SessionError> {
    one_shot(config, async |conn: &mut Connection<'_>| {
        conn.quick_reply(serial, voice).await
    })
    .await
}

/// One connection for one job: handshake done by the job, closed after it.
async fn one_shot<T>(
    config: &SessionConfig,
    job: impl AsyncFnOnce(&mut Connection<'_>) -> Result<T, SessionError>,
) -> Result<T, SessionError> {
    let config = SessionConfig {
        serials: Vec::new(),
        ..config.clone()
    };
    let (tx, mut rx) = mpsc::channel(64);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let mut memory = Memory::new(None);
    let mut conn = Connection::new(&config, &tx, &mut memory);
    let done = job(&mut conn).await;
    conn.shutdown().await;
    drop(conn);
    drop(tx);
    let _ = drain.await;
    done
}

/// The owner's next request; pending for ever when there is no owner (or it has gone).
pub(crate) async fn next_control(control: &mut Option<ControlReceiver>) -> Option<SessionControl> {
    let Some(rx) = control.as_mut() else {
        return std::future::pending().await;
    };
    let next = rx.recv().await;
    if next.is_none() {
        *control = None;
    }
    next
}

struct Connection<'a> {
    config: &'a SessionConfig,
    events: &'a mpsc::Sender<SessionEvent>,
    memory: &'a mut Memory,
    ws: Option<Ws>,
    next_id: u64,
    /// Results that arrived while we waited for another one.
    early: HashMap<String, CommandResult>,
    /// Which camera streams when.
    schedule: Scheduler,
    /// The server has finished logging in (`driver.connected`).
    server_ready: bool,
    /// Since when its device list is complete (see [`LISTING_GRACE`]).
    listing_final_at: Option<std::time::Instant>,
    /// The server said it was logging in.
    saw_logging_in: bool,
    /// Serials the server lists.
    listed: Vec<String>,
    /// When the last message of any kind arrived (pongs included).
    last_msg: Instant,
    /// Whether any video arrived on this connection (resets the backoff).
    streamed: bool,
    /// `driver connected` arrived; acted on outside the event handler.
    server_ready_pending: bool,
    /// Dropped messages are all counted; logged at most once a minute.
    drop_warnings: crate::throttle::Throttle,
    /// The first message, read by the backend's probe on the socket it handed over.
    replay: Option<String>,
    /// The schema agreed on (0 before the handshake).
    schema: u32,
    /// Shutting down: the streams' ends are ours, not cuts to mend.
    closing: bool,
}

impl<'a> Connection<'a> {
    fn new(
        config: &'a SessionConfig,
        events: &'a mpsc::Sender<SessionEvent>,
        memory: &'a mut Memory,
    ) -> Self {
        if let Some(job) = memory.talk.as_mut() {
            job.on_reconnect();
        }
        Connection {
            config,
            events,
            memory,
            ws: None,
            next_id: 0,
            early: HashMap::new(),
            schedule: Scheduler::new(config.schedule(), &config.serials),
            server_ready: false,
            listing_final_at: None,
            saw_logging_in: false,
            listed: Vec::new(),
            last_msg: Instant::now(),
            streamed: false,
            server_ready_pending: false,
            drop_warnings: Default::default(),
            replay: None,
            schema: 0,
            closing: false,
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

    async fn run(
        &mut self,
        stop: &mut Shutdown,
        control: &mut Option<ControlReceiver>,
    ) -> Result<(), SessionError> {
        self.handshake().await?;
        // 4. stream, as the schedule says.
        self.stream(stop, control).await
    }

    async fn ptz(&mut self, serial: &str, action: Ptz) -> Result<(), SessionError> {
        self.handshake().await?;
        self.ptz_now(serial, action).await
    }

    /// [`Self::ptz`] on a connection already made.
    async fn ptz_now(&mut self, serial: &str, action: Ptz) -> Result<(), SessionError> {
        let (need, capability, name, args) = match action {
            Ptz::Move(d) => (
                PTZ_SCHEMA,
                "devicePanAndTilt",
                "device.pan_and_tilt",
                json!({ "serialNumber": serial, "direction": d.ws_code() }),
            ),
            Ptz::Sweep => (
                PTZ_SCHEMA,
                "devicePanAndTilt",
                "device.pan_and_tilt",
                json!({ "serialNumber": serial, "direction": 0 }),
            ),
            Ptz::Preset(n) => (
                PRESET_SCHEMA,
                "devicePresetPosition",
                "device.preset_position",
                json!({ "serialNumber": serial, "position": n.saturating_sub(1) }),
            ),
        };
        let unable = |why: String| SessionError::Unable {
            serial: serial.to_owned(),
            what: action.to_string(),
            why,
        };
        if self.schema < need {
            return Err(unable(format!(
                "eufy-security-ws speaks schema {} here; this needs {need} (upgrade the server)",
                self.schema
            )));
        }
        let got = self
            .request(
                "device.get_commands",
                json!({ "serialNumber": serial }),
                serial,
            )
            .await?;
        let commands: Vec<&str> = got
            .get("commands")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !commands.contains(&capability) {
            return Err(unable(format!(
                "it has no {capability} command (its commands: {})",
                if commands.is_empty() {
                    "none".to_owned()
                } else {
                    commands.join(", ")
                }
            )));
        }
        match self.request(name, args, serial).await {
            Ok(_) => Ok(()),
            Err(SessionError::Refused { code, .. }) if code == codes::NOT_SUPPORTED => Err(unable(
                "the camera refused it (device_not_supported)".to_owned(),
            )),
            Err(e) => Err(e),
        }
    }

    async fn quick_reply(
        &mut self,
        serial: &str,
        voice: Option<u64>,
    ) -> Result<Vec<(u64, String)>, SessionError> {
        self.handshake().await?;
        self.quick_reply_now(serial, voice).await
    }

    /// [`Self::quick_reply`] on a connection already made.
    async fn quick_reply_now(
        &mut self,
        serial: &str,
        voice: Option<u64>,
    ) -> Result<Vec<(u64, String)>, SessionError> {
        let got = self
            .request(
                "device.get_voices",
                json!({ "serialNumber": serial }),
                serial,
            )
            .await?;
        let mut voices: Vec<(u64, String)> = got
            .get("voices")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        let id = v
                            .get("voice_id")
                            .and_then(Value::as_u64)
                            .or_else(|| k.parse().ok())?;
                        let desc = v.get("desc").and_then(Value::as_str).unwrap_or("");
                        Some((id, desc.to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        voices.sort();
        let Some(voice) = voice else {
            return Ok(voices);
        };
        if !voices.iter().any(|(id, _)| *id == voice) {
            return Err(SessionError::Unable {
                serial: serial.to_owned(),
                what: format!("quick reply {voice}"),
                why: format!(
                    "it has no such reply (its replies: {})",
                    voices
                        .iter()
                        .map(|(id, d)| format!("{id} {d:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        self.request(
            "device.quick_response",
            json!({ "serialNumber": serial, "voiceId": voice }),
            serial,
        )
        .await?;
        Ok(voices)
    }

    /// Carries out what the owner asked.
    async fn on_control(&mut self, c: SessionControl) {
        let now = std::time::Instant::now();
        match c {
            SessionControl::Talk { serial, audio } => self.talk_begin(serial, audio).await,
            SessionControl::Ptz { serial, action } => {
                let outcome = self.ptz_now(&serial, action).await;
                self.done(serial, action.to_string(), outcome).await;
            }
            SessionControl::Reply { serial, voice } => {
                let outcome = self.quick_reply_now(&serial, Some(voice)).await.map(|_| ());
                self.done(serial, format!("quick reply {voice}"), outcome)
                    .await;
            }
            SessionControl::Want(list) => {
                self.apply_wanted(&list, now);
                self.memory.wanted = Some(list);
            }
            SessionControl::Restart { serial, reason } => {
                tracing::info!(camera = %serial, "{reason}: restarting its stream");
                self.schedule.restart(&serial, &reason, now);
            }
        }
    }

    fn apply_wanted(&mut self, list: &[String], now: std::time::Instant) {
        let talking = self.memory.talk.as_ref().map(|j| j.serial.as_str());
        for serial in &self.config.serials {
            let wanted = list.contains(serial) || talking == Some(serial.as_str());
            self.schedule.set_wanted(serial, wanted, now);
        }
    }

    /// Reports what came of an owner's request; a lost connection is the session's to mend.
    async fn done(&mut self, serial: String, what: String, outcome: Result<(), SessionError>) {
        let outcome = outcome.map_err(|e| match e {
            SessionError::Unable { why, .. } => why,
            SessionError::Refused { code, hint, .. } => format!("refused ({code}): {hint}"),
            other => other.to_string(),
        });
        match &outcome {
            Ok(()) => tracing::info!(camera = %serial, "{what}: done"),
            Err(why) => tracing::warn!(camera = %serial, "{what}: {why}"),
        }
        let _ = self
            .events
            .send(SessionEvent::Done {
                serial,
                what,
                outcome,
            })
            .await;
    }

    /// What camera `serial` can do (`device.get_commands`, and a doorbell's voices), told
    /// once per session.
    async fn capabilities(&mut self, serial: &str) -> Result<(), SessionError> {
        if self.schema < PTZ_SCHEMA || self.memory.told_caps.contains(serial) {
            return Ok(());
        }
        let args = json!({ "serialNumber": serial });
        let commands: Vec<String> = match self.request("device.get_commands", args, serial).await {
            Ok(v) => v
                .get("commands")
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            Err(e @ SessionError::Refused { .. }) => {
                tracing::debug!(camera = %serial, "no commands: {e}");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let has = |c: &str| commands.iter().any(|x| x == c);
        let mut caps = Capabilities {
            talk: has("deviceStartTalkback") && self.schema >= TALK_SCHEMA,
            ptz: has("devicePanAndTilt"),
            sweep: has("devicePanAndTilt"),
            presets: has("devicePresetPosition") && self.schema >= PRESET_SCHEMA,
            replies: Vec::new(),
        };
        if has("deviceQuickResponse") {
            match self.quick_reply_now(serial, None).await {
                Ok(voices) => caps.replies = voices,
                Err(e @ SessionError::Refused { .. }) => {
                    tracing::debug!(camera = %serial, "no voices: {e}")
                }
                Err(e) => return Err(e),
            }
        }
        self.memory.told_caps.insert(serial.to_owned());
        tracing::info!(camera = %serial, ?caps, "capabilities");
        let _ = self
            .events
            .send(SessionEvent::Capabilities {
                serial: serial.to_owned(),
                caps,
            })
            .await;
        Ok(())
    }

    /// A talk back to `serial`: its livestream wanted, the talk back started once it runs.
    async fn talk_begin(&mut self, serial: String, audio: TalkAudio) {
        if self.memory.talk.is_some() {
            self.talk_finish(true, None).await;
        }
        let refuse = if !self.config.serials.contains(&serial) {
            Some(format!("{serial} is not one of this session's cameras"))
        } else if self.schema < TALK_SCHEMA {
            Some(format!(
                "eufy-security-ws speaks schema {} here; talk back needs {TALK_SCHEMA} (upgrade the server)",
                self.schema
            ))
        } else {
            None
        };
        if let Some(why) = refuse {
            self.talk_report(&serial, TalkState::Failed(why)).await;
            return;
        }
        let now = std::time::Instant::now();
        let mut job = TalkJob::new(serial.clone(), audio, self.config.start_timeout, now);
        if self.schedule.is_live(&serial) {
            job.on_live();
        }
        self.memory.talk = Some(job);
        self.schedule.set_wanted(&serial, true, now);
        self.talk_report(&serial, TalkState::Waiting).await;
    }

    async fn talk_report(&self, serial: &str, state: TalkState) {
        match &state {
            TalkState::Failed(_) => tracing::warn!(camera = %serial, "{}", state.describe()),
            _ => tracing::info!(camera = %serial, "{}", state.describe()),
        }
        let _ = self
            .events
            .send(SessionEvent::Talk {
                serial: serial.to_owned(),
                state,
            })
            .await;
    }

    /// Ends the talk back: stopped on the server when `stop`, `state` reported (`None`: the
    /// frames sent), the camera's stream wanted as the owner wants it again.
    async fn talk_finish(&mut self, stop: bool, state: Option<TalkState>) {
        let Some(job) = self.memory.talk.as_ref() else {
            return;
        };
        let (serial, frames) = (job.serial.clone(), job.frames);
        if stop {
            let args = json!({ "serialNumber": serial });
            if let Err(e) = self.request("device.stop_talkback", args, &serial).await {
                tracing::debug!(camera = %serial, "stop_talkback: {e}");
            }
        }
        let state = state.unwrap_or(TalkState::Ended { frames });
        self.talk_drop(&serial, state).await;
    }

    /// The talk back is over with `state` (nothing to stop on the server).
    async fn talk_drop(&mut self, serial: &str, state: TalkState) {
        self.memory.talk = None;
        self.talk_report(serial, state).await;
        if let Some(list) = self.memory.wanted.clone() {
            self.apply_wanted(&list, std::time::Instant::now());
        }
    }

    /// The talk back's due work: its start when the camera streams, the frame of this tick,
    /// its end.
    async fn talk_act(&mut self) -> Result<(), SessionError> {
        let now = std::time::Instant::now();
        let Some(job) = self.memory.talk.as_mut() else {
            return Ok(());
        };
        let serial = job.serial.clone();
        if job.take_due(now) {
            self.talk_report(&serial, TalkState::Starting).await;
            let args = json!({ "serialNumber": serial });
            match self.request("device.start_talkback", args, &serial).await {
                Ok(_) => {}
                Err(SessionError::Refused { code, .. }) => {
                    let schema = self.schema;
                    match self
                        .memory
                        .talk
                        .as_mut()
                        .and_then(|j| j.on_refused(&code, schema))
                    {
                        Some(s @ TalkState::Failed(_)) => self.talk_drop(&serial, s).await,
                        Some(s) => self.talk_report(&serial, s).await,
                        None => {}
                    }
                }
                Err(e) => return Err(e),
            }
        }
        loop {
            let Some(job) = self.memory.talk.as_mut() else {
                return Ok(());
            };
            match job.tick(now) {
                Tick::Idle => return Ok(()),
                Tick::Send(frame) => {
                    self.next_id += 1;
                    let id = format!("{TALK_DATA_ID}{}", self.next_id);
                    let args = json!({ "serialNumber": serial, "buffer": frame });
                    self.send(command(&id, "device.talkback_audio_data", args))
                        .await?;
                }
                Tick::Finish { stop, state } => {
                    let state = (!matches!(state, TalkState::Ended { .. })).then_some(state);
                    self.talk_finish(stop, state).await;
                    return Ok(());
                }
            }
        }
    }

    /// A talk back event or a stream's end for `serial`, handed to the talk back.
    async fn talk_on(
        &mut self,
        serial: &str,
        what: impl FnOnce(&mut TalkJob) -> Option<TalkState>,
    ) {
        let Some(job) = self.memory.talk.as_mut().filter(|j| j.serial == serial) else {
            return;
        };
        match what(job) {
            Some(s @ TalkState::Failed(_)) => self.talk_drop(serial, s).await,
            Some(s) => self.talk_report(serial, s).await,
            None => {}
        }
    }

    /// Connects: the WebSocket, `version`, the schema, `start_listening`.
    async fn handshake(&mut self) -> Result<(), SessionError> {
        let deadline = Instant::now() + self.config.request_timeout;
        if let Some(opened) = self.memory.opened.take() {
            self.ws = Some(opened.ws);
            self.replay = Some(opened.first);
        } else {
            let (ws, _) = timeout_at(deadline, connect(self.config))
                .await
                .map_err(|_| self.timeout("the WebSocket handshake"))?
                .map_err(|e| SessionError::Connect {
                    url: self.url(),
                    source: Box::new(e),
                })?;
            self.ws = Some(ws);
        }

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
        // 2. schema, 3. listening (and whether the server has logged in).
        self.request("set_api_schema", json!({ "schemaVersion": schema }), "")
            .await?;
        self.schema = schema;
        self.refresh_state().await?;
        tracing::info!(
            server = %version.server_version, schema, devices = ?self.listed,
            logged_in = self.server_ready,
            "connected to eufy-security-ws at {}", self.config.url
        );
        let _ = self
            .events
            .send(SessionEvent::Connected {
                server_version: version.server_version.clone(),
                schema,
                devices: self.listed.clone(),
            })
            .await;
        Ok(())
    }

    /// Every camera the server lists, once it has logged in (waiting up to `wait_server`),
    /// with what `device.get_properties` says of each.
    async fn list(&mut self) -> Result<Vec<DeviceInfo>, SessionError> {
        self.handshake().await?;
        let mut refresh_at = Instant::now() + REFRESH_WHILE_LOGGING_IN;
        while !self.server_ready {
            if std::mem::take(&mut self.server_ready_pending) {
                self.refresh_state().await?;
                break;
            }
            if let Some(wait) = self.config.wait_server {
                if self.memory.begun.elapsed() >= wait {
                    return Err(self.not_ready(wait));
                }
            }
            if Instant::now() >= refresh_at {
                self.refresh_state().await?;
                refresh_at = Instant::now() + REFRESH_WHILE_LOGGING_IN;
                continue;
            }
            match self.read_until(refresh_at, "events while logging in").await {
                Ok(ServerMessage::Event(ev)) => self.on_event(ev).await?,
                Ok(_) | Err(SessionError::Timeout { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let mut out = Vec::new();
        for serial in self.listed.clone() {
            let args = json!({ "serialNumber": serial });
            let info = match self.request("device.get_properties", args, &serial).await {
                Ok(v) => DeviceInfo::from_json(v.get("properties").unwrap_or(&v), Some(&serial)),
                Err(SessionError::Refused { .. }) => None,
                Err(e) => return Err(e),
            };
            out.push(info.unwrap_or(DeviceInfo {
                serial,
                ..DeviceInfo::default()
            }));
        }
        Ok(out)
    }

    /// `start_listening`: the server's state. Learns whether it has logged in and which
    /// cameras it lists; a camera it does not list while logged in is an error.
    async fn refresh_state(&mut self) -> Result<(), SessionError> {
        let state = self.request("start_listening", json!({}), "").await?;
        self.listed = known_devices(&state);
        for info in device_infos(&state) {
            self.learn(info).await;
        }
        let now = std::time::Instant::now();
        // Servers that do not say are taken as logged in.
        let ready = state
            .pointer("/state/driver/connected")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        for serial in self.listed.clone() {
            self.schedule.on_listed(&serial, now);
        }
        if ready {
            if self.listing_final() {
                for serial in &self.config.serials {
                    if !self.listed.is_empty() && !self.listed.contains(serial) {
                        return Err(self.unknown(serial));
                    }
                }
            }
            // Logged in when we came: the list is complete now. Just logged in: give the
            // server time to announce its devices.
            let final_at = if self.saw_logging_in {
                now + LISTING_GRACE
            } else {
                now
            };
            self.listing_final_at.get_or_insert(final_at);
            self.set_ready().await?;
        } else {
            self.saw_logging_in = true;
        }
        Ok(())
    }

    /// Whether a camera the server does not list is unknown to it, rather than not yet
    /// announced.
    fn listing_final(&self) -> bool {
        self.listing_final_at
            .is_some_and(|t| std::time::Instant::now() >= t)
    }

    /// The server has logged in: learn the cameras' stations, then let them start.
    async fn set_ready(&mut self) -> Result<(), SessionError> {
        if self.server_ready {
            return Ok(());
        }
        self.server_ready = true;
        self.listing_final_at
            .get_or_insert(std::time::Instant::now() + LISTING_GRACE);
        self.memory.was_ready = true;
        for serial in self.config.serials.clone() {
            self.properties(&serial).await?;
        }
        self.schedule.set_server_ready(std::time::Instant::now());
        for serial in self.config.serials.clone() {
            self.capabilities(&serial).await?;
        }
        Ok(())
    }

    /// `device.get_properties` for a camera whose station is not known yet. Servers or
    /// cameras that cannot say leave the camera on a station of its own.
    async fn properties(&mut self, serial: &str) -> Result<(), SessionError> {
        if self
            .memory
            .devices
            .get(serial)
            .is_some_and(|d| d.station.is_some())
        {
            let info = self.memory.devices[serial].clone();
            self.apply(&info);
            return Ok(());
        }
        let args = json!({ "serialNumber": serial });
        match self.request("device.get_properties", args, serial).await {
            Ok(v) => {
                let props = v.get("properties").unwrap_or(&v);
                if let Some(info) = DeviceInfo::from_json(props, Some(serial)) {
                    self.learn(info).await;
                }
                let picture = props
                    .get(protocol::PICTURE)
                    .and_then(|p| protocol::picture_of(p, None));
                if let Some((data, mime)) = picture {
                    self.picture(serial.to_owned(), data, mime).await;
                }
                Ok(())
            }
            Err(e @ SessionError::Refused { .. }) => {
                tracing::debug!(camera = %serial, "no properties: {e}");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Remembers what the server says of a camera, and tells the owner about ours.
    async fn learn(&mut self, info: DeviceInfo) {
        if !self.config.serials.contains(&info.serial) {
            return;
        }
        let known = self.memory.devices.get(&info.serial).cloned();
        let known = known.as_ref();
        let merged = DeviceInfo {
            name: info.name.or_else(|| known.and_then(|k| k.name.clone())),
            station: info
                .station
                .or_else(|| known.and_then(|k| k.station.clone())),
            model: info.model.or_else(|| known.and_then(|k| k.model.clone())),
            serial: info.serial,
        };
        self.apply(&merged);
        if known != Some(&merged) {
            tracing::info!(
                camera = %merged.serial,
                name = merged.name.as_deref().unwrap_or("?"),
                station = merged.station.as_deref().unwrap_or("?"),
                "camera"
            );
            self.memory
                .devices
                .insert(merged.serial.clone(), merged.clone());
            let _ = self.events.send(SessionEvent::Camera(merged)).await;
        }
    }

    fn apply(&mut self, info: &DeviceInfo) {
        if let Some(station) = &info.station {
            self.schedule.set_station(&info.serial, station);
        }
    }

    fn unknown(&self, serial: &str) -> SessionError {
        SessionError::UnknownCamera {
            serial: serial.to_owned(),
            url: self.url(),
            known: if self.listed.is_empty() {
                "none".into()
            } else {
                self.listed.join(", ")
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
        if let Some(first) = self.replay.take() {
            if let Some(m) = self.parse(Message::Text(first.into())).await? {
                return Ok(m);
            }
        }
        loop {
            let ws = self.ws_mut()?;
            let msg = match timeout_at(deadline, ws.next()).await {
                Err(_) => return Err(self.timeout(what)),
                Ok(None) => return Err(self.lost("the server closed the connection")),
                Ok(Some(Err(e))) => return Err(self.lost(e.to_string())),
                Ok(Some(Ok(m))) => m,
            };
            match self.parse(msg).await? {
                Some(m) => return Ok(m),
                None => continue,
            }
        }
    }

    /// Parses one WebSocket message; `None` for control frames, video (handed over at once)
    /// and dropped garbage.
    async fn parse(&mut self, msg: Message) -> Result<Option<ServerMessage>, SessionError> {
        let received_at = std::time::Instant::now();
        self.last_msg = Instant::from_std(received_at);
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
                if self.schedule.on_video(&m.serial, received_at) {
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
                    tracing::trace!(serial = %m.serial, "video for a camera not streaming for us ignored");
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

    /// Handles an event: forwards it and updates the schedule. Never sends a request
    /// ([`Connection::act`] does, later), so that it can run while one is awaited.
    // Long because it is one match over the server's events, each arm short.
    async fn on_event(&mut self, ev: Event) -> Result<(), SessionError> {
        let now = std::time::Instant::now();
        match ev {
            Event::Video(_) => {}
            Event::Audio(m) => {
                if self.schedule.on_audio(&m.serial) {
                    let _ = self
                        .events
                        .send(SessionEvent::Audio {
                            codec: m
                                .metadata
                                .get("audioCodec")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned(),
                            serial: m.serial,
                            data: m.data,
                            received_at: now,
                        })
                        .await;
                }
            }
            Event::Started { serial } => {
                if self.schedule.on_started(&serial, now) {
                    tracing::info!(%serial, "livestream started");
                    self.talk_on(&serial, |j| {
                        j.on_live();
                        None
                    })
                    .await;
                    let _ = self.events.send(SessionEvent::Started { serial }).await;
                }
            }
            // Closing: our own stop's echo, or a cut racing it; nothing restarts.
            Event::Stopped { serial } if self.closing => self.schedule.closed(&serial),
            Event::Stopped { serial } => {
                self.schedule.on_stopped(&serial, now);
                self.talk_on(&serial, TalkJob::on_cut).await;
            }
            Event::Talkback { serial, started } => {
                self.talk_on(&serial, |j| j.on_event(started)).await;
            }
            Event::CommandResult {
                serial,
                command,
                return_code,
            } => {
                if return_code < 0 {
                    tracing::warn!(%serial, %command, return_code, "station reports a failed command");
                    if command.contains("livestream") || command.is_empty() {
                        self.schedule.on_station_error(&serial, return_code, now);
                    }
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
            Event::DriverConnected => {
                tracing::info!("eufy-security-ws finished logging in");
                // Stations are learnt and cameras started from the stream loop.
                self.server_ready_pending = true;
            }
            Event::Device { info, added } => {
                if added {
                    // Bounded: a server announcing endless devices must not grow us.
                    if !self.listed.contains(&info.serial) && self.listed.len() < MAX_LISTED {
                        self.listed.push(info.serial.clone());
                    }
                    self.schedule.on_listed(&info.serial, now);
                    self.learn(info).await;
                } else {
                    self.listed.retain(|s| *s != info.serial);
                }
            }
            Event::Detection {
                serial,
                kind,
                state,
                person,
            } => {
                tracing::debug!(camera = %serial, %kind, state, ?person, "detection");
                let _ = self
                    .events
                    .send(SessionEvent::Detection {
                        serial,
                        kind,
                        state,
                        person,
                    })
                    .await;
            }
            Event::Picture { serial, data, mime } => self.picture(serial, data, mime).await,
            Event::Shutdown => return Err(SessionError::ServerShutdown(self.url())),
            Event::Other(_) => {}
        }
        Ok(())
    }

    /// A camera's latest picture, handed on when it is one of ours.
    async fn picture(&mut self, serial: String, data: Vec<u8>, mime: String) {
        if !self.config.serials.contains(&serial) {
            return;
        }
        tracing::debug!(camera = %serial, bytes = data.len(), %mime, "picture");
        let _ = self
            .events
            .send(SessionEvent::Picture { serial, data, mime })
            .await;
    }

    /// Carries out what the schedule asks for, until it asks for nothing more.
    async fn act(&mut self) -> Result<(), SessionError> {
        if std::mem::take(&mut self.server_ready_pending) {
            self.set_ready().await?;
        }
        while self.schedule.has_actions() {
            for action in self.schedule.take_actions() {
                match action {
                    Action::Start(serial) => self.start(&serial).await?,
                    Action::Stop(serial) => {
                        let args = json!({ "serialNumber": serial });
                        match self.request("device.stop_livestream", args, &serial).await {
                            Ok(_) | Err(SessionError::Refused { .. }) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    Action::Ended { serial, reason } => {
                        self.talk_on(&serial, TalkJob::on_cut).await;
                        let _ = self
                            .events
                            .send(SessionEvent::Ended { serial, reason })
                            .await;
                    }
                    Action::State { serial, state } => {
                        tracing::debug!(camera = %serial, ?state, "camera state");
                        let _ = self
                            .events
                            .send(SessionEvent::State { serial, state })
                            .await;
                    }
                    Action::GiveUp {
                        serial,
                        reason,
                        stopped,
                    } => {
                        return Err(if stopped {
                            SessionError::StreamStopped(serial)
                        } else {
                            SessionError::Camera { serial, reason }
                        });
                    }
                }
            }
        }
        Ok(())
    }

    async fn start(&mut self, serial: &str) -> Result<(), SessionError> {
        let args = json!({ "serialNumber": serial });
        let now = std::time::Instant::now;
        match self.request("device.start_livestream", args, serial).await {
            Ok(_) => Ok(()),
            // Ours from a previous connection the server has not noticed is gone.
            Err(SessionError::Refused { code, .. }) if code == codes::ALREADY_RUNNING => Ok(()),
            Err(SessionError::Refused { code, .. }) if code == codes::DEVICE_NOT_FOUND => {
                if self.server_ready && self.listing_final() {
                    return Err(self.unknown(serial));
                }
                self.schedule
                    .start_failed(serial, StartFailure::NotListed, now());
                Ok(())
            }
            Err(e @ SessionError::Refused { .. }) if e.is_transient() => {
                self.schedule
                    .start_failed(serial, StartFailure::Transient(e.to_string()), now());
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Streams until the connection is lost or `stop`: pings the server, watches for
    /// silence, and keeps the schedule.
    async fn stream(
        &mut self,
        stop: &mut Shutdown,
        control: &mut Option<ControlReceiver>,
    ) -> Result<(), SessionError> {
        if let Some(list) = self.memory.wanted.clone() {
            self.apply_wanted(&list, std::time::Instant::now());
        }
        // Pongs are what proves a quiet connection alive: ping well within the silence limit.
        let ping_every = self.config.ping_interval.min(self.config.data_timeout / 2);
        let mut ping = tokio::time::interval(ping_every.max(Duration::from_millis(10)));
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut refresh_at = Instant::now() + REFRESH_WHILE_LOGGING_IN;
        loop {
            let now = Instant::now();
            let silence = self.last_msg + self.config.data_timeout;
            if now >= silence {
                return Err(SessionError::Silent {
                    url: self.url(),
                    secs: self.config.data_timeout.as_secs_f64(),
                });
            }
            let waiting = !self.server_ready || self.schedule.waiting_for_server();
            if waiting {
                if let Some(wait) = self.config.wait_server {
                    if self.memory.begun.elapsed() >= wait {
                        return Err(self.not_ready(wait));
                    }
                }
                if now >= refresh_at {
                    self.refresh_state().await?;
                    refresh_at = Instant::now() + REFRESH_WHILE_LOGGING_IN;
                }
            }
            // What the owner asked meanwhile, before anything starts.
            while let Some(c) = control.as_mut().and_then(|rx| rx.try_recv().ok()) {
                self.on_control(c).await;
            }
            self.schedule.poll(now.into_std());
            self.act().await?;
            self.talk_act().await?;
            let mut wake = silence;
            if let Some(job) = &self.memory.talk {
                wake = wake.min(Instant::from_std(job.next_wake()));
            }
            if let Some(t) = self.schedule.next_wake() {
                wake = wake.min(Instant::from_std(t));
            }
            if waiting {
                wake = wake.min(refresh_at);
                if let Some(wait) = self.config.wait_server {
                    wake = wake.min(Instant::from_std(self.memory.begun + wait));
                }
            }
            let ws = self.ws_mut()?;
            tokio::select! {
                msg = ws.next() => {
                    let msg = match msg {
                        None => return Err(self.lost("the server closed the connection")),
                        Some(Err(e)) => return Err(self.lost(e.to_string())),
                        Some(Ok(m)) => m,
                    };
                    match self.parse(msg).await? {
                        Some(ServerMessage::Event(ev)) => self.on_event(ev).await?,
                        Some(ServerMessage::Result(r))
                            if r.message_id.starts_with(TALK_DATA_ID)
                                && !r.success
                                && r.error_code.as_deref() == Some(codes::TALKBACK_NOT_RUNNING) =>
                        {
                            let serial = self.memory.talk.as_ref().map(|j| j.serial.clone()).unwrap_or_default();
                            self.talk_on(&serial, TalkJob::on_data_refused).await;
                        }
                        // The others' results are not awaited.
                        Some(ServerMessage::Result(r)) if r.message_id.starts_with(TALK_DATA_ID) => {}
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
                _ = tokio::time::sleep_until(wake) => {}
                Some(c) = next_control(control) => self.on_control(c).await,
                _ = stop.wait() => return Ok(()),
            }
        }
    }

    fn not_ready(&self, wait: Duration) -> SessionError {
        let why = if !self.server_ready {
            "it is still logging in (driver.connected is false)".to_owned()
        } else {
            format!(
                "it does not list {} yet (it lists: {})",
                self.schedule.unlisted().join(", "),
                if self.listed.is_empty() {
                    "none".to_owned()
                } else {
                    self.listed.join(", ")
                }
            )
        };
        SessionError::NotReady {
            url: self.url(),
            secs: wait.as_secs_f64(),
            why,
        }
    }

    /// Stops the streams this connection started and closes it with 1000 (normal closure);
    /// best effort, bounded in time.
    async fn shutdown(&mut self) {
        if self.ws.is_none() {
            return;
        }
        let limit = Instant::now() + Duration::from_secs(2).min(self.config.request_timeout);
        self.closing = true;
        // What already arrived first: a camera the server has just dropped is not stopped
        // again (the real server logs an error for a stop of no stream).
        for _ in 0..256 {
            let pending = self.ws.as_mut().and_then(|ws| ws.next().now_or_never());
            let Some(Some(Ok(msg))) = pending else { break };
            if let Ok(Some(ServerMessage::Event(ev))) = self.parse(msg).await {
                let _ = self.on_event(ev).await;
            }
        }
        if let Some(serial) = self
            .memory
            .talk
            .take()
            .filter(|j| j.is_running())
            .map(|j| j.serial)
        {
            let args = json!({ "serialNumber": serial });
            let _ = timeout_at(limit, self.request("device.stop_talkback", args, &serial)).await;
        }
        for serial in self.schedule.active() {
            let args = json!({ "serialNumber": serial });
            let r = timeout_at(limit, self.request("device.stop_livestream", args, &serial)).await;
            match r {
                Ok(Ok(_)) => tracing::info!(%serial, "livestream stopped"),
                Ok(Err(e)) => tracing::debug!(%serial, "stop_livestream: {e}"),
                Err(_) => tracing::debug!(%serial, "stop_livestream not answered in time"),
            }
        }
        if let Some(mut ws) = self.ws.take() {
            let normal = CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            };
            let _ = timeout_at(limit + Duration::from_millis(500), ws.close(Some(normal))).await;
        }
    }
}

/// Cameras described in full in a `start_listening` state dump (newer schemas send objects).
fn device_infos(result: &Value) -> Vec<DeviceInfo> {
    result
        .pointer("/state/devices")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter(|d| d.is_object())
                .filter_map(|d| DeviceInfo::from_json(d, None))
                .collect()
        })
        .unwrap_or_default()
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
                .take(MAX_LISTED)
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
