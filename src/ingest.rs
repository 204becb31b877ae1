//! One path from a session's video events to each camera's access units, shared by the
//! viewer and bench ([`crate::pipeline::Feed`]) and `record`: an assembler per camera, what
//! to do when a stream ends (what is pending is complete: flush it) or the connection is lost
//! (what is pending is cut: drop it), and the gaps between a stream's end and the next
//! picture, measured.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::bitstream::{AccessUnit, AccessUnits, AssemblerConfig};

/// Interruptions of one camera's pictures: from the last access unit before a stream ended
/// or the connection was lost to the first one after it came back.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Gaps {
    /// Interruptions that ended (an outage counts once, however many reconnects it took).
    pub count: u64,
    /// The latest, seconds.
    pub last_secs: f64,
    /// The longest, seconds.
    pub longest_secs: f64,
    /// All of them together, seconds.
    pub total_secs: f64,
}

impl Gaps {
    fn add(&mut self, gap: Duration) {
        let s = gap.as_secs_f64();
        self.count += 1;
        self.last_secs = s;
        self.longest_secs = self.longest_secs.max(s);
        self.total_secs += s;
    }
}

struct Camera {
    assembler: AccessUnits<Instant>,
    /// Arrival of its last access unit.
    last_unit: Option<Instant>,
    /// Set while interrupted: the last unit before it.
    interrupted: Option<Instant>,
    gaps: Gaps,
}

/// Video events in, access units out, per camera.
pub(crate) struct Ingest {
    config: AssemblerConfig,
    message_framing: bool,
    cams: HashMap<String, Camera>,
}

impl Ingest {
    /// Assemblers made with `config`; `message_framing` trusts message ends as access-unit
    /// ends once the server proves it frames that way (lower latency, see
    /// [`AccessUnits::push_message`]); otherwise the bytes alone decide.
    pub(crate) fn new(config: AssemblerConfig, message_framing: bool) -> Ingest {
        Ingest {
            config,
            message_framing,
            cams: HashMap::new(),
        }
    }

    fn camera(&mut self, serial: &str) -> &mut Camera {
        if !self.cams.contains_key(serial) {
            self.cams.insert(
                serial.to_owned(),
                Camera {
                    assembler: AccessUnits::new(self.config),
                    last_unit: None,
                    interrupted: None,
                    gaps: Gaps::default(),
                },
            );
        }
        // Inserted just above when missing.
        self.cams
            .get_mut(serial)
            .unwrap_or_else(|| unreachable!("camera {serial} inserted above"))
    }

    /// Video bytes of `serial` that arrived at `at`: `emit` gets each access unit they
    /// complete. Returns the gap this ends, when its pictures were interrupted before.
    pub(crate) fn video(
        &mut self,
        serial: &str,
        data: &[u8],
        at: Instant,
        mut emit: impl FnMut(AccessUnit<Instant>),
    ) -> Option<Duration> {
        let framing = self.message_framing;
        let cam = self.camera(serial);
        let mut gap = None;
        let mut on_unit = |au: AccessUnit<Instant>| {
            if let Some(since) = cam.interrupted.take() {
                let g = au.at.saturating_duration_since(since);
                cam.gaps.add(g);
                gap = Some(g);
            }
            cam.last_unit = Some(au.at);
            emit(au);
        };
        if framing {
            cam.assembler.push_message(data, at, &mut on_unit);
        } else {
            cam.assembler.push(data, at, &mut on_unit);
        }
        gap
    }

    /// `serial`'s stream ended: what is pending is complete, so `emit` gets it; the next
    /// stream starts at a keyframe again.
    pub(crate) fn ended(&mut self, serial: &str, emit: impl FnMut(AccessUnit<Instant>)) {
        self.finish(serial, true, emit);
    }

    /// `serial`'s stream was stopped on purpose (its page is hidden): as [`Ingest::ended`],
    /// but the time until it streams again is no gap.
    pub(crate) fn paused(&mut self, serial: &str, emit: impl FnMut(AccessUnit<Instant>)) {
        self.finish(serial, false, emit);
        if let Some(cam) = self.cams.get_mut(serial) {
            cam.interrupted = None;
        }
    }

    fn finish(&mut self, serial: &str, outage: bool, mut emit: impl FnMut(AccessUnit<Instant>)) {
        let Some(cam) = self.cams.get_mut(serial) else {
            return;
        };
        cam.assembler.finish(|au| {
            cam.last_unit = Some(au.at);
            emit(au);
        });
        cam.assembler.reset();
        if outage && cam.interrupted.is_none() {
            cam.interrupted = cam.last_unit;
        }
    }

