//! `eufy-hw talk`: a sound file (or standard input, or the microphone) played through a
//! camera's speaker, for scripts and Home Assistant automations (text-to-speech at the door).
//! One session streams the camera (talk back needs its livestream) and runs the talk back;
//! the command ends when the sound does.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::sync::mpsc;

use crate::backend::Backend;
use crate::eufy::session::{SessionConfig, SessionControl, SessionEvent};
use crate::shutdown::Shutdown;
use crate::talk::{Mic, TalkState, FRAME_INTERVAL};

/// Where the sound comes from.
#[derive(Debug, Clone)]
pub enum TalkSource {
    /// A file FFmpeg reads (`-`: standard input).
    File(String),
    /// A microphone (the default input when `None`).
    Mic(Option<String>),
}

/// One `eufy-hw talk`.
#[derive(Debug, Clone)]
pub struct Talk {
    /// The server.
    pub url: String,
    /// Which server it is.
    pub backend: Backend,
    /// The camera.
    pub serial: String,
    /// The sound.
    pub source: TalkSource,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Give up when the server is not ready after this long.
    pub wait_server: Duration,
}

/// Plays `talk.source` through the camera; fails with the reason the camera or server gave.
pub async fn talk(talk: Talk) -> Result<()> {
    let (audio, mut mic) = match &talk.source {
        TalkSource::File(path) => (crate::talk::from_file(path)?.0, None),
        TalkSource::Mic(device) => {
            let (mic, audio) = Mic::open(device.as_deref())?;
            eprintln!("talking from {} (Ctrl-C to stop)", mic.device);
            (audio, Some(mic))
        }
    };
    let config = SessionConfig {
        backend: talk.backend,
        wait_server: Some(talk.wait_server),
        ..SessionConfig::new(&talk.url, vec![talk.serial.clone()])
    };
    let (events_tx, mut events) = mpsc::channel(256);
    let (control, control_rx) = mpsc::unbounded_channel();
    let _ = control.send(SessionControl::Talk {
        serial: talk.serial.clone(),
        audio,
    });
    let (trigger, stop) = crate::shutdown::channel();
    let session = tokio::spawn(crate::backend::run_session(
        config,
        events_tx,
        stop,
        Some(control_rx),
    ));
    let mut signal = Shutdown::on_signals(talk.duration);
    let mut letting_go: Option<tokio::time::Instant> = None;
    let outcome = loop {
        let grace =
            letting_go.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86_400));
        tokio::select! {
            ev = events.recv() => match ev {
                None => break None,
                // (Each state is in the session's log.)
                Some(SessionEvent::Talk { state, .. }) => {
                    if state.is_final() {
                        break Some(state);
                    }
                }
                Some(_) => {}
            },
            _ = signal.wait(), if letting_go.is_none() => {
                // A microphone is let go (what was said is sent, then the talk back stops);
                // a file is cut short by the session's own stop.
                match mic.take() {
                    Some(m) => {
                        drop(m);
                        letting_go = Some(tokio::time::Instant::now() + Duration::from_secs(3));
                    }
                    None => break None,
                }
            }
            _ = tokio::time::sleep_until(grace) => break None,
        }
    };
    drop(mic);
    trigger.trigger();
    let ended = session.await.context("the session task")?;
    ended.with_context(|| format!("talking to {} at {}", talk.serial, talk.url))?;
    match outcome {
        Some(TalkState::Failed(why)) => bail!("cannot talk to {}: {why}", talk.serial),
        Some(TalkState::Ended { frames }) => {
            let secs = frames as f64 * FRAME_INTERVAL.as_secs_f64();
            eprintln!(
                "sent {frames} frames ({secs:.1} s of sound) to {}",
                talk.serial
            );
            Ok(())
        }
        _ => {
            eprintln!("stopped");
            Ok(())
        }
    }
}
