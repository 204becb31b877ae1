//! Cameras' still pictures: the last picture each camera showed, kept on disk
//! (`$XDG_CACHE_HOME/eufy-hw/stills/SERIAL.png`, or `~/.cache/…`; 640 pixels wide) so that a
//! wall that restarts shows every camera at once, with its age, until its stream's first
//! frame; and a frame as a small PNG (the stills, Home Assistant's picture).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::av::scale::{Filter, PixelOrder, Scaler};
use crate::frame::{Colour, Frame, Layout, Matrix, OwnedPlanes, Range};

/// The width of a still picture (its height keeps the aspect).
pub(crate) const WIDTH: u32 = 640;

/// `frame` scaled to at most `width` pixels wide, as PNG (RGBA).
pub(crate) fn png_of(frame: &Frame, width: u32) -> Option<Vec<u8>> {
    let w = width.min(frame.width).max(2) & !1;
    let h = ((u64::from(frame.height) * u64::from(w) / u64::from(frame.width.max(1))) as u32)
        .max(2)
        & !1;
    let src = (frame.layout, frame.width, frame.height);
    let mut scaler = Scaler::new(src, frame.colour, (w, h), PixelOrder::Rgba, Filter::Area)?;
    let mut rgba = vec![0u8; w as usize * h as usize * 4];
    if !scaler.scale(frame, &mut rgba, w as usize * 4) {
        return None;
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut writer = enc.write_header().ok()?;
    writer.write_image_data(&rgba).ok()?;
    writer.finish().ok()?;
    Some(out)
}

/// RGBA pixels (`w` x `h`, both even) as a full-range BT.601 I420 frame of `stream`.
pub(crate) fn frame_of_rgba(rgba: &[u8], w: u32, h: u32, stream: &str) -> Option<Frame> {
    let (wu, hu) = (w as usize, h as usize);
    if w < 2 || h < 2 || w % 2 != 0 || h % 2 != 0 || rgba.len() < wu * hu * 4 {
        return None;
    }
    let px = |x: usize, y: usize| {
        let i = (y * wu + x) * 4;
        (
            f32::from(rgba[i]),
            f32::from(rgba[i + 1]),
            f32::from(rgba[i + 2]),
        )
    };
    let clamp = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    let mut y_plane = vec![0u8; wu * hu];
    for y in 0..hu {
        for x in 0..wu {
            let (r, g, b) = px(x, y);
            y_plane[y * wu + x] = clamp(0.299 * r + 0.587 * g + 0.114 * b);
        }
    }
    let (cw, ch) = (wu / 2, hu / 2);
    let (mut u_plane, mut v_plane) = (vec![0u8; cw * ch], vec![0u8; cw * ch]);
    for y in 0..ch {
        for x in 0..cw {
            // The average of the 2x2 block.
            let mut sum = (0.0, 0.0, 0.0);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let (r, g, b) = px(2 * x + dx, 2 * y + dy);
                sum = (sum.0 + r / 4.0, sum.1 + g / 4.0, sum.2 + b / 4.0);
            }
            let (r, g, b) = sum;
            u_plane[y * cw + x] = clamp(128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b);
            v_plane[y * cw + x] = clamp(128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b);
        }
    }
    let colour = Colour {
        matrix: Matrix::Bt601,
        range: Range::Full,
    };
    let planes = OwnedPlanes(vec![(y_plane, wu), (u_plane, cw), (v_plane, cw)]);
    let now = std::time::Instant::now();
    Frame::new(
        w,
        h,
        Layout::I420,
        colour,
        Arc::new(planes),
        now,
        now,
        "picture".into(),
        stream.into(),
    )
    .ok()
}

/// Where the stills are kept.
#[derive(Debug, Clone)]
pub(crate) struct StillStore {
    dir: Option<PathBuf>,
}

impl Default for StillStore {
    /// `$XDG_CACHE_HOME/eufy-hw/stills`, or `~/.cache/eufy-hw/stills`.
    fn default() -> StillStore {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
        StillStore {
            dir: base.map(|b| b.join("eufy-hw").join("stills")),
        }
    }
}

