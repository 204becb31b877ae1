//! What a camera wall shows now, and which cameras it streams: page rotation, event focus
//! and the frozen-picture watchdog. Pure and clocked by the caller, like
//! [`crate::eufy::schedule`], so every rule is tested with made-up instants; the window
//! ([`crate::view`]) feeds it events and frames and draws its [`Screen`].
//!
//! - **Pages** rotate every [`Wall::page_time`]; rotation pauses while an event holds the
//!   screen and starts afresh after it.
//! - **Focus.** A detection event of a kind in [`Focus::on`] brings its camera forward: alone
//!   on the screen ([`FocusMode::Fill`]), or its page with its tile framed
//!   ([`FocusMode::Highlight`]). Kinds earlier in the list beat later ones (a ring beats a
//!   person beats motion); an active focus is not taken by an equal event elsewhere (no
//!   flicker between two cameras); once its event ended, the camera stays for
//!   [`Focus::hold`], and a new event of the same or a higher priority may take over. An event
//!   whose end never arrives holds at most [`MAX_ACTIVE`].
//! - **Picture in picture** ([`FocusMode::Pip`]): an event's camera is an inset over the page
//!   instead (in [`Focus::pip_corner`], [`Focus::pip_size`] of the width), several stack
//!   (at most [`MAX_INSETS`], the oldest goes), each leaves [`Focus::hold`] after its event
//!   ends; an inset can be closed ([`Kiosk::dismiss`]) or tapped to fill the screen.
//! - **Streams.** Only cameras on the screen are streamed (battery cameras drain when
//!   streamed), plus those that stream `always`; a hidden camera's stream starts when its
//!   page comes up or an event brings it forward. A camera that streams `on_event` is streamed
//!   only while it is forward (its tile shows its latest picture otherwise).
//! - **Night.** In the wall's night hours ([`Wall::night`]) the screen is dimmed, or black
//!   with nothing streamed but `always_on` cameras; an event in focus wakes it as by day.
//! - **Monitors.** A wall on several monitors has a kiosk per monitor, each turning its own
//!   pages ([`Kiosk::of_pages`]; page numbers stay the wall's), and one [`Watchdog`] for all.
//! - **Watchdog.** A camera that should be showing pictures (its stream is live) but showed
//!   none for [`Wall::watchdog`] is *frozen*: its tile says so over the dimmed last picture,
//!   and its stream is restarted (at most once per limit).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::eufy::protocol::DetectionKind;
use crate::layout::Layout;
use crate::wall::{Focus, FocusMode, Night, NightMode, Streaming, Wall};

/// How dark a dimmed night screen is (0: not at all, 1: black).
pub(crate) const NIGHT_DIM: f32 = 0.7;

/// Longest an event holds the screen when its end (state false) never arrives.
pub(crate) const MAX_ACTIVE: Duration = Duration::from_secs(60);
/// Events kept for the overlay.
pub(crate) const RECENT_EVENTS: usize = 8;

/// What to draw: cameras (indices into [`Wall::cameras`]) in layout order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Screen {
    /// The cameras, in tile order.
    pub cameras: Vec<usize>,
    /// Their arrangement.
    pub layout: Layout,
    /// The camera whose tile is framed (highlight focus).
    pub highlight: Option<usize>,
    /// Why the screen shows this: "page 2 of 3", "ring".
    pub caption: String,
    /// How dark the whole screen is (0: normal, 1: black): the night.
    pub shade: f32,
    /// Picture-in-picture: the last cameras are insets over the page.
    pub insets: Option<crate::layout::Insets>,
}

impl Screen {
    /// Its cells in a `width` x `height` target, in camera order (the renderer's and the
    /// pointer's geometry).
    pub(crate) fn cells(&self, width: u32, height: u32) -> Vec<crate::layout::Rect> {
        crate::layout::screen_cells(self.layout, self.insets, self.cameras.len(), width, height)
    }

    /// How many of its cameras (the last ones) are insets.
    pub(crate) fn inset_count(&self) -> usize {
        self.insets.map_or(0, |i| i.count)
    }
}

/// Insets on the screen at once, at most (the oldest goes).
pub(crate) const MAX_INSETS: usize = 3;

/// Why a camera is forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    /// A detection event.
    Event(DetectionKind),
    /// The wall was asked (Home Assistant's "show camera").
    Asked,
}

#[derive(Debug, Clone)]
struct Focused {
    camera: usize,
    why: Why,
    /// Its event is still on (no state-false yet).
    active: bool,
    /// When it lets go.
    until: Instant,
}

