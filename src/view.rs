//! The window: winit application showing one camera or a grid, windowed, fullscreen or as a
//! kiosk, with a stats overlay.
//!
//! Threads: winit owns the main thread and the GPU; a tokio runtime runs the session and the
//! [`Feed`]; each camera decodes on its own thread into a one-frame mailbox
//! ([`LatestFrame`]) whose arrival wakes the event loop through an `EventLoopProxy`. Nothing
//! renders when nothing changed; a slow screen drops frames instead of building latency.
//!
//! What is on screen is the [`Kiosk`]'s: the wall's current page in its layout, or the camera
//! an event brought forward; the session streams only the cameras on screen (and those
//! `always_on`), told through [`SessionControl::Want`]; a tile whose picture froze is
//! restarted through [`SessionControl::Restart`].
//!
//! Sound ([`crate::audio`]) is the focused camera's when its wall entry allows it, else the
//! selected tile's; its delay follows that tile's picture latency.
//!
//! Keys: `f` fullscreen, `i` overlay, `s` PNG snapshot, `r` start/stop a raw recording of the
//! selected tile (`1`-`9` select, also whose sound plays), `m` mute, `n`/`p` (or →/←)
//! next/previous page, `q`/Esc quit (not in kiosk mode).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use winit::application::ApplicationHandler;
use winit::event::{ElementState, KeyEvent, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop, EventLoopProxy};
use winit::keyboard::{Key, NamedKey};
use winit::window::{Fullscreen, Window, WindowId};

use crate::decode::{DecoderConfig, FrameSink, LatestFrame};
use crate::eufy::protocol::DetectionKind;
use crate::eufy::session::{run_session_with, SessionConfig, SessionControl, SessionEvent};
use crate::kiosk::{Kiosk, Screen, Verdict};
use crate::pipeline::{toggle_recording, Feed, PipelineError, Recordings, Statuses};
use crate::render::{Gpu, Offscreen, RenderError, Renderer, TileState, TileView};
use crate::wall::Wall;

/// How the viewer runs.
#[derive(Debug, Clone)]
pub struct ViewConfig {
    /// The session (URL, timeouts); its serials are the wall's.
    pub session: SessionConfig,
    /// The cameras, pages, event focus and watchdog.
    pub wall: Wall,
    /// The decoders.
    pub decoder: DecoderConfig,
    /// How the window opens and presents.
    pub window: WindowOptions,
    /// Overlay on at start.
    pub stats: bool,
    /// Close after this long (tests, demos).
    pub duration: Option<Duration>,
    /// Where `s` writes snapshots and `r` recordings.
    pub snapshot_dir: std::path::PathBuf,
    /// Play sound at this volume (0 to 1); `None`: no sound.
    pub audio: Option<f32>,
    /// RTSP streams shown as cameras (their labels are among the wall's cameras).
    pub sources: Vec<crate::source::RtspSource>,
}

/// Why the viewer could not run.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// No display server to open a window on.
    #[error("no display to open a window on ({0}); for a headless run use `eufy-hw bench`, or `eufy-hw demo --headless`")]
    NoDisplay(String),
    /// GPU problems.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The window could not be created.
    #[error("cannot create the window: {0}")]
    Window(String),
    /// The pipeline failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The runtime could not start.
    #[error("cannot start the I/O runtime: {0}")]
    Runtime(std::io::Error),
}

/// Whether a display server seems to be there.
pub fn display_available() -> bool {
    if cfg!(any(target_os = "macos", windows)) {
        return true;
    }
    std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
}

fn require_display() -> Result<(), ViewError> {
    if display_available() {
        Ok(())
    } else {
        Err(ViewError::NoDisplay(
            "neither DISPLAY nor WAYLAND_DISPLAY is set".into(),
        ))
    }
}

/// The wgpu instance windows are made with (Vulkan, Metal, DX12).
fn instance() -> wgpu::Instance {
    wgpu::Instance::new(&wgpu::InstanceDescriptor {
        backends: wgpu::Backends::PRIMARY,
        ..Default::default()
    })
}

#[derive(Debug)]
enum Wake {
    /// A new frame of camera (slot) `usize`.
    Frame(usize),
    Status,
    Detection {
        serial: String,
        kind: DetectionKind,
        state: bool,
    },
    Failed(String),
}

/// How the window is opened (the viewer's options; `bench --window` uses the defaults).
#[derive(Debug, Clone, Copy, Default)]
pub struct WindowOptions {
    /// Start fullscreen.
    pub fullscreen: bool,
    /// Kiosk: borderless fullscreen, cursor hidden, stray keys ignored, never quits by key.
    pub kiosk: bool,
    /// Monitor index for fullscreen/kiosk.
    pub monitor: Option<usize>,
    /// Wait for vertical blank (Fifo); otherwise Mailbox or Immediate where available.
    pub vsync: bool,
    /// The colour path (`Auto`: libswscale on a CPU adapter, the shader on a GPU).
    pub colour: crate::render::ColourChoice,
}

/// A window with its configured wgpu surface, GPU and renderer.
pub(crate) struct Surface {
    window: Arc<Window>,
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    pub(crate) gpu: Gpu,
    pub(crate) renderer: Renderer,
    /// The CPU colour path: the window's own pixels, presented with damage (a Vulkan
    /// swapchain on a CPU adapter copies the whole image through the X socket each time).
    soft: Option<SoftSurface>,
    /// Frames with no image to draw into: a screen that sleeps must not fill the log.
    skipped: crate::throttle::Throttle,
    /// The display's refresh interval: new pictures are drawn at most this often.
    pub(crate) refresh: Duration,
}

