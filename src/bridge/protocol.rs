//! The Eufy Mega bridge's messages (ha-eufy-sdk-bridge, WebSocket schema 1; ../shared/BRIDGE.md),
//! parsed without a socket: server messages into [`Message`], `devices.list` into [`Device`]s,
//! the HTTP side's URLs, error bodies and back-off.
//!
//! Everything here is untrusted input: a field of the wrong type is a [`ParseError`] naming
//! it, an unknown event is [`Message::Unknown`] (counted by the session, never fatal).

use std::time::Duration;

use serde_json::{json, Value};

use crate::eufy::protocol::{DetectionKind, DeviceInfo};

/// The only WebSocket schema this client speaks.
pub const SCHEMA: u64 = 1;

/// The largest HTTP error body read (they are one JSON line).
pub const MAX_ERROR_BODY: usize = 16 << 10;

/// The bridge's login state (`hello.auth`, the `auth` event, `auth.submit`'s reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthState {
    /// Logged in: devices and video work.
    Ok,
    /// Logging in.
    Pending,
    /// Waiting for the code Eufy sent (`method`: email, sms…).
    Require2fa {
        /// How the code was sent, when said.
        method: Option<String>,
    },
    /// Waiting for a captcha's answer.
    RequireCaptcha {
        /// The captcha image as a `data:` URL, when sent.
        image: Option<String>,
        /// The bridge's try counter, when sent.
        retry: Option<u64>,
    },
    /// Another login kicked this session out; the bridge logs in again by itself.
    Reauth,
    /// A state this client does not know, as sent.
    Other(String),
}

impl AuthState {
    /// Reads `state` (and `method`, `image`, `retry`) from an object: `hello.auth`, or an
    /// `auth` event's flat fields.
    pub fn from_json(v: &Value) -> Result<AuthState, ParseError> {
        let state = v
            .get("state")
            .ok_or(ParseError::Missing("auth.state"))?
            .as_str()
            .ok_or(ParseError::WrongType("auth.state", "a string"))?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        Ok(match state {
            "ok" => AuthState::Ok,
            "pending" => AuthState::Pending,
            "require_2fa" => AuthState::Require2fa {
                method: text("method"),
            },
            "require_captcha" => AuthState::RequireCaptcha {
                image: text("image"),
                retry: v.get("retry").and_then(Value::as_u64),
            },
            "reauth" => AuthState::Reauth,
            other => AuthState::Other(other.to_owned()),
        })
    }

    /// Logged in.
    pub fn is_ok(&self) -> bool {
        *self == AuthState::Ok
    }

    /// The state as the bridge names it.
    pub fn word(&self) -> &str {
        match self {
            AuthState::Ok => "ok",
            AuthState::Pending => "pending",
            AuthState::Require2fa { .. } => "require_2fa",
            AuthState::RequireCaptcha { .. } => "require_captcha",
            AuthState::Reauth => "reauth",
            AuthState::Other(s) => s,
        }
    }

    /// What a tile and the progress line say while the bridge is in this state.
    pub fn describe(&self) -> String {
        match self {
            AuthState::Ok => "the bridge is logged in".to_owned(),
            AuthState::Pending => "the bridge is logging in to Eufy...".to_owned(),
            AuthState::Require2fa { method: Some(m) } => {
                format!("the bridge needs a 2FA code (sent by {m}): eufy-hw login --code CODE")
            }
            AuthState::Require2fa { method: None } => {
                "the bridge needs a 2FA code: eufy-hw login --code CODE".to_owned()
            }
            AuthState::RequireCaptcha { .. } => {
                "the bridge needs a captcha: eufy-hw login".to_owned()
            }
            AuthState::Reauth => "the bridge is logging in again...".to_owned(),
            AuthState::Other(s) => format!("the bridge's login is {s:?}"),
        }
    }
}

