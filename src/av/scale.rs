//! libswscale converting a [`Frame`]'s own planes to 8-bit RGB at another size, in one pass:
//! the renderer's colour path on CPU adapters ([`crate::render::cpu`]).

use std::ffi::CStr;
use std::ptr;

use ffmpeg::ffi::{
    av_opt_set_int, sws_alloc_context, sws_freeContext, sws_getCoefficients, sws_init_context,
    sws_scale, sws_setColorspaceDetails, AVPixelFormat as P, SwsContext, SWS_AREA, SWS_CS_BT2020,
    SWS_CS_ITU601, SWS_CS_ITU709,
};
use ffmpeg_next as ffmpeg;

use super::Owned;
use crate::frame::{Colour, Frame, Layout, Matrix, Range};

/// The byte order of 8-bit pixels out of a [`Scaler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PixelOrder {
    /// R, G, B, A (A = 255).
    Rgba,
    /// B, G, R, A (A = 255).
    Bgra,
    /// B, G, R, 0: a little-endian `0x00RRGGBB` word, a window's own pixels (softbuffer).
    Bgr0,
}

/// How a [`Scaler`] resamples (libswscale's filters this project uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filter {
    /// Averages the pixels a smaller output covers (bilinear when larger): `SWS_AREA`.
    Area,
}

/// The shape a [`Scaler`] converts from: layout, width, height.
pub(crate) type Shape = (Layout, u32, u32);

/// A libswscale context converting one frame shape (layout, size, colour) to 8-bit pixels in
/// a [`PixelOrder`] at another size.
pub(crate) struct Scaler {
    ctx: Owned<SwsContext>,
    src: Shape,
    dst: (u32, u32),
}

// SAFETY: an SwsContext is used by one thread at a time (`&mut self` for every call) and
// holds no thread-affine state.
unsafe impl Send for Scaler {}

/// `sws_freeContext` for [`Owned`].
unsafe fn free(ctx: *mut SwsContext) {
    // SAFETY: the caller (Owned's Drop) passes a context from sws_alloc_context it owns.
    unsafe { sws_freeContext(ctx) };
}

impl Scaler {
    /// A context for `src` frames with `colour` to `dst` (width, height) pixels in `order`.
    /// `None` when libswscale refuses the shape.
    pub(crate) fn new(
        src: Shape,
        colour: Colour,
        dst: (u32, u32),
        order: PixelOrder,
        filter: Filter,
    ) -> Option<Scaler> {
        let format = match src.0 {
            Layout::I420 => P::AV_PIX_FMT_YUV420P,
            Layout::Nv12 => P::AV_PIX_FMT_NV12,
            Layout::P010 => P::AV_PIX_FMT_P010LE,
            Layout::I420P10 => P::AV_PIX_FMT_YUV420P10LE,
        };
        let out = match order {
            PixelOrder::Rgba => P::AV_PIX_FMT_RGBA,
            PixelOrder::Bgra => P::AV_PIX_FMT_BGRA,
            PixelOrder::Bgr0 => P::AV_PIX_FMT_BGR0,
        };
        let flags = match filter {
            Filter::Area => SWS_AREA,
        };
        let dim = |v: u32| i32::try_from(v).ok().filter(|&v| v > 0);
        let (sw, sh, dw, dh) = (dim(src.1)?, dim(src.2)?, dim(dst.0)?, dim(dst.1)?);
        // SAFETY: sws_alloc_context has no preconditions.
        let raw = unsafe { sws_alloc_context() };
        // SAFETY: a fresh context (or null, refused here) owned by nothing else; `free`
        // releases it on every early return below.
        let ctx = unsafe { Owned::from_raw(raw, free) }?;
        // Chroma sited as H.264 and H.265 do by default (co-sited with even columns, between
        // rows: 0 and 128 in 1/256 of a chroma sample), as the shader and the reference have it.
        let options: [(&CStr, i64); 9] = [
            (c"srcw", i64::from(sw)),
            (c"srch", i64::from(sh)),
            (c"src_format", format as i64),
            (c"dstw", i64::from(dw)),
            (c"dsth", i64::from(dh)),
            (c"dst_format", out as i64),
            (c"sws_flags", i64::from(flags)),
            (c"src_h_chr_pos", 0),
            (c"src_v_chr_pos", 128),
        ];
        for (name, value) in options {
            // SAFETY: `ctx` is a valid SwsContext (an AVClass object) and `name` a
            // NUL-terminated option name it declares; a failure is checked.
            let r = unsafe { av_opt_set_int(ctx.as_ptr().cast(), name.as_ptr(), value, 0) };
            if r < 0 {
                return None;
            }
        }
        // SAFETY: `ctx` is valid and configured; null filters are allowed.
        if unsafe { sws_init_context(ctx.as_ptr(), ptr::null_mut(), ptr::null_mut()) } < 0 {
            return None;
        }
        let space = match colour.matrix {
            Matrix::Bt601 => SWS_CS_ITU601,
            Matrix::Bt709 => SWS_CS_ITU709,
            Matrix::Bt2020 => SWS_CS_BT2020,
        };
        // SAFETY: returns a pointer to one of libswscale's static coefficient tables.
        let table = unsafe { sws_getCoefficients(space) };
        // SAFETY: `ctx` is valid and initialised; `table` is static and copied. Brightness 0,
        // contrast and saturation 1.0 in 16.16 fixed point.
        unsafe {
            sws_setColorspaceDetails(
                ctx.as_ptr(),
                table,
                i32::from(colour.range == Range::Full),
                table,
                1,
                0,
                1 << 16,
                1 << 16,
            )
        };
        Some(Scaler { ctx, src, dst })
    }

    /// The frame shape and output size it was made for.
    pub(crate) fn shape(&self) -> (Shape, (u32, u32)) {
        (self.src, self.dst)
    }

    /// Converts `frame` into `out`, `stride` bytes per row. False (nothing written) when the
    /// frame's shape or `out`'s size does not match the context.
    pub(crate) fn scale(&mut self, frame: &Frame, out: &mut [u8], stride: usize) -> bool {
        let (dw, dh) = (self.dst.0 as usize, self.dst.1 as usize);
        let fits = stride >= dw * 4 && out.len() >= (dh - 1) * stride + dw * 4;
        if (frame.layout, frame.width, frame.height) != self.src || !fits {
            return false;
        }
        let (Ok(out_stride), Ok(rows)) = (i32::try_from(stride), i32::try_from(frame.height))
        else {
            return false;
        };
        let mut planes = [ptr::null::<u8>(); 4];
        let mut strides = [0i32; 4];
        for i in 0..frame.layout.planes() {
            planes[i] = frame.plane(i).as_ptr();
            let Ok(s) = i32::try_from(frame.stride(i)) else {
                return false;
            };
            strides[i] = s;
        }
        let dst = [
            out.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        ];
        let dst_strides = [out_stride, 0, 0, 0];
        // SAFETY: `ctx` was made for exactly this layout and size (checked above). The
        // frame's planes hold their rows at their strides (checked when the Frame was made)
        // and stay borrowed for the call; `out` holds `dh` rows of `dw` pixels at `stride`
        // (checked above). libswscale reads the source planes and writes only `out`.
        let written = unsafe {
            sws_scale(
                self.ctx.as_ptr(),
                planes.as_ptr(),
                strides.as_ptr(),
                0,
                rows,
                dst.as_ptr(),
                dst_strides.as_ptr(),
            )
        };
        written > 0
    }
}
