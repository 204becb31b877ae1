//! Hardware decoding: a device context per `--accel` entry, the `get_format` callback that
//! picks the device's pixel format (and notices when the decoder is not offered it), and the
//! opened decoder that owns both in the right freeing order.

use std::ffi::CString;
use std::mem::ManuallyDrop;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

use ffmpeg::ffi::{
    av_buffer_ref, av_buffer_unref, av_hwdevice_ctx_create, av_hwdevice_find_type_by_name,
    av_pix_fmt_desc_get, avcodec_get_hw_config, AVBufferRef, AVCodecContext, AVHWDeviceType,
    AVPixelFormat, AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX, AV_PIX_FMT_FLAG_HWACCEL,
};
use ffmpeg_next as ffmpeg;

use super::{check, no_memory, Owned};

/// The kind of a hardware device (`vaapi`, `cuda`, …), as this FFmpeg build knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeviceType(AVHWDeviceType);

/// FFmpeg's device type for a name such as `vaapi` or `cuda`; `None` when this FFmpeg build
/// does not know it.
pub(crate) fn device_type(name: &str) -> Option<DeviceType> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let t = unsafe { av_hwdevice_find_type_by_name(c.as_ptr()) };
    (t != AVHWDeviceType::AV_HWDEVICE_TYPE_NONE).then_some(DeviceType(t))
}

/// `av_buffer_unref` for [`Owned`].
unsafe fn unref(buf: *mut AVBufferRef) {
    let mut buf = buf;
    // SAFETY: the caller (Owned's Drop) passes a live reference it owns; FFmpeg drops it and
    // nulls our copy of the pointer.
    unsafe { av_buffer_unref(&mut buf) };
}

/// A hardware device context (a reference to an `AVHWDeviceContext`).
pub(crate) struct HwDevice(Owned<AVBufferRef>);

// SAFETY: an AVHWDeviceContext is reference-counted and FFmpeg documents device contexts as
// usable from any thread; this owner only creates, references and frees it.
unsafe impl Send for HwDevice {}

/// Opens a hardware device (`device` e.g. `/dev/dri/renderD128` or a CUDA index).
pub(crate) fn create_device(
    kind: DeviceType,
    device: Option<&str>,
) -> Result<HwDevice, ffmpeg::Error> {
    let dev = match device {
        Some(d) => Some(CString::new(d).map_err(|_| ffmpeg::Error::InvalidData)?),
        None => None,
    };
    let mut buf: *mut AVBufferRef = ptr::null_mut();
    let dev_ptr = dev.as_ref().map_or(ptr::null(), |d| d.as_ptr());
    // SAFETY: `buf` is a valid out-pointer; `dev_ptr` is null or a live C string; no options.
    let r = unsafe { av_hwdevice_ctx_create(&mut buf, kind.0, dev_ptr, ptr::null_mut(), 0) };
    // SAFETY: on success `buf` is a new reference that nothing else owns; `unref` frees it.
    let owned = unsafe { Owned::from_raw(buf, unref) };
    check(r)?;
    owned.map(HwDevice).ok_or(ffmpeg::Error::from(-1))
}

/// The hardware pixel format a decoder produces with a device of `kind`, if it supports one
/// through `hw_device_ctx`.
pub(crate) fn hw_pixel_format(codec: &ffmpeg::Codec, kind: DeviceType) -> Option<HwFormat> {
    // SAFETY: reads the pointer of the AVCodec the safe wrapper holds.
    let codec = unsafe { codec.as_ptr() };
    for i in 0..64 {
        // SAFETY: `codec` is a valid AVCodec; FFmpeg returns null past the last config.
        let cfg = unsafe { avcodec_get_hw_config(codec, i) };
        // SAFETY: non-null configs point to static, immutable AVCodecHWConfig entries.
        let cfg = unsafe { cfg.as_ref() }?;
        if cfg.methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX as i32 != 0
            && cfg.device_type == kind.0
        {
            return Some(HwFormat(cfg.pix_fmt));
        }
    }
    None
}

/// The pixel format of frames in a device's memory (`VAAPI`, `CUDA`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HwFormat(AVPixelFormat);

/// What the `get_format` callback needs; owned by the [`DecoderContext`] whose codec context
/// points to it, and freed after that context.
struct FormatChoice {
    hw: AVPixelFormat,
    refused: AtomicBool,
}

/// An opened decoder and, when it decodes in hardware, what its codec context points to:
/// the `get_format` state and the device. The context is freed first, always — the order
/// is this type's, so no code outside this module can break it by moving or reordering
/// fields (scuffle-ffmpeg's pattern).
pub(crate) struct DecoderContext {
    ctx: ManuallyDrop<ffmpeg::decoder::Video>,
    hw: Option<(Box<FormatChoice>, HwDevice)>,
    /// A hardware decoder of its own (V4L2 memory-to-memory), without a device here.
    wrapper: bool,
}

/// Hardware surfaces asked for beyond what the decoder needs for its references.
pub(crate) const EXTRA_HW_FRAMES: u32 = 2;

impl DecoderContext {
    /// A software decoder.
    pub(crate) fn software(ctx: ffmpeg::decoder::Video) -> DecoderContext {
        DecoderContext {
            ctx: ManuallyDrop::new(ctx),
            hw: None,
            wrapper: false,
        }
    }

    /// A hardware decoder that FFmpeg wraps as a decoder of its own (`h264_v4l2m2m`): no
    /// device to hold, but it falls back as a hardware path does.
    pub(crate) fn wrapper(ctx: ffmpeg::decoder::Video) -> DecoderContext {
        DecoderContext {
            ctx: ManuallyDrop::new(ctx),
            hw: None,
            wrapper: true,
        }
    }

