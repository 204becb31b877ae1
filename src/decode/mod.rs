//! FFmpeg decoding: one long-lived decoder per stream on its own named thread, fed whole
//! access units through a bounded channel, with hardware acceleration and fallback.
//!
//! - Low latency: `AV_CODEC_FLAG_LOW_DELAY` and slice threading, so every access unit gives
//!   its frame at once ([`Threading::Frame`] trades latency for throughput, for tests).
//! - `--accel` is a list tried in order ([`Accel`]); each entry opens a `hw_device_ctx`. A
//!   device that fails to open, a codec without that hardware configuration, a `get_format`
//!   that is not offered the hardware format, or repeated decode failures move to the next
//!   entry, re-fed from the last keyframe; software comes last. Every step is logged, and
//!   the path in use (with the reasons it was chosen) travels with each frame.
//!   `strict` makes any fallback an error.
//! - Hardware frames are downloaded once (NV12, P010); software frames stay in their own
//!   layout and are handed over without a copy. No colour conversion here.
//! - Decoding starts at a keyframe; after an error it resynchronises at the next one.
//!   Everything dropped is counted in [`DecodeStats`].
//!
//! - A stream that is interrupted (a cut-off, a station's turn passing, a lost connection)
//!   resets its decoder ([`Command::Reset`]): the frames it still holds come out at once,
//!   its state is flushed and it waits for the new stream's keyframe, so no picture of the
//!   old stream appears after the gap.
//!
//! The FFmpeg calls the safe API lacks (devices, `get_format`, downloads) are in
//! [`crate::av`]; this module has no unsafe code.

pub mod backend;
mod thread;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use ffmpeg_next as ffmpeg;

use crate::av::{self, Received, Sent};
use crate::bitstream::{AccessUnit, Codec};
use crate::frame::{Colour, Frame, Layout, Matrix, PlaneData, Range};

pub use thread::{Command, DecoderThread, FrameSink, LatestFrame, MAX_WAIT};

/// A hardware acceleration API, or software.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Accel {
    /// The platform's sensible order ([`Accel::platform_order`]).
    Auto,
    /// VA-API (Linux, Intel/AMD).
    Vaapi,
    /// CUDA/NVDEC (NVIDIA).
    Cuda,
    /// VideoToolbox (macOS).
    VideoToolbox,
    /// Direct3D 11 (Windows).
    D3d11va,
    /// Intel Quick Sync.
    Qsv,
    /// Vulkan video (FFmpeg 6.1+).
    Vulkan,
    /// The stateful V4L2 memory-to-memory decoders (`h264_v4l2m2m`: a Raspberry Pi 4's
    /// H.264), frames in system memory.
    V4l2m2m,
    /// The stateless V4L2 request decoders through a DRM device (a Raspberry Pi 4/5's HEVC,
    /// with a build of FFmpeg that has them), frames downloaded from DRM PRIME buffers.
    Drm,
    /// Software decoding.
    None,
}

impl Accel {
    /// FFmpeg's name of the device type (`none` for software).
    pub fn name(self) -> &'static str {
        match self {
            Accel::Auto => "auto",
            Accel::Vaapi => "vaapi",
            Accel::Cuda => "cuda",
            Accel::VideoToolbox => "videotoolbox",
            Accel::D3d11va => "d3d11va",
            Accel::Qsv => "qsv",
            Accel::Vulkan => "vulkan",
            Accel::V4l2m2m => "v4l2m2m",
            Accel::Drm => "drm",
            Accel::None => "none",
        }
    }

    /// What `auto` tries on this platform, in order (software follows).
    pub fn platform_order() -> &'static [Accel] {
        Accel::order_for(std::env::consts::OS, std::env::consts::ARCH)
    }

    /// What `auto` tries on an operating system and architecture (Rust's names): on ARM
    /// Linux a Pi's decoders first (each fails at once where it does not apply: the DRM
    /// path when FFmpeg's decoder has no DRM configuration, the V4L2 one without a device
    /// for the codec), then VA-API for the other boards.
    pub fn order_for(os: &str, arch: &str) -> &'static [Accel] {
        match (os, arch) {
            ("macos", _) => &[Accel::VideoToolbox],
            ("windows", _) => &[Accel::D3d11va, Accel::Cuda, Accel::Qsv],
            ("linux", "aarch64" | "arm") => &[Accel::Drm, Accel::V4l2m2m, Accel::Vaapi],
            _ => &[Accel::Vaapi, Accel::Cuda],
        }
    }
}

impl std::str::FromStr for Accel {
    type Err = String;
    fn from_str(s: &str) -> Result<Accel, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Accel::Auto,
            "vaapi" => Accel::Vaapi,
            "cuda" | "nvdec" => Accel::Cuda,
            "videotoolbox" => Accel::VideoToolbox,
            "d3d11va" | "d3d11" => Accel::D3d11va,
            "qsv" => Accel::Qsv,
            "vulkan" => Accel::Vulkan,
            "v4l2m2m" | "v4l2" => Accel::V4l2m2m,
            "drm" | "v4l2request" => Accel::Drm,
            "none" | "software" | "sw" => Accel::None,
            other => {
                return Err(format!(
                    "unknown accel {other:?}: use auto, vaapi, cuda, videotoolbox, d3d11va, qsv, vulkan, v4l2m2m, drm or none"
                ))
            }
        })
    }
}