/// Which display server the window is on, for the log.
fn display_server(event_loop: &ActiveEventLoop) -> &'static str {
    #[cfg(all(
        unix,
        not(any(target_os = "macos", target_os = "ios", target_os = "android"))
    ))]
    {
        use winit::platform::wayland::ActiveEventLoopExtWayland;
        if event_loop.is_wayland() {
            return "Wayland";
        }
        "X11"
    }
    #[cfg(not(all(
        unix,
        not(any(target_os = "macos", target_os = "ios", target_os = "android"))
    )))]
    {
        let _ = event_loop;
        "native"
    }
}

/// The monitor for fullscreen: the one asked for, else the primary, else the first.
fn target_monitor(
    event_loop: &ActiveEventLoop,
    index: Option<usize>,
) -> Option<winit::monitor::MonitorHandle> {
    index
        .and_then(|i| event_loop.available_monitors().nth(i))
        .or_else(|| event_loop.primary_monitor())
        .or_else(|| event_loop.available_monitors().next())
}

fn fullscreen_mode(event_loop: &ActiveEventLoop, monitor: Option<usize>) -> Fullscreen {
    Fullscreen::Borderless(target_monitor(event_loop, monitor))
}

/// Fullscreen that fills the monitor with or without a window manager. The fullscreen
/// request is a hint a window manager carries out; a kiosk started with `xinit` has none, and
/// the window would stay at its first size in a corner. So the window is also placed and
/// sized to the monitor itself, as mpv does; a window manager that honours the request
/// does the same.
fn cover_monitor(window: &Window, event_loop: &ActiveEventLoop, monitor: Option<usize>) {
    window.set_fullscreen(Some(fullscreen_mode(event_loop, monitor)));
    if let Some(m) = target_monitor(event_loop, monitor) {
        window.set_outer_position(m.position());
        let _ = window.request_inner_size(m.size());
        tracing::debug!(size = ?m.size(), position = ?m.position(), "covering the monitor");
    }
}

impl Surface {
    /// Opens a 1280x720 window (or fullscreen, or kiosk) for `tiles` tiles: a non-sRGB
    /// format where offered, Mailbox or Immediate presentation unless `vsync`.
    fn open(
        event_loop: &ActiveEventLoop,
        instance: &wgpu::Instance,
        title: &str,
        opts: WindowOptions,
        tiles: usize,
    ) -> Result<Surface, ViewError> {
        let mut attrs = Window::default_attributes()
            .with_title(title)
            .with_inner_size(winit::dpi::PhysicalSize::new(1280, 720))
            .with_position(winit::dpi::PhysicalPosition::new(0, 0));
        if opts.fullscreen || opts.kiosk {
            attrs = attrs.with_fullscreen(Some(fullscreen_mode(event_loop, opts.monitor)));
            // The monitor's own geometry from the start (see `cover_monitor`).
            if let Some(m) = target_monitor(event_loop, opts.monitor) {
                attrs = attrs.with_inner_size(m.size()).with_position(m.position());
            }
        }
        if opts.kiosk {
            attrs = attrs.with_decorations(false);
        }
        let window = Arc::new(
            event_loop
                .create_window(attrs)
                .map_err(|e| ViewError::Window(e.to_string()))?,
        );
        if opts.fullscreen || opts.kiosk {
            cover_monitor(&window, event_loop, opts.monitor);
        }
        if opts.kiosk {
            window.set_cursor_visible(false);
        }
        let surface = instance
            .create_surface(window.clone())
            .map_err(|e| ViewError::Window(e.to_string()))?;
        let gpu = Gpu::new(instance, Some(&surface))?;
        let caps = surface.get_capabilities(&gpu.adapter);
        let format = caps
            .formats
            .iter()
            .copied()
            .find(|f| !f.is_srgb())
            .or_else(|| caps.formats.first().copied())
            .ok_or_else(|| ViewError::Window("the surface offers no format".into()))?;
        let present_mode = if opts.vsync {
            wgpu::PresentMode::Fifo
        } else {
            [wgpu::PresentMode::Mailbox, wgpu::PresentMode::Immediate]
                .into_iter()
                .find(|m| caps.present_modes.contains(m))
                .unwrap_or(wgpu::PresentMode::Fifo)
        };
        let size = window.inner_size();
        // The CPU colour path copies pictures into the surface's images.
        let usage =
            wgpu::TextureUsages::RENDER_ATTACHMENT | (caps.usages & wgpu::TextureUsages::COPY_DST);
        let config = wgpu::SurfaceConfiguration {
            usage,
            format,
            width: size.width.max(1),
            height: size.height.max(1),
            present_mode,
            desired_maximum_frame_latency: 1,
            alpha_mode: caps
                .alpha_modes
                .first()
                .copied()
                .unwrap_or(wgpu::CompositeAlphaMode::Auto),
            view_formats: vec![],
        };
        let mut renderer = Renderer::with_colour(&gpu, opts.colour);
        renderer.set_tile_count(&gpu, tiles);
        tracing::info!("colour conversion: {}", renderer.colour_path());
        let soft = match renderer.colour_path() {
            crate::render::ColourPath::Cpu => match soft_surface(&window) {
                Ok(s) => {
                    tracing::info!("presenting the window's own pixels (softbuffer)");
                    Some(s)
                }
                Err(e) => {
                    tracing::warn!("cannot present the window's own pixels ({e}); through the GPU's swapchain instead");
                    None
                }
            },
            crate::render::ColourPath::Gpu => None,
        };
        // The swapchain only when it is what presents (its images are whole screens).
        if soft.is_none() {
            surface.configure(&gpu.device, &config);
            tracing::info!(
                ?format,
                ?present_mode,
                "window surface configured on {}",
                gpu.description
            );
        }
        // Drawing more often than the display refreshes shows nothing more (several
        // cameras' frames arrive between two refreshes); 60 Hz when the monitor does not say.
        let refresh = window
            .current_monitor()
            .and_then(|m| m.refresh_rate_millihertz())
            .filter(|&mhz| mhz >= 1000)
            .map_or(Duration::from_micros(16_667), |mhz| {
                Duration::from_secs_f64(1000.0 / f64::from(mhz))
            });
        Ok(Surface {
            window,
            surface,
            config,
            gpu,
            renderer,
            soft,
            skipped: Default::default(),
            refresh,
        })
    }

