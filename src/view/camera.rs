//! One camera of the wall as the viewer holds it: who it is, its mailbox, what it showed and
//! how it is doing. The app keeps one [`Camera`] per wall entry, indexed like the wall's
//! cameras (`Screen::cameras` names them by that index); nothing about a camera lives in a
//! vector of its own beside it.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::pictures::PictureBox;
use crate::decode::LatestFrame;
use crate::frame::Frame;
use crate::pipeline::CameraStatus;

/// A camera of the wall.
pub(super) struct Camera {
    /// Its serial (the session's and Home Assistant's name for it).
    pub(super) serial: String,
    /// Its session's status (phase, capabilities, talk back, decoders' counters): a copy of
    /// the pipeline's, taken when it changes and at each tick (`App::sync_statuses`), so that
    /// drawing reads the camera and never the pipeline's lock.
    pub(super) status: CameraStatus,
    /// Its decoder's newest frame, waiting for a draw.
    pub(super) mailbox: Arc<LatestFrame>,
    /// What its tile showed: for the overlay, Home Assistant and the log.
    pub(super) stats: TileStats,
    /// Its last live frame shown (its still, Home Assistant's picture, the other windows'
    /// copy).
    pub(super) last_frame: Option<Frame>,
    /// How many live frames were taken from its mailbox (a window that uploaded fewer has
    /// an older picture).
    pub(super) live_gen: u64,
    /// Its latest picture waiting for its tile (from disk, from the server).
    pub(super) picture_box: Arc<PictureBox>,
    /// Its latest picture taken from the box, while a window may still want it.
    pub(super) still: Option<(Frame, SystemTime)>,
    /// How long its picture has been frozen, while it is (the watchdog's verdict).
    pub(super) frozen: Option<Duration>,
    /// Whether a raw recording (`r`) of it runs: set by the key, copied with the status (a
    /// recording that failed to write stops on its own).
    pub(super) recording: bool,
    /// The viewer's own word on its talk back (the microphone could not open), shown until
    /// the session says something newer.
    pub(super) talk_said: Option<(crate::talk::TalkState, Instant)>,
}

impl Camera {
    /// Takes the pipeline's status (and whether it records): the session's word on its talk
    /// back, unless the viewer's own is newer.
    pub(super) fn update(&mut self, status: &CameraStatus, recording: bool) {
        self.status.clone_from(status);
        self.recording = recording;
        let said_at = self.talk_said.as_ref().map(|t| t.1);
        let session_at = self.status.talk.as_ref().map(|t| t.1);
        match (said_at, session_at) {
            (Some(ours), Some(theirs)) if theirs >= ours => self.talk_said = None,
            (Some(_), _) => self.status.talk.clone_from(&self.talk_said),
            (None, _) => {}
        }
    }

    /// The viewer's own word on its talk back (it could not start).
    pub(super) fn talk_failed(&mut self, why: String, now: Instant) {
        self.talk_said = Some((crate::talk::TalkState::Failed(why), now));
        self.status.talk.clone_from(&self.talk_said);
    }

    pub(super) fn new(
        serial: String,
        mailbox: Arc<LatestFrame>,
        picture_box: Arc<PictureBox>,
    ) -> Camera {
        Camera {
            serial,
            status: CameraStatus::default(),
            mailbox,
            stats: TileStats::new(),
            last_frame: None,
            live_gen: 0,
            picture_box,
            still: None,
            frozen: None,
            recording: false,
            talk_said: None,
        }
    }
}

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

    /// A frame that arrived at `received` was shown at `now`.
    pub(super) fn on_shown(&mut self, received: Instant, now: Instant) {
        self.shown += 1;
        self.latency_ms = now.duration_since(received).as_secs_f64() * 1e3;
        let (since, count) = self.shown_window;
        let secs = now.duration_since(since).as_secs_f64();
        if secs >= 1.0 {
            self.fps = (self.shown - count) as f64 / secs;
            self.shown_window = (now, self.shown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_frames_give_latency_and_a_rate_each_second() {
        let mut st = TileStats::new();
        let t0 = st.shown_window.0;
        for k in 1..=30u64 {
            let at = t0 + Duration::from_millis(50 * k);
            st.on_shown(at - Duration::from_millis(7), at);
        }
        assert_eq!(st.shown, 30);
        assert!((st.latency_ms - 7.0).abs() < 0.01, "{}", st.latency_ms);
        // 20 frames in the first second (the window closes at the 20th), 20 fps.
        assert!((st.fps - 20.0).abs() < 0.01, "{}", st.fps);
        assert_eq!(st.shown_window.1, 20);
    }

    fn camera() -> Camera {
        Camera::new(
            "T1".into(),
            LatestFrame::new(|| {}),
            Arc::new(PictureBox::default()),
        )
    }

    /// The viewer's word that the microphone failed stays on the tile through the copies of
    /// the pipeline's status, until the session says something newer of the talk back.
    #[test]
    fn the_viewers_own_talk_failure_stays_until_the_session_says_more() {
        use crate::talk::TalkState;
        let mut cam = camera();
        let t0 = Instant::now();
        let mut pipeline = CameraStatus {
            talk: Some((TalkState::Waiting, t0)),
            ..Default::default()
        };
        cam.update(&pipeline, false);
        cam.talk_failed("no microphone".into(), t0 + Duration::from_secs(1));
        let failed = Some(TalkState::Failed("no microphone".into()));
        for _ in 0..3 {
            cam.update(&pipeline, true);
            assert_eq!(cam.status.talk.as_ref().map(|t| t.0.clone()), failed);
            assert!(cam.recording);
        }
        pipeline.talk = Some((TalkState::Talking, t0 + Duration::from_secs(2)));
        cam.update(&pipeline, false);
        assert_eq!(cam.status.talk.map(|t| t.0), Some(TalkState::Talking));
        assert!(cam.talk_said.is_none() && !cam.recording);
    }
}
