//! The client side of the Eufy Mega bridge: its WebSocket for login state, devices and
//! events, and one HTTP body per streaming camera, reported as the same
//! [`SessionEvent`]s eufy-security-ws's session sends, so nothing above the seam knows which
//! server it has.
//!
//! - The control connection ([`Control`]): `hello` (schema 1, or a loud error), the auth
//!   state, `devices.list` once logged in, events. The bridge sends no pings, so this client
//!   pings and treats a silence past `data_timeout` as a dead socket; a lost connection
//!   reconnects with backoff, forever when so configured.
//! - One task per camera ([`camera`]): while the bridge is logged in and the owner wants
//!   the camera, `GET /stream/<sn>`; opening the request starts the camera and dropping it
//!   stops it. Headers may take seconds (a battery camera waking): the wait for them is
//!   `start_timeout`, each chunk's `data_timeout`. Any end of the body is a cut-off
//!   ([`SessionEvent::Ended`]); 502/503 bodies are read and said with the next try, which
//!   honours the bridge's own `retry in N s`.
//! - Pictures: `GET /snapshot/<sn>?mode=stored` (never wakes a battery camera) once listed
//!   and after each event picture or detection of the camera.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::time::{timeout, timeout_at, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::protocol::{self, AuthState, Device, Message, SCHEMA};
use super::Http;
use crate::backend::Ptz;
use crate::eufy::protocol::DeviceInfo;
use crate::eufy::schedule::{CameraState, Retry, WARN_EVERY};
use crate::eufy::session::{
    next_control, past_wait, retry_after, Capabilities, ControlReceiver, Opened, SessionConfig,
    SessionControl, SessionError, SessionEvent, Ws,
};
use crate::shutdown::Shutdown;

/// What every camera task reads: the bridge's login state and its device list.
#[derive(Debug, Clone, Default)]
struct Gate {
    /// The login state, once a `hello` said it.
    auth: Option<AuthState>,
    /// The stream path of each listed camera (`None`: listed without live video).
    listed: Option<HashMap<String, Option<String>>>,
}

impl Gate {
    /// The stream path to open for `serial` (when listed with one), or the state it waits
    /// in: the bridge's login, its device list, or the owner not wanting it.
    fn ready_for(&self, serial: &str, wanted: bool) -> Result<Option<String>, CameraState> {
        match (&self.auth, &self.listed) {
            (Some(a), _) if !a.is_ok() => Err(CameraState::Login { what: a.describe() }),
            (None, _) | (_, None) => Err(CameraState::LoggingIn),
            (Some(_), Some(_)) if !wanted => Err(CameraState::Idle),
            (Some(_), Some(listed)) => Ok(listed.get(serial).cloned().flatten()),
        }
    }
}

/// What the owner wants of one camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Want {
    /// Stream it.
    on: bool,
    /// Bumped by a restart request.
    restarts: u64,
}

/// Runs a bridge session until `stop` (then closes every stream and the socket and returns
/// Ok), or until an error another try cannot fix (or any loss, without `reconnect`).
pub async fn run(
    config: SessionConfig,
    events: mpsc::Sender<SessionEvent>,
    mut stop: Shutdown,
    mut control: Option<ControlReceiver>,
    opened: Option<Opened>,
) -> Result<(), SessionError> {
    let http = Http::new(&config)?;
    let (gate_tx, gate) = watch::channel(Gate::default());
    let mut wants = HashMap::new();
    let mut cameras = tokio::task::JoinSet::new();
    for serial in &config.serials {
        let (tx, rx) = watch::channel(Want {
            on: true,
            restarts: 0,
        });
        wants.insert(serial.clone(), tx);
        let task = CameraTask {
            serial: serial.clone(),
            config: config.clone(),
            http: http.clone(),
            events: events.clone(),
        };
        cameras.spawn(task.run(gate.clone(), rx, stop.clone()));
    }
    let pictures = Pictures {
        http: http.clone(),
        events: events.clone(),
        ours: config.serials.clone(),
    };
    let mut ctl = Control {
        config: &config,
        events: &events,
        gate: gate_tx,
        pictures,
        begun: std::time::Instant::now(),
        was_ready: false,
        opened,
    };
    let outcome = tokio::select! {
        r = ctl.run(&mut stop, &mut control, &wants) => r,
        Some(done) = cameras.join_next(), if !cameras.is_empty() => match done {
            Ok(r) => r,
            Err(e) => Err(SessionError::Bridge {
                url: config.url.clone(),
                reason: format!("a camera's task failed: {e}"),
            }),
        },
    };
    // Every camera task stops with `stop`, or ends here (the control failed for good).
    cameras.abort_all();
    while cameras.join_next().await.is_some() {}
    outcome
}

