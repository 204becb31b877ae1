//! A real X display for the window tests: Xvfb, the viewer on it, xdotool, screenshots
//! (FFmpeg's x11grab) and what they show.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Xvfb(pub std::process::Child, pub String);

impl Drop for Xvfb {
    fn drop(&mut self) {
        // SIGTERM lets Xvfb remove its lock file and socket (SIGKILL leaves them, and the
        // display numbers run out over many runs).
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        if ended_within(&mut self.0, Duration::from_secs(3)).is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Whether display `n` is taken: a lock file naming a live process. A lock left by a killed
/// server is removed with its socket.
pub fn display_taken(n: u32) -> bool {
    let lock = format!("/tmp/.X{n}-lock");
    let socket = format!("/tmp/.X11-unix/X{n}");
    let pid = std::fs::read_to_string(&lock)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    match pid {
        Some(pid) if std::path::Path::new(&format!("/proc/{pid}")).exists() => true,
        Some(_) => {
            let _ = std::fs::remove_file(&lock);
            let _ = std::fs::remove_file(&socket);
            false
        }
        // No lock: a socket alone is someone else's (or stale); leave that number alone.
        None => std::path::Path::new(&socket).exists() || std::path::Path::new(&lock).exists(),
    }
}

/// The tests of a program that hold an X server (and a viewer, and often a simulator and a
/// sound server): at most [`screens`] at a time, so that the program's screens do not starve
/// each other of the cores (llvmpipe draws on them).
pub static SCREENS: Screens = Screens {
    held: std::sync::Mutex::new(0),
    freed: std::sync::Condvar::new(),
};

/// Held while an X server of this program starts: tests run side by side, and two could
/// pick the same free display number (the second server fails, but the first one's socket
/// answers for it).
pub fn starting() -> std::sync::MutexGuard<'static, ()> {
    static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    STARTING.lock().unwrap_or_else(|p| p.into_inner())
}

/// How many tests of a program may hold a screen at once: `EUFY_TEST_SCREENS`, default 2.
pub fn screens() -> usize {
    std::env::var("EUFY_TEST_SCREENS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(2)
}

/// See [`SCREENS`].
pub struct Screens {
    held: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

/// A screen held by a test until dropped.
pub struct Screen(&'static Screens);

impl Screens {
    /// Waits for a free screen.
    pub fn take(&'static self) -> Screen {
        let most = screens();
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        while *held >= most {
            held = self.freed.wait(held).unwrap_or_else(|p| p.into_inner());
        }
        *held += 1;
        Screen(self)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let mut held = self.0.held.lock().unwrap_or_else(|p| p.into_inner());
        *held -= 1;
        self.0.freed.notify_one();
    }
}

/// The display numbers this test program's X servers take: each program has its own, so
/// that programs run side by side (`./dev.sh test` runs the window tests beside the others)
/// never pick the same free number at the same moment.
pub fn displays() -> std::ops::Range<u32> {
    match env!("CARGO_CRATE_NAME") {
        "window" => 90..130,
        "mqtt" => 130..150,
        "talk" => 150..165,
        _ => 165..180,
    }
}

pub fn xvfb() -> Xvfb {
    xvfb_sized(1280, 720)
}

/// An X server whose one screen is `width` x `height`.
pub fn xvfb_sized(width: u32, height: u32) -> Xvfb {
    let _starting = starting();
    let screen = format!("{width}x{height}x24");
    for n in displays() {
        if display_taken(n) {
            continue;
        }
        let display = format!(":{n}");
        let mut child = Command::new("Xvfb")
            // No reset when the last client leaves: the check below is a client, and a
            // viewer connecting while the server resets can be refused ("Failed to open
            // connection to X server": seen in full runs, and once in 1,400 connections
            // made one after another on a loaded machine).
            .args([
                &display,
                "-screen",
                "0",
                &screen,
                "-nolisten",
                "tcp",
                "-noreset",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (./dev.sh setup installs xvfb)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
                // Ours, and it answers: a socket can be another server's, or one that is
                // going away (a viewer then cannot open its window).
                if child.try_wait().unwrap().is_none() && answers(&display) {
                    return Xvfb(child, display);
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("could not start Xvfb");
}

/// Whether the X server on `display` takes a client (within 5 s).
fn answers(display: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let ok = Command::new("xdotool")
            .arg("getdisplaygeometry")
            .env("DISPLAY", display)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// The viewer's mapped window on `display`, if it has one now.
fn visible_window(display: &str) -> Option<String> {
    let out = Command::new("xdotool")
        .args(["search", "--onlyvisible", "--name", "eufy-hw"])
        .env("DISPLAY", display)
        .output()
        .expect("xdotool (./dev.sh setup installs it)");
    let id = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .trim()
        .to_owned();
    Some(id)
}

/// The viewer's window on `display`, once it is mapped.
pub fn find_window(display: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(id) = visible_window(display) {
            return id;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the viewer's window did not appear");
}

/// The window of `viewer` on `display`, once it is mapped. A viewer that ends first, or no
/// window within a minute (a loaded machine is slow to open Vulkan), fails with what the
/// viewer said and the X server's windows.
pub fn window_of(display: &str, viewer: &mut std::process::Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(id) = visible_window(display) {
            return id;
        }
        if let Some(status) = viewer.try_wait().unwrap() {
            panic!(
                "the viewer ended ({status}) before its window appeared: {}",
                stderr_of(viewer)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let tree = Command::new("xwininfo")
        .args(["-root", "-tree"])
        .env("DISPLAY", display)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let _ = viewer.kill();
    panic!(
        "the viewer's window did not appear in 60 s; windows: {tree}; the viewer said: {}",
        stderr_of(viewer)
    );
}

pub fn xdotool(display: &str, args: &[&str]) -> String {
    let out = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", display)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xdotool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn viewer(display: &str, args: &[&str], dir: &std::path::Path) -> std::process::Child {
    viewer_with(display, args, dir, &[])
}

/// [`viewer`], with these environment variables set too.
pub fn viewer_with(
    display: &str,
    args: &[&str],
    dir: &std::path::Path,
    env: &[(&str, &std::ffi::OsStr)],
) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args(args)
        .current_dir(dir)
        // The cameras' last pictures go to the test's folder, not the user's cache (and no
        // test sees another's).
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("DISPLAY", display)
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("PULSE_SERVER")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits up to `limit` for the process to end.
pub fn ended_within(
    child: &mut std::process::Child,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Waits for a clean exit; returns what the viewer wrote to stderr.
pub fn ends_cleanly(child: &mut std::process::Child, limit: Duration, when: &str) -> String {
    let status = ended_within(child, limit);
    let err = stderr_of(child);
    assert!(
        status.is_some_and(|s| s.success()),
        "the viewer did not end cleanly {when} ({status:?}): {err}"
    );
    err
}

pub fn stderr_of(child: &mut std::process::Child) -> String {
    let mut err = String::new();
    if let Some(e) = child.stderr.as_mut() {
        let _ = std::io::Read::read_to_string(e, &mut err);
    }
    err
}

/// Share of sampled pixels in the rectangle that are not dark (a 1280-wide screenshot).
pub fn lit(px: &[u8], cols: (usize, usize), rows: (usize, usize)) -> f64 {
    lit_in(px, 1280, cols, rows)
}

/// Share of sampled pixels in the rectangle of a `width`-wide screenshot that are not dark.
pub fn lit_in(px: &[u8], width: usize, (x0, x1): (usize, usize), (y0, y1): (usize, usize)) -> f64 {
    let mut n = 0;
    let mut total = 0;
    for y in (y0..y1).step_by(4) {
        for x in (x0..x1).step_by(4) {
            total += 1;
            let i = (y * width + x) * 3;
            if px[i..i + 3].iter().any(|&c| c > 40) {
                n += 1;
            }
        }
    }
    n as f64 / total.max(1) as f64
}

pub fn temp_dir(name: &str) -> std::path::PathBuf {
    // Unique within the program too: tests run side by side.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("eufy-window-{name}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn grab(display: &str) -> Vec<u8> {
    grab_sized(display, 1280, 720)
}

pub fn grab_sized(display: &str, width: u32, height: u32) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-f", "x11grab", "-video_size"])
        .arg(format!("{width}x{height}"))
        .args(["-i", display])
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "x11grab: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// What a 1280x720 screenshot shows: 'F' one picture filling the screen, 'T' two pictures
/// side by side (a 2x1 page of 640x360 pictures, letterboxed), '-' anything else (a card,
/// a stream starting).
pub fn layout_of(px: &[u8]) -> char {
    let top = lit(px, (8, 1272), (20, 160));
    let (l, r) = (
        lit(px, (8, 632), (190, 530)),
        lit(px, (648, 1272), (190, 530)),
    );
    if top > 0.9 && l > 0.9 && r > 0.9 {
        'F'
    } else if top < 0.05 && l > 0.9 && r > 0.9 {
        'T'
    } else {
        '-'
    }
}

/// Screenshots every `every` for `shots`, classified by [`layout_of`].
pub fn layouts(display: &str, shots: usize, every: Duration) -> String {
    (0..shots)
        .map(|_| {
            let c = layout_of(&grab(display));
            std::thread::sleep(every);
            c
        })
        .collect()
}

/// Runs of the same layout, ignoring '-': "TTT-FF-TT" → "TFT".
pub fn runs(shots: &str) -> String {
    let mut r: Vec<char> = shots.chars().filter(|c| *c != '-').collect();
    r.dedup();
    r.into_iter().collect()
}

/// A display number no X server uses now.
pub fn free_display() -> u32 {
    displays()
        .find(|&n| !display_taken(n))
        .expect("no free X display number")
}

pub fn write_wall(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("wall.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Screenshots until two in a row show `want` (see [`layout_of`]); what was seen, when
/// none did.
pub fn wait_for_layout(display: &str, want: char, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    let mut seen = String::new();
    while Instant::now() < deadline {
        let c = layout_of(&grab(display));
        seen.push(c);
        if seen.ends_with(&format!("{want}{want}")) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(seen)
}

/// An X server with two monitors side by side, each `width` x `height`: Xorg with its
/// dummy video driver (Xvfb has one screen and no RandR outputs), the second output turned
/// on with `xrandr`, as a second monitor plugged in would be.
pub fn two_monitors(width: u32, height: u32, dir: &std::path::Path) -> Xvfb {
    let conf = dir.join("xorg.conf");
    // A mode at 60 Hz for any size: CVT-like blanking, the clock to match.
    let (ht, vt) = (width + 370, height + 30);
    let clock = f64::from(ht * vt) * 60.0 / 1e6;
    let modeline = format!(
        "{clock:.2} {width} {} {} {ht} {height} {} {} {vt}",
        width + 110,
        width + 150,
        height + 5,
        height + 10
    );
    std::fs::write(
        &conf,
        format!(
            r#"Section "ServerFlags"
    Option "DontVTSwitch" "true"
    Option "AllowMouseOpenFail" "true"
    Option "AutoAddDevices" "false"
EndSection
Section "Device"
    Identifier "dummy"
    Driver "dummy"
    VideoRam 131072
EndSection
Section "Monitor"
    Identifier "monitor"
    HorizSync 5.0 - 1000.0
    VertRefresh 5.0 - 200.0
    Modeline "wall" {modeline}
EndSection
Section "Screen"
    Identifier "screen"
    Device "dummy"
    Monitor "monitor"
    DefaultDepth 24
    SubSection "Display"
        Depth 24
        Modes "wall"
        Virtual {} {height}
    EndSubSection
EndSection
"#,
            width * 2
        ),
    )
    .unwrap();
    let _starting = starting();
    for n in displays() {
        if display_taken(n) {
            continue;
        }
        let display = format!(":{n}");
        let child = Command::new("Xorg")
            .arg(&display)
            .arg("-config")
            .arg(&conf)
            .arg("-logfile")
            .arg(dir.join("xorg.log"))
            .args(["-noreset", "-nolisten", "tcp", "-novtswitch", "-sharevts"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xorg (./dev.sh test installs xserver-xorg-core and its dummy driver)");
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline
            && !std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        let server = Xvfb(child, display);
        if !std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
            drop(server);
            continue;
        }
        let xrandr = |args: &[&str]| {
            let out = Command::new("xrandr")
                .args(args)
                .env("DISPLAY", &server.1)
                .output()
                .expect("xrandr (./dev.sh test installs x11-xserver-utils)");
            assert!(
                out.status.success(),
                "xrandr {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        // The first output has the configured mode; the second gets it too, to its right.
        let outputs = xrandr(&["--query"]);
        assert!(
            outputs.contains("DUMMY1"),
            "the dummy driver has no second output: {outputs}"
        );
        xrandr(&["--addmode", "DUMMY1", "wall"]);
        let right = format!("{width}x0");
        xrandr(&[
            "--output", "DUMMY0", "--mode", "wall", "--pos", "0x0", "--output", "DUMMY1", "--mode",
            "wall", "--pos", &right,
        ]);
        let monitors = xrandr(&["--listmonitors"]);
        assert!(
            monitors.starts_with("Monitors: 2"),
            "two monitors were asked for: {monitors}"
        );
        return server;
    }
    panic!("could not start Xorg");
}
