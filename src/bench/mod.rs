//! `eufy-hw bench`: frames per second and latency of the whole pipeline, per stage, with
//! FFmpeg alone on the same clip as the baseline in the same run.
//!
//! The pipeline: the simulator in-process on loopback (or a live server), the real client
//! over a real WebSocket, JSON and buffer decoding, access units, one decoder thread per
//! stream, plane upload and the YUV→RGB shader into an offscreen target, waiting for the GPU
//! to finish each frame. The baseline: the same decoder settings decoding the same access
//! units from memory, one thread per stream, nothing else.
//!
//! Stages, per frame, on one clock (`Instant`):
//! - `network`: the simulator hands the event to its socket (after its JSON encoding) →
//!   the client has read and parsed it (one event per access unit only);
//! - `assemble`: received → access unit complete;
//! - `decode`: received → frame out of the decoder (includes the decoder queue);
//! - `render`: frame decoded → uploaded, converted and finished on the GPU;
//! - `end_to_end`: received → finished on the GPU.
//!
//! JSON report (`--json`), schema version 1: see [`Report`]; every duration in ms.

mod cpu;
mod measure;
mod report;
mod round;
mod table;

use std::sync::Arc;
use std::time::Duration;

use crate::clip::Clip;
use crate::decode::{DecodeError, DecoderConfig};
use crate::pipeline::PipelineError;
use crate::render::RenderError;

pub use report::{AudioBench, CpuParts, Percentiles, PublishBench, Report, Round, Stages};
pub use round::baseline;
pub use table::{plot, table};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The clip (simulator mode).
    pub clip: Arc<Clip>,
    /// Simulated cameras.
    pub streams: usize,
    /// Decoders.
    pub decoder: DecoderConfig,
    /// As fast as possible (throughput) instead of paced at `fps` (latency).
    pub unpaced: bool,
    /// Pace (default: the clip's rate, else 15).
    pub fps: Option<f64>,
    /// Frames per stream to show (default 300).
    pub frames: u64,
    /// Stop after this long even if fewer frames were shown.
    pub duration: Option<Duration>,
    /// Render on the GPU (or stop after decoding).
    pub render: bool,
    /// Render into a real 1280x720 window instead of an offscreen target.
    pub window: bool,
    /// Offscreen target size (None: the streams' tiles at the clip's size, at most 1920x1080).
    pub target: Option<(u32, u32)>,
    /// Cut events at random instead of one per access unit.
    pub random_chunks: bool,
    /// Measure a live server (URL, serials) instead of the simulator; no baseline.
    pub live: Option<(String, Vec<String>)>,
    /// Measure RTSP streams (`rtsp://…`) instead; no baseline.
    pub sources: Vec<String>,
    /// The colour path (`Auto`: by the adapter).
    pub colour: crate::render::ColourChoice,
    /// With `sources`: publish the simulated cameras to this RTSP URL (`{serial}` and
    /// `{name}` replaced) as `eufy-hw publish` does, and read them back from `sources`
    /// (the server's read URLs): the latency publishing adds.
    pub publish: Option<String>,
    /// Pipeline-then-baseline rounds; the report is the round with the median ratio (the
    /// median fps for paced runs), with every round listed.
    pub rounds: usize,
    /// Simulator streams end by themselves this long after they start (cut-offs, bridged by
    /// restarts; the gaps are reported).
    pub cutoff: Option<Duration>,
    /// With `live`: how long to wait for a server still logging in.
    pub wait_server: Duration,
    /// A stream with no new picture this long counts as frozen (the viewer's watchdog).
    pub watchdog: Duration,
    /// ADTS AAC frames the simulated cameras send; the first stream's are played on the
    /// default sound device and measured (latency, A/V offset with a flash-and-beep clip).
    pub audio: Option<Arc<Vec<Arc<[u8]>>>>,
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Runtime, threads, sockets.
    #[error("{0}")]
    Setup(String),
    /// Rendering.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// Decoding (e.g. --accel-strict).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The pipeline.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

/// A target size, `WIDTHxHEIGHT` (each 1 to 8192), as `--size` gives it.
pub fn parse_size(size: &str) -> Result<(u32, u32), String> {
    size.split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .filter(|&(w, h): &(u32, u32)| (1..=8192).contains(&w) && (1..=8192).contains(&h))
        .ok_or_else(|| format!("--size {size:?}: expected WIDTHxHEIGHT"))
}

/// Frames per stream left out of latency figures: the decoder's start (device probing,
/// first keyframe) is not the steady state a viewer lives in.
pub const WARMUP_FRAMES: u64 = 10;

/// Runs the benchmark: `config.rounds` rounds of the pipeline, each followed by the
/// baseline, so that a drift in the machine's speed hits both sides of a ratio alike.
/// `progress(shown, target)` is called as frames are shown.
pub fn run(
    config: &BenchConfig,
    progress: impl Fn(u64, u64) + Send + Sync,
) -> Result<Report, BenchError> {
    let mut reports = Vec::new();
    for _ in 0..config.rounds.max(1) {
        reports.push(round::run_round(config, &progress)?);
    }
    let rounds: Vec<Round> = reports
        .iter()
        .map(|r| Round {
            fps: r.fps,
            baseline_fps: r.baseline_fps,
            ratio: r.ratio,
        })
        .collect();
    reports.sort_by(|a, b| {
        a.ratio
            .unwrap_or(a.fps)
            .total_cmp(&b.ratio.unwrap_or(b.fps))
    });
    let mut median = reports.swap_remove(reports.len() / 2);
    median.rounds = rounds;
    Ok(median)
}

fn one_thread_runtime(name: &str) -> Result<tokio::runtime::Runtime, BenchError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(|e| BenchError::Setup(e.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_parse_within_bounds() {
        assert_eq!(super::parse_size("1920x1080"), Ok((1920, 1080)));
        for bad in ["1920", "0x10", "10x0", "9000x10", "axb", "1920x1080x3", ""] {
            assert!(super::parse_size(bad).is_err(), "{bad}");
        }
    }
}
