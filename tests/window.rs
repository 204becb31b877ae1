//! The real window under Xvfb (software Vulkan): `eufy-hw demo --cameras 2`, with each colour
//! path, and a screenshot of the X screen (FFmpeg's x11grab) that must show both pictures
//! side by side, letterboxed. The screenshot is kept as target/window-test.png. Keys and
//! resizes go to the window through xdotool (XTEST): `s` writes a PNG snapshot with a
//! picture in it; resizes to 320x200, 1x1, 2x300 and 900x600 keep the process alive and the
//! picture letterboxed in the window; `q` quits. `--kiosk` covers the screen and ignores `q`,
//! Esc, `f` and Alt+F4, and SIGTERM ends it cleanly (it killed the process before); `--kiosk` and `--fullscreen` fill 1920x1080 and 1024x768 screens with
//! no window manager and under matchbox (window geometry and picture to the screen's edge);
//! `f` fills the screen and goes back. Two cameras of one station take turns on screen, the
//! waiting one dimmed with its reason, never blank.
//!
//! Touch and mouse through XTEST: a click on the right tile fills the screen with that camera
//! (the log names it) and a click brings the page back; the wheel and drags to the left and
//! right turn pages; the kiosk's cursor (drawn by x11grab) is hidden at rest, shown after a
//! move and hidden again after 3 s (checked to fail when it is never hidden again).
//!
//! The camera wall: a wall file's two pages take turns in their layouts and the simulator
//! never streams the hidden page (at most 2 streams at once, the first page's cameras started
//! again when it comes back); a ring on a camera on no page starts it and fills the screen,
//! and the page returns after the hold (screenshots classified as "two tiles" or "one full
//! picture": `TFT`); a stream stalled for 6 s is dimmed with "no picture" past the
//! watchdog's limit, restarted, and back; the kiosk turns screen blanking off (`xset q`); a
//! blank night screen is black, a ring wakes it for its camera (streamed only then) and it
//! goes black again, the X server asked once whether it can power the monitor down (`xset q`
//! through a wrapper that writes its calls down; it was asked at every tick before).
//!
//! Several monitors (Xorg's dummy driver, two 1280x720 outputs side by side, no window
//! manager): two kiosk windows at 0,0 and 1280,0, each 1280x720, each half of the screen
//! showing its own page, a ring bringing its camera forward on the second monitor alone
//! (`TFT` there, `T` throughout on the first; checked to fail with one window, and with the
//! event sent to the first monitor); a file for two monitors on Xvfb's one: one window whose
//! pages take turns, and the log line. The packaged X session script under `xinit` (on a
//! 1600x900 Xvfb) covers the screen and ends with eufy-hw; the kiosk under `cage` on
//! headless wlroots runs on Wayland and shows frames.
//!
//! Pictures before the stream: a camera that streams `on_event` shows its picture dimmed (a
//! picture, not a plain card; darker than the live tile beside it), is not streamed until its
//! event, then fills the screen live; a camera's last frame is kept on disk at the end and
//! shown at the next start while the camera sends nothing (a plain card without it), each
//! checked to fail with the feature broken.
//!
//! Sound, through a real PulseAudio server with a null sink started by the test: the camera's
//! 440 Hz tone is captured from the sink's monitor at its frequency, `m` silences it and
//! brings it back; an `AAC_ELD` camera warns once, stays silent and its picture is shown;
//! `bench --audio` with the sync clips finds every flash and beep and pairs them. RTSP:
//! `--source rtsp://` shows a stream served by GStreamer's RTSP server, and a camera
//! published by `eufy-hw publish` to GStreamer's restreaming server is read back from it.
//!
//! Answering the door: holding `t` talks through the doorbell (the sink's 700 Hz tone heard
//! at the server) while its 440 Hz sound is ducked below 30 % and comes back after,
//! `stop_talkback` on release; a focused camera takes its keys and drags (arrows, presets,
//! sweep, a leftwards drag turning it right; digits as quick replies on a doorbell) and
//! nothing reaches the cameras while the wall shows two tiles; the action bar shows while the
//! mouse moves (its strip dark, then the picture again once it rests), `P2` and `>` on a PTZ
//! camera, *Hold to talk* held and released and a reply button on the doorbell, *Back*; a
//! held edge repeats its step until let go; picture in picture: a ring's framed inset in its
//! corner over the page, leaving after the hold, closed by its close mark, filling the screen
//! when tapped (screenshots).
#![allow(clippy::unwrap_used)]

mod common;
use common::display::*;
use common::free_port;
use common::sound::{capture, sound_server};

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_window_shows_two_cameras() {
    // Both colour paths: the shader, and libswscale copied into the window's images (the
    // default on this machine's CPU adapter).
    for colour in ["gpu", "cpu"] {
        two_cameras_in_a_window(colour);
    }
}

fn two_cameras_in_a_window(colour: &str) {
    let _screen = SCREENS.take();
    let x = xvfb();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args([
            "demo",
            "--cameras",
            "2",
            "--duration",
            "8",
            "--colour",
            colour,
        ])
        .env("DISPLAY", &x.1)
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The stream starts 650 ms after the request, like the real server; give it time.
    std::thread::sleep(Duration::from_secs(5));
    let px = grab(&x.1);
    let status = demo.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(demo.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "demo failed: {err}");
    assert!(
        err.contains(&format!("colour conversion: {colour}")),
        "{colour}: {err}"
    );
    save_png(&px);
    assert_eq!(px.len(), 1280 * 720 * 3);
    // Two 640x360 pictures in two 640x720 cells: each letterboxed to y 180..540.
    for (name, x0) in [("left", 0), ("right", 640)] {
        let cols = (x0 + 8, x0 + 632);
        let picture = lit(&px, cols, (190, 530));
        let bars = lit(&px, cols, (100, 170)) + lit(&px, cols, (550, 710));
        assert!(
            picture > 0.9,
            "{colour}: {name} picture mostly dark ({picture:.2}): see target/window-test.png"
        );
        assert!(
            bars < 0.02,
            "{colour}: {name} letterbox bars not black ({bars:.2})"
        );
    }
}

