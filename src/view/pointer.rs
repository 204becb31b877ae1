//! Touch and mouse on the wall, pure: presses, moves and releases (a finger, or the mouse's
//! left button) become taps and swipes, the wheel's turns become page turns. The window
//! ([`super::app`]) feeds it winit's events and carries out what it recognises: a tap on a
//! tile fills the screen with that camera (another tap returns), a swipe or the wheel turns
//! the page.

use std::time::{Duration, Instant};

/// What the pointer asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Gesture {
    /// A tap (or click) at this point of the window.
    Tap {
        /// Window pixels from the left.
        x: f64,
        /// Window pixels from the top.
        y: f64,
    },
    /// A horizontal swipe: the next page (true: leftwards) or the previous one.
    Page(bool),
    /// A vertical swipe: upwards (true) or downwards.
    Vertical(bool),
}

/// Farthest a tap may move, pixels.
const TAP_SLOP: f64 = 24.0;
/// Longest a tap may last.
const TAP_TIME: Duration = Duration::from_millis(800);
/// Shortest horizontal travel of a swipe, pixels; it must also be mostly horizontal.
const SWIPE_MIN: f64 = 120.0;
/// Wheel travel, in pixels (touchpads), that turns one page.
const WHEEL_PIXELS: f64 = 120.0;
/// After the wheel turned a page, its movement is ignored this long: one flick, one page
/// (X11 reports one notch twice, a touchpad's flick as many small scrolls).
const WHEEL_REST: Duration = Duration::from_millis(400);

/// The pointer's state between events.
#[derive(Debug, Default)]
pub(super) struct Gestures {
    /// Where and when the press began.
    down: Option<(f64, f64, Instant)>,
    /// The pointer's last position.
    at: (f64, f64),
    /// Wheel travel not yet turned into a page, pixels (negative: down).
    wheel: f64,
    /// When the wheel last turned a page.
    wheel_turned: Option<Instant>,
}

impl Gestures {
    /// The pointer moved to `(x, y)`.
    pub(super) fn moved(&mut self, x: f64, y: f64) {
        self.at = (x, y);
    }

    /// Where the pointer is.
    pub(super) fn at(&self) -> (f64, f64) {
        self.at
    }

    /// A press (finger down, left button) where the pointer is.
    pub(super) fn pressed(&mut self, now: Instant) {
        self.down = Some((self.at.0, self.at.1, now));
    }

    /// The press ended: a tap, a swipe, or nothing.
    pub(super) fn released(&mut self, now: Instant) -> Option<Gesture> {
        let (x0, y0, t0) = self.down.take()?;
        let (dx, dy) = (self.at.0 - x0, self.at.1 - y0);
        if dx.hypot(dy) <= TAP_SLOP && now.saturating_duration_since(t0) <= TAP_TIME {
            return Some(Gesture::Tap { x: x0, y: y0 });
        }
        // Leftwards brings the next page in, as on a phone.
        if dx.abs() >= SWIPE_MIN && dx.abs() > 2.0 * dy.abs() {
            return Some(Gesture::Page(dx < 0.0));
        }
        (dy.abs() >= SWIPE_MIN && dy.abs() > 2.0 * dx.abs()).then_some(Gesture::Vertical(dy < 0.0))
    }

    /// A press that was taken away (a touch cancelled).
    pub(super) fn cancelled(&mut self) {
        self.down = None;
    }

    /// The wheel turned `lines` notches (positive: up, back a page).
    pub(super) fn wheel_lines(&mut self, lines: f64, now: Instant) -> Option<Gesture> {
        self.wheel_pixels(lines * WHEEL_PIXELS, now)
    }

    /// A touchpad scrolled `pixels` (positive: up, back a page).
    pub(super) fn wheel_pixels(&mut self, pixels: f64, now: Instant) -> Option<Gesture> {
        if self
            .wheel_turned
            .is_some_and(|t| now.saturating_duration_since(t) < WHEEL_REST)
        {
            // The same flick: it turned its page already.
            self.wheel_turned = Some(now);
            self.wheel = 0.0;
            return None;
        }
        self.wheel += pixels;
        if self.wheel.abs() < WHEEL_PIXELS {
            return None;
        }
        let up = self.wheel > 0.0;
        self.wheel = 0.0;
        self.wheel_turned = Some(now);
        Some(Gesture::Page(!up))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn taps_swipes_and_wheels() {
        let t0 = Instant::now();
        let mut g = Gestures::default();
        g.moved(100.0, 200.0);
        g.pressed(t0);
        g.moved(110.0, 205.0);
        assert_eq!(
            g.released(ms(t0, 150)),
            Some(Gesture::Tap { x: 100.0, y: 200.0 })
        );
        assert_eq!(g.released(ms(t0, 200)), None, "no press, nothing");
        // A long press is no tap.
        g.pressed(t0);
        assert_eq!(g.released(ms(t0, 2000)), None);
        // Leftwards: the next page; rightwards: the previous one.
        g.moved(600.0, 300.0);
        g.pressed(t0);
        g.moved(300.0, 340.0);
        assert_eq!(g.released(ms(t0, 300)), Some(Gesture::Page(true)));
        g.pressed(t0);
        g.moved(600.0, 330.0);
        assert_eq!(g.released(ms(t0, 300)), Some(Gesture::Page(false)));
        // Vertical: up or down; diagonal, or too short: nothing.
        g.pressed(t0);
        g.moved(500.0, 600.0);
        assert_eq!(g.released(ms(t0, 300)), Some(Gesture::Vertical(false)));
        g.pressed(t0);
        g.moved(490.0, 300.0);
        assert_eq!(g.released(ms(t0, 300)), Some(Gesture::Vertical(true)));
        g.pressed(t0);
        g.moved(700.0, 500.0);
        assert_eq!(g.released(ms(t0, 300)), None);
        g.pressed(t0);
        g.moved(650.0, 520.0);
        assert_eq!(g.released(ms(t0, 300)), None);
        // Cancelled: nothing.
        g.pressed(t0);
        g.cancelled();
        assert_eq!(g.released(ms(t0, 100)), None);
        // The wheel: a notch down is the next page; the rest of the flick (and X11's second
        // report of the notch) turns nothing; touchpad pixels add up.
        assert_eq!(g.wheel_lines(-1.0, t0), Some(Gesture::Page(true)));
        assert_eq!(g.wheel_lines(-1.0, ms(t0, 5)), None);
        assert_eq!(
            g.wheel_lines(-1.0, ms(t0, 300)),
            None,
            "still the same flick"
        );
        assert_eq!(g.wheel_lines(1.0, ms(t0, 800)), Some(Gesture::Page(false)));
        assert_eq!(g.wheel_pixels(-50.0, ms(t0, 1500)), None);
        assert_eq!(
            g.wheel_pixels(-80.0, ms(t0, 1510)),
            Some(Gesture::Page(true))
        );
        assert_eq!(
            g.wheel_pixels(-50.0, ms(t0, 2500)),
            None,
            "the count starts over"
        );
    }
}
