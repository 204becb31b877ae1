//! NAL unit headers for H.264 and H.265: what a unit is, and what it means for access-unit
//! boundaries and keyframes. Pure functions over the first bytes of a unit.

use super::Codec;

/// What the access-unit assembler needs to know about one NAL unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NalInfo {
    /// The codec's `nal_unit_type`.
    pub kind: u8,
    /// A coded slice (VCL unit).
    pub vcl: bool,
    /// For a slice: it is the first of a new picture.
    pub first_in_picture: bool,
    /// Opens a new access unit when it follows a slice (AUD, parameter sets, prefix SEI …).
    pub starts_au: bool,
    /// Ends the access unit it belongs to (end of sequence or stream).
    pub ends_au: bool,
    /// A slice of a random-access picture (H.264 IDR; H.265 IRAP).
    pub irap: bool,
    /// A parameter set (VPS, SPS or PPS).
    pub parameter_set: bool,
    /// An SPS.
    pub sps: bool,
    /// SEI (H.264 type 6; H.265 prefix SEI 39).
    pub sei: bool,
}

/// H.264 `nal_unit_type` values used here.
pub mod h264 {
    /// Non-IDR slice.
    pub const SLICE: u8 = 1;
    /// IDR slice.
    pub const IDR: u8 = 5;
    /// Supplemental enhancement information.
    pub const SEI: u8 = 6;
    /// Sequence parameter set.
    pub const SPS: u8 = 7;
    /// Picture parameter set.
    pub const PPS: u8 = 8;
    /// Access unit delimiter.
    pub const AUD: u8 = 9;
}

/// H.265 `nal_unit_type` values used here.
pub mod h265 {
    /// First IRAP type (BLA_W_LP).
    pub const IRAP_FIRST: u8 = 16;
    /// Last IRAP type (reserved IRAP 23).
    pub const IRAP_LAST: u8 = 23;
    /// Video parameter set.
    pub const VPS: u8 = 32;
    /// Sequence parameter set.
    pub const SPS: u8 = 33;
    /// Picture parameter set.
    pub const PPS: u8 = 34;
    /// Access unit delimiter.
    pub const AUD: u8 = 35;
    /// Prefix SEI.
    pub const PREFIX_SEI: u8 = 39;
}

/// How sure a codec guess from one NAL unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// A sequence-level parameter set (H.264 SPS; H.265 VPS or SPS): enough to switch codecs
    /// mid-stream.
    Strong,
    /// An H.265 PPS or an access unit delimiter: enough to pick a codec when none is known.
    Weak,
}

/// Guesses the codec from a NAL unit that only one codec could have written.
///
/// - H.264 SPS: the first byte is odd (type 7), which in H.265 would mean `nuh_layer_id` ≥ 32,
///   never used by cameras.
/// - H.265 VPS/SPS/PPS of the base layer: `40 01`, `42 01`, `44 01`; as H.264 these would be
///   types 0, 2 and 4 (unspecified and Extended-profile data partitions).
/// - AUDs: H.264 `09 X0`, H.265 `46 01 X0`, with nothing after the stop bit.
///
/// H.264 PPS (`68`, `28`, `48`) is not evidence: the same byte starts H.265 IDR_N_LP slices.
pub fn detect_codec(nal: &[u8]) -> Option<(Codec, Evidence)> {
    let b0 = *nal.first()?;
    if b0 & 0x80 != 0 {
        return None;
    }
    let b1 = nal.get(1).copied();
    match (b0, b1) {
        (0x40 | 0x42, Some(0x01)) => return Some((Codec::H265, Evidence::Strong)),
        (0x44, Some(0x01)) => return Some((Codec::H265, Evidence::Weak)),
        (0x46, Some(0x01)) if nal.len() == 3 && nal[2] & 0x1f == 0x10 => {
            return Some((Codec::H265, Evidence::Weak))
        }
        (0x09, Some(b)) if nal.len() == 2 && b & 0x1f == 0x10 => {
            return Some((Codec::H264, Evidence::Weak))
        }
        _ => {}
    }
    let nri = (b0 >> 5) & 3;
    if b0 & 0x1f == h264::SPS && nri != 0 && nal.len() >= 4 {
        return Some((Codec::H264, Evidence::Strong));
    }
    None
}

/// Classifies a NAL unit (header included). `None` when it is too short or the
/// forbidden bit is set.
pub fn classify(codec: Codec, nal: &[u8]) -> Option<NalInfo> {
    let b0 = *nal.first()?;
    if b0 & 0x80 != 0 {
        return None;
    }
    match codec {
        Codec::H264 => {
            let kind = b0 & 0x1f;
            let vcl = (1..=5).contains(&kind);
            // first_mb_in_slice is ue(v): it is 0 exactly when the first payload bit is 1.
            let first_in_picture = vcl && nal.get(1).is_some_and(|b| b & 0x80 != 0);
            Some(NalInfo {
                kind,
                vcl,
                first_in_picture,
                starts_au: matches!(kind, 6..=9 | 14..=18),
                ends_au: matches!(kind, 10 | 11),
                irap: kind == h264::IDR,
                parameter_set: matches!(kind, 7 | 8),
                sps: kind == h264::SPS,
                sei: kind == h264::SEI,
            })
        }
        Codec::H265 => {
            let b1 = *nal.get(1)?;
            let kind = (b0 >> 1) & 0x3f;
            if b1 & 0x07 == 0 {
                // nuh_temporal_id_plus1 must not be 0.
                return None;
            }
            let vcl = kind < 32;
            let first_in_picture = vcl && nal.get(2).is_some_and(|b| b & 0x80 != 0);
            Some(NalInfo {
                kind,
                vcl,
                first_in_picture,
                starts_au: matches!(kind, 32..=35 | 39 | 41..=44 | 48..=55),
                ends_au: matches!(kind, 36 | 37),
                irap: (h265::IRAP_FIRST..=h265::IRAP_LAST).contains(&kind),
                parameter_set: matches!(kind, 32..=34),
                sps: kind == h265::SPS,
                sei: kind == h265::PREFIX_SEI,
            })
        }
    }
}

