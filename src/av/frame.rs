//! A decoded frame's fields that ffmpeg-next's safe API does not expose, and the download of
//! frames that live in GPU memory.

use ffmpeg::ffi::{
    av_frame_copy_props, av_free, av_hwframe_transfer_data, av_hwframe_transfer_get_formats,
    AVFrame, AVHWFrameTransferDirection, AVPixelFormat,
};
use ffmpeg_next as ffmpeg;

use super::{check, Owned};

/// The AVFrame behind a safe frame, borrowed with it.
fn fields(frame: &ffmpeg::frame::Video) -> &AVFrame {
    // SAFETY: reads the pointer of the AVFrame the safe wrapper owns.
    let raw = unsafe { frame.as_ptr() };
    // SAFETY: the wrapper's AVFrame is valid (allocated with it) for as long as `frame` is
    // borrowed, and nothing writes it meanwhile.
    unsafe { &*raw }
}

/// Whether a decoded frame lives in GPU memory.
pub fn is_hw_frame(frame: &ffmpeg::frame::Video) -> bool {
    !fields(frame).hw_frames_ctx.is_null()
}

/// Marks a frame as a decoder marks concealed damage (its `decode_error_flags`): how a
/// stand-in decoder ([`crate::decode::backend`]) reports errors the way rpi's HEVC does.
pub fn set_decode_error(frame: &mut ffmpeg::frame::Video) {
    // SAFETY: the pointer of the AVFrame the safe wrapper owns, borrowed mutably with it.
    let raw = unsafe { frame.as_mut_ptr() };
    // SAFETY: the AVFrame is valid and ours alone while `frame` is borrowed mutably; an
    // int field is written.
    unsafe { (*raw).decode_error_flags = 1 };
}

/// The decoder's error flags for a frame (non-zero: concealed damage).
pub fn decode_error_flags(frame: &ffmpeg::frame::Video) -> i32 {
    fields(frame).decode_error_flags
}

/// Downloads a hardware frame into system memory, with its properties (colour, flags)
/// copied: in the first format the device offers that is one of `takes` (NV12 and P010 from
/// most devices; the Raspberry Pi's DRM transfer offers only planar YUV420P and YUV420P10LE,
/// its SAND layouts never), else in the device's own first choice.
pub fn download(
    frame: &ffmpeg::frame::Video,
    takes: &[ffmpeg::format::Pixel],
) -> Result<ffmpeg::frame::Video, ffmpeg::Error> {
    let chosen = transfer_format(frame, takes);
    let mut sw = ffmpeg::frame::Video::empty();
    if let Some(format) = chosen {
        sw.set_format(format);
    }
    // SAFETY: reads the pointer of the AVFrame the safe wrapper owns.
    let src = unsafe { frame.as_ptr() };
    // SAFETY: as above, for the frame we write.
    let dst = unsafe { sw.as_mut_ptr() };
    // SAFETY: both frames are valid; `dst` has no buffers, so FFmpeg allocates them in its
    // format if set (one the device offered), else in the device's first.
    check(unsafe { av_hwframe_transfer_data(dst, src, 0) })?;
    // SAFETY: both frames are valid; copies metadata only.
    check(unsafe { av_frame_copy_props(dst, src) })?;
    Ok(sw)
}

/// `av_free` for [`Owned`].
unsafe fn free_formats(list: *mut AVPixelFormat) {
    // SAFETY: the caller (Owned's Drop) passes the list FFmpeg allocated for us, once.
    unsafe { av_free(list.cast()) };
}

/// The first format the frame's device can download to that is one of `takes`.
fn transfer_format(
    frame: &ffmpeg::frame::Video,
    takes: &[ffmpeg::format::Pixel],
) -> Option<ffmpeg::format::Pixel> {
    let frames_ctx = fields(frame).hw_frames_ctx;
    if frames_ctx.is_null() {
        return None;
    }
    let mut list: *mut AVPixelFormat = std::ptr::null_mut();
    let from = AVHWFrameTransferDirection::AV_HWFRAME_TRANSFER_DIRECTION_FROM;
    // SAFETY: `frames_ctx` is the frame's live frames context; `list` is an out-pointer.
    let r = unsafe { av_hwframe_transfer_get_formats(frames_ctx, from, &mut list, 0) };
    // SAFETY: on success `list` is a new allocation that only we own; av_free releases it.
    let list = unsafe { Owned::from_raw(list, free_formats) }?;
    if r < 0 {
        return None;
    }
    for i in 0..256 {
        // SAFETY: FFmpeg's list ends with AV_PIX_FMT_NONE and we stop there, so entry `i`
        // is inside it.
        let at = unsafe { list.as_ptr().add(i) };
        // SAFETY: `at` points to an entry of the list, which lives until `list` drops.
        let format = unsafe { *at };
        if format == AVPixelFormat::AV_PIX_FMT_NONE {
            break;
        }
        let format = ffmpeg::format::Pixel::from(format);
        if takes.contains(&format) {
            return Some(format);
        }
    }
    None
}
