//! The session seam: two backends, one wall. A camera server is either eufy-security-ws
//! ([`crate::eufy::session`]: one WebSocket, video in JSON events) or the Eufy Mega bridge
//! ([`crate::bridge`]: a WebSocket for control and events, video over HTTP). Both report the
//! same [`SessionEvent`]s and take the same [`SessionControl`]s, so the pipeline, the viewer,
//! the kiosk, record, publish, bench and MQTT never know which one they have.
//!
//! Which one is known from the first message after connecting (eufy-security-ws sends
//! `{"type":"version",…}`, the bridge `{"event":"hello",…}`), or said by `--backend` /
//! the wall file's `backend`. A bridge URL given without its `/ws` path is completed.
//!
//! [`SessionControl`]: crate::eufy::session::SessionControl

use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::{timeout_at, Instant};
use tokio_tungstenite::tungstenite::Message;

use crate::eufy::protocol::DeviceInfo;
use crate::eufy::session::{ControlReceiver, Opened, SessionConfig, SessionError, SessionEvent};
use crate::shutdown::Shutdown;

/// Which server a session speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// Known from the server's first message.
    #[default]
    Auto,
    /// eufy-security-ws.
    Ws,
    /// The Eufy Mega bridge (ha-eufy-sdk-bridge).
    Bridge,
}

impl Backend {
    /// Its name on the command line and in wall files.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Ws => "ws",
            Backend::Bridge => "bridge",
        }
    }

    /// What a user calls it.
    pub fn describe(self) -> &'static str {
        match self {
            Backend::Auto => "a camera server",
            Backend::Ws => "eufy-security-ws",
            Backend::Bridge => "the Eufy Mega bridge",
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Backend, String> {
        match s {
            "auto" => Ok(Backend::Auto),
            "ws" | "eufy-security-ws" => Ok(Backend::Ws),
            "bridge" | "mega" => Ok(Backend::Bridge),
            other => Err(format!(
                "backend {other:?}: expected auto, ws (eufy-security-ws) or bridge (the Eufy Mega bridge)"
            )),
        }
    }
}

/// A pan/tilt step (one per command: the camera moves a step and stops).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Pan left.
    Left,
    /// Pan right.
    Right,
    /// Tilt up.
    Up,
    /// Tilt down.
    Down,
}

impl Direction {
    /// eufy-security-ws's `direction` (1 left, 2 right, 3 up, 4 down; 0 is the sweep).
    pub fn ws_code(self) -> u8 {
        match self {
            Direction::Left => 1,
            Direction::Right => 2,
            Direction::Up => 3,
            Direction::Down => 4,
        }
    }

    /// Its name (the bridge's `device.action`).
    pub fn name(self) -> &'static str {
        match self {
            Direction::Left => "left",
            Direction::Right => "right",
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }
}

/// A pan/tilt command (`eufy-hw ptz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ptz {
    /// One pan/tilt step.
    Move(Direction),
    /// A 360° sweep (eufy-security-ws only: the bridge exposes none).
    Sweep,
    /// Go to preset 1–4 (as people number them).
    Preset(u8),
}

/// The most presets a camera keeps, numbered 1 to this for people.
pub const PRESETS: u8 = 4;

impl std::str::FromStr for Ptz {
    type Err = String;

    /// `left`, `right`, `up`, `down`, `sweep`, `preset N` (also `preset=N`, `presetN`).
    fn from_str(s: &str) -> Result<Ptz, String> {
        let s = s.trim().to_ascii_lowercase();
        Ok(match s.as_str() {
            "left" => Ptz::Move(Direction::Left),
            "right" => Ptz::Move(Direction::Right),
            "up" => Ptz::Move(Direction::Up),
            "down" => Ptz::Move(Direction::Down),
            "sweep" => Ptz::Sweep,
            other => {
                let n = other
                    .strip_prefix("preset")
                    .map(|n| n.trim_start_matches(['=', ' ']))
                    .and_then(|n| n.parse::<u8>().ok())
                    .filter(|n| (1..=PRESETS).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "{s:?}: expected left, right, up, down, sweep or preset 1-{PRESETS}"
                        )
                    })?;
                Ptz::Preset(n)
            }
        })
    }
}

impl std::fmt::Display for Ptz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ptz::Move(d) => f.write_str(d.name()),
            Ptz::Sweep => f.write_str("a 360° sweep"),
            Ptz::Preset(n) => write!(f, "preset {n}"),
        }
    }
}

/// Asks camera `serial` of the server at `config.url` (either backend) to carry out
/// `action`, once: connects, checks that the camera can, sends it, closes.
pub async fn act(config: &SessionConfig, serial: &str, action: Ptz) -> Result<(), SessionError> {
    let Some(config) = resolved(config).await? else {
        return Ok(());
    };
    match config.backend {
        Backend::Bridge => crate::bridge::session::act(&config, serial, action).await,
        _ => crate::eufy::session::act(&config, serial, action).await,
    }
}

