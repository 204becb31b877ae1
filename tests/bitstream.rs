//! Access-unit assembly on real x264/x265 clips: access units and keyframes agree with
//! `ffprobe` on every clip, property tests give the same output however the bytes are cut
//! (one byte at a time included), and garbage is handled.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use eufy_hw::bitstream::{split_access_units, AccessUnits, AssemblerConfig, Codec};
use proptest::prelude::*;

fn read(name: &str) -> Vec<u8> {
    std::fs::read(common::clip_path(name)).unwrap()
}

/// FFmpeg's parser: one packet per access unit, `K` in the flags for keyframes.
fn ffprobe_packets(name: &str) -> Vec<bool> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=flags",
            "-of",
            "csv=p=0",
        ])
        .arg(common::clip_path(name))
        .output()
        .expect("ffprobe (./dev.sh setup installs ffmpeg)");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.starts_with('K'))
        .collect()
}

#[test]
fn access_units_agree_with_ffmpeg_parser() {
    for name in common::ALL_CLIPS {
        let data = read(name);
        let (aus, stats) = split_access_units(&data);
        let ffmpeg = ffprobe_packets(name);
        assert_eq!(aus.len(), ffmpeg.len(), "{name}: access unit count");
        let ours: Vec<bool> = aus.iter().map(|a| a.keyframe).collect();
        assert_eq!(ours, ffmpeg, "{name}: keyframe flags");
        assert_eq!(stats.splitter.garbage_bytes, 0, "{name}");
        assert_eq!(
            stats.invalid_nals + stats.before_codec + stats.oversized,
            0,
            "{name}"
        );
        let expect = if name.ends_with(".h265") {
            Codec::H265
        } else {
            Codec::H264
        };
        assert!(aus.iter().all(|a| a.codec == expect), "{name}");
        // The concatenation of the units is the file, minus nothing.
        let joined: Vec<u8> = aus.iter().flat_map(|a| a.data.iter().copied()).collect();
        assert_eq!(joined.len(), data.len(), "{name}: bytes lost or added");
        assert!(joined == data, "{name}: bytes differ");
    }
}

#[test]
fn stream_info_from_sps() {
    let cases = [
        ("h264_high_1080p.h264", Codec::H264, 1920, 1080, "High"),
        (
            "h264_baseline_720p.h264",
            Codec::H264,
            1280,
            720,
            "Baseline",
        ),
        ("h265_main_1080p.h265", Codec::H265, 1920, 1080, "Main"),
    ];
    for (name, codec, w, h, profile) in cases {
        let (aus, _) = split_access_units(&read(name));
        let info = aus[0].new_stream_info.expect("SPS in the first unit");
        assert_eq!(
            (info.codec, info.width, info.height),
            (codec, w, h),
            "{name}"
        );
        assert_eq!(info.profile_name(), profile, "{name}");
        if codec == Codec::H264 {
            assert_eq!(info.fps, Some(30.0), "{name}");
        }
    }
}

#[test]
fn resolution_change_is_reported() {
    let (aus, _) = split_access_units(&read("h264_res_change.h264"));
    let sizes: Vec<(u32, u32)> = aus
        .iter()
        .filter_map(|a| a.new_stream_info)
        .map(|i| (i.width, i.height))
        .collect();
    assert_eq!(sizes, vec![(1280, 720), (854, 480)]);
}

#[test]
fn codec_change_is_reported() {
    let mut data = read("h264_baseline_720p.h264");
    data.extend(read("h265_main_1080p.h265"));
    let (aus, stats) = split_access_units(&data);
    assert_eq!(stats.codec_changes, 1);
    let first_h265 = aus.iter().position(|a| a.codec == Codec::H265).unwrap();
    assert!(aus[first_h265].keyframe);
    assert!(aus[..first_h265].iter().all(|a| a.codec == Codec::H264));
}

fn assemble_chunks(data: &[u8], cuts: &[usize]) -> Vec<(bool, Vec<u8>)> {
    let mut asm = AccessUnits::new(AssemblerConfig::default());
    let mut out = Vec::new();
    let mut prev = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.sort_unstable();
    points.push(data.len());
    for p in points {
        asm.push(&data[prev..p], (), |au| out.push((au.keyframe, au.data)));
        prev = p;
    }
    asm.finish(|au| out.push((au.keyframe, au.data)));
    out
}

#[test]
fn one_byte_at_a_time_equals_whole() {
    for name in [
        "h264_3byte_720p.h264",
        "h265_main_1080p.h265",
        "h264_slices4_720p.h264",
    ] {
        let data = read(name);
        let whole = assemble_chunks(&data, &[]);
        let cuts: Vec<usize> = (1..data.len()).collect();
        assert!(assemble_chunks(&data, &cuts) == whole, "{name}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any split of a real clip yields the same access units, byte for byte.
    #[test]
    fn any_split_yields_the_same_access_units(
        clip in prop::sample::select(common::ALL_CLIPS),
        cuts in prop::collection::vec(any::<usize>(), 0..200),
    ) {
        let data = read(clip);
        let whole = assemble_chunks(&data, &[]);
        prop_assert!(assemble_chunks(&data, &cuts) == whole);
    }

    /// Garbage in front of, between and inside a clip never panics, and what follows the
    /// garbage is still found.
    #[test]
    fn garbage_never_panics(
        junk in prop::collection::vec(any::<u8>(), 0..5000),
        at in any::<usize>(),
        cuts in prop::collection::vec(any::<usize>(), 0..50),
    ) {
        let clip = read("h264_baseline_720p.h264");
        let mut data = junk.clone();
        data.extend_from_slice(&clip);
        let pos = at % (data.len() + 1);
        let mut mixed = data[..pos].to_vec();
        mixed.extend_from_slice(&junk);
        mixed.extend_from_slice(&data[pos..]);
        let out = assemble_chunks(&mixed, &cuts);
        prop_assert!(out.iter().filter(|(k, _)| *k).count() >= 2);
    }
}

/// Inputs the fuzzers once failed on (or that model an attack) stay in CI: each access-unit
/// input in `fuzz/regressions/` gives the same output whole and split at every position,
/// never more bytes than it holds.
#[test]
fn fuzz_regression_inputs_still_hold() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read(&path).unwrap();
        if name.starts_with("server_message") {
            if let Ok(text) = std::str::from_utf8(&input) {
                let _ = eufy_hw::eufy::protocol::parse_server_message(text);
            }
            n += 1;
            continue;
        }
        if !name.starts_with("access_units") {
            continue;
        }
        let Some((&flags, data)) = input.split_first() else {
            continue;
        };
        let parse = |parts: &[&[u8]]| {
            let mut asm = AccessUnits::new(AssemblerConfig {
                wait_for_keyframe: flags & 1 == 1,
                max_access_unit: 1 << 12,
            });
            let mut out = Vec::new();
            for p in parts {
                asm.push(p, (), |au| out.push((au.keyframe, au.data)));
            }
            asm.finish(|au| out.push((au.keyframe, au.data)));
            (out, asm.stats())
        };
        let (whole, stats) = parse(&[data]);
        let total: usize = whole.iter().map(|(_, d)| d.len()).sum();
        assert!(
            total <= data.len() + whole.len(),
            "{name}: output larger than input"
        );
        for i in 0..=data.len() {
            let (a, b) = data.split_at(i);
            assert_eq!(parse(&[a, b]).0, whole, "{name}: split at {i}");
        }
        if name.contains("flood") {
            assert!(stats.flooded_nals > 0, "{name}: {stats:?}");
        }
        n += 1;
    }
    assert!(n >= 2, "no regression inputs in {}", dir.display());
}
