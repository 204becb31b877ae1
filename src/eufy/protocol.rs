//! eufy-security-ws messages as this project speaks them (see PROTOCOL.md in shared/).
//!
//! Server messages are parsed by [`parse_server_message`]: the big `buffer.data` array of
//! livestream events is cut out of the text and decoded by [`super::buffer`], the small rest
//! goes through serde. Client commands are built by [`command`].

use serde::Deserialize;
use serde_json::{json, Value};

use super::buffer::{decode_byte_array, BufferError};

/// The schema version this client asks for.
pub const SCHEMA_VERSION: u32 = 21;
/// The lowest schema that has livestream commands.
pub const MIN_LIVESTREAM_SCHEMA: u32 = 2;
/// From this schema on, `device.start_livestream` answers `{"async": true}`.
pub const ASYNC_RESULT_SCHEMA: u32 = 13;

/// Event names used by livestreams.
pub mod events {
    /// A chunk of the video stream.
    pub const VIDEO_DATA: &str = "livestream video data";
    /// A chunk of the audio stream.
    pub const AUDIO_DATA: &str = "livestream audio data";
    /// The camera answered: data follows.
    pub const STARTED: &str = "livestream started";
    /// The stream ended.
    pub const STOPPED: &str = "livestream stopped";
    /// A station's answer to a command, with `returnCode`.
    pub const COMMAND_RESULT: &str = "command result";
    /// The server is going away (source `server`).
    pub const SHUTDOWN: &str = "shutdown";
    /// The server finished logging in to the Eufy cloud (source `driver`).
    pub const CONNECTED: &str = "connected";
    /// A device became known (source `device`, with a `device` object).
    pub const DEVICE_ADDED: &str = "device added";
    /// A device went away (source `device`, with a `device` object).
    pub const DEVICE_REMOVED: &str = "device removed";
    /// A device's property changed (`name`, `value`): the picture, among others.
    pub const PROPERTY_CHANGED: &str = "property changed";
    /// The camera plays what `device.talkback_audio_data` sends (schema 13+).
    pub const TALKBACK_STARTED: &str = "talkback started";
    /// Talk back ended (asked, or refused by a busy camera); not sent when a stream cut ends it.
    pub const TALKBACK_STOPPED: &str = "talkback stopped";
}

/// The property that holds a camera's latest picture: `{"data": Buffer, "type": {"ext",
/// "mime"}}` (schema 17 and up).
pub const PICTURE: &str = "picture";
/// The largest picture taken, bytes.
pub const MAX_PICTURE: usize = 8 << 20;

/// A camera's picture (a `picture` property) as bytes, with its MIME type: `None` when the
/// value is not one (no `data` bytes, too large).
pub fn picture_of(value: &Value, fast: Option<Vec<u8>>) -> Option<(Vec<u8>, String)> {
    let data = value.get("data")?.get("data")?;
    let array = data.as_array()?;
    if array.len() > MAX_PICTURE {
        return None;
    }
    let bytes = match fast {
        // The byte array was taken by the fast scanner (it is the message's first).
        Some(d) if array.is_empty() => d,
        // Read in place: a picture's array is large, not worth a copy.
        _ => <Vec<u8> as serde::Deserialize>::deserialize(data).ok()?,
    };
    let mime = value
        .get("type")
        .and_then(|t| t.get("mime"))
        .and_then(Value::as_str)
        .unwrap_or("image/jpeg")
        .to_owned();
    (!bytes.is_empty() && bytes.len() <= MAX_PICTURE).then_some((bytes, mime))
}

/// What a detection event reports, by its event name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DetectionKind {
    /// `rings`: a doorbell press.
    Ring,
    /// `person detected` (and `stranger person detected`).
    Person,
    /// `motion detected` (and `radar motion detected`).
    Motion,
    /// `pet detected`.
    Pet,
    /// `vehicle detected`.
    Vehicle,
    /// `sound detected`.
    Sound,
    /// `crying detected`.
    Crying,
    /// `package delivered`.
    Package,
}

impl DetectionKind {
    /// Every kind, for parsers and help texts.
    pub const ALL: [DetectionKind; 8] = [
        DetectionKind::Ring,
        DetectionKind::Person,
        DetectionKind::Motion,
        DetectionKind::Pet,
        DetectionKind::Vehicle,
        DetectionKind::Sound,
        DetectionKind::Crying,
        DetectionKind::Package,
    ];

