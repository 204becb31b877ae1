//! Annex-B clip files (`.h264`, `.h265`) read into access units: what the simulator replays
//! and what tests and benchmarks compare against.

use std::path::Path;
use std::sync::Arc;

use crate::bitstream::{split_access_units, Codec, StreamInfo};

/// The demo clip bundled into the binary: H.264, 640x360, 15 fps, a few seconds, looped.
pub const DEMO_CLIP: &[u8] = include_bytes!("../assets/demo.h264");

/// One access unit of a clip.
#[derive(Debug, Clone)]
pub struct ClipUnit {
    /// The bytes, Annex-B, exactly as in the file.
    pub data: Arc<[u8]>,
    /// Decoding can start here.
    pub keyframe: bool,
    /// What the SPS in force says.
    pub info: StreamInfo,
}

/// A clip split into access units.
#[derive(Debug, Clone)]
pub struct Clip {
    /// A name for logs (the file name).
    pub name: String,
    /// Its access units, in order.
    pub units: Vec<ClipUnit>,
}

/// Why a clip cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    /// The file could not be read.
    #[error("cannot read clip {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// No H.264/H.265 pictures with a readable SPS.
    #[error("clip {0} holds no H.264 or H.265 access units with a readable SPS (is it raw Annex-B, not MP4?)")]
    Empty(String),
    /// No ADTS AAC frames.
    #[error("{0}: no ADTS AAC frames (raw .aac with ADTS headers expected)")]
    NoAudio(String),
}

/// The ADTS AAC frames of a file (`--audio`), for the simulator to send.
pub fn load_adts(path: &Path) -> Result<Arc<Vec<Arc<[u8]>>>, ClipError> {
    let bytes = std::fs::read(path).map_err(|source| ClipError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let frames: Vec<Arc<[u8]>> = crate::bitstream::adts::split_frames(&bytes)
        .into_iter()
        .map(Arc::from)
        .collect();
    if frames.is_empty() {
        return Err(ClipError::NoAudio(path.display().to_string()));
    }
    Ok(Arc::new(frames))
}

impl Clip {
    /// Reads and splits a file.
    pub fn load(path: &Path) -> Result<Clip, ClipError> {
        let bytes = std::fs::read(path).map_err(|source| ClipError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Clip::from_bytes(&name, &bytes)
    }

    /// The bundled demo clip.
    pub fn demo() -> Clip {
        // A unit test checks the bundled clip, so the empty fallback is never taken.
        Clip::from_bytes("demo.h264", DEMO_CLIP).unwrap_or_else(|_| Clip {
            name: "demo.h264".into(),
            units: Vec::new(),
        })
    }

    /// Splits an in-memory Annex-B stream. Units before the first SPS are skipped.
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<Clip, ClipError> {
        let (aus, _) = split_access_units(bytes);
        let mut info: Option<StreamInfo> = None;
        let mut units = Vec::with_capacity(aus.len());
        for au in aus {
            if let Some(new) = au.new_stream_info {
                info = Some(new);
            }
            if let Some(info) = info {
                units.push(ClipUnit {
                    data: au.data.into(),
                    keyframe: au.keyframe,
                    info,
                });
            }
        }
        if units.is_empty() {
            return Err(ClipError::Empty(name.to_owned()));
        }
        Ok(Clip {
            name: name.to_owned(),
            units,
        })
    }

    /// The codec of the first unit.
    pub fn codec(&self) -> Codec {
        self.units.first().map_or(Codec::H264, |u| u.info.codec)
    }

    /// The frame rate the first SPS declares, if any.
    pub fn fps(&self) -> Option<f64> {
        self.units.first().and_then(|u| u.info.fps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_clip_is_valid_h264() {
        let clip = Clip::from_bytes("demo", DEMO_CLIP).unwrap();
        assert!(clip.units.len() >= 30);
        assert!(clip.units[0].keyframe);
        assert_eq!(clip.codec(), Codec::H264);
        assert_eq!(
            (clip.units[0].info.width, clip.units[0].info.height),
            (640, 360)
        );
    }

    #[test]
    fn not_a_clip_is_a_clear_error() {
        let err = Clip::from_bytes("x.mp4", b"\0\0\0\x18ftypisom").unwrap_err();
        assert!(err.to_string().contains("not MP4"));
    }
}
