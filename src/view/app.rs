//! The event loop's application: the wall's clock (pages, focus, which cameras stream, the
//! frozen-picture watchdog), its windows ([`Display`], one per monitor) each drawn at most
//! once per refresh, whose sound plays.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use winit::application::ApplicationHandler;
use winit::event::{ElementState, KeyEvent, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoopProxy};
use winit::window::WindowId;

use super::camera::Camera;
use super::display::Display;
use super::pictures::TilePicture;
use super::power::keep_screen_awake;
use super::{feed_into_mailboxes, local_minute, wall_inputs};
use super::{ViewConfig, ViewError, Wake};
use crate::eufy::session::SessionControl;
use crate::kiosk::{Screen, Verdict, Watchdog};
use crate::pipeline::drive::Inputs;
use crate::pipeline::{Feed, Phase, Recordings, Statuses};
use crate::render::window::{display_server, instance, Surface};
use crate::shutdown::Trigger;

/// The viewer's state, owned by the event loop.
pub(super) struct App {
    pub(super) config: ViewConfig,
    pub(super) instance: wgpu::Instance,
    /// The wall's cameras, in its order (a `Screen` names them by index).
    pub(super) cameras: Vec<Camera>,
    /// The windows, one per monitor the wall's pages name (else one).
    pub(super) displays: Vec<Display>,
    /// The window last acted on (keys, taps, Home Assistant): its page is the wall's page
    /// in Home Assistant.
    pub(super) active: usize,
    /// Asks the session which cameras to stream, and restarts.
    pub(super) control: mpsc::UnboundedSender<SessionControl>,
    /// The cameras last asked for.
    pub(super) wanted: Vec<usize>,
    /// Frozen pictures, for every window.
    pub(super) watchdog: Watchdog,
    /// When the local time of day was last read (night hours).
    pub(super) clock_checked: Instant,
    /// The sound output, when there is one.
    pub(super) audio: Option<crate::audio::AudioOut>,
    pub(super) statuses: Statuses,
    /// When the cameras' copies of their statuses were last taken.
    pub(super) statuses_at: Instant,
    pub(super) recordings: Recordings,
    /// The tile `r` acts on (keys 1-9 select).
    pub(super) selected: usize,
    pub(super) overlay: bool,
    pub(super) error: Option<ViewError>,
    pub(super) started: Instant,
    pub(super) stop: Trigger,
    /// Touch and mouse.
    pub(super) gestures: super::pointer::Gestures,
    /// The monitors' power (down while the wall shows nothing).
    pub(super) power: super::power::Power,
    /// The kiosk's cursor shows after the mouse moved, until it rests.
    pub(super) cursor_shown_at: Option<Instant>,
    /// Home Assistant's client, when the wall has `[mqtt]`.
    pub(super) home: Option<super::home::Home>,
    /// Keeps the cameras' last frames on disk.
    pub(super) saver: super::pictures::Saver,
    /// The camera being talked to, with the microphone open for it.
    pub(super) talk: Option<(usize, crate::talk::Mic)>,
    /// The action bar of a focused camera.
    pub(super) bar: Bar,
    /// An edge of a focused pan/tilt camera held: the camera, the way, the next step.
    pub(super) edge_held: Option<(usize, crate::backend::Direction, Instant)>,
}

/// How often the cameras' statuses are copied when nothing said they changed.
const STATUS_EVERY: Duration = Duration::from_millis(250);

