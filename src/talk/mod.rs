//! Talk back: sound from a file or a microphone to a camera's speaker.
//!
//! What the cameras take (../shared/PROTOCOL.md, measured): AAC-LC, 16 kHz mono, one ADTS
//! frame of 1024 samples per `device.talkback_audio_data`, one every 64 ms, at most 640 bytes.
//! Here the sound is turned into those frames ([`encode::TalkEncoder`], FFmpeg) on a named
//! thread and handed to the session through a small channel ([`TalkAudio`]); the session
//! paces them ([`FRAME_INTERVAL`]) and runs the talk back's protocol (start, wait for the
//! camera, restart after a stream cut, stop when the channel closes).
//!
//! - [`from_file`]: any file FFmpeg reads (`-`: standard input), encoded as fast as the
//!   session takes it (the channel is the back-pressure): nothing is dropped;
//! - [`Mic`]: a cpal input device (the default, or one named), live: a session that falls
//!   behind loses the oldest sound, counted, so what is said reaches the door late by at most
//!   [`LIVE_QUEUE`] frames.
//!
//! Dropping the [`Mic`], or a file's end, closes the channel: the session sends what is left
//! and stops talking.

pub(crate) mod encode;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use ffmpeg_next as ffmpeg;
use tokio::sync::mpsc;

use encode::{EncodeError, TalkEncoder};

/// One frame's sound: the session sends one frame per interval.
pub(crate) const FRAME_INTERVAL: Duration = Duration::from_millis(64);

/// Frames waiting for the session from a live source, at most (256 ms).
pub(crate) const LIVE_QUEUE: usize = 4;

/// The microphone's buffer asked for, ms.
const MIC_BUFFER_MS: u32 = 20;

/// ADTS frames on their way to the session; closed at the end of the sound.
#[derive(Debug)]
pub struct TalkAudio {
    /// The frames.
    pub frames: mpsc::Receiver<Vec<u8>>,
    /// A live source (a microphone): the session keeps at most [`LIVE_AHEAD`] frames
    /// waiting and drops older ones, so the door hears what is said now. A file's frames
    /// are all sent.
    pub live: bool,
}

/// Frames a live source may have waiting at a tick (room for the sound card's jitter).
pub(crate) const LIVE_AHEAD: usize = 2;

/// Where a talk back is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TalkState {
    /// Waiting for the camera's livestream (started for it, or cut and coming back).
    Waiting,
    /// `device.start_talkback` sent; waiting for the camera's `talkback started`.
    Starting,
    /// The camera plays what is sent.
    Talking,
    /// Stopped: the sound ended or the talker let go. `frames` were sent in all.
    Ended {
        /// Frames sent.
        frames: u64,
    },
    /// Could not talk, in words for the screen.
    Failed(String),
}

impl TalkState {
    /// Whether the talk back is over.
    pub fn is_final(&self) -> bool {
        matches!(self, TalkState::Ended { .. } | TalkState::Failed(_))
    }

    /// A few words for a tile or a log line.
    pub fn describe(&self) -> String {
        match self {
            TalkState::Waiting => "talk: waiting for the camera's stream".into(),
            TalkState::Starting => "talk: the camera is answering…".into(),
            TalkState::Talking => "talking".into(),
            TalkState::Ended { frames } => format!(
                "talk ended ({:.1} s sent)",
                *frames as f64 * FRAME_INTERVAL.as_secs_f64()
            ),
            TalkState::Failed(why) => format!("cannot talk: {why}"),
        }
    }
}

/// Why talk back could not begin.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TalkError {
    /// The file could not be opened or has no sound.
    #[error("cannot read {path}: {why}")]
    File {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// No microphone, or it would not open.
    #[error("no microphone: {0}")]
    NoMic(String),
    /// The encoder.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// What a source thread did, for the log and the tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SourceReport {
    /// Frames encoded.
    pub frames: u64,
    /// Frames dropped: the session behind (live), or over the size limit.
    pub dropped: u64,
    /// Input chunks that could not be decoded.
    pub errors: u64,
}

