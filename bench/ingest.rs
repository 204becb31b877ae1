//! Criterion micro-benchmarks of the ingest path, on the bundled demo clip (real x264 output):
//!
//! - `buffer/*`: the `buffer.data` array of a livestream event, fast scanner vs the naive
//!   `serde_json::from_str` into a struct with `Vec<u8>`, same text, same run;
//! - `message/*`: a whole video event, `parse_server_message` vs the naive struct;
//! - `access_units`: Annex-B bytes → access units, in 64 KiB chunks.
//!
//! Throughput is bytes of input (JSON text, or Annex-B bytes). Run: `cargo bench --bench ingest`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use eufy_hw::bitstream::{AccessUnits, AssemblerConfig};
use eufy_hw::clip::DEMO_CLIP;
use eufy_hw::eufy::buffer::{decode_byte_array, encode_byte_array};
use eufy_hw::eufy::protocol::parse_server_message;
use serde::Deserialize;

#[derive(Deserialize)]
struct NaiveBuffer {
    data: Vec<u8>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct NaiveEvent {
    source: String,
    event: String,
    #[serde(rename = "serialNumber")]
    serial_number: String,
    buffer: NaiveBuffer,
    metadata: serde_json::Value,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct NaiveMessage {
    #[serde(rename = "type")]
    kind: String,
    event: NaiveEvent,
}

fn payload(len: usize) -> Vec<u8> {
    DEMO_CLIP.iter().copied().cycle().take(len).collect()
}

fn buffer(c: &mut Criterion) {
    let mut g = c.benchmark_group("buffer");
    // A P-frame, an I-frame of 720p, a 1080p/2K keyframe.
    for len in [16 << 10, 256 << 10, 2 << 20] {
        let bytes = payload(len);
        let mut array = String::new();
        encode_byte_array(&bytes, &mut array);
        let object = format!(r#"{{"type":"Buffer","data":{array}}}"#);
        g.throughput(Throughput::Bytes(array.len() as u64));
        let mut out = Vec::new();
        g.bench_with_input(BenchmarkId::new("fast", len), &array, |b, text| {
            b.iter(|| {
                out.clear();
                decode_byte_array(text.as_bytes(), &mut out).expect("valid")
            })
        });
        g.bench_with_input(BenchmarkId::new("naive_serde", len), &object, |b, text| {
            b.iter(|| {
                serde_json::from_str::<NaiveBuffer>(text)
                    .expect("valid")
                    .data
                    .len()
            })
        });
    }
    g.finish();
}

fn message(c: &mut Criterion) {
    let mut g = c.benchmark_group("message");
    let bytes = payload(256 << 10);
    let mut array = String::new();
    encode_byte_array(&bytes, &mut array);
    let text = format!(
        r#"{{"type":"event","event":{{"source":"device","event":"livestream video data","serialNumber":"T8410P4223334EBE","buffer":{{"type":"Buffer","data":{array}}},"metadata":{{"videoCodec":"H264","videoFPS":15,"videoHeight":1080,"videoWidth":1920}}}}}}"#
    );
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("parse_server_message", |b| {
        b.iter(|| parse_server_message(&text).expect("valid"))
    });
    g.bench_function("naive_serde", |b| {
        b.iter(|| serde_json::from_str::<NaiveMessage>(&text).expect("valid"))
    });
    g.finish();
}

fn access_units(c: &mut Criterion) {
    let mut g = c.benchmark_group("access_units");
    g.throughput(Throughput::Bytes(DEMO_CLIP.len() as u64));
    g.bench_function("demo_clip_64k_chunks", |b| {
        b.iter(|| {
            let mut asm = AccessUnits::new(AssemblerConfig::default());
            let mut n = 0usize;
            for chunk in DEMO_CLIP.chunks(64 << 10) {
                asm.push(chunk, (), |au| n += au.data.len());
            }
            asm.finish(|au| n += au.data.len());
            n
        })
    });
    g.finish();
}

criterion_group!(benches, buffer, message, access_units);
criterion_main!(benches);
