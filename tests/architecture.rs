//! The shape of the code, kept true: the arrows between modules are exactly those the design
//! allows (an allow-list, [`ALLOWED`], that itself breaks none of the rules in [`FORBIDDEN`]),
//! unsafe code only in `src/av/`, `anyhow` only at the edge (`app`, `cli` and `main`), and no
//! function over 100 lines without a stated reason. Read from the source text: every
//! `crate::module` path and every outside crate named in non-comment code of `src/`, test
//! modules (inline, or a `tests.rs` declared `#[cfg(test)] mod tests;`) left out. Each rule was checked to fail by breaking it once.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The top-level module a file of `src/` belongs to (`main` and `lib` for those files).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// Whether `file` is a test module of its own (`tests.rs`, declared `#[cfg(test)] mod
/// tests;` beside it): test code, left out as inline test modules are.
fn is_test_module(file: &Path) -> bool {
    if file.file_name().is_none_or(|n| n != "tests.rs") {
        return false;
    }
    let dir = file.parent().unwrap();
    let parent = ["mod.rs", "lib.rs"]
        .iter()
        .map(|p| dir.join(p))
        .find(|p| p.exists())
        .unwrap_or_else(|| dir.with_extension("rs"));
    let text = std::fs::read_to_string(&parent).unwrap_or_default();
    assert!(
        text.contains("#[cfg(test)]\nmod tests;"),
        "{} is not declared `#[cfg(test)] mod tests;` in {}",
        file.display(),
        parent.display()
    );
    true
}

/// A file's code: comment lines dropped, and nothing from its test module on.
fn code_of(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        // A trailing comment is not code either.
        let code = match line.find(" // ") {
            Some(k) => &line[..k],
            None => line,
        };
        out.push((i + 1, code.to_owned()));
    }
    out
}

/// What each module of `src/` names: crate modules (`crate::x`, and `eufy_hw::x` in the
/// binary) and outside crates, with where.
fn dependencies() -> BTreeMap<String, Vec<(String, String)>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let outside = [
        "ffmpeg_next",
        "wgpu",
        "winit",
        "softbuffer",
        "tokio",
        "tokio_tungstenite",
        "anyhow",
        "cpal",
        "clap",
    ];
    let mut deps: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for file in rust_files(&src) {
        if is_test_module(&file) {
            continue;
        }
        let module = module_of(&src, &file);
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.strip_prefix(&src).unwrap().display().to_string();
        for (n, line) in code_of(&text) {
            let mut named = Vec::new();
            for prefix in ["crate::", "eufy_hw::"] {
                let mut rest = line.as_str();
                while let Some(k) = rest.find(prefix) {
                    let after = &rest[k + prefix.len()..];
                    let word: String = after
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    // `crate::{a, b}` names each of a, b.
                    if word.is_empty() && after.starts_with('{') {
                        let list = after[1..].split('}').next().unwrap_or("");
                        named.extend(list.split(',').filter_map(|w| {
                            let w = w.trim().split("::").next()?.trim();
                            (!w.is_empty()).then(|| w.to_owned())
                        }));
                    } else if !word.is_empty() {
                        named.push(word);
                    }
                    rest = after;
                }
            }
            for c in outside {
                let bounded = |s: &str| {
                    line.match_indices(s).any(|(k, _)| {
                        let before = line[..k].chars().last();
                        let after = line[k + s.len()..].chars().next();
                        before.is_none_or(|b| !(b.is_alphanumeric() || b == '_'))
                            && after.is_none_or(|a| !(a.is_alphanumeric() || a == '_'))
                    })
                };
                if bounded(c) {
                    named.push(format!("extern:{c}"));
                }
            }
            for dep in named {
                deps.entry(module.clone())
                    .or_default()
                    .push((dep, format!("src/{name}:{n}")));
            }
        }
    }
    deps
}