    /// The kind an event name reports, if it is a detection event.
    pub fn from_event(name: &str) -> Option<DetectionKind> {
        Some(match name {
            "rings" => DetectionKind::Ring,
            "person detected" | "stranger person detected" => DetectionKind::Person,
            "motion detected" | "radar motion detected" => DetectionKind::Motion,
            "pet detected" => DetectionKind::Pet,
            "vehicle detected" => DetectionKind::Vehicle,
            "sound detected" => DetectionKind::Sound,
            "crying detected" => DetectionKind::Crying,
            "package delivered" => DetectionKind::Package,
            _ => return None,
        })
    }

    /// The event name the server sends for this kind.
    pub fn event_name(self) -> &'static str {
        match self {
            DetectionKind::Ring => "rings",
            DetectionKind::Person => "person detected",
            DetectionKind::Motion => "motion detected",
            DetectionKind::Pet => "pet detected",
            DetectionKind::Vehicle => "vehicle detected",
            DetectionKind::Sound => "sound detected",
            DetectionKind::Crying => "crying detected",
            DetectionKind::Package => "package delivered",
        }
    }

    /// A short word for logs, the overlay and option values: `ring`, `person`, `motion`, …
    pub fn word(self) -> &'static str {
        match self {
            DetectionKind::Ring => "ring",
            DetectionKind::Person => "person",
            DetectionKind::Motion => "motion",
            DetectionKind::Pet => "pet",
            DetectionKind::Vehicle => "vehicle",
            DetectionKind::Sound => "sound",
            DetectionKind::Crying => "crying",
            DetectionKind::Package => "package",
        }
    }
}

impl std::str::FromStr for DetectionKind {
    type Err = String;

    /// A word (`ring`, `person`, …) or the server's event name (`rings`, `motion detected`).
    fn from_str(s: &str) -> Result<Self, String> {
        DetectionKind::ALL
            .into_iter()
            .find(|k| k.word() == s)
            .or_else(|| DetectionKind::from_event(s))
            .ok_or_else(|| {
                let words: Vec<&str> = DetectionKind::ALL.iter().map(|k| k.word()).collect();
                format!("unknown event {s:?}: use one of {}", words.join(", "))
            })
    }
}

impl std::fmt::Display for DetectionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

/// What the server says about one camera (a `device added` event's `device`, a state dump's
/// entry, or `device.get_properties`' `properties`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Serial number.
    pub serial: String,
    /// Display name, e.g. "Front door".
    pub name: Option<String>,
    /// The station it streams through (a HomeBase, or the camera itself).
    pub station: Option<String>,
    /// Model code, e.g. `T8210`.
    pub model: Option<String>,
}

impl DeviceInfo {
    /// Reads the fields from a JSON object; `serial` is used when the object has none.
    pub fn from_json(v: &Value, serial: Option<&str>) -> Option<DeviceInfo> {
        let text = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let serial = text("serialNumber").or_else(|| serial.map(str::to_owned))?;
        Some(DeviceInfo {
            serial,
            name: text("name"),
            station: text("stationSerialNumber"),
            model: text("model"),
        })
    }
}

/// Error codes the server sends in failed results.
pub mod codes {
    /// Unknown serial.
    pub const DEVICE_NOT_FOUND: &str = "device_not_found";
    /// Unknown station.
    pub const STATION_NOT_FOUND: &str = "station_not_found";
    /// The command does not exist at this schema.
    pub const UNKNOWN_COMMAND: &str = "unknown_command";
    /// `set_api_schema` outside the server's range.
    pub const SCHEMA_INCOMPATIBLE: &str = "schema_incompatible";
    /// This client already streams this camera.
    pub const ALREADY_RUNNING: &str = "device_livestream_already_running";
    /// There is no stream to stop.
    pub const NOT_RUNNING: &str = "device_livestream_not_running";
    /// The device cannot stream.
    pub const NOT_SUPPORTED: &str = "device_not_supported";
    /// Anything else.
    pub const UNKNOWN_ERROR: &str = "unknown_error";
    /// Talk back data sent while no talk back runs (before `talkback started`, after a cut).
    pub const TALKBACK_NOT_RUNNING: &str = "device_talkback_not_running";
    /// This client already talks.
    pub const TALKBACK_ALREADY_RUNNING: &str = "device_talkback_already_running";
    /// Another client talks: the server holds one talk back for all devices.
    pub const ONLY_ONE_TALKBACK: &str = "device_only_one_talkback_at_a_time";
    /// The station did not answer.
    pub const STATION_TIMEOUT: &str = "station_connection_timeout";
}

