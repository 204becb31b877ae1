//! Warnings that can repeat every frame or message (a stream the renderer cannot show, a
//! server sending junk) are logged at most once a minute with how many were held back: a
//! viewer that runs for months must not fill the journal. The counts that matter are kept
//! in the stats anyway.

use std::time::{Duration, Instant};

/// How often a throttled warning may be logged.
pub const INTERVAL: Duration = Duration::from_secs(60);

/// One kind of repeated warning.
#[derive(Debug, Default, Clone)]
pub struct Throttle {
    last: Option<Instant>,
    held_back: u64,
}

impl Throttle {
    /// Call on each occurrence: `Some(n)` when this one should be logged, `n` being how many
    /// were held back since the last one logged; `None` when it should not.
    pub fn allow(&mut self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < INTERVAL)
        {
            self.held_back += 1;
            return None;
        }
        self.last = Some(now);
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
    }
}
