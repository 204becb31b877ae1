//! A [`Decoder`] on its own named thread, fed [`Command`]s through a bounded channel (rerun
//! `re_video`'s pattern), and the places its frames go ([`FrameSink`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{DecodeError, DecodeStats, Decoder, DecoderConfig};
use crate::bitstream::AccessUnit;
use crate::frame::Frame;

/// What a decoder thread is told, in order.
#[derive(Debug)]
pub enum Command {
    /// Decode this access unit.
    Unit(AccessUnit<Instant>),
    /// The stream was interrupted: hand over the frames held, flush, wait for a keyframe
    /// ([`Decoder::reset`]).
    Reset,
    /// Drain and end.
    Stop,
}

/// Where a decoder thread puts its frames.
#[derive(Clone)]
pub enum FrameSink {
    /// Only the newest frame is kept (display): a slow consumer drops frames, never adds
    /// latency.
    Latest(Arc<LatestFrame>),
    /// Every frame, blocking when the consumer is behind (benchmarks, tests).
    Every(SyncSender<Frame>),
}

/// A one-frame mailbox: the decoder writes, the display takes the newest.
pub struct LatestFrame {
    slot: Mutex<(Option<Frame>, u64)>,
    notify: Box<dyn Fn() + Send + Sync>,
}

impl LatestFrame {
    /// `notify` runs after each new frame (e.g. wakes an event loop).
    pub fn new(notify: impl Fn() + Send + Sync + 'static) -> Arc<LatestFrame> {
        Arc::new(LatestFrame {
            slot: Mutex::new((None, 0)),
            notify: Box::new(notify),
        })
    }

    /// Puts a frame in, replacing one not taken, and notifies.
    pub fn put(&self, frame: Frame) {
        {
            let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
            if slot.0.replace(frame).is_some() {
                slot.1 += 1;
            }
        }
        (self.notify)();
    }

    /// Takes the newest frame, if one came since the last call.
    pub fn take(&self) -> Option<Frame> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner()).0.take()
    }

    /// Frames replaced before anyone took them.
    pub fn replaced(&self) -> u64 {
        self.slot.lock().unwrap_or_else(|p| p.into_inner()).1
    }
}

/// The most units queued (memory's bound): past it the feeding side drops (display) or
/// waits (benchmarks), whatever else holds.
const QUEUE: usize = 64;
/// How long a unit may wait for the decoder before the display counts the decoder as
/// behind and drops units. A backlog is normal at a stream's start: the real server sends
/// the frames captured while the stream started (about 650 ms of them) in one burst, which a
/// decoder keeping up works off in a fraction of this; behind a decoder slower than the
/// stream, the wait only grows. Waiting is counted from the decoder's first finished unit
/// at the earliest: opening a hardware device can take a second.
pub const MAX_WAIT: Duration = Duration::from_secs(1);
/// Room in the channel besides the units: a reset and a stop always fit, so they never
/// wait on the decoder (two resets in a row are one).
const CONTROL_ROOM: usize = 2;

/// What the thread and its owner share.
struct Shared {
    stats: Mutex<DecodeStats>,
    /// Units the decoder has finished with (the owner counts those it sent).
    done: AtomicU64,
    /// When the decoder finished its first unit.
    first_done: OnceLock<Instant>,
}

/// A [`Decoder`] on its own thread, fed through a bounded channel.
pub struct DecoderThread {
    tx: Option<SyncSender<Command>>,
    handle: Option<JoinHandle<Result<(), DecodeError>>>,
    shared: Arc<Shared>,
    /// Units sent to the decoder.
    sent: u64,
    /// When each unit not yet finished was sent (at most [`QUEUE`] and the control room),
    /// oldest first.
    sent_at: VecDeque<Instant>,
    behind: u64,
    /// A unit was dropped: drop until the next keyframe.
    resync: bool,
    /// The last command sent was a reset (another would change nothing).
    reset_sent: bool,
}

impl DecoderThread {
    /// Starts a thread named `decode-NAME`.
    pub fn spawn(
        name: &str,
        config: DecoderConfig,
        sink: FrameSink,
    ) -> Result<DecoderThread, DecodeError> {
        let (tx, rx) = sync_channel::<Command>(QUEUE + CONTROL_ROOM);
        let shared = Arc::new(Shared {
            stats: Mutex::new(DecodeStats::default()),
            done: AtomicU64::new(0),
            first_done: OnceLock::new(),
        });
        let mut decoder = Decoder::new(name, config)?;
        let theirs = shared.clone();
        let handle = std::thread::Builder::new()
            .name(format!("decode-{name}"))
            .spawn(move || decode_loop(&mut decoder, rx, sink, &theirs))
            .map_err(|e| DecodeError::Thread(e.to_string()))?;
        Ok(DecoderThread {
            tx: Some(tx),
            handle: Some(handle),
            shared,
            sent: 0,
            sent_at: VecDeque::new(),
            behind: 0,
            resync: false,
            reset_sent: false,
        })
    }

    /// Whether the decoder is behind: a unit has waited [`MAX_WAIT`] for it, or [`QUEUE`]
    /// units wait.
    fn is_behind(&mut self, now: Instant) -> bool {
        let waiting = self.waiting();
        let Some(&oldest) = self.sent_at.front() else {
            return false;
        };
        let waited = self.shared.first_done.get().map_or(Duration::ZERO, |&t| {
            now.saturating_duration_since(oldest.max(t))
        });
        waiting >= QUEUE || waited >= MAX_WAIT
    }

