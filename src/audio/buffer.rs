//! The jitter buffer between the decoder and the sound device: pure, clocked by the caller.
//!
//! The protocol carries no timestamps, so audio is aligned the way the picture is: by
//! arrival. A camera sends an audio frame once it has captured it, so a chunk's first
//! sample is taken to have arrived one chunk's length before the chunk did; a sample that
//! arrived at `t` is *due* at the device at `t + delay`, where the
//! owner sets `delay` to what the picture takes from arrival to the screen plus a margin for
//! network jitter ([`JitterBuffer::set_delay`]). Samples play back to back; arrival only
//! corrects them:
//! - a chunk is never due sooner than a *lead* after it arrived: twice the measured jitter
//!   of arrivals (against the chunks' own lengths) plus 10 ms (15 to 150 ms), plus the
//!   device's buffer (the most one pull asks for); where the sync target is sooner than
//!   that, sound trails the picture rather than stutter;
//! - a chunk that arrives much later than the queue's end would be due (by more than
//!   [`HOLE`]: the camera's audio had a hole) starts at its own due time, with silence
//!   before it;
//! - when the head of the queue is late at the device by more than [`MAX_LATE`], the late
//!   part is dropped (audio never trails the picture by more than that);
//! - when the head is early, silence is played until it is due (never ahead of the picture
//!   by more than [`MAX_EARLY`]);
//! - every stop (nothing to play) fades out and every resume fades in over [`FADE`]: no
//!   clicks.
//!
//! Memory is bounded: at most [`MAX_QUEUED`] of audio is held; older samples are dropped.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Audio later than its due time by more than this is dropped (ITU-R BT.1359: sound more
/// than 125 ms behind the picture is detectable; this keeps well inside).
pub(crate) const MAX_LATE: Duration = Duration::from_millis(60);
/// Audio earlier than its due time by more than this waits (BT.1359: 45 ms ahead).
pub(crate) const MAX_EARLY: Duration = Duration::from_millis(20);
/// A chunk due this much after the queue's end marks a hole in the camera's audio.
pub(crate) const HOLE: Duration = Duration::from_millis(150);
/// Fade length at stops and resumes.
pub(crate) const FADE: Duration = Duration::from_millis(5);
/// Most audio held.
pub(crate) const MAX_QUEUED: Duration = Duration::from_secs(2);
/// The gain of ducked sound (about -16 dB): heard, but not over the talker.
pub(crate) const DUCKED: f32 = 0.15;

/// What the buffer did, for the overlay and bench.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AudioStats {
    /// Frames (one sample per channel) pushed in.
    pub frames_in: u64,
    /// Frames played.
    pub frames_played: u64,
    /// Frames dropped: late, or past the buffer's bound.
    pub frames_dropped: u64,
    /// Times the buffer ran dry while playing.
    pub underruns: u64,
    /// Silence inserted for holes in the camera's audio, frames.
    pub frames_filled: u64,
    /// How late the head was at the device when played, ms (negative: early), the last
    /// few hundred callbacks.
    pub lateness_ms: VecDeque<f64>,
    /// From a chunk's arrival to its first sample at the device, ms (the last few
    /// thousand chunks).
    pub latency_ms: VecDeque<f64>,
    /// When a sound started after at least [`QUIET`] of silence, at the device (the last
    /// few thousand): a beep's onset, for A/V measurements.
    pub onsets: VecDeque<Instant>,
}

/// Silence before a sound counts as an onset.
pub(crate) const QUIET: Duration = Duration::from_millis(100);
/// Level over which a sample is sound, not silence.
const ONSET_LEVEL: f32 = 0.05;
/// Latencies and onsets kept.
const KEPT: usize = 4096;