#[test]
fn keys_snapshot_resize_and_quit() {
    let _screen = SCREENS.take();
    let x = xvfb();
    let dir = temp_dir("keys");
    let mut demo = viewer(&x.1, &["demo", "--duration", "60"], &dir);
    let win = window_of(&x.1, &mut demo);
    std::thread::sleep(Duration::from_secs(3)); // the stream starts, a picture is shown
    xdotool(&x.1, &["windowfocus", "--sync", &win]);

    // `s`: a PNG of what is on screen, in the working directory.
    xdotool(&x.1, &["key", "s"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let png = loop {
        let found = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "png"));
        if let Some(p) = found {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "no snapshot in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut img = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut img).unwrap();
    assert!(info.width >= 320 && info.height >= 180, "{info:?}");
    let bright = img
        .chunks(4)
        .filter(|p| p[..3].iter().any(|&c| c > 40))
        .count();
    assert!(
        bright * 2 > img.len() / 4,
        "the snapshot is mostly dark: {}",
        png.display()
    );

    // Resizes, down to nothing and back: the picture follows the window.
    for (w, h) in [(320, 200), (1, 1), (2, 300), (900, 600)] {
        xdotool(
            &x.1,
            &["windowsize", "--sync", &win, &w.to_string(), &h.to_string()],
        );
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            demo.try_wait().unwrap().is_none(),
            "exited after a {w}x{h} resize: {}",
            stderr_of(&mut demo)
        );
    }
    std::thread::sleep(Duration::from_secs(1));
    let px = grab(&x.1);
    // 640x360 letterboxed into 900x600: 900x506 from y 47.
    let picture = lit(&px, (8, 892), (60, 540));
    assert!(picture > 0.9, "no picture after resizing ({picture:.2})");
    let outside = lit(&px, (910, 1270), (10, 700));
    assert!(
        outside < 0.02,
        "drawing outside the 900x600 window ({outside:.2})"
    );

    // `q` quits, long before --duration.
    xdotool(&x.1, &["key", "q"]);
    ends_cleanly(&mut demo, Duration::from_secs(10), "after q");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn kiosk_covers_the_screen_and_ignores_stray_keys() {
    let _screen = SCREENS.take();
    let x = xvfb();
    let dir = temp_dir("kiosk");
    let blanking = |display: &str| {
        let q = Command::new("xset")
            .arg("q")
            .env("DISPLAY", display)
            .output()
            .expect("xset (./dev.sh setup installs x11-xserver-utils)");
        let q = String::from_utf8_lossy(&q.stdout).into_owned();
        // "  timeout:  600    cycle:  600"
        q.split("timeout:")
            .nth(1)
            .and_then(|t| t.split_whitespace().next()?.parse::<u32>().ok())
            .unwrap_or_else(|| panic!("no screensaver timeout in {q}"))
    };
    assert!(blanking(&x.1) > 0, "the X server blanks by default");
    let mut demo = viewer(&x.1, &["demo", "--kiosk", "--duration", "60"], &dir);
    let win = window_of(&x.1, &mut demo);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(blanking(&x.1), 0, "the kiosk leaves screen blanking on");
    let geometry = xdotool(&x.1, &["getwindowgeometry", &win]);
    assert!(geometry.contains("1280x720"), "not fullscreen: {geometry}");
    xdotool(&x.1, &["windowfocus", "--sync", &win]);
    xdotool(&x.1, &["key", "q", "Escape", "f", "alt+F4"]);
    assert!(
        ended_within(&mut demo, Duration::from_secs(2)).is_none(),
        "a stray key ended the kiosk: {}",
        stderr_of(&mut demo)
    );
    // 640x360 scaled to the whole 1280x720 screen.
    let px = grab(&x.1);
    let picture = lit(&px, (8, 1272), (8, 712));
    assert!(
        picture > 0.9,
        "kiosk picture does not cover the screen ({picture:.2})"
    );
    // SIGTERM (systemd stopping the kiosk unit) ends it cleanly, long before --duration: the
    // default action killed it, its streams never stopped (checked: exit by signal 15 before).
    let _ = Command::new("kill")
        .args(["-TERM", &demo.id().to_string()])
        .status();
    let err = ends_cleanly(
        &mut demo,
        Duration::from_secs(20),
        "after SIGTERM in kiosk mode",
    );
    assert!(err.contains("stopping (SIGTERM)"), "{err}");
    assert!(
        err.contains("streams started per camera"),
        "the built-in server's closing line: {err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A small window manager from Debian on `display` (matchbox: what kiosks run), until
/// dropped.
struct WindowManager(std::process::Child);

impl Drop for WindowManager {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn window_manager(display: &str) -> WindowManager {
    let child = Command::new("matchbox-window-manager")
        .args(["-use_titlebar", "no"])
        .env("DISPLAY", display)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("matchbox-window-manager (./dev.sh setup installs it)");
    std::thread::sleep(Duration::from_millis(500));
    WindowManager(child)
}

/// `--kiosk` and `--fullscreen` fill screens that differ from the default 1280x720 window,
/// with no window manager (`xinit`, where nobody carries out a fullscreen request: the
/// viewer places and sizes the window itself) and under a small one: the window's geometry
/// is the screen's and the picture reaches its edges.
#[test]
fn fullscreen_fills_any_screen_with_or_without_a_window_manager() {
    let _screen = SCREENS.take();
    for (w, h, mode, wm) in [
        (1920, 1080, "--kiosk", false),
        (1024, 768, "--kiosk", false),
        (1920, 1080, "--fullscreen", false),
        (1024, 768, "--kiosk", true),
        (1920, 1080, "--fullscreen", true),
    ] {
        let x = xvfb_sized(w, h);
        let _wm = wm.then(|| window_manager(&x.1));
        let dir = temp_dir("fill");
        let mut demo = viewer(&x.1, &["demo", mode, "--duration", "8"], &dir);
        let win = window_of(&x.1, &mut demo);
        std::thread::sleep(Duration::from_secs(3));
        let geometry = xdotool(&x.1, &["getwindowgeometry", &win]);
        let case = format!(
            "{w}x{h} {mode} {}",
            if wm {
                "with a window manager"
            } else {
                "without a window manager"
            }
        );
        assert!(
            geometry.contains(&format!("Geometry: {w}x{h}")),
            "{case}: {geometry}"
        );
        assert!(geometry.contains("Position: 0,0"), "{case}: {geometry}");
        // The 16:9 picture spans the screen's width (its height letterboxed on 4:3).
        let px = grab_sized(&x.1, w, h);
        let (wu, hu) = (w as usize, h as usize);
        let picture_rows = (hu / 2 - hu / 8, hu / 2 + hu / 8);
        let edge = lit_in(&px, wu, (wu - 24, wu - 4), picture_rows);
        let across = lit_in(&px, wu, (4, wu - 4), picture_rows);
        assert!(
            edge > 0.9 && across > 0.9,
            "{case}: right edge {edge:.2}, across {across:.2}"
        );
        ends_cleanly(&mut demo, Duration::from_secs(20), &case);
        std::fs::remove_dir_all(&dir).ok();
    }
    // `f` in a window, with no window manager: the monitor's size, then back.
    let x = xvfb_sized(1920, 1080);
    let dir = temp_dir("toggle");
    let mut demo = viewer(&x.1, &["demo", "--duration", "90"], &dir);
    let win = window_of(&x.1, &mut demo);
    std::thread::sleep(Duration::from_secs(2));
    xdotool(&x.1, &["windowfocus", "--sync", &win]);
    // In full runs (packages installed beside the tests) the window sometimes kept its size
    // for more than 10 s after `f`; never when this test ran alone, also with both cores kept
    // busy. Not understood; so `f` is pressed again after 8 s, three times at most, and the
    // viewer's log is printed when it took more than one press (a key that toggles nothing
    // still fails).
    let mut presses = 0;
    for expected in ["1920x1080", "1280x720"] {
        let mut geometry = String::new();
        for _ in 0..3 {
            xdotool(&x.1, &["key", "f"]);
            presses += 1;
            let deadline = Instant::now() + Duration::from_secs(8);
            while Instant::now() < deadline && !geometry.contains(&format!("Geometry: {expected}"))
            {
                std::thread::sleep(Duration::from_millis(100));
                geometry = window_geometry(&x.1, &win).unwrap_or_default();
            }
            if geometry.contains(&format!("Geometry: {expected}")) {
                break;
            }
        }
        if !geometry.contains(&format!("Geometry: {expected}")) {
            let _ = demo.kill();
            panic!(
                "after f, three times: {geometry}\nthe viewer said: {}",
                stderr_of(&mut demo)
            );
        }
    }
    // Ended by a signal, not a key (keys are what was in doubt), and not at --duration.
    let _ = Command::new("kill")
        .args(["-TERM", &demo.id().to_string()])
        .status();
    let err = ends_cleanly(&mut demo, Duration::from_secs(20), "after f, f and SIGTERM");
    if presses > 2 {
        eprintln!("`f` took {presses} presses for two toggles; the viewer said: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `xdotool getwindowgeometry`, or `None` when the window is gone.
fn window_geometry(display: &str, win: &str) -> Option<String> {
    let out = Command::new("xdotool")
        .args(["getwindowgeometry", win])
        .env("DISPLAY", display)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Mean brightness of the sampled pixels in the rectangle.
fn mean(px: &[u8], (x0, x1): (usize, usize), (y0, y1): (usize, usize)) -> f64 {
    let (mut sum, mut n) = (0u64, 0u64);
    for y in (y0..y1).step_by(4) {
        for x in (x0..x1).step_by(4) {
            let i = (y * 1280 + x) * 3;
            sum += px[i..i + 3].iter().map(|&c| u64::from(c)).sum::<u64>();
            n += 3;
        }
    }
    sum as f64 / n.max(1) as f64
}

/// Two cameras behind one station, which streams one at a time: on screen they take turns,
/// the waiting one showing its last picture dimmed (or a card) with why, never blank.
#[test]
fn cameras_of_one_station_take_turns_on_screen() {
    let _screen = SCREENS.take();
    let x = xvfb();
    let dir = temp_dir("station");
    let mut demo = viewer(
        &x.1,
        &[
            "demo",
            "--cameras",
            "2",
            "--station",
            "T8010P0000000001=T8410P0000000001,T8410P0000000002",
            "--station-dwell",
            "2.5",
            "--restart-pause",
            "0.3",
            "--duration",
            "16",
        ],
        &dir,
    );
    window_of(&x.1, &mut demo);
    std::thread::sleep(Duration::from_secs(2));
    let (left, right) = ((8, 632), (648, 1272));
    let rows = (190, 530);
    let mut seen = Vec::new();
    for k in 0..11 {
        let px = grab(&x.1);
        let (l, r) = (mean(&px, left, rows), mean(&px, right, rows));
        let state = if l > 1.8 * r && lit(&px, left, rows) > 0.9 {
            'L'
        } else if r > 1.8 * l && lit(&px, right, rows) > 0.9 {
            'R'
        } else {
            '-'
        };
        if state != '-' {
            // The waiting tile is never blank: its dimmed picture or its card's text.
            let other = if state == 'L' { right } else { left };
            let shown = lit(&px, other, (100, 620));
            assert!(
                shown > 0.005,
                "shot {k}: the waiting tile is blank ({shown:.3})"
            );
        }
        if k == 5 {
            save_png(&px);
        }
        seen.push((state, l.round(), r.round()));
        std::thread::sleep(Duration::from_millis(900));
    }
    let states: String = seen.iter().map(|s| s.0).collect();
    assert!(
        states.contains('L') && states.contains('R'),
        "both cameras must appear in turn: {seen:?}"
    );
    // Turns, not flicker: at least two changes of the live tile in 10 s of 2.5 s turns.
    let mut turns: Vec<char> = states.chars().filter(|c| *c != '-').collect();
    turns.dedup();
    assert!(turns.len() >= 3, "{seen:?}");
    ends_cleanly(&mut demo, Duration::from_secs(20), "at --duration");
    std::fs::remove_dir_all(&dir).ok();
}

/// "simulator: streams started per camera: A 2, B 1; at most 2 at once" from the demo.
fn sim_starts(err: &str) -> (std::collections::HashMap<String, u32>, u32) {
    let line = err
        .lines()
        .find_map(|l| l.strip_prefix("simulator: streams started per camera: "))
        .unwrap_or_else(|| panic!("no simulator summary in {err}"));
    let (list, most) = line.split_once("; at most ").unwrap();
    let starts = list
        .split(", ")
        .filter_map(|e| {
            let (s, n) = e.split_once(' ')?;
            Some((s.to_owned(), n.parse().ok()?))
        })
        .collect();
    (starts, most.split(' ').next().unwrap().parse().unwrap())
}

const CAM1: &str = "T8410P0000000001";
const CAM3: &str = "T8410P0000000003";

/// A wall file with two pages: they take turns in their layouts, and only the cameras on
/// the page shown are streamed (the simulator never ran all three at once, and the first
/// page's cameras were started again when it came back).
#[test]
fn wall_pages_rotate_and_hidden_pages_are_not_streamed() {
    let _screen = SCREENS.take();
    let x = xvfb();
    let dir = temp_dir("pages");
    let wall = write_wall(
        &dir,
        r#"
page_seconds = 3.5
[[camera]]
serial = "T8410P0000000001"
[[camera]]
serial = "T8410P0000000002"
[[camera]]
serial = "T8410P0000000003"
[[page]]
cameras = ["T8410P0000000001", "T8410P0000000002"]
layout = "2x1"
[[page]]
cameras = ["T8410P0000000003"]
"#,
    );
    let mut demo = viewer(&x.1, &["demo", "--config", &wall, "--duration", "15"], &dir);
    window_of(&x.1, &mut demo);
    std::thread::sleep(Duration::from_millis(1500));
    let shots = layouts(&x.1, 22, Duration::from_millis(450));
    let err = ends_cleanly(&mut demo, Duration::from_secs(25), "with a wall file");
    let turns = runs(&shots);
    assert!(
        turns.starts_with('T') && turns.len() >= 3,
        "pages did not turn: {shots}"
    );
    let (starts, most) = sim_starts(&err);
    assert!(
        most <= 2,
        "a hidden page was streamed: {most} streams at once"
    );
    assert!(starts.get(CAM3).copied().unwrap_or(0) >= 1, "{starts:?}");
    assert!(
        starts.get(CAM1).copied().unwrap_or(0) >= 2,
        "the first page's camera was not stopped while hidden: {starts:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A doorbell ring on a camera that is on no page: its stream starts and it fills the
/// screen, for the hold time after the ring ends; then the page comes back.
#[test]
fn a_ring_brings_its_camera_forward_then_the_page_returns() {
    let _screen = SCREENS.take();
    let x = xvfb();
    let dir = temp_dir("ring");
    let wall = write_wall(
        &dir,
        r#"
[[camera]]
serial = "T8410P0000000001"
[[camera]]
serial = "T8410P0000000002"
[[camera]]
serial = "T8410P0000000003"
name = "Doorbell"
[[page]]
cameras = ["T8410P0000000001", "T8410P0000000002"]
layout = "2x1"
[focus]
on = ["ring"]
hold_seconds = 2
"#,
    );
    let mut demo = viewer(
        &x.1,
        &[
            "demo",
            "--config",
            &wall,
            "--event",
            &format!("ring:{CAM3}@5"),
            "--duration",
            "14",
        ],
        &dir,
    );
    window_of(&x.1, &mut demo);
    std::thread::sleep(Duration::from_millis(1500));
    let shots = layouts(&x.1, 22, Duration::from_millis(400));
    let err = ends_cleanly(&mut demo, Duration::from_secs(25), "after a ring");
    assert_eq!(runs(&shots), "TFT", "{shots}");
    let (starts, _) = sim_starts(&err);
    assert_eq!(starts.get(CAM3), Some(&1), "{starts:?}");
    assert!(err.contains("ring"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Touch and mouse (clicks and drags through XTEST): a click on a tile fills the screen with
/// that camera and another click brings the page back; the wheel and a drag (a swipe) turn
/// the page. Classified screenshots: 'T' the two-tile page, 'F' one picture.
#[test]
fn clicks_swipes_and_the_wheel_drive_the_wall() {
    let _screen = SCREENS.take();
    let x = xvfb();
    let dir = temp_dir("pointer");
    let wall = write_wall(
        &dir,
        r#"
page_seconds = 0
[[camera]]
serial = "T8410P0000000001"
[[camera]]
serial = "T8410P0000000002"
[[camera]]
serial = "T8410P0000000003"
[[page]]
cameras = ["T8410P0000000001", "T8410P0000000002"]
layout = "2x1"
[[page]]
cameras = ["T8410P0000000003"]
"#,
    );
    let mut demo = viewer(&x.1, &["demo", "--config", &wall, "--duration", "40"], &dir);
    let window = window_of(&x.1, &mut demo);
    // Each step waits for its own picture: an event the viewer has not taken yet must not
    // pass for it.
    let mut wait = |want: char| {
        std::thread::sleep(Duration::from_millis(800));
        if let Err(seen) = wait_for_layout(&x.1, want, Duration::from_secs(15)) {
            let _ = demo.kill();
            panic!("no '{want}': {seen}\n{}", stderr_of(&mut demo));
        }
    };
    let at = |px: u32, py: u32| {
        xdotool(
            &x.1,
            &[
                "mousemove",
                "--window",
                &window,
                &px.to_string(),
                &py.to_string(),
            ],
        );
    };
    wait('T');
    // A click on the right tile: that camera alone; a click: the page again.
    at(960, 360);
    xdotool(&x.1, &["click", "1"]);
    wait('F');
    at(640, 360);
    xdotool(&x.1, &["click", "1"]);
    wait('T');
    // The wheel: down to the next page (one camera), up to the first.
    xdotool(&x.1, &["click", "5"]);
    wait('F');
    xdotool(&x.1, &["click", "4"]);
    wait('T');
    // A drag to the left: the next page; to the right: back.
    at(900, 360);
    xdotool(&x.1, &["mousedown", "1"]);
    at(700, 370);
    at(500, 380);
    xdotool(&x.1, &["mouseup", "1"]);
    wait('F');
    at(300, 360);
    xdotool(&x.1, &["mousedown", "1"]);
    at(500, 360);
    at(700, 360);
    xdotool(&x.1, &["mouseup", "1"]);
    wait('T');
    let _ = demo.kill();
    let err = stderr_of(&mut demo);
    let _ = demo.wait();
    let tapped: Vec<&str> = err.lines().filter(|l| l.contains("tapped")).collect();
    assert_eq!(tapped.len(), 1, "{err}");
    assert!(
        tapped[0].contains("T8410P0000000002"),
        "the right tile's camera: {}",
        tapped[0]
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A wall on two monitors (Xorg's dummy driver, two outputs side by side, no window
/// manager): a kiosk window covers each monitor exactly, each showing its own page, and a
/// ring on a camera of the second monitor's page brings it forward there while the first
/// monitor keeps its page. Each half of the X screen is classified as [`layout_of`] does.
#[test]
fn a_wall_on_two_monitors_covers_each_with_its_pages() {
    let _screen = SCREENS.take();
    let dir = temp_dir("monitors");
    let x = two_monitors(1280, 720, &dir);
    let wall = write_wall(
        &dir,
        r#"
[[camera]]
serial = "T8410P0000000001"
[[camera]]
serial = "T8410P0000000002"
[[camera]]
serial = "T8410P0000000003"
[[camera]]
serial = "T8410P0000000004"
[[page]]
cameras = ["T8410P0000000001", "T8410P0000000002"]
layout = "2x1"
monitor = 0
[[page]]
cameras = ["T8410P0000000003", "T8410P0000000004"]
layout = "2x1"
monitor = 1
[focus]
on = ["ring"]
hold_seconds = 3
"#,
    );
    let mut demo = viewer(
        &x.1,
        &[
            "demo",
            "--config",
            &wall,
            "--kiosk",
            "--event",
            "ring:T8410P0000000004@10",
            "--duration",
            "34",
        ],
        &dir,
    );
    window_of(&x.1, &mut demo);
    // Both windows, each placed on and sized to its monitor.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut places = Vec::new();
    while Instant::now() < deadline {
        let out = Command::new("xdotool")
            .args(["search", "--onlyvisible", "--name", "eufy-hw"])
            .env("DISPLAY", &x.1)
            .output()
            .unwrap();
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        places = ids
            .iter()
            .map(|id| {
                let g = xdotool(&x.1, &["getwindowgeometry", id]);
                g.lines()
                    .skip(1)
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        places.sort();
        if places.len() == 2 && places.iter().all(|p| p.contains("1280x720")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        places,
        [
            "Position: 0,0 (screen: 0) Geometry: 1280x720",
            "Position: 1280,0 (screen: 0) Geometry: 1280x720"
        ],
        "{}",
        stderr_of(&mut demo)
    );
    // Each half's layout, every 400 ms: 'T' its two-tile page, 'F' one picture.
    let halves = || {
        let px = grab_sized(&x.1, 2560, 720);
        let half = |k: usize| -> Vec<u8> {
            px.chunks(2560 * 3)
                .flat_map(|row| row[k * 1280 * 3..(k + 1) * 1280 * 3].to_vec())
                .collect()
        };
        (layout_of(&half(0)), layout_of(&half(1)))
    };
    // Until both show their page (a window's first pixels, before it draws, are the X
    // server's), then through the ring and back.
    let mut start = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !start.ends_with("TTTT") && Instant::now() < deadline {
        let (l, r) = halves();
        start.push(l);
        start.push(r);
    }
    assert!(start.ends_with("TTTT"), "{start}\n{}", stderr_of(&mut demo));
    let (mut left, mut right) = (String::new(), String::new());
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(18) {
        let (l, r) = halves();
        left.push(l);
        right.push(r);
        std::thread::sleep(Duration::from_millis(400));
    }
    let err = ends_cleanly(&mut demo, Duration::from_secs(25), "on two monitors");
    assert_eq!(runs(&left), "T", "monitor 0: {left}\n{err}");
    assert_eq!(runs(&right), "TFT", "monitor 1: {right}\n{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A wall file written for two monitors on a screen with one (Xvfb): one window, the second
/// monitor's page taking turns with the first's, and the log says why.
#[test]
fn a_missing_monitors_pages_join_the_first() {
    let _screen = SCREENS.take();
    let x = xvfb();
    let dir = temp_dir("one-monitor");
    let wall = write_wall(
        &dir,
        r#"
page_seconds = 3
[[camera]]
serial = "T8410P0000000001"
[[camera]]
serial = "T8410P0000000002"
[[camera]]
serial = "T8410P0000000003"
[[page]]
cameras = ["T8410P0000000001", "T8410P0000000002"]
layout = "2x1"
monitor = 0
[[page]]
cameras = ["T8410P0000000003"]
monitor = 1
"#,
    );
    let mut demo = viewer(
        &x.1,
        &["demo", "--config", &wall, "--kiosk", "--duration", "14"],
        &dir,
    );
    window_of(&x.1, &mut demo);
    std::thread::sleep(Duration::from_millis(1500));
    let shots = layouts(&x.1, 18, Duration::from_millis(450));
    let err = ends_cleanly(&mut demo, Duration::from_secs(25), "with one monitor");
    assert!(runs(&shots).len() >= 3, "pages did not turn: {shots}");
    assert!(
        err.contains("puts pages on monitor 1, but there are 1 monitor(s)"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The kiosk's cursor: hidden at first, shown when the mouse moves, hidden again once it
/// rests (x11grab draws the cursor into its screenshots).
#[test]
fn the_kiosk_shows_the_cursor_only_while_the_mouse_moves() {
    let _screen = SCREENS.take();
    let x = xvfb();
    let dir = temp_dir("cursor");
    let mut demo = viewer(
        &x.1,
        &["demo", "--cameras", "2", "--kiosk", "--duration", "30"],
        &dir,
    );
    window_of(&x.1, &mut demo);
    // The pointer over the dark band above the pictures.
    let cursor_lit = || lit(&grab(&x.1), (620, 660), (60, 100));
    xdotool(&x.1, &["mousemove", "640", "80"]);
    std::thread::sleep(Duration::from_secs(5));
    let rested = cursor_lit();
    xdotool(&x.1, &["mousemove", "645", "82"]);
    std::thread::sleep(Duration::from_millis(400));
    let moved = cursor_lit();
    std::thread::sleep(Duration::from_secs(4));
    let again = cursor_lit();
    let _ = demo.kill();
    let _ = demo.wait();
    assert!(moved > 0.05, "shown after a move: {moved}");
    assert!(
        rested < 0.01 && again < 0.01,
        "hidden at rest: {rested}, {again}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// How much a region of a 1280-wide screenshot varies (the standard deviation of its
/// pixels' values): a plain card is flat, a picture, even dimmed, is not.
fn spread(px: &[u8], (x0, x1): (usize, usize), (y0, y1): (usize, usize)) -> f64 {
    let values: Vec<f64> = (y0..y1)
        .step_by(3)
        .flat_map(|y| (x0..x1).step_by(3).map(move |x| (y * 1280 + x) * 3))
        .map(|i| px[i..i + 3].iter().map(|&c| f64::from(c)).sum::<f64>() / 3.0)
        .collect();
    let m = values.iter().sum::<f64>() / values.len().max(1) as f64;
    (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / values.len().max(1) as f64).sqrt()
}

/// Battery cameras: a camera that streams on events only shows its latest picture (the
/// server's `picture` property) dimmed on its tile, not streamed, until an event brings it
/// forward and streams it.
#[test]
fn an_on_event_camera_shows_its_picture_until_an_event() {
    on_event_camera("ws");
}

/// The same wall through the simulated Eufy Mega bridge: the stored picture
/// (`/snapshot?mode=stored`), the bridge's momentary event bringing the camera forward, and
/// its stream opened for the event only.
#[test]
fn an_on_event_camera_shows_its_picture_until_an_event_on_the_bridge() {
    on_event_camera("bridge");
}

fn on_event_camera(backend: &str) {
    let _screen = SCREENS.take();
    let x = xvfb();
    let dir = temp_dir(&format!("on-event-{backend}"));
    let cache = dir.join("cache");
    let wall = write_wall(
        &dir,
        &format!(
            "[[camera]]\nserial = \"{CAM1}\"\n[[camera]]\nserial = \"T8410P0000000002\"\nstream = \"on_event\"\n\
             [[page]]\ncameras = [\"{CAM1}\", \"T8410P0000000002\"]\nlayout = \"2x1\"\n\
             [focus]\non = [\"person\"]\nhold_seconds = 2\n"
        ),
    );
    let still = common::clip_path("still_420.jpg");
    let mut demo = viewer_with(
        &x.1,
        &[
            "demo",
            "--backend",
            backend,
            "--config",
            &wall,
            "--picture",
            &format!("T8410P0000000002={}", still.display()),
            "--event",
            "person:T8410P0000000002@8",
            "--duration",
            "16",
        ],
        &dir,
        &[("XDG_CACHE_HOME", cache.as_os_str())],
    );
    window_of(&x.1, &mut demo);
    std::thread::sleep(Duration::from_secs(4));
    let px = grab(&x.1);
    // Away from the card's text in the middle: the pictures' top third.
    let (left, right) = ((8, 632), (648, 1272));
    let rows = (200, 300);
    let (live, still_mean) = (mean(&px, left, rows), mean(&px, right, rows));
    let still_spread = spread(&px, right, rows);
    let shown = wait_for_layout(&x.1, 'F', Duration::from_secs(12));
    let err = ends_cleanly(
        &mut demo,
        Duration::from_secs(25),
        "with an on_event camera",
    );
    assert!(
        still_spread > 10.0,
        "a picture, not a plain card: {still_spread}"
    );
    assert!(
        still_mean < 0.6 * live,
        "dimmed, not live: {still_mean} against {live}"
    );
    assert!(
        shown.is_ok(),
        "{backend}: the event brought it forward: {shown:?}"
    );
    let (starts, _) = sim_starts(&err);
    assert_eq!(
        starts.get("T8410P0000000002"),
        Some(&1),
        "{backend}: streamed for the event only: {starts:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A restart shows each camera's last picture at once: kept on disk when the viewer ends,
/// shown dimmed while the camera does not stream (here: it never sends); with nothing kept,
/// a plain card.
#[test]
fn the_last_picture_is_kept_for_the_next_start() {
    let _screen = SCREENS.take();
    let x = xvfb();
    let dir = temp_dir("stills");
    let cache = dir.join("cache");
    let env = [("XDG_CACHE_HOME", cache.as_os_str())];
    let run = |args: &[&str]| {
        let mut demo = viewer_with(&x.1, args, &dir, &env);
        window_of(&x.1, &mut demo);
        std::thread::sleep(Duration::from_secs(4));
        let px = grab(&x.1);
        ends_cleanly(&mut demo, Duration::from_secs(20), "");
        spread(&px, (200, 1080), (100, 250))
    };
    let offline = ["demo", "--offline", CAM1, "--duration", "6"];
    let card = run(&offline);
    let live = run(&["demo", "--duration", "6"]);
    let kept = cache.join("eufy-hw/stills/T8410P0000000001.png");
    assert!(kept.is_file(), "{}", kept.display());
    let still = run(&offline);
    assert!(card < 3.0, "nothing kept: a plain card ({card})");
    assert!(live > 10.0, "live: {live}");
    assert!(still > 10.0, "the kept picture: {still}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A stream that stalls (its connection quiet for 6 s, under the session's 10 s silence
/// limit): past the watchdog's limit the tile shows its last picture dimmed with "no
/// picture", the stream is restarted, and the picture comes back.
#[test]
fn a_frozen_tile_is_marked_and_restarted() {
    let _screen = SCREENS.take();
    let x = xvfb();
    let dir = temp_dir("frozen");
    let mut demo = viewer(
        &x.1,
        &[
            "demo",
            "--fault",
            "stall=6@45",
            "--watchdog",
            "1.5",
            "--restart-pause",
            "0.2",
            "--duration",
            "17",
        ],
        &dir,
    );
    window_of(&x.1, &mut demo);
    std::thread::sleep(Duration::from_secs(2));
    let mut means = Vec::new();
    for _ in 0..26 {
        let px = grab(&x.1);
        means.push(mean(&px, (8, 1272), (8, 712)));
        std::thread::sleep(Duration::from_millis(450));
    }
    let err = ends_cleanly(&mut demo, Duration::from_secs(25), "after a stall");
    let bright = means.iter().copied().fold(0.0, f64::max);
    let dim = means.iter().position(|&m| m < 0.6 * bright);
    let back = means.iter().rposition(|&m| m > 0.85 * bright);
    assert!(
        matches!((dim, back), (Some(d), Some(b)) if b > d),
        "no dimmed picture then the picture back: {means:.0?}"
    );
    assert!(
        err.contains("no picture for") && err.contains("restarting its stream"),
        "{err}"
    );
    // Restarted for real: the simulator was asked for the stream again (the stall alone
    // would end by itself, and the picture come back, without any restart).
    let (starts, _) = sim_starts(&err);
    assert!(starts.get(CAM1).copied().unwrap_or(0) >= 2, "{starts:?}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `bench --window` draws every frame into a real window and reports like the offscreen run.
#[test]
fn bench_renders_into_a_window() {
    let _screen = SCREENS.take();
    let x = xvfb();
    let dir = temp_dir("bench");
    let json = dir.join("r.json");
    let out = Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args([
            "bench",
            "--window",
            "--unpaced",
            "--frames",
            "30",
            "--accel",
            "none",
            "--json",
        ])
        .arg(&json)
        .env("DISPLAY", &x.1)
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["frames_shown"], 30);
    assert_eq!(v["frames_dropped"], 0);
    assert!(
        v["gpu"].as_str().unwrap().ends_with("(window)"),
        "{}",
        v["gpu"]
    );
    let render = &v["latency_ms"]["render"];
    assert!(render["p50"].as_f64().unwrap() > 0.0, "{render}");
    std::fs::remove_dir_all(&dir).ok();
}

fn save_png(rgb: &[u8]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/window-test.png");
    let rgba: Vec<u8> = rgb
        .chunks(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect();
    eufy_hw::render::save_png(&path, 1280, 720, &rgba).unwrap();
}

/// "N frames shown" from the viewer's last log line.
fn frames_shown(err: &str) -> Option<u64> {
    err.lines()
        .filter_map(|l| l.split_once(" frames shown"))
        .find_map(|(before, _)| before.rsplit(' ').next()?.parse().ok())
}

/// The packaged X session (`packaging/eufy-hw-xsession`) as the kiosk unit runs it: xinit
/// starts an X server (Xvfb here, 1600x900) and the script, which turns blanking off and
/// runs eufy-hw; the picture covers the screen, and when eufy-hw ends the session ends (so
/// the unit can start it again).
#[test]
fn the_packaged_x_session_runs_the_wall_under_xinit() {
    let _screen = SCREENS.take();
    let starting = starting();
    let n = free_display();
    let display = format!(":{n}");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/eufy-hw-xsession");
    let mut xinit = Command::new("xinit")
        .arg(&script)
        .args([
            "--",
            "/usr/bin/Xvfb",
            &display,
            "-screen",
            "0",
            "1600x900x24",
            "-nolisten",
            "tcp",
            "-noreset",
        ])
        .env("EUFY_HW", env!("CARGO_BIN_EXE_eufy-hw"))
        .env("EUFY_HW_ARGS", "demo --kiosk --duration 9")
        .env("XDG_CACHE_HOME", temp_dir("xinit-cache"))
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xinit (./dev.sh setup installs it)");
    find_window(&display);
    drop(starting);
    std::thread::sleep(Duration::from_secs(3));
    let px = grab_sized(&display, 1600, 900);
    let covered = lit_in(&px, 1600, (4, 1596), (4, 896));
    let q = Command::new("xset")
        .arg("q")
        .env("DISPLAY", &display)
        .output()
        .unwrap();
    let q = String::from_utf8_lossy(&q.stdout).into_owned();
    let status = ended_within(&mut xinit, Duration::from_secs(25));
    let err = stderr_of(&mut xinit);
    assert!(
        covered > 0.9,
        "the picture covers {covered:.2} of the screen: {err}"
    );
    assert!(q.contains("timeout:  0"), "blanking left on: {q}");
    assert!(
        status.is_some_and(|s| s.success()),
        "the X session did not end with eufy-hw ({status:?}): {err}"
    );
    let _ = std::fs::remove_file(format!("/tmp/.X{n}-lock"));
}

/// The Wayland kiosk: eufy-hw in the cage compositor (headless wlroots, as the
/// packaging/eufy-hw-cage.service unit runs it on a screen): it runs on Wayland, shows
/// frames, and ends cleanly. cage refuses to run as root, so as root it runs as `nobody`.
#[test]
fn the_kiosk_runs_under_cage_on_wayland() {
    let _screen = SCREENS.take();
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let runtime = std::env::temp_dir().join(format!("eufy-cage-{}", std::process::id()));
    std::fs::create_dir_all(&runtime).unwrap();
    let mut cmd = if root {
        let chown = Command::new("chown")
            .arg("nobody")
            .arg(&runtime)
            .status()
            .unwrap();
        assert!(chown.success());
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--", "env"]);
        c
    } else {
        Command::new("env")
    };
    let out = cmd
        .arg(format!("XDG_RUNTIME_DIR={}", runtime.display()))
        .args([
            "WLR_BACKENDS=headless",
            "WLR_RENDERER=pixman",
            "WLR_LIBINPUT_NO_DEVICES=1",
            "HOME=/tmp",
            "cage",
            "-d",
            "--",
            env!("CARGO_BIN_EXE_eufy-hw"),
            "demo",
            "--kiosk",
            "--duration",
            "6",
        ])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .current_dir("/tmp")
        .output()
        .expect("cage (./dev.sh setup installs it)");
    let err = String::from_utf8_lossy(&out.stderr);
    std::fs::remove_dir_all(&runtime).ok();
    assert!(out.status.success(), "{err}");
    assert!(err.contains("display server: Wayland"), "{err}");
    let shown: u64 = frames_shown(&err).unwrap_or_else(|| panic!("no frame count: {err}"));
    assert!(shown > 20, "{shown} frames shown: {err}");
}

/// A blank night (the wall's night hours, local time: `TZ=UTC` here, the hours around the
/// test's own time): the screen is black and the camera not streamed, a ring wakes it for
/// its camera, and after the hold it is black again.
#[test]
fn a_ring_wakes_a_blank_night_screen() {
    let _screen = SCREENS.take();
    // Xvfb has no DPMS: the monitor cannot be powered down, said once (and asked once: the
    // real xset, through a wrapper that writes down its calls), the screen black.
    let dir = temp_dir("xset");
    let log = dir.join("xset.log");
    let xset = dir.join("xset");
    let real = Command::new("sh")
        .args(["-c", "command -v xset"])
        .output()
        .unwrap();
    let real = String::from_utf8_lossy(&real.stdout).trim().to_owned();
    assert!(
        !real.is_empty(),
        "xset (./dev.sh setup installs x11-xserver-utils)"
    );
    std::fs::write(
        &xset,
        format!("#!/bin/sh\necho \"$*\" >> \"$XSET_LOG\"\nexec {real} \"$@\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&xset, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (shots, err) =
        blank_night_with_a_ring(&[("PATH", path.as_ref()), ("XSET_LOG", log.as_os_str())]);
    assert_eq!(runs(&shots), "BPB", "{shots}");
    let asked = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        asked.lines().filter(|l| *l == "q").count(),
        1,
        "xset q, once: {asked}"
    );
    std::fs::remove_dir_all(&dir).ok();
    let (starts, _) = sim_starts(&err);
    assert_eq!(
        starts.get(CAM1),
        Some(&1),
        "streamed only for the ring: {starts:?}"
    );
    assert_eq!(
        err.matches("the monitor cannot be powered down here: the X server has no DPMS")
            .count(),
        1,
        "{err}"
    );
    // An X server with DPMS, seen through an xset that says so and writes down what it is
    // asked (no DPMS-capable X server runs here): down at night, up for the ring, down again.
    let dir = temp_dir("xset");
    let log = dir.join("xset.log");
    let xset = dir.join("xset");
    std::fs::write(
        &xset,
        "#!/bin/sh\nif [ \"$1\" = q ]; then printf 'DPMS (Energy Star):\\n  DPMS is Enabled\\n  Monitor is On\\n'; exit 0; fi\necho \"$*\" >> \"$XSET_LOG\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&xset, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (shots, err) =
        blank_night_with_a_ring(&[("PATH", path.as_ref()), ("XSET_LOG", log.as_os_str())]);
    assert_eq!(runs(&shots), "BPB", "{shots}");
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        ["dpms force off", "dpms force on", "dpms force off"],
        "{err}"
    );
    assert_eq!(err.matches("monitor powered down").count(), 2, "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `demo` with one camera, a blank night that covers now and a ring at 5 s, under Xvfb with
/// `env`: screenshots every 400 ms ('B' black, 'P' a picture) and the viewer's log.
fn blank_night_with_a_ring(env: &[(&str, &std::ffi::OsStr)]) -> (String, String) {
    let x = xvfb();
    let dir = temp_dir("night");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let minute = (now / 60 % 1440) as u32;
    let hhmm = |m: u32| format!("{:02}:{:02}", m / 60 % 24, m % 60);
    let wall = write_wall(
        &dir,
        &format!(
            "[[camera]]\nserial = \"{CAM1}\"\n[focus]\nhold_seconds = 2\n[screen]\nnight = {{ from = \"{}\", to = \"{}\", mode = \"blank\" }}\n",
            hhmm((minute + 1439) % 1440),
            hhmm((minute + 30) % 1440)
        ),
    );
    let mut env = env.to_vec();
    env.push(("TZ", "UTC".as_ref()));
    let mut demo = viewer_with(
        &x.1,
        &[
            "demo",
            "--config",
            &wall,
            "--event",
            "ring@5",
            "--duration",
            "14",
        ],
        &dir,
        &env,
    );
    window_of(&x.1, &mut demo);
    std::thread::sleep(Duration::from_millis(1500));
    let shots: String = (0..22)
        .map(|_| {
            let px = grab(&x.1);
            let l = lit(&px, (8, 1272), (8, 712));
            std::thread::sleep(Duration::from_millis(400));
            if l < 0.01 {
                'B'
            } else if l > 0.9 {
                'P'
            } else {
                '-'
            }
        })
        .collect();
    let err = ends_cleanly(&mut demo, Duration::from_secs(25), "at night");
    std::fs::remove_dir_all(&dir).ok();
    (shots, err)
}

/// The camera's AAC (a 440 Hz tone, 16 kHz mono) plays through a real sound server: the
/// tone is captured at its frequency; `m` mutes it and unmutes it.
#[test]
fn sound_plays_and_mutes() {
    let _screen = SCREENS.take();
    let pulse = sound_server();
    let x = xvfb();
    let dir = temp_dir("sound");
    let aac = common_clip("aac_16k_mono.aac");
    let mut demo = viewer_with(
        &x.1,
        &["demo", "--audio", &aac, "--duration", "18"],
        &dir,
        &[("XDG_RUNTIME_DIR", pulse.runtime.as_os_str())],
    );
    let win = window_of(&x.1, &mut demo);
    xdotool(&x.1, &["windowfocus", "--sync", &win]);
    std::thread::sleep(Duration::from_secs(3));
    let (rms, freq) = capture(&pulse, 2.0);
    // Until the sink's level crosses `limit` (down or up), 0.5 s at a time, for at most
    // 4 s (a loaded machine delays the key and the sound server's buffer): the last level.
    let level_until = |quiet: bool| {
        let deadline = Instant::now() + Duration::from_secs(4);
        loop {
            let (r, _) = capture(&pulse, 0.5);
            let reached = if quiet { r < 0.002 } else { r > 0.02 };
            if reached || Instant::now() > deadline {
                return r;
            }
        }
    };
    xdotool(&x.1, &["key", "m"]);
    let muted = level_until(true);
    xdotool(&x.1, &["key", "m"]);
    let back = level_until(false);
    let err = ends_cleanly(&mut demo, Duration::from_secs(25), "with sound");
    assert!(rms > 0.02, "no sound captured (rms {rms:.4}): {err}");
    assert!(
        (freq - 440.0).abs() < 30.0,
        "{freq:.0} Hz, not the clip's 440 Hz"
    );
    assert!(
        muted < 0.002,
        "still sound when muted (rms {muted:.4}): {err}"
    );
    assert!(back > 0.02, "no sound after unmuting (rms {back:.4})");
    assert!(
        err.contains("audio output: ") && err.contains("0 decode errors"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A camera whose audio is a codec other than AAC: one warning, no sound, and the picture
/// as always.
#[test]
fn an_unsupported_audio_codec_is_skipped_without_disturbing_the_picture() {
    let _screen = SCREENS.take();
    let pulse = sound_server();
    let x = xvfb();
    let dir = temp_dir("eld");
    let aac = common_clip("aac_16k_mono.aac");
    let mut demo = viewer_with(
        &x.1,
        &[
            "demo",
            "--audio",
            &aac,
            "--audio-codec",
            "AAC_ELD",
            "--duration",
            "8",
        ],
        &dir,
        &[("XDG_RUNTIME_DIR", pulse.runtime.as_os_str())],
    );
    window_of(&x.1, &mut demo);
    std::thread::sleep(Duration::from_secs(3));
    let (rms, _) = capture(&pulse, 1.5);
    let px = grab(&x.1);
    let err = ends_cleanly(
        &mut demo,
        Duration::from_secs(20),
        "with an unsupported codec",
    );
    assert!(
        rms < 0.002,
        "sound from an unsupported codec (rms {rms:.4})"
    );
    assert_eq!(
        err.matches("is not supported (only AAC)").count(),
        1,
        "{err}"
    );
    let picture = lit(&px, (8, 1272), (8, 712));
    assert!(picture > 0.9, "the picture ({picture:.2})");
    std::fs::remove_dir_all(&dir).ok();
}

fn common_clip(name: &str) -> String {
    let dir = std::env::var("EUFY_CLIPS").unwrap_or_else(|_| "target/clips".into());
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(dir)
        .join(name);
    assert!(p.exists(), "missing clip {}", p.display());
    p.display().to_string()
}

/// `bench --audio` with the sync clips (a white flash and a 1 kHz beep at each second):
/// the first stream's sound plays through a real sound server; each beep's time at the
/// device is paired with the flash's time on screen. The figures are printed (the README
/// quotes them); the test asserts what broken sync would break: every beep and flash found
/// and paired, and the offset of the same order as the frames' own lengths, not seconds.
#[test]
fn bench_measures_sound_against_the_picture() {
    let _screen = SCREENS.take();
    let pulse = sound_server();
    let dir = temp_dir("avsync");
    let json = dir.join("r.json");
    let out = Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args(["bench", "--file", &common_clip("sync_flash.h264")])
        .args(["--audio", &common_clip("sync_beep.aac")])
        .args(["--frames", "140", "--accel", "none", "--json"])
        .arg(&json)
        .env("XDG_RUNTIME_DIR", &pulse.runtime)
        .env_remove("DISPLAY")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let a = &v["audio"];
    let n = |k: &str| a[k].as_u64().unwrap();
    assert!(n("frames_played") > 44_100 * 5, "{a}");
    assert!(n("flashes") >= 8 && n("beeps") >= 7, "{a}");
    let offset = &a["av_offset_ms"];
    assert_eq!(
        offset["count"].as_u64(),
        Some(n("beeps")),
        "every beep near a flash: {a}"
    );
    let p50 = offset["p50"].as_f64().unwrap();
    assert!((-100.0..250.0).contains(&p50), "A/V offset {p50} ms: {a}");
    let latency = a["latency_ms"]["p50"].as_f64().unwrap();
    assert!(latency > 0.0 && latency < 500.0, "{a}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A real RTSP server: GStreamer's (scripts/rtsp-server.py) serving `clip` looped at its
/// frame rate on `port` at `/test`, until dropped.
/// `eufy-hw --source rtsp://…` shows an RTSP stream (here from GStreamer's RTSP server) in
/// the window through the same access units → decoder → GPU path, with no eufy-security-ws;
/// started before the server is up, it says so on the tile and shows the picture once the
/// server comes.
#[test]
fn an_rtsp_source_is_shown() {
    let _screen = SCREENS.take();
    let port = free_port();
    let x = xvfb();
    let dir = temp_dir("source");
    let url = format!("rtsp://127.0.0.1:{port}/test");
    let mut viewer = viewer(
        &x.1,
        &["--source", &url, "--no-audio", "--duration", "12"],
        &dir,
    );
    window_of(&x.1, &mut viewer);
    std::thread::sleep(Duration::from_secs(2));
    // The tile's card (dark grey, with text), not a picture.
    let before = mean(&grab(&x.1), (8, 1272), (8, 712));
    let _server = common::rtsp_server(port, &common_clip("h264_baseline_720p.h264"));
    std::thread::sleep(Duration::from_secs(6));
    let px = grab(&x.1);
    let err = ends_cleanly(&mut viewer, Duration::from_secs(20), "with an RTSP source");
    assert!(
        before < 60.0,
        "a picture before the server was up (mean {before:.0})"
    );
    assert!(err.contains("opening again in"), "{err}");
    let picture = lit(&px, (8, 1272), (8, 712));
    let bright = mean(&px, (8, 1272), (8, 712));
    assert!(
        picture > 0.9 && bright > 2.0 * before,
        "the RTSP picture ({picture:.2}, mean {bright:.0} against {before:.0} before): {err}"
    );
    let shown = frames_shown(&err).unwrap_or(0);
    assert!(shown > 60, "{shown} frames shown: {err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The published stream end to end: the simulator → `eufy-hw publish` → a restreaming
/// RTSP server (GStreamer's, as go2rtc/MediaMTX would be) → `eufy-hw --source` in a window.
/// The picture is the camera's, and the frames keep coming.
#[test]
fn a_published_stream_is_shown_from_the_server() {
    let _screen = SCREENS.take();
    let port = free_port();
    let _relay = common::rtsp_relay(port, "h264");
    let camera = format!("T1={}", common_clip("h264_baseline_720p.h264"));
    let (mut sim, url) = common::simulate(&["--camera", &camera]);
    let x = xvfb();
    let dir = temp_dir("published");
    let mut viewer = viewer(
        &x.1,
        &[
            "--source",
            &format!("rtsp://127.0.0.1:{port}/out"),
            "--no-audio",
            "--duration",
            "12",
        ],
        &dir,
    );
    window_of(&x.1, &mut viewer);
    std::thread::sleep(Duration::from_secs(2));
    // The tile's card (dark grey, with text): nothing is published yet.
    let before = mean(&grab(&x.1), (8, 1272), (8, 712));
    let mut publish = Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args(["publish", "--url", &url, "--serial", "T1", "--to"])
        .arg(format!("rtsp://127.0.0.1:{port}/in"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(8));
    let px = grab(&x.1);
    let err = ends_cleanly(
        &mut viewer,
        Duration::from_secs(20),
        "with a published stream",
    );
    let _ = Command::new("kill")
        .args(["-TERM", &publish.id().to_string()])
        .status();
    let published = ended_within(&mut publish, Duration::from_secs(10));
    let publish_err = stderr_of(&mut publish);
    let _ = sim.kill();
    let _ = sim.wait();
    assert!(published.is_some_and(|s| s.success()), "{publish_err}");
    // The clip's picture (testsrc: bright and busy), not the dark card of a tile waiting.
    let picture = lit(&px, (8, 1272), (8, 712));
    let bright = mean(&px, (8, 1272), (8, 712));
    assert!(
        picture > 0.9 && bright > 2.0 * before,
        "the published picture ({picture:.2}, mean {bright:.0} against {before:.0} before): {err}"
    );
    let shown = frames_shown(&err).unwrap_or(0);
    assert!(shown > 60, "{shown} frames shown: {err}\n{publish_err}");
    assert!(publish_err.contains("access units pushed"), "{publish_err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `bench --source rtsp://…` measures an RTSP stream through the same pipeline, and says
/// what the stream carried (not the bundled clip's description).
#[test]
fn bench_measures_an_rtsp_source() {
    let _screen = SCREENS.take();
    let port = free_port();
    let _server = common::rtsp_server(port, &common_clip("h264_baseline_720p.h264"));
    let dir = temp_dir("bench-source");
    let json = dir.join("r.json");
    let out = Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args([
            "bench",
            "--source",
            &format!("rtsp://127.0.0.1:{port}/test"),
        ])
        .args(["--frames", "60", "--no-render", "--accel", "none", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["frames_shown"].as_u64(), Some(60), "{v}");
    assert!(
        v["video"].as_str().unwrap().contains("1280x720"),
        "{}",
        v["video"]
    );
    assert!(
        v["clip"].as_str().unwrap().starts_with("RTSP: "),
        "{}",
        v["clip"]
    );
    assert!(v["baseline_fps"].is_null(), "no baseline for a live stream");
    std::fs::remove_dir_all(&dir).ok();
}

/// Hold `t` to talk: the doorbell alone on the wall is talked to through the wall's
/// microphone (PulseAudio's null sink monitor, into which a 700 Hz tone plays), its own
/// sound (the clip's 440 Hz) is ducked while held and comes back after; letting go stops the
/// talk back (`device.stop_talkback`).
#[test]
fn holding_t_talks_through_the_doorbell_and_ducks_its_sound() {
    use eufy_hw::simulator::{Camera, CameraKind, SimConfig, Simulator};
    let _screen = SCREENS.take();
    let pulse = sound_server();
    let ok = Command::new("pactl")
        .args(["set-default-source", "eufy_test.monitor"])
        .env("XDG_RUNTIME_DIR", &pulse.runtime)
        .status()
        .unwrap();
    assert!(ok.success());
    let dir = temp_dir("talk");
    let tone = dir.join("tone.wav");
    let ok = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("sine=frequency=700:duration=30")
        .arg(&tone)
        .status()
        .unwrap();
    assert!(ok.success());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let doorbell = "T8210P0000000001";
    let aac = common_clip("aac_16k_mono.aac");
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            cameras: vec![Camera {
                serial: doorbell.into(),
                clip: std::sync::Arc::new(eufy_hw::clip::Clip::demo()),
            }],
            kinds: [(doorbell.to_owned(), CameraKind::Doorbell)].into(),
            audio: Some(eufy_hw::clip::load_adts(std::path::Path::new(&aac)).unwrap()),
            ..SimConfig::default()
        }))
        .unwrap();
    let x = xvfb();
    let mut v = viewer_with(
        &x.1,
        &[
            "--url",
            &sim.url(),
            "--serial",
            doorbell,
            "--duration",
            "25",
        ],
        &dir,
        &[("XDG_RUNTIME_DIR", pulse.runtime.as_os_str())],
    );
    let win = window_of(&x.1, &mut v);
    xdotool(&x.1, &["windowfocus", "--sync", &win]);
    let level = |above: f64, limit: Duration| {
        let deadline = Instant::now() + limit;
        loop {
            let (r, _) = capture(&pulse, 0.5);
            if r > above || Instant::now() > deadline {
                return r;
            }
        }
    };
    let before = level(0.02, Duration::from_secs(10));
    xdotool(&x.1, &["keydown", "t"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.stats().talk_frames < 5 {
        assert!(Instant::now() < deadline, "no talk back while t is held");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (ducked, _) = capture(&pulse, 1.0);
    // The microphone hears the sink: a tone played into it now is what the door hears.
    let mut player = Command::new("paplay")
        .arg(&tone)
        .env("XDG_RUNTIME_DIR", &pulse.runtime)
        .spawn()
        .unwrap();
    let heard_from = sim.stats().talk.len();
    std::thread::sleep(Duration::from_millis(1500));
    xdotool(&x.1, &["keyup", "t"]);
    let _ = player.kill();
    let _ = player.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.stats().count("device.stop_talkback") == 0 {
        if Instant::now() > deadline {
            let _ = v.kill();
            panic!(
                "talk back not stopped after letting go: {}",
                stderr_of(&mut v)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let back = level(0.02, Duration::from_secs(5));
    let err = ends_cleanly(&mut v, Duration::from_secs(30), "after talking");
    let stats = sim.stats();
    assert!(
        before > 0.02,
        "no camera sound before talking ({before:.4}): {err}"
    );
    assert!(
        ducked < before * 0.3,
        "not ducked while talking: {ducked:.4} vs {before:.4}"
    );
    assert!(
        back > before * 0.6,
        "the sound did not come back: {back:.4}"
    );
    assert_eq!(stats.talk_starts.get(doorbell), Some(&1));
    // What the door heard after the tone began: the tone.
    let mut dec = eufy_hw::audio::decode::AacDecoder::new(1, 16_000).unwrap();
    let heard: Vec<f32> = stats.talk[heard_from..]
        .iter()
        .filter_map(|r| dec.decode(&r.data))
        .flat_map(|p| p.samples)
        .collect();
    let crossings = heard
        .windows(2)
        .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
        .count();
    let freq = crossings as f64 / (heard.len() as f64 / 16_000.0);
    assert!((freq - 700.0).abs() < 60.0, "the door heard {freq:.0} Hz");
    assert!(err.contains("talking from"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A focused camera takes the keys and drags it needs: on the wall (two tiles, nothing
/// focused) arrows and digits act as always and nothing reaches the cameras; tapped alone,
/// the PTZ camera turns with the arrows (left = 1, up = 3), goes to preset 3 (position 2),
/// sweeps with 0, and a leftwards drag turns it right (2); the doorbell tapped alone plays
/// quick reply 2 on `2`.
#[test]
fn a_focused_camera_takes_its_keys_and_drags() {
    use eufy_hw::simulator::{Camera, CameraKind, SimConfig, Simulator};
    let _screen = SCREENS.take();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ptz, doorbell) = ("T8410P0000000001", "T8210P0000000002");
    let clip = std::sync::Arc::new(eufy_hw::clip::Clip::demo());
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            cameras: [ptz, doorbell]
                .map(|s| Camera {
                    serial: s.into(),
                    clip: clip.clone(),
                })
                .to_vec(),
            kinds: [
                (ptz.to_owned(), CameraKind::Ptz),
                (doorbell.to_owned(), CameraKind::Doorbell),
            ]
            .into(),
            ..SimConfig::default()
        }))
        .unwrap();
    let x = xvfb();
    let dir = temp_dir("controls");
    let serials = format!("{ptz},{doorbell}");
    let mut v = viewer(
        &x.1,
        &[
            "--url",
            &sim.url(),
            "--serial",
            &serials,
            "--duration",
            "25",
        ],
        &dir,
    );
    let win = window_of(&x.1, &mut v);
    xdotool(&x.1, &["windowfocus", "--sync", &win]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while sim.stats().count("device.get_voices") == 0 {
        assert!(Instant::now() < deadline, "capabilities never asked");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    // Nothing focused: the wall's own keys.
    xdotool(&x.1, &["key", "Left", "Up", "3"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(sim.stats().ptz.is_empty(), "{:?}", sim.stats().ptz);
    // The PTZ camera (left half) alone.
    let wait_for = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while sim.stats().ptz.len() < n {
            assert!(Instant::now() < deadline, "{:?}", sim.stats().ptz);
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    xdotool(&x.1, &["mousemove", "320", "360", "click", "1"]);
    std::thread::sleep(Duration::from_millis(700));
    for (k, n) in [("Left", 1), ("Up", 2), ("3", 3), ("0", 4)] {
        xdotool(&x.1, &["key", k]);
        wait_for(n);
    }
    xdotool(
        &x.1,
        &[
            "mousemove",
            "900",
            "360",
            "mousedown",
            "1",
            "mousemove",
            "700",
            "370",
        ],
    );
    xdotool(&x.1, &["mousemove", "500", "380", "mouseup", "1"]);
    wait_for(5);
    let sent: Vec<String> = sim
        .stats()
        .ptz
        .into_iter()
        .map(|(s, w)| {
            assert_eq!(s, ptz);
            w
        })
        .collect();
    assert_eq!(
        sent,
        [
            "device.pan_and_tilt 1",
            "device.pan_and_tilt 3",
            "device.preset_position 2",
            "device.pan_and_tilt 0",
            "device.pan_and_tilt 2",
        ]
    );
    // Back to the wall, then the doorbell (right half) alone.
    xdotool(&x.1, &["mousemove", "640", "360", "click", "1"]);
    std::thread::sleep(Duration::from_millis(700));
    xdotool(&x.1, &["mousemove", "960", "360", "click", "1"]);
    std::thread::sleep(Duration::from_millis(700));
    xdotool(&x.1, &["key", "2"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.stats().replies.is_empty() {
        assert!(Instant::now() < deadline, "no quick reply");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(sim.stats().replies, [(doorbell.to_owned(), 2)]);
    let _ = v.kill();
    let _ = v.wait();
    std::fs::remove_dir_all(&dir).ok();
}

/// Mean brightness (0-255) of a 1280x720 screenshot's rectangle.
fn brightness(px: &[u8], r: eufy_hw::layout::Rect) -> f64 {
    let (mut sum, mut n) = (0u64, 0u64);
    for y in (r.y..r.y + r.h).step_by(2) {
        for x in (r.x..r.x + r.w).step_by(2) {
            let i = (y as usize * 1280 + x as usize) * 3;
            sum += px[i..i + 3].iter().map(|&c| u64::from(c)).sum::<u64>();
            n += 3;
        }
    }
    sum as f64 / n.max(1) as f64
}

/// The action bar of a focused camera: shown while the mouse moves (dark buttons along the
/// bottom of the picture), gone once it rests; its buttons are what the camera can do. On
/// the PTZ camera P2 goes to preset 2 and ">" turns right; on the doorbell "Hold to talk"
/// talks while held (the wall's microphone) and stops on release, a reply button plays that
/// reply, and Back brings the wall back.
#[test]
fn the_action_bar_drives_the_focused_camera() {
    use eufy_hw::layout::{bar_buttons, Rect};
    use eufy_hw::simulator::{Camera, CameraKind, SimConfig, Simulator};
    let _screen = SCREENS.take();
    let pulse = sound_server();
    let ok = Command::new("pactl")
        .args(["set-default-source", "eufy_test.monitor"])
        .env("XDG_RUNTIME_DIR", &pulse.runtime)
        .status()
        .unwrap();
    assert!(ok.success());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ptz, doorbell) = ("T8410P0000000001", "T8210P0000000002");
    let clip = std::sync::Arc::new(eufy_hw::clip::Clip::demo());
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            cameras: [ptz, doorbell]
                .map(|s| Camera {
                    serial: s.into(),
                    clip: clip.clone(),
                })
                .to_vec(),
            kinds: [
                (ptz.to_owned(), CameraKind::Ptz),
                (doorbell.to_owned(), CameraKind::Doorbell),
            ]
            .into(),
            ..SimConfig::default()
        }))
        .unwrap();
    let x = xvfb();
    let dir = temp_dir("bar");
    let serials = format!("{ptz},{doorbell}");
    let mut v = viewer_with(
        &x.1,
        &[
            "--url",
            &sim.url(),
            "--serial",
            &serials,
            "--duration",
            "40",
        ],
        &dir,
        &[("XDG_RUNTIME_DIR", pulse.runtime.as_os_str())],
    );
    let win = window_of(&x.1, &mut v);
    xdotool(&x.1, &["windowfocus", "--sync", &win]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while sim.stats().count("device.get_voices") == 0 {
        assert!(Instant::now() < deadline, "capabilities never asked");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let full = Rect {
        x: 0,
        y: 0,
        w: 1280,
        h: 720,
    };
    let click = |b: Rect| {
        let (cx, cy) = ((b.x + b.w / 2).to_string(), (b.y + b.h / 2).to_string());
        xdotool(&x.1, &["mousemove", &cx, &cy, "click", "1"]);
        std::thread::sleep(Duration::from_millis(400));
    };
    // The PTZ camera alone: Back, Sound, < ^ v >, P1-P4.
    xdotool(&x.1, &["mousemove", "320", "300", "click", "1"]);
    std::thread::sleep(Duration::from_millis(800));
    xdotool(&x.1, &["mousemove", "330", "310"]);
    std::thread::sleep(Duration::from_millis(500));
    let buttons = bar_buttons(full, 10);
    let strip = Rect {
        x: buttons[0].x,
        y: buttons[0].y,
        w: buttons[9].x + buttons[9].w - buttons[0].x,
        h: buttons[0].h,
    };
    let shown = brightness(&grab(&x.1), strip);
    click(buttons[7]);
    click(buttons[5]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.stats().ptz.len() < 2 {
        assert!(Instant::now() < deadline, "{:?}", sim.stats().ptz);
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent: Vec<String> = sim.stats().ptz.into_iter().map(|(_, w)| w).collect();
    assert_eq!(sent, ["device.preset_position 1", "device.pan_and_tilt 2"]);
    // The mouse rests: the bar goes.
    let deadline = Instant::now() + Duration::from_secs(12);
    let hidden = loop {
        let b = brightness(&grab(&x.1), strip);
        if b > shown * 1.5 || Instant::now() > deadline {
            break b;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        hidden > shown * 1.5,
        "the bar's strip: {shown:.0} shown, {hidden:.0} after resting"
    );
    // Back to the wall (the Back button), then the doorbell alone.
    xdotool(&x.1, &["mousemove", "600", "500"]);
    std::thread::sleep(Duration::from_millis(300));
    click(buttons[0]);
    xdotool(&x.1, &["mousemove", "960", "300", "click", "1"]);
    std::thread::sleep(Duration::from_millis(800));
    xdotool(&x.1, &["mousemove", "950", "310"]);
    std::thread::sleep(Duration::from_millis(500));
    // Back, Hold to talk, Sound, three replies.
    let buttons = bar_buttons(full, 6);
    let talk = buttons[1];
    let (tx, ty) = (
        (talk.x + talk.w / 2).to_string(),
        (talk.y + talk.h / 2).to_string(),
    );
    xdotool(&x.1, &["mousemove", &tx, &ty, "mousedown", "1"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.stats().talk_frames < 3 {
        assert!(
            Instant::now() < deadline,
            "no talk back while the button is held"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    xdotool(&x.1, &["mouseup", "1"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.stats().count("device.stop_talkback") == 0 {
        assert!(
            Instant::now() < deadline,
            "talk back not stopped on release"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    click(buttons[3]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.stats().replies.is_empty() {
        assert!(Instant::now() < deadline, "no quick reply from the bar");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(sim.stats().replies, [(doorbell.to_owned(), 1)]);
    let _ = v.kill();
    let _ = v.wait();
    std::fs::remove_dir_all(&dir).ok();
}

/// Picture-in-picture focus (`[focus] mode = "pip"`): a ring puts its camera as a framed
/// inset in the chosen corner over the page, which stays as it is; the inset leaves by
/// itself after the hold; the next ring's inset is closed by its close mark; the third's,
/// tapped, fills the screen with its camera.
#[test]
fn pip_insets_come_leave_close_and_fill() {
    use eufy_hw::layout::{close_mark, screen_cells, Corner, Insets, Layout};
    use eufy_hw::simulator::{Camera, SimConfig, SimEvent, Simulator};
    let _screen = SCREENS.take();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (a, b, door) = ("T8410P0000000001", "T8410P0000000002", "T8210P0000000003");
    let clip = std::sync::Arc::new(eufy_hw::clip::Clip::demo());
    let ring = |at: f64| SimEvent {
        kind: eufy_hw::eufy::protocol::DetectionKind::Ring,
        serial: Some(door.into()),
        at: Duration::from_secs_f64(at),
    };
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            cameras: [a, b, door]
                .map(|s| Camera {
                    serial: s.into(),
                    clip: clip.clone(),
                })
                .to_vec(),
            events: vec![ring(4.0), ring(11.0), ring(17.0)],
            event_hold: Duration::from_secs(1),
            ..SimConfig::default()
        }))
        .unwrap();
    let x = xvfb();
    let dir = temp_dir("pip");
    let wall = write_wall(
        &dir,
        &format!(
            r#"url = "{url}"
[[camera]]
serial = "{a}"
[[camera]]
serial = "{b}"
[[camera]]
serial = "{door}"
[[page]]
cameras = ["{a}", "{b}"]
layout = "2x1"
[focus]
mode = "pip"
pip_corner = "top-right"
pip_size = 0.3
hold_seconds = 2
"#,
            url = sim.url()
        ),
    );
    let mut v = viewer(&x.1, &["--config", &wall, "--duration", "30"], &dir);
    window_of(&x.1, &mut v);
    let full = screen_cells(
        Layout::Grid { cols: 2, rows: 1 },
        Some(Insets {
            count: 1,
            corner: Corner::TopRight,
            size: 0.3,
        }),
        3,
        1280,
        720,
    );
    let inset = full[2];
    // The share of white pixels along the inset's frame (its top edge, just outside).
    let framed = || {
        let px = grab(&x.1);
        let y = inset.y as usize - 1;
        let white = (inset.x..inset.x + inset.w)
            .step_by(4)
            .filter(|&xx| {
                let i = (y * 1280 + xx as usize) * 3;
                px[i..i + 3].iter().all(|&c| c > 230)
            })
            .count();
        white as f64 / (inset.w / 4) as f64
    };
    let until = |want: bool, limit: Duration| {
        let deadline = Instant::now() + limit;
        loop {
            let f = framed();
            if (f > 0.9) == want || Instant::now() > deadline {
                return f;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    // The first ring: an inset over the page (both tiles still there), gone after the hold.
    let f = until(true, Duration::from_secs(15));
    assert!(
        f > 0.9,
        "no framed inset after the ring ({f:.2}): {}",
        stderr_of(&mut v)
    );
    let px = grab(&x.1);
    assert!(lit(&px, (8, 632), (190, 530)) > 0.9, "the page's left tile");
    assert!(
        until(false, Duration::from_secs(10)) < 0.5,
        "the inset did not leave"
    );
    // The second: closed by its mark.
    assert!(
        until(true, Duration::from_secs(12)) > 0.9,
        "no second inset"
    );
    let m = close_mark(inset);
    let (mx, my) = ((m.x + m.w / 2).to_string(), (m.y + m.h / 2).to_string());
    xdotool(&x.1, &["mousemove", &mx, &my, "click", "1"]);
    assert!(
        until(false, Duration::from_secs(2)) < 0.5,
        "the close mark did not close it"
    );
    // The third: tapped, its camera alone on the screen.
    assert!(until(true, Duration::from_secs(12)) > 0.9, "no third inset");
    let (cx, cy) = (
        (inset.x + inset.w / 3).to_string(),
        (inset.y + inset.h * 2 / 3).to_string(),
    );
    xdotool(&x.1, &["mousemove", &cx, &cy, "click", "1"]);
    wait_for_layout(&x.1, 'F', Duration::from_secs(5)).unwrap();
    let _ = v.kill();
    let err = stderr_of(&mut v);
    assert!(
        err.contains("inset closed") && err.contains("inset tapped"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Holding an edge of a focused pan/tilt camera's picture turns it that way, a step at a
/// time while held, and stops when let go.
#[test]
fn holding_an_edge_turns_a_ptz_camera() {
    use eufy_hw::simulator::{Camera, CameraKind, SimConfig, Simulator};
    let _screen = SCREENS.take();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ptz = "T8410P0000000001";
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            cameras: vec![Camera {
                serial: ptz.into(),
                clip: std::sync::Arc::new(eufy_hw::clip::Clip::demo()),
            }],
            kinds: [(ptz.to_owned(), CameraKind::Ptz)].into(),
            ..SimConfig::default()
        }))
        .unwrap();
    let x = xvfb();
    let dir = temp_dir("edge");
    let mut v = viewer(
        &x.1,
        &["--url", &sim.url(), "--serial", ptz, "--duration", "20"],
        &dir,
    );
    let win = window_of(&x.1, &mut v);
    xdotool(&x.1, &["windowfocus", "--sync", &win]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while sim.stats().count("device.get_commands") == 0 {
        assert!(Instant::now() < deadline, "capabilities never asked");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    // The camera is alone on its page: focused. The top edge, held.
    xdotool(&x.1, &["mousemove", "640", "20", "mousedown", "1"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.stats().ptz.len() < 3 {
        assert!(Instant::now() < deadline, "{:?}", sim.stats().ptz);
        std::thread::sleep(Duration::from_millis(50));
    }
    xdotool(&x.1, &["mouseup", "1"]);
    std::thread::sleep(Duration::from_millis(300));
    let after_release = sim.stats().ptz.len();
    std::thread::sleep(Duration::from_millis(1500));
    let sent: Vec<String> = sim.stats().ptz.into_iter().map(|(_, w)| w).collect();
    assert_eq!(
        sent.len(),
        after_release,
        "steps after letting go: {sent:?}"
    );
    assert!(
        sent.iter().all(|w| w == "device.pan_and_tilt 3"),
        "{sent:?}"
    );
    let _ = v.kill();
    let _ = v.wait();
    std::fs::remove_dir_all(&dir).ok();
}