    /// Units sent and not yet finished; forgets when the finished ones were sent.
    fn waiting(&mut self) -> usize {
        let done = self.shared.done.load(Ordering::Acquire);
        let waiting = usize::try_from(self.sent.saturating_sub(done)).unwrap_or(usize::MAX);
        while self.sent_at.len() > waiting {
            self.sent_at.pop_front();
        }
        waiting
    }

    /// Counts a unit sent.
    fn sent_one(&mut self, now: Instant) {
        self.sent += 1;
        self.sent_at.push_back(now);
        self.reset_sent = false;
    }

    /// Queues an access unit; when the decoder is behind ([`MAX_WAIT`], [`QUEUE`]),
    /// drops it (display: a slow decoder must not build latency). After a drop every unit up
    /// to the next keyframe is dropped too, counted the same way: the pictures after a
    /// missing one would decode damaged, so the display keeps the last good picture until
    /// the decoder can start clean.
    pub fn try_push(&mut self, au: AccessUnit<Instant>) {
        let now = Instant::now();
        if self.is_behind(now) || (self.resync && !au.keyframe) {
            self.behind += 1;
            self.resync = true;
            return;
        }
        let Some(tx) = &self.tx else { return };
        match tx.try_send(Command::Unit(au)) {
            Ok(()) => {
                self.sent_one(now);
                self.resync = false;
            }
            Err(TrySendError::Full(_)) => {
                self.behind += 1;
                self.resync = true;
            }
            Err(TrySendError::Disconnected(_)) => self.tx = None,
        }
    }

    /// Queues an access unit, waiting for room (benchmarks: count every frame).
    pub fn push(&mut self, au: AccessUnit<Instant>) {
        if self.send(Command::Unit(au)) {
            self.waiting();
            self.sent_one(Instant::now());
        }
    }

    /// The stream was interrupted: after the units queued, the decoder hands over what it
    /// holds, flushes and waits for a keyframe ([`Command::Reset`]). With units sent by
    /// [`DecoderThread::try_push`] it never waits (there is room kept for it); after
    /// [`DecoderThread::push`] filled the queue it waits for room, as `push` does.
    pub fn reset(&mut self) {
        // The decoder waits for a keyframe by itself from now on.
        self.resync = false;
        if self.reset_sent {
            return;
        }
        let Some(tx) = &self.tx else { return };
        let sent = match tx.try_send(Command::Reset) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => self.send(Command::Reset),
            Err(TrySendError::Disconnected(_)) => {
                self.tx = None;
                false
            }
        };
        self.reset_sent = sent;
    }

    /// Sends, waiting for room; false when the thread has gone.
    fn send(&mut self, command: Command) -> bool {
        let Some(tx) = &self.tx else { return false };
        let sent = tx.send(command).is_ok();
        if !sent {
            self.tx = None;
        }
        sent
    }

    /// Whether the thread has ended (input closed, or a fatal error such as a strict
    /// fallback); [`DecoderThread::finish`] says which.
    pub fn has_ended(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Counters so far (`dropped_behind` included).
    pub fn stats(&self) -> DecodeStats {
        let mut s = self
            .shared
            .stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        s.dropped_behind = self.behind;
        s
    }

    /// Stops the thread once it has decoded what is queued and drained the decoder, and
    /// returns how it ended.
    pub fn finish(mut self) -> Result<DecodeStats, DecodeError> {
        self.send(Command::Stop);
        self.tx = None;
        let result = match self.handle.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(DecodeError::Thread("the decoder thread panicked".into())),
            None => Ok(()),
        };
        result.map(|()| self.stats())
    }
}

impl Drop for DecoderThread {
    fn drop(&mut self) {
        // A closed channel stops the thread as `Stop` does.
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn decode_loop(
    decoder: &mut Decoder,
    rx: Receiver<Command>,
    sink: FrameSink,
    shared: &Shared,
) -> Result<(), DecodeError> {
    let mut emit = |frame: Frame| match &sink {
        FrameSink::Latest(slot) => slot.put(frame),
        FrameSink::Every(tx) => {
            let _ = tx.send(frame);
        }
    };
    let publish = |d: &Decoder| {
        *shared.stats.lock().unwrap_or_else(|p| p.into_inner()) = d.stats().clone();
    };
    // A closed channel (the owner dropped) ends it like `Stop`.
    while let Ok(command) = rx.recv() {
        match command {
            Command::Unit(au) => {
                tracing::trace!(len = au.data.len(), keyframe = au.keyframe, "decoding");
                let r = decoder.decode(&au, &mut emit);
                publish(decoder);
                shared.first_done.get_or_init(Instant::now);
                shared.done.fetch_add(1, Ordering::AcqRel);
                r?;
            }
            Command::Reset => {
                tracing::debug!("stream interrupted: decoder reset");
                decoder.reset(&mut emit);
                publish(decoder);
            }
            Command::Stop => break,
        }
    }
    decoder.finish(&mut emit);
    publish(decoder);
    Ok(())
}