/// The arrows the design permits, and only those: each module and what it may name (crate
/// modules, and `extern:` for the outside crates the scan watches). The map is exact: an arrow
/// that is not here fails, and so does an entry nothing uses any more. A new arrow is a design
/// change, made here (checked against [`FORBIDDEN`]) and in docs/ARCHITECTURE.md.
const ALLOWED: &[(&str, &str, &[&str])] = &[
    (
        "app",
        "the commands: the top layer, each one assembling the parts below",
        &[
            "backend",
            "bench",
            "bridge",
            "clip",
            "decode",
            "eufy",
            "extern:anyhow",
            "extern:tokio",
            "pipeline",
            "record",
            "shutdown",
            "simulator",
            "source",
            "talk",
            "view",
            "wall",
        ],
    ),
    (
        "audio",
        "sound out: ADTS from bitstream, FFmpeg's AAC decoder, cpal",
        &["bitstream", "extern:cpal", "extern:ffmpeg_next"],
    ),
    (
        "av",
        "the FFI: FFmpeg, into plain frames",
        &["extern:ffmpeg_next", "frame"],
    ),
    (
        "backend",
        "the seam over the two servers' sessions",
        &[
            "bridge",
            "eufy",
            "extern:tokio",
            "extern:tokio_tungstenite",
            "shutdown",
        ],
    ),
    (
        "bench",
        "the benchmark drives the whole pipeline and renders offscreen",
        &[
            "audio",
            "bitstream",
            "clip",
            "decode",
            "eufy",
            "extern:tokio",
            "frame",
            "ingest",
            "layout",
            "pipeline",
            "record",
            "render",
            "shutdown",
            "simulator",
            "source",
        ],
    ),
    (
        "bridge",
        "the Eufy Mega bridge's session, behind the seam",
        &[
            "backend",
            "eufy",
            "extern:tokio",
            "extern:tokio_tungstenite",
            "shutdown",
            "talk",
        ],
    ),
    (
        "cli",
        "the command line: one app:: call each",
        &[
            "app",
            "backend",
            "bench",
            "bridge",
            "clip",
            "decode",
            "extern:anyhow",
            "extern:clap",
            "record",
            "render",
            "simulator",
            "view",
            "wall",
        ],
    ),
    ("clip", "clips as access units", &["bitstream"]),
    (
        "decode",
        "decoding: the FFI through av, into frames",
        &["av", "bitstream", "extern:ffmpeg_next", "frame", "throttle"],
    ),
    (
        "eufy",
        "eufy-security-ws's session, behind the seam",
        &[
            "backend",
            "extern:tokio",
            "extern:tokio_tungstenite",
            "shutdown",
            "talk",
            "throttle",
        ],
    ),
    ("ingest", "event bytes into access units", &["bitstream"]),
    (
        "kiosk",
        "the wall's clock: pure, over the wall file and geometry",
        &["eufy", "layout", "wall"],
    ),
    (
        "main",
        "tracing and the runtime",
        &["extern:anyhow", "extern:clap", "extern:tokio"],
    ),
    (
        "mqtt",
        "Home Assistant: plain data in and out",
        &[
            "backend",
            "eufy",
            "extern:tokio",
            "frame",
            "shutdown",
            "stills",
            "throttle",
            "wall",
        ],
    ),
    (
        "pipeline",
        "sessions' events into decoders and sinks",
        &[
            "audio",
            "backend",
            "bitstream",
            "decode",
            "eufy",
            "extern:tokio",
            "frame",
            "ingest",
            "shutdown",
            "source",
            "talk",
            "throttle",
        ],
    ),
    (
        "record",
        "the recorder and publisher: av's muxer, fed by the pipeline",
        &[
            "av",
            "bitstream",
            "eufy",
            "extern:ffmpeg_next",
            "ingest",
            "pipeline",
            "shutdown",
            "timestamps",
        ],
    ),
    (
        "render",
        "frames to pixels: wgpu or libswscale through av",
        &[
            "av",
            "extern:softbuffer",
            "extern:wgpu",
            "extern:winit",
            "frame",
            "layout",
            "throttle",
        ],
    ),
    ("shutdown", "a leaf", &["extern:tokio"]),
    (
        "simulator",
        "the stand-in servers: the client's protocol types, the clips",
        &[
            "bitstream",
            "bridge",
            "clip",
            "eufy",
            "extern:tokio",
            "extern:tokio_tungstenite",
        ],
    ),
    (
        "source",
        "RTSP sources: av's demuxer, events like a session's",
        &[
            "av",
            "eufy",
            "extern:ffmpeg_next",
            "extern:tokio",
            "shutdown",
        ],
    ),
    (
        "stills",
        "pictures on disk: av's PNG codec",
        &["av", "frame"],
    ),
    (
        "talk",
        "talk back's sound: a microphone or a file into AAC",
        &[
            "bitstream",
            "extern:cpal",
            "extern:ffmpeg_next",
            "extern:tokio",
        ],
    ),
    (
        "view",
        "the window: everything the wall shows, on top of the pipeline",
        &[
            "audio",
            "backend",
            "decode",
            "eufy",
            "extern:tokio",
            "extern:wgpu",
            "extern:winit",
            "frame",
            "kiosk",
            "layout",
            "mqtt",
            "pipeline",
            "render",
            "shutdown",
            "source",
            "stills",
            "talk",
            "throttle",
            "wall",
        ],
    ),
    (
        "wall",
        "the wall file: pure, over geometry",
        &["backend", "eufy", "layout"],
    ),
];

