//! The wall file: a camera wall described once in TOML (`eufy-hw --config wall.toml`) — the
//! server, the cameras and their names, pages and their layouts, how pages rotate, which
//! events bring a camera forward, the frozen-picture watchdog, the screen.
//!
//! Parsing is pure ([`parse`]): text in, a checked [`Wall`] or an error that names the file,
//! the line and what was expected. Unknown keys are errors (a typo must not be silently
//! ignored on a screen nobody watches being set up). `packaging/wall.example.toml` is the
//! documented example; a test parses it.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::eufy::protocol::{DetectionKind, DeviceInfo};
use crate::layout::Layout;

/// Most cameras on one wall (one decoder thread each).
pub const MAX_CAMERAS: usize = 64;

/// A checked wall file.
#[derive(Debug, Clone, PartialEq)]
pub struct Wall {
    /// The server's URL (eufy-security-ws or the bridge), when the file gives one.
    pub url: Option<String>,
    /// Which server that is (`backend = "ws" | "bridge"`; absent: known from its first
    /// message).
    pub backend: Option<crate::backend::Backend>,
    /// The cameras, in the file's order.
    pub cameras: Vec<WallCamera>,
    /// The pages (at least one); each names cameras by index into `cameras`.
    pub pages: Vec<Page>,
    /// How long each page shows when there are several (`None`: no rotation).
    pub page_time: Option<Duration>,
    /// A live tile with no new picture this long shows "no picture" and its stream is
    /// restarted (`None`: off).
    pub watchdog: Option<Duration>,
    /// Event focus.
    pub focus: Focus,
    /// Keep the screen from blanking while the wall runs.
    pub keep_awake: bool,
    /// Hours when the screen is dimmed or blank (still woken by an event).
    pub night: Option<Night>,
    /// Show the stats overlay at start.
    pub stats: bool,
    /// Home Assistant over MQTT (`[mqtt]`), when set up.
    pub mqtt: Option<MqttConfig>,
    /// The microphone talk back uses (`microphone = "…"`, a name as the sound server lists
    /// it); absent: the default input.
    pub microphone: Option<String>,
}

/// Home Assistant over MQTT: where the broker is and how this wall appears there.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttConfig {
    /// The broker.
    pub broker: Broker,
    /// This wall's id in topics and entity ids (`eufy_hw/<node_id>/…`): letters, digits,
    /// `_` and `-`.
    pub node_id: String,
    /// Home Assistant's discovery prefix.
    pub discovery_prefix: String,
    /// How often the shown camera's picture is published (`None`: never).
    pub image_every: Option<Duration>,
}

impl MqttConfig {
    /// One line for summaries (no password).
    pub fn summary(&self) -> String {
        let image = match self.image_every {
            Some(t) => format!(
                ", the shown camera's picture every {:.0} s",
                t.as_secs_f64()
            ),
            None => String::new(),
        };
        format!(
            "Home Assistant over MQTT: {} as {} (discovery under {}/){image}",
            self.broker, self.node_id, self.discovery_prefix
        )
    }
}

/// An MQTT broker: `mqtt://[user[:password]@]host[:port]`, or `mqtts://` (TLS, the
/// system's roots or `SSL_CERT_FILE`).
#[derive(Clone, PartialEq)]
pub struct Broker {
    /// TLS.
    pub tls: bool,
    /// Host name or address.
    pub host: String,
    /// Port (1883, or 8883 with TLS, when the URL gives none).
    pub port: u16,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_string())
    }
}

/// The broker as a URL without its password (logs, summaries).
impl std::fmt::Display for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        let user = self
            .username
            .as_ref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        write!(f, "{scheme}://{user}{}:{}", self.host, self.port)
    }
}

impl std::str::FromStr for Broker {
    type Err = String;

    fn from_str(url: &str) -> Result<Broker, String> {
        let bad = |why: &str| {
            format!("{url:?}: {why}; expected mqtt://[user:password@]host[:port] or mqtts://…")
        };
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else {
            return Err(bad("not an mqtt:// or mqtts:// URL"));
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            return Err(bad("a path is not expected"));
        }
        let (auth, hostport) = match rest.rsplit_once('@') {
            Some((a, h)) => (Some(a), h),
            None => (None, rest),
        };
        let (username, password) = match auth {
            Some(a) => match a.split_once(':') {
                Some((u, p)) => (Some(u.to_owned()), Some(p.to_owned())),
                None => (Some(a.to_owned()), None),
            },
            None => (None, None),
        };
        // `host`, `host:port`, `[v6]`, `[v6]:port`.
        let (host, port) = match hostport.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((h, "")) => (h, None),
                Some((h, p)) => (h, Some(p.strip_prefix(':').unwrap_or(p))),
                None => return Err(bad("an unclosed [")),
            },
            None => match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            },
        };
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?,
            None if tls => 8883,
            None => 1883,
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Broker {
            tls,
            host: host.to_owned(),
            port,
            username: username.filter(|u| !u.is_empty()),
            password,
        })
    }
}

/// One camera of the wall.
#[derive(Debug, Clone, PartialEq)]
pub struct WallCamera {
    /// Serial number.
    pub serial: String,
    /// Display name (the server's name when not given).
    pub name: Option<String>,
    /// Its sound may play when it is focused (playback is issue 13's; the setting is kept).
    pub audio: bool,
    /// When it streams.
    pub stream: Streaming,
}

impl WallCamera {
    /// Streamed even while its page is hidden.
    pub fn always_on(&self) -> bool {
        self.stream == Streaming::Always
    }
}

/// When a camera streams (`stream = "always" | "on_screen" | "on_event"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Streaming {
    /// All the time, even while its page is hidden: mains powered, back at once.
    Always,
    /// While it is on the screen (the default).
    #[default]
    OnScreen,
    /// Only while an event (a tap, Home Assistant) brings it forward; otherwise its tile shows
    /// its latest picture: battery cameras drain when streamed.
    OnEvent,
}

impl std::str::FromStr for Streaming {
    type Err = String;

    fn from_str(s: &str) -> Result<Streaming, String> {
        match s.trim() {
            "always" => Ok(Streaming::Always),
            "on_screen" => Ok(Streaming::OnScreen),
            "on_event" => Ok(Streaming::OnEvent),
            other => Err(format!(
                "stream {other:?}: expected \"always\", \"on_screen\" or \"on_event\""
            )),
        }
    }
}

