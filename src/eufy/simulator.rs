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

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::buffer::encode_byte_array;
use super::protocol::{codes, events, DetectionKind, ASYNC_RESULT_SCHEMA, MIN_LIVESTREAM_SCHEMA};
use crate::clip::Clip;

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
}

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
}

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
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    background: JoinHandle<()>,
}

impl Simulator {
    /// Binds and starts serving on the current tokio runtime.
    pub async fn start(config: SimConfig) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let (broadcast, _) = tokio::sync::broadcast::channel(256);
        let began = Instant::now();
        let state = Arc::new(Shared {
            logged_in_at: began + config.login_delay.unwrap_or_default(),
            audio_metadata: json!({ "audioCodec": config.audio_codec }).to_string(),
            config,
            cameras: Mutex::new(HashMap::new()),
            stats: Mutex::new(SimStats::default()),
            next_id: Mutex::new(0),
            encoded: Mutex::new(EncodedCache::default()),
            broadcast,
        });
        let background = spawn_server_events(&state, began);
        let (stop, mut stopped) = oneshot::channel();
        let st = state.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => match accepted {
                        Ok((tcp, peer)) => {
                            let _ = tcp.set_nodelay(true);
                            let st = st.clone();
                            conns.spawn(async move {
                                if let Err(e) = serve(st, tcp).await {
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
            stop: Some(stop),
            task,
            background,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://ADDR`.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// What clients did so far.
    pub fn stats(&self) -> SimStats {
        let mut stats = lock(&self.state.stats).clone();
        stats.close_codes.sort();
        stats
    }

    /// Streams running now (silenced ones not counted).
    pub fn active_streams(&self) -> usize {
        lock(&self.state.cameras)
            .values()
            .filter(|r| !r.silent)
            .count()
    }

    /// The cameras streaming now (silenced ones not counted), sorted.
    pub fn streaming(&self) -> Vec<String> {
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
                        "device": st.properties(&c.serial),
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
    fn camera(&self, serial: &str) -> Option<&Camera> {
        self.config.cameras.iter().find(|c| c.serial == serial)
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
    fn properties(&self, serial: &str) -> Value {
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
        json!({
            "name": name,
            "model": "T8410",
            "serialNumber": serial,
            "stationSerialNumber": self.station(serial),
            "type": 14,
            "enabled": true,
        })
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

/// What a connection's writer sends.
enum Out {
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

fn event(body: Value) -> String {
    json!({ "type": "event", "event": body }).to_string()
}

fn device_event(name: &str, serial: &str) -> String {
    event(json!({ "source": "device", "event": name, "serialNumber": serial }))
}

fn result_ok(id: &Value, result: Value) -> String {
    json!({ "type": "result", "messageId": id, "success": true, "result": result }).to_string()
}

fn result_err(id: &Value, code: &str) -> String {
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
struct Conn {
    id: u64,
    schema: u32,
    listening: bool,
    out_tx: mpsc::Sender<Out>,
    /// Cameras this connection streams (by its own start).
    streaming: HashSet<String>,
}

async fn serve(
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
    let mut cams = lock(&st.cameras);
    for run in cams.values_mut() {
        if let Some(w) = run.watchers.remove(&conn.id) {
            w.task.abort();
        }
    }
    cams.retain(|_, run| !run.watchers.is_empty());
    conn.streaming.clear();
}

fn handle_command(st: &Arc<Shared>, conn: &mut Conn, cmd: &Value) -> Vec<String> {
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
            json!({ "serialNumber": serial, "properties": st.properties(serial) }),
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

fn metadata_json(unit: &crate::clip::ClipUnit, fps: f64) -> Arc<str> {
    json!({
        "videoCodec": unit.info.codec.protocol_name(),
        "videoFPS": fps.round() as u64,
        "videoHeight": unit.info.height,
        "videoWidth": unit.info.width,
    })
    .to_string()
    .into()
}

/// The random cuts of one stream ([`Chunking::Random`]): bytes in, chunks out, reproducible
/// from the seed.
struct RandomCuts {
    rng: SmallRng,
    max: usize,
    pending: Vec<u8>,
    next_cut: usize,
}

impl RandomCuts {
    fn new(seed: u64, max: usize) -> RandomCuts {
        RandomCuts {
            rng: SmallRng::seed_from_u64(seed),
            max: max.max(1),
            pending: Vec::new(),
            next_cut: 0,
        }
    }

    /// Adds `bytes`; returns the chunks now cut (what is shorter than the next cut waits).
    fn push(&mut self, bytes: &[u8]) -> Vec<Arc<[u8]>> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            if self.next_cut == 0 {
                // Many small cuts (to split start codes) and some large ones.
                self.next_cut = if self.rng.random_bool(0.25) {
                    self.rng.random_range(1..=16.min(self.max))
                } else {
                    self.rng.random_range(1..=self.max)
                };
            }
            if self.pending.len() < self.next_cut {
                return out;
            }
            out.push(
                self.pending
                    .drain(..self.next_cut)
                    .collect::<Vec<u8>>()
                    .into(),
            );
            self.next_cut = 0;
        }
    }

    /// What waits for the next cut, at the end of a stream.
    fn rest(&mut self) -> Option<Arc<[u8]>> {
        (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending).into())
    }
}

/// A stream's audio: ADTS frames of 1024 samples (looped), each sent once the video clock
/// passes its time.
struct AudioClock {
    frames: Arc<Vec<Arc<[u8]>>>,
    secs: f64,
    sent: u64,
    /// Video time at which the audio starts, s.
    start: f64,
}

impl AudioClock {
    /// Audio for a stream joined at video frame `first` of `frame_secs` each, starting
    /// `start` seconds into the video.
    fn new(
        frames: Arc<Vec<Arc<[u8]>>>,
        first: u64,
        frame_secs: f64,
        start: f64,
    ) -> Option<AudioClock> {
        let secs = frames
            .first()
            .and_then(|f| crate::bitstream::adts::parse_header(f))
            .map(|h| 1024.0 / f64::from(h.sample_rate().max(1)))?;
        Some(AudioClock {
            frames,
            secs,
            sent: ((first as f64 * frame_secs - start).max(0.0) / secs.max(1e-3)) as u64,
            start,
        })
    }

    /// The video time (s) when the next frame is due: when its last sample was captured.
    fn next_at(&self) -> f64 {
        self.start + (self.sent as f64 + 1.0) * self.secs
    }

    /// The frames due by `video_time` seconds.
    fn due(&mut self, video_time: f64) -> Vec<Arc<[u8]>> {
        let mut out = Vec::new();
        while self.start + (self.sent as f64 + 1.0) * self.secs <= video_time {
            out.push(self.frames[(self.sent % self.frames.len() as u64) as usize].clone());
            self.sent += 1;
        }
        out
    }
}

/// One (connection, camera) stream's task, from `livestream started` to its end.
///
/// Long on purpose: it reads top to bottom as a camera behind the real server behaves
/// (announce, hold a frame, pace, cut off, end), with the framing and audio pieces in
/// [`RandomCuts`] and [`AudioClock`].
#[allow(clippy::too_many_arguments)]
fn spawn_stream(
    st: &Arc<Shared>,
    conn: &Conn,
    camera: &Camera,
    run: u64,
    t0: Instant,
    started_at: Instant,
    announce: bool,
) -> JoinHandle<()> {
    let out = conn.out_tx.clone();
    let clip = camera.clip.clone();
    let serial: Arc<str> = camera.serial.as_str().into();
    let interval = st.interval(&clip);
    let cfg = st.config.clone();
    let st = st.clone();
    // A joining client starts at the next frame the camera captures; the starter at frame 0.
    let first = match interval {
        Some(iv) => {
            (Instant::now().saturating_duration_since(t0).as_secs_f64() / iv.as_secs_f64()) as u64
        }
        None => 0,
    };
    let mut cuts = match cfg.chunking {
        Chunking::Random { seed, max } => Some(RandomCuts::new(
            seed ^ conn.id.wrapping_mul(0x9e37_79b9),
            max,
        )),
        Chunking::AccessUnit => None,
    };
    let nominal = interval.map_or(1.0 / 15.0, |iv| iv.as_secs_f64());
    let mut audio = cfg
        .audio
        .clone()
        .filter(|a| !a.is_empty())
        .and_then(|a| AudioClock::new(a, first, nominal, cfg.audio_delay.as_secs_f64()));
    tokio::spawn(async move {
        let video = |bytes: Arc<[u8]>, metadata: Arc<str>, array: Option<Arc<str>>| Out::Video {
            serial: serial.clone(),
            bytes,
            metadata,
            array,
        };
        let ended = || Out::Ended {
            serial: serial.to_string(),
            run,
        };
        if announce {
            tokio::time::sleep_until(started_at).await;
            let started = Out::Text(device_event(events::STARTED, &serial));
            if out.send(started).await.is_err() {
                return;
            }
        }
        let n = clip.units.len() as u64;
        if n == 0 {
            return;
        }
        let hold = u64::from(cfg.realistic);
        let mut k = first;
        let fps = interval.map_or(0.0, |iv| 1.0 / iv.as_secs_f64());
        loop {
            // The real server holds frame k until frame k+1 arrives: the last is never sent.
            if !cfg.looping && k + hold >= n {
                // What random cuts held back of the last unit goes out as it came, as the
                // real server passes on whatever the camera sent.
                if let Some(rest) = cuts.as_mut().and_then(RandomCuts::rest) {
                    let metadata = metadata_json(&clip.units[((k + n - 1) % n) as usize], fps);
                    if out.send(video(rest, metadata, None)).await.is_err() {
                        return;
                    }
                }
                tokio::time::sleep(cfg.end_timeout).await;
                let _ = out.send(ended()).await;
                return;
            }
            let due = interval.map(|iv| (t0 + iv.mul_f64((k + hold) as f64)).max(started_at));
            // The camera ends its stream by itself.
            if let Some(cut_at) = cfg.cutoff.map(|c| started_at + c) {
                if due.unwrap_or_else(Instant::now) >= cut_at {
                    tokio::time::sleep_until(cut_at).await;
                    let _ = out.send(ended()).await;
                    return;
                }
            }
            if let Some(due) = due {
                // Audio frames go out at their own times, between the video frames (a
                // camera sends each once captured).
                while let Some(a) = audio.as_mut() {
                    let at = t0 + Duration::from_secs_f64(a.next_at());
                    if at >= due {
                        break;
                    }
                    tokio::time::sleep_until(at.max(started_at)).await;
                    for bytes in a.due(a.next_at()) {
                        let msg = Out::Audio {
                            serial: serial.clone(),
                            bytes,
                        };
                        if out.send(msg).await.is_err() {
                            return;
                        }
                    }
                }
                tokio::time::sleep_until(due).await;
            }
            let index = (k % n) as usize;
            let unit = &clip.units[index];
            let metadata = metadata_json(unit, fps);
            // The audio captured by this frame's time (paced runs sent it already, at its
            // own times).
            let video_time = k as f64 * nominal;
            k += 1;
            for bytes in audio
                .as_mut()
                .map(|a| a.due(video_time))
                .unwrap_or_default()
            {
                let audio = Out::Audio {
                    serial: serial.clone(),
                    bytes,
                };
                if out.send(audio).await.is_err() {
                    return;
                }
            }
            let chunks = match cuts.as_mut() {
                Some(cuts) => cuts.push(&unit.data),
                None => {
                    let array = st.encoded_array(&clip, index);
                    let msg = video(unit.data.clone(), metadata, array);
                    if out.send(msg).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            for chunk in chunks {
                if out
                    .send(video(chunk, metadata.clone(), None))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    })
}
