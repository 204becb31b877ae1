//! Home Assistant over MQTT: the wall's client of the broker, on the viewer's runtime.
//!
//! On every connection (the first, and each after the broker went away) it subscribes to the
//! wall's command topics, publishes the discovery configurations ([`ha::discovery`],
//! retained), `online` on the availability topic (whose last will is `offline`), and every
//! state; then states as they change, the shown camera's picture at the wall's rate, and
//! the commands it receives to the wall. A broker that cannot be reached or goes away is
//! tried again with backoff (0.5 s doubling to 30 s); a payload that makes no sense gets a
//! log line and changes nothing. On shutdown it publishes `offline` and disconnects.

pub mod ha;

use std::time::{Duration, Instant};

use rumqttc::v5::mqttbytes::v5::{LastWill, Packet};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use rumqttc::Transport;
use tokio::sync::{mpsc, watch};

use crate::frame::Frame;
use crate::shutdown::Shutdown;
use crate::wall::{MqttConfig, Wall};
use ha::{Command, Topics, WallState};

/// Width of the shown camera's picture as published (its height keeps the aspect).
pub const IMAGE_WIDTH: u32 = 640;
/// Cameras' numbers (frames per second, latency) are published at most this often.
const NUMBERS_EVERY: Duration = Duration::from_secs(10);
/// Requests queued for the broker.
const QUEUE: usize = 512;
/// The largest packet the wall takes from the broker (commands are a few bytes).
pub const MAX_INCOMING: u32 = 64 << 10;

/// The wall's end of the client: its state as it changes, the shown camera's frames.
pub struct Link {
    /// The wall's state; the client publishes what changed.
    pub state: watch::Sender<WallState>,
    /// The shown camera's latest frame, when a picture is due (a full queue drops it).
    pub images: mpsc::Sender<Frame>,
}

/// Starts the client on the current runtime: commands go to `on_command`; it stops on
/// `shutdown`.
pub fn spawn(
    config: MqttConfig,
    wall: Wall,
    on_command: impl Fn(Command) + Send + 'static,
    shutdown: Shutdown,
) -> (Link, tokio::task::JoinHandle<()>) {
    let (state, state_rx) = watch::channel(WallState::default());
    let (images, images_rx) = mpsc::channel(1);
    let task = tokio::spawn(run(
        Client::new(config, wall),
        Box::new(on_command),
        state_rx,
        images_rx,
        shutdown,
    ));
    (Link { state, images }, task)
}

/// The connection's options: last will, credentials, TLS, packet sizes.
fn options(config: &MqttConfig, topics: &Topics) -> MqttOptions {
    let b = &config.broker;
    // The process in the id too: two walls given the same node id must not take turns
    // kicking each other off the broker.
    let id = format!("eufy-hw-{}-{}", config.node_id, std::process::id());
    let mut o = MqttOptions::new(id, &b.host, b.port);
    o.set_keep_alive(Duration::from_secs(15));
    o.set_clean_start(true);
    // Commands are small: MQTT 5 tells the broker the largest packet this client takes, and
    // the broker keeps larger ones back (a retained 200 KB message on a command topic
    // would otherwise be refused here, the connection dropped, and the message sent again
    // on every reconnect). Pictures go out up to the broker's own limit.
    o.set_max_packet_size(Some(MAX_INCOMING));
    o.set_last_will(LastWill::new(
        topics.availability(),
        "offline",
        QoS::AtLeastOnce,
        true,
        None,
    ));
    if let Some(user) = &b.username {
        o.set_credentials(user, b.password.clone().unwrap_or_default());
    }
    if b.tls {
        o.set_transport(Transport::tls_with_config(tls_config().into()));
    }
    o
}

/// TLS with the system's roots (and `SSL_CERT_FILE`, which rustls-native-certs reads).
fn tls_config() -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!("MQTT over TLS: a certificate could not be loaded: {e}");
    }
    let (added, _) = roots.add_parsable_certificates(found.certs);
    tracing::debug!("MQTT over TLS: {added} trusted roots");
    rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// What the client knows between messages.
struct Client {
    config: MqttConfig,
    wall: Wall,
    topics: Topics,
    /// The state as last published (`None`: publish it all).
    published: Option<WallState>,
    numbers_at: Instant,
    /// Bad payloads are all ignored; logged up to ten a minute.
    bad: crate::throttle::Throttle,
    /// The cameras' capabilities the discovery last published had (their buttons).
    discovered: Vec<crate::eufy::session::Capabilities>,
}

impl Client {
    fn new(config: MqttConfig, wall: Wall) -> Client {
        Client {
            topics: Topics::new(&config),
            config,
            wall,
            published: None,
            numbers_at: Instant::now(),
            bad: crate::throttle::Throttle::burst(10),
            discovered: Vec::new(),
        }
    }

    /// Queues a message; a full queue (the broker away for long) drops it.
    fn publish(&self, client: &AsyncClient, topic: String, payload: Vec<u8>, retain: bool) {
        if let Err(e) = client.try_publish(topic, QoS::AtLeastOnce, retain, payload) {
            tracing::debug!("MQTT message dropped: {e}");
        }
    }

