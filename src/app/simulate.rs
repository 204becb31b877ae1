//! `eufy-hw simulate`: the stand-in eufy-security-ws, serving until Ctrl-C.

use std::sync::Arc;

use anyhow::{Context, Result};

use crate::clip::Clip;
use crate::simulator::{Camera, SimConfig, Simulator};

/// Serves `sim` (its cameras from `SERIAL=FILE` specs, the bundled clip as
/// `T8410P0000000001` when none); the URL alone on stdout, for scripts.
pub async fn simulate(specs: &[String], sim: SimConfig) -> Result<()> {
    let cameras = if specs.is_empty() {
        vec![Camera {
            serial: "T8410P0000000001".into(),
            clip: Arc::new(Clip::demo()),
        }]
    } else {
        specs
            .iter()
            .map(|c| Camera::from_spec(c).map_err(anyhow::Error::msg))
            .collect::<Result<_>>()?
    };
    for c in &cameras {
        eprintln!("camera {}", c.describe());
    }
    let bind = sim.bind;
    let sim = SimConfig { cameras, ..sim };
    sim.check().map_err(anyhow::Error::msg)?;
    let sim = Simulator::start(sim)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    // The address on stdout, alone, so scripts can read it.
    println!("{}", sim.url());
    eprintln!(
        "eufy-security-ws simulator listening on {} (Ctrl-C to stop)",
        sim.url()
    );
    tokio::signal::ctrl_c().await.ok();
    sim.shutdown().await;
    Ok(())
}