/// A field the bridge sent that this client cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON.
    #[error("not JSON: {0}")]
    Json(String),
    /// JSON, but not an object.
    #[error("not a JSON object")]
    NotObject,
    /// A required field is absent.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// A field has the wrong type.
    #[error("{0} is not {1}")]
    WrongType(&'static str, &'static str),
    /// Neither a reply (`id`/`ok`) nor an event (`event`).
    #[error("neither a reply nor an event")]
    Neither,
}

/// One message from the bridge's WebSocket.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// The first message on every connection.
    Hello {
        /// `schemaVersion`.
        schema: u64,
        /// `auth`, when sent.
        auth: Option<AuthState>,
    },
    /// Sent once, at the first completed login.
    Ready,
    /// The login state changed.
    Auth(AuthState),
    /// The answer to a request.
    Reply {
        /// The request's id (`None`: the bridge could not read the request, e.g. bad JSON).
        id: Option<u64>,
        /// Whether it succeeded.
        ok: bool,
        /// The reason, when it failed.
        error: Option<String>,
        /// The whole reply, for its result fields.
        body: Value,
    },
    /// A detection on a device, mapped to the wall's kinds (momentary: no end event).
    Detection {
        /// The device.
        serial: String,
        /// What.
        kind: DetectionKind,
        /// The recognised person, when named.
        person: Option<String>,
    },
    /// A camera's live feed opened or closed on the bridge.
    StreamState {
        /// The camera.
        serial: String,
        /// Open.
        active: bool,
    },
    /// A device property changed.
    PropertyChanged {
        /// The device.
        serial: String,
        /// Which property.
        property: String,
        /// Its value, when sent.
        value: Option<Value>,
    },
    /// A new event picture is stored for this camera.
    ImageUpdated {
        /// The camera.
        serial: String,
    },
    /// A known event the wall has no use for (battery, lock, arming…).
    Ignored {
        /// Its name.
        event: String,
    },
    /// An event this client does not know.
    Unknown {
        /// Its name.
        event: String,
    },
}

/// Events the bridge documents that the wall does not act on.
const IGNORED: &[&str] = &[
    "batteryLevel",
    "lockState",
    "ptzNotify",
    "armingModeChanged",
    "alarm",
];

/// The wall's kind of a bridge detection event (BRIDGE.md's table).
pub fn detection_kind(event: &str) -> Option<DetectionKind> {
    Some(match event {
        "doorbellPress" => DetectionKind::Ring,
        "personDetected" | "strangerDetected" => DetectionKind::Person,
        "motion" => DetectionKind::Motion,
        "petDetection" | "dogDetected" => DetectionKind::Pet,
        "vehicleDetected" => DetectionKind::Vehicle,
        "soundDetected" => DetectionKind::Sound,
        "cryingDetected" => DetectionKind::Crying,
        "packageDelivered" | "packageTaken" | "packageStranded" => DetectionKind::Package,
        _ => return None,
    })
}

/// The bridge event of a wall kind (the simulator's).
pub fn event_name(kind: DetectionKind) -> &'static str {
    match kind {
        DetectionKind::Ring => "doorbellPress",
        DetectionKind::Person => "personDetected",
        DetectionKind::Motion => "motion",
        DetectionKind::Pet => "petDetection",
        DetectionKind::Vehicle => "vehicleDetected",
        DetectionKind::Sound => "soundDetected",
        DetectionKind::Crying => "cryingDetected",
        DetectionKind::Package => "packageDelivered",
    }
}

fn string(v: &Value, key: &'static str) -> Result<String, ParseError> {
    v.get(key)
        .ok_or(ParseError::Missing(key))?
        .as_str()
        .map(str::to_owned)
        .ok_or(ParseError::WrongType(key, "a string"))
}

