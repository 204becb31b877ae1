//! The `eufy-hw` command: CLI parsing and tracing set-up; the work is in the library.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use eufy_hw::clip::Clip;
use eufy_hw::decode::{Accel, DecoderConfig};
use eufy_hw::eufy::session::SessionConfig;
use eufy_hw::eufy::simulator::{Camera, Chunking, Fault, Pacing, SimConfig, Simulator};
use eufy_hw::pipeline::{run_headless, CameraTotals};
use eufy_hw::view::ViewConfig;
use tokio::sync::watch;

/// Live viewer for Eufy security cameras, fed by eufy-security-ws.
///
/// Without a subcommand it connects to eufy-security-ws and shows the cameras given by
/// --serial in a window (a grid for several); without a display it prints decode progress.
#[derive(Parser, Debug)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    live: LiveArgs,
    /// Log filter, e.g. `info`, `eufy_hw=debug` (or RUST_LOG).
    #[arg(long, global = true, default_value = "info", env = "RUST_LOG")]
    log: String,
}

#[derive(Args, Debug)]
struct LiveArgs {
    /// eufy-security-ws URL [default: the wall file's, else ws://127.0.0.1:3000].
    #[arg(long, env = "EUFY_WS_URL")]
    url: Option<String>,
    /// Camera serial number; repeat for several cameras (or EUFY_SERIAL, comma-separated).
    /// With --config: only these of the wall's cameras.
    #[arg(long = "serial", env = "EUFY_SERIAL", value_delimiter = ',')]
    serials: Vec<String>,
    /// An RTSP stream to show as a camera (a go2rtc/MediaMTX restream, a camera's own
    /// RTSP); repeatable, with or without --serial.
    #[arg(long = "source", value_name = "rtsp://…")]
    sources: Vec<String>,
    #[command(flatten)]
    wall: WallArgs,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_parser = seconds)]
    duration: Option<f64>,
    #[command(flatten)]
    session: SessionArgs,
    #[command(flatten)]
    decode: DecodeArgs,
    #[command(flatten)]
    window: WindowArgs,
}

/// The camera wall: a wall file, and flags that override it.
#[derive(Args, Debug, Clone)]
struct WallArgs {
    /// Wall file (TOML): server, cameras and names, pages and layouts, event focus, watchdog.
    /// Example: packaging/wall.example.toml; `eufy-hw check-config FILE` checks one.
    /// Without --config or --serial, ~/.config/eufy-hw/wall.toml is used when it exists.
    #[arg(long, value_name = "FILE", env = "EUFY_WALL")]
    config: Option<PathBuf>,
    /// Seconds each page shows when the wall has several (0: no rotation).
    #[arg(long, value_parser = seconds)]
    page_seconds: Option<f64>,
    /// A live tile with no new picture this many seconds says so and its stream is
    /// restarted (0: off) [default: 10].
    #[arg(long, value_parser = seconds)]
    watchdog: Option<f64>,
    /// Events that bring a camera forward, highest priority first, comma-separated (ring,
    /// person, motion, pet, vehicle, sound, crying, package), or `none` [default:
    /// ring,person,motion].
    #[arg(long, value_delimiter = ',')]
    focus: Option<Vec<String>>,
    /// How an event brings its camera forward.
    #[arg(long, value_enum)]
    focus_mode: Option<FocusModeArg>,
    /// Seconds a camera stays forward after its event ends [default: 15].
    #[arg(long, value_parser = seconds)]
    hold: Option<f64>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FocusModeArg {
    /// The camera alone, full screen.
    Fill,
    /// Its page, with its tile framed.
    Highlight,
}

impl WallArgs {
    /// The wall: the file's (or one page of `serials`), with the flags applied; `serials`
    /// given with a file keep only those cameras.
    fn wall(&self, serials: &[String]) -> Result<eufy_hw::wall::Wall> {
        use eufy_hw::wall::{self, FocusMode, Wall};
        let mut w = match &self.config {
            Some(path) => {
                let w = wall::load(path)?;
                if serials.is_empty() {
                    w
                } else {
                    only(w, serials)?
                }
            }
            None => Wall::of_serials(serials),
        };
        if let Some(s) = self.page_seconds {
            w.page_time = Some(Duration::from_secs_f64(s)).filter(|_| s > 0.0 && w.pages.len() > 1);
        }
        if let Some(s) = self.watchdog {
            w.watchdog = Some(Duration::from_secs_f64(s)).filter(|_| s > 0.0);
        }
        if let Some(kinds) = &self.focus {
            w.focus.on.clear();
            for k in kinds.iter().filter(|k| k.as_str() != "none") {
                let kind = k
                    .parse()
                    .map_err(|e: String| anyhow::anyhow!("--focus: {e}"))?;
                if !w.focus.on.contains(&kind) {
                    w.focus.on.push(kind);
                }
            }
        }
        if let Some(m) = self.focus_mode {
            w.focus.mode = match m {
                FocusModeArg::Fill => FocusMode::Fill,
                FocusModeArg::Highlight => FocusMode::Highlight,
            };
        }
        if let Some(h) = self.hold {
            w.focus.hold = Duration::from_secs_f64(h);
        }
        Ok(w)
    }
}

/// The wall restricted to `serials` (each must be one of its cameras); pages keep those.
fn only(w: eufy_hw::wall::Wall, serials: &[String]) -> Result<eufy_hw::wall::Wall> {
    for s in serials {
        if !w.cameras.iter().any(|c| &c.serial == s) {
            bail!("--serial {s} is not a camera of the wall file");
        }
    }
    let keep: Vec<usize> = (0..w.cameras.len())
        .filter(|&i| serials.contains(&w.cameras[i].serial))
        .collect();
    let index = |old: usize| keep.iter().position(|&k| k == old);
    let mut pages: Vec<eufy_hw::wall::Page> = w
        .pages
        .iter()
        .map(|p| eufy_hw::wall::Page {
            cameras: p.cameras.iter().filter_map(|&c| index(c)).collect(),
            ..p.clone()
        })
        .filter(|p| !p.cameras.is_empty())
        .collect();
    if pages.is_empty() {
        pages.push(eufy_hw::wall::Page {
            name: None,
            cameras: (0..keep.len()).collect(),
            layout: Default::default(),
        });
    }
    Ok(eufy_hw::wall::Wall {
        cameras: keep.iter().map(|&i| w.cameras[i].clone()).collect(),
        pages,
        ..w
    })
}

/// How the session treats stations, cut-offs and a server still logging in.
#[derive(Args, Debug, Clone)]
struct SessionArgs {
    /// Seconds each camera streams before the next camera of the same station (a HomeBase
    /// streams one camera at a time).
    #[arg(long, default_value_t = 10.0, value_parser = positive_seconds)]
    station_dwell: f64,
    /// Seconds to wait before restarting a stream that ended by itself (some cameras drop a
    /// stream restarted at once).
    #[arg(long, default_value_t = 1.0, value_parser = seconds)]
    restart_pause: f64,
    /// Give up when eufy-security-ws is not ready (unreachable, still logging in, camera not
    /// listed) after this many seconds. The viewer waits for ever by default; record and
    /// bench for 60 s.
    #[arg(long, value_parser = seconds)]
    wait_server: Option<f64>,
}

impl SessionArgs {
    /// A session for `url` and `serials`; `wait` is the default `--wait-server`.
    fn config(&self, url: &str, serials: &[String], wait: Option<f64>) -> SessionConfig {
        SessionConfig {
            station_dwell: Duration::from_secs_f64(self.station_dwell),
            restart_pause: Duration::from_secs_f64(self.restart_pause),
            wait_server: self.wait_server.or(wait).map(Duration::from_secs_f64),
            ..SessionConfig::new(url, serials.to_vec())
        }
    }
}

/// Seconds: a finite number, 0 or more.
fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && (0.0..=1e7).contains(&x) => Ok(x),
        _ => Err(format!("{s:?} is not a number of seconds (0 or more)")),
    }
}

