//! Sound: one camera's AAC decoded by FFmpeg, resampled to the output device's format, held
//! in a small jitter buffer aligned with the picture by arrival time, and played through
//! cpal (PulseAudio or PipeWire's pulse server where one runs, else ALSA on Linux;
//! CoreAudio, WASAPI).

pub mod decode;