impl std::fmt::Display for Accel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Threading of the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threading {
    /// Slice threads only (0 = FFmpeg picks): no added latency. The live default.
    Slice(usize),
    /// Frame threads: more throughput, but frames come out `n - 1` access units late.
    Frame(usize),
}

/// How a decoder is set up.
#[derive(Debug, Clone)]
pub struct DecoderConfig {
    /// Accelerations tried in order; software comes last unless `strict`.
    pub accel: Vec<Accel>,
    /// Turn any fallback into an error.
    pub strict: bool,
    /// A device for the hardware API (`/dev/dri/renderD129`, a CUDA index).
    pub device: Option<String>,
    /// Threading.
    pub threading: Threading,
    /// Consecutive failed access units on a hardware path before falling back.
    pub max_hw_failures: u32,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            accel: vec![Accel::Auto],
            strict: false,
            device: None,
            threading: Threading::Slice(0),
            max_hw_failures: 3,
        }
    }
}

/// Why decoding cannot go on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DecodeError {
    /// FFmpeg could not be initialised.
    #[error("cannot initialise FFmpeg: {0}")]
    Init(ffmpeg::Error),
    /// This FFmpeg build lacks the decoder.
    #[error("this FFmpeg has no {0} decoder")]
    NoDecoder(Codec),
    /// Opening the software decoder failed.
    #[error("cannot open the {codec} decoder: {source}")]
    Open {
        /// Which.
        codec: Codec,
        /// Why.
        source: ffmpeg::Error,
    },
    /// `strict` and a hardware path failed.
    #[error(
        "{accel} decoding of {codec} failed and --accel-strict forbids falling back: {reason}"
    )]
    Strict {
        /// The path that failed.
        accel: Accel,
        /// The codec.
        codec: Codec,
        /// Why.
        reason: String,
    },
    /// The thread could not be started.
    #[error("cannot start the decoder thread: {0}")]
    Thread(String),
    /// A still picture could not be decoded.
    #[error("cannot decode the picture: {0}")]
    Picture(String),
}

/// Counters of one decoder.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DecodeStats {
    /// Access units given to FFmpeg.
    pub units_in: u64,
    /// Frames out.
    pub frames_out: u64,
    /// Access units dropped while waiting for a keyframe (start, or after an error).
    pub dropped_before_keyframe: u64,
    /// Access units the decoder rejected.
    pub errors: u64,
    /// Frames with concealed damage (still shown).
    pub corrupt_frames: u64,
    /// Frames in a pixel format the renderer does not take (dropped).
    pub unsupported_frames: u64,
    /// Access units dropped because the decoder thread was behind, and those after them up
    /// to the next keyframe (they would decode damaged).
    pub dropped_behind: u64,
    /// Times a hardware path was abandoned.
    pub fallbacks: u64,
    /// Times the stream was interrupted and the decoder reset ([`Decoder::reset`]).
    pub resets: u64,
    /// Units the decoder answered EAGAIN for: its frames taken, the unit sent again.
    pub send_retries: u64,
    /// The path in use, with the reasons for it.
    pub path: String,
}

impl DecodeStats {
    /// The path's name alone (`software`, `vaapi`), without the reasons it was chosen,
    /// which the log says once when the path is chosen.
    pub fn short_path(&self) -> &str {
        self.path.split(" (").next().unwrap_or_default()
    }
}

/// Frames of a GOP kept for re-feeding after a fallback: a bound, not a target.
const MAX_GOP_UNITS: usize = 600;
const MAX_GOP_BYTES: usize = 64 << 20;

/// The decoder of one stream: synchronous, used by [`DecoderThread`] and by benchmarks.
pub struct Decoder {
    config: DecoderConfig,
    stream: Arc<str>,
    active: Option<Active>,
    /// Hardware paths not yet tried for the current codec.
    remaining: VecDeque<Accel>,
    /// Why earlier paths were left, for the path name.
    reasons: Vec<String>,
    gop: Vec<AccessUnit<Instant>>,
    gop_bytes: usize,
    /// Arrival of the last unit decoded (for frames drained at the end).
    last_at: Option<Instant>,
    /// The next packet's pts: a counter, so that each frame is matched with the arrival of
    /// the unit that carried it (decoders return frames late: reordering, frame threads,
    /// hardware queues).
    next_pts: i64,
    /// Recent units' pts and arrival times, oldest first (at most [`ARRIVALS_KEPT`]).
    arrivals: VecDeque<(i64, Instant)>,
    waiting_keyframe: bool,
    hw_failures: u32,
    stats: DecodeStats,
    /// Per-frame warnings (downloads, unsupported frames), logged at most once a minute.
    frame_warnings: crate::throttle::Throttle,
    /// Stands in for hardware paths (tests).
    opener: Option<backend::Opener>,
    /// Units a hardware path took in a row without giving a frame.
    units_without_frame: u32,
    /// Corrupt frames in a row from a hardware path.
    corrupt_in_row: u64,
}