    /// Follows a window resize; a minimised window reports 0x0 and keeps the old size.
    fn resize(&mut self, width: u32, height: u32) {
        if width > 0 && height > 0 {
            self.config.width = width;
            self.config.height = height;
            if self.soft.is_none() {
                self.surface.configure(&self.gpu.device, &self.config);
            }
            self.window.request_redraw();
        }
    }

    /// Draws the tiles (their last uploads) and the overlay into the next image and presents
    /// it. False when there was no image to draw into (the surface was reconfigured).
    pub(crate) fn draw(&mut self, views: &[TileView]) -> bool {
        if let Some(soft) = self.soft.as_mut() {
            let (w, h) = (self.config.width, self.config.height);
            return match draw_soft(soft, &mut self.renderer, &self.window, (w, h), views) {
                Ok(()) => true,
                Err(e) => {
                    if let Some(held) = self.skipped.allow() {
                        tracing::warn!(
                            "cannot present the window's pixels: {e} ({held} more not logged)"
                        );
                    }
                    false
                }
            };
        }
        let texture = match self.surface.get_current_texture() {
            Ok(t) => t,
            Err(wgpu::SurfaceError::Outdated | wgpu::SurfaceError::Lost) => {
                self.surface.configure(&self.gpu.device, &self.config);
                return false;
            }
            Err(e) => {
                if let Some(held) = self.skipped.allow() {
                    tracing::warn!("no image to draw into: {e} ({held} more not logged)");
                }
                return false;
            }
        };
        self.renderer.render(&self.gpu, &texture.texture, views);
        self.window.pre_present_notify();
        texture.present();
        // Lets wgpu reclaim what finished frames used (the uploads' staging buffers, the
        // overlay's vertex buffer) now rather than whenever it next gets round to it.
        let _ = self.gpu.device.poll(wgpu::Maintain::Poll);
        true
    }
}

type SoftSurface = softbuffer::Surface<Arc<Window>, Arc<Window>>;

fn soft_surface(window: &Arc<Window>) -> Result<SoftSurface, softbuffer::SoftBufferError> {
    let context = softbuffer::Context::new(window.clone())?;
    softbuffer::Surface::new(&context, window.clone())
}

/// Draws into the window's own pixels and presents what changed.
fn draw_soft(
    soft: &mut SoftSurface,
    renderer: &mut Renderer,
    window: &Window,
    (w, h): (u32, u32),
    views: &[TileView],
) -> Result<(), softbuffer::SoftBufferError> {
    let (Some(nw), Some(nh)) = (std::num::NonZeroU32::new(w), std::num::NonZeroU32::new(h)) else {
        return Ok(());
    };
    soft.resize(nw, nh)?;
    let mut buffer = soft.buffer_mut()?;
    // Age 1: the buffer holds what was presented last, so only changes need drawing.
    let kept = buffer.age() == 1;
    let damage = renderer.render_pixels(&mut buffer, (w, h), views, kept);
    window.pre_present_notify();
    let rects: Vec<softbuffer::Rect> = damage
        .iter()
        .filter_map(|r| {
            Some(softbuffer::Rect {
                x: r.x,
                y: r.y,
                width: std::num::NonZeroU32::new(r.w)?,
                height: std::num::NonZeroU32::new(r.h)?,
            })
        })
        .collect();
    if rects.is_empty() {
        // Nothing changed: nothing to send.
        return Ok(());
    }
    buffer.present_with_damage(&rects)
}

struct TileStats {
    upload_warnings: crate::throttle::Throttle,
    shown: u64,
    shown_window: (Instant, u64),
    fps: f64,
    latency_ms: f64,
}

struct App {
    config: ViewConfig,
    instance: wgpu::Instance,
    serials: Vec<String>,
    /// Pages, focus, watchdog.
    kiosk: Kiosk,
    /// What was last drawn (a change redraws).
    screen: Option<Screen>,
    /// Asks the session which cameras to stream, and restarts.
    control: mpsc::UnboundedSender<SessionControl>,
    /// The cameras last asked for.
    wanted: Vec<usize>,
    /// The cameras whose picture is frozen now, and for how long.
    frozen: HashMap<usize, Duration>,
    /// When the local time of day was last read (night hours).
    clock_checked: Instant,
    /// The sound output, when there is one.
    audio: Option<crate::audio::AudioOut>,
    slots: Vec<Arc<LatestFrame>>,
    statuses: Statuses,
    recordings: Recordings,
    /// The tile `r` acts on (keys 1-9 select).
    selected: usize,
    surface: Option<Surface>,
    overlay: bool,
    stats: Vec<TileStats>,
    error: Option<ViewError>,
    started: Instant,
    last_redraw: Instant,
    /// A new picture came less than a refresh after the last draw: drawn then.
    redraw_due: Option<Instant>,
    stop: watch::Sender<bool>,
    /// Where the window was before `f` made it fullscreen.
    windowed: Option<(
        winit::dpi::PhysicalPosition<i32>,
        winit::dpi::PhysicalSize<u32>,
    )>,
}

