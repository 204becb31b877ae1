//! `eufy-hw record`: what the cameras send, saved as raw Annex-B (a file or stdout) or
//! remuxed into MP4/MKV without re-encoding, from the same session the viewer uses; and
//! `eufy-hw publish`: the same, pushed to an RTSP server (go2rtc, MediaMTX) with FFmpeg's
//! RTSP muxer (ANNOUNCE/RECORD over TCP, packets sent as they come). A server that fails or
//! restarts is tried again with backoff, from the next keyframe, while the camera's side
//! keeps streaming.
//!
//! Raw output is the access units exactly as received, from the first keyframe (parameter
//! sets included, as the camera sends them with each keyframe). MP4 is fragmented (a
//! fragment per keyframe), so a recording cut short by a crash or a power loss still plays.
//! The protocol carries no timestamps: units are timed by arrival, smoothed
//! ([`crate::timestamps`]) so that the burst of frames the server sends as a stream starts
//! plays at the frame rate instead of being dropped by players. When a stream ends (a
//! cut-off, its station's turn passing to another camera) its last unit is complete and
//! written; after a restart or a reconnect the recording goes on from the next keyframe and
//! the gap (one per outage, however many reconnects it took) is logged and counted. MP4/MKV
//! carry the camera's AAC audio: the container's streams are set up before anything is
//! written, and the audio format is only known from the first ADTS header, so the first
//! video units are held until audio arrives, for at most [`AUDIO_WAIT`] (a camera that sends
//! no audio is recorded without). Audio that cannot be muxed (no audio stream, before the
//! first keyframe, not ADTS) is counted as dropped, never as written. Raw output is video
//! only.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use ffmpeg_next as ffmpeg;

use crate::av;
use crate::bitstream::adts::{self, AdtsHeader};
use crate::bitstream::{AccessUnit, AssemblerConfig, Codec};
use crate::eufy::session::{SessionConfig, SessionError, SessionEvent};
use crate::ingest::Ingest;
use crate::pipeline::drive::{self, Flow, Inputs, Sink};
use crate::shutdown::Shutdown;
use crate::timestamps::Smoother;

/// Longest wait, from the first keyframe, for the camera's first audio frame before an
/// MP4/MKV is set up without audio.
pub const AUDIO_WAIT: Duration = Duration::from_millis(1500);
/// Most video units held meanwhile.
const MAX_HELD: usize = 240;

/// Where and how to record.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// The session (URL, serials).
    pub session: SessionConfig,
    /// Output path (`{serial}` and `{name}` replaced per camera) or `-` for stdout (raw, one
    /// camera).
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
    /// The camera.
    pub serial: String,
    /// The output path (empty when nothing was written).
    pub path: String,
    /// Access units written.
    pub units: u64,
    /// Bytes of video written.
    pub bytes: u64,
    /// Outages that left a gap in the recording.
    pub gaps: u64,
    /// AAC frames muxed (MP4/MKV only).
    pub audio_frames: u64,
    /// Audio events not written: not valid ADTS, before the first keyframe, or the file
    /// has no audio stream (raw output, or audio that started after [`AUDIO_WAIT`]).
    pub audio_dropped: u64,
    /// RTSP: units not sent while the server was away (until the next keyframe after it
    /// is back).
    pub skipped: u64,
    /// RTSP: times the connection to the server failed and was made again.
    pub reconnects: u64,
}

enum Output {
    Raw(Box<dyn Write + Send>),
    Muxer(Box<Muxer>),
}

struct Muxer {
    out: ffmpeg::format::context::Output,
    /// The first unit's arrival: time zero of every stream.
    origin: Option<Instant>,
    video: Smoother,
    /// The audio stream's index and times, when the camera sends AAC.
    audio: Option<(usize, Smoother)>,
    /// Pushed to an RTSP server: packets go out as they come (no interleaving delay).
    live: bool,
}

/// The clock packets are stamped in before the muxer rescales them (RTP's video clock).
const TIME_BASE: ffmpeg::Rational = ffmpeg::Rational(1, 90_000);

