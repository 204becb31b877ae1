//! Any sound to what a camera takes for talk back: resampled to 16 kHz mono by libswresample,
//! encoded by FFmpeg's AAC-LC encoder at [`BIT_RATE`], one ADTS frame (1024 samples, 64 ms)
//! per output. Through ffmpeg-next's safe API.

use ffmpeg_next as ffmpeg;

use ffmpeg::format::sample::{Sample, Type};
use ffmpeg::ChannelLayout;

use crate::bitstream::adts::{self, AdtsHeader};

/// Samples per second sent to a camera.
pub(crate) const RATE: u32 = 16_000;
/// Samples per AAC frame.
pub(crate) const FRAME_SAMPLES: usize = 1024;
/// Bits per second: peers use 16–24 kbit/s; the cameras drop frames of more than
/// [`MAX_FRAME`] bytes.
pub(crate) const BIT_RATE: usize = 24_000;
/// The largest frame a camera takes, bytes (header included); larger ones are dropped here,
/// counted.
pub(crate) const MAX_FRAME: usize = 640;

/// The ADTS header of every frame: AAC LC, 16 kHz (index 8), one channel.
const HEADER: AdtsHeader = AdtsHeader {
    object_type: 2,
    frequency_index: 8,
    channels: 1,
    header_len: 7,
    frame_len: 7,
};

/// Why sound cannot be encoded for a camera.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EncodeError {
    /// FFmpeg has no AAC encoder, or it would not open.
    #[error("cannot open FFmpeg's AAC encoder: {0}")]
    Open(String),
    /// The input's format cannot be converted.
    #[error("cannot convert the sound for the camera: {0}")]
    Convert(String),
}

/// One talk back's encoder: sound in, ADTS frames out.
pub(crate) struct TalkEncoder {
    encoder: ffmpeg::encoder::Audio,
    /// The resampler and the input it was made for (format, layout, rate).
    resampler: Option<(ffmpeg::software::resampling::Context, (Sample, u64, u32))>,
    /// Mono 16 kHz samples not yet a whole frame.
    pending: Vec<f32>,
    pts: i64,
    /// Frames over [`MAX_FRAME`] dropped.
    pub oversized: u64,
}

