//! Rendering on a real wgpu device (Mesa's software Vulkan where there is no GPU): naga
//! validates the shaders; rendered RGB matches an independent CPU conversion within 2 per
//! channel for BT.601/709/2020, limited/full, I420/NV12 with padded strides and real decoded
//! frames, also into an sRGB target, and agrees with swscale; the grid/letterbox geometry is
//! right to the pixel.
//!
//! The CPU colour path (libswscale) on the same pictures: every matrix, range and layout
//! within its bounds (mean ≤ 2.5, 90 % within 5, max 10 levels on smoothly varying chroma: a
//! wrong matrix gives a mean of 7 and a max of 54), natural frames mean ≤ 2, 90 % within 2;
//! an sRGB and a BGRA target hold the same picture; the same geometry; a picture converted
//! once per new frame or new size; a 10-bit target falls back to the shader with the
//! pictures held. Drawing into a window's own pixels (the softbuffer path) gives what the
//! wgpu target gets, pictures, card, overlay text and highlight within one level (checked to
//! fail when the overlay's blending is broken), and with the pixels kept a new frame writes
//! its tile only and equals a full draw.
#![allow(clippy::unwrap_used)]

mod common;

use common::frame;

use std::time::Instant;

use eufy_hw::bitstream::{split_access_units, AccessUnit};
use eufy_hw::decode::{Accel, Decoder, DecoderConfig};
use eufy_hw::frame::{Colour, Frame, Layout, Matrix, Range};
use eufy_hw::render::{
    ColourChoice, ColourPath, Gpu, Offscreen, Renderer, TileState, TileView, TEXT_SHADER,
    VIDEO_SHADER,
};

/// Both colour paths: the WGSL shader, and libswscale copied into the target.
const PATHS: [ColourChoice; 2] = [ColourChoice::Gpu, ColourChoice::Cpu];

/// `n` live tiles, one per slot, without overlay text.
fn live_tiles(n: usize) -> Vec<TileView> {
    (0..n)
        .map(|i| TileView {
            bar: Vec::new(),
            slot: i,
            highlight: false,
            title: format!("t{i}"),
            state: TileState::Live,
            lines: vec![],
        })
        .collect()
}

/// A renderer on the path `choice`, checked to be on it.
fn renderer(gpu: &Gpu, choice: ColourChoice) -> Renderer {
    let r = Renderer::with_colour(gpu, choice);
    let want = match choice {
        ColourChoice::Cpu => ColourPath::Cpu,
        _ => ColourPath::Gpu,
    };
    assert_eq!(r.colour_path(), want);
    r
}

