//! eufy-hw: a live viewer for Eufy security cameras.
//!
//! The pipeline, one module per stage, down to the screen:
//! ```text
//! eufy-security-ws ──WebSocket/JSON──► eufy::session ┐ backend (known from the first
//! Eufy Mega bridge ─WebSocket + HTTP──► bridge::session ┘ message; simulator stands in)
//!   RTSP streams ──FFmpeg demuxer────► source (a named thread per stream)
//!                                       │ SessionEvent::Video { bytes, received_at } | Ended | …
//!                                       ▼
//!                                     pipeline::drive (one driver; one shutdown::Shutdown)
//!                                       │ hands every event to its Sink: the viewer's, headless,
//!                                       │ bench's (all three a pipeline::Feed), record/publish's
//!                                       ▼
//!                                     pipeline::Feed → ingest (per camera) → bitstream (pure)
//!                                       │ AccessUnit { codec, keyframe, data, at }
//!                                       ▼ decode::Command::{Unit, Reset, Stop} (bounded channel)
//!                                     decode::DecoderThread (own thread; FFI in av)
//!                                       │ frame::Frame { planes, strides, layout, colour, instants }
//!                                       ▼ decode::LatestFrame mailbox (viewer) | every frame (bench)
//!                                     render::Renderer: WGSL shader (GPU) | render::cpu (libswscale)
//!                                       │
//!                                       ▼
//!                                     render::window::Surface (swapchain | own pixels) | Offscreen
//!                                       ▲ one per monitor: draws what its kiosk::Kiosk puts on
//!                                       │ screen (wall::Wall, layout::Layout), driven by view's
//!                                       │ winit event loop (Home Assistant's commands: mqtt)
//! ```
//! - [`backend`]: the session seam: eufy-security-ws or the Eufy Mega bridge, known from the
//!   server's first message; both report the same session events.
//! - [`eufy`]: the eufy-security-ws protocol, fast buffer decoding, the per-camera schedule,
//!   the session.
//! - [`bridge`]: the Eufy Mega bridge (ha-eufy-sdk-bridge): its WebSocket protocol, video and
//!   pictures over HTTP, the login.
//! - [`simulator`]: a stand-in eufy-security-ws server (`eufy-hw simulate`, tests, bench).
//! - `source`: RTSP streams read as cameras (`--source`).
//! - [`shutdown`]: the one stop signal of every long-running part.
//! - [`pipeline`]: the driver every consumer runs, the [`pipeline::Feed`] (access units to
//!   decoder threads, camera statuses), the headless runner.
//! - `ingest`: session video events → each camera's access units, flushes and gaps.
//! - [`bitstream`]: Annex-B scanning, NAL headers, SPS, access-unit assembly, ADTS.
//! - [`clip`]: Annex-B clip files read into access units with their frame rate.
//! - [`decode`]: FFmpeg decoding on a named thread per stream, hardware and fallback.
//! - [`av`]: every unsafe FFmpeg call: devices, frame download, libswscale, muxing.
//! - [`frame`]: the plain frame type between decoder and renderer.
//! - [`render`]: wgpu plane upload, YUV→RGB shader or libswscale, tiles, overlay, the window
//!   surface, offscreen read-back.
//! - [`layout`]: where tiles go on the screen (pure geometry).
//! - [`view`]: the winit application: the wall, keys, overlay, sound.
//! - [`wall`]: the wall file (TOML): cameras, pages, layouts, event focus, watchdog.
//! - [`mqtt`]: Home Assistant over MQTT: discovery, commands to the wall, its state.
//! - `stills`: the cameras' last pictures kept on disk (shown while streams start).
//! - `kiosk`: what the wall shows now: page rotation, event focus, the frozen-picture
//!   watchdog, which cameras to stream (pure, clocked by the caller).
//! - [`audio`]: sound: AAC decoding, a jitter buffer aligned with the picture, cpal output.
//! - `talk`: talk back's sound: a file or microphone resampled and encoded to the AAC-LC
//!   frames cameras take (the session paces them).
//! - [`record`]: raw Annex-B or MP4/MKV recordings, and publishing to an RTSP server.
//! - `timestamps`: steady presentation times from arrival times (recordings).
//! - [`bench`]: whole-pipeline frames per second and per-stage latency against FFmpeg alone.
//! - [`app`]: the subcommands composed from the above (what `main` calls).
//! - `throttle`: warnings that could repeat every frame, logged at most once a minute.
#![deny(missing_docs)]
// Inside the crate, `pub` is `pub(crate)`: what is public is what the binary, the tests,
// the benches and the fuzz targets use, through the public modules above.
#![warn(unreachable_pub)]

pub mod app;
pub mod audio;
pub mod av;
pub mod backend;
pub mod bench;
pub mod bitstream;
pub mod bridge;
pub mod clip;
pub mod decode;
pub mod eufy;
pub mod frame;
mod ingest;
mod kiosk;
pub mod layout;
pub mod mqtt;
pub mod pipeline;
pub mod record;
pub mod render;
pub mod shutdown;
pub mod simulator;
mod source;
mod stills;
mod talk;
mod throttle;
mod timestamps;
pub mod view;
pub mod wall;
