//! `eufy-hw record`: what the cameras send, saved as raw Annex-B (a file or stdout) or
//! remuxed into MP4/MKV without re-encoding, from the same session the viewer uses.
//!
//! Raw output is the access units exactly as received, from the first keyframe (parameter
//! sets included, as the camera sends them with each keyframe). MP4 is fragmented (a
//! fragment per keyframe), so a recording cut short by a crash or a power loss still plays;
//! timestamps come from arrival times (the protocol carries none). After a reconnect the
//! recording goes on from the next keyframe; the gap is logged. The unit in progress when
//! recording stops (possibly incomplete) is not written. MP4/MKV carry the camera's AAC audio
//! when its ADTS frames arrived before the first keyframe completed (the stream is set up
//! then); raw output is video only.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ffmpeg_next as ffmpeg;
use tokio::sync::{mpsc, watch};

use crate::bitstream::adts::{self, AdtsHeader};
use crate::bitstream::{AccessUnit, AccessUnits, AssemblerConfig, Codec};
use crate::eufy::session::{run_session, SessionConfig, SessionError, SessionEvent};

/// Where and how to record.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// The session (URL, serials).
    pub session: SessionConfig,
    /// Output path (`{serial}` replaced per camera) or `-` for stdout (raw, one camera).
    pub output: String,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop after this many access units per camera.
    pub frames: Option<u64>,
}

/// Why recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Bad arguments.
    #[error("{0}")]
    Usage(String),
    /// Writing failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The output.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The muxer failed.
    #[error("muxing {path}: {source}")]
    Mux {
        /// The output.
        path: String,
        /// Why.
        source: ffmpeg::Error,
    },
    /// The session failed.
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// What was written per camera.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// The output path.
    pub path: String,
    /// Access units written.
    pub units: u64,
    /// Bytes of video written.
    pub bytes: u64,
    /// Reconnects that left a gap.
    pub gaps: u64,
    /// AAC frames muxed (MP4/MKV only).
    pub audio_frames: u64,
    /// Audio events that were not valid ADTS, or could not be muxed.
    pub audio_dropped: u64,
}

enum Sink {
    Raw(Box<dyn Write + Send>),
    Muxer(Box<Muxer>),
}

struct Muxer {
    out: ffmpeg::format::context::Output,
    first: Option<Instant>,
    last_pts: i64,
    /// The audio stream's index and its last pts, when the camera sends AAC.
    audio: Option<(usize, i64)>,
}

fn codec_id(c: Codec) -> ffmpeg::codec::Id {
    match c {
        Codec::H264 => ffmpeg::codec::Id::H264,
        Codec::H265 => ffmpeg::codec::Id::HEVC,
    }
}

