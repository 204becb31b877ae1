//! FFmpeg decoding: one long-lived decoder per stream on its own named thread, fed whole
//! access units through a bounded channel.
//!
//! This first version decodes in software with low-delay settings (`AV_CODEC_FLAG_LOW_DELAY`,
//! slice threading only, so every access unit gives its frame at once). Hardware
//! acceleration, frame export to the renderer and keyframe resynchronisation come with the
//! decode issue; the seam (access units in, frame reports out) stays.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Instant;

use ffmpeg_next as ffmpeg;

use crate::bitstream::{AccessUnit, Codec};

/// Why decoding failed.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// FFmpeg could not be initialised.
    #[error("cannot initialise FFmpeg: {0}")]
    Init(ffmpeg::Error),
    /// This FFmpeg build lacks the decoder.
    #[error("this FFmpeg has no {0} decoder")]
    NoDecoder(Codec),
    /// Opening the decoder failed.
    #[error("cannot open the {codec} decoder: {source}")]
    Open {
        /// Which.
        codec: Codec,
        /// Why.
        source: ffmpeg::Error,
    },
    /// The thread could not be started.
    #[error("cannot start the decoder thread: {0}")]
    Thread(std::io::Error),
}

/// One decoded picture, as reported to the pipeline.
#[derive(Debug, Clone)]
pub struct DecodedFrame {
    /// The stream's name (the camera serial).
    pub stream: std::sync::Arc<str>,
    /// Picture width.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// FFmpeg's pixel format name, e.g. `yuv420p`.
    pub format: &'static str,
    /// The codec.
    pub codec: Codec,
    /// When the access unit's last byte arrived.
    pub received_at: Instant,
    /// When the frame came out of the decoder.
    pub decoded_at: Instant,
}

/// A software decoder for one stream.
pub struct VideoDecoder {
    codec: Codec,
    inner: ffmpeg::decoder::Video,
    frame: ffmpeg::frame::Video,
    /// Access units the decoder rejected.
    pub errors: u64,
}

impl VideoDecoder {
    /// Opens a low-delay decoder for `codec`.
    pub fn new(codec: Codec) -> Result<Self, DecodeError> {
        ffmpeg::init().map_err(DecodeError::Init)?;
        let id = match codec {
            Codec::H264 => ffmpeg::codec::Id::H264,
            Codec::H265 => ffmpeg::codec::Id::HEVC,
        };
        let found = ffmpeg::decoder::find(id).ok_or(DecodeError::NoDecoder(codec))?;
        let mut ctx = ffmpeg::codec::context::Context::new_with_codec(found);
        ctx.set_flags(ffmpeg::codec::Flags::LOW_DELAY);
        ctx.set_threading(ffmpeg::codec::threading::Config {
            kind: ffmpeg::codec::threading::Type::Slice,
            count: 0,
            safe: true,
        });
        let inner = ctx
            .decoder()
            .video()
            .map_err(|source| DecodeError::Open { codec, source })?;
        Ok(VideoDecoder {
            codec,
            inner,
            frame: ffmpeg::frame::Video::empty(),
            errors: 0,
        })
    }

    /// The codec it decodes.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Decodes one access unit; calls `on_frame` for each picture that comes out.
    pub fn decode(&mut self, data: &[u8], mut on_frame: impl FnMut(&ffmpeg::frame::Video)) {
        let packet = ffmpeg::Packet::copy(data);
        if let Err(e) = self.inner.send_packet(&packet) {
            self.errors += 1;
            tracing::debug!("decoder rejected an access unit: {e}");
        }
        while self.inner.receive_frame(&mut self.frame).is_ok() {
            on_frame(&self.frame);
        }
    }

    /// Drains the frames the decoder still holds (B-frame reordering) at the end of a stream.
    pub fn finish(&mut self, mut on_frame: impl FnMut(&ffmpeg::frame::Video)) {
        let _ = self.inner.send_eof();
        while self.inner.receive_frame(&mut self.frame).is_ok() {
            on_frame(&self.frame);
        }
    }
}

/// A decoder on its own thread.
pub struct DecoderThread {
    tx: Option<SyncSender<AccessUnit<Instant>>>,
    handle: Option<JoinHandle<()>>,
    /// Access units dropped because the decoder fell behind.
    pub dropped: u64,
}

impl DecoderThread {
    /// Starts a thread named `decode-NAME`; frames are reported on `out`.
    pub fn spawn(name: &str, out: SyncSender<DecodedFrame>) -> Result<Self, DecodeError> {
        let (tx, rx) = sync_channel::<AccessUnit<Instant>>(8);
        let handle = std::thread::Builder::new()
            .name(format!("decode-{name}"))
            .spawn({
                let name: std::sync::Arc<str> = name.into();
                move || decode_loop(&name, rx, out)
            })
            .map_err(DecodeError::Thread)?;
        Ok(DecoderThread {
            tx: Some(tx),
            handle: Some(handle),
            dropped: 0,
        })
    }

    /// Queues an access unit; drops it (and counts it) when the decoder is 8 behind.
    pub fn push(&mut self, au: AccessUnit<Instant>) {
        if let Some(tx) = &self.tx {
            match tx.try_send(au) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => self.dropped += 1,
                Err(TrySendError::Disconnected(_)) => self.tx = None,
            }
        }
    }
}

impl Drop for DecoderThread {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn decode_loop(
    stream: &std::sync::Arc<str>,
    rx: Receiver<AccessUnit<Instant>>,
    out: SyncSender<DecodedFrame>,
) {
    let mut decoder: Option<VideoDecoder> = None;
    while let Ok(au) = rx.recv() {
        if decoder.as_ref().map(VideoDecoder::codec) != Some(au.codec) {
            decoder = match VideoDecoder::new(au.codec) {
                Ok(d) => Some(d),
                Err(e) => {
                    tracing::error!("{e}");
                    return;
                }
            };
        }
        let Some(dec) = decoder.as_mut() else {
            continue;
        };
        tracing::trace!(len = au.data.len(), "decoding");
        let codec = au.codec;
        let received_at = au.at;
        dec.decode(&au.data, |f| {
            let report = DecodedFrame {
                stream: stream.clone(),
                width: f.width(),
                height: f.height(),
                format: pixel_format_name(f.format()),
                codec,
                received_at,
                decoded_at: Instant::now(),
            };
            let _ = out.try_send(report);
        });
    }
}

fn pixel_format_name(p: ffmpeg::format::Pixel) -> &'static str {
    use ffmpeg::format::Pixel;
    match p {
        Pixel::YUV420P => "yuv420p",
        Pixel::YUVJ420P => "yuvj420p",
        Pixel::NV12 => "nv12",
        Pixel::YUV420P10LE => "yuv420p10le",
        Pixel::P010LE => "p010le",
        _ => "other",
    }
}
