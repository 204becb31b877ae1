//! wgpu rendering: decoded planes uploaded as textures, YUV→RGB in `shaders/yuv_to_rgb.wgsl`,
//! letterboxed tiles in a [`crate::layout::Layout`] with status cards, and a text overlay from an
//! 8x8 bitmap font.
//!
//! Textures are kept per camera (a *slot*); what is drawn is a list of [`TileView`]s, each
//! naming its slot, in layout order: a page of a camera wall shows some slots, and a hidden
//! camera keeps its last picture for when its page comes back.
//!
//! The renderer draws into any `&wgpu::Texture`: the window passes its surface texture,
//! benchmarks and tests an offscreen texture ([`Offscreen`]). Two colour paths
//! ([`ColourPath`]): on a GPU, planes are written with `queue.write_texture` at the decoder's
//! strides (no repacking, no CPU colour work) and converted by the shader, a tile's textures
//! reused frame to frame and rebuilt only when the frame's shape changes; on a CPU adapter,
//! libswscale converts each new picture at its tile's size and the target only copies it
//! ([`cpu`]).

pub(crate) mod colour;
pub(crate) mod cpu;
pub(crate) mod window;

use std::collections::HashMap;

use wgpu::util::DeviceExt;

use crate::frame::{Frame, Layout};
pub use crate::layout::Layout as TileLayout;
use crate::layout::{self, letterbox, Rect};
pub use cpu::{ColourChoice, ColourPath};

/// Why rendering cannot start or go on.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// No adapter at all (no GPU and no software Vulkan such as Mesa's lavapipe).
    #[error("no GPU adapter found (install a Vulkan driver, or mesa-vulkan-drivers for software rendering)")]
    NoAdapter,
    /// The device could not be created.
    #[error("cannot open the GPU device: {0}")]
    Device(#[from] wgpu::RequestDeviceError),
    /// A frame the adapter cannot show.
    #[error("{0}")]
    Unsupported(String),
    /// Reading back a rendered image failed.
    #[error("reading the rendered image back failed: {0}")]
    Readback(String),
    /// No display server to open a window on.
    #[error("no display to open a window on ({0}); for a headless run use `eufy-hw bench`, or `eufy-hw demo --headless`")]
    NoDisplay(String),
    /// The window could not be created or drawn into.
    #[error("cannot create the window: {0}")]
    Window(String),
}

/// An adapter, its device and queue.
pub struct Gpu {
    /// The adapter.
    pub adapter: wgpu::Adapter,
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// "name (backend, type)", for logs and reports.
    pub description: String,
}

impl Gpu {
    /// Opens the best adapter (compatible with `surface` when given).
    pub fn new(
        instance: &wgpu::Instance,
        surface: Option<&wgpu::Surface<'_>>,
    ) -> Result<Gpu, RenderError> {
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: surface,
        }))
        .ok_or(RenderError::NoAdapter)?;
        let info = adapter.get_info();
        // 16-bit normalised textures for 10-bit video, where the adapter has them.
        let features = adapter.features() & wgpu::Features::TEXTURE_FORMAT_16BIT_NORM;
        let (device, queue) = pollster::block_on(adapter.request_device(
            &wgpu::DeviceDescriptor {
                label: Some("eufy-hw"),
                required_features: features,
                required_limits:
                    wgpu::Limits::downlevel_defaults().using_resolution(adapter.limits()),
                memory_hints: wgpu::MemoryHints::Performance,
            },
            None,
        ))?;
        let description = format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type);
        tracing::info!("GPU: {description}");
        Ok(Gpu {
            adapter,
            device,
            queue,
            description,
        })
    }

    /// An instance with the primary backends, and a device with no surface.
    pub fn headless() -> Result<Gpu, RenderError> {
        let instance = wgpu::Instance::new(&wgpu::InstanceDescriptor {
            backends: wgpu::Backends::PRIMARY,
            ..Default::default()
        });
        Gpu::new(&instance, None)
    }
}

/// Whether a tile's picture is live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TileState {
    /// Pictures are coming.
    Live,
    /// No live picture (connecting, restarting, waiting for its station's turn, offline):
    /// this text on a card, over the last picture dimmed when there is one, so that a
    /// picture that stopped never looks live.
    Waiting(String),
}

/// Text and state of one tile for a frame of the display.
#[derive(Debug, Clone)]
pub struct TileView {
    /// The texture slot (camera) whose picture this tile shows.
    pub slot: usize,
    /// Drawn with a coloured frame (the camera of an event, in `highlight` focus mode).
    pub highlight: bool,
    /// Title (camera serial).
    pub title: String,
    /// State.
    pub state: TileState,
    /// Overlay lines (empty when the overlay is off).
    pub lines: Vec<String>,
    /// The action bar of a focused camera ([`crate::layout::bar_buttons`]), empty when
    /// hidden.
    pub bar: Vec<BarButton>,
}

/// One button of the action bar.
#[derive(Debug, Clone, PartialEq)]
pub struct BarButton {
    /// Its label.
    pub label: String,
    /// Drawn lit (held, on).
    pub on: bool,
}

struct Planes {
    layout: Layout,
    width: u32,
    height: u32,
    textures: Vec<wgpu::Texture>,
    bind_group: wgpu::BindGroup,
}

struct Tile {
    planes: Option<Planes>,
    uniform: wgpu::Buffer,
    picture: Option<(u32, u32)>,
    /// The CPU colour path's picture.
    cpu: cpu::CpuTile,
}

