//! One window of the wall: a monitor's pages ([`Kiosk`]), its surface, what it last drew and
//! what each of its tiles shows. A wall whose pages name monitors has one per monitor
//! ([`Wall::monitors`]), each covering its monitor; any other has one.
//!
//! The cameras' frames are shared: the first window to draw a camera's new frame takes it
//! from the camera's mailbox, the others upload the same frame (it is reference-counted) at
//! their next draw, told by a generation count.

use std::time::Instant;

use winit::dpi::{PhysicalPosition, PhysicalSize};
use winit::window::WindowId;

use super::pictures::TilePicture;
use crate::kiosk::{Kiosk, Screen};
use crate::render::window::{Surface, WindowOptions};
use crate::wall::{Monitor, Wall};

/// A window and the pages it shows.
pub(super) struct Display {
    /// Its monitor (`None`: the window's, `--monitor` or the primary).
    pub(super) monitor: Option<usize>,
    /// Its pages, focus, night.
    pub(super) kiosk: Kiosk,
    /// The window, once the event loop runs.
    pub(super) surface: Option<Surface>,
    /// What was last drawn (a change redraws).
    pub(super) screen: Option<Screen>,
    pub(super) last_redraw: Instant,
    /// A new picture came less than a refresh after the last draw: drawn then.
    pub(super) redraw_due: Option<Instant>,
    /// What each camera's tile holds here, by camera.
    pub(super) tiles: Vec<Tile>,
    /// Where the window was before `f` made it fullscreen.
    pub(super) windowed: Option<(PhysicalPosition<i32>, PhysicalSize<u32>)>,
}

/// What a camera's tile holds in one window.
#[derive(Clone, Copy, Default)]
pub(super) struct Tile {
    /// What it shows (none yet, a still, a live frame).
    pub(super) picture: Option<TilePicture>,
    /// The generation of the camera's live frame uploaded here (see `Camera::live_gen`).
    pub(super) live_gen: u64,
}

impl Display {
    /// The window for `monitor`'s pages of `wall`, not yet open.
    pub(super) fn new(wall: &Wall, monitor: &Monitor, now: Instant) -> Display {
        let n = wall.cameras.len();
        Display {
            monitor: monitor.index,
            kiosk: Kiosk::of_pages(wall, &monitor.pages, now),
            surface: None,
            screen: None,
            last_redraw: now,
            redraw_due: None,
            tiles: vec![Tile::default(); n],
            windowed: None,
        }
    }

    /// The windows of `wall` with `available` monitors (`None`: not known yet), their
    /// kiosks set to the local time `minute`.
    pub(super) fn all(
        wall: &Wall,
        available: Option<usize>,
        minute: u32,
        now: Instant,
    ) -> Vec<Display> {
        wall.monitors(available)
            .iter()
            .map(|m| {
                let mut d = Display::new(wall, m, now);
                d.kiosk.set_time_of_day(minute);
                d
            })
            .collect()
    }

    /// How its window opens: the viewer's options on its monitor.
    pub(super) fn options(&self, base: WindowOptions) -> WindowOptions {
        WindowOptions {
            monitor: self.monitor.or(base.monitor),
            ..base
        }
    }

    /// Whether camera `i` is on what it last drew (or nothing is drawn yet).
    pub(super) fn shows(&self, i: usize) -> bool {
        self.screen.as_ref().is_none_or(|s| s.cameras.contains(&i))
    }

    /// Whether `id` is its window.
    pub(super) fn is(&self, id: WindowId) -> bool {
        self.surface.as_ref().is_some_and(|s| s.window.id() == id)
    }

    pub(super) fn request_redraw(&self) {
        if let Some(s) = &self.surface {
            s.window.request_redraw();
        }
    }
}
