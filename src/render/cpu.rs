//! The colour path for CPU adapters (Mesa's llvmpipe/lavapipe, WARP, SwiftShader).
//!
//! Where the wgpu adapter is the CPU, the YUV→RGB shader is the most expensive way to
//! convert: every output pixel runs the shader in software, sampling three planes. Instead
//! libswscale (SIMD) converts and scales a tile's picture in one pass, straight to the
//! tile's size on screen and the target's byte order, into a staging buffer; the GPU side
//! only copies it into the target (a memcpy on a CPU adapter). A picture is converted once
//! per new frame or new tile size; an unchanged tile is copied again from its buffer.

use std::time::{Duration, Instant};

use crate::av::scale::{Filter, PixelOrder, Scaler};
use crate::frame::{Colour, Frame};

/// How YUV becomes RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColourPath {
    /// The WGSL shader on the GPU (`shaders/yuv_to_rgb.wgsl`).
    Gpu,
    /// libswscale on the CPU at the tile's size, copied into the target.
    Cpu,
}

impl std::fmt::Display for ColourPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ColourPath::Gpu => "gpu (WGSL shader)",
            ColourPath::Cpu => "cpu (libswscale at the tile's size)",
        })
    }
}

/// Which path to use: `Auto` picks the CPU path on a CPU adapter, else the GPU's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColourChoice {
    /// By the adapter.
    #[default]
    Auto,
    /// Always the shader.
    Gpu,
    /// Always libswscale.
    Cpu,
}

impl ColourChoice {
    /// The path for an adapter of `device_type`.
    pub fn path(self, device_type: wgpu::DeviceType) -> ColourPath {
        match self {
            ColourChoice::Gpu => ColourPath::Gpu,
            ColourChoice::Cpu => ColourPath::Cpu,
            ColourChoice::Auto if device_type == wgpu::DeviceType::Cpu => ColourPath::Cpu,
            ColourChoice::Auto => ColourPath::Gpu,
        }
    }
}

impl std::str::FromStr for ColourChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(ColourChoice::Auto),
            "gpu" => Ok(ColourChoice::Gpu),
            "cpu" => Ok(ColourChoice::Cpu),
            _ => Err(format!("{s:?}: expected gpu, cpu or auto")),
        }
    }
}

/// Whether the CPU path can draw into a target of `format` and `usage`: 8-bit RGBA or BGRA
/// that can be copied into.
pub(crate) fn target_ok(format: wgpu::TextureFormat, usage: wgpu::TextureUsages) -> bool {
    byte_order(format).is_some() && usage.contains(wgpu::TextureUsages::COPY_DST)
}

/// The byte order of a target's pixels; `None` for formats the CPU path cannot write.
fn byte_order(format: wgpu::TextureFormat) -> Option<PixelOrder> {
    use wgpu::TextureFormat as F;
    match format {
        F::Bgra8Unorm | F::Bgra8UnormSrgb => Some(PixelOrder::Bgra),
        F::Rgba8Unorm | F::Rgba8UnormSrgb => Some(PixelOrder::Rgba),
        _ => None,
    }
}

/// libswscale's filter, chosen by measurement (1080p H.264, llvmpipe, this project's
/// 2-core machine): `area` averages when a tile is smaller than the picture (bilinear when
/// larger), 1.4 ms for 1080p into a 960x540 tile, where `bilinear` with chroma
/// interpolated to every pixel (`full_chroma_int`) took 4.4 ms and `accurate_rnd` 2.4 ms
/// more. At the picture's own size libswscale takes its SIMD converter (0.6 ms for 1080p)
/// whatever the flags: it repeats each chroma sample across its two columns, which the
/// shader interpolates (tests/render.rs measures the difference).
const FILTER: Filter = Filter::Area;

/// A tile's picture on the CPU path: the latest frame, and it converted at the tile's size
/// for a wgpu target (a staging buffer) and for a window's own pixels.
#[derive(Default)]
pub(super) struct CpuTile {
    /// The latest frame.
    pub frame: Option<Frame>,
    /// A frame came since the last conversion for a wgpu target.
    pub dirty: bool,
    /// Frames uploaded so far (the window's pixels convert when it changes).
    pub generation: u64,
    out: Option<Converted>,
    pixels: Option<Pixels>,
}

struct Converted {
    scaler: Scaler,
    colour: Colour,
    order: PixelOrder,
    buffer: wgpu::Buffer,
    padded_row: u32,
}

/// The picture converted for a window's own pixels (`0x00RRGGBB` words), rows of its width.
struct Pixels {
    scaler: Scaler,
    colour: Colour,
    generation: u64,
    data: Vec<u8>,
}