/// The unasked first message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// eufy-security-client version.
    #[serde(default)]
    pub driver_version: String,
    /// eufy-security-ws version.
    #[serde(default)]
    pub server_version: String,
    /// Lowest schema the server speaks.
    pub min_schema_version: u32,
    /// Highest schema the server speaks.
    pub max_schema_version: u32,
}

/// The answer to a command.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandResult {
    /// The `messageId` of the command, echoed.
    pub message_id: String,
    /// Whether it worked.
    pub success: bool,
    /// `result` (`Null` when absent).
    pub result: Value,
    /// `errorCode` on failure.
    pub error_code: Option<String>,
}

/// Video or audio bytes of a livestream event.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaData {
    /// Camera serial.
    pub serial: String,
    /// The decoded `buffer.data`.
    pub data: Vec<u8>,
    /// `metadata`, as sent (codec guess, fps, size hints).
    pub metadata: Value,
}

/// An event.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `livestream video data`.
    Video(MediaData),
    /// `livestream audio data`.
    Audio(MediaData),
    /// `livestream started`.
    Started {
        /// Camera serial.
        serial: String,
    },
    /// `livestream stopped`.
    Stopped {
        /// Camera serial.
        serial: String,
    },
    /// `talkback started` (`started`) or `talkback stopped`.
    Talkback {
        /// Camera serial.
        serial: String,
        /// Started, or stopped.
        started: bool,
    },
    /// `command result` from a station or device.
    CommandResult {
        /// Device or station serial.
        serial: String,
        /// The command the station answered.
        command: String,
        /// Its return code; negative is a failure.
        return_code: i64,
    },
    /// `{"source":"server","event":"shutdown"}`.
    Shutdown,
    /// `{"source":"driver","event":"connected"}`: the server finished logging in.
    DriverConnected,
    /// `device added` (`added` true) or `device removed`.
    Device {
        /// What the event's `device` object says.
        info: DeviceInfo,
        /// Added, or removed.
        added: bool,
    },
    /// `property changed` for `picture`: the camera's latest picture.
    Picture {
        /// Camera serial.
        serial: String,
        /// The image (JPEG), as sent.
        data: Vec<u8>,
        /// Its MIME type.
        mime: String,
    },
    /// A detection event (`motion detected`, `rings`, …).
    Detection {
        /// Camera serial.
        serial: String,
        /// What was detected.
        kind: DetectionKind,
        /// True when it starts, false when it ends.
        state: bool,
        /// `person` (the recognised person's name), when sent.
        person: Option<String>,
    },
    /// Anything else, kept whole.
    Other(Value),
}

/// A message from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// `type: version`.
    Version(VersionInfo),
    /// `type: result`.
    Result(CommandResult),
    /// `type: event`.
    Event(Event),
}