/// Samples waiting for the device.
#[derive(Debug)]
pub(crate) struct JitterBuffer {
    rate: u32,
    channels: usize,
    queue: VecDeque<f32>,
    /// When the sample at the head of the queue is due at the device.
    head_due: Option<Instant>,
    delay: Duration,
    volume: f32,
    ducked: bool,
    muted: bool,
    /// The gain of the last frame written (fades ramp from it).
    gain: f32,
    /// The last frame written, for a fade-out after it.
    last: Vec<f32>,
    playing: bool,
    stats: AudioStats,
    /// Absolute index of the frame at the head of the queue.
    consumed: u64,
    /// Absolute index past the queue's tail.
    pushed: u64,
    /// Chunk starts (absolute frame index) and their arrivals, for the latency.
    marks: VecDeque<(u64, Instant)>,
    /// Quiet frames played in a row (onset detection).
    quiet: u64,
    /// The last chunk's arrival and length, for the jitter.
    last_chunk: Option<(Instant, Duration)>,
    /// Smoothed deviation of arrival intervals from the chunks' lengths, s.
    jitter: f64,
    /// The device's buffer: the most one pull asked for, s.
    pull_len: f64,
}

const LATENESS_KEPT: usize = 512;

impl JitterBuffer {
    /// A buffer for `channels` interleaved samples at `rate`, samples due `delay` after they
    /// arrived.
    pub(crate) fn new(rate: u32, channels: u16, delay: Duration) -> JitterBuffer {
        let channels = usize::from(channels.max(1));
        JitterBuffer {
            rate: rate.max(1),
            channels,
            queue: VecDeque::new(),
            head_due: None,
            delay,
            volume: 1.0,
            ducked: false,
            muted: false,
            gain: 0.0,
            last: vec![0.0; channels],
            playing: false,
            stats: AudioStats::default(),
            consumed: 0,
            pushed: 0,
            marks: VecDeque::new(),
            quiet: u64::MAX / 2,
            last_chunk: None,
            jitter: 0.0,
            pull_len: 0.0,
        }
    }

    /// The least time a chunk waits after it arrived: room for the measured jitter, and for
    /// one device buffer (a pull takes that much at once).
    pub(crate) fn lead(&self) -> Duration {
        Duration::from_secs_f64((2.0 * self.jitter + 0.010).clamp(0.015, 0.150) + self.pull_len)
    }

    fn frames(&self, d: Duration) -> usize {
        (d.as_secs_f64() * f64::from(self.rate)).round() as usize
    }

    fn duration(&self, frames: usize) -> Duration {
        Duration::from_secs_f64(frames as f64 / f64::from(self.rate))
    }

    /// Queued frames.
    pub(crate) fn queued(&self) -> usize {
        self.queue.len() / self.channels
    }

    /// Samples are due this long after they arrived.
    pub(crate) fn set_delay(&mut self, delay: Duration) {
        self.delay = delay;
    }

    /// The delay in use.
    pub(crate) fn delay(&self) -> Duration {
        self.delay
    }

    /// Output gain, 0 to 1 (more is clipped).
    pub(crate) fn set_volume(&mut self, volume: f32) {
        self.volume = volume.clamp(0.0, 1.0);
    }

    /// Mute (fades out; the queue keeps being consumed, so unmuting is in sync).
    pub(crate) fn set_muted(&mut self, muted: bool) {
        self.muted = muted;
    }

    /// Duck (talk back: the camera's sound lowered to [`DUCKED`] while someone talks, so a
    /// half-duplex doorbell's echo does not fill the room); fades like a mute.
    pub(crate) fn set_ducked(&mut self, ducked: bool) {
        self.ducked = ducked;
    }

    /// Whether muted.
    pub(crate) fn muted(&self) -> bool {
        self.muted
    }

    /// Forgets what is queued (another camera's sound comes next).
    pub(crate) fn clear(&mut self) {
        self.consumed = self.pushed;
        self.queue.clear();
        self.marks.clear();
        self.head_due = None;
    }

    /// What it did so far.
    pub(crate) fn stats(&self) -> &AudioStats {
        &self.stats
    }

