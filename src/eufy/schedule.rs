//! Which camera streams when: the per-camera state machine of a session, pure and clocked
//! by the caller (no I/O, no runtime), so every rule is testable with made-up instants.
//!
//! What real homes do, and what this models (see PROTOCOL.md, "Cameras, stations"):
//! - A station (a HomeBase, or a camera without one) streams **one camera at a time**. Two
//!   starts at once leave the first camera silent with no error at all, so cameras that share
//!   a station are never started together: they take turns of [`ScheduleConfig::dwell`],
//!   and the others are [`CameraState::Queued`].
//! - A start is only *queued* by the server: each camera has its own deadlines, for
//!   `livestream started` after the start, for the first video after that, and for silence
//!   once streaming. A camera that misses one is stopped and restarted on its own; the other
//!   cameras on the connection are left alone.
//! - Streams end on their own (battery cameras after ~3 min, wired ones after ~10). A cut-off
//!   is restarted after [`ScheduleConfig::restart_pause`] (an immediate restart makes some
//!   cameras drop the new stream); failures back off, doubling up to `backoff_max`.
//! - While the server is still logging in, or does not list a camera yet, the camera waits
//!   ([`CameraState::LoggingIn`]) until the server says it is there.
//! - A camera the owner does not want now (on a page not shown: battery cameras drain when
//!   streamed) is [`CameraState::Idle`]: stopped, and started again when it is wanted
//!   ([`Scheduler::set_wanted`]). The owner may also restart a camera
//!   ([`Scheduler::restart`]: its picture froze).
//!
//! The connection calls the `on_*` methods as messages arrive and [`Scheduler::poll`] when
//! [`Scheduler::next_wake`] comes; both queue [`Action`]s it carries out with
//! [`Scheduler::take_actions`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Why a stream ended when its owner no longer wanted it (not an outage).
pub(crate) const NOT_SHOWN: &str = "not shown";

/// The timing rules.
#[derive(Debug, Clone)]
pub(crate) struct ScheduleConfig {
    /// Longest wait for `livestream started` after a start, and for the first video after it.
    pub start_timeout: Duration,
    /// Longest silence of a camera's video once it streamed.
    pub video_timeout: Duration,
    /// How long each camera of a shared station streams before the next one's turn.
    pub dwell: Duration,
    /// Pause before restarting a stream that ended or failed (doubles per failure in a row).
    pub restart_pause: Duration,
    /// Longest pause between restarts.
    pub backoff_max: Duration,
    /// Restart streams that end or fail; otherwise the first one ends the session.
    pub restarts: bool,
}

/// What a camera is doing, for its owner (tiles, logs).
#[derive(Debug, Clone, PartialEq)]
pub enum CameraState {
    /// The server is still logging in to the Eufy cloud, or does not list the camera yet.
    LoggingIn,
    /// The server's login waits on its user (the bridge needs a 2FA code, a captcha) or
    /// logs in again: what to say on the tile.
    Login {
        /// E.g. "the bridge needs a 2FA code: eufy-hw login --code CODE".
        what: String,
    },
    /// The start was sent; waiting for the camera (after failures in a row: how many, and
    /// why the last one failed).
    Starting {
        /// The tries before this one that failed in a row.
        retry: Option<Retry>,
    },
    /// Video is coming.
    Streaming,
    /// Its station streams another camera; its turn comes (at about `next_at`, when known).
    Queued {
        /// The station's serial.
        station: String,
        /// When its turn should come.
        next_at: Option<Instant>,
    },
    /// Not wanted now (its page is hidden): not streamed.
    Idle,
    /// Its stream ended or failed (why); restarting at `at`.
    Restarting {
        /// Why.
        reason: String,
        /// When the restart is due.
        at: Instant,
        /// Failures in a row (0: the stream ended by itself, a cut-off or a turn).
        failures: u32,
    },
}

/// Whether the `n`th failure in a row is logged at WARN: the first, then every
/// [`WARN_EVERY`]th.
fn warns(n: u32) -> bool {
    n == 1 || n % WARN_EVERY == 0
}

/// A camera's failed tries in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// How many failed in a row.
    pub failures: u32,
    /// Why the last one failed.
    pub reason: String,
}

/// A camera's failures in a row are logged at WARN the first time and every this many
/// after (the others at INFO): a camera that never starts is seen, not repeated forever.
pub(crate) const WARN_EVERY: u32 = 10;