impl TalkEncoder {
    /// An encoder at [`BIT_RATE`].
    pub(crate) fn new() -> Result<TalkEncoder, EncodeError> {
        let open = |e: &dyn std::fmt::Display| EncodeError::Open(e.to_string());
        ffmpeg::init().map_err(|e| open(&e))?;
        // The encoder's statistics at close ("Qavg") are not for the user's terminal.
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Error);
        let codec = ffmpeg::encoder::find(ffmpeg::codec::Id::AAC)
            .ok_or_else(|| EncodeError::Open("no AAC encoder in this FFmpeg".into()))?;
        let mut enc = ffmpeg::codec::Context::new_with_codec(codec)
            .encoder()
            .audio()
            .map_err(|e| open(&e))?;
        enc.set_rate(RATE as i32);
        enc.set_channel_layout(ChannelLayout::MONO);
        enc.set_format(Sample::F32(Type::Planar));
        enc.set_bit_rate(BIT_RATE);
        enc.set_time_base((1, RATE as i32));
        let encoder = enc.open_as(codec).map_err(|e| open(&e))?;
        Ok(TalkEncoder {
            encoder,
            resampler: None,
            pending: Vec::new(),
            pts: 0,
            oversized: 0,
        })
    }

    /// Interleaved `f32` samples of `channels` at `rate` (a microphone's): their frames
    /// appended to `out`.
    pub(crate) fn push_pcm(
        &mut self,
        samples: &[f32],
        channels: u16,
        rate: u32,
        out: &mut Vec<Vec<u8>>,
    ) -> Result<(), EncodeError> {
        let channels = channels.max(1);
        let n = samples.len() / usize::from(channels);
        if n == 0 {
            return Ok(());
        }
        if channels == 1 && rate == RATE {
            self.pending.extend_from_slice(samples);
            return self.encode_pending(out);
        }
        let mut frame = ffmpeg::frame::Audio::new(
            Sample::F32(Type::Packed),
            n,
            ChannelLayout::default(i32::from(channels)),
        );
        frame.set_rate(rate);
        let bytes: &[u8] = bytemuck::cast_slice(&samples[..n * usize::from(channels)]);
        let data = frame.data_mut(0);
        let len = bytes.len().min(data.len());
        data[..len].copy_from_slice(&bytes[..len]);
        self.push_frame(&mut frame, out)
    }

    /// A decoded frame of any format, layout and rate (a file's): its frames appended to
    /// `out`. A frame that does not say its channel layout is given the usual one for its
    /// channel count.
    pub(crate) fn push_frame(
        &mut self,
        frame: &mut ffmpeg::frame::Audio,
        out: &mut Vec<Vec<u8>>,
    ) -> Result<(), EncodeError> {
        let convert = |e: &dyn std::fmt::Display| EncodeError::Convert(e.to_string());
        let rate = frame.rate().max(1);
        if frame.channel_layout().is_empty() {
            // (Not a clone: ffmpeg-next clones a frame by its layout, and with none the copy
            // has no samples.)
            frame.set_channel_layout(ChannelLayout::default(i32::from(frame.channels().max(1))));
        }
        let layout = frame.channel_layout();
        let key = (frame.format(), layout.bits(), rate);
        if self.resampler.as_ref().is_none_or(|(_, k)| *k != key) {
            let ctx = ffmpeg::software::resampling::Context::get(
                frame.format(),
                layout,
                rate,
                Sample::F32(Type::Packed),
                ChannelLayout::MONO,
                RATE,
            )
            .map_err(|e| convert(&e))?;
            self.resampler = Some((ctx, key));
        }
        let Some((ctx, _)) = self.resampler.as_mut() else {
            return Ok(());
        };
        let capacity =
            (frame.samples() as u64 * u64::from(RATE)).div_ceil(u64::from(rate)) as usize + 256;
        let mut converted =
            ffmpeg::frame::Audio::new(Sample::F32(Type::Packed), capacity, ChannelLayout::MONO);
        ctx.run(frame, &mut converted).map_err(|e| convert(&e))?;
        let n = converted.samples();
        let data: &[f32] = bytemuck::cast_slice(&converted.data(0)[..n * 4]);
        self.pending.extend_from_slice(data);
        self.encode_pending(out)
    }

    /// The end of the sound: what is held back is padded to a whole frame, encoded and
    /// drained into `out`.
    pub(crate) fn finish(&mut self, out: &mut Vec<Vec<u8>>) -> Result<(), EncodeError> {
        if !self.pending.is_empty() {
            let pad = FRAME_SAMPLES - self.pending.len() % FRAME_SAMPLES;
            if pad < FRAME_SAMPLES {
                self.pending.resize(self.pending.len() + pad, 0.0);
            }
            self.encode_pending(out)?;
        }
        self.encoder
            .send_eof()
            .map_err(|e| EncodeError::Convert(e.to_string()))?;
        self.drain(out);
        Ok(())
    }

    fn encode_pending(&mut self, out: &mut Vec<Vec<u8>>) -> Result<(), EncodeError> {
        let whole = self.pending.len() / FRAME_SAMPLES * FRAME_SAMPLES;
        let mut pending = std::mem::take(&mut self.pending);
        for chunk in pending[..whole].chunks_exact(FRAME_SAMPLES) {
            let mut frame = ffmpeg::frame::Audio::new(
                Sample::F32(Type::Planar),
                FRAME_SAMPLES,
                ChannelLayout::MONO,
            );
            frame.set_rate(RATE);
            frame.set_pts(Some(self.pts));
            self.pts += FRAME_SAMPLES as i64;
            let plane = frame.data_mut(0);
            let bytes: &[u8] = bytemuck::cast_slice(chunk);
            let len = bytes.len().min(plane.len());
            plane[..len].copy_from_slice(&bytes[..len]);
            if let Err(e) = self.encoder.send_frame(&frame) {
                pending.drain(..whole);
                self.pending = pending;
                return Err(EncodeError::Convert(e.to_string()));
            }
            self.drain(out);
        }
        pending.drain(..whole);
        self.pending = pending;
        Ok(())
    }

    fn drain(&mut self, out: &mut Vec<Vec<u8>>) {
        let mut packet = ffmpeg::Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            let Some(raw) = packet.data() else { continue };
            match adts::wrap(&HEADER, raw) {
                Some(f) if f.len() <= MAX_FRAME => out.push(f),
                _ => {
                    self.oversized += 1;
                    tracing::warn!(
                        bytes = raw.len(),
                        "an encoded talk-back frame over {MAX_FRAME} bytes dropped"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::decode::AacDecoder;

    fn tone(freq: f32, rate: u32, channels: u16, secs: f32) -> Vec<f32> {
        let n = (rate as f32 * secs) as usize;
        (0..n)
            .flat_map(|i| {
                let v = 0.5 * (std::f32::consts::TAU * freq * i as f32 / rate as f32).sin();
                std::iter::repeat_n(v, usize::from(channels))
            })
            .collect()
    }

    /// A stereo 48 kHz second becomes 16 kHz mono AAC-LC frames of 1024 samples (about one
    /// per 64 ms), each one whole ADTS frame of at most 640 bytes, that FFmpeg decodes back.
    #[test]
    fn stereo_48k_to_camera_frames() {
        let mut enc = TalkEncoder::new().unwrap();
        let mut out = Vec::new();
        let pcm = tone(440.0, 48_000, 2, 1.0);
        for chunk in pcm.chunks(960) {
            enc.push_pcm(chunk, 2, 48_000, &mut out).unwrap();
        }
        enc.finish(&mut out).unwrap();
        // 16000 / 1024 = 15.6 frames of sound, plus the encoder's priming frame.
        assert!((15..=18).contains(&out.len()), "{} frames", out.len());
        let mut dec = AacDecoder::new(1, RATE).unwrap();
        let mut samples = 0;
        for f in &out {
            let h = adts::parse_header(f).expect("an ADTS frame");
            assert_eq!(h.frame_len, f.len(), "one frame per buffer");
            assert!(f.len() <= MAX_FRAME);
            assert_eq!((h.object_type, h.sample_rate(), h.channels), (2, RATE, 1));
            samples += dec.decode(f).map_or(0, |p| p.frames());
        }
        assert_eq!(dec.errors, 0);
        assert!(samples >= 15 * FRAME_SAMPLES, "{samples} samples decoded");
    }

    /// Mono at 16 kHz goes straight to the encoder; a short sound is padded to a frame.
    #[test]
    fn short_mono_is_padded() {
        let mut enc = TalkEncoder::new().unwrap();
        let mut out = Vec::new();
        enc.push_pcm(&tone(300.0, RATE, 1, 0.01), 1, RATE, &mut out)
            .unwrap();
        assert!(out.is_empty(), "less than a frame is held back");
        enc.finish(&mut out).unwrap();
        assert!(!out.is_empty());
        assert_eq!(enc.oversized, 0);
    }
}
