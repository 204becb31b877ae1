//! A decoded frame's fields that ffmpeg-next's safe API does not expose, and the download of
//! frames that live in GPU memory.

use ffmpeg::ffi::{av_frame_copy_props, av_hwframe_transfer_data, AVFrame};
use ffmpeg_next as ffmpeg;

use super::check;

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

/// The decoder's error flags for a frame (non-zero: concealed damage).
pub fn decode_error_flags(frame: &ffmpeg::frame::Video) -> i32 {
    fields(frame).decode_error_flags
}

/// Downloads a hardware frame into system memory (NV12 for 8-bit, P010 for 10-bit), with
/// its properties (colour, flags) copied.
pub fn download(frame: &ffmpeg::frame::Video) -> Result<ffmpeg::frame::Video, ffmpeg::Error> {
    let mut sw = ffmpeg::frame::Video::empty();
    // SAFETY: reads the pointer of the AVFrame the safe wrapper owns.
    let src = unsafe { frame.as_ptr() };
    // SAFETY: as above, for the frame we write.
    let dst = unsafe { sw.as_mut_ptr() };
    // SAFETY: both frames are valid; `dst` is empty so FFmpeg allocates its buffers in the
    // first format the device can download to.
    check(unsafe { av_hwframe_transfer_data(dst, src, 0) })?;
    // SAFETY: both frames are valid; copies metadata only.
    check(unsafe { av_frame_copy_props(dst, src) })?;
    Ok(sw)
}
