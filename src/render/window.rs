//! A window to render into: winit's window with its wgpu surface, [`Gpu`] and [`Renderer`],
//! presented through the swapchain (the shader path) or as the window's own pixels with
//! damage (softbuffer: the CPU colour path, where a Vulkan swapchain on a CPU adapter would
//! copy whole images through the X socket). The viewer's event loop owns one
//! ([`crate::view`]); `eufy-hw bench --window` drives one from its render thread
//! ([`PumpedWindow`]).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use winit::application::ApplicationHandler;
use winit::event::WindowEvent;
use winit::event_loop::{ActiveEventLoop, EventLoop};
use winit::window::{Fullscreen, Window, WindowId};

use super::{ColourChoice, ColourPath, Gpu, RenderError, Renderer, TileView};

/// Whether a display server seems to be there.
pub fn display_available() -> bool {
    if cfg!(any(target_os = "macos", windows)) {
        return true;
    }
    std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
}

/// An error unless [`display_available`].
pub(crate) fn require_display() -> Result<(), RenderError> {
    if display_available() {
        Ok(())
    } else {
        Err(RenderError::NoDisplay(
            "neither DISPLAY nor WAYLAND_DISPLAY is set".into(),
        ))
    }
}

/// The wgpu instance windows are made with (Vulkan, Metal, DX12).
pub(crate) fn instance() -> wgpu::Instance {
    wgpu::Instance::new(&wgpu::InstanceDescriptor {
        backends: wgpu::Backends::PRIMARY,
        ..Default::default()
    })
}

/// How the window is opened (the viewer's options; `bench --window` uses the defaults).
#[derive(Debug, Clone, Copy, Default)]
pub struct WindowOptions {
    /// Start fullscreen.
    pub fullscreen: bool,
    /// Kiosk: borderless fullscreen, cursor hidden, stray keys ignored, never quits by key.
    pub kiosk: bool,
    /// Monitor index for fullscreen/kiosk.
    pub monitor: Option<usize>,
    /// Wait for vertical blank (Fifo); otherwise Mailbox or Immediate where available.
    pub vsync: bool,
    /// The colour path (`Auto`: libswscale on a CPU adapter, the shader on a GPU).
    pub colour: ColourChoice,
}

/// Which display server the window is on, for the log.
pub(crate) fn display_server(event_loop: &ActiveEventLoop) -> &'static str {
    #[cfg(all(
        unix,
        not(any(target_os = "macos", target_os = "ios", target_os = "android"))
    ))]
    {
        use winit::platform::wayland::ActiveEventLoopExtWayland;
        if event_loop.is_wayland() {
            return "Wayland";
        }
        "X11"
    }
    #[cfg(not(all(
        unix,
        not(any(target_os = "macos", target_os = "ios", target_os = "android"))
    )))]
    {
        let _ = event_loop;
        "native"
    }
}

/// The monitor for fullscreen: the one asked for, else the primary, else the first.
fn target_monitor(
    event_loop: &ActiveEventLoop,
    index: Option<usize>,
) -> Option<winit::monitor::MonitorHandle> {
    index
        .and_then(|i| event_loop.available_monitors().nth(i))
        .or_else(|| event_loop.primary_monitor())
        .or_else(|| event_loop.available_monitors().next())
}

fn fullscreen_mode(event_loop: &ActiveEventLoop, monitor: Option<usize>) -> Fullscreen {
    Fullscreen::Borderless(target_monitor(event_loop, monitor))
}

/// Fullscreen that fills the monitor with or without a window manager. The fullscreen
/// request is a hint a window manager carries out; a kiosk started with `xinit` has none, and
/// the window would stay at its first size in a corner. So the window is also placed and
/// sized to the monitor itself, as mpv does; a window manager that honours the request
/// does the same.
pub(crate) fn cover_monitor(window: &Window, event_loop: &ActiveEventLoop, monitor: Option<usize>) {
    window.set_fullscreen(Some(fullscreen_mode(event_loop, monitor)));
    if let Some(m) = target_monitor(event_loop, monitor) {
        window.set_outer_position(m.position());
        let _ = window.request_inner_size(m.size());
        tracing::debug!(size = ?m.size(), position = ?m.position(), "covering the monitor");
    }
}

