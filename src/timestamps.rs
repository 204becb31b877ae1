//! Presentation times for a stream that carries none: arrival times, smoothed.
//!
//! eufy-security-ws sends no timestamps, so a recording (or a restream) times each unit by
//! when it arrived. Arrival is not capture: the server sends the frames it buffered while
//! the stream started in one burst (nine frames within 12 ms, measured), and a player
//! that keeps a constant frame rate then drops most of them. [`Smoother`] gives each unit
//! the later of its arrival and the previous unit's time plus one frame interval: never
//! earlier than it arrived, never closer to the previous unit than a frame can be, and
//! strictly increasing. A burst is spread out at the frame rate and the times run ahead of
//! arrival by at most the burst's length; once units arrive at the frame rate again, the
//! offset stays constant (every stream of a recording shares the origin, so audio and video
//! keep their relation).

use std::time::Duration;

/// The shortest frame interval taken as plausible when the stream declares no frame rate
/// (60 fps).
pub(crate) const MIN_INTERVAL: Duration = Duration::from_micros(16_667);

/// One stream's presentation times.
#[derive(Debug, Clone)]
pub(crate) struct Smoother {
    interval: Duration,
    last: Option<Duration>,
}

impl Smoother {
    /// Units at least `interval` apart (a frame at the stream's rate; [`MIN_INTERVAL`] when
    /// it has none).
    pub(crate) fn new(interval: Duration) -> Smoother {
        Smoother {
            interval: interval.max(Duration::from_micros(1)),
            last: None,
        }
    }

    /// The interval for a frame rate, when the rate is plausible (1 to 240 fps).
    pub(crate) fn frame_interval(fps: Option<f64>) -> Duration {
        fps.filter(|f| f.is_finite() && (1.0..=240.0).contains(f))
            .map_or(MIN_INTERVAL, |f| Duration::from_secs_f64(1.0 / f))
    }

    /// The time of a unit that arrived `arrival` after the recording's origin.
    pub(crate) fn next(&mut self, arrival: Duration) -> Duration {
        let t = match self.last {
            Some(last) => arrival.max(last + self.interval),
            None => arrival,
        };
        self.last = Some(t);
        t
    }

    /// The time of the last unit.
    pub(crate) fn last(&self) -> Option<Duration> {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_burst_is_spread_at_the_frame_rate() {
        let iv = Duration::from_millis(66);
        let mut s = Smoother::new(iv);
        // Nine frames within 12 ms, then one every 66 ms.
        let arrivals: Vec<Duration> = (0..9)
            .map(|k| Duration::from_micros(1500 * k))
            .chain((1..=5).map(|k| Duration::from_millis(12 + 66 * k)))
            .collect();
        let times: Vec<Duration> = arrivals.iter().map(|a| s.next(*a)).collect();
        for w in times.windows(2) {
            assert_eq!(w[1] - w[0], iv, "{times:?}");
        }
        // Ahead of arrival by the burst's length at most, and never behind.
        for (t, a) in times.iter().zip(&arrivals) {
            assert!(t >= a && *t - *a <= iv * 9, "{t:?} {a:?}");
        }
    }

    #[test]
    fn the_interval_comes_from_a_plausible_rate() {
        assert_eq!(
            Smoother::frame_interval(Some(15.0)),
            Duration::from_secs_f64(1.0 / 15.0)
        );
        for bad in [None, Some(0.0), Some(f64::NAN), Some(1e6)] {
            assert_eq!(Smoother::frame_interval(bad), MIN_INTERVAL);
        }
    }

    proptest! {
        /// Whatever the arrivals: increasing by at least the interval, never before arrival,
        /// and exactly the arrival when units come no faster than the interval.
        #[test]
        fn monotonic_and_never_early(gaps in proptest::collection::vec(0u64..200, 1..100), iv in 1u64..100) {
            let iv = Duration::from_millis(iv);
            let mut s = Smoother::new(iv);
            let mut arrival = Duration::ZERO;
            let mut prev: Option<Duration> = None;
            let mut never_fast = true;
            for g in gaps {
                arrival += Duration::from_millis(g);
                if prev.is_some() && Duration::from_millis(g) < iv {
                    never_fast = false;
                }
                let t = s.next(arrival);
                prop_assert!(t >= arrival);
                if let Some(p) = prev {
                    prop_assert!(t >= p + iv);
                }
                if never_fast {
                    prop_assert_eq!(t, arrival);
                }
                prev = Some(t);
            }
        }
    }
}