/// One detection event, for the overlay.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RecentEvent {
    /// When it arrived.
    pub at: Instant,
    /// The camera.
    pub camera: usize,
    /// What.
    pub kind: DetectionKind,
    /// On (true) or ended (false).
    pub state: bool,
}

/// The wall's state.
#[derive(Debug)]
pub(crate) struct Kiosk {
    /// Its pages: (index into [`Wall::pages`], cameras, layout).
    pages: Vec<(usize, Vec<usize>, Layout)>,
    page_time: Option<Duration>,
    focus_rules: Focus,
    always_on: Vec<usize>,
    /// Cameras streamed only while forward.
    on_event: Vec<usize>,
    page: usize,
    page_since: Instant,
    focus: Option<Focused>,
    /// Picture-in-picture insets ([`FocusMode::Pip`]), oldest first.
    pips: Vec<Focused>,
    recent: VecDeque<RecentEvent>,
    night: Option<Night>,
    /// Now within the night hours.
    is_night: bool,
    /// The screen was turned off (blank until turned on, woken by a focus).
    off: bool,
}

impl Kiosk {
    /// All the wall's pages, starting on the first at `now`.
    #[cfg(test)]
    pub(crate) fn new(wall: &Wall, now: Instant) -> Kiosk {
        let all: Vec<usize> = (0..wall.pages.len()).collect();
        Kiosk::of_pages(wall, &all, now)
    }

    /// The wall's pages `pages` (one monitor's, indices into [`Wall::pages`], at least one),
    /// starting on the first at `now`.
    pub(crate) fn of_pages(wall: &Wall, pages: &[usize], now: Instant) -> Kiosk {
        let pages: Vec<(usize, Vec<usize>, Layout)> = pages
            .iter()
            .filter_map(|&k| wall.pages.get(k).map(|p| (k, p.cameras.clone(), p.layout)))
            .collect();
        Kiosk {
            page_time: wall.page_time.filter(|_| pages.len() > 1),
            pages,
            focus_rules: wall.focus.clone(),
            always_on: (0..wall.cameras.len())
                .filter(|&i| wall.cameras[i].always_on())
                .collect(),
            on_event: (0..wall.cameras.len())
                .filter(|&i| wall.cameras[i].stream == Streaming::OnEvent)
                .collect(),
            page: 0,
            page_since: now,
            focus: None,
            pips: Vec::new(),
            recent: VecDeque::new(),
            night: wall.night,
            is_night: false,
            off: false,
        }
    }

    /// Whether the wall has night hours (only then does the time of day matter).
    pub(crate) fn has_night(&self) -> bool {
        self.night.is_some()
    }

    /// The local time of day, minutes after midnight (night hours).
    pub(crate) fn set_time_of_day(&mut self, minute: u32) {
        self.is_night = self.night.is_some_and(|n| n.contains(minute));
    }

    fn night_mode(&self) -> Option<NightMode> {
        self.night.filter(|_| self.is_night).map(|n| n.mode)
    }

    /// The page shown (or under the focus): its index into [`Wall::pages`].
    pub(crate) fn page(&self) -> usize {
        self.pages.get(self.page).map_or(0, |p| p.0)
    }

    /// Whether the wall's page `page` is one of this kiosk's.
    pub(crate) fn has_page(&self, page: usize) -> bool {
        self.pages.iter().any(|p| p.0 == page)
    }

    /// Whether `camera` is on one of its pages.
    pub(crate) fn has_camera(&self, camera: usize) -> bool {
        self.pages.iter().any(|p| p.1.contains(&camera))
    }

    /// How many pages it turns through.
    #[cfg(test)]
    pub(crate) fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// The next page now (a key), restarting its time.
    pub(crate) fn turn_page(&mut self, forward: bool, now: Instant) {
        let n = self.pages.len();
        self.page = if forward {
            (self.page + 1) % n
        } else {
            (self.page + n - 1) % n
        };
        self.page_since = now;
        self.focus = None;
    }

    /// Shows the wall's page `page` now (when it is one of this kiosk's), restarting its
    /// time.
    pub(crate) fn show_page(&mut self, page: usize, now: Instant) {
        if let Some(k) = self.pages.iter().position(|p| p.0 == page) {
            self.page = k;
            self.page_since = now;
            self.focus = None;
        }
    }

    /// Brings `camera` forward, alone on the screen, for `hold` (Home Assistant's "show
    /// camera"): it takes over any focus but an event of the highest priority kind, and only
    /// such an event takes it.
    pub(crate) fn show_camera(&mut self, camera: usize, hold: Duration, now: Instant) {
        self.focus = Some(Focused {
            camera,
            why: Why::Asked,
            active: false,
            until: now + hold,
        });
    }

