//! The command line (clap): every subcommand's flags, their checks, and the one call into
//! the library each makes ([`run`]).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use eufy_hw::app::{self, SessionTimes};
use eufy_hw::backend::{Backend, Ptz};
use eufy_hw::bridge::Answer;
use eufy_hw::clip::Clip;
use eufy_hw::decode::{Accel, DecoderConfig};
use eufy_hw::record::RecordConfig;
use eufy_hw::simulator::{
    Chunking, Fault, NameSpec, Pacing, PictureSpec, SimConfig, SimEvent, StationSpec,
};
use eufy_hw::wall::{FocusMode, Overrides};

/// Live viewer for Eufy security cameras, fed by eufy-security-ws.
///
/// Without a subcommand it connects to eufy-security-ws and shows the cameras given by
/// --serial in a window (a grid for several); without a display it prints decode progress.
#[derive(Parser, Debug)]
#[command(version, args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    live: LiveArgs,
    /// Log filter, e.g. `info`, `eufy_hw=debug` (or RUST_LOG).
    #[arg(long, global = true, default_value = "info", env = "RUST_LOG")]
    pub(crate) log: String,
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
    /// The page, with the camera as an inset over it ([focus] pip_corner, pip_size).
    Pip,
}

impl WallArgs {
    /// The flags over the wall file.
    fn overrides(&self) -> Overrides {
        Overrides {
            page_seconds: self.page_seconds,
            watchdog_seconds: self.watchdog,
            focus: self.focus.clone(),
            focus_mode: self.focus_mode.map(|m| match m {
                FocusModeArg::Fill => FocusMode::Fill,
                FocusModeArg::Highlight => FocusMode::Highlight,
                FocusModeArg::Pip => FocusMode::Pip,
            }),
            hold_seconds: self.hold,
        }
    }
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
    /// Seconds a camera has to start streaming (to `livestream started`, and from there to
    /// its first video) before it is restarted; battery cameras that wake slowly may need
    /// more.
    #[arg(long, default_value_t = 20.0, value_parser = positive_seconds)]
    start_timeout: f64,
    /// Give up when eufy-security-ws is not ready (unreachable, still logging in, camera not
    /// listed) after this many seconds. The viewer waits for ever by default; record and
    /// bench for 60 s.
    #[arg(long, value_parser = seconds)]
    wait_server: Option<f64>,
    /// Which server --url is: ws (eufy-security-ws), bridge (the Eufy Mega bridge,
    /// ws://HOST:3000/ws), or auto (known from its first message). With demo: which one the
    /// simulator speaks.
    #[arg(long, default_value = "auto", value_parser = backend_arg)]
    backend: Backend,
}
impl SessionArgs {
    fn times(&self) -> SessionTimes {
        SessionTimes {
            backend: self.backend,
            station_dwell: Duration::from_secs_f64(self.station_dwell),
            restart_pause: Duration::from_secs_f64(self.restart_pause),
            start_timeout: Duration::from_secs_f64(self.start_timeout),
            wait_server: self.wait_server.map(Duration::from_secs_f64),
        }
    }
}