/// A window with its configured wgpu surface, GPU and renderer.
pub(crate) struct Surface {
    /// The window.
    pub window: Arc<Window>,
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    /// The GPU it renders with.
    pub gpu: Gpu,
    /// Its renderer.
    pub renderer: Renderer,
    /// The CPU colour path: the window's own pixels, presented with damage (a Vulkan
    /// swapchain on a CPU adapter copies the whole image through the X socket each time).
    soft: Option<SoftSurface>,
    /// Frames with no image to draw into: a screen that sleeps must not fill the log.
    skipped: crate::throttle::Throttle,
    /// The display's refresh interval: new pictures are drawn at most this often.
    pub refresh: Duration,
}

/// Opens the window itself: 1280x720 at the top left (of its monitor, when one is asked
/// for), or covering the monitor (fullscreen, kiosk), borderless with the cursor hidden for a
/// kiosk.
fn open_window(
    event_loop: &ActiveEventLoop,
    title: &str,
    opts: WindowOptions,
) -> Result<Arc<Window>, RenderError> {
    let corner = opts
        .monitor
        .and_then(|_| target_monitor(event_loop, opts.monitor))
        .map_or(winit::dpi::PhysicalPosition::new(0, 0), |m| m.position());
    let mut attrs = Window::default_attributes()
        .with_title(title)
        .with_inner_size(winit::dpi::PhysicalSize::new(1280, 720))
        .with_position(corner);
    if opts.fullscreen || opts.kiosk {
        attrs = attrs.with_fullscreen(Some(fullscreen_mode(event_loop, opts.monitor)));
        // The monitor's own geometry from the start (see `cover_monitor`).
        if let Some(m) = target_monitor(event_loop, opts.monitor) {
            attrs = attrs.with_inner_size(m.size()).with_position(m.position());
        }
    }
    if opts.kiosk {
        attrs = attrs.with_decorations(false);
    }
    let window = Arc::new(
        event_loop
            .create_window(attrs)
            .map_err(|e| RenderError::Window(e.to_string()))?,
    );
    if opts.fullscreen || opts.kiosk {
        cover_monitor(&window, event_loop, opts.monitor);
    }
    if opts.kiosk {
        window.set_cursor_visible(false);
    }
    Ok(window)
}

/// The swapchain's configuration: a non-sRGB format where offered, Mailbox or Immediate
/// presentation unless `vsync`, copies allowed (the CPU colour path copies into its images).
fn surface_config(
    surface: &wgpu::Surface<'_>,
    gpu: &Gpu,
    size: winit::dpi::PhysicalSize<u32>,
    vsync: bool,
) -> Result<wgpu::SurfaceConfiguration, RenderError> {
    let caps = surface.get_capabilities(&gpu.adapter);
    let format = caps
        .formats
        .iter()
        .copied()
        .find(|f| !f.is_srgb())
        .or_else(|| caps.formats.first().copied())
        .ok_or_else(|| RenderError::Window("the surface offers no format".into()))?;
    let present_mode = if vsync {
        wgpu::PresentMode::Fifo
    } else {
        [wgpu::PresentMode::Mailbox, wgpu::PresentMode::Immediate]
            .into_iter()
            .find(|m| caps.present_modes.contains(m))
            .unwrap_or(wgpu::PresentMode::Fifo)
    };
    Ok(wgpu::SurfaceConfiguration {
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT
            | (caps.usages & wgpu::TextureUsages::COPY_DST),
        format,
        width: size.width.max(1),
        height: size.height.max(1),
        present_mode,
        desired_maximum_frame_latency: 1,
        alpha_mode: caps
            .alpha_modes
            .first()
            .copied()
            .unwrap_or(wgpu::CompositeAlphaMode::Auto),
        view_formats: vec![],
    })
}

/// The display's refresh interval: drawing more often shows nothing more (several cameras'
/// frames arrive between two refreshes); 60 Hz when the monitor does not say.
fn refresh_interval(window: &Window) -> Duration {
    window
        .current_monitor()
        .and_then(|m| m.refresh_rate_millihertz())
        .filter(|&mhz| mhz >= 1000)
        .map_or(Duration::from_micros(16_667), |mhz| {
            Duration::from_secs_f64(1000.0 / f64::from(mhz))
        })
}