    /// Back to the pages from whatever is forward.
    pub(crate) fn show_wall(&mut self, now: Instant) {
        if self.focus.take().is_some() {
            self.page_since = now;
        }
    }

    /// Turns the screen off (blank, only always-on cameras streamed; a focus wakes it as at
    /// night) or on.
    pub(crate) fn set_screen_on(&mut self, on: bool) {
        self.off = !on;
    }

    /// Whether the screen is on (not turned off).
    pub(crate) fn screen_on(&self) -> bool {
        !self.off
    }

    /// A detection event from a camera.
    pub(crate) fn on_detection(
        &mut self,
        camera: usize,
        kind: DetectionKind,
        state: bool,
        now: Instant,
    ) {
        self.recent.push_back(RecentEvent {
            at: now,
            camera,
            kind,
            state,
        });
        while self.recent.len() > RECENT_EVENTS {
            self.recent.pop_front();
        }
        if !self.focus_rules.on.contains(&kind) {
            return;
        }
        if self.focus_rules.mode == FocusMode::Pip {
            self.pip_event(camera, kind, state, now);
            return;
        }
        let rank = self.rank(Why::Event(kind));
        let hold = self.focus_rules.hold;
        if !state {
            if let Some(f) = self
                .focus
                .as_mut()
                .filter(|f| f.camera == camera && f.why == Why::Event(kind))
            {
                f.active = false;
                f.until = now + hold;
            }
            return;
        }
        let takes = match &self.focus {
            None => true,
            Some(f) if f.camera == camera && f.why != Why::Asked => self.rank(f.why) >= rank,
            Some(f) if f.active => self.rank(f.why) > rank,
            Some(f) => self.rank(f.why) >= rank,
        };
        if takes {
            self.focus = Some(Focused {
                camera,
                why: Why::Event(kind),
                active: true,
                until: now + hold + MAX_ACTIVE,
            });
        }
    }

    /// An event in picture-in-picture mode: its camera's inset comes (or stays), and leaves
    /// `hold` after the event ends.
    fn pip_event(&mut self, camera: usize, kind: DetectionKind, state: bool, now: Instant) {
        let hold = self.focus_rules.hold;
        let why = Why::Event(kind);
        if !state {
            if let Some(p) = self
                .pips
                .iter_mut()
                .find(|p| p.camera == camera && p.why == why)
            {
                p.active = false;
                p.until = now + hold;
            }
            return;
        }
        let until = now + hold + MAX_ACTIVE;
        match self.pips.iter_mut().find(|p| p.camera == camera) {
            Some(p) => {
                p.why = why;
                p.active = true;
                p.until = until;
            }
            None => {
                self.pips.push(Focused {
                    camera,
                    why,
                    active: true,
                    until,
                });
                if self.pips.len() > MAX_INSETS {
                    self.pips.remove(0);
                }
            }
        }
    }

    /// The cameras shown as insets, oldest first.
    #[cfg(test)]
    pub(crate) fn pips(&self) -> Vec<usize> {
        self.pips.iter().map(|p| p.camera).collect()
    }

    /// An inset closed (its close mark tapped).
    pub(crate) fn dismiss(&mut self, camera: usize) {
        self.pips.retain(|p| p.camera != camera);
    }

    /// An inset tapped: its camera fills the screen (for `hold`), the inset goes.
    pub(crate) fn fill_from_inset(&mut self, camera: usize, hold: Duration, now: Instant) {
        self.dismiss(camera);
        self.show_camera(camera, hold, now);
    }

    /// Lower goes first: the kinds in the wall's order (0, 2, 4 …), a request between the
    /// first kind and the others (1).
    fn rank(&self, why: Why) -> usize {
        match why {
            Why::Asked => 1,
            Why::Event(kind) => self
                .focus_rules
                .on
                .iter()
                .position(|k| *k == kind)
                .map_or(usize::MAX, |p| p * 2),
        }
    }

    /// Applies what is due at `now`: a focus let go, the next page.
    pub(crate) fn poll(&mut self, now: Instant) {
        self.pips.retain(|p| now < p.until);
        if self.focus.as_ref().is_some_and(|f| now >= f.until) {
            self.focus = None;
            // The page comes back for a full turn.
            self.page_since = now;
        }
        if self.focus.is_some() {
            return;
        }
        if let Some(t) = self.page_time {
            if now >= self.page_since + t {
                let turns = (now - self.page_since).as_secs_f64() / t.as_secs_f64();
                self.page = (self.page + turns as usize) % self.pages.len();
                self.page_since = now;
            }
        }
    }