/// A page: some cameras in a layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// A name for logs and the overlay.
    pub name: Option<String>,
    /// Indices into [`Wall::cameras`], in tile order.
    pub cameras: Vec<usize>,
    /// How its tiles are arranged.
    pub layout: Layout,
    /// The monitor it shows on (`monitor = N`, 0 first, in the display server's order);
    /// `None`: the window's monitor (`--monitor`, else the primary).
    pub monitor: Option<usize>,
}

/// Most monitors a wall file may name.
pub const MAX_MONITORS: usize = 16;

/// Pages that show together on one monitor, in one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Monitor {
    /// Which monitor (`None`: the window's, see [`Page::monitor`]).
    pub index: Option<usize>,
    /// Its pages (indices into [`Wall::pages`]), rotating among themselves.
    pub pages: Vec<usize>,
}

/// Which events bring a camera forward, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Focus {
    /// The kinds that focus, highest priority first (a ring beats a person beats motion).
    pub on: Vec<DetectionKind>,
    /// Fill the screen with the camera, or highlight its tile.
    pub mode: FocusMode,
    /// How long the camera stays forward after the event's state goes false.
    pub hold: Duration,
    /// Where picture-in-picture insets stack ([`FocusMode::Pip`]).
    pub pip_corner: crate::layout::Corner,
    /// An inset's width as a fraction of the screen's (0.1 to 0.5).
    pub pip_size: f32,
}

/// How an event brings a camera forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FocusMode {
    /// The camera alone, full screen.
    Fill,
    /// Its page, with its tile framed.
    Highlight,
    /// The page as it is, with the camera as an inset over it (several events stack).
    Pip,
}

impl Default for Focus {
    fn default() -> Focus {
        Focus {
            on: vec![
                DetectionKind::Ring,
                DetectionKind::Person,
                DetectionKind::Motion,
            ],
            mode: FocusMode::Fill,
            hold: Duration::from_secs(15),
            pip_corner: crate::layout::Corner::BottomRight,
            pip_size: 0.3,
        }
    }
}

/// A nightly time range (local time) when the screen dims or goes blank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Night {
    /// Start, minutes after midnight.
    pub from: u32,
    /// End, minutes after midnight (before `from`: the range spans midnight).
    pub to: u32,
    /// Dim or blank.
    pub mode: NightMode,
}

/// What the screen does at night.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NightMode {
    /// Pictures darkened, pages still turning.
    Dim,
    /// Black, and no camera streamed (but those `always_on`) until an event.
    Blank,
}

impl Night {
    /// Whether `minute` (after midnight) is in the range.
    pub fn contains(&self, minute: u32) -> bool {
        if self.from <= self.to {
            (self.from..self.to).contains(&minute)
        } else {
            minute >= self.from || minute < self.to
        }
    }
}

/// `HH:MM` (24 h) as minutes after midnight.
fn clock_time(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && s.trim().len() <= 5).then_some(h * 60 + m)
}

/// Default seconds per page when a file has several pages and does not say.
pub const DEFAULT_PAGE_SECONDS: f64 = 20.0;
/// Default watchdog limit.
pub const DEFAULT_WATCHDOG_SECONDS: f64 = 10.0;

impl Wall {
    /// The wall of `--serial` flags: one page of every camera in an automatic grid.
    pub fn of_serials(serials: &[String]) -> Wall {
        Wall {
            microphone: None,
            url: None,
            backend: None,
            cameras: serials
                .iter()
                .map(|s| WallCamera {
                    serial: s.clone(),
                    name: None,
                    audio: true,
                    stream: Streaming::OnScreen,
                })
                .collect(),
            pages: vec![Page {
                name: None,
                cameras: (0..serials.len()).collect(),
                layout: Layout::Auto,
                monitor: None,
            }],
            page_time: None,
            watchdog: Some(Duration::from_secs_f64(DEFAULT_WATCHDOG_SECONDS)),
            focus: Focus::default(),
            keep_awake: true,
            night: None,
            stats: false,
            mqtt: None,
        }
    }

    /// The serials, in the file's order.
    pub fn serials(&self) -> Vec<String> {
        self.cameras.iter().map(|c| c.serial.clone()).collect()
    }