/// Reads `path` (`-`: standard input) on a thread `talk-file`: its first sound stream
/// decoded, encoded for a camera, handed over as fast as the session takes it. The thread's
/// result says what it did.
pub(crate) fn from_file(
    path: &str,
) -> Result<(TalkAudio, std::thread::JoinHandle<SourceReport>), TalkError> {
    let bad = |why: String| TalkError::File {
        path: path.to_owned(),
        why,
    };
    ffmpeg::init().map_err(|e| bad(e.to_string()))?;
    let url = if path == "-" { "pipe:0" } else { path };
    let input = ffmpeg::format::input(url).map_err(|e| bad(e.to_string()))?;
    let stream = input
        .streams()
        .best(ffmpeg::media::Type::Audio)
        .ok_or_else(|| bad("it has no sound".into()))?;
    let index = stream.index();
    let decoder = ffmpeg::codec::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().audio())
        .map_err(|e| bad(format!("its sound cannot be decoded: {e}")))?;
    let encoder = TalkEncoder::new()?;
    let (tx, rx) = mpsc::channel(2);
    let thread = std::thread::Builder::new()
        .name("talk-file".into())
        .spawn(move || file_loop(input, index, decoder, encoder, &tx))
        .map_err(|e| bad(e.to_string()))?;
    let audio = TalkAudio {
        frames: rx,
        live: false,
    };
    Ok((audio, thread))
}

fn file_loop(
    mut input: ffmpeg::format::context::Input,
    index: usize,
    mut decoder: ffmpeg::decoder::Audio,
    mut encoder: TalkEncoder,
    tx: &mpsc::Sender<Vec<u8>>,
) -> SourceReport {
    let mut report = SourceReport::default();
    let mut out = Vec::new();
    let mut frame = ffmpeg::frame::Audio::empty();
    // Sends what was encoded; false when the session has gone.
    let hand_over = |out: &mut Vec<Vec<u8>>, report: &mut SourceReport| {
        for f in out.drain(..) {
            report.frames += 1;
            if tx.blocking_send(f).is_err() {
                return false;
            }
        }
        true
    };
    let mut decode = |decoder: &mut ffmpeg::decoder::Audio,
                      encoder: &mut TalkEncoder,
                      out: &mut Vec<Vec<u8>>,
                      report: &mut SourceReport| {
        while decoder.receive_frame(&mut frame).is_ok() {
            if let Err(e) = encoder.push_frame(&mut frame, out) {
                report.errors += 1;
                tracing::debug!("talk: {e}");
            }
        }
    };
    for (stream, packet) in input.packets() {
        if stream.index() != index {
            continue;
        }
        if decoder.send_packet(&packet).is_err() {
            report.errors += 1;
            continue;
        }
        decode(&mut decoder, &mut encoder, &mut out, &mut report);
        if !hand_over(&mut out, &mut report) {
            return report;
        }
    }
    let _ = decoder.send_eof();
    decode(&mut decoder, &mut encoder, &mut out, &mut report);
    if let Err(e) = encoder.finish(&mut out) {
        report.errors += 1;
        tracing::debug!("talk: {e}");
    }
    hand_over(&mut out, &mut report);
    report.dropped += encoder.oversized;
    tracing::debug!(?report, "talk: the file is sent");
    report
}

/// The host microphones are opened through. On Linux ALSA: its `default` reaches the sound
/// server (PulseAudio, PipeWire) through their ALSA plugins, and its streams close at once
/// (cpal 0.18's PulseAudio host may block for ever closing a record stream while a playback
/// stream of the same process runs: seen with the viewer's sound, a wall's talk would hang
/// its window). Elsewhere the platform's default.
fn input_host() -> cpal::Host {
    #[cfg(target_os = "linux")]
    if let Ok(host) = cpal::host_from_id(cpal::HostId::Alsa) {
        return host;
    }
    cpal::default_host()
}

