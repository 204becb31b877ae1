//! The viewer (`eufy-hw`) and the demo (`eufy-hw demo`): the wall — a wall file, `--serial`,
//! every camera the server lists, RTSP sources — in a window, or, without a display (or with
//! `--headless`), decoded with a progress line per camera.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::SessionTimes;
use crate::backend::list_cameras;
use crate::clip::Clip;
use crate::decode::DecoderConfig;
use crate::eufy::session::SessionConfig;
use crate::pipeline::{run_headless, CameraTotals};
use crate::shutdown::Shutdown;
use crate::simulator::{Camera, SimConfig, Simulator};
use crate::source::RtspSource;
use crate::view::{display_available, ViewConfig, WindowOptions};
use crate::wall::{self, Wall, WallCamera};

/// How the cameras are shown.
#[derive(Debug, Clone)]
pub struct Show {
    /// How the window opens and presents.
    pub window: WindowOptions,
    /// No window: decode and print progress.
    pub headless: bool,
    /// Headless totals as one JSON object on stdout (progress on stderr).
    pub summary_json: bool,
    /// The overlay on at start.
    pub stats: bool,
    /// Sound at this volume (0 to 1); `None`: no sound.
    pub audio: Option<f32>,
    /// The decoders.
    pub decoder: DecoderConfig,
    /// Stop after this long.
    pub duration: Option<Duration>,
}

/// `eufy-hw` without a subcommand.
#[derive(Debug, Clone)]
pub struct Live {
    /// eufy-security-ws (default: the wall file's, else `ws://127.0.0.1:3000`).
    pub url: Option<String>,
    /// `--serial`: the cameras (with a wall file: only these of it).
    pub serials: Vec<String>,
    /// `--source`: RTSP URLs shown as cameras.
    pub sources: Vec<String>,
    /// The wall file (none: `~/.config/eufy-hw/wall.toml` when no `--serial` either).
    pub wall_file: Option<PathBuf>,
    /// The flags over the wall file.
    pub overrides: wall::Overrides,
    /// The session's timing.
    pub session: SessionTimes,
    /// Where and how.
    pub show: Show,
}

/// The URL when nothing says one.
const DEFAULT_URL: &str = "ws://127.0.0.1:3000";

/// Shows the cameras of a live eufy-security-ws (and RTSP sources) until closed.
pub async fn live(mut live: Live) -> Result<()> {
    if live.wall_file.is_none() && live.serials.is_empty() {
        live.wall_file = super::default_wall();
        if let Some(path) = &live.wall_file {
            eprintln!("wall file: {}", path.display());
        }
    }
    let (file_url, file_backend) = match &live.wall_file {
        Some(path) => {
            let w = wall::load(path)?;
            (w.url, w.backend)
        }
        None => (None, None),
    };
    // --backend wins over the file's; both over the server's first message.
    if live.session.backend == crate::backend::Backend::Auto {
        if let Some(b) = file_backend {
            live.session.backend = b;
        }
    }
    let url = live
        .url
        .clone()
        .or(file_url)
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    let mut serials = live.serials.clone();
    if serials.is_empty() && live.wall_file.is_none() && live.sources.is_empty() {
        serials = every_camera(&url, live.session.wait_server, live.session.backend).await?;
    }
    let wall = wall::choose(live.wall_file.as_deref(), &serials, &live.overrides)?;
    let (wall, sources) = with_sources(wall, &live.sources)?;
    let serials: Vec<String> = wall
        .serials()
        .into_iter()
        .filter(|s| !sources.iter().any(|r| &r.label == s))
        .collect();
    let session = live.session.config(&url, &serials, None);
    show(session, wall, sources, &live.show)
        .await
        .with_context(|| format!("streaming from {url}"))
}

/// Every camera the server lists (waiting for its login, as the viewer does).
async fn every_camera(
    url: &str,
    wait: Option<Duration>,
    backend: crate::backend::Backend,
) -> Result<Vec<String>> {
    let config = SessionConfig {
        wait_server: wait,
        backend,
        ..SessionConfig::new(url, Vec::new())
    };
    eprintln!(
        "no --serial or --config: showing every camera {url} lists (`eufy-hw cameras` lists them, `eufy-hw cameras --wall` writes a wall file)"
    );
    let serials: Vec<String> = list_cameras(&config)
        .await
        .with_context(|| format!("listing the cameras of {url}"))?
        .into_iter()
        .map(|c| c.serial)
        .collect();
    if serials.is_empty() {
        bail!("{url} lists no camera; pass --serial SERIAL, or try `eufy-hw demo`");
    }
    Ok(serials)
}

