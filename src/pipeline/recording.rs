//! Raw Annex-B recordings started from the viewer (`r`): the access units the feed hands to a
//! camera's decoder, also written to a file from the next keyframe.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::bitstream::{AccessUnit, Codec};

/// A raw Annex-B recording of one camera, started from the viewer (`r`).
pub struct Recording {
    /// Where it goes.
    pub path: std::path::PathBuf,
    writer: std::io::BufWriter<std::fs::File>,
    started: bool,
    /// Access units written.
    pub units: u64,
}

/// Recordings in progress, by serial, shared between the feed and the display.
pub type Recordings = Arc<Mutex<HashMap<String, Recording>>>;

/// Starts recording `serial` into `dir` (from its next keyframe; `codec` as its status says,
/// H.264 when not known yet), or stops the recording in progress. Returns the file and
/// whether a recording is now running.
pub fn toggle_recording(
    recordings: &Recordings,
    codec: Option<Codec>,
    serial: &str,
    dir: &std::path::Path,
) -> std::io::Result<(std::path::PathBuf, bool)> {
    let mut all = recordings.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(mut r) = all.remove(serial) {
        std::io::Write::flush(&mut r.writer)?;
        return Ok((r.path, false));
    }
    let ext = match codec {
        Some(Codec::H264) | None => "h264",
        Some(Codec::H265) => "h265",
    };
    // Millisecond names, and never over an existing file: `r` pressed twice in a row must not
    // truncate the recording just saved.
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut path = dir.join(format!("eufy-hw-{serial}-{stamp}.{ext}"));
    let mut n = 1;
    let file = loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => {
                path = dir.join(format!("eufy-hw-{serial}-{stamp}-{n}.{ext}"));
                n += 1;
            }
            other => break other?,
        }
    };
    let writer = std::io::BufWriter::new(file);
    all.insert(
        serial.to_owned(),
        Recording {
            path: path.clone(),
            writer,
            started: false,
            units: 0,
        },
    );
    Ok((path, true))
}

/// Writes `au` to `serial`'s recording, if one runs (from its first keyframe); a write that
/// fails ends the recording with an error in the log.
pub(super) fn write(recordings: &Recordings, serial: &str, au: &AccessUnit<std::time::Instant>) {
    let mut all = recordings.lock().unwrap_or_else(|p| p.into_inner());
    let Some(r) = all.get_mut(serial) else { return };
    r.started |= au.keyframe;
    if !r.started {
        return;
    }
    match std::io::Write::write_all(&mut r.writer, &au.data) {
        Ok(()) => r.units += 1,
        Err(e) => {
            tracing::error!(camera = %serial, "recording to {} stopped: {e}", r.path.display());
            all.remove(serial);
        }
    }
}