/// Where the renderer's time went since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RenderTimings {
    /// CPU path: converting pictures (libswscale).
    pub convert: std::time::Duration,
    /// Pictures converted.
    pub converted: u64,
    /// Recording and submitting the GPU's work (uploads and copies included; the GPU's own
    /// execution is not: on a CPU adapter it runs in the driver's threads); drawing into a
    /// window's own pixels, copying pictures into them and drawing the overlay.
    pub submit: std::time::Duration,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GlyphInstance {
    rect: [f32; 4],
    colour: [f32; 4],
    code: u32,
    _pad: [u32; 3],
}

/// The renderer: pipelines per target format, tiles, overlay.
pub struct Renderer {
    video_layout: wgpu::BindGroupLayout,
    video_shader: wgpu::ShaderModule,
    video_pipelines: HashMap<wgpu::TextureFormat, wgpu::RenderPipeline>,
    text_layout: wgpu::BindGroupLayout,
    text_shader: wgpu::ShaderModule,
    text_pipelines: HashMap<wgpu::TextureFormat, wgpu::RenderPipeline>,
    text_bind: wgpu::BindGroup,
    screen: wgpu::Buffer,
    sampler: wgpu::Sampler,
    tiles: Vec<Tile>,
    layout: layout::Layout,
    /// Picture-in-picture insets over the layout (the last tiles).
    insets: Option<layout::Insets>,
    /// Darkens the whole picture (0: none, 1: black), e.g. a night schedule.
    shade: f32,
    has_16bit: bool,
    colour_path: ColourPath,
    timings: RenderTimings,
    /// The font atlas on the CPU, for drawing into a window's own pixels.
    atlas: Vec<u8>,
    /// What the window's own pixels last showed.
    shown: Option<Shown>,
}

/// What a window's own pixels show: their size, each tile's slot and picture's place, and
/// whether anything was drawn over the pictures.
type Shown = ((u32, u32), Vec<(usize, Option<Rect>)>, bool);

/// The WGSL source of the video shader (validated by tests with naga).
pub const VIDEO_SHADER: &str = include_str!("../../shaders/yuv_to_rgb.wgsl");
/// The WGSL source of the text shader.
pub const TEXT_SHADER: &str = include_str!("../../shaders/text.wgsl");

fn texture_entry(binding: u32) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Texture {
            sample_type: wgpu::TextureSampleType::Float { filterable: true },
            view_dimension: wgpu::TextureViewDimension::D2,
            multisampled: false,
        },
        count: None,
    }
}

fn uniform_entry(binding: u32, visibility: wgpu::ShaderStages) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

impl Renderer {
    /// A renderer on `gpu`, its colour path chosen by the adapter.
    pub fn new(gpu: &Gpu) -> Renderer {
        Renderer::with_colour(gpu, ColourChoice::Auto)
    }

