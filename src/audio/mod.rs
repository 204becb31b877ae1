//! Sound: one camera's AAC decoded by FFmpeg, resampled to the output device's format, held
//! in a small jitter buffer aligned with the picture by arrival time, and played through
//! cpal (a PulseAudio server — PipeWire's pulse server included — where one runs, else
//! ALSA on Linux; CoreAudio, WASAPI).
//!
//! Threads: the session's task hands audio events to [`AudioFeed::push`] (never blocks: a
//! full queue drops, counted); a named thread `audio-decode` decodes the current source's
//! frames into the [`buffer::JitterBuffer`]; the device's callback pulls from it. The
//! window chooses the source ([`AudioOut::set_source`]: the selected tile, or the camera an
//! event brought forward), the delay (the picture's latency), mute and volume.

pub(crate) mod buffer;
pub mod decode;

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use buffer::{AudioStats, JitterBuffer};
use decode::AacDecoder;

/// Why there is no sound.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// No output device (no sound server, no sound card).
    #[error("no audio output device ({0})")]
    NoDevice(String),
    /// The device refused the stream.
    #[error("cannot open the audio output {device}: {why}")]
    Stream {
        /// The device.
        device: String,
        /// Why.
        why: String,
    },
    /// The decoder could not start.
    #[error(transparent)]
    Decode(#[from] decode::AudioDecodeError),
}

/// Most a sound server is taken to hold beyond the current buffer.
const MAX_DEVICE_AHEAD: Duration = Duration::from_millis(100);

/// The device buffer asked for, ms.
const BUFFER_MS: u32 = 20;

/// Added to the picture's latency for the sound's delay: room for network jitter.
pub const MARGIN_MS: f64 = 40.0;

/// The sound's delay for a picture that takes `latency_ms` from arrival to the screen: that
/// plus [`MARGIN_MS`], at most 250 ms (the viewer and bench use the same rule).
pub fn delay_for_picture(latency_ms: f64) -> Duration {
    Duration::from_secs_f64((latency_ms + MARGIN_MS).clamp(MARGIN_MS, 250.0) / 1e3)
}

/// The delay before the window has measured the picture's latency.
pub const DEFAULT_DELAY: Duration = Duration::from_millis(60);

struct Chunk {
    serial: String,
    codec: String,
    data: Vec<u8>,
    at: Instant,
}

#[derive(Default)]
struct Control {
    source: Option<String>,
    /// Chunks the feed dropped (the decode thread behind).
    dropped: u64,
    /// Frames of other codecs skipped.
    unsupported: u64,
    /// Frames that failed to decode.
    errors: u64,
}

type Shared<T> = Arc<Mutex<T>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where the session's audio events go (cheap to clone, `Send`).
#[derive(Clone)]
pub struct AudioFeed {
    tx: SyncSender<Chunk>,
    control: Shared<Control>,
}

impl AudioFeed {
    /// One audio event of `serial`, with its `audioCodec`, read at `at`. Only the current
    /// source's are kept; never blocks.
    pub fn push(&self, serial: &str, codec: &str, data: &[u8], at: Instant) {
        if lock(&self.control).source.as_deref() != Some(serial) {
            return;
        }
        let chunk = Chunk {
            serial: serial.to_owned(),
            codec: codec.to_owned(),
            data: data.to_vec(),
            at,
        };
        if let Err(TrySendError::Full(_)) = self.tx.try_send(chunk) {
            lock(&self.control).dropped += 1;
        }
    }
}

/// What the audio path did, for the overlay, logs and bench.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AudioReport {
    /// The device.
    pub device: String,
    /// The camera heard.
    pub source: Option<String>,
    /// Muted.
    pub muted: bool,
    /// The delay from arrival to the device.
    pub delay: Duration,
    /// The buffer's counters.
    pub buffer: AudioStats,
    /// Chunks dropped before decoding (decode thread behind).
    pub dropped_chunks: u64,
    /// Frames of a codec other than AAC, skipped.
    pub unsupported: u64,
    /// Frames that failed to decode.
    pub decode_errors: u64,
}