/// Seconds, more than 0.
fn positive_seconds(s: &str) -> Result<f64, String> {
    seconds(s).and_then(|x| {
        if x > 0.0 {
            Ok(x)
        } else {
            Err("must be more than 0".into())
        }
    })
}

/// Frames per second: more than 0, at most 1000.
fn fps(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= 1000.0 => Ok(x),
        _ => Err(format!(
            "{s:?}: frames per second must be a number above 0, at most 1000"
        )),
    }
}

#[derive(Args, Debug, Clone)]
struct WindowArgs {
    /// Start fullscreen (`f` toggles).
    #[arg(long)]
    fullscreen: bool,
    /// Kiosk: borderless fullscreen, cursor hidden, keys cannot quit, reconnect forever.
    #[arg(long)]
    kiosk: bool,
    /// Monitor for fullscreen/kiosk (0 = first).
    #[arg(long)]
    monitor: Option<usize>,
    /// Show the stats overlay at start (`i` toggles).
    #[arg(long)]
    stats: bool,
    /// Wait for vertical blank (Fifo) instead of the lowest-latency present mode.
    #[arg(long)]
    vsync: bool,
    /// Colour conversion: `gpu` (the WGSL shader), `cpu` (libswscale at the tile's size,
    /// copied to the screen), `auto` (cpu where the GPU adapter is the CPU, e.g. llvmpipe).
    #[arg(long, default_value = "auto", value_name = "gpu|cpu|auto")]
    colour: eufy_hw::render::ColourChoice,
    /// No window: decode and print progress.
    #[arg(long)]
    headless: bool,
    /// No sound (default: the selected or focused camera's sound plays).
    #[arg(long)]
    no_audio: bool,
    /// Sound volume, 0 to 1.
    #[arg(long, default_value_t = 1.0, value_parser = volume)]
    volume: f32,
}

/// A volume: 0 to 1.
fn volume(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?}: the volume is a number from 0 to 1")),
    }
}

#[derive(Args, Debug, Clone)]
struct DecodeArgs {
    /// Decoders to try in order, comma-separated: auto, vaapi, cuda, videotoolbox, d3d11va,
    /// qsv, vulkan, none (software comes last unless --accel-strict).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "auto",
        env = "EUFY_ACCEL"
    )]
    accel: Vec<Accel>,
    /// Fail instead of falling back to another decoder (for benchmarks).
    #[arg(long)]
    accel_strict: bool,
    /// The device for the hardware API, e.g. /dev/dri/renderD129 or a CUDA index.
    #[arg(long)]
    accel_device: Option<String>,
    /// Software decoder threads per stream (slice threads: no added latency); 0 lets FFmpeg
    /// pick by the number of cores.
    #[arg(long, default_value_t = 0, env = "EUFY_DECODER_THREADS")]
    threads: usize,
}