    /// A renderer on `gpu` with the colour path `choice` (`Auto`: the CPU path on a CPU
    /// adapter).
    ///
    /// Long because wgpu's set-up is a sequence of descriptors (layouts, samplers, the font
    /// atlas and its upload), each used once; split up, they would only be passed around.
    pub fn with_colour(gpu: &Gpu, choice: ColourChoice) -> Renderer {
        let device = &gpu.device;
        let video_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("video"),
            entries: &[
                texture_entry(0),
                texture_entry(1),
                texture_entry(2),
                wgpu::BindGroupLayoutEntry {
                    binding: 3,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
                uniform_entry(4, wgpu::ShaderStages::FRAGMENT),
            ],
        });
        let video_shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("yuv_to_rgb.wgsl"),
            source: wgpu::ShaderSource::Wgsl(VIDEO_SHADER.into()),
        });
        let text_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("text"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: false },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                uniform_entry(1, wgpu::ShaderStages::VERTEX),
            ],
        });
        let text_shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("text.wgsl"),
            source: wgpu::ShaderSource::Wgsl(TEXT_SHADER.into()),
        });
        let atlas = device.create_texture_with_data(
            &gpu.queue,
            &wgpu::TextureDescriptor {
                label: Some("font atlas"),
                size: wgpu::Extent3d {
                    width: 128 * 8,
                    height: 8,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::R8Unorm,
                usage: wgpu::TextureUsages::TEXTURE_BINDING,
                view_formats: &[],
            },
            wgpu::util::TextureDataOrder::LayerMajor,
            &font_atlas(),
        );
        let screen = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("screen"),
            size: 16,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let text_bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("text"),
            layout: &text_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(
                        &atlas.create_view(&Default::default()),
                    ),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: screen.as_entire_binding(),
                },
            ],
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("video"),
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        Renderer {
            video_layout,
            video_shader,
            video_pipelines: HashMap::new(),
            text_layout,
            text_shader,
            text_pipelines: HashMap::new(),
            text_bind,
            screen,
            sampler,
            tiles: Vec::new(),
            layout: layout::Layout::Auto,
            insets: None,
            shade: 0.0,
            has_16bit: gpu
                .device
                .features()
                .contains(wgpu::Features::TEXTURE_FORMAT_16BIT_NORM),
            colour_path: choice.path(gpu.adapter.get_info().device_type),
            timings: RenderTimings::default(),
            atlas: font_atlas(),
            shown: None,
        }
    }

    /// The colour path in use.
    pub fn colour_path(&self) -> ColourPath {
        self.colour_path
    }

    /// Where the renderer's time went since it was made.
    pub fn timings(&self) -> RenderTimings {
        self.timings
    }

    /// Sets the number of tiles (keeps the existing ones).
    pub fn set_tile_count(&mut self, gpu: &Gpu, n: usize) {
        while self.tiles.len() < n {
            self.tiles.push(Tile {
                planes: None,
                uniform: gpu.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("tile params"),
                    size: std::mem::size_of::<colour::Params>() as u64,
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                picture: None,
                cpu: cpu::CpuTile::default(),
            });
        }
        self.tiles.truncate(n);
    }

    /// Uploads `frame` into tile `i`.
    pub fn upload(&mut self, gpu: &Gpu, i: usize, frame: &Frame) -> Result<(), RenderError> {
        if i >= self.tiles.len() {
            self.set_tile_count(gpu, i + 1);
        }
        if self.colour_path == ColourPath::Cpu {
            // Converted when drawn, at the tile's size then.
            let tile = &mut self.tiles[i];
            tile.cpu.frame = Some(frame.clone());
            tile.cpu.dirty = true;
            tile.cpu.generation = tile.cpu.generation.wrapping_add(1);
            tile.picture = Some((frame.width, frame.height));
            return Ok(());
        }
        let has_16bit = self.has_16bit;
        let shape_changed = self.tiles[i].planes.as_ref().is_none_or(|p| {
            (p.layout, p.width, p.height) != (frame.layout, frame.width, frame.height)
        });
        if shape_changed {
            let planes = self.create_planes(gpu, i, frame, has_16bit)?;
            self.tiles[i].planes = Some(planes);
        }
        let tile = &mut self.tiles[i];
        let Some(planes) = tile.planes.as_ref() else {
            return Ok(());
        };
        for (p, texture) in planes
            .textures
            .iter()
            .enumerate()
            .take(frame.layout.planes())
        {
            let (w, h) = frame.layout.plane_size(p, frame.width, frame.height);
            gpu.queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d::ZERO,
                    aspect: wgpu::TextureAspect::All,
                },
                frame.plane(p),
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(frame.stride(p) as u32),
                    rows_per_image: Some(h),
                },
                wgpu::Extent3d {
                    width: w,
                    height: h,
                    depth_or_array_layers: 1,
                },
            );
        }
        let params = colour::params(frame.colour, frame.layout);
        gpu.queue
            .write_buffer(&tile.uniform, 0, bytemuck::bytes_of(&params));
        tile.picture = Some((frame.width, frame.height));
        Ok(())
    }

    fn create_planes(
        &self,
        gpu: &Gpu,
        i: usize,
        frame: &Frame,
        has_16bit: bool,
    ) -> Result<Planes, RenderError> {
        use wgpu::TextureFormat as F;
        let (luma, chroma) = match frame.layout {
            Layout::I420 => (F::R8Unorm, F::R8Unorm),
            Layout::Nv12 => (F::R8Unorm, F::Rg8Unorm),
            Layout::P010 if has_16bit => (F::R16Unorm, F::Rg16Unorm),
            Layout::I420P10 if has_16bit => (F::R16Unorm, F::R16Unorm),
            other => {
                return Err(RenderError::Unsupported(format!(
                    "{other:?} frames need 16-bit textures, which this adapter lacks"
                )))
            }
        };
        let make = |p: usize, format: F| {
            let (w, h) = frame.layout.plane_size(p, frame.width, frame.height);
            gpu.device.create_texture(&wgpu::TextureDescriptor {
                label: Some("plane"),
                size: wgpu::Extent3d {
                    width: w.max(1),
                    height: h.max(1),
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            })
        };
        let mut textures = vec![make(0, luma), make(1, chroma)];
        if frame.layout.planes() == 3 {
            textures.push(make(2, chroma));
        }
        let views: Vec<wgpu::TextureView> = textures
            .iter()
            .map(|t| t.create_view(&Default::default()))
            .collect();
        let v_view = views.get(2).unwrap_or(&views[1]);
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("tile"),
            layout: &self.video_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(&views[0]),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(&views[1]),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(v_view),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: wgpu::BindingResource::Sampler(&self.sampler),
                },
                wgpu::BindGroupEntry {
                    binding: 4,
                    resource: self.tiles[i].uniform.as_entire_binding(),
                },
            ],
        });
        tracing::debug!(tile = i, layout = ?frame.layout, frame.width, frame.height, "plane textures (re)built");
        Ok(Planes {
            layout: frame.layout,
            width: frame.width,
            height: frame.height,
            textures,
            bind_group,
        })
    }

    /// Builds the video and text pipelines for `format` the first time it is drawn to.
    fn ensure_pipelines(&mut self, device: &wgpu::Device, format: wgpu::TextureFormat) {
        if !self.video_pipelines.contains_key(&format) {
            let constants: HashMap<String, f64> = [(
                "SRGB_TARGET".to_owned(),
                f64::from(u8::from(format.is_srgb())),
            )]
            .into();
            let p = pipeline(
                device,
                "video",
                &self.video_layout,
                &self.video_shader,
                &[],
                format.into(),
                &constants,
            );
            self.video_pipelines.insert(format, p);
        }
        if !self.text_pipelines.contains_key(&format) {
            let glyphs = wgpu::VertexBufferLayout {
                array_stride: std::mem::size_of::<GlyphInstance>() as u64,
                step_mode: wgpu::VertexStepMode::Instance,
                attributes: &wgpu::vertex_attr_array![0 => Float32x4, 1 => Float32x4, 2 => Uint32],
            };
            let target = wgpu::ColorTargetState {
                format,
                blend: Some(wgpu::BlendState::ALPHA_BLENDING),
                write_mask: wgpu::ColorWrites::ALL,
            };
            let p = pipeline(
                device,
                "text",
                &self.text_layout,
                &self.text_shader,
                &[glyphs],
                target,
                &HashMap::new(),
            );
            self.text_pipelines.insert(format, p);
        }
    }

    /// Picture-in-picture insets over the layout: the last tiles drawn as insets, framed,
    /// with a close mark (default: none).
    pub fn set_insets(&mut self, insets: Option<layout::Insets>) {
        self.insets = insets;
    }

    /// How the tiles are arranged (default: an automatic grid).
    pub fn set_layout(&mut self, layout: layout::Layout) {
        self.layout = layout;
    }

    /// Darkens everything drawn (0: not at all, 1: black): a screen's night mode.
    pub fn set_shade(&mut self, shade: f32) {
        self.shade = shade.clamp(0.0, 1.0);
    }

    /// Where slot `slot`'s picture goes in `cell` (None: no picture).
    pub fn picture_rect(&self, slot: usize, cell: Rect) -> Option<Rect> {
        let (pw, ph) = self.tiles.get(slot)?.picture?;
        let r = letterbox(cell, pw, ph);
        (r.w > 0 && r.h > 0).then_some(r)
    }

    /// Draws the tiles (picture or state card) in the layout's cells, and the overlay text,
    /// into `target`.
    pub fn render(&mut self, gpu: &Gpu, target: &wgpu::Texture, tiles: &[TileView]) {
        let started = std::time::Instant::now();
        let format = target.format();
        let (width, height) = (target.width(), target.height());
        if self.colour_path == ColourPath::Cpu && !cpu::target_ok(format, target.usage()) {
            self.back_to_gpu(gpu, format);
        }
        let view = target.create_view(&Default::default());
        let cells = layout::screen_cells(self.layout, self.insets, tiles.len(), width, height);
        let glyphs = overlay_glyphs(self, tiles, &cells, (width, height));
        gpu.queue.write_buffer(
            &self.screen,
            0,
            bytemuck::cast_slice(&[width as f32, height as f32, 0.0, 0.0]),
        );
        let glyph_buffer = (!glyphs.is_empty()).then(|| {
            gpu.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("glyphs"),
                    contents: bytemuck::cast_slice(&glyphs),
                    usage: wgpu::BufferUsages::VERTEX,
                })
        });
        self.ensure_pipelines(&gpu.device, format);
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("frame"),
            });
        let cpu_path = self.colour_path == ColourPath::Cpu;
        if cpu_path {
            // Pictures converted where new, the target cleared where none goes (on a CPU
            // adapter a clear writes every pixel), then each copied in at its place; the
            // overlay goes on top.
            let ready = self.convert_pictures(gpu, format, tiles, &cells);
            let covered: u64 = ready
                .iter()
                .map(|(_, r)| u64::from(r.w) * u64::from(r.h))
                .sum();
            if covered < u64::from(width) * u64::from(height) {
                drop(pass(
                    &mut encoder,
                    &view,
                    wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                ));
            }
            self.copy_pictures(&mut encoder, target, &ready);
        }
        // On the CPU path with nothing to draw over the pictures, no pass at all.
        if !cpu_path || glyph_buffer.is_some() {
            let load = if cpu_path {
                wgpu::LoadOp::Load
            } else {
                wgpu::LoadOp::Clear(wgpu::Color::BLACK)
            };
            let mut pass = pass(&mut encoder, &view, load);
            if !cpu_path {
                if let Some(p) = self.video_pipelines.get(&format) {
                    pass.set_pipeline(p);
                }
                // Pictures that are not live are drawn too, and dimmed by the overlay.
                for (t, cell) in tiles.iter().zip(&cells) {
                    let planes = self.tiles.get(t.slot).and_then(|tile| tile.planes.as_ref());
                    let (Some(planes), Some(r)) = (planes, self.picture_rect(t.slot, *cell)) else {
                        continue;
                    };
                    pass.set_viewport(r.x as f32, r.y as f32, r.w as f32, r.h as f32, 0.0, 1.0);
                    pass.set_scissor_rect(r.x, r.y, r.w, r.h);
                    pass.set_bind_group(0, &planes.bind_group, &[]);
                    pass.draw(0..3, 0..1);
                }
            }
            if let (Some(buf), Some(p)) = (&glyph_buffer, self.text_pipelines.get(&format)) {
                pass.set_viewport(0.0, 0.0, width as f32, height as f32, 0.0, 1.0);
                pass.set_scissor_rect(0, 0, width, height);
                pass.set_pipeline(p);
                pass.set_bind_group(0, &self.text_bind, &[]);
                pass.set_vertex_buffer(0, buf.slice(..));
                pass.draw(0..6, 0..glyphs.len() as u32);
            }
        }
        gpu.queue.submit(Some(encoder.finish()));
        self.timings.submit += started.elapsed();
    }

    /// CPU path, into a window's own pixels (`0x00RRGGBB` words, rows of `width`; softbuffer):
    /// new pictures converted at their tile's size (kept per tile, for whole redraws) and
    /// copied to their places, the overlay drawn on top. When
    /// `kept` (the pixels still hold what was last drawn) and nothing but pictures changed,
    /// only the new pictures are written. Returns the places written (the damage).
    pub fn render_pixels(
        &mut self,
        pixels: &mut [u32],
        (width, height): (u32, u32),
        tiles: &[TileView],
        kept: bool,
    ) -> Vec<Rect> {
        let started = std::time::Instant::now();
        let size = (width, height);
        let cells = layout::screen_cells(self.layout, self.insets, tiles.len(), width, height);
        let glyphs = overlay_glyphs(self, tiles, &cells, size);
        let places: Vec<(usize, Option<Rect>)> = tiles
            .iter()
            .zip(&cells)
            .map(|(t, c)| (t.slot, self.picture_rect(t.slot, *c)))
            .collect();
        // Text over a picture is drawn again over each new picture, and text that went must
        // be painted over: with anything drawn over the pictures, everything is drawn.
        let same = self
            .shown
            .as_ref()
            .is_some_and(|(s, p, over)| *s == size && *p == places && !over && glyphs.is_empty());
        let full = !kept || !same;
        if full {
            pixels.fill(0);
        }
        let mut damage = Vec::new();
        let mut converting = std::time::Duration::ZERO;
        for &(slot, place) in &places {
            let (Some(r), Some(tile)) = (place, self.tiles.get_mut(slot)) else {
                continue;
            };
            let Some((data, new, spent)) = tile.cpu.window_pixels((r.w, r.h)) else {
                continue;
            };
            if !spent.is_zero() {
                converting += spent;
                self.timings.converted += 1;
            }
            if !(new || full) {
                continue;
            }
            let row = r.w as usize * 4;
            for (y, src) in data.chunks_exact(row).enumerate() {
                let at = (r.y as usize + y) * width as usize + r.x as usize;
                if let Some(dst) = pixels.get_mut(at..at + r.w as usize) {
                    let dst: &mut [u8] = bytemuck::cast_slice_mut(dst);
                    dst.copy_from_slice(src);
                }
            }
            damage.push(r);
        }
        if full {
            cpu::draw_glyphs(pixels, size, &glyphs, &self.atlas);
            damage = vec![Rect {
                x: 0,
                y: 0,
                w: width,
                h: height,
            }];
        }
        self.shown = Some((size, places, !glyphs.is_empty()));
        self.timings.convert += converting;
        self.timings.submit += started.elapsed().saturating_sub(converting);
        damage
    }

    /// CPU path: each tile's picture converted when new or at a new size; the slots and
    /// places of those ready to copy.
    fn convert_pictures(
        &mut self,
        gpu: &Gpu,
        format: wgpu::TextureFormat,
        tiles: &[TileView],
        cells: &[Rect],
    ) -> Vec<(usize, Rect)> {
        let mut ready = Vec::new();
        for (k, (t, cell)) in tiles.iter().zip(cells).enumerate() {
            // One converted picture per camera: a camera on the page and in an inset too is
            // drawn in the inset (the later one) only on this path.
            if tiles[k + 1..].iter().any(|later| later.slot == t.slot) {
                continue;
            }
            let Some(r) = self.picture_rect(t.slot, *cell) else {
                continue;
            };
            let Some(tile) = self.tiles.get_mut(t.slot) else {
                continue;
            };
            let Some(spent) = tile.cpu.prepare(gpu, (r.w, r.h), format) else {
                continue;
            };
            if !spent.is_zero() {
                self.timings.convert += spent;
                self.timings.converted += 1;
            }
            ready.push((t.slot, r));
        }
        ready
    }

    /// CPU path: the converted pictures copied into their places in `target`.
    fn copy_pictures(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        target: &wgpu::Texture,
        ready: &[(usize, Rect)],
    ) {
        for &(slot, r) in ready {
            let Some((buffer, padded_row)) = self.tiles.get(slot).and_then(|t| t.cpu.pixels())
            else {
                continue;
            };
            encoder.copy_buffer_to_texture(
                wgpu::TexelCopyBufferInfo {
                    buffer,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(padded_row),
                        rows_per_image: Some(r.h),
                    },
                },
                wgpu::TexelCopyTextureInfo {
                    texture: target,
                    mip_level: 0,
                    origin: wgpu::Origin3d {
                        x: r.x,
                        y: r.y,
                        z: 0,
                    },
                    aspect: wgpu::TextureAspect::All,
                },
                wgpu::Extent3d {
                    width: r.w,
                    height: r.h,
                    depth_or_array_layers: 1,
                },
            );
        }
    }

    /// The CPU path cannot draw into this target (not 8-bit RGBA/BGRA, or not copyable
    /// into): the shader's path from now on, with the pictures held so far uploaded.
    fn back_to_gpu(&mut self, gpu: &Gpu, format: wgpu::TextureFormat) {
        tracing::warn!(
            ?format,
            "the CPU colour path cannot draw into this target; converting on the GPU instead"
        );
        self.colour_path = ColourPath::Gpu;
        for i in 0..self.tiles.len() {
            if let Some(frame) = self.tiles[i].cpu.frame.take() {
                if let Err(e) = self.upload(gpu, i, &frame) {
                    tracing::warn!(tile = i, "{e}");
                }
            }
        }
    }
}