/// Why a server message could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// Not JSON, or JSON of the wrong shape.
    #[error("malformed message from server: {0}")]
    Json(#[from] serde_json::Error),
    /// A `type` we do not know.
    #[error("message of unknown type {0:?} from server")]
    UnknownType(String),
    /// A media event whose `buffer.data` is not an array of bytes.
    #[error("bad media buffer from server: {0}")]
    Buffer(#[from] BufferError),
    /// A required field is missing.
    #[error("message from server lacks {0}")]
    Missing(&'static str),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    message_id: Option<String>,
    success: Option<bool>,
    result: Option<Value>,
    error_code: Option<String>,
    event: Option<Value>,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

const DATA_KEY: &[u8] = b"\"data\":[";

/// Parses one text frame from the server.
///
/// The first `"data":[` array (which in a media event is `buffer.data`) is decoded by the
/// fast byte-array scanner and replaced by `[]` before serde sees the rest. The key cannot
/// occur inside a JSON string (the quote before the colon would be escaped), so the cut is
/// always at a real key; if it was not `buffer.data`, that array is decoded from serde's
/// value instead. An array the fast scanner refuses (not bytes) sends the whole message
/// through serde: only a media event whose buffer is not bytes is an error, any other
/// message with such a `data` array is parsed as usual.
pub fn parse_server_message(text: &str) -> Result<ServerMessage, ProtocolError> {
    let bytes = text.as_bytes();
    let mut fast = None;
    let mut fast_error = None;
    let owned;
    let rest: &str = match memchr::memmem::find(bytes, DATA_KEY) {
        Some(at) => {
            let open = at + DATA_KEY.len() - 1;
            let mut data = Vec::new();
            match decode_byte_array(&bytes[open..], &mut data) {
                Ok(len) => {
                    fast = Some(data);
                    owned = [&text[..open], "[]", &text[open + len..]].concat();
                    &owned
                }
                Err(e) => {
                    fast_error = Some(e);
                    text
                }
            }
        }
        None => text,
    };
    let env: Envelope = match serde_json::from_str(rest) {
        Ok(env) => env,
        // Not JSON at all: the byte array's own complaint is the clearer one.
        Err(e) => return Err(fast_error.map_or(ProtocolError::Json(e), ProtocolError::Buffer)),
    };
    match env.kind.as_str() {
        "version" => {
            let v: VersionInfo = serde_json::from_value(Value::Object(env.rest))?;
            Ok(ServerMessage::Version(v))
        }
        "result" => {
            // A result keeps its arrays: when the fast scanner took one (a picture's bytes),
            // it is read again whole (results are rare).
            let env: Envelope = match fast {
                Some(_) => serde_json::from_str(text)?,
                None => env,
            };
            Ok(ServerMessage::Result(CommandResult {
                message_id: env.message_id.ok_or(ProtocolError::Missing("messageId"))?,
                success: env.success.ok_or(ProtocolError::Missing("success"))?,
                result: env.result.unwrap_or(Value::Null),
                error_code: env.error_code,
            }))
        }
        "event" => {
            let ev = env.event.ok_or(ProtocolError::Missing("event"))?;
            parse_event(ev, fast, fast_error).map(ServerMessage::Event)
        }
        other => Err(ProtocolError::UnknownType(other.to_owned())),
    }
}

fn parse_event(
    ev: Value,
    fast: Option<Vec<u8>>,
    fast_error: Option<BufferError>,
) -> Result<Event, ProtocolError> {
    let name = ev.get("event").and_then(Value::as_str).unwrap_or_default();
    let source = ev.get("source").and_then(Value::as_str).unwrap_or_default();
    let serial = || {
        ev.get("serialNumber")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(ProtocolError::Missing("event.serialNumber"))
    };
    Ok(match (source, name) {
        ("device", events::VIDEO_DATA | events::AUDIO_DATA) => {
            let array = ev
                .get("buffer")
                .and_then(|b| b.get("data"))
                .and_then(Value::as_array)
                .ok_or(ProtocolError::Missing("event.buffer.data"))?;
            let data = match fast {
                Some(d) if array.is_empty() => d,
                // The cut array was some other "data" key, or the scanner refused it: decode
                // this one the slow way.
                _ => match serde_json::from_value(Value::Array(array.clone())) {
                    Ok(d) => d,
                    Err(e) => {
                        return Err(fast_error.map_or(ProtocolError::Json(e), ProtocolError::Buffer))
                    }
                },
            };
            let media = MediaData {
                serial: serial()?,
                data,
                metadata: ev.get("metadata").cloned().unwrap_or(Value::Null),
            };
            if name == events::VIDEO_DATA {
                Event::Video(media)
            } else {
                Event::Audio(media)
            }
        }
        ("device", events::STARTED) => Event::Started { serial: serial()? },
        ("device", events::STOPPED) => Event::Stopped { serial: serial()? },
        ("device", events::TALKBACK_STARTED | events::TALKBACK_STOPPED) => Event::Talkback {
            serial: serial()?,
            started: name == events::TALKBACK_STARTED,
        },
        (_, events::COMMAND_RESULT) => Event::CommandResult {
            serial: serial()?,
            command: ev
                .get("command")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            return_code: ev.get("returnCode").and_then(Value::as_i64).unwrap_or(0),
        },
        ("server", events::SHUTDOWN) => Event::Shutdown,
        ("driver", events::CONNECTED) => Event::DriverConnected,
        ("device", events::DEVICE_ADDED | events::DEVICE_REMOVED) => {
            let info = ev
                .get("device")
                .and_then(|d| DeviceInfo::from_json(d, None))
                .ok_or(ProtocolError::Missing("event.device.serialNumber"))?;
            Event::Device {
                info,
                added: name == events::DEVICE_ADDED,
            }
        }
        ("device", events::PROPERTY_CHANGED)
            if ev.get("name").and_then(Value::as_str) == Some(PICTURE) =>
        {
            let serial = serial()?;
            match ev.get("value").and_then(|v| picture_of(v, fast)) {
                Some((data, mime)) => Event::Picture { serial, data, mime },
                None => return Err(ProtocolError::Missing("event.value.data.data (a picture)")),
            }
        }
        ("device", _) if DetectionKind::from_event(name).is_some() => Event::Detection {
            serial: serial()?,
            kind: DetectionKind::from_event(name).ok_or(ProtocolError::Missing("event"))?,
            state: ev.get("state").and_then(Value::as_bool).unwrap_or(true),
            person: ev
                .get("person")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
        },
        _ => Event::Other(ev),
    })
}

/// A client command: `{"messageId": id, "command": name, ...args}`.
pub fn command(message_id: &str, name: &str, args: Value) -> String {
    let mut obj = json!({ "messageId": message_id, "command": name });
    if let (Some(o), Value::Object(a)) = (obj.as_object_mut(), args) {
        o.extend(a);
    }
    obj.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_event_fast_path() {
        let text = r#"{"type":"event","event":{"source":"device","event":"livestream video data","serialNumber":"T1","buffer":{"type":"Buffer","data":[0,0,0,1,103]},"metadata":{"videoCodec":"H264","videoFPS":15}}}"#;
        let ServerMessage::Event(Event::Video(m)) = parse_server_message(text).unwrap() else {
            panic!("not a video event");
        };
        assert_eq!(m.serial, "T1");
        assert_eq!(m.data, vec![0, 0, 0, 1, 103]);
        assert_eq!(m.metadata["videoFPS"], 15);
    }

    #[test]
    fn other_data_key_first_falls_back() {
        let text = r#"{"type":"event","event":{"x":{"data":[7]},"source":"device","event":"livestream audio data","serialNumber":"T1","buffer":{"type":"Buffer","data":[255,241]}}}"#;
        let ServerMessage::Event(Event::Audio(m)) = parse_server_message(text).unwrap() else {
            panic!("not an audio event");
        };
        assert_eq!(m.data, vec![255, 241]);
    }

    /// A picture's bytes survive the fast scanner, in an event and in a result.
    #[test]
    fn pictures_in_events_and_results() {
        let value = r#"{"data":{"type":"Buffer","data":[255,216,255,224,0,16]},"type":{"ext":"jpg","mime":"image/jpeg"}}"#;
        let event = format!(
            r#"{{"type":"event","event":{{"source":"device","event":"property changed","serialNumber":"T1","name":"picture","value":{value},"timestamp":1}}}}"#
        );
        let ServerMessage::Event(Event::Picture { serial, data, mime }) =
            parse_server_message(&event).unwrap()
        else {
            panic!("not a picture");
        };
        assert_eq!((serial.as_str(), mime.as_str()), ("T1", "image/jpeg"));
        assert_eq!(data, [255, 216, 255, 224, 0, 16]);
        let result = format!(
            r#"{{"type":"result","messageId":"p","success":true,"result":{{"properties":{{"name":"Door","picture":{value}}}}}}}"#
        );
        let ServerMessage::Result(r) = parse_server_message(&result).unwrap() else {
            panic!("not a result");
        };
        let (bytes, _) = picture_of(&r.result["properties"]["picture"], None).unwrap();
        assert_eq!(bytes, [255, 216, 255, 224, 0, 16]);
        // Other property changes stay other events; a picture that is not bytes is an error.
        let other = r#"{"type":"event","event":{"source":"device","event":"property changed","serialNumber":"T1","name":"battery","value":80}}"#;
        assert!(matches!(
            parse_server_message(other).unwrap(),
            ServerMessage::Event(Event::Other(_))
        ));
        let bad = r#"{"type":"event","event":{"source":"device","event":"property changed","serialNumber":"T1","name":"picture","value":{"data":{"data":[300]}}}}"#;
        assert!(parse_server_message(bad).is_err());
    }

    #[test]
    fn results_and_version() {
        let v = parse_server_message(
            r#"{"type":"version","driverVersion":"3.8.0","serverVersion":"3.0.1","minSchemaVersion":0,"maxSchemaVersion":21}"#,
        )
        .unwrap();
        assert!(matches!(
            v,
            ServerMessage::Version(VersionInfo {
                max_schema_version: 21,
                ..
            })
        ));
        let r = parse_server_message(
            r#"{"type":"result","messageId":"a","success":false,"errorCode":"device_not_found"}"#,
        )
        .unwrap();
        let ServerMessage::Result(r) = r else {
            panic!()
        };
        assert_eq!(r.error_code.as_deref(), Some(codes::DEVICE_NOT_FOUND));
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            "",
            "{",
            "[]",
            r#"{"type":"nope"}"#,
            r#"{"type":"result"}"#,
            r#"{"type":"event","event":{"source":"device","event":"livestream video data","serialNumber":"T","buffer":{"data":[1,256]}}}"#,
            r#"{"type":"event","event":{"source":"device","event":"livestream video data","serialNumber":"T"}}"#,
        ] {
            assert!(parse_server_message(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn command_shape() {
        let c = command(
            "start",
            "device.start_livestream",
            json!({"serialNumber": "T8"}),
        );
        let v: Value = serde_json::from_str(&c).unwrap();
        assert_eq!(v["messageId"], "start");
        assert_eq!(v["command"], "device.start_livestream");
        assert_eq!(v["serialNumber"], "T8");
    }

    /// A result or event whose first `data` array is not bytes is not a media buffer: it is
    /// parsed as usual instead of being dropped (a command waiting for it would time out).
    #[test]
    fn non_byte_data_arrays_outside_media_are_parsed() {
        let r = parse_server_message(
            r#"{"type":"result","messageId":"p","success":true,"result":{"data":["a",300,{"x":1}],"properties":{"name":"Door"}}}"#,
        )
        .unwrap();
        let ServerMessage::Result(r) = r else {
            panic!("not a result")
        };
        assert_eq!(r.result["properties"]["name"], "Door");
        let e = parse_server_message(
            r#"{"type":"event","event":{"source":"station","event":"x","data":[1.5,-1],"serialNumber":"T"}}"#,
        )
        .unwrap();
        assert!(matches!(e, ServerMessage::Event(Event::Other(_))));
        // A media buffer that is not bytes is still refused, with the scanner's reason.
        let bad = parse_server_message(
            r#"{"type":"event","event":{"source":"device","event":"livestream video data","serialNumber":"T","buffer":{"type":"Buffer","data":[0,0,1,256]}}}"#,
        )
        .unwrap_err();
        assert!(bad.to_string().contains("over 255"), "{bad}");
    }

    #[test]
    fn detection_device_and_driver_events() {
        let m = parse_server_message(
            r#"{"type":"event","event":{"source":"device","event":"person detected","serialNumber":"T1","state":true,"person":"Ann"}}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            ServerMessage::Event(Event::Detection {
                serial: "T1".into(),
                kind: DetectionKind::Person,
                state: true,
                person: Some("Ann".into()),
            })
        );
        let m = parse_server_message(
            r#"{"type":"event","event":{"source":"device","event":"rings","serialNumber":"T2","state":false}}"#,
        )
        .unwrap();
        assert!(matches!(
            m,
            ServerMessage::Event(Event::Detection {
                kind: DetectionKind::Ring,
                state: false,
                ..
            })
        ));
        let m = parse_server_message(
            r#"{"type":"event","event":{"source":"device","event":"device added","device":{"name":"Back","serialNumber":"T3","stationSerialNumber":"T8010X","model":"T8114"}}}"#,
        )
        .unwrap();
        let ServerMessage::Event(Event::Device { info, added: true }) = m else {
            panic!("not a device event: {m:?}")
        };
        assert_eq!(info.name.as_deref(), Some("Back"));
        assert_eq!(info.station.as_deref(), Some("T8010X"));
        let m = parse_server_message(
            r#"{"type":"event","event":{"source":"driver","event":"connected"}}"#,
        )
        .unwrap();
        assert_eq!(m, ServerMessage::Event(Event::DriverConnected));
        for k in DetectionKind::ALL {
            assert_eq!(DetectionKind::from_event(k.event_name()), Some(k));
            assert_eq!(k.word().parse::<DetectionKind>(), Ok(k));
        }
        assert!("doorbell".parse::<DetectionKind>().is_err());
    }
}