struct Active {
    codec: Codec,
    /// The opened decoder, with its device when in hardware (`av` owns the freeing order),
    /// or a stand-in ([`backend::Opener`]).
    ctx: Box<dyn backend::Backend>,
    /// The hardware path, when the decoder is on one.
    accel: Option<Accel>,
    path: Arc<str>,
    frame: ffmpeg::frame::Video,
}

fn ffmpeg_codec(codec: Codec) -> ffmpeg::codec::Id {
    match codec {
        Codec::H264 => ffmpeg::codec::Id::H264,
        Codec::H265 => ffmpeg::codec::Id::HEVC,
    }
}

impl Decoder {
    /// A decoder for `stream` (a name for logs and frames); opens on the first keyframe.
    pub fn new(stream: &str, config: DecoderConfig) -> Result<Decoder, DecodeError> {
        ffmpeg::init().map_err(DecodeError::Init)?;
        // FFmpeg logs to stderr on its own; keep it quiet unless we are debugging decoding.
        let level = if tracing::enabled!(target: "eufy_hw::decode", tracing::Level::DEBUG) {
            ffmpeg::util::log::Level::Warning
        } else {
            ffmpeg::util::log::Level::Fatal
        };
        ffmpeg::util::log::set_level(level);
        Ok(Decoder {
            config,
            stream: stream.into(),
            active: None,
            remaining: VecDeque::new(),
            reasons: Vec::new(),
            gop: Vec::new(),
            gop_bytes: 0,
            last_at: None,
            next_pts: 0,
            arrivals: VecDeque::new(),
            waiting_keyframe: true,
            hw_failures: 0,
            stats: DecodeStats::default(),
            frame_warnings: Default::default(),
            opener: None,
            units_without_frame: 0,
            corrupt_in_row: 0,
        })
    }

    /// [`Decoder::new`], with `opener` standing in for hardware paths (the seam the tests
    /// fake a Pi's decoders through).
    pub fn with_opener(
        stream: &str,
        config: DecoderConfig,
        opener: backend::Opener,
    ) -> Result<Decoder, DecodeError> {
        let mut d = Decoder::new(stream, config)?;
        d.opener = Some(opener);
        Ok(d)
    }