/// Sets the sound's delay from any thread.
#[derive(Clone)]
pub struct AudioTuner(Shared<JitterBuffer>);

impl AudioTuner {
    /// See [`AudioOut::set_delay`].
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.0).set_delay(delay);
    }
}

/// The device's own rate and channels, with a short buffer: a sound server's default (2 s
/// on PulseAudio) would put the sound seconds behind the picture.
fn stream_config(device: &cpal::Device) -> Result<cpal::StreamConfig, cpal::Error> {
    let default = device.default_output_config()?;
    let want = default.sample_rate() / 100 * BUFFER_MS / 10;
    let buffer_size = match default.buffer_size() {
        cpal::SupportedBufferSize::Range { min, max } => {
            cpal::BufferSize::Fixed(want.clamp(*min, *max))
        }
        cpal::SupportedBufferSize::Unknown => cpal::BufferSize::Fixed(want),
    };
    Ok(cpal::StreamConfig {
        channels: default.channels().clamp(1, 8),
        sample_rate: default.sample_rate(),
        buffer_size,
    })
}

/// The device's callback: each buffer filled from `buffer` with what is due when it plays.
fn device_callback(
    buffer: Shared<JitterBuffer>,
    channels: u16,
    rate: u32,
) -> impl FnMut(&mut [f32], &cpal::OutputCallbackInfo) + Send + 'static {
    let mut first = true;
    // When the previous buffer ends at the device: buffers play back to back.
    let mut next: Option<Instant> = None;
    move |out: &mut [f32], info: &cpal::OutputCallbackInfo| {
        let ts = info.timestamp();
        // Where the host does not say (PulseAudio here), this buffer plays after at least
        // its own length.
        let own = Duration::from_secs_f64(out.len() as f64 / f64::from(channels) / f64::from(rate));
        let ahead = ts.playback.saturating_duration_since(ts.callback).max(own);
        let now = Instant::now();
        // A host that asks for several buffers at once plays them in turn; never trust that
        // further ahead than a device buffer could hold.
        let play_at = next
            .unwrap_or(now)
            .clamp(now + ahead, now + ahead + MAX_DEVICE_AHEAD);
        next = Some(play_at + own);
        if std::mem::take(&mut first) {
            tracing::debug!(
                frames = out.len(),
                "audio device latency {:.1} ms",
                ahead.as_secs_f64() * 1e3
            );
        }
        tracing::trace!(
            len = out.len(),
            ahead_ms = ahead.as_secs_f64() * 1e3,
            lead_ms = play_at.saturating_duration_since(now).as_secs_f64() * 1e3,
            "callback"
        );
        lock(&buffer).pull(out, play_at);
    }
}

/// The sound output: a device stream, its buffer and the decode thread.
pub struct AudioOut {
    feed: AudioFeed,
    buffer: Shared<JitterBuffer>,
    device: String,
    _stream: cpal::Stream,
}

impl AudioOut {
    /// Opens the default output device at its own rate and channel count, in `f32`.
    pub fn open(volume: f32) -> Result<AudioOut, AudioError> {
        let host = cpal::default_host();
        let device = host
            .default_output_device()
            .ok_or_else(|| AudioError::NoDevice(format!("host {:?}", host.id())))?;
        let name = device
            .description()
            .map(|d| d.name().to_owned())
            .unwrap_or_else(|_| "default".into());
        let name = format!("{name} ({:?})", host.id());
        let failed = |e: &dyn std::fmt::Display| AudioError::Stream {
            device: name.clone(),
            why: e.to_string(),
        };
        let config = stream_config(&device).map_err(|e| failed(&e))?;
        let mut jb = JitterBuffer::new(config.sample_rate, config.channels, DEFAULT_DELAY);
        jb.set_volume(volume);
        let buffer = Arc::new(Mutex::new(jb));
        let control: Shared<Control> = Arc::default();
        let (tx, rx) = sync_channel::<Chunk>(64);
        let (channels, rate) = (config.channels, config.sample_rate);
        let decoder = AacDecoder::new(channels, rate)?;
        {
            let buffer = buffer.clone();
            let control = control.clone();
            std::thread::Builder::new()
                .name("audio-decode".into())
                .spawn(move || decode_loop(rx, decoder, &buffer, &control))
                .map_err(|e| failed(&e))?;
        }
        let stream = device
            .build_output_stream::<f32, _, _>(
                config,
                device_callback(buffer.clone(), channels, rate),
                |e| tracing::warn!("audio output: {e}"),
                None,
            )
            .map_err(|e| failed(&e))?;
        stream.play().map_err(|e| failed(&e))?;
        tracing::info!(channels, rate, "audio output: {name}");
        Ok(AudioOut {
            feed: AudioFeed { tx, control },
            buffer,
            device: name,
            _stream: stream,
        })
    }