#[test]
fn shaders_validate_with_naga() {
    for (name, src) in [
        ("yuv_to_rgb.wgsl", VIDEO_SHADER),
        ("text.wgsl", TEXT_SHADER),
    ] {
        let module = naga::front::wgsl::parse_str(src)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
}

fn gpu() -> Gpu {
    Gpu::headless().expect("a wgpu adapter (./dev.sh setup installs Mesa's software Vulkan)")
}

/// Independent reference: Kr/Kb from the standards, bilinear chroma sited as H.264's default
/// (clamped at the edges), rounding to 8 bits.
fn reference(frame: &Frame) -> Vec<u8> {
    let (kr, kb) = match frame.colour.matrix {
        Matrix::Bt601 => (0.299, 0.114),
        Matrix::Bt709 => (0.2126, 0.0722),
        Matrix::Bt2020 => (0.2627, 0.0593),
    };
    let kg = 1.0 - kr - kb;
    let (w, h) = (frame.width as usize, frame.height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    // Each plane and stride once: asking the frame per sample (nine per pixel) was most of
    // this test program's time in a debug build.
    let interleaved = frame.layout == Layout::Nv12;
    let planes: Vec<(&[u8], usize)> = (0..if interleaved { 2 } else { 3 })
        .map(|p| (frame.plane(p), frame.stride(p)))
        .collect();
    let sample = |plane: usize, x: usize, y: usize| -> f64 {
        let (p, k) = if interleaved && plane > 0 {
            (1, 2)
        } else {
            (plane, 1)
        };
        let off = if interleaved && plane == 2 { 1 } else { 0 };
        let (data, stride) = planes[p];
        f64::from(data[y * stride + x * k + off])
    };
    let chroma = |plane: usize, x: usize, y: usize| -> f64 {
        // H.264 default siting: co-sited with even columns, between rows.
        let fx = (x as f64 / 2.0).clamp(0.0, (cw - 1) as f64);
        let fy = ((y as f64 + 0.5) / 2.0 - 0.5).clamp(0.0, (ch - 1) as f64);
        let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(cw - 1), (y0 + 1).min(ch - 1));
        let (ax, ay) = (fx - x0 as f64, fy - y0 as f64);
        let top = sample(plane, x0, y0) * (1.0 - ax) + sample(plane, x1, y0) * ax;
        let bot = sample(plane, x0, y1) * (1.0 - ax) + sample(plane, x1, y1) * ax;
        top * (1.0 - ay) + bot * ay
    };
    let mut out = Vec::with_capacity(w * h * 4);
    for y in 0..h {
        for x in 0..w {
            let (yy, cb, cr) = (sample(0, x, y), chroma(1, x, y), chroma(2, x, y));
            let (yn, cbn, crn) = match frame.colour.range {
                Range::Limited => (
                    (yy - 16.0) / 219.0,
                    (cb - 128.0) / 224.0,
                    (cr - 128.0) / 224.0,
                ),
                Range::Full => (yy / 255.0, (cb - 128.0) / 255.0, (cr - 128.0) / 255.0),
            };
            let r = yn + 2.0 * (1.0 - kr) * crn;
            let b = yn + 2.0 * (1.0 - kb) * cbn;
            let g = (yn - kr * r - kb * b) / kg;
            for c in [r, g, b] {
                out.push((c.clamp(0.0, 1.0) * 255.0).round() as u8);
            }
            out.push(255);
        }
    }
    out
}

fn render_one(gpu: &Gpu, frame: &Frame, choice: ColourChoice) -> Vec<u8> {
    render_into(gpu, frame, wgpu::TextureFormat::Rgba8Unorm, choice)
}

fn render_into(
    gpu: &Gpu,
    frame: &Frame,
    format: wgpu::TextureFormat,
    choice: ColourChoice,
) -> Vec<u8> {
    let target = Offscreen::with_format(gpu, frame.width, frame.height, format);
    let mut r = renderer(gpu, choice);
    r.set_tile_count(gpu, 1);
    r.upload(gpu, 0, frame).unwrap();
    let live = live_tiles(1);
    r.render(gpu, &target.texture, &live);
    assert_eq!(r.colour_path(), renderer(gpu, choice).colour_path());
    target.read(gpu).unwrap()
}

fn max_error(a: &[u8], b: &[u8]) -> (u8, usize) {
    assert_eq!(a.len(), b.len());
    let mut worst = (0u8, 0usize);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let d = x.abs_diff(*y);
        if d > worst.0 {
            worst = (d, i);
        }
    }
    worst
}

/// How far apart two RGBA images are, per R, G, B value: (mean, median, 90th percentile,
/// max).
fn spread(a: &[u8], b: &[u8]) -> (f64, u8, u8, u8) {
    assert_eq!(a.len(), b.len());
    let mut d: Vec<u8> = a
        .chunks(4)
        .zip(b.chunks(4))
        .flat_map(|(x, y)| (0..3).map(move |c| x[c].abs_diff(y[c])))
        .collect();
    let mean = d.iter().map(|&v| f64::from(v)).sum::<f64>() / d.len() as f64;
    d.sort_unstable();
    (mean, d[d.len() / 2], d[d.len() * 9 / 10], d[d.len() - 1])
}