    /// Counters and the current path.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    fn candidates(&self) -> VecDeque<Accel> {
        let mut out = VecDeque::new();
        for a in &self.config.accel {
            let expanded: &[Accel] = match a {
                Accel::Auto => Accel::platform_order(),
                other => std::slice::from_ref(other),
            };
            for &e in expanded {
                if !out.contains(&e) && e != Accel::None {
                    out.push_back(e);
                }
            }
        }
        out
    }

    /// Opens the next path that works for `codec`.
    fn open(&mut self, codec: Codec) -> Result<(), DecodeError> {
        self.active = None;
        let found =
            ffmpeg::decoder::find(ffmpeg_codec(codec)).ok_or(DecodeError::NoDecoder(codec))?;
        while let Some(accel) = self.remaining.pop_front() {
            // A path that could not open for this codec in this process is not tried again
            // for every camera (nor said again).
            let known = (!self.config.strict)
                .then(|| known_unavailable(accel, codec))
                .filter(|_| self.opener.is_none())
                .flatten();
            if let Some(reason) = known {
                tracing::debug!(stream = %self.stream, "{accel} decoding of {codec}: {reason} (known)");
                self.reasons.push(format!("{accel}: {reason}"));
                self.stats.fallbacks += 1;
                continue;
            }
            let opened = self.open_hw(codec, &found, accel);
            if let Err(reason) = &opened {
                if !self.config.strict && self.opener.is_none() {
                    remember_unavailable(accel, codec, reason);
                }
            }
            match opened {
                Ok(active) => {
                    tracing::info!(stream = %self.stream, "decoding {codec} with {}", active.path);
                    self.active = Some(active);
                    self.stats.path = self
                        .active
                        .as_ref()
                        .map(|a| a.path.to_string())
                        .unwrap_or_default();
                    return Ok(());
                }
                Err(reason) => self.fall_back(codec, accel, reason)?,
            }
        }
        let software_only = self.config.accel.iter().all(|a| *a == Accel::None);
        if self.config.strict && !software_only {
            return Err(DecodeError::Strict {
                accel: Accel::None,
                codec,
                reason: "no hardware path is left".into(),
            });
        }
        let ctx = self.context(&found);
        let ctx = ctx
            .decoder()
            .video()
            .map_err(|source| DecodeError::Open { codec, source })?;
        let path: Arc<str> = if self.reasons.is_empty() {
            "software".into()
        } else {
            format!("software ({})", self.reasons.join("; ")).into()
        };
        tracing::info!(stream = %self.stream, "decoding {codec} with {path}");
        self.stats.path = path.to_string();
        self.active = Some(Active {
            codec,
            ctx: Box::new(av::hw::DecoderContext::software(ctx)),
            accel: None,
            path,
            frame: ffmpeg::frame::Video::empty(),
        });
        Ok(())
    }

    fn fall_back(&mut self, codec: Codec, accel: Accel, reason: String) -> Result<(), DecodeError> {
        if self.config.strict {
            return Err(DecodeError::Strict {
                accel,
                codec,
                reason,
            });
        }
        tracing::info!("{accel} decoding of {codec} unavailable on this machine: {reason}; the next path is used (said once for all cameras)");
        self.reasons.push(format!("{accel}: {reason}"));
        self.stats.fallbacks += 1;
        Ok(())
    }

    fn context(&self, codec: &ffmpeg::Codec) -> ffmpeg::codec::context::Context {
        let mut ctx = ffmpeg::codec::context::Context::new_with_codec(*codec);
        let (kind, count) = match self.config.threading {
            Threading::Slice(n) => {
                ctx.set_flags(ffmpeg::codec::Flags::LOW_DELAY);
                (ffmpeg::codec::threading::Type::Slice, n)
            }
            Threading::Frame(n) => (ffmpeg::codec::threading::Type::Frame, n),
        };
        ctx.set_threading(ffmpeg::codec::threading::Config {
            kind,
            count,
            safe: true,
        });
        ctx
    }

    fn open_hw(
        &mut self,
        codec: Codec,
        found: &ffmpeg::Codec,
        accel: Accel,
    ) -> Result<Active, String> {
        if let Some(opened) = self.opener.as_mut().and_then(|o| o(codec, accel)) {
            return opened.map(|ctx| Active {
                codec,
                ctx,
                accel: Some(accel),
                path: accel.name().into(),
                frame: ffmpeg::frame::Video::empty(),
            });
        }
        if accel == Accel::V4l2m2m {
            return self.open_v4l2m2m(codec);
        }
        let kind =
            av::hw::device_type(accel.name()).ok_or("this FFmpeg build does not support it")?;
        let hw_format = av::hw::hw_pixel_format(found, kind)
            .ok_or_else(|| format!("FFmpeg's {codec} decoder has no {accel} configuration"))?;
        // FFmpeg's DRM device defaults to the display card; decoding wants the render node.
        let device = match (accel, self.config.device.as_deref()) {
            (Accel::Drm, None) => Some("/dev/dri/renderD128"),
            (_, d) => d,
        };
        let device = av::hw::create_device(kind, device)
            .map_err(|e| format!("cannot open the device ({e})"))?;
        // One thread: software threads on a hardware context only make the decoder reserve
        // more surfaces per camera (a Pi's HEVC decoder: about 5 more, ~90 MB at 1440p, from
        // the CMA pool a wall of cameras exhausts).
        let mut ctx = self.context(found);
        ctx.set_threading(ffmpeg::codec::threading::Config {
            kind: ffmpeg::codec::threading::Type::Slice,
            count: 1,
            safe: true,
        });
        let ctx = av::hw::DecoderContext::hardware(ctx, device, hw_format)
            .map_err(|e| format!("cannot open the decoder on the device ({e})"))?;
        Ok(Active {
            codec,
            ctx: Box::new(ctx),
            accel: Some(accel),
            path: accel.name().into(),
            frame: ffmpeg::frame::Video::empty(),
        })
    }

    /// The same hardware path opened again (a wrapper's reset).
    fn reopen(&mut self, codec: Codec, accel: Accel) -> Result<Active, String> {
        let found = ffmpeg::decoder::find(ffmpeg_codec(codec))
            .ok_or_else(|| format!("no {codec} decoder"))?;
        self.open_hw(codec, &found, accel)
    }

    /// A V4L2 memory-to-memory decoder (`h264_v4l2m2m`, `hevc_v4l2m2m`): a decoder of its
    /// own rather than a device for FFmpeg's, which finds its `/dev/video*` by itself and
    /// fails to open where none decodes the codec.
    fn open_v4l2m2m(&self, codec: Codec) -> Result<Active, String> {
        let name = match codec {
            Codec::H264 => "h264_v4l2m2m",
            Codec::H265 => "hevc_v4l2m2m",
        };
        let found = ffmpeg::decoder::find_by_name(name)
            .ok_or_else(|| format!("this FFmpeg build has no {name}"))?;
        // Its own threads and buffers: FFmpeg's threading options do not apply.
        let ctx = ffmpeg::codec::context::Context::new_with_codec(found)
            .decoder()
            .video()
            .map_err(|e| format!("cannot open {name} ({e}: no V4L2 decoder for {codec} here?)"))?;
        Ok(Active {
            codec,
            ctx: Box::new(av::hw::DecoderContext::wrapper(ctx)),
            accel: Some(Accel::V4l2m2m),
            path: Accel::V4l2m2m.name().into(),
            frame: ffmpeg::frame::Video::empty(),
        })
    }

    /// Decodes one access unit; `out` gets every frame that comes out.
    pub fn decode(
        &mut self,
        au: &AccessUnit<Instant>,
        out: &mut impl FnMut(Frame),
    ) -> Result<(), DecodeError> {
        if self.active.as_ref().map(|a| a.codec) != Some(au.codec) {
            if !au.keyframe {
                self.stats.dropped_before_keyframe += 1;
                return Ok(());
            }
            self.remaining = self.candidates();
            self.reasons.clear();
            self.open(au.codec)?;
            self.gop.clear();
            self.gop_bytes = 0;
        }
        if au.keyframe {
            self.waiting_keyframe = false;
            self.gop.clear();
            self.gop_bytes = 0;
        } else if self.waiting_keyframe {
            self.stats.dropped_before_keyframe += 1;
            return Ok(());
        }
        self.last_at = Some(au.at);
        // Kept only where a fallback may need to re-feed it: software has nowhere to fall.
        let on_hw_path = self.active.as_ref().is_some_and(|a| a.ctx.is_hw());
        if on_hw_path
            && self.gop.len() < MAX_GOP_UNITS
            && self.gop_bytes + au.data.len() <= MAX_GOP_BYTES
        {
            self.gop_bytes += au.data.len();
            self.gop.push(au.clone());
        }
        let (frames_before, corrupt_before) = (self.stats.frames_out, self.stats.corrupt_frames);
        let ok = self.feed(au, Some(out));
        let refused = self.active.as_ref().is_some_and(|a| a.ctx.refused());
        let on_hw = self.active.as_ref().is_some_and(|a| a.ctx.is_hw());
        // Hardware that fails without an error: no frame for many units (a stuck bcm2835),
        // or only corrupt ones (rpi's HEVC reports errors as flags alone).
        let silent = on_hw
            .then(|| self.quiet_failure(frames_before, corrupt_before))
            .flatten();
        if on_hw && (refused || !ok || silent.is_some()) {
            self.hw_failures += 1;
            if refused || silent.is_some() || self.hw_failures >= self.config.max_hw_failures {
                let accel = self
                    .active
                    .as_ref()
                    .and_then(|a| a.accel)
                    .unwrap_or(Accel::None);
                let reason = if let Some(why) = silent {
                    why
                } else if refused {
                    "the decoder was not offered the hardware format (unsupported profile or size?)"
                        .to_owned()
                } else {
                    format!("{} access units in a row failed", self.hw_failures)
                };
                self.fall_back(au.codec, accel, reason)?;
                self.open(au.codec)?;
                self.refeed(out);
            }
        } else if ok {
            self.hw_failures = 0;
        } else {
            // Software decoder error: resynchronise at the next keyframe.
            self.waiting_keyframe = true;
        }
        Ok(())
    }

    /// After a unit on a hardware path: why the path failed without saying so, when it did.
    fn quiet_failure(&mut self, frames_before: u64, corrupt_before: u64) -> Option<String> {
        let frames = self.stats.frames_out - frames_before;
        let corrupt = self.stats.corrupt_frames - corrupt_before;
        if frames == 0 {
            self.units_without_frame += 1;
        } else {
            self.units_without_frame = 0;
        }
        if corrupt > 0 && corrupt >= frames {
            self.corrupt_in_row += corrupt;
        } else if frames > 0 {
            self.corrupt_in_row = 0;
        }
        if self.units_without_frame >= MAX_UNITS_WITHOUT_FRAME {
            let n = std::mem::take(&mut self.units_without_frame);
            return Some(format!("no frame for {n} access units"));
        }
        if self.corrupt_in_row >= MAX_CORRUPT_IN_ROW {
            let n = std::mem::take(&mut self.corrupt_in_row);
            return Some(format!("{n} corrupt frames in a row"));
        }
        None
    }

    /// Re-feeds the GOP after a path change; only the last unit's frames are emitted.
    fn refeed(&mut self, out: &mut impl FnMut(Frame)) {
        self.hw_failures = 0;
        self.units_without_frame = 0;
        self.corrupt_in_row = 0;
        let gop = std::mem::take(&mut self.gop);
        let Some((last, earlier)) = gop.split_last() else {
            return;
        };
        for au in earlier {
            self.feed(au, None::<&mut fn(Frame)>);
        }
        self.feed(last, Some(out));
        self.gop = gop;
    }

    /// Sends one unit and drains frames; false when FFmpeg rejected it. A decoder that
    /// answers EAGAIN (it holds frames to be taken first: wrappers such as v4l2m2m, hardware
    /// queues) has its frames taken and the unit sent again, as the API asks (mpv, Kodi),
    /// instead of the unit being lost.
    fn feed(&mut self, au: &AccessUnit<Instant>, mut out: Option<&mut impl FnMut(Frame)>) -> bool {
        if self.active.is_none() {
            return false;
        }
        self.stats.units_in += 1;
        let mut packet = ffmpeg::Packet::copy(&au.data);
        packet.set_pts(Some(self.next_pts));
        self.arrivals.push_back((self.next_pts, au.at));
        if self.arrivals.len() > ARRIVALS_KEPT {
            self.arrivals.pop_front();
        }
        self.next_pts += 1;
        let mut ok = true;
        let mut sent = self.send(&packet);
        if sent == Ok(Sent::Full) {
            self.stats.send_retries += 1;
            ok &= self.drain(au, &mut out);
            sent = self.send(&packet);
        }
        let why = match sent {
            Ok(Sent::Taken) => None,
            Ok(Sent::Full) => Some("still full after its frames were taken".to_owned()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = why {
            tracing::debug!(stream = %self.stream, "decoder rejected an access unit: {why}");
            self.stats.errors += 1;
            ok = false;
        }
        ok &= self.drain(au, &mut out);
        ok
    }

    fn send(&mut self, packet: &ffmpeg::Packet) -> Result<Sent, ffmpeg::Error> {
        match self.active.as_mut() {
            Some(active) => active.ctx.send_packet(packet),
            None => Ok(Sent::Taken),
        }
    }

    /// Takes every frame the decoder has ready (to `out`, or dropped when `None`); false
    /// on a decoding error.
    fn drain(
        &mut self,
        au: &AccessUnit<Instant>,
        out: &mut Option<&mut impl FnMut(Frame)>,
    ) -> bool {
        let Decoder {
            active,
            stats,
            frame_warnings,
            stream,
            arrivals,
            ..
        } = self;
        let Some(active) = active.as_mut() else {
            return false;
        };
        let mut ok = true;
        loop {
            match active.ctx.receive_frame(&mut active.frame) {
                Ok(Received::Frame) => {}
                Ok(Received::NeedsInput | Received::Drained) => break,
                Err(e) => {
                    tracing::debug!(stream = %stream, "decoder error: {e}");
                    stats.errors += 1;
                    ok = false;
                    break;
                }
            }
            if av::frame::decode_error_flags(&active.frame) != 0
                || active
                    .frame
                    .flags()
                    .contains(ffmpeg::util::frame::Flags::CORRUPT)
            {
                stats.corrupt_frames += 1;
            }
            let Some(out) = out.as_mut() else { continue };
            let at = arrival_of(arrivals, &active.frame).unwrap_or(au.at);
            let mut counts = Counts {
                stats,
                warnings: frame_warnings,
                stream,
            };
            ok &= counts.deliver(active, at, out);
        }
        ok
    }

    /// Drains the frames the decoder still holds (end of a clip; B-frame reordering),
    /// counted like the others.
    pub fn finish(&mut self, out: &mut impl FnMut(Frame)) {
        let Some(active) = self.active.as_mut() else {
            return;
        };
        let _ = active.ctx.send_eof();
        let last = self.last_at.unwrap_or_else(Instant::now);
        let mut counts = Counts {
            stats: &mut self.stats,
            warnings: &mut self.frame_warnings,
            stream: &self.stream,
        };
        while let Ok(Received::Frame) = active.ctx.receive_frame(&mut active.frame) {
            let at = arrival_of(&self.arrivals, &active.frame).unwrap_or(last);
            counts.deliver(active, at, out);
        }
    }

    /// The stream was interrupted (a cut-off, a station's turn passing, a lost connection):
    /// the frames the decoder still holds (reordering, frame threads) go to `out` now, its
    /// state is flushed, and it waits for the next keyframe; hardware failures count from
    /// zero again. The path in use stays.
    pub fn reset(&mut self, out: &mut impl FnMut(Frame)) {
        self.finish(out);
        let wrapper = self.active.as_ref().is_some_and(|a| a.ctx.is_wrapper());
        if wrapper {
            // Wrapper decoders (upstream h264_v4l2m2m) have no flush: after the end of stream
            // they stay draining and swallow what comes next. Opened again instead, on the
            // same path.
            if let Some(old) = self.active.take() {
                let (codec, accel) = (old.codec, old.accel.unwrap_or(Accel::V4l2m2m));
                let path = old.path.clone();
                drop(old);
                match self.reopen(codec, accel) {
                    Ok(mut active) => {
                        active.path = path;
                        self.active = Some(active);
                    }
                    Err(why) => {
                        tracing::info!(stream = %self.stream, "{accel} could not be opened again after a reset: {why}");
                    }
                }
            }
        } else if let Some(active) = self.active.as_mut() {
            // Also takes the decoder out of its drained (end-of-stream) state.
            active.ctx.flush();
        }
        self.waiting_keyframe = true;
        self.hw_failures = 0;
        self.units_without_frame = 0;
        self.corrupt_in_row = 0;
        self.gop.clear();
        self.gop_bytes = 0;
        self.last_at = None;
        self.arrivals.clear();
        self.stats.resets += 1;
    }
}

/// Where a decoder counts and logs what happens to its frames.
struct Counts<'a> {
    stats: &'a mut DecodeStats,
    warnings: &'a mut crate::throttle::Throttle,
    stream: &'a Arc<str>,
}