/// The control connection and what it remembers across reconnects.
struct Control<'a> {
    config: &'a SessionConfig,
    events: &'a mpsc::Sender<SessionEvent>,
    gate: watch::Sender<Gate>,
    pictures: Pictures,
    begun: std::time::Instant,
    was_ready: bool,
    /// The backend probe's connection, used by the first connection.
    opened: Option<Opened>,
}

impl<'a> Control<'a> {
    async fn run(
        &mut self,
        stop: &mut Shutdown,
        control: &mut Option<ControlReceiver>,
        wants: &HashMap<String, watch::Sender<Want>>,
    ) -> Result<(), SessionError> {
        let mut delay = self.config.backoff_min;
        loop {
            let mut ws = None;
            let outcome = tokio::select! {
                r = self.connection(&mut ws, control, wants) => r,
                _ = stop.wait() => Ok(()),
            };
            if let Some(mut link) = ws {
                let _ = link
                    .ws
                    .close(Some(CloseFrame {
                        code: CloseCode::Normal,
                        reason: "".into(),
                    }))
                    .await;
            }
            if stop.is_triggered() {
                return Ok(());
            }
            let err = match outcome {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let Some(wait) = retry_after(self.config, &err, delay) else {
                return Err(err);
            };
            let pause = if err.misconfigured().is_some() {
                wait
            } else {
                delay
            };
            if !self.was_ready {
                if let Some(e) = past_wait(self.config, self.begun, Duration::ZERO, &err) {
                    return Err(e);
                }
            }
            tracing::warn!("{err}; reconnecting in {:.1} s", pause.as_secs_f64());
            let _ = self
                .events
                .send(SessionEvent::Reconnecting {
                    reason: err.to_string(),
                    delay: pause,
                })
                .await;
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.wait() => return Ok(()),
            }
            delay = if self.was_ready {
                self.config.backoff_min
            } else {
                (delay * 2).min(self.config.backoff_max)
            };
        }
    }

    /// One connection: `hello`, the login state, the device list, then events until lost.
    async fn connection(
        &mut self,
        slot: &mut Option<Link<'a>>,
        control: &mut Option<ControlReceiver>,
        wants: &HashMap<String, watch::Sender<Want>>,
    ) -> Result<(), SessionError> {
        let (link, auth) = hello(self.config, self.opened.take()).await?;
        let link = slot.insert(link);
        // What the owner asked before we connected (a wall's hidden pages, its on_event
        // cameras) holds before any camera opens.
        while let Some(c) = control.as_mut().and_then(|rx| rx.try_recv().ok()) {
            on_control(c, wants, self.events).await;
        }
        self.on_auth(auth, link).await?;
        // The bridge sends no pings: ours keep the socket alive and prove it alive.
        let every = self.config.ping_interval.min(self.config.data_timeout / 2);
        let mut ping = tokio::time::interval(every.max(std::time::Duration::from_millis(10)));
        ping.tick().await;
        loop {
            tokio::select! {
                msg = link.next(Instant::now() + self.config.data_timeout) => match msg? {
                    Ok(msg) => self.on_message(msg, link).await?,
                    Err(why) => link.drop_message(self.events, why).await,
                },
                _ = ping.tick() => link.ping().await?,
                Some(c) = next_control(control) => match c {
                    SessionControl::Ptz { serial, action } => {
                        let outcome = act_on(link, self.config, &serial, action).await;
                        let outcome = outcome.map_err(|e| match e {
                            SessionError::Unable { why, .. } => why,
                            other => other.to_string(),
                        });
                        let what = action.to_string();
                        let _ = self.events.send(SessionEvent::Done { serial, what, outcome }).await;
                    }
                    other => on_control(other, wants, self.events).await,
                },
            }
            if !self.was_ready {
                let state = self.gate.borrow().auth.clone();
                let why = state.map_or_else(|| "no login state".to_owned(), |a| a.describe());
                if let Some(e) = past_wait(self.config, self.begun, Duration::ZERO, &why) {
                    return Err(e);
                }
            }
        }
    }