    /// Opens `ctx` (not yet opened) to decode on `device`, preferring `hw_format`.
    pub(crate) fn hardware(
        mut ctx: ffmpeg::codec::Context,
        device: HwDevice,
        hw_format: HwFormat,
    ) -> Result<DecoderContext, ffmpeg::Error> {
        // Boxed: the context keeps its address.
        let choice = Box::new(FormatChoice {
            hw: hw_format.0,
            refused: AtomicBool::new(false),
        });
        attach(&mut ctx, &device, &choice)?;
        // Surfaces beyond the decoder's own: frames are downloaded one at a time, as they
        // come, so one more (and one in flight) is all that is held.
        let codec = ctx.codec().ok_or(ffmpeg::Error::DecoderNotFound)?;
        let mut options = ffmpeg::Dictionary::new();
        options.set("extra_hw_frames", &EXTRA_HW_FRAMES.to_string());
        // On failure the context is freed inside this expression, while `choice` lives.
        let opened = ctx.decoder().open_as_with(codec, options)?.video()?;
        Ok(DecoderContext {
            ctx: ManuallyDrop::new(opened),
            hw: Some((choice, device)),
            wrapper: false,
        })
    }

    /// Whether it decodes in hardware.
    pub(crate) fn is_hw(&self) -> bool {
        self.hw.is_some() || self.wrapper
    }

    /// Whether it is a wrapper decoder (`h264_v4l2m2m`, …): its own buffers, no flush.
    pub(crate) fn is_wrapper(&self) -> bool {
        self.wrapper
    }

    /// Whether the decoder was not offered the hardware format (and went to software).
    pub(crate) fn refused(&self) -> bool {
        self.hw
            .as_ref()
            .is_some_and(|(c, _)| c.refused.load(Ordering::Relaxed))
    }
}

impl std::ops::Deref for DecoderContext {
    type Target = ffmpeg::decoder::Video;
    fn deref(&self) -> &ffmpeg::decoder::Video {
        &self.ctx
    }
}

impl std::ops::DerefMut for DecoderContext {
    fn deref_mut(&mut self) -> &mut ffmpeg::decoder::Video {
        &mut self.ctx
    }
}

impl Drop for DecoderContext {
    fn drop(&mut self) {
        // SAFETY: the context is dropped exactly once, here, and never used after; `hw`
        // (the callback state and device it points to) is dropped after this body.
        unsafe { ManuallyDrop::drop(&mut self.ctx) };
    }
}

/// Whether FFmpeg flags `format` as a hardware format.
fn is_hw_format(format: AVPixelFormat) -> bool {
    // SAFETY: av_pix_fmt_desc_get accepts any format value and returns null if unknown.
    let desc = unsafe { av_pix_fmt_desc_get(format) };
    // SAFETY: a non-null descriptor points to FFmpeg's static, immutable table.
    let desc = unsafe { desc.as_ref() };
    desc.is_some_and(|d| d.flags & AV_PIX_FMT_FLAG_HWACCEL as u64 != 0)
}

extern "C" fn get_format(ctx: *mut AVCodecContext, fmts: *const AVPixelFormat) -> AVPixelFormat {
    if ctx.is_null() || fmts.is_null() {
        return AVPixelFormat::AV_PIX_FMT_NONE;
    }
    // SAFETY: FFmpeg passes the context it calls us for, valid for the call.
    let opaque = unsafe { (*ctx).opaque };
    // SAFETY: `opaque` was set by `attach` to the FormatChoice of the DecoderContext that owns
    // this context and frees it first, so it is live.
    let choice = unsafe { (opaque as *const FormatChoice).as_ref() };
    let mut software = AVPixelFormat::AV_PIX_FMT_NONE;
    for i in 0..512 {
        // SAFETY: `fmts` is an array terminated by AV_PIX_FMT_NONE and we stop there, so
        // entry `i` is inside it.
        let at = unsafe { fmts.add(i) };
        // SAFETY: `at` points to an entry of the array, valid for the call.
        let f = unsafe { *at };
        if f == AVPixelFormat::AV_PIX_FMT_NONE {
            break;
        }
        if choice.is_some_and(|c| c.hw == f) {
            return f;
        }
        if !is_hw_format(f) && software == AVPixelFormat::AV_PIX_FMT_NONE {
            software = f;
        }
    }
    if let Some(c) = choice {
        c.refused.store(true, Ordering::Relaxed);
    }
    software
}

/// Sets the device and the format callback on a context that is not yet opened.
fn attach(
    ctx: &mut ffmpeg::codec::Context,
    device: &HwDevice,
    choice: &FormatChoice,
) -> Result<(), ffmpeg::Error> {
    // SAFETY: `device` holds a live device context; av_buffer_ref returns a new reference
    // (or null on allocation failure).
    let r = unsafe { av_buffer_ref(device.0.as_ptr()) };
    // SAFETY: a new reference nothing else owns, until it is handed to the context below.
    let r = unsafe { Owned::from_raw(r, unref) }.ok_or_else(no_memory)?;
    // SAFETY: the safe wrapper owns a valid codec context; we borrow it mutably.
    let c = unsafe { ctx.as_mut_ptr() };
    // SAFETY: `c` is valid, not opened, and not used elsewhere while this borrow lives.
    let c = unsafe { &mut *c };
    // The context owns the reference from here (avcodec_free_context unreferences it).
    c.hw_device_ctx = r.into_raw();
    // `choice` is boxed and outlives the context: DecoderContext frees the context first,
    // and `hardware` keeps it alive while a failed open frees the context.
    c.opaque = choice as *const FormatChoice as *mut _;
    c.get_format = Some(get_format);
    Ok(())
}
