//! The decoder seam: what [`super::Decoder`] asks of an opened FFmpeg decoder, so that the
//! ladder, resets, EAGAIN, late and corrupt frames are tested with a fake where the real
//! device cannot be had (a Pi's `v4l2m2m` here). The real one is [`crate::av::hw::DecoderContext`];
//! a [`Opener`] given to [`super::Decoder::with_opener`] stands in for a hardware path.

use ffmpeg_next as ffmpeg;

pub use crate::av::{Received, Sent};

/// An opened decoder: FFmpeg's send/receive API, and what kind of path it is.
pub trait Backend: Send {
    /// `avcodec_send_packet`: taken, or not now (frames to be taken first); an error is a
    /// real one.
    fn send_packet(&mut self, packet: &ffmpeg::Packet) -> Result<Sent, ffmpeg::Error>;
    /// `avcodec_receive_frame`: a frame, none yet, or drained; an error is a real one.
    fn receive_frame(
        &mut self,
        frame: &mut ffmpeg::frame::Video,
    ) -> Result<Received, ffmpeg::Error>;
    /// End of stream: the frames it holds come out.
    fn send_eof(&mut self) -> Result<(), ffmpeg::Error>;
    /// `avcodec_flush_buffers`.
    fn flush(&mut self);
    /// Whether it decodes in hardware (a device, or a wrapper decoder).
    fn is_hw(&self) -> bool;
    /// A wrapper decoder (`h264_v4l2m2m`): its frames point into its own buffers, and it
    /// cannot be flushed (reset by opening it again).
    fn is_wrapper(&self) -> bool;
    /// The hardware format was not offered (FFmpeg went to software inside).
    fn refused(&self) -> bool;
}

impl Backend for crate::av::hw::DecoderContext {
    fn send_packet(&mut self, packet: &ffmpeg::Packet) -> Result<Sent, ffmpeg::Error> {
        let decoder: &mut ffmpeg::decoder::Video = self;
        crate::av::sent(decoder.send_packet(packet))
    }
    fn receive_frame(
        &mut self,
        frame: &mut ffmpeg::frame::Video,
    ) -> Result<Received, ffmpeg::Error> {
        let decoder: &mut ffmpeg::decoder::Video = self;
        crate::av::received(decoder.receive_frame(frame))
    }
    fn send_eof(&mut self) -> Result<(), ffmpeg::Error> {
        let decoder: &mut ffmpeg::decoder::Video = self;
        decoder.send_eof()
    }
    fn flush(&mut self) {
        let decoder: &mut ffmpeg::decoder::Video = self;
        decoder.flush()
    }
    fn is_hw(&self) -> bool {
        crate::av::hw::DecoderContext::is_hw(self)
    }
    fn is_wrapper(&self) -> bool {
        crate::av::hw::DecoderContext::is_wrapper(self)
    }
    fn refused(&self) -> bool {
        crate::av::hw::DecoderContext::refused(self)
    }
}

/// Opens a hardware path in place of the real one: `None` leaves the path to the real
/// opening, `Some(Err(why))` is a path that cannot open.
pub type Opener = Box<
    dyn FnMut(crate::bitstream::Codec, super::Accel) -> Option<Result<Box<dyn Backend>, String>>
        + Send,
>;
