//! The Eufy Mega bridge (ha-eufy-sdk-bridge) as a client sees it: the second backend behind
//! the session seam ([`crate::backend`]), for homes whose eufy-security-ws no longer logs in
//! since Eufy's legacy API is shutting down (../shared/BRIDGE.md).
//!
//! - [`protocol`]: its WebSocket messages, device list, URLs and error bodies (pure).
//! - [`session`]: the session: control socket, one HTTP body per streaming camera, stored
//!   pictures, `eufy-hw login`; it reports the same
//!   [`SessionEvent`](crate::eufy::session::SessionEvent)s as eufy-security-ws's.
//! - [`Http`]: the HTTP client (reqwest, rustls with the ring provider), shared by a
//!   session's cameras.

pub mod protocol;
pub(crate) mod session;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::eufy::session::{SessionConfig, SessionError};

pub use session::{list_cameras, login, run, Answer, LoginOutcome};

/// The largest stored picture taken, bytes.
pub const MAX_PICTURE: usize = 8 << 20;

/// Why a camera's stream or picture could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The bridge answered with an error (its status and reason, and its back-off).
    #[error("the bridge refused: {reason}")]
    Refused {
        /// `HTTP 503: not authenticated`, …
        reason: String,
        /// `retry in N s`, when it said so.
        retry: Option<Duration>,
    },
    /// No headers in time (the camera did not open).
    #[error("the bridge sent no answer within {secs:.0} s (the camera did not open)")]
    NoHeaders {
        /// How long we waited.
        secs: f64,
    },
    /// The request failed (connection refused, reset, TLS…).
    #[error("cannot reach the bridge: {0}")]
    Http(String),
}

/// A session's HTTP client, with the bridge's base URL (from the WebSocket URL).
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    base: String,
    headers_timeout: Duration,
    request_timeout: Duration,
    pictures_in_flight: Arc<Mutex<HashSet<String>>>,
}

/// An error and its causes on one line (reqwest's own message is only the outermost).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cause = c.source();
    }
    s
}

impl Http {
    /// The client for the bridge at `config.url`: connect timeout `request_timeout`, the
    /// wait for a stream's headers `start_timeout`.
    pub fn new(config: &SessionConfig) -> Result<Http, SessionError> {
        let bad = |reason: String| SessionError::Bridge {
            url: config.url.clone(),
            reason,
        };
        let base = protocol::http_base(&config.url).map_err(bad)?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config())
            .connect_timeout(config.request_timeout)
            .no_proxy()
            .http1_only()
            .build()
            .map_err(|e| bad(format!("cannot make an HTTP client: {}", chain(&e))))?;
        Ok(Http {
            client,
            base,
            headers_timeout: config.start_timeout,
            request_timeout: config.request_timeout,
            pictures_in_flight: Arc::default(),
        })
    }

    /// Opens `GET /stream/<sn>` (or the listed path): the response once its headers came,
    /// with status 200 and a video content type; anything else is [`OpenError::Refused`]
    /// with the body's reason.
    pub async fn open_stream(
        &self,
        serial: &str,
        listed: Option<&str>,
    ) -> Result<reqwest::Response, OpenError> {
        let url = protocol::stream_url(&self.base, serial, listed);
        let response = self.get(&url, self.headers_timeout).await?;
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if response.status().is_success() && protocol::is_video_type(content_type.as_deref()) {
            return Ok(response);
        }
        Err(self.refused(response, content_type).await)
    }

    /// The camera's stored picture (`mode=stored`: never wakes a battery camera): the
    /// image and its MIME type.
    pub async fn snapshot(&self, serial: &str) -> Result<(Vec<u8>, String), OpenError> {
        let url = protocol::snapshot_url(&self.base, serial);
        let mut response = self.get(&url, self.request_timeout).await?;
        let mime = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("image/jpeg")
            .to_owned();
        if !response.status().is_success() || !mime.starts_with("image/") {
            return Err(self.refused(response, Some(mime)).await);
        }
        let mut data = Vec::new();
        let read = async {
            while let Some(c) = response
                .chunk()
                .await
                .map_err(|e| OpenError::Http(chain(&e)))?
            {
                if data.len() + c.len() > MAX_PICTURE {
                    return Err(OpenError::Http(format!(
                        "its picture is over {} MB",
                        MAX_PICTURE >> 20
                    )));
                }
                data.extend_from_slice(&c);
            }
            Ok(())
        };
        tokio::time::timeout(self.request_timeout, read)
            .await
            .map_err(|_| OpenError::NoHeaders {
                secs: self.request_timeout.as_secs_f64(),
            })??;
        if data.is_empty() {
            return Err(OpenError::Http("its picture is empty".into()));
        }
        Ok((data, mime))
    }

    async fn get(&self, url: &str, wait: Duration) -> Result<reqwest::Response, OpenError> {
        match tokio::time::timeout(wait, self.client.get(url).send()).await {
            Err(_) => Err(OpenError::NoHeaders {
                secs: wait.as_secs_f64(),
            }),
            Ok(Err(e)) => Err(OpenError::Http(chain(&e))),
            Ok(Ok(r)) => Ok(r),
        }
    }

    /// An answer that is not what was asked for: its status and the reason its body gives
    /// (read up to [`protocol::MAX_ERROR_BODY`], for at most the request timeout).
    async fn refused(
        &self,
        mut response: reqwest::Response,
        content_type: Option<String>,
    ) -> OpenError {
        let status = response.status();
        let mut body = Vec::new();
        let read = async {
            while let Ok(Some(c)) = response.chunk().await {
                let room = protocol::MAX_ERROR_BODY.saturating_sub(body.len());
                body.extend_from_slice(&c[..c.len().min(room)]);
                if room <= c.len() {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(self.request_timeout, read).await;
        let said = protocol::error_reason(&body);
        let reason = if status.is_success() {
            format!(
                "HTTP {} with {} instead of video: {said}",
                status.as_u16(),
                content_type.as_deref().unwrap_or("no content type")
            )
        } else {
            format!("HTTP {}: {said}", status.as_u16())
        };
        OpenError::Refused {
            retry: protocol::retry_after(&said),
            reason,
        }
    }

    /// Takes the camera's picture slot: false when a fetch is already under way.
    pub(crate) fn picture_slot(&self, serial: &str) -> bool {
        self.pictures_in_flight
            .lock()
            .map(|mut s| s.insert(serial.to_owned()))
            .unwrap_or(false)
    }

    /// Frees the camera's picture slot.
    pub(crate) fn picture_done(&self, serial: &str) {
        if let Ok(mut s) = self.pictures_in_flight.lock() {
            s.remove(serial);
        }
    }
}

/// TLS with the system's roots and the ring provider (no process default needed).
fn tls_config() -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    tracing::debug!("bridge over TLS: {added} trusted roots");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b.with_root_certificates(roots).with_no_client_auth(),
        // ring's default provider supports the default versions; kept total all the same.
        Err(_) => rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    }
}