/// The wall with RTSP streams among its cameras: each URL a camera `RTSP1`, `RTSP2`, …
/// named by its URL without credentials, always streamed, on the first page.
pub(crate) fn with_sources(mut wall: Wall, urls: &[String]) -> Result<(Wall, Vec<RtspSource>)> {
    let mut sources = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        if !crate::record::is_rtsp(url) {
            bail!("--source {url:?}: expected rtsp://host:port/path");
        }
        sources.push(RtspSource {
            url: url.clone(),
            label: format!("RTSP{}", i + 1),
        });
    }
    let first = wall.cameras.len();
    for s in &sources {
        wall.cameras.push(WallCamera {
            serial: s.label.clone(),
            name: Some(s.display_url()),
            audio: false,
            stream: wall::Streaming::Always,
        });
    }
    if let Some(page) = wall.pages.first_mut() {
        page.cameras.extend(first..wall.cameras.len());
    }
    Ok((wall, sources))
}

/// `eufy-hw demo`.
#[derive(Debug, Clone)]
pub struct Demo {
    /// The clip every camera streams (default: the bundled one).
    pub clip: Option<PathBuf>,
    /// How many cameras, numbered (without a wall file).
    pub cameras: usize,
    /// A wall file: its cameras are simulated.
    pub wall_file: Option<PathBuf>,
    /// The flags over the wall file.
    pub overrides: wall::Overrides,
    /// The simulator's settings; its cameras and address are the demo's.
    pub sim: SimConfig,
    /// The session's timing.
    pub session: SessionTimes,
    /// Where and how.
    pub show: Show,
}

/// Streams simulated cameras into the viewer: the simulator on loopback, the real client.
pub async fn demo(demo: Demo) -> Result<()> {
    let clip = Arc::new(match &demo.clip {
        Some(path) => Clip::load(path)?,
        None => Clip::demo(),
    });
    // With a wall file, its cameras; else --cameras numbered ones.
    let serials: Vec<String> = match &demo.wall_file {
        Some(path) => wall::load(path)?.serials(),
        None => (1..=demo.cameras.clamp(1, 64))
            .map(|i| format!("T8410P{i:010}"))
            .collect(),
    };
    let wall = wall::choose(demo.wall_file.as_deref(), &serials, &demo.overrides)?;
    let cameras: Vec<Camera> = serials
        .iter()
        .map(|serial| Camera {
            serial: serial.clone(),
            clip: clip.clone(),
        })
        .collect();
    for c in &cameras {
        eprintln!("simulated camera {}", c.describe());
    }
    // Simulated cameras send sound only with --audio: no sound device is opened otherwise.
    let mut show_how = demo.show.clone();
    if demo.sim.audio.is_none() {
        show_how.audio = None;
    }
    let sim = SimConfig {
        cameras,
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        ..demo.sim
    };
    sim.check().map_err(anyhow::Error::msg)?;
    let sim = Simulator::start(sim)
        .await
        .context("cannot start the simulator")?;
    eprintln!("simulator on {}; connecting as a client", sim.url());
    let session = demo.session.config(&sim.url(), &serials, None);
    let result = show(session, wall, Vec::new(), &show_how).await;
    eprintln!("simulator: {}", simulator_summary(&sim));
    sim.shutdown().await;
    result
}

/// What the cameras were asked for, seen from the server (a wall streams only what it
/// shows).
fn simulator_summary(sim: &Simulator) -> String {
    let stats = sim.stats();
    let starts: Vec<String> = stats
        .starts
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    format!(
        "streams started per camera: {}; at most {} at once",
        if starts.is_empty() {
            "none".to_owned()
        } else {
            starts.join(", ")
        },
        stats.peak_streams
    )
}

/// The window when there is a display (and no `--headless`); progress lines otherwise.
pub(crate) async fn show(
    session: SessionConfig,
    wall: Wall,
    sources: Vec<RtspSource>,
    show: &Show,
) -> Result<()> {
    let window = !show.headless && display_available();
    if !sources.is_empty() && !window {
        bail!("--source is shown in the window only: there is no display (or --headless)");
    }
    if window {
        tracing::info!("wall: {}", wall.summary().replace('\n', "; "));
        let config = ViewConfig {
            session,
            wall,
            decoder: show.decoder.clone(),
            window: show.window,
            stats: show.stats,
            duration: show.duration,
            snapshot_dir: std::env::current_dir().unwrap_or_default(),
            audio: show.audio,
            sources,
        };
        // winit wants the main thread: the runtime's worker threads carry on meanwhile.
        return tokio::task::block_in_place(|| crate::view::run(config)).context("viewer");
    }
    if !show.headless {
        eprintln!("no display (DISPLAY/WAYLAND_DISPLAY unset): decoding without a window; `eufy-hw bench` measures this pipeline");
    }
    headless(session, show).await
}

