//! `eufy-hw simulate`: a stand-in for eufy-security-ws that replays Annex-B clips.
//!
//! A real WebSocket server (tokio-tungstenite) that speaks the protocol in PROTOCOL.md: the
//! unasked `version` message, `set_api_schema`, `start_listening`, `device.start_livestream`
//! / `stop_livestream` / `is_livestreaming` with the real result shapes and error codes, and
//! livestream events with `buffer: {"type":"Buffer","data":[...]}` and `metadata`.
//!
//! By default it reproduces the real server's timing: `livestream started` 650 ms after the
//! start, the frames captured meanwhile in a burst, each frame held until the next one is
//! captured. [`SimConfig::realistic`] = false sends at once (throughput tests). Faults can be
//! injected per connection ([`Fault`]) for the client's tests.
//!
//! Each (connection, camera) pair streams from its own task over a shared, immutable clip;
//! a camera's *run* (its start instant) is shared, so a client that joins a running stream
//! starts at whatever frame comes next, as with a real camera.
//!
//! What real homes do is modelled too: cameras behind one station ([`SimConfig::stations`])
//! stream one at a time (the newer start wins; two starts at once leave the older camera
//! silent, with no error), streams end by themselves ([`SimConfig::cutoff`]), the server may
//! still be logging in ([`SimConfig::login_delay`]), and detection events (motion, person,
//! doorbell rings) come on a schedule ([`SimConfig::events`], [`SimConfig::events_every`]).
//! [`Simulator::stats`] counts what clients did (commands, close codes, silenced starts).

mod bridge;
mod serve;
mod stream;
mod talk;
#[cfg(test)]
mod tests;

pub use bridge::{BridgeSim, HttpFault};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::clip::Clip;
use crate::eufy::buffer::encode_byte_array;
use crate::eufy::protocol::{self, events, DetectionKind};
use serve::{event, serve, Out};

/// One simulated camera.
#[derive(Debug, Clone)]
pub struct Camera {
    /// Its serial number, e.g. `T8410P0000000001`.
    pub serial: String,
    /// What it streams.
    pub clip: Arc<Clip>,
}

/// How fast frames go out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pacing {
    /// At the clip's frame rate (its SPS timing; 15 fps when it has none).
    Clip,
    /// At this many frames per second.
    Fps(f64),
    /// As fast as the connection takes them.
    Unpaced,
}

/// How the byte stream is cut into events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunking {
    /// One event per access unit, as the real server usually does.
    AccessUnit,
    /// Cut at random places (sizes 1..=max), reproducibly from `seed`.
    Random {
        /// RNG seed.
        seed: u64,
        /// Largest chunk in bytes.
        max: usize,
    },
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Drop the TCP connection without a close frame (the client sees 1006).
    Close,
    /// Send and read nothing (not even pongs) for this long.
    Stall(Duration),
    /// One video event of bytes that hold no start code.
    Garbage,
    /// Flip bytes in the middle of the next access unit's slice data.
    Corrupt,
    /// One text frame that is not JSON.
    BadJson,
    /// One video event whose buffer holds a value over 255.
    BadBytes,
    /// End this connection's streams with `livestream stopped`.
    Stop,
    /// Send `{"source":"server","event":"shutdown"}` and close, as a restarting server does;
    /// the listener keeps accepting.
    Restart,
}

/// A fault injected into every connection once it has sent `after_frames` video events.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// What happens.
    pub kind: FaultKind,
    /// After how many video events (counted per connection, all cameras together).
    pub after_frames: u64,
}

impl std::str::FromStr for Fault {
    type Err = String;

