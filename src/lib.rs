//! eufy-hw: a live viewer for Eufy security cameras.
//!
//! The pipeline, one module per stage:
//! ```text
//! eufy-security-ws ──WebSocket/JSON──► eufy (session; simulator stands in for the server)
//!                                       │ chunks of Annex-B bytes + arrival instant
//!                                       ▼
//!                                     bitstream (pure: NAL units → access units)
//!                                       │ AccessUnit { codec, keyframe, data, at }
//!                                       ▼
//!                                     decode (FFmpeg, own thread)
//! ```
//! - [`eufy`]: the eufy-security-ws protocol, fast buffer decoding, the simulator.
//! - [`bitstream`]: Annex-B scanning, NAL headers, SPS, access-unit assembly.
//! - [`clip`]: Annex-B clip files read into access units with their frame rate.
//! - [`decode`]: FFmpeg decoding on a named thread per stream.
//! - [`frame`]: the plain frame type between decoder and renderer.
//! - [`source`]: RTSP streams read as cameras (`--source`).
//! - [`render`]: wgpu plane upload, YUV→RGB shader, grid, overlay, offscreen read-back.
//! - [`view`]: the winit window: grid, fullscreen kiosk, keys, overlay.
//! - [`audio`]: sound: AAC decoding, a jitter buffer aligned with the picture, cpal output.
//! - [`bench`]: whole-pipeline frames per second and per-stage latency against FFmpeg alone.
//! - [`record`]: raw Annex-B or MP4/MKV recordings from the same session.
//! - [`ingest`]: session video events → each camera's access units, flushes and gaps.
//! - [`pipeline`]: the per-camera pipeline (session → access units → decoder) and its
//!   statuses, shared by the window, bench and headless runs.
//! - [`timestamps`]: steady presentation times from arrival times (recordings).
//! - [`wall`]: the wall file (TOML): cameras, pages, layouts, event focus, watchdog.
//! - [`kiosk`]: what the wall shows now: page rotation, event focus, the frozen-picture
//!   watchdog, which cameras to stream (pure, clocked by the caller).
//! - [`throttle`]: warnings that could repeat every frame, logged at most once a minute.
#![deny(missing_docs)]

pub mod audio;
pub mod bench;
pub mod bitstream;
pub mod clip;
pub mod decode;
pub mod eufy;
pub mod frame;
pub mod ingest;
pub mod kiosk;
pub mod pipeline;
pub mod record;
pub mod render;
pub mod source;
pub mod throttle;
pub mod timestamps;
pub mod view;
pub mod wall;