    /// Interleaved samples that arrived at `arrived`.
    pub(crate) fn push(&mut self, samples: &[f32], arrived: Instant) {
        let frames = samples.len() / self.channels;
        if frames == 0 {
            return;
        }
        self.stats.frames_in += frames as u64;
        let length = self.duration(frames);
        if let Some((last, last_len)) = self.last_chunk {
            let interval = arrived.saturating_duration_since(last).as_secs_f64();
            tracing::trace!(interval_ms = interval * 1e3, "chunk interval");
            // A burst (the frames buffered while a stream starts) is not jitter: capped.
            let deviation = (interval - last_len.as_secs_f64()).abs().min(0.04);
            self.jitter = 0.95 * self.jitter + 0.05 * deviation;
        }
        self.last_chunk = Some((arrived, length));
        // Its first sample was captured a chunk's length before it arrived; it is never due
        // sooner than the lead after it arrived.
        let synced = (arrived + self.delay)
            .checked_sub(length)
            .unwrap_or(arrived);
        let due = synced.max(arrived + self.lead());
        match self.head_due {
            None => self.head_due = Some(due),
            Some(head) => {
                let tail = head + self.duration(self.queued());
                // A hole in the camera's audio: silence until this chunk is due.
                if due > tail + HOLE {
                    let hole = self.frames(due - tail);
                    self.stats.frames_filled += hole as u64;
                    self.queue
                        .extend(std::iter::repeat_n(0.0, hole * self.channels));
                    self.pushed += hole as u64;
                }
            }
        }
        tracing::trace!(
            frames,
            lead_ms = self.lead().as_secs_f64() * 1e3,
            due_in_ms = due.saturating_duration_since(arrived).as_secs_f64() * 1e3,
            queued = self.queued(),
            "push"
        );
        push_kept(&mut self.marks, (self.pushed, arrived));
        self.queue.extend(&samples[..frames * self.channels]);
        self.pushed += frames as u64;
        let max = self.frames(MAX_QUEUED);
        if self.queued() > max {
            let over = self.queued() - max;
            self.drop_frames(over);
        }
    }

    fn drop_frames(&mut self, n: usize) {
        let n = n.min(self.queued());
        self.queue.drain(..n * self.channels);
        self.stats.frames_dropped += n as u64;
        self.consumed += n as u64;
        while self.marks.front().is_some_and(|m| m.0 < self.consumed) {
            self.marks.pop_front();
        }
        if let Some(h) = self.head_due.as_mut() {
            *h += Duration::from_secs_f64(n as f64 / f64::from(self.rate));
        }
        if self.queue.is_empty() {
            self.head_due = None;
        }
    }

