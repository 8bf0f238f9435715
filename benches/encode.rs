//! Command and frame encoding throughput (bytes/s).

// `criterion_group!` generates a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use bytes::BytesMut;
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use resp_codec::{Frame, ToArg, command_len, encode_command, encode_frame};

fn commands(c: &mut Criterion) {
    let key = [b'k'; 16];
    let value = [b'v'; 100];
    let set: [&[u8]; 3] = [b"SET", &key, &value];
    let get: [&[u8]; 2] = [b"GET", &key];
    let mut group = c.benchmark_group("encode");
    // Write into a buffer that is cleared when it passes 64 KiB, as if flushed to a socket.
    for (name, args) in [
        ("SET_16B_key_100B_value", &set[..]),
        ("GET_16B_key", &get[..]),
    ] {
        group.throughput(Throughput::Bytes(command_len(args) as u64));
        let mut out = BytesMut::with_capacity(128 * 1024);
        group.bench_function(name, |b| {
            b.iter(|| {
                encode_command(&mut out, black_box(args));
                if out.len() > 64 * 1024 {
                    out.clear();
                }
            })
        });
    }
    let mixed: [&dyn ToArg; 5] = [&"SET", &"key:000000000001", &"value", &"EX", &3600u32];
    group.throughput(Throughput::Bytes(command_len(&mixed) as u64));
    let mut out = BytesMut::with_capacity(128 * 1024);
    group.bench_function("SET_EX_mixed_args", |b| {
        b.iter(|| {
            encode_command(&mut out, black_box(&mixed));
            if out.len() > 64 * 1024 {
                out.clear();
            }
        })
    });

    let frame = Frame::Map(
        (0..100)
            .map(|i| (Frame::Integer(i), Frame::from("a value of 16 B.")))
            .collect(),
    );
    let mut probe = BytesMut::new();
    encode_frame(&mut probe, &frame);
    group.throughput(Throughput::Bytes(probe.len() as u64));
    let mut out = BytesMut::with_capacity(64 * 1024);
    group.bench_function("frame_map_100_resp3", |b| {
        b.iter(|| {
            out.clear();
            encode_frame(&mut out, black_box(&frame));
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs, so that `cargo bench` at the root takes a few minutes: these inputs are
    // deterministic and the spread stays within a few percent.
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = commands
}
criterion_main!(benches);
