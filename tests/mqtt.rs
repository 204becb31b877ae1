//! Home Assistant over MQTT, for real: each test starts Debian's mosquitto on a free port and
//! the viewer (`eufy-hw demo` with a wall file's `[mqtt]`) under Xvfb, and speaks to them
//! with mosquitto's own clients (`mosquitto_sub`, `mosquitto_pub`). Every discovery message
//! is retained, with one device; the cameras' states say `live`; `Show camera` fills the
//! screen with that camera (screenshot) and the state says so; the picture is a 640x360 PNG;
//! bad payloads change nothing and are logged with their reason; the screen goes black with
//! its cameras `hidden`, then back; the restart button restarts that camera; the broker's
//! last will says `offline` when the viewer is killed.
//!
//! A broker restarted with nothing retained gets the discovery and availability again and a
//! JSON show command works (checked to fail with the command ignored, or discovery not
//! published again). `mqtts://` with a password against a TLS-only broker (certificates made
//! by `openssl`, `mosquitto_passwd`): the wrong password is refused (`NotAuthorized` in the
//! log, the password not), a CA not trusted is refused (`UnknownIssuer`), and with both right
//! (`SSL_CERT_FILE`) the discovery is published (checked to fail with the password not
//! sent). A retained 200 KB message on the command topic: one connection, commands still
//! obeyed (it looped through reconnects before MQTT 5's maximum packet size).
//!
//! Answering the door: a PTZ camera's and a doorbell's buttons appear once their session
//! said what they can do (on those cameras only), and pressing them reaches the server (a
//! preset, a quick reply; a step on the doorbell refused in words); the Talk switch on makes
//! the shown doorbell answer and talk from the sound server's null-sink monitor, off ends the
//! talk, and its state follows.
#![allow(clippy::unwrap_used)]

mod common;
use common::display::*;
use common::free_port;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A mosquitto broker on loopback, without persistence (a restart forgets everything).
struct Mosquitto {
    child: std::process::Child,
    port: u16,
    config: std::path::PathBuf,
}

impl Mosquitto {
    fn start(dir: &std::path::Path) -> Mosquitto {
        let port = free_port();
        let config = dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
        )
        .unwrap();
        let child = spawn_broker(&config);
        let m = Mosquitto {
            child,
            port,
            config,
        };
        m.wait_listening();
        m
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the broker (everything retained is gone) and starts it again after `pause`.
    fn restart(&mut self, pause: Duration) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(pause);
        self.child = spawn_broker(&self.config);
        self.wait_listening();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_broker(config: &std::path::Path) -> std::process::Child {
    // Debian puts it in /usr/sbin, not always on a user's PATH.
    let bin = ["mosquitto", "/usr/sbin/mosquitto"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("-h")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        })
        .expect("mosquitto (./dev.sh setup installs it)");
    Command::new(bin)
        .arg("-c")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The retained messages under `filter`: topic and payload.
fn retained(port: u16, filter: &str) -> Vec<(String, Vec<u8>)> {
    let out = Command::new("mosquitto_sub")
        .args(["-p", &port.to_string(), "-t", filter, "--retained-only"])
        .args(["-W", "1", "-F", "%t %x"])
        .output()
        .expect("mosquitto_sub (./dev.sh setup installs mosquitto-clients)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (topic, hex) = l.split_once(' ').unwrap_or((l, ""));
            let bytes = (0..hex.len() / 2)
                .map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).ok())
                .collect::<Option<Vec<u8>>>()?;
            Some((topic.to_owned(), bytes))
        })
        .collect()
}

/// The retained text of `topic`.
fn state(port: u16, topic: &str) -> Option<String> {
    retained(port, topic)
        .into_iter()
        .next()
        .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
}

