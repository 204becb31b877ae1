//! What presenting costs on a CPU adapter: wgpu's swapchain (llvmpipe, X11) with the CPU
//! colour path's copies, against softbuffer (X11 shared memory) with damage. One of 4 tiles
//! changes per draw, 60 draws a second, 1920x1080. See Cargo.toml.
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};
use winit::application::ApplicationHandler;
use winit::event::WindowEvent;
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop};
use winit::window::{Window, WindowId};

enum Mode {
    Wgpu(
        wgpu::Surface<'static>,
        wgpu::Device,
        wgpu::Queue,
        Vec<wgpu::Buffer>,
    ),
    Soft(softbuffer::Surface<Arc<Window>, Arc<Window>>),
}
struct App {
    soft: bool,
    win: Option<Arc<Window>>,
    mode: Option<Mode>,
    n: u64,
    start: Instant,
    secs: u64,
    next: Instant,
    tile: Vec<u8>,
}

/// This process's CPU seconds, user and system.
fn cpu() -> f64 {
    // SAFETY: rusage is plain data (all zeroes is valid) and getrusage only writes it.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    (u.ru_utime.tv_sec as f64 + u.ru_utime.tv_usec as f64 / 1e6)
        + (u.ru_stime.tv_sec as f64 + u.ru_stime.tv_usec as f64 / 1e6)
}

impl ApplicationHandler for App {
    fn resumed(&mut self, el: &ActiveEventLoop) {
        let w = Arc::new(
            el.create_window(
                Window::default_attributes()
                    .with_inner_size(winit::dpi::PhysicalSize::new(1920, 1080))
                    .with_position(winit::dpi::PhysicalPosition::new(0, 0)),
            )
            .unwrap(),
        );
        if self.soft {
            let ctx = softbuffer::Context::new(w.clone()).unwrap();
            let mut s = softbuffer::Surface::new(&ctx, w.clone()).unwrap();
            s.resize(
                NonZeroU32::new(1920).unwrap(),
                NonZeroU32::new(1080).unwrap(),
            )
            .unwrap();
            self.mode = Some(Mode::Soft(s));
        } else {
            let inst = wgpu::Instance::new(&wgpu::InstanceDescriptor {
                backends: wgpu::Backends::VULKAN,
                ..Default::default()
            });
            let surf = inst.create_surface(w.clone()).unwrap();
            let ad = pollster::block_on(inst.request_adapter(&wgpu::RequestAdapterOptions {
                compatible_surface: Some(&surf),
                force_fallback_adapter: false,
                ..Default::default()
            }))
            .unwrap();
            eprintln!("{:?}", ad.get_info().name);
            let (dev, q) =
                pollster::block_on(ad.request_device(&Default::default(), None)).unwrap();
            let caps = surf.get_capabilities(&ad);
            let fmt = caps.formats.iter().copied().find(|f| !f.is_srgb()).unwrap();
            let cfg = wgpu::SurfaceConfiguration {
                usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_DST,
                format: fmt,
                width: 1920,
                height: 1080,
                present_mode: wgpu::PresentMode::Mailbox,
                desired_maximum_frame_latency: 1,
                alpha_mode: caps.alpha_modes[0],
                view_formats: vec![],
            };
            surf.configure(&dev, &cfg);
            let bufs = (0..4)
                .map(|_| {
                    dev.create_buffer(&wgpu::BufferDescriptor {
                        label: None,
                        size: 3840 * 540,
                        usage: wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    })
                })
                .collect();
            self.mode = Some(Mode::Wgpu(surf, dev, q, bufs));
        }
        self.win = Some(w);
        self.start = Instant::now();
        self.next = Instant::now();
    }
    fn window_event(&mut self, _: &ActiveEventLoop, _: WindowId, _: WindowEvent) {}
    fn about_to_wait(&mut self, el: &ActiveEventLoop) {
        if self.mode.is_none() {
            return;
        }
        let now = Instant::now();
        if now >= self.next {
            self.next += Duration::from_micros(16_667);
            self.n += 1;
            let t = (self.n % 4) as u32;
            let (tx, ty) = ((t % 2) * 960, (t / 2) * 540);
            let v = (self.n % 255) as u8;
            for b in self.tile.iter_mut() {
                *b = v;
            }
            match self.mode.as_mut().unwrap() {
                Mode::Soft(s) => {
                    let mut buf = s.buffer_mut().unwrap();
                    for y in 0..540u32 {
                        let row = ((ty + y) * 1920 + tx) as usize;
                        let src: &[u32] = bytemuck::cast_slice(
                            &self.tile[(y as usize) * 3840..(y as usize + 1) * 3840],
                        );
                        buf[row..row + 960].copy_from_slice(src);
                    }
                    buf.present_with_damage(&[softbuffer::Rect {
                        x: tx,
                        y: ty,
                        width: NonZeroU32::new(960).unwrap(),
                        height: NonZeroU32::new(540).unwrap(),
                    }])
                    .unwrap();
                }
                Mode::Wgpu(surf, dev, q, bufs) => {
                    {
                        let mut view = q
                            .write_buffer_with(
                                &bufs[t as usize],
                                0,
                                std::num::NonZeroU64::new(3840 * 540).unwrap(),
                            )
                            .unwrap();
                        view.copy_from_slice(&self.tile);
                    }
                    let frame = surf.get_current_texture().unwrap();
                    let mut enc = dev.create_command_encoder(&Default::default());
                    for i in 0..4u32 {
                        enc.copy_buffer_to_texture(
                            wgpu::TexelCopyBufferInfo {
                                buffer: &bufs[i as usize],
                                layout: wgpu::TexelCopyBufferLayout {
                                    offset: 0,
                                    bytes_per_row: Some(3840),
                                    rows_per_image: Some(540),
                                },
                            },
                            wgpu::TexelCopyTextureInfo {
                                texture: &frame.texture,
                                mip_level: 0,
                                origin: wgpu::Origin3d {
                                    x: (i % 2) * 960,
                                    y: (i / 2) * 540,
                                    z: 0,
                                },
                                aspect: wgpu::TextureAspect::All,
                            },
                            wgpu::Extent3d {
                                width: 960,
                                height: 540,
                                depth_or_array_layers: 1,
                            },
                        );
                    }
                    q.submit(Some(enc.finish()));
                    frame.present();
                    let _ = dev.poll(wgpu::Maintain::Poll);
                }
            }
        }
        if self.start.elapsed() >= Duration::from_secs(self.secs) {
            println!(
                "{} draws, {:.3} cores",
                self.n,
                cpu() / self.start.elapsed().as_secs_f64()
            );
            el.exit();
        }
        el.set_control_flow(ControlFlow::WaitUntil(self.next));
    }
}
fn main() {
    let soft = std::env::args().nth(1).as_deref() == Some("soft");
    let el = EventLoop::new().unwrap();
    let mut app = App {
        soft,
        win: None,
        mode: None,
        n: 0,
        start: Instant::now(),
        secs: 15,
        next: Instant::now(),
        tile: vec![0; 3840 * 540],
    };
    el.run_app(&mut app).unwrap();
}
