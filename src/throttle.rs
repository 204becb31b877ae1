//! Warnings that can repeat every frame or message (a stream the renderer cannot show, a
//! server sending junk) are logged at most once a minute with how many were held back: a
//! viewer that runs for months must not fill the journal. The counts that matter are kept
//! in the stats anyway.

use std::time::{Duration, Instant};

/// How often a throttled warning may be logged.
pub(crate) const INTERVAL: Duration = Duration::from_secs(60);

/// One kind of repeated warning.
#[derive(Debug, Default, Clone)]
pub(crate) struct Throttle {
    last: Option<Instant>,
    held_back: u64,
    /// Logged in the interval that began at `last`.
    logged: u32,
    /// Logged per interval at most (0 or 1: one).
    burst: u32,
}

impl Throttle {
    /// A throttle that lets `burst` through per interval (for warnings that are rare unless
    /// something misbehaves, such as a bad command: each says what was wrong).
    pub(crate) fn burst(burst: u32) -> Throttle {
        Throttle {
            burst,
            ..Throttle::default()
        }
    }

    /// Call on each occurrence: `Some(n)` when this one should be logged, `n` being how many
    /// were held back since the last one logged; `None` when it should not.
    pub(crate) fn allow(&mut self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&mut self, now: Instant) -> Option<u64> {
        let within = self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < INTERVAL);
        if within && self.logged >= self.burst.max(1) {
            self.held_back += 1;
            return None;
        }
        if within {
            self.logged += 1;
        } else {
            self.last = Some(now);
            self.logged = 1;
        }
        Some(std::mem::take(&mut self.held_back))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_interval_with_the_count_held_back() {
        let mut t = Throttle::default();
        let t0 = Instant::now();
        assert_eq!(t.allow_at(t0), Some(0));
        for k in 1..=5 {
            assert_eq!(t.allow_at(t0 + Duration::from_secs(k)), None);
        }
        assert_eq!(t.allow_at(t0 + INTERVAL), Some(5));
        assert_eq!(t.allow_at(t0 + INTERVAL + Duration::from_secs(1)), None);
        assert_eq!(t.allow_at(t0 + INTERVAL * 2), Some(1));
        // A burst of three per interval.
        let mut b = Throttle::burst(3);
        let logged: Vec<Option<u64>> = (0..5)
            .map(|k| b.allow_at(t0 + Duration::from_secs(k)))
            .collect();
        assert_eq!(logged, [Some(0), Some(0), Some(0), None, None]);
        assert_eq!(b.allow_at(t0 + INTERVAL), Some(2));
    }
}