    /// One line per setting, for `eufy-hw check-config` and the log.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} camera(s), {} page(s)",
            self.cameras.len(),
            self.pages.len()
        );
        match self.page_time {
            Some(t) if self.pages.len() > 1 => {
                s.push_str(&format!(", each shown {:.0} s", t.as_secs_f64()))
            }
            _ => {}
        }
        for (i, p) in self.pages.iter().enumerate() {
            s.push_str(&format!("\n{}", self.page_summary(i, p)));
        }
        let hidden: Vec<String> = (0..self.cameras.len())
            .filter(|c| !self.pages.iter().any(|p| p.cameras.contains(c)))
            .map(|c| self.label(c))
            .collect();
        if !hidden.is_empty() {
            s.push_str(&format!(
                "\non no page (shown only when an event brings them forward): {}",
                hidden.join(", ")
            ));
        }
        let always: Vec<String> = (0..self.cameras.len())
            .filter(|&c| self.cameras[c].always_on())
            .map(|c| self.label(c))
            .collect();
        if !always.is_empty() {
            s.push_str(&format!(
                "\nstreamed even when hidden: {}",
                always.join(", ")
            ));
        }
        let on_event: Vec<String> = (0..self.cameras.len())
            .filter(|&c| self.cameras[c].stream == Streaming::OnEvent)
            .map(|c| self.label(c))
            .collect();
        if !on_event.is_empty() {
            s.push_str(&format!(
                "\nstreamed only for events (their latest picture otherwise): {}",
                on_event.join(", ")
            ));
        }
        if self.focus.on.is_empty() {
            s.push_str("\nevent focus: off");
        } else {
            let kinds: Vec<&str> = self.focus.on.iter().map(|k| k.word()).collect();
            s.push_str(&format!(
                "\nevent focus: {} ({}, held {:.0} s after the event ends)",
                kinds.join(" > "),
                match self.focus.mode {
                    FocusMode::Fill => "the camera fills the screen",
                    FocusMode::Highlight => "its tile is framed",
                    FocusMode::Pip => "an inset over the page",
                },
                self.focus.hold.as_secs_f64()
            ));
        }
        if let Some(n) = self.night {
            s.push_str(&format!(
                "\nat night, {:02}:{:02} to {:02}:{:02} (local time): {}",
                n.from / 60,
                n.from % 60,
                n.to / 60,
                n.to % 60,
                match n.mode {
                    NightMode::Blank =>
                        "the screen is black and only always-on cameras stream, until an event",
                    NightMode::Dim => "the screen is dimmed",
                }
            ));
        }
        match self.watchdog {
            Some(w) => s.push_str(&format!(
                "\nwatchdog: a tile with no new picture for {:.0} s is restarted",
                w.as_secs_f64()
            )),
            None => s.push_str("\nwatchdog: off"),
        }
        if let Some(m) = &self.mqtt {
            s.push_str(&format!("\n{}", m.summary()));
        }
        s
    }

    /// Page `i`'s line of the summary.
    fn page_summary(&self, i: usize, p: &Page) -> String {
        let names: Vec<String> = p.cameras.iter().map(|&c| self.label(c)).collect();
        format!(
            "page {}{}: {} in {}{}",
            i + 1,
            p.name
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default(),
            names.join(", "),
            match p.layout {
                Layout::Auto => "a grid".to_owned(),
                Layout::Main => "one large tile and small ones".to_owned(),
                Layout::Grid { cols, rows } => format!("a {cols}x{rows} grid"),
            },
            p.monitor
                .map(|m| format!(", on monitor {m}"))
                .unwrap_or_default()
        )
    }

    /// A camera's name from the file, else its serial.
    pub fn label(&self, camera: usize) -> String {
        let c = &self.cameras[camera];
        c.name.clone().unwrap_or_else(|| c.serial.clone())
    }

    /// The wall's windows: its pages grouped by monitor, monitors in order; one, the
    /// window's monitor, when no page names one. With `available` monitors known, the pages
    /// of a monitor that is not there join the first monitor's (a wall file written for two
    /// screens still shows everything on one).
    pub fn monitors(&self, available: Option<usize>) -> Vec<Monitor> {
        let mut out: Vec<Monitor> = Vec::new();
        let mut named: Vec<usize> = self.pages.iter().filter_map(|p| p.monitor).collect();
        named.sort_unstable();
        named.dedup();
        let here: Vec<usize> = named
            .iter()
            .copied()
            .filter(|&m| available.is_none_or(|n| m < n))
            .collect();
        for (k, p) in self.pages.iter().enumerate() {
            let index = match p.monitor {
                Some(m) if here.contains(&m) => Some(m),
                Some(_) => Some(here.first().copied().unwrap_or(0)),
                None => None,
            };
            match out.iter_mut().find(|m| m.index == index) {
                Some(m) => m.pages.push(k),
                None => out.push(Monitor {
                    index,
                    pages: vec![k],
                }),
            }
        }
        out.sort_by_key(|m| m.index);
        out
    }
}

/// Why a wall file was refused.
#[derive(Debug, thiserror::Error)]
pub enum WallError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// A command-line flag says something wrong about the wall.
    #[error("{0}")]
    Flag(String),
    /// The file says something wrong.
    #[error("{file}:{line}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong and what is expected.
        message: String,
    },
}

/// Reads and checks a wall file.
pub fn load(path: &Path) -> Result<Wall, WallError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| WallError::Read {
        file: file.clone(),
        source,
    })?;
    parse(&text, &file)
}

/// What the command line changes of a wall: the flags over the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// Seconds each page shows (0: no rotation).
    pub page_seconds: Option<f64>,
    /// The watchdog's limit, seconds (0: off).
    pub watchdog_seconds: Option<f64>,
    /// The events that bring a camera forward, as words, highest priority first (`none`:
    /// no focus).
    pub focus: Option<Vec<String>>,
    /// How an event brings its camera forward.
    pub focus_mode: Option<FocusMode>,
    /// Seconds a camera stays forward after its event ends.
    pub hold_seconds: Option<f64>,
}

impl Overrides {
    /// Applies the flags given to `wall`.
    pub fn apply(&self, wall: &mut Wall) -> Result<(), WallError> {
        if let Some(s) = self.page_seconds {
            wall.page_time =
                Some(Duration::from_secs_f64(s)).filter(|_| s > 0.0 && wall.pages.len() > 1);
        }
        if let Some(s) = self.watchdog_seconds {
            wall.watchdog = Some(Duration::from_secs_f64(s)).filter(|_| s > 0.0);
        }
        if let Some(words) = &self.focus {
            wall.focus.on.clear();
            for w in words.iter().filter(|w| w.as_str() != "none") {
                let kind: DetectionKind = w
                    .parse()
                    .map_err(|e: String| WallError::Flag(format!("--focus: {e}")))?;
                if !wall.focus.on.contains(&kind) {
                    wall.focus.on.push(kind);
                }
            }
        }
        if let Some(m) = self.focus_mode {
            wall.focus.mode = m;
        }
        if let Some(h) = self.hold_seconds {
            wall.focus.hold = Duration::from_secs_f64(h);
        }
        Ok(())
    }
}

/// The wall to show: the file's (only `serials` of it when some are given) or, without a
/// file, one page of `serials`; the flags applied.
pub fn choose(
    file: Option<&Path>,
    serials: &[String],
    overrides: &Overrides,
) -> Result<Wall, WallError> {
    let mut wall = match file {
        Some(path) if serials.is_empty() => load(path)?,
        Some(path) => load(path)?.only(serials)?,
        None => Wall::of_serials(serials),
    };
    overrides.apply(&mut wall)?;
    Ok(wall)
}

