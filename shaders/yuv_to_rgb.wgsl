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
    // x: chroma gain, y: 1.0 when U and V are interleaved in t_u, z: 1.0 for an sRGB target.
    misc: vec4<f32>,
};

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

// Chroma of 4:2:0 video, bilinear at full float precision (not the sampler's, which some
// implementations quantise to 8 bits). Siting as H.264/H.265 default (chroma_loc 0): chroma
// samples co-sited with even luma columns, half-way between luma rows.
fn chroma(t: texture_2d<f32>, luma_pos: vec2<f32>) -> vec4<f32> {
    let size = vec2<i32>(textureDimensions(t));
    let pos = vec2<f32>((luma_pos.x - 0.5) * 0.5, luma_pos.y * 0.5 - 0.5);
    let base = floor(pos);
    let f = pos - base;
    let hi = size - vec2<i32>(1);
    let p0 = clamp(vec2<i32>(base), vec2<i32>(0), hi);
    let p1 = clamp(vec2<i32>(base) + vec2<i32>(1), vec2<i32>(0), hi);
    let a = textureLoad(t, vec2<i32>(p0.x, p0.y), 0);
    let b = textureLoad(t, vec2<i32>(p1.x, p0.y), 0);
    let c = textureLoad(t, vec2<i32>(p0.x, p1.y), 0);
    let d = textureLoad(t, vec2<i32>(p1.x, p1.y), 0);
    return mix(mix(a, b, f.x), mix(c, d, f.x), f.y);
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
    let u = chroma(t_u, luma_pos);
    let v = chroma(t_v, luma_pos).r;
    let interleaved = p.misc.y > 0.5;
    let cb_raw = u.r;
    let cr_raw = select(v, u.g, interleaved);
    let yy = (y * p.range.x - p.range.y) * p.range.z;
    let cb = (cb_raw * p.range.x - p.range.w) * p.misc.x;
    let cr = (cr_raw * p.range.x - p.range.w) * p.misc.x;
    let yuv = vec3<f32>(yy, cb, cr);
    var rgb = clamp(vec3<f32>(dot(p.r.xyz, yuv), dot(p.g.xyz, yuv), dot(p.b.xyz, yuv)), vec3<f32>(0.0), vec3<f32>(1.0));
    if (p.misc.z > 0.5) {
        rgb = srgb_to_linear(rgb);
    }
    return vec4<f32>(rgb, 1.0);
}
