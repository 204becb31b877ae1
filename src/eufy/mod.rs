//! Everything about eufy-security-ws as a client sees it: the protocol messages, fast
//! decoding of media buffers, the per-camera schedule and the session. The stand-in server
//! is [`crate::simulator`].

pub mod buffer;
pub mod protocol;
pub(crate) mod schedule;
pub mod session;
pub(crate) mod talk;