/// A synthetic picture with every value range covered, in padded strides: luma and chroma
/// jump between extremes from sample to sample, or (`smooth`) chroma changes by a few levels
/// per sample, as in natural pictures.
fn synthetic(layout: Layout, colour: Colour, smooth: bool) -> Frame {
    let (w, h) = (66usize, 46usize);
    let (cw, ch) = (w / 2, h / 2);
    let pad = 13;
    let mut y = vec![0u8; (w + pad) * h];
    for r in 0..h {
        for c in 0..w {
            y[r * (w + pad) + c] = ((r * 37 + c * 11) % 256) as u8;
        }
    }
    let (u, v): (Vec<u8>, Vec<u8>) = if smooth {
        (
            (0..cw * ch).map(|i| (16 + 7 * (i % cw)) as u8).collect(),
            (0..cw * ch).map(|i| (240 - 9 * (i / cw)) as u8).collect(),
        )
    } else {
        (
            (0..cw * ch).map(|i| ((i * 53) % 256) as u8).collect(),
            (0..cw * ch).map(|i| ((i * 29 + 91) % 256) as u8).collect(),
        )
    };
    let planes = match layout {
        Layout::I420 => {
            let padded = |p: &[u8]| -> Vec<u8> {
                p.chunks(cw)
                    .flat_map(|r| r.iter().copied().chain(std::iter::repeat_n(7, pad)))
                    .collect()
            };
            vec![(y, w + pad), (padded(&u), cw + pad), (padded(&v), cw + pad)]
        }
        Layout::Nv12 => {
            let uv: Vec<u8> = (0..ch)
                .flat_map(|r| {
                    let (u, v) = (&u, &v);
                    (0..cw)
                        .flat_map(move |c| [u[r * cw + c], v[r * cw + c]])
                        .chain(std::iter::repeat_n(7, pad))
                })
                .collect();
            vec![(y, w + pad), (uv, 2 * cw + pad)]
        }
        other => panic!("{other:?}"),
    };
    frame(w as u32, h as u32, layout, colour, planes)
}

/// The shader's path matches the reference within 2 levels everywhere, extremes included.
/// libswscale (the CPU path) does not: at the picture's own size it repeats each chroma
/// sample over two columns, and its fixed-point maths clips out-of-gamut colours its own way,
/// so on the noise picture (every sample an extreme) it is tens of levels off. On chroma that
/// changes gradually it must be close: this checks its matrix and range for every
/// combination.
#[test]
fn synthetic_frames_match_the_cpu_reference() {
    let gpu = gpu();
    eprintln!("adapter: {}", gpu.description);
    for layout in [Layout::I420, Layout::Nv12] {
        for matrix in [Matrix::Bt601, Matrix::Bt709, Matrix::Bt2020] {
            for range in [Range::Limited, Range::Full] {
                let colour = Colour { matrix, range };
                let f = synthetic(layout, colour, false);
                let (err, at) = max_error(&render_one(&gpu, &f, ColourChoice::Gpu), &reference(&f));
                assert!(
                    err <= 2,
                    "shader {layout:?} {matrix:?} {range:?}: error {err} at pixel {}",
                    at / 4
                );
                let f = synthetic(layout, colour, true);
                let cpu = render_one(&gpu, &f, ColourChoice::Cpu);
                let (mean, median, p90, max) = spread(&cpu, &reference(&f));
                eprintln!("libswscale {layout:?} {matrix:?} {range:?}: mean {mean:.2}, median {median}, p90 {p90}, max {max}");
                assert!(
                    mean <= 2.5 && median <= 2 && p90 <= 5 && max <= 10,
                    "libswscale {layout:?} {matrix:?} {range:?}: mean {mean:.2}, median {median}, p90 {p90}, max {max}"
                );
            }
        }
    }
}

