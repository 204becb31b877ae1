//! `eufy-hw cameras` (what a server lists: a table, or a starting wall file) and
//! `eufy-hw check-config` (a wall file checked without connecting).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::backend::list_cameras;
use crate::eufy::protocol::DeviceInfo;
use crate::eufy::session::SessionConfig;

/// Prints the cameras the server at `url` lists (waiting up to `wait` for its login): a
/// table, or with `as_wall` a starting wall file.
pub async fn cameras(
    url: &str,
    wait: Duration,
    as_wall: bool,
    backend: crate::backend::Backend,
) -> Result<()> {
    let config = SessionConfig {
        wait_server: Some(wait),
        backend,
        reconnect: false,
        ..SessionConfig::new(url, Vec::new())
    };
    let list = list_cameras(&config)
        .await
        .with_context(|| format!("listing the cameras of {url}"))?;
    if list.is_empty() {
        eprintln!("{url} lists no camera");
        return Ok(());
    }
    if as_wall {
        print!("{}", crate::wall::starter(url, &list));
    } else {
        print!("{}", camera_table(&list));
    }
    Ok(())
}

/// The cameras as a table: serial, name, model, station (and which share it: a station
/// streams one camera at a time).
pub fn camera_table(list: &[DeviceInfo]) -> String {
    let mut out = format!("{:<18} {:<24} {:<8} station\n", "serial", "name", "model");
    for c in list {
        let station = c.station.as_deref().unwrap_or("-");
        let shared = list
            .iter()
            .filter(|o| o.serial != c.serial && o.station.as_deref() == Some(station))
            .count();
        let note = if shared > 0 {
            format!(" (shared with {shared} other camera(s): streams one at a time)")
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{:<18} {:<24} {:<8} {station}{note}\n",
            c.serial,
            c.name.as_deref().unwrap_or("-"),
            c.model.as_deref().unwrap_or("-"),
        ));
    }
    out
}

/// Checks a wall file: what it sets up, or what is wrong and where.
pub fn check_config(file: &Path) -> Result<String> {
    let wall = crate::wall::load(file)?;
    let mut out = format!("{}: ok\n", file.display());
    if let Some(url) = &wall.url {
        out.push_str(&format!("server: {url}\n"));
    }
    out.push_str(&wall.summary());
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn camera(serial: &str, name: Option<&str>, station: Option<&str>) -> DeviceInfo {
        DeviceInfo {
            serial: serial.into(),
            name: name.map(Into::into),
            station: station.map(Into::into),
            ..DeviceInfo::default()
        }
    }

    #[test]
    fn the_table_says_which_cameras_share_a_station() {
        let list = [
            camera("T1", Some("Front door"), Some("HB1")),
            camera("T2", None, Some("HB1")),
            camera("T3", Some("Garden"), Some("T3")),
        ];
        let table = camera_table(&list);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[0].starts_with("serial"));
        assert!(lines[1].starts_with("T1") && lines[1].contains("Front door"));
        assert!(
            lines[1].contains("HB1 (shared with 1 other camera(s)"),
            "{table}"
        );
        assert!(lines[2].contains(" - "), "no name: a dash\n{table}");
        assert!(
            lines[3].ends_with("T3"),
            "its own station, shared with none\n{table}"
        );
    }
}
