//! Annex-B scanning, NAL headers (H.264, H.265), SPS parsing and access-unit assembly.
//!
//! Pure and synchronous: bytes in, access units out, whatever the chunk boundaries. No
//! network, no codec library. Everything here takes untrusted input and never panics on it.

pub mod adts;
pub(crate) mod annexb;
pub(crate) mod au;
pub(crate) mod bits;
pub mod nal;
pub(crate) mod sps;

pub use annexb::{Nal, NalSplitter};
pub use au::{split_access_units, AccessUnit, AccessUnits, AssemblerConfig, AssemblerStats};
pub use sps::StreamInfo;

/// The video codecs Eufy cameras send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// H.264 / AVC.
    H264,
    /// H.265 / HEVC.
    H265,
}

impl Codec {
    /// The name eufy-security-ws uses in `metadata.videoCodec`.
    pub fn protocol_name(self) -> &'static str {
        match self {
            Codec::H264 => "H264",
            Codec::H265 => "H265",
        }
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Codec::H264 => "H.264",
            Codec::H265 => "H.265",
        })
    }
}

/// Why a parameter set could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BitstreamError {
    /// The unit ended before the syntax did.
    #[error("NAL unit is truncated")]
    Truncated,
    /// A field holds a value the spec does not allow.
    #[error("invalid bitstream: {0}")]
    Invalid(&'static str),
}