/// What the connection must do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Send `device.start_livestream`; report a refusal with [`Scheduler::start_failed`].
    Start(String),
    /// Send `device.stop_livestream` (best effort).
    Stop(String),
    /// The camera's stream ended: what is pending of it is complete.
    Ended {
        /// Camera.
        serial: String,
        /// Why.
        reason: String,
    },
    /// Tell the owner the camera's new state.
    State {
        /// Camera.
        serial: String,
        /// Its state.
        state: CameraState,
    },
    /// Restarts are off and this camera's stream ended or failed: end the session.
    GiveUp {
        /// Camera.
        serial: String,
        /// Why.
        reason: String,
        /// The server ended the stream (`livestream stopped`), rather than a timeout.
        stopped: bool,
    },
}

/// Why a start did not work.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StartFailure {
    /// The server does not know the camera (yet): wait while it is logging in.
    NotListed,
    /// Anything another try may fix, with why.
    Transient(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Waiting for the server to list it.
    Unlisted,
    /// Waiting for its station's turn.
    Queued,
    /// To be started at this instant.
    Due(Instant),
    /// Start sent at this instant; no `livestream started` yet.
    Starting(Instant),
    /// `livestream started` at this instant; no video yet.
    Started(Instant),
    /// Video flowing; the last at `last`.
    Streaming { last: Instant },
    /// Ended for good (restarts are off).
    Off,
    /// Not wanted: not streamed until it is.
    Idle,
}

#[derive(Debug)]
struct Cam {
    serial: String,
    station: Option<String>,
    phase: Phase,
    /// Failures in a row (reset by video).
    failures: u32,
    /// Video arrived since the last start.
    streamed: bool,
    /// End of its current turn on a shared station.
    turn_until: Option<Instant>,
    /// When its last stream ended (turn order: the longest waiting goes next).
    ended_at: Option<Instant>,
    /// Why its last stream ended, for the restart message.
    reason: String,
    /// The state last reported.
    reported: Option<CameraState>,
    /// The owner wants it streamed.
    wanted: bool,
}

impl Cam {
    fn active(&self) -> bool {
        matches!(
            self.phase,
            Phase::Starting(_) | Phase::Started(_) | Phase::Streaming { .. }
        )
    }

    fn station(&self) -> &str {
        self.station.as_deref().unwrap_or(&self.serial)
    }
}

/// The cameras of one connection.
#[derive(Debug)]
pub(crate) struct Scheduler {
    config: ScheduleConfig,
    cams: Vec<Cam>,
    server_ready: bool,
    out: VecDeque<Action>,
}

impl Scheduler {
    /// Cameras in the order given (which camera of a station goes first); none is started
    /// until the server is ready ([`Scheduler::set_server_ready`] or
    /// [`Scheduler::on_listed`]).
    pub(crate) fn new(config: ScheduleConfig, serials: &[String]) -> Scheduler {
        Scheduler {
            config,
            cams: serials
                .iter()
                .map(|s| Cam {
                    serial: s.clone(),
                    station: None,
                    phase: Phase::Unlisted,
                    failures: 0,
                    streamed: false,
                    turn_until: None,
                    ended_at: None,
                    reason: String::new(),
                    reported: None,
                    wanted: true,
                })
                .collect(),
            server_ready: false,
            out: VecDeque::new(),
        }
    }

    /// The actions queued so far, in order.
    pub(crate) fn take_actions(&mut self) -> Vec<Action> {
        self.out.drain(..).collect()
    }

    /// Whether any action is queued.
    pub(crate) fn has_actions(&self) -> bool {
        !self.out.is_empty()
    }

    fn index(&self, serial: &str) -> Option<usize> {
        self.cams.iter().position(|c| c.serial == serial)
    }

    /// The station a camera streams through (learnt from the server).
    pub(crate) fn set_station(&mut self, serial: &str, station: &str) {
        if let Some(i) = self.index(serial) {
            self.cams[i].station = Some(station.to_owned());
        }
    }

    /// The server finished logging in (or was never logging in): cameras may start.
    pub(crate) fn set_server_ready(&mut self, now: Instant) {
        self.server_ready = true;
        for i in 0..self.cams.len() {
            self.listed(i, now);
        }
    }

    /// The server lists this camera now (`device added`, or a state dump).
    pub(crate) fn on_listed(&mut self, serial: &str, now: Instant) {
        if let Some(i) = self.index(serial) {
            self.listed(i, now);
        }
    }

    fn listed(&mut self, i: usize, now: Instant) {
        if self.cams[i].phase == Phase::Unlisted {
            if self.cams[i].wanted {
                self.cams[i].phase = Phase::Due(now);
            } else {
                self.cams[i].phase = Phase::Idle;
                self.report(i, CameraState::Idle);
            }
        }
    }

