//! Shared test helpers: the test clips, frames from plain bytes, and a plain WebSocket
//! client for the simulator.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

pub mod display;
pub mod sound;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A frame of `layout` from planes held in memory (bytes, stride), as a decoder would give.
pub fn frame(
    width: u32,
    height: u32,
    layout: eufy_hw::frame::Layout,
    colour: eufy_hw::frame::Colour,
    planes: Vec<(Vec<u8>, usize)>,
) -> eufy_hw::frame::Frame {
    let now = std::time::Instant::now();
    eufy_hw::frame::Frame::new(
        width,
        height,
        layout,
        colour,
        std::sync::Arc::new(eufy_hw::frame::OwnedPlanes(planes)),
        now,
        now,
        "test".into(),
        "t".into(),
    )
    .unwrap()
}

/// The directory of test clips, made by `scripts/make-clips.sh` when missing.
pub fn clips_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let dir = std::env::var_os("EUFY_CLIPS")
            .map(|d| root.join(d))
            .unwrap_or_else(|| root.join("target/clips"));
        let status = std::process::Command::new(root.join("scripts/make-clips.sh"))
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run scripts/make-clips.sh (needs ffmpeg: ./dev.sh setup)");
        assert!(status.success(), "scripts/make-clips.sh failed");
        dir
    })
    .clone()
}

/// A clip by file name.
pub fn clip_path(name: &str) -> PathBuf {
    let p = clips_dir().join(name);
    assert!(p.exists(), "missing clip {}", p.display());
    p
}

/// Every clip the script makes.
pub const ALL_CLIPS: &[&str] = &[
    "h264_high_1080p.h264",
    "h264_high_1080p_bframes.h264",
    "h264_baseline_720p.h264",
    "h264_slices4_720p.h264",
    "h264_aud_720p.h264",
    "h264_full_range_720p.h264",
    "h264_3byte_720p.h264",
    "h264_res_change.h264",
    "h265_main_1080p.h265",
];

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A bare eufy-security-ws client: JSON in, JSON out, nothing of the project's client code.
pub struct Plain {
    pub ws: Ws,
}

/// How a read ended when it did not yield a text message.
#[derive(Debug, PartialEq)]
pub enum End {
    /// A close frame, with its code (None: no code, which clients report as 1005).
    Closed(Option<u16>),
    /// The TCP connection ended without a close frame, or failed.
    Dropped,
    /// Nothing within the wait.
    Timeout,
}

impl Plain {
    pub async fn connect(url: &str) -> Plain {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        Plain { ws }
    }

    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::text(v.to_string()))
            .await
            .expect("send");
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws
            .send(Message::text(text.to_owned()))
            .await
            .expect("send");
    }

    /// Next text message as JSON (panics on non-JSON), or how the stream ended.
    pub async fn next(&mut self, wait: Duration) -> Result<Value, End> {
        self.next_text(wait).await.map(|t| {
            serde_json::from_str(&t).unwrap_or_else(|e| panic!("not JSON ({e}): {t:.200}"))
        })
    }

    pub async fn next_text(&mut self, wait: Duration) -> Result<String, End> {
        loop {
            match tokio::time::timeout(wait, self.ws.next()).await {
                Err(_) => return Err(End::Timeout),
                Ok(None) => return Err(End::Dropped),
                Ok(Some(Err(_))) => return Err(End::Dropped),
                Ok(Some(Ok(Message::Text(t)))) => return Ok(t.to_string()),
                Ok(Some(Ok(Message::Close(f)))) => {
                    return Err(End::Closed(f.map(|f| u16::from(f.code))))
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Sends a command and returns its result, collecting events that come before it.
    pub async fn call(&mut self, id: &str, command: &str, args: Value) -> (Value, Vec<Value>) {
        let mut cmd = serde_json::json!({"messageId": id, "command": command});
        if let (Some(o), Value::Object(a)) = (cmd.as_object_mut(), args) {
            o.extend(a);
        }
        self.send(cmd).await;
        let mut before = Vec::new();
        loop {
            let m = self.next(Duration::from_secs(10)).await.expect("result");
            if m["type"] == "result" && m["messageId"] == id {
                return (m, before);
            }
            before.push(m);
        }
    }

    /// `device.start_livestream` for `serial`: its result, and the events before it.
    pub async fn start_livestream(&mut self, serial: &str) -> (Value, Vec<Value>) {
        let id = format!("start-{serial}");
        self.call(
            &id,
            "device.start_livestream",
            serde_json::json!({ "serialNumber": serial }),
        )
        .await
    }

    /// version, set_api_schema(schema), start_listening.
    pub async fn handshake(url: &str, schema: u32) -> Plain {
        let mut c = Plain::connect(url).await;
        let v = c.next(Duration::from_secs(5)).await.expect("version");
        assert_eq!(v["type"], "version");
        let (r, _) = c
            .call(
                "schema",
                "set_api_schema",
                serde_json::json!({"schemaVersion": schema}),
            )
            .await;
        assert_eq!(r["success"], true, "{r}");
        let (r, _) = c
            .call("listen", "start_listening", serde_json::json!({}))
            .await;
        assert_eq!(r["success"], true, "{r}");
        c
    }

    /// Reads until a video event; returns its bytes and the whole event.
    pub async fn next_video(&mut self, wait: Duration) -> Result<(Vec<u8>, Value), End> {
        loop {
            let m = self.next(wait).await?;
            if m["type"] == "event" && m["event"]["event"] == "livestream video data" {
                let data = m["event"]["buffer"]["data"]
                    .as_array()
                    .expect("buffer.data array")
                    .iter()
                    .map(|v| v.as_u64().expect("integer") as u8)
                    .collect();
                return Ok((data, m));
            }
        }
    }
}

/// A real RTSP server the test started (GStreamer's, through python3-gi), stopped when
/// dropped.
pub struct RtspServer(std::process::Child);

impl Drop for RtspServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn gst_script(script: &str, args: &[&str]) -> RtspServer {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let mut child = std::process::Command::new("/usr/bin/python3")
        .arg(script)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 with GStreamer's RTSP server (./dev.sh setup installs it)");
    let mut line = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim(), "ready", "the RTSP server did not start");
    RtspServer(child)
}

/// GStreamer's RTSP server serving `clip` (raw H.264, looped) at rtsp://127.0.0.1:PORT/test.
pub fn rtsp_server(port: u16, clip: &str) -> RtspServer {
    gst_script(
        "scripts/rtsp-server.py",
        &[&port.to_string(), "/test", clip],
    )
}

/// A restreaming server (GStreamer's, standing in for go2rtc/MediaMTX): a push of `codec`
/// (`h264` or `h265`) to rtsp://127.0.0.1:PORT/in is served at rtsp://127.0.0.1:PORT/out.
pub fn rtsp_relay(port: u16, codec: &str) -> RtspServer {
    gst_script("scripts/rtsp-relay.py", &[&port.to_string(), codec])
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `eufy-hw simulate --port 0 ARGS` started: the process and the URL it prints.
pub fn simulate(args: &[&str]) -> (std::process::Child, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args(["simulate", "--port", "0"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut url = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut url,
    )
    .unwrap();
    (child, url.trim().to_owned())
}