    /// A new login state: said to every camera; when logged in, the devices are listed.
    async fn on_auth(&mut self, auth: AuthState, link: &mut Link<'_>) -> Result<(), SessionError> {
        tracing::info!(
            state = auth.word(),
            "the bridge at {}: {}",
            self.config.url,
            auth.describe()
        );
        let ok = auth.is_ok();
        self.gate.send_modify(|g| g.auth = Some(auth));
        if ok {
            let devices = link.devices().await?;
            self.on_devices(devices).await?;
        }
        Ok(())
    }

    async fn on_devices(&mut self, devices: Vec<Device>) -> Result<(), SessionError> {
        let known: Vec<String> = devices.iter().map(|d| d.info.serial.clone()).collect();
        for serial in &self.config.serials {
            if !known.contains(serial) {
                return Err(SessionError::UnknownCamera {
                    serial: serial.clone(),
                    url: self.config.url.clone(),
                    known: known.join(", "),
                });
            }
        }
        self.was_ready = true;
        let _ = self
            .events
            .send(SessionEvent::Connected {
                server_version: "Eufy Mega bridge".to_owned(),
                schema: SCHEMA as u32,
                devices: known,
            })
            .await;
        let mut listed = HashMap::new();
        for d in devices {
            if self.config.serials.contains(&d.info.serial) {
                let _ = self.events.send(SessionEvent::Camera(d.info.clone())).await;
                // BRIDGE.md: `ptz` covers steps and presets; no sweep, talk back or replies.
                let caps = Capabilities {
                    ptz: d.can("ptz"),
                    presets: d.can("ptz"),
                    ..Capabilities::default()
                };
                let serial = d.info.serial.clone();
                let _ = self
                    .events
                    .send(SessionEvent::Capabilities { serial, caps })
                    .await;
                self.pictures.fetch(&d.info.serial);
            }
            listed.insert(d.info.serial, d.stream);
        }
        self.gate.send_modify(|g| g.listed = Some(listed));
        Ok(())
    }

    async fn on_message(&mut self, msg: Message, link: &mut Link<'_>) -> Result<(), SessionError> {
        match msg {
            Message::Auth(a) => self.on_auth(a, link).await?,
            Message::Hello { schema, .. } if schema != SCHEMA => {
                return Err(wrong_schema(self.config, schema))
            }
            Message::Detection {
                serial,
                kind,
                person,
            } => {
                tracing::info!(camera = %serial, "{kind:?} (the bridge)");
                // Momentary: no end event comes; the wall's hold ends its focus.
                let _ = self
                    .events
                    .send(SessionEvent::Detection {
                        serial: serial.clone(),
                        kind,
                        state: true,
                        person,
                    })
                    .await;
                self.pictures.fetch(&serial);
            }
            Message::ImageUpdated { serial } => self.pictures.fetch(&serial),
            Message::StreamState { serial, active } => {
                tracing::debug!(camera = %serial, active, "the bridge's stream state");
            }
            Message::Unknown { event } => {
                link.drop_message(self.events, format!("unknown bridge event {event:?}"))
                    .await;
            }
            Message::Reply {
                id: None, error, ..
            } => {
                let why = error.unwrap_or_default();
                link.drop_message(self.events, format!("the bridge refused a message: {why}"))
                    .await;
            }
            Message::Hello { .. }
            | Message::Ready
            | Message::Reply { .. }
            | Message::PropertyChanged { .. }
            | Message::Ignored { .. } => {}
        }
        Ok(())
    }
}

/// Carries out what the owner asked.
async fn on_control(
    c: SessionControl,
    wants: &HashMap<String, watch::Sender<Want>>,
    events: &mpsc::Sender<SessionEvent>,
) {
    match c {
        SessionControl::Ptz { serial, action } => {
            let outcome = Err("the bridge is not logged in yet".to_owned());
            let what = action.to_string();
            let _ = events
                .send(SessionEvent::Done {
                    serial,
                    what,
                    outcome,
                })
                .await;
        }
        SessionControl::Reply { serial, voice } => {
            let outcome = Err("the Eufy Mega bridge has no quick replies".to_owned());
            let what = format!("quick reply {voice}");
            let _ = events
                .send(SessionEvent::Done {
                    serial,
                    what,
                    outcome,
                })
                .await;
        }
        SessionControl::Talk { serial, .. } => {
            // BRIDGE.md: talk back is "not yet exposed"; the sound is dropped here.
            let state = crate::talk::TalkState::Failed(
                "the Eufy Mega bridge does not offer talk back yet (eufy-security-ws does)".into(),
            );
            tracing::warn!(camera = %serial, "{}", state.describe());
            let _ = events.send(SessionEvent::Talk { serial, state }).await;
        }
        SessionControl::Want(list) => {
            for (serial, want) in wants {
                let on = list.contains(serial);
                want.send_if_modified(|w| std::mem::replace(&mut w.on, on) != on);
            }
        }
        SessionControl::Restart { serial, reason } => {
            if let Some(want) = wants.get(&serial) {
                tracing::info!(camera = %serial, "{reason}: restarting its stream");
                want.send_modify(|w| w.restarts += 1);
            }
        }
    }
}