/// Opens the window and runs until it is closed (or `duration` passes).
pub fn run(config: ViewConfig) -> Result<(), ViewError> {
    require_display()?;
    let event_loop = EventLoop::<Wake>::with_user_event()
        .build()
        .map_err(|e| ViewError::NoDisplay(e.to_string()))?;
    let proxy = event_loop.create_proxy();
    let mut config = config;
    let source_labels: Vec<String> = config.sources.iter().map(|s| s.label.clone()).collect();
    config.session.serials = config
        .wall
        .serials()
        .into_iter()
        .filter(|s| !source_labels.contains(s))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("eufy-io")
        .enable_all()
        .build()
        .map_err(ViewError::Runtime)?;
    let serials = config.wall.serials();
    let slots: Vec<Arc<LatestFrame>> = serials
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let p = proxy.clone();
            LatestFrame::new(move || {
                let _ = p.send_event(Wake::Frame(i));
            })
        })
        .collect();
    let by_serial: HashMap<String, Arc<LatestFrame>> =
        serials.iter().cloned().zip(slots.iter().cloned()).collect();
    let feed = Feed::new(
        &serials,
        config.decoder.clone(),
        move |serial| match by_serial.get(serial) {
            Some(slot) => FrameSink::Latest(slot.clone()),
            None => FrameSink::Latest(LatestFrame::new(|| {})),
        },
    );
    let statuses = feed.statuses.clone();
    let recordings = feed.recordings.clone();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (control, control_rx) = mpsc::unbounded_channel();
    let audio = config
        .audio
        .and_then(|volume| match crate::audio::AudioOut::open(volume) {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::warn!("no sound: {e}");
                None
            }
        });
    let now = Instant::now();
    let mut kiosk = Kiosk::new(&config.wall, now);
    kiosk.set_time_of_day(local_minute());
    let wanted = kiosk.wanted();
    // Before the session starts: hidden cameras are never started.
    let _ = control.send(SessionControl::Want(
        wanted.iter().map(|&i| serials[i].clone()).collect(),
    ));
    let feed_task = runtime.spawn(run_feed(
        config.session.clone(),
        config.sources.clone(),
        feed,
        stop_rx,
        control_rx,
        audio.as_ref().map(|a| a.feed()),
        proxy,
    ));
    if config.wall.keep_awake && (config.window.kiosk || config.window.fullscreen) {
        keep_screen_awake();
    }
    let mut app = App {
        overlay: config.stats || config.wall.stats,
        kiosk,
        screen: None,
        control,
        wanted,
        frozen: HashMap::new(),
        clock_checked: now,
        audio,
        stats: serials
            .iter()
            .map(|_| TileStats {
                upload_warnings: Default::default(),
                shown: 0,
                shown_window: (Instant::now(), 0),
                fps: 0.0,
                latency_ms: f64::NAN,
            })
            .collect(),
        config,
        instance: instance(),
        serials,
        slots,
        statuses,
        recordings,
        selected: 0,
        surface: None,
        error: None,
        started: Instant::now(),
        last_redraw: Instant::now(),
        redraw_due: None,
        stop: stop_tx,
        windowed: None,
    };
    let run = event_loop.run_app(&mut app);
    let shown: u64 = app.stats.iter().map(|s| s.shown).sum();
    let frozen = app.kiosk.watchdog().total_fires();
    tracing::info!("{shown} frames shown; {frozen} frozen picture(s) restarted");
    if let Some(a) = &app.audio {
        let r = a.report();
        let b = &r.buffer;
        tracing::info!(
            "audio: {} frames in, {} played, {} dropped, {} underruns, {} chunks dropped, {} decode errors, {} of other codecs",
            b.frames_in,
            b.frames_played,
            b.frames_dropped,
            b.underruns,
            r.dropped_chunks,
            r.decode_errors,
            r.unsupported
        );
    }
    let _ = app.stop.send(true);
    // Let the session stop its streams and close cleanly, but do not hang on it.
    let ended =
        runtime.block_on(async { tokio::time::timeout(Duration::from_secs(3), feed_task).await });
    runtime.shutdown_timeout(Duration::from_secs(1));
    if let Some(e) = app.error.take() {
        return Err(e);
    }
    run.map_err(|e| ViewError::Window(e.to_string()))?;
    match ended {
        Ok(Ok(Err(e))) => Err(e.into()),
        _ => Ok(()),
    }
}

/// Minutes after local midnight (the wall's night hours; `TZ` is honoured).
fn local_minute() -> u32 {
    use chrono::Timelike;
    let t = chrono::Local::now();
    t.hour() * 60 + t.minute()
}

