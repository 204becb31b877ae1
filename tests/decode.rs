//! Decoding real clips: every clip decodes to FFmpeg's own per-frame sums of the file
//! (`framecrc`), frame for frame; each frame carries its own unit's arrival (B-frames with frame threads);
//! corruption recovers at the next keyframe. Hardware requests fall back (or fail when
//! strict) with a clear reason on a machine without the hardware, the Pi's `v4l2m2m` and
//! `drm` paths included (the `h264_v4l2m2m`/`hevc_v4l2m2m` wrapper that finds no V4L2
//! decoder, the decoder with no DRM configuration or no device); an unavailable hardware
//! path is probed once for sixteen cameras.
//!
//! Through the decoder seam, a fake Pi wrapper around a real software decoder: reopened at a
//! reset, EAGAIN answered by taking frames and sending again, silent and corrupt failures
//! falling back, frames copied out (each checked to fail without its fix).
//!
//! A start burst of 20 units then paced ones is decoded whole, none dropped as behind
//! (checked to fail with the old 8-unit queue: 12 dropped). A stream interrupted through the
//! pipeline's feed (`Ended`, or the connection lost) resets its decoder: the old stream's
//! pictures are FFmpeg's, all of them, before the gap, and the first picture after it is the
//! new stream's keyframe, none of the old stream after it (it fails without the reset: the
//! held pictures are lost).
//!
//! Sound: the AAC clip decodes and resamples like FFmpeg's own (sample count and loudness);
//! raw AAC after an AudioSpecificConfig gives the same samples. Pictures: the cameras' JPEG
//! pictures (4:2:0, and 4:2:2 brought to 4:2:0) decode to FFmpeg's own luma, a JPEG of
//! 8192x8192 pixels in a few KiB (over 8K's pixels) is refused before FFmpeg allocates it,
//! and JPEGs cut anywhere fail cleanly.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use eufy_hw::bitstream::{split_access_units, AccessUnit};
use eufy_hw::decode::{
    Accel, DecodeError, Decoder, DecoderConfig, DecoderThread, FrameSink, LatestFrame, MAX_WAIT,
};
use eufy_hw::frame::{Frame, Layout, Range};

fn units(name: &str) -> Vec<AccessUnit<Instant>> {
    timed(&std::fs::read(common::clip_path(name)).unwrap())
}

/// The access units of Annex-B bytes, stamped now.
fn timed(data: &[u8]) -> Vec<AccessUnit<Instant>> {
    let now = Instant::now();
    split_access_units(data)
        .0
        .into_iter()
        .map(|au| AccessUnit {
            codec: au.codec,
            keyframe: au.keyframe,
            data: au.data,
            at: now,
            nal_count: au.nal_count,
            new_stream_info: au.new_stream_info,
        })
        .collect()
}

fn software() -> DecoderConfig {
    DecoderConfig {
        accel: vec![Accel::None],
        ..DecoderConfig::default()
    }
}

fn decode_all(
    name: &str,
    config: DecoderConfig,
    units: &[AccessUnit<Instant>],
) -> (Vec<Frame>, Decoder) {
    let mut dec = Decoder::new(name, config).unwrap();
    let mut frames = Vec::new();
    for au in units {
        dec.decode(au, &mut |f| frames.push(f)).unwrap();
    }
    dec.finish(&mut |f| frames.push(f));
    (frames, dec)
}

/// The Adler-32 of the visible samples, planes packed, started at 0: what `ffmpeg -f
/// framecrc` computes of each frame. (Not MD5 as `framemd5`: a hash inlined into this
/// unoptimised program took most of its time; adler2's loop is optimised, see Cargo.toml.)
fn sum(frame: &Frame) -> String {
    let mut h = adler2::Adler32::from_checksum(0);
    for i in 0..frame.layout.planes() {
        for row in frame.rows(i) {
            h.write_slice(row);
        }
    }
    format!("{:#010x}", h.checksum())
}

/// `ffmpeg -f framecrc`: each frame's sum, in output order.
fn reference(name: &str) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-threads", "1", "-i"])
        .arg(common::clip_path(name))
        .args(["-autoscale", "0", "-f", "framecrc", "-"])
        .output()
        .expect("ffmpeg CLI (./dev.sh setup installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|s| s.trim().to_owned()))
        .collect()
}

#[test]
fn every_clip_matches_ffmpeg_frame_for_frame() {
    for name in common::ALL_CLIPS {
        let units = units(name);
        let (frames, dec) = decode_all(name, software(), &units);
        let ours: Vec<String> = frames.iter().map(sum).collect();
        let theirs = reference(name);
        assert_eq!(ours.len(), theirs.len(), "{name}: frame count");
        assert_eq!(ours, theirs, "{name}: frame checksums");
        assert_eq!(dec.stats().errors, 0, "{name}");
        assert_eq!(dec.stats().path, "software", "{name}");
    }
}