/// Waits until the retained text of `topic` satisfies `ok`; returns it.
fn wait_state(port: u16, topic: &str, ok: impl Fn(&str) -> bool, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    let mut last = None;
    while Instant::now() < deadline {
        last = state(port, topic);
        if last.as_deref().is_some_and(&ok) {
            return last.unwrap_or_default();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{topic}: {last:?} after {limit:?}");
}

fn publish(port: u16, topic: &str, payload: &str) {
    let ok = Command::new("mosquitto_pub")
        .args(["-p", &port.to_string(), "-t", topic, "-m", payload])
        .status()
        .unwrap()
        .success();
    assert!(ok, "mosquitto_pub {topic} {payload}");
}

/// Each camera's state word, from its retained JSON.
fn camera_state(port: u16, serial: &str) -> String {
    let topic = format!("eufy_hw/test/camera/{}", serial.to_ascii_lowercase());
    state(port, &topic)
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v["state"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

const CAM1: &str = "T8410P0000000001";
const CAM2: &str = "T8410P0000000002";

fn wall_file(dir: &std::path::Path, port: u16) -> String {
    let text = format!(
        "[[camera]]\nserial = \"{CAM1}\"\nname = \"Front door\"\n\
         [[camera]]\nserial = \"{CAM2}\"\nname = \"Garden\"\n\
         [[page]]\ncameras = [\"{CAM1}\", \"{CAM2}\"]\nlayout = \"2x1\"\n\
         [mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\nnode_id = \"test\"\nimage_seconds = 1\n"
    );
    let path = dir.join("wall.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Screenshots until one is `want` (see `layout_of`): 'T' two tiles, 'F' one picture.
fn wait_layout(display: &str, want: char, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut seen = String::new();
    while Instant::now() < deadline {
        let c = layout_of(&grab(display));
        seen.push(c);
        if c == want {
            return;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("no '{want}' on screen in {limit:?}: {seen}");
}

/// The whole screen dark.
fn dark(px: &[u8]) -> bool {
    lit(px, (0, 1280), (0, 720)) < 0.01
}

/// Discovery, commands, state, the picture, a bad payload, the last will.
#[test]
fn home_assistant_sees_and_drives_the_wall() {
    let _screen = SCREENS.take();
    let dir = temp_dir("mqtt");
    let broker = Mosquitto::start(&dir);
    let port = broker.port;
    let x = xvfb();
    let wall = wall_file(&dir, port);
    let mut v = viewer(&x.1, &["demo", "--config", &wall, "--duration", "60"], &dir);
    let t = Duration::from_secs(30);
    wait_state(port, "eufy_hw/test/availability", |s| s == "online", t);

    // Discovery: every entity, retained, one device, options that name the cameras.
    let configs = retained(port, "homeassistant/#");
    assert_eq!(
        configs.len(),
        7 + 1 + 2 * 4,
        "{:?}",
        configs.iter().map(|c| &c.0).collect::<Vec<_>>()
    );
    for (topic, body) in &configs {
        let v: Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{topic}: {e}"));
        assert_eq!(v["device"]["identifiers"][0], "eufy_hw_test", "{topic}");
        assert_eq!(v["availability_topic"], "eufy_hw/test/availability");
    }
    let show: Value = serde_json::from_slice(
        &configs
            .iter()
            .find(|(t, _)| t == "homeassistant/select/test/show/config")
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(
        show["options"],
        serde_json::json!(["wall", "Front door", "Garden"])
    );

    // The state follows the wall: both live, the page, nothing forward, the screen on.
    let deadline = Instant::now() + t;
    while [CAM1, CAM2].iter().any(|c| camera_state(port, c) != "live") {
        assert!(
            Instant::now() < deadline,
            "{} {}",
            camera_state(port, CAM1),
            camera_state(port, CAM2)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(state(port, "eufy_hw/test/page").as_deref(), Some("Page 1"));
    assert_eq!(state(port, "eufy_hw/test/show").as_deref(), Some("wall"));
    assert_eq!(state(port, "eufy_hw/test/screen").as_deref(), Some("ON"));
    wait_layout(&x.1, 'T', t);

    // "Show Garden": one picture fills the screen; the state says so.
    publish(port, "eufy_hw/test/show/set", "Garden");
    wait_layout(&x.1, 'F', t);
    wait_state(port, "eufy_hw/test/show", |s| s == "Garden", t);
    // The shown camera's picture, a PNG 640 wide.
    std::thread::sleep(Duration::from_millis(1500));
    let image = retained(port, "eufy_hw/test/image");
    let png = &image.first().expect("a picture").1;
    let header = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .unwrap();
    assert_eq!((header.info().width, header.info().height), (640, 360));

    // A bad payload changes nothing (and says why in the log).
    publish(port, "eufy_hw/test/page/set", "Page 9");
    publish(port, "eufy_hw/test/screen/set", "MAYBE");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(state(port, "eufy_hw/test/show").as_deref(), Some("Garden"));
    assert_eq!(state(port, "eufy_hw/test/screen").as_deref(), Some("ON"));
    assert_eq!(layout_of(&grab(&x.1)), 'F');

    // Back to the wall; the screen off (black, nothing streamed) and on again.
    publish(port, "eufy_hw/test/show/set", "wall");
    wait_layout(&x.1, 'T', t);
    publish(port, "eufy_hw/test/screen/set", "OFF");
    wait_state(port, "eufy_hw/test/screen", |s| s == "OFF", t);
    let deadline = Instant::now() + t;
    while !dark(&grab(&x.1)) {
        assert!(Instant::now() < deadline, "the screen did not go black");
        std::thread::sleep(Duration::from_millis(300));
    }
    let deadline = Instant::now() + t;
    while camera_state(port, CAM1) != "hidden" {
        assert!(Instant::now() < deadline, "{}", camera_state(port, CAM1));
        std::thread::sleep(Duration::from_millis(200));
    }
    publish(port, "eufy_hw/test/screen/set", "ON");
    wait_layout(&x.1, 'T', t);
    // The restart button restarts that camera's stream alone.
    publish(
        port,
        "eufy_hw/test/camera/t8410p0000000001/restart",
        "PRESS",
    );
    std::thread::sleep(Duration::from_secs(3));
    wait_layout(&x.1, 'T', t);

    // The viewer dies: the broker says offline for it (its last will).
    let _ = v.kill();
    let err = stderr_of(&mut v);
    let _ = v.wait();
    wait_state(
        port,
        "eufy_hw/test/availability",
        |s| s == "offline",
        Duration::from_secs(10),
    );
    assert!(
        err.contains("ignored a message on eufy_hw/test/page/set: \"Page 9\" is not a page"),
        "{err}"
    );
    assert!(err.contains("\"MAYBE\": expected ON or OFF"), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("asked by Home Assistant") && l.contains(CAM1)),
        "{err}"
    );
    drop(broker);
}

/// The broker goes away and comes back with nothing retained: the viewer connects again,
/// publishes discovery and availability again, and takes commands.
#[test]
fn a_broker_that_restarts_gets_everything_again() {
    let _screen = SCREENS.take();
    let dir = temp_dir("mqtt-restart");
    let mut broker = Mosquitto::start(&dir);
    let port = broker.port;
    let x = xvfb();
    let wall = wall_file(&dir, port);
    let mut v = viewer(&x.1, &["demo", "--config", &wall, "--duration", "45"], &dir);
    let t = Duration::from_secs(30);
    wait_state(port, "eufy_hw/test/availability", |s| s == "online", t);
    broker.restart(Duration::from_secs(2));
    assert!(
        retained(port, "homeassistant/#").len() < 16,
        "a fresh broker"
    );
    wait_state(port, "eufy_hw/test/availability", |s| s == "online", t);
    let deadline = Instant::now() + t;
    while retained(port, "homeassistant/#").len() < 16 {
        assert!(Instant::now() < deadline, "discovery not published again");
        std::thread::sleep(Duration::from_millis(300));
    }
    publish(
        port,
        "eufy_hw/test/show/set",
        "{\"camera\": \"Front door\", \"seconds\": 20}",
    );
    wait_layout(&x.1, 'F', t);
    wait_state(port, "eufy_hw/test/show", |s| s == "Front door", t);
    let _ = v.kill();
    let err = stderr_of(&mut v);
    let _ = v.wait();
    assert!(
        err.contains("Home Assistant: lost the MQTT broker"),
        "{err}"
    );
    assert_eq!(
        err.matches("Home Assistant: connected to").count(),
        2,
        "connected, then again: {err}"
    );
}

/// A certificate authority and a server certificate for `localhost` and 127.0.0.1, made
/// with the openssl command: the CA's certificate.
fn certificates(dir: &std::path::Path) -> std::path::PathBuf {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (./dev.sh setup installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    openssl(
        &[
            &[
                "req",
                "-x509",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=eufy-hw test CA",
            ][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req", "-nodes", "-subj", "/CN=localhost"][..],
            &ec,
            &["-keyout", "server.key", "-out", "server.csr"],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
    // mosquitto started as root reads its files as the mosquitto user.
    for f in ["server.key", "server.pem", "ca.pem"] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    dir.join("ca.pem")
}

/// A broker that takes TLS only, and only a user with its password (`mqtts://` with
/// credentials in the wall file's URL, the test's CA trusted through `SSL_CERT_FILE`): the
/// viewer connects and publishes its discovery; with a wrong password, or a CA it does not
/// trust, the log says why and nothing is published.
#[test]
fn mqtts_with_a_password() {
    let _screen = SCREENS.take();
    let dir = temp_dir("mqtts");
    let ca = certificates(&dir);
    let ok = Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(dir.join("passwd"))
        .args(["wall", "s3cret"])
        .status()
        .expect("mosquitto_passwd (./dev.sh setup installs mosquitto)")
        .success();
    assert!(ok, "mosquitto_passwd");
    let port = free_port();
    let config = dir.join("mosquitto.conf");
    std::fs::write(
        &config,
        format!(
            "listener {port} 127.0.0.1\ncafile {ca}\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n\
             allow_anonymous false\npassword_file {d}/passwd\npersistence false\n",
            ca = ca.display(),
            d = dir.display()
        ),
    )
    .unwrap();
    let broker = Mosquitto {
        child: spawn_broker(&config),
        port,
        config,
    };
    broker.wait_listening();
    let x = xvfb();
    let run = |password: &str, trust: bool, secs: &str| {
        let plain = std::fs::read_to_string(wall_file(&dir, port)).unwrap();
        let tls = plain.replace(
            &format!("mqtt://127.0.0.1:{port}"),
            &format!("mqtts://wall:{password}@localhost:{port}"),
        );
        assert_ne!(tls, plain);
        let tls_wall = dir.join("tls.toml");
        std::fs::write(&tls_wall, tls).unwrap();
        let tls_wall = tls_wall.display().to_string();
        let env: Vec<(&str, &std::ffi::OsStr)> = if trust {
            vec![("SSL_CERT_FILE", ca.as_os_str())]
        } else {
            vec![]
        };
        let mut v = viewer_with(
            &x.1,
            &["demo", "--config", &tls_wall, "--duration", secs],
            &dir,
            &env,
        );
        (v.wait().map(|s| s.success()), stderr_of(&mut v))
    };
    let sub = |filter: &str| {
        let out = Command::new("mosquitto_sub")
            .args(["-h", "localhost", "-p", &port.to_string(), "--cafile"])
            .arg(&ca)
            .args([
                "-u",
                "wall",
                "-P",
                "s3cret",
                "-t",
                filter,
                "--retained-only",
            ])
            .args(["-W", "2", "-F", "%t"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    // Wrong password: refused by the broker, said, nothing published.
    let (status, err) = run("wrong", true, "6");
    assert!(status.is_ok_and(|s| s), "{err}");
    assert!(
        err.contains("cannot reach the MQTT broker") && err.contains("NotAuthorized"),
        "{err}"
    );
    assert!(!err.contains("wrong"), "the password is in the log: {err}");
    assert_eq!(sub("homeassistant/#"), 0);
    // A CA it does not trust: the certificate refused, said.
    let (_, err) = run("s3cret", false, "6");
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert_eq!(sub("homeassistant/#"), 0);
    // Both right: connected over TLS, discovery published.
    let (_, err) = run("s3cret", true, "8");
    assert!(
        err.contains("Home Assistant: connected to mqtts://"),
        "{err}"
    );
    assert_eq!(sub("homeassistant/#"), 16, "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// On the Eufy Mega bridge: the wall's "Server login" sensor says what the bridge waits for
/// (its 2FA code), the cameras' state says `login needed`; `eufy-hw login --code` logs it in
/// and both say so, and the cameras go live.
#[test]
fn the_bridges_login_is_a_home_assistant_sensor() {
    let _screen = SCREENS.take();
    let dir = temp_dir("mqtt-bridge");
    let broker = Mosquitto::start(&dir);
    let port = broker.port;
    let clip = common::clip_path("h264_baseline_720p.h264");
    let (mut sim, url) = common::simulate(&[
        "--backend",
        "bridge",
        "--code",
        "246810",
        "--camera",
        &format!("{CAM1}={}", clip.display()),
        "--camera",
        &format!("{CAM2}={}", clip.display()),
    ]);
    let x = xvfb();
    let wall = wall_file(&dir, port);
    let mut v = viewer(
        &x.1,
        &["--config", &wall, "--url", &url, "--duration", "40"],
        &dir,
    );
    let t = Duration::from_secs(30);
    let waiting = wait_state(port, "eufy_hw/test/login", |s| s.contains("2FA code"), t);
    assert!(waiting.contains("eufy-hw login"), "{waiting}");
    let cam = wait_state(
        port,
        &format!("eufy_hw/test/camera/{}", CAM1.to_lowercase()),
        |s| s.contains("login needed"),
        t,
    );
    assert!(cam.contains("\"fps\":0"), "{cam}");
    let out = Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args(["login", "--url", &url, "--code", "246810"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_state(port, "eufy_hw/test/login", |s| s == "ok", t);
    wait_state(
        port,
        &format!("eufy_hw/test/camera/{}", CAM1.to_lowercase()),
        |s| s.contains("\"live\""),
        t,
    );
    let _ = v.kill();
    let _ = v.wait();
    let _ = sim.kill();
    let _ = sim.wait();
    drop(broker);
}

/// What cameras can do becomes Home Assistant buttons once their session says so (a PTZ
/// camera's steps and presets, a doorbell's quick replies by description), on those cameras
/// only; pressing them reaches the server (the viewer logs what came of each), and the Talk
/// switch is there for the wall.
#[test]
fn a_cameras_controls_are_buttons_in_home_assistant() {
    let _screen = SCREENS.take();
    let dir = temp_dir("mqtt-controls");
    let broker = Mosquitto::start(&dir);
    let port = broker.port;
    let x = xvfb();
    let wall = wall_file(&dir, port);
    let mut v = viewer(
        &x.1,
        &[
            "demo",
            "--config",
            &wall,
            "--kind",
            &format!("{CAM1}=ptz"),
            "--kind",
            &format!("{CAM2}=doorbell"),
            "--duration",
            "30",
        ],
        &dir,
    );
    let t = Duration::from_secs(30);
    let o1 = CAM1.to_lowercase();
    let o2 = CAM2.to_lowercase();
    let deadline = Instant::now() + t;
    let buttons = loop {
        let all = retained(port, "homeassistant/button/#");
        let names: Vec<String> = all.iter().map(|(t, _)| t.clone()).collect();
        if names.iter().any(|n| n.contains("_reply_"))
            && names.iter().any(|n| n.contains("_preset_"))
        {
            break names;
        }
        assert!(Instant::now() < deadline, "no control buttons: {names:?}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(buttons.contains(&format!("homeassistant/button/test/{o1}_ptz_left/config")));
    assert!(buttons.contains(&format!("homeassistant/button/test/{o2}_reply_2/config")));
    assert!(
        !buttons.iter().any(|b| b.contains(&format!("{o2}_ptz"))),
        "a doorbell has no pan/tilt"
    );
    assert!(
        !buttons.iter().any(|b| b.contains(&format!("{o1}_reply"))),
        "a PTZ camera has no replies"
    );
    assert!(!retained(port, "homeassistant/switch/test/talk/config").is_empty());
    // The viewer's log, line by line, as it comes.
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = v.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    publish(port, &format!("eufy_hw/test/camera/{o1}/ptz"), "preset 2");
    publish(port, &format!("eufy_hw/test/camera/{o2}/reply"), "2");
    publish(port, &format!("eufy_hw/test/camera/{o2}/ptz"), "left");
    let mut want = vec![
        "preset 2: done",
        "quick reply 2: done",
        "left: it has no devicePanAndTilt command",
    ];
    let mut log = String::new();
    let deadline = Instant::now() + t;
    while !want.is_empty() && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            want.retain(|w| !line.contains(w));
            log.push_str(&line);
            log.push('\n');
        }
    }
    let _ = v.kill();
    let _ = v.wait();
    assert!(want.is_empty(), "not in the log: {want:?}\n{log}");
    drop(broker);
}

/// A hostile retained message of 200 KB on the wall's command topic costs nothing: the
/// client connects once (the broker, told the client's maximum packet size, keeps it back),
/// Home Assistant's commands keep working (the screen off, then its state), no reconnect
/// loop.
#[test]
fn an_oversized_retained_command_does_not_cost_the_connection() {
    let _screen = SCREENS.take();
    let dir = temp_dir("mqtt-oversized");
    let broker = Mosquitto::start(&dir);
    let port = broker.port;
    let big = dir.join("big.txt");
    std::fs::write(&big, "x".repeat(200 * 1024)).unwrap();
    let ok = Command::new("mosquitto_pub")
        .args([
            "-p",
            &port.to_string(),
            "-t",
            "eufy_hw/test/show/set",
            "-r",
            "-f",
        ])
        .arg(&big)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mosquitto_pub of the big message");
    let x = xvfb();
    let wall = wall_file(&dir, port);
    let mut v = viewer(&x.1, &["demo", "--config", &wall, "--duration", "12"], &dir);
    let t = Duration::from_secs(30);
    wait_state(port, "eufy_hw/test/availability", |s| s == "online", t);
    publish(port, "eufy_hw/test/screen/set", "OFF");
    wait_state(port, "eufy_hw/test/screen", |s| s == "OFF", t);
    let status = ended_within(&mut v, Duration::from_secs(30));
    let err = stderr_of(&mut v);
    assert!(status.is_some_and(|s| s.success()), "{err}");
    let connects = err.matches("Home Assistant: connected").count();
    assert_eq!(connects, 1, "reconnected over the big message:\n{err}");
    assert!(!err.contains("lost the MQTT broker"), "{err}");
    drop(broker);
}

/// Home Assistant's Talk switch: on opens the wall's microphone (a PulseAudio null sink's
/// monitor) and talks through the shown doorbell until off; its state follows; the session
/// says the camera answered and, after off, that the talk ended.
#[test]
fn the_talk_switch_talks_through_the_doorbell() {
    let _screen = SCREENS.take();
    let pulse = common::sound::sound_server();
    let ok = Command::new("pactl")
        .args(["set-default-source", "eufy_test.monitor"])
        .env("XDG_RUNTIME_DIR", &pulse.runtime)
        .status()
        .unwrap();
    assert!(ok.success());
    let dir = temp_dir("mqtt-talk");
    let broker = Mosquitto::start(&dir);
    let port = broker.port;
    let x = xvfb();
    let wall = wall_file(&dir, port);
    let mut v = common::display::viewer_with(
        &x.1,
        &[
            "demo",
            "--config",
            &wall,
            "--kind",
            &format!("{CAM1}=doorbell"),
            "--duration",
            "30",
        ],
        &dir,
        &[("XDG_RUNTIME_DIR", pulse.runtime.as_os_str())],
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = v.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let t = Duration::from_secs(30);
    wait_state(port, "eufy_hw/test/availability", |s| s == "online", t);
    // The doorbell alone on the screen: the talk goes to it.
    publish(port, "eufy_hw/test/show/set", "Front door");
    wait_state(port, "eufy_hw/test/show", |s| s == "Front door", t);
    let mut log = String::new();
    let mut until = |want: &str| {
        let deadline = Instant::now() + t;
        while Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                log.push_str(&line);
                log.push('\n');
                // The session's line (the viewer's own says "talking from" the microphone).
                if line.contains("eufy_hw::eufy::session") && line.contains(want) {
                    return true;
                }
            }
        }
        false
    };
    publish(port, "eufy_hw/test/talk/set", "ON");
    wait_state(port, "eufy_hw/test/talk", |s| s == "ON", t);
    assert!(until("talking"), "the camera never answered:\n{log}");
    publish(port, "eufy_hw/test/talk/set", "OFF");
    wait_state(port, "eufy_hw/test/talk", |s| s == "OFF", t);
    assert!(until("talk ended"), "the talk did not end:\n{log}");
    let _ = v.kill();
    let _ = v.wait();
    drop(broker);
}