impl Counts<'_> {
    /// Hands the frame the decoder just returned (`active.frame`) to `out`: downloaded when
    /// it is in GPU memory, as a [`Frame`]. A failed download counts as an error (returns
    /// false), a format the renderer cannot take as an unsupported frame.
    fn deliver(&mut self, active: &mut Active, at: Instant, out: &mut impl FnMut(Frame)) -> bool {
        let picture = if av::frame::is_hw_frame(&active.frame) {
            match av::frame::download(&active.frame, &RENDERER_TAKES) {
                Ok(f) => f,
                Err(e) => {
                    if let Some(held) = self.warnings.allow() {
                        tracing::warn!(stream = %self.stream, "hardware frame download failed: {e} ({held} more not logged)");
                    }
                    self.stats.errors += 1;
                    return false;
                }
            }
        } else if active.ctx.is_wrapper() {
            // A wrapper's frames point into its capture buffers (v4l2m2m): kept by the view,
            // they would hold them, and on a resolution change the decoder waits for every
            // one to come back — for ever. A copy goes on; the buffer goes back at once.
            let copy = active.frame.clone();
            active.frame = ffmpeg::frame::Video::empty();
            copy
        } else {
            std::mem::replace(&mut active.frame, ffmpeg::frame::Video::empty())
        };
        match to_frame(picture, at, active.path.clone(), self.stream.clone()) {
            Ok(frame) => {
                self.stats.frames_out += 1;
                out(frame);
            }
            Err(why) => {
                self.stats.unsupported_frames += 1;
                if let Some(held) = self.warnings.allow() {
                    tracing::warn!(stream = %self.stream, "frame dropped: {why} ({held} more not logged)");
                }
            }
        }
        true
    }
}

