//! Everything about eufy-security-ws: the protocol messages, fast decoding of media
//! buffers, and the simulator that stands in for the server.

pub mod buffer;
pub mod protocol;
pub mod schedule;
pub mod session;
pub mod simulator;