    /// Where to send the session's audio events.
    pub fn feed(&self) -> AudioFeed {
        self.feed.clone()
    }

    /// The camera to hear (`None`: silence). A change forgets what was queued.
    pub fn set_source(&self, serial: Option<&str>) {
        let mut c = lock(&self.feed.control);
        if c.source.as_deref() != serial {
            c.source = serial.map(str::to_owned);
            drop(c);
            lock(&self.buffer).clear();
            tracing::debug!(?serial, "audio source");
        }
    }

    /// Mute or unmute.
    pub fn set_muted(&self, muted: bool) {
        lock(&self.buffer).set_muted(muted);
    }

    /// Lower the sound while someone talks back (see [`JitterBuffer::set_ducked`]).
    pub fn set_ducked(&self, ducked: bool) {
        lock(&self.buffer).set_ducked(ducked);
    }

    /// Whether muted.
    pub fn muted(&self) -> bool {
        lock(&self.buffer).muted()
    }

    /// Samples are due at the device this long after they arrived (the picture's latency
    /// and a margin for jitter).
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.buffer).set_delay(delay);
    }

    /// A handle that sets the delay from another thread (the bench's render loop).
    pub fn tuner(&self) -> AudioTuner {
        AudioTuner(self.buffer.clone())
    }

    /// What it did so far.
    pub fn report(&self) -> AudioReport {
        let b = lock(&self.buffer);
        let c = lock(&self.feed.control);
        AudioReport {
            device: self.device.clone(),
            source: c.source.clone(),
            muted: b.muted(),
            delay: b.delay(),
            buffer: b.stats().clone(),
            dropped_chunks: c.dropped,
            unsupported: c.unsupported,
            decode_errors: c.errors,
        }
    }
}

/// Decodes the current source's chunks into the buffer; a new source starts a new decoder
/// (its stream may differ).
fn decode_loop(
    rx: Receiver<Chunk>,
    mut decoder: AacDecoder,
    buffer: &Mutex<JitterBuffer>,
    control: &Mutex<Control>,
) {
    let (channels, rate) = decoder.output();
    let mut current: Option<String> = None;
    let mut warned: Vec<String> = Vec::new();
    while let Ok(chunk) = rx.recv() {
        if lock(control).source.as_deref() != Some(chunk.serial.as_str()) {
            continue;
        }
        if !decode::supported(&chunk.codec) {
            lock(control).unsupported += 1;
            if !warned.contains(&chunk.serial) {
                tracing::warn!(camera = %chunk.serial, "audio codec {:?} is not supported (only AAC): its sound is skipped", chunk.codec);
                warned.push(chunk.serial.clone());
            }
            continue;
        }
        if current.as_deref() != Some(chunk.serial.as_str()) {
            if let Ok(d) = AacDecoder::new(channels, rate) {
                decoder = d;
            }
            current = Some(chunk.serial.clone());
        }
        let before = decoder.errors;
        if let Some(pcm) = decoder.decode_any(&chunk.data) {
            lock(buffer).push(&pcm.samples, chunk.at);
        }
        if decoder.errors > before {
            lock(control).errors += decoder.errors - before;
        }
    }
}
