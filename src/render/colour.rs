//! The CPU side of the YUV→RGB conversion: the matrix rows and the range offsets and gains
//! that `shaders/yuv_to_rgb.wgsl` applies. Derived from each standard's Kr and Kb, so the
//! shader holds no constants of its own; keep the two files in sync.

use crate::frame::{Colour, Layout, Matrix, Range};

/// The shader's uniform block (see `Params` in the WGSL).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct Params {
    /// Rows of the YUV→R'G'B' matrix.
    pub r: [f32; 4],
    /// Second row.
    pub g: [f32; 4],
    /// Third row.
    pub b: [f32; 4],
    /// Sampled value → code value, luma offset, luma gain, chroma offset.
    pub range: [f32; 4],
    /// Chroma gain, interleaved chroma flag, two unused (an sRGB target is a pipeline
    /// constant, `SRGB_TARGET`).
    pub misc: [f32; 4],
}

/// Kr and Kb of a matrix (ITU-R BT.601, BT.709, BT.2020).
pub(crate) fn kr_kb(m: Matrix) -> (f64, f64) {
    match m {
        Matrix::Bt601 => (0.299, 0.114),
        Matrix::Bt709 => (0.2126, 0.0722),
        Matrix::Bt2020 => (0.2627, 0.0593),
    }
}

/// Rows of the matrix from (Y, Cb, Cr) with Y in 0..1 and Cb/Cr in -0.5..0.5 to R'G'B'.
pub(crate) fn matrix_rows(m: Matrix) -> [[f64; 3]; 3] {
    let (kr, kb) = kr_kb(m);
    let kg = 1.0 - kr - kb;
    [
        [1.0, 0.0, 2.0 * (1.0 - kr)],
        [
            1.0,
            -2.0 * kb * (1.0 - kb) / kg,
            -2.0 * kr * (1.0 - kr) / kg,
        ],
        [1.0, 2.0 * (1.0 - kb), 0.0],
    ]
}

/// Bits per sample of a layout.
pub(crate) fn bit_depth(layout: Layout) -> u32 {
    match layout {
        Layout::I420 | Layout::Nv12 => 8,
        Layout::P010 | Layout::I420P10 => 10,
    }
}

/// Offsets and gains: code value → (Y in 0..1, C in -0.5..0.5).
/// Returns (luma offset, luma gain, chroma offset, chroma gain).
pub(crate) fn range_terms(range: Range, bits: u32) -> (f64, f64, f64, f64) {
    let unit = f64::from(1u32 << (bits - 8));
    let max = f64::from((1u32 << bits) - 1);
    match range {
        Range::Limited => (
            16.0 * unit,
            1.0 / (219.0 * unit),
            128.0 * unit,
            1.0 / (224.0 * unit),
        ),
        Range::Full => (0.0, 1.0 / max, f64::from(1u32 << (bits - 1)), 1.0 / max),
    }
}

/// How a texture sample maps back to the code value: 8-bit UNORM gives c/255, P010 (10 bits
/// in the high bits of 16) gives c·64/65535, 10 bits in the low bits give c/65535.
pub(crate) fn sample_scale(layout: Layout) -> f64 {
    match layout {
        Layout::I420 | Layout::Nv12 => 255.0,
        Layout::P010 => 65535.0 / 64.0,
        Layout::I420P10 => 65535.0,
    }
}

/// The uniform block for a frame.
pub(crate) fn params(colour: Colour, layout: Layout) -> Params {
    let m = matrix_rows(colour.matrix);
    let (yo, yg, co, cg) = range_terms(colour.range, bit_depth(layout));
    let row = |r: [f64; 3]| [r[0] as f32, r[1] as f32, r[2] as f32, 0.0];
    Params {
        r: row(m[0]),
        g: row(m[1]),
        b: row(m[2]),
        range: [sample_scale(layout) as f32, yo as f32, yg as f32, co as f32],
        misc: [
            cg as f32,
            if matches!(layout, Layout::Nv12 | Layout::P010) {
                1.0
            } else {
                0.0
            },
            0.0,
            0.0,
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rgb(m: Matrix, range: Range, y: f64, cb: f64, cr: f64) -> [f64; 3] {
        let rows = matrix_rows(m);
        let (yo, yg, co, cg) = range_terms(range, 8);
        let v = [(y - yo) * yg, (cb - co) * cg, (cr - co) * cg];
        rows.map(|r| (r[0] * v[0] + r[1] * v[1] + r[2] * v[2]) * 255.0)
    }

    #[test]
    fn known_colours() {
        // Limited-range white, black and BT.709 red (from the standard's 8-bit table).
        let w = rgb(Matrix::Bt709, Range::Limited, 235.0, 128.0, 128.0);
        assert!(w.iter().all(|c| (c - 255.0).abs() < 0.01), "{w:?}");
        let k = rgb(Matrix::Bt709, Range::Limited, 16.0, 128.0, 128.0);
        assert!(k.iter().all(|c| c.abs() < 0.01), "{k:?}");
        let red = rgb(Matrix::Bt709, Range::Limited, 63.0, 102.0, 240.0);
        assert!(
            (red[0] - 255.0).abs() < 1.5 && red[1].abs() < 1.5 && red[2].abs() < 1.5,
            "{red:?}"
        );
        // BT.601 full-range (JPEG) red: Y 76, Cb 85, Cr 255.
        let red = rgb(Matrix::Bt601, Range::Full, 76.0, 85.0, 255.0);
        assert!(
            (red[0] - 255.0).abs() < 1.5 && red[1].abs() < 1.5 && red[2].abs() < 1.5,
            "{red:?}"
        );
    }

    #[test]
    fn params_block_is_five_vec4() {
        assert_eq!(std::mem::size_of::<Params>(), 80);
        let p = params(
            Colour {
                matrix: Matrix::Bt709,
                range: Range::Limited,
            },
            Layout::Nv12,
        );
        assert_eq!(p.misc[1], 1.0);
        assert_eq!(p.range[0], 255.0);
    }
}