/// A doorbell's quick replies (id, description), and with `voice` that one played at the
/// door. eufy-security-ws only: the bridge exposes none yet.
pub async fn quick_reply(
    config: &SessionConfig,
    serial: &str,
    voice: Option<u64>,
) -> Result<Vec<(u64, String)>, SessionError> {
    let Some(config) = resolved(config).await? else {
        return Ok(Vec::new());
    };
    match config.backend {
        Backend::Bridge => Err(SessionError::Unable {
            serial: serial.to_owned(),
            what: "quick replies".to_owned(),
            why: "the Eufy Mega bridge exposes no quick replies yet".to_owned(),
        }),
        _ => crate::eufy::session::quick_reply(&config, serial, voice).await,
    }
}

/// What a server's first message says it is.
pub fn classify(first: &str) -> Result<Backend, String> {
    let v: Value = match serde_json::from_str(first) {
        Ok(v) => v,
        Err(_) => {
            return Err(format!(
                "its first message is not JSON: {}",
                crate::bridge::session::excerpt(first)
            ))
        }
    };
    if v.get("type").and_then(Value::as_str) == Some("version") {
        return Ok(Backend::Ws);
    }
    if v.get("event").and_then(Value::as_str) == Some("hello") {
        return Ok(Backend::Bridge);
    }
    Err(format!(
        "its first message is {}",
        crate::bridge::session::excerpt(first)
    ))
}

/// `url` with the bridge's `/ws` path when it has no path.
fn with_ws_path(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let path = rest.find('/').map_or("", |k| &rest[k..]);
    (path.is_empty() || path == "/").then(|| format!("{}/ws", url.trim_end_matches('/')))
}

/// What the probe found: the backend, the URL to use (a bridge URL completed with `/ws`),
/// and the open socket with its first message, handed to the session.
pub struct Probed {
    /// Which server.
    pub backend: Backend,
    /// Its URL.
    pub url: String,
    /// The connection, kept for the session (no second connection at the start).
    pub opened: Opened,
}

/// Connects once and reads the first message: which backend it is.
pub async fn probe(config: &SessionConfig) -> Result<Probed, SessionError> {
    match probe_url(config, &config.url).await {
        // The bridge answers its WebSocket on /ws only; a URL without a path is refused
        // with an HTTP error by the bridge (eufy-security-ws answers any path).
        Err(SessionError::Connect { source, .. })
            if matches!(*source, tokio_tungstenite::tungstenite::Error::Http(_)) =>
        {
            match with_ws_path(&config.url) {
                Some(url) => probe_url(config, &url).await,
                None => Err(SessionError::Connect {
                    url: config.url.clone(),
                    source,
                }),
            }
        }
        other => other,
    }
}

async fn probe_url(config: &SessionConfig, url: &str) -> Result<Probed, SessionError> {
    let deadline = Instant::now() + config.request_timeout;
    let at = SessionConfig {
        url: url.to_owned(),
        ..config.clone()
    };
    let (mut ws, _) = timeout_at(deadline, crate::eufy::session::connect(&at))
        .await
        .map_err(|_| SessionError::Timeout {
            url: url.to_owned(),
            what: "the WebSocket handshake".into(),
            secs: config.request_timeout.as_secs_f64(),
        })?
        .map_err(|e| SessionError::Connect {
            url: url.to_owned(),
            source: Box::new(e),
        })?;
    let first = loop {
        match timeout_at(deadline, ws.next()).await {
            Err(_) => {
                return Err(SessionError::Silent {
                    url: url.to_owned(),
                    secs: config.request_timeout.as_secs_f64(),
                })
            }
            Ok(None) => {
                return Err(SessionError::Lost {
                    url: url.to_owned(),
                    reason: "closed before its first message".into(),
                })
            }
            Ok(Some(Err(e))) => {
                return Err(SessionError::Lost {
                    url: url.to_owned(),
                    reason: e.to_string(),
                })
            }
            Ok(Some(Ok(Message::Text(t)))) => break t.to_string(),
            Ok(Some(Ok(_))) => {}
        }
    };
    match classify(&first) {
        Ok(backend) => Ok(Probed {
            backend,
            url: url.to_owned(),
            opened: Opened { ws, first },
        }),
        Err(what) => Err(SessionError::UnknownServer {
            url: url.to_owned(),
            what,
        }),
    }
}

