//! The window: winit application showing one camera or a grid, windowed, fullscreen or as a
//! kiosk, with a stats overlay.
//!
//! Threads: winit owns the main thread and the GPU; a tokio runtime runs the pipeline's
//! driver ([`drive::run`]) with the [`Feed`] as its sink; each camera decodes on its own
//! thread into a one-frame mailbox ([`LatestFrame`]) whose arrival wakes the event loop
//! through an `EventLoopProxy`. Nothing renders when nothing changed; a slow screen drops
//! frames instead of building latency.
//!
//! What is on screen is the [`Kiosk`]'s: the wall's current page in its layout, or the camera
//! an event brought forward; the session streams only the cameras on screen (and those
//! `always_on`), told through [`SessionControl::Want`]; a tile whose picture froze is
//! restarted through [`SessionControl::Restart`].
//!
//! [`SessionControl::Want`]: crate::eufy::session::SessionControl::Want
//! [`SessionControl::Restart`]: crate::eufy::session::SessionControl::Restart
//!
//! Sound ([`crate::audio`]) is the focused camera's when its wall entry allows it, else the
//! selected tile's; its delay follows that tile's picture latency.
//!
//! A wall whose pages name monitors opens a window per monitor ([`display`]), each covering
//! its monitor and turning its own pages; frames decoded once are drawn in every window
//! that shows their camera.
//!
//! - [`app`]: the event loop's application: the wall's clock, drawing, sound;
//! - [`display`]: a window, its monitor's pages and what its tiles show;
//! - [`tiles`]: what each tile shows, and the overlay;
//! - [`pointer`]: touch and mouse: a tap on a tile fills the screen with it (another tap
//!   returns), a swipe or the wheel turns the page; the kiosk's cursor shows only while the
//!   mouse moves;
//! - [`pictures`]: each camera's latest picture (kept on disk, or the server's) on its tile
//!   until its stream's first frame;
//! - [`power`]: the monitor powered down while the wall shows nothing (X11 DPMS), and kept
//!   from blanking by itself in a kiosk;
//! - [`keys`]: `f` fullscreen, `i` overlay, `s` PNG snapshot, `r` start/stop a raw recording
//!   of the selected tile (`1`-`9` select, also whose sound plays), `m` mute, `n`/`p` (or
//!   →/←) next/previous page, `q`/Esc quit (not in kiosk mode).
//!
//! The window itself (surface, presenting) is [`crate::render::window`]'s.

mod app;
mod camera;
mod controls;
mod display;
mod home;
mod keys;
mod pictures;
mod pointer;
mod power;
mod talk;
mod tiles;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use winit::event_loop::{EventLoop, EventLoopProxy};

use crate::decode::{DecoderConfig, FrameSink, LatestFrame};
use crate::eufy::protocol::DetectionKind;
use crate::eufy::session::{SessionConfig, SessionEvent};
use crate::pipeline::drive::{self, Flow, Inputs, Sink};
use crate::pipeline::{Feed, PipelineError};
use crate::render::window::require_display;
use crate::render::RenderError;
use crate::shutdown::Shutdown;
use crate::wall::Wall;
use app::App;

pub use crate::render::window::{display_available, WindowOptions};

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
    /// Close this long after the windows open (tests, demos).
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
    /// No display, no window, GPU problems.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The event loop failed.
    #[error("the window's event loop failed: {0}")]
    EventLoop(String),
    /// The pipeline failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The runtime could not start.
    #[error("cannot start the I/O runtime: {0}")]
    Runtime(std::io::Error),
}