/// Keeps the X screen from blanking while the wall runs: the screensaver and DPMS off with
/// `xset` (x11-xserver-utils), as kiosk set-ups do. Best effort: without X or `xset` it says
/// so in the log; on Wayland the compositor decides (see the README's kiosk section).
fn keep_screen_awake() {
    if std::env::var_os("DISPLAY").is_none() {
        return;
    }
    let run = |args: &[&str]| {
        std::process::Command::new("xset")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
    };
    match run(&["s", "off", "s", "noblank"]) {
        Ok(s) if s.success() => {
            // Servers without the DPMS extension (Xvfb) refuse this part: nothing to do there.
            let _ = run(&["-dpms"]);
            tracing::info!("screen blanking off (xset s off -dpms)");
        }
        Ok(s) => tracing::warn!("xset could not turn screen blanking off ({s})"),
        Err(e) => tracing::warn!(
            "cannot run xset to keep the screen on ({e}); install x11-xserver-utils, or run `xset s off -dpms` in the X session"
        ),
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_feed(
    session: SessionConfig,
    sources: Vec<crate::source::RtspSource>,
    mut feed: Feed,
    stop: watch::Receiver<bool>,
    control: crate::eufy::session::ControlReceiver,
    audio: Option<crate::audio::AudioFeed>,
    proxy: EventLoopProxy<Wake>,
) -> Result<(), PipelineError> {
    let (tx, mut rx) = mpsc::channel(256);
    // RTSP sources on their own threads, stopped with the session.
    let stop_sources = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for s in sources {
        if let Err(e) = crate::source::spawn(s, tx.clone(), stop_sources.clone()) {
            tracing::error!("cannot start an RTSP reader: {e}");
        }
    }
    {
        let flag = stop_sources.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            while !*stop.borrow_and_update() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }
    // No eufy-security-ws camera (only RTSP sources): no session.
    let task = if session.serials.is_empty() {
        drop(tx);
        tokio::spawn(async { Ok(()) })
    } else {
        tokio::spawn(run_session_with(session, tx, stop, control))
    };
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => {
                    let status_change = !matches!(ev, SessionEvent::Video { .. });
                    if let (Some(a), SessionEvent::Audio { serial, codec, data, received_at }) = (&audio, &ev) {
                        a.push(serial, codec, data, *received_at);
                    }
                    if let SessionEvent::Detection { serial, kind, state, .. } = &ev {
                        let _ = proxy.send_event(Wake::Detection {
                            serial: serial.clone(),
                            kind: *kind,
                            state: *state,
                        });
                    }
                    feed.on_event(ev);
                    if status_change {
                        let _ = proxy.send_event(Wake::Status);
                    }
                }
                None => break,
            },
            _ = tick.tick() => {
                if let Err(e) = feed.check() {
                    task.abort();
                    let _ = proxy.send_event(Wake::Failed(format!("{e}: {}", std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_default())));
                    return Err(e);
                }
            }
        }
    }
    let session_result = task.await.unwrap_or(Ok(()));
    let finished = tokio::task::spawn_blocking(move || feed.finish()).await;
    if let Err(e) = session_result {
        let _ = proxy.send_event(Wake::Failed(e.to_string()));
        return Err(e.into());
    }
    match finished {
        Ok(r) => r.map(|_| ()),
        Err(_) => Ok(()),
    }
}

impl App {
    fn create_surface(&mut self, event_loop: &ActiveEventLoop) -> Result<Surface, ViewError> {
        let title = format!("eufy-hw — {}", self.serials.join(", "));
        Surface::open(
            event_loop,
            &self.instance,
            &title,
            self.config.window,
            self.serials.len(),
        )
    }