/// The arrows that must never exist, whatever [`ALLOWED`] says: (from, to, why). `extern:x`
/// is an outside crate.
const FORBIDDEN: &[(&str, &str, &str)] = &[
    // The seam between decoding and rendering is `frame` (docs/ARCHITECTURE.md).
    ("decode", "render", "decode never imports the renderer"),
    ("decode", "extern:wgpu", "decode never imports wgpu"),
    ("render", "decode", "render never imports decode"),
    (
        "render",
        "extern:ffmpeg_next",
        "render knows no FFmpeg (libswscale comes through av::scale)",
    ),
    ("frame", "decode", "frame is plain data"),
    ("frame", "render", "frame is plain data"),
    // bitstream knows no network and no codec library.
    ("bitstream", "eufy", "bitstream knows no network"),
    ("bitstream", "extern:tokio", "bitstream knows no network"),
    (
        "bitstream",
        "extern:ffmpeg_next",
        "bitstream knows no codec library",
    ),
    ("bitstream", "decode", "bitstream knows no codec library"),
    // Pure parts: geometry, the wall file, the wall's clock.
    ("layout", "render", "layout is pure geometry"),
    (
        "kiosk",
        "render",
        "kiosk imports no renderer (geometry is layout's)",
    ),
    (
        "wall",
        "render",
        "wall imports no renderer (geometry is layout's)",
    ),
    (
        "kiosk",
        "extern:tokio",
        "kiosk is pure, clocked by the caller",
    ),
    ("wall", "extern:tokio", "wall is pure"),
    // The FFI has one home.
    ("record", "decode", "record uses av, not decode's internals"),
    ("source", "decode", "source uses av, not decode's internals"),
    ("av", "render", "av is FFI only"),
    ("av", "decode", "av is FFI only"),
    // The client side of eufy-security-ws knows nothing of what consumes it.
    (
        "eufy",
        "pipeline",
        "the session feeds the pipeline, not the other way",
    ),
    ("eufy", "decode", "the session knows no codec"),
    (
        "eufy",
        "simulator",
        "the client does not contain the server",
    ),
    ("eufy", "extern:ffmpeg_next", "the session knows no codec"),
    (
        "bridge",
        "pipeline",
        "the session feeds the pipeline, not the other way",
    ),
    ("bridge", "decode", "the session knows no codec"),
    ("bridge", "extern:ffmpeg_next", "the session knows no codec"),
    (
        "bridge",
        "simulator",
        "the client does not contain the server",
    ),
    ("backend", "pipeline", "the seam is below the pipeline"),
    (
        "pipeline",
        "bridge",
        "the pipeline knows no backend, only the seam",
    ),
    ("view", "bridge", "the viewer knows no backend"),
    ("mqtt", "bridge", "Home Assistant knows no backend"),
    ("kiosk", "bridge", "the wall's rules know no backend"),
    // Layers: the pipeline below the window, bench and the commands.
    ("pipeline", "view", "the pipeline knows no window"),
    ("pipeline", "render", "the pipeline knows no renderer"),
    ("pipeline", "bench", "the pipeline knows no benchmark"),
    (
        "bench",
        "view",
        "bench draws with render's window, not the viewer app",
    ),
    // Talk back's sound (microphone, file, encoder) knows no server: the session paces it.
    ("talk", "eufy", "talk back's sound knows no server"),
    ("talk", "bridge", "talk back's sound knows no server"),
    (
        "talk",
        "pipeline",
        "talk back's sound is not the pipeline's",
    ),
    ("talk", "extern:wgpu", "talk back has no picture"),
    ("audio", "render", "audio has no picture"),
    ("audio", "extern:wgpu", "audio has no picture"),
    ("shutdown", "pipeline", "shutdown is a leaf"),
    // Home Assistant's client speaks to the wall through plain data.
    ("mqtt", "view", "the MQTT client knows no window"),
    ("mqtt", "render", "the MQTT client knows no renderer"),
    ("kiosk", "mqtt", "the wall's rules know no broker"),
];

/// Modules that may use `anyhow`: the program's edge (the binary, `main` and its command
/// line `cli`, and the subcommands).
const ANYHOW: &[&str] = &["app", "main", "cli"];