/// A render pass into `view` that starts with `load`.
fn pass<'a>(
    encoder: &'a mut wgpu::CommandEncoder,
    view: &wgpu::TextureView,
    load: wgpu::LoadOp<wgpu::Color>,
) -> wgpu::RenderPass<'a> {
    encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: Some("frame"),
        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
            view,
            resolve_target: None,
            ops: wgpu::Operations {
                load,
                store: wgpu::StoreOp::Store,
            },
        })],
        depth_stencil_attachment: None,
        timestamp_writes: None,
        occlusion_query_set: None,
    })
}

/// A render pipeline of `shader` (`vs_main`, `fs_main`) with one bind group.
fn pipeline(
    device: &wgpu::Device,
    label: &str,
    layout: &wgpu::BindGroupLayout,
    shader: &wgpu::ShaderModule,
    buffers: &[wgpu::VertexBufferLayout<'_>],
    target: wgpu::ColorTargetState,
    constants: &HashMap<String, f64>,
) -> wgpu::RenderPipeline {
    let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[layout],
        push_constant_ranges: &[],
    });
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(label),
        layout: Some(&pl),
        vertex: wgpu::VertexState {
            module: shader,
            entry_point: Some("vs_main"),
            compilation_options: Default::default(),
            buffers,
        },
        fragment: Some(wgpu::FragmentState {
            module: shader,
            entry_point: Some("fs_main"),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                ..Default::default()
            },
            targets: &[Some(target)],
        }),
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        multiview: None,
        cache: None,
    })
}