    /// The tiles of `screen`: each camera's state card or picture, its overlay lines.
    fn tile_views(&self, screen: &Screen) -> Vec<TileView> {
        let statuses = self
            .statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let recording: Vec<String> = self
            .recordings
            .lock()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default();
        let now = Instant::now();
        screen
            .cameras
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                let serial = &self.serials[i];
                let s = statuses.get(serial).cloned().unwrap_or_default();
                let state = match (s.phase.describe(now), self.frozen.get(&i)) {
                    (None, Some(age)) => TileState::Waiting(format!(
                        "no picture for {:.0} s: restarting",
                        age.as_secs_f64()
                    )),
                    (None, None) => TileState::Live,
                    (Some(text), _) => TileState::Waiting(text),
                };
                let mut lines = Vec::new();
                if recording.contains(serial) {
                    lines.push("REC".to_owned());
                }
                if self.overlay {
                    if k == 0 && !screen.caption.is_empty() {
                        lines.push(screen.caption.clone());
                    }
                    self.overlay_lines(i, &s, now, &mut lines);
                }
                let title = match &self.config.wall.cameras[i].name {
                    Some(name) => name.clone(),
                    None => s.label(serial).to_owned(),
                };
                TileView {
                    slot: i,
                    highlight: screen.highlight == Some(i),
                    title,
                    state,
                    lines,
                }
            })
            .collect()
    }

    /// The stats overlay of camera `i`.
    fn overlay_lines(
        &self,
        i: usize,
        s: &crate::pipeline::CameraStatus,
        now: Instant,
        lines: &mut Vec<String>,
    ) {
        let serial = &self.serials[i];
        let st = &self.stats[i];
        let name = self.config.wall.cameras[i]
            .name
            .as_ref()
            .or(s.name.as_ref());
        let mut title = match name {
            Some(name) => format!("{name} ({serial})"),
            None => serial.clone(),
        };
        if let Some(station) = s.station.as_ref().filter(|st| *st != serial) {
            title.push_str(&format!(" via {station}"));
        }
        lines.push(title);
        if let Some(info) = s.info {
            lines.push(format!(
                "{} {} {}x{}",
                info.codec,
                info.profile_name(),
                info.width,
                info.height
            ));
        }
        lines.push(format!(
            "{:.1} fps  latency {:.1} ms",
            st.fps, st.latency_ms
        ));
        let d = &s.decoder;
        lines.push(format!("decoder: {}", d.path));
        if let Some(surface) = &self.surface {
            lines.push(format!("colour: {}", surface.renderer.colour_path()));
        }
        lines.push(format!(
            "dropped: {} display, {} decoder, {} errors",
            self.slots[i].replaced(),
            d.dropped_behind + d.dropped_before_keyframe,
            d.errors
        ));
        if s.gaps.count > 0 {
            lines.push(format!(
                "gaps: {}, last {:.1} s, longest {:.1} s",
                s.gaps.count, s.gaps.last_secs, s.gaps.longest_secs
            ));
        }
        if let Some(a) = &self.audio {
            let r = a.report();
            if r.source.as_deref() == Some(serial.as_str()) {
                let b = &r.buffer;
                lines.push(format!(
                    "sound: {}, delay {:.0} ms, {} underruns, {} dropped",
                    if r.muted { "muted (m)" } else { "on" },
                    r.delay.as_secs_f64() * 1e3,
                    b.underruns,
                    b.frames_dropped
                ));
            }
        }
        let frozen = self.kiosk.watchdog().fires(i);
        if frozen > 0 {
            lines.push(format!("frozen: {frozen} time(s), restarted"));
        }
        // The wall's last events, newest first (any camera: what brought whom forward).
        for e in self.kiosk.recent().collect::<Vec<_>>().iter().rev().take(3) {
            let ago = now.saturating_duration_since(e.at).as_secs();
            let what = if e.state { "" } else { " ended" };
            lines.push(format!(
                "event: {}{what} at {} {ago} s ago",
                e.kind.word(),
                self.config.wall.label(e.camera)
            ));
        }
    }

    fn redraw(&mut self) {
        self.last_redraw = Instant::now();
        self.redraw_due = None;
        let screen = self.kiosk.screen();
        let views = self.tile_views(&screen);
        let Some(s) = self.surface.as_mut() else {
            return;
        };
        s.renderer.set_layout(screen.layout);
        s.renderer.set_shade(screen.shade);
        let mut arrivals = Vec::new();
        // Only what is on screen is uploaded; a hidden camera's newest frame waits in its
        // mailbox for its page.
        for &i in &screen.cameras {
            if let Some(frame) = self.slots[i].take() {
                match s.renderer.upload(&s.gpu, i, &frame) {
                    Ok(()) => arrivals.push((i, frame.received_at)),
                    Err(e) => {
                        if let Some(held) = self.stats[i].upload_warnings.allow() {
                            tracing::warn!(camera = %self.serials[i], "{e} ({held} more not logged)");
                        }
                    }
                }
            }
        }
        self.screen = Some(screen);
        if !s.draw(&views) {
            return;
        }
        let now = Instant::now();
        for (i, received) in arrivals {
            self.kiosk.watchdog_mut().on_picture(i, now);
            self.frozen.remove(&i);
            let st = &mut self.stats[i];
            st.shown += 1;
            st.latency_ms = now.duration_since(received).as_secs_f64() * 1e3;
            let (since, count) = st.shown_window;
            let secs = now.duration_since(since).as_secs_f64();
            if secs >= 1.0 {
                st.fps = (st.shown - count) as f64 / secs;
                st.shown_window = (now, st.shown);
            }
        }
    }

    /// The wall's clock: pages, focus, which cameras stream, the watchdog. True when the
    /// screen needs drawing again.
    fn tend(&mut self, now: Instant) -> bool {
        // The local time (a zone lookup) only matters with night hours, and once a second.
        if self.kiosk.has_night() && now >= self.clock_checked + Duration::from_secs(1) {
            self.kiosk.set_time_of_day(local_minute());
            self.clock_checked = now;
        }
        self.kiosk.poll(now);
        let screen = self.kiosk.screen();
        let wanted = self.kiosk.wanted_on(&screen);
        if wanted != self.wanted {
            let serials: Vec<String> = wanted.iter().map(|&i| self.serials[i].clone()).collect();
            tracing::debug!(?serials, "streaming");
            let _ = self.control.send(SessionControl::Want(serials));
            self.wanted = wanted;
        }
        let live: Vec<bool> = {
            let statuses = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
            (0..self.serials.len())
                .map(|i| {
                    screen.cameras.contains(&i)
                        && statuses
                            .get(&self.serials[i])
                            .is_some_and(|s| s.phase == crate::pipeline::Phase::Live)
                })
                .collect()
        };
        self.tend_audio(&screen);
        let mut changed = self.screen.as_ref() != Some(&screen);
        for (i, &live) in live.iter().enumerate() {
            let verdict = self.kiosk.watchdog_mut().check(i, live, now);
            let was = self.frozen.contains_key(&i);
            match verdict {
                Verdict::Fine => {
                    self.frozen.remove(&i);
                }
                Verdict::Frozen(age) => {
                    self.frozen.insert(i, age);
                }
                Verdict::Restart(age) => {
                    let reason = format!("no picture for {:.0} s", age.as_secs_f64());
                    tracing::warn!(camera = %self.serials[i], "{reason}: restarting its stream");
                    let _ = self.control.send(SessionControl::Restart {
                        serial: self.serials[i].clone(),
                        reason,
                    });
                    self.frozen.insert(i, age);
                }
            }
            changed |= was != self.frozen.contains_key(&i);
        }
        changed
    }

    fn snapshot(&mut self) {
        let screen = self.kiosk.screen();
        let views = self.tile_views(&screen);
        let Some(s) = self.surface.as_mut() else {
            return;
        };
        s.renderer.set_layout(screen.layout);
        s.renderer.set_shade(screen.shade);
        let (w, h) = (s.config.width, s.config.height);
        let target = Offscreen::new(&s.gpu, w, h);
        s.renderer.render(&s.gpu, &target.texture, &views);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let path = self
            .config
            .snapshot_dir
            .join(format!("eufy-hw-{stamp}.png"));
        // Written under another name and renamed: a program watching the folder never sees
        // half a file.
        let partial = path.with_extension("png.part");
        match target.read(&s.gpu).map(|px| {
            crate::render::save_png(&partial, w, h, &px)
                .and_then(|()| std::fs::rename(&partial, &path))
        }) {
            Ok(Ok(())) => tracing::info!("snapshot saved to {}", path.display()),
            Ok(Err(e)) => tracing::warn!("cannot save {}: {e}", path.display()),
            Err(e) => tracing::warn!("snapshot failed: {e}"),
        }
    }

    fn on_key(&mut self, event_loop: &ActiveEventLoop, key: &Key) {
        match key {
            Key::Character(c) if c == "i" => {
                self.overlay = !self.overlay;
                self.request_redraw();
            }
            Key::Character(c) if c == "s" => self.snapshot(),
            Key::Character(c) if c == "r" => {
                if let Some(serial) = self.serials.get(self.selected) {
                    match toggle_recording(
                        &self.recordings,
                        &self.statuses,
                        serial,
                        &self.config.snapshot_dir,
                    ) {
                        Ok((path, true)) => tracing::info!(
                            "recording {serial} to {} (from the next keyframe)",
                            path.display()
                        ),
                        Ok((path, false)) => {
                            tracing::info!("recording of {serial} saved to {}", path.display())
                        }
                        Err(e) => tracing::warn!("cannot record {serial}: {e}"),
                    }
                    self.request_redraw();
                }
            }
            // The tiles on screen, in order.
            Key::Character(c) if c.len() == 1 && ("1"..="9").contains(&c.as_str()) => {
                let k = c.as_bytes()[0] as usize - b'1' as usize;
                if let Some(&i) = self.kiosk.screen().cameras.get(k) {
                    self.selected = i;
                    self.tend(Instant::now());
                }
            }
            Key::Character(c) if c == "f" && !self.config.window.kiosk => {
                if let Some(s) = &self.surface {
                    match (s.window.fullscreen(), self.windowed.take()) {
                        (Some(_), back) => {
                            s.window.set_fullscreen(None);
                            // Back where it was (a window manager would do it; none may run).
                            if let Some((position, size)) = back {
                                s.window.set_outer_position(position);
                                let _ = s.window.request_inner_size(size);
                            }
                        }
                        (None, _) => {
                            self.windowed = s
                                .window
                                .outer_position()
                                .ok()
                                .map(|p| (p, s.window.inner_size()));
                            cover_monitor(&s.window, event_loop, self.config.window.monitor);
                        }
                    }
                }
            }
            Key::Character(c) if c == "m" => {
                if let Some(a) = &self.audio {
                    a.set_muted(!a.muted());
                    tracing::info!("sound {}", if a.muted() { "muted" } else { "on" });
                    self.request_redraw();
                }
            }
            Key::Character(c) if c == "n" => self.turn_page(true),
            Key::Character(c) if c == "p" => self.turn_page(false),
            Key::Named(NamedKey::ArrowRight) => self.turn_page(true),
            Key::Named(NamedKey::ArrowLeft) => self.turn_page(false),
            Key::Character(c) if c == "q" && !self.config.window.kiosk => event_loop.exit(),
            Key::Named(NamedKey::Escape) if !self.config.window.kiosk => event_loop.exit(),
            _ => {}
        }
    }

    /// Whose sound plays: the focused camera's when its wall entry allows, else the selected
    /// tile's (the first tile's when the selected one is not on screen); none at a blank
    /// night. The delay follows that tile's picture latency, plus a margin for jitter.
    fn tend_audio(&self, screen: &Screen) {
        let Some(audio) = &self.audio else { return };
        let allowed = |i: usize| self.config.wall.cameras[i].audio;
        let source = match self
            .kiosk
            .focused()
            .filter(|&f| screen.cameras.contains(&f))
        {
            Some(f) => Some(f).filter(|&f| allowed(f)),
            None => screen
                .cameras
                .iter()
                .copied()
                .find(|&c| c == self.selected)
                .or_else(|| screen.cameras.first().copied())
                .filter(|&c| allowed(c)),
        };
        audio.set_source(source.map(|i| self.serials[i].as_str()));
        if let Some(i) = source {
            let latency = self.stats[i].latency_ms;
            if latency.is_finite() {
                audio.set_delay(crate::audio::delay_for_picture(latency));
            }
        }
    }

    fn turn_page(&mut self, forward: bool) {
        self.kiosk.turn_page(forward, Instant::now());
        self.tend(Instant::now());
        self.request_redraw();
    }

    fn request_redraw(&self) {
        if let Some(s) = &self.surface {
            s.window.request_redraw();
        }
    }
}