impl DecodeArgs {
    fn config(&self) -> DecoderConfig {
        DecoderConfig {
            accel: self.accel.clone(),
            strict: self.accel_strict,
            device: self.accel_device.clone(),
            threading: eufy_hw::decode::Threading::Slice(self.threads.min(64)),
            ..DecoderConfig::default()
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Stand in for eufy-security-ws: serve Annex-B clips as camera livestreams.
    Simulate(SimulateArgs),
    /// The built-in simulator streaming the bundled clip into the viewer; no camera needed.
    Demo(Box<DemoArgs>),
    /// Frames per second and per-stage latency of the whole pipeline, against FFmpeg alone.
    Bench(BenchArgs),
    /// Save what the cameras send: raw Annex-B (.h264/.h265, or - for stdout) or MP4/MKV.
    Record(RecordArgs),
    /// List the cameras eufy-security-ws knows: serial, name, model, station.
    Cameras(CamerasArgs),
    /// Check a wall file without connecting: say what it sets up, or what is wrong and where.
    CheckConfig(CheckConfigArgs),
    /// Push cameras to an RTSP server (go2rtc, MediaMTX) for every other viewer: video as it
    /// arrives (no re-encoding), AAC audio, reconnecting both sides.
    Publish(PublishArgs),
}

#[derive(Args, Debug)]
struct PublishArgs {
    /// eufy-security-ws URL.
    #[arg(long, env = "EUFY_WS_URL", default_value = "ws://127.0.0.1:3000")]
    url: String,
    /// Camera serial; repeat for several (then put {serial} or {name} in --to).
    #[arg(
        long = "serial",
        env = "EUFY_SERIAL",
        value_delimiter = ',',
        required = true
    )]
    serials: Vec<String>,
    /// The RTSP URL to push to, e.g. rtsp://127.0.0.1:8554/{serial}; {serial} and {name}
    /// are replaced by each camera's.
    #[arg(long)]
    to: String,
    /// Stop after this many seconds (default: until Ctrl-C or SIGTERM).
    #[arg(long, value_parser = seconds)]
    duration: Option<f64>,
    /// Stop after this many access units per camera.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    frames: Option<u64>,
    #[command(flatten)]
    session: SessionArgs,
}

#[derive(Args, Debug)]
struct CheckConfigArgs {
    /// The wall file.
    file: PathBuf,
}

#[derive(Args, Debug)]
struct CamerasArgs {
    /// eufy-security-ws URL.
    #[arg(long, env = "EUFY_WS_URL", default_value = "ws://127.0.0.1:3000")]
    url: String,
    /// Give up when the server has not logged in after this many seconds.
    #[arg(long, default_value_t = 60.0, value_parser = seconds)]
    wait_server: f64,
    /// Print a starting wall file for these cameras instead of the table.
    #[arg(long)]
    wall: bool,
}

#[derive(Args, Debug)]
struct RecordArgs {
    /// eufy-security-ws URL.
    #[arg(long, env = "EUFY_WS_URL", default_value = "ws://127.0.0.1:3000")]
    url: String,
    /// Camera serial; repeat for several (then put {serial} in --output).
    #[arg(
        long = "serial",
        env = "EUFY_SERIAL",
        value_delimiter = ',',
        required = true
    )]
    serials: Vec<String>,
    /// Output: clip.h264 / clip.h265 (raw), clip.mp4 (fragmented), clip.mkv, or - (stdout);
    /// {serial} and {name} are replaced by each camera's.
    #[arg(short, long)]
    output: String,
    /// Stop after this many seconds.
    #[arg(long, value_parser = seconds)]
    duration: Option<f64>,
    /// Stop after this many access units per camera.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    frames: Option<u64>,
    #[command(flatten)]
    session: SessionArgs,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Clip to stream (default: the bundled one).
    #[arg(long)]
    file: Option<PathBuf>,
    /// Simulated cameras.
    #[arg(long, default_value_t = 1)]
    streams: usize,
    /// As fast as possible (throughput); default: paced at the clip's rate (latency).
    #[arg(long)]
    unpaced: bool,
    /// Pace at this rate instead of the clip's.
    #[arg(long, conflicts_with = "unpaced", value_parser = fps)]
    fps: Option<f64>,
    /// Frames per stream to show.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    frames: u64,
    /// Stop after this many seconds even if fewer frames were shown.
    #[arg(long, value_parser = positive_seconds)]
    duration: Option<f64>,
    /// The simulated streams end by themselves this many seconds after they start; the
    /// restarts' gaps are measured.
    #[arg(long, value_parser = positive_seconds)]
    cutoff: Option<f64>,
    /// With --url: give up when the server is not ready after this many seconds.
    #[arg(long, default_value_t = 60.0, value_parser = seconds)]
    wait_server: f64,
    /// ADTS AAC file the simulated cameras also send; the first stream's sound plays on the
    /// default device and is measured (with target/clips/sync_flash.h264 and sync_beep.aac:
    /// the A/V offset).
    #[arg(long, value_name = "FILE.aac")]
    audio: Option<PathBuf>,
    /// A stream with no new picture this many seconds counts as frozen (the viewer's
    /// watchdog limit).
    #[arg(long, default_value_t = 10.0, value_parser = positive_seconds)]
    watchdog: f64,
    /// Stop after decoding: no GPU upload and conversion.
    #[arg(long)]
    no_render: bool,
    /// Render into a real 1280x720 window instead of an offscreen target (needs a display).
    #[arg(long, conflicts_with_all = ["no_render", "size"])]
    window: bool,
    /// Offscreen target, WIDTHxHEIGHT (default: each stream's tile at the clip's size).
    #[arg(long)]
    size: Option<String>,
    /// Cut events at random places instead of one per access unit.
    #[arg(long)]
    random_chunks: bool,
    /// Measure a live eufy-security-ws instead of the simulator (with --serial).
    #[arg(long)]
    url: Option<String>,
    /// Camera serial for --url; repeatable.
    #[arg(long = "serial")]
    serials: Vec<String>,
    /// Measure RTSP streams instead (a go2rtc/MediaMTX restream, a published eufy-hw
    /// stream); repeatable.
    #[arg(long = "source", value_name = "rtsp://…", conflicts_with = "url")]
    sources: Vec<String>,
    /// Publish the simulated cameras to this RTSP server (as `eufy-hw publish --to`,
    /// `{serial}` replaced) and read them back from the --source URLs (one camera per
    /// --source): the latency publishing adds, arrival at eufy-hw → decoded by the reader.
    #[arg(
        long,
        value_name = "rtsp://…",
        requires = "sources",
        conflicts_with = "url"
    )]
    publish: Option<String>,
    /// Colour conversion: `gpu` (the WGSL shader), `cpu` (libswscale at the tile's size),
    /// `auto` (cpu on a CPU adapter such as llvmpipe).
    #[arg(long, default_value = "auto", value_name = "gpu|cpu|auto")]
    colour: eufy_hw::render::ColourChoice,
    /// Write the report as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write latency over time and its distribution as SVG.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Run the pipeline and the baseline this many times, alternating; report the median
    /// round (a shared machine's speed drifts).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    #[command(flatten)]
    decode: DecodeArgs,
}

