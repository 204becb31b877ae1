//! The `eufy-hw` command: tracing and the runtime; the command line is [`cli`], and each
//! subcommand is one call into the library ([`eufy_hw::app`]).

mod cli;

use anyhow::{Context, Result};
use clap::Parser;
use cli::Cli;

fn main() -> Result<()> {
    let cli = Cli::parse();
    // wss:// uses rustls with the ring provider (system roots, or SSL_CERT_FILE).
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log)
                .with_context(|| format!("bad --log filter {:?}", cli.log))?,
        )
        .with_writer(std::io::stderr)
        .init();
    // The benchmark owns its threads and runtime.
    if let Some(done) = cli.without_runtime() {
        return done;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("eufy-io")
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(cli::run(cli))
}
