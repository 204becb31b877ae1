//! Every unsafe FFmpeg call of the project, for what ffmpeg-next's safe API lacks: hardware
//! device contexts, the `get_format` callback, hardware frame download, two frame fields, and
//! libswscale on a frame's own planes (the renderer's CPU colour path).
//!
//! Each pointer has one RAII owner whose `Drop` frees it; each unsafe block does one thing
//! and says why it is sound.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::mem::ManuallyDrop;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

use ffmpeg::ffi::{
    av_buffer_ref, av_buffer_unref, av_frame_copy_props, av_hwdevice_ctx_create,
    av_hwdevice_find_type_by_name, av_hwframe_transfer_data, av_pix_fmt_desc_get,
    avcodec_get_hw_config, AVBufferRef, AVCodecContext, AVHWDeviceType, AVPixelFormat,
    AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX, AV_PIX_FMT_FLAG_HWACCEL,
};
use ffmpeg_next as ffmpeg;

/// A hardware device context (`AVBufferRef` of an `AVHWDeviceContext`).
pub struct HwDevice {
    buf: *mut AVBufferRef,
}

// SAFETY: an AVHWDeviceContext is reference-counted and FFmpeg documents device contexts as
// usable from any thread; this owner only creates, references and frees it.
unsafe impl Send for HwDevice {}

impl Drop for HwDevice {
    fn drop(&mut self) {
        // SAFETY: `buf` came from av_hwdevice_ctx_create and is unreferenced exactly once.
        unsafe { av_buffer_unref(&mut self.buf) };
    }
}

/// FFmpeg's device type for a name such as `vaapi` or `cuda`; `None` when this FFmpeg build
/// does not know it.
pub fn device_type(name: &str) -> Option<AVHWDeviceType> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let t = unsafe { av_hwdevice_find_type_by_name(c.as_ptr()) };
    (t != AVHWDeviceType::AV_HWDEVICE_TYPE_NONE).then_some(t)
}

/// Opens a hardware device (`device` e.g. `/dev/dri/renderD128` or a CUDA index).
pub fn create_device(
    kind: AVHWDeviceType,
    device: Option<&str>,
) -> Result<HwDevice, ffmpeg::Error> {
    let dev = match device {
        Some(d) => Some(CString::new(d).map_err(|_| ffmpeg::Error::InvalidData)?),
        None => None,
    };
    let mut buf: *mut AVBufferRef = ptr::null_mut();
    let dev_ptr = dev.as_ref().map_or(ptr::null(), |d| d.as_ptr());
    // SAFETY: `buf` is a valid out-pointer; `dev_ptr` is null or a live C string; no options.
    let r = unsafe { av_hwdevice_ctx_create(&mut buf, kind, dev_ptr, ptr::null_mut(), 0) };
    if r < 0 || buf.is_null() {
        return Err(ffmpeg::Error::from(r.min(-1)));
    }
    Ok(HwDevice { buf })
}

/// The hardware pixel format a decoder produces with a device of `kind`, if it supports one
/// through `hw_device_ctx`.
pub fn hw_pixel_format(codec: &ffmpeg::Codec, kind: AVHWDeviceType) -> Option<AVPixelFormat> {
    for i in 0..64 {
        // SAFETY: `codec` wraps a valid AVCodec; FFmpeg returns null past the last config.
        let cfg = unsafe { avcodec_get_hw_config(codec.as_ptr(), i) };
        if cfg.is_null() {
            return None;
        }
        // SAFETY: non-null configs point to static, immutable AVCodecHWConfig entries.
        let cfg = unsafe { &*cfg };
        if cfg.methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX as i32 != 0
            && cfg.device_type == kind
        {
            return Some(cfg.pix_fmt);
        }
    }
    None
}

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
pub struct DecoderContext {
    ctx: ManuallyDrop<ffmpeg::decoder::Video>,
    hw: Option<(Box<FormatChoice>, HwDevice)>,
}

impl DecoderContext {
    /// A software decoder.
    pub fn software(ctx: ffmpeg::decoder::Video) -> DecoderContext {
        DecoderContext {
            ctx: ManuallyDrop::new(ctx),
            hw: None,
        }
    }