#[derive(Args, Debug)]
struct SimulateArgs {
    /// A camera: SERIAL=FILE with a raw .h264/.h265 clip; repeatable. Default: the bundled
    /// demo clip as T8410P0000000001.
    #[arg(long = "camera", value_name = "SERIAL=FILE")]
    cameras: Vec<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port; 0 picks a free one and prints it.
    #[arg(long, default_value_t = 3000)]
    port: u16,
    #[command(flatten)]
    stream: StreamArgs,
}

#[derive(Args, Debug)]
struct StreamArgs {
    /// Frames per second (default: the clip's own rate, 15 when it declares none).
    #[arg(long, conflicts_with = "unpaced", value_parser = fps)]
    fps: Option<f64>,
    /// Send as fast as the client takes frames (throughput tests).
    #[arg(long)]
    unpaced: bool,
    /// No start delay and no one-frame hold (the real server has both).
    #[arg(long)]
    immediate: bool,
    /// Play each clip once, then end the stream with `livestream stopped`.
    #[arg(long)]
    no_loop: bool,
    /// One event per access unit, or random cuts.
    #[arg(long, value_enum, default_value_t = ChunkingArg::Au)]
    chunking: ChunkingArg,
    /// Seed for --chunking random.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Largest chunk for --chunking random, bytes.
    #[arg(long, default_value_t = 65536)]
    max_chunk: usize,
    /// Inject a fault into every connection: close@N, stall=SECS@N, garbage@N, corrupt@N,
    /// bad-json@N, bad-bytes@N, stop@N, restart@N (N = video events sent); repeatable.
    #[arg(long = "fault", value_name = "KIND@N")]
    faults: Vec<Fault>,
    /// Never answer this command (e.g. device.start_livestream); repeatable.
    #[arg(long = "ignore", value_name = "COMMAND")]
    ignore: Vec<String>,
    /// Highest schema version the server accepts (the real one: 21).
    #[arg(long, default_value_t = 21)]
    max_schema: u32,
    /// ADTS AAC file every camera also sends as `livestream audio data` (looped).
    #[arg(long, value_name = "FILE.aac")]
    audio: Option<PathBuf>,
    /// `metadata.audioCodec` sent with --audio (the real server: AAC, AAC_LC, AAC_ELD, NONE,
    /// UNKNOWN).
    #[arg(long, default_value = "AAC")]
    audio_codec: String,
    /// A station (HomeBase) and the cameras behind it, which it streams one at a time (the
    /// newer start wins; two at once leave the older silent); repeatable.
    #[arg(long = "station", value_name = "STATION=SERIAL,SERIAL")]
    stations: Vec<String>,
    /// A camera's display name (`device.get_properties`); repeatable.
    #[arg(long = "name", value_name = "SERIAL=NAME")]
    names: Vec<String>,
    /// Each stream ends by itself (`livestream stopped`) this many seconds after it starts,
    /// as battery cameras do after about 3 minutes.
    #[arg(long, value_parser = positive_seconds)]
    cutoff: Option<f64>,
    /// Log in this many seconds after starting: until then `driver.connected` is false and no
    /// camera is listed.
    #[arg(long, value_parser = seconds)]
    login_delay: Option<f64>,
    /// A detection event at a time: KIND[:SERIAL]@SECS, KIND one of ring, person, motion,
    /// pet, vehicle, sound, crying, package (default camera: the first); repeatable.
    #[arg(long = "event", value_name = "KIND@SECS")]
    events: Vec<eufy_hw::eufy::simulator::SimEvent>,
    /// A detection event (motion, person or ring on a random camera) this often.
    #[arg(long, value_parser = positive_seconds)]
    events_every: Option<f64>,
    /// A camera that accepts a start and then sends nothing (asleep, or its station
    /// offline); repeatable.
    #[arg(long = "offline", value_name = "SERIAL")]
    offline: Vec<String>,
}