/// An sRGB target stores what the shader writes re-encoded from linear: the shader must
/// write linear values there (its `SRGB_TARGET` constant), so that the stored bytes are the
/// same R'G'B' as on a plain target. Without that the picture comes out too bright. The CPU
/// path copies bytes, which an sRGB target stores as they are: the same bytes as a plain one.
#[test]
fn srgb_target_stores_the_same_picture() {
    let gpu = gpu();
    for layout in [Layout::I420, Layout::Nv12] {
        let colour = Colour {
            matrix: Matrix::Bt709,
            range: Range::Limited,
        };
        let f = synthetic(layout, colour, false);
        let srgb = render_into(
            &gpu,
            &f,
            wgpu::TextureFormat::Rgba8UnormSrgb,
            ColourChoice::Gpu,
        );
        let (err, at) = max_error(&srgb, &reference(&f));
        assert!(err <= 2, "{layout:?}: error {err} at pixel {}", at / 4);
        let f = synthetic(layout, colour, true);
        let srgb = render_into(
            &gpu,
            &f,
            wgpu::TextureFormat::Rgba8UnormSrgb,
            ColourChoice::Cpu,
        );
        let plain = render_into(&gpu, &f, wgpu::TextureFormat::Rgba8Unorm, ColourChoice::Cpu);
        assert_eq!(max_error(&srgb, &plain).0, 0, "CPU path {layout:?}");
    }
}

/// A BGRA target (what many window surfaces are) gets the same picture from either path.
#[test]
fn bgra_target_holds_the_same_picture() {
    let gpu = gpu();
    let f = first_frame("h264_baseline_720p.h264");
    for choice in PATHS {
        let rgba = render_into(&gpu, &f, wgpu::TextureFormat::Rgba8Unorm, choice);
        let bgra = render_into(&gpu, &f, wgpu::TextureFormat::Bgra8Unorm, choice);
        let swapped: Vec<u8> = bgra
            .chunks(4)
            .flat_map(|p| [p[2], p[1], p[0], p[3]])
            .collect();
        let (err, at) = max_error(&rgba, &swapped);
        assert!(err <= 1, "{choice:?}: {err} at pixel {}", at / 4);
    }
}

fn first_frame(name: &str) -> Frame {
    let data = std::fs::read(common::clip_path(name)).unwrap();
    let (aus, _) = split_access_units(&data);
    let mut dec = Decoder::new(
        name,
        DecoderConfig {
            accel: vec![Accel::None],
            ..Default::default()
        },
    )
    .unwrap();
    let mut out = None;
    for au in aus {
        let au = AccessUnit {
            codec: au.codec,
            keyframe: au.keyframe,
            data: au.data,
            at: Instant::now(),
            nal_count: au.nal_count,
            new_stream_info: None,
        };
        dec.decode(&au, &mut |f| {
            out.get_or_insert(f);
        })
        .unwrap();
        if out.is_some() {
            break;
        }
    }
    out.unwrap()
}

/// libswscale's picture of a natural frame against the reference: as close as libswscale is
/// to it in `rendering_agrees_with_swscale` (differences along the test pattern's sharp
/// colour edges).
fn cpu_path_close(gpu: &Gpu, name: &str, f: &Frame) {
    let (mean, median, p90, max) = spread(&render_one(gpu, f, ColourChoice::Cpu), &reference(f));
    eprintln!("libswscale {name}: mean {mean:.2}, median {median}, p90 {p90}, max {max}");
    assert!(
        mean <= 2.0 && median <= 1 && p90 <= 2,
        "libswscale {name}: mean {mean:.2}, median {median}, p90 {p90}, max {max}"
    );
}