    /// When [`Kiosk::poll`] next has something to do.
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        let pips = self.pips.iter().map(|p| p.until).min();
        let wake = match &self.focus {
            Some(f) => Some(f.until),
            None => self.page_time.map(|t| self.page_since + t),
        };
        match (wake, pips) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The camera an event brought forward, if any.
    pub(crate) fn focused(&self) -> Option<usize> {
        self.focus.as_ref().map(|f| f.camera)
    }

    /// What to draw now.
    pub(crate) fn screen(&self) -> Screen {
        let (_, cameras, layout) = self.pages[self.page].clone();
        let page_caption = if self.pages.len() > 1 {
            format!("page {} of {}", self.page + 1, self.pages.len())
        } else {
            String::new()
        };
        if let (None, false) = (&self.focus, self.pips.is_empty()) {
            // The page as it is (woken at night or when off, as by a focus), the insets over
            // it, the newest last.
            let newest = self.pips.last().map(|p| p.why);
            let mut cameras = cameras;
            cameras.extend(self.pips.iter().map(|p| p.camera));
            return Screen {
                insets: Some(crate::layout::Insets {
                    count: self.pips.len(),
                    corner: self.focus_rules.pip_corner,
                    size: self.focus_rules.pip_size,
                }),
                cameras,
                layout,
                highlight: None,
                caption: match newest {
                    Some(Why::Event(kind)) => kind.word().to_owned(),
                    _ => page_caption,
                },
                shade: 0.0,
            };
        }
        let Some(f) = &self.focus else {
            return match self.night_mode() {
                _ if self.off => Screen {
                    insets: None,
                    cameras: Vec::new(),
                    layout,
                    highlight: None,
                    caption: "screen off".into(),
                    shade: 1.0,
                },
                Some(NightMode::Blank) => Screen {
                    insets: None,
                    cameras: Vec::new(),
                    layout,
                    highlight: None,
                    caption: "night".into(),
                    shade: 1.0,
                },
                night => Screen {
                    insets: None,
                    cameras,
                    layout,
                    highlight: None,
                    caption: page_caption,
                    shade: if night.is_some() { NIGHT_DIM } else { 0.0 },
                },
            };
        };
        let caption = match f.why {
            Why::Event(kind) => {
                format!("{}{}", kind.word(), if f.active { "" } else { " (ended)" })
            }
            Why::Asked => "shown on request".to_owned(),
        };
        // Highlight on the camera's own page where it has one; fill otherwise (and always
        // when asked).
        let home = self
            .pages
            .iter()
            .position(|(_, cams, _)| cams.contains(&f.camera))
            .filter(|_| f.why != Why::Asked);
        match (self.focus_rules.mode, home) {
            (FocusMode::Highlight, Some(p)) => Screen {
                insets: None,
                cameras: self.pages[p].1.clone(),
                layout: self.pages[p].2,
                highlight: Some(f.camera),
                caption,
                shade: 0.0,
            },
            _ => Screen {
                insets: None,
                cameras: vec![f.camera],
                layout: Layout::Auto,
                highlight: None,
                caption,
                shade: 0.0,
            },
        }
    }

    /// The cameras to stream now: those on the screen and those always on, in order.
    #[cfg(test)]
    pub(crate) fn wanted(&self) -> Vec<usize> {
        self.wanted_on(&self.screen())
    }

    /// [`Kiosk::wanted`], with the screen already at hand: the cameras on it (those that
    /// stream on events only while one is forward), and those always on.
    pub(crate) fn wanted_on(&self, screen: &Screen) -> Vec<usize> {
        let forward = self.focused();
        let mut w: Vec<usize> = screen
            .cameras
            .iter()
            .copied()
            .filter(|c| {
                !self.on_event.contains(c)
                    || forward == Some(*c)
                    || self.pips.iter().any(|p| p.camera == *c)
            })
            .collect();
        w.extend(self.always_on.iter().copied());
        w.sort_unstable();
        w.dedup();
        w
    }

    /// The last events, oldest first.
    pub(crate) fn recent(&self) -> impl Iterator<Item = &RecentEvent> {
        self.recent.iter()
    }
}

/// Per camera: how long since its tile last changed while its stream is live.
#[derive(Debug)]
pub(crate) struct Watchdog {
    limit: Option<Duration>,
    cams: Vec<Watch>,
}

#[derive(Debug, Clone, Default)]
struct Watch {
    /// Since when it should have shown a picture (the last picture, or when it went live).
    since: Option<Instant>,
    /// When it last fired for this stall.
    fired: Option<Instant>,
    fires: u64,
}