    /// Opens `ctx` (not yet opened) to decode on `device`, preferring `hw_format`.
    pub fn hardware(
        mut ctx: ffmpeg::codec::Context,
        device: HwDevice,
        hw_format: AVPixelFormat,
    ) -> Result<DecoderContext, ffmpeg::Error> {
        // Boxed: the context keeps its address.
        let choice = Box::new(FormatChoice {
            hw: hw_format,
            refused: AtomicBool::new(false),
        });
        attach(&mut ctx, &device, &choice)?;
        // On failure the context is freed inside this expression, while `choice` lives.
        let opened = ctx.decoder().video()?;
        Ok(DecoderContext {
            ctx: ManuallyDrop::new(opened),
            hw: Some((choice, device)),
        })
    }

    /// Whether it decodes in hardware.
    pub fn is_hw(&self) -> bool {
        self.hw.is_some()
    }

    /// Whether the decoder was not offered the hardware format (and went to software).
    pub fn refused(&self) -> bool {
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

extern "C" fn get_format(ctx: *mut AVCodecContext, fmts: *const AVPixelFormat) -> AVPixelFormat {
    if ctx.is_null() || fmts.is_null() {
        return AVPixelFormat::AV_PIX_FMT_NONE;
    }
    // SAFETY: FFmpeg passes the context it calls us for; `opaque` was set by `attach` to the
    // FormatChoice of the DecoderContext that owns this context and frees it first.
    let choice = unsafe { ((*ctx).opaque as *const FormatChoice).as_ref() };
    let mut software = AVPixelFormat::AV_PIX_FMT_NONE;
    for i in 0..512 {
        // SAFETY: `fmts` is an array terminated by AV_PIX_FMT_NONE; we stop there.
        let f = unsafe { *fmts.add(i) };
        if f == AVPixelFormat::AV_PIX_FMT_NONE {
            break;
        }
        if choice.is_some_and(|c| c.hw == f) {
            return f;
        }
        // SAFETY: av_pix_fmt_desc_get accepts any format value and returns null if unknown.
        let desc = unsafe { av_pix_fmt_desc_get(f) };
        // SAFETY: a non-null descriptor points to FFmpeg's static table.
        let is_hw =
            !desc.is_null() && unsafe { (*desc).flags } & AV_PIX_FMT_FLAG_HWACCEL as u64 != 0;
        if !is_hw && software == AVPixelFormat::AV_PIX_FMT_NONE {
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
    // SAFETY: `device.buf` is a live device context; av_buffer_ref returns a new reference
    // (or null on allocation failure) that the codec context will own and free.
    let r = unsafe { av_buffer_ref(device.buf) };
    if r.is_null() {
        return Err(ffmpeg::Error::from(-12)); // ENOMEM
    }
    // SAFETY: the context is valid and not opened; it takes ownership of `r`; `choice` is
    // boxed and outlives the context (DecoderContext frees the context first, and
    // `hardware` keeps it alive while a failed open frees the context).
    unsafe {
        let c = ctx.as_mut_ptr();
        (*c).hw_device_ctx = r;
        (*c).opaque = choice as *const FormatChoice as *mut _;
        (*c).get_format = Some(get_format);
    }
    Ok(())
}

/// Whether a decoded frame lives in GPU memory.
pub fn is_hw_frame(frame: &ffmpeg::frame::Video) -> bool {
    // SAFETY: the frame wraps a valid AVFrame; reading a pointer field.
    !unsafe { (*frame.as_ptr()).hw_frames_ctx }.is_null()
}

/// Downloads a hardware frame into system memory (NV12 for 8-bit, P010 for 10-bit), with
/// its properties (colour, flags) copied.
pub fn download(frame: &ffmpeg::frame::Video) -> Result<ffmpeg::frame::Video, ffmpeg::Error> {
    let mut sw = ffmpeg::frame::Video::empty();
    // SAFETY: both frames are valid; `sw` is empty so FFmpeg allocates its buffers in the
    // first format the device can download to.
    let r = unsafe { av_hwframe_transfer_data(sw.as_mut_ptr(), frame.as_ptr(), 0) };
    if r < 0 {
        return Err(ffmpeg::Error::from(r));
    }
    // SAFETY: both frames are valid; copies metadata only.
    let r = unsafe { av_frame_copy_props(sw.as_mut_ptr(), frame.as_ptr()) };
    if r < 0 {
        return Err(ffmpeg::Error::from(r));
    }
    Ok(sw)
}

/// The decoder's error flags for a frame (non-zero: concealed damage).
pub fn decode_error_flags(frame: &ffmpeg::frame::Video) -> i32 {
    // SAFETY: the frame wraps a valid AVFrame; reading an int field.
    unsafe { (*frame.as_ptr()).decode_error_flags }
}

/// Describes stream `index` of an output context as video of `codec` (`width` x `height`)
/// with `extradata` (parameter sets, Annex-B: the muxers convert to avcC/hvcC), for remuxing
/// without an encoder.
pub fn describe_video_stream(
    output: &mut ffmpeg::format::context::Output,
    index: usize,
    codec: ffmpeg::codec::Id,
    width: u32,
    height: u32,
    extradata: &[u8],
) -> Result<(), ffmpeg::Error> {
    use ffmpeg::ffi::AVMediaType;
    let width = i32::try_from(width).map_err(|_| ffmpeg::Error::InvalidData)?;
    let height = i32::try_from(height).map_err(|_| ffmpeg::Error::InvalidData)?;
    let size = i32::try_from(extradata.len()).map_err(|_| ffmpeg::Error::InvalidData)?;
    let par = codec_parameters(output, index)?;
    let buf = extradata_copy(extradata)?;
    par.codec_type = AVMediaType::AVMEDIA_TYPE_VIDEO;
    par.codec_id = codec.into();
    par.width = width;
    par.height = height;
    par.extradata = buf;
    par.extradata_size = size;
    Ok(())
}

/// Describes stream `index` as AAC with `config` (AudioSpecificConfig) as extradata.
pub fn describe_aac_stream(
    output: &mut ffmpeg::format::context::Output,
    index: usize,
    sample_rate: u32,
    channels: u8,
    config: &[u8],
) -> Result<(), ffmpeg::Error> {
    use ffmpeg::ffi::{av_channel_layout_default, AVMediaType};
    let rate = i32::try_from(sample_rate).map_err(|_| ffmpeg::Error::InvalidData)?;
    let size = i32::try_from(config.len()).map_err(|_| ffmpeg::Error::InvalidData)?;
    let par = codec_parameters(output, index)?;
    let buf = extradata_copy(config)?;
    par.codec_type = AVMediaType::AVMEDIA_TYPE_AUDIO;
    par.codec_id = ffmpeg::codec::Id::AAC.into();
    par.sample_rate = rate;
    par.frame_size = 1024;
    // SAFETY: `ch_layout` belongs to `par`; av_channel_layout_default overwrites it with the
    // default layout for that many channels.
    unsafe { av_channel_layout_default(&mut par.ch_layout, i32::from(channels.max(1))) };
    par.extradata = buf;
    par.extradata_size = size;
    Ok(())
}

/// The codec parameters of stream `index` of an output context, borrowed with it.
fn codec_parameters(
    output: &mut ffmpeg::format::context::Output,
    index: usize,
) -> Result<&mut ffmpeg::ffi::AVCodecParameters, ffmpeg::Error> {
    // SAFETY: the output context is valid and owns `nb_streams` stream pointers.
    let ctx = unsafe { &*output.as_mut_ptr() };
    if index >= ctx.nb_streams as usize {
        return Err(ffmpeg::Error::StreamNotFound);
    }
    // SAFETY: `index` is below `nb_streams`, so the read is in bounds; each stream has codec
    // parameters, which live as long as the context that `output` borrows.
    unsafe { (**ctx.streams.add(index)).codecpar.as_mut() }.ok_or(ffmpeg::Error::StreamNotFound)
}

/// `data` in FFmpeg-allocated, zero-padded memory for an `extradata` field, which then owns
/// it (avcodec_parameters_free frees it).
fn extradata_copy(data: &[u8]) -> Result<*mut u8, ffmpeg::Error> {
    use ffmpeg::ffi::{av_mallocz, AV_INPUT_BUFFER_PADDING_SIZE};
    // SAFETY: av_mallocz returns zeroed memory of the asked size, or null.
    let buf = unsafe { av_mallocz(data.len() + AV_INPUT_BUFFER_PADDING_SIZE as usize) } as *mut u8;
    if buf.is_null() {
        return Err(ffmpeg::Error::from(-12));
    }
    // SAFETY: `buf` holds at least `data.len()` bytes and does not overlap `data`.
    unsafe { ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len()) };
    Ok(buf)
}

/// An output context for a format that makes its own connection (RTSP: `AVFMT_NOFILE`).
/// ffmpeg-next's `output_as` would also open `url` as a file, which fails ("Protocol not
/// found") for `rtsp://`; the muxer connects when the header is written.
pub fn output_nofile(
    url: &str,
    format: &str,
) -> Result<ffmpeg::format::context::Output, ffmpeg::Error> {
    use std::ffi::CString;
    let url = CString::new(url).map_err(|_| ffmpeg::Error::InvalidData)?;
    let format = CString::new(format).map_err(|_| ffmpeg::Error::InvalidData)?;
    let mut ps = std::ptr::null_mut();
    // SAFETY: `ps` is an out-pointer for a new context; both strings outlive the call.
    let r = unsafe {
        ffmpeg::ffi::avformat_alloc_output_context2(
            &mut ps,
            std::ptr::null_mut(),
            format.as_ptr(),
            url.as_ptr(),
        )
    };
    if r < 0 || ps.is_null() {
        return Err(ffmpeg::Error::from(r.min(-1)));
    }
    // SAFETY: `ps` is a valid output context we own, with no I/O context (`pb` is null);
    // `Output` frees it on drop, and `avio_close(NULL)` there does nothing.
    Ok(unsafe { ffmpeg::format::context::Output::wrap(ps) })
}

/// A stream's codec extradata (for RTSP video: the parameter sets from the SDP, Annex-B).
pub fn stream_extradata(stream: &ffmpeg::format::stream::Stream) -> Vec<u8> {
    // SAFETY: the stream belongs to an open input context; `codecpar` is valid for its life,
    // and `extradata` holds `extradata_size` bytes when not null.
    unsafe {
        let par = (*stream.as_ptr()).codecpar;
        if par.is_null() || (*par).extradata.is_null() || (*par).extradata_size <= 0 {
            return Vec::new();
        }
        let len = usize::try_from((*par).extradata_size).unwrap_or(0);
        std::slice::from_raw_parts((*par).extradata, len).to_vec()
    }
}

/// The byte order of 8-bit pixels out of a [`Scaler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelOrder {
    /// R, G, B, A (A = 255).
    Rgba,
    /// B, G, R, A (A = 255).
    Bgra,
    /// B, G, R, 0: a little-endian `0x00RRGGBB` word, a window's own pixels (softbuffer).
    Bgr0,
}

/// A libswscale context converting one frame shape (layout, size, colour) to 8-bit RGBA or
/// BGRA at another size, in one pass: the renderer's colour path on CPU adapters.
pub struct Scaler {
    ctx: *mut ffmpeg::ffi::SwsContext,
    src: (crate::frame::Layout, u32, u32),
    dst: (u32, u32),
}

// SAFETY: an SwsContext is used by one thread at a time (`&mut self` for every call) and
// holds no thread-affine state.
unsafe impl Send for Scaler {}

impl Drop for Scaler {
    fn drop(&mut self) {
        // SAFETY: `ctx` came from sws_getContext and is freed exactly once.
        unsafe { ffmpeg::ffi::sws_freeContext(self.ctx) };
    }
}

impl Scaler {
    /// A context for `src` frames (layout, width, height, colour) to `dst` (width, height)
    /// pixels in `order`; `flags` are `SWS_*` flags. `None` when libswscale refuses the
    /// shape.
    pub fn new(
        src: (crate::frame::Layout, u32, u32),
        colour: crate::frame::Colour,
        dst: (u32, u32),
        order: PixelOrder,
        flags: i32,
    ) -> Option<Scaler> {
        use crate::frame::{Layout, Matrix, Range};
        use ffmpeg::ffi::AVPixelFormat as P;
        let format = match src.0 {
            Layout::I420 => P::AV_PIX_FMT_YUV420P,
            Layout::Nv12 => P::AV_PIX_FMT_NV12,
            Layout::P010 => P::AV_PIX_FMT_P010LE,
            Layout::I420P10 => P::AV_PIX_FMT_YUV420P10LE,
        };
        let out = match order {
            PixelOrder::Rgba => P::AV_PIX_FMT_RGBA,
            PixelOrder::Bgra => P::AV_PIX_FMT_BGRA,
            PixelOrder::Bgr0 => P::AV_PIX_FMT_BGR0,
        };
        let dim = |v: u32| i32::try_from(v).ok().filter(|&v| v > 0);
        let (sw, sh, dw, dh) = (dim(src.1)?, dim(src.2)?, dim(dst.0)?, dim(dst.1)?);
        // SAFETY: sws_alloc_context has no preconditions; a null result is checked.
        let ctx = unsafe { ffmpeg::ffi::sws_alloc_context() };
        if ctx.is_null() {
            return None;
        }
        // Owned from here: freed on every early return.
        let scaler = Scaler {
            ctx,
            src: (src.0, src.1, src.2),
            dst,
        };
        // Chroma sited as H.264 and H.265 do by default (co-sited with even columns, between
        // rows: 0 and 128 in 1/256 of a chroma sample), as the shader and the reference have it.
        let options: [(&std::ffi::CStr, i64); 9] = [
            (c"srcw", i64::from(sw)),
            (c"srch", i64::from(sh)),
            (c"src_format", format as i64),
            (c"dstw", i64::from(dw)),
            (c"dsth", i64::from(dh)),
            (c"dst_format", out as i64),
            (c"sws_flags", i64::from(flags)),
            (c"src_h_chr_pos", 0),
            (c"src_v_chr_pos", 128),
        ];
        for (name, value) in options {
            // SAFETY: `ctx` is a valid SwsContext (an AVClass object) and `name` a
            // NUL-terminated option name it declares; a failure is checked.
            if unsafe { ffmpeg::ffi::av_opt_set_int(ctx.cast(), name.as_ptr(), value, 0) } < 0 {
                return None;
            }
        }
        // SAFETY: `ctx` is valid and configured; null filters are allowed.
        if unsafe { ffmpeg::ffi::sws_init_context(ctx, ptr::null_mut(), ptr::null_mut()) } < 0 {
            return None;
        }
        let space = match colour.matrix {
            Matrix::Bt601 => ffmpeg::ffi::SWS_CS_ITU601,
            Matrix::Bt709 => ffmpeg::ffi::SWS_CS_ITU709,
            Matrix::Bt2020 => ffmpeg::ffi::SWS_CS_BT2020,
        };
        // SAFETY: `ctx` is valid; sws_getCoefficients returns a pointer to a static table
        // that sws_setColorspaceDetails copies. Brightness 0, contrast and saturation 1.0
        // in 16.16 fixed point.
        unsafe {
            let table = ffmpeg::ffi::sws_getCoefficients(space);
            ffmpeg::ffi::sws_setColorspaceDetails(
                ctx,
                table,
                i32::from(colour.range == Range::Full),
                table,
                1,
                0,
                1 << 16,
                1 << 16,
            );
        }
        Some(scaler)
    }

    /// The frame shape and output size it was made for.
    pub fn shape(&self) -> ((crate::frame::Layout, u32, u32), (u32, u32)) {
        (self.src, self.dst)
    }

    /// Converts `frame` into `out`, `stride` bytes per row. False (nothing written) when the
    /// frame's shape or `out`'s size does not match the context.
    pub fn scale(&mut self, frame: &crate::frame::Frame, out: &mut [u8], stride: usize) -> bool {
        let (dw, dh) = (self.dst.0 as usize, self.dst.1 as usize);
        let fits = stride >= dw * 4 && out.len() >= (dh - 1) * stride + dw * 4;
        if (frame.layout, frame.width, frame.height) != self.src || !fits {
            return false;
        }
        let (Ok(out_stride), Ok(rows)) = (i32::try_from(stride), i32::try_from(frame.height))
        else {
            return false;
        };
        let mut planes = [ptr::null::<u8>(); 4];
        let mut strides = [0i32; 4];
        for i in 0..frame.layout.planes() {
            planes[i] = frame.plane(i).as_ptr();
            let Ok(s) = i32::try_from(frame.stride(i)) else {
                return false;
            };
            strides[i] = s;
        }
        let dst = [
            out.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        ];
        let dst_strides = [out_stride, 0, 0, 0];
        // SAFETY: `ctx` was made for exactly this layout and size (checked above). The
        // frame's planes hold their rows at their strides (checked when the Frame was made)
        // and stay borrowed for the call; `out` holds `dh` rows of `dw` pixels at `stride`
        // (checked above). libswscale reads the source planes and writes only `out`.
        let written = unsafe {
            ffmpeg::ffi::sws_scale(
                self.ctx,
                planes.as_ptr(),
                strides.as_ptr(),
                0,
                rows,
                dst.as_ptr(),
                dst_strides.as_ptr(),
            )
        };
        written > 0
    }
}