/// The most pixels a still picture may have (8K UHD): a few KiB of JPEG can claim far more,
/// and FFmpeg's own limit (2^28) would let it take hundreds of MiB.
pub const MAX_PICTURE_PIXELS: u32 = 7680 * 4320;

/// A camera's still picture (its JPEG `picture` property) as a frame the renderer takes:
/// FFmpeg's JPEG decoder (pictures over [`MAX_PICTURE_PIXELS`] refused before they are
/// decoded), 4:2:2 and 4:4:4 pictures brought to 4:2:0 (full range) by libswscale.
pub fn picture(data: &[u8], stream: &str) -> Result<Frame, DecodeError> {
    use ffmpeg::format::Pixel;
    let failed = |e: ffmpeg::Error| DecodeError::Picture(e.to_string());
    ffmpeg::init().map_err(DecodeError::Init)?;
    let codec = ffmpeg::decoder::find(ffmpeg::codec::Id::MJPEG)
        .ok_or_else(|| DecodeError::Picture("this FFmpeg has no JPEG decoder".into()))?;
    let mut options = ffmpeg::Dictionary::new();
    options.set("max_pixels", &MAX_PICTURE_PIXELS.to_string());
    let mut decoder = ffmpeg::codec::Context::new_with_codec(codec)
        .decoder()
        .open_as_with(codec, options)
        .and_then(|d| d.video())
        .map_err(failed)?;
    // The size limit is the one argument FFmpeg can find invalid here.
    let refused = |e: ffmpeg::Error| match e {
        ffmpeg::Error::Other { errno } if errno == ffmpeg::error::EINVAL => DecodeError::Picture(
            format!("larger than {MAX_PICTURE_PIXELS} pixels (8K), or a broken JPEG"),
        ),
        e => failed(e),
    };
    decoder
        .send_packet(&ffmpeg::Packet::copy(data))
        .map_err(refused)?;
    decoder.send_eof().map_err(failed)?;
    let mut f = ffmpeg::frame::Video::empty();
    decoder.receive_frame(&mut f).map_err(refused)?;
    if !matches!(f.format(), Pixel::YUVJ420P | Pixel::YUV420P) {
        // JPEG is full range: kept so (the J formats are libswscale's full-range ones).
        let mut scaler = ffmpeg::software::scaling::Context::get(
            f.format(),
            f.width(),
            f.height(),
            Pixel::YUVJ420P,
            f.width() & !1,
            f.height() & !1,
            ffmpeg::software::scaling::Flags::BILINEAR,
        )
        .map_err(failed)?;
        let mut out = ffmpeg::frame::Video::empty();
        scaler.run(&f, &mut out).map_err(failed)?;
        f = out;
    }
    let now = Instant::now();
    to_frame(f, now, "picture".into(), stream.into()).map_err(DecodeError::Picture)
}