/// A serial as a file name (letters and digits only).
fn file_name(serial: &str) -> String {
    let safe: String = serial.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("{safe}.png")
}

impl StillStore {
    /// A store in `dir`.
    #[cfg(test)]
    pub(crate) fn in_dir(dir: &std::path::Path) -> StillStore {
        StillStore {
            dir: Some(dir.to_owned()),
        }
    }

    /// `serial`'s still and when it was taken, when there is one.
    pub(crate) fn load(&self, serial: &str) -> Option<(Frame, SystemTime)> {
        let path = self.dir.as_ref()?.join(file_name(serial));
        let taken = std::fs::metadata(&path).ok()?.modified().ok()?;
        let file = std::fs::File::open(&path).ok()?;
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .ok()?;
        let mut rgba = vec![0; reader.output_buffer_size()?];
        let info = reader.next_frame(&mut rgba).ok()?;
        if info.color_type != png::ColorType::Rgba || info.bit_depth != png::BitDepth::Eight {
            return None;
        }
        let frame = frame_of_rgba(&rgba, info.width & !1, info.height & !1, serial)?;
        Some((frame, taken))
    }

    /// Keeps `frame` as `serial`'s still (written aside, then renamed: never half a file).
    pub(crate) fn save(&self, serial: &str, frame: &Frame) -> std::io::Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let png = png_of(frame, WIDTH)
            .ok_or_else(|| std::io::Error::other("the picture could not be converted"))?;
        std::fs::create_dir_all(dir)?;
        let path = dir.join(file_name(serial));
        let partial = path.with_extension("png.part");
        std::fs::write(&partial, png)?;
        std::fs::rename(&partial, &path)
    }
}

/// How old a picture is, in words: `just now`, `12 min ago`, `3 h ago`, `2 days ago`.
pub(crate) fn age(taken: SystemTime, now: SystemTime) -> String {
    let secs = now
        .duration_since(taken)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    match secs {
        0..60 => "just now".to_owned(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..172_800 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_in_words() {
        let now = SystemTime::now();
        let ago = |s: u64| age(now - Duration::from_secs(s), now);
        assert_eq!(ago(5), "just now");
        assert_eq!(ago(12 * 60 + 5), "12 min ago");
        assert_eq!(ago(3 * 3600), "3 h ago");
        assert_eq!(ago(5 * 86_400), "5 days ago");
        assert_eq!(
            age(now + Duration::from_secs(9), now),
            "just now",
            "a clock that went back"
        );
    }

    /// A picture kept and read back is the same picture, within a few levels: RGBA → I420 →
    /// (libswscale) RGBA → PNG → RGBA → I420.
    #[test]
    fn stills_round_trip() {
        let (w, h) = (64u32, 36u32);
        let rgba: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                [(x * 4) as u8, (y * 7) as u8, 200 - (x + y) as u8, 255]
            })
            .collect();
        let frame = frame_of_rgba(&rgba, w, h, "T1").unwrap();
        let dir = std::env::temp_dir().join(format!("eufy-stills-{}", std::process::id()));
        let store = StillStore::in_dir(&dir);
        store.save("T1", &frame).unwrap();
        let (back, taken) = store.load("T1").unwrap();
        assert!(SystemTime::now().duration_since(taken).unwrap() < Duration::from_secs(60));
        assert_eq!((back.width, back.height), (w, h));
        let diff = (0..h as usize)
            .flat_map(|y| (0..w as usize).map(move |x| (x, y)))
            .map(|(x, y)| {
                let a = frame.plane(0)[y * frame.stride(0) + x];
                let b = back.plane(0)[y * back.stride(0) + x];
                i32::from(a).abs_diff(i32::from(b))
            })
            .max()
            .unwrap();
        assert!(diff <= 4, "luma differs by {diff}");
        assert!(store.load("T2").is_none());
        // A damaged file is no picture.
        std::fs::write(dir.join("T3.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
        assert!(store.load("T3").is_none());
        std::fs::remove_dir_all(&dir).ok();
    }
}
