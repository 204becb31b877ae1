//! Home Assistant's messages: any topic and payload is a command of the wall (naming a page
//! or camera that exists) or a reason, never a panic.
#![no_main]

use eufy_hw::mqtt::ha::{parse_command, Command, Topics};
use libfuzzer_sys::fuzz_target;

const WALL: &str = "[[camera]]\nserial = \"T1\"\nname = \"Door\"\n[[camera]]\nserial = \"T2\"\n\
                    [[page]]\ncameras = [\"T1\"]\n[[page]]\ncameras = [\"T2\"]\n\
                    [mqtt]\nurl = \"mqtt://broker\"\nnode_id = \"hall\"\n";

fuzz_target!(|data: &[u8]| {
    let wall = eufy_hw::wall::parse(WALL, "fuzz.toml").expect("the fuzz wall parses");
    let Some(config) = wall.mqtt.clone() else {
        return;
    };
    let topics = Topics::new(&config);
    // The first line is the topic's end, the rest the payload.
    let (rest, payload) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let topic = format!("eufy_hw/hall/{}", String::from_utf8_lossy(rest));
    match parse_command(&wall, &topics, &topic, payload) {
        Ok(Command::Page(n)) => assert!(n < wall.pages.len()),
        Ok(Command::Show { camera, .. } | Command::Restart(camera)) => {
            assert!(camera < wall.cameras.len())
        }
        Ok(_) => {}
        Err(why) => assert!(!why.is_empty()),
    }
});
