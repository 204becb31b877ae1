//! The wall as Home Assistant sees it, pure: MQTT discovery configurations (retained under
//! `<discovery_prefix>/<component>/<node_id>/<object>/config`, one shared device block,
//! availability through the client's last will), the topics under `eufy_hw/<node_id>/`,
//! commands parsed from what arrives on them, and the states published.
//!
//! Entities: `select` page, `button` next page, `select` show camera (alone on the screen
//! for a while, like an event focus; `wall` goes back), `switch` screen, `switch` mute, `switch` talk (the wall's microphone to the shown camera),
//! `image` the shown camera's picture, and per camera a `sensor` for its state, frames per
//! second and latency, and a `button` that restarts its stream. The show topic also takes
//! JSON, `{"camera": "Front door", "seconds": 30}`, for automations.

use std::time::Duration;

use serde_json::{json, Value};

use crate::backend::Ptz;
use crate::eufy::session::Capabilities;
use crate::wall::{MqttConfig, Wall};

/// How long "show camera" keeps a camera forward when the command does not say.
pub const DEFAULT_SHOW: Duration = Duration::from_secs(60);
/// The longest a command may keep a camera forward.
pub const MAX_SHOW: Duration = Duration::from_secs(3600);
/// The show select's option that goes back to the wall.
pub const WALL_OPTION: &str = "wall";

/// The topics of one wall.
#[derive(Debug, Clone)]
pub struct Topics {
    base: String,
    prefix: String,
    node: String,
}

impl Topics {
    /// The topics for `config`'s node.
    pub fn new(config: &MqttConfig) -> Topics {
        Topics {
            base: format!("eufy_hw/{}", config.node_id),
            prefix: config.discovery_prefix.clone(),
            node: config.node_id.clone(),
        }
    }

    fn at(&self, rest: &str) -> String {
        format!("{}/{rest}", self.base)
    }

    /// `online` / `offline` (retained; the broker sends `offline` when the wall vanishes).
    pub fn availability(&self) -> String {
        self.at("availability")
    }

    /// The shown camera's picture (PNG).
    pub fn image(&self) -> String {
        self.at("image")
    }

    /// A camera's state, frames per second and latency (JSON).
    pub fn camera(&self, serial: &str) -> String {
        self.at(&format!("camera/{}", object(serial)))
    }

    /// What is subscribed to: every command topic.
    pub fn subscriptions(&self) -> Vec<String> {
        vec![
            self.at("+/set"),
            self.at("page/next"),
            self.at("camera/+/restart"),
            self.at("camera/+/ptz"),
            self.at("camera/+/reply"),
        ]
    }

    fn discovery(&self, component: &str, object: &str) -> String {
        format!("{}/{component}/{}/{object}/config", self.prefix, self.node)
    }
}

/// A serial as a topic level and an object id: lower case letters and digits.
fn object(serial: &str) -> String {
    serial
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The show select's option for each camera: its name, made unique with the serial where
/// two cameras share one.
pub fn camera_options(wall: &Wall) -> Vec<String> {
    unique(
        (0..wall.cameras.len()).map(|i| wall.label(i)).collect(),
        |i| wall.cameras[i].serial.clone(),
    )
}

/// The page select's option for each page: its name, else `Page N`, made unique.
pub fn page_options(wall: &Wall) -> Vec<String> {
    unique(
        wall.pages
            .iter()
            .enumerate()
            .map(|(k, p)| p.name.clone().unwrap_or_else(|| format!("Page {}", k + 1)))
            .collect(),
        |k| (k + 1).to_string(),
    )
}

/// `names`, each one that is not unique followed by its `tag` in brackets.
fn unique(names: Vec<String>, tag: impl Fn(usize) -> String) -> Vec<String> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if names.iter().filter(|o| *o == n).count() > 1 {
                format!("{n} ({})", tag(i))
            } else {
                n.clone()
            }
        })
        .collect()
}

/// Every discovery message of the wall, retained: (topic, JSON).
/// Cameras whose capabilities are known (`caps`, in the wall's order) get buttons for them.
pub fn discovery(
    wall: &Wall,
    config: &MqttConfig,
    topics: &Topics,
    caps: &[Capabilities],
) -> Vec<(String, String)> {
    let d = Discovery::new(config, topics);
    let mut out = wall_entities(&d, wall, config.image_every.is_some());
    for (i, c) in wall.cameras.iter().enumerate() {
        out.extend(camera_entities(&d, &c.serial, &wall.label(i)));
        if let Some(caps) = caps.get(i) {
            out.extend(control_entities(&d, &c.serial, &wall.label(i), caps));
        }
    }
    out
}

