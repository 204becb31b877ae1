//! The plain frame type both sides of the decoder/renderer seam share: planes with their
//! strides, the layout, the colour matrix and range, and the instants that latency is
//! measured from. No FFmpeg and no wgpu types here.

use std::sync::Arc;
use std::time::Instant;

/// How the planes of a 4:2:0 frame are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Three 8-bit planes: Y, U, V (`yuv420p`).
    I420,
    /// Y plane and one interleaved UV plane, 8-bit (`nv12`).
    Nv12,
    /// Like NV12 with 16-bit samples, 10 significant bits in the high bits (`p010le`).
    P010,
    /// Three 16-bit planes with 10 significant bits in the low bits (`yuv420p10le`).
    I420P10,
}

impl Layout {
    /// Number of planes.
    pub fn planes(self) -> usize {
        match self {
            Layout::I420 | Layout::I420P10 => 3,
            Layout::Nv12 | Layout::P010 => 2,
        }
    }

    /// Bytes per sample (1 or 2).
    pub fn sample_bytes(self) -> usize {
        match self {
            Layout::I420 | Layout::Nv12 => 1,
            Layout::P010 | Layout::I420P10 => 2,
        }
    }

    /// Width and height of plane `i` in samples (an interleaved UV sample counts as one),
    /// for a picture of `width` x `height`.
    pub fn plane_size(self, i: usize, width: u32, height: u32) -> (u32, u32) {
        if i == 0 {
            (width, height)
        } else {
            (width.div_ceil(2), height.div_ceil(2))
        }
    }

    /// Bytes of one row of plane `i` (without padding).
    pub fn row_bytes(self, i: usize, width: u32) -> usize {
        let (w, _) = self.plane_size(i, width, 1);
        let interleave = if i > 0 && matches!(self, Layout::Nv12 | Layout::P010) {
            2
        } else {
            1
        };
        w as usize * interleave * self.sample_bytes()
    }
}

/// The YUV→RGB matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Matrix {
    /// ITU-R BT.601 (SD).
    Bt601,
    /// ITU-R BT.709 (HD).
    Bt709,
    /// ITU-R BT.2020 non-constant luminance (UHD, HDR).
    Bt2020,
}

/// Sample range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Range {
    /// 16..235 luma, 16..240 chroma (TV, "MPEG").
    Limited,
    /// 0..255 (PC, "JPEG").
    Full,
}

/// Colour description of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Colour {
    /// Matrix.
    pub matrix: Matrix,
    /// Range.
    pub range: Range,
}

impl Colour {
    /// What to assume when the stream does not say: BT.709 from 720 lines up, BT.601 below;
    /// limited range.
    pub fn default_for(height: u32) -> Colour {
        Colour {
            matrix: if height >= 720 {
                Matrix::Bt709
            } else {
                Matrix::Bt601
            },
            range: Range::Limited,
        }
    }
}

/// Owner of a frame's pixel memory (a decoder's frame buffer, or plain vectors).
pub trait PlaneData: Send + Sync {
    /// Plane `i`, `stride(i)` bytes per row, at least as many rows as the plane has.
    fn plane(&self, i: usize) -> &[u8];
    /// Bytes from one row of plane `i` to the next.
    fn stride(&self, i: usize) -> usize;
}

/// Planes in plain vectors: `(bytes, stride)` per plane.
pub struct OwnedPlanes(pub Vec<(Vec<u8>, usize)>);

impl PlaneData for OwnedPlanes {
    fn plane(&self, i: usize) -> &[u8] {
        self.0.get(i).map_or(&[], |p| &p.0)
    }
    fn stride(&self, i: usize) -> usize {
        self.0.get(i).map_or(0, |p| p.1)
    }
}