    /// A connection was made: subscriptions, discovery, availability, every state.
    fn on_connected(&mut self, client: &AsyncClient, state: &WallState) {
        tracing::info!(
            "Home Assistant: connected to {} as {}",
            self.config.broker,
            self.config.node_id
        );
        for topic in self.topics.subscriptions() {
            if let Err(e) = client.try_subscribe(topic, QoS::AtLeastOnce) {
                tracing::warn!("MQTT: cannot subscribe: {e}");
            }
        }
        self.discover(client, state);
        self.publish(client, self.topics.availability(), b"online".to_vec(), true);
        self.published = None;
        self.publish_state(client, state);
    }

    /// The discovery configurations, with buttons for what the cameras can do.
    fn discover(&mut self, client: &AsyncClient, state: &WallState) {
        let caps: Vec<_> = state.cameras.iter().map(|c| c.caps.clone()).collect();
        for (topic, body) in ha::discovery(&self.wall, &self.config, &self.topics, &caps) {
            self.publish(client, topic, body.into_bytes(), true);
        }
        self.discovered = caps;
    }

    /// What changed since the last publication (numbers every [`NUMBERS_EVERY`]); the
    /// discovery again when a camera said what it can do.
    fn publish_state(&mut self, client: &AsyncClient, state: &WallState) {
        if state
            .cameras
            .iter()
            .map(|c| &c.caps)
            .ne(self.discovered.iter())
        {
            self.discover(client, state);
        }
        let numbers = self.numbers_at.elapsed() >= NUMBERS_EVERY;
        if numbers {
            self.numbers_at = Instant::now();
        }
        let messages = ha::state_messages(
            &self.wall,
            &self.topics,
            self.published.as_ref(),
            state,
            numbers,
        );
        for (topic, body) in messages {
            self.publish(client, topic, body.into_bytes(), true);
        }
        let keep_numbers = !numbers && self.published.is_some();
        let mut published = state.clone();
        if let (true, Some(old)) = (keep_numbers, &self.published) {
            // Numbers not sent stay as they were published, so that they go next time.
            for (new, old) in published.cameras.iter_mut().zip(&old.cameras) {
                new.fps = old.fps;
                new.latency_ms = old.latency_ms;
            }
        }
        self.published = Some(published);
    }

    /// A message arrived: the command it carries, or a line saying why it is ignored.
    fn on_message(&mut self, topic: &str, payload: &[u8]) -> Option<Command> {
        match ha::parse_command(&self.wall, &self.topics, topic, payload) {
            Ok(c) => {
                tracing::info!("Home Assistant: {c:?} ({topic})");
                Some(c)
            }
            Err(why) => {
                if let Some(held) = self.bad.allow() {
                    tracing::warn!(
                        "Home Assistant: ignored a message on {topic}: {why} ({held} more not logged)"
                    );
                }
                None
            }
        }
    }
}

async fn run(
    mut client_state: Client,
    on_command: Box<dyn Fn(Command) + Send>,
    mut state: watch::Receiver<WallState>,
    mut images: mpsc::Receiver<Frame>,
    mut shutdown: Shutdown,
) {
    let opts = options(&client_state.config, &client_state.topics);
    let (client, mut events) = AsyncClient::new(opts, QUEUE);
    let mut backoff = BACKOFF_MIN;
    let mut connected = false;
    loop {
        tokio::select! {
            ev = events.poll() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    connected = true;
                    backoff = BACKOFF_MIN;
                    let now = state.borrow_and_update().clone();
                    client_state.on_connected(&client, &now);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let topic = String::from_utf8_lossy(&p.topic);
                    if let Some(c) = client_state.on_message(&topic, &p.payload) {
                        on_command(c);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let broker = &client_state.config.broker;
                    if connected {
                        tracing::warn!("Home Assistant: lost the MQTT broker {broker}: {e}; connecting again");
                    } else {
                        tracing::warn!(
                            "Home Assistant: cannot reach the MQTT broker {broker}: {e}; trying again in {:.1} s",
                            backoff.as_secs_f64()
                        );
                    }
                    connected = false;
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.wait() => break,
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            },
            changed = state.changed() => {
                if changed.is_err() {
                    break;
                }
                if connected {
                    let now = state.borrow_and_update().clone();
                    client_state.publish_state(&client, &now);
                }
            }
            Some(frame) = images.recv() => {
                if !connected {
                    // Nobody to send it to: not made.
                    continue;
                }
                let png = tokio::task::spawn_blocking(move || crate::stills::png_of(&frame, IMAGE_WIDTH))
                    .await
                    .ok()
                    .flatten();
                match png {
                    Some(png) => client_state.publish(&client, client_state.topics.image(), png, true),
                    None => tracing::debug!("the shown camera's picture could not be made"),
                }
            }
            _ = shutdown.wait() => break,
        }
    }
    goodbye(&client_state, &client, &mut events, connected).await;
}

/// First wait before trying the broker again.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// Longest wait before trying the broker again.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Says `offline` and disconnects, giving the broker a second at most.
async fn goodbye(
    client_state: &Client,
    client: &AsyncClient,
    events: &mut EventLoop,
    connected: bool,
) {
    if !connected {
        return;
    }
    let _ = client.try_publish(
        client_state.topics.availability(),
        QoS::AtLeastOnce,
        true,
        "offline",
    );
    let _ = client.try_disconnect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while let Ok(Ok(ev)) = tokio::time::timeout_at(deadline, events.poll()).await {
        if matches!(ev, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
            break;
        }
    }
    tracing::info!(
        "Home Assistant: disconnected from {}",
        client_state.config.broker
    );
}