    /// `KIND[=ARG]@FRAMES`: `close@100`, `stall=2.5@50`, `garbage@10`, `corrupt@20`,
    /// `bad-json@5`, `bad-bytes@5`, `stop@30`, `restart@30`.
    fn from_str(s: &str) -> Result<Fault, String> {
        let (spec, after) = s.split_once('@').unwrap_or((s, "0"));
        let after_frames = after
            .parse()
            .map_err(|_| format!("fault {s:?}: {after:?} is not a frame count"))?;
        let (name, arg) = spec.split_once('=').unwrap_or((spec, ""));
        let kind = match name {
            "close" => FaultKind::Close,
            "stall" => {
                let secs: f64 = arg
                    .parse()
                    .map_err(|_| format!("fault {s:?}: stall needs seconds, e.g. stall=2@50"))?;
                if !(0.0..=3600.0).contains(&secs) {
                    return Err(format!("fault {s:?}: stall must be 0..3600 s"));
                }
                FaultKind::Stall(Duration::from_secs_f64(secs))
            }
            "garbage" => FaultKind::Garbage,
            "corrupt" => FaultKind::Corrupt,
            "bad-json" => FaultKind::BadJson,
            "bad-bytes" => FaultKind::BadBytes,
            "stop" => FaultKind::Stop,
            "restart" => FaultKind::Restart,
            _ => {
                return Err(format!(
                    "unknown fault {name:?}: use close, stall=SECS, garbage, corrupt, bad-json, bad-bytes, stop or restart, with @FRAMES"
                ))
            }
        };
        Ok(Fault { kind, after_frames })
    }
}

/// Everything the simulator does.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free one.
    pub bind: SocketAddr,
    /// The cameras it knows.
    pub cameras: Vec<Camera>,
    /// Frame pacing.
    pub pacing: Pacing,
    /// Reproduce the real server's start delay and one-frame hold.
    pub realistic: bool,
    /// Delay between the start command and `livestream started` when realistic.
    pub start_delay: Duration,
    /// Loop the clip forever; otherwise the stream ends after the clip with
    /// `livestream stopped` (after `end_timeout`).
    pub looping: bool,
    /// How long after the last frame a non-looping stream reports `livestream stopped`.
    pub end_timeout: Duration,
    /// Framing of the byte stream.
    pub chunking: Chunking,
    /// Faults injected into every connection.
    pub faults: Vec<Fault>,
    /// Commands never answered (nor carried out).
    pub ignore_commands: Vec<String>,
    /// Lowest schema it accepts.
    pub min_schema: u32,
    /// Highest schema it accepts.
    pub max_schema: u32,
    /// `serverVersion` in the version message.
    pub server_version: String,
    /// When set, the instant each video event is handed to the socket, per serial (for
    /// benchmarks: server send → received).
    pub send_log: Option<SendLog>,
    /// ADTS AAC frames every camera sends as `livestream audio data`, interleaved with the
    /// video by time (looping).
    pub audio: Option<Arc<Vec<Arc<[u8]>>>>,
    /// The audio starts this long after the video (some cameras' sound comes later).
    pub audio_delay: Duration,
    /// `metadata.audioCodec` of the audio events (the real server: `AAC`, `AAC_LC`,
    /// `AAC_ELD`, `NONE`, `UNKNOWN`).
    pub audio_codec: String,
    /// Stations and the cameras behind them; a station streams one camera at a time. A
    /// camera in no station is its own.
    pub stations: Vec<(String, Vec<String>)>,
    /// Display names by serial (`device.get_properties`); default `Camera N` in order.
    pub names: HashMap<String, String>,
    /// Each stream ends by itself (`livestream stopped`) this long after it started.
    pub cutoff: Option<Duration>,
    /// The server logs in this long after it starts: until then `driver.connected` is false,
    /// it lists no device and refuses device commands with `device_not_found`; then it sends
    /// `driver connected` and `device added` events.
    pub login_delay: Option<Duration>,
    /// Detection events at set times.
    pub events: Vec<SimEvent>,
    /// A detection event (motion, person or ring, on a camera picked at random from `seed`)
    /// this often.
    pub events_every: Option<Duration>,
    /// How long a detection's state stays true before the `state: false` event.
    pub event_hold: Duration,
    /// Cameras that accept a start and then send nothing (asleep, or their station
    /// offline).
    pub offline: Vec<String>,
    /// Each camera's latest picture (JPEG), its `picture` property (schema 17 and up): in
    /// `device.get_properties`, and sent again (`property changed`) with each of its
    /// detection events, as a camera snaps one.
    pub pictures: HashMap<String, Arc<Vec<u8>>>,
    /// Speak the Eufy Mega bridge instead of eufy-security-ws (`--backend bridge`): the
    /// WebSocket on `/ws`, video over HTTP.
    pub bridge: Option<BridgeSim>,
    /// What each camera is (default plain): what `device.get_commands` and the bridge's
    /// capabilities say, and which commands it takes.
    pub kinds: HashMap<String, CameraKind>,
    /// From `device.start_talkback` to the camera's `talkback started`.
    pub talk_delay: Duration,
    /// Doorbells that refuse talk back (busy: `talkback stopped`, never started).
    pub talk_busy: Vec<String>,
}

