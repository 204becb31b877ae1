//! Talk back from the wall: hold `t` (or Home Assistant's Talk switch) to talk through the
//! focused camera's speaker (the camera shown alone; else the selected tile's). The wall's
//! microphone ([`crate::wall::Wall::microphone`], else the default input) is open only while
//! held; the camera's own sound is ducked meanwhile (half-duplex doorbells echo). Where the
//! talk back is (waiting, answering, talking, refused and why) shows on the camera's tile.

use std::time::Instant;

use super::app::App;
use crate::eufy::session::SessionControl;
use crate::talk::{Mic, TalkState};

impl App {
    /// The camera window `d` focuses: brought forward, or shown alone.
    pub(super) fn focus_of(&self, d: usize) -> Option<usize> {
        let display = self.displays.get(d)?;
        display
            .kiosk
            .focused()
            .or_else(|| match display.kiosk.screen().cameras.as_slice() {
                [only] => Some(*only),
                _ => None,
            })
    }

    /// Starts talking to window `d`'s focused camera (else the selected one).
    pub(super) fn talk_start(&mut self, d: usize) {
        let Some(i) = self.focus_of(d).or(Some(self.selected)) else {
            return;
        };
        self.talk_to(i);
    }

    /// Starts talking to camera `i` (a talk to another camera ends first).
    pub(super) fn talk_to(&mut self, i: usize) {
        if self.talk.as_ref().is_some_and(|(t, _)| *t == i) {
            return;
        }
        self.talk_stop();
        let Some(serial) = self.cameras.get(i).map(|c| c.serial.clone()) else {
            return;
        };
        match Mic::open(self.config.wall.microphone.as_deref()) {
            Ok((mic, audio)) => {
                tracing::info!(camera = %serial, "talking from {}", mic.device);
                let _ = self.control.send(SessionControl::Talk {
                    serial: serial.clone(),
                    audio,
                });
                self.talk = Some((i, mic));
                if let Some(a) = &self.audio {
                    a.set_ducked(true);
                }
            }
            Err(e) => {
                tracing::warn!(camera = %serial, "cannot talk: {e}");
                // Shown until the session says something newer of its talk back.
                self.cameras[i].talk_failed(e.to_string(), Instant::now());
            }
        }
        self.request_redraw();
    }

    /// Lets go: the microphone closes, the session sends what was said and stops talking.
    pub(super) fn talk_stop(&mut self) {
        if let Some((i, mic)) = self.talk.take() {
            tracing::info!(
                camera = %self.cameras[i].serial,
                dropped = mic.dropped(),
                "talk released"
            );
            drop(mic);
            if let Some(a) = &self.audio {
                a.set_ducked(false);
            }
            self.request_redraw();
        }
    }

    /// Camera `i`'s talk back in words for its tile: while it runs, and a few seconds after
    /// it ended or failed.
    pub(super) fn talk_line(
        &self,
        state: &Option<(TalkState, Instant)>,
        now: Instant,
    ) -> Option<String> {
        let (state, since) = state.as_ref()?;
        let shown = !state.is_final() || now.duration_since(*since).as_secs() < TALK_SHOWN_SECS;
        shown.then(|| state.describe())
    }
}

/// Seconds an ended or failed talk back (or a control's outcome) stays on its tile.
pub(super) const TALK_SHOWN_SECS: u64 = 8;