/// A decoded FFmpeg frame as plane data, without a copy.
struct FfmpegPlanes(ffmpeg::frame::Video);

impl PlaneData for FfmpegPlanes {
    fn plane(&self, i: usize) -> &[u8] {
        if i < self.0.planes() {
            self.0.data(i)
        } else {
            &[]
        }
    }
    fn stride(&self, i: usize) -> usize {
        if i < self.0.planes() {
            self.0.stride(i)
        } else {
            0
        }
    }
}

/// The pixel formats [`to_frame`] takes, in the order a download prefers them.
const RENDERER_TAKES: [ffmpeg::format::Pixel; 5] = [
    ffmpeg::format::Pixel::NV12,
    ffmpeg::format::Pixel::P010LE,
    ffmpeg::format::Pixel::YUV420P,
    ffmpeg::format::Pixel::YUVJ420P,
    ffmpeg::format::Pixel::YUV420P10LE,
];

fn to_frame(
    f: ffmpeg::frame::Video,
    received_at: Instant,
    path: Arc<str>,
    stream: Arc<str>,
) -> Result<Frame, String> {
    use ffmpeg::format::Pixel;
    let (layout, full) = match f.format() {
        Pixel::YUV420P => (Layout::I420, false),
        Pixel::YUVJ420P => (Layout::I420, true),
        Pixel::NV12 => (Layout::Nv12, false),
        Pixel::P010LE => (Layout::P010, false),
        Pixel::YUV420P10LE => (Layout::I420P10, false),
        other => {
            return Err(format!(
                "pixel format {other:?} is not supported (4:2:0 8/10-bit only)"
            ))
        }
    };
    if f.planes() < layout.planes() {
        return Err(format!("{layout:?} frame with {} planes", f.planes()));
    }
    let (width, height) = (f.width(), f.height());
    let mut colour = Colour::default_for(height);
    colour.matrix = match f.color_space() {
        ffmpeg::color::Space::BT709 => Matrix::Bt709,
        ffmpeg::color::Space::BT470BG | ffmpeg::color::Space::SMPTE170M => Matrix::Bt601,
        ffmpeg::color::Space::BT2020NCL | ffmpeg::color::Space::BT2020CL => Matrix::Bt2020,
        _ => colour.matrix,
    };
    colour.range = match f.color_range() {
        ffmpeg::color::Range::JPEG => Range::Full,
        ffmpeg::color::Range::MPEG => Range::Limited,
        _ if full => Range::Full,
        _ => Range::Limited,
    };
    Frame::new(
        width,
        height,
        layout,
        colour,
        Arc::new(FfmpegPlanes(f)),
        received_at,
        Instant::now(),
        path,
        stream,
    )
    .map_err(|e| e.to_string())
}