/// Buttons for what a camera can do: pan/tilt steps, the sweep, presets 1–4, a doorbell's
/// quick replies (each named by its description).
fn control_entities(
    d: &Discovery<'_>,
    serial: &str,
    label: &str,
    caps: &Capabilities,
) -> Vec<(String, String)> {
    let o = object(serial);
    let button = |what: &str, name: &str, topic: &str, payload: String, icon: &str| {
        d.entity(
            "button",
            &format!("{o}_{what}"),
            &format!("{label} {name}"),
            json!({
                "command_topic": d.topics.at(&format!("camera/{o}/{topic}")),
                "payload_press": payload,
                "icon": icon,
            }),
        )
    };
    let mut out = Vec::new();
    if caps.ptz {
        for dir in ["left", "right", "up", "down"] {
            let icon = format!("mdi:arrow-{dir}-bold");
            out.push(button(&format!("ptz_{dir}"), dir, "ptz", dir.into(), &icon));
        }
    }
    if caps.sweep {
        out.push(button(
            "ptz_sweep",
            "sweep",
            "ptz",
            "sweep".into(),
            "mdi:rotate-360",
        ));
    }
    if caps.presets {
        for n in 1..=crate::backend::PRESETS {
            let name = format!("preset {n}");
            out.push(button(
                &format!("preset_{n}"),
                &name,
                "ptz",
                name.clone(),
                "mdi:target",
            ));
        }
    }
    for (voice, desc) in &caps.replies {
        let name = format!("reply: {desc}");
        out.push(button(
            &format!("reply_{voice}"),
            &name,
            "reply",
            voice.to_string(),
            "mdi:message-reply-text",
        ));
    }
    out
}

/// What every entity of the wall shares: its device block and availability.
struct Discovery<'a> {
    node: &'a str,
    topics: &'a Topics,
    device: Value,
}

impl<'a> Discovery<'a> {
    fn new(config: &'a MqttConfig, topics: &'a Topics) -> Discovery<'a> {
        let node = config.node_id.as_str();
        Discovery {
            node,
            topics,
            device: json!({
                "identifiers": [format!("eufy_hw_{node}")],
                "name": format!("eufy-hw {node}"),
                "manufacturer": "eufy-hw",
                "model": "camera wall",
                "sw_version": env!("CARGO_PKG_VERSION"),
            }),
        }
    }

    /// An entity's discovery message: the shared fields and `extra`.
    fn entity(&self, component: &str, object: &str, name: &str, extra: Value) -> (String, String) {
        let mut v = json!({
            "name": name,
            "unique_id": format!("eufy_hw_{}_{object}", self.node),
            "availability_topic": self.topics.availability(),
            "device": self.device,
        });
        if let (Some(map), Value::Object(more)) = (v.as_object_mut(), extra) {
            map.extend(more);
        }
        (self.topics.discovery(component, object), v.to_string())
    }
}

/// The wall's own entities: page, next page, show camera, screen, mute, the picture.
fn wall_entities(d: &Discovery<'_>, wall: &Wall, image: bool) -> Vec<(String, String)> {
    let t = d.topics;
    let mut out = vec![
        d.entity(
            "select",
            "page",
            "Page",
            json!({
                "state_topic": t.at("page"),
                "command_topic": t.at("page/set"),
                "options": page_options(wall),
                "icon": "mdi:view-grid",
            }),
        ),
        d.entity(
            "button",
            "next_page",
            "Next page",
            json!({ "command_topic": t.at("page/next"), "icon": "mdi:page-next" }),
        ),
        d.entity(
            "select",
            "show",
            "Show camera",
            json!({
                "state_topic": t.at("show"),
                "command_topic": t.at("show/set"),
                "options": std::iter::once(WALL_OPTION.to_owned())
                    .chain(camera_options(wall))
                    .collect::<Vec<_>>(),
                "icon": "mdi:cctv",
            }),
        ),
    ];
    for (object, name, icon) in [
        ("screen", "Screen", "mdi:monitor"),
        ("mute", "Mute", "mdi:volume-off"),
        // On: the wall's microphone talks through the shown camera's speaker until off.
        ("talk", "Talk", "mdi:microphone"),
    ] {
        out.push(d.entity(
            "switch",
            object,
            name,
            json!({
                "state_topic": t.at(object),
                "command_topic": t.at(&format!("{object}/set")),
                "icon": icon,
            }),
        ));
    }
    out.push(d.entity(
        "sensor",
        "login",
        "Server login",
        json!({ "state_topic": t.at("login"), "icon": "mdi:account-key" }),
    ));
    if image {
        out.push(d.entity(
            "image",
            "image",
            "Shown camera",
            json!({ "image_topic": t.image(), "content_type": "image/png" }),
        ));
    }
    out
}