/// What a simulated camera can do beyond streaming.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CameraKind {
    /// Streams only.
    #[default]
    Plain,
    /// A doorbell (talk back, quick replies).
    Doorbell,
    /// A pan/tilt camera (steps, sweep, presets).
    Ptz,
}

/// The quick replies a simulated doorbell has: (voice id, description).
pub const VOICES: [(u64, &str); 3] = [
    (1, "Hello, we'll be right there"),
    (2, "Please leave the package at the door"),
    (3, "Sorry, we can't come to the door right now"),
];

impl CameraKind {
    /// eufy-security-ws's `device.get_commands` for it.
    pub fn commands(self) -> Vec<&'static str> {
        let mut c = vec!["deviceStartLivestream", "deviceStopLivestream"];
        match self {
            CameraKind::Plain => {}
            CameraKind::Doorbell => c.extend([
                "deviceStartTalkback",
                "deviceStopTalkback",
                "deviceQuickResponse",
            ]),
            CameraKind::Ptz => c.extend(["devicePanAndTilt", "devicePresetPosition"]),
        }
        c
    }
}

/// A camera's kind (`--kind SERIAL=plain|doorbell|ptz`).
#[derive(Debug, Clone, PartialEq)]
pub struct KindSpec {
    /// The camera.
    pub serial: String,
    /// What it is.
    pub kind: CameraKind,
}

impl std::str::FromStr for KindSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<KindSpec, String> {
        let bad = || format!("--kind {s:?}: expected SERIAL=plain|doorbell|ptz");
        let (serial, kind) = s.split_once('=').ok_or_else(bad)?;
        let kind = match kind {
            "plain" => CameraKind::Plain,
            "doorbell" => CameraKind::Doorbell,
            "ptz" => CameraKind::Ptz,
            _ => return Err(bad()),
        };
        Ok(KindSpec {
            serial: serial.to_owned(),
            kind,
        })
    }
}

/// The first schema whose device properties carry the `picture`.
pub const PICTURE_SCHEMA: u32 = 17;

/// A detection event the simulator sends at a set time: `KIND[:SERIAL]@SECS`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimEvent {
    /// What.
    pub kind: DetectionKind,
    /// Which camera (default: the first).
    pub serial: Option<String>,
    /// When, after the simulator starts.
    pub at: Duration,
}

impl std::str::FromStr for SimEvent {
    type Err = String;

    /// `rings@5`, `person:T8410P0000000002@12.5`.
    fn from_str(s: &str) -> Result<SimEvent, String> {
        let (spec, at) = s
            .split_once('@')
            .ok_or_else(|| format!("event {s:?}: expected KIND[:SERIAL]@SECS, e.g. rings@5"))?;
        let secs: f64 = at
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite() && (0.0..=1e6).contains(x))
            .ok_or_else(|| format!("event {s:?}: {at:?} is not a number of seconds"))?;
        let (kind, serial) = match spec.split_once(':') {
            Some((k, serial)) => (k, Some(serial.to_owned())),
            None => (spec, None),
        };
        Ok(SimEvent {
            kind: kind.parse()?,
            serial,
            at: Duration::from_secs_f64(secs),
        })
    }
}