/// The glyph that is a solid block (backgrounds of text and cards).
const SOLID: u32 = 127;

/// How much of a picture that is not live is covered by black (0.65: a third of it shows).
pub const DIM: f32 = 0.65;

fn font_atlas() -> Vec<u8> {
    let mut atlas = vec![0u8; 128 * 8 * 8];
    for (code, rows) in font8x8::legacy::BASIC_LEGACY.iter().enumerate() {
        for (y, bits) in rows.iter().enumerate() {
            for x in 0..8 {
                let on = code as u32 == SOLID || (bits >> x) & 1 == 1;
                atlas[y * 1024 + code * 8 + x] = if on { 255 } else { 0 };
            }
        }
    }
    atlas
}

fn push_text(
    out: &mut Vec<GlyphInstance>,
    text: &str,
    x: f32,
    y: f32,
    scale: f32,
    colour: [f32; 4],
) {
    for (k, ch) in text.chars().enumerate() {
        let code = if ch.is_ascii() && !ch.is_ascii_control() {
            ch as u32
        } else {
            u32::from(b'?')
        };
        if code == u32::from(b' ') {
            continue;
        }
        out.push(GlyphInstance {
            rect: [x + k as f32 * 8.0 * scale, y, 8.0 * scale, 8.0 * scale],
            colour,
            code,
            _pad: [0; 3],
        });
    }
}