fn wrong_schema(config: &SessionConfig, schema: u64) -> SessionError {
    SessionError::BridgeSchema {
        url: config.url.clone(),
        schema,
    }
}

/// Opens the WebSocket (or takes the one the backend probe opened) and reads `hello`: the
/// link and the login state.
async fn hello(
    config: &SessionConfig,
    opened: Option<Opened>,
) -> Result<(Link<'_>, AuthState), SessionError> {
    let deadline = Instant::now() + config.request_timeout;
    let (ws, mut first) = match opened {
        Some(o) => (o.ws, Some(o.first)),
        None => {
            let (ws, _) = timeout_at(deadline, crate::eufy::session::connect(config))
                .await
                .map_err(|_| bridge_timeout(config, "the WebSocket handshake"))?
                .map_err(|e| SessionError::Connect {
                    url: config.url.clone(),
                    source: Box::new(e),
                })?;
            (ws, None)
        }
    };
    let mut link = Link {
        ws,
        config,
        next_id: 0,
        last_msg: Instant::now(),
        dropped: 0,
        backlog: Default::default(),
    };
    let auth = loop {
        let text = match first.take() {
            Some(t) => t,
            None => match timeout_at(deadline, link.text()).await {
                Err(_) => return Err(bridge_timeout(config, "hello")),
                Ok(r) => r?,
            },
        };
        match protocol::parse(&text) {
            Ok(Message::Hello { schema, auth }) if schema == SCHEMA => {
                break auth.unwrap_or(AuthState::Pending)
            }
            Ok(Message::Hello { schema, .. }) => return Err(wrong_schema(config, schema)),
            Ok(other) => tracing::debug!(?other, "bridge message before hello ignored"),
            Err(e) => {
                return Err(SessionError::Bridge {
                    url: config.url.clone(),
                    reason: format!("its first message is unreadable ({e}): {}", excerpt(&text)),
                })
            }
        }
    };
    Ok((link, auth))
}

fn bridge_timeout(config: &SessionConfig, what: &str) -> SessionError {
    SessionError::Bridge {
        url: config.url.clone(),
        reason: format!(
            "did not answer {what} within {:.0} s",
            config.request_timeout.as_secs_f64()
        ),
    }
}

/// The first 120 characters of a text, for messages.
pub(crate) fn excerpt(text: &str) -> String {
    let mut s: String = text.chars().take(120).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

/// Why a message was dropped, with its start.
fn unreadable(e: &protocol::ParseError, text: &str) -> String {
    format!(
        "unreadable message from the bridge ({e}): {}",
        excerpt(text)
    )
}

/// One open WebSocket: requests, replies and the silence deadline.
struct Link<'a> {
    ws: Ws,
    config: &'a SessionConfig,
    next_id: u64,
    last_msg: Instant,
    dropped: u64,
    /// What arrived while a reply was awaited: messages, or why one was unreadable.
    backlog: std::collections::VecDeque<Result<Message, String>>,
}

/// The most messages kept while a reply is awaited (more are counted drops).
const BACKLOG: usize = 256;