    /// Fills `out` (interleaved) with what is due at the device from `play_at` on.
    pub(crate) fn pull(&mut self, out: &mut [f32], play_at: Instant) {
        let n = out.len() / self.channels;
        self.pull_len = self.pull_len.max(n as f64 / f64::from(self.rate)).min(0.2);
        let fade = self.frames(FADE).max(1);
        self.drop_late(play_at);
        let lateness = self.head_due.map(|h| {
            if play_at >= h {
                (play_at - h).as_secs_f64() * 1e3
            } else {
                -((h - play_at).as_secs_f64() * 1e3)
            }
        });
        // Early head: silence until it is due.
        let wait = match self.head_due {
            Some(h) if h > play_at + MAX_EARLY => self.frames(h - play_at).min(n),
            Some(_) => 0,
            None => n,
        };
        // Silence (or the wait), faded out from the last frame written.
        self.fade_out(out, 0..wait, fade);
        if wait > 0 && self.playing && self.head_due.is_none() {
            self.stats.underruns += 1;
        }
        self.playing = self.head_due.is_some() && wait < n;
        if !self.playing {
            self.head_due = self.head_due.map(|h| h.max(play_at));
            return;
        }
        if let Some(l) = lateness {
            self.stats.lateness_ms.push_back(l);
            if self.stats.lateness_ms.len() > LATENESS_KEPT {
                self.stats.lateness_ms.pop_front();
            }
        }
        // Samples, fading towards the target gain.
        let target = match (self.muted, self.ducked) {
            (true, _) => 0.0,
            (false, true) => self.volume * DUCKED,
            (false, false) => self.volume,
        };
        let mut k = wait;
        while k < n && !self.queue.is_empty() {
            let at = play_at + Duration::from_secs_f64(k as f64 / f64::from(self.rate));
            self.play_frame(
                &mut out[k * self.channels..(k + 1) * self.channels],
                at,
                target,
                fade,
            );
            k += 1;
        }
        let played = k - wait;
        self.stats.frames_played += played as u64;
        self.head_due = self
            .head_due
            .map(|h| h + self.duration(played))
            .filter(|_| !self.queue.is_empty());
        // Ran dry inside this buffer: fade out the rest.
        if k < n {
            tracing::trace!(missing = n - k, "underrun");
            self.stats.underruns += 1;
            self.playing = false;
            self.fade_out(out, k..n, fade);
        }
    }

    /// A head more than [`MAX_LATE`] past due at `play_at`: what is past due is dropped.
    fn drop_late(&mut self, play_at: Instant) {
        let Some(head) = self.head_due else { return };
        if play_at > head + MAX_LATE {
            let late = self.frames(play_at - head);
            tracing::trace!(
                late_ms = (play_at - head).as_secs_f64() * 1e3,
                queued = self.queued(),
                "late: dropping"
            );
            self.drop_frames(late);
        }
    }

    /// Frames `range` of `out`: the last frame written, fading to silence over `fade`.
    fn fade_out(&mut self, out: &mut [f32], range: std::ops::Range<usize>, fade: usize) {
        for k in range {
            self.gain = (self.gain - 1.0 / fade as f32).max(0.0);
            for c in 0..self.channels {
                out[k * self.channels + c] = self.last[c] * self.gain;
            }
        }
    }

    /// The next queued frame into `frame` (one sample per channel), played at `at`: a
    /// chunk's first sample gives its latency, a loud frame after quiet is an onset, the
    /// gain steps towards `target`.
    fn play_frame(&mut self, frame: &mut [f32], at: Instant, target: f32, fade: usize) {
        if self.marks.front().is_some_and(|m| m.0 <= self.consumed) {
            if let Some((_, arrived)) = self.marks.pop_front() {
                let l = at.saturating_duration_since(arrived).as_secs_f64() * 1e3;
                push_kept(&mut self.stats.latency_ms, l);
            }
        }
        let loud = self
            .queue
            .iter()
            .take(self.channels)
            .any(|s| s.abs() > ONSET_LEVEL);
        if loud {
            if self.quiet >= self.frames(QUIET) as u64 {
                push_kept(&mut self.stats.onsets, at);
            }
            self.quiet = 0;
        } else {
            self.quiet += 1;
        }
        self.consumed += 1;
        let step = 1.0 / fade as f32;
        self.gain = if self.gain < target {
            (self.gain + step).min(target)
        } else {
            (self.gain - step).max(target)
        };
        for (c, out) in frame.iter_mut().enumerate() {
            let s = self.queue.pop_front().unwrap_or(0.0);
            self.last[c] = s;
            *out = (s * self.gain).clamp(-1.0, 1.0);
        }
    }
}