/// A station and the cameras behind it (`--station STATION=SERIAL,SERIAL`).
#[derive(Debug, Clone, PartialEq)]
pub struct StationSpec {
    /// The station's serial.
    pub station: String,
    /// Its cameras.
    pub cameras: Vec<String>,
}

impl std::str::FromStr for StationSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<StationSpec, String> {
        let (station, list) = s
            .split_once('=')
            .filter(|(st, list)| !st.is_empty() && !list.is_empty())
            .ok_or_else(|| format!("--station {s:?}: expected STATION=SERIAL,SERIAL"))?;
        Ok(StationSpec {
            station: station.to_owned(),
            cameras: list.split(',').map(str::to_owned).collect(),
        })
    }
}

/// A camera's display name (`--name SERIAL=NAME`).
#[derive(Debug, Clone, PartialEq)]
pub struct NameSpec {
    /// The camera.
    pub serial: String,
    /// Its name.
    pub name: String,
}

impl std::str::FromStr for NameSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<NameSpec, String> {
        let (serial, name) = s
            .split_once('=')
            .ok_or_else(|| format!("--name {s:?}: expected SERIAL=NAME"))?;
        Ok(NameSpec {
            serial: serial.to_owned(),
            name: name.to_owned(),
        })
    }
}

impl Camera {
    /// A camera from `SERIAL=FILE` (`--camera`): the clip read from the file.
    pub fn from_spec(spec: &str) -> Result<Camera, String> {
        let (serial, file) = spec
            .split_once('=')
            .ok_or_else(|| format!("--camera {spec:?}: expected SERIAL=FILE"))?;
        if serial.is_empty() {
            return Err(format!("--camera {spec:?}: the serial is empty"));
        }
        let clip = Clip::load(file.as_ref()).map_err(|e| e.to_string())?;
        Ok(Camera {
            serial: serial.to_owned(),
            clip: Arc::new(clip),
        })
    }

    /// What it streams: `SERIAL = clip (codec profile WxH, N access units, F fps)`.
    pub fn describe(&self) -> String {
        let Some(u) = self.clip.units.first() else {
            return format!("{} = {} (empty)", self.serial, self.clip.name);
        };
        format!(
            "{} = {} ({} {} {}x{}, {} access units, {:.0} fps)",
            self.serial,
            self.clip.name,
            u.info.codec,
            u.info.profile_name(),
            u.info.width,
            u.info.height,
            self.clip.units.len(),
            self.clip.fps().unwrap_or(15.0)
        )
    }
}

impl SimConfig {
    /// Checks that the stations, events and pictures name only its cameras.
    pub fn check(&self) -> Result<(), String> {
        let known = |serial: &String| self.cameras.iter().any(|c| &c.serial == serial);
        for (station, serials) in &self.stations {
            if let Some(s) = serials.iter().find(|s| !known(s)) {
                return Err(format!("--station {station}: no camera {s}"));
            }
        }
        if let Some(s) = self
            .events
            .iter()
            .filter_map(|e| e.serial.as_ref())
            .find(|s| !known(s))
        {
            return Err(format!("--event: no camera {s}"));
        }
        if let Some(s) = self.pictures.keys().find(|s| !known(s)) {
            return Err(format!("--picture: no camera {s}"));
        }
        Ok(())
    }
}

/// A `picture` property's value: the JPEG as a Node Buffer, and its type.
fn picture_json(jpeg: &[u8]) -> Value {
    json!({
        "data": { "type": "Buffer", "data": jpeg },
        "type": { "ext": "jpg", "mime": "image/jpeg" },
    })
}

