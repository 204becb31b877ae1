//! The monitor's power: while the wall shows nothing (a blank night, or the screen turned
//! off by Home Assistant) the monitor is powered down, and up again when a picture is due (a
//! ring, a command, the morning). On X11 through DPMS (`xset dpms force off|on`, from
//! x11-xserver-utils); where the display server has no DPMS (Xvfb), or there is no X
//! (Wayland: the compositor decides), the log says so once and the screen stays black.
//! Also the kiosk's screen kept from blanking by itself ([`keep_screen_awake`]): every
//! `xset` call is here.

/// What the wall asked of the monitor last, and whether it can be done here.
#[derive(Debug)]
pub(super) struct Power {
    /// Powered down by us.
    off: bool,
    /// The screen is kept from blanking by itself (DPMS off) while it shows the wall.
    keep_awake: bool,
    /// It cannot be done here (said once, never tried again).
    told: bool,
}

/// Why the monitor cannot be powered down here, or `None` when it can (X11 with DPMS).
fn unavailable() -> Option<String> {
    if std::env::var_os("DISPLAY").is_none() {
        return Some("no X display (on Wayland the compositor powers the monitor)".into());
    }
    let out = match xset(&["q"]) {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Some(format!("cannot run xset ({e}); install x11-xserver-utils"))
        }
        Err(e) => return Some(e.to_string()),
    };
    if out.contains("Server does not have the DPMS Extension") {
        return Some("the X server has no DPMS".into());
    }
    None
}

/// Runs `xset` with `args`: its output, or why it failed (not there: `NotFound`).
fn xset(args: &[&str]) -> std::io::Result<String> {
    let out = std::process::Command::new("xset")
        .args(args)
        .stderr(std::process::Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "xset {} failed ({})",
            args.join(" "),
            out.status
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Keeps the X screen from blanking while the wall runs: the screensaver and DPMS off with
/// `xset` (x11-xserver-utils), as kiosk set-ups do. Best effort: without X or `xset` it says
/// so in the log; on Wayland the compositor decides (see the README's kiosk section).
pub(super) fn keep_screen_awake() {
    if std::env::var_os("DISPLAY").is_none() {
        return;
    }
    match xset(&["s", "off", "s", "noblank"]) {
        Ok(_) => {
            // Servers without the DPMS extension (Xvfb) refuse this part: nothing to do there.
            let _ = xset(&["-dpms"]);
            tracing::info!("screen blanking off (xset s off -dpms)");
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => tracing::warn!(
            "cannot run xset to keep the screen on ({e}); install x11-xserver-utils, or run `xset s off -dpms` in the X session"
        ),
        Err(e) => tracing::warn!("could not turn screen blanking off: {e}"),
    }
}

impl Power {
    /// The monitor's power, kept awake while showing when `keep_awake`.
    pub(super) fn new(keep_awake: bool) -> Power {
        Power {
            off: false,
            keep_awake,
            told: false,
        }
    }

    /// The wall shows nothing (`black`) or something: the monitor goes down or up.
    pub(super) fn follow(&mut self, black: bool) {
        // Once it could not be done, it never can: not asked again (`xset q` at every tick of
        // a blank night).
        if black == self.off || self.told {
            return;
        }
        if let Some(why) = unavailable() {
            self.told = true;
            tracing::info!(
                "the monitor cannot be powered down here: {why}; the screen is black instead"
            );
            return;
        }
        self.off = black;
        let result = if black {
            xset(&["dpms", "force", "off"])
        } else {
            // `force` turns DPMS on: off again where the wall keeps the screen awake.
            xset(&["dpms", "force", "on"]).and_then(|_| {
                if self.keep_awake {
                    xset(&["-dpms"])
                } else {
                    Ok(String::new())
                }
            })
        };
        match result {
            Ok(_) => tracing::info!("monitor powered {}", if black { "down" } else { "up" }),
            Err(e) => tracing::warn!(
                "cannot power the monitor {}: {e}",
                if black { "down" } else { "up" }
            ),
        }
    }
}
