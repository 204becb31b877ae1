//! One talk back's state on an eufy-security-ws connection, without I/O: when to send
//! `device.start_talkback`, which frame goes out at which tick, what the server's events and
//! refusals mean (../shared/PROTOCOL.md, "Talk back"). The session does the sending.
//!
//! The rules it keeps: talk back starts only while the camera's livestream runs (ours); audio
//! goes out only after the camera's `talkback started` (before it, the server drops it); one
//! frame per [`FRAME_INTERVAL`], catching up after a stall by at most [`CATCH_UP`] frames; a
//! stream cut ends the talk back silently on the server, so a cut sends it back to waiting
//! and the next `livestream started` starts it again; the end of the sound stops it.

use std::time::{Duration, Instant};

use tokio::sync::mpsc::error::TryRecvError;

use super::protocol::codes;
use crate::talk::{TalkAudio, TalkState, FRAME_INTERVAL, LIVE_AHEAD};

/// The first schema with talk back.
pub(crate) const TALK_SCHEMA: u32 = 13;

/// Frames sent back to back at most after the session was held up.
pub(crate) const CATCH_UP: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Waiting,
    Starting(Instant),
    Talking,
}

/// What the session does at a tick.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Tick {
    /// Nothing now.
    Idle,
    /// Send this frame (`device.talkback_audio_data`).
    Send(Vec<u8>),
    /// Stop (`device.stop_talkback` when `stop`) and report this state.
    Finish {
        /// Whether the server has a talk back of ours to stop.
        stop: bool,
        /// The last state.
        state: TalkState,
    },
}

/// One talk back.
pub(crate) struct TalkJob {
    /// The camera.
    pub(crate) serial: String,
    audio: TalkAudio,
    phase: Phase,
    /// The sound has ended (all frames taken).
    closed: bool,
    /// The livestream runs and talk back is not started yet: start it.
    due: bool,
    next_tick: Instant,
    /// Frames sent.
    pub(crate) frames: u64,
    /// Frames of a live source dropped as stale (the session fell behind the microphone).
    pub(crate) stale: u64,
    /// Longest wait for the camera's `talkback started`.
    answer_within: Duration,
}

impl TalkJob {
    pub(crate) fn new(
        serial: String,
        audio: TalkAudio,
        answer_within: Duration,
        now: Instant,
    ) -> Self {
        TalkJob {
            serial,
            audio,
            phase: Phase::Waiting,
            closed: false,
            due: false,
            next_tick: now,
            frames: 0,
            stale: 0,
            answer_within,
        }
    }

    /// When the session must look at it again.
    pub(crate) fn next_wake(&self) -> Instant {
        self.next_tick
    }

    /// The camera's livestream runs (now, or from the start): talk back may start.
    pub(crate) fn on_live(&mut self) {
        if self.phase == Phase::Waiting {
            self.due = true;
        }
    }

    /// A new connection: nothing of ours runs on the server.
    pub(crate) fn on_reconnect(&mut self) {
        self.phase = Phase::Waiting;
        self.due = false;
    }

    /// The camera's livestream ended: the server ended the talk back with it, silently.
    pub(crate) fn on_cut(&mut self) -> Option<TalkState> {
        self.due = false;
        (self.phase != Phase::Waiting).then(|| {
            self.phase = Phase::Waiting;
            TalkState::Waiting
        })
    }

    /// Whether to send `device.start_talkback` now; the job is then starting.
    pub(crate) fn take_due(&mut self, now: Instant) -> bool {
        if !std::mem::take(&mut self.due) || self.phase != Phase::Waiting || self.closed {
            return false;
        }
        self.phase = Phase::Starting(now);
        true
    }

    /// The server refused `device.start_talkback` with `code`: what the job becomes
    /// (`None`: waiting again, for the next `livestream started`).
    pub(crate) fn on_refused(&mut self, code: &str, schema: u32) -> Option<TalkState> {
        let why = match code {
            codes::NOT_RUNNING => {
                self.phase = Phase::Waiting;
                return Some(TalkState::Waiting);
            }
            // Ours, from before a hiccup: the camera plays what we send.
            codes::TALKBACK_ALREADY_RUNNING => {
                self.phase = Phase::Talking;
                return Some(TalkState::Talking);
            }
            codes::ONLY_ONE_TALKBACK => {
                "another client is talking through this server (one talk back at a time)".into()
            }
            codes::NOT_SUPPORTED => "this camera cannot talk back".into(),
            codes::UNKNOWN_COMMAND => format!(
                "eufy-security-ws speaks schema {schema} here; talk back needs {TALK_SCHEMA} (upgrade the server)"
            ),
            codes::DEVICE_NOT_FOUND => "the server does not know this camera".into(),
            other => format!("the server refused it ({other})"),
        };
        Some(self.fail(why))
    }