/// A camera's entities: its state, frames per second and latency, and a restart button.
fn camera_entities(d: &Discovery<'_>, serial: &str, label: &str) -> Vec<(String, String)> {
    let o = object(serial);
    let state_topic = d.topics.camera(serial);
    let sensor = |what: &str, name: &str, template: &str, unit: Option<&str>| {
        let mut extra = json!({
            "state_topic": state_topic,
            "value_template": format!("{{{{ value_json.{template} }}}}"),
        });
        if let (Some(unit), Some(map)) = (unit, extra.as_object_mut()) {
            map.insert("unit_of_measurement".into(), unit.into());
            map.insert("state_class".into(), "measurement".into());
        }
        d.entity(
            "sensor",
            &format!("{o}_{what}"),
            &format!("{label} {name}"),
            extra,
        )
    };
    vec![
        sensor("state", "state", "state", None),
        sensor("fps", "frames per second", "fps", Some("fps")),
        sensor("latency", "latency", "latency_ms", Some("ms")),
        d.entity(
            "button",
            &format!("{o}_restart"),
            &format!("{label} restart"),
            json!({
                "command_topic": d.topics.at(&format!("camera/{o}/restart")),
                "icon": "mdi:restart",
            }),
        ),
    ]
}

/// What Home Assistant asks of the wall.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Show this page (index into the wall's pages).
    Page(usize),
    /// The next page.
    NextPage,
    /// This camera alone on the screen for a while.
    Show {
        /// The camera (index into the wall's cameras).
        camera: usize,
        /// For how long.
        hold: Duration,
    },
    /// Back to the pages.
    ShowWall,
    /// Restart this camera's stream.
    Restart(usize),
    /// The screen on (true) or off.
    Screen(bool),
    /// The sound muted (true) or not.
    Mute(bool),
    /// Talk back through the shown camera (true) or stop.
    Talk(bool),
    /// A pan/tilt step, sweep or preset of this camera.
    Ptz {
        /// The camera (index into the wall's cameras).
        camera: usize,
        /// What to do.
        action: Ptz,
    },
    /// A quick reply played at this doorbell.
    Reply {
        /// The camera (index into the wall's cameras).
        camera: usize,
        /// The voice id.
        voice: u64,
    },
}

/// The command a message on one of the wall's topics carries; why not, for the log.
pub fn parse_command(
    wall: &Wall,
    topics: &Topics,
    topic: &str,
    payload: &[u8],
) -> Result<Command, String> {
    let text = std::str::from_utf8(payload)
        .map_err(|_| "the payload is not UTF-8 text".to_owned())?
        .trim();
    let rest = topic
        .strip_prefix(&topics.base)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(|| "not one of this wall's topics".to_owned())?;
    match rest {
        "page/set" => page_option(wall, text).map(Command::Page),
        "page/next" => Ok(Command::NextPage),
        "show/set" => show(wall, text),
        "screen/set" => on_off(text).map(Command::Screen),
        "mute/set" => on_off(text).map(Command::Mute),
        "talk/set" => on_off(text).map(Command::Talk),
        _ => {
            let (serial, what) = rest
                .strip_prefix("camera/")
                .and_then(|r| r.split_once('/'))
                .ok_or_else(|| format!("no command on {rest:?}"))?;
            let camera = wall
                .cameras
                .iter()
                .position(|c| object(&c.serial) == serial)
                .ok_or_else(|| format!("no camera {serial:?} on this wall"))?;
            match what {
                "restart" => Ok(Command::Restart(camera)),
                "ptz" => text.parse().map(|action| Command::Ptz { camera, action }),
                "reply" => text
                    .parse()
                    .map(|voice| Command::Reply { camera, voice })
                    .map_err(|_| format!("{text:?}: expected a quick reply's voice id")),
                _ => Err(format!("no command on {rest:?}")),
            }
        }
    }
}

