//! A focused camera's controls (the camera brought forward, tapped, chosen in Home Assistant,
//! or alone on its page): while one is focused, the keys and drags it needs are its own —
//! on a pan/tilt camera the arrow keys and drags move it (a drag moves the picture, as on a
//! map: dragging left turns the camera right), `1`–`4` go to its presets and `0` sweeps; on
//! a doorbell `1`–`9` play its quick replies; a press held on an edge of a pan/tilt camera's
//! picture (its outer [`EDGE`]) turns it that way, a step every [`EDGE_STEP`] until let go. Otherwise today's bindings stand (arrows and
//! swipes turn pages, digits pick tiles). What a camera can do is what its session said
//! ([`crate::eufy::session::Capabilities`]); what came of it shows on its tile.

use winit::keyboard::{Key, NamedKey};

use super::app::App;
use super::pointer::Gesture;
use crate::backend::{Direction, Ptz};
use crate::eufy::session::{Capabilities, SessionControl};

impl App {
    /// What camera `i` can do (nothing until its session said).
    pub(super) fn caps_of(&self, i: usize) -> Capabilities {
        self.cameras
            .get(i)
            .and_then(|c| c.status.caps.clone())
            .unwrap_or_default()
    }

    /// Asks camera `i`'s session for a pan/tilt step, sweep or preset.
    pub(super) fn ptz(&mut self, i: usize, action: Ptz) {
        if let Some(serial) = self.cameras.get(i).map(|c| &c.serial) {
            tracing::info!(camera = %serial, "{action}");
            let _ = self.control.send(SessionControl::Ptz {
                serial: serial.clone(),
                action,
            });
        }
    }

    /// Asks doorbell `i`'s session to play quick reply `voice`.
    pub(super) fn reply(&mut self, i: usize, voice: u64) {
        if let Some(serial) = self.cameras.get(i).map(|c| &c.serial) {
            tracing::info!(camera = %serial, "quick reply {voice}");
            let _ = self.control.send(SessionControl::Reply {
                serial: serial.clone(),
                voice,
            });
        }
    }

    /// A key for window `d`'s focused camera: true when it took it.
    pub(super) fn focused_key(&mut self, d: usize, key: &Key) -> bool {
        let Some(i) = self.focus_of(d) else {
            return false;
        };
        match control_for_key(&self.caps_of(i), key) {
            Some(Control::Ptz(action)) => self.ptz(i, action),
            Some(Control::Reply(voice)) => self.reply(i, voice),
            None => return false,
        }
        true
    }

    /// A swipe on window `d`'s focused camera: true when it took it.
    pub(super) fn focused_swipe(&mut self, d: usize, gesture: &Gesture) -> bool {
        let Some(i) = self.focus_of(d) else {
            return false;
        };
        if !self.caps_of(i).ptz {
            return false;
        }
        let direction = match gesture {
            Gesture::Page(true) => Direction::Right,
            Gesture::Page(false) => Direction::Left,
            Gesture::Vertical(true) => Direction::Down,
            Gesture::Vertical(false) => Direction::Up,
            Gesture::Tap { .. } => return false,
        };
        self.ptz(i, Ptz::Move(direction));
        true
    }
}

/// What a key asks of a focused camera that can do `caps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Control {
    Ptz(Ptz),
    Reply(u64),
}