fn backend_arg(s: &str) -> Result<Backend, String> {
    s.parse()
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
    /// Headless totals at the end: `text` (lines for people), or `json` (one JSON object on
    /// standard output for scripts; the progress lines go to standard error).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    summary: String,
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
    /// qsv, vulkan, v4l2m2m, drm, none (software comes last unless --accel-strict).
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

impl WindowArgs {
    fn show(&self, decode: &DecodeArgs, duration: Option<f64>) -> app::Show {
        app::Show {
            window: eufy_hw::view::WindowOptions {
                fullscreen: self.fullscreen,
                kiosk: self.kiosk,
                monitor: self.monitor,
                vsync: self.vsync,
                colour: self.colour,
            },
            headless: self.headless,
            summary_json: self.summary == "json",
            stats: self.stats,
            audio: (!self.no_audio).then_some(self.volume),
            decoder: decode.config(),
            duration: secs(duration),
        }
    }
}

/// Seconds as a duration.
fn secs(s: Option<f64>) -> Option<Duration> {
    s.map(|s| Duration::from_secs_f64(s.max(0.0)))
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
    /// List the cameras the server knows: serial, name, model, station.
    Cameras(CamerasArgs),
    /// Complete the Eufy Mega bridge's login: its state, a 2FA code, a captcha's answer.
    Login(LoginArgs),
    /// Pan and tilt a camera: one step left, right, up or down, a 360° sweep, or preset 1-4.
    Ptz(PtzArgs),
    /// A doorbell's quick replies: list them, or play one at the door with --voice.
    Reply(ReplyArgs),
    /// Talk through a camera's speaker: a sound file (any FFmpeg reads; - for stdin) or the
    /// microphone (--mic), until the sound ends (or --duration, Ctrl-C).
    Talk(TalkArgs),
    /// Check a wall file without connecting: say what it sets up, or what is wrong and where.
    CheckConfig(CheckConfigArgs),
    /// Push cameras to an RTSP server (go2rtc, MediaMTX) for every other viewer: video as it
    /// arrives (no re-encoding), AAC audio, reconnecting both sides.
    Publish(PublishArgs),
}

/// The cameras `record` and `publish` take, and when they stop.
#[derive(Args, Debug)]
struct RecordedCameras {
    /// eufy-security-ws URL.
    #[arg(long, env = "EUFY_WS_URL", default_value = "ws://127.0.0.1:3000")]
    url: String,
    /// Camera serial; repeat for several (then put {serial} or {name} in the output).
    #[arg(
        long = "serial",
        env = "EUFY_SERIAL",
        value_delimiter = ',',
        required = true
    )]
    serials: Vec<String>,
    /// Stop after this many seconds (default: until Ctrl-C or SIGTERM).
    #[arg(long, value_parser = seconds)]
    duration: Option<f64>,
    /// Stop after this many access units per camera.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    frames: Option<u64>,
    #[command(flatten)]
    session: SessionArgs,
}

impl RecordedCameras {
    /// Recording into `output`; `wait` when `--wait-server` was not given.
    fn config(&self, output: &str, wait: Option<Duration>) -> RecordConfig {
        RecordConfig {
            session: self.session.times().config(&self.url, &self.serials, wait),
            output: output.to_owned(),
            duration: secs(self.duration),
            frames: self.frames,
        }
    }
}

#[derive(Args, Debug)]
struct PublishArgs {
    /// The RTSP URL to push to, e.g. rtsp://127.0.0.1:8554/{serial}; {serial} and {name}
    /// are replaced by each camera's.
    #[arg(long)]
    to: String,
    #[command(flatten)]
    cameras: RecordedCameras,
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
    /// Which server --url is: ws, bridge or auto.
    #[arg(long, default_value = "auto", value_parser = backend_arg)]
    backend: Backend,
}

#[derive(Args, Debug)]
struct PtzArgs {
    /// The server's URL (eufy-security-ws or the bridge).
    #[arg(long, env = "EUFY_WS_URL", default_value = "ws://127.0.0.1:3000")]
    url: String,
    /// The camera.
    #[arg(long, env = "EUFY_SERIAL")]
    serial: String,
    /// Which server --url is: ws, bridge or auto.
    #[arg(long, default_value = "auto", value_parser = backend_arg)]
    backend: Backend,
    /// left, right, up, down, sweep, or preset N (1-4).
    #[arg(required = true, num_args = 1..=2, value_name = "ACTION")]
    action: Vec<String>,
}

#[derive(Args, Debug)]
struct TalkArgs {
    /// The server's URL (eufy-security-ws, schema 13 or later).
    #[arg(long, env = "EUFY_WS_URL", default_value = "ws://127.0.0.1:3000")]
    url: String,
    /// The camera (a doorbell, or any camera with a speaker).
    #[arg(long, env = "EUFY_SERIAL")]
    serial: String,
    /// Which server --url is: ws, bridge or auto.
    #[arg(long, default_value = "auto", value_parser = backend_arg)]
    backend: Backend,
    /// The sound to play: WAV, MP3, … (anything FFmpeg reads); - reads standard input.
    #[arg(long, required_unless_present = "mic", conflicts_with = "mic")]
    file: Option<String>,
    /// Talk from the microphone (the default input, or --device) until Ctrl-C or --duration.
    #[arg(long)]
    mic: bool,
    /// The microphone's name as the sound server lists it (pactl list short sources).
    #[arg(long, requires = "mic")]
    device: Option<String>,
    /// Stop after this many seconds.
    #[arg(long, value_parser = seconds)]
    duration: Option<f64>,
    /// Give up when the server is not ready after this many seconds.
    #[arg(long, default_value_t = 30.0, value_parser = seconds)]
    wait_server: f64,
}

