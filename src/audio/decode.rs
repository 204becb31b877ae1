//! AAC frames (ADTS, as the cameras send them) to interleaved `f32` samples at the output
//! device's rate and channel count: FFmpeg's AAC decoder and libswresample, through
//! ffmpeg-next's safe API. One decoder per camera stream; a frame it cannot decode is
//! counted and skipped, never fatal.

use ffmpeg_next as ffmpeg;

use ffmpeg::format::sample::{Sample, Type};
use ffmpeg::ChannelLayout;

/// Why audio cannot be decoded at all.
#[derive(Debug, thiserror::Error)]
pub enum AudioDecodeError {
    /// FFmpeg has no AAC decoder, or it would not open.
    #[error("cannot open FFmpeg's AAC decoder: {0}")]
    Open(String),
    /// The camera sends a codec other than AAC.
    #[error("audio codec {0:?} is not supported (only AAC): this camera's sound is skipped")]
    Codec(String),
}

/// Interleaved samples out of one frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pcm {
    /// Samples, interleaved by channel.
    pub samples: Vec<f32>,
    /// Channels.
    pub channels: u16,
    /// Samples per second.
    pub rate: u32,
}

impl Pcm {
    /// Frames (one sample per channel).
    pub fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }
}

/// Whether the server's `audioCodec` is one this decoder takes (AAC; empty means not said).
pub fn supported(codec: &str) -> bool {
    matches!(codec, "" | "AAC" | "AAC_LC")
}

/// An AAC decoder with a resampler to the output's format.
pub struct AacDecoder {
    decoder: ffmpeg::decoder::Audio,
    resampler: Option<(ffmpeg::software::resampling::Context, (u32, u64))>,
    out_channels: u16,
    out_rate: u32,
    /// Frames that failed to decode (corrupt, truncated).
    pub errors: u64,
    /// The AudioSpecificConfig a camera sent before raw (header-less) frames.
    raw_config: Option<crate::bitstream::adts::AdtsHeader>,
}

impl AacDecoder {
    /// A decoder whose output is `channels` interleaved `f32` at `rate`.
    pub fn new(channels: u16, rate: u32) -> Result<AacDecoder, AudioDecodeError> {
        ffmpeg::init().map_err(|e| AudioDecodeError::Open(e.to_string()))?;
        let codec = ffmpeg::decoder::find(ffmpeg::codec::Id::AAC)
            .ok_or_else(|| AudioDecodeError::Open("no AAC decoder in this FFmpeg".into()))?;
        let decoder = ffmpeg::codec::Context::new_with_codec(codec)
            .decoder()
            .audio()
            .map_err(|e| AudioDecodeError::Open(e.to_string()))?;
        Ok(AacDecoder {
            decoder,
            resampler: None,
            out_channels: channels.clamp(1, 8),
            out_rate: rate.clamp(8_000, 192_000),
            errors: 0,
            raw_config: None,
        })
    }

    /// The output's channels and rate.
    pub fn output(&self) -> (u16, u32) {
        (self.out_channels, self.out_rate)
    }

    /// Decodes what a camera sent: an ADTS frame; or a 2-byte AudioSpecificConfig (kept:
    /// `None`) and then raw AAC frames, which get the ADTS header it describes. Anything
    /// else is counted in `errors`.
    pub fn decode_any(&mut self, chunk: &[u8]) -> Option<Pcm> {
        use crate::bitstream::adts;
        if adts::parse_header(chunk).is_some() {
            return self.decode(chunk);
        }
        if chunk.len() == 2 {
            if let Some(c) = adts::from_audio_specific_config(chunk) {
                self.raw_config = Some(c);
                return None;
            }
        }
        match self.raw_config.and_then(|c| adts::wrap(&c, chunk)) {
            Some(framed) => self.decode(&framed),
            None => {
                self.errors += 1;
                None
            }
        }
    }

    /// Decodes one ADTS frame; `None` when it yields nothing (a header, a corrupt frame:
    /// counted in `errors`).
    pub fn decode(&mut self, adts: &[u8]) -> Option<Pcm> {
        let packet = ffmpeg::Packet::copy(adts);
        if self.decoder.send_packet(&packet).is_err() {
            self.errors += 1;
            return None;
        }
        let mut out = Pcm {
            samples: Vec::new(),
            channels: self.out_channels,
            rate: self.out_rate,
        };
        let mut frame = ffmpeg::frame::Audio::empty();
        while self.decoder.receive_frame(&mut frame).is_ok() {
            if self.convert(&frame, &mut out.samples).is_err() {
                self.errors += 1;
            }
        }
        (!out.samples.is_empty()).then_some(out)
    }

    fn convert(
        &mut self,
        frame: &ffmpeg::frame::Audio,
        out: &mut Vec<f32>,
    ) -> Result<(), ffmpeg::Error> {
        let rate = frame.rate();
        let layout = if frame.channel_layout().is_empty() {
            ChannelLayout::default(i32::from(frame.channels()))
        } else {
            frame.channel_layout()
        };
        let key = (rate, layout.bits());
        if self.resampler.as_ref().is_none_or(|(_, k)| *k != key) {
            let dst = ChannelLayout::default(i32::from(self.out_channels));
            let ctx = ffmpeg::software::resampling::Context::get(
                frame.format(),
                layout,
                rate,
                Sample::F32(Type::Packed),
                dst,
                self.out_rate,
            )?;
            self.resampler = Some((ctx, key));
        }
        let Some((ctx, _)) = self.resampler.as_mut() else {
            return Ok(());
        };
        // Room for the converted samples and what the resampler holds back.
        let capacity = (frame.samples() as u64 * u64::from(self.out_rate))
            .div_ceil(u64::from(rate.max(1))) as usize
            + 256;
        let mut converted = ffmpeg::frame::Audio::new(
            Sample::F32(Type::Packed),
            capacity,
            ChannelLayout::default(i32::from(self.out_channels)),
        );
        let mut input = frame.clone();
        input.set_channel_layout(layout);
        ctx.run(&input, &mut converted)?;
        let n = converted.samples() * usize::from(self.out_channels);
        let data: &[f32] = bytemuck::cast_slice(&converted.data(0)[..n * 4]);
        out.extend_from_slice(data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs() {
        assert!(supported("AAC") && supported("AAC_LC") && supported(""));
        assert!(!supported("AAC_ELD") && !supported("NONE") && !supported("UNKNOWN"));
    }

    /// Garbage is counted, never a panic, and a good frame decodes after it.
    #[test]
    fn garbage_is_counted() {
        let mut d = AacDecoder::new(2, 48_000).unwrap();
        assert_eq!(d.decode(&[0xff, 0xf1, 1, 2, 3, 4, 5, 6, 7]), None);
        assert_eq!(d.decode(&[]), None);
        assert!(d.errors >= 1);
    }
}