/// A camera's latest picture from a file (`--picture SERIAL=FILE.jpg`).
#[derive(Debug, Clone, PartialEq)]
pub struct PictureSpec {
    /// The camera.
    pub serial: String,
    /// The JPEG file.
    pub path: std::path::PathBuf,
}

impl std::str::FromStr for PictureSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<PictureSpec, String> {
        let (serial, path) = s
            .split_once('=')
            .filter(|(serial, path)| !serial.is_empty() && !path.is_empty())
            .ok_or_else(|| format!("--picture {s:?}: expected SERIAL=FILE.jpg"))?;
        Ok(PictureSpec {
            serial: serial.to_owned(),
            path: path.into(),
        })
    }
}

/// Send instants of video events, per serial, in order.
pub type SendLog = Arc<Mutex<HashMap<String, Vec<std::time::Instant>>>>;

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            cameras: Vec::new(),
            pacing: Pacing::Clip,
            realistic: true,
            start_delay: Duration::from_millis(650),
            looping: true,
            end_timeout: Duration::from_secs(5),
            chunking: Chunking::AccessUnit,
            faults: Vec::new(),
            ignore_commands: Vec::new(),
            min_schema: 0,
            max_schema: 21,
            server_version: "3.0.1".into(),
            send_log: None,
            audio: None,
            audio_delay: Duration::ZERO,
            audio_codec: "AAC".into(),
            stations: Vec::new(),
            names: HashMap::new(),
            cutoff: None,
            login_delay: None,
            events: Vec::new(),
            events_every: None,
            event_hold: Duration::from_secs(2),
            offline: Vec::new(),
            pictures: HashMap::new(),
            bridge: None,
            kinds: HashMap::new(),
            talk_delay: Duration::from_millis(300),
            talk_busy: Vec::new(),
        }
    }
}

/// What clients did, for tests: a client's behaviour seen from the server.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SimStats {
    /// Connections accepted.
    pub connections: u64,
    /// Commands received, by name.
    pub commands: HashMap<String, u64>,
    /// How each connection that sent a close frame closed (`None`: a close frame with no
    /// code, which the server logs as 1005 "Closure without status").
    pub close_codes: Vec<Option<u16>>,
    /// Starts that left another camera of the same station silent (two starts at once).
    pub silenced: u64,
    /// Streams of one station running at once, at most (the newer start stops the older, so
    /// more than 1 only counts silenced ones).
    pub peak_station_streams: u64,
    /// Detection events sent (each state change counts).
    pub detection_events: u64,
    /// Streams started, by camera.
    pub starts: std::collections::BTreeMap<String, u64>,
    /// Streams running at once (all cameras, silenced ones not counted), at most.
    pub peak_streams: u64,
    /// Pan/tilt commands carried out, in order: (camera, what the server was sent, e.g.
    /// `device.pan_and_tilt 1`, `device.action left []`).
    pub ptz: Vec<(String, String)>,
    /// Quick replies played, in order: (doorbell, voice id).
    pub replies: Vec<(String, u64)>,
    /// Talk back audio taken, in order of arrival (the first [`MAX_TALK_KEPT`]).
    pub talk: Vec<TalkReceived>,
    /// `device.talkback_audio_data` taken, in all.
    pub talk_frames: u64,
    /// `device.talkback_audio_data` refused (no talk back running: before the camera
    /// answered, after a cut).
    pub talk_refused: u64,
    /// Talk backs started, by camera.
    pub talk_starts: std::collections::BTreeMap<String, u64>,
}

/// One `device.talkback_audio_data` as the server took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalkReceived {
    /// The camera that talked.
    pub serial: String,
    /// When it arrived.
    pub at: std::time::Instant,
    /// Its buffer.
    pub data: Vec<u8>,
}

/// Talk back messages kept in [`SimStats::talk`] (about 20 minutes at one per 64 ms).
pub const MAX_TALK_KEPT: usize = 20_000;