impl ApplicationHandler<Wake> for App {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.surface.is_some() {
            return;
        }
        tracing::info!("display server: {}", display_server(event_loop));
        match self.create_surface(event_loop) {
            Ok(s) => self.surface = Some(s),
            Err(e) => {
                self.error = Some(e);
                event_loop.exit();
            }
        }
    }

    fn user_event(&mut self, event_loop: &ActiveEventLoop, event: Wake) {
        match event {
            // A hidden (always-on) camera's frame waits in its mailbox: no redraw for it.
            Wake::Frame(i) => {
                if self.screen.as_ref().is_none_or(|s| s.cameras.contains(&i)) {
                    self.redraw_for_picture();
                }
            }
            Wake::Status => self.request_redraw(),
            Wake::Detection {
                serial,
                kind,
                state,
            } => {
                if let Some(i) = self.serials.iter().position(|s| *s == serial) {
                    tracing::info!(camera = %serial, "{}{}", kind.word(), if state { "" } else { " ended" });
                    let now = Instant::now();
                    self.kiosk.on_detection(i, kind, state, now);
                    self.tend(now);
                    self.request_redraw();
                }
            }
            Wake::Failed(why) => {
                tracing::error!("{why}");
                if !self.config.window.kiosk {
                    event_loop.exit();
                }
            }
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        match event {
            WindowEvent::CloseRequested => event_loop.exit(),
            WindowEvent::Resized(size) => {
                if let Some(s) = self.surface.as_mut() {
                    s.resize(size.width, size.height);
                }
            }
            WindowEvent::ScaleFactorChanged { .. } => self.request_redraw(),
            WindowEvent::RedrawRequested => self.redraw(),
            WindowEvent::KeyboardInput {
                event:
                    KeyEvent {
                        logical_key,
                        state: ElementState::Pressed,
                        repeat: false,
                        ..
                    },
                ..
            } => self.on_key(event_loop, &logical_key),
            _ => {}
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        if let Some(d) = self.config.duration {
            if self.started.elapsed() >= d {
                event_loop.exit();
                return;
            }
        }
        // Frames and status changes wake us; the overlay's numbers, the countdowns on cards
        // ("next in 6 s"), the wall's pages and watchdog, and the duration need a slow tick
        // besides.
        let now = Instant::now();
        if self.tend(now) {
            self.request_redraw();
        }
        let mut tick = now + Duration::from_millis(500);
        if let Some(t) = self.kiosk.next_wake() {
            tick = tick.min(t.max(now + Duration::from_millis(10)));
        }
        if let Some(due) = self.redraw_due {
            if due <= now {
                self.redraw_due = None;
                self.request_redraw();
            } else {
                tick = tick.min(due);
            }
        }
        let waiting = || {
            self.statuses
                .lock()
                .map(|all| {
                    all.values()
                        .any(|s| s.phase != crate::pipeline::Phase::Live)
                })
                .unwrap_or(false)
        };
        if self.overlay || waiting() {
            self.request_redraw_if_idle();
        }
        event_loop.set_control_flow(ControlFlow::WaitUntil(tick));
    }
}

impl App {
    /// A new picture is drawn at the next refresh: now, or one refresh after the last draw.
    fn redraw_for_picture(&mut self) {
        let refresh = self.surface.as_ref().map_or(Duration::ZERO, |s| s.refresh);
        let next = self.last_redraw + refresh;
        if Instant::now() >= next {
            self.request_redraw();
        } else if self.redraw_due.is_none() {
            self.redraw_due = Some(next);
        }
    }

    fn request_redraw_if_idle(&self) {
        if self.last_redraw.elapsed() >= Duration::from_millis(500) {
            self.request_redraw();
        }
    }
}

/// A window driven from the thread that renders into it (`eufy-hw bench --window`): the
/// event loop is pumped between frames instead of owning the thread.
pub(crate) struct PumpedWindow {
    event_loop: EventLoop<()>,
    handler: PumpedHandler,
}

struct PumpedHandler {
    instance: wgpu::Instance,
    tiles: usize,
    colour: crate::render::ColourChoice,
    surface: Option<Surface>,
    error: Option<ViewError>,
    closed: bool,
}

impl ApplicationHandler for PumpedHandler {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.surface.is_some() || self.error.is_some() {
            return;
        }
        let opts = WindowOptions {
            colour: self.colour,
            ..WindowOptions::default()
        };
        match Surface::open(
            event_loop,
            &self.instance,
            "eufy-hw bench",
            opts,
            self.tiles,
        ) {
            Ok(s) => self.surface = Some(s),
            Err(e) => self.error = Some(e),
        }
    }

    fn window_event(&mut self, _: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        match event {
            WindowEvent::CloseRequested => self.closed = true,
            WindowEvent::Resized(size) => {
                if let Some(s) = self.surface.as_mut() {
                    s.resize(size.width, size.height);
                }
            }
            _ => {}
        }
    }
}