#[derive(Args, Debug)]
struct DemoArgs {
    /// Clip to stream (default: the bundled one).
    #[arg(long)]
    file: Option<PathBuf>,
    /// Number of simulated cameras (with --config: the wall's cameras).
    #[arg(long, default_value_t = 1)]
    cameras: usize,
    #[command(flatten)]
    wall: WallArgs,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_parser = seconds)]
    duration: Option<f64>,
    #[command(flatten)]
    stream: StreamArgs,
    #[command(flatten)]
    session: SessionArgs,
    #[command(flatten)]
    decode: DecodeArgs,
    #[command(flatten)]
    window: WindowArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ChunkingArg {
    /// One event per access unit.
    Au,
    /// Random cuts.
    Random,
}

impl StreamArgs {
    fn sim_config(&self, cameras: Vec<Camera>, bind: SocketAddr) -> Result<SimConfig> {
        let audio = self.audio.as_deref().map(load_adts).transpose()?;
        let mut stations = Vec::new();
        for spec in &self.stations {
            let (station, list) = spec
                .split_once('=')
                .filter(|(st, list)| !st.is_empty() && !list.is_empty())
                .with_context(|| format!("--station {spec:?}: expected STATION=SERIAL,SERIAL"))?;
            let serials: Vec<String> = list.split(',').map(str::to_owned).collect();
            for serial in &serials {
                if !cameras.iter().any(|c| &c.serial == serial) {
                    bail!("--station {spec:?}: no camera {serial}");
                }
            }
            stations.push((station.to_owned(), serials));
        }
        let mut names = std::collections::HashMap::new();
        for spec in &self.names {
            let (serial, name) = spec
                .split_once('=')
                .with_context(|| format!("--name {spec:?}: expected SERIAL=NAME"))?;
            names.insert(serial.to_owned(), name.to_owned());
        }
        for e in &self.events {
            if let Some(serial) = &e.serial {
                if !cameras.iter().any(|c| &c.serial == serial) {
                    bail!("--event: no camera {serial}");
                }
            }
        }
        Ok(SimConfig {
            stations,
            names,
            cutoff: self.cutoff.map(Duration::from_secs_f64),
            login_delay: self.login_delay.map(Duration::from_secs_f64),
            events: self.events.clone(),
            events_every: self.events_every.map(Duration::from_secs_f64),
            offline: self.offline.clone(),
            audio,
            audio_codec: self.audio_codec.clone(),
            bind,
            cameras,
            pacing: match (self.unpaced, self.fps) {
                (true, _) => Pacing::Unpaced,
                (false, Some(f)) => Pacing::Fps(f),
                (false, None) => Pacing::Clip,
            },
            realistic: !self.immediate,
            looping: !self.no_loop,
            chunking: match self.chunking {
                ChunkingArg::Au => Chunking::AccessUnit,
                ChunkingArg::Random => Chunking::Random {
                    seed: self.seed,
                    max: self.max_chunk.max(1),
                },
            },
            faults: self.faults.clone(),
            ignore_commands: self.ignore.clone(),
            max_schema: self.max_schema,
            ..SimConfig::default()
        })
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // wss:// uses rustls with the ring provider (system roots, or SSL_CERT_FILE).
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log)
                .with_context(|| format!("bad --log filter {:?}", cli.log))?,
        )
        .with_writer(std::io::stderr)
        .init();
    if let Some(Command::Bench(args)) = &cli.command {
        return bench(args);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("eufy-io")
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(async move {
        match cli.command {
            Some(Command::Simulate(args)) => simulate(args).await,
            Some(Command::Demo(args)) => demo(*args).await,
            Some(Command::Bench(_)) => Ok(()),
            Some(Command::Record(args)) => record(args).await,
            Some(Command::Cameras(args)) => cameras(args).await,
            Some(Command::CheckConfig(args)) => check_config(&args),
            Some(Command::Publish(args)) => publish(args).await,
            None => live(cli.live).await,
        }
    })
}

/// A watch channel that turns true on Ctrl-C or after `duration` seconds.
fn stop_signal(duration: Option<f64>) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let timer = async {
            match duration {
                Some(s) => tokio::time::sleep(Duration::from_secs_f64(s)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => eprintln!("stopping (Ctrl-C)"),
            _ = sigterm() => eprintln!("stopping (SIGTERM)"),
            _ = timer => {}
        }
        let _ = tx.send(true);
    });
    rx
}

/// The ADTS AAC frames of a file (`--audio`).
fn load_adts(path: &std::path::Path) -> Result<Arc<Vec<Arc<[u8]>>>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let frames: Vec<Arc<[u8]>> = eufy_hw::bitstream::adts::split_frames(&bytes)
        .into_iter()
        .map(Arc::from)
        .collect();
    if frames.is_empty() {
        bail!(
            "{}: no ADTS AAC frames (raw .aac with ADTS headers expected)",
            path.display()
        );
    }
    Ok(Arc::new(frames))
}