fn ticks(d: Duration) -> i64 {
    (d.as_micros() * 9 / 100).try_into().unwrap_or(i64::MAX)
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
        let live = is_rtsp(path);
        if live {
            ffmpeg::format::network::init();
        }
        let mut out = if live {
            av::mux::output_nofile(path, "rtsp")?
        } else {
            ffmpeg::format::output(&path)?
        };
        out.add_stream(None::<ffmpeg::Codec>)?
            .set_time_base(TIME_BASE);
        av::mux::describe_video_stream(
            &mut out,
            0,
            codec_id(au.codec),
            info.width,
            info.height,
            parameter_sets,
        )?;
        if let Some(h) = audio {
            out.add_stream(None::<ffmpeg::Codec>)?
                .set_time_base(TIME_BASE);
            av::mux::describe_aac_stream(
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
        if live {
            // ANNOUNCE/RECORD over TCP (what go2rtc and MediaMTX take), and a bounded wait
            // for a server that does not answer (µs).
            opts.set("rtsp_transport", "tcp");
            opts.set("timeout", "5000000");
        }
        out.write_header_with(opts)?;
        let frame = Smoother::frame_interval(info.fps);
        Ok(Muxer {
            out,
            origin: None,
            video: Smoother::new(frame),
            audio: audio.map(|h| {
                let secs = 1024.0 / f64::from(h.sample_rate().max(1));
                (1, Smoother::new(Duration::from_secs_f64(secs)))
            }),
            live,
        })
    }

    /// Writes a packet: at once when pushing to a server, interleaved into a file.
    fn put(&mut self, packet: &mut ffmpeg::Packet) -> Result<(), ffmpeg::Error> {
        if self.live {
            packet.write(&mut self.out).map(|_| ())
        } else {
            packet.write_interleaved(&mut self.out)
        }
    }

    fn write(&mut self, au: &AccessUnit<Instant>) -> Result<(), ffmpeg::Error> {
        let origin = *self.origin.get_or_insert(au.at);
        let before = self.video.last();
        let t = self.video.next(au.at.saturating_duration_since(origin));
        let pts = ticks(t);
        // The protocol has no timestamps: a unit lasts until the next; the first, a frame.
        let duration = match before {
            Some(b) => pts - ticks(b),
            None => ticks(Smoother::frame_interval(None)),
        };
        let mut packet = ffmpeg::Packet::copy(&au.data);
        packet.set_stream(0);
        packet.set_pts(Some(pts));
        packet.set_dts(Some(pts));
        packet.set_duration(duration);
        if au.keyframe {
            packet.set_flags(ffmpeg::packet::Flags::KEY);
        }
        let tb = self.out.stream(0).map_or(TIME_BASE, |s| s.time_base());
        packet.rescale_ts(TIME_BASE, tb);
        self.put(&mut packet)
    }

    /// Writes one ADTS frame's payload to the audio stream, timed like the video. False when
    /// it was not written: no audio stream, or no video yet to align with.
    fn write_audio(&mut self, frame: &[u8], at: Instant) -> Result<bool, ffmpeg::Error> {
        let (Some((index, smoother)), Some(origin)) = (self.audio.as_mut(), self.origin) else {
            return Ok(false);
        };
        let index = *index;
        let Some(h) = adts::parse_header(frame) else {
            return Err(ffmpeg::Error::InvalidData);
        };
        let Some(payload) = frame.get(h.header_len..h.frame_len.min(frame.len())) else {
            return Err(ffmpeg::Error::InvalidData);
        };
        let pts = ticks(smoother.next(at.saturating_duration_since(origin)));
        let mut packet = ffmpeg::Packet::copy(payload);
        packet.set_stream(index);
        packet.set_pts(Some(pts));
        packet.set_dts(Some(pts));
        let tb = self.out.stream(index).map_or(TIME_BASE, |s| s.time_base());
        packet.rescale_ts(TIME_BASE, tb);
        self.put(&mut packet).map(|()| true)
    }

    fn finish(&mut self) -> Result<(), ffmpeg::Error> {
        self.out.write_trailer()
    }
}

struct Camera {
    sink: Option<Output>,
    rec: Recorded,
    /// Its display name, once the server said.
    name: Option<String>,
    /// The camera's audio format, from the first valid ADTS header seen.
    audio: Option<AdtsHeader>,
    /// Video units held before an MP4/MKV is set up, waiting for the first audio frame.
    held: Vec<AccessUnit<Instant>>,
    /// Pushing to an RTSP server that failed: not before this instant, at a keyframe.
    retry_at: Option<Instant>,
    /// The next wait after a failure (doubles, 30 s at most).
    backoff: Duration,
    /// Told of every unit written.
    written: Option<std::sync::mpsc::Sender<Written>>,
}

/// Checks an output template before connecting: its extension, and that its folder exists.
fn check_output(template: &str, several: bool) -> Result<(), RecordError> {
    if template == "-" {
        if several {
            return Err(RecordError::Usage(
                "--output - takes one camera; use a file name with {serial} or {name} for several"
                    .into(),
            ));
        }
        return Ok(());
    }
    if several && !template.contains("{serial}") && !template.contains("{name}") {
        return Err(RecordError::Usage(
            "several cameras need {serial} or {name} in --output".into(),
        ));
    }
    if is_rtsp(template) {
        return Ok(());
    }
    if !(is_raw(template)
        || template.ends_with(".mp4")
        || template.ends_with(".mkv")
        || template.ends_with(".mov"))
    {
        return Err(RecordError::Usage(format!(
            "{template}: use .h264/.h265 (raw), .mp4, .mkv or - (stdout)"
        )));
    }
    let dir = Path::new(template)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(RecordError::Usage(format!(
            "{template}: the folder {} does not exist",
            dir.display()
        )));
    }
    Ok(())
}