fn on_off(text: &str) -> Result<bool, String> {
    match text.to_ascii_uppercase().as_str() {
        "ON" | "TRUE" | "1" => Ok(true),
        "OFF" | "FALSE" | "0" => Ok(false),
        _ => Err(format!("{text:?}: expected ON or OFF")),
    }
}

fn page_option(wall: &Wall, text: &str) -> Result<usize, String> {
    let options = page_options(wall);
    options
        .iter()
        .position(|o| o == text)
        .or_else(|| {
            // `2`, or `Page 2`: a page by its number.
            let n: usize = text.trim_start_matches("Page ").parse().ok()?;
            (1..=wall.pages.len()).contains(&n).then(|| n - 1)
        })
        .ok_or_else(|| format!("{text:?} is not a page; expected one of {options:?}"))
}

/// A camera by its option, name or serial.
fn camera(wall: &Wall, text: &str) -> Result<usize, String> {
    let options = camera_options(wall);
    options
        .iter()
        .position(|o| o == text)
        .or_else(|| wall.cameras.iter().position(|c| c.serial == text))
        .or_else(|| (0..wall.cameras.len()).find(|&i| wall.label(i) == text))
        .ok_or_else(|| {
            format!("{text:?} is not a camera of this wall; expected one of {options:?}")
        })
}

/// `wall`, a camera, or `{"camera": …, "seconds": …}`.
fn show(wall: &Wall, text: &str) -> Result<Command, String> {
    if text == WALL_OPTION {
        return Ok(Command::ShowWall);
    }
    if !text.starts_with('{') {
        return Ok(Command::Show {
            camera: camera(wall, text)?,
            hold: DEFAULT_SHOW,
        });
    }
    let v: Value = serde_json::from_str(text).map_err(|e| format!("bad JSON: {e}"))?;
    let name = v
        .get("camera")
        .and_then(Value::as_str)
        .ok_or("JSON without a \"camera\" string")?;
    let hold = match v.get("seconds") {
        None => DEFAULT_SHOW,
        Some(s) => s
            .as_f64()
            .filter(|s| s.is_finite() && *s > 0.0 && *s <= MAX_SHOW.as_secs_f64())
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("\"seconds\": {s}: expected a number above 0, at most 3600"))?,
    };
    if name == WALL_OPTION {
        return Ok(Command::ShowWall);
    }
    Ok(Command::Show {
        camera: camera(wall, name)?,
        hold,
    })
}

/// How a camera is doing, as its sensors say.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CameraReport {
    /// `live`, `starting`, `station turn`, `restarting`, `offline`, `frozen`, `hidden`,
    /// `logging in`, `connecting`.
    pub state: String,
    /// Pictures shown per second.
    pub fps: f64,
    /// Arrival → on screen, ms (latest).
    pub latency_ms: f64,
    /// What it can do (its buttons), once known.
    pub caps: Capabilities,
}

/// What the wall shows and how its cameras do.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WallState {
    /// The page shown (under any focus).
    pub page: usize,
    /// The camera alone on the screen (asked or brought by an event).
    pub shown: Option<usize>,
    /// The screen is on.
    pub screen_on: bool,
    /// The sound is muted.
    pub muted: bool,
    /// The wall's microphone is open (talk back).
    pub talking: bool,
    /// Each camera, in the wall's order.
    pub cameras: Vec<CameraReport>,
    /// The server's login: `ok`, or what it waits for (the bridge needs a 2FA code, a
    /// captcha, logs in again).
    pub login: String,
}