/// A microphone open for talking: its sound becomes frames on a thread `talk-mic` while this
/// lives; dropping it ends the sound (the session then stops talking).
pub(crate) struct Mic {
    /// The device, in words.
    pub device: String,
    dropped: Arc<AtomicU64>,
    /// Set when let go: the thread ends the sound (a sound server may keep the stream's
    /// callback, and with it the channel, alive after the stream is dropped).
    released: Arc<AtomicBool>,
    _stream: cpal::Stream,
}

impl Drop for Mic {
    fn drop(&mut self) {
        self.released.store(true, Ordering::Relaxed);
    }
}

impl Mic {
    /// Opens `device` (a name as ALSA lists it: `arecord -L`; a sound server's own source is
    /// chosen with `PULSE_SOURCE`), or the default input.
    pub(crate) fn open(device: Option<&str>) -> Result<(Mic, TalkAudio), TalkError> {
        let no_mic = |e: &dyn std::fmt::Display| TalkError::NoMic(e.to_string());
        let host = input_host();
        let dev = match device {
            None => host
                .default_input_device()
                .ok_or_else(|| TalkError::NoMic(format!("no input device ({:?})", host.id())))?,
            Some(want) => host
                .input_devices()
                .map_err(|e| no_mic(&e))?
                .find(|d| d.description().is_ok_and(|n| n.name() == want))
                .ok_or_else(|| TalkError::NoMic(format!("no input device named {want:?}")))?,
        };
        let name = dev
            .description()
            .map(|d| d.name().to_owned())
            .unwrap_or_else(|_| "default".into());
        let config = dev.default_input_config().map_err(|e| no_mic(&e))?;
        let (channels, rate) = (config.channels().max(1), config.sample_rate());
        // Small buffers: each one's length is latency at the door.
        let want = rate / 1000 * MIC_BUFFER_MS;
        let buffer_size = match config.buffer_size() {
            cpal::SupportedBufferSize::Range { min, max } => {
                cpal::BufferSize::Fixed(want.clamp(*min, *max))
            }
            cpal::SupportedBufferSize::Unknown => cpal::BufferSize::Fixed(want),
        };
        let config = cpal::StreamConfig {
            channels,
            sample_rate: rate,
            buffer_size,
        };
        let mut encoder = TalkEncoder::new()?;
        let (pcm_tx, pcm_rx) = sync_channel::<Vec<f32>>(64);
        let (tx, rx) = mpsc::channel(LIVE_QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let lost = dropped.clone();
        let stream = dev
            .build_input_stream::<f32, _, _>(
                config,
                move |data: &[f32], _: &cpal::InputCallbackInfo| {
                    if let Err(TrySendError::Full(_)) = pcm_tx.try_send(data.to_vec()) {
                        lost.fetch_add(1, Ordering::Relaxed);
                    }
                },
                |e| tracing::warn!("microphone: {e}"),
                None,
            )
            .map_err(|e| no_mic(&e))?;
        let lost = dropped.clone();
        let released = Arc::new(AtomicBool::new(false));
        let done = released.clone();
        std::thread::Builder::new()
            .name("talk-mic".into())
            .spawn(move || {
                let mut out = Vec::new();
                let send = |out: &mut Vec<Vec<u8>>| {
                    for f in out.drain(..) {
                        if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(f) {
                            lost.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                };
                while !done.load(Ordering::Relaxed) {
                    let pcm = match pcm_rx.recv_timeout(Duration::from_millis(50)) {
                        Ok(pcm) => pcm,
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                    };
                    if let Err(e) = encoder.push_pcm(&pcm, channels, rate, &mut out) {
                        tracing::debug!("talk: {e}");
                    }
                    send(&mut out);
                }
                let _ = encoder.finish(&mut out);
                send(&mut out);
            })
            .map_err(|e| no_mic(&e))?;
        stream.play().map_err(|e| no_mic(&e))?;
        let device = format!("{name} ({:?}, {channels} ch, {rate} Hz)", host.id());
        tracing::info!("talk: microphone {device}");
        Ok((
            Mic {
                device,
                dropped,
                released,
                _stream: stream,
            },
            TalkAudio {
                frames: rx,
                live: true,
            },
        ))
    }

    /// Sound lost so far (buffers or frames: the encoder or the session behind).
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