#[derive(Args, Debug)]
struct ReplyArgs {
    /// The server's URL.
    #[arg(long, env = "EUFY_WS_URL", default_value = "ws://127.0.0.1:3000")]
    url: String,
    /// The doorbell.
    #[arg(long, env = "EUFY_SERIAL")]
    serial: String,
    /// Which server --url is: ws, bridge or auto.
    #[arg(long, default_value = "auto", value_parser = backend_arg)]
    backend: Backend,
    /// The reply to play (an id the listing prints); without it, the replies are listed.
    #[arg(long)]
    voice: Option<u64>,
}

#[derive(Args, Debug)]
struct LoginArgs {
    /// The Eufy Mega bridge's WebSocket URL.
    #[arg(long, env = "EUFY_WS_URL", default_value = "ws://127.0.0.1:3000/ws")]
    url: String,
    /// The 2FA code Eufy sent (by email or SMS).
    #[arg(long, conflicts_with_all = ["captcha", "retrigger"])]
    code: Option<String>,
    /// The captcha's answer (run without it first: the image is saved and its path printed).
    #[arg(long, conflicts_with = "retrigger")]
    captcha: Option<String>,
    /// Ask the bridge for a new code or captcha.
    #[arg(long)]
    retrigger: bool,
    /// Where a captcha image is saved.
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    captcha_dir: PathBuf,
}

#[derive(Args, Debug)]
struct RecordArgs {
    /// Output: clip.h264 / clip.h265 (raw), clip.mp4 (fragmented), clip.mkv, or - (stdout);
    /// {serial} and {name} are replaced by each camera's.
    #[arg(short, long)]
    output: String,
    #[command(flatten)]
    cameras: RecordedCameras,
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
    /// Which server to stand in for: ws (eufy-security-ws) or bridge (the Eufy Mega bridge:
    /// WebSocket on /ws, video on /stream/SERIAL).
    #[arg(long, default_value = "ws", value_parser = backend_arg)]
    backend: Backend,
    #[command(flatten)]
    stream: StreamArgs,
}