/// A decoded picture.
#[derive(Clone)]
pub struct Frame {
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Plane layout.
    pub layout: Layout,
    /// Matrix and range.
    pub colour: Colour,
    /// When the last byte of its access unit arrived.
    pub received_at: Instant,
    /// When the decoder returned it (after the download, for hardware frames).
    pub decoded_at: Instant,
    /// Which path decoded it, e.g. `cuda` or `software (vaapi: no device)`.
    pub path: Arc<str>,
    /// The stream (camera serial) it belongs to.
    pub stream: Arc<str>,
    data: Arc<dyn PlaneData>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("layout", &self.layout)
            .field("colour", &self.colour)
            .field("path", &self.path)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

/// Why planes do not fit a frame's description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plane {plane} of a {width}x{height} {layout:?} frame is too small ({len} bytes, stride {stride})")]
pub struct PlaneError {
    /// Which plane.
    pub plane: usize,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Layout.
    pub layout: Layout,
    /// Plane length.
    pub len: usize,
    /// Plane stride.
    pub stride: usize,
}

impl Frame {
    /// A frame over `data`, checked: every plane holds its rows at its stride.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        width: u32,
        height: u32,
        layout: Layout,
        colour: Colour,
        data: Arc<dyn PlaneData>,
        received_at: Instant,
        decoded_at: Instant,
        path: Arc<str>,
        stream: Arc<str>,
    ) -> Result<Frame, PlaneError> {
        for i in 0..layout.planes() {
            let (_, rows) = layout.plane_size(i, width, height);
            let stride = data.stride(i);
            let row = layout.row_bytes(i, width);
            let len = data.plane(i).len();
            let need = (rows as usize).saturating_sub(1) * stride + row;
            if stride < row || len < need {
                return Err(PlaneError {
                    plane: i,
                    width,
                    height,
                    layout,
                    len,
                    stride,
                });
            }
        }
        Ok(Frame {
            width,
            height,
            layout,
            colour,
            received_at,
            decoded_at,
            path,
            stream,
            data,
        })
    }

    /// Plane `i` (rows at [`Frame::stride`]).
    pub fn plane(&self, i: usize) -> &[u8] {
        self.data.plane(i)
    }

    /// Bytes from one row of plane `i` to the next.
    pub fn stride(&self, i: usize) -> usize {
        self.data.stride(i)
    }

    /// Mean luma, 0 to 255, from every 8th sample of every 8th row (A/V sync measurements:
    /// a white flash).
    pub fn luma_mean(&self) -> f64 {
        let (mut sum, mut n) = (0u64, 0u64);
        let wide = self.layout.sample_bytes() == 2;
        for row in self.rows(0).step_by(8) {
            if wide {
                for s in row.chunks_exact(2).step_by(8) {
                    let v = u16::from_le_bytes([s[0], s[1]]);
                    // P010 keeps 10 bits high, I420P10 low.
                    let v8 = match self.layout {
                        Layout::P010 => v >> 8,
                        _ => v >> 2,
                    };
                    sum += u64::from(v8);
                    n += 1;
                }
            } else {
                for &v in row.iter().step_by(8) {
                    sum += u64::from(v);
                    n += 1;
                }
            }
        }
        sum as f64 / n.max(1) as f64
    }

    /// The visible rows of plane `i`, without padding.
    pub fn rows(&self, i: usize) -> impl Iterator<Item = &[u8]> {
        let (_, h) = self.layout.plane_size(i, self.width, self.height);
        let row = self.layout.row_bytes(i, self.width);
        let stride = self.stride(i).max(1);
        self.plane(i)
            .chunks(stride)
            .take(h as usize)
            .map(move |r| &r[..row.min(r.len())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plane_geometry() {
        assert_eq!(Layout::I420.plane_size(1, 1919, 1081), (960, 541));
        assert_eq!(Layout::Nv12.row_bytes(1, 1920), 1920);
        assert_eq!(Layout::P010.row_bytes(0, 1920), 3840);
        assert_eq!(Layout::I420P10.row_bytes(2, 1920), 1920);
    }

    #[test]
    fn short_planes_are_rejected() {
        let now = Instant::now();
        let planes = OwnedPlanes(vec![(vec![0; 16 * 16], 16), (vec![0; 16 * 7], 16)]);
        let err = Frame::new(
            16,
            16,
            Layout::Nv12,
            Colour::default_for(16),
            Arc::new(planes),
            now,
            now,
            "test".into(),
            "t".into(),
        )
        .unwrap_err();
        assert_eq!(err.plane, 1);
    }
}