impl SimStats {
    /// How many times `command` was received.
    pub fn count(&self, command: &str) -> u64 {
        self.commands.get(command).copied().unwrap_or(0)
    }
}

/// A running simulator. Dropping it stops the listener and every connection.
pub struct Simulator {
    addr: SocketAddr,
    state: Arc<Shared>,
    bridge: Option<Arc<bridge::Bridge>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    background: JoinHandle<()>,
}

impl Simulator {
    /// Binds and starts serving on the current tokio runtime.
    pub async fn start(config: SimConfig) -> std::io::Result<Simulator> {
        config
            .check()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let (broadcast, _) = tokio::sync::broadcast::channel(256);
        let began = Instant::now();
        let state = Arc::new(Shared::new(config, began, broadcast));
        let bridge = state.config.bridge.clone().map(bridge::Bridge::new);
        let mut background = spawn_server_events(&state, began);
        if let Some(br) = &bridge {
            let events = background;
            let translated = tokio::spawn(bridge::background(state.clone(), br.clone()));
            background = tokio::spawn(async move {
                let _ = tokio::join!(events, translated);
            });
        }
        let (stop, mut stopped) = oneshot::channel();
        let st = state.clone();
        let br = bridge.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => match accepted {
                        Ok((tcp, peer)) => {
                            let _ = tcp.set_nodelay(true);
                            let st = st.clone();
                            let br = br.clone();
                            conns.spawn(async move {
                                let served = match br {
                                    Some(br) => bridge::serve(st, br, tcp).await.map_err(Into::into),
                                    None => serve(st, tcp).await,
                                };
                                if let Err(e) = served {
                                    tracing::debug!(%peer, "simulator connection ended: {e}");
                                }
                            });
                        }
                        Err(e) => {
                            tracing::warn!("simulator accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    },
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
            conns.shutdown().await;
        });
        Ok(Simulator {
            addr,
            state,
            bridge,
            stop: Some(stop),
            task,
            background,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://ADDR` (`ws://ADDR/ws` for the bridge).
    pub fn url(&self) -> String {
        match self.bridge {
            Some(_) => format!("ws://{}/ws", self.addr),
            None => format!("ws://{}", self.addr),
        }
    }

    /// What clients did so far.
    pub fn stats(&self) -> SimStats {
        let mut stats = lock(&self.state.stats).clone();
        stats.close_codes.sort();
        stats
    }

    /// Streams running now (silenced ones not counted).
    pub fn active_streams(&self) -> usize {
        if let Some(br) = &self.bridge {
            return br.streaming().len();
        }
        lock(&self.state.cameras)
            .values()
            .filter(|r| !r.silent)
            .count()
    }

    /// The cameras streaming now (silenced ones not counted), sorted.
    pub fn streaming(&self) -> Vec<String> {
        if let Some(br) = &self.bridge {
            return br.streaming();
        }
        let mut v: Vec<String> = lock(&self.state.cameras)
            .iter()
            .filter(|(_, r)| !r.silent)
            .map(|(s, _)| s.clone())
            .collect();
        v.sort();
        v
    }

    /// Stops listening and closes every connection.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
        self.background.abort();
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
        self.background.abort();
    }
}

/// The server's own events: login (`driver connected`, `device added`) and detections.
fn spawn_server_events(st: &Arc<Shared>, began: Instant) -> JoinHandle<()> {
    let st = st.clone();
    tokio::spawn(async move {
        let mut tasks = tokio::task::JoinSet::new();
        if st.config.login_delay.is_some() {
            let st = st.clone();
            tasks.spawn(async move {
                tokio::time::sleep_until(st.logged_in_at).await;
                tracing::info!("simulator: logged in");
                let _ = st.broadcast.send(event(
                    json!({"source": "driver", "event": events::CONNECTED}),
                ));
                for c in &st.config.cameras {
                    let _ = st.broadcast.send(event(json!({
                        "source": "device",
                        "event": events::DEVICE_ADDED,
                        "device": st.properties(&c.serial, 0),
                    })));
                }
            });
        }
        let first = st.config.cameras.first().map(|c| c.serial.clone());
        for e in st.config.events.clone() {
            let st = st.clone();
            let Some(serial) = e.serial.clone().or_else(|| first.clone()) else {
                continue;
            };
            tasks.spawn(async move {
                tokio::time::sleep_until(began + e.at).await;
                st.detection(&serial, e.kind).await;
            });
        }
        if let Some(every) = st.config.events_every.filter(|d| !d.is_zero()) {
            let st = st.clone();
            tasks.spawn(async move {
                let seed = match st.config.chunking {
                    Chunking::Random { seed, .. } => seed,
                    Chunking::AccessUnit => 1,
                };
                let mut rng = SmallRng::seed_from_u64(seed);
                let kinds = [
                    DetectionKind::Motion,
                    DetectionKind::Person,
                    DetectionKind::Ring,
                ];
                let mut tick = tokio::time::interval_at(began + every, every);
                loop {
                    tick.tick().await;
                    let n = st.config.cameras.len();
                    if n == 0 {
                        return;
                    }
                    let serial = st.config.cameras[rng.random_range(0..n)].serial.clone();
                    let kind = kinds[rng.random_range(0..kinds.len())];
                    let st = st.clone();
                    tokio::spawn(async move { st.detection(&serial, kind).await });
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    })
}

/// A camera's current livestream, shared by the connections that watch it.
struct Run {
    id: u64,
    t0: Instant,
    started_at: Instant,
    /// Another camera of its station started at the same time: this one never sends
    /// anything (no `livestream started`, no video, no error), as real stations do.
    silent: bool,
    /// Connections receiving it, with the handle of their streaming task.
    watchers: HashMap<u64, Watcher>,
}

struct Watcher {
    out: mpsc::Sender<Out>,
    task: JoinHandle<()>,
}

struct Shared {
    config: SimConfig,
    cameras: Mutex<HashMap<String, Run>>,
    stats: Mutex<SimStats>,
    next_id: Mutex<u64>,
    /// When the server has logged in (its start, without a login delay).
    logged_in_at: Instant,
    /// Server-wide events (login, detections) to every listening connection.
    broadcast: tokio::sync::broadcast::Sender<String>,
    /// Access units already encoded as JSON arrays, by clip and index (see
    /// [`Shared::encoded_array`]).
    encoded: Mutex<EncodedCache>,
    /// The `metadata` of audio events, made once.
    audio_metadata: String,
    /// The one talk back the server holds.
    talk: Mutex<Option<talk::TalkRun>>,
}

/// Encoding a unit's bytes as decimal text is the server's main cost; a real server runs on
/// another machine or process, so the simulator encodes each unit of a clip once and reuses
/// the text, up to [`ENCODED_CACHE_BYTES`], so that a benchmark measures the client.
#[derive(Default)]
struct EncodedCache {
    map: HashMap<(usize, usize), Arc<str>>,
    bytes: usize,
}

/// The most text [`EncodedCache`] keeps.
const ENCODED_CACHE_BYTES: usize = 256 << 20;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// The server's state at `began`, before anything streams.
    fn new(
        config: SimConfig,
        began: Instant,
        broadcast: tokio::sync::broadcast::Sender<String>,
    ) -> Shared {
        Shared {
            logged_in_at: began + config.login_delay.unwrap_or_default(),
            audio_metadata: json!({ "audioCodec": config.audio_codec }).to_string(),
            config,
            cameras: Mutex::new(HashMap::new()),
            stats: Mutex::new(SimStats::default()),
            next_id: Mutex::new(0),
            encoded: Mutex::new(EncodedCache::default()),
            broadcast,
            talk: Mutex::new(None),
        }
    }

    fn camera(&self, serial: &str) -> Option<&Camera> {
        self.config.cameras.iter().find(|c| c.serial == serial)
    }

    fn kind(&self, serial: &str) -> CameraKind {
        self.config.kinds.get(serial).copied().unwrap_or_default()
    }

    fn logged_in(&self) -> bool {
        Instant::now() >= self.logged_in_at
    }

    /// The station a camera streams through (itself when in none).
    fn station(&self, serial: &str) -> String {
        self.config
            .stations
            .iter()
            .find(|(_, cams)| cams.iter().any(|c| c == serial))
            .map_or_else(|| serial.to_owned(), |(s, _)| s.clone())
    }

    /// What `device.get_properties` and `device added` say of a camera.
    /// `serial`'s properties as a connection at `schema` gets them.
    fn properties(&self, serial: &str, schema: u32) -> Value {
        let index = self
            .config
            .cameras
            .iter()
            .position(|c| c.serial == serial)
            .unwrap_or(0);
        let name = self
            .config
            .names
            .get(serial)
            .cloned()
            .unwrap_or_else(|| format!("Camera {}", index + 1));
        let mut props = json!({
            "name": name,
            "model": "T8410",
            "serialNumber": serial,
            "stationSerialNumber": self.station(serial),
            "type": 14,
            "enabled": true,
        });
        if let (Some(p), true, Some(map)) = (
            self.config.pictures.get(serial),
            schema >= PICTURE_SCHEMA,
            props.as_object_mut(),
        ) {
            map.insert(protocol::PICTURE.into(), picture_json(p));
        }
        props
    }

    /// A detection: `state: true`, then `state: false` after the hold time.
    async fn detection(&self, serial: &str, kind: DetectionKind) {
        for state in [true, false] {
            if !state {
                tokio::time::sleep(self.config.event_hold).await;
            }
            lock(&self.stats).detection_events += 1;
            let _ = self.broadcast.send(event(json!({
                "source": "device",
                "event": kind.event_name(),
                "serialNumber": serial,
                "state": state,
            })));
            // The camera snaps a picture of what it saw.
            if let Some(p) = self.config.pictures.get(serial).filter(|_| state) {
                let _ = self.broadcast.send(event(json!({
                    "source": "device",
                    "event": events::PROPERTY_CHANGED,
                    "serialNumber": serial,
                    "name": protocol::PICTURE,
                    "value": picture_json(p),
                })));
            }
        }
    }

    /// Unit `index` of `clip` as a JSON array, from the cache or encoded now (kept while the
    /// cache has room). Keyed by the clip's address: clips live as long as the config.
    fn encoded_array(&self, clip: &Arc<Clip>, index: usize) -> Option<Arc<str>> {
        let key = (Arc::as_ptr(clip) as usize, index);
        if let Some(text) = lock(&self.encoded).map.get(&key) {
            return Some(text.clone());
        }
        let unit = clip.units.get(index)?;
        let mut text = String::with_capacity(unit.data.len() * 4 + 2);
        encode_byte_array(&unit.data, &mut text);
        let text: Arc<str> = text.into();
        let mut cache = lock(&self.encoded);
        if cache.bytes + text.len() <= ENCODED_CACHE_BYTES {
            cache.bytes += text.len();
            cache.map.insert(key, text.clone());
        }
        Some(text)
    }

    fn next_id(&self) -> u64 {
        let mut id = lock(&self.next_id);
        *id += 1;
        *id
    }

    fn interval(&self, clip: &Clip) -> Option<Duration> {
        let fps = match self.config.pacing {
            Pacing::Unpaced => return None,
            Pacing::Fps(f) => f,
            Pacing::Clip => clip.fps().unwrap_or(15.0),
        };
        Some(Duration::from_secs_f64(1.0 / fps.clamp(0.1, 1000.0)))
    }
}