pub(super) fn control_for_key(caps: &Capabilities, key: &Key) -> Option<Control> {
    let digit = match key {
        Key::Character(c) if c.len() == 1 => c.chars().next().and_then(|c| c.to_digit(10)),
        _ => None,
    };
    if caps.ptz {
        let step = match key {
            Key::Named(NamedKey::ArrowLeft) => Some(Direction::Left),
            Key::Named(NamedKey::ArrowRight) => Some(Direction::Right),
            Key::Named(NamedKey::ArrowUp) => Some(Direction::Up),
            Key::Named(NamedKey::ArrowDown) => Some(Direction::Down),
            _ => None,
        };
        if let Some(d) = step {
            return Some(Control::Ptz(Ptz::Move(d)));
        }
    }
    match digit {
        Some(0) if caps.sweep => Some(Control::Ptz(Ptz::Sweep)),
        Some(n @ 1..=4) if caps.presets => Some(Control::Ptz(Ptz::Preset(n as u8))),
        Some(n @ 1..=9) => caps
            .replies
            .get(n as usize - 1)
            .map(|(voice, _)| Control::Reply(*voice)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: &str) -> Key {
        Key::Character(c.into())
    }

    /// The edges of a picture, and nothing in its middle or outside it.
    #[test]
    fn edges() {
        let c = crate::layout::Rect {
            x: 100,
            y: 0,
            w: 1000,
            h: 500,
        };
        assert_eq!(edge_of(c, 150.0, 250.0), Some(Direction::Left));
        assert_eq!(edge_of(c, 1050.0, 250.0), Some(Direction::Right));
        assert_eq!(edge_of(c, 600.0, 20.0), Some(Direction::Up));
        assert_eq!(edge_of(c, 600.0, 480.0), Some(Direction::Down));
        assert_eq!(
            edge_of(c, 110.0, 40.0),
            Some(Direction::Left),
            "the nearer edge"
        );
        assert_eq!(edge_of(c, 600.0, 250.0), None);
        assert_eq!(edge_of(c, 50.0, 250.0), None);
    }

    /// Keys mean something only for a camera that can: arrows and presets on a pan/tilt
    /// camera, digits as replies on a doorbell (by their order), nothing on a plain camera.
    #[test]
    fn keys_follow_capabilities() {
        let ptz = Capabilities {
            ptz: true,
            sweep: true,
            presets: true,
            ..Default::default()
        };
        let arrow = Key::Named(NamedKey::ArrowUp);
        assert_eq!(
            control_for_key(&ptz, &arrow),
            Some(Control::Ptz(Ptz::Move(Direction::Up)))
        );
        assert_eq!(
            control_for_key(&ptz, &key("3")),
            Some(Control::Ptz(Ptz::Preset(3)))
        );
        assert_eq!(
            control_for_key(&ptz, &key("0")),
            Some(Control::Ptz(Ptz::Sweep))
        );
        assert_eq!(control_for_key(&ptz, &key("5")), None);
        let bridge_ptz = Capabilities {
            ptz: true,
            presets: true,
            ..Default::default()
        };
        assert_eq!(control_for_key(&bridge_ptz, &key("0")), None, "no sweep");
        let doorbell = Capabilities {
            talk: true,
            replies: vec![(7, "Hello".into()), (9, "Later".into())],
            ..Default::default()
        };
        assert_eq!(
            control_for_key(&doorbell, &key("2")),
            Some(Control::Reply(9))
        );
        assert_eq!(control_for_key(&doorbell, &key("3")), None);
        assert_eq!(control_for_key(&doorbell, &arrow), None);
        assert_eq!(control_for_key(&Capabilities::default(), &key("1")), None);
        assert_eq!(control_for_key(&Capabilities::default(), &arrow), None);
    }
}

/// The share of a picture's width or height, from each edge, where a held press turns a
/// pan/tilt camera.
pub(super) const EDGE: f64 = 0.12;
/// A held edge repeats its step this often.
pub(super) const EDGE_STEP: std::time::Duration = std::time::Duration::from_millis(700);

/// The direction of the edge of `cell` that `(x, y)` is on, if any (corners: the nearer).
pub(super) fn edge_of(cell: crate::layout::Rect, x: f64, y: f64) -> Option<Direction> {
    if !crate::layout::contains(cell, x, y) {
        return None;
    }
    let fx = (x - f64::from(cell.x)) / f64::from(cell.w.max(1));
    let fy = (y - f64::from(cell.y)) / f64::from(cell.h.max(1));
    let candidates = [
        (fx, Direction::Left),
        (1.0 - fx, Direction::Right),
        (fy, Direction::Up),
        (1.0 - fy, Direction::Down),
    ];
    candidates
        .into_iter()
        .filter(|(d, _)| *d < EDGE)
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, dir)| dir)
}

/// What a button of the action bar does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BarAction {
    /// Back to the wall.
    Back,
    /// Talk while held.
    Talk,
    /// Sound off or on.
    Mute,
    /// A pan/tilt step or preset.
    Ptz(Ptz),
    /// A quick reply.
    Reply(u64),
}

/// A shown action bar: its camera, the camera's cell, the buttons.
pub(super) type Bar = (
    usize,
    crate::layout::Rect,
    Vec<(BarAction, crate::render::BarButton)>,
);

/// How long the action bar stays after the pointer last moved or touched.
pub(super) const BAR_SHOWN: std::time::Duration = std::time::Duration::from_secs(5);

/// Quick replies on the bar, at most (the rest by keys and Home Assistant).
const BAR_REPLIES: usize = 3;

/// The action bar's buttons for a camera that can do `caps`.
pub(super) fn bar_for(
    caps: &Capabilities,
    sound: Option<bool>,
    talking: bool,
) -> Vec<(BarAction, crate::render::BarButton)> {
    use crate::render::BarButton;
    let button = |label: String, on: bool| BarButton { label, on };
    let mut out = vec![(BarAction::Back, button("Back".into(), false))];
    if caps.talk {
        let label = if talking { "Talking" } else { "Hold to talk" };
        out.push((BarAction::Talk, button(label.into(), talking)));
    }
    if let Some(muted) = sound {
        let label = if muted { "Sound off" } else { "Sound on" };
        out.push((BarAction::Mute, button(label.into(), false)));
    }
    for (voice, desc) in caps.replies.iter().take(BAR_REPLIES) {
        out.push((BarAction::Reply(*voice), button(desc.clone(), false)));
    }
    if caps.ptz {
        for (d, label) in [
            (Direction::Left, "<"),
            (Direction::Up, "^"),
            (Direction::Down, "v"),
            (Direction::Right, ">"),
        ] {
            out.push((BarAction::Ptz(Ptz::Move(d)), button(label.into(), false)));
        }
    }
    if caps.presets {
        for n in 1..=crate::backend::PRESETS {
            out.push((
                BarAction::Ptz(Ptz::Preset(n)),
                button(format!("P{n}"), false),
            ));
        }
    }
    out
}