/// Decoded frames, in I420 as decoded and repacked to NV12, limited and full range: the
/// shader within 2 levels of the reference, libswscale close to it.
#[test]
fn decoded_frames_match_the_cpu_reference() {
    let gpu = gpu();
    for name in ["h264_baseline_720p.h264", "h264_full_range_720p.h264"] {
        let f = first_frame(name);
        let (err, at) = max_error(&render_one(&gpu, &f, ColourChoice::Gpu), &reference(&f));
        assert!(
            err <= 2,
            "shader {name} {:?}: error {err} at pixel {}",
            f.colour,
            at / 4
        );
        cpu_path_close(&gpu, name, &f);
        // The same picture as NV12 with a BT.601 matrix.
        let (w, h) = (f.width as usize, f.height as usize);
        let (cw, ch) = (w / 2, h / 2);
        let y: Vec<u8> = f.rows(0).flatten().copied().collect();
        let u: Vec<u8> = f.rows(1).flatten().copied().collect();
        let v: Vec<u8> = f.rows(2).flatten().copied().collect();
        let uv: Vec<u8> = (0..cw * ch).flat_map(|i| [u[i], v[i]]).collect();
        let colour = Colour {
            matrix: Matrix::Bt601,
            range: f.colour.range,
        };
        let nv12 = frame(
            w as u32,
            h as u32,
            Layout::Nv12,
            colour,
            vec![(y, w), (uv, w)],
        );
        let (err, at) = max_error(
            &render_one(&gpu, &nv12, ColourChoice::Gpu),
            &reference(&nv12),
        );
        assert!(
            err <= 2,
            "shader {name} as NV12: error {err} at pixel {}",
            at / 4
        );
        cpu_path_close(&gpu, &format!("{name} as NV12"), &nv12);
    }
}

fn solid(width: u32, height: u32, yv: u8) -> Frame {
    let (cw, ch) = (width.div_ceil(2) as usize, height.div_ceil(2) as usize);
    let planes = vec![
        (vec![yv; (width * height) as usize], width as usize),
        (vec![128; cw * ch], cw),
        (vec![128; cw * ch], cw),
    ];
    frame(
        width,
        height,
        Layout::I420,
        Colour {
            matrix: Matrix::Bt709,
            range: Range::Full,
        },
        planes,
    )
}

/// Two tiles in a 400x200 target: a 4:3 picture letterboxed in the left 200x200 cell
/// (200x150 at y=25), a 1:2 picture pillarboxed in the right cell (100x200 at x=250).
#[test]
fn grid_and_letterbox_in_pixels() {
    let gpu = gpu();
    for choice in PATHS {
        grid_and_letterbox_in_pixels_on(&gpu, choice);
    }
}

fn grid_and_letterbox_in_pixels_on(gpu: &Gpu, choice: ColourChoice) {
    let target = Offscreen::new(gpu, 400, 200);
    let mut r = renderer(gpu, choice);
    r.set_tile_count(gpu, 2);
    r.upload(gpu, 0, &solid(160, 120, 200)).unwrap();
    r.upload(gpu, 1, &solid(64, 128, 100)).unwrap();
    let tiles = live_tiles(2);
    r.render(gpu, &target.texture, &tiles);
    let px = target.read(gpu).unwrap();
    let at = |x: usize, y: usize| px[(y * 400 + x) * 4];
    // Left tile: rows 25..175 are picture, above and below black.
    assert_eq!(
        (at(100, 24), at(100, 25), at(100, 174), at(100, 175)),
        (0, 200, 200, 0)
    );
    assert_eq!((at(0, 100), at(199, 100)), (200, 200));
    // Right tile: columns 250..350.
    assert_eq!(
        (at(249, 100), at(250, 100), at(349, 100), at(350, 100)),
        (0, 100, 100, 0)
    );
    assert_eq!((at(300, 0), at(300, 199)), (100, 100));
}

/// A tile that is not live shows its text over the last picture dimmed (never a picture that
/// looks live), or a card when it has none; a new size rebuilds textures.
#[test]
fn cards_dimmed_pictures_and_resolution_changes() {
    let gpu = gpu();
    for choice in PATHS {
        cards_dimmed_pictures_and_resolution_changes_on(&gpu, choice);
    }
}