/// `config` with its backend known: as given, or probed (again after transient failures,
/// with backoff, until `wait_server`; `None` when `stop` came first), with the probe's
/// open connection.
async fn resolve(
    config: SessionConfig,
    events: &mpsc::Sender<SessionEvent>,
    stop: &mut Shutdown,
) -> Result<Option<(SessionConfig, Option<Opened>)>, SessionError> {
    if config.backend != Backend::Auto {
        return Ok(Some((config, None)));
    }
    let begun = std::time::Instant::now();
    let mut delay = config.backoff_min;
    loop {
        let err = tokio::select! {
            r = probe(&config) => match r {
                Ok(Probed { backend, url, opened }) => {
                    tracing::info!("{url} is {}", backend.describe());
                    return Ok(Some((SessionConfig { backend, url, ..config }, Some(opened))));
                }
                Err(e) => e,
            },
            _ = stop.wait() => return Ok(None),
        };
        let Some(wait) = crate::eufy::session::retry_after(&config, &err, delay) else {
            return Err(err);
        };
        if let Some(e) = crate::eufy::session::past_wait(&config, begun, wait, &err) {
            return Err(e);
        }
        tracing::warn!("{err}; trying again in {:.1} s", wait.as_secs_f64());
        let _ = events
            .send(SessionEvent::Reconnecting {
                reason: err.to_string(),
                delay: wait,
            })
            .await;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait() => return Ok(None),
        }
        delay = (delay * 2).min(config.backoff_max);
    }
}

/// `config` with its backend known, for a one-off job that opens its own connection (the
/// probe's is closed).
async fn resolved(config: &SessionConfig) -> Result<Option<SessionConfig>, SessionError> {
    let (tx, mut rx) = mpsc::channel(16);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let (_trigger, mut stop) = crate::shutdown::channel();
    let resolved = resolve(config.clone(), &tx, &mut stop).await;
    drop(tx);
    let _ = drain.await;
    Ok(resolved?.map(|(config, _)| config))
}

/// Runs a session on whichever backend `config` names or the server is, until `stop` or
/// an error another try cannot fix; `control` lets the owner choose the cameras streamed.
pub async fn run_session(
    config: SessionConfig,
    events: mpsc::Sender<SessionEvent>,
    mut stop: Shutdown,
    control: Option<ControlReceiver>,
) -> Result<(), SessionError> {
    let Some((config, opened)) = resolve(config, &events, &mut stop).await? else {
        return Ok(());
    };
    match (config.backend, opened, control) {
        (Backend::Bridge, opened, control) => {
            crate::bridge::run(config, events, stop, control, opened).await
        }
        (_, Some(opened), control) => {
            crate::eufy::session::run_opened(config, events, stop, control, opened).await
        }
        (_, None, Some(control)) => {
            crate::eufy::session::run_session_with(config, events, stop, control).await
        }
        (_, None, None) => crate::eufy::session::run_session(config, events, stop).await,
    }
}

/// The cameras the server at `config.url` lists (see the backends' `list_cameras`).
pub async fn list_cameras(config: &SessionConfig) -> Result<Vec<DeviceInfo>, SessionError> {
    let Some(config) = resolved(config).await? else {
        return Ok(Vec::new());
    };
    match config.backend {
        Backend::Bridge => crate::bridge::list_cameras(&config).await,
        _ => crate::eufy::session::list_cameras(&config).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_messages() {
        assert_eq!(
            classify(
                r#"{"type":"version","driverVersion":"3","serverVersion":"1.9","minSchemaVersion":0,"maxSchemaVersion":21}"#
            ),
            Ok(Backend::Ws)
        );
        assert_eq!(
            classify(r#"{"event":"hello","schemaVersion":1,"auth":{"state":"ok"}}"#),
            Ok(Backend::Bridge)
        );
        let e = classify(r#"{"hello":"world"}"#).unwrap_err();
        assert!(e.contains("hello"), "{e}");
        assert!(classify("<html>").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn actions() {
        assert_eq!("left".parse(), Ok(Ptz::Move(Direction::Left)));
        assert_eq!("Down".parse(), Ok(Ptz::Move(Direction::Down)));
        assert_eq!("sweep".parse(), Ok(Ptz::Sweep));
        assert_eq!("preset 2".parse(), Ok(Ptz::Preset(2)));
        assert_eq!("preset=4".parse(), Ok(Ptz::Preset(4)));
        assert!("preset 0".parse::<Ptz>().is_err());
        assert!("preset 5".parse::<Ptz>().is_err());
        assert!("spin".parse::<Ptz>().is_err());
        assert_eq!(Direction::Up.ws_code(), 3);
        assert_eq!(Ptz::Preset(3).to_string(), "preset 3");
    }

    #[test]
    fn names_and_paths() {
        for b in [Backend::Auto, Backend::Ws, Backend::Bridge] {
            assert_eq!(b.name().parse::<Backend>(), Ok(b));
        }
        assert!("mqtt".parse::<Backend>().is_err());
        assert_eq!(
            with_ws_path("ws://h:3000").as_deref(),
            Some("ws://h:3000/ws")
        );
        assert_eq!(
            with_ws_path("ws://h:3000/").as_deref(),
            Some("ws://h:3000/ws")
        );
        assert_eq!(with_ws_path("ws://h:3000/ws"), None);
    }
}