    /// Whether the owner wants this camera streamed now. An unwanted camera is stopped (not
    /// a failure) and waits; a wanted one starts as soon as its station is free.
    pub(crate) fn set_wanted(&mut self, serial: &str, wanted: bool, now: Instant) {
        let Some(i) = self.index(serial) else { return };
        if self.cams[i].wanted == wanted {
            return;
        }
        self.cams[i].wanted = wanted;
        if wanted {
            if self.cams[i].phase == Phase::Idle {
                self.cams[i].phase = Phase::Due(now);
            }
            return;
        }
        match self.cams[i].phase {
            Phase::Unlisted | Phase::Off | Phase::Idle => {}
            _ if self.cams[i].active() => {
                self.end(i, now, NOT_SHOWN.into(), true, false);
            }
            _ => {
                self.cams[i].phase = Phase::Idle;
                self.report(i, CameraState::Idle);
            }
        }
    }

    /// The owner found the camera's stream broken (no picture): stop it and start it again
    /// (counted as a failure: repeated restarts back off). Only a streaming camera: one that
    /// is starting has its own deadlines.
    pub(crate) fn restart(&mut self, serial: &str, reason: &str, now: Instant) {
        let Some(i) = self.index(serial) else { return };
        if matches!(self.cams[i].phase, Phase::Streaming { .. }) {
            self.end(i, now, reason.to_owned(), true, true);
        }
    }

    /// Whether a camera waits for the server to log in or list it.
    pub(crate) fn waiting_for_server(&self) -> bool {
        self.cams.iter().any(|c| c.phase == Phase::Unlisted)
    }

    /// The cameras waiting for the server, for messages.
    pub(crate) fn unlisted(&self) -> Vec<&str> {
        self.cams
            .iter()
            .filter(|c| c.phase == Phase::Unlisted)
            .map(|c| c.serial.as_str())
            .collect()
    }

    /// Cameras whose stream was started and not ended (to stop on exit).
    pub(crate) fn active(&self) -> Vec<String> {
        self.cams
            .iter()
            .filter(|c| c.active())
            .map(|c| c.serial.clone())
            .collect()
    }

    /// The start was refused.
    pub(crate) fn start_failed(&mut self, serial: &str, failure: StartFailure, now: Instant) {
        let Some(i) = self.index(serial) else { return };
        match failure {
            StartFailure::NotListed => {
                self.cams[i].phase = Phase::Unlisted;
                self.report(i, CameraState::LoggingIn);
            }
            StartFailure::Transient(why) => self.end(i, now, why, false, true),
        }
    }

    /// The session is closing: the server ended this camera's stream (or is about to be
    /// asked to), and nothing follows: no restart, no report, no log.
    pub(crate) fn closed(&mut self, serial: &str) {
        if let Some(i) = self.index(serial) {
            self.cams[i].phase = Phase::Off;
        }
    }

    /// Whether the camera's livestream runs for us (`livestream started` came).
    pub(crate) fn is_live(&self, serial: &str) -> bool {
        self.index(serial).is_some_and(|i| {
            matches!(
                self.cams[i].phase,
                Phase::Started(_) | Phase::Streaming { .. }
            )
        })
    }

    /// Audio for `serial`: true while its stream is ours (forward it).
    pub(crate) fn on_audio(&self, serial: &str) -> bool {
        self.index(serial).is_some_and(|i| self.cams[i].active())
    }

    /// `livestream started`; true when the camera is one we started (forward it).
    pub(crate) fn on_started(&mut self, serial: &str, now: Instant) -> bool {
        let Some(i) = self.index(serial) else {
            return false;
        };
        match self.cams[i].phase {
            Phase::Starting(_) => {
                self.cams[i].phase = Phase::Started(now);
                true
            }
            Phase::Started(_) | Phase::Streaming { .. } => true,
            _ => false,
        }
    }

    /// Video for `serial`; false when it is not streaming for us (a camera we stopped or that
    /// waits for its turn): the bytes are to be ignored.
    pub(crate) fn on_video(&mut self, serial: &str, now: Instant) -> bool {
        let Some(i) = self.index(serial) else {
            return false;
        };
        let c = &mut self.cams[i];
        match c.phase {
            Phase::Streaming { ref mut last } => {
                *last = now;
                true
            }
            Phase::Starting(_) | Phase::Started(_) => {
                c.phase = Phase::Streaming { last: now };
                c.streamed = true;
                c.failures = 0;
                let shared = self.shares_station(i);
                self.cams[i].turn_until = shared.then(|| now + self.config.dwell);
                self.report(i, CameraState::Streaming);
                if shared {
                    self.report_queue(i, now);
                }
                true
            }
            _ => false,
        }
    }