/// Parses one text frame of the bridge's WebSocket.
pub fn parse(text: &str) -> Result<Message, ParseError> {
    let v: Value = serde_json::from_str(text).map_err(|e| ParseError::Json(e.to_string()))?;
    if !v.is_object() {
        return Err(ParseError::NotObject);
    }
    if let Some(event) = v.get("event") {
        let event = event
            .as_str()
            .ok_or(ParseError::WrongType("event", "a string"))?;
        return parse_event(event, &v);
    }
    if let Some(ok) = v.get("ok") {
        let ok = ok
            .as_bool()
            .ok_or(ParseError::WrongType("ok", "a boolean"))?;
        let id = match v.get("id") {
            None | Some(Value::Null) => None,
            Some(id) => Some(id.as_u64().ok_or(ParseError::WrongType("id", "a number"))?),
        };
        let error = v.get("error").map(|e| match e.as_str() {
            Some(s) => s.to_owned(),
            None => e.to_string(),
        });
        return Ok(Message::Reply {
            id,
            ok,
            error,
            body: v,
        });
    }
    Err(ParseError::Neither)
}

fn parse_event(event: &str, v: &Value) -> Result<Message, ParseError> {
    Ok(match event {
        "hello" => Message::Hello {
            schema: v
                .get("schemaVersion")
                .ok_or(ParseError::Missing("schemaVersion"))?
                .as_u64()
                .ok_or(ParseError::WrongType("schemaVersion", "a number"))?,
            auth: match v.get("auth") {
                None | Some(Value::Null) => None,
                Some(a) => Some(AuthState::from_json(a)?),
            },
        },
        "ready" => Message::Ready,
        "auth" => Message::Auth(AuthState::from_json(v)?),
        "streamState" => Message::StreamState {
            serial: string(v, "deviceSn")?,
            active: v
                .get("active")
                .ok_or(ParseError::Missing("active"))?
                .as_bool()
                .ok_or(ParseError::WrongType("active", "a boolean"))?,
        },
        "propertyChanged" => Message::PropertyChanged {
            serial: string(v, "deviceSn")?,
            property: string(v, "property")?,
            value: v.get("value").cloned(),
        },
        "eventImageUpdated" => Message::ImageUpdated {
            serial: string(v, "deviceSn")?,
        },
        e => match detection_kind(e) {
            Some(kind) => Message::Detection {
                serial: string(v, "deviceSn")?,
                kind,
                person: v
                    .get("person_name")
                    .or_else(|| v.get("personName"))
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            },
            None if IGNORED.contains(&e) => Message::Ignored {
                event: e.to_owned(),
            },
            None => Message::Unknown {
                event: e.to_owned(),
            },
        },
    })
}

/// A device as `devices.list` and `device.state` describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// Serial, name, station, model.
    pub info: DeviceInfo,
    /// `capabilities`: `video`, `snapshot`, `ptz`, `battery`, `audio`…
    pub capabilities: Vec<String>,
    /// `stream`: the path of its live video (`/stream/<sn>`), only on cameras with video.
    pub stream: Option<String>,
    /// `streaming`: its feed is open on the bridge.
    pub streaming: bool,
    /// Battery level in %, when the state says.
    pub battery: Option<u64>,
}

impl Device {
    /// Whether it has this capability.
    pub fn can(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }

    /// Reads one entry; `Err` names what is wrong. An entry with an `error` (a device that
    /// failed to resolve) is `Ok(None)`.
    pub fn from_json(v: &Value) -> Result<Option<Device>, ParseError> {
        if !v.is_object() {
            return Err(ParseError::NotObject);
        }
        let serial = string(v, "sn")?;
        if v.get("error").is_some_and(|e| !e.is_null()) {
            return Ok(None);
        }
        let text = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let capabilities = match v.get("capabilities") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(_) => return Err(ParseError::WrongType("capabilities", "a list")),
        };
        let state = v.get("state");
        let battery = state
            .and_then(|s| s.get("battery").or_else(|| s.get("batteryLevel")))
            .and_then(Value::as_u64);
        Ok(Some(Device {
            info: DeviceInfo {
                name: text("name"),
                station: text("stationSn"),
                model: text("model"),
                serial,
            },
            capabilities,
            stream: text("stream"),
            streaming: v.get("streaming").and_then(Value::as_bool).unwrap_or(false),
            battery,
        }))
    }
}