fn push_box(out: &mut Vec<GlyphInstance>, r: [f32; 4], colour: [f32; 4]) {
    out.push(GlyphInstance {
        rect: r,
        colour,
        code: SOLID,
        _pad: [0; 3],
    });
}

/// The overlay of every tile (status cards, overlay lines, highlight frames) and the
/// night's shade, as glyph instances for the text shader (or the CPU path's drawing).
fn overlay_glyphs(
    renderer: &Renderer,
    tiles: &[TileView],
    cells: &[Rect],
    (width, height): (u32, u32),
) -> Vec<GlyphInstance> {
    let mut out = Vec::new();
    let scale = if height >= 1000 { 2.0 } else { 1.0 };
    let first_inset = tiles
        .len()
        .saturating_sub(renderer.insets.map_or(0, |i| i.count));
    for (k, (t, &c)) in tiles.iter().zip(cells).enumerate() {
        if c.w == 0 || c.h == 0 {
            continue;
        }
        if k >= first_inset {
            // An inset: framed against the page, with its close mark.
            let (x, y, w, h) = (c.x as f32, c.y as f32, c.w as f32, c.h as f32);
            let b = 2.0 * scale;
            for r in [
                [x - b, y - b, w + 2.0 * b, b],
                [x - b, y + h, w + 2.0 * b, b],
                [x - b, y, b, h],
                [x + w, y, b, h],
            ] {
                push_box(&mut out, r, [0.95, 0.95, 0.95, 1.0]);
            }
        }
        let picture = renderer.picture_rect(t.slot, c).is_some();
        let status = match &t.state {
            TileState::Live if picture => None,
            TileState::Live => Some("starting..."),
            TileState::Waiting(text) => Some(text.as_str()),
        };
        if let Some(status) = status {
            status_card(&mut out, c, &t.title, status, picture, scale);
        }
        overlay_lines(&mut out, c, &t.lines, scale);
        action_bar(&mut out, c, &t.bar, scale);
        if k >= first_inset {
            let m = layout::close_mark(c);
            push_box(
                &mut out,
                [m.x as f32, m.y as f32, m.w as f32, m.h as f32],
                [0.0, 0.0, 0.0, 0.7],
            );
            let s = scale * 2.0;
            let x = m.x as f32 + (m.w as f32 - 8.0 * s) / 2.0;
            let y = m.y as f32 + (m.h as f32 - 8.0 * s) / 2.0;
            push_text(&mut out, "X", x, y, s, [1.0, 1.0, 1.0, 1.0]);
        }
        if t.highlight {
            let (x, y, w, h) = (c.x as f32, c.y as f32, c.w as f32, c.h as f32);
            let b = 4.0 * scale;
            for r in [
                [x, y, w, b],
                [x, y + h - b, w, b],
                [x, y, b, h],
                [x + w - b, y, b, h],
            ] {
                push_box(&mut out, r, HIGHLIGHT);
            }
        }
    }
    if renderer.shade > 0.0 {
        let (w, h) = (width as f32, height as f32);
        push_box(&mut out, [0.0, 0.0, w, h], [0.0, 0.0, 0.0, renderer.shade]);
    }
    out
}

/// Characters of a line that fit in a cell `width` wide.
fn fitting(width: u32, scale: f32) -> usize {
    ((width as f32 - 16.0) / (8.0 * scale)).max(1.0) as usize
}

