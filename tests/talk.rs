//! Talk back, end to end on loopback: `eufy-hw talk` (a file, or a real PulseAudio
//! microphone) against the simulator, which keeps the rules of eufy-security-ws (livestream
//! first, `talkback started` after a delay, one talker per server, a cut ends talk back
//! silently). What the server received is checked as a camera would take it: one ADTS frame
//! per message, AAC-LC 16 kHz mono, at most 640 bytes, decoded by FFmpeg back to the tone
//! that was played (frequency by a DFT scan), paced one per 64 ms.
//!
//! `eufy-hw talk --file` with a 2 s 440 Hz WAV (stereo, 44.1 kHz): 31–34 frames spanning at
//! least the sound's length (the gaps' median and p95 printed), no frame before `talkback
//! started`, `stop_talkback` at the end. A stream cut during a 4 s file: talk back started
//! again, every frame delivered. Refusals said: another client talking, a busy doorbell, a
//! camera without a speaker, schema 12, the bridge, a missing file. A real microphone
//! (PulseAudio's null-sink monitor, 500 Hz bursts played into it): the tone at its
//! frequency, one frame per 64 ms of talking, the burst-to-server delay printed. No sound
//! server: "no microphone".
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eufy_hw::audio::decode::AacDecoder;
use eufy_hw::bitstream::adts;
use eufy_hw::clip::Clip;
use eufy_hw::simulator::{BridgeSim, Camera, CameraKind, SimConfig, Simulator, TalkReceived};

const DOORBELL: &str = "T8210P0000000001";
const PLAIN: &str = "T8410P0000000002";

