//! The one driver of every run that consumes camera streams: the viewer, `--headless`,
//! `bench`, `record` and `publish` each implement [`Sink`] and call [`run`].
//!
//! [`run`] starts the inputs — the eufy-security-ws session (a tokio task) and the RTSP
//! readers (named threads) — on one event channel, hands every event to the sink, calls the
//! sink's [`Sink::tick`] on a timer, and stops the inputs when the caller's [`Shutdown`]
//! fires, the sink asks ([`Flow::Stop`]) or the sink fails. Stopping is clean: the session
//! stops its livestreams and closes the socket, and the events that still come are handed
//! on (a stream's last unit is complete then); `run` returns once every input has ended.
//! A sink that failed gets no more events; its error is returned, else the session's.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::backend::run_session;
use crate::eufy::session::{ControlReceiver, SessionConfig, SessionError, SessionEvent};
use crate::shutdown::{self, Shutdown};
use crate::source::RtspSource;

/// Where the streams come from.
pub(crate) struct Inputs {
    /// eufy-security-ws cameras; `None` (or no serials): no session.
    pub session: Option<SessionConfig>,
    /// The owner's requests to the session (which cameras to stream, restarts).
    pub control: Option<ControlReceiver>,
    /// RTSP streams read as cameras.
    pub rtsp: Vec<RtspSource>,
    /// Events queued between the inputs and the sink: a short queue makes a slow sink slow
    /// the inputs down (benchmarks), a long one absorbs bursts.
    pub queue: usize,
}

impl Inputs {
    /// A session's cameras, no RTSP, a queue of 256 events.
    pub(crate) fn session(config: SessionConfig) -> Inputs {
        Inputs {
            session: Some(config),
            control: None,
            rtsp: Vec::new(),
            queue: 256,
        }
    }
}

/// What the sink wants after an event or a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Go on.
    Continue,
    /// Stop the inputs (what still comes is handed on).
    Stop,
}

/// A consumer of the events of every input.
pub(crate) trait Sink {
    /// Why the sink cannot go on; a session that fails for good becomes one too.
    type Error: From<SessionError>;

    /// One event, in the order the inputs sent them.
    fn event(&mut self, event: SessionEvent) -> Result<Flow, Self::Error>;

    /// Called every [`Sink::tick_every`], also while stopping.
    fn tick(&mut self) -> Result<Flow, Self::Error> {
        Ok(Flow::Continue)
    }

    /// How often [`Sink::tick`] runs.
    fn tick_every(&self) -> Duration {
        Duration::from_millis(250)
    }
}

/// Runs `inputs` into `sink` until `shutdown`, the sink's [`Flow::Stop`] or error, or the
/// session's end (an error no reconnect can fix); returns once every input has ended.
pub(crate) async fn run<S: Sink>(
    inputs: Inputs,
    sink: &mut S,
    mut shutdown: Shutdown,
) -> Result<(), S::Error> {
    let (tx, mut rx) = mpsc::channel(inputs.queue.max(1));
    let (stop, inner) = shutdown::channel();
    for source in inputs.rtsp {
        if let Err(e) = crate::source::spawn(source, tx.clone(), inner.clone()) {
            tracing::error!("cannot start an RTSP reader: {e}");
        }
    }
    let session = inputs
        .session
        .filter(|c| !c.serials.is_empty())
        .map(|config| tokio::spawn(run_session(config, tx.clone(), inner, inputs.control)));
    // The channel closes when every input has ended.
    drop(tx);
    let mut tick = tokio::time::interval(sink.tick_every());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failed: Option<S::Error> = None;
    let mut stopping = false;
    loop {
        let flow = tokio::select! {
            ev = rx.recv() => match ev {
                None => break,
                // Drained after a failure, so that the inputs can stop cleanly.
                Some(_) if failed.is_some() => continue,
                Some(ev) => sink.event(ev),
            },
            _ = tick.tick(), if failed.is_none() => sink.tick(),
            _ = shutdown.wait(), if !stopping => Ok(Flow::Stop),
        };
        match flow {
            Ok(Flow::Continue) => {}
            Ok(Flow::Stop) => {
                stopping = true;
                stop.trigger();
            }
            Err(e) => {
                stopping = true;
                stop.trigger();
                failed = Some(e);
            }
        }
    }
    let ended = match session {
        // A session task that panicked has nothing more to say.
        Some(task) => task.await.unwrap_or(Ok(())),
        None => Ok(()),
    };
    match failed {
        Some(e) => Err(e),
        None => ended.map_err(S::Error::from),
    }
}