/// The output path for a camera: `{serial}` and `{name}` (made safe for a file name)
/// replaced.
fn output_path(template: &str, serial: &str, name: Option<&str>) -> String {
    let safe: String = name
        .unwrap_or(serial)
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    template
        .replace("{serial}", serial)
        .replace("{name}", &safe)
}

/// An RTSP server to push to (`eufy-hw publish`).
pub fn is_rtsp(path: &str) -> bool {
    path.starts_with("rtsp://") || path.starts_with("rtsps://")
}

fn is_raw(path: &str) -> bool {
    path == "-"
        || [".h264", ".h265", ".264", ".265", ".hevc"]
            .iter()
            .any(|e| path.ends_with(e))
}

/// Records until `shutdown`, the duration or the frame count.
pub async fn record(
    config: RecordConfig,
    shutdown: Shutdown,
) -> Result<Vec<Recorded>, RecordError> {
    record_with(config, shutdown, None).await
}

/// A unit written (or pushed): which picture, and when its last byte arrived.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    /// [`crate::bitstream::annexb::fnv1a`] of its last NAL unit (its last slice).
    pub key: u64,
    /// When it arrived from the camera.
    pub arrived: Instant,
}

/// The recorder as a [`Sink`] of the pipeline's driver.
struct Recorder<'a> {
    cams: HashMap<String, Camera>,
    ingest: Ingest,
    config: &'a RecordConfig,
}

impl Sink for Recorder<'_> {
    type Error = RecordError;

    fn event(&mut self, event: SessionEvent) -> Result<Flow, RecordError> {
        let done = on_event(event, &mut self.cams, &mut self.ingest, self.config)?;
        Ok(if done { Flow::Stop } else { Flow::Continue })
    }
}

/// [`record`], telling `written` of every unit written (the publishing benchmark pairs
/// them with what a reader gets from the server).
pub async fn record_with(
    config: RecordConfig,
    shutdown: Shutdown,
    written: Option<std::sync::mpsc::Sender<Written>>,
) -> Result<Vec<Recorded>, RecordError> {
    let serials = config.session.serials.clone();
    check_output(&config.output, serials.len() > 1)?;
    let cams: HashMap<String, Camera> = serials
        .iter()
        .map(|s| {
            let rec = Recorded {
                serial: s.clone(),
                ..Recorded::default()
            };
            let cam = Camera {
                sink: None,
                rec,
                name: None,
                audio: None,
                held: Vec::new(),
                retry_at: None,
                backoff: RTSP_BACKOFF_MIN,
                written: written.clone(),
            };
            (s.clone(), cam)
        })
        .collect();
    let ingest = Ingest::new(
        AssemblerConfig {
            wait_for_keyframe: true,
            ..Default::default()
        },
        // Each unit out with its own message once the server proves it frames that way, as
        // in the viewer: otherwise every unit waits for the next one to start (a frame
        // interval, 67 ms at 15 fps) before it is written or pushed.
        true,
    );
    let mut recorder = Recorder {
        cams,
        ingest,
        config: &config,
    };
    let shutdown = shutdown.or_after(config.duration);
    let inputs = Inputs::session(config.session.clone());
    let result = drive::run(inputs, &mut recorder, shutdown).await;
    let Recorder {
        mut cams, ingest, ..
    } = recorder;
    let mut out = Vec::new();
    for s in &serials {
        if let Some(mut cam) = cams.remove(s) {
            finish(&mut cam, &config.output, &ingest)?;
            out.push(cam.rec);
        }
    }
    result.map(|()| out)
}