impl Surface {
    /// Opens a window (see [`WindowOptions`]) for `tiles` tiles, with a renderer on the
    /// colour path the adapter calls for; on the CPU path it presents its own pixels.
    pub(crate) fn open(
        event_loop: &ActiveEventLoop,
        instance: &wgpu::Instance,
        title: &str,
        opts: WindowOptions,
        tiles: usize,
    ) -> Result<Surface, RenderError> {
        let window = open_window(event_loop, title, opts)?;
        // No backend takes the window when no Vulkan (or GL) driver is installed.
        let surface = instance.create_surface(window.clone()).map_err(|e| {
            RenderError::Window(format!(
                "{e} (is a Vulkan driver installed? Debian: mesa-vulkan-drivers libvulkan1)"
            ))
        })?;
        let gpu = Gpu::new(instance, Some(&surface))?;
        let config = surface_config(&surface, &gpu, window.inner_size(), opts.vsync)?;
        let mut renderer = Renderer::with_colour(&gpu, opts.colour);
        renderer.set_tile_count(&gpu, tiles);
        tracing::info!("colour conversion: {}", renderer.colour_path());
        let soft = match renderer.colour_path() {
            ColourPath::Cpu => match soft_surface(&window) {
                Ok(s) => {
                    tracing::info!("presenting the window's own pixels (softbuffer)");
                    Some(s)
                }
                Err(e) => {
                    tracing::warn!("cannot present the window's own pixels ({e}); through the GPU's swapchain instead");
                    None
                }
            },
            ColourPath::Gpu => None,
        };
        // The swapchain only when it is what presents (its images are whole screens).
        if soft.is_none() {
            surface.configure(&gpu.device, &config);
            tracing::info!(
                format = ?config.format,
                present_mode = ?config.present_mode,
                "window surface configured on {}",
                gpu.description
            );
        }
        let refresh = refresh_interval(&window);
        Ok(Surface {
            window,
            surface,
            config,
            gpu,
            renderer,
            soft,
            skipped: Default::default(),
            refresh,
        })
    }

    /// The size drawn at, in pixels.
    pub(crate) fn size(&self) -> (u32, u32) {
        (self.config.width, self.config.height)
    }

    /// Follows a window resize; a minimised window reports 0x0 and keeps the old size.
    pub(crate) fn resize(&mut self, width: u32, height: u32) {
        if width > 0 && height > 0 {
            self.config.width = width;
            self.config.height = height;
            if self.soft.is_none() {
                self.surface.configure(&self.gpu.device, &self.config);
            }
            self.window.request_redraw();
        }
    }

    /// Draws the tiles (their last uploads) and the overlay into the next image and presents
    /// it. False when there was no image to draw into (the surface was reconfigured).
    pub(crate) fn draw(&mut self, views: &[TileView]) -> bool {
        if let Some(soft) = self.soft.as_mut() {
            let (w, h) = (self.config.width, self.config.height);
            return match draw_soft(soft, &mut self.renderer, &self.window, (w, h), views) {
                Ok(()) => true,
                Err(e) => {
                    if let Some(held) = self.skipped.allow() {
                        tracing::warn!(
                            "cannot present the window's pixels: {e} ({held} more not logged)"
                        );
                    }
                    false
                }
            };
        }
        let texture = match self.surface.get_current_texture() {
            Ok(t) => t,
            Err(wgpu::SurfaceError::Outdated | wgpu::SurfaceError::Lost) => {
                self.surface.configure(&self.gpu.device, &self.config);
                return false;
            }
            Err(e) => {
                if let Some(held) = self.skipped.allow() {
                    tracing::warn!("no image to draw into: {e} ({held} more not logged)");
                }
                return false;
            }
        };
        self.renderer.render(&self.gpu, &texture.texture, views);
        self.window.pre_present_notify();
        texture.present();
        // Lets wgpu reclaim what finished frames used (the uploads' staging buffers, the
        // overlay's vertex buffer) now rather than whenever it next gets round to it.
        let _ = self.gpu.device.poll(wgpu::Maintain::Poll);
        true
    }
}

type SoftSurface = softbuffer::Surface<Arc<Window>, Arc<Window>>;

fn soft_surface(window: &Arc<Window>) -> Result<SoftSurface, softbuffer::SoftBufferError> {
    let context = softbuffer::Context::new(window.clone())?;
    softbuffer::Surface::new(&context, window.clone())
}

