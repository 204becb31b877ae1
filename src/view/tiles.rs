//! What each tile of the screen shows: a camera's picture or its state card, and the stats
//! overlay's lines.

use std::time::Instant;

use super::app::App;
use crate::eufy::session::CameraState;
use crate::kiosk::Screen;
use crate::pipeline::{CameraStatus, Phase};
use crate::render::{TileState, TileView};
use crate::wall::Streaming;

impl App {
    /// The tiles of `screen` on window `d`: each camera's state card or picture, its overlay
    /// lines.
    pub(super) fn tile_views(&self, d: usize, screen: &Screen) -> Vec<TileView> {
        let now = Instant::now();
        let bar = self.bar(d, now);
        screen
            .cameras
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                let serial = &self.cameras[i].serial;
                let s = &self.cameras[i].status;
                let on_event = self.config.wall.cameras[i].stream == Streaming::OnEvent;
                let state = match (s.phase.describe(now), self.cameras[i].frozen.as_ref()) {
                    (None, Some(age)) => TileState::Waiting(format!(
                        "no picture for {:.0} s: restarting",
                        age.as_secs_f64()
                    )),
                    (None, None) => TileState::Live,
                    // Not streamed on purpose: a battery camera waiting for an event.
                    (Some(_), _) if on_event && s.phase == Phase::Session(CameraState::Idle) => {
                        TileState::Waiting(self.with_age(d, i, "streams for events only".into()))
                    }
                    (Some(text), _) => TileState::Waiting(self.with_age(d, i, text)),
                };
                let mut lines = Vec::new();
                if self.cameras[i].recording {
                    lines.push("REC".to_owned());
                }
                if let Some(talk) = self.talk_line(&s.talk, now) {
                    lines.push(talk);
                }
                if let Some((done, at)) = &s.done {
                    if now.duration_since(*at).as_secs() < super::talk::TALK_SHOWN_SECS {
                        lines.push(done.clone());
                    }
                }
                if self.overlay {
                    if k == 0 && !screen.caption.is_empty() {
                        lines.push(screen.caption.clone());
                    }
                    self.overlay_lines(d, i, s, now, &mut lines);
                }
                let title = match &self.config.wall.cameras[i].name {
                    Some(name) => name.clone(),
                    None => s.label(serial).to_owned(),
                };
                let bar = match &bar {
                    Some((b, _, buttons)) if *b == i => {
                        buttons.iter().map(|(_, b)| b.clone()).collect()
                    }
                    _ => Vec::new(),
                };
                TileView {
                    bar,
                    slot: i,
                    highlight: screen.highlight == Some(i),
                    title,
                    state,
                    lines,
                }
            })
            .collect()
    }

    /// The stats overlay of camera `i` on window `d`.
    fn overlay_lines(
        &self,
        d: usize,
        i: usize,
        s: &CameraStatus,
        now: Instant,
        lines: &mut Vec<String>,
    ) {
        let serial = &self.cameras[i].serial;
        let st = &self.cameras[i].stats;
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
        let latency = if st.latency_ms.is_finite() {
            format!("{:.1} ms", st.latency_ms)
        } else {
            "-".to_owned()
        };
        lines.push(format!("{:.1} fps  latency {latency}", st.fps));
        let dec = &s.decoder;
        lines.push(format!("decoder: {}", dec.path));
        if let Some(surface) = &self.displays[d].surface {
            lines.push(format!("colour: {}", surface.renderer.colour_path()));
        }
        lines.push(format!(
            "dropped: {} display, {} decoder, {} errors",
            self.cameras[i].mailbox.replaced(),
            dec.dropped_behind + dec.dropped_before_keyframe,
            dec.errors
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
        let frozen = self.watchdog.fires(i);
        if frozen > 0 {
            lines.push(format!("frozen: {frozen} time(s), restarted"));
        }
        // The wall's last events, newest first (any camera: what brought whom forward).
        for e in self.displays[d]
            .kiosk
            .recent()
            .collect::<Vec<_>>()
            .iter()
            .rev()
            .take(3)
        {
            let ago = now.saturating_duration_since(e.at).as_secs();
            let what = if e.state { "" } else { " ended" };
            lines.push(format!(
                "event: {}{what} at {} {ago} s ago",
                e.kind.word(),
                self.config.wall.label(e.camera)
            ));
        }
    }
}
