//! One stop signal for everything that runs until told to stop: the session, the RTSP
//! readers, the pipeline's driver, recordings. Like mini-redis's `shutdown.rs`: the owner
//! keeps a [`Trigger`]; every part that must stop holds a [`Shutdown`] (cheap to clone) and
//! either awaits [`Shutdown::wait`] or, on a plain thread, polls
//! [`Shutdown::is_triggered`].
//!
//! It has one meaning everywhere: a shutdown is triggered when its trigger says so **or when
//! the trigger is dropped** — an owner that is gone can no longer stop anything, so what it
//! started stops. A part that must run to its natural end is given [`Shutdown::never`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// The owner's end: triggers every [`Shutdown`] made from it, and dropping it does too.
#[derive(Debug)]
pub struct Trigger {
    tx: watch::Sender<bool>,
}

/// The receiving end, held by whatever must stop.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
    /// Keeps the sender of [`Shutdown::never`] alive (no one can trigger it).
    _never: Option<Arc<watch::Sender<bool>>>,
}

/// A trigger and a shutdown it triggers.
pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger { tx }, Shutdown { rx, _never: None })
}

impl Trigger {
    /// Triggers every shutdown made from it (again is harmless).
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Another shutdown triggered by this trigger.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            rx: self.tx.subscribe(),
            _never: None,
        }
    }

    /// Whether it was triggered.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }
}

impl Shutdown {
    /// A shutdown nothing triggers: the part runs to its own end.
    pub fn never() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        Shutdown {
            rx,
            _never: Some(Arc::new(tx)),
        }
    }

    /// Whether it was triggered (or its trigger dropped): for threads that poll.
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow() || self.rx.has_changed().is_err()
    }

    /// Returns once it is triggered (or its trigger dropped).
    pub async fn wait(&mut self) {
        // `wait_for` checks the current value first, and fails when the sender is gone.
        let _ = self.rx.wait_for(|&stop| stop).await;
    }

    /// A shutdown triggered by this one or, when `after` is given, after that long. Needs a
    /// tokio runtime (a task waits for either).
    pub fn or_after(self, after: Option<Duration>) -> Shutdown {
        let Some(after) = after else { return self };
        let (trigger, out) = channel();
        let mut outer = self;
        tokio::spawn(async move {
            tokio::select! {
                _ = outer.wait() => {}
                _ = tokio::time::sleep(after) => {}
                // Nobody listens any more.
                _ = trigger.tx.closed() => {}
            }
            trigger.trigger();
        });
        out
    }

    /// A shutdown triggered by Ctrl-C, SIGTERM (what systemd, go2rtc's `exec:` and MediaMTX's
    /// `runOnDemand` send) or, when given, after `after`; says which on stderr. Needs a tokio
    /// runtime.
    pub fn on_signals(after: Option<Duration>) -> Shutdown {
        let (trigger, out) = channel();
        tokio::spawn(async move {
            tokio::select! {
                name = signalled() => eprintln!("stopping ({name})"),
                _ = sleep_for(after) => {}
                _ = trigger.tx.closed() => {}
            }
            trigger.trigger();
        });
        out
    }
}

/// Sleeps `after`; for ever without one.
async fn sleep_for(after: Option<Duration>) {
    match after {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM; says which.
pub(crate) async fn signalled() -> &'static str {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "Ctrl-C",
        _ = sigterm() => "SIGTERM",
    }
}

/// SIGTERM; never on other systems.
async fn sigterm() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut s) = signal(SignalKind::terminate()) {
            s.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_trigger_stops_every_copy() {
        let (trigger, shutdown) = channel();
        let mut a = shutdown.clone();
        let mut b = trigger.subscribe();
        assert!(!shutdown.is_triggered());
        trigger.trigger();
        a.wait().await;
        b.wait().await;
        assert!(shutdown.is_triggered() && trigger.is_triggered());
    }

    /// The one meaning: an owner that is gone stops what it started.
    #[tokio::test]
    async fn a_dropped_trigger_stops_too() {
        let (trigger, mut shutdown) = channel();
        let copy = shutdown.clone();
        drop(trigger);
        assert!(copy.is_triggered());
        tokio::time::timeout(Duration::from_secs(5), shutdown.wait())
            .await
            .expect("wait returns once the trigger is gone");
    }

    #[tokio::test]
    async fn never_is_never_triggered() {
        let mut s = Shutdown::never();
        assert!(!s.is_triggered());
        let waited = tokio::time::timeout(Duration::from_millis(50), s.wait()).await;
        assert!(
            waited.is_err(),
            "a shutdown nobody can trigger never returns"
        );
    }

    #[tokio::test]
    async fn or_after_fires_by_itself_or_with_the_outer_one() {
        let (_keep, outer) = channel();
        let mut timed = outer.or_after(Some(Duration::from_millis(20)));
        tokio::time::timeout(Duration::from_secs(5), timed.wait())
            .await
            .expect("the timer fires");

        let (trigger, outer) = channel();
        let mut timed = outer.or_after(Some(Duration::from_secs(3600)));
        assert!(!timed.is_triggered());
        trigger.trigger();
        tokio::time::timeout(Duration::from_secs(5), timed.wait())
            .await
            .expect("the outer trigger fires it");
    }
}