/// What wakes the event loop besides the window's own events.
#[derive(Debug)]
enum Wake {
    /// A new frame of camera (slot) `usize`.
    Frame(usize),
    /// A camera's status changed (phase, name, a drop).
    Status,
    /// A detection event.
    Detection {
        serial: String,
        kind: DetectionKind,
        state: bool,
    },
    /// Home Assistant asked something of the wall.
    Command(crate::mqtt::ha::Command),
    /// A picture of camera (slot) `usize` came (its `picture` property).
    Picture(usize),
    /// The pipeline failed for good: why.
    Failed(String),
    /// Ctrl-C or SIGTERM (systemd stopping the kiosk): stop as `q` does, also in a kiosk.
    Signal(&'static str),
}

/// Opens the window and runs until it is closed (or `duration` passes).
pub fn run(config: ViewConfig) -> Result<(), ViewError> {
    require_display()?;
    let event_loop = EventLoop::<Wake>::with_user_event()
        .build()
        .map_err(|e| RenderError::NoDisplay(e.to_string()))?;
    let proxy = event_loop.create_proxy();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("eufy-io")
        .enable_all()
        .build()
        .map_err(ViewError::Runtime)?;
    let (stop, shutdown) = crate::shutdown::channel();
    let (control, control_rx) = mpsc::unbounded_channel();
    let pictures: Vec<Arc<pictures::PictureBox>> = (0..config.wall.cameras.len())
        .map(|_| Arc::default())
        .collect();
    let sink_pictures = config
        .wall
        .serials()
        .into_iter()
        .zip(pictures.iter().cloned())
        .enumerate()
        .map(|(i, (serial, b))| (serial, (i, b)))
        .collect();
    let (app, inputs, feed) = App::new(config, &proxy, control, stop, pictures);
    let inputs = Inputs {
        control: Some(control_rx),
        ..inputs
    };
    let mut app = app;
    let home_task = start_home(&mut app, &runtime, &proxy);
    let sink = ViewSink {
        feed,
        proxy: proxy.clone(),
        pictures: sink_pictures,
    };
    // A signal ends the event loop like `q`, so that the streams are stopped, recordings
    // flushed and the kept pictures saved (the default action would kill the process).
    let signals = {
        let proxy = proxy.clone();
        runtime.spawn(async move {
            let name = crate::shutdown::signalled().await;
            let _ = proxy.send_event(Wake::Signal(name));
        })
    };
    let feed_task = runtime.spawn(run_feed(inputs, sink, shutdown, proxy));
    let run = event_loop.run_app(&mut app);
    signals.abort();
    app.log_totals();
    app.keep_stills();
    app.stop.trigger();
    // Let the session stop its streams and close cleanly, but do not hang on it.
    let ended = runtime.block_on(async {
        if let Some(t) = home_task {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
        tokio::time::timeout(Duration::from_secs(3), feed_task).await
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    if let Some(e) = app.error.take() {
        return Err(e);
    }
    run.map_err(|e| ViewError::EventLoop(e.to_string()))?;
    match ended {
        Ok(Ok(Err(e))) => Err(e.into()),
        _ => Ok(()),
    }
}

/// Home Assistant's client, when the wall has `[mqtt]`: commands wake the event loop.
fn start_home(
    app: &mut App,
    runtime: &tokio::runtime::Runtime,
    proxy: &EventLoopProxy<Wake>,
) -> Option<tokio::task::JoinHandle<()>> {
    let config = app.config.wall.mqtt.clone()?;
    let image_every = config.image_every;
    let proxy = proxy.clone();
    let _inside = runtime.enter();
    let (link, task) = crate::mqtt::spawn(
        config,
        app.config.wall.clone(),
        move |c| {
            let _ = proxy.send_event(Wake::Command(c));
        },
        app.stop.subscribe(),
    );
    app.home = Some(home::Home {
        link,
        image_every,
        image_at: None,
        state_at: None,
    });
    Some(task)
}

/// The frame mailboxes of the wall's cameras, each waking the event loop, and a feed that
/// decodes into them.
fn feed_into_mailboxes(
    serials: &[String],
    decoder: DecoderConfig,
    proxy: &EventLoopProxy<Wake>,
) -> (Feed, Vec<Arc<LatestFrame>>) {
    let slots: Vec<Arc<LatestFrame>> = (0..serials.len())
        .map(|i| {
            let p = proxy.clone();
            LatestFrame::new(move || {
                let _ = p.send_event(Wake::Frame(i));
            })
        })
        .collect();
    let by_serial: HashMap<String, Arc<LatestFrame>> =
        serials.iter().cloned().zip(slots.iter().cloned()).collect();
    let feed = Feed::new(serials, decoder, move |serial| {
        match by_serial.get(serial) {
            Some(slot) => FrameSink::Latest(slot.clone()),
            None => FrameSink::Latest(LatestFrame::new(|| {})),
        }
    });
    (feed, slots)
}

/// The inputs of a wall: the session for its eufy-security-ws cameras (none when every
/// camera is an RTSP source), and the RTSP sources.
fn wall_inputs(
    session: &SessionConfig,
    wall: &Wall,
    sources: &[crate::source::RtspSource],
) -> Inputs {
    let labels: Vec<&str> = sources.iter().map(|s| s.label.as_str()).collect();
    let serials: Vec<String> = wall
        .serials()
        .into_iter()
        .filter(|s| !labels.contains(&s.as_str()))
        .collect();
    Inputs {
        session: Some(SessionConfig {
            serials,
            ..session.clone()
        }),
        control: None,
        rtsp: sources.to_vec(),
        queue: 256,
    }
}

/// The feed as the driver's sink: every event to the feed, the event loop woken for what
/// changes the screen; the cameras' pictures decoded into their boxes.
struct ViewSink {
    feed: Feed,
    proxy: EventLoopProxy<Wake>,
    /// Each camera's picture box and slot, by serial.
    pictures: HashMap<String, (usize, Arc<pictures::PictureBox>)>,
}

impl ViewSink {
    /// A camera's picture (JPEG) decoded into its box, off the I/O threads (FFmpeg takes a
    /// few milliseconds); a picture that is not a JPEG or cannot be decoded is logged and
    /// dropped.
    fn picture(&self, serial: String, data: Vec<u8>, mime: &str) {
        let Some((i, slot)) = self.pictures.get(&serial) else {
            return;
        };
        if !matches!(mime, "image/jpeg" | "image/jpg") {
            tracing::warn!(camera = %serial, "its picture is {mime}, not a JPEG: not shown");
            return;
        }
        let (i, slot, proxy) = (*i, slot.clone(), self.proxy.clone());
        // Taken now: a picture decoded later than a newer one is still the older.
        let taken = std::time::SystemTime::now();
        tokio::task::spawn_blocking(move || match crate::decode::picture(&data, &serial) {
            Ok(frame) => {
                slot.put(frame, taken);
                let _ = proxy.send_event(Wake::Picture(i));
            }
            Err(e) => tracing::warn!(camera = %serial, "{e}"),
        });
    }
}

impl Sink for ViewSink {
    type Error = PipelineError;

    fn event(&mut self, event: SessionEvent) -> Result<Flow, PipelineError> {
        let status_change = !matches!(event, SessionEvent::Video { .. });
        if let SessionEvent::Detection {
            serial,
            kind,
            state,
            ..
        } = &event
        {
            let _ = self.proxy.send_event(Wake::Detection {
                serial: serial.clone(),
                kind: *kind,
                state: *state,
            });
        }
        if let SessionEvent::Picture { serial, data, mime } = event {
            self.picture(serial, data, &mime);
            return Ok(Flow::Continue);
        }
        self.feed.on_event(event);
        if status_change {
            let _ = self.proxy.send_event(Wake::Status);
        }
        Ok(Flow::Continue)
    }

    fn tick(&mut self) -> Result<Flow, PipelineError> {
        self.feed.check()?;
        Ok(Flow::Continue)
    }
}

/// Runs the pipeline into the mailboxes until `shutdown`; a failure for good is told to the
/// event loop.
async fn run_feed(
    inputs: Inputs,
    mut sink: ViewSink,
    shutdown: Shutdown,
    proxy: EventLoopProxy<Wake>,
) -> Result<(), PipelineError> {
    let result = drive::run(inputs, &mut sink, shutdown).await;
    if let Err(e) = &result {
        let _ = proxy.send_event(Wake::Failed(full_message(e)));
    }
    let feed = sink.feed;
    let finished = tokio::task::spawn_blocking(move || feed.finish()).await;
    result?;
    match finished {
        Ok(r) => r.map(|_| ()),
        Err(_) => Ok(()),
    }
}

/// An error's message followed by its causes, each one that says more than the message.
fn full_message(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    text
}

/// Minutes after local midnight (the wall's night hours; `TZ` is honoured).
fn local_minute() -> u32 {
    use chrono::Timelike;
    let t = chrono::Local::now();
    t.hour() * 60 + t.minute()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer failed")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner reason")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("outer failed: inner reason")]
    struct Told(#[source] Inner);

    #[test]
    fn messages_carry_their_causes_once() {
        assert_eq!(full_message(&Outer(Inner)), "outer failed: inner reason");
        assert_eq!(full_message(&Told(Inner)), "outer failed: inner reason");
    }
}