    fn fail(&mut self, why: String) -> TalkState {
        self.closed = true;
        self.phase = Phase::Waiting;
        TalkState::Failed(why)
    }

    /// `talkback started` or `talkback stopped` for this camera.
    pub(crate) fn on_event(&mut self, started: bool) -> Option<TalkState> {
        match (self.phase, started) {
            (Phase::Starting(_), true) => {
                self.phase = Phase::Talking;
                Some(TalkState::Talking)
            }
            (Phase::Starting(_), false) => Some(self.fail(
                "the camera is busy: it stopped the talk back before answering (someone may be answering in the app)".into(),
            )),
            (Phase::Talking, false) => Some(self.fail("the camera ended the talk back".into())),
            _ => None,
        }
    }

    /// A `device.talkback_audio_data` was refused as not running: the talk back ended
    /// under us (a cut whose `livestream stopped` is still on its way).
    pub(crate) fn on_data_refused(&mut self) -> Option<TalkState> {
        (self.phase == Phase::Talking).then(|| {
            self.phase = Phase::Waiting;
            TalkState::Waiting
        })
    }

    /// What to do at `now`.
    pub(crate) fn tick(&mut self, now: Instant) -> Tick {
        if self.closed {
            return self.finish();
        }
        if let Phase::Starting(since) = self.phase {
            if now >= since + self.answer_within {
                let secs = self.answer_within.as_secs_f64();
                let state = self.fail(format!("the camera did not answer in {secs:.0} s"));
                return Tick::Finish { stop: true, state };
            }
        }
        if now < self.next_tick {
            return Tick::Idle;
        }
        // One frame per interval; after a stall, a few at once, then the pace again.
        let behind = FRAME_INTERVAL * (CATCH_UP - 1);
        self.next_tick =
            (self.next_tick + FRAME_INTERVAL).max(now.checked_sub(behind).unwrap_or(now));
        if self.phase != Phase::Talking {
            // Frames wait in the channel (a file) or are dropped at the source (live).
            if self.audio.frames.is_closed() && self.audio.frames.is_empty() {
                self.closed = true;
                return self.finish();
            }
            return Tick::Idle;
        }
        if self.audio.live {
            // What a live source said a while ago is dropped rather than delayed.
            while self.audio.frames.len() > LIVE_AHEAD {
                let _ = self.audio.frames.try_recv();
                self.stale += 1;
            }
        }
        match self.audio.frames.try_recv() {
            Ok(frame) => {
                self.frames += 1;
                Tick::Send(frame)
            }
            Err(TryRecvError::Empty) => Tick::Idle,
            Err(TryRecvError::Disconnected) => {
                self.closed = true;
                self.finish()
            }
        }
    }

    fn finish(&mut self) -> Tick {
        let stop = self.phase != Phase::Waiting;
        self.phase = Phase::Waiting;
        Tick::Finish {
            stop,
            state: TalkState::Ended {
                frames: self.frames,
            },
        }
    }

