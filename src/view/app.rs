//! The event loop's application: the wall's clock (pages, focus, which cameras stream, the
//! frozen-picture watchdog), drawing at most once per display refresh, whose sound plays.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use winit::application::ApplicationHandler;
use winit::event::{ElementState, KeyEvent, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoopProxy};
use winit::window::WindowId;

use super::{feed_into_mailboxes, keep_screen_awake, local_minute, wall_inputs};
use super::{ViewConfig, ViewError, Wake};
use crate::decode::LatestFrame;
use crate::eufy::session::SessionControl;
use crate::kiosk::{Kiosk, Screen, Verdict};
use crate::pipeline::drive::Inputs;
use crate::pipeline::{Feed, Phase, Recordings, Statuses};
use crate::render::window::{display_server, instance, Surface};
use crate::shutdown::Trigger;

/// What a tile showed: for the overlay and the log.
pub(super) struct TileStats {
    pub(super) upload_warnings: crate::throttle::Throttle,
    pub(super) shown: u64,
    pub(super) shown_window: (Instant, u64),
    pub(super) fps: f64,
    pub(super) latency_ms: f64,
}

impl TileStats {
    fn new() -> TileStats {
        TileStats {
            upload_warnings: Default::default(),
            shown: 0,
            shown_window: (Instant::now(), 0),
            fps: 0.0,
            latency_ms: f64::NAN,
        }
    }
}

/// The viewer's state, owned by the event loop.
pub(super) struct App {
    pub(super) config: ViewConfig,
    pub(super) instance: wgpu::Instance,
    pub(super) serials: Vec<String>,
    /// Pages, focus, watchdog.
    pub(super) kiosk: Kiosk,
    /// What was last drawn (a change redraws).
    pub(super) screen: Option<Screen>,
    /// Asks the session which cameras to stream, and restarts.
    pub(super) control: mpsc::UnboundedSender<SessionControl>,
    /// The cameras last asked for.
    pub(super) wanted: Vec<usize>,
    /// The cameras whose picture is frozen now, and for how long.
    pub(super) frozen: HashMap<usize, Duration>,
    /// When the local time of day was last read (night hours).
    pub(super) clock_checked: Instant,
    /// The sound output, when there is one.
    pub(super) audio: Option<crate::audio::AudioOut>,
    pub(super) slots: Vec<Arc<LatestFrame>>,
    pub(super) statuses: Statuses,
    pub(super) recordings: Recordings,
    /// The tile `r` acts on (keys 1-9 select).
    pub(super) selected: usize,
    pub(super) surface: Option<Surface>,
    pub(super) overlay: bool,
    pub(super) stats: Vec<TileStats>,
    pub(super) error: Option<ViewError>,
    pub(super) started: Instant,
    pub(super) last_redraw: Instant,
    /// A new picture came less than a refresh after the last draw: drawn then.
    pub(super) redraw_due: Option<Instant>,
    pub(super) stop: Trigger,
    /// Touch and mouse.
    pub(super) gestures: super::pointer::Gestures,
    /// The monitor's power (down while the wall shows nothing).
    pub(super) power: super::power::Power,
    /// The kiosk's cursor shows after the mouse moved, until it rests.
    pub(super) cursor_shown_at: Option<Instant>,
    /// Home Assistant's client, when the wall has `[mqtt]`.
    pub(super) home: Option<super::home::Home>,
    /// Each camera's last live frame shown (its still, Home Assistant's picture).
    pub(super) last_frames: Vec<Option<crate::frame::Frame>>,
    /// Each camera's latest picture waiting for its tile (from disk, from the server).
    pub(super) pictures: Vec<Arc<super::pictures::PictureBox>>,
    /// What each tile's picture is (none yet, a still, a live frame).
    pub(super) tile_pictures: Vec<Option<super::pictures::TilePicture>>,
    /// Keeps the cameras' last frames on disk.
    pub(super) saver: super::pictures::Saver,
    /// Where the window was before `f` made it fullscreen.
    pub(super) windowed: Option<(
        winit::dpi::PhysicalPosition<i32>,
        winit::dpi::PhysicalSize<u32>,
    )>,
}