/// One session event: units assembled and written, audio muxed, names learnt. True when
/// every camera has its `--frames`.
fn on_event(
    ev: SessionEvent,
    cams: &mut HashMap<String, Camera>,
    ingest: &mut Ingest,
    config: &RecordConfig,
) -> Result<bool, RecordError> {
    let mut units = Vec::new();
    let serial = match ev {
        SessionEvent::Video {
            serial,
            data,
            received_at,
        } => {
            if let Some(gap) = ingest.video(&serial, &data, received_at, |au| units.push(au)) {
                tracing::warn!(camera = %serial, "recording gap of {:.1} s", gap.as_secs_f64());
            }
            serial
        }
        SessionEvent::Ended { serial, .. } => {
            ingest.ended(&serial, |au| units.push(au));
            serial
        }
        SessionEvent::Reconnecting { .. } => {
            ingest.lost();
            return Ok(false);
        }
        SessionEvent::Camera(info) => {
            if let Some(cam) = cams.get_mut(&info.serial) {
                cam.name = info.name;
            }
            return Ok(false);
        }
        SessionEvent::Audio {
            serial,
            data,
            received_at,
            ..
        } => {
            if let Some(cam) = cams.get_mut(&serial) {
                // The first audio frame sets up the file held for it.
                if cam.audio.is_none() {
                    cam.audio = adts::parse_header(&data);
                    if cam.audio.is_some() {
                        release_held(cam, &config.output, ingest)?;
                    }
                }
                write_audio(cam, &data, received_at);
            }
            return Ok(false);
        }
        _ => return Ok(false),
    };
    let Some(cam) = cams.get_mut(&serial) else {
        return Ok(false);
    };
    let room = config.frames.map_or(usize::MAX, |n| {
        n.saturating_sub(cam.rec.units + cam.held.len() as u64) as usize
    });
    units.truncate(room);
    write_units(cam, &config.output, ingest, &units)?;
    cam.rec.gaps = ingest.gaps(&serial).count;
    Ok(config.frames.is_some_and(|n| {
        cams.values()
            .all(|c| c.rec.units + c.held.len() as u64 >= n)
    }))
}

fn write_audio(cam: &mut Camera, data: &[u8], at: Instant) {
    let Some(h) = adts::parse_header(data) else {
        cam.rec.audio_dropped += 1;
        return;
    };
    cam.audio.get_or_insert(h);
    match cam.sink.as_mut() {
        Some(Output::Muxer(m)) => match m.write_audio(data, at) {
            Ok(true) => cam.rec.audio_frames += 1,
            Ok(false) => cam.rec.audio_dropped += 1,
            Err(e) => {
                tracing::debug!(camera = %cam.rec.serial, "audio frame dropped: {e}");
                cam.rec.audio_dropped += 1;
            }
        },
        _ => cam.rec.audio_dropped += 1,
    }
}

/// Video units for a file: written, or held while an MP4/MKV waits for the camera's first
/// audio frame (its format sets up the audio stream).
fn write_units(
    cam: &mut Camera,
    template: &str,
    ingest: &Ingest,
    units: &[AccessUnit<Instant>],
) -> Result<(), RecordError> {
    for au in units {
        let waiting = cam.sink.is_none()
            && cam.audio.is_none()
            && !is_raw(template)
            && cam.held.len() < MAX_HELD
            && cam
                .held
                .first()
                .is_none_or(|first| au.at.saturating_duration_since(first.at) < AUDIO_WAIT);
        if waiting {
            cam.held.push(au.clone());
        } else {
            release_held(cam, template, ingest)?;
            write_unit(cam, template, ingest, au)?;
        }
    }
    Ok(())
}

/// Writes the held units (the file is set up with them).
fn release_held(cam: &mut Camera, template: &str, ingest: &Ingest) -> Result<(), RecordError> {
    for au in std::mem::take(&mut cam.held) {
        write_unit(cam, template, ingest, &au)?;
    }
    Ok(())
}

/// First wait before pushing again to an RTSP server that failed.
const RTSP_BACKOFF_MIN: Duration = Duration::from_millis(500);

