//! Pictures on tiles that have no live one: each camera's latest picture — its last frame
//! kept on disk ([`crate::stills`]), or the server's `picture` property — shown dimmed with
//! its age (`starting the stream... - picture 12 min ago`) until the stream's first frame; a
//! newer picture (a camera snaps one with each event) replaces an older one on a tile that
//! is not live. The last live frame of each camera is kept on disk once a minute and at the
//! end, by a named thread.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use super::app::App;
use crate::frame::Frame;
use crate::stills::StillStore;

/// A camera's picture waiting for its tile, and when it was taken.
#[derive(Debug, Default)]
pub(super) struct PictureBox(Mutex<Option<(Frame, SystemTime)>>);

impl PictureBox {
    /// Puts a picture in (a newer one replaces an older one not yet shown).
    pub(super) fn put(&self, frame: Frame, taken: SystemTime) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_none_or(|(_, t)| *t <= taken) {
            *slot = Some((frame, taken));
        }
    }

    fn take(&self) -> Option<(Frame, SystemTime)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// What a tile's picture is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct TilePicture {
    /// When it was taken (a live frame: when it was shown).
    pub(super) taken: SystemTime,
    /// A live frame (not a still).
    pub(super) live: bool,
}

/// How often each camera's last live frame is kept on disk.
const SAVE_EVERY: Duration = Duration::from_secs(60);

/// The thread that writes stills (`stills`), fed the frames to keep.
pub(super) struct Saver {
    tx: Option<Sender<(String, Frame)>>,
    handle: Option<std::thread::JoinHandle<()>>,
    /// When each camera's still was last handed over.
    saved_at: Vec<Option<Instant>>,
}

fn save_loop(store: StillStore, rx: Receiver<(String, Frame)>) {
    while let Ok((serial, frame)) = rx.recv() {
        if let Err(e) = store.save(&serial, &frame) {
            tracing::debug!(camera = %serial, "its still could not be kept: {e}");
        }
    }
}

impl Saver {
    /// Starts the thread (no thread, nothing kept, when it cannot start).
    pub(super) fn start(store: StillStore, cameras: usize) -> Saver {
        let (tx, rx) = channel();
        let handle = std::thread::Builder::new()
            .name("stills".into())
            .spawn(move || save_loop(store, rx))
            .map_err(|e| tracing::warn!("the cameras' last pictures will not be kept: {e}"))
            .ok();
        Saver {
            tx: handle.as_ref().map(|_| tx),
            handle,
            saved_at: vec![None; cameras],
        }
    }

    fn save(&mut self, i: usize, serial: &str, frame: &Frame, now: Instant) {
        if let Some(tx) = &self.tx {
            let _ = tx.send((serial.to_owned(), frame.clone()));
            self.saved_at[i] = Some(now);
        }
    }

    /// Writes what was handed over and ends the thread.
    pub(super) fn finish(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl App {
    /// The pictures kept on disk, for every camera, before anything streams.
    pub(super) fn load_stills(&self, store: &StillStore) {
        for camera in &self.cameras {
            if let Some((frame, taken)) = store.load(&camera.serial) {
                tracing::debug!(camera = %camera.serial, "its last picture, kept on disk");
                camera.picture_box.put(frame, taken);
            }
        }
    }

    /// Uploads camera `i`'s latest picture to display `d` when its tile there has no live
    /// picture, or an older one; true when it did.
    pub(super) fn upload_picture(&mut self, d: usize, i: usize, live_now: bool) -> bool {
        let camera = &mut self.cameras[i];
        if let Some((frame, taken)) = camera.picture_box.take() {
            if camera.still.as_ref().is_none_or(|(_, t)| *t <= taken) {
                camera.still = Some((frame, taken));
            }
        }
        let single = self.displays.len() == 1;
        let display = &mut self.displays[d];
        let shown = display.tiles[i].picture;
        if live_now && shown.is_some_and(|p| p.live) {
            return false;
        }
        let Some((frame, taken)) = &self.cameras[i].still else {
            return false;
        };
        let taken = *taken;
        // Older than what the tile shows: never shown.
        if shown.is_some_and(|p| p.taken >= taken) {
            return false;
        }
        let Some(s) = display.surface.as_mut() else {
            return false;
        };
        if let Err(e) = s.renderer.upload(&s.gpu, i, frame) {
            tracing::debug!(camera = %self.cameras[i].serial, "its picture cannot be shown: {e}");
            return false;
        }
        display.tiles[i].picture = Some(TilePicture { taken, live: false });
        // With one window, nobody else wants it.
        if single {
            self.cameras[i].still = None;
        }
        true
    }

    /// A new live frame of camera `i` is on its tile on display `d`: kept for its still (on
    /// disk once a minute) and for the other windows.
    pub(super) fn shown_live(&mut self, d: usize, i: usize, frame: Frame, now: Instant) {
        self.cameras[i].live_gen += 1;
        let display = &mut self.displays[d];
        display.tiles[i].live_gen = self.cameras[i].live_gen;
        display.tiles[i].picture = Some(TilePicture {
            taken: SystemTime::now(),
            live: true,
        });
        let camera = &mut self.cameras[i];
        if self.saver.saved_at[i].is_none_or(|t| now >= t + SAVE_EVERY) {
            self.saver.save(i, &camera.serial, &frame, now);
        }
        camera.last_frame = Some(frame);
    }

    /// Every camera's last live frame kept, the saver finished (at the end).
    pub(super) fn keep_stills(&mut self) {
        let now = Instant::now();
        for (i, camera) in self.cameras.iter().enumerate() {
            if let Some(frame) = &camera.last_frame {
                self.saver.save(i, &camera.serial, frame, now);
            }
        }
        self.saver.finish();
    }

    /// `text` with the age of the picture on camera `i`'s tile on display `d`, when it
    /// shows a still.
    pub(super) fn with_age(&self, d: usize, i: usize, text: String) -> String {
        match self.displays[d].tiles[i].picture {
            Some(p) if !p.live => format!(
                "{text} - picture {}",
                crate::stills::age(p.taken, SystemTime::now())
            ),
            _ => text,
        }
    }
}