fn cards_dimmed_pictures_and_resolution_changes_on(gpu: &Gpu, choice: ColourChoice) {
    let target = Offscreen::new(gpu, 320, 180);
    let mut r = renderer(gpu, choice);
    r.set_tile_count(gpu, 1);
    let waiting = |text: &str| {
        [TileView {
            bar: Vec::new(),
            slot: 0,
            highlight: false,
            title: "T8410".into(),
            state: TileState::Waiting(text.into()),
            lines: vec![],
        }]
    };
    // No picture yet: a dark card with light text.
    r.render(gpu, &target.texture, &waiting("connecting..."));
    let px = target.read(gpu).unwrap();
    let dark = px.chunks(4).filter(|p| p[0] < 60).count();
    let text = px.chunks(4).filter(|p| p[0] > 200).count();
    assert!(
        dark > 320 * 180 * 9 / 10 && text > 50,
        "dark {dark} text {text}"
    );
    // A picture that stopped: still there, dimmed to about a third, with the text on it.
    r.upload(gpu, 0, &solid(320, 180, 250)).unwrap();
    r.render(gpu, &target.texture, &waiting("restarting in 1 s"));
    let px = target.read(gpu).unwrap();
    let expected = (250.0 * (1.0 - eufy_hw::render::DIM)).round() as i32;
    let dimmed = px
        .chunks(4)
        .filter(|p| (i32::from(p[0]) - expected).abs() <= 3)
        .count();
    let bright = px.chunks(4).filter(|p| p[0] >= 245).count();
    let text = px.chunks(4).filter(|p| p[0] > 200).count();
    assert!(
        dimmed > 320 * 180 * 8 / 10,
        "dimmed {dimmed} (level {expected})"
    );
    assert!(bright < 2000 && text > 50, "bright {bright} text {text}");
    // Live again, at a new size: the picture at full level.
    r.upload(gpu, 0, &solid(160, 90, 30)).unwrap();
    let live = [TileView {
        bar: Vec::new(),
        slot: 0,
        highlight: false,
        title: "T8410".into(),
        state: TileState::Live,
        lines: vec!["12.0 fps".into()],
    }];
    r.render(gpu, &target.texture, &live);
    let px = target.read(gpu).unwrap();
    assert_eq!(px[(170 * 320 + 300) * 4], 30, "{choice:?}");
}

