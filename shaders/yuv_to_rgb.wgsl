// YUV -> RGB for one video tile: a full-screen triangle drawn into the tile's viewport.
//
// The planes arrive as they left the decoder: I420 as three R8 textures, NV12 as R8 + RG8
// (U and V interleaved in `t_u`, `t_v` unused), and 10-bit layouts as 16-bit textures.
// The colour constants (matrix rows, range offsets and gains) are computed on the CPU in
// src/render/colour.rs from the standard's Kr/Kb; keep the two in sync.

struct Params {
    // Rows of the YUV -> R'G'B' matrix (xyz; w unused).
    r: vec4<f32>,
    g: vec4<f32>,
    b: vec4<f32>,
    // x: sampled value -> code value, y: luma offset, z: luma gain, w: chroma offset.
    range: vec4<f32>,
    // x: chroma gain, y: 1.0 when U and V are interleaved in t_u (zw unused).
    misc: vec4<f32>,
};

// Set per pipeline (a constant, not a uniform, so that a CPU rasteriser does not evaluate
// the conversion for every pixel and throw it away): the target stores sRGB, so the shader
// writes linear values.
override SRGB_TARGET: bool = false;

@group(0) @binding(0) var t_y: texture_2d<f32>;
@group(0) @binding(1) var t_u: texture_2d<f32>;
@group(0) @binding(2) var t_v: texture_2d<f32>;
@group(0) @binding(3) var s_linear: sampler;
@group(0) @binding(4) var<uniform> p: Params;

struct VsOut {
    @builtin(position) pos: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

@vertex
fn vs_main(@builtin(vertex_index) i: u32) -> VsOut {
    // (0,0), (2,0), (0,2) in uv: one triangle that covers the viewport.
    let uv = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    var out: VsOut;
    out.pos = vec4<f32>(uv.x * 2.0 - 1.0, 1.0 - uv.y * 2.0, 0.0, 1.0);
    out.uv = uv;
    return out;
}

// 4:2:0 chroma, bilinear at full float precision (not the sampler's filter, which some
// implementations quantise to 8 bits). Siting as H.264/H.265 default (chroma_loc 0): chroma
// samples co-sited with even luma columns, half-way between luma rows.
//
// `textureGather` fetches the 2x2 texels around a point in one call (much cheaper than four
// `textureLoad`s on a CPU rasteriser such as llvmpipe); the weights are computed here. The
// point gathered is the centre of the 2x2 block, so that the block chosen cannot differ
// from `floor(pos)` by a rounding error; ClampToEdge repeats the edge texels, like
// clamping the coordinates would.
struct Footprint {
    coord: vec2<f32>,
    f: vec2<f32>,
};

fn footprint(size: vec2<f32>, luma_pos: vec2<f32>) -> Footprint {
    let pos = vec2<f32>((luma_pos.x - 0.5) * 0.5, luma_pos.y * 0.5 - 0.5);
    let base = floor(pos);
    var out: Footprint;
    out.coord = (base + vec2<f32>(1.0)) / size;
    out.f = pos - base;
    return out;
}

// `g` as textureGather returns it: x = (i0, j1), y = (i1, j1), z = (i1, j0), w = (i0, j0).
fn bilerp(g: vec4<f32>, f: vec2<f32>) -> f32 {
    return mix(mix(g.w, g.z, f.x), mix(g.x, g.y, f.x), f.y);
}

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let lo = c / 12.92;
    let hi = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(hi, lo, c <= vec3<f32>(0.04045));
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    let y = textureSample(t_y, s_linear, in.uv).r;
    let luma_pos = in.uv * vec2<f32>(textureDimensions(t_y));
    let fp = footprint(vec2<f32>(textureDimensions(t_u)), luma_pos);
    let cb_raw = bilerp(textureGather(0, t_u, s_linear, fp.coord), fp.f);
    // NV12 / P010: V is the second channel of t_u. A select, not an `if`: Mesa 22.3's
    // lavapipe leaks memory on every texture access inside a branch (about a frame's size
    // per frame; found by scripts/soak.sh), so both are fetched and one is kept.
    let cr_raw = select(
        bilerp(textureGather(0, t_v, s_linear, fp.coord), fp.f),
        bilerp(textureGather(1, t_u, s_linear, fp.coord), fp.f),
        p.misc.y > 0.5,
    );
    let yy = (y * p.range.x - p.range.y) * p.range.z;
    let cb = (cb_raw * p.range.x - p.range.w) * p.misc.x;
    let cr = (cr_raw * p.range.x - p.range.w) * p.misc.x;
    let yuv = vec3<f32>(yy, cb, cr);
    var rgb = clamp(vec3<f32>(dot(p.r.xyz, yuv), dot(p.g.xyz, yuv), dot(p.b.xyz, yuv)), vec3<f32>(0.0), vec3<f32>(1.0));
    if (SRGB_TARGET) {
        rgb = srgb_to_linear(rgb);
    }
    return vec4<f32>(rgb, 1.0);
}