#[test]
fn every_arrow_is_one_the_design_allows() {
    let deps = dependencies();
    let allowed = |from: &str, to: &str| {
        ALLOWED
            .iter()
            .any(|(m, _, list)| *m == from && list.contains(&to))
    };
    let mut found = Vec::new();
    for (from, list) in &deps {
        for (dep, at) in list {
            if dep != from && !allowed(from, dep) {
                found.push(format!("{at}: {from} → {dep}"));
            }
        }
    }
    // Exact: what the design allows is what the code does.
    for (from, _, list) in ALLOWED {
        for to in *list {
            let used = deps
                .get(*from)
                .is_some_and(|l| l.iter().any(|(d, _)| d == to));
            if !used {
                found.push(format!(
                    "{from} → {to} is allowed but no longer used: remove it"
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "arrows that docs/ARCHITECTURE.md does not have:\n{}",
        found.join("\n")
    );
    // The scan sees what it must: arrows that do exist are found.
    let has = |from: &str, to: &str| {
        deps.get(from)
            .is_some_and(|l| l.iter().any(|(d, _)| d == to))
    };
    assert!(has("render", "av") && has("decode", "av") && has("view", "pipeline"));
    assert!(has("av", "extern:ffmpeg_next") && has("cli", "app"));
}

/// The allowed map keeps the rules: none of [`FORBIDDEN`], the commands (`app`) named only
/// by the command line, `anyhow` only at the edge.
#[test]
fn the_allowed_arrows_break_no_rule() {
    let mut found = Vec::new();
    for (from, _, list) in ALLOWED {
        for to in *list {
            if let Some((_, _, why)) = FORBIDDEN.iter().find(|(f, t, _)| f == from && t == to) {
                found.push(format!("{from} → {to}: {why}"));
            }
            if *to == "app" && !["main", "cli"].contains(from) {
                found.push(format!("{from} → app: app is the top layer"));
            }
            if *to == "extern:anyhow" && !ANYHOW.contains(from) {
                found.push(format!(
                    "{from} → anyhow: thiserror inside, anyhow at the edge"
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "the allowed arrows break rules:\n{}",
        found.join("\n")
    );
}

/// Unsafe code is allowed in `av` only (the crate denies it elsewhere; this keeps the
/// exception from spreading).
#[test]
fn unsafe_code_lives_in_av() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for file in rust_files(&src) {
        let text = std::fs::read_to_string(&file).unwrap();
        let allows = text.contains("allow(unsafe_code)");
        let has_unsafe = code_of(&text).iter().any(|(_, l)| {
            l.contains("unsafe {") || l.contains("unsafe fn") || l.contains("unsafe impl")
        });
        if (allows || has_unsafe) && module_of(&src, &file) != "av" {
            found.push(file.display().to_string());
        }
    }
    assert!(found.is_empty(), "unsafe code outside src/av: {found:?}");
}

/// Functions of more than [`LONGEST`] lines say why (`Long because …` in their doc or a
/// comment just above).
const LONGEST: usize = 100;

#[test]
fn no_long_function_without_a_reason() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    let mut seen = 0;
    for dir in ["src", "bench"] {
        for file in rust_files(&root.join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let t = line.trim_start();
                let indent = line.len() - t.len();
                let is_fn = t
                    .split_whitespace()
                    .take_while(|w| !w.starts_with("fn"))
                    .all(|w| {
                        w == "pub"
                            || w.starts_with("pub(")
                            || ["async", "const", "unsafe", "extern", "\"C\""].contains(&w)
                    })
                    && t.split_whitespace().any(|w| w == "fn");
                if !is_fn || t.ends_with(';') {
                    continue;
                }
                // The body ends at the first `}` at the function's indentation.
                let close = " ".repeat(indent) + "}";
                let Some(end) = lines[i + 1..].iter().position(|l| *l == close) else {
                    continue;
                };
                seen += 1;
                let length = end + 2;
                if length <= LONGEST {
                    continue;
                }
                let above = lines[..i]
                    .iter()
                    .rev()
                    .take_while(|l| {
                        let l = l.trim_start();
                        l.starts_with("//") || l.starts_with("#[")
                    })
                    .any(|l| l.contains("Long because"));
                if !above {
                    let rel = file.strip_prefix(root).unwrap().display().to_string();
                    found.push(format!("{rel}:{}: {length} lines: {t}", i + 1));
                }
            }
        }
    }
    assert!(seen > 500, "the scan found only {seen} functions");
    assert!(
        found.is_empty(),
        "functions over {LONGEST} lines without a reason:\n{}",
        found.join("\n")
    );
}