/// The action bar of a focused camera: when it shows, what is held.
#[derive(Default)]
pub(super) struct Bar {
    /// It shows until then (the pointer moved or touched).
    pub(super) until: Option<Instant>,
    /// Its Talk button is held.
    pub(super) talking: bool,
    /// It was showing when the current press began (its buttons act).
    pub(super) armed: bool,
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
        // Every monitor the file names, until the event loop says which are there.
        let displays = Display::all(&config.wall, None, local_minute(), now);
        let screens: Vec<Screen> = displays.iter().map(|d| d.kiosk.screen()).collect();
        let wanted = wanted_by(&displays, &screens);
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
            displays,
            active: 0,
            control,
            wanted,
            watchdog: Watchdog::new(config.wall.watchdog, n),
            clock_checked: now,
            audio,
            config,
            instance: instance(),
            cameras: serials
                .into_iter()
                .zip(slots)
                .zip(pictures)
                .map(|((serial, mailbox), picture)| Camera::new(serial, mailbox, picture))
                .collect(),
            statuses: feed.statuses.clone(),
            statuses_at: now,
            recordings: feed.recordings.clone(),
            selected: 0,
            error: None,
            started: now,
            stop,
            gestures: Default::default(),
            power: super::power::Power::new(awake),
            cursor_shown_at: None,
            home: None,
            saver: super::pictures::Saver::start(store.clone(), n),
            talk: None,
            bar: Bar::default(),
            edge_held: None,
        };
        app.load_stills(&store);
        (app, inputs, feed)
    }

    /// Each camera's copy of its status from the pipeline's shared map: one lock, when the
    /// pipeline said a status changed and at each tick (its decoders' counters change
    /// without a word), so that drawing never takes it.
    pub(super) fn sync_statuses(&mut self) {
        self.statuses_at = Instant::now();
        let all = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
        let recording = self.recordings.lock().unwrap_or_else(|p| p.into_inner());
        for camera in &mut self.cameras {
            if let Some(s) = all.get(&camera.serial) {
                camera.update(s, recording.contains_key(&camera.serial));
            }
        }
    }

    /// What was shown and played, for the log at the end.
    pub(super) fn log_totals(&self) {
        let shown: u64 = self.cameras.iter().map(|c| c.stats.shown).sum();
        let frozen = self.watchdog.total_fires();
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

    /// Opens display `d`'s window.
    fn open_window(&mut self, event_loop: &ActiveEventLoop, d: usize) -> Result<(), ViewError> {
        let display = &self.displays[d];
        let serials: Vec<&str> = self.cameras.iter().map(|c| c.serial.as_str()).collect();
        let mut title = format!("eufy-hw — {}", serials.join(", "));
        if let Some(m) = display.monitor.filter(|_| self.displays.len() > 1) {
            title.push_str(&format!(" (monitor {m})"));
        }
        let surface = Surface::open(
            event_loop,
            &self.instance,
            &title,
            display.options(self.config.window),
            self.cameras.len(),
        )?;
        self.displays[d].surface = Some(surface);
        Ok(())
    }

    /// The windows for the monitors that are there: a monitor the wall file names that is
    /// not there has its pages shown on the first that is (said in the log).
    fn place_displays(&mut self, event_loop: &ActiveEventLoop) {
        let count = event_loop.available_monitors().count();
        let wall = &self.config.wall;
        let available = Some(count).filter(|&n| n > 0);
        let named = wall.monitors(None);
        if wall.monitors(available) == named {
            return;
        }
        for m in named.iter().filter_map(|m| m.index).filter(|&m| m >= count) {
            tracing::warn!(
                "the wall file puts pages on monitor {m}, but there are {count} monitor(s): they show with another monitor's pages"
            );
        }
        self.displays = Display::all(wall, available, local_minute(), Instant::now());
    }

    /// Draws display `d`: uploads what is new for its screen, draws, counts what showed.
    fn redraw(&mut self, d: usize) {
        let now = Instant::now();
        let screen = self.displays[d].kiosk.screen();
        {
            let display = &mut self.displays[d];
            display.last_redraw = now;
            display.redraw_due = None;
            let Some(s) = display.surface.as_mut() else {
                return;
            };
            s.renderer.set_layout(screen.layout);
            s.renderer.set_insets(screen.insets);
            s.renderer.set_shade(screen.shade);
        }
        let arrivals = self.upload_on_screen(d, &screen);
        let views = self.tile_views(d, &screen);
        self.displays[d].screen = Some(screen);
        let Some(s) = self.displays[d].surface.as_mut() else {
            return;
        };
        if !s.draw(&views) {
            return;
        }
        let now = Instant::now();
        for (i, received) in arrivals {
            self.watchdog.on_picture(i, now);
            let camera = &mut self.cameras[i];
            camera.frozen = None;
            camera.stats.on_shown(received, now);
        }
    }

    /// Uploads to display `d` what is new for the cameras on `screen`: each one's newest
    /// frame (from its mailbox, or the one another window took), else a picture for a tile
    /// without a live one. Only what is on screen is uploaded; a hidden camera's newest frame
    /// waits in its mailbox for its page. Returns the cameras and arrivals of the frames
    /// taken from their mailboxes.
    fn upload_on_screen(&mut self, d: usize, screen: &Screen) -> Vec<(usize, Instant)> {
        let now = Instant::now();
        let live: Vec<bool> = self
            .cameras
            .iter()
            .map(|c| c.status.phase == Phase::Live)
            .collect();
        let mut arrivals = Vec::new();
        for &i in &screen.cameras {
            if let Some(frame) = self.cameras[i].mailbox.take() {
                if !self.upload_live(d, i, &frame) {
                    continue;
                }
                arrivals.push((i, frame.received_at));
                self.shown_live(d, i, frame, now);
                // The other windows showing it catch up at their next refresh.
                for o in (0..self.displays.len()).filter(|&o| o != d) {
                    if self.displays[o].shows(i) {
                        self.redraw_for_picture(o);
                    }
                }
            } else if self.displays[d].tiles[i].live_gen < self.cameras[i].live_gen {
                if let Some(frame) = self.cameras[i].last_frame.clone() {
                    self.upload_live(d, i, &frame);
                    self.displays[d].tiles[i].picture = Some(TilePicture {
                        taken: SystemTime::now(),
                        live: true,
                    });
                }
            } else {
                self.upload_picture(d, i, live[i]);
            }
        }
        arrivals
    }

    /// Uploads camera `i`'s live `frame` to display `d`; true when it did.
    fn upload_live(&mut self, d: usize, i: usize, frame: &crate::frame::Frame) -> bool {
        let display = &mut self.displays[d];
        let Some(s) = display.surface.as_mut() else {
            return false;
        };
        match s.renderer.upload(&s.gpu, i, frame) {
            Ok(()) => true,
            Err(e) => {
                let camera = &mut self.cameras[i];
                if let Some(held) = camera.stats.upload_warnings.allow() {
                    tracing::warn!(camera = %camera.serial, "{e} ({held} more not logged)");
                }
                false
            }
        }
    }

    /// The wall's clock: pages, focus, which cameras stream, the watchdog; the windows
    /// whose screen changed are drawn again.
    pub(super) fn tend(&mut self, now: Instant) {
        // A status that changed was copied when the pipeline said so; the decoders' counters
        // change without a word: copied a few times a second, not at every frame's wake.
        if now >= self.statuses_at + STATUS_EVERY {
            self.sync_statuses();
        }
        // The local time (a zone lookup) only matters with night hours, and once a second.
        let night = self.displays.iter().any(|d| d.kiosk.has_night());
        if night && now >= self.clock_checked + Duration::from_secs(1) {
            let minute = local_minute();
            for d in &mut self.displays {
                d.kiosk.set_time_of_day(minute);
            }
            self.clock_checked = now;
        }
        for d in &mut self.displays {
            d.kiosk.poll(now);
        }
        let screens: Vec<Screen> = self.displays.iter().map(|d| d.kiosk.screen()).collect();
        let wanted = wanted_by(&self.displays, &screens);
        if wanted != self.wanted {
            let serials: Vec<String> = wanted
                .iter()
                .map(|&i| self.cameras[i].serial.clone())
                .collect();
            tracing::debug!(?serials, "streaming");
            let _ = self.control.send(SessionControl::Want(serials));
            self.wanted = wanted;
        }
        let live: Vec<bool> = (self.cameras.iter().enumerate())
            .map(|(i, c)| {
                screens.iter().any(|s| s.cameras.contains(&i)) && c.status.phase == Phase::Live
            })
            .collect();
        self.tend_audio(&screens);
        self.tend_home(&screens, now);
        // Nothing to show anywhere (a blank night, the screen turned off): the monitors go
        // down.
        self.power.follow(
            screens
                .iter()
                .all(|s| s.cameras.is_empty() && s.shade >= 1.0),
        );
        let mut frozen_changed = Vec::new();
        for (i, &live) in live.iter().enumerate() {
            let camera = &mut self.cameras[i];
            let was = camera.frozen.is_some();
            camera.frozen = match self.watchdog.check(i, live, now) {
                Verdict::Fine => None,
                Verdict::Frozen(age) => Some(age),
                Verdict::Restart(age) => {
                    let reason = format!("no picture for {:.0} s", age.as_secs_f64());
                    tracing::warn!(camera = %camera.serial, "{reason}: restarting its stream");
                    let _ = self.control.send(SessionControl::Restart {
                        serial: camera.serial.clone(),
                        reason,
                    });
                    Some(age)
                }
            };
            if was != camera.frozen.is_some() {
                frozen_changed.push(i);
            }
        }
        for (d, screen) in self.displays.iter().zip(&screens) {
            if d.screen.as_ref() != Some(screen)
                || frozen_changed.iter().any(|i| screen.cameras.contains(i))
            {
                d.request_redraw();
            }
        }
    }

    /// Whose sound plays: a focused camera's when its wall entry allows, else the selected
    /// tile's (the first tile's of the window last acted on when the selected one is not on
    /// screen); none at a blank night. The delay follows that tile's picture latency, plus a
    /// margin for jitter.
    fn tend_audio(&self, screens: &[Screen]) {
        let Some(audio) = &self.audio else { return };
        let allowed = |i: usize| self.config.wall.cameras[i].audio;
        let focused = self
            .displays
            .iter()
            .zip(screens)
            .find_map(|(d, s)| d.kiosk.focused().filter(|f| s.cameras.contains(f)));
        let on_screen = |c: usize| screens.iter().any(|s| s.cameras.contains(&c));
        let source = match focused {
            Some(f) => Some(f).filter(|&f| allowed(f)),
            None => Some(self.selected)
                .filter(|&c| on_screen(c))
                .or_else(|| {
                    screens
                        .get(self.active)
                        .and_then(|s| s.cameras.first().copied())
                })
                .filter(|&c| allowed(c)),
        };
        audio.set_source(source.map(|i| self.cameras[i].serial.as_str()));
        if let Some(i) = source {
            let latency = self.cameras[i].stats.latency_ms;
            if latency.is_finite() {
                audio.set_delay(crate::audio::delay_for_picture(latency));
            }
        }
    }

    /// Display `d` turns its page.
    pub(super) fn turn_page(&mut self, d: usize, forward: bool) {
        self.active = d;
        self.displays[d].kiosk.turn_page(forward, Instant::now());
        self.tend(Instant::now());
    }

    /// Every window draws again.
    pub(super) fn request_redraw(&self) {
        for d in &self.displays {
            d.request_redraw();
        }
    }

    /// The window whose id is `id`.
    fn display_of(&self, id: WindowId) -> Option<usize> {
        self.displays.iter().position(|d| d.is(id))
    }

    /// The window that brings `camera` forward: the one whose pages hold it, else the first.
    pub(super) fn home_of(&self, camera: usize) -> usize {
        self.displays
            .iter()
            .position(|d| d.kiosk.has_camera(camera))
            .unwrap_or(0)
    }
}