/// SIGTERM (what go2rtc's `exec:`, MediaMTX's `runOnDemand` and systemd send); never on
/// other systems.
async fn sigterm() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut s) = signal(SignalKind::terminate()) {
            s.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await;
}

fn parse_camera(spec: &str) -> Result<Camera> {
    let (serial, file) = spec
        .split_once('=')
        .with_context(|| format!("--camera {spec:?}: expected SERIAL=FILE"))?;
    if serial.is_empty() {
        bail!("--camera {spec:?}: the serial is empty");
    }
    let clip = Clip::load(file.as_ref())?;
    Ok(Camera {
        serial: serial.to_owned(),
        clip: Arc::new(clip),
    })
}

fn describe(camera: &Camera) -> String {
    let Some(u) = camera.clip.units.first() else {
        return format!("{} = {} (empty)", camera.serial, camera.clip.name);
    };
    format!(
        "{} = {} ({} {} {}x{}, {} access units, {:.0} fps)",
        camera.serial,
        camera.clip.name,
        u.info.codec,
        u.info.profile_name(),
        u.info.width,
        u.info.height,
        camera.clip.units.len(),
        camera.clip.fps().unwrap_or(15.0)
    )
}

async fn simulate(args: SimulateArgs) -> Result<()> {
    let cameras = if args.cameras.is_empty() {
        vec![Camera {
            serial: "T8410P0000000001".into(),
            clip: Arc::new(Clip::demo()),
        }]
    } else {
        args.cameras
            .iter()
            .map(|c| parse_camera(c))
            .collect::<Result<_>>()?
    };
    for c in &cameras {
        eprintln!("camera {}", describe(c));
    }
    let config = args
        .stream
        .sim_config(cameras, SocketAddr::new(args.bind, args.port))?;
    let sim = Simulator::start(config)
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
    // The address on stdout, alone, so scripts can read it.
    println!("{}", sim.url());
    eprintln!(
        "eufy-security-ws simulator listening on {} (Ctrl-C to stop)",
        sim.url()
    );
    tokio::signal::ctrl_c().await.ok();
    sim.shutdown().await;
    Ok(())
}

fn print_progress(serial: &str, t: &CameraTotals, fps: f64) {
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
        .describe(std::time::Instant::now())
        .map(|s| format!("  ({s})"))
        .unwrap_or_default();
    println!(
        "{}: {:>6} frames  {fps:5.1} fps  {size:>9}  {:>8.1} KiB in  arrival→decoded p50 {p50}  [{}]{state}",
        t.status.label(serial),
        t.frames,
        t.status.bytes as f64 / 1024.0,
        t.status.decoder.path
    );
}

