//! Server messages: never a panic; the fast `buffer.data` path agrees with serde_json.
#![no_main]

use eufy_hw::eufy::buffer::decode_byte_array;
use eufy_hw::eufy::protocol::parse_server_message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_server_message(text);
    }
    let mut fast = Vec::new();
    let fast_ok = decode_byte_array(data, &mut fast);
    if let Ok(n) = fast_ok {
        let slow: Vec<u8> = serde_json::from_slice(&data[..n]).expect("fast path accepted what serde rejects");
        assert_eq!(fast, slow);
    } else if data.first() == Some(&b'[') && !data.contains(&b'-') {
        // The fast path is stricter than serde only about `-0` (JSON.stringify never
        // writes it); anything else serde takes as a byte array, it must take too.
        if let Ok(slow) = serde_json::from_slice::<Vec<u8>>(data) {
            panic!("fast path rejected a valid byte array: {slow:?}");
        }
    }
});
