//! `eufy-hw login`: completes the Eufy Mega bridge's login from the wall (it may be the
//! bridge's only client): says the state, submits a 2FA code or a captcha's answer, asks for
//! a new one, and saves a captcha's image to a file whose path it prints.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::Engine;

use crate::backend::Backend;
use crate::bridge::protocol::AuthState;
use crate::bridge::{Answer, LoginOutcome};
use crate::eufy::session::SessionConfig;

/// Logs the bridge at `url` in with `answer`; the captcha image, when there is one, goes to
/// `captcha_dir`. Fails with the bridge's reason when it refuses, or when a code was wrong.
pub async fn login(url: &str, answer: Answer, captcha_dir: &Path) -> Result<AuthState> {
    let config = SessionConfig::new(url, Vec::new());
    let crate::backend::Probed { backend, url, .. } = crate::backend::probe(&config)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    if backend != Backend::Bridge {
        bail!("{url} is {}: `eufy-hw login` is for the Eufy Mega bridge (eufy-security-ws logs in by its own configuration)", backend.describe());
    }
    let config = SessionConfig::new(url.clone(), Vec::new());
    let submitted = answer != Answer::Nothing;
    let wrong_code = matches!(answer, Answer::Code(_) | Answer::Captcha(_));
    let LoginOutcome { before, after } = crate::bridge::login(&config, answer)
        .await
        .with_context(|| format!("logging in the bridge at {url}"))?;
    if submitted && before.is_ok() {
        eprintln!("the bridge was already logged in");
    }
    println!("{}", after.word());
    eprintln!("{}", after.describe());
    if let AuthState::RequireCaptcha {
        image: Some(image), ..
    } = &after
    {
        let path = save_captcha(image, captcha_dir)?;
        eprintln!(
            "the captcha is in {}: answer it with eufy-hw login --captcha TEXT",
            path.display()
        );
    }
    if wrong_code && !before.is_ok() && after == before {
        bail!("the bridge did not take that answer: it still says {:?} ({}); check it and try again, or ask for a new one with --retrigger", after.word(), after.describe());
    }
    Ok(after)
}

/// Writes a `data:image/…;base64,…` URL's image to `dir/eufy-bridge-captcha.EXT`.
pub fn save_captcha(data_url: &str, dir: &Path) -> Result<PathBuf> {
    let (meta, data) = data_url
        .strip_prefix("data:")
        .and_then(|r| r.split_once(','))
        .context("the captcha image is not a data: URL")?;
    if !meta.ends_with(";base64") {
        bail!("the captcha image is not base64 ({meta})");
    }
    let ext = match meta.trim_end_matches(";base64") {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpg",
        "image/gif" => "gif",
        _ => "img",
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .context("the captcha image is not valid base64")?;
    let path = dir.join(format!("eufy-bridge-captcha.{ext}"));
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captcha_files() {
        let dir = std::env::temp_dir().join(format!("eufy-captcha-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = save_captcha("data:image/png;base64,iVBORw0KGgo=", &dir).unwrap();
        assert!(path.ends_with("eufy-bridge-captcha.png"));
        assert_eq!(std::fs::read(&path).unwrap(), b"\x89PNG\r\n\x1a\n");
        assert!(save_captcha("http://x/y.png", &dir).is_err());
        assert!(save_captcha("data:image/png,raw", &dir).is_err());
        assert!(save_captcha("data:image/png;base64,@@@", &dir).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