/// What the watchdog says of a camera.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Verdict {
    /// Pictures are coming, or none is expected.
    Fine,
    /// No picture for this long: show it; the stream was already restarted for it.
    Frozen(Duration),
    /// No picture for this long: restart the stream now (and show it).
    Restart(Duration),
}

impl Watchdog {
    /// A watchdog for `cameras` cameras; `limit` None turns it off.
    pub(crate) fn new(limit: Option<Duration>, cameras: usize) -> Watchdog {
        Watchdog {
            limit,
            cams: vec![Watch::default(); cameras],
        }
    }

    /// Camera `i` showed a new picture.
    pub(crate) fn on_picture(&mut self, i: usize, now: Instant) {
        if let Some(w) = self.cams.get_mut(i) {
            w.since = Some(now);
            w.fired = None;
        }
    }

    /// Checks camera `i`: `live` is whether its stream is live (pictures are expected).
    pub(crate) fn check(&mut self, i: usize, live: bool, now: Instant) -> Verdict {
        let (Some(limit), Some(w)) = (self.limit, self.cams.get_mut(i)) else {
            return Verdict::Fine;
        };
        if !live {
            // Not expected: the clock starts again when the stream is live.
            w.since = None;
            w.fired = None;
            return Verdict::Fine;
        }
        let since = *w.since.get_or_insert(now);
        let age = now.saturating_duration_since(since);
        if age < limit {
            return Verdict::Fine;
        }
        match w.fired {
            Some(t) if now < t + limit => Verdict::Frozen(age),
            _ => {
                w.fired = Some(now);
                w.fires += 1;
                Verdict::Restart(age)
            }
        }
    }

    /// How many times camera `i` was found frozen.
    pub(crate) fn fires(&self, i: usize) -> u64 {
        self.cams.get(i).map_or(0, |w| w.fires)
    }