/// The cameras the windows want streamed (each showing its screen), in order.
fn wanted_by(displays: &[Display], screens: &[Screen]) -> Vec<usize> {
    let mut w: Vec<usize> = displays
        .iter()
        .zip(screens)
        .flat_map(|(d, s)| d.kiosk.wanted_on(s))
        .collect();
    w.sort_unstable();
    w.dedup();
    w
}

impl ApplicationHandler<Wake> for App {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.displays.iter().any(|d| d.surface.is_some()) {
            return;
        }
        tracing::info!("display server: {}", display_server(event_loop));
        self.place_displays(event_loop);
        for d in 0..self.displays.len() {
            if let Err(e) = self.open_window(event_loop, d) {
                self.error = Some(e);
                event_loop.exit();
                return;
            }
        }
        // `--duration` counts from here: on a loaded machine opening the windows (an
        // adapter, shaders) can take longer than a short duration itself.
        self.started = Instant::now();
    }

    fn user_event(&mut self, event_loop: &ActiveEventLoop, event: Wake) {
        match event {
            // A hidden (always-on) camera's frame waits in its mailbox: no redraw for it.
            Wake::Frame(i) => {
                for d in 0..self.displays.len() {
                    if self.displays[d].shows(i) {
                        self.redraw_for_picture(d);
                    }
                }
            }
            Wake::Status => {
                self.sync_statuses();
                self.request_redraw();
            }
            Wake::Detection {
                serial,
                kind,
                state,
            } => {
                if let Some(i) = self.cameras.iter().position(|c| c.serial == serial) {
                    tracing::info!(camera = %serial, "{}{}", kind.word(), if state { "" } else { " ended" });
                    let now = Instant::now();
                    let d = self.home_of(i);
                    self.displays[d].kiosk.on_detection(i, kind, state, now);
                    self.tend(now);
                }
            }
            Wake::Command(command) => self.on_command(command),
            Wake::Picture(i) => {
                for d in self.displays.iter().filter(|d| d.shows(i)) {
                    d.request_redraw();
                }
            }
            Wake::Failed(why) => {
                tracing::error!("{why}");
                if !self.config.window.kiosk {
                    event_loop.exit();
                }
            }
            Wake::Signal(name) => {
                tracing::info!("stopping ({name})");
                event_loop.exit();
            }
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, id: WindowId, event: WindowEvent) {
        let Some(d) = self.display_of(id) else {
            return;
        };
        match event {
            WindowEvent::CloseRequested => event_loop.exit(),
            WindowEvent::Resized(size) => {
                if let Some(s) = self.displays[d].surface.as_mut() {
                    s.resize(size.width, size.height);
                }
            }
            WindowEvent::ScaleFactorChanged { .. } => self.displays[d].request_redraw(),
            WindowEvent::RedrawRequested => self.redraw(d),
            WindowEvent::KeyboardInput {
                event:
                    KeyEvent {
                        logical_key,
                        state: ElementState::Pressed,
                        repeat: false,
                        ..
                    },
                ..
            } => self.on_key(event_loop, d, &logical_key),
            WindowEvent::KeyboardInput {
                event:
                    KeyEvent {
                        logical_key,
                        state: ElementState::Released,
                        ..
                    },
                ..
            } => self.on_key_up(&logical_key),
            other => self.on_pointer(d, other),
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        if let Some(limit) = self.config.duration {
            if self.started.elapsed() >= limit {
                event_loop.exit();
                return;
            }
        }
        // Frames and status changes wake us; the overlay's numbers, the countdowns on cards
        // ("next in 6 s"), the wall's pages and watchdog, and the duration need a slow tick
        // besides.
        let now = Instant::now();
        self.tend(now);
        let mut tick = now + Duration::from_millis(500);
        if let Some(t) = self.hide_idle_cursor(now) {
            tick = tick.min(t);
        }
        if let Some(t) = self.edge_tick(now) {
            tick = tick.min(t);
        }
        // The action bar goes when the pointer has rested.
        if let Some(t) = self.bar.until {
            if now >= t {
                self.bar.until = None;
                self.request_redraw();
            } else {
                tick = tick.min(t);
            }
        }
        // The overlay's numbers and the cards' countdowns change without a new picture.
        let ticking = self.overlay || self.cameras.iter().any(|c| c.status.phase != Phase::Live);
        for display in &mut self.displays {
            if let Some(t) = display.kiosk.next_wake() {
                tick = tick.min(t.max(now + Duration::from_millis(10)));
            }
            if let Some(due) = display.redraw_due {
                if due <= now {
                    display.redraw_due = None;
                    display.request_redraw();
                } else {
                    tick = tick.min(due);
                }
            }
            if ticking && display.last_redraw.elapsed() >= Duration::from_millis(500) {
                display.request_redraw();
            }
        }
        event_loop.set_control_flow(ControlFlow::WaitUntil(tick));
    }
}

impl App {
    /// A new picture is drawn on display `d` at its next refresh: now, or one refresh after
    /// its last draw.
    fn redraw_for_picture(&mut self, d: usize) {
        let display = &mut self.displays[d];
        let refresh = display
            .surface
            .as_ref()
            .map_or(Duration::ZERO, |s| s.refresh);
        let next = display.last_redraw + refresh;
        if Instant::now() >= next {
            display.request_redraw();
        } else if display.redraw_due.is_none() {
            display.redraw_due = Some(next);
        }
    }
}
