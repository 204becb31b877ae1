//! Output contexts for remuxing without an encoder (`record`, `publish`): an RTSP output that
//! makes its own connection, and streams described from what the cameras send.

use std::ffi::CString;
use std::ptr;

use ffmpeg::ffi::{
    av_channel_layout_default, av_free, av_mallocz, avformat_alloc_output_context2,
    AVCodecParameters, AVMediaType, AV_INPUT_BUFFER_PADDING_SIZE,
};
use ffmpeg_next as ffmpeg;

use super::{check, no_memory, Owned};

/// An output context for a format that makes its own connection (RTSP: `AVFMT_NOFILE`).
/// ffmpeg-next's `output_as` would also open `url` as a file, which fails ("Protocol not
/// found") for `rtsp://`; the muxer connects when the header is written.
pub(crate) fn output_nofile(
    url: &str,
    format: &str,
) -> Result<ffmpeg::format::context::Output, ffmpeg::Error> {
    let url = CString::new(url).map_err(|_| ffmpeg::Error::InvalidData)?;
    let format = CString::new(format).map_err(|_| ffmpeg::Error::InvalidData)?;
    let mut ps = ptr::null_mut();
    // SAFETY: `ps` is an out-pointer for a new context; both strings outlive the call.
    let r = unsafe {
        avformat_alloc_output_context2(&mut ps, ptr::null_mut(), format.as_ptr(), url.as_ptr())
    };
    check(r)?;
    if ps.is_null() {
        return Err(no_memory());
    }
    // SAFETY: `ps` is a valid output context we own, with no I/O context (`pb` is null);
    // `Output` frees it on drop, and `avio_close(NULL)` there does nothing.
    Ok(unsafe { ffmpeg::format::context::Output::wrap(ps) })
}

/// Describes stream `index` of an output context as video of `codec` (`width` x `height`)
/// with `extradata` (parameter sets, Annex-B: the muxers convert to avcC/hvcC), for remuxing
/// without an encoder.
pub(crate) fn describe_video_stream(
    output: &mut ffmpeg::format::context::Output,
    index: usize,
    codec: ffmpeg::codec::Id,
    width: u32,
    height: u32,
    extradata: &[u8],
) -> Result<(), ffmpeg::Error> {
    let width = i32::try_from(width).map_err(|_| ffmpeg::Error::InvalidData)?;
    let height = i32::try_from(height).map_err(|_| ffmpeg::Error::InvalidData)?;
    let buf = Extradata::copy(extradata)?;
    let par = codec_parameters(output, index)?;
    par.codec_type = AVMediaType::AVMEDIA_TYPE_VIDEO;
    par.codec_id = codec.into();
    par.width = width;
    par.height = height;
    buf.hand_to(par);
    Ok(())
}

/// Describes stream `index` as AAC with `config` (AudioSpecificConfig) as extradata.
pub(crate) fn describe_aac_stream(
    output: &mut ffmpeg::format::context::Output,
    index: usize,
    sample_rate: u32,
    channels: u8,
    config: &[u8],
) -> Result<(), ffmpeg::Error> {
    let rate = i32::try_from(sample_rate).map_err(|_| ffmpeg::Error::InvalidData)?;
    let buf = Extradata::copy(config)?;
    let par = codec_parameters(output, index)?;
    par.codec_type = AVMediaType::AVMEDIA_TYPE_AUDIO;
    par.codec_id = ffmpeg::codec::Id::AAC.into();
    par.sample_rate = rate;
    par.frame_size = 1024;
    // SAFETY: `ch_layout` belongs to `par`; av_channel_layout_default overwrites it with the
    // default layout for that many channels.
    unsafe { av_channel_layout_default(&mut par.ch_layout, i32::from(channels.max(1))) };
    buf.hand_to(par);
    Ok(())
}

/// The codec parameters of stream `index` of an output context, borrowed with it.
fn codec_parameters(
    output: &mut ffmpeg::format::context::Output,
    index: usize,
) -> Result<&mut AVCodecParameters, ffmpeg::Error> {
    // SAFETY: reads the pointer of the context the safe wrapper owns.
    let ctx = unsafe { output.as_mut_ptr() };
    // SAFETY: the context is valid and borrowed mutably with `output`.
    let ctx = unsafe { &*ctx };
    if index >= ctx.nb_streams as usize {
        return Err(ffmpeg::Error::StreamNotFound);
    }
    // SAFETY: `index` is below `nb_streams`, so the pointer stays in bounds of `streams`.
    let at = unsafe { ctx.streams.add(index) };
    // SAFETY: `at` points to one of the context's `nb_streams` stream pointers.
    let stream = unsafe { *at };
    // SAFETY: every stream pointer of a context is valid for the context's life.
    let stream = unsafe { &*stream };
    // SAFETY: each stream has codec parameters, which live as long as the context that
    // `output` borrows mutably.
    unsafe { stream.codecpar.as_mut() }.ok_or(ffmpeg::Error::StreamNotFound)
}

/// `av_free` for [`Owned`].
unsafe fn free(p: *mut u8) {
    // SAFETY: the caller (Owned's Drop) passes memory from av_mallocz that it owns.
    unsafe { av_free(p.cast()) };
}

/// Bytes in FFmpeg-allocated, zero-padded memory for an `extradata` field: owned here until
/// handed to the codec parameters (which free it with the stream).
struct Extradata {
    buf: Owned<u8>,
    len: i32,
}

impl Extradata {
    fn copy(data: &[u8]) -> Result<Extradata, ffmpeg::Error> {
        let len = i32::try_from(data.len()).map_err(|_| ffmpeg::Error::InvalidData)?;
        // SAFETY: av_mallocz returns zeroed memory of the asked size, or null.
        let p = unsafe { av_mallocz(data.len() + AV_INPUT_BUFFER_PADDING_SIZE as usize) };
        // SAFETY: fresh memory from av_mallocz, owned by nothing else; `free` releases it.
        let buf = unsafe { Owned::from_raw(p.cast::<u8>(), free) }.ok_or_else(no_memory)?;
        // SAFETY: `buf` holds at least `data.len()` bytes and does not overlap `data`.
        unsafe { ptr::copy_nonoverlapping(data.as_ptr(), buf.as_ptr(), data.len()) };
        Ok(Extradata { buf, len })
    }

    /// Gives the bytes to `par`, which frees them from then on; what it held before is
    /// freed.
    fn hand_to(self, par: &mut AVCodecParameters) {
        if !par.extradata.is_null() {
            // SAFETY: the parameters own their extradata, allocated by FFmpeg; it is replaced
            // just below, so the old pointer is never used again.
            unsafe { av_free(par.extradata.cast()) };
        }
        par.extradata = self.buf.into_raw();
        par.extradata_size = self.len;
    }
}