/// A tile's state card: over its last picture dimmed (`picture`), else on a plain card —
/// never a frozen picture that looks live — with the title and the status centred.
fn status_card(
    out: &mut Vec<GlyphInstance>,
    c: Rect,
    title: &str,
    status: &str,
    picture: bool,
    scale: f32,
) {
    let colour = if picture {
        [0.0, 0.0, 0.0, DIM]
    } else {
        [0.12, 0.13, 0.16, 1.0]
    };
    push_box(
        out,
        [
            c.x as f32 + 2.0,
            c.y as f32 + 2.0,
            c.w as f32 - 4.0,
            c.h as f32 - 4.0,
        ],
        colour,
    );
    let line = 10.0 * scale;
    let max_chars = fitting(c.w, scale);
    let cy = c.y as f32 + c.h as f32 / 2.0 - line;
    for (k, s) in [title, status].iter().enumerate() {
        let s: String = s.chars().take(max_chars).collect();
        // Centred on its characters (a name like "Haustür" has more bytes than glyphs).
        let x = c.x as f32 + (c.w as f32 - s.chars().count() as f32 * 8.0 * scale) / 2.0;
        push_text(
            out,
            &s,
            x,
            cy + k as f32 * line * 1.5,
            scale,
            [0.9, 0.9, 0.9, 1.0],
        );
    }
}

/// The stats overlay's lines in a tile's top-left corner, on a dark box.
fn overlay_lines(out: &mut Vec<GlyphInstance>, c: Rect, lines: &[String], scale: f32) {
    if lines.is_empty() {
        return;
    }
    let line = 10.0 * scale;
    let max_chars = fitting(c.w, scale);
    // As many lines as the cell has room for: never over the next tile.
    let rows = ((c.h as f32 - 10.0) / line).max(0.0) as usize;
    let lines = &lines[..lines.len().min(rows)];
    if lines.is_empty() {
        return;
    }
    let longest = lines
        .iter()
        .map(|l| l.chars().count().min(max_chars))
        .max()
        .unwrap_or(0) as f32;
    let (x, y) = (c.x as f32 + 6.0, c.y as f32 + 6.0);
    push_box(
        out,
        [
            x - 3.0,
            y - 3.0,
            longest * 8.0 * scale + 6.0,
            lines.len() as f32 * line + 4.0,
        ],
        [0.0, 0.0, 0.0, 0.6],
    );
    for (k, l) in lines.iter().enumerate() {
        let l: String = l.chars().take(max_chars).collect();
        push_text(out, &l, x, y + k as f32 * line, scale, [1.0, 1.0, 0.4, 1.0]);
    }
}

/// A focused camera's buttons along the bottom of its cell, labels centred.
fn action_bar(out: &mut Vec<GlyphInstance>, c: Rect, bar: &[BarButton], scale: f32) {
    for (b, r) in bar.iter().zip(crate::layout::bar_buttons(c, bar.len())) {
        let colour = if b.on { BAR_ON } else { [0.1, 0.1, 0.12, 0.85] };
        push_box(
            out,
            [r.x as f32, r.y as f32, r.w as f32, r.h as f32],
            colour,
        );
        // Twice the overlay's size where the label fits so (read from across a hall).
        let fits = |scale: f32| ((r.w as f32 - 8.0) / (8.0 * scale)).max(1.0) as usize;
        let scale = if b.label.chars().count() <= fits(scale * 2.0) {
            scale * 2.0
        } else {
            scale
        };
        let label: String = b.label.chars().take(fits(scale)).collect();
        let x = r.x as f32 + (r.w as f32 - label.chars().count() as f32 * 8.0 * scale) / 2.0;
        let y = r.y as f32 + (r.h as f32 - 8.0 * scale) / 2.0;
        push_text(out, &label, x, y, scale, [1.0, 1.0, 1.0, 1.0]);
    }
}

/// A lit button of the action bar (talking).
pub const BAR_ON: [f32; 4] = [0.9, 0.2, 0.1, 0.95];

/// The frame around a highlighted tile.
pub const HIGHLIGHT: [f32; 4] = [1.0, 0.25, 0.1, 1.0];

/// An offscreen target with read-back, for benchmarks, tests and snapshots.
pub struct Offscreen {
    /// The texture rendered into.
    pub texture: wgpu::Texture,
    /// Its view.
    pub view: wgpu::TextureView,
    /// Its format (`Rgba8Unorm` unless made [`Offscreen::with_format`]).
    pub format: wgpu::TextureFormat,
    /// Width and height.
    pub size: (u32, u32),
    buffer: wgpu::Buffer,
    padded_row: u32,
}

impl Offscreen {
    /// An RGBA8 target of `width` x `height`.
    pub fn new(gpu: &Gpu, width: u32, height: u32) -> Offscreen {
        Offscreen::with_format(gpu, width, height, wgpu::TextureFormat::Rgba8Unorm)
    }

    /// A target of a 4-byte RGBA `format` (e.g. `Rgba8UnormSrgb`, like many window
    /// surfaces); [`Offscreen::read`] returns the bytes as stored.
    pub fn with_format(
        gpu: &Gpu,
        width: u32,
        height: u32,
        format: wgpu::TextureFormat,
    ) -> Offscreen {
        let texture = gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("offscreen"),
            size: wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT
                | wgpu::TextureUsages::COPY_SRC
                | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let padded_row = (width * 4).div_ceil(256) * 256;
        let buffer = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: u64::from(padded_row) * u64::from(height),
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        let view = texture.create_view(&Default::default());
        Offscreen {
            texture,
            view,
            format,
            size: (width, height),
            buffer,
            padded_row,
        }
    }

    /// Waits until the GPU has finished everything submitted so far.
    pub fn wait(gpu: &Gpu) {
        let _ = gpu.device.poll(wgpu::Maintain::Wait);
    }