    /// Whether the server may hold a talk back of ours (started, not cut).
    pub(crate) fn is_running(&self) -> bool {
        self.phase != Phase::Waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    fn job(frames: usize) -> (TalkJob, mpsc::Sender<Vec<u8>>, Instant) {
        let (tx, rx) = mpsc::channel(64);
        for i in 0..frames {
            tx.try_send(vec![i as u8]).unwrap();
        }
        let now = Instant::now();
        let audio = TalkAudio {
            frames: rx,
            live: false,
        };
        (
            TalkJob::new("T1".into(), audio, Duration::from_secs(5), now),
            tx,
            now,
        )
    }

    /// Nothing is sent before the camera answers; then one frame per 64 ms, in order.
    #[test]
    fn frames_only_after_started_and_paced() {
        let (mut j, _tx, t0) = job(3);
        assert_eq!(j.tick(t0), Tick::Idle);
        assert!(!j.take_due(t0), "not live yet");
        j.on_live();
        assert!(j.take_due(t0));
        assert_eq!(
            j.tick(t0 + FRAME_INTERVAL),
            Tick::Idle,
            "starting: nothing sent"
        );
        assert_eq!(j.on_event(true), Some(TalkState::Talking));
        let mut sent = Vec::new();
        let mut t = t0 + FRAME_INTERVAL * 2;
        for _ in 0..6 {
            // Two looks per interval: only one sends.
            for dt in [Duration::ZERO, FRAME_INTERVAL / 2] {
                if let Tick::Send(f) = j.tick(t + dt) {
                    sent.push((f[0], t + dt));
                }
            }
            t += FRAME_INTERVAL;
        }
        assert_eq!(sent.iter().map(|s| s.0).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(sent.windows(2).all(|w| w[1].1 - w[0].1 >= FRAME_INTERVAL));
    }

    /// After a stall, at most CATCH_UP frames go out at once.
    #[test]
    fn a_stall_catches_up_a_little() {
        let (mut j, _tx, t0) = job(20);
        j.on_live();
        j.take_due(t0);
        j.on_event(true);
        let late = t0 + FRAME_INTERVAL * 50;
        let burst = std::iter::from_fn(|| matches!(j.tick(late), Tick::Send(_)).then_some(()))
            .take(20)
            .count();
        // The frame due now and the CATCH_UP before it.
        assert_eq!(burst as u32, CATCH_UP + 1, "{burst} frames at once");
    }

    /// A live source's stale frames are dropped: what goes out is what was said last.
    #[test]
    fn live_sound_is_not_delayed() {
        let (tx, rx) = mpsc::channel(8);
        for i in 0..5 {
            tx.try_send(vec![i]).unwrap();
        }
        let t0 = Instant::now();
        let audio = TalkAudio {
            frames: rx,
            live: true,
        };
        let mut j = TalkJob::new("T1".into(), audio, Duration::from_secs(5), t0);
        j.on_live();
        j.take_due(t0);
        j.on_event(true);
        assert_eq!(j.tick(t0), Tick::Send(vec![3]));
        assert_eq!(j.stale, 3);
        assert_eq!(j.tick(t0 + FRAME_INTERVAL), Tick::Send(vec![4]));
    }

    /// A cut sends it back to waiting; the next `livestream started` starts it again.
    #[test]
    fn a_cut_restarts_it() {
        let (mut j, _tx, t0) = job(0);
        j.on_live();
        j.take_due(t0);
        j.on_event(true);
        assert_eq!(j.on_cut(), Some(TalkState::Waiting));
        assert!(!j.take_due(t0));
        j.on_live();
        assert!(j.take_due(t0));
    }

    /// The end of the sound stops the talk back (after what was queued); a busy camera, a
    /// second talker, a silent camera: failures in words.
    #[test]
    fn ends_and_failures() {
        let (mut j, tx, t0) = job(1);
        j.on_live();
        j.take_due(t0);
        j.on_event(true);
        drop(tx);
        assert!(matches!(j.tick(t0), Tick::Send(_)));
        assert_eq!(
            j.tick(t0 + FRAME_INTERVAL),
            Tick::Finish {
                stop: true,
                state: TalkState::Ended { frames: 1 }
            }
        );

        let (mut j, _tx, t0) = job(0);
        j.on_live();
        j.take_due(t0);
        assert!(matches!(j.on_event(false), Some(TalkState::Failed(w)) if w.contains("busy")));

        let (mut j, _tx, t0) = job(0);
        j.on_live();
        j.take_due(t0);
        let s = j.on_refused(codes::ONLY_ONE_TALKBACK, 21);
        assert!(matches!(s, Some(TalkState::Failed(w)) if w.contains("another client")));
        assert!(matches!(j.tick(t0), Tick::Finish { stop: false, .. }));

        // No livestream after all (cut between the start and ours): waiting again, and
        // started again by the next `livestream started`.
        let (mut j, _tx, t0) = job(0);
        j.on_live();
        j.take_due(t0);
        assert_eq!(
            j.on_refused(codes::NOT_RUNNING, 21),
            Some(TalkState::Waiting)
        );
        assert!(!j.take_due(t0));
        j.on_live();
        assert!(j.take_due(t0));

        let (mut j, _tx, t0) = job(0);
        j.on_live();
        j.take_due(t0);
        assert!(matches!(
            j.tick(t0 + Duration::from_secs(6)),
            Tick::Finish { stop: true, state: TalkState::Failed(w) } if w.contains("did not answer")
        ));
    }
}