fn write_unit(
    cam: &mut Camera,
    template: &str,
    ingest: &Ingest,
    au: &AccessUnit<Instant>,
) -> Result<(), RecordError> {
    if !is_rtsp(template) {
        return write_unit_once(cam, template, ingest, au);
    }
    // The server's side fails and comes back on its own: a failure drops the connection,
    // the next try waits (backing off) and starts at a keyframe.
    if cam.sink.is_none() && (!au.keyframe || cam.retry_at.is_some_and(|t| Instant::now() < t)) {
        cam.rec.skipped += 1;
        return Ok(());
    }
    let fresh = cam.sink.is_none();
    match write_unit_once(cam, template, ingest, au) {
        Ok(()) => {
            if fresh && cam.retry_at.is_some() {
                tracing::info!(camera = %cam.rec.serial, "pushing to {} again", cam.rec.path);
            }
            cam.retry_at = None;
            cam.backoff = RTSP_BACKOFF_MIN;
            Ok(())
        }
        Err(e) => {
            cam.sink = None;
            cam.rec.reconnects += 1;
            let hint = if fresh {
                " (is the server up, and does it take pushes for this path? go2rtc drops a push for a stream its configuration does not declare)"
            } else {
                ""
            };
            tracing::warn!(
                camera = %cam.rec.serial,
                "{e}{hint}; trying again in {:.1} s, from a keyframe",
                cam.backoff.as_secs_f64()
            );
            cam.retry_at = Some(Instant::now() + cam.backoff);
            cam.backoff = (cam.backoff * 2).min(Duration::from_secs(30));
            Ok(())
        }
    }
}

fn write_unit_once(
    cam: &mut Camera,
    template: &str,
    ingest: &Ingest,
    au: &AccessUnit<Instant>,
) -> Result<(), RecordError> {
    if cam.sink.is_none() {
        let path = output_path(template, &cam.rec.serial, cam.name.as_deref());
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
            Output::Raw(w)
        } else {
            let assembler = ingest.assembler(&cam.rec.serial);
            let sets = assembler.map(|a| a.parameter_sets()).unwrap_or_default();
            let mut au = au.clone();
            if au.new_stream_info.is_none() {
                au.new_stream_info = assembler.and_then(|a| a.stream_info().copied());
            }
            Output::Muxer(Box::new(
                Muxer::open(&path, &au, &sets, cam.audio).map_err(|source| RecordError::Mux {
                    path: path.clone(),
                    source,
                })?,
            ))
        };
        tracing::info!(camera = %cam.rec.serial, path = %path, "recording from the first keyframe");
        cam.rec.path = path;
        cam.sink = Some(sink);
    }
    let path = &cam.rec.path;
    match cam.sink.as_mut() {
        Some(Output::Raw(w)) => {
            w.write_all(&au.data)
                .and_then(|()| w.flush())
                .map_err(|source| RecordError::Io {
                    path: path.clone(),
                    source,
                })?;
        }
        Some(Output::Muxer(m)) => m.write(au).map_err(|source| RecordError::Mux {
            path: path.clone(),
            source,
        })?,
        None => {}
    }
    cam.rec.units += 1;
    cam.rec.bytes += au.data.len() as u64;
    if let Some(w) = &cam.written {
        let _ = w.send(Written {
            key: crate::bitstream::annexb::fnv1a(crate::bitstream::annexb::last_nal(&au.data)),
            arrived: au.at,
        });
    }
    Ok(())
}

fn finish(cam: &mut Camera, template: &str, ingest: &Ingest) -> Result<(), RecordError> {
    release_held(cam, template, ingest)?;
    match cam.sink.take() {
        Some(Output::Raw(mut w)) => w.flush().map_err(|source| RecordError::Io {
            path: cam.rec.path.clone(),
            source,
        }),
        Some(Output::Muxer(mut m)) => m.finish().map_err(|source| RecordError::Mux {
            path: cam.rec.path.clone(),
            source,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_checked_before_connecting() {
        assert!(check_output("/no/such/folder/x.mp4", false)
            .unwrap_err()
            .to_string()
            .contains("does not exist"));
        assert!(check_output("x.avi", false).is_err());
        assert!(check_output("-", true).is_err());
        assert!(check_output("x.mp4", true).is_err());
        for (ok, several) in [
            ("x.mp4", false),
            ("-", false),
            ("{name}.mkv", true),
            ("{serial}.h264", true),
        ] {
            assert!(check_output(ok, several).is_ok(), "{ok}");
        }
        assert_eq!(
            output_path("/tmp/{name}-{serial}.mp4", "T1", Some("Front door/1")),
            "/tmp/Front_door_1-T1.mp4"
        );
        assert_eq!(output_path("{name}.h264", "T1", None), "T1.h264");
    }
}