impl Link<'_> {
    fn lost(&self, reason: impl Into<String>) -> SessionError {
        SessionError::Lost {
            url: self.config.url.clone(),
            reason: reason.into(),
        }
    }

    /// The next text frame (pings answered, pongs counted as life).
    async fn text(&mut self) -> Result<String, SessionError> {
        loop {
            let frame = self.ws.next().await;
            self.last_msg = Instant::now();
            match frame {
                None => return Err(self.lost("the bridge closed the connection")),
                Some(Err(e)) => return Err(self.lost(e.to_string())),
                Some(Ok(WsMessage::Text(t))) => return Ok(t.to_string()),
                Some(Ok(WsMessage::Close(f))) => {
                    return Err(self.lost(match f {
                        Some(f) => format!("closed by the bridge ({}: {})", f.code, f.reason),
                        None => "closed by the bridge".to_owned(),
                    }))
                }
                Some(Ok(WsMessage::Binary(_))) => {
                    self.dropped += 1;
                    tracing::debug!("binary frame from the bridge ignored");
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next message the session acts on (`Err(why)`: one unreadable, to count and say),
    /// or an error when nothing at all came before `deadline`.
    async fn next(&mut self, deadline: Instant) -> Result<Result<Message, String>, SessionError> {
        if let Some(m) = self.backlog.pop_front() {
            return Ok(m);
        }
        {
            let silent_since = self.last_msg;
            let text = match timeout_at(
                deadline.max(silent_since + self.config.data_timeout),
                self.text(),
            )
            .await
            {
                Ok(r) => r?,
                Err(_) => {
                    return Err(SessionError::Silent {
                        url: self.config.url.clone(),
                        secs: silent_since.elapsed().as_secs_f64(),
                    })
                }
            };
            Ok(protocol::parse(&text).map_err(|e| unreadable(&e, &text)))
        }
    }

    /// Keeps what arrived while a reply was awaited, for the session to act on later: small
    /// (a stale reply's body and a property's value are nothing the session uses), at most
    /// [`BACKLOG`] of them.
    fn keep(&mut self, m: Result<Message, String>) {
        let m = match m {
            Ok(Message::Reply { id: Some(_), .. })
            | Ok(Message::PropertyChanged { .. })
            | Ok(Message::Ignored { .. }) => return,
            Ok(Message::Reply {
                id: None,
                error,
                ok,
                ..
            }) => Ok(Message::Reply {
                id: None,
                ok,
                error: error.map(|e| excerpt(&e)),
                body: Value::Null,
            }),
            other => other,
        };
        if self.backlog.len() < BACKLOG {
            self.backlog.push_back(m);
        } else {
            self.dropped += 1;
            tracing::warn!("a message from the bridge dropped: too many while a reply was awaited");
        }
    }

    async fn drop_message(&mut self, events: &mpsc::Sender<SessionEvent>, reason: String) {
        self.dropped += 1;
        tracing::warn!("{reason} ({} dropped)", self.dropped);
        let _ = events.send(SessionEvent::Dropped { reason }).await;
    }

    async fn ping(&mut self) -> Result<(), SessionError> {
        self.ws
            .send(WsMessage::Ping(Vec::new().into()))
            .await
            .map_err(|e| self.lost(e.to_string()))
    }

    /// Sends a request and waits for its reply (events meanwhile are not lost to the
    /// session: only `devices.list` and `auth.*` are asked, before events matter).
    async fn request(&mut self, cmd: &str, args: Value) -> Result<Value, SessionError> {
        self.next_id += 1;
        let id = self.next_id;
        self.ws
            .send(WsMessage::Text(protocol::request(id, cmd, args).into()))
            .await
            .map_err(|e| self.lost(e.to_string()))?;
        let deadline = Instant::now() + self.config.request_timeout;
        loop {
            let text = match timeout_at(deadline, self.text()).await {
                Err(_) => return Err(bridge_timeout(self.config, cmd)),
                Ok(r) => r?,
            };
            match protocol::parse(&text) {
                Ok(Message::Reply {
                    id: Some(got),
                    ok,
                    error,
                    body,
                }) if got == id => {
                    return if ok {
                        Ok(body)
                    } else {
                        Err(SessionError::Bridge {
                            url: self.config.url.clone(),
                            reason: format!(
                                "{cmd} refused: {}",
                                error.unwrap_or_else(|| "no reason given".into())
                            ),
                        })
                    };
                }
                Ok(other) => self.keep(Ok(other)),
                Err(e) => self.keep(Err(unreadable(&e, &text))),
            }
        }
    }

    async fn devices(&mut self) -> Result<Vec<Device>, SessionError> {
        let reply = self.request("devices.list", json!({})).await?;
        let (devices, skipped) =
            protocol::parse_devices(&reply).map_err(|e| SessionError::Bridge {
                url: self.config.url.clone(),
                reason: format!("its device list is unreadable: {e}"),
            })?;
        if skipped > 0 {
            tracing::warn!("the bridge lists {skipped} device(s) that failed to resolve or are unreadable; left out");
        }
        Ok(devices)
    }
}

/// Fetches cameras' stored pictures in the background, one at a time per camera.
#[derive(Clone)]
struct Pictures {
    http: Http,
    events: mpsc::Sender<SessionEvent>,
    ours: Vec<String>,
}

impl Pictures {
    fn fetch(&self, serial: &str) {
        if !self.ours.iter().any(|s| s == serial) || !self.http.picture_slot(serial) {
            return;
        }
        let (http, events, serial) = (self.http.clone(), self.events.clone(), serial.to_owned());
        tokio::spawn(async move {
            let got = http.snapshot(&serial).await;
            http.picture_done(&serial);
            match got {
                Ok((data, mime)) => {
                    let _ = events
                        .send(SessionEvent::Picture { serial, data, mime })
                        .await;
                }
                Err(e) => tracing::debug!(camera = %serial, "no stored picture: {e}"),
            }
        });
    }
}

/// One camera's stream, for as long as the session runs.
struct CameraTask {
    serial: String,
    config: SessionConfig,
    http: Http,
    events: mpsc::Sender<SessionEvent>,
}

/// How one try of a camera's stream ended.
enum Outcome {
    /// It streamed, then the body ended (why).
    Ended(String),
    /// It never streamed (why, and the bridge's own back-off when it said one).
    Failed(String, Option<Duration>),
    /// The owner no longer wants it, or asked for a restart.
    Interrupted,
}

impl CameraTask {
    async fn state(&self, state: CameraState) {
        let _ = self
            .events
            .send(SessionEvent::State {
                serial: self.serial.clone(),
                state,
            })
            .await;
    }

    async fn run(
        self,
        mut gate: watch::Receiver<Gate>,
        mut want: watch::Receiver<Want>,
        mut stop: Shutdown,
    ) -> Result<(), SessionError> {
        let mut failures = 0u32;
        let mut said: Option<CameraState> = None;
        loop {
            // Wait until logged in, listed and wanted, saying why meanwhile.
            let path = loop {
                let on = want.borrow_and_update().on;
                let ready = gate.borrow_and_update().ready_for(&self.serial, on);
                match ready {
                    Ok(path) => break path,
                    Err(state) if said.as_ref() != Some(&state) => {
                        self.state(state.clone()).await;
                        said = Some(state);
                    }
                    Err(_) => {}
                }
                tokio::select! {
                    r = gate.changed() => if r.is_err() { return Ok(()) },
                    r = want.changed() => if r.is_err() { return Ok(()) },
                    _ = stop.wait() => return Ok(()),
                }
            };
            said = None;
            let retry = (failures > 0).then(|| Retry {
                failures,
                reason: String::new(),
            });
            self.state(CameraState::Starting { retry }).await;
            let outcome = tokio::select! {
                o = self.stream(path.as_deref(), &mut want) => o,
                _ = stop.wait() => return Ok(()),
            };
            let (reason, pause) = match outcome {
                Outcome::Interrupted => continue,
                Outcome::Ended(why) => {
                    failures = 0;
                    let _ = self
                        .events
                        .send(SessionEvent::Ended {
                            serial: self.serial.clone(),
                            reason: why.clone(),
                        })
                        .await;
                    if !self.config.reconnect {
                        return Err(SessionError::StreamStopped(self.serial.clone()));
                    }
                    (why, self.config.restart_pause)
                }
                Outcome::Failed(why, bridge_says) => {
                    failures += 1;
                    if !self.config.reconnect {
                        return Err(SessionError::Camera {
                            serial: self.serial.clone(),
                            reason: why,
                        });
                    }
                    let ours = (self.config.backoff_min * 2u32.saturating_pow(failures - 1))
                        .min(self.config.backoff_max);
                    (why, bridge_says.map_or(ours, |b| b.max(ours)))
                }
            };
            let at = std::time::Instant::now() + pause;
            if failures == 1 || (failures > 0 && failures % WARN_EVERY == 0) {
                tracing::warn!(camera = %self.serial, "{reason}: retrying in {:.0} s (failure {failures} in a row)", pause.as_secs_f64());
            } else {
                tracing::info!(camera = %self.serial, "{reason}: again in {:.1} s", pause.as_secs_f64());
            }
            self.state(CameraState::Restarting {
                reason,
                at,
                failures,
            })
            .await;
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.wait() => return Ok(()),
            }
        }
    }

    /// One try: the request, then the body's chunks as video until it ends or the owner
    /// stops wanting the camera.
    async fn stream(&self, path: Option<&str>, want: &mut watch::Receiver<Want>) -> Outcome {
        let first = *want.borrow_and_update();
        if !first.on {
            return Outcome::Interrupted;
        }
        let wait = async {
            loop {
                if want.changed().await.is_err() {
                    return std::future::pending().await;
                }
                let w = *want.borrow_and_update();
                if !w.on || w.restarts != first.restarts {
                    return;
                }
            }
        };
        tokio::select! {
            o = self.body(path) => o,
            () = wait => Outcome::Interrupted,
        }
    }

    async fn body(&self, path: Option<&str>) -> Outcome {
        let mut response = match self.http.open_stream(&self.serial, path).await {
            Ok(r) => r,
            Err(super::OpenError::Refused { reason, retry }) => {
                return Outcome::Failed(reason, retry)
            }
            Err(e) => return Outcome::Failed(e.to_string(), None),
        };
        let _ = self
            .events
            .send(SessionEvent::Started {
                serial: self.serial.clone(),
            })
            .await;
        self.state(CameraState::Streaming).await;
        let mut chunks = 0u64;
        loop {
            let chunk = match timeout(self.config.data_timeout, response.chunk()).await {
                Err(_) => {
                    let why = format!(
                        "no video from the bridge for {:.0} s",
                        self.config.data_timeout.as_secs_f64()
                    );
                    return if chunks == 0 {
                        Outcome::Failed(why, None)
                    } else {
                        Outcome::Ended(why)
                    };
                }
                Ok(Ok(Some(c))) => c,
                Ok(Ok(None)) => return Outcome::Ended("the bridge ended the stream".to_owned()),
                Ok(Err(e)) => {
                    return Outcome::Ended(format!(
                        "the bridge's stream broke off: {}",
                        super::chain(&e)
                    ))
                }
            };
            chunks += 1;
            let _ = self
                .events
                .send(SessionEvent::Video {
                    serial: self.serial.clone(),
                    // Bytes hands its buffer over when it owns it alone (no copy).
                    data: Vec::from(chunk),
                    received_at: std::time::Instant::now(),
                })
                .await;
        }
    }
}

/// The cameras the bridge at `config.url` lists: connects, waits for its login (up to
/// `config.wait_server`; for ever when `None`), asks `devices.list` and closes.
pub async fn list_cameras(config: &SessionConfig) -> Result<Vec<DeviceInfo>, SessionError> {
    let begun = std::time::Instant::now();
    let mut delay = config.backoff_min;
    loop {
        let err = match list_once(config, begun).await {
            Ok(list) => return Ok(list),
            Err(e) if retry_after(config, &e, delay).is_some() => e,
            Err(e) => return Err(e),
        };
        if let Some(e) = past_wait(config, begun, delay, &err) {
            return Err(e);
        }
        tracing::warn!("{err}; trying again in {:.1} s", delay.as_secs_f64());
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(config.backoff_max);
    }
}

async fn list_once(
    config: &SessionConfig,
    begun: std::time::Instant,
) -> Result<Vec<DeviceInfo>, SessionError> {
    let (mut link, mut auth) = hello(config, None).await?;
    while !auth.is_ok() {
        tracing::info!("the bridge at {}: {}", config.url, auth.describe());
        let left = config
            .wait_server
            .map(|w| w.saturating_sub(begun.elapsed()));
        let next = link
            .next(Instant::now() + left.unwrap_or(Duration::from_secs(3600)))
            .await;
        let given_up = || past_wait(config, begun, Duration::ZERO, &auth.describe());
        match next {
            Ok(Ok(Message::Auth(a))) => auth = a,
            Ok(_) => {}
            // Silence while it logs in: keep the socket alive.
            Err(SessionError::Silent { .. }) if given_up().is_none() => link.ping().await?,
            Err(e) => return Err(given_up().unwrap_or(e)),
        }
        if let Some(e) = past_wait(config, begun, Duration::ZERO, &auth.describe()) {
            return Err(e);
        }
    }
    let devices = link.devices().await?;
    let _ = link.ws.close(None).await;
    Ok(devices.into_iter().map(|d| d.info).collect())
}

/// Asks camera `serial` to carry out `action` once (`eufy-hw ptz`) through the bridge:
/// `device.state` says whether it has the `ptz` capability, then `device.action` (`left`,
/// `right`, `up`, `down`; `preset.goto` with the slot index, preset N → N − 1 as the SDK's
/// preset list numbers them). The bridge has no 360° sweep.
pub(crate) async fn act(
    config: &SessionConfig,
    serial: &str,
    action: Ptz,
) -> Result<(), SessionError> {
    let (mut link, auth) = hello(config, None).await?;
    if !auth.is_ok() {
        return Err(SessionError::Bridge {
            url: config.url.clone(),
            reason: auth.describe(),
        });
    }
    let done = act_on(&mut link, config, serial, action).await;
    let _ = link.ws.close(None).await;
    done
}

/// [`act`] on a connection already logged in.
async fn act_on(
    link: &mut Link<'_>,
    config: &SessionConfig,
    serial: &str,
    action: Ptz,
) -> Result<(), SessionError> {
    let unable = |why: &str| SessionError::Unable {
        serial: serial.to_owned(),
        what: action.to_string(),
        why: why.to_owned(),
    };
    let reply = link
        .request("device.state", json!({ "sn": serial }))
        .await?;
    let device = reply
        .get("device")
        .map(Device::from_json)
        .and_then(Result::ok)
        .flatten()
        .ok_or_else(|| SessionError::Bridge {
            url: config.url.clone(),
            reason: format!(
                "its state of {serial} is unreadable: {}",
                excerpt(&reply.to_string())
            ),
        })?;
    if !device.can("ptz") {
        return Err(unable(&format!(
            "it has no ptz capability (its capabilities: {})",
            device.capabilities.join(", ")
        )));
    }
    let (name, args) = match action {
        Ptz::Move(d) => (d.name(), json!([])),
        Ptz::Sweep => return Err(unable("the bridge exposes no 360° sweep")),
        Ptz::Preset(n) => ("preset.goto", json!([n.saturating_sub(1)])),
    };
    link.request(
        "device.action",
        json!({ "sn": serial, "action": name, "args": args }),
    )
    .await
    .map(|_| ())
}

/// What `eufy-hw login` reports: the login state after what was submitted.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginOutcome {
    /// The state before anything was sent.
    pub before: AuthState,
    /// The state after (the same when nothing was sent).
    pub after: AuthState,
}

/// What `eufy-hw login` submits.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Nothing: say the state (and save a captcha).
    Nothing,
    /// A 2FA code.
    Code(String),
    /// A captcha's answer.
    Captcha(String),
    /// Ask for a new code or captcha.
    Retrigger,
}