/// Low delay: without B-frames, every access unit gives its frame before the next goes in.
#[test]
fn one_frame_out_per_access_unit_in() {
    for name in [
        "h264_high_1080p.h264",
        "h264_slices4_720p.h264",
        "h265_main_1080p.h265",
    ] {
        let mut dec = Decoder::new(name, software()).unwrap();
        for (i, au) in units(name).iter().enumerate() {
            let mut n = 0;
            dec.decode(au, &mut |_| n += 1).unwrap();
            assert_eq!(n, 1, "{name}: unit {i} gave {n} frames");
        }
    }
}

#[test]
fn layouts_and_colour_come_from_the_stream() {
    let (frames, _) = decode_all(
        "h264_full_range_720p.h264",
        software(),
        &units("h264_full_range_720p.h264"),
    );
    assert_eq!(frames[0].layout, Layout::I420);
    assert_eq!(frames[0].colour.range, Range::Full);
    let (frames, _) = decode_all(
        "h264_baseline_720p.h264",
        software(),
        &units("h264_baseline_720p.h264"),
    );
    assert_eq!(frames[0].colour.range, Range::Limited);
    assert_eq!((frames[0].width, frames[0].height), (1280, 720));
}

#[test]
fn resolution_change_mid_stream() {
    let (frames, _) = decode_all(
        "h264_res_change.h264",
        software(),
        &units("h264_res_change.h264"),
    );
    let first = (frames[0].width, frames[0].height);
    let last = frames.last().map(|f| (f.width, f.height)).unwrap();
    assert_eq!((first, last), ((1280, 720), (854, 480)));
}

/// Bytes flipped in the middle of a P-frame: decoding goes on, and every frame from the next
/// keyframe on is exact again.
#[test]
fn corruption_recovers_at_the_next_keyframe() {
    let name = "h264_baseline_720p.h264";
    let mut units = units(name);
    let victim = 3; // a P-frame in the first GOP (keyint 10)
    assert!(!units[victim].keyframe);
    let len = units[victim].data.len();
    for b in &mut units[victim].data[len / 2..len / 2 + 200] {
        *b = b.wrapping_mul(167).wrapping_add(13) | 1; // never 0: no start code appears
    }
    // And an access unit of pure garbage.
    let mut garbage = units[5].clone();
    garbage.data = (0..5000u32)
        .map(|i| (i * 7919 % 251) as u8 | 0x80)
        .collect();
    units.insert(6, garbage);
    let (frames, dec) = decode_all(name, software(), &units);
    let ours: Vec<String> = frames.iter().map(sum).collect();
    let theirs = reference(name);
    let next_key = units.iter().skip(victim).position(|u| u.keyframe).unwrap() + victim;
    // Frames from the next keyframe on are exact (the inserted garbage unit shifts by one).
    let tail = ours.len().min(theirs.len()) - (next_key - 1);
    assert!(tail > 5);
    assert_eq!(ours[ours.len() - tail..], theirs[theirs.len() - tail..]);
    assert!(
        dec.stats().errors + dec.stats().corrupt_frames + dec.stats().dropped_before_keyframe > 0
    );
}

#[test]
fn decoding_starts_at_a_keyframe() {
    let units = units("h264_baseline_720p.h264");
    let (frames, dec) = decode_all("join", software(), &units[4..]);
    let first_key = units[4..].iter().position(|u| u.keyframe).unwrap();
    assert_eq!(dec.stats().dropped_before_keyframe, first_key as u64);
    assert_eq!(frames.len(), units.len() - 4 - first_key);
}

/// This machine has no VA-API or CUDA device: `auto` and `vaapi` fall back to software and
/// say why; strict mode fails with the reason.
#[test]
fn hardware_requests_fall_back_or_fail_clearly() {
    let units = units("h264_baseline_720p.h264");
    for accel in [
        vec![Accel::Auto],
        vec![Accel::Vaapi],
        vec![Accel::Vulkan, Accel::Cuda],
    ] {
        let config = DecoderConfig {
            accel: accel.clone(),
            ..DecoderConfig::default()
        };
        let (frames, dec) = decode_all("fallback", config, &units);
        let path = dec.stats().path.clone();
        if path.starts_with("software") {
            assert_eq!(frames.len(), units.len(), "{accel:?}");
            for a in &accel {
                if *a != Accel::Auto {
                    assert!(path.contains(a.name()), "{accel:?}: {path}");
                }
            }
            assert!(dec.stats().fallbacks >= 1);
            assert!(frames.iter().all(|f| *f.path == path));
        } else {
            eprintln!("hardware present here ({path}): fallback not exercised for {accel:?}");
        }
    }
    let strict = DecoderConfig {
        accel: vec![Accel::Vaapi],
        strict: true,
        ..DecoderConfig::default()
    };
    let mut dec = Decoder::new("strict", strict).unwrap();
    match dec.decode(&units[0], &mut |_| {}) {
        Err(e @ DecodeError::Strict { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("vaapi") && msg.contains("--accel-strict"),
                "{msg}"
            );
        }
        Err(e) => panic!("unexpected error: {e}"),
        Ok(()) => eprintln!("VA-API works here: strict failure not exercised"),
    }
}

