//! A real sound server for the sound tests: PulseAudio in user space with a null sink
//! `eufy_test` (default for its clients), what it plays captured from the sink's monitor,
//! and the same monitor as a microphone (what is played into the sink is what is "heard").

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A PulseAudio server in user space with a null sink, default for its clients, until
/// dropped: what the viewer plays is captured from the sink's monitor with `parec`.
pub struct SoundServer {
    pub child: std::process::Child,
    pub runtime: std::path::PathBuf,
}

impl Drop for SoundServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.runtime);
    }
}

pub fn sound_server() -> SoundServer {
    // One per test (a folder of its own): tests with sound run side by side.
    let runtime = super::display::temp_dir("pulse");
    let child = Command::new("pulseaudio")
        .args([
            "-n",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--disallow-exit",
            "-L",
            "module-null-sink sink_name=eufy_test",
            "-L",
            "module-native-protocol-unix",
        ])
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("HOME", &runtime)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pulseaudio (./dev.sh setup installs it)");
    let server = SoundServer { child, runtime };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.runtime.join("pulse/native").exists() {
        assert!(Instant::now() < deadline, "pulseaudio did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ok = Command::new("pactl")
        .args(["set-default-sink", "eufy_test"])
        .env("XDG_RUNTIME_DIR", &server.runtime)
        .status()
        .unwrap();
    assert!(ok.success());
    server
}

/// `secs` of what the sink plays, mono f32 at 48 kHz: (RMS, frequency by zero crossings).
pub fn capture(server: &SoundServer, secs: f64) -> (f64, f64) {
    let mut rec = Command::new("parec")
        .args([
            "-d",
            "eufy_test.monitor",
            "--raw",
            "--format=float32le",
            "--rate=48000",
            "--channels=1",
            "--latency-msec=20",
        ])
        .env("XDG_RUNTIME_DIR", &server.runtime)
        .stdout(Stdio::piped())
        .spawn()
        .expect("parec (./dev.sh setup installs pulseaudio-utils)");
    let mut bytes = vec![0u8; (secs * 48_000.0) as usize * 4];
    let read = std::io::Read::read_exact(rec.stdout.as_mut().unwrap(), &mut bytes);
    let _ = rec.kill();
    let _ = rec.wait();
    read.expect("parec stopped early");
    let s: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let rms = (s.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / s.len() as f64).sqrt();
    let crossings = s.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
    (rms, crossings as f64 / (s.len() as f64 / 48_000.0))
}
