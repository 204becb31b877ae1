//! The real window under Xvfb (software Vulkan): `eufy-hw demo` with two simulated cameras,
//! and a screenshot of the X screen (FFmpeg's x11grab) that must show both pictures side by
//! side, letterboxed. The screenshot is kept as target/window-test.png.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Xvfb(std::process::Child, String);

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn xvfb() -> Xvfb {
    for n in 90..140 {
        if std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
            || std::path::Path::new(&format!("/tmp/.X{n}-lock")).exists()
        {
            continue;
        }
        let display = format!(":{n}");
        let mut child = Command::new("Xvfb")
            .args([&display, "-screen", "0", "1280x720x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (./dev.sh setup installs xvfb)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
                return Xvfb(child, display);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("could not start Xvfb");
}

fn grab(display: &str) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-f",
            "x11grab",
            "-video_size",
            "1280x720",
            "-i",
            display,
        ])
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

#[test]
fn demo_window_shows_two_cameras() {
    let x = xvfb();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .args(["demo", "--cameras", "2", "--duration", "8"])
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
    save_png(&px);
    assert_eq!(px.len(), 1280 * 720 * 3);
    let at = |x: usize, y: usize| &px[(y * 1280 + x) * 3..(y * 1280 + x) * 3 + 3];
    let lit = |x0: usize, x1: usize, y0: usize, y1: usize| {
        let mut n = 0;
        let mut total = 0;
        for y in (y0..y1).step_by(4) {
            for x in (x0..x1).step_by(4) {
                total += 1;
                if at(x, y).iter().any(|&c| c > 40) {
                    n += 1;
                }
            }
        }
        n as f64 / total as f64
    };
    // Two 640x360 pictures in two 640x720 cells: each letterboxed to y 180..540.
    for (name, x0) in [("left", 0), ("right", 640)] {
        let picture = lit(x0 + 8, x0 + 632, 190, 530);
        let bars = lit(x0 + 8, x0 + 632, 100, 170) + lit(x0 + 8, x0 + 632, 550, 710);
        assert!(
            picture > 0.9,
            "{name} picture mostly dark ({picture:.2}): see target/window-test.png"
        );
        assert!(bars < 0.02, "{name} letterbox bars not black ({bars:.2})");
    }
}

fn save_png(rgb: &[u8]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/window-test.png");
    let rgba: Vec<u8> = rgb
        .chunks(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect();
    eufy_hw::render::save_png(&path, 1280, 720, &rgba).unwrap();
}