async fn demo(args: DemoArgs) -> Result<()> {
    let clip = Arc::new(match &args.file {
        Some(path) => Clip::load(path)?,
        None => Clip::demo(),
    });
    // With a wall file, its cameras; else --cameras numbered ones.
    let serials: Vec<String> = match &args.wall.config {
        Some(path) => eufy_hw::wall::load(path)?.serials(),
        None => (1..=args.cameras.clamp(1, 64))
            .map(|i| format!("T8410P{i:010}"))
            .collect(),
    };
    let wall = args.wall.wall(&serials)?;
    let cameras: Vec<Camera> = serials
        .iter()
        .map(|serial| Camera {
            serial: serial.clone(),
            clip: clip.clone(),
        })
        .collect();
    for c in &cameras {
        eprintln!("simulated camera {}", describe(c));
    }
    let config = args
        .stream
        .sim_config(cameras.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let sim = Simulator::start(config)
        .await
        .context("cannot start the simulator")?;
    eprintln!("simulator on {}; connecting as a client", sim.url());
    let session = args.session.config(&sim.url(), &serials, None);
    // Simulated cameras send sound only with --audio: no sound device is opened otherwise.
    let mut window = args.window.clone();
    window.no_audio |= args.stream.audio.is_none();
    let result = show(session, wall, args.decode.config(), &window, args.duration).await;
    // What the cameras were asked for, seen from the server (a wall streams only what it
    // shows).
    let stats = sim.stats();
    let starts: Vec<String> = stats
        .starts
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    eprintln!(
        "simulator: streams started per camera: {}; at most {} at once",
        if starts.is_empty() {
            "none".to_owned()
        } else {
            starts.join(", ")
        },
        stats.peak_streams
    );
    sim.shutdown().await;
    result
}

/// The window when there is a display (and no --headless); progress lines otherwise.
async fn show(
    session: SessionConfig,
    wall: eufy_hw::wall::Wall,
    decoder: DecoderConfig,
    window: &WindowArgs,
    duration: Option<f64>,
) -> Result<()> {
    show_with(session, wall, Vec::new(), decoder, window, duration).await
}

/// [`show`], with RTSP streams among the cameras.
async fn show_with(
    session: SessionConfig,
    wall: eufy_hw::wall::Wall,
    sources: Vec<eufy_hw::source::RtspSource>,
    decoder: DecoderConfig,
    window: &WindowArgs,
    duration: Option<f64>,
) -> Result<()> {
    if !sources.is_empty() && (window.headless || !eufy_hw::view::display_available()) {
        bail!("--source is shown in the window only: there is no display (or --headless)");
    }
    if !window.headless {
        if eufy_hw::view::display_available() {
            tracing::info!("wall: {}", wall.summary().replace('\n', "; "));
            let config = ViewConfig {
                session,
                wall,
                decoder,
                window: eufy_hw::view::WindowOptions {
                    fullscreen: window.fullscreen,
                    kiosk: window.kiosk,
                    monitor: window.monitor,
                    vsync: window.vsync,
                    colour: window.colour,
                },
                stats: window.stats,
                duration: duration.map(|s| Duration::from_secs_f64(s.max(0.0))),
                snapshot_dir: std::env::current_dir().unwrap_or_default(),
                audio: (!window.no_audio).then_some(window.volume),
                sources,
            };
            // winit wants the main thread: the runtime's worker threads carry on meanwhile.
            return tokio::task::block_in_place(|| eufy_hw::view::run(config)).context("viewer");
        }
        eprintln!("no display (DISPLAY/WAYLAND_DISPLAY unset): decoding without a window; `eufy-hw bench` measures this pipeline");
    }
    let stop = stop_signal(duration);
    let totals = run_headless(
        session,
        decoder,
        stop,
        Duration::from_secs(1),
        print_progress,
    )
    .await?;
    let frames: u64 = totals.values().map(|t| t.frames).sum();
    println!(
        "done: {frames} frames decoded from {} camera(s)",
        totals.len()
    );
    for (serial, t) in &totals {
        let d = &t.status.decoder;
        println!(
            "  {serial}: {} access units, {} decoded, {} dropped before a keyframe, {} decoder errors, path: {}",
            t.status.access_units, d.frames_out, d.dropped_before_keyframe, d.errors, d.path
        );
    }
    if frames == 0 {
        bail!("no frame was decoded");
    }
    Ok(())
}

async fn cameras(args: CamerasArgs) -> Result<()> {
    let config = SessionConfig {
        wait_server: Some(Duration::from_secs_f64(args.wait_server)),
        reconnect: false,
        ..SessionConfig::new(args.url.clone(), Vec::new())
    };
    let list = eufy_hw::eufy::session::list_cameras(&config)
        .await
        .with_context(|| format!("listing the cameras of {}", args.url))?;
    if list.is_empty() {
        eprintln!("eufy-security-ws at {} lists no camera", args.url);
        return Ok(());
    }
    if args.wall {
        print!("{}", eufy_hw::wall::starter(&args.url, &list));
        return Ok(());
    }
    println!("{:<18} {:<24} {:<8} station", "serial", "name", "model");
    for c in &list {
        let station = c.station.as_deref().unwrap_or("-");
        let shared = list
            .iter()
            .filter(|o| o.serial != c.serial && o.station.as_deref() == Some(station))
            .count();
        let note = if shared > 0 {
            format!(" (shared with {shared} other camera(s): streams one at a time)")
        } else {
            String::new()
        };
        println!(
            "{:<18} {:<24} {:<8} {station}{note}",
            c.serial,
            c.name.as_deref().unwrap_or("-"),
            c.model.as_deref().unwrap_or("-"),
        );
    }
    Ok(())
}

/// `$XDG_CONFIG_HOME/eufy-hw/wall.toml` (or `~/.config/…`), when it exists.
fn default_wall() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    let path = base.join("eufy-hw").join("wall.toml");
    path.is_file().then_some(path)
}

async fn live(mut args: LiveArgs) -> Result<()> {
    if args.wall.config.is_none() && args.serials.is_empty() {
        args.wall.config = default_wall();
        if let Some(path) = &args.wall.config {
            eprintln!("wall file: {}", path.display());
        }
    }
    let file_url = match &args.wall.config {
        Some(path) => eufy_hw::wall::load(path)?.url,
        None => None,
    };
    let url = args
        .url
        .clone()
        .or(file_url)
        .unwrap_or_else(|| "ws://127.0.0.1:3000".to_owned());
    let mut serials = args.serials.clone();
    if serials.is_empty() && args.wall.config.is_none() && args.sources.is_empty() {
        // Every camera the server lists (waiting for its login, as the viewer does).
        let config = SessionConfig {
            wait_server: args.session.wait_server.map(Duration::from_secs_f64),
            ..SessionConfig::new(url.clone(), Vec::new())
        };
        eprintln!(
            "no --serial or --config: showing every camera {url} lists (`eufy-hw cameras` lists them, `eufy-hw cameras --wall` writes a wall file)"
        );
        serials = eufy_hw::eufy::session::list_cameras(&config)
            .await
            .with_context(|| format!("listing the cameras of {url}"))?
            .into_iter()
            .map(|c| c.serial)
            .collect();
        if serials.is_empty() {
            bail!("{url} lists no camera; pass --serial SERIAL, or try `eufy-hw demo`");
        }
    }
    let mut sources = Vec::new();
    for (i, u) in args.sources.iter().enumerate() {
        if !eufy_hw::record::is_rtsp(u) {
            bail!("--source {u:?}: expected rtsp://host:port/path");
        }
        sources.push(eufy_hw::source::RtspSource {
            url: u.clone(),
            label: format!("RTSP{}", i + 1),
        });
    }
    let mut wall = args.wall.wall(&serials)?;
    let first_source = wall.cameras.len();
    for s in &sources {
        wall.cameras.push(eufy_hw::wall::WallCamera {
            serial: s.label.clone(),
            name: Some(s.display_url()),
            audio: false,
            always_on: true,
        });
    }
    // The sources join the first page.
    if let Some(page) = wall.pages.first_mut() {
        page.cameras.extend(first_source..wall.cameras.len());
    }
    let serials: Vec<String> = wall
        .serials()
        .into_iter()
        .filter(|s| !sources.iter().any(|r| &r.label == s))
        .collect();
    let session = args.session.config(&url, &serials, None);
    let (decoder, window) = (args.decode.config(), &args.window);
    show_with(session, wall, sources, decoder, window, args.duration)
        .await
        .with_context(|| format!("streaming from {url}"))
}