/// Length of the NAL header: 1 byte for H.264, 2 for H.265.
pub fn header_len(codec: Codec) -> usize {
    match codec {
        Codec::H264 => 1,
        Codec::H265 => 2,
    }
}

/// Whether an SEI unit carries a recovery point message (payload type 6), which marks a
/// place to start decoding in streams that have no IDR pictures.
pub fn sei_has_recovery_point(codec: Codec, nal: &[u8]) -> bool {
    let Some(payload) = nal.get(header_len(codec)..) else {
        return false;
    };
    let rbsp = unescape(payload);
    let mut i = 0;
    while i < rbsp.len() && rbsp[i] != 0x80 {
        let mut kind = 0usize;
        while let Some(&b) = rbsp.get(i) {
            i += 1;
            kind += usize::from(b);
            if b != 0xff {
                break;
            }
        }
        let mut size = 0usize;
        while let Some(&b) = rbsp.get(i) {
            i += 1;
            size += usize::from(b);
            if b != 0xff {
                break;
            }
        }
        if kind == 6 {
            return true;
        }
        i = i.saturating_add(size);
    }
    false
}

/// Removes emulation-prevention bytes (`00 00 03` → `00 00`).
pub fn unescape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut zeros = 0;
    for &b in data {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_detection() {
        let strong = Evidence::Strong;
        let weak = Evidence::Weak;
        assert_eq!(
            detect_codec(&[0x67, 0x64, 0x00, 0x28]),
            Some((Codec::H264, strong))
        );
        assert_eq!(detect_codec(&[0x09, 0xf0]), Some((Codec::H264, weak)));
        assert_eq!(
            detect_codec(&[0x40, 0x01, 0x0c]),
            Some((Codec::H265, strong))
        );
        assert_eq!(
            detect_codec(&[0x42, 0x01, 0x01]),
            Some((Codec::H265, strong))
        );
        assert_eq!(detect_codec(&[0x44, 0x01, 0xc1]), Some((Codec::H265, weak)));
        assert_eq!(detect_codec(&[0x46, 0x01, 0x50]), Some((Codec::H265, weak)));
        // H.264 PPS and H.265 IDR_N_LP share their first byte: no evidence either way.
        assert_eq!(detect_codec(&[0x68, 0xee]), None);
        assert_eq!(detect_codec(&[0x28, 0x01, 0xaf]), None);
        assert_eq!(detect_codec(&[0x65, 0x88]), None);
        assert_eq!(detect_codec(&[0x26, 0x01, 0xaf]), None);
        assert_eq!(detect_codec(&[0xe7]), None);
        assert_eq!(detect_codec(&[]), None);
    }

    #[test]
    fn h264_slices() {
        let idr_first = classify(Codec::H264, &[0x65, 0x88, 0x84]).unwrap();
        assert!(idr_first.vcl && idr_first.irap && idr_first.first_in_picture);
        let second_slice = classify(Codec::H264, &[0x41, 0x20]).unwrap();
        assert!(second_slice.vcl && !second_slice.first_in_picture && !second_slice.irap);
        assert!(classify(Codec::H264, &[0x09, 0xf0]).unwrap().starts_au);
        assert!(classify(Codec::H264, &[0x85]).is_none());
    }

    #[test]
    fn h265_slices() {
        let idr = classify(Codec::H265, &[0x26, 0x01, 0xaf]).unwrap();
        assert!(idr.vcl && idr.irap && idr.first_in_picture);
        let trail = classify(Codec::H265, &[0x02, 0x01, 0x40]).unwrap();
        assert!(trail.vcl && !trail.irap && !trail.first_in_picture);
        assert!(classify(Codec::H265, &[0x40, 0x01]).unwrap().parameter_set);
        assert!(classify(Codec::H265, &[0x26, 0x00]).is_none());
    }

    #[test]
    fn recovery_point_sei() {
        // payload type 6, size 2, then another message type 5 and stop bit.
        assert!(sei_has_recovery_point(
            Codec::H264,
            &[0x06, 0x06, 0x02, 0x84, 0x80, 0x80]
        ));
        assert!(!sei_has_recovery_point(
            Codec::H264,
            &[0x06, 0x05, 0x01, 0x00, 0x80]
        ));
        assert!(!sei_has_recovery_point(Codec::H264, &[0x06, 0xff, 0xff]));
    }
}