    /// The connection was lost: what is pending of every camera is cut short, dropped.
    pub(crate) fn lost(&mut self) {
        for cam in self.cams.values_mut() {
            cam.assembler.reset();
            if cam.interrupted.is_none() {
                cam.interrupted = cam.last_unit;
            }
        }
    }

    /// `serial`'s interruptions so far.
    pub(crate) fn gaps(&self, serial: &str) -> Gaps {
        self.cams.get(serial).map(|c| c.gaps).unwrap_or_default()
    }

    /// `serial`'s assembler (parameter sets, stream info), once it sent video.
    pub(crate) fn assembler(&self, serial: &str) -> Option<&AccessUnits<Instant>> {
        self.cams.get(serial).map(|c| &c.assembler)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The demo clip's first two access units: a keyframe and a P picture.
    fn units() -> (Vec<u8>, Vec<u8>) {
        let clip = crate::clip::Clip::demo();
        assert!(clip.units[0].keyframe && !clip.units[1].keyframe);
        (clip.units[0].data.to_vec(), clip.units[1].data.to_vec())
    }

    fn ingest() -> Ingest {
        Ingest::new(
            AssemblerConfig {
                wait_for_keyframe: true,
                ..Default::default()
            },
            false,
        )
    }

    #[test]
    fn the_last_unit_is_flushed_when_the_stream_ends() {
        let (key, p) = units();
        let t0 = Instant::now();
        let mut ing = ingest();
        let mut out = Vec::new();
        ing.video("A", &key, t0, |au| out.push(au.data));
        ing.video("A", &p, t0, |au| out.push(au.data));
        assert!(
            out == [key.clone()],
            "the P unit waits for the next start code"
        );
        ing.ended("A", |au| out.push(au.data));
        assert!(out == [key, p], "{} units", out.len());
    }

    #[test]
    fn a_lost_connection_drops_what_is_pending() {
        let (key, p) = units();
        let t0 = Instant::now();
        let mut ing = ingest();
        let mut out = Vec::new();
        ing.video("A", &key, t0, |au| out.push(au.data));
        ing.video("A", &p, t0, |au| out.push(au.data));
        assert_eq!(
            out.len(),
            1,
            "the keyframe, completed by the P unit's second slice"
        );
        ing.video("A", &key[..20], t0, |au| out.push(au.data));
        ing.lost();
        // The P unit and the start of a keyframe pending at the loss are gone; after it, a
        // P unit is no start, the next keyframe is.
        ing.video("A", &p, t0, |au| out.push(au.data));
        ing.video("A", &key, t0, |au| out.push(au.data));
        ing.video("A", &p, t0, |au| out.push(au.data));
        let lens: Vec<usize> = out.iter().map(Vec::len).collect();
        assert_eq!(lens, [key.len(), key.len()]);
        assert!(out.iter().all(|u| *u == key));
    }

    #[test]
    fn an_outage_is_one_gap_however_many_losses_it_takes() {
        let (key, p) = units();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut ing = ingest();
        let mut n = 0;
        ing.video("A", &key, at(0), |_| n += 1);
        ing.video("A", &p, at(1), |_| n += 1); // completes the keyframe at 1 s
        ing.ended("A", |_| n += 1); // flushes the P unit at 1 s
        ing.lost();
        ing.lost();
        assert_eq!(ing.gaps("A").count, 0, "not over yet");
        ing.video("A", &key, at(5), |_| n += 1);
        // The keyframe's last byte came at 5 s, the last unit's before the outage at 1 s.
        let gap = ing.video("A", &p, at(6), |_| n += 1);
        assert_eq!(gap, Some(Duration::from_secs(4)));
        let g = ing.gaps("A");
        assert_eq!((g.count, g.longest_secs), (1, 4.0));
        // A loss before any picture is no gap.
        ing.lost();
        assert_eq!(ing.gaps("B").count, 0);
        assert_eq!(n, 3);
    }

    /// A stream stopped because its page is hidden is flushed like one that ended, but the
    /// time until its page comes back is no gap.
    #[test]
    fn a_hidden_camera_is_no_gap() {
        let (key, p) = units();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut ing = ingest();
        let mut n = 0;
        ing.video("A", &key, at(0), |_| n += 1);
        ing.video("A", &p, at(1), |_| n += 1);
        ing.paused("A", |_| n += 1);
        assert_eq!(n, 2, "the pending P unit is flushed");
        ing.video("A", &key, at(30), |_| n += 1);
        assert_eq!(ing.video("A", &p, at(31), |_| n += 1), None);
        assert_eq!(ing.gaps("A").count, 0);
    }
}