impl CpuTile {
    /// Converts the latest frame to `(w, h)` pixels of `format` when it or the size changed
    /// (then [`CpuTile::pixels`] holds them); returns the time spent converting. `None`
    /// when there is nothing to show.
    pub(super) fn prepare(
        &mut self,
        gpu: &super::Gpu,
        (w, h): (u32, u32),
        format: wgpu::TextureFormat,
    ) -> Option<Duration> {
        let frame = self.frame.as_ref()?;
        let order = byte_order(format)?;
        let shape = ((frame.layout, frame.width, frame.height), (w, h));
        let fresh = self.out.as_ref().is_none_or(|o| {
            o.scaler.shape() != shape || o.colour != frame.colour || o.order != order
        });
        let mut spent = Duration::ZERO;
        if fresh {
            let scaler = Scaler::new(shape.0, frame.colour, (w, h), order, FILTER)?;
            let padded_row = (w * 4).div_ceil(256) * 256;
            let buffer = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("tile pixels"),
                size: u64::from(padded_row) * u64::from(h),
                usage: wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            self.out = Some(Converted {
                scaler,
                colour: frame.colour,
                order,
                buffer,
                padded_row,
            });
            self.dirty = true;
        }
        let out = self.out.as_mut()?;
        if self.dirty {
            let t = Instant::now();
            let size = std::num::NonZeroU64::new(out.buffer.size())?;
            let mut view = gpu.queue.write_buffer_with(&out.buffer, 0, size)?;
            if !out.scaler.scale(frame, &mut view, out.padded_row as usize) {
                tracing::warn!("libswscale refused a frame");
                return None;
            }
            self.dirty = false;
            spent = t.elapsed();
        }
        Some(spent)
    }

    /// The converted picture: its buffer, rows of the returned number of bytes.
    pub(super) fn pixels(&self) -> Option<(&wgpu::Buffer, u32)> {
        self.out.as_ref().map(|o| (&o.buffer, o.padded_row))
    }

    /// For a window's own pixels: the latest frame converted to `(w, h)` (`0x00RRGGBB`
    /// words, `w * 4` bytes a row) when it or the size changed. Returns the pixels, whether
    /// they are new, and the time spent converting; `None` when there is nothing to show.
    pub(super) fn window_pixels(&mut self, (w, h): (u32, u32)) -> Option<(&[u8], bool, Duration)> {
        let frame = self.frame.as_ref()?;
        let shape = ((frame.layout, frame.width, frame.height), (w, h));
        let fresh = self
            .pixels
            .as_ref()
            .is_none_or(|p| p.scaler.shape() != shape || p.colour != frame.colour);
        if fresh {
            let scaler = Scaler::new(shape.0, frame.colour, (w, h), PixelOrder::Bgr0, FILTER)?;
            self.pixels = Some(Pixels {
                scaler,
                colour: frame.colour,
                generation: self.generation.wrapping_sub(1),
                data: vec![0; w as usize * h as usize * 4],
            });
        }
        let p = self.pixels.as_mut()?;
        let new = p.generation != self.generation;
        let mut spent = Duration::ZERO;
        if new {
            let t = Instant::now();
            if !p.scaler.scale(frame, &mut p.data, w as usize * 4) {
                tracing::warn!("libswscale refused a frame");
                return None;
            }
            p.generation = self.generation;
            spent = t.elapsed();
        }
        Some((&p.data, new, spent))
    }
}

/// Draws overlay instances (text cells and boxes) into a window's own pixels
/// (`0x00RRGGBB` words, rows of `width`) as the text shader and alpha blending draw them on
/// a GPU: a pixel belongs to a cell when its centre is inside it; its atlas texel is the
/// cell's 8x8 grid at that centre.
pub(super) fn draw_glyphs(
    pixels: &mut [u32],
    (width, height): (u32, u32),
    glyphs: &[super::GlyphInstance],
    atlas: &[u8],
) {
    for g in glyphs {
        let [gx, gy, gw, gh] = g.rect;
        if gw <= 0.0 || gh <= 0.0 {
            continue;
        }
        // Pixels whose centre (x + 0.5) lies in [start, start + len).
        let span = |start: f32, len: f32, max: u32| {
            let a = (start - 0.5).ceil().max(0.0) as u32;
            let b = ((start + len - 0.5).ceil().max(0.0) as u32).min(max);
            (a.min(b), b)
        };
        let (x0, x1) = span(gx, gw, width);
        let (y0, y1) = span(gy, gh, height);
        let a = g.colour[3].clamp(0.0, 1.0);
        let src = [g.colour[0], g.colour[1], g.colour[2]].map(|c| c.clamp(0.0, 1.0) * 255.0);
        let code = g.code.min(127) as usize;
        for y in y0..y1 {
            let ty = ((((y as f32 + 0.5) - gy) / gh * 8.0) as usize).min(7);
            let Some(row) = pixels.get_mut((y * width) as usize..((y + 1) * width) as usize) else {
                return;
            };
            for x in x0..x1 {
                let tx = ((((x as f32 + 0.5) - gx) / gw * 8.0) as usize).min(7);
                if atlas
                    .get(ty * 1024 + code * 8 + tx)
                    .is_none_or(|&v| v < 128)
                {
                    continue;
                }
                let p = &mut row[x as usize];
                let dst = [(*p >> 16) & 0xff, (*p >> 8) & 0xff, *p & 0xff].map(|v| v as f32);
                let out: [u32; 3] =
                    std::array::from_fn(|i| (src[i] * a + dst[i] * (1.0 - a)).round() as u32);
                *p = (out[0] << 16) | (out[1] << 8) | out[2];
            }
        }
    }
}
