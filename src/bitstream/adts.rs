//! ADTS-framed AAC, as Eufy cameras send their audio: frame headers, the
//! AudioSpecificConfig a container needs, and splitting a stream into frames.

/// One ADTS frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsHeader {
    /// Audio object type (2 = AAC LC).
    pub object_type: u8,
    /// Sampling frequency index.
    pub frequency_index: u8,
    /// Channel configuration.
    pub channels: u8,
    /// Header length: 7, or 9 with a CRC.
    pub header_len: usize,
    /// Whole frame length, header included.
    pub frame_len: usize,
}

const RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

impl AdtsHeader {
    /// Samples per second.
    pub fn sample_rate(&self) -> u32 {
        RATES
            .get(usize::from(self.frequency_index))
            .copied()
            .unwrap_or(0)
    }

    /// The two-byte AudioSpecificConfig (object type, frequency index, channels).
    pub fn audio_specific_config(&self) -> [u8; 2] {
        [
            (self.object_type << 3) | (self.frequency_index >> 1),
            ((self.frequency_index & 1) << 7) | (self.channels << 3),
        ]
    }
}

/// An AudioSpecificConfig (2 bytes: object type, frequency index, channels) as the header
/// its raw frames would need; `None` if it is not one ADTS can carry (object types 1-4,
/// a listed rate, 1-7 channels).
pub fn from_audio_specific_config(asc: &[u8]) -> Option<AdtsHeader> {
    let [a, b] = *asc else { return None };
    let object_type = a >> 3;
    let frequency_index = ((a & 7) << 1) | (b >> 7);
    let channels = (b >> 3) & 0xf;
    ((1..=4).contains(&object_type) && frequency_index <= 12 && (1..=7).contains(&channels))
        .then_some(AdtsHeader {
            object_type,
            frequency_index,
            channels,
            header_len: 7,
            frame_len: 7,
        })
}

/// A raw AAC frame with the 7-byte ADTS header of `config` in front; `None` when it is too
/// long for ADTS (13 bits of length).
pub fn wrap(config: &AdtsHeader, raw: &[u8]) -> Option<Vec<u8>> {
    let len = raw.len() + 7;
    if len >= 1 << 13 {
        return None;
    }
    let profile = config.object_type.saturating_sub(1) & 3;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&[
        0xff,
        0xf1, // MPEG-4, layer 0, no CRC
        (profile << 6) | (config.frequency_index << 2) | (config.channels >> 2),
        ((config.channels & 3) << 6) | (len >> 11) as u8,
        (len >> 3) as u8,
        (((len & 7) << 5) as u8) | 0x1f,
        0xfc,
    ]);
    out.extend_from_slice(raw);
    Some(out)
}

/// Parses the header at the start of `data`; `None` if it is not a valid ADTS header.
pub fn parse_header(data: &[u8]) -> Option<AdtsHeader> {
    let h = data.get(..7)?;
    if h[0] != 0xff || h[1] & 0xf6 != 0xf0 {
        return None;
    }
    let protection_absent = h[1] & 1 == 1;
    let object_type = ((h[2] >> 6) & 3) + 1;
    let frequency_index = (h[2] >> 2) & 0xf;
    let channels = ((h[2] & 1) << 2) | (h[3] >> 6);
    let frame_len =
        (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
    let header_len = if protection_absent { 7 } else { 9 };
    if frequency_index > 12 || frame_len < header_len {
        return None;
    }
    Some(AdtsHeader {
        object_type,
        frequency_index,
        channels,
        header_len,
        frame_len,
    })
}

/// Splits an ADTS stream into frames (header included); stops at the first bad header.
pub fn split_frames(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some(h) = parse_header(data) {
        let Some(frame) = data.get(..h.frame_len) else {
            break;
        };
        out.push(frame);
        data = &data[h.frame_len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_config() {
        // AAC LC, 48 kHz (index 3), mono, 7-byte header, frame length 0x100.
        let frame = [0xff, 0xf1, 0x4c, 0x40, 0x20, 0x1f, 0xfc];
        let h = parse_header(&frame).unwrap();
        assert_eq!(
            (
                h.object_type,
                h.sample_rate(),
                h.channels,
                h.header_len,
                h.frame_len
            ),
            (2, 48000, 1, 7, 256)
        );
        assert_eq!(h.audio_specific_config(), [0x11, 0x88]);
        assert!(parse_header(&[0xff, 0xf1, 0x7c, 0x40, 0x20, 0x1f, 0xfc]).is_none()); // index 15
        assert!(parse_header(&[0x00; 7]).is_none());
        assert!(parse_header(&frame[..5]).is_none());
    }

    #[test]
    fn garbage_stops_the_split_without_panicking() {
        // A frame that claims more bytes than there are, then junk.
        assert!(split_frames(&[0xff, 0xf1, 0x4c, 0x40, 0x20, 0x1f, 0xfc, 1, 2]).is_empty());
        // 16 kHz mono AAC LC with 20 bytes of payload: 27 bytes.
        let mut good = vec![0xff, 0xf1, 0x60, 0x40, 0x03, 0x60, 0xfc];
        good.extend((0..20u8).map(|i| i.wrapping_mul(37)));
        assert_eq!(parse_header(&good).map(|h| h.frame_len), Some(27));
        let mut seed = 7u32;
        let mut found = 0;
        for len in 0..300 {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 16) as u8 | if len % 3 == 0 { 0xf0 } else { 0 }
                })
                .collect();
            for f in split_frames(&junk) {
                let h = parse_header(f).unwrap();
                assert_eq!(f.len(), h.frame_len);
            }
            // Two good frames, then junk: the split gives both, whole, and stops in the
            // junk without taking any of it for a frame that is not there.
            let input = [good.clone(), good.clone(), junk].concat();
            let frames = split_frames(&input);
            assert!(frames.len() >= 2, "{len}: {} frames", frames.len());
            assert_eq!(frames[0], &good[..], "{len}");
            assert_eq!(frames[1], &good[..], "{len}");
            let taken: usize = frames.iter().map(|f| f.len()).sum();
            assert!(taken <= input.len());
            for f in &frames[2..] {
                assert_eq!(parse_header(f).map(|h| h.frame_len), Some(f.len()), "{len}");
            }
            found += frames.len();
        }
        assert!(found >= 600, "{found} frames in 300 inputs");
    }

    /// A raw frame wrapped with the header of its AudioSpecificConfig equals the ADTS frame
    /// it came from.
    #[test]
    fn wrap_round_trips() {
        let frame: Vec<u8> = {
            let h = [0xff, 0xf1, 0x60, 0x40, 0x00, 0x00, 0xfc];
            // 16 kHz (index 8), mono, AAC LC, 20 bytes of payload: length 27.
            let mut f = h.to_vec();
            f[3] = 0x40;
            f[4] = (27 >> 3) as u8;
            f[5] = (((27 & 7) << 5) as u8) | 0x1f;
            f.extend(1..=20u8);
            f
        };
        let h = parse_header(&frame).unwrap();
        assert_eq!(
            (h.object_type, h.sample_rate(), h.channels, h.frame_len),
            (2, 16_000, 1, 27)
        );
        let asc = h.audio_specific_config();
        let c = from_audio_specific_config(&asc).unwrap();
        assert_eq!(wrap(&c, &frame[7..]).unwrap(), frame);
        assert!(from_audio_specific_config(&[0, 0]).is_none());
        assert!(from_audio_specific_config(&[1, 2, 3]).is_none());
        assert!(wrap(&c, &vec![0; 9000]).is_none());
    }
}