fn check_config(args: &CheckConfigArgs) -> Result<()> {
    let wall = eufy_hw::wall::load(&args.file)?;
    println!("{}: ok", args.file.display());
    if let Some(url) = &wall.url {
        println!("server: {url}");
    }
    println!("{}", wall.summary());
    Ok(())
}

fn bench(args: &BenchArgs) -> Result<()> {
    use std::io::IsTerminal;
    let clip = Arc::new(match &args.file {
        Some(path) => Clip::load(path)?,
        None => Clip::demo(),
    });
    let target = match &args.size {
        None => None,
        Some(size) => Some(
            size.split_once('x')
                .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
                .filter(|&(w, h): &(u32, u32)| w > 0 && h > 0 && w <= 8192 && h <= 8192)
                .with_context(|| format!("--size {size:?}: expected WIDTHxHEIGHT"))?,
        ),
    };
    let live = match (&args.url, args.serials.is_empty()) {
        (Some(url), false) => Some((url.clone(), args.serials.clone())),
        (Some(_), true) => bail!("--url needs at least one --serial"),
        (None, _) => None,
    };
    let config = eufy_hw::bench::BenchConfig {
        clip,
        // --publish: one simulated camera per stream read back.
        streams: match args.publish {
            Some(_) => args.sources.len(),
            None => args.streams,
        }
        .clamp(1, 64),
        decoder: args.decode.config(),
        unpaced: args.unpaced,
        fps: args.fps,
        frames: args.frames,
        duration: args.duration.map(|s| Duration::from_secs_f64(s.max(0.0))),
        render: !args.no_render,
        window: args.window,
        target,
        random_chunks: args.random_chunks,
        live,
        rounds: args.rounds.clamp(1, 100),
        cutoff: args.cutoff.map(Duration::from_secs_f64),
        wait_server: Duration::from_secs_f64(args.wait_server),
        watchdog: Duration::from_secs_f64(args.watchdog),
        audio: args.audio.as_deref().map(load_adts).transpose()?,
        sources: args.sources.clone(),
        publish: args.publish.clone(),
        colour: args.colour,
    };
    if let Some(bad) = config
        .sources
        .iter()
        .chain(&config.publish)
        .find(|u| !eufy_hw::record::is_rtsp(u))
    {
        bail!("{bad:?}: expected rtsp://host:port/path");
    }
    let bar = if std::io::stdout().is_terminal() {
        let b = indicatif::ProgressBar::new(config.frames * config.streams as u64);
        if config.rounds > 1 {
            b.set_message(format!("({} rounds)", config.rounds));
        }
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} frames {per_sec} {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let report = eufy_hw::bench::run(&config, |n, total| {
        bar.set_length(total);
        bar.set_position(n);
    })
    .context("benchmark")?;
    bar.finish_and_clear();
    print!("{}", eufy_hw::bench::table(&report));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).context("serialising the report")?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.plot {
        eufy_hw::bench::plot(&report, path)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

async fn publish(args: PublishArgs) -> Result<()> {
    if !eufy_hw::record::is_rtsp(&args.to) {
        bail!("--to {:?}: expected rtsp://host:port/path", args.to);
    }
    let config = eufy_hw::record::RecordConfig {
        // Waits for the server for ever, as a service started on demand should.
        session: args.session.config(&args.url, &args.serials, None),
        output: args.to.clone(),
        duration: args.duration.map(|s| Duration::from_secs_f64(s.max(0.0))),
        frames: args.frames,
    };
    let stop = stop_signal(None);
    let published = eufy_hw::record::record(config, stop)
        .await
        .with_context(|| format!("publishing from {}", args.url))?;
    for r in published {
        eprintln!(
            "{}: {} access units pushed to {}, {} AAC frames, {} reconnect(s) to the server, {} unit(s) skipped meanwhile, {} gap(s) from the camera",
            r.serial, r.units, r.path, r.audio_frames, r.reconnects, r.skipped, r.gaps
        );
    }
    Ok(())
}

async fn record(args: RecordArgs) -> Result<()> {
    let config = eufy_hw::record::RecordConfig {
        session: args.session.config(&args.url, &args.serials, Some(60.0)),
        output: args.output.clone(),
        duration: args.duration.map(|s| Duration::from_secs_f64(s.max(0.0))),
        frames: args.frames,
    };
    let stop = stop_signal(None);
    let recorded = eufy_hw::record::record(config, stop)
        .await
        .with_context(|| format!("recording from {}", args.url))?;
    for r in recorded {
        eprintln!(
            "{}: {} access units, {:.1} KiB, {} gap(s){}",
            if r.path.is_empty() {
                &r.serial
            } else {
                &r.path
            },
            r.units,
            r.bytes as f64 / 1024.0,
            r.gaps,
            if r.audio_frames > 0 {
                format!(", {} AAC frames", r.audio_frames)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}
