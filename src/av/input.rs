//! What an opened input's streams carry besides packets.

use ffmpeg_next as ffmpeg;

/// A stream's codec extradata (for RTSP video: the parameter sets from the SDP, Annex-B).
pub(crate) fn stream_extradata(stream: &ffmpeg::format::stream::Stream) -> Vec<u8> {
    // SAFETY: reads the pointer of the AVStream the safe wrapper borrows from its input.
    let raw = unsafe { stream.as_ptr() };
    // SAFETY: the stream belongs to an open input context, borrowed with `stream`.
    let par = unsafe { (*raw).codecpar };
    // SAFETY: `codecpar` is null or valid for the stream's life.
    let Some(par) = (unsafe { par.as_ref() }) else {
        return Vec::new();
    };
    let len = usize::try_from(par.extradata_size).unwrap_or(0);
    if par.extradata.is_null() || len == 0 {
        return Vec::new();
    }
    // SAFETY: a non-null `extradata` holds `extradata_size` bytes, owned by the parameters
    // that live as long as the borrowed stream; we copy them out at once.
    unsafe { std::slice::from_raw_parts(par.extradata, len) }.to_vec()
}
