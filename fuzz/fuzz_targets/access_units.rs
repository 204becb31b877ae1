//! Access-unit assembly must not depend on where the input is cut: parse the input whole,
//! then split at every position, and compare. Also: no panic, bounded output.
#![no_main]

use eufy_hw::bitstream::{AccessUnits, AssemblerConfig};
use libfuzzer_sys::fuzz_target;

fn parse(parts: &[&[u8]], wait: bool) -> Vec<(bool, Vec<u8>)> {
    let mut asm = AccessUnits::new(AssemblerConfig {
        wait_for_keyframe: wait,
        max_access_unit: 1 << 12,
    });
    let mut out = Vec::new();
    for p in parts {
        asm.push(p, (), |au| out.push((au.keyframe, au.data)));
    }
    asm.finish(|au| out.push((au.keyframe, au.data)));
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, data)) = data.split_first() else {
        return;
    };
    let wait = flags & 1 == 1;
    let whole = parse(&[data], wait);
    let total: usize = whole.iter().map(|(_, d)| d.len()).sum();
    assert!(total <= data.len() + whole.len(), "output larger than input");
    for i in 0..=data.len() {
        let (a, b) = data.split_at(i);
        assert_eq!(parse(&[a, b], wait), whole, "split at {i}");
    }
});