impl Muxer {
    fn open(
        path: &str,
        au: &AccessUnit<Instant>,
        parameter_sets: &[u8],
        audio: Option<AdtsHeader>,
    ) -> Result<Muxer, ffmpeg::Error> {
        ffmpeg::init()?;
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Error);
        let info = au.new_stream_info.ok_or(ffmpeg::Error::InvalidData)?;
        let mut out = ffmpeg::format::output(&path)?;
        out.add_stream(None::<ffmpeg::Codec>)?
            .set_time_base((1, 1000));
        crate::decode::ffi::describe_video_stream(
            &mut out,
            0,
            codec_id(au.codec),
            info.width,
            info.height,
            parameter_sets,
        )?;
        if let Some(h) = audio {
            out.add_stream(None::<ffmpeg::Codec>)?
                .set_time_base((1, 1000));
            crate::decode::ffi::describe_aac_stream(
                &mut out,
                1,
                h.sample_rate(),
                h.channels,
                &h.audio_specific_config(),
            )?;
        }
        let mut opts = ffmpeg::Dictionary::new();
        if path.ends_with(".mp4") || path.ends_with(".mov") {
            opts.set("movflags", "frag_keyframe+empty_moov+default_base_moof");
        }
        out.write_header_with(opts)?;
        Ok(Muxer {
            out,
            first: None,
            last_pts: -1,
            audio: audio.map(|_| (1, -1)),
        })
    }

    fn write(&mut self, au: &AccessUnit<Instant>) -> Result<(), ffmpeg::Error> {
        let first = *self.first.get_or_insert(au.at);
        // Milliseconds since the first unit; strictly increasing (arrival can tie).
        let pts =
            (au.at.saturating_duration_since(first).as_millis() as i64).max(self.last_pts + 1);
        // The protocol has no timestamps: a unit lasts as long as the gap before it.
        let duration = if self.last_pts < 0 {
            66
        } else {
            pts - self.last_pts
        };
        self.last_pts = pts;
        let mut packet = ffmpeg::Packet::copy(&au.data);
        packet.set_stream(0);
        packet.set_pts(Some(pts));
        packet.set_dts(Some(pts));
        packet.set_duration(duration);
        if au.keyframe {
            packet.set_flags(ffmpeg::packet::Flags::KEY);
        }
        let tb = self
            .out
            .stream(0)
            .map_or(ffmpeg::Rational(1, 1000), |s| s.time_base());
        packet.rescale_ts(ffmpeg::Rational(1, 1000), tb);
        packet.write_interleaved(&mut self.out)
    }

    /// Writes one ADTS frame's payload to the audio stream, timed by arrival.
    fn write_audio(&mut self, frame: &[u8], at: Instant) -> Result<(), ffmpeg::Error> {
        let (Some((index, last)), Some(first)) = (self.audio, self.first) else {
            return Ok(()); // no audio stream, or no video yet: nothing to align with
        };
        let Some(h) = adts::parse_header(frame) else {
            return Err(ffmpeg::Error::InvalidData);
        };
        let Some(payload) = frame.get(h.header_len..h.frame_len.min(frame.len())) else {
            return Err(ffmpeg::Error::InvalidData);
        };
        let pts = (at.saturating_duration_since(first).as_millis() as i64).max(last + 1);
        self.audio = Some((index, pts));
        let mut packet = ffmpeg::Packet::copy(payload);
        packet.set_stream(index);
        packet.set_pts(Some(pts));
        packet.set_dts(Some(pts));
        let tb = self
            .out
            .stream(index)
            .map_or(ffmpeg::Rational(1, 1000), |s| s.time_base());
        packet.rescale_ts(ffmpeg::Rational(1, 1000), tb);
        packet.write_interleaved(&mut self.out)
    }

    fn finish(&mut self) -> Result<(), ffmpeg::Error> {
        self.out.write_trailer()
    }
}

struct Camera {
    assembler: AccessUnits<Instant>,
    sink: Option<Sink>,
    rec: Recorded,
    started: bool,
    /// The camera's audio format, from the first valid ADTS header seen.
    audio: Option<AdtsHeader>,
}

fn output_path(template: &str, serial: &str, several: bool) -> Result<String, RecordError> {
    if template == "-" {
        if several {
            return Err(RecordError::Usage(
                "--output - takes one camera; use a file name with {serial} for several".into(),
            ));
        }
        return Ok("-".into());
    }
    if several && !template.contains("{serial}") {
        return Err(RecordError::Usage(
            "several cameras need {serial} in --output".into(),
        ));
    }
    Ok(template.replace("{serial}", serial))
}

fn is_raw(path: &str) -> bool {
    path == "-"
        || [".h264", ".h265", ".264", ".265", ".hevc"]
            .iter()
            .any(|e| path.ends_with(e))
}