/// A Raspberry Pi's decoders are not on this machine: `v4l2m2m` opens FFmpeg's own
/// `h264_v4l2m2m`/`hevc_v4l2m2m` (which find no V4L2 decoder), `drm` wants a DRM
/// configuration of FFmpeg's decoder and a DRM device; each falls back to software with its
/// reason, every frame decoded; strict mode fails naming the path. `auto` tries them first
/// on ARM Linux only.
#[test]
fn pi_decoders_fall_back_with_their_reason() {
    for (clip, codec, wrapper) in [
        ("h264_baseline_720p.h264", "H.264", "h264_v4l2m2m"),
        ("h265_main_1080p.h265", "H.265", "hevc_v4l2m2m"),
    ] {
        let units = units(clip);
        for accel in [Accel::V4l2m2m, Accel::Drm] {
            let config = DecoderConfig {
                accel: vec![accel],
                ..DecoderConfig::default()
            };
            let (frames, dec) = decode_all("pi", config, &units);
            let path = dec.stats().path.clone();
            if !path.starts_with("software") {
                eprintln!("{accel} decodes {codec} here ({path}): fallback not exercised");
                continue;
            }
            assert_eq!(frames.len(), units.len(), "{accel} {codec}: {path}");
            assert_eq!(dec.stats().fallbacks, 1, "{path}");
            let reason = path
                .split(&format!("{accel}: "))
                .nth(1)
                .unwrap_or_else(|| panic!("no {accel} reason in {path:?}"));
            match accel {
                Accel::V4l2m2m => assert!(
                    reason.contains(wrapper) && reason.contains("no V4L2 decoder"),
                    "{path}"
                ),
                _ => assert!(
                    reason.contains("drm configuration")
                        || reason.contains("cannot open the device"),
                    "{path}"
                ),
            }
        }
        let strict = DecoderConfig {
            accel: vec![Accel::V4l2m2m],
            strict: true,
            ..DecoderConfig::default()
        };
        let mut dec = Decoder::new("strict", strict).unwrap();
        match dec.decode(&units[0], &mut |_| {}) {
            Err(e @ DecodeError::Strict { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("v4l2m2m") && msg.contains(wrapper), "{msg}");
            }
            Err(e) => panic!("unexpected error: {e}"),
            Ok(()) => eprintln!("{wrapper} works here: strict failure not exercised"),
        }
    }
    assert_eq!(
        Accel::order_for("linux", "aarch64")[..2],
        [Accel::Drm, Accel::V4l2m2m]
    );
    assert!(!Accel::order_for("linux", "x86_64").contains(&Accel::V4l2m2m));
    assert_eq!("v4l2m2m".parse::<Accel>(), Ok(Accel::V4l2m2m));
    assert_eq!("DRM".parse::<Accel>(), Ok(Accel::Drm));
}

#[test]
fn accel_names_parse() {
    assert_eq!("NVDEC".parse::<Accel>(), Ok(Accel::Cuda));
    assert_eq!("none".parse::<Accel>(), Ok(Accel::None));
    assert!("opengl".parse::<Accel>().unwrap_err().contains("vaapi"));
}

