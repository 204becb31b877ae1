//! Sequence parameter sets: picture size (after cropping), profile, level, bit depth and,
//! for H.264, the frame rate from the VUI when the encoder wrote it.

use super::bits::BitReader;
use super::{BitstreamError, Codec};

/// What a camera is sending, as its SPS says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamInfo {
    /// H.264 or H.265.
    pub codec: Codec,
    /// Displayed width in pixels (cropping applied).
    pub width: u32,
    /// Displayed height in pixels (cropping applied).
    pub height: u32,
    /// `profile_idc` (H.264: 66 Baseline, 77 Main, 100 High; H.265: 1 Main, 2 Main 10).
    pub profile: u8,
    /// `level_idc` (H.264: 40 = 4.0; H.265: 120 = 4.0).
    pub level: u8,
    /// Luma bit depth.
    pub bit_depth: u8,
    /// `chroma_format_idc`: 1 = 4:2:0.
    pub chroma_format: u8,
    /// Frames per second from the VUI timing info, when present.
    pub fps: Option<f64>,
}

impl StreamInfo {
    /// A short human name for the profile.
    pub fn profile_name(&self) -> &'static str {
        match (self.codec, self.profile) {
            (Codec::H264, 66) => "Baseline",
            (Codec::H264, 77) => "Main",
            (Codec::H264, 88) => "Extended",
            (Codec::H264, 100) => "High",
            (Codec::H264, 110) => "High 10",
            (Codec::H264, 122) => "High 4:2:2",
            (Codec::H264, 244) => "High 4:4:4",
            (Codec::H265, 1) => "Main",
            (Codec::H265, 2) => "Main 10",
            (Codec::H265, 3) => "Main Still Picture",
            (Codec::H265, 4) => "Range Extensions",
            _ => "other",
        }
    }
}

/// Parses an SPS NAL unit (header included).
pub(crate) fn parse_sps(codec: Codec, nal: &[u8]) -> Result<StreamInfo, BitstreamError> {
    match codec {
        Codec::H264 => parse_h264(nal.get(1..).ok_or(BitstreamError::Truncated)?),
        Codec::H265 => parse_h265(nal.get(2..).ok_or(BitstreamError::Truncated)?),
    }
}

fn crop_units(chroma_format: u32, separate_planes: bool) -> (u32, u32) {
    match (chroma_format, separate_planes) {
        (1, false) => (2, 2),
        (2, false) => (2, 1),
        _ => (1, 1),
    }
}