/// Records until `stop`, the duration or the frame count.
pub async fn record(
    config: RecordConfig,
    stop: watch::Receiver<bool>,
) -> Result<Vec<Recorded>, RecordError> {
    let serials = config.session.serials.clone();
    let several = serials.len() > 1;
    let mut cams: HashMap<String, Camera> = HashMap::new();
    for s in &serials {
        let path = output_path(&config.output, s, several)?;
        if !(is_raw(&path)
            || path.ends_with(".mp4")
            || path.ends_with(".mkv")
            || path.ends_with(".mov"))
        {
            return Err(RecordError::Usage(format!(
                "{path}: use .h264/.h265 (raw), .mp4, .mkv or - (stdout)"
            )));
        }
        cams.insert(
            s.clone(),
            Camera {
                assembler: AccessUnits::new(AssemblerConfig {
                    wait_for_keyframe: true,
                    ..Default::default()
                }),
                sink: None,
                rec: Recorded {
                    path,
                    ..Recorded::default()
                },
                started: false,
                audio: None,
            },
        );
    }
    let (tx, mut rx) = mpsc::channel(256);
    let (inner_stop, inner_rx) = watch::channel(false);
    let session = tokio::spawn(run_session(config.session.clone(), tx, inner_rx));
    let deadline = config.duration.map(|d| tokio::time::Instant::now() + d);
    let mut stop = stop;
    let result = loop {
        let timer = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = rx.recv() => match ev {
                None => break Ok(()),
                Some(SessionEvent::Video { serial, data, received_at }) => {
                    let Some(cam) = cams.get_mut(&serial) else { continue };
                    let mut units = Vec::new();
                    cam.assembler.push(&data, received_at, |au| units.push(au));
                    let room = config.frames.map_or(usize::MAX, |n| n.saturating_sub(cam.rec.units) as usize);
                    units.truncate(room);
                    let failed = units.iter().find_map(|au| write_unit(cam, au).err());
                    if let Some(e) = failed {
                        let _ = inner_stop.send(true);
                        break Err(e);
                    }
                    if config.frames.is_some_and(|n| cams.values().all(|c| c.rec.units >= n)) {
                        let _ = inner_stop.send(true);
                    }
                }
                Some(SessionEvent::Audio { serial, data, received_at }) => {
                    let Some(cam) = cams.get_mut(&serial) else { continue };
                    match adts::parse_header(&data) {
                        Some(h) => {
                            cam.audio.get_or_insert(h);
                            if let Some(Sink::Muxer(m)) = cam.sink.as_mut() {
                                if let Err(e) = m.write_audio(&data, received_at) {
                                    tracing::debug!(%serial, "audio frame dropped: {e}");
                                    cam.rec.audio_dropped += 1;
                                } else {
                                    cam.rec.audio_frames += 1;
                                }
                            }
                        }
                        None => cam.rec.audio_dropped += 1,
                    }
                }
                Some(SessionEvent::Reconnecting { reason, .. }) => {
                    for (serial, cam) in cams.iter_mut() {
                        if cam.started {
                            tracing::warn!(%serial, "recording gap: {reason}; resuming at the next keyframe");
                            cam.rec.gaps += 1;
                        }
                        cam.assembler.reset();
                    }
                }
                Some(_) => {}
            },
            _ = timer => { let _ = inner_stop.send(true); }
            r = stop.changed() => {
                if r.is_err() || *stop.borrow() { let _ = inner_stop.send(true); }
            }
        }
    };
    let session_result = session.await.unwrap_or(Ok(()));
    let mut out = Vec::new();
    for s in &serials {
        if let Some(mut cam) = cams.remove(s) {
            finish(&mut cam)?;
            out.push(cam.rec);
        }
    }
    result
        .and(session_result.map_err(RecordError::from))
        .map(|()| out)
}

fn write_unit(cam: &mut Camera, au: &AccessUnit<Instant>) -> Result<(), RecordError> {
    let path = cam.rec.path.clone();
    if cam.sink.is_none() {
        // The assembler starts at a keyframe, which carries the parameter sets.
        let sink = if is_raw(&path) {
            let w: Box<dyn Write + Send> = if path == "-" {
                Box::new(std::io::stdout())
            } else {
                Box::new(
                    std::fs::File::create(&path).map_err(|source| RecordError::Io {
                        path: path.clone(),
                        source,
                    })?,
                )
            };
            Sink::Raw(w)
        } else {
            let sets = cam.assembler.parameter_sets();
            let mut au = au.clone();
            if au.new_stream_info.is_none() {
                au.new_stream_info = cam.assembler.stream_info().copied();
            }
            Sink::Muxer(Box::new(
                Muxer::open(&path, &au, &sets, cam.audio).map_err(|source| RecordError::Mux {
                    path: path.clone(),
                    source,
                })?,
            ))
        };
        tracing::info!(path = %path, "recording from the first keyframe");
        cam.sink = Some(sink);
    }
    cam.started = true;
    match cam.sink.as_mut() {
        Some(Sink::Raw(w)) => {
            w.write_all(&au.data)
                .and_then(|()| w.flush())
                .map_err(|source| RecordError::Io {
                    path: path.clone(),
                    source,
                })?;
        }
        Some(Sink::Muxer(m)) => m.write(au).map_err(|source| RecordError::Mux {
            path: path.clone(),
            source,
        })?,
        None => {}
    }
    cam.rec.units += 1;
    cam.rec.bytes += au.data.len() as u64;
    Ok(())
}

fn finish(cam: &mut Camera) -> Result<(), RecordError> {
    match cam.sink.take() {
        Some(Sink::Raw(mut w)) => w.flush().map_err(|source| RecordError::Io {
            path: cam.rec.path.clone(),
            source,
        }),
        Some(Sink::Muxer(mut m)) => m.finish().map_err(|source| RecordError::Mux {
            path: cam.rec.path.clone(),
            source,
        }),
        None => Ok(()),
    }
}

/// The output path for `serial` (exposed for the CLI's messages).
pub fn path_for(template: &str, serial: &str, several: bool) -> Result<PathBuf, RecordError> {
    output_path(template, serial, several).map(PathBuf::from)
}