/// The devices of a `devices.list` reply, with how many entries were left out (failed to
/// resolve, or unreadable).
pub fn parse_devices(reply: &Value) -> Result<(Vec<Device>, usize), ParseError> {
    let list = reply
        .get("devices")
        .ok_or(ParseError::Missing("devices"))?
        .as_array()
        .ok_or(ParseError::WrongType("devices", "a list"))?;
    let mut out = Vec::new();
    let mut skipped = 0;
    for entry in list {
        match Device::from_json(entry) {
            Ok(Some(d)) => out.push(d),
            Ok(None) | Err(_) => skipped += 1,
        }
    }
    Ok((out, skipped))
}

/// A request: `{"id": id, "cmd": cmd, ...args}`.
pub fn request(id: u64, cmd: &str, args: Value) -> String {
    let mut v = json!({ "id": id, "cmd": cmd });
    if let (Some(map), Value::Object(extra)) = (v.as_object_mut(), args) {
        map.extend(extra);
    }
    v.to_string()
}

/// The HTTP base (`http://host:port`, `https://` for `wss://`) of a bridge WebSocket URL.
pub fn http_base(ws_url: &str) -> Result<String, String> {
    let (scheme, rest) = if let Some(r) = ws_url.strip_prefix("ws://") {
        ("http", r)
    } else if let Some(r) = ws_url.strip_prefix("wss://") {
        ("https", r)
    } else {
        return Err(format!(
            "{ws_url:?}: expected ws://host:port/ws or wss://host:port/ws"
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(format!("{ws_url:?} names no host"));
    }
    Ok(format!("{scheme}://{authority}"))
}

/// A camera's stream URL on `base`: the `stream` path the bridge listed (its path only: the
/// absolute URLs it returns name its own idea of its host), or `/stream/<sn>`.
pub fn stream_url(base: &str, serial: &str, listed: Option<&str>) -> String {
    match listed.filter(|p| p.starts_with('/') && !p.starts_with("//")) {
        Some(path) => format!("{base}{path}"),
        None => format!("{base}/stream/{}", path_segment(serial)),
    }
}

/// A camera's stored picture (never wakes a battery camera).
pub fn snapshot_url(base: &str, serial: &str) -> String {
    format!("{base}/snapshot/{}?mode=stored", path_segment(serial))
}

/// A serial as a URL path segment (serials are letters and digits; anything else escaped).
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The reason an HTTP error body gives: its JSON `error` (with `reason`), or its text,
/// cut to one line of at most 200 characters.
pub fn error_reason(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_BODY)]);
    let said = match serde_json::from_str::<Value>(&text) {
        Ok(v) => match (v.get("error").and_then(Value::as_str), v.get("reason")) {
            (Some(e), Some(Value::String(r))) if !r.is_empty() => format!("{e} ({r})"),
            (Some(e), _) => e.to_owned(),
            _ => text.trim().to_owned(),
        },
        Err(_) => text.trim().to_owned(),
    };
    let line: String = said
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    if line.is_empty() {
        "no reason given".to_owned()
    } else {
        line
    }
}