/// Decodes without a window until the duration or a signal, a progress line per camera each
/// second, totals at the end.
async fn headless(session: SessionConfig, show: &Show) -> Result<()> {
    let stop = Shutdown::on_signals(show.duration);
    let totals = run_headless(
        session,
        show.decoder.clone(),
        stop,
        Duration::from_secs(1),
        |serial, t, fps| {
            let line = progress_line(serial, t, fps);
            if show.summary_json {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        },
    )
    .await?;
    let frames: u64 = totals.values().map(|t| t.frames).sum();
    if show.summary_json {
        println!("{}", summary_json(&totals));
        if frames == 0 {
            bail!("no frame was decoded");
        }
        return Ok(());
    }
    println!(
        "done: {frames} frames decoded from {} camera(s)",
        totals.len()
    );
    for (serial, t) in &totals {
        let d = &t.status.decoder;
        println!(
            "  {serial}: {} access units, {} decoded, {} dropped before a keyframe, {} dropped behind, {} decoder errors, path: {}",
            t.status.access_units, d.frames_out, d.dropped_before_keyframe, d.dropped_behind, d.errors, d.path
        );
    }
    if frames == 0 {
        bail!("no frame was decoded");
    }
    Ok(())
}

/// The headless totals for scripts and tests: `{"frames": N, "cameras": {SERIAL: {...}}}`,
/// one line. Its fields are kept; the text lines' wording is free to change.
pub(crate) fn summary_json(totals: &std::collections::HashMap<String, CameraTotals>) -> String {
    let mut serials: Vec<&String> = totals.keys().collect();
    serials.sort();
    let cameras: serde_json::Map<String, serde_json::Value> = serials
        .into_iter()
        .map(|serial| (serial, &totals[serial]))
        .map(|(serial, t)| {
            let d = &t.status.decoder;
            let v = serde_json::json!({
                "access_units": t.status.access_units,
                "decoded": d.frames_out,
                "dropped_before_keyframe": d.dropped_before_keyframe,
                "dropped_behind": d.dropped_behind,
                "decoder_errors": d.errors,
                "corrupt_frames": d.corrupt_frames,
                "fallbacks": d.fallbacks,
                "resets": d.resets,
                "path": d.path,
                "path_name": d.short_path(),
                "bytes": t.status.bytes,
                "dropped_messages": t.status.dropped_messages,
            });
            (serial.clone(), v)
        })
        .collect();
    let frames: u64 = totals.values().map(|t| t.frames).sum();
    serde_json::json!({ "frames": frames, "cameras": cameras }).to_string()
}

/// One camera's progress: frames, rate, size, bytes, latency, the decoder path's name (the
/// log says once why it was chosen), and what its tile would say when it is not live.
pub(crate) fn progress_line(serial: &str, t: &CameraTotals, fps: f64) -> String {
    let size = t
        .size
        .map_or_else(|| "-".to_owned(), |(w, h)| format!("{w}x{h}"));
    let mut lat = t
        .latencies_ms
        .iter()
        .rev()
        .take(100)
        .copied()
        .collect::<Vec<_>>();
    lat.sort_by(f64::total_cmp);
    let p50 = lat
        .get(lat.len() / 2)
        .map_or_else(|| "-".to_owned(), |p| format!("{p:.1} ms"));
    let state = t
        .status
        .phase
        .describe(Instant::now())
        .map(|s| format!("  ({s})"))
        .unwrap_or_default();
    format!(
        "{}: {:>6} frames  {fps:5.1} fps  {size:>9}  {:>8.1} KiB in  arrival→decoded p50 {p50}  [{}]{state}",
        t.status.label(serial),
        t.frames,
        t.status.bytes as f64 / 1024.0,
        Some(t.status.decoder.short_path())
            .filter(|p| !p.is_empty())
            .unwrap_or("-")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_join_the_first_page_without_credentials() {
        let mut wall = Wall::of_serials(&["A1".into(), "B2".into()]);
        wall.pages.push(wall::Page {
            name: None,
            cameras: vec![1],
            layout: Default::default(),
            monitor: None,
        });
        let urls = vec![
            "rtsp://user:secret@cam:554/live".to_owned(),
            "rtsp://relay:8554/door".to_owned(),
        ];
        let (wall, sources) = with_sources(wall, &urls).unwrap();
        assert_eq!(wall.serials(), ["A1", "B2", "RTSP1", "RTSP2"]);
        assert_eq!(wall.pages[0].cameras, [0, 1, 2, 3]);
        assert_eq!(
            wall.pages[1].cameras,
            [1],
            "other pages are left as they were"
        );
        assert_eq!(wall.cameras[2].name.as_deref(), Some("rtsp://cam:554/live"));
        assert!(wall.cameras[2..].iter().all(|c| c.always_on() && !c.audio));
        assert_eq!(sources[0].url, urls[0], "the reader keeps the credentials");
        assert_eq!(sources[1].label, "RTSP2");
        let err = with_sources(Wall::of_serials(&[]), &["http://x/y".into()]).unwrap_err();
        assert!(err.to_string().contains("expected rtsp://"), "{err}");
    }
}
