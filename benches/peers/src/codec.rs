//! `codec`: decode and encode speed of `resp-codec` against the parsers the peers use on
//! their hot path.
//!
//! Decoders are fed the way each client feeds its own: a `BytesMut` read buffer that the
//! decoder advances past each reply.
//! - ours: `resp_codec::Decoder::decode(&mut BytesMut)`;
//! - redis-rs: `redis::ValueCodec` through `tokio_util::codec::Decoder::decode`, what its
//!   multiplexed connection's `FramedRead` calls (`redis::parse_redis_value(&[u8])` parses one
//!   value and does not say where it ended, so it cannot walk a stream);
//! - redis-protocol: `resp2::decode::decode_bytes_mut` on RESP2 corpora and
//!   `resp3::decode::streaming::decode_bytes_mut` on RESP3 ones, the two fred reads with.
//!
//! Two feedings, identical for every decoder:
//! - whole: the corpus is already in the buffer (copied there untimed before each decode);
//! - 16 KiB reads: the corpus arrives in 16 KiB pieces appended to one buffer, as from a
//!   socket, and each decoder is called until it needs more; the appends are timed for all.
//!   Every decoder must have its bytes copied into its buffer, as a socket read does, so the
//!   table also times that alone ("feed": the same reads into a reused buffer, no decoding)
//!   and gives the ratios of the time each decoder takes above it. A frame larger than a read
//!   also costs the buffer's growth towards it: ours is fed by a read loop that, once the
//!   decoder has read a payload's header, reserves room for all of it at once
//!   (`Decoder::pending_payload`), as our client's I/O task does; the peers say only
//!   "incomplete", so their buffers grow as `BytesMut` grows them, as in their clients.
//!
//! Each sample times every decoder once, in a rotating order; a ratio is computed per sample
//! and the table shows the median with the min–max over samples.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio_util::codec::Decoder as _;

use crate::corpus::{self, Corpus, Proto};
use crate::stats::{median, ratio_of};

