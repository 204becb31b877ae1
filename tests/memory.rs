//! Memory stays flat while frames are rendered, on the real wgpu device (Mesa's lavapipe
//! without a GPU): 300 frames rendered in two tiles (I420 and NV12) must not grow the
//! process's memory, on each colour path. A viewer renders millions of frames; a leak of one
//! frame's planes per frame (what lavapipe 22.3 does with texture reads inside a shader
//! branch, which this test caught) fills a machine in hours. Its own test binary, so no
//! other test's allocations share the process.
#![allow(clippy::unwrap_used)]

mod common;

use eufy_hw::frame::{Colour, Frame, Layout, Matrix, Range};
use eufy_hw::render::{ColourChoice, Gpu, Offscreen, Renderer, TileState, TileView};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn frame(layout: Layout, k: u8) -> Frame {
    let (w, h) = (640usize, 360usize);
    let luma: Vec<u8> = (0..w * h).map(|i| (i as u8).wrapping_add(k)).collect();
    let planes = match layout {
        Layout::I420 => vec![
            (luma, w),
            (vec![k; w / 2 * h / 2], w / 2),
            (vec![255 - k; w / 2 * h / 2], w / 2),
        ],
        _ => vec![(luma, w), (vec![k; w * h / 2], w)],
    };
    let colour = Colour {
        matrix: Matrix::Bt709,
        range: Range::Limited,
    };
    common::frame(w as u32, h as u32, layout, colour, planes)
}

#[test]
fn rendering_frames_does_not_grow_memory() {
    for choice in [ColourChoice::Gpu, ColourChoice::Cpu] {
        rendering_does_not_grow_memory(choice);
    }
}

/// One colour path: the shader's (plane textures), or libswscale's (staging buffers).
fn rendering_does_not_grow_memory(choice: ColourChoice) {
    let gpu = Gpu::headless().expect("a wgpu adapter (./dev.sh setup installs lavapipe)");
    let mut renderer = Renderer::with_colour(&gpu, choice);
    renderer.set_tile_count(&gpu, 2);
    let target = Offscreen::new(&gpu, 1280, 360);
    let views: Vec<TileView> = (0..2)
        .map(|i| TileView {
            bar: Vec::new(),
            slot: i,
            highlight: false,
            title: format!("camera {i}"),
            state: TileState::Live,
            lines: vec!["fps 15".into()],
        })
        .collect();
    let mut draw = |n: u32| {
        for k in 0..n {
            // Both layouts the shader handles, each in its own tile.
            renderer
                .upload(&gpu, 0, &frame(Layout::I420, k as u8))
                .unwrap();
            renderer
                .upload(&gpu, 1, &frame(Layout::Nv12, k as u8))
                .unwrap();
            renderer.render(&gpu, &target.texture, &views);
            Offscreen::wait(&gpu);
        }
    };
    draw(40); // pipelines, textures, allocator pools
    let before = rss_kib();
    draw(300);
    let grown_mib = rss_kib().saturating_sub(before) as f64 / 1024.0;
    eprintln!("{choice:?}: RSS grew by {grown_mib:.1} MiB over 300 frames");
    // 300 frames of 2 x 640x360 planes are ~200 MiB; a leak of any part of that per frame
    // shows. Allocator slack stays well under this.
    assert!(
        grown_mib < 24.0,
        "memory grew by {grown_mib:.1} MiB over 300 rendered frames"
    );
}
