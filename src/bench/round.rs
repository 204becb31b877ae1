//! One round: the pipeline (simulator or live server → session → feed → decoders → render
//! thread) measured ([`super::measure`]), then the baseline (FFmpeg alone on the same access
//! units), then the report ([`Report::build`]).

use std::collections::HashMap;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::bitstream::AccessUnit;
use crate::clip::Clip;
use crate::decode::{DecodeError, Decoder, DecoderConfig};
use crate::eufy::session::SessionConfig;
use crate::pipeline::drive::Inputs;
use crate::record::Written;
use crate::shutdown::Trigger;
use crate::simulator::{Camera, Chunking, Pacing, SendLog, SimConfig, Simulator};
use crate::source::RtspSource;

use super::measure::{measure, Streams};
use super::report::{Baseline, Percentiles, Report};
use super::{one_thread_runtime, BenchConfig, BenchError, WARMUP_FRAMES};

/// One pipeline run, then the baseline.
pub(super) fn run_round(
    config: &BenchConfig,
    progress: &(impl Fn(u64, u64) + Send + Sync),
) -> Result<Report, BenchError> {
    // The client's runtime, and the simulator's own (its CPU is the server's, not ours).
    let runtime = one_thread_runtime("bench-io")?;
    let sim_runtime = one_thread_runtime("bench-sim")?;
    let clip_fps = config.fps.or(config.clip.fps()).unwrap_or(15.0);
    let send_log: SendLog = Arc::new(Mutex::new(HashMap::new()));
    let (sim, session) = source(config, &sim_runtime, clip_fps, &send_log)?;
    // --publish: the simulated cameras go to the RTSP server through the publisher; what is
    // measured reads them back from it.
    let (session, publisher) = match &config.publish {
        None => (session, None),
        Some(to) => {
            let publisher = Publisher::start(to, session)?;
            (sources_session(config), Some(publisher))
        }
    };
    let serials = session.serials.clone();
    let streams = Streams {
        inputs: inputs(config, session),
        serials: serials.clone(),
        send_log,
    };
    let measured = measure(config, &runtime, streams, progress);
    let published = publisher.map(Publisher::stop).transpose();
    if let Some(sim) = sim {
        sim_runtime.block_on(sim.shutdown());
    }
    let measured = measured?;
    let published = published?;
    // Baseline: the same decoders on the same access units, nothing around them.
    let live = config.live.is_some() || !config.sources.is_empty();
    let baseline = if live {
        None
    } else {
        let per_stream = (measured.render.shown.len() as u64 / serials.len() as u64).max(1);
        let (fps, times) = baseline(&config.clip, &config.decoder, serials.len(), per_stream)?;
        Some(Baseline {
            fps,
            decode_ms: Percentiles::of(&times),
        })
    };
    Report::build(
        config,
        clip_fps,
        serials.len(),
        measured,
        baseline,
        published,
    )
}

/// The pipeline's inputs: the `--source` RTSP streams (as the session's cameras), or the
/// session, with a short queue: in unpaced runs, backpressure reaches the simulator instead
/// of events piling up (which would only measure queueing).
fn inputs(config: &BenchConfig, session: SessionConfig) -> Inputs {
    let rtsp: Vec<RtspSource> = config
        .sources
        .iter()
        .zip(&session.serials)
        .map(|(url, label)| RtspSource {
            url: url.clone(),
            label: label.clone(),
        })
        .collect();
    Inputs {
        session: Some(session).filter(|_| rtsp.is_empty()),
        control: None,
        rtsp,
        queue: 8,
    }
}

/// The `--source` streams as cameras `RTSP1`, `RTSP2`, … (no eufy-security-ws session).
fn sources_session(config: &BenchConfig) -> SessionConfig {
    let labels = (1..=config.sources.len())
        .map(|i| format!("RTSP{i}"))
        .collect();
    SessionConfig::new("", labels)
}

