//! The viewer's side of Home Assistant ([`crate::mqtt`]): commands carried out on the wall,
//! the wall's state handed to the client once a second, the shown camera's picture at the
//! wall's rate.

use std::time::{Duration, Instant};

use super::app::App;
use crate::eufy::session::{CameraState, SessionControl};
use crate::kiosk::Screen;
use crate::mqtt::ha::{CameraReport, Command, WallState};
use crate::pipeline::Phase;

/// The wall's state goes to the client at most this often.
const STATE_EVERY: Duration = Duration::from_secs(1);

/// The client's end in the viewer.
pub(super) struct Home {
    pub(super) link: crate::mqtt::Link,
    /// How often the shown camera's picture goes out.
    pub(super) image_every: Option<Duration>,
    pub(super) image_at: Option<Instant>,
    pub(super) state_at: Option<Instant>,
}

impl App {
    /// Carries out what Home Assistant asked.
    pub(super) fn on_command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Page(p) => {
                if let Some(d) = self.displays.iter().position(|d| d.kiosk.has_page(p)) {
                    self.active = d;
                    self.displays[d].kiosk.show_page(p, now);
                }
            }
            // The window last acted on (several windows turn on their own).
            Command::NextPage => self.displays[self.active].kiosk.turn_page(true, now),
            Command::Show { camera, hold } => {
                self.active = self.home_of(camera);
                self.displays[self.active]
                    .kiosk
                    .show_camera(camera, hold, now);
            }
            Command::ShowWall => {
                for d in &mut self.displays {
                    d.kiosk.show_wall(now);
                }
            }
            Command::Restart(i) => {
                let _ = self.control.send(SessionControl::Restart {
                    serial: self.cameras[i].serial.clone(),
                    reason: "asked by Home Assistant".into(),
                });
            }
            Command::Screen(on) => {
                for d in &mut self.displays {
                    d.kiosk.set_screen_on(on);
                }
            }
            Command::Ptz { camera, action } => self.ptz(camera, action),
            Command::Reply { camera, voice } => self.reply(camera, voice),
            Command::Talk(true) => self.talk_start(self.active),
            Command::Talk(false) => self.talk_stop(),
            Command::Mute(muted) => match &self.audio {
                Some(a) => a.set_muted(muted),
                None => tracing::info!("Home Assistant asked to mute: there is no sound"),
            },
        }
        if let Some(h) = self.home.as_mut() {
            // The new state goes out at once.
            h.state_at = None;
        }
        self.tend(now);
    }

    /// Hands the client the wall's state (once a second) and the shown camera's picture
    /// (when due); `screens` are the windows'.
    pub(super) fn tend_home(&mut self, screens: &[Screen], now: Instant) {
        let Some(home) = self.home.as_ref() else {
            return;
        };
        if home.state_at.is_none_or(|t| now >= t + STATE_EVERY) {
            let state = self.wall_state(screens);
            if let Some(h) = self.home.as_mut() {
                h.state_at = Some(now);
                h.link.state.send_if_modified(|s| {
                    let changed = *s != state;
                    *s = state;
                    changed
                });
            }
        }
        // The camera forward, else the first tile's of the window last acted on.
        let shown = self
            .focused()
            .or_else(|| screens.get(self.active)?.cameras.first().copied());
        let Some(home) = self.home.as_mut() else {
            return;
        };
        let due = home
            .image_every
            .is_some_and(|every| home.image_at.is_none_or(|t| now >= t + every));
        if let (true, Some(frame)) = (due, shown.and_then(|i| self.cameras[i].last_frame.clone())) {
            home.image_at = Some(now);
            // A picture still being made: this one is skipped.
            let _ = home.link.images.try_send(frame);
        }
    }

    /// A camera brought forward on any window.
    fn focused(&self) -> Option<usize> {
        self.displays.iter().find_map(|d| d.kiosk.focused())
    }

    fn wall_state(&self, screens: &[Screen]) -> WallState {
        // The server's login: what any camera waits on, else ok.
        let login = (self.cameras.iter())
            .find_map(|c| match &c.status.phase {
                Phase::Session(CameraState::Login { what }) => Some(what.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "ok".to_owned());
        let cameras = self
            .cameras
            .iter()
            .enumerate()
            .map(|(i, camera)| {
                let phase = &camera.status.phase;
                let caps = camera.status.caps.clone().unwrap_or_default();
                let on_screen = screens.iter().any(|s| s.cameras.contains(&i));
                let state = if camera.frozen.is_some() {
                    "frozen"
                } else {
                    phase.word()
                };
                let st = &camera.stats;
                CameraReport {
                    state: state.to_owned(),
                    fps: if on_screen { st.fps } else { 0.0 },
                    latency_ms: st.latency_ms,
                    caps,
                }
            })
            .collect();
        WallState {
            page: self.displays[self.active].kiosk.page(),
            shown: self.focused(),
            screen_on: self.displays.iter().any(|d| d.kiosk.screen_on()),
            muted: self.audio.as_ref().is_some_and(|a| a.muted()),
            talking: self.talk.is_some(),
            cameras,
            login,
        }
    }
}