impl Wall {
    /// The wall restricted to `serials` (each must be one of its cameras): pages keep those
    /// of their cameras, a page left empty goes; with none left, one page of them all.
    pub fn only(self, serials: &[String]) -> Result<Wall, WallError> {
        if let Some(s) = serials
            .iter()
            .find(|s| !self.cameras.iter().any(|c| &c.serial == *s))
        {
            return Err(WallError::Flag(format!(
                "--serial {s} is not a camera of the wall file"
            )));
        }
        let keep: Vec<usize> = (0..self.cameras.len())
            .filter(|&i| serials.contains(&self.cameras[i].serial))
            .collect();
        let index = |old: usize| keep.iter().position(|&k| k == old);
        let mut pages: Vec<Page> = self
            .pages
            .iter()
            .map(|p| Page {
                cameras: p.cameras.iter().filter_map(|&c| index(c)).collect(),
                ..p.clone()
            })
            .filter(|p| !p.cameras.is_empty())
            .collect();
        if pages.is_empty() {
            pages.push(Page {
                name: None,
                cameras: (0..keep.len()).collect(),
                layout: Layout::Auto,
                monitor: None,
            });
        }
        Ok(Wall {
            cameras: keep.iter().map(|&i| self.cameras[i].clone()).collect(),
            pages,
            ..self
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWall {
    url: Option<Spanned<String>>,
    backend: Option<Spanned<String>>,
    page_seconds: Option<Spanned<f64>>,
    watchdog_seconds: Option<Spanned<f64>>,
    stats: Option<bool>,
    #[serde(default, rename = "camera")]
    cameras: Vec<RawCamera>,
    #[serde(default, rename = "page")]
    pages: Vec<RawPage>,
    focus: Option<RawFocus>,
    screen: Option<RawScreen>,
    mqtt: Option<RawMqtt>,
    microphone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMqtt {
    url: Spanned<String>,
    node_id: Option<Spanned<String>>,
    discovery_prefix: Option<Spanned<String>>,
    image_seconds: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCamera {
    serial: Spanned<String>,
    name: Option<String>,
    audio: Option<bool>,
    stream: Option<Spanned<String>>,
    /// `stream = "always"`, as older files say it.
    always_on: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPage {
    name: Option<String>,
    cameras: Spanned<Vec<Spanned<String>>>,
    layout: Option<Spanned<String>>,
    monitor: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFocus {
    on: Option<Vec<Spanned<String>>>,
    mode: Option<Spanned<String>>,
    hold_seconds: Option<Spanned<f64>>,
    pip_corner: Option<Spanned<String>>,
    pip_size: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScreen {
    keep_awake: Option<bool>,
    night: Option<RawNight>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNight {
    from: Spanned<String>,
    to: Spanned<String>,
    mode: Option<Spanned<String>>,
}

/// Where errors point: the file and the line of a byte offset in its text.
struct Source<'a> {
    text: &'a str,
    file: &'a str,
}

impl Source<'_> {
    /// An error at `offset` (a span's start).
    fn err(&self, offset: usize, message: String) -> WallError {
        WallError::Invalid {
            file: self.file.to_owned(),
            line: self.text[..offset.min(self.text.len())]
                .matches('\n')
                .count()
                + 1,
            message,
        }
    }

    /// Seconds from the file: finite, 0 or more.
    fn seconds(&self, v: &Spanned<f64>, what: &str) -> Result<f64, WallError> {
        let x = *v.get_ref();
        if x.is_finite() && (0.0..=1e6).contains(&x) {
            Ok(x)
        } else {
            Err(self.err(
                v.span().start,
                format!("{what} = {x}: expected seconds, 0 or more"),
            ))
        }
    }
}

/// Checks wall-file text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Wall, WallError> {
    let src = Source { text, file };
    let raw: RawWall = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        src.err(offset, e.message().trim().to_owned())
    })?;
    let url = parse_url(&src, raw.url.as_ref())?;
    let backend = match &raw.backend {
        Some(b) => Some(
            b.get_ref()
                .parse::<crate::backend::Backend>()
                .map_err(|e| src.err(b.span().start, e))?,
        ),
        None => None,
    };
    let cameras = parse_cameras(&src, &raw.cameras)?;
    let pages = parse_pages(&src, &raw.pages, &cameras)?;
    let page_time = match &raw.page_seconds {
        Some(v) => Some(src.seconds(v, "page_seconds")?).filter(|&x| x > 0.0),
        None => Some(DEFAULT_PAGE_SECONDS),
    }
    .filter(|_| pages.len() > 1)
    .map(Duration::from_secs_f64);
    let watchdog = match &raw.watchdog_seconds {
        Some(v) => Some(src.seconds(v, "watchdog_seconds")?).filter(|&x| x > 0.0),
        None => Some(DEFAULT_WATCHDOG_SECONDS),
    }
    .map(Duration::from_secs_f64);
    let focus = match &raw.focus {
        Some(f) => parse_focus(&src, f)?,
        None => Focus::default(),
    };
    let night = match raw.screen.as_ref().and_then(|s| s.night.as_ref()) {
        Some(n) => Some(parse_night(&src, n)?),
        None => None,
    };
    let mqtt = match &raw.mqtt {
        Some(m) => Some(parse_mqtt(&src, m)?),
        None => None,
    };
    Ok(Wall {
        microphone: raw.microphone.clone().filter(|m| !m.trim().is_empty()),
        url,
        backend,
        cameras,
        pages,
        page_time,
        watchdog,
        focus,
        night,
        keep_awake: raw
            .screen
            .as_ref()
            .and_then(|s| s.keep_awake)
            .unwrap_or(true),
        stats: raw.stats.unwrap_or(false),
        mqtt,
    })
}

/// Default MQTT node id.
pub const DEFAULT_NODE_ID: &str = "eufy_hw";
/// Default seconds between pictures of the shown camera over MQTT.
pub const DEFAULT_IMAGE_SECONDS: f64 = 10.0;

fn parse_mqtt(src: &Source<'_>, m: &RawMqtt) -> Result<MqttConfig, WallError> {
    let broker = m
        .url
        .get_ref()
        .trim()
        .parse::<Broker>()
        .map_err(|e| src.err(m.url.span().start, format!("mqtt.url {e}")))?;
    let word = |v: &Option<Spanned<String>>, what: &str, default: &str| {
        let Some(v) = v else {
            return Ok(default.to_owned());
        };
        let w = v.get_ref().trim();
        let ok = !w.is_empty()
            && w.len() <= 64
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if ok {
            Ok(w.to_owned())
        } else {
            Err(src.err(
                v.span().start,
                format!("mqtt.{what} {w:?}: expected letters, digits, _ and -"),
            ))
        }
    };
    let image = match &m.image_seconds {
        Some(v) => src.seconds(v, "mqtt.image_seconds")?,
        None => DEFAULT_IMAGE_SECONDS,
    };
    Ok(MqttConfig {
        broker,
        node_id: word(&m.node_id, "node_id", DEFAULT_NODE_ID)?,
        discovery_prefix: word(&m.discovery_prefix, "discovery_prefix", "homeassistant")?,
        image_every: Some(Duration::from_secs_f64(image)).filter(|_| image > 0.0),
    })
}

fn parse_url(src: &Source<'_>, url: Option<&Spanned<String>>) -> Result<Option<String>, WallError> {
    let Some(u) = url else { return Ok(None) };
    let value = u.get_ref().trim();
    if !(value.starts_with("ws://") || value.starts_with("wss://")) {
        return Err(src.err(
            u.span().start,
            format!("url {value:?}: expected ws://host:port (eufy-security-ws) or ws://host:port/ws (the Eufy Mega bridge), or wss://…"),
        ));
    }
    Ok(Some(value.to_owned()))
}

fn parse_cameras(src: &Source<'_>, raw: &[RawCamera]) -> Result<Vec<WallCamera>, WallError> {
    if raw.is_empty() {
        return Err(src.err(
            0,
            "no camera: add one [[camera]] table per camera, with serial = \"T8410…\" \
             (`eufy-hw cameras --wall` writes a starting file)"
                .into(),
        ));
    }
    if raw.len() > MAX_CAMERAS {
        return Err(src.err(
            raw[MAX_CAMERAS].serial.span().start,
            format!("at most {MAX_CAMERAS} cameras"),
        ));
    }
    let mut cameras: Vec<WallCamera> = Vec::new();
    for c in raw {
        let serial = c.serial.get_ref().trim();
        let at = c.serial.span().start;
        let ok = !serial.is_empty()
            && serial.len() <= 64
            && serial.chars().all(|ch| ch.is_ascii_alphanumeric());
        if !ok {
            return Err(src.err(
                at,
                format!(
                    "serial {serial:?}: expected letters and digits, such as \"T8410P4223334EBE\""
                ),
            ));
        }
        if cameras.iter().any(|o| o.serial == serial) {
            return Err(src.err(at, format!("camera {serial} is listed twice")));
        }
        let name = c
            .name
            .as_ref()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        cameras.push(WallCamera {
            serial: serial.to_owned(),
            name,
            audio: c.audio.unwrap_or(true),
            stream: camera_stream(src, c)?,
        });
    }
    Ok(cameras)
}

/// A camera's `stream`, or `always_on = true` (the older way to say `stream = "always"`).
fn camera_stream(src: &Source<'_>, c: &RawCamera) -> Result<Streaming, WallError> {
    let stream = match &c.stream {
        Some(s) => Some(
            s.get_ref()
                .parse::<Streaming>()
                .map_err(|m| src.err(s.span().start, m))?,
        ),
        None => None,
    };
    match (stream, &c.always_on) {
        (Some(s), Some(a)) if (s == Streaming::Always) != *a.get_ref() => Err(src.err(
            a.span().start,
            "always_on and stream disagree: keep stream only".into(),
        )),
        (Some(s), _) => Ok(s),
        (None, Some(a)) if *a.get_ref() => Ok(Streaming::Always),
        (None, _) => Ok(Streaming::OnScreen),
    }
}

fn parse_pages(
    src: &Source<'_>,
    raw: &[RawPage],
    cameras: &[WallCamera],
) -> Result<Vec<Page>, WallError> {
    let mut pages = Vec::new();
    for (k, p) in raw.iter().enumerate() {
        let page = k + 1;
        let layout = match &p.layout {
            Some(l) => l
                .get_ref()
                .parse::<Layout>()
                .map_err(|m| src.err(l.span().start, format!("page {page}: layout {m}")))?,
            None => Layout::Auto,
        };
        let list = page_cameras(src, page, &p.cameras, cameras)?;
        if let Some(cap) = layout.capacity().filter(|&cap| list.len() > cap) {
            return Err(src.err(
                p.cameras.span().start,
                format!(
                    "page {page}: {} cameras do not fit its {cap}-tile layout",
                    list.len()
                ),
            ));
        }
        pages.push(Page {
            name: p.name.clone(),
            cameras: list,
            layout,
            monitor: page_monitor(src, page, p.monitor.as_ref())?,
        });
    }
    // Pages without a monitor would land on whichever monitor the window opens on, maybe
    // over another's pages.
    if let Some(k) = pages.iter().position(|p| p.monitor.is_some()) {
        if let Some(j) = pages.iter().position(|p| p.monitor.is_none()) {
            return Err(src.err(
                raw[j].cameras.span().start,
                format!(
                    "page {}: no monitor, but page {} names one: with monitors, every page says which",
                    j + 1,
                    k + 1
                ),
            ));
        }
    }
    if pages.is_empty() {
        pages.push(Page {
            name: None,
            cameras: (0..cameras.len()).collect(),
            layout: Layout::Auto,
            monitor: None,
        });
    }
    Ok(pages)
}

/// A page's `monitor = N`.
fn page_monitor(
    src: &Source<'_>,
    page: usize,
    monitor: Option<&Spanned<i64>>,
) -> Result<Option<usize>, WallError> {
    let Some(m) = monitor else {
        return Ok(None);
    };
    match usize::try_from(*m.get_ref()) {
        Ok(n) if n < MAX_MONITORS => Ok(Some(n)),
        _ => Err(src.err(
            m.span().start,
            format!(
                "page {page}: monitor = {}: expected 0 to {} (0 is the first monitor)",
                m.get_ref(),
                MAX_MONITORS - 1
            ),
        )),
    }
}

/// The cameras of page `page`, by serial or name, as indices into `cameras`.
fn page_cameras(
    src: &Source<'_>,
    page: usize,
    entries: &Spanned<Vec<Spanned<String>>>,
    cameras: &[WallCamera],
) -> Result<Vec<usize>, WallError> {
    if entries.get_ref().is_empty() {
        return Err(src.err(entries.span().start, format!("page {page}: no camera")));
    }
    let mut list = Vec::new();
    for entry in entries.get_ref() {
        let want = entry.get_ref().trim();
        let at = entry.span().start;
        let found = cameras
            .iter()
            .position(|c| c.serial == want)
            .or_else(|| cameras.iter().position(|c| c.name.as_deref() == Some(want)));
        let Some(i) = found else {
            let known: Vec<&str> = cameras.iter().map(|c| c.serial.as_str()).collect();
            return Err(src.err(
                at,
                format!(
                    "page {page}: {want:?} is not the serial or name of a [[camera]] (serials: {})",
                    known.join(", ")
                ),
            ));
        };
        if list.contains(&i) {
            return Err(src.err(at, format!("page {page}: {want:?} is on it twice")));
        }
        list.push(i);
    }
    Ok(list)
}

fn parse_focus(src: &Source<'_>, f: &RawFocus) -> Result<Focus, WallError> {
    let mut focus = Focus::default();
    if let Some(on) = &f.on {
        focus.on.clear();
        for word in on {
            let at = word.span().start;
            let kind = word.get_ref().parse::<DetectionKind>().map_err(|_| {
                let kinds: Vec<&str> = DetectionKind::ALL.iter().map(|k| k.word()).collect();
                src.err(
                    at,
                    format!(
                        "focus.on: {:?} is not an event; expected some of {}",
                        word.get_ref(),
                        kinds.join(", ")
                    ),
                )
            })?;
            if focus.on.contains(&kind) {
                return Err(src.err(at, format!("focus.on: {} is listed twice", kind.word())));
            }
            focus.on.push(kind);
        }
    }
    if let Some(m) = &f.mode {
        focus.mode = match m.get_ref().trim() {
            "fill" => FocusMode::Fill,
            "highlight" => FocusMode::Highlight,
            "pip" => FocusMode::Pip,
            other => {
                return Err(src.err(
                    m.span().start,
                    format!("focus.mode {other:?}: expected \"fill\", \"highlight\" or \"pip\""),
                ))
            }
        };
    }
    if let Some(c) = &f.pip_corner {
        focus.pip_corner = c
            .get_ref()
            .parse()
            .map_err(|e| src.err(c.span().start, format!("focus.pip_corner {e}")))?;
    }
    if let Some(z) = &f.pip_size {
        let v = *z.get_ref();
        if !(0.1..=0.5).contains(&v) {
            return Err(src.err(
                z.span().start,
                format!("focus.pip_size {v}: an inset is 0.1 to 0.5 of the screen's width"),
            ));
        }
        focus.pip_size = v as f32;
    }
    if let Some(h) = &f.hold_seconds {
        focus.hold = Duration::from_secs_f64(src.seconds(h, "focus.hold_seconds")?);
    }
    Ok(focus)
}

fn parse_night(src: &Source<'_>, n: &RawNight) -> Result<Night, WallError> {
    let time = |v: &Spanned<String>, what: &str| {
        clock_time(v.get_ref()).ok_or_else(|| {
            src.err(
                v.span().start,
                format!(
                    "screen.night.{what} {:?}: expected a time of day, HH:MM such as \"23:00\"",
                    v.get_ref()
                ),
            )
        })
    };
    let (from, to) = (time(&n.from, "from")?, time(&n.to, "to")?);
    if from == to {
        return Err(src.err(
            n.to.span().start,
            "screen.night: from and to are the same time".into(),
        ));
    }
    let mode = match n.mode.as_ref().map(|m| (m.get_ref().trim(), m.span())) {
        None | Some(("blank", _)) => NightMode::Blank,
        Some(("dim", _)) => NightMode::Dim,
        Some((other, span)) => {
            return Err(src.err(
                span.start,
                format!("screen.night.mode {other:?}: expected \"blank\" or \"dim\""),
            ))
        }
    };
    Ok(Night { from, to, mode })
}

/// Cameras per page in a starting wall file.
const STARTER_PAGE: usize = 4;

/// A starting wall file for the cameras a server lists (`eufy-hw cameras --wall`): every
/// camera with its name, pages of up to four in a grid.
pub fn starter(url: &str, cameras: &[DeviceInfo]) -> String {
    let quote = |s: &str| {
        let mut q = String::from("\"");
        for ch in s.chars() {
            match ch {
                '"' => q.push_str("\\\""),
                '\\' => q.push_str("\\\\"),
                c if c.is_control() => {}
                c => q.push(c),
            }
        }
        q.push('"');
        q
    };
    let mut s = String::from(
        "# eufy-hw wall file: check with `eufy-hw check-config FILE`, run with\n\
         # `eufy-hw --config FILE --kiosk`. Every key is described in\n\
         # packaging/wall.example.toml.\n\n",
    );
    s.push_str(&format!("url = {}\n", quote(url)));
    if cameras.len() > STARTER_PAGE {
        s.push_str(&format!("page_seconds = {DEFAULT_PAGE_SECONDS:.0}\n"));
    }
    s.push_str(
        "\n[focus]\non = [\"ring\", \"person\", \"motion\"]\nmode = \"fill\"\nhold_seconds = 15\n",
    );
    for c in cameras {
        s.push_str(&format!("\n[[camera]]\nserial = {}\n", quote(&c.serial)));
        if let Some(name) = &c.name {
            s.push_str(&format!("name = {}\n", quote(name)));
        }
        if let Some(model) = &c.model {
            s.push_str(&format!("# model {}\n", model.replace('\n', " ")));
        }
    }
    for (k, chunk) in cameras.chunks(STARTER_PAGE).enumerate() {
        let list: Vec<String> = chunk.iter().map(|c| quote(&c.serial)).collect();
        s.push_str(&format!(
            "\n[[page]]\nname = \"page {}\"\ncameras = [{}]\nlayout = \"grid\"\n",
            k + 1,
            list.join(", ")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(text: &str) -> (usize, String) {
        match parse(text, "w.toml") {
            Err(WallError::Invalid { line, message, .. }) => (line, message),
            other => panic!("accepted: {other:?}"),
        }
    }

    const TWO_PAGES: &str = r#"
url = "ws://10.0.0.2:3000"
page_seconds = 12

[[camera]]
serial = "T8410P0000000001"
name = "Front door"

[[camera]]
serial = "T8410P0000000002"
always_on = true

[[camera]]
serial = "T8410P0000000003"

[[page]]
cameras = ["Front door", "T8410P0000000002"]
layout = "2x1"

[[page]]
cameras = ["T8410P0000000003"]

[focus]
on = ["person", "ring"]
mode = "highlight"
hold_seconds = 5
"#;

    #[test]
    fn mqtt_section() {
        let text = "[[camera]]\nserial = \"A1\"\n[mqtt]\nurl = \"mqtts://ha:s3cret@broker.lan\"\nnode_id = \"hall\"\n";
        let w = parse(text, "w.toml").unwrap();
        let m = w.mqtt.clone().unwrap();
        assert_eq!(
            (m.broker.tls, m.broker.host.as_str(), m.broker.port),
            (true, "broker.lan", 8883)
        );
        assert_eq!(m.broker.username.as_deref(), Some("ha"));
        assert_eq!(m.broker.password.as_deref(), Some("s3cret"));
        assert_eq!(
            (m.node_id.as_str(), m.discovery_prefix.as_str()),
            ("hall", "homeassistant")
        );
        assert_eq!(m.image_every, Some(Duration::from_secs(10)));
        assert!(!w.summary().contains("s3cret"), "{}", w.summary());
        assert!(w.summary().contains("mqtts://ha@broker.lan:8883 as hall"));
        let plain: Broker = "mqtt://10.0.0.2:1884".parse().unwrap();
        assert_eq!((plain.tls, plain.port, plain.username), (false, 1884, None));
        for bad in [
            "http://x",
            "mqtt://",
            "mqtt://h:0",
            "mqtt://h:99999",
            "mqtt://h/topic",
        ] {
            assert!(bad.parse::<Broker>().is_err(), "{bad}");
        }
        let (line, msg) = bad("[[camera]]\nserial = \"A1\"\n[mqtt]\nurl = \"ws://x\"\n");
        assert_eq!(line, 4);
        assert!(msg.contains("mqtt.url"), "{msg}");
        let (line, msg) =
            bad("[[camera]]\nserial = \"A1\"\n[mqtt]\nurl = \"mqtt://x\"\nnode_id = \"a b\"\n");
        assert_eq!(line, 5);
        assert!(msg.contains("node_id"), "{msg}");
    }

    #[test]
    fn pages_on_monitors() {
        let text = "[[camera]]\nserial = \"A1\"\n[[camera]]\nserial = \"B2\"\n\
                    [[camera]]\nserial = \"C3\"\n\
                    [[page]]\ncameras = [\"A1\"]\nmonitor = 1\n\
                    [[page]]\ncameras = [\"B2\"]\nmonitor = 0\n\
                    [[page]]\ncameras = [\"C3\", \"A1\"]\nmonitor = 1\n";
        let w = parse(text, "w.toml").unwrap();
        assert_eq!(w.pages[0].monitor, Some(1));
        let on = |index: usize, pages: &[usize]| Monitor {
            index: Some(index),
            pages: pages.to_vec(),
        };
        assert_eq!(w.monitors(None), [on(0, &[1]), on(1, &[0, 2])]);
        assert_eq!(w.monitors(Some(2)), w.monitors(None));
        // One monitor there: everything on it, in the file's order.
        assert_eq!(w.monitors(Some(1)), [on(0, &[0, 1, 2])]);
        assert!(w.summary().contains("page 1: A1 in a grid, on monitor 1"));
        // Monitors 1 and 3 of a file on two: 3's pages join 1's.
        let far = text.replace("monitor = 0", "monitor = 3");
        let w = parse(&far, "w.toml").unwrap();
        assert_eq!(w.monitors(Some(2)), [on(1, &[0, 1, 2])]);
        // Without monitors: one window, the window's monitor.
        let plain = parse(TWO_PAGES, "w.toml").unwrap();
        assert_eq!(
            plain.monitors(Some(3)),
            [Monitor {
                index: None,
                pages: vec![0, 1]
            }]
        );
        // Some pages with a monitor, some without: refused, naming the page.
        let (line, msg) = bad(&text.replacen("monitor = 0\n", "", 1));
        assert_eq!(line, 11, "{msg}");
        assert!(msg.starts_with("page 2: no monitor"), "{msg}");
        let (line, msg) = bad(&text.replacen("monitor = 0", "monitor = -1", 1));
        assert_eq!(line, 12);
        assert!(msg.contains("monitor = -1"), "{msg}");
        let (_, msg) = bad(&text.replacen("monitor = 0", "monitor = 16", 1));
        assert!(msg.contains("expected 0 to 15"), "{msg}");
    }

    #[test]
    fn flags_override_the_file() {
        let text = "[[camera]]\nserial = \"A1\"\n[[camera]]\nserial = \"B2\"\nname = \"Door\"\n\
                    [[page]]\ncameras = [\"A1\"]\n[[page]]\ncameras = [\"Door\", \"A1\"]\n";
        let mut w = parse(text, "w.toml").unwrap();
        assert_eq!(
            w.page_time,
            Some(Duration::from_secs_f64(DEFAULT_PAGE_SECONDS))
        );
        let flags = Overrides {
            page_seconds: Some(5.0),
            watchdog_seconds: Some(0.0),
            focus: Some(vec!["ring".into(), "pet".into(), "ring".into()]),
            focus_mode: Some(FocusMode::Highlight),
            hold_seconds: Some(3.0),
        };
        flags.apply(&mut w).unwrap();
        assert_eq!(w.page_time, Some(Duration::from_secs(5)));
        assert_eq!(w.watchdog, None, "0 turns the watchdog off");
        assert_eq!(w.focus.on, [DetectionKind::Ring, DetectionKind::Pet]);
        assert_eq!(w.focus.mode, FocusMode::Highlight);
        assert_eq!(w.focus.hold, Duration::from_secs(3));
        let none = Overrides {
            focus: Some(vec!["none".into()]),
            ..Overrides::default()
        };
        none.apply(&mut w).unwrap();
        assert!(w.focus.on.is_empty());
        let bad = Overrides {
            focus: Some(vec!["dragon".into()]),
            ..Overrides::default()
        };
        assert!(bad
            .apply(&mut w)
            .unwrap_err()
            .to_string()
            .starts_with("--focus:"));

        // Only B2: the first page goes, the second keeps B2 (now camera 0).
        let only = parse(text, "w.toml").unwrap().only(&["B2".into()]).unwrap();
        assert_eq!(only.serials(), ["B2"]);
        assert_eq!(only.pages.len(), 1);
        assert_eq!(only.pages[0].cameras, [0]);
        let err = parse(text, "w.toml")
            .unwrap()
            .only(&["C3".into()])
            .unwrap_err();
        assert!(err.to_string().contains("--serial C3"), "{err}");
        // One page of rotation is none.
        let mut one = parse(text, "w.toml").unwrap().only(&["A1".into()]).unwrap();
        assert_eq!(one.pages.len(), 2, "A1 is on both pages");
        let mut single = Wall::of_serials(&["X".into()]);
        flags.apply(&mut single).unwrap();
        assert_eq!(single.page_time, None, "a single page does not rotate");
        flags.apply(&mut one).unwrap();
        assert_eq!(one.page_time, Some(Duration::from_secs(5)));
    }

    #[test]
    fn a_wall_with_pages() {
        let w = parse(TWO_PAGES, "w.toml").unwrap();
        assert_eq!(w.url.as_deref(), Some("ws://10.0.0.2:3000"));
        assert_eq!(w.pages.len(), 2);
        assert_eq!(w.pages[0].cameras, vec![0, 1]);
        assert_eq!(w.pages[0].layout, Layout::Grid { cols: 2, rows: 1 });
        assert_eq!(w.pages[1].cameras, vec![2]);
        assert_eq!(w.page_time, Some(Duration::from_secs(12)));
        assert!(w.cameras[1].always_on() && !w.cameras[0].always_on());
        assert_eq!(w.focus.on, vec![DetectionKind::Person, DetectionKind::Ring]);
        assert_eq!(w.focus.mode, FocusMode::Highlight);
        assert_eq!(w.focus.hold, Duration::from_secs(5));
        assert_eq!(w.label(0), "Front door");
        assert_eq!(w.label(2), "T8410P0000000003");
    }

    #[test]
    fn defaults() {
        let w = parse(
            "[[camera]]\nserial = \"A1\"\n[[camera]]\nserial = \"B2\"\n",
            "w",
        )
        .unwrap();
        assert_eq!(w.pages.len(), 1);
        assert_eq!(w.pages[0].cameras, vec![0, 1]);
        assert_eq!(w.page_time, None, "one page does not rotate");
        assert_eq!(w.focus, Focus::default());
        assert_eq!(w.watchdog, Some(Duration::from_secs(10)));
        assert!(w.keep_awake);
        assert_eq!(w, Wall::of_serials(&["A1".into(), "B2".into()]));
    }

    #[test]
    fn errors_name_the_line_and_what_is_expected() {
        let (line, m) =
            bad("[[camera]]\nserial = \"A1\"\n\n[[page]]\ncameras = [\"A1\", \"B2\"]\n");
        assert_eq!(line, 5, "{m}");
        assert!(m.contains("\"B2\"") && m.contains("serials: A1"), "{m}");

        let (line, m) = bad("[[camera]]\nserial = \"A1\"\ncolour = 3\n");
        assert_eq!(line, 3, "{m}");
        assert!(m.contains("colour"), "{m}");

        let (line, m) =
            bad("[[camera]]\nserial = \"A1\"\n[[page]]\ncameras = [\"A1\"]\nlayout = \"huge\"\n");
        assert_eq!(line, 5, "{m}");
        assert!(m.contains("COLSxROWS"), "{m}");

        let (line, m) = bad("url = \"http://x\"\n[[camera]]\nserial = \"A1\"\n");
        assert_eq!(line, 1);
        assert!(m.contains("ws://"), "{m}");

        let (line, m) =
            bad("[[camera]]\nserial = \"A1\"\n[focus]\non = [\"ring\", \"doorbell\"]\n");
        assert_eq!(line, 4);
        assert!(m.contains("doorbell") && m.contains("person"), "{m}");

        let (_, m) = bad("[[camera]]\nserial = \"A1\"\n[[camera]]\nserial = \"A1\"\n");
        assert!(m.contains("twice"), "{m}");
        let (_, m) = bad("page_seconds = 5\n");
        assert!(m.contains("no camera"), "{m}");
        let (line, m) = bad("[[camera]]\nserial = \"A1\"\nwatchdog_seconds = -1\n");
        assert!(line >= 1 && m.contains("watchdog_seconds"), "{m}");
        let (_, m) = bad("[[camera]]\nserial = \"A1\"\n[[camera]]\nserial = \"B1\"\n[[page]]\ncameras = [\"A1\", \"B1\"]\nlayout = \"1x1\"\n");
        assert!(m.contains("do not fit"), "{m}");
        let (line, m) = bad("[[camera]\nserial = 1\n");
        assert_eq!(line, 1, "{m}");
    }

    #[test]
    fn night() {
        let w = parse(
            "[[camera]]\nserial = \"A1\"\n[screen]\nnight = { from = \"23:00\", to = \"06:30\", mode = \"dim\" }\n",
            "w",
        )
        .unwrap();
        let n = w.night.unwrap();
        assert_eq!(
            (n.from, n.to, n.mode),
            (23 * 60, 6 * 60 + 30, NightMode::Dim)
        );
        assert!(n.contains(23 * 60) && n.contains(0) && n.contains(6 * 60 + 29));
        assert!(!n.contains(6 * 60 + 30) && !n.contains(12 * 60) && !n.contains(22 * 60 + 59));
        let day = Night {
            from: 60,
            to: 120,
            mode: NightMode::Blank,
        };
        assert!(day.contains(60) && !day.contains(120) && !day.contains(0));
        let (line, m) = bad(
            "[[camera]]\nserial = \"A1\"\n[screen]\nnight = { from = \"25:00\", to = \"06:00\" }\n",
        );
        assert_eq!(line, 4);
        assert!(m.contains("HH:MM"), "{m}");
        let (_, m) = bad(
            "[[camera]]\nserial = \"A1\"\n[screen]\nnight = { from = \"1:00\", to = \"1:00\" }\n",
        );
        assert!(m.contains("same"), "{m}");
    }

    #[test]
    fn starter_files_parse() {
        let cams: Vec<DeviceInfo> = (1..=6)
            .map(|i| DeviceInfo {
                serial: format!("T8410P000000000{i}"),
                name: Some(format!("Cam \"{i}\"")),
                model: Some("T8410".into()),
                station: None,
            })
            .collect();
        let text = starter("ws://127.0.0.1:3000", &cams);
        let w = parse(&text, "starter").unwrap();
        assert_eq!(w.cameras.len(), 6);
        assert_eq!(w.pages.len(), 2);
        assert_eq!(w.pages[1].cameras, vec![4, 5]);
        assert_eq!(w.cameras[2].name.as_deref(), Some("Cam \"3\""));
        assert_eq!(w.page_time, Some(Duration::from_secs(20)));
    }
}