/// Options of the codec scenario.
pub struct Options {
    /// Samples per decoder and corpus.
    pub samples: usize,
    /// Minimum time of one sample.
    pub min_sample: Duration,
    /// Only the corpora whose name contains one of these (all when empty).
    pub only: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dec {
    Ours,
    RedisRs,
    RedisProtocol,
    /// No decoder: the reads alone, the floor every decoder's feeding pays.
    Feed,
}

const DECODERS: [Dec; 4] = [Dec::Ours, Dec::RedisRs, Dec::RedisProtocol, Dec::Feed];

/// Size of each read in the socket-like feeding.
const READ: usize = 16 * 1024;

/// Pulls every complete reply out of `buf`; returns how many, or `None` on an error.
fn drain(dec: Dec, state: &mut DecState, buf: &mut BytesMut, proto: Proto) -> Option<usize> {
    let mut n = 0;
    loop {
        let got = match dec {
            Dec::Ours => state.ours.decode(buf).ok()?.map(black_box).is_some(),
            Dec::RedisRs => state.redis.decode(buf).ok()?.map(black_box).is_some(),
            Dec::Feed => unreachable!("the feed has no decoder"),
            Dec::RedisProtocol => match proto {
                Proto::Resp2 => redis_protocol::resp2::decode::decode_bytes_mut(buf)
                    .ok()?
                    .map(black_box)
                    .is_some(),
                Proto::Resp3 => redis_protocol::resp3::decode::streaming::decode_bytes_mut(buf)
                    .ok()?
                    .map(black_box)
                    .is_some(),
            },
        };
        if !got {
            return Some(n);
        }
        n += 1;
    }
}

/// Each decoder's own state, created once per timed decode of a corpus.
struct DecState {
    ours: resp_codec::Decoder,
    redis: redis::ValueCodec,
}

impl DecState {
    fn new() -> DecState {
        DecState {
            ours: resp_codec::Decoder::new(),
            redis: redis::ValueCodec::default(),
        }
    }
}

/// One timed decode of the whole corpus; the replies it found (`None` on an error) and the
/// time it took.
fn decode_once(dec: Dec, c: &Corpus, streamed: bool) -> (Option<usize>, Duration) {
    let mut state = DecState::new();
    if dec == Dec::Feed {
        // The same reads into one buffer, dropped at once: what no decoder can avoid.
        let mut buf = BytesMut::with_capacity(4 * READ);
        let t = Instant::now();
        for piece in c.bytes.chunks(READ) {
            buf.extend_from_slice(piece);
            black_box(&buf[..]);
            buf.clear();
        }
        return (streamed.then_some(c.replies), t.elapsed());
    }
    if !streamed {
        let mut buf = BytesMut::from(&c.bytes[..]);
        let t = Instant::now();
        let n = drain(dec, &mut state, &mut buf, c.proto);
        let took = t.elapsed();
        // Leftover bytes are a failure too: the decoder stopped early.
        (n.filter(|_| buf.is_empty()), took)
    } else {
        let mut buf = BytesMut::with_capacity(4 * READ);
        let mut total = 0;
        let t = Instant::now();
        for piece in c.bytes.chunks(READ) {
            buf.extend_from_slice(piece);
            match drain(dec, &mut state, &mut buf, c.proto) {
                Some(n) => total += n,
                None => return (None, t.elapsed()),
            }
            // A payload that will not fit: room for all of it (and the read that completes
            // it) is reserved once, rather than the buffer doubling towards it and copying
            // what it holds at each step.
            if dec == Dec::Ours
                && let Some(want) = state.ours.pending_payload()
                && want > buf.capacity()
            {
                buf.reserve(want + READ - buf.len());
            }
        }
        let took = t.elapsed();
        (Some(total).filter(|_| buf.is_empty()), took)
    }
}

/// Runs `once` until at least `min` has been timed (or, when its untimed setup dominates, ten
/// times that has passed); returns the mean time per call.
fn sample(min: Duration, mut once: impl FnMut() -> Option<Duration>) -> Option<Duration> {
    let (mut total, mut calls) = (Duration::ZERO, 0u32);
    let start = Instant::now();
    while total < min && (calls < 3 || start.elapsed() < 10 * min) {
        total += once()?;
        calls += 1;
    }
    Some(total / calls)
}

/// Runs the codec scenario and prints its tables.
pub fn run(o: &Options) {
    let corpora: Vec<Corpus> = corpus::all()
        .into_iter()
        .filter(|c| o.only.is_empty() || o.only.iter().any(|n| c.name.contains(n.as_str())))
        .collect();
    println!("## Decode: ours / peer throughput (same input, same feeding)\n");
    println!(
        "{} samples of at least {:?} per decoder, interleaved; ratios > 1: ours faster. \
         redis-rs: `ValueCodec` (its multiplexed connection's parser); redis-protocol: \
         `decode_bytes_mut`, RESP2 or RESP3 as the corpus needs (fred's parser).\n",
        o.samples, o.min_sample
    );
    for streamed in [false, true] {
        println!(
            "### {}\n",
            if streamed {
                "Fed in 16 KiB reads appended to one buffer (a socket's read loop)"
            } else {
                "Whole corpus in the buffer"
            }
        );
        if streamed {
            println!(
                "\"feed\": the same reads copied into a reused buffer and dropped, no decoding, \
                 timed in the same samples. \"above feed\": each decoder's time minus the \
                 feed's, per sample, as a ratio (n/a when ours is within the feed's noise).\n"
            );
            println!(
                "| corpus | replies | ours MB/s | ours ns/reply | feed ns/reply | ours / redis-rs | ours / redis-protocol | above feed: ours / redis-rs | above feed: ours / redis-protocol |"
            );
            println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        } else {
            println!(
                "| corpus | replies | ours MB/s | ours ns/reply | ours / redis-rs | ours / redis-protocol |"
            );
            println!("|---|---:|---:|---:|---:|---:|");
        }
        for c in &corpora {
            let row = decode_row(c, streamed, o);
            println!("{row}");
        }
        println!();
    }
    encode_tables(o);
}

fn decode_row(c: &Corpus, streamed: bool, o: &Options) -> String {
    // Each decoder must find exactly the replies the generator wrote, or it shows ERR. The
    // feed is timed only where it is subtracted.
    let mut ok = [true; 4];
    for (i, &d) in DECODERS.iter().enumerate() {
        ok[i] = decode_once(d, c, streamed).0 == Some(c.replies);
    }
    let mut times: [Vec<f64>; 4] = Default::default();
    for s in 0..o.samples {
        for k in 0..DECODERS.len() {
            let i = (s + k) % DECODERS.len();
            if !ok[i] {
                continue;
            }
            let t = sample(o.min_sample, || {
                match decode_once(DECODERS[i], c, streamed) {
                    (Some(_), t) => Some(t),
                    (None, _) => None,
                }
            });
            match t {
                Some(t) => times[i].push(t.as_secs_f64()),
                None => ok[i] = false,
            }
        }
    }
    let ours = median(&times[0]);
    let peer_cell = |i: usize| {
        if !ok[0] || !ok[i] {
            return "ERR".to_string();
        }
        // Same sample index, same conditions: peer time / our time = our speed / theirs.
        let r: Vec<f64> = times[i].iter().zip(&times[0]).map(|(p, u)| p / u).collect();
        ratio_of(&r)
    };
    // (peer - feed) / (ours - feed) per sample; a sample where ours is not above the feed
    // gives no ratio.
    let net_cell = |i: usize| {
        if !ok[0] || !ok[i] || !ok[3] {
            return "ERR".to_string();
        }
        let r: Vec<f64> = (0..times[0].len().min(times[i].len()).min(times[3].len()))
            .filter(|&k| times[0][k] > times[3][k])
            .map(|k| (times[i][k] - times[3][k]) / (times[0][k] - times[3][k]))
            .collect();
        ratio_of(&r)
    };
    let (mbs, ns) = if ok[0] {
        (
            format!("{:.0}", c.bytes.len() as f64 / ours / 1e6),
            format!("{:.1}", ours * 1e9 / c.replies as f64),
        )
    } else {
        ("ERR".into(), "ERR".into())
    };
    if streamed {
        let feed = format!("{:.1}", median(&times[3]) * 1e9 / c.replies as f64);
        return format!(
            "| {} | {} | {mbs} | {ns} | {feed} | {} | {} | {} | {} |",
            c.name,
            c.replies,
            peer_cell(1),
            peer_cell(2),
            net_cell(1),
            net_cell(2)
        );
    }
    format!(
        "| {} | {} | {mbs} | {ns} | {} | {} |",
        c.name,
        c.replies,
        peer_cell(1),
        peer_cell(2)
    )
}

/// The commands encoded by the encode table.
struct EncCase {
    name: &'static str,
    args: Vec<Vec<u8>>,
}

fn enc_cases() -> Vec<EncCase> {
    let key = b"bench:0000000001".to_vec();
    let value = |n: usize| (0..n).map(|i| b'a' + (i % 26) as u8).collect::<Vec<u8>>();
    vec![
        EncCase {
            name: "GET k16",
            args: vec![b"GET".to_vec(), key.clone()],
        },
        EncCase {
            name: "SET k16 v100",
            args: vec![b"SET".to_vec(), key.clone(), value(100)],
        },
        EncCase {
            name: "SET k16 v16KiB",
            args: vec![b"SET".to_vec(), key.clone(), value(16 << 10)],
        },
        EncCase {
            name: "MSET 10 × (k16, v16)",
            args: std::iter::once(b"MSET".to_vec())
                .chain((0..10).flat_map(|i| [format!("bench:{i:010}").into_bytes(), value(16)]))
                .collect(),
        },
    ]
}

/// Commands encoded per timed call, into one buffer cleared between calls.
const ENC_BATCH: usize = 1000;

#[derive(Clone, Copy)]
enum Enc {
    /// `redis_manager::cmd(..).arg(..)` then `Cmd::write_to`: building the command value
    /// and writing it, as our client does for every call.
    OursCmd,
    /// `redis::cmd(..).arg(..)` then `get_packed_command`, as redis-rs's multiplexed
    /// connection does for every call.
    RedisRsCmd,
    /// `resp_codec::encode_command` of the arguments into a buffer.
    OursCodec,
    /// redis-protocol: a borrowed RESP2 array of bulk strings, `extend_encode_borrowed`.
    RedisProtocol,
}

fn encode_batch(e: Enc, c: &EncCase, buf: &mut BytesMut) -> Duration {
    buf.clear();
    let t = Instant::now();
    match e {
        Enc::OursCmd => {
            for _ in 0..ENC_BATCH {
                let mut cmd = redis_manager::cmd(std::str::from_utf8(&c.args[0]).unwrap_or("?"));
                for a in &c.args[1..] {
                    cmd.push_arg(&a[..]);
                }
                cmd.write_to(buf);
                black_box(&cmd);
            }
        }
        Enc::RedisRsCmd => {
            for _ in 0..ENC_BATCH {
                let mut cmd = redis::cmd(std::str::from_utf8(&c.args[0]).unwrap_or("?"));
                for a in &c.args[1..] {
                    cmd.arg(&a[..]);
                }
                let packed = cmd.get_packed_command();
                buf.extend_from_slice(&packed);
                black_box(&packed);
            }
        }
        Enc::OursCodec => {
            let args: Vec<&[u8]> = c.args.iter().map(Vec::as_slice).collect();
            for _ in 0..ENC_BATCH {
                resp_codec::encode_command(buf, black_box(&args[..]));
            }
        }
        Enc::RedisProtocol => {
            use redis_protocol::resp2::types::BorrowedFrame;
            for _ in 0..ENC_BATCH {
                let parts: Vec<BorrowedFrame<'_>> = c
                    .args
                    .iter()
                    .map(|a| BorrowedFrame::BulkString(a))
                    .collect();
                let frame = BorrowedFrame::Array(&parts);
                let _ = redis_protocol::resp2::encode::extend_encode_borrowed(
                    buf,
                    black_box(&frame),
                    false,
                );
            }
        }
    }
    let took = t.elapsed();
    black_box(&buf[..]);
    took
}

fn encode_tables(o: &Options) {
    println!("## Encode: ours / peer speed\n");
    println!(
        "Batches of {ENC_BATCH} commands into one buffer; ns per command (median). \"command\": \
         building the client's command value and writing it out (`redis_manager::cmd` vs \
         `redis::cmd` + `get_packed_command`); \"codec\": arguments to wire bytes \
         (`resp_codec::encode_command` vs redis-protocol's `extend_encode_borrowed` of a \
         borrowed array, which allocates the array's frame list).\n"
    );
    println!(
        "| command | ours command ns | ours / redis-rs command | ours codec ns | ours / redis-protocol codec |"
    );
    println!("|---|---:|---:|---:|---:|");
    let encs = [
        Enc::OursCmd,
        Enc::RedisRsCmd,
        Enc::OursCodec,
        Enc::RedisProtocol,
    ];
    let mut buf = BytesMut::with_capacity(1 << 20);
    for c in &enc_cases() {
        let mut times: [Vec<f64>; 4] = Default::default();
        for s in 0..o.samples {
            for k in 0..encs.len() {
                let i = (s + k) % encs.len();
                let t = sample(o.min_sample, || Some(encode_batch(encs[i], c, &mut buf)));
                if let Some(t) = t {
                    times[i].push(t.as_secs_f64() / ENC_BATCH as f64);
                }
            }
        }
        let ratio = |ours: usize, peer: usize| {
            let r: Vec<f64> = times[peer]
                .iter()
                .zip(&times[ours])
                .map(|(p, u)| p / u)
                .collect();
            ratio_of(&r)
        };
        println!(
            "| {} | {:.1} | {} | {:.1} | {} |",
            c.name,
            median(&times[0]) * 1e9,
            ratio(0, 1),
            median(&times[2]) * 1e9,
            ratio(2, 3)
        );
    }
    println!();
}