/// The state messages (retained): all of them without `old`, else those that changed —
/// cameras' numbers only when `numbers` (they change every second).
pub fn state_messages(
    wall: &Wall,
    topics: &Topics,
    old: Option<&WallState>,
    new: &WallState,
    numbers: bool,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let changed = |f: &dyn Fn(&WallState) -> String| old.is_none_or(|o| f(o) != f(new));
    let pages = page_options(wall);
    let page = |s: &WallState| pages.get(s.page).cloned().unwrap_or_default();
    if changed(&page) {
        out.push((topics.at("page"), page(new)));
    }
    let cameras = camera_options(wall);
    let shown = |s: &WallState| {
        s.shown
            .and_then(|i| cameras.get(i).cloned())
            .unwrap_or_else(|| WALL_OPTION.to_owned())
    };
    if changed(&shown) {
        out.push((topics.at("show"), shown(new)));
    }
    let word = |b: bool| if b { "ON" } else { "OFF" }.to_owned();
    if changed(&|s| word(s.screen_on)) {
        out.push((topics.at("screen"), word(new.screen_on)));
    }
    if changed(&|s| word(s.muted)) {
        out.push((topics.at("mute"), word(new.muted)));
    }
    if changed(&|s| word(s.talking)) {
        out.push((topics.at("talk"), word(new.talking)));
    }
    if changed(&|s| s.login.clone()) {
        out.push((topics.at("login"), new.login.clone()));
    }
    for (i, c) in wall.cameras.iter().enumerate() {
        let Some(report) = new.cameras.get(i) else {
            continue;
        };
        let before = old.and_then(|o| o.cameras.get(i));
        let due = match before {
            None => true,
            Some(b) => b.state != report.state || (numbers && b != report),
        };
        if due {
            let fps = (report.fps * 10.0).round() / 10.0;
            let latency = report
                .latency_ms
                .is_finite()
                .then(|| report.latency_ms.round());
            let payload = json!({ "state": report.state, "fps": fps, "latency_ms": latency });
            out.push((topics.camera(&c.serial), payload.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wall::parse;

    const WALL: &str = r#"
[[camera]]
serial = "T8410P0000000001"
name = "Front door"
[[camera]]
serial = "T8410P0000000002"
name = "Garden"
[[camera]]
serial = "T8410P0000000003"
name = "Garden"
[[page]]
name = "Outside"
cameras = ["T8410P0000000001", "T8410P0000000002"]
[[page]]
cameras = ["T8410P0000000003"]
[mqtt]
url = "mqtt://broker"
node_id = "hall"
"#;

    fn wall() -> (Wall, MqttConfig, Topics) {
        let w = parse(WALL, "w.toml").unwrap();
        let m = w.mqtt.clone().unwrap();
        let t = Topics::new(&m);
        (w, m, t)
    }

    #[test]
    fn discovery_has_every_entity_with_one_device() {
        let (w, m, t) = wall();
        let msgs = discovery(&w, &m, &t, &[]);
        // 7 for the wall, the image, 4 per camera.
        assert_eq!(msgs.len(), 7 + 1 + 3 * 4);
        let mut ids = Vec::new();
        for (topic, body) in &msgs {
            assert!(
                topic.starts_with("homeassistant/") && topic.ends_with("/config"),
                "{topic}"
            );
            assert!(topic.contains("/hall/"), "{topic}");
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["device"]["identifiers"][0], "eufy_hw_hall");
            assert_eq!(v["availability_topic"], "eufy_hw/hall/availability");
            ids.push(v["unique_id"].as_str().unwrap().to_owned());
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), msgs.len(), "unique ids");
        let show: Value = msgs
            .iter()
            .find(|(t, _)| t == "homeassistant/select/hall/show/config")
            .map(|(_, b)| serde_json::from_str(b).unwrap())
            .unwrap();
        assert_eq!(
            show["options"],
            json!([
                "wall",
                "Front door",
                "Garden (T8410P0000000002)",
                "Garden (T8410P0000000003)"
            ])
        );
        let page: Value = serde_json::from_str(&msgs[0].1).unwrap();
        assert_eq!(page["options"], json!(["Outside", "Page 2"]));
        let no_image = MqttConfig {
            image_every: None,
            ..m
        };
        assert_eq!(discovery(&w, &no_image, &t, &[]).len(), 7 + 3 * 4);
        // Capabilities known: buttons for them, on that camera only.
        let caps = [
            Capabilities {
                ptz: true,
                sweep: true,
                presets: true,
                ..Default::default()
            },
            Capabilities::default(),
            Capabilities {
                talk: true,
                replies: vec![(1, "Hello".into()), (2, "Leave it".into())],
                ..Default::default()
            },
        ];
        let more = discovery(&w, &no_image, &t, &caps);
        assert_eq!(more.len(), 7 + 3 * 4 + (4 + 1 + 4) + 2);
        let reply: Value = more
            .iter()
            .find(|(t, _)| t == "homeassistant/button/hall/t8410p0000000003_reply_2/config")
            .map(|(_, b)| serde_json::from_str(b).unwrap())
            .unwrap();
        assert_eq!(
            reply["command_topic"],
            "eufy_hw/hall/camera/t8410p0000000003/reply"
        );
        assert_eq!(reply["payload_press"], "2");
        assert!(reply["name"].as_str().unwrap().contains("Leave it"));
        let preset: Value = more
            .iter()
            .find(|(t, _)| t == "homeassistant/button/hall/t8410p0000000001_preset_3/config")
            .map(|(_, b)| serde_json::from_str(b).unwrap())
            .unwrap();
        assert_eq!(preset["payload_press"], "preset 3");
    }

    #[test]
    fn commands_parse_and_bad_ones_say_why() {
        let (w, _, t) = wall();
        let cmd = |topic: &str, payload: &str| parse_command(&w, &t, topic, payload.as_bytes());
        assert_eq!(cmd("eufy_hw/hall/page/set", "Page 2"), Ok(Command::Page(1)));
        assert_eq!(
            cmd("eufy_hw/hall/page/set", "Outside"),
            Ok(Command::Page(0))
        );
        assert_eq!(
            cmd("eufy_hw/hall/page/next", "PRESS"),
            Ok(Command::NextPage)
        );
        assert_eq!(
            cmd("eufy_hw/hall/show/set", "Front door"),
            Ok(Command::Show {
                camera: 0,
                hold: DEFAULT_SHOW
            })
        );
        assert_eq!(
            cmd(
                "eufy_hw/hall/show/set",
                r#"{"camera": "T8410P0000000003", "seconds": 12}"#
            ),
            Ok(Command::Show {
                camera: 2,
                hold: Duration::from_secs(12)
            })
        );
        assert_eq!(cmd("eufy_hw/hall/show/set", "wall"), Ok(Command::ShowWall));
        assert_eq!(
            cmd("eufy_hw/hall/screen/set", "OFF"),
            Ok(Command::Screen(false))
        );
        assert_eq!(cmd("eufy_hw/hall/mute/set", "on"), Ok(Command::Mute(true)));
        assert_eq!(
            cmd("eufy_hw/hall/camera/t8410p0000000002/restart", "PRESS"),
            Ok(Command::Restart(1))
        );
        assert_eq!(
            cmd("eufy_hw/hall/camera/t8410p0000000001/ptz", "preset 3"),
            Ok(Command::Ptz {
                camera: 0,
                action: Ptz::Preset(3)
            })
        );
        assert_eq!(
            cmd("eufy_hw/hall/camera/t8410p0000000003/reply", "2"),
            Ok(Command::Reply {
                camera: 2,
                voice: 2
            })
        );
        assert_eq!(cmd("eufy_hw/hall/talk/set", "ON"), Ok(Command::Talk(true)));
        for (topic, payload, why) in [
            ("eufy_hw/hall/page/set", "Page 9", "not a page"),
            ("eufy_hw/hall/show/set", "Garage", "not a camera"),
            (
                "eufy_hw/hall/show/set",
                "{\"camera\": 3}",
                "\"camera\" string",
            ),
            (
                "eufy_hw/hall/show/set",
                "{\"camera\": \"Garden (T8410P0000000002)\", \"seconds\": -1}",
                "seconds",
            ),
            ("eufy_hw/hall/show/set", "{oops", "bad JSON"),
            ("eufy_hw/hall/screen/set", "MAYBE", "ON or OFF"),
            ("eufy_hw/hall/camera/nope/restart", "PRESS", "no camera"),
            (
                "eufy_hw/hall/camera/t8410p0000000001/ptz",
                "spin",
                "expected left",
            ),
            (
                "eufy_hw/hall/camera/t8410p0000000003/reply",
                "hi",
                "voice id",
            ),
            (
                "eufy_hw/hall/camera/t8410p0000000003/dance",
                "x",
                "no command",
            ),
            ("eufy_hw/other/page/set", "Page 1", "not one of this wall's"),
            ("eufy_hw/hall/nothing", "x", "no command"),
        ] {
            let err = cmd(topic, payload).unwrap_err();
            assert!(err.contains(why), "{topic} {payload}: {err}");
        }
        let binary = parse_command(&w, &t, "eufy_hw/hall/page/set", &[0xff, 0xfe]);
        assert!(binary.unwrap_err().contains("UTF-8"));
    }

    proptest::proptest! {
        /// Whatever arrives on whatever topic: a command of this wall or a reason, never a
        /// panic; a command names a page or camera that exists.
        #[test]
        fn any_message_is_a_command_or_a_reason(
            rest in "(page|show|screen|mute|camera/[a-z0-9]{0,20})(/set|/next|/restart)?|\\PC{0,30}",
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            json in "\\{\"camera\": \"(Front door|Garden|wall|\\PC{0,10})\", \"seconds\": -?[0-9e.]{1,8}\\}",
            text in "(Page )?[0-9]{1,2}|ON|off|wall|Garden|Front door|T8410P000000000[0-9]|\\PC{0,12}",
        ) {
            let (w, _, t) = wall();
            let topic = format!("eufy_hw/hall/{rest}");
            for p in [&payload[..], json.as_bytes(), text.as_bytes()] {
                match parse_command(&w, &t, &topic, p) {
                    Ok(Command::Page(n)) => proptest::prop_assert!(n < w.pages.len()),
                    Ok(Command::Show { camera, hold }) => {
                        proptest::prop_assert!(camera < w.cameras.len());
                        proptest::prop_assert!(hold > Duration::ZERO && hold <= MAX_SHOW);
                    }
                    Ok(Command::Restart(c)) => proptest::prop_assert!(c < w.cameras.len()),
                    Ok(_) => {}
                    Err(why) => proptest::prop_assert!(!why.is_empty()),
                }
            }
        }
    }

    #[test]
    fn states_are_sent_when_they_change() {
        let (w, _, t) = wall();
        let report = |state: &str, fps: f64| CameraReport {
            state: state.into(),
            fps,
            latency_ms: 40.4,
            caps: Capabilities::default(),
        };
        let a = WallState {
            page: 0,
            shown: None,
            screen_on: true,
            muted: false,
            talking: false,
            cameras: vec![
                report("live", 15.0),
                report("starting", 0.0),
                report("hidden", 0.0),
            ],
            login: "ok".into(),
        };
        let all = state_messages(&w, &t, None, &a, false);
        assert_eq!(all.len(), 6 + 3);
        assert!(all.contains(&("eufy_hw/hall/login".into(), "ok".into())));
        assert!(all.contains(&("eufy_hw/hall/page".into(), "Outside".into())));
        assert!(all.contains(&("eufy_hw/hall/show".into(), "wall".into())));
        let cam: Value = serde_json::from_str(
            &all.iter()
                .find(|(t, _)| t == "eufy_hw/hall/camera/t8410p0000000001")
                .unwrap()
                .1,
        )
        .unwrap();
        assert_eq!(
            cam,
            json!({"state": "live", "fps": 15.0, "latency_ms": 40.0})
        );
        assert!(state_messages(&w, &t, Some(&a), &a, true).is_empty());
        // Numbers alone wait for their turn; a state word goes at once.
        let mut b = a.clone();
        b.cameras[0].fps = 14.0;
        assert!(state_messages(&w, &t, Some(&a), &b, false).is_empty());
        assert_eq!(state_messages(&w, &t, Some(&a), &b, true).len(), 1);
        b.cameras[1].state = "live".into();
        b.shown = Some(2);
        let changed = state_messages(&w, &t, Some(&a), &b, false);
        assert_eq!(changed.len(), 2, "{changed:?}");
        assert!(changed.contains(&(
            "eufy_hw/hall/show".into(),
            "Garden (T8410P0000000003)".into()
        )));
        // The bridge waiting for its 2FA code is said on its own sensor.
        let mut c = b.clone();
        c.login = "the bridge needs a 2FA code".into();
        assert_eq!(
            state_messages(&w, &t, Some(&b), &c, false),
            vec![("eufy_hw/hall/login".into(), c.login.clone())]
        );
    }
}