impl App {
    /// Window `d`'s action bar, when shown: its camera, its cell, its buttons.
    pub(super) fn bar(&self, d: usize, now: std::time::Instant) -> Option<Bar> {
        if self.bar.until.is_none_or(|t| now >= t) {
            return None;
        }
        let i = self.focus_of(d)?;
        let display = self.displays.get(d)?;
        let (w, h) = display.surface.as_ref()?.size();
        let screen = display.kiosk.screen();
        let k = screen.cameras.iter().position(|&c| c == i)?;
        let cell = *screen.cells(w, h).get(k)?;
        let sound = self.audio.as_ref().map(|a| a.muted());
        let talking = self.talk.as_ref().is_some_and(|(t, _)| *t == i);
        Some((i, cell, bar_for(&self.caps_of(i), sound, talking)))
    }

    /// The bar's button at `(x, y)` of window `d`.
    fn bar_hit(&self, d: usize, x: f64, y: f64) -> Option<(usize, BarAction)> {
        let (i, cell, buttons) = self.bar(d, std::time::Instant::now())?;
        let rects = crate::layout::bar_buttons(cell, buttons.len());
        let k = rects
            .iter()
            .position(|r| crate::layout::contains(*r, x, y))?;
        Some((i, buttons[k].0))
    }

    /// The pointer moved or touched: the bar shows (for a while).
    pub(super) fn bar_wake(&mut self, now: std::time::Instant) {
        let was = self.bar.until.is_some_and(|t| now < t);
        self.bar.until = Some(now + BAR_SHOWN);
        if !was {
            self.request_redraw();
        }
    }

    /// A press at `(x, y)`: true when it held the Talk button (talking until released). A
    /// press where the bar was not showing only shows it: its buttons act once seen.
    pub(super) fn bar_press(&mut self, d: usize, x: f64, y: f64, now: std::time::Instant) -> bool {
        self.bar.armed = self.bar.until.is_some_and(|t| now < t);
        self.bar_wake(now);
        if !self.bar.armed {
            return false;
        }
        match self.bar_hit(d, x, y) {
            Some((i, BarAction::Talk)) => {
                self.talk_to(i);
                self.bar.talking = true;
                true
            }
            _ => false,
        }
    }

    /// The press ended: a talk held on the bar stops, and so does a held edge.
    pub(super) fn bar_release(&mut self) {
        if std::mem::take(&mut self.bar.talking) {
            self.talk_stop();
        }
        if self.edge_held.take().is_some() {
            tracing::debug!("edge let go");
        }
    }

    /// A press at `(x, y)` on an edge of window `d`'s focused pan/tilt camera: true when it
    /// turned it (and goes on turning it while held).
    pub(super) fn edge_press(&mut self, d: usize, x: f64, y: f64, now: std::time::Instant) -> bool {
        let Some(i) = self.focus_of(d) else {
            return false;
        };
        // The bar's buttons lie along the bottom edge: theirs first.
        if !self.caps_of(i).ptz || (self.bar.armed && self.bar_hit(d, x, y).is_some()) {
            return false;
        }
        let display = &self.displays[d];
        let Some((w, h)) = display.surface.as_ref().map(|s| s.size()) else {
            return false;
        };
        let screen = display.kiosk.screen();
        let Some(k) = screen.cameras.iter().position(|&c| c == i) else {
            return false;
        };
        let Some(dir) = screen.cells(w, h).get(k).and_then(|c| edge_of(*c, x, y)) else {
            return false;
        };
        self.ptz(i, Ptz::Move(dir));
        self.edge_held = Some((i, dir, now + EDGE_STEP));
        true
    }

    /// While an edge is held: its next step when due; when to look again.
    pub(super) fn edge_tick(&mut self, now: std::time::Instant) -> Option<std::time::Instant> {
        let (i, dir, next) = self.edge_held?;
        if now < next {
            return Some(next);
        }
        self.ptz(i, Ptz::Move(dir));
        let next = now + EDGE_STEP;
        self.edge_held = Some((i, dir, next));
        Some(next)
    }

    /// A tap at `(x, y)`: true when it was on a button (carried out).
    pub(super) fn bar_tap(&mut self, d: usize, x: f64, y: f64) -> bool {
        if !std::mem::take(&mut self.bar.armed) {
            return false;
        }
        let Some((i, action)) = self.bar_hit(d, x, y) else {
            return false;
        };
        let now = std::time::Instant::now();
        match action {
            BarAction::Back => self.displays[d].kiosk.show_wall(now),
            BarAction::Talk => {}
            BarAction::Mute => {
                if let Some(a) = &self.audio {
                    a.set_muted(!a.muted());
                }
            }
            BarAction::Ptz(p) => self.ptz(i, p),
            BarAction::Reply(v) => self.reply(i, v),
        }
        self.tend(now);
        self.request_redraw();
        true
    }
}