    /// Copies the image back: RGBA rows, `width * 4` bytes each.
    pub fn read(&self, gpu: &Gpu) -> Result<Vec<u8>, RenderError> {
        let (w, h) = self.size;
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        enc.copy_texture_to_buffer(
            self.texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &self.buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(self.padded_row),
                    rows_per_image: Some(h),
                },
            },
            wgpu::Extent3d {
                width: w,
                height: h,
                depth_or_array_layers: 1,
            },
        );
        gpu.queue.submit(Some(enc.finish()));
        let slice = self.buffer.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        let _ = gpu.device.poll(wgpu::Maintain::Wait);
        rx.recv()
            .map_err(|e| RenderError::Readback(e.to_string()))?
            .map_err(|e| RenderError::Readback(e.to_string()))?;
        let mut out = Vec::with_capacity((w * h * 4) as usize);
        {
            let data = slice.get_mapped_range();
            for row in data.chunks(self.padded_row as usize).take(h as usize) {
                out.extend_from_slice(&row[..(w * 4) as usize]);
            }
        }
        self.buffer.unmap();
        Ok(out)
    }
}

/// Writes RGBA pixels as a PNG file.
pub fn save_png(
    path: &std::path::Path,
    width: u32,
    height: u32,
    rgba: &[u8],
) -> std::io::Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut enc = png::Encoder::new(file, width, height);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(std::io::Error::other)?;
    w.write_image_data(rgba).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    //! The overlay's geometry, without a GPU: cards, lines and the action bar as glyph
    //! instances, each inside the cell it belongs to whatever the text.
    use super::*;
    use proptest::prelude::*;

    fn inside(g: &GlyphInstance, c: Rect) -> bool {
        let [x, y, w, h] = g.rect;
        x >= c.x as f32 - 0.01
            && y >= c.y as f32 - 0.01
            && x + w <= (c.x + c.w) as f32 + 0.01
            && y + h <= (c.y + c.h) as f32 + 0.01
    }

    fn text_of(glyphs: &[GlyphInstance]) -> String {
        glyphs
            .iter()
            .filter(|g| g.code != SOLID)
            .map(|g| char::from_u32(g.code).unwrap_or('#'))
            .collect()
    }

    #[test]
    fn text_is_ascii_with_spaces_left_out() {
        let mut out = Vec::new();
        push_text(&mut out, "a b\u{e9}\n", 10.0, 20.0, 2.0, [1.0; 4]);
        assert_eq!(text_of(&out), "ab??");
        // Each glyph at its column, 16 px apart at scale 2; the space keeps its column.
        let xs: Vec<f32> = out.iter().map(|g| g.rect[0]).collect();
        assert_eq!(xs, [10.0, 42.0, 58.0, 74.0]);
        assert!(out.iter().all(|g| g.rect[1] == 20.0 && g.rect[2] == 16.0));
    }

    #[test]
    fn a_card_centres_its_title_and_status() {
        let c = Rect {
            x: 100,
            y: 50,
            w: 400,
            h: 300,
        };
        let mut out = Vec::new();
        status_card(&mut out, c, "Front", "starting...", false, 1.0);
        // The card first, opaque without a picture; dim over one.
        assert_eq!(out[0].code, SOLID);
        assert_eq!(out[0].colour[3], 1.0);
        let title: Vec<&GlyphInstance> = out[1..6].iter().collect();
        let left = title[0].rect[0] - c.x as f32;
        let right = (c.x + c.w) as f32 - (title[4].rect[0] + title[4].rect[2]);
        assert!((left - right).abs() < 0.01, "{left} vs {right}");
        let mut dim = Vec::new();
        status_card(&mut dim, c, "Front", "x", true, 1.0);
        assert_eq!(dim[0].colour[3], DIM);
    }

    #[test]
    fn the_bar_labels_sit_in_their_buttons_twice_as_large_where_they_fit() {
        let c = Rect {
            x: 0,
            y: 0,
            w: 1280,
            h: 720,
        };
        let bar = [
            BarButton {
                label: "Back".into(),
                on: false,
            },
            BarButton {
                label: "Hold to talk".into(),
                on: true,
            },
        ];
        let mut out = Vec::new();
        action_bar(&mut out, c, &bar, 1.0);
        let buttons = crate::layout::bar_buttons(c, bar.len());
        let boxes: Vec<&GlyphInstance> = out.iter().filter(|g| g.code == SOLID).collect();
        assert_eq!(boxes.len(), 2);
        assert_eq!(boxes[1].colour, BAR_ON, "a held button is lit");
        for (b, r) in boxes.iter().zip(&buttons) {
            assert_eq!(b.rect, [r.x as f32, r.y as f32, r.w as f32, r.h as f32]);
        }
        for g in out.iter().filter(|g| g.code != SOLID) {
            assert!(buttons.iter().any(|&r| inside(g, r)), "{:?}", g.rect);
            assert_eq!(
                g.rect[2], 16.0,
                "labels that fit are drawn at twice the size"
            );
        }
        assert_eq!(text_of(&out), "BackHoldtotalk");
    }

    proptest! {
        /// Whatever the text and the cell, a card's and the overlay's glyphs stay in the cell
        /// (long text is cut, never drawn over the next tile).
        #[test]
        fn cards_and_lines_stay_in_their_cell(
            x in 0u32..2000, y in 0u32..2000, w in 40u32..2000, h in 60u32..1200,
            title in "\\PC{0,80}", status in "\\PC{0,120}",
            lines in proptest::collection::vec("\\PC{0,100}", 0..4),
            big in any::<bool>(),
        ) {
            let c = Rect { x, y, w, h };
            let scale = if big { 2.0 } else { 1.0 };
            let mut out = Vec::new();
            status_card(&mut out, c, &title, &status, false, scale);
            overlay_lines(&mut out, c, &lines, scale);
            for g in &out {
                prop_assert!(inside(g, c), "{:?} outside {:?}", g.rect, c);
            }
        }
    }
}
