//! A focused camera's controls (the camera brought forward, tapped, chosen in Home Assistant,
//! or alone on its page): while one is focused, the keys and drags it needs are its own —
//! on a pan/tilt camera the arrow keys and drags move it (a drag moves the picture, as on a
//! map: dragging left turns the camera right), `1`–`4` go to its presets and `0` sweeps; on
//! a doorbell `1`–`9` play its quick replies. Otherwise today's bindings stand (arrows and
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
        let Some(serial) = self.serials.get(i) else {
            return Capabilities::default();
        };
        let all = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
        all.get(serial)
            .and_then(|s| s.caps.clone())
            .unwrap_or_default()
    }

    /// Asks camera `i`'s session for a pan/tilt step, sweep or preset.
    pub(super) fn ptz(&mut self, i: usize, action: Ptz) {
        if let Some(serial) = self.serials.get(i) {
            tracing::info!(camera = %serial, "{action}");
            let _ = self.control.send(SessionControl::Ptz {
                serial: serial.clone(),
                action,
            });
        }
    }

    /// Asks doorbell `i`'s session to play quick reply `voice`.
    pub(super) fn reply(&mut self, i: usize, voice: u64) {
        if let Some(serial) = self.serials.get(i) {
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
