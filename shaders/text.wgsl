// Bitmap text and solid boxes for the overlay: one instance per glyph cell, six vertices
// each, sampled from an 8x8 font atlas (128 glyphs side by side in an R8 texture).

struct Screen {
    // x, y: target size in pixels.
    size: vec4<f32>,
};

@group(0) @binding(0) var atlas: texture_2d<f32>;
@group(0) @binding(1) var<uniform> screen: Screen;

struct Glyph {
    // Top-left corner and cell size in pixels.
    @location(0) rect: vec4<f32>,
    @location(1) colour: vec4<f32>,
    // Glyph index in the atlas.
    @location(2) code: u32,
};

struct VsOut {
    @builtin(position) pos: vec4<f32>,
    @location(0) cell: vec2<f32>,
    @location(1) colour: vec4<f32>,
    @location(2) @interpolate(flat) code: u32,
};

@vertex
fn vs_main(@builtin(vertex_index) i: u32, g: Glyph) -> VsOut {
    var corners = array<vec2<f32>, 6>(
        vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 0.0), vec2<f32>(0.0, 1.0),
        vec2<f32>(0.0, 1.0), vec2<f32>(1.0, 0.0), vec2<f32>(1.0, 1.0));
    let c = corners[i];
    let px = g.rect.xy + c * g.rect.zw;
    var out: VsOut;
    out.pos = vec4<f32>(px.x / screen.size.x * 2.0 - 1.0, 1.0 - px.y / screen.size.y * 2.0, 0.0, 1.0);
    out.cell = c * 8.0;
    out.colour = g.colour;
    out.code = g.code;
    return out;
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    let x = min(u32(in.cell.x), 7u);
    let y = min(u32(in.cell.y), 7u);
    let on = textureLoad(atlas, vec2<u32>(in.code * 8u + x, y), 0).r;
    if (on < 0.5) {
        discard;
    }
    return in.colour;
}