impl App {
    /// The application for `config`, with the feed that decodes into its mailboxes and the
    /// inputs it streams; `control` is the session's, asked at once to stream only what is
    /// on screen; `stop` ends the pipeline.
    pub(super) fn new(
        config: ViewConfig,
        proxy: &EventLoopProxy<Wake>,
        control: mpsc::UnboundedSender<SessionControl>,
        stop: Trigger,
        pictures: Vec<Arc<super::pictures::PictureBox>>,
    ) -> (App, Inputs, Feed) {
        let serials = config.wall.serials();
        let n = serials.len();
        let (mut feed, slots) = feed_into_mailboxes(&serials, config.decoder.clone(), proxy);
        let audio = config
            .audio
            .and_then(|volume| match crate::audio::AudioOut::open(volume) {
                Ok(a) => Some(a),
                Err(e) => {
                    tracing::warn!("no sound: {e}");
                    None
                }
            });
        feed.audio = audio.as_ref().map(|a| a.feed());
        let now = Instant::now();
        let mut kiosk = Kiosk::new(&config.wall, now);
        kiosk.set_time_of_day(local_minute());
        let wanted = kiosk.wanted();
        // Before the session starts: hidden cameras are never started.
        let _ = control.send(SessionControl::Want(
            wanted.iter().map(|&i| serials[i].clone()).collect(),
        ));
        if config.wall.keep_awake && (config.window.kiosk || config.window.fullscreen) {
            keep_screen_awake();
        }
        let inputs = wall_inputs(&config.session, &config.wall, &config.sources);
        let awake = config.wall.keep_awake && (config.window.kiosk || config.window.fullscreen);
        let store = crate::stills::StillStore::default();
        let app = App {
            overlay: config.stats || config.wall.stats,
            kiosk,
            screen: None,
            control,
            wanted,
            frozen: HashMap::new(),
            clock_checked: now,
            audio,
            stats: serials.iter().map(|_| TileStats::new()).collect(),
            config,
            instance: instance(),
            serials,
            slots,
            statuses: feed.statuses.clone(),
            recordings: feed.recordings.clone(),
            selected: 0,
            surface: None,
            error: None,
            started: now,
            last_redraw: now,
            redraw_due: None,
            stop,
            gestures: Default::default(),
            power: super::power::Power::new(awake),
            cursor_shown_at: None,
            home: None,
            last_frames: vec![None; n],
            pictures,
            tile_pictures: vec![None; n],
            saver: super::pictures::Saver::start(store.clone(), n),
            windowed: None,
        };
        app.load_stills(&store);
        (app, inputs, feed)
    }

    /// What was shown and played, for the log at the end.
    pub(super) fn log_totals(&self) {
        let shown: u64 = self.stats.iter().map(|s| s.shown).sum();
        let frozen = self.kiosk.watchdog().total_fires();
        tracing::info!("{shown} frames shown; {frozen} frozen picture(s) restarted");
        if let Some(a) = &self.audio {
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
    }

    fn create_surface(&mut self, event_loop: &ActiveEventLoop) -> Result<Surface, ViewError> {
        let title = format!("eufy-hw — {}", self.serials.join(", "));
        Ok(Surface::open(
            event_loop,
            &self.instance,
            &title,
            self.config.window,
            self.serials.len(),
        )?)
    }

    fn redraw(&mut self) {
        self.last_redraw = Instant::now();
        self.redraw_due = None;
        let screen = self.kiosk.screen();
        let Some(s) = self.surface.as_mut() else {
            return;
        };
        s.renderer.set_layout(screen.layout);
        s.renderer.set_shade(screen.shade);
        let arrivals = self.upload_on_screen(&screen);
        let views = self.tile_views(&screen);
        self.screen = Some(screen);
        let Some(s) = self.surface.as_mut() else {
            return;
        };
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

    /// Uploads what is new for the cameras on `screen`: each one's newest frame, else a
    /// picture for a tile without a live one. Only what is on screen is uploaded; a hidden
    /// camera's newest frame waits in its mailbox for its page. Returns the live frames'
    /// cameras and arrivals.
    fn upload_on_screen(&mut self, screen: &Screen) -> Vec<(usize, Instant)> {
        let now = Instant::now();
        let live: Vec<bool> = {
            let statuses = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
            self.serials
                .iter()
                .map(|s| statuses.get(s).is_some_and(|s| s.phase == Phase::Live))
                .collect()
        };
        let mut arrivals = Vec::new();
        for &i in &screen.cameras {
            let Some(frame) = self.slots[i].take() else {
                self.upload_picture(i, live[i]);
                continue;
            };
            let Some(s) = self.surface.as_mut() else {
                break;
            };
            match s.renderer.upload(&s.gpu, i, &frame) {
                Ok(()) => {
                    arrivals.push((i, frame.received_at));
                    self.shown_live(i, frame, now);
                }
                Err(e) => {
                    if let Some(held) = self.stats[i].upload_warnings.allow() {
                        tracing::warn!(camera = %self.serials[i], "{e} ({held} more not logged)");
                    }
                }
            }
        }
        arrivals
    }

    /// The wall's clock: pages, focus, which cameras stream, the watchdog. True when the
    /// screen needs drawing again.
    pub(super) fn tend(&mut self, now: Instant) -> bool {
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
                            .is_some_and(|s| s.phase == Phase::Live)
                })
                .collect()
        };
        self.tend_audio(&screen);
        self.tend_home(&screen, now);
        // Nothing to show (a blank night, the screen turned off): the monitor goes down.
        self.power
            .follow(screen.cameras.is_empty() && screen.shade >= 1.0);
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

    pub(super) fn turn_page(&mut self, forward: bool) {
        self.kiosk.turn_page(forward, Instant::now());
        self.tend(Instant::now());
        self.request_redraw();
    }

    pub(super) fn request_redraw(&self) {
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
            Wake::Command(command) => self.on_command(command),
            Wake::Picture(i) => {
                if self.screen.as_ref().is_none_or(|s| s.cameras.contains(&i)) {
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
            other => self.on_pointer(other),
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
        if let Some(t) = self.hide_idle_cursor(now) {
            tick = tick.min(t);
        }
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
                .map(|all| all.values().any(|s| s.phase != Phase::Live))
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