/// Draws into the window's own pixels and presents what changed.
fn draw_soft(
    soft: &mut SoftSurface,
    renderer: &mut Renderer,
    window: &Window,
    (w, h): (u32, u32),
    views: &[TileView],
) -> Result<(), softbuffer::SoftBufferError> {
    let (Some(nw), Some(nh)) = (NonZeroU32::new(w), NonZeroU32::new(h)) else {
        return Ok(());
    };
    soft.resize(nw, nh)?;
    let mut buffer = soft.buffer_mut()?;
    // Age 1: the buffer holds what was presented last, so only changes need drawing.
    let kept = buffer.age() == 1;
    let damage = renderer.render_pixels(&mut buffer, (w, h), views, kept);
    window.pre_present_notify();
    let rects: Vec<softbuffer::Rect> = damage
        .iter()
        .filter_map(|r| {
            Some(softbuffer::Rect {
                x: r.x,
                y: r.y,
                width: NonZeroU32::new(r.w)?,
                height: NonZeroU32::new(r.h)?,
            })
        })
        .collect();
    if rects.is_empty() {
        // Nothing changed: nothing to send.
        return Ok(());
    }
    buffer.present_with_damage(&rects)
}

/// A window driven from the thread that renders into it (`eufy-hw bench --window`): the
/// event loop is pumped between frames instead of owning the thread.
pub(crate) struct PumpedWindow {
    event_loop: EventLoop<()>,
    handler: PumpedHandler,
}

struct PumpedHandler {
    instance: wgpu::Instance,
    tiles: usize,
    colour: ColourChoice,
    surface: Option<Surface>,
    error: Option<RenderError>,
    closed: bool,
}

impl ApplicationHandler for PumpedHandler {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.surface.is_some() || self.error.is_some() {
            return;
        }
        let opts = WindowOptions {
            colour: self.colour,
            ..WindowOptions::default()
        };
        match Surface::open(
            event_loop,
            &self.instance,
            "eufy-hw bench",
            opts,
            self.tiles,
        ) {
            Ok(s) => self.surface = Some(s),
            Err(e) => self.error = Some(e),
        }
    }

    fn window_event(&mut self, _: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        match event {
            WindowEvent::CloseRequested => self.closed = true,
            WindowEvent::Resized(size) => {
                if let Some(s) = self.surface.as_mut() {
                    s.resize(size.width, size.height);
                }
            }
            _ => {}
        }
    }
}

/// An event loop that may run off the main thread (Linux and Windows).
fn any_thread_event_loop() -> Result<EventLoop<()>, RenderError> {
    if cfg!(target_os = "macos") {
        // winit panics there when an event loop is made off the main thread.
        return Err(RenderError::Window(
            "a window driven from the render thread is not possible on macOS".into(),
        ));
    }
    #[allow(unused_mut)]
    let mut builder = EventLoop::builder();
    #[cfg(all(
        unix,
        not(any(target_os = "macos", target_os = "ios", target_os = "android"))
    ))]
    {
        use winit::platform::x11::EventLoopBuilderExtX11;
        builder.with_any_thread(true);
    }
    #[cfg(windows)]
    {
        use winit::platform::windows::EventLoopBuilderExtWindows;
        builder.with_any_thread(true);
    }
    builder
        .build()
        .map_err(|e| RenderError::NoDisplay(e.to_string()))
}

impl PumpedWindow {
    /// Opens the window from this thread (any thread on Linux and Windows).
    pub(crate) fn open(tiles: usize, colour: ColourChoice) -> Result<PumpedWindow, RenderError> {
        require_display()?;
        let mut w = PumpedWindow {
            event_loop: any_thread_event_loop()?,
            handler: PumpedHandler {
                instance: instance(),
                tiles,
                colour,
                surface: None,
                error: None,
                closed: false,
            },
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while w.handler.surface.is_none() {
            w.pump(Duration::from_millis(10));
            if let Some(e) = w.handler.error.take() {
                return Err(e);
            }
            if Instant::now() > deadline {
                return Err(RenderError::Window(
                    "the window did not open in 10 s".into(),
                ));
            }
        }
        Ok(w)
    }

    /// Handles pending window events for up to `timeout`; false once the window was closed.
    pub(crate) fn pump(&mut self, timeout: Duration) -> bool {
        use winit::platform::pump_events::{EventLoopExtPumpEvents, PumpStatus};
        let status = self
            .event_loop
            .pump_app_events(Some(timeout), &mut self.handler);
        !self.handler.closed && matches!(status, PumpStatus::Continue)
    }

    /// The window's surface (there once [`PumpedWindow::open`] returned).
    pub(crate) fn surface(&mut self) -> Option<&mut Surface> {
        self.handler.surface.as_mut()
    }
}