/// Connects to the bridge, submits `answer` and returns the login state before and after.
/// A refused submission (`ok: false`) is an error with the bridge's reason.
pub async fn login(config: &SessionConfig, answer: Answer) -> Result<LoginOutcome, SessionError> {
    let (mut link, before) = hello(config, None).await?;
    let (cmd, args) = match answer {
        Answer::Nothing => {
            let _ = link.ws.close(None).await;
            return Ok(LoginOutcome {
                after: before.clone(),
                before,
            });
        }
        Answer::Code(code) => ("auth.submit", json!({ "code": code })),
        Answer::Captcha(c) => ("auth.submit", json!({ "captcha": c })),
        Answer::Retrigger => ("auth.retrigger", json!({})),
    };
    let reply = link.request(cmd, args).await?;
    let after = match reply.get("auth") {
        Some(a) => AuthState::from_json(a).map_err(|e| SessionError::Bridge {
            url: config.url.clone(),
            reason: format!("its answer to {cmd} is unreadable: {e}"),
        })?,
        None => before.clone(),
    };
    let _ = link.ws.close(None).await;
    Ok(LoginOutcome { before, after })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_camera_waits_for_login_list_and_owner() {
        let mut g = Gate::default();
        assert_eq!(g.ready_for("A", true), Err(CameraState::LoggingIn));
        g.auth = Some(AuthState::Require2fa { method: None });
        assert!(
            matches!(g.ready_for("A", true), Err(CameraState::Login { what }) if what.contains("2FA"))
        );
        g.auth = Some(AuthState::Ok);
        assert_eq!(
            g.ready_for("A", true),
            Err(CameraState::LoggingIn),
            "not listed yet"
        );
        g.listed = Some([("A".to_owned(), Some("/stream/A".to_owned()))].into());
        assert_eq!(g.ready_for("A", false), Err(CameraState::Idle));
        assert_eq!(g.ready_for("A", true), Ok(Some("/stream/A".to_owned())));
        assert_eq!(g.ready_for("B", true), Ok(None));
    }
}