impl PumpedWindow {
    /// Opens the window from this thread (any thread on Linux and Windows).
    pub(crate) fn open(
        tiles: usize,
        colour: crate::render::ColourChoice,
    ) -> Result<PumpedWindow, ViewError> {
        require_display()?;
        if cfg!(target_os = "macos") {
            // winit panics there when an event loop is made off the main thread.
            return Err(ViewError::Window(
                "a window driven from the render thread is not possible on macOS".into(),
            ));
        }
        #[allow(unused_mut)]
        let mut builder = EventLoop::builder();
        #[cfg(all(
            unix,
            not(any(target_os = "macos", target_os = "ios", target_os = "android"))
        ))]
        {
            use winit::platform::x11::EventLoopBuilderExtX11;
            builder.with_any_thread(true);
        }
        #[cfg(windows)]
        {
            use winit::platform::windows::EventLoopBuilderExtWindows;
            builder.with_any_thread(true);
        }
        let event_loop = builder
            .build()
            .map_err(|e| ViewError::NoDisplay(e.to_string()))?;
        let mut w = PumpedWindow {
            event_loop,
            handler: PumpedHandler {
                instance: instance(),
                tiles,
                colour,
                surface: None,
                error: None,
                closed: false,
            },
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while w.handler.surface.is_none() {
            w.pump(Duration::from_millis(10));
            if let Some(e) = w.handler.error.take() {
                return Err(e);
            }
            if Instant::now() > deadline {
                return Err(ViewError::Window("the window did not open in 10 s".into()));
            }
        }
        Ok(w)
    }

    /// Handles pending window events for up to `timeout`; false once the window was closed.
    pub(crate) fn pump(&mut self, timeout: Duration) -> bool {
        use winit::platform::pump_events::{EventLoopExtPumpEvents, PumpStatus};
        let status = self
            .event_loop
            .pump_app_events(Some(timeout), &mut self.handler);
        !self.handler.closed && matches!(status, PumpStatus::Continue)
    }

    /// The window's surface (there once [`PumpedWindow::open`] returned).
    pub(crate) fn surface(&mut self) -> Option<&mut Surface> {
        self.handler.surface.as_mut()
    }
}