fn parse_h264(p: &[u8]) -> Result<StreamInfo, BitstreamError> {
    let mut r = BitReader::new(p);
    let profile = r.bits(8)? as u8;
    r.skip(8)?; // constraint flags
    let level = r.bits(8)? as u8;
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format = 1;
    let mut separate = false;
    let mut bit_depth = 8;
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format = r.ue()?;
        if chroma_format == 3 {
            separate = r.bit()?;
        }
        bit_depth = r.ue()? + 8;
        r.ue()?; // bit_depth_chroma_minus8
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? {
            let lists = if chroma_format == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            let n = r.ue()?;
            if n > 255 {
                return Err(BitstreamError::Invalid(
                    "num_ref_frames_in_pic_order_cnt_cycle > 255",
                ));
            }
            for _ in 0..n {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let w_mbs = r.ue()? as u64 + 1;
    let h_units = r.ue()? as u64 + 1;
    let frame_mbs_only = r.bit()?;
    if !frame_mbs_only {
        r.bit()?;
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut cl, mut cr, mut ct, mut cb) = (0u64, 0, 0, 0);
    if r.bit()? {
        cl = r.ue()?.into();
        cr = r.ue()?.into();
        ct = r.ue()?.into();
        cb = r.ue()?.into();
    }
    let (sub_w, sub_h) = crop_units(chroma_format, separate);
    let field_factor = if frame_mbs_only { 1 } else { 2 };
    let (cux, cuy) = if chroma_format == 0 || separate {
        (1, field_factor)
    } else {
        (sub_w, sub_h * field_factor)
    };
    let width = (w_mbs * 16).saturating_sub(u64::from(cux) * (cl + cr));
    let height =
        (h_units * 16 * u64::from(field_factor)).saturating_sub(u64::from(cuy) * (ct + cb));
    let fps = if r.bit().unwrap_or(false) {
        h264_vui_fps(&mut r).ok().flatten()
    } else {
        None
    };
    finish(
        Codec::H264,
        width,
        height,
        profile,
        level,
        bit_depth,
        chroma_format,
        fps,
    )
}

#[allow(clippy::too_many_arguments)]
fn finish(
    codec: Codec,
    width: u64,
    height: u64,
    profile: u8,
    level: u8,
    bit_depth: u32,
    chroma_format: u32,
    fps: Option<f64>,
) -> Result<StreamInfo, BitstreamError> {
    const MAX: u64 = 16384;
    if width == 0 || height == 0 || width > MAX || height > MAX {
        return Err(BitstreamError::Invalid("picture size out of range"));
    }
    if !(8..=16).contains(&bit_depth) || chroma_format > 3 {
        return Err(BitstreamError::Invalid(
            "bit depth or chroma format out of range",
        ));
    }
    Ok(StreamInfo {
        codec,
        width: width as u32,
        height: height as u32,
        profile,
        level,
        bit_depth: bit_depth as u8,
        chroma_format: chroma_format as u8,
        fps,
    })
}

fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), BitstreamError> {
    let mut last = 8i32;
    let mut next = 8i32;
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            next = (last + delta + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

fn h264_vui_fps(r: &mut BitReader<'_>) -> Result<Option<f64>, BitstreamError> {
    if r.bit()? {
        // aspect_ratio_info_present_flag
        if r.bits(8)? == 255 {
            r.skip(32)?;
        }
    }
    if r.bit()? {
        r.bit()?; // overscan_appropriate_flag
    }
    if r.bit()? {
        r.skip(4)?; // video_format, full_range
        if r.bit()? {
            r.skip(24)?;
        }
    }
    if r.bit()? {
        r.ue()?;
        r.ue()?;
    }
    if r.bit()? {
        let units = r.bits(32)?;
        let scale = r.bits(32)?;
        if units > 0 && scale > 0 {
            let fps = f64::from(scale) / (2.0 * f64::from(units));
            if (0.5..=480.0).contains(&fps) {
                return Ok(Some(fps));
            }
        }
    }
    Ok(None)
}

fn parse_h265(p: &[u8]) -> Result<StreamInfo, BitstreamError> {
    let mut r = BitReader::new(p);
    r.skip(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)?;
    r.bit()?; // temporal_id_nesting
              // profile_tier_level(1, max_sub_layers_minus1)
    r.skip(3)?; // profile_space, tier
    let profile = r.bits(5)? as u8;
    r.skip(32)?; // compatibility flags
    r.skip(48)?; // progressive .. inbld/reserved
    let level = r.bits(8)? as u8;
    let mut sub_profile = [false; 8];
    let mut sub_level = [false; 8];
    for i in 0..max_sub_layers_minus1 as usize {
        sub_profile[i] = r.bit()?;
        sub_level[i] = r.bit()?;
    }
    if max_sub_layers_minus1 > 0 {
        for _ in max_sub_layers_minus1..8 {
            r.skip(2)?;
        }
    }
    for i in 0..max_sub_layers_minus1 as usize {
        if sub_profile[i] {
            r.skip(88)?;
        }
        if sub_level[i] {
            r.skip(8)?;
        }
    }
    r.ue()?; // sps_seq_parameter_set_id
    let chroma_format = r.ue()?;
    let mut separate = false;
    if chroma_format == 3 {
        separate = r.bit()?;
    }
    let width = u64::from(r.ue()?);
    let height = u64::from(r.ue()?);
    let (mut cl, mut cr, mut ct, mut cb) = (0u64, 0, 0, 0);
    if r.bit()? {
        cl = r.ue()?.into();
        cr = r.ue()?.into();
        ct = r.ue()?.into();
        cb = r.ue()?.into();
    }
    let bit_depth = r.ue()? + 8;
    let (sw, sh) = crop_units(chroma_format, separate);
    let width = width.saturating_sub(u64::from(sw) * (cl + cr));
    let height = height.saturating_sub(u64::from(sh) * (ct + cb));
    finish(
        Codec::H265,
        width,
        height,
        profile,
        level,
        bit_depth,
        chroma_format,
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h264_sps_1080p_high() {
        // x264, High, level 4.0, 1920x1080 (1088 cropped by 8), VUI with 30 fps timing.
        let sps = [
            0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00,
            0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58,
        ];
        let info = parse_sps(Codec::H264, &sps).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!((info.profile, info.level, info.bit_depth), (100, 40, 8));
        assert_eq!(info.profile_name(), "High");
        assert_eq!(info.fps, Some(30.0));
    }

    #[test]
    fn truncated_sps_is_an_error() {
        assert!(parse_sps(Codec::H264, &[0x67, 0x64]).is_err());
        assert!(parse_sps(Codec::H265, &[0x42, 0x01, 0x01]).is_err());
        assert!(parse_sps(Codec::H265, &[0x42]).is_err());
    }
}