    /// Frozen findings over all cameras.
    pub(crate) fn total_fires(&self) -> u64 {
        self.cams.iter().map(|w| w.fires).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wall::parse;

    const WALL: &str = r#"
page_seconds = 10
[[camera]]
serial = "A1"
[[camera]]
serial = "B2"
[[camera]]
serial = "C3"
always_on = true
[[camera]]
serial = "D4"
[[page]]
cameras = ["A1", "B2"]
[[page]]
cameras = ["C3"]
layout = "main"
[focus]
hold_seconds = 5
"#;

    fn secs(t0: Instant, s: f64) -> Instant {
        t0 + Duration::from_secs_f64(s)
    }

    /// Home Assistant's commands: a page, a camera for a while (fill, whatever the focus
    /// mode; a ring takes it, motion does not), back to the wall, the screen off and on.
    /// A camera that streams on events only: on its page but not streamed, streamed while
    /// forward.
    #[test]
    fn on_event_cameras_stream_only_while_forward() {
        let t0 = Instant::now();
        let wall = parse(
            &WALL.replace("serial = \"B2\"", "serial = \"B2\"\nstream = \"on_event\""),
            "w",
        )
        .unwrap();
        let mut k = Kiosk::new(&wall, t0);
        assert_eq!(k.screen().cameras, [0, 1], "on its page");
        assert_eq!(k.wanted(), [0, 2], "not streamed there");
        k.on_detection(1, DetectionKind::Person, true, secs(t0, 1.0));
        assert_eq!(k.wanted(), [1, 2], "streamed while forward");
        k.on_detection(1, DetectionKind::Person, false, secs(t0, 2.0));
        k.poll(secs(t0, 7.1));
        assert_eq!(k.wanted(), [0, 2]);
    }

    #[test]
    fn asked_pages_cameras_and_screen() {
        let t0 = Instant::now();
        let wall = parse(
            &WALL.replace("hold_seconds = 5", "hold_seconds = 5\nmode = \"highlight\""),
            "w",
        )
        .unwrap();
        let mut k = Kiosk::new(&wall, t0);
        k.show_page(1, secs(t0, 1.0));
        assert_eq!(k.screen().cameras, [2]);
        k.show_page(7, secs(t0, 1.0));
        assert_eq!(k.page(), 1, "no page 8: nothing changes");
        k.show_camera(0, Duration::from_secs(30), secs(t0, 2.0));
        let s = k.screen();
        assert_eq!(
            (s.cameras.as_slice(), s.highlight),
            (&[0][..], None),
            "filled, not framed"
        );
        assert_eq!(s.caption, "shown on request");
        assert!(k.wanted().contains(&0));
        // Motion elsewhere does not take it; a ring does.
        k.on_detection(1, DetectionKind::Motion, true, secs(t0, 3.0));
        assert_eq!(k.focused(), Some(0));
        k.on_detection(1, DetectionKind::Ring, true, secs(t0, 4.0));
        assert_eq!(k.focused(), Some(1));
        k.show_camera(3, Duration::from_secs(30), secs(t0, 5.0));
        k.poll(secs(t0, 34.0));
        assert_eq!(k.focused(), Some(3), "held for its 30 s");
        k.poll(secs(t0, 35.1));
        assert_eq!(k.focused(), None, "then the wall again");
        k.show_camera(3, Duration::from_secs(30), secs(t0, 36.0));
        k.show_wall(secs(t0, 37.0));
        assert_eq!(k.focused(), None);
        // Off: black, only the always-on camera streamed; an event wakes it; on again.
        k.set_screen_on(false);
        assert!(!k.screen_on());
        let s = k.screen();
        assert!(s.cameras.is_empty() && s.shade == 1.0, "{s:?}");
        assert_eq!(k.wanted(), [2]);
        k.on_detection(0, DetectionKind::Person, true, secs(t0, 40.0));
        assert_eq!(k.screen().cameras, [0, 1], "its page, framed");
        k.on_detection(0, DetectionKind::Person, false, secs(t0, 41.0));
        k.poll(secs(t0, 46.1));
        assert!(k.screen().cameras.is_empty(), "off again after the hold");
        k.set_screen_on(true);
        assert_eq!(k.screen().cameras, [2]);
    }

    #[test]
    fn pages_rotate_and_only_shown_cameras_stream() {
        let w = parse(WALL, "w").unwrap();
        let t0 = Instant::now();
        let mut k = Kiosk::new(&w, t0);
        assert_eq!(k.screen().cameras, vec![0, 1]);
        // C3 is always on; D4 is on no page: never streamed without an event.
        assert_eq!(k.wanted(), vec![0, 1, 2]);
        assert_eq!(k.next_wake(), Some(secs(t0, 10.0)));
        k.poll(secs(t0, 9.9));
        assert_eq!(k.page(), 0);
        k.poll(secs(t0, 10.0));
        assert_eq!(k.page(), 1);
        assert_eq!(k.screen().layout, Layout::Main);
        assert_eq!(k.wanted(), vec![2]);
        assert_eq!(k.screen().caption, "page 2 of 2");
        // A late poll does not skip a page for the time lost.
        k.poll(secs(t0, 25.0));
        assert_eq!(k.page(), 0);
        k.turn_page(false, secs(t0, 26.0));
        assert_eq!(k.page(), 1);
        assert_eq!(k.next_wake(), Some(secs(t0, 36.0)));
    }

    #[test]
    fn a_ring_fills_the_screen_then_the_page_returns() {
        let w = parse(WALL, "w").unwrap();
        let t0 = Instant::now();
        let mut k = Kiosk::new(&w, t0);
        // D4, on no page, rings: it fills the screen and is streamed.
        k.on_detection(3, DetectionKind::Ring, true, secs(t0, 2.0));
        k.poll(secs(t0, 2.0));
        assert_eq!(k.screen().cameras, vec![3]);
        assert_eq!(k.wanted(), vec![2, 3]);
        // No rotation while it holds.
        k.poll(secs(t0, 12.0));
        assert_eq!(k.screen().cameras, vec![3]);
        k.on_detection(3, DetectionKind::Ring, false, secs(t0, 13.0));
        k.poll(secs(t0, 17.9));
        assert_eq!(k.screen().cameras, vec![3], "held 5 s after it ended");
        k.poll(secs(t0, 18.0));
        assert_eq!(k.screen().cameras, vec![0, 1], "the page is back");
        assert_eq!(k.next_wake(), Some(secs(t0, 28.0)), "for a full turn");
        assert_eq!(k.recent().count(), 2);
    }

    #[test]
    fn priorities() {
        let w = parse(WALL, "w").unwrap();
        let t0 = Instant::now();
        let mut k = Kiosk::new(&w, t0);
        k.on_detection(0, DetectionKind::Motion, true, t0);
        assert_eq!(k.screen().cameras, vec![0]);
        // A person beats motion; a ring beats a person.
        k.on_detection(1, DetectionKind::Person, true, secs(t0, 1.0));
        assert_eq!(k.screen().cameras, vec![1]);
        k.on_detection(3, DetectionKind::Ring, true, secs(t0, 2.0));
        assert_eq!(k.screen().cameras, vec![3]);
        // Lower ones do not take it, even once the ring ended (while it holds).
        k.on_detection(1, DetectionKind::Person, true, secs(t0, 3.0));
        k.on_detection(3, DetectionKind::Ring, false, secs(t0, 4.0));
        k.on_detection(0, DetectionKind::Motion, true, secs(t0, 5.0));
        assert_eq!(k.screen().cameras, vec![3]);
        // A kind not listed never focuses.
        k.poll(secs(t0, 9.0));
        assert_eq!(k.screen().cameras, vec![0, 1]);
        k.on_detection(0, DetectionKind::Pet, true, secs(t0, 10.0));
        assert_eq!(k.screen().cameras, vec![0, 1]);
        // An equal event elsewhere does not take an active focus; it does once it ended.
        k.on_detection(0, DetectionKind::Person, true, secs(t0, 11.0));
        k.on_detection(1, DetectionKind::Person, true, secs(t0, 12.0));
        assert_eq!(k.screen().cameras, vec![0]);
        k.on_detection(0, DetectionKind::Person, false, secs(t0, 13.0));
        k.on_detection(1, DetectionKind::Person, true, secs(t0, 14.0));
        assert_eq!(k.screen().cameras, vec![1]);
        // An event that never ends lets go after MAX_ACTIVE and the hold.
        k.poll(secs(t0, 14.0) + MAX_ACTIVE + Duration::from_secs(5));
        assert_eq!(k.screen().cameras, vec![0, 1]);
    }

    #[test]
    fn highlight_shows_the_cameras_page() {
        let text = WALL.replace("hold_seconds = 5", "hold_seconds = 5\nmode = \"highlight\"");
        let w = parse(&text, "w").unwrap();
        let t0 = Instant::now();
        let mut k = Kiosk::new(&w, t0);
        k.on_detection(2, DetectionKind::Person, true, t0);
        let s = k.screen();
        assert_eq!((s.cameras, s.highlight), (vec![2], Some(2)));
        assert_eq!(s.layout, Layout::Main);
        // On no page: filled instead.
        k.on_detection(3, DetectionKind::Ring, true, t0);
        assert_eq!(k.screen().cameras, vec![3]);
        assert_eq!(k.screen().highlight, None);
    }

    /// Picture-in-picture: events put their cameras as insets over the page (which stays as
    /// it is), newest last, at most
    /// MAX_INSETS; each leaves `hold` after its event ends; an on_event camera streams while
    /// inset; a closed inset goes; a tapped one fills the screen; a request still fills.
    #[test]
    fn pip_insets_stack_and_leave() {
        let text = WALL
            .replace(
                "hold_seconds = 5",
                "hold_seconds = 5\nmode = \"pip\"\npip_corner = \"top-left\"\npip_size = 0.25",
            )
            .replace("serial = \"D4\"", "serial = \"D4\"\nstream = \"on_event\"");
        let w = parse(&text, "w").unwrap();
        let t0 = Instant::now();
        let mut k = Kiosk::new(&w, t0);
        k.on_detection(3, DetectionKind::Ring, true, t0);
        let s = k.screen();
        assert_eq!(s.cameras, [0, 1, 3], "the page, then the inset");
        let ins = s.insets.unwrap();
        assert_eq!(
            (ins.count, ins.corner, ins.size),
            (1, crate::layout::Corner::TopLeft, 0.25)
        );
        assert_eq!(s.caption, "ring");
        assert!(
            k.wanted().contains(&3),
            "an on_event camera streams while inset"
        );
        assert_eq!(k.focused(), None, "an inset is not a focus");
        for cam in [2, 1, 0] {
            k.on_detection(cam, DetectionKind::Motion, true, secs(t0, 1.0));
        }
        assert_eq!(k.pips(), [2, 1, 0], "at most three, the oldest gone");
        k.on_detection(1, DetectionKind::Motion, false, secs(t0, 2.0));
        k.poll(secs(t0, 7.5));
        assert_eq!(k.pips(), [2, 0], "gone `hold` after its end");
        assert!(k.next_wake().is_some());
        k.dismiss(2);
        assert_eq!(k.pips(), [0]);
        k.fill_from_inset(0, Duration::from_secs(30), secs(t0, 8.0));
        assert_eq!(k.screen().cameras, [0], "tapped: alone");
        assert!(k.pips().is_empty());
        k.show_wall(secs(t0, 9.0));
        assert_eq!(k.screen().insets, None);
        assert_eq!(k.screen().cameras, [0, 1]);
    }

    /// A blank night shows and streams nothing (but always-on cameras); a ring wakes it
    /// for its camera; a dim night keeps the pages, darkened.
    #[test]
    fn nights() {
        let text = format!("{WALL}\n[screen]\nnight = {{ from = \"22:00\", to = \"06:00\" }}\n");
        let w = parse(&text, "w").unwrap();
        let t0 = Instant::now();
        let mut k = Kiosk::new(&w, t0);
        k.set_time_of_day(21 * 60 + 59);
        assert_eq!(k.screen().shade, 0.0);
        k.set_time_of_day(23 * 60);
        let s = k.screen();
        assert_eq!((s.cameras.len(), s.shade), (0, 1.0));
        assert_eq!(k.wanted(), vec![2], "only the always-on camera");
        k.on_detection(0, DetectionKind::Ring, true, t0);
        let s = k.screen();
        assert_eq!((s.cameras, s.shade), (vec![0], 0.0));
        assert_eq!(k.wanted(), vec![0, 2]);
        k.poll(t0 + MAX_ACTIVE + Duration::from_secs(6));
        assert_eq!(k.screen().shade, 1.0, "back to black");
        k.set_time_of_day(6 * 60);
        assert_eq!(k.screen().cameras, vec![0, 1], "morning");
        let dim = parse(&text.replace("\" }", "\", mode = \"dim\" }"), "w").unwrap();
        let mut k = Kiosk::new(&dim, t0);
        k.set_time_of_day(0);
        let s = k.screen();
        assert_eq!((s.cameras, s.shade), (vec![0, 1], NIGHT_DIM));
    }

    #[test]
    fn a_monitors_kiosk_turns_its_own_pages() {
        let t0 = Instant::now();
        let mut w = Wall::of_serials(&["A".into(), "B".into(), "C".into()]);
        w.pages = (0..3)
            .map(|c| crate::wall::Page {
                name: None,
                cameras: vec![c],
                layout: Layout::Auto,
                monitor: Some(c % 2),
            })
            .collect();
        w.page_time = Some(Duration::from_secs(10));
        let mut k = Kiosk::of_pages(&w, &[0, 2], t0);
        assert_eq!((k.page(), k.page_count()), (0, 2));
        assert!(k.has_page(2) && !k.has_page(1));
        assert!(k.has_camera(2) && !k.has_camera(1));
        assert_eq!(k.screen().caption, "page 1 of 2");
        k.poll(secs(t0, 10.0));
        assert_eq!(k.page(), 2, "the wall's page number");
        assert_eq!(k.screen().cameras, [2]);
        k.show_page(1, secs(t0, 11.0));
        assert_eq!(k.page(), 2, "another monitor's page is not shown here");
        k.show_page(0, secs(t0, 11.0));
        assert_eq!(k.screen().cameras, [0]);
        // One page on its monitor: no rotation.
        let mut one = Kiosk::of_pages(&w, &[1], t0);
        one.poll(secs(t0, 100.0));
        assert_eq!((one.page(), one.next_wake()), (1, None));
        assert_eq!(one.screen().caption, "");
    }

    #[test]
    fn watchdog_restarts_once_per_limit() {
        let mut d = Watchdog::new(Some(Duration::from_secs(4)), 2);
        let t0 = Instant::now();
        assert_eq!(d.check(0, true, t0), Verdict::Fine);
        d.on_picture(0, secs(t0, 1.0));
        assert_eq!(d.check(0, true, secs(t0, 4.9)), Verdict::Fine);
        assert_eq!(
            d.check(0, true, secs(t0, 5.0)),
            Verdict::Restart(Duration::from_secs(4))
        );
        assert_eq!(
            d.check(0, true, secs(t0, 6.0)),
            Verdict::Frozen(Duration::from_secs(5))
        );
        assert!(matches!(
            d.check(0, true, secs(t0, 9.0)),
            Verdict::Restart(_)
        ));
        assert_eq!(d.fires(0), 2);
        // Not live (restarting, waiting for its turn): not frozen, and the clock restarts.
        assert_eq!(d.check(0, false, secs(t0, 10.0)), Verdict::Fine);
        assert_eq!(d.check(0, true, secs(t0, 11.0)), Verdict::Fine);
        assert_eq!(d.check(0, true, secs(t0, 14.9)), Verdict::Fine);
        d.on_picture(0, secs(t0, 14.9));
        assert_eq!(d.check(0, true, secs(t0, 18.0)), Verdict::Fine);
        assert_eq!(d.check(1, true, secs(t0, 18.0)), Verdict::Fine);
        assert_eq!(d.total_fires(), 2);
        let mut off = Watchdog::new(None, 1);
        assert_eq!(off.check(0, true, secs(t0, 1e5)), Verdict::Fine);
    }
}
