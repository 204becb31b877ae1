//! The Eufy Mega bridge's messages and HTTP error bodies are untrusted: parsing any text
//! never panics, a parsed device list keeps only what it could read, and a back-off read
//! from a body is bounded.
#![no_main]

use eufy_hw::bridge::protocol::{error_reason, parse, parse_devices, retry_after};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse(&text);
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        if let Ok((devices, skipped)) = parse_devices(&v) {
            let listed = v["devices"].as_array().map_or(0, Vec::len);
            assert_eq!(devices.len() + skipped, listed);
        }
    }
    let reason = error_reason(data);
    assert!(reason.chars().count() <= 200);
    if let Some(wait) = retry_after(&reason) {
        assert!(wait.as_secs() <= 3600);
    }
});