/// The bridge's own back-off in an error reason: `retry in 30s` / `retry in 30 s`.
pub fn retry_after(reason: &str) -> Option<Duration> {
    let at = reason.find("retry in ")? + "retry in ".len();
    let digits: String = reason[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let secs: u64 = digits.parse().ok()?;
    let unit = reason[at + digits.len()..].trim_start();
    unit.starts_with('s')
        .then(|| Duration::from_secs(secs.min(3600)))
}

/// Whether a `Content-Type` is the bridge's video (`video/H264`, also for H.265) or another
/// video type; JSON and text are error bodies.
pub fn is_video_type(content_type: Option<&str>) -> bool {
    match content_type {
        None => true,
        Some(t) => {
            let t = t.trim().to_ascii_lowercase();
            t.starts_with("video/") || t.starts_with("application/octet-stream")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_and_auth_states() {
        let m = parse(r#"{"event":"hello","schemaVersion":1,"auth":{"state":"ok"}}"#).unwrap();
        assert_eq!(
            m,
            Message::Hello {
                schema: 1,
                auth: Some(AuthState::Ok)
            }
        );
        let m = parse(r#"{"event":"auth","state":"require_2fa","method":"email"}"#).unwrap();
        assert_eq!(
            m,
            Message::Auth(AuthState::Require2fa {
                method: Some("email".into())
            })
        );
        assert!(AuthState::Require2fa {
            method: Some("email".into())
        }
        .describe()
        .contains("2FA code"));
        let m = parse(r#"{"event":"auth","state":"require_captcha","image":"data:x","retry":2}"#)
            .unwrap();
        assert!(matches!(
            m,
            Message::Auth(AuthState::RequireCaptcha { retry: Some(2), .. })
        ));
        assert_eq!(
            parse(r#"{"event":"auth","state":"reauth"}"#).unwrap(),
            Message::Auth(AuthState::Reauth)
        );
        assert_eq!(
            parse(r#"{"event":"auth","state":"weird"}"#).unwrap(),
            Message::Auth(AuthState::Other("weird".into()))
        );
    }

    #[test]
    fn wrong_types_are_named() {
        assert_eq!(
            parse(r#"{"event":"hello","schemaVersion":"1"}"#),
            Err(ParseError::WrongType("schemaVersion", "a number"))
        );
        assert_eq!(
            parse(r#"{"event":"motion","deviceSn":7}"#),
            Err(ParseError::WrongType("deviceSn", "a string"))
        );
        assert_eq!(
            parse(r#"{"event":"streamState","deviceSn":"A"}"#),
            Err(ParseError::Missing("active"))
        );
        assert_eq!(parse("[1,2]"), Err(ParseError::NotObject));
        assert_eq!(parse(r#"{"x":1}"#), Err(ParseError::Neither));
        assert!(matches!(parse("{oops"), Err(ParseError::Json(_))));
        assert_eq!(
            parse(r#"{"event":12}"#),
            Err(ParseError::WrongType("event", "a string"))
        );
    }

    #[test]
    fn events_map_to_the_walls_kinds() {
        for (name, kind) in [
            ("doorbellPress", DetectionKind::Ring),
            ("strangerDetected", DetectionKind::Person),
            ("dogDetected", DetectionKind::Pet),
            ("packageTaken", DetectionKind::Package),
            ("motion", DetectionKind::Motion),
        ] {
            let m = parse(&format!(r#"{{"event":"{name}","deviceSn":"A1"}}"#)).unwrap();
            assert_eq!(
                m,
                Message::Detection {
                    serial: "A1".into(),
                    kind,
                    person: None
                }
            );
        }
        for kind in DetectionKind::ALL {
            assert_eq!(detection_kind(event_name(kind)), Some(kind));
        }
        let m = parse(r#"{"event":"personDetected","deviceSn":"A1","person_name":"Ann"}"#).unwrap();
        assert!(matches!(m, Message::Detection { person: Some(p), .. } if p == "Ann"));
        assert_eq!(
            parse(r#"{"event":"batteryLevel","deviceSn":"A1","value":3}"#).unwrap(),
            Message::Ignored {
                event: "batteryLevel".into()
            }
        );
        assert_eq!(
            parse(r#"{"event":"newThing"}"#).unwrap(),
            Message::Unknown {
                event: "newThing".into()
            }
        );
    }

    #[test]
    fn replies_with_and_without_id() {
        let m = parse(r#"{"id":3,"ok":false,"error":"not authenticated — log in"}"#).unwrap();
        assert!(
            matches!(m, Message::Reply { id: Some(3), ok: false, error: Some(e), .. } if e.starts_with("not auth"))
        );
        let m = parse(r#"{"ok":false,"error":"bad json"}"#).unwrap();
        assert!(matches!(m, Message::Reply { id: None, .. }));
        assert_eq!(
            parse(r#"{"id":"x","ok":true}"#),
            Err(ParseError::WrongType("id", "a number"))
        );
    }

    #[test]
    fn devices() {
        let reply = json!({"id":1,"ok":true,"devices":[
            {"sn":"A1","name":"Door","model":"T8210","stationSn":"H1","capabilities":["video","battery"],
             "stream":"/stream/A1","streaming":false,"state":{"battery":80}},
            {"sn":"B2","error":"failed to resolve"},
            {"sn":5},
            {"sn":"S3","name":"Sensor","codec":"sensor","capabilities":["motion"]}
        ]});
        let (devices, skipped) = parse_devices(&reply).unwrap();
        assert_eq!(skipped, 2);
        assert_eq!(devices.len(), 2);
        assert_eq!(devices[0].info.name.as_deref(), Some("Door"));
        assert_eq!(devices[0].info.station.as_deref(), Some("H1"));
        assert_eq!(devices[0].battery, Some(80));
        assert!(devices[0].can("battery") && !devices[0].can("ptz"));
        assert_eq!(devices[1].stream, None);
        assert_eq!(
            parse_devices(&json!({"devices": 3})),
            Err(ParseError::WrongType("devices", "a list"))
        );
    }

    #[test]
    fn urls() {
        assert_eq!(
            http_base("ws://10.0.0.2:3000/ws").unwrap(),
            "http://10.0.0.2:3000"
        );
        assert_eq!(http_base("wss://b.lan/ws?x").unwrap(), "https://b.lan");
        assert!(http_base("http://x").is_err());
        assert!(http_base("ws:///ws").is_err());
        let base = "http://h:3000";
        assert_eq!(
            stream_url(base, "A1", Some("/stream/A1")),
            "http://h:3000/stream/A1"
        );
        // An absolute URL naming the bridge's own host is not used.
        assert_eq!(
            stream_url(base, "A1", Some("http://127.0.0.1:3000/stream/A1")),
            "http://h:3000/stream/A1"
        );
        assert_eq!(stream_url(base, "a/b", None), "http://h:3000/stream/a%2Fb");
        assert_eq!(
            snapshot_url(base, "A1"),
            "http://h:3000/snapshot/A1?mode=stored"
        );
    }

    #[test]
    fn error_bodies_and_backoff() {
        let r = error_reason(
            br#"{"error":"stream backing off after a failed open \u2014 retry in 30s (P2P unreachable)"}"#,
        );
        assert!(r.starts_with("stream backing off"), "{r}");
        assert_eq!(retry_after(&r), Some(Duration::from_secs(30)));
        assert_eq!(retry_after("retry in 60 s"), Some(Duration::from_secs(60)));
        assert_eq!(retry_after("retry in soon"), None);
        assert_eq!(retry_after("not authenticated"), None);
        assert_eq!(error_reason(b""), "no reason given");
        assert_eq!(error_reason(b"\x00\x01line\nnext"), "  line next");
        assert_eq!(error_reason(&[b'x'; 100_000]).len(), 200);
        assert!(is_video_type(Some("video/H264")));
        assert!(!is_video_type(Some("application/json")));
        assert!(!is_video_type(Some("text/html; charset=utf-8")));
    }

    #[test]
    fn requests() {
        let r: Value =
            serde_json::from_str(&request(4, "auth.submit", json!({"code":"123"}))).unwrap();
        assert_eq!(r, json!({"id":4,"cmd":"auth.submit","code":"123"}));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,200}") {
            let _ = parse(&s);
            let _ = error_reason(s.as_bytes());
            let _ = retry_after(&s);
        }
    }
}
