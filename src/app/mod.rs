//! The subcommands, composed from the library's parts: one function per subcommand, which
//! `main` calls with what the command line said (`main.rs` keeps only the command line and
//! tracing). This is the program's edge: errors are `anyhow`, with the context a user needs.
//!
//! - [`show`]: the viewer and the demo — the wall (a file, `--serial`, RTSP sources) in a
//!   window, or decode progress without a display;
//! - [`cameras`]: what a server lists, as a table or a starting wall file; `check-config`;
//! - [`login`]: the bridge's login completed from here (2FA code, captcha);
//! - [`ptz`]: a pan/tilt step, sweep or preset; a doorbell's quick replies;
//! - [`record`]: `record` and `publish`;
//! - [`simulate`]: the stand-in server;
//! - [`bench`]: the benchmark with its progress bar and outputs.

pub mod bench;
pub mod cameras;
pub mod login;
pub mod ptz;
pub mod record;
pub(crate) mod show;
pub mod simulate;
pub mod talk;

use std::time::Duration;

use crate::eufy::session::SessionConfig;

pub use bench::{bench, BenchOutputs};
pub use cameras::{camera_table, cameras, check_config};
pub use login::login;
pub use ptz::{ptz, reply};
pub use record::{publish, record};
pub use show::{demo, live, Demo, Live, Show};
pub use simulate::simulate;
pub use talk::{talk, Talk, TalkSource};

/// How a session treats stations, cut-offs and a server still logging in
/// (`--station-dwell`, `--restart-pause`, `--wait-server`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionTimes {
    /// Each camera of a shared station streams this long before the next one's turn.
    pub station_dwell: Duration,
    /// The pause before restarting a stream that ended by itself.
    pub restart_pause: Duration,
    /// A camera's longest wait from its start to `livestream started`, and from there to
    /// its first video.
    pub start_timeout: Duration,
    /// Give up when the server is not ready after this long (`None`: the command's
    /// default).
    pub wait_server: Option<Duration>,
    /// Which server (`--backend`; auto: known from its first message).
    pub backend: crate::backend::Backend,
}

impl SessionTimes {
    /// A session of `serials` at `url`; `wait` when `--wait-server` was not given.
    pub fn config(&self, url: &str, serials: &[String], wait: Option<Duration>) -> SessionConfig {
        SessionConfig {
            station_dwell: self.station_dwell,
            restart_pause: self.restart_pause,
            start_timeout: self.start_timeout,
            wait_server: self.wait_server.or(wait),
            backend: self.backend,
            ..SessionConfig::new(url, serials.to_vec())
        }
    }
}

/// `$XDG_CONFIG_HOME/eufy-hw/wall.toml` (or `~/.config/…`), when it exists.
pub fn default_wall() -> Option<std::path::PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".config"))
        })?;
    let path = base.join("eufy-hw").join("wall.toml");
    path.is_file().then_some(path)
}