#[derive(Args, Debug)]
struct StreamArgs {
    /// Bridge: the login waits for this 2FA code (`eufy-hw login --code`).
    #[arg(long, value_name = "CODE")]
    code: Option<String>,
    /// Bridge: the Eufy session expires this many seconds after the start (`reauth`, streams
    /// cut, then logged in again).
    #[arg(long, value_parser = positive_seconds)]
    expire: Option<f64>,
    /// Bridge: what every /stream body does wrong: garbage, huge-chunk, no-headers,
    /// wrong-type, json-ok, abort@UNITS.
    #[arg(long, value_name = "KIND")]
    http_fault: Option<eufy_hw::simulator::HttpFault>,
    /// Bridge: a battery camera (listed with the capability); repeatable.
    #[arg(long = "battery", value_name = "SERIAL")]
    battery: Vec<String>,
    /// Bridge: events of unknown names and wrong field types after hello.
    #[arg(long)]
    bad_events: bool,
    /// Bridge: the schema `hello` says (0: no hello at all).
    #[arg(long, default_value_t = 1)]
    bridge_schema: u64,
    /// What a camera is: plain, doorbell or ptz (its commands and capabilities); repeatable.
    #[arg(long = "kind", value_name = "SERIAL=KIND")]
    kinds: Vec<eufy_hw::simulator::KindSpec>,
    /// Seconds from `device.start_talkback` to the camera's `talkback started`.
    #[arg(long, default_value_t = 0.3, value_parser = seconds)]
    talk_delay: f64,
    /// A doorbell that is busy: it refuses talk back (`talkback stopped`); repeatable.
    #[arg(long = "talk-busy", value_name = "SERIAL")]
    talk_busy: Vec<String>,
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
    stations: Vec<StationSpec>,
    /// A camera's display name (`device.get_properties`); repeatable.
    #[arg(long = "name", value_name = "SERIAL=NAME")]
    names: Vec<NameSpec>,
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
    events: Vec<SimEvent>,
    /// A detection event (motion, person or ring on a random camera) this often.
    #[arg(long, value_parser = positive_seconds)]
    events_every: Option<f64>,
    /// A camera that accepts a start and then sends nothing (asleep, or its station
    /// offline); repeatable.
    #[arg(long = "offline", value_name = "SERIAL")]
    offline: Vec<String>,
    /// A camera's latest picture (JPEG): its `picture` property, sent again with each of
    /// its events; repeatable.
    #[arg(long = "picture", value_name = "SERIAL=FILE.jpg")]
    pictures: Vec<PictureSpec>,
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

impl BenchArgs {
    fn config(&self) -> Result<eufy_hw::bench::BenchConfig> {
        let clip = std::sync::Arc::new(match &self.file {
            Some(path) => Clip::load(path)?,
            None => Clip::demo(),
        });
        let target = match &self.size {
            None => None,
            Some(size) => Some(eufy_hw::bench::parse_size(size).map_err(anyhow::Error::msg)?),
        };
        let live = match (&self.url, self.serials.is_empty()) {
            (Some(url), false) => Some((url.clone(), self.serials.clone())),
            (Some(_), true) => anyhow::bail!("--url needs at least one --serial"),
            (None, _) => None,
        };
        let audio = match &self.audio {
            Some(path) => Some(eufy_hw::clip::load_adts(path)?),
            None => None,
        };
        Ok(eufy_hw::bench::BenchConfig {
            clip,
            // --publish: one simulated camera per stream read back.
            streams: match self.publish {
                Some(_) => self.sources.len(),
                None => self.streams,
            }
            .clamp(1, 64),
            decoder: self.decode.config(),
            unpaced: self.unpaced,
            fps: self.fps,
            frames: self.frames,
            duration: secs(self.duration),
            render: !self.no_render,
            window: self.window,
            target,
            random_chunks: self.random_chunks,
            live,
            rounds: self.rounds.clamp(1, 100),
            cutoff: self.cutoff.map(Duration::from_secs_f64),
            wait_server: Duration::from_secs_f64(self.wait_server),
            watchdog: Duration::from_secs_f64(self.watchdog),
            audio,
            sources: self.sources.clone(),
            publish: self.publish.clone(),
            colour: self.colour,
        })
    }
}

impl StreamArgs {
    /// The simulator's settings (the bridge's with `bridge`); its cameras and address are
    /// filled in by the caller.
    fn sim_config(&self, bridge: bool) -> Result<SimConfig> {
        let audio = match &self.audio {
            Some(path) => Some(eufy_hw::clip::load_adts(path)?),
            None => None,
        };
        let mut pictures = std::collections::HashMap::new();
        for p in &self.pictures {
            let jpeg = std::fs::read(&p.path)
                .with_context(|| format!("--picture: reading {}", p.path.display()))?;
            pictures.insert(p.serial.clone(), std::sync::Arc::new(jpeg));
        }
        Ok(SimConfig {
            pictures,
            stations: self
                .stations
                .iter()
                .map(|s| (s.station.clone(), s.cameras.clone()))
                .collect(),
            names: self
                .names
                .iter()
                .map(|n| (n.serial.clone(), n.name.clone()))
                .collect(),
            cutoff: self.cutoff.map(Duration::from_secs_f64),
            login_delay: self.login_delay.map(Duration::from_secs_f64),
            events: self.events.clone(),
            events_every: self.events_every.map(Duration::from_secs_f64),
            offline: self.offline.clone(),
            audio,
            audio_codec: self.audio_codec.clone(),
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
            kinds: self
                .kinds
                .iter()
                .map(|k| (k.serial.clone(), k.kind))
                .collect(),
            talk_delay: Duration::from_secs_f64(self.talk_delay),
            talk_busy: self.talk_busy.clone(),
            bridge: bridge.then(|| eufy_hw::simulator::BridgeSim {
                schema: Some(self.bridge_schema).filter(|s| *s > 0),
                code: self.code.clone(),
                expire_at: self.expire.map(Duration::from_secs_f64),
                http_fault: self.http_fault.clone(),
                bad_events: self.bad_events,
                battery: self.battery.clone(),
                ..Default::default()
            }),
            ..SimConfig::default()
        })
    }
}

impl Cli {
    /// The subcommands that run without the tokio runtime (the benchmark), run; `None` for
    /// the others.
    pub(crate) fn without_runtime(&self) -> Option<Result<()>> {
        let Some(Command::Bench(args)) = &self.command else {
            return None;
        };
        let outputs = app::BenchOutputs {
            json: args.json.clone(),
            plot: args.plot.clone(),
        };
        Some(args.config().and_then(|c| app::bench(&c, &outputs)))
    }
}

/// The subcommand, on the runtime.
pub(crate) async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Simulate(a)) => {
            let sim = SimConfig {
                bind: SocketAddr::new(a.bind, a.port),
                ..a.stream.sim_config(a.backend == Backend::Bridge)?
            };
            app::simulate(&a.cameras, sim).await
        }
        Some(Command::Demo(a)) => {
            app::demo(app::Demo {
                clip: a.file.clone(),
                cameras: a.cameras,
                wall_file: a.wall.config.clone(),
                overrides: a.wall.overrides(),
                sim: a.stream.sim_config(a.session.backend == Backend::Bridge)?,
                session: a.session.times(),
                show: a.window.show(&a.decode, a.duration),
            })
            .await
        }
        Some(Command::Bench(_)) => Ok(()),
        Some(Command::Record(a)) => {
            // record waits 60 s for a server that is not ready.
            let wait = Some(Duration::from_secs(60));
            app::record(a.cameras.config(&a.output, wait)).await
        }
        Some(Command::Cameras(a)) => {
            app::cameras(
                &a.url,
                Duration::from_secs_f64(a.wait_server),
                a.wall,
                a.backend,
            )
            .await
        }
        Some(Command::Ptz(a)) => {
            let action: Ptz = a.action.join(" ").parse().map_err(anyhow::Error::msg)?;
            app::ptz(&a.url, a.backend, &a.serial, action).await
        }
        Some(Command::Reply(a)) => app::reply(&a.url, a.backend, &a.serial, a.voice).await,
        Some(Command::Talk(a)) => {
            let source = match (&a.file, a.mic) {
                (Some(file), _) => app::TalkSource::File(file.clone()),
                (None, _) => app::TalkSource::Mic(a.device.clone()),
            };
            let talk = app::Talk {
                url: a.url,
                backend: a.backend,
                serial: a.serial,
                source,
                duration: secs(a.duration),
                wait_server: Duration::from_secs_f64(a.wait_server),
            };
            app::talk(talk).await
        }
        Some(Command::Login(a)) => {
            let answer = match (a.code, a.captcha, a.retrigger) {
                (Some(code), _, _) => Answer::Code(code),
                (_, Some(captcha), _) => Answer::Captcha(captcha),
                (_, _, true) => Answer::Retrigger,
                _ => Answer::Nothing,
            };
            app::login(&a.url, answer, &a.captcha_dir).await.map(|_| ())
        }
        Some(Command::CheckConfig(a)) => {
            print!("{}", app::check_config(&a.file)?);
            Ok(())
        }
        // A publisher started on demand waits for the server for ever.
        Some(Command::Publish(a)) => app::publish(a.cameras.config(&a.to, None)).await,
        None => {
            let l = cli.live;
            app::live(app::Live {
                url: l.url.clone(),
                serials: l.serials.clone(),
                sources: l.sources.clone(),
                wall_file: l.wall.config.clone(),
                overrides: l.wall.overrides(),
                session: l.session.times(),
                show: l.window.show(&l.decode, l.duration),
            })
            .await
        }
    }
}
