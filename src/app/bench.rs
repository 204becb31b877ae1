//! `eufy-hw bench`: the benchmark with a progress bar on a terminal, the table on stdout,
//! and the JSON report and SVG plot where asked.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::bench::BenchConfig;

/// Where the report goes besides the table on stdout.
#[derive(Debug, Clone, Default)]
pub struct BenchOutputs {
    /// The report as JSON.
    pub json: Option<PathBuf>,
    /// Latency over time and its distribution, SVG.
    pub plot: Option<PathBuf>,
}

/// Runs the benchmark and prints its table.
pub fn bench(config: &BenchConfig, outputs: &BenchOutputs) -> Result<()> {
    use std::io::IsTerminal;
    if let Some(bad) = config
        .sources
        .iter()
        .chain(&config.publish)
        .find(|u| !crate::record::is_rtsp(u))
    {
        bail!("{bad:?}: expected rtsp://host:port/path");
    }
    let bar = if std::io::stdout().is_terminal() {
        let b = indicatif::ProgressBar::new(config.frames * config.streams as u64);
        if config.rounds > 1 {
            b.set_message(format!("({} rounds)", config.rounds));
        }
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} frames {per_sec} {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let report = crate::bench::run(config, |n, total| {
        bar.set_length(total);
        bar.set_position(n);
    })
    .context("benchmark")?;
    bar.finish_and_clear();
    print!("{}", crate::bench::table(&report));
    if let Some(path) = &outputs.json {
        let json = serde_json::to_string_pretty(&report).context("serialising the report")?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &outputs.plot {
        crate::bench::plot(&report, path)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
