//! Decoder throughput (bytes/s) over fixed inputs, and the cost of feeding large replies in
//! 4 KiB pieces compared with feeding them whole. Part of the `resp-codec` package: run with
//! `cargo bench` at the repository root (with `encode`), or `cargo bench -p resp-codec --bench
//! decode`.

// `criterion_group!` generates a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, black_box, criterion_group, criterion_main};
use resp_codec::{Decoder, Frame, Verbatim, encode_frame};

/// `n` copies of `reply`, back to back, as a pipelining client receives them.
fn repeated(reply: &[u8], n: usize) -> Vec<u8> {
    reply.repeat(n)
}

fn encoded(frames: &[Frame]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for f in frames {
        encode_frame(&mut buf, f);
    }
    buf.to_vec()
}

fn bulk_reply(len: usize) -> Vec<u8> {
    let mut v = format!("${len}\r\n").into_bytes();
    v.extend((0..len).map(|i| b'a' + (i % 26) as u8));
    v.extend_from_slice(b"\r\n");
    v
}

fn array_of_bulks(n: usize, len: usize) -> Vec<u8> {
    let mut v = format!("*{n}\r\n").into_bytes();
    for _ in 0..n {
        v.extend(bulk_reply(len));
    }
    v
}

fn resp3_map(pairs: usize) -> Vec<u8> {
    let mut v = format!("%{pairs}\r\n").into_bytes();
    for i in 0..pairs {
        let field = format!("field:{i:03}");
        v.extend(format!("${}\r\n{field}\r\n", field.len()).into_bytes());
        v.extend(bulk_reply(16));
    }
    v
}

/// XREAD-like nesting: streams of entries of field/value arrays.
fn nested() -> Vec<u8> {
    let entry = Frame::Array(vec![
        Frame::from("1700000000000-0"),
        Frame::Array(vec![
            Frame::from("job_id"),
            Frame::from("0123456789abcdef0123456789abcdef"),
            Frame::from("status"),
            Frame::from("queued"),
        ]),
    ]);
    let stream = Frame::Array(vec![Frame::from("jobs"), Frame::Array(vec![entry; 10])]);
    encoded(&[Frame::Array(vec![stream.clone(), stream])])
}

fn resp3_mix() -> Vec<u8> {
    encoded(&[
        Frame::Double(3.25),
        Frame::Double(f64::INFINITY),
        Frame::Boolean(true),
        Frame::Null,
        Frame::BigNumber("3492890328409238509324850943850943825024385".into()),
        Frame::VerbatimString(Verbatim::new(*b"txt", b"Some string of verbatim text")),
        Frame::Set(vec![Frame::from("member-0000000001"); 5]),
        Frame::Push(vec![
            Frame::from("message"),
            Frame::from("events:7"),
            Frame::from("a payload of some 40 bytes, give or take"),
        ]),
        Frame::SimpleString("OK".into()),
        Frame::Integer(1_700_000_000_000),
    ])
}

fn decode_all(decoder: &mut Decoder, buf: &mut BytesMut) -> usize {
    let mut n = 0;
    while let Some(frame) = decoder.decode(buf).expect("valid input") {
        black_box(frame);
        n += 1;
    }
    n
}

fn throughput(c: &mut Criterion) {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("ok", repeated(b"+OK\r\n", 10_000)),
        ("integer", repeated(b":1700000000000\r\n", 10_000)),
        ("bulk_16B", repeated(&bulk_reply(16), 10_000)),
        ("bulk_1KiB", repeated(&bulk_reply(1024), 1_000)),
        ("bulk_64KiB", repeated(&bulk_reply(64 * 1024), 16)),
        ("array_1000x16B", array_of_bulks(1000, 16)),
        ("map_100_resp3", resp3_map(100)),
        ("nested", repeated(&nested(), 100)),
        ("resp3_mix", repeated(&resp3_mix(), 1_000)),
    ];
    let mut group = c.benchmark_group("decode");
    for (name, input) in &cases {
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(*name, |b| {
            b.iter_batched_ref(
                || BytesMut::from(&input[..]),
                |buf| decode_all(&mut Decoder::new(), buf),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

/// Feeds `input` in `piece`-byte reads appended to one buffer, as a socket read loop does.
fn feed_in_pieces(input: &[u8], piece: usize) -> usize {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::with_capacity(4 * piece);
    let mut n = 0;
    for chunk in input.chunks(piece) {
        buf.extend_from_slice(chunk);
        n += decode_all(&mut decoder, &mut buf);
    }
    n
}

/// The resumable decoder's promise: a reply that spans thousands of reads costs about the same
/// as one that is in the buffer whole (redis-rs #803: a 49 MB GET took 10 s re-parsing).
fn chunked_feed(c: &mut Criterion) {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bulk_64MiB", bulk_reply(64 << 20)),
        ("array_1M", {
            let mut v = b"*1000000\r\n".to_vec();
            v.extend_from_slice(&repeated(b":1\r\n", 1_000_000));
            v
        }),
    ];
    let mut group = c.benchmark_group("chunked_feed");
    group.sample_size(10);
    for (name, input) in &cases {
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(format!("{name}/whole"), |b| {
            b.iter(|| {
                let mut buf = BytesMut::from(&input[..]);
                assert_eq!(decode_all(&mut Decoder::new(), &mut buf), 1);
            })
        });
        group.bench_function(format!("{name}/4KiB_pieces"), |b| {
            b.iter(|| assert_eq!(feed_in_pieces(input, 4096), 1))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs, so that `cargo bench` at the root takes a few minutes: these inputs are
    // deterministic and the spread stays within a few percent.
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = throughput, chunked_feed
}
criterion_main!(benches);
