//! The viewer's keys (`f`, `i`, `s`, `r`, `m`, `t` held, `1`-`9`, `n`/`p`, `q`) and the snapshot `s`
//! writes; touch and mouse ([`super::pointer`] recognises, this carries out).

use std::time::{Duration, Instant};

use winit::event::{ElementState, MouseButton, MouseScrollDelta, TouchPhase, WindowEvent};
use winit::event_loop::ActiveEventLoop;
use winit::keyboard::{Key, NamedKey};

use super::app::App;
use super::pointer::Gesture;
use crate::pipeline::toggle_recording;
use crate::render::window::cover_monitor;
use crate::render::Offscreen;

impl App {
    /// A PNG of what window `d` shows, rendered offscreen at its size, into the snapshot
    /// folder.
    fn snapshot(&mut self, d: usize) {
        let screen = self.displays[d].kiosk.screen();
        let views = self.tile_views(d, &screen);
        let Some(s) = self.displays[d].surface.as_mut() else {
            return;
        };
        s.renderer.set_layout(screen.layout);
        s.renderer.set_insets(screen.insets);
        s.renderer.set_shade(screen.shade);
        let (w, h) = s.size();
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

    /// A key pressed in window `d`.
    pub(super) fn on_key(&mut self, event_loop: &ActiveEventLoop, d: usize, key: &Key) {
        self.active = d;
        // A focused camera's own keys first (arrows, digits: see `controls`).
        if self.focused_key(d, key) {
            self.request_redraw();
            return;
        }
        match key {
            Key::Character(c) if c == "i" => {
                self.overlay = !self.overlay;
                self.request_redraw();
            }
            Key::Character(c) if c == "s" => self.snapshot(d),
            Key::Character(c) if c == "r" => {
                if let Some(camera) = self.cameras.get_mut(self.selected) {
                    let serial = &camera.serial;
                    let codec = camera.status.info.map(|i| i.codec);
                    match toggle_recording(
                        &self.recordings,
                        codec,
                        serial,
                        &self.config.snapshot_dir,
                    ) {
                        Ok((path, on)) => {
                            if on {
                                tracing::info!(
                                    "recording {serial} to {} (from the next keyframe)",
                                    path.display()
                                );
                            } else {
                                tracing::info!("recording of {serial} saved to {}", path.display());
                            }
                            camera.recording = on;
                        }
                        Err(e) => tracing::warn!("cannot record {serial}: {e}"),
                    }
                    self.request_redraw();
                }
            }
            // The tiles on screen, in order.
            Key::Character(c) if c.len() == 1 && ("1"..="9").contains(&c.as_str()) => {
                let k = c.as_bytes()[0] as usize - b'1' as usize;
                if let Some(&i) = self.displays[d].kiosk.screen().cameras.get(k) {
                    self.selected = i;
                    self.tend(Instant::now());
                }
            }
            Key::Character(c) if c == "f" && !self.config.window.kiosk => {
                let display = &mut self.displays[d];
                let monitor = display.options(self.config.window).monitor;
                if let Some(s) = &display.surface {
                    match (s.window.fullscreen(), display.windowed.take()) {
                        (Some(_), back) => {
                            s.window.set_fullscreen(None);
                            // Back where it was (a window manager would do it; none may run).
                            if let Some((position, size)) = back {
                                s.window.set_outer_position(position);
                                let _ = s.window.request_inner_size(size);
                            }
                        }
                        (None, _) => {
                            display.windowed = s
                                .window
                                .outer_position()
                                .ok()
                                .map(|p| (p, s.window.inner_size()));
                            cover_monitor(&s.window, event_loop, monitor);
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
            Key::Character(c) if c == "n" => self.turn_page(d, true),
            Key::Character(c) if c == "p" => self.turn_page(d, false),
            Key::Named(NamedKey::ArrowRight) => self.turn_page(d, true),
            Key::Named(NamedKey::ArrowLeft) => self.turn_page(d, false),
            // Hold to talk.
            Key::Character(c) if c == "t" => self.talk_start(d),
            Key::Character(c) if c == "q" && !self.config.window.kiosk => event_loop.exit(),
            Key::Named(NamedKey::Escape) if !self.config.window.kiosk => event_loop.exit(),
            _ => {}
        }
    }

    /// A key let go.
    pub(super) fn on_key_up(&mut self, key: &Key) {
        if matches!(key, Key::Character(c) if c == "t") {
            self.talk_stop();
        }
    }

    /// Touch and mouse events in window `d`; the kiosk's cursor shows while the mouse
    /// moves.
    pub(super) fn on_pointer(&mut self, d: usize, event: WindowEvent) {
        let now = Instant::now();
        let gesture = match event {
            WindowEvent::CursorMoved { position, .. } => {
                self.gestures.moved(position.x, position.y);
                self.show_cursor(now);
                self.bar_wake(now);
                None
            }
            WindowEvent::MouseInput {
                state,
                button: MouseButton::Left,
                ..
            } => match state {
                ElementState::Pressed => {
                    let (x, y) = self.gestures.at();
                    if !self.bar_press(d, x, y, now) && !self.edge_press(d, x, y, now) {
                        self.gestures.pressed(now);
                    }
                    None
                }
                ElementState::Released => {
                    self.bar_release();
                    self.gestures.released(now)
                }
            },
            WindowEvent::MouseWheel { delta, .. } => match delta {
                MouseScrollDelta::LineDelta(_, y) => self.gestures.wheel_lines(f64::from(y), now),
                MouseScrollDelta::PixelDelta(p) => self.gestures.wheel_pixels(p.y, now),
            },
            WindowEvent::Touch(t) => {
                self.gestures.moved(t.location.x, t.location.y);
                match t.phase {
                    TouchPhase::Started => {
                        let (x, y) = (t.location.x, t.location.y);
                        if !self.bar_press(d, x, y, now) && !self.edge_press(d, x, y, now) {
                            self.gestures.pressed(now);
                        }
                        None
                    }
                    TouchPhase::Moved => None,
                    TouchPhase::Ended => {
                        self.bar_release();
                        self.gestures.released(now)
                    }
                    TouchPhase::Cancelled => {
                        self.bar_release();
                        self.gestures.cancelled();
                        None
                    }
                }
            }
            _ => None,
        };
        if let Some(g) = &gesture {
            if self.focused_swipe(d, g) {
                self.request_redraw();
                return;
            }
        }
        match gesture {
            Some(Gesture::Page(forward)) => self.turn_page(d, forward),
            Some(Gesture::Vertical(_)) => {}
            Some(Gesture::Tap { x, y }) => self.tap(d, x, y),
            None => {}
        }
    }

    /// A tap on a tile fills the screen with its camera for [`TAP_HOLD`]; a tap on a camera
    /// already forward (by a tap, an event or Home Assistant) brings the wall back.
    fn tap(&mut self, d: usize, x: f64, y: f64) {
        let now = Instant::now();
        self.active = d;
        if self.bar_tap(d, x, y) {
            return;
        }
        // An inset: its close mark dismisses it, elsewhere it fills the screen.
        if let Some((camera, close)) = self.inset_at(d, x, y) {
            if close {
                tracing::info!(camera = %self.cameras[camera].serial, "inset closed");
                self.displays[d].kiosk.dismiss(camera);
            } else {
                tracing::info!(camera = %self.cameras[camera].serial, "inset tapped: shown alone");
                self.displays[d]
                    .kiosk
                    .fill_from_inset(camera, TAP_HOLD, now);
            }
            self.tend(now);
            return;
        }
        if self.displays[d].kiosk.focused().is_some() {
            self.displays[d].kiosk.show_wall(now);
        } else if let Some(camera) = self.tile_at(d, x, y) {
            tracing::info!(camera = %self.cameras[camera].serial, "tapped: shown alone");
            self.displays[d].kiosk.show_camera(camera, TAP_HOLD, now);
        }
        self.tend(now);
    }

    /// The camera whose tile holds the point `(x, y)` of window `d`.
    fn tile_at(&self, d: usize, x: f64, y: f64) -> Option<usize> {
        let display = &self.displays[d];
        let s = display.surface.as_ref()?;
        let (w, h) = s.size();
        let screen = display.kiosk.screen();
        let cells = screen.cells(w, h);
        let inside = |c: &crate::layout::Rect| {
            x >= f64::from(c.x)
                && x < f64::from(c.x + c.w)
                && y >= f64::from(c.y)
                && y < f64::from(c.y + c.h)
        };
        // Insets are drawn over the page: they are hit first.
        let k = cells.iter().rposition(inside)?;
        screen.cameras.get(k).copied()
    }

    /// The inset at `(x, y)` of window `d`: its camera, and whether on its close mark.
    fn inset_at(&self, d: usize, x: f64, y: f64) -> Option<(usize, bool)> {
        let display = &self.displays[d];
        let (w, h) = display.surface.as_ref()?.size();
        let screen = display.kiosk.screen();
        let first = screen.cameras.len() - screen.inset_count();
        let cells = screen.cells(w, h);
        let k = (first..cells.len())
            .rev()
            .find(|&k| crate::layout::contains(cells[k], x, y))?;
        let close = crate::layout::contains(crate::layout::close_mark(cells[k]), x, y);
        Some((screen.cameras[k], close))
    }

    /// The kiosk's cursor shows while the mouse moves.
    fn show_cursor(&mut self, now: Instant) {
        if !self.config.window.kiosk {
            return;
        }
        if self.cursor_shown_at.is_none() {
            self.set_cursor_visible(true);
        }
        self.cursor_shown_at = Some(now);
    }

    /// Hides the kiosk's cursor once the mouse rested [`CURSOR_REST`]; when it is still
    /// shown, returns when to look again.
    pub(super) fn hide_idle_cursor(&mut self, now: Instant) -> Option<Instant> {
        let shown = self.cursor_shown_at?;
        let due = shown + CURSOR_REST;
        if now < due {
            return Some(due);
        }
        self.cursor_shown_at = None;
        self.set_cursor_visible(false);
        None
    }

    fn set_cursor_visible(&self, visible: bool) {
        for s in self.displays.iter().filter_map(|d| d.surface.as_ref()) {
            s.window.set_cursor_visible(visible);
        }
    }
}

/// How long a tapped camera stays alone on the screen.
const TAP_HOLD: Duration = Duration::from_secs(120);
/// How long the kiosk's cursor stays after the mouse stops.
const CURSOR_REST: Duration = Duration::from_secs(3);