fn config() -> SimConfig {
    let clip = Arc::new(Clip::demo());
    SimConfig {
        cameras: [DOORBELL, PLAIN]
            .map(|s| Camera {
                serial: s.into(),
                clip: clip.clone(),
            })
            .to_vec(),
        kinds: [(DOORBELL.to_owned(), CameraKind::Doorbell)].into(),
        ..SimConfig::default()
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eufy-talk-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A WAV of `freq` Hz for `secs` at 44.1 kHz stereo (not what the camera takes: resampled).
fn tone(dir: &Path, freq: u32, secs: f64) -> PathBuf {
    let path = dir.join(format!("tone-{freq}-{secs}.wav"));
    let ok = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency={freq}:duration={secs}"))
        .args(["-ar", "44100", "-ac", "2"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(ok.success());
    path
}

async fn talk(url: &str, serial: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_eufy-hw"));
    cmd.args(["talk", "--url", url, "--serial", serial])
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every message is one whole ADTS frame the cameras take; decoded, in order: the samples.
fn decoded(received: &[TalkReceived]) -> Vec<f32> {
    let mut dec = AacDecoder::new(1, 16_000).unwrap();
    let mut samples = Vec::new();
    for r in received {
        let h = adts::parse_header(&r.data).expect("an ADTS frame");
        assert_eq!(h.frame_len, r.data.len(), "exactly one frame per message");
        assert!(r.data.len() <= 640, "a frame of {} bytes", r.data.len());
        assert_eq!((h.object_type, h.sample_rate(), h.channels), (2, 16_000, 1));
        if let Some(pcm) = dec.decode(&r.data) {
            samples.extend(pcm.samples);
        }
    }
    assert_eq!(dec.errors, 0, "frames FFmpeg could not decode");
    samples
}

/// The strongest frequency between 100 Hz and 2 kHz (a DFT scan, coarse then fine).
fn peak(samples: &[f32], rate: f64) -> f64 {
    let power = |f: f64| {
        let w = std::f64::consts::TAU * f / rate;
        let (mut re, mut im) = (0.0, 0.0);
        for (i, s) in samples.iter().enumerate() {
            re += f64::from(*s) * (w * i as f64).cos();
            im += f64::from(*s) * (w * i as f64).sin();
        }
        re * re + im * im
    };
    let best = |from: f64, to: f64, step: f64| {
        let n = ((to - from) / step) as usize;
        (0..=n)
            .map(|i| from + i as f64 * step)
            .max_by(|a, b| power(*a).total_cmp(&power(*b)))
            .unwrap()
    };
    let coarse = best(100.0, 2000.0, 10.0);
    best(coarse - 10.0, coarse + 10.0, 0.5)
}

fn rms(samples: &[f32]) -> f64 {
    (samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len().max(1) as f64)
        .sqrt()
}

/// Gaps between messages, ms: (median, p95).
fn gaps(received: &[TalkReceived]) -> (f64, f64) {
    let mut g: Vec<f64> = received
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64() * 1e3)
        .collect();
    g.sort_by(f64::total_cmp);
    let at = |q: f64| g[((g.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

/// `eufy-hw talk --file`: a 2 s 440 Hz WAV reaches the doorbell as 16 kHz mono AAC, one
/// ADTS frame per message, paced (the whole spans about the sound's length: unpaced it would
/// arrive at once), the tone's frequency intact, the talk back stopped at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_reaches_the_doorbell_as_it_takes_it() {
    let dir = temp_dir("file");
    let wav = tone(&dir, 440, 2.0);
    let sim = Simulator::start(config()).await.unwrap();
    let out = talk(
        &sim.url(),
        DOORBELL,
        &["--file", wav.to_str().unwrap()],
        &[],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let stats = sim.stats();
    let got = &stats.talk;
    // 2 s = 31.25 frames of 64 ms, and the encoder's priming frame.
    assert!((31..=34).contains(&got.len()), "{} frames", got.len());
    assert!(got.iter().all(|r| r.serial == DOORBELL));
    let span = got.last().unwrap().at - got[0].at;
    let paced = paced_span(got.len());
    assert!(
        span >= paced,
        "{got} frames in {span:?}: not paced",
        got = got.len()
    );
    let samples = decoded(got);
    let f = peak(&samples[2048..], 16_000.0);
    assert!((f - 440.0).abs() < 3.0, "the tone came out at {f} Hz");
    assert_eq!(
        stats.talk_refused, 0,
        "nothing sent before the camera answered"
    );
    assert_eq!(stats.count("device.stop_talkback"), 1);
    let (median, p95) = gaps(got);
    eprintln!(
        "pacing: {} frames, gap median {median:.1} ms, p95 {p95:.1} ms",
        got.len()
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// The least time `n` frames paced at 64 ms may span, allowing a catch-up of 4 frames.
fn paced_span(n: usize) -> Duration {
    Duration::from_millis(64) * (n.saturating_sub(6) as u32)
}

/// A livestream cut (the server ends talk back with it, silently) while talking: the stream
/// comes back and talk back is started again; no frame is lost (the file waits) and none is
/// sent while no talk back runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn talking_across_a_stream_cut_resumes() {
    let dir = temp_dir("cut");
    let wav = tone(&dir, 600, 4.0);
    let sim = Simulator::start(SimConfig {
        cutoff: Some(Duration::from_millis(2000)),
        ..config()
    })
    .await
    .unwrap();
    let out = talk(
        &sim.url(),
        DOORBELL,
        &["--file", wav.to_str().unwrap()],
        &[],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let stats = sim.stats();
    let starts = stats.talk_starts.get(DOORBELL).copied().unwrap_or(0);
    assert!(starts >= 2, "talk back started {starts} time(s)");
    assert!(
        stats.starts.get(DOORBELL).copied().unwrap_or(0) >= 2,
        "the stream was not cut"
    );
    // 4 s = 62.5 frames: all of them, across the cut.
    assert!(
        (62..=65).contains(&stats.talk.len()),
        "{} frames",
        stats.talk.len()
    );
    let f = peak(&decoded(&stats.talk)[2048..], 16_000.0);
    assert!((f - 600.0).abs() < 3.0, "{f} Hz");
    let _ = std::fs::remove_dir_all(dir);
}

/// What stops a talk back is said: another client talking (the server holds one), a busy
/// doorbell, a camera without a speaker, an old server, the bridge, a missing file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_said() {
    let dir = temp_dir("refusals");
    let long = tone(&dir, 440, 4.0);
    let long = long.to_str().unwrap();
    let sim = Simulator::start(SimConfig {
        talk_busy: vec![PLAIN.into()],
        ..config()
    })
    .await
    .unwrap();
    let url = sim.url();
    let first = tokio::spawn({
        let url = url.clone();
        let long = long.to_owned();
        async move { talk(&url, DOORBELL, &["--file", &long], &[]).await }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim.stats().talk_frames == 0 {
        assert!(Instant::now() < deadline, "the first talker never talked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = talk(&url, DOORBELL, &["--file", long], &[]).await;
    assert!(!second.status.success());
    assert!(
        stderr(&second).contains("another client is talking"),
        "{}",
        stderr(&second)
    );
    assert!(first.await.unwrap().status.success());

    let plain = talk(&url, PLAIN, &["--file", long], &[]).await;
    assert!(
        stderr(&plain).contains("cannot talk back"),
        "{}",
        stderr(&plain)
    );

    let missing = talk(&url, DOORBELL, &["--file", "/nonexistent.wav"], &[]).await;
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("cannot read /nonexistent.wav"));

    let mut busy = config();
    busy.talk_busy = vec![DOORBELL.into()];
    let busy = Simulator::start(busy).await.unwrap();
    let out = talk(&busy.url(), DOORBELL, &["--file", long], &[]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("the camera is busy"),
        "{}",
        stderr(&out)
    );
    assert_eq!(busy.stats().talk_frames, 0);

    let old = Simulator::start(SimConfig {
        max_schema: 12,
        ..config()
    })
    .await
    .unwrap();
    let out = talk(&old.url(), DOORBELL, &["--file", long], &[]).await;
    assert!(
        stderr(&out).contains("talk back needs 13"),
        "{}",
        stderr(&out)
    );

    let bridge = Simulator::start(SimConfig {
        bridge: Some(BridgeSim::default()),
        ..config()
    })
    .await
    .unwrap();
    let out = talk(&bridge.url(), DOORBELL, &["--file", long], &[]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("bridge does not offer talk back"),
        "{}",
        stderr(&out)
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A real microphone: PulseAudio's null sink monitor, into which tone bursts are played
/// (0.5 s of 500 Hz, 0.5 s of silence). `eufy-hw talk --mic` for 4 s: the doorbell gets
/// the tone at its frequency, one frame per 64 ms of talking; the delay from each burst's
/// start to the first loud frame at the server is printed (an upper bound of microphone to
/// server: the player's own buffer is in it). Without a sound server: "no microphone".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_microphone_talks_to_the_doorbell() {
    let dir = temp_dir("mic");
    let bursts = dir.join("bursts.wav");
    let ok = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("aevalsrc=0.5*sin(2*PI*500*t)*lt(mod(t\\,1)\\,0.5):s=48000:d=8")
        .arg(&bursts)
        .status()
        .unwrap();
    assert!(ok.success());

    let sim = Simulator::start(config()).await.unwrap();
    let none = talk(
        &sim.url(),
        DOORBELL,
        &["--mic", "--duration", "1"],
        &[
            ("XDG_RUNTIME_DIR", &dir),
            ("PULSE_SERVER", Path::new("/nonexistent")),
        ],
    )
    .await;
    assert!(!none.status.success());
    assert!(stderr(&none).contains("no microphone"), "{}", stderr(&none));

    let pulse = common::sound::sound_server();
    let ok = Command::new("pactl")
        .args(["set-default-source", "eufy_test.monitor"])
        .env("XDG_RUNTIME_DIR", &pulse.runtime)
        .status()
        .unwrap();
    assert!(ok.success());
    let mut player = Command::new("paplay")
        .args(["--latency-msec=20"])
        .arg(&bursts)
        .env("XDG_RUNTIME_DIR", &pulse.runtime)
        .spawn()
        .expect("paplay (./dev.sh setup installs pulseaudio-utils)");
    let played_at = Instant::now();
    let out = talk(
        &sim.url(),
        DOORBELL,
        &["--mic", "--duration", "4"],
        &[("XDG_RUNTIME_DIR", &pulse.runtime)],
    )
    .await;
    let _ = player.kill();
    let _ = player.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    let got = sim.stats().talk;
    assert!(got.len() >= 15, "{} frames from the microphone", got.len());
    let span = got.last().unwrap().at - got[0].at;
    let expected = span.as_secs_f64() / 0.064 + 1.0;
    assert!(
        (got.len() as f64) > expected * 0.8 && (got.len() as f64) < expected + 6.0,
        "{} frames over {span:?}",
        got.len()
    );
    let samples = decoded(&got);
    let f = peak(&samples, 16_000.0);
    assert!(
        (f - 500.0).abs() < 5.0,
        "the microphone's tone came out at {f} Hz"
    );

    // Latency: each burst starts at a whole second after the player began.
    let mut dec = AacDecoder::new(1, 16_000).unwrap();
    let loud: Vec<(Instant, bool)> = got
        .iter()
        .map(|r| {
            (
                r.at,
                dec.decode(&r.data).is_some_and(|p| rms(&p.samples) > 0.05),
            )
        })
        .collect();
    let mut delays = Vec::new();
    for w in loud.windows(2) {
        if !w[0].1 && w[1].1 {
            let since = w[1].0 - played_at;
            let onset = Duration::from_secs(since.as_secs());
            delays.push((since - onset).as_secs_f64() * 1e3);
        }
    }
    delays.sort_by(f64::total_cmp);
    assert!(!delays.is_empty(), "no burst was heard");
    eprintln!(
        "microphone to server: {} bursts, median {:.0} ms, max {:.0} ms",
        delays.len(),
        delays[delays.len() / 2],
        delays[delays.len() - 1]
    );
    let (median, p95) = gaps(&got);
    eprintln!("pacing (live): gap median {median:.1} ms, p95 {p95:.1} ms");
    let _ = std::fs::remove_dir_all(dir);
}
