//! The boot files in `packaging/`: the systemd units pass `systemd-analyze verify` (with the
//! built binary where they name /usr/local/bin/eufy-hw; a unit with a typo is refused), the
//! autostart entry passes `desktop-file-validate` (a missing tool fails the test:
//! `./dev.sh test` installs both), and the example wall file passes `eufy-hw check-config`,
//! while a broken copy's error names its line. (The X session script runs for real under
//! xinit in tests/window.rs.)
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn packaging() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eufy-pkg-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Fails unless `tool` is installed: `./dev.sh test` installs it, so a check that cannot
/// run is a failure, never a silent pass.
fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{tool} is not installed: ./dev.sh setup installs it");
}

#[test]
fn units_verify() {
    require("systemd-analyze");
    let dir = temp_dir("units");
    let runtime = temp_dir("runtime");
    let mut checked = 0;
    for entry in std::fs::read_dir(packaging()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("service") {
            continue;
        }
        let name = path.file_name().unwrap().to_owned();
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("/usr/local/bin/eufy-hw", env!("CARGO_BIN_EXE_eufy-hw"));
        let unit = dir.join(&name);
        std::fs::write(&unit, text).unwrap();
        // The desktop one is a user unit.
        let user = name == "eufy-hw.service";
        let mut cmd = Command::new("systemd-analyze");
        if user {
            cmd.arg("--user").env("XDG_RUNTIME_DIR", &runtime);
        }
        let out = cmd.arg("verify").arg(&unit).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        // Unknown keys are only warnings there; any complaint fails here.
        let complaints: Vec<&str> = err
            .lines()
            .filter(|l| l.contains(&*name.to_string_lossy()))
            .collect();
        assert!(
            out.status.success() && complaints.is_empty(),
            "{}: {err}",
            path.display()
        );
        checked += 1;
    }
    assert_eq!(checked, 3, "three units in packaging/");
    // It can fail: a unit with a typo is refused.
    let bad = dir.join("bad.service");
    std::fs::write(
        &bad,
        "[Service]\nExecStart=/nonexistent/eufy-hw\nRestrat=always\n",
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("Restrat"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&runtime).ok();
}

#[test]
fn autostart_entry_validates() {
    require("desktop-file-validate");
    let out = Command::new("desktop-file-validate")
        .arg(packaging().join("eufy-hw.desktop"))
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The example wall file in the repository is valid, and says what it sets up.
#[test]
fn example_wall_file_checks() {
    let out = Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .arg("check-config")
        .arg(packaging().join("wall.example.toml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "5 camera(s), 2 page(s)",
        "Front door, Drive, Garden",
        "streamed even when hidden: Garage",
        "streamed only for events (their latest picture otherwise): Back door",
        "ring > person > motion",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
    // A broken copy: the error names the file and the line.
    let dir = temp_dir("wall");
    let broken = dir.join("broken.toml");
    let example = std::fs::read_to_string(packaging().join("wall.example.toml")).unwrap();
    let text = example.replace("layout = \"2x1\"", "layout = \"2by1\"");
    let line = text.lines().position(|l| l.contains("2by1")).unwrap() + 1;
    std::fs::write(&broken, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_eufy-hw"))
        .arg("check-config")
        .arg(&broken)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("broken.toml:{line}: page 2: layout \"2by1\"")),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