/// The display mailbox keeps only the newest frame and counts the ones replaced.
#[test]
fn latest_frame_slot_keeps_the_newest() {
    let wakes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let w = wakes.clone();
    let slot = LatestFrame::new(move || {
        w.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    let units = units("h264_baseline_720p.h264");
    let mut thread =
        DecoderThread::spawn("slot", software(), FrameSink::Latest(slot.clone())).unwrap();
    for au in units.iter().cloned() {
        thread.push(au);
    }
    let stats = thread.finish().unwrap();
    assert_eq!(stats.frames_out, units.len() as u64);
    assert_eq!(
        wakes.load(std::sync::atomic::Ordering::Relaxed),
        units.len() as u64
    );
    let newest = slot.take().unwrap();
    assert_eq!(
        sum(&newest),
        *reference("h264_baseline_720p.h264").last().unwrap()
    );
    assert_eq!(slot.replaced(), units.len() as u64 - 1);
    assert!(slot.take().is_none());
}

/// A decoder that falls behind (a unit has waited [`MAX_WAIT`] for it) drops units, and
/// then every unit up to the next keyframe: the pictures after a missing one would decode
/// damaged. Nothing between a drop and the next keyframe is decoded; from the keyframe on,
/// everything is.
#[test]
fn a_drop_is_followed_by_a_resync_at_the_next_keyframe() {
    let name = "h264_baseline_720p.h264";
    let t0 = Instant::now();
    // Each unit tagged with its index (as its arrival instant), to know which were decoded.
    let aus: Vec<AccessUnit<Instant>> = units(name)
        .into_iter()
        .enumerate()
        .map(|(i, au)| AccessUnit {
            at: t0 + std::time::Duration::from_millis(i as u64),
            ..au
        })
        .collect();
    let index = |f: &Frame| f.received_at.duration_since(t0).as_millis() as usize;
    // A consumer that takes nothing at first: the decoder blocks, its queue fills.
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let mut d = DecoderThread::spawn("resync", software(), FrameSink::Every(tx)).unwrap();
    let (waited_on, first_burst) = (4, 14);
    for au in &aus[..waited_on] {
        d.try_push(au.clone());
    }
    // The decoder is stuck on the second unit's frame: the units behind it wait.
    std::thread::sleep(MAX_WAIT + std::time::Duration::from_millis(200));
    for au in &aus[waited_on..first_burst] {
        d.try_push(au.clone());
    }
    let dropped_at = first_burst - usize::try_from(d.stats().dropped_behind).unwrap();
    assert_eq!(dropped_at, waited_on, "not dropped after waiting");
    // The consumer catches up; the rest arrives at a pace the decoder keeps up with.
    let mut frames: Vec<usize> = Vec::new();
    let drain = |frames: &mut Vec<usize>| {
        while let Ok(f) = rx.recv_timeout(std::time::Duration::from_millis(300)) {
            frames.push(index(&f));
        }
    };
    drain(&mut frames);
    for au in &aus[first_burst..] {
        d.try_push(au.clone());
        drain(&mut frames);
    }
    let stats = d.finish().unwrap();
    drain(&mut frames);
    // The queue stayed full through the burst (a keyframe in it was dropped as well); the
    // first keyframe pushed after it is where decoding starts again. The P units pushed
    // between the burst and it are what a decoder without the resync would decode damaged.
    let next_key = (first_burst..aus.len())
        .find(|&i| aus[i].keyframe)
        .expect("a keyframe after the burst");
    assert!(
        next_key > first_burst,
        "no P unit between the burst and the keyframe"
    );
    let damaged: Vec<usize> = frames
        .iter()
        .copied()
        .filter(|&i| i >= dropped_at && i < next_key)
        .collect();
    assert!(
        damaged.is_empty(),
        "decoded after a drop, before a keyframe: {damaged:?}"
    );
    // Before the drop and from the keyframe on: every unit decoded, no error.
    let expected: Vec<usize> = (0..dropped_at).chain(next_key..aus.len()).collect();
    assert_eq!(frames, expected);
    assert_eq!(stats.errors, 0);
    assert_eq!(stats.dropped_behind as usize, next_key - dropped_at);
}

/// The real server sends the frames captured while a stream started in one burst (about
/// 650 ms of them, more on a slow start): a decoder that keeps up works the burst off and
/// decodes every unit, none dropped as "behind" — a drop there froze the picture until the
/// next keyframe, seconds later, at every other stream start.
#[test]
fn a_burst_at_the_start_is_decoded_whole() {
    let units = units("h264_baseline_720p.h264");
    let (burst, paced) = (20, 10);
    assert!(units.len() >= burst + paced);
    let (tx, rx) = std::sync::mpsc::sync_channel(units.len());
    let mut d = DecoderThread::spawn("burst", software(), FrameSink::Every(tx)).unwrap();
    for au in &units[..burst] {
        d.try_push(au.clone());
    }
    for au in &units[burst..burst + paced] {
        std::thread::sleep(std::time::Duration::from_millis(50));
        d.try_push(au.clone());
    }
    let stats = d.finish().unwrap();
    assert_eq!(stats.dropped_behind, 0, "{stats:?}");
    assert_eq!(rx.try_iter().count(), burst + paced);
}

/// Frames the decoder still holds at the end (B-frame reordering) are counted like the
/// others: a 4:4:4 stream (a format the renderer does not take) has every one of its frames
/// counted as unsupported, those drained at the end included.
#[test]
fn frames_drained_at_the_end_are_counted() {
    let path = std::env::temp_dir().join(format!("eufy-444-{}.h264", std::process::id()));
    let made = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=160x120:rate=15:duration=1")
        .args([
            "-c:v", "libx264", "-pix_fmt", "yuv444p", "-bf", "2", "-g", "15",
        ])
        .args(["-f", "h264"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    let data = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).ok();
    let aus = timed(&data);
    assert_eq!(aus.len(), 15);
    let (frames, dec) = decode_all("yuv444", software(), &aus);
    assert!(frames.is_empty());
    let stats = dec.stats();
    assert_eq!(stats.unsupported_frames, 15, "{stats:?}");
    assert_eq!(stats.errors, 0);
}

/// The cameras' AAC (ADTS frames, 16 kHz mono) decoded and resampled to a 48 kHz stereo
/// device: as many samples as FFmpeg's own decode and resample of the file, and the same
/// loudness.
#[test]
fn aac_decodes_like_ffmpeg() {
    use eufy_hw::audio::decode::AacDecoder;
    let path = common::clip_path("aac_16k_mono.aac");
    let bytes = std::fs::read(&path).unwrap();
    let frames = eufy_hw::bitstream::adts::split_frames(&bytes);
    assert!(frames.len() > 20);
    let mut d = AacDecoder::new(2, 48_000).unwrap();
    let mut ours = Vec::new();
    for f in &frames {
        if let Some(pcm) = d.decode(f) {
            assert_eq!((pcm.channels, pcm.rate), (2, 48_000));
            ours.extend(pcm.samples);
        }
    }
    assert_eq!(d.errors, 0);
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&path)
        .args(["-ar", "48000", "-ac", "2", "-f", "f32le", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let theirs: Vec<f32> = out
        .stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let (a, b) = (ours.len() as f64, theirs.len() as f64);
    assert!((a - b).abs() / b < 0.03, "{a} samples, FFmpeg {b}");
    let rms =
        |v: &[f32]| (v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    let (ra, rb) = (rms(&ours), rms(&theirs));
    assert!(rb > 0.01, "the clip is not silent ({rb})");
    assert!((ra - rb).abs() / rb < 0.05, "rms {ra} vs FFmpeg {rb}");
    // The same frames without their headers, after a 2-byte AudioSpecificConfig (as some
    // cameras are said to send them): the same samples.
    let asc = eufy_hw::bitstream::adts::parse_header(frames[0])
        .unwrap()
        .audio_specific_config();
    let mut raw = AacDecoder::new(2, 48_000).unwrap();
    assert_eq!(raw.decode_any(&asc), None);
    let mut from_raw = Vec::new();
    for f in &frames {
        let h = eufy_hw::bitstream::adts::parse_header(f).unwrap();
        if let Some(pcm) = raw.decode_any(&f[h.header_len..h.frame_len]) {
            from_raw.extend(pcm.samples);
        }
    }
    assert_eq!(raw.errors, 0);
    assert!(from_raw == ours, "raw AAC decodes differently");
    // Raw frames with no config before them are counted, not decoded.
    let mut lost = AacDecoder::new(2, 48_000).unwrap();
    assert_eq!(lost.decode_any(&frames[3][7..]), None);
    assert_eq!(lost.errors, 1);
    // Both channels carry the mono source.
    let (l, r): (Vec<f32>, Vec<f32>) = ours.chunks_exact(2).map(|c| (c[0], c[1])).unzip();
    assert!((rms(&l) - rms(&r)).abs() < 1e-6);
}

/// A stream that is interrupted (a cut-off, its station's turn passing, a lost connection)
/// resets its decoder: the pictures it still held (B-frame reordering) come out with the old
/// stream, and after the gap the first picture is the new stream's keyframe, with no picture
/// of the old stream after it. Through the pipeline's feed, as the viewer runs it: video
/// events, the interruption (`Ended`, or `Reconnecting`), video events of a new stream.
#[test]
fn after_a_gap_the_first_picture_is_the_new_streams_keyframe() {
    use eufy_hw::eufy::session::SessionEvent;
    let ended = SessionEvent::Ended {
        serial: "A".into(),
        reason: "cut off".into(),
    };
    let lost = SessionEvent::Reconnecting {
        reason: "connection lost".into(),
        delay: std::time::Duration::from_millis(500),
    };
    for interruption in [ended, lost] {
        interrupted_stream(interruption);
    }
}

fn interrupted_stream(interruption: eufy_hw::eufy::session::SessionEvent) {
    use eufy_hw::eufy::session::SessionEvent;
    use eufy_hw::pipeline::Feed;
    use std::time::Duration;

    let name = "h264_high_1080p_bframes.h264";
    let what = format!("{interruption:?}");
    let aus = units(name);
    let (old_n, new_n) = (20, 12);
    assert!(aus[0].keyframe && aus.len() >= old_n);
    // FFmpeg's pictures of the first n units, drained at the end.
    let reference = |n: u64| -> Vec<String> {
        let n = n as usize;
        decode_all(name, software(), &aus[..n])
            .0
            .iter()
            .map(sum)
            .collect()
    };

    let (tx, rx) = std::sync::mpsc::sync_channel::<Frame>(256);
    let mut feed = Feed::new(&["A".to_owned()], software(), move |_| {
        FrameSink::Every(tx.clone())
    });
    // Every unit decoded (the viewer drops units when its decoder is behind).
    feed.lossless = true;
    let video = |au: &AccessUnit<Instant>| SessionEvent::Video {
        serial: "A".into(),
        data: au.data.clone(),
        received_at: Instant::now(),
    };
    for au in &aus[..old_n] {
        feed.on_event(video(au));
    }
    feed.on_event(interruption);
    // A lost connection drops the unit it cut short; an ended stream's last one is complete.
    let delivered = feed.statuses.lock().unwrap()["A"].access_units;
    // The old stream's pictures, all of them once the decoder was reset.
    let mut frames = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while (frames.len() as u64) < delivered && Instant::now() < deadline {
        if let Ok(f) = rx.recv_timeout(Duration::from_millis(50)) {
            frames.push(f);
        }
    }
    let gap = Instant::now();
    std::thread::sleep(Duration::from_millis(5));
    for au in &aus[..new_n] {
        feed.on_event(video(au));
    }
    let stats = feed.finish().unwrap();
    frames.extend(rx.try_iter());

    let old: Vec<&Frame> = frames.iter().filter(|f| f.received_at < gap).collect();
    let new: Vec<&Frame> = frames.iter().filter(|f| f.received_at >= gap).collect();
    let sums = |v: &[&Frame]| v.iter().map(|f| sum(f)).collect::<Vec<_>>();
    assert!(delivered >= old_n as u64 - 1, "{what}: {delivered} units");
    assert_eq!(sums(&old), reference(delivered), "{what}: the old stream");
    assert_eq!(
        sums(&new),
        reference(new_n as u64),
        "{what}: the new stream"
    );
    let after_gap: Vec<&Frame> = frames.iter().filter(|f| f.decoded_at >= gap).collect();
    assert!(
        after_gap.first().is_some_and(|f| f.received_at >= gap),
        "{what}: the first picture after the gap is the new stream's ({} of the old stream came after it)",
        after_gap.iter().filter(|f| f.received_at < gap).count()
    );
    let first_new = frames.iter().position(|f| f.received_at >= gap).unwrap();
    assert!(
        frames[first_new..].iter().all(|f| f.received_at >= gap),
        "{what}: no picture of the old stream after the new one's first"
    );
    assert_eq!(stats["A"].resets, 1, "{what}: {:?}", stats["A"]);
}

/// A camera's still picture (its JPEG `picture` property): 4:2:0 as cameras send it, and
/// 4:2:2 brought to 4:2:0; the luma equals FFmpeg's own decode of the file.
#[test]
fn pictures_decode_like_ffmpeg() {
    for name in ["still_420.jpg", "still_422.jpg"] {
        let path = common::clip_path(name);
        let frame = eufy_hw::decode::picture(&std::fs::read(&path).unwrap(), "T1").unwrap();
        assert_eq!(
            (frame.width, frame.height, frame.layout),
            (640, 360, Layout::I420)
        );
        assert_eq!(
            frame.colour.range,
            Range::Full,
            "{name}: JPEG is full range"
        );
        let out = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(&path)
            .args(["-f", "rawvideo", "-pix_fmt", "gray", "-"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let ours: Vec<u8> = (0..360)
            .flat_map(|y| frame.plane(0)[y * frame.stride(0)..][..640].to_vec())
            .collect();
        assert_eq!(ours.len(), out.stdout.len());
        let worst = ours
            .iter()
            .zip(&out.stdout)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= 1, "{name}: luma differs by {worst}");
    }
    assert!(eufy_hw::decode::picture(b"not a jpeg", "T1").is_err());
}

/// A JPEG far larger than any camera's picture (8192x8192, 67 million pixels, yet only a
/// few KiB of one colour) is refused before it is decoded, and cut-off JPEGs fail cleanly.
#[test]
fn pictures_too_large_or_cut_are_refused() {
    let dir = std::env::temp_dir().join(format!("eufy-huge-jpeg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("huge.jpg");
    let ok = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("color=c=gray:s=8192x8192")
        .args(["-frames:v", "1"])
        .arg(&path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ffmpeg made no JPEG");
    let huge = std::fs::read(&path).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(huge.len() < 1 << 20, "{} bytes", huge.len());
    let err = eufy_hw::decode::picture(&huge, "T1").map(|f| (f.width, f.height));
    match err {
        Err(e) => assert!(e.to_string().contains("larger than"), "{e}"),
        Ok(size) => panic!("an 8192x8192 picture was decoded: {size:?}"),
    }
    let jpeg = std::fs::read(common::clip_path("still_420.jpg")).unwrap();
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xff, 0xc0])
        .expect("a baseline JPEG");
    for cut in [2, 100, sof + 4, jpeg.len() / 2] {
        if let Ok(f) = eufy_hw::decode::picture(&jpeg[..cut], "T1") {
            assert_eq!((f.width, f.height), (640, 360), "cut at {cut}");
        }
    }
}

/// A hardware path that cannot open is tried once per codec in a process, not once per
/// camera: sixteen cameras asking for VA-API where there is none probe it once, each still
/// decoding everything with the reason in its path.
#[test]
fn an_unavailable_path_is_probed_once_for_all_cameras() {
    let units = units("h264_baseline_720p.h264");
    let config = DecoderConfig {
        accel: vec![Accel::Vaapi],
        ..DecoderConfig::default()
    };
    let (_, first) = decode_all("probe-0", config.clone(), &units[..3]);
    if !first.stats().path.starts_with("software") {
        eprintln!("VA-API works here: the probe cache not exercised");
        return;
    }
    let h264 = eufy_hw::bitstream::Codec::H264;
    let probes = eufy_hw::decode::unavailable_probes(Accel::Vaapi, h264);
    assert!(probes >= 1);
    for k in 1..16 {
        let (frames, dec) = decode_all(&format!("probe-{k}"), config.clone(), &units[..3]);
        assert_eq!(frames.len(), 3);
        assert!(dec.stats().path.contains("vaapi"), "{}", dec.stats().path);
    }
    assert_eq!(
        eufy_hw::decode::unavailable_probes(Accel::Vaapi, h264),
        probes,
        "probed again per camera"
    );
}

/// Each frame carries the arrival time of the unit that carried it, not of the unit being
/// fed when it came out (issue 30: decoders return frames late, by reordering, frame
/// threads or a hardware queue, and latency looked better than it was). With B-frames the
/// frames come out in display order: their arrivals are every unit's, once each, and not
/// in arrival order; frames held until the end are matched too.
#[test]
fn frames_carry_their_own_units_arrival() {
    let t0 = Instant::now();
    let mut units = units("h264_high_1080p_bframes.h264");
    units.truncate(40);
    for (k, au) in units.iter_mut().enumerate() {
        au.at = t0 + std::time::Duration::from_millis(k as u64 * 10);
    }
    let config = DecoderConfig {
        threading: eufy_hw::decode::Threading::Frame(2),
        ..software()
    };
    let (frames, _) = decode_all("arrivals", config, &units);
    assert_eq!(frames.len(), units.len());
    let mut got: Vec<Instant> = frames.iter().map(|f| f.received_at).collect();
    assert!(
        got.windows(2).any(|w| w[1] < w[0]),
        "B-frames shown before a unit that arrived earlier: arrivals not monotonic"
    );
    got.sort();
    let mut sent: Vec<Instant> = units.iter().map(|u| u.at).collect();
    sent.sort();
    assert_eq!(got, sent, "each frame matched with its own unit's arrival");
}

/// A stand-in for a Pi's `h264_v4l2m2m` wrapper (issue 30), through the decoder seam: a real
/// software H.264 decoder inside, with the wrapper's habits.
mod fake {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use eufy_hw::decode::backend::{Backend, Opener, Received, Sent};
    use eufy_hw::decode::Accel;
    use ffmpeg_next as ffmpeg;

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub enum Habit {
        /// Upstream's: no flush; after the end of stream it stays draining, takes units and
        /// gives nothing, then says EAGAIN.
        StaysDraining,
        /// Frames are ready one call late; while one waits, a new unit is refused (EAGAIN).
        Eagain,
        /// Takes units, never gives a frame (a stuck decoder).
        Silent,
        /// Decodes, but every frame is flagged corrupt (rpi's HEVC reports errors so).
        Corrupt,
        /// Plain; the frames point into its own buffers (their addresses are kept).
        Plain,
    }

    pub struct Wrapper {
        inner: ffmpeg::decoder::Video,
        habit: Habit,
        draining: bool,
        swallowed: u32,
        ready: VecDeque<ffmpeg::frame::Video>,
        fresh: bool,
        handed: Arc<Mutex<Vec<usize>>>,
    }

    impl Wrapper {
        fn new(habit: Habit, handed: Arc<Mutex<Vec<usize>>>) -> Wrapper {
            let codec = ffmpeg::decoder::find(ffmpeg::codec::Id::H264).unwrap();
            let inner = ffmpeg::codec::Context::new_with_codec(codec)
                .decoder()
                .video()
                .unwrap();
            Wrapper {
                inner,
                habit,
                draining: false,
                swallowed: 0,
                ready: VecDeque::new(),
                fresh: false,
                handed,
            }
        }

        fn pull(&mut self) {
            let mut f = ffmpeg::frame::Video::empty();
            while self.inner.receive_frame(&mut f).is_ok() {
                self.ready
                    .push_back(std::mem::replace(&mut f, ffmpeg::frame::Video::empty()));
            }
        }
    }

    impl Backend for Wrapper {
        fn send_packet(&mut self, p: &ffmpeg::Packet) -> Result<Sent, ffmpeg::Error> {
            if self.draining {
                self.swallowed += 1;
                return Ok(if self.swallowed > 3 {
                    Sent::Full
                } else {
                    Sent::Taken
                });
            }
            if self.habit == Habit::Eagain && !self.ready.is_empty() {
                return Ok(Sent::Full);
            }
            self.inner.send_packet(p)?;
            self.pull();
            self.fresh = true;
            Ok(Sent::Taken)
        }

        fn receive_frame(
            &mut self,
            frame: &mut ffmpeg::frame::Video,
        ) -> Result<Received, ffmpeg::Error> {
            if self.habit == Habit::Silent {
                return Ok(Received::NeedsInput);
            }
            if self.habit == Habit::Eagain && std::mem::take(&mut self.fresh) {
                return Ok(Received::NeedsInput);
            }
            let Some(mut f) = self.ready.pop_front() else {
                return Ok(if self.draining {
                    Received::Drained
                } else {
                    Received::NeedsInput
                });
            };
            if self.habit == Habit::Corrupt {
                eufy_hw::av::frame::set_decode_error(&mut f);
            }
            self.handed
                .lock()
                .unwrap()
                .push(f.data(0).as_ptr() as usize);
            *frame = f;
            Ok(Received::Frame)
        }

        fn send_eof(&mut self) -> Result<(), ffmpeg::Error> {
            self.inner.send_eof()?;
            self.pull();
            if self.habit == Habit::StaysDraining {
                self.draining = true;
            }
            Ok(())
        }

        fn flush(&mut self) {
            // Upstream's wrapper does nothing here: still draining.
        }

        fn is_hw(&self) -> bool {
            true
        }

        fn is_wrapper(&self) -> bool {
            true
        }

        fn refused(&self) -> bool {
            false
        }
    }

    /// Opens a fresh wrapper with `habit` for `v4l2m2m`; counts the openings; the frames'
    /// addresses it handed out go to `handed`.
    pub fn opener(habit: Habit, opened: Arc<Mutex<u32>>, handed: Arc<Mutex<Vec<usize>>>) -> Opener {
        Box::new(move |_, accel| {
            (accel == Accel::V4l2m2m).then(|| {
                *opened.lock().unwrap() += 1;
                Ok(Box::new(Wrapper::new(habit, handed.clone())) as Box<dyn Backend>)
            })
        })
    }
}

/// A decoder on a fake wrapper, with how often it was opened and the frames it handed out.
type Wrapped = (
    Decoder,
    Arc<std::sync::Mutex<u32>>,
    Arc<std::sync::Mutex<Vec<usize>>>,
);

fn with_wrapper(habit: fake::Habit) -> Wrapped {
    let opened = Arc::new(std::sync::Mutex::new(0));
    let handed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let config = DecoderConfig {
        accel: vec![Accel::V4l2m2m],
        ..DecoderConfig::default()
    };
    let dec = Decoder::with_opener(
        "pi",
        config,
        fake::opener(habit, opened.clone(), handed.clone()),
    )
    .unwrap();
    (dec, opened, handed)
}

/// Issue 30 (1): a reset (every cut-off) reopens a wrapper decoder instead of flushing it:
/// upstream's stays draining after the end of stream and would swallow the next units, then
/// fail over to software. With the reopening, the next stream decodes on the wrapper.
#[test]
fn a_reset_reopens_a_wrapper_decoder() {
    let units = units("h264_baseline_720p.h264");
    let (mut dec, opened, _) = with_wrapper(fake::Habit::StaysDraining);
    let mut frames = 0;
    for au in &units[..20] {
        dec.decode(au, &mut |_| frames += 1).unwrap();
    }
    dec.reset(&mut |_| frames += 1);
    for au in &units[..20] {
        dec.decode(au, &mut |_| frames += 1).unwrap();
    }
    dec.finish(&mut |_| frames += 1);
    assert_eq!(*opened.lock().unwrap(), 2, "opened again at the reset");
    assert!(
        dec.stats().path.starts_with("v4l2m2m"),
        "{}",
        dec.stats().path
    );
    assert_eq!(dec.stats().fallbacks, 0);
    assert!(frames >= 39, "{frames} frames of 40");
}

/// Issue 30 (5): EAGAIN from send_packet is "take my frames first": taken, the unit sent
/// again; no unit lost, no error counted, no fallback.
#[test]
fn eagain_takes_frames_and_sends_again() {
    let units = units("h264_baseline_720p.h264");
    let (mut dec, _, _) = with_wrapper(fake::Habit::Eagain);
    let mut frames = 0;
    for au in &units[..30] {
        dec.decode(au, &mut |_| frames += 1).unwrap();
    }
    dec.finish(&mut |_| frames += 1);
    let s = dec.stats();
    assert_eq!(frames, 30, "every unit's frame");
    assert_eq!((s.errors, s.fallbacks), (0, 0), "{s:?}");
    assert!(s.send_retries >= 25, "{s:?}");
    assert!(s.path.starts_with("v4l2m2m"));
}

/// Issue 30 (3): a hardware path that fails silently (no frame at all, or only corrupt
/// ones) counts as failed after a while, says why, and the ladder goes on to software.
#[test]
fn silent_hardware_failures_fall_back() {
    let units = units("h264_baseline_720p.h264");
    for (habit, why) in [
        (fake::Habit::Silent, "no frame for 30 access units"),
        (fake::Habit::Corrupt, "10 corrupt frames in a row"),
    ] {
        let (mut dec, _, _) = with_wrapper(habit);
        let mut frames = 0;
        for au in &units {
            dec.decode(au, &mut |_| frames += 1).unwrap();
        }
        let s = dec.stats();
        assert!(s.path.starts_with("software"), "{habit:?}: {}", s.path);
        assert!(s.path.contains(why), "{habit:?}: {}", s.path);
        assert!(frames > 0, "{habit:?}: software decodes after the fallback");
    }
}

/// Issue 30 (2): a wrapper's frames are copied out: what the view keeps never points into
/// the decoder's buffers (which it would wait for on a resolution change).
#[test]
fn wrapper_frames_are_copies() {
    let units = units("h264_baseline_720p.h264");
    let (mut dec, _, handed) = with_wrapper(fake::Habit::Plain);
    let mut kept = Vec::new();
    for au in &units[..10] {
        dec.decode(au, &mut |f| kept.push(f)).unwrap();
    }
    assert!(!kept.is_empty());
    let handed = handed.lock().unwrap();
    for f in &kept {
        let at = f.plane(0).as_ptr() as usize;
        assert!(
            !handed.contains(&at),
            "a frame still points into the decoder's buffer"
        );
    }
}