/// The reference itself against FFmpeg's swscale (its own chroma filter, so not pixel-exact):
/// the rendered picture agrees within a level or two except along sharp colour edges.
#[test]
fn rendering_agrees_with_swscale() {
    let gpu = gpu();
    for (name, range) in [
        ("h264_baseline_720p.h264", "tv"),
        ("h264_full_range_720p.h264", "pc"),
    ] {
        let f = first_frame(name);
        let ours = render_one(&gpu, &f, ColourChoice::Gpu);
        let out = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(common::clip_path(name))
            .args(["-frames:v", "1", "-vf"])
            .arg(format!("scale=in_color_matrix=bt709:in_range={range}:out_range=pc:flags=accurate_rnd+full_chroma_int+bilinear"))
            .args(["-pix_fmt", "rgb24", "-f", "rawvideo", "-"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let theirs = out.stdout;
        assert_eq!(theirs.len(), (f.width * f.height * 3) as usize);
        let mut diffs: Vec<u8> = ours
            .chunks(4)
            .zip(theirs.chunks(3))
            .flat_map(|(a, b)| (0..3).map(move |c| a[c].abs_diff(b[c])))
            .collect();
        let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
        diffs.sort_unstable();
        let p90 = diffs[diffs.len() * 9 / 10];
        let median = diffs[diffs.len() / 2];
        eprintln!(
            "{name}: mean {mean:.3}, median {median}, p90 {p90}, max {}",
            diffs[diffs.len() - 1]
        );
        // Differences concentrate on the test pattern's sharp colour edges, where the two
        // chroma filters differ most.
        assert!(
            mean <= 2.0 && median <= 1 && p90 <= 2,
            "{name}: mean {mean:.3}, median {median}, p90 {p90}"
        );
    }
}

/// The CPU path converts a picture once per new frame or new tile size: drawing again
/// without a new frame (the overlay changed, another camera's frame came) only copies.
#[test]
fn the_cpu_path_converts_only_what_changed() {
    let gpu = gpu();
    let mut r = renderer(&gpu, ColourChoice::Cpu);
    r.set_tile_count(&gpu, 2);
    let tiles = live_tiles(2);
    let target = Offscreen::new(&gpu, 400, 200);
    r.upload(&gpu, 0, &solid(160, 120, 200)).unwrap();
    r.upload(&gpu, 1, &solid(64, 128, 100)).unwrap();
    r.render(&gpu, &target.texture, &tiles);
    assert_eq!(r.timings().converted, 2);
    r.render(&gpu, &target.texture, &tiles);
    assert_eq!(r.timings().converted, 2, "nothing new: nothing converted");
    r.upload(&gpu, 1, &solid(64, 128, 90)).unwrap();
    r.render(&gpu, &target.texture, &tiles);
    assert_eq!(r.timings().converted, 3, "one new frame: one conversion");
    let px = target.read(&gpu).unwrap();
    assert_eq!(
        (px[(100 * 400 + 300) * 4], px[(100 * 400 + 100) * 4]),
        (90, 200)
    );
    // A new size (the window was resized): both again, at the new size.
    let bigger = Offscreen::new(&gpu, 800, 400);
    r.render(&gpu, &bigger.texture, &tiles);
    assert_eq!(r.timings().converted, 5);
    let px = bigger.read(&gpu).unwrap();
    assert_eq!(
        (px[(200 * 800 + 600) * 4], px[(200 * 800 + 200) * 4]),
        (90, 200)
    );
}

/// A target the CPU path cannot copy into (here 10-bit) makes the renderer fall back to the
/// shader, with the pictures it holds, instead of failing.
#[test]
fn the_cpu_path_falls_back_to_the_shader_for_other_targets() {
    let gpu = gpu();
    let mut r = renderer(&gpu, ColourChoice::Cpu);
    r.set_tile_count(&gpu, 1);
    r.upload(&gpu, 0, &solid(160, 90, 200)).unwrap();
    let target = Offscreen::with_format(&gpu, 160, 90, wgpu::TextureFormat::Rgb10a2Unorm);
    let live = live_tiles(1);
    r.render(&gpu, &target.texture, &live);
    assert_eq!(r.colour_path(), ColourPath::Gpu);
    // 10-bit red, green and blue packed in 32 bits: the solid grey of 200/255 everywhere.
    let px = target.read(&gpu).unwrap();
    let word = u32::from_le_bytes([px[0], px[1], px[2], px[3]]);
    let red = f64::from(word & 0x3ff) / 1023.0 * 255.0;
    assert!((red - 200.0).abs() < 2.0, "red {red:.1}");
}

/// A window's own pixels (`0x00RRGGBB` words, softbuffer) as RGBA bytes.
fn words_to_rgba(words: &[u32]) -> Vec<u8> {
    words
        .iter()
        .flat_map(|w| [(w >> 16) as u8, (w >> 8) as u8, *w as u8, 255])
        .collect()
}

/// The CPU path drawing into a window's own pixels (what the window presents through
/// softbuffer) gives the picture the same path gives a wgpu target: pictures, a card with
/// text, an overlay box with text, a highlight frame; the overlay drawn on the CPU as the text
/// shader draws it. Then, with the pixels kept, a new frame in one tile writes that tile
/// only, and the result is what a full draw gives. The pixels start as garbage (magenta):
/// a draw that does not keep them must write every one.
#[test]
fn window_pixels_match_the_gpu_target() {
    let gpu = gpu();
    let (w, h) = (640, 360);
    let mut tiles = live_tiles(3);
    tiles[0].lines = vec!["15.0 fps".into(), "decoder: software".into()];
    tiles[1].highlight = true;
    tiles[2].state = TileState::Waiting("connecting...".into());
    let f = first_frame("h264_baseline_720p.h264");
    let mut offscreen = renderer(&gpu, ColourChoice::Cpu);
    let mut window = renderer(&gpu, ColourChoice::Cpu);
    for r in [&mut offscreen, &mut window] {
        r.set_tile_count(&gpu, 3);
        r.upload(&gpu, 0, &f).unwrap();
        r.upload(&gpu, 1, &solid(320, 180, 120)).unwrap();
    }
    let target = Offscreen::new(&gpu, w, h);
    offscreen.render(&gpu, &target.texture, &tiles);
    let expected = target.read(&gpu).unwrap();
    let mut pixels = vec![0x00ff_00ffu32; (w * h) as usize];
    let damage = window.render_pixels(&mut pixels, (w, h), &tiles, false);
    assert_eq!(damage.len(), 1, "a first draw is whole: {damage:?}");
    let (err, at) = max_error(&words_to_rgba(&pixels), &expected);
    assert!(
        err <= 1,
        "error {err} at pixel {} ({}, {})",
        at / 4,
        at / 4 % w as usize,
        at / 4 / w as usize
    );

    // Only pictures now, kept pixels: a new frame in tile 1 is the only thing written.
    let plain = live_tiles(2);
    window.set_tile_count(&gpu, 2);
    window.render_pixels(&mut pixels, (w, h), &plain, true);
    window.upload(&gpu, 1, &solid(320, 180, 60)).unwrap();
    let damage = window.render_pixels(&mut pixels, (w, h), &plain, true);
    assert_eq!(damage.len(), 1, "{damage:?}");
    assert!(damage[0].x >= w / 2, "the right tile only: {damage:?}");
    let mut whole = vec![0x00ff_00ffu32; (w * h) as usize];
    window.render_pixels(&mut whole, (w, h), &plain, false);
    assert_eq!(pixels, whole, "an incremental draw differs from a full one");
    assert_eq!(whole[(h / 2 * w + w * 3 / 4) as usize] & 0xff, 60);
}

/// The action bar is drawn where `layout::bar_buttons` says (the same geometry the window
/// hit-tests): dark buttons over the picture, a lit (held) one in its colour, the picture
/// untouched between and above them; on both colour paths.
#[test]
fn the_action_bar_is_where_taps_land() {
    use eufy_hw::render::BarButton;
    let gpu = gpu();
    for choice in PATHS {
        let (w, h) = (640, 360);
        let target = Offscreen::new(&gpu, w, h);
        let mut r = renderer(&gpu, choice);
        r.set_tile_count(&gpu, 1);
        r.upload(&gpu, 0, &solid(w, h, 200)).unwrap();
        let bar = ["Back", "Hold to talk", "P1"]
            .iter()
            .enumerate()
            .map(|(k, l)| BarButton {
                label: (*l).into(),
                on: k == 1,
            })
            .collect();
        let tile = [TileView {
            bar,
            slot: 0,
            highlight: false,
            title: "T8410".into(),
            state: TileState::Live,
            lines: vec![],
        }];
        r.render(&gpu, &target.texture, &tile);
        let px = target.read(&gpu).unwrap();
        let at = |x: u32, y: u32| &px[((y * w + x) * 4) as usize..((y * w + x) * 4 + 3) as usize];
        let full = eufy_hw::layout::Rect { x: 0, y: 0, w, h };
        let b = eufy_hw::layout::bar_buttons(full, 3);
        // A corner of each button (no label there).
        let corner = |r: eufy_hw::layout::Rect| at(r.x + 3, r.y + 3).to_vec();
        assert!(
            corner(b[0]).iter().all(|&c| c < 70),
            "{choice:?}: {:?}",
            corner(b[0])
        );
        let lit = corner(b[1]);
        assert!(
            lit[0] > 180 && lit[1] < 100,
            "{choice:?}: the held button {lit:?}"
        );
        // Between buttons and above the bar: the picture.
        assert!(at(b[0].x + b[0].w + 3, b[0].y + 3).iter().all(|&c| c > 190));
        assert!(at(w / 2, b[0].y - 10).iter().all(|&c| c > 190));
    }
}
