//! `wss://`: the session over TLS (rustls) to the simulator behind a TLS terminator: with a
//! test CA trusted through `SSL_CERT_FILE` (the system store otherwise) it streams, with an
//! untrusted one it fails clearly. Its own test binary: it sets a process-wide environment
//! variable.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use eufy_hw::clip::Clip;
use eufy_hw::eufy::session::{run_session, SessionConfig, SessionError, SessionEvent};
use eufy_hw::shutdown;
use eufy_hw::simulator::{Camera, Pacing, SimConfig, Simulator};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tokio::sync::mpsc;

struct Tls {
    ca_pem: String,
    acceptor: tokio_rustls::TlsAcceptor,
}

fn tls() -> Tls {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    Tls {
        ca_pem: ca.pem(),
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    }
}

/// Accepts TLS on a free port and relays each connection to `backend`.
async fn terminator(acceptor: tokio_rustls::TlsAcceptor, backend: std::net::SocketAddr) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

async fn session(url: String) -> (Vec<SessionEvent>, Result<(), SessionError>) {
    let mut cfg = SessionConfig::new(url, vec!["T1".into()]);
    cfg.reconnect = false;
    cfg.request_timeout = Duration::from_secs(5);
    let (tx, mut rx) = mpsc::channel(64);
    let (stop_tx, stop_rx) = shutdown::channel();
    let task = tokio::spawn(run_session(cfg, tx, stop_rx));
    let mut events = Vec::new();
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
        let video = matches!(ev, SessionEvent::Video { .. });
        events.push(ev);
        if video
            && events
                .iter()
                .filter(|e| matches!(e, SessionEvent::Video { .. }))
                .count()
                >= 5
        {
            break;
        }
    }
    stop_tx.trigger();
    let result = task.await.unwrap();
    (events, result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_with_a_trusted_ca_streams_and_an_untrusted_one_fails_clearly() {
    let clip = Arc::new(Clip::load(&common::clip_path("h264_baseline_720p.h264")).unwrap());
    let sim = Simulator::start(SimConfig {
        cameras: vec![Camera {
            serial: "T1".into(),
            clip,
        }],
        pacing: Pacing::Fps(60.0),
        realistic: false,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let t = tls();
    let port = terminator(t.acceptor.clone(), sim.addr()).await;
    let url = format!("wss://localhost:{port}");

    // Not trusted: the system store does not know the test CA.
    let empty = std::env::temp_dir().join(format!("eufy-empty-ca-{}.pem", std::process::id()));
    std::fs::write(&empty, "").unwrap();
    std::env::set_var("SSL_CERT_FILE", &empty);
    let (_, result) = session(url.clone()).await;
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains("cannot connect") && err.contains(&url),
        "{err}"
    );

    // Trusted.
    let ca = std::env::temp_dir().join(format!("eufy-test-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, &t.ca_pem).unwrap();
    std::env::set_var("SSL_CERT_FILE", &ca);
    let (events, result) = session(url).await;
    assert!(result.is_ok(), "{result:?}");
    let videos = events
        .iter()
        .filter(|e| matches!(e, SessionEvent::Video { .. }))
        .count();
    assert!(videos >= 5, "{events:?}");
}