fn push_kept<T>(q: &mut VecDeque<T>, v: T) {
    q.push_back(v);
    if q.len() > KEPT {
        q.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;

    fn ms(t0: Instant, m: f64) -> Instant {
        t0 + Duration::from_secs_f64(m / 1e3)
    }

    /// 20 ms chunks of a constant level, mono.
    fn chunk(level: f32) -> Vec<f32> {
        vec![level; 960]
    }

    /// Largest jump between neighbouring output samples (a click).
    fn max_step(v: &[f32]) -> f32 {
        v.windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn steady_audio_plays_on_time_without_loss() {
        let t0 = Instant::now();
        let mut b = JitterBuffer::new(RATE, 1, Duration::from_millis(40));
        let mut out = Vec::new();
        // Chunks arrive every 20 ms; the device asks for 10 ms every 10 ms.
        for i in 0..100 {
            if i % 2 == 0 {
                b.push(&chunk(0.5), ms(t0, i as f64 * 10.0));
            }
            let mut buf = vec![0.0; 480];
            // Due 40 ms after arrival less the chunk's 20 ms (captured before it was sent),
            // but never sooner than the lead: 15 ms, and the 10 ms a pull takes.
            b.pull(&mut buf, ms(t0, i as f64 * 10.0 + 25.0));
            out.extend(buf);
        }
        let s = b.stats();
        assert_eq!(s.frames_dropped, 0, "{s:?}");
        // Each chunk's first sample reached the device 25 ms after the chunk arrived.
        assert_eq!(s.latency_ms.len(), 50, "{s:?}");
        assert!(s.latency_ms.iter().all(|l| (l - 25.0).abs() < 0.1), "{s:?}");
        assert!(
            s.onsets.len() == 1,
            "one onset, at the start: {:?}",
            s.onsets
        );
        assert_eq!(s.underruns, 0, "{s:?}");
        assert_eq!(s.frames_played, 48_000, "{s:?}");
        // On time, within a sample.
        // (The first two pulls, before the buffer knew a pull's length, 5 ms late.)
        assert!(s.lateness_ms.iter().skip(2).all(|l| l.abs() < 0.1), "{s:?}");
        // It fades in (no click), then holds the level.
        assert!(max_step(&out) <= 0.5 / 239.0 + 1e-6, "{}", max_step(&out));
        assert!((out[24_000] - 0.5).abs() < 1e-6);
    }

    /// Beeps: an onset where a sound starts after 100 ms of silence, at its time at the
    /// device.
    #[test]
    fn onsets_are_timed_at_the_device() {
        let t0 = Instant::now();
        let mut b = JitterBuffer::new(RATE, 1, Duration::from_millis(30));
        // 1 s of audio: silence, then a beep at 0.5 s for 0.1 s, in 20 ms chunks.
        for c in 0..50 {
            let v: Vec<f32> = (0..960)
                .map(|i| {
                    let t = (c * 960 + i) as f64 / 48_000.0;
                    if (0.5..0.6).contains(&t) {
                        0.5
                    } else {
                        0.0
                    }
                })
                .collect();
            b.push(&v, ms(t0, (c + 1) as f64 * 20.0));
        }
        let mut out = vec![0.0; 48_000];
        b.pull(&mut out, ms(t0, 30.0));
        let s = b.stats();
        assert_eq!(s.onsets.len(), 1, "{s:?}");
        let at = s.onsets[0].duration_since(t0).as_secs_f64() * 1e3;
        assert!((at - 530.0).abs() < 0.1, "{at}");
    }

    #[test]
    fn early_audio_waits_and_late_audio_is_dropped() {
        let t0 = Instant::now();
        let mut b = JitterBuffer::new(RATE, 1, Duration::from_millis(100));
        b.push(&chunk(0.5), t0);
        // Asked 50 ms before it is due: 10 ms of silence.
        let mut buf = vec![1.0; 480];
        b.pull(&mut buf, ms(t0, 50.0));
        assert!(buf.iter().all(|s| *s == 0.0));
        assert_eq!(b.stats().frames_played, 0);
        // Asked 150 ms after it was due: the whole chunk is late, dropped, and silence.
        let mut b = JitterBuffer::new(RATE, 1, Duration::from_millis(100));
        b.push(&chunk(0.5), t0);
        b.push(&chunk(0.5), ms(t0, 20.0));
        let mut buf = vec![1.0; 480];
        b.pull(&mut buf, ms(t0, 100.0 + 30.0 + 70.0));
        let s = b.stats();
        assert!(s.frames_dropped >= 960, "{s:?}");
        assert!(
            s.lateness_ms
                .iter()
                .all(|l| *l < MAX_LATE.as_secs_f64() * 1e3),
            "{s:?}"
        );
    }

    #[test]
    fn underruns_fade_and_holes_are_filled() {
        let t0 = Instant::now();
        let mut b = JitterBuffer::new(RATE, 1, Duration::from_millis(20));
        b.push(&chunk(0.8), t0);
        let mut out = Vec::new();
        for i in 0..6 {
            let mut buf = vec![0.0; 480];
            b.pull(&mut buf, ms(t0, 20.0 + i as f64 * 10.0));
            out.extend(buf);
        }
        assert_eq!(b.stats().underruns, 1, "{:?}", b.stats());
        // Faded in and out: no step larger than a fade's.
        assert!(max_step(&out) <= 0.8 / 239.0 + 1e-6, "{}", max_step(&out));
        assert_eq!(*out.last().unwrap(), 0.0);
        // A hole: the next chunk comes 200 ms after the last one ended; silence before it.
        let mut b = JitterBuffer::new(RATE, 1, Duration::from_millis(20));
        b.push(&chunk(0.8), t0);
        b.push(&chunk(0.8), ms(t0, 220.0));
        // The first is due at 15 ms (the lead), so the queue ends at 35 ms; the second is due
        // 15 ms after its arrival (a burst's jitter is capped), at 235 ms: 200 ms of silence.
        assert_eq!(b.stats().frames_filled, 9_600, "{:?}", b.stats());
    }

    #[test]
    fn muting_fades_and_memory_is_bounded() {
        let t0 = Instant::now();
        let mut b = JitterBuffer::new(RATE, 2, Duration::ZERO);
        for i in 0..200 {
            b.push(&vec![0.5; 1920], ms(t0, i as f64 * 20.0 / 1000.0));
        }
        assert!(b.queued() <= 96_000, "{}", b.queued());
        assert!(b.stats().frames_dropped > 0);
        let mut b = JitterBuffer::new(RATE, 1, Duration::from_secs(1));
        b.push(&vec![0.5; 48_000], t0);
        let mut buf = vec![0.0; 4_800];
        b.pull(&mut buf, t0);
        b.set_muted(true);
        let mut quiet = vec![0.0; 4_800];
        b.pull(&mut quiet, ms(t0, 100.0));
        assert!(max_step(&quiet) <= 0.5 / 239.0 + 1e-6);
        assert!(quiet[1000..].iter().all(|s| *s == 0.0));
        assert_eq!(
            b.stats().frames_played,
            9_600,
            "consumed while muted: stays in sync"
        );
    }

    /// Ducked sound plays at [`DUCKED`] of the volume, reached by a fade, and comes back.
    #[test]
    fn ducking_lowers_and_restores() {
        let t0 = Instant::now();
        let mut b = JitterBuffer::new(RATE, 1, Duration::from_secs(1));
        b.push(&vec![0.5; 48_000], t0);
        let mut buf = vec![0.0; 4_800];
        b.pull(&mut buf, t0);
        b.set_ducked(true);
        b.pull(&mut buf, ms(t0, 100.0));
        assert!(max_step(&buf) <= 0.5 / 239.0 + 1e-6, "a fade, not a click");
        assert!(buf[1000..].iter().all(|s| (*s - 0.5 * DUCKED).abs() < 1e-4));
        b.set_ducked(false);
        b.pull(&mut buf, ms(t0, 200.0));
        assert!(buf[1000..].iter().all(|s| (*s - 0.5).abs() < 1e-4));
    }
}