    /// `livestream stopped` from the server: the stream was cut off (or never started).
    pub(crate) fn on_stopped(&mut self, serial: &str, now: Instant) {
        let Some(i) = self.index(serial) else { return };
        if self.cams[i].active() {
            let failure = !self.cams[i].streamed;
            self.end(
                i,
                now,
                "the stream ended (livestream stopped)".into(),
                false,
                failure,
            );
        }
    }

    /// The station reported a failed command (negative `returnCode`) for this camera.
    pub(crate) fn on_station_error(&mut self, serial: &str, code: i64, now: Instant) {
        let Some(i) = self.index(serial) else { return };
        if matches!(self.cams[i].phase, Phase::Starting(_) | Phase::Started(_)) {
            self.end(
                i,
                now,
                format!("its station reported a failed start (returnCode {code})"),
                true,
                true,
            );
        }
    }

    /// The earliest instant [`Scheduler::poll`] has something to do.
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        let cfg = &self.config;
        self.cams
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match c.phase {
                Phase::Due(t) => Some(t),
                Phase::Starting(t) | Phase::Started(t) => Some(t + cfg.start_timeout),
                Phase::Streaming { last } => {
                    let silence = last + cfg.video_timeout;
                    Some(match c.turn_until {
                        Some(t) if self.others_queued(i) => silence.min(t),
                        _ => silence,
                    })
                }
                Phase::Unlisted | Phase::Queued | Phase::Off | Phase::Idle => None,
            })
            .min()
    }

    /// Applies every rule due at `now`: timeouts, turns, starts.
    pub(crate) fn poll(&mut self, now: Instant) {
        self.expire(now);
        self.hand_turns(now);
        self.start_due(now);
        // Cameras still waiting for the server say so (once).
        for i in 0..self.cams.len() {
            if self.cams[i].phase == Phase::Unlisted {
                self.report(i, CameraState::LoggingIn);
            }
        }
    }

    /// Ends the streams past a deadline (start, first video, silence) or past their turn.
    fn expire(&mut self, now: Instant) {
        let cfg = self.config.clone();
        let secs = |d: Duration| d.as_secs_f64();
        for i in 0..self.cams.len() {
            let c = &self.cams[i];
            let expired = match c.phase {
                Phase::Starting(t) if now >= t + cfg.start_timeout => Some(format!(
                    "no livestream started within {:.0} s of the start (camera asleep or offline, or its station busy with another camera?)",
                    secs(cfg.start_timeout)
                )),
                Phase::Started(t) if now >= t + cfg.start_timeout => Some(format!(
                    "livestream started, but no video within {:.0} s",
                    secs(cfg.start_timeout)
                )),
                Phase::Streaming { last } if now >= last + cfg.video_timeout => Some(format!(
                    "video stopped: nothing for {:.0} s",
                    secs(cfg.video_timeout)
                )),
                _ => None,
            };
            if let Some(reason) = expired {
                self.end(i, now, reason, true, true);
                continue;
            }
            let c = &self.cams[i];
            if matches!(c.phase, Phase::Streaming { .. })
                && c.turn_until.is_some_and(|t| now >= t)
                && self.others_queued(i)
            {
                let station = c.station().to_owned();
                self.end(
                    i,
                    now,
                    format!("its turn on station {station} is over"),
                    true,
                    false,
                );
            }
        }
    }

    /// Stations with nobody streaming or due: the camera that waited longest goes next,
    /// after the pause; the others are told when their turn should come.
    fn hand_turns(&mut self, now: Instant) {
        for i in 0..self.cams.len() {
            if self.cams[i].phase != Phase::Queued || self.station_taken(i) {
                continue;
            }
            let station = self.cams[i].station().to_owned();
            let next = self
                .cams
                .iter()
                .enumerate()
                .filter(|(_, c)| c.phase == Phase::Queued && c.station() == station)
                .min_by_key(|(_, c)| c.ended_at)
                .map(|(k, _)| k)
                .unwrap_or(i);
            let last_end = self
                .cams
                .iter()
                .filter(|c| c.station() == station)
                .filter_map(|c| c.ended_at)
                .max();
            let pause = self.pause(next);
            let at = last_end.map_or(now, |e| (e + pause).max(now));
            self.cams[next].phase = Phase::Due(at);
            if self.cams[next].ended_at.is_some() {
                let reason = self.cams[next].reason.clone();
                let failures = self.cams[next].failures;
                self.report(
                    next,
                    CameraState::Restarting {
                        reason,
                        at,
                        failures,
                    },
                );
            }
            for k in 0..self.cams.len() {
                if self.cams[k].phase == Phase::Queued && self.cams[k].station() == station {
                    self.report_queued(k, now);
                }
            }
        }
    }

    /// Due cameras start, unless their station is taken (then they queue).
    fn start_due(&mut self, now: Instant) {
        for i in 0..self.cams.len() {
            let Phase::Due(t) = self.cams[i].phase else {
                continue;
            };
            if self.station_busy(i) {
                self.cams[i].phase = Phase::Queued;
                self.report_queued(i, now);
                continue;
            }
            if t > now {
                continue;
            }
            let c = &mut self.cams[i];
            c.phase = Phase::Starting(now);
            c.streamed = false;
            c.turn_until = None;
            let serial = c.serial.clone();
            let retry = (c.failures > 0).then(|| Retry {
                failures: c.failures,
                reason: c.reason.clone(),
            });
            self.out.push_back(Action::Start(serial));
            self.report(i, CameraState::Starting { retry });
        }
    }

    /// Ends camera `i`'s stream: stop it (`stop`), flush it, and restart it or queue it.
    fn end(&mut self, i: usize, now: Instant, reason: String, stop: bool, failure: bool) {
        let serial = self.cams[i].serial.clone();
        if stop && self.cams[i].active() {
            self.out.push_back(Action::Stop(serial.clone()));
        }
        if self.cams[i].streamed {
            self.out.push_back(Action::Ended {
                serial: serial.clone(),
                reason: reason.clone(),
            });
        }
        let c = &mut self.cams[i];
        c.streamed = false;
        c.turn_until = None;
        c.ended_at = Some(now);
        if failure {
            c.failures = c.failures.saturating_add(1);
        }
        if !c.wanted {
            tracing::debug!(camera = %serial, "{reason}; idle until wanted");
            c.phase = Phase::Idle;
            self.report(i, CameraState::Idle);
            return;
        }
        if !self.config.restarts {
            c.phase = Phase::Off;
            self.out.push_back(Action::GiveUp {
                serial,
                reason,
                stopped: !stop,
            });
            return;
        }
        c.reason = reason;
        // Queued: `poll` picks who goes next on its station (itself, when alone).
        c.phase = Phase::Queued;
        self.log_restart(i, failure);
    }

    /// Says why camera `i` restarts: a failure at WARN the first time in a row and every
    /// [`WARN_EVERY`] after, naming the camera, the reason and the next try; the others,
    /// and streams that ended by themselves, at INFO.
    fn log_restart(&self, i: usize, failure: bool) {
        let c = &self.cams[i];
        let (serial, reason, n) = (&c.serial, &c.reason, c.failures);
        if !failure {
            tracing::info!(camera = %serial, "{reason}; restarting");
            return;
        }
        let wait = self.pause(i).as_secs_f64();
        // Whole seconds where they are (the usual 1, 2, 4 …), else to a tenth.
        let wait = if (wait - wait.round()).abs() < 0.05 {
            format!("{wait:.0}")
        } else {
            format!("{wait:.1}")
        };
        let text = format!("camera {serial}: {reason}; retrying in {wait} s");
        if warns(n) {
            tracing::warn!(camera = %serial, "{text} ({n} failed in a row)");
        } else {
            tracing::info!(camera = %serial, "{text} ({n} failed in a row)");
        }
    }

    /// The pause before camera `i`'s next start: `restart_pause`, doubled per failure in a
    /// row, at most `backoff_max`.
    fn pause(&self, i: usize) -> Duration {
        let f = self.cams[i].failures.saturating_sub(1).min(16);
        self.config
            .restart_pause
            .saturating_mul(1 << f)
            .min(self.config.backoff_max.max(self.config.restart_pause))
    }

    fn shares_station(&self, i: usize) -> bool {
        let s = self.cams[i].station();
        self.cams
            .iter()
            .enumerate()
            .any(|(k, c)| k != i && c.station() == s)
    }

    fn others_queued(&self, i: usize) -> bool {
        let s = self.cams[i].station();
        self.cams
            .iter()
            .enumerate()
            .any(|(k, c)| k != i && c.station() == s && c.phase == Phase::Queued)
    }

    /// Another camera of `i`'s station is streaming or starting.
    fn station_busy(&self, i: usize) -> bool {
        let s = self.cams[i].station();
        self.cams
            .iter()
            .enumerate()
            .any(|(k, c)| k != i && c.station() == s && c.active())
    }

    /// Someone on `i`'s station is streaming, starting or due.
    fn station_taken(&self, i: usize) -> bool {
        let s = self.cams[i].station();
        self.cams
            .iter()
            .any(|c| c.station() == s && (c.active() || matches!(c.phase, Phase::Due(_))))
    }

    /// Reports camera `i` as queued, with when its turn should come.
    fn report_queued(&mut self, i: usize, now: Instant) {
        let station = self.cams[i].station().to_owned();
        let dwell = self.config.dwell;
        let active_end = self
            .cams
            .iter()
            .filter(|c| c.station() == station)
            .filter_map(|c| match c.phase {
                Phase::Due(t) => Some(t.max(now) + dwell),
                _ if c.active() => Some(c.turn_until.unwrap_or(now + dwell)),
                _ => None,
            })
            .max();
        // Those queued before it (ended earlier) go first.
        let ahead = self
            .cams
            .iter()
            .filter(|c| {
                c.station() == station
                    && c.phase == Phase::Queued
                    && c.ended_at < self.cams[i].ended_at
            })
            .count() as u32;
        let next_at = active_end.map(|t| {
            t + (self.config.dwell + self.config.restart_pause) * ahead + self.config.restart_pause
        });
        self.report(i, CameraState::Queued { station, next_at });
    }

    /// Re-reports the queue of camera `i`'s station (its turn began: the times moved).
    fn report_queue(&mut self, i: usize, now: Instant) {
        let station = self.cams[i].station().to_owned();
        for k in 0..self.cams.len() {
            if k != i && self.cams[k].station() == station && self.cams[k].phase == Phase::Queued {
                self.report_queued(k, now);
            }
        }
    }

    fn report(&mut self, i: usize, state: CameraState) {
        if self.cams[i].reported.as_ref() == Some(&state) {
            return;
        }
        self.cams[i].reported = Some(state.clone());
        self.out.push_back(Action::State {
            serial: self.cams[i].serial.clone(),
            state,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ScheduleConfig {
        ScheduleConfig {
            start_timeout: Duration::from_secs(20),
            video_timeout: Duration::from_secs(10),
            dwell: Duration::from_secs(10),
            restart_pause: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            restarts: true,
        }
    }

    fn sched(serials: &[&str]) -> Scheduler {
        let s: Vec<String> = serials.iter().map(|s| s.to_string()).collect();
        Scheduler::new(config(), &s)
    }

    fn starts(actions: &[Action]) -> Vec<&str> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Start(s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }

    fn stops(actions: &[Action]) -> Vec<&str> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Stop(s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }

    fn state_of<'a>(actions: &'a [Action], serial: &str) -> Option<&'a CameraState> {
        actions.iter().rev().find_map(|a| match a {
            Action::State { serial: s, state } if s == serial => Some(state),
            _ => None,
        })
    }

    fn secs(t0: Instant, s: f64) -> Instant {
        t0 + Duration::from_secs_f64(s)
    }

    #[test]
    fn nothing_starts_before_the_server_is_ready() {
        let t0 = Instant::now();
        let mut s = sched(&["A", "B"]);
        s.poll(t0);
        let a = s.take_actions();
        assert!(starts(&a).is_empty());
        assert_eq!(state_of(&a, "A"), Some(&CameraState::LoggingIn));
        assert!(s.waiting_for_server());
        // One camera listed before login finished may start; the other waits.
        s.on_listed("B", secs(t0, 1.0));
        s.poll(secs(t0, 1.0));
        assert_eq!(starts(&s.take_actions()), ["B"]);
        s.set_server_ready(secs(t0, 2.0));
        s.poll(secs(t0, 2.0));
        assert_eq!(starts(&s.take_actions()), ["A"]);
        assert!(!s.waiting_for_server());
    }

    #[test]
    fn cameras_of_one_station_take_turns() {
        let t0 = Instant::now();
        let mut s = sched(&["A", "B", "C"]);
        s.set_station("A", "HB");
        s.set_station("B", "HB");
        s.set_station("C", "C");
        s.set_server_ready(t0);
        s.poll(t0);
        let a = s.take_actions();
        assert_eq!(starts(&a), ["A", "C"], "one per station");
        assert!(
            matches!(state_of(&a, "B"), Some(CameraState::Queued { station, .. }) if station == "HB")
        );
        assert!(!s.on_video("B", t0), "video of a queued camera is ignored");
        assert!(s.on_started("A", secs(t0, 0.7)));
        assert!(s.on_video("A", secs(t0, 0.8)));
        let a = s.take_actions();
        // B's turn is announced for when A's ends, plus the pause.
        match state_of(&a, "B") {
            Some(CameraState::Queued {
                next_at: Some(at), ..
            }) => {
                assert_eq!(*at, secs(t0, 0.8 + 10.0 + 1.0))
            }
            other => panic!("{other:?}"),
        }
        // A streams for its dwell, then stops; B starts after the pause.
        for k in 9..108 {
            let t = f64::from(k) / 10.0;
            s.on_video("A", secs(t0, t));
            s.on_video("C", secs(t0, t));
            s.poll(secs(t0, t));
            assert!(
                s.take_actions()
                    .iter()
                    .all(|a| !matches!(a, Action::Stop(_))),
                "{t}"
            );
        }
        assert_eq!(s.next_wake(), Some(secs(t0, 10.8)));
        s.poll(secs(t0, 10.8));
        let a = s.take_actions();
        assert_eq!(stops(&a), ["A"]);
        assert!(a
            .iter()
            .any(|x| matches!(x, Action::Ended { serial, .. } if serial == "A")));
        assert!(starts(&a).is_empty(), "the pause first");
        assert!(matches!(
            state_of(&a, "A"),
            Some(CameraState::Queued { .. })
        ));
        assert_eq!(s.next_wake(), Some(secs(t0, 11.8)));
        s.poll(secs(t0, 11.8));
        let a = s.take_actions();
        assert_eq!(starts(&a), ["B"], "{a:?}");
        // C, alone on its station, was never touched.
        assert!(stops(&a).is_empty());
        // B's turn, then A's again.
        s.on_video("B", secs(t0, 12.5));
        s.on_video("C", secs(t0, 20.0));
        s.poll(secs(t0, 22.5));
        assert_eq!(stops(&s.take_actions()), ["B"]);
        s.poll(secs(t0, 23.5));
        assert_eq!(starts(&s.take_actions()), ["A"]);
    }

    #[test]
    fn a_camera_that_never_starts_is_restarted_alone() {
        let t0 = Instant::now();
        let mut s = sched(&["A", "B"]);
        s.set_server_ready(t0);
        s.poll(t0);
        s.take_actions();
        s.on_started("B", secs(t0, 0.6));
        for k in 1..200 {
            let t = secs(t0, 0.1 * f64::from(k));
            assert!(s.on_video("B", t));
            s.poll(t);
            assert!(stops(&s.take_actions()).is_empty());
        }
        // A never said `livestream started`: at 20 s it is stopped and restarted, B is not.
        s.on_video("B", secs(t0, 20.0));
        s.poll(secs(t0, 20.0));
        let a = s.take_actions();
        assert_eq!(stops(&a), ["A"]);
        match state_of(&a, "A") {
            Some(CameraState::Restarting {
                reason,
                at,
                failures,
            }) => {
                assert!(
                    reason.contains("no livestream started within 20 s"),
                    "{reason}"
                );
                assert_eq!(*at, secs(t0, 21.0));
                assert_eq!(*failures, 1);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            !a.iter().any(|x| matches!(x, Action::Ended { .. })),
            "A sent nothing to flush"
        );
        s.poll(secs(t0, 21.0));
        let a = s.take_actions();
        assert_eq!(starts(&a), ["A"]);
        // The new try says why the last one failed.
        match state_of(&a, "A") {
            Some(CameraState::Starting { retry: Some(r) }) => {
                assert_eq!(r.failures, 1);
                assert!(r.reason.contains("no livestream started"), "{r:?}");
            }
            other => panic!("{other:?}"),
        }
        // Failures in a row back off: 1, 2, 4 s.
        s.on_video("B", secs(t0, 41.0));
        s.poll(secs(t0, 41.0));
        s.take_actions();
        assert_eq!(s.next_wake(), Some(secs(t0, 43.0)));
    }

    #[test]
    fn failures_in_a_row_warn_the_first_time_and_every_tenth() {
        let warned: Vec<u32> = (1..=35).filter(|&n| warns(n)).collect();
        assert_eq!(warned, [1, 10, 20, 30]);
    }

    #[test]
    fn started_without_video_and_silence_have_their_own_messages() {
        let t0 = Instant::now();
        let mut s = sched(&["A"]);
        s.set_server_ready(t0);
        s.poll(t0);
        s.on_started("A", secs(t0, 1.0));
        s.poll(secs(t0, 21.0));
        let a = s.take_actions();
        assert!(
            matches!(state_of(&a, "A"), Some(CameraState::Restarting { reason, .. }) if reason.contains("no video within"))
        );
        s.poll(secs(t0, 22.0));
        s.on_started("A", secs(t0, 22.5));
        s.on_video("A", secs(t0, 23.0));
        s.poll(secs(t0, 33.0));
        let a = s.take_actions();
        assert!(
            matches!(state_of(&a, "A"), Some(CameraState::Restarting { reason, .. }) if reason.contains("video stopped"))
        );
        assert!(a.iter().any(|x| matches!(x, Action::Ended { .. })));
    }

    #[test]
    fn a_cut_off_restarts_after_the_pause_without_backoff() {
        let t0 = Instant::now();
        let mut s = sched(&["A"]);
        s.set_server_ready(t0);
        let mut start = 0.0;
        for round in 0..3 {
            s.poll(secs(t0, start));
            assert_eq!(starts(&s.take_actions()), ["A"], "round {round}");
            s.on_started("A", secs(t0, start + 0.5));
            s.on_video("A", secs(t0, start + 1.0));
            let cut = start + 50.0;
            s.on_stopped("A", secs(t0, cut));
            let a = s.take_actions();
            assert!(stops(&a).is_empty(), "the server ended it");
            assert!(a.iter().any(|x| matches!(x, Action::Ended { .. })));
            s.poll(secs(t0, cut));
            // Always the plain pause: a cut-off after video is not a failure.
            assert_eq!(s.next_wake(), Some(secs(t0, cut + 1.0)), "round {round}");
            start = cut + 1.0;
        }
    }

    #[test]
    fn without_restarts_the_first_end_gives_up() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(
            ScheduleConfig {
                restarts: false,
                ..config()
            },
            &["A".to_owned()],
        );
        s.set_server_ready(t0);
        s.poll(t0);
        s.on_started("A", t0);
        s.on_video("A", t0);
        s.on_stopped("A", secs(t0, 5.0));
        let a = s.take_actions();
        assert!(
            a.iter()
                .any(|x| matches!(x, Action::GiveUp { stopped: true, .. })),
            "{a:?}"
        );
        s.poll(secs(t0, 100.0));
        assert!(starts(&s.take_actions()).is_empty());
    }

    #[test]
    fn a_refused_start_of_an_unlisted_camera_waits_for_the_server() {
        let t0 = Instant::now();
        let mut s = sched(&["A"]);
        s.set_server_ready(t0);
        s.poll(t0);
        s.take_actions();
        s.start_failed("A", StartFailure::NotListed, t0);
        assert!(s.waiting_for_server());
        s.poll(secs(t0, 100.0));
        assert!(starts(&s.take_actions()).is_empty());
        s.on_listed("A", secs(t0, 101.0));
        s.poll(secs(t0, 101.0));
        assert_eq!(starts(&s.take_actions()), ["A"]);
    }

    /// Hidden cameras are not streamed: never started while unwanted, stopped when they
    /// become unwanted (not a failure: no backoff), started when wanted again; a camera
    /// queued behind an unwanted one on its station gets the station.
    #[test]
    fn unwanted_cameras_are_not_streamed() {
        let t0 = Instant::now();
        let mut s = sched(&["A", "B", "C"]);
        s.set_station("A", "H");
        s.set_station("B", "H");
        s.set_wanted("C", false, t0);
        s.set_server_ready(t0);
        s.poll(t0);
        let a = s.take_actions();
        assert_eq!(starts(&a), vec!["A"]);
        assert_eq!(state_of(&a, "C"), Some(&CameraState::Idle));
        assert!(s.on_video("A", secs(t0, 1.0)));
        s.take_actions();
        // A hidden: stopped at once, and B (queued on its station) goes next.
        s.set_wanted("A", false, secs(t0, 2.0));
        s.poll(secs(t0, 2.0));
        let a = s.take_actions();
        assert_eq!(stops(&a), vec!["A"]);
        assert_eq!(state_of(&a, "A"), Some(&CameraState::Idle));
        s.poll(secs(t0, 3.0));
        assert_eq!(starts(&s.take_actions()), vec!["B"]);
        assert!(
            !s.on_video("A", secs(t0, 3.1)),
            "A's late bytes are not ours"
        );
        // C wanted: starts now, with no backoff.
        s.set_wanted("C", true, secs(t0, 4.0));
        s.poll(secs(t0, 4.0));
        assert_eq!(starts(&s.take_actions()), vec!["C"]);
        // Never started while unwanted, however long.
        s.poll(secs(t0, 100.0));
        assert!(!starts(&s.take_actions()).contains(&"A"));
    }

    /// The owner's restart (a frozen picture) stops and starts the camera alone.
    #[test]
    fn the_owner_restarts_a_frozen_camera() {
        let t0 = Instant::now();
        let mut s = sched(&["A", "B"]);
        s.set_server_ready(t0);
        s.poll(t0);
        s.take_actions();
        assert!(s.on_video("A", t0) && s.on_video("B", t0));
        s.take_actions();
        s.restart("A", "no picture for 10 s", secs(t0, 1.0));
        let a = s.take_actions();
        assert_eq!(stops(&a), vec!["A"]);
        assert!(
            matches!(a.iter().find(|x| matches!(x, Action::Ended { .. })), Some(Action::Ended { serial, reason }) if serial == "A" && reason.contains("no picture"))
        );
        s.poll(secs(t0, 2.0));
        assert_eq!(starts(&s.take_actions()), vec!["A"]);
        // A camera not streaming (starting again) is left alone.
        s.restart("A", "again", secs(t0, 2.5));
        assert!(stops(&s.take_actions()).is_empty());
    }
}