/// Hardware paths that could not open, per codec, for this process: (accel, codec, why,
/// how many times it was tried).
static UNAVAILABLE: std::sync::Mutex<Vec<(Accel, Codec, String, u64)>> =
    std::sync::Mutex::new(Vec::new());

fn known_unavailable(accel: Accel, codec: Codec) -> Option<String> {
    let known = UNAVAILABLE.lock().unwrap_or_else(|p| p.into_inner());
    known
        .iter()
        .find(|(a, c, ..)| *a == accel && *c == codec)
        .map(|(_, _, why, _)| why.clone())
}

fn remember_unavailable(accel: Accel, codec: Codec, why: &str) {
    let mut known = UNAVAILABLE.lock().unwrap_or_else(|p| p.into_inner());
    match known
        .iter_mut()
        .find(|(a, c, ..)| *a == accel && *c == codec)
    {
        Some(entry) => entry.3 += 1,
        None => known.push((accel, codec, why.to_owned(), 1)),
    }
}

/// How many times `accel` was tried for `codec` and found unavailable in this process: once,
/// however many cameras.
pub fn unavailable_probes(accel: Accel, codec: Codec) -> u64 {
    let known = UNAVAILABLE.lock().unwrap_or_else(|p| p.into_inner());
    known
        .iter()
        .find(|(a, c, ..)| *a == accel && *c == codec)
        .map_or(0, |e| e.3)
}

/// Units whose arrival a late frame may still be matched with.
const ARRIVALS_KEPT: usize = 64;

/// When the unit that carried `frame` arrived (by the counter pts it was sent with).
fn arrival_of(
    arrivals: &VecDeque<(i64, Instant)>,
    frame: &ffmpeg::frame::Video,
) -> Option<Instant> {
    let pts = frame.pts().or_else(|| frame.timestamp())?;
    arrivals.iter().find(|(p, _)| *p == pts).map(|(_, at)| *at)
}

/// A hardware path that takes this many units in a row without a frame has failed.
pub const MAX_UNITS_WITHOUT_FRAME: u32 = 30;
/// A hardware path that gives this many corrupt frames in a row has failed.
pub const MAX_CORRUPT_IN_ROW: u64 = 10;