/// Where the round's streams come from: the simulator (on its own runtime: its CPU is the
/// server's, not ours) or a live server.
fn source(
    config: &BenchConfig,
    sim_runtime: &tokio::runtime::Runtime,
    clip_fps: f64,
    send_log: &SendLog,
) -> Result<(Option<Simulator>, SessionConfig), BenchError> {
    if !config.sources.is_empty() && config.publish.is_none() {
        return Ok((None, sources_session(config)));
    }
    Ok(match &config.live {
        Some((url, serials)) => (
            None,
            SessionConfig {
                wait_server: Some(config.wait_server),
                ..SessionConfig::new(url.clone(), serials.clone())
            },
        ),
        None => {
            let cameras: Vec<Camera> = (1..=config.streams.max(1))
                .map(|i| Camera {
                    serial: format!("BENCH{i:03}"),
                    clip: config.clip.clone(),
                })
                .collect();
            let serials = cameras.iter().map(|c| c.serial.clone()).collect();
            let sim = sim_runtime
                .block_on(Simulator::start(SimConfig {
                    cameras,
                    pacing: if config.unpaced {
                        Pacing::Unpaced
                    } else {
                        Pacing::Fps(clip_fps)
                    },
                    realistic: false,
                    chunking: if config.random_chunks {
                        Chunking::Random {
                            seed: 1,
                            max: 65536,
                        }
                    } else {
                        Chunking::AccessUnit
                    },
                    send_log: Some(send_log.clone()),
                    cutoff: config.cutoff,
                    audio: config.audio.clone(),
                    ..SimConfig::default()
                }))
                .map_err(|e| BenchError::Setup(format!("cannot start the simulator: {e}")))?;
            let url = sim.url();
            let session = SessionConfig {
                // Cut-offs are bridged as soon as the simulator allows.
                restart_pause: Duration::from_millis(100),
                ..SessionConfig::new(url, serials)
            };
            (Some(sim), session)
        }
    })
}

/// `eufy-hw publish`'s pipeline on its own runtime (`bench-publish`), telling what it
/// pushed.
struct Publisher {
    runtime: tokio::runtime::Runtime,
    task: tokio::task::JoinHandle<Result<Vec<crate::record::Recorded>, crate::record::RecordError>>,
    stop: Trigger,
    written: Receiver<Written>,
}

impl Publisher {
    fn start(to: &str, session: SessionConfig) -> Result<Publisher, BenchError> {
        let runtime = one_thread_runtime("bench-publish")?;
        let (stop, shutdown) = crate::shutdown::channel();
        let (tx, written) = std::sync::mpsc::channel();
        let config = crate::record::RecordConfig {
            session,
            output: to.to_owned(),
            duration: None,
            frames: None,
        };
        let task = runtime.spawn(crate::record::record_with(config, shutdown, Some(tx)));
        Ok(Publisher {
            runtime,
            task,
            stop,
            written,
        })
    }

    /// Stops it: the units it pushed, and each one's name and arrival.
    fn stop(self) -> Result<(u64, Vec<Written>), BenchError> {
        self.stop.trigger();
        let recorded = self
            .runtime
            .block_on(self.task)
            .map_err(|e| BenchError::Setup(format!("the publisher failed: {e}")))?
            .map_err(|e| BenchError::Setup(format!("publishing: {e}")))?;
        let units = recorded.iter().map(|r| r.units).sum();
        Ok((units, self.written.try_iter().collect()))
    }
}

/// FFmpeg alone: `streams` threads, each decoding the clip's access units from memory
/// (looping) for `frames` frames with the same settings. Returns frames per second, and the
/// time of each decode call (ms, after the first GOP).
pub fn baseline(
    clip: &Clip,
    config: &DecoderConfig,
    streams: usize,
    frames: u64,
) -> Result<(f64, Vec<f64>), DecodeError> {
    let now = Instant::now();
    let units: Vec<AccessUnit<Instant>> = clip
        .units
        .iter()
        .map(|u| AccessUnit {
            codec: u.info.codec,
            keyframe: u.keyframe,
            data: u.data.to_vec(),
            at: now,
            nal_count: 0,
            new_stream_info: None,
        })
        .collect();
    let started = Instant::now();
    let results: Vec<Result<(u64, Vec<f64>), DecodeError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..streams.max(1))
            .map(|i| {
                let units = &units;
                s.spawn(move || {
                    let mut dec = Decoder::new(&format!("baseline{i}"), config.clone())?;
                    let mut n = 0u64;
                    let mut times = Vec::new();
                    'outer: loop {
                        for au in units {
                            let t = Instant::now();
                            dec.decode(au, &mut |_| n += 1)?;
                            if n > WARMUP_FRAMES {
                                times.push(t.elapsed().as_secs_f64() * 1e3);
                            }
                            if n >= frames {
                                break 'outer;
                            }
                        }
                    }
                    Ok((n, times))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(DecodeError::Thread("baseline thread panicked".into())))
            })
            .collect()
    });
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let mut total = 0;
    let mut all = Vec::new();
    for r in results {
        let (n, t) = r?;
        total += n;
        all.extend(t);
    }
    Ok((total as f64 / secs, all))
}
