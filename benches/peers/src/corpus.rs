//! Reply corpora for the codec comparison, generated in code and deterministic: a fixed seed
//! per corpus and no clock or environment input, so every run decodes the same bytes.
//!
//! A corpus is a concatenation of complete replies as a pipelining client receives them.

/// splitmix64: a tiny generator whose output depends only on its seed.
pub struct Rng(u64);

impl Rng {
    /// A generator started at `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Percent chance.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Which decoders a corpus is fit for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Proto {
    /// RESP2 types only, nulls as `$-1`: what a connection that did not send `HELLO 3` gets.
    Resp2,
    /// Needs a RESP3 decoder (maps, `_` nulls, doubles...).
    Resp3,
}

/// One corpus: its bytes and how many replies they hold.
pub struct Corpus {
    /// Short name for the tables.
    pub name: &'static str,
    /// The protocol it needs.
    pub proto: Proto,
    /// Complete replies, back to back.
    pub bytes: Vec<u8>,
    /// The number of top-level replies in `bytes`.
    pub replies: usize,
}

/// Approximate size of each corpus: larger than the L2 cache, small enough that the harness
/// can keep a fresh copy per timed decode.
const TARGET: usize = 4 << 20;

fn bulk(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(format!("${}\r\n", payload.len()).as_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

fn alnum(rng: &mut Rng, n: usize) -> Vec<u8> {
    const A: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..n)
        .map(|_| A[rng.below(A.len() as u64) as usize])
        .collect()
}

/// Binary bytes, `\r` and `\n` included: a decoder must skip a payload by its length.
fn binary(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        v.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    v.truncate(n);
    v
}

/// Fills a corpus with `reply` until it reaches `TARGET` bytes.
fn fill(
    name: &'static str,
    proto: Proto,
    seed: u64,
    mut reply: impl FnMut(&mut Rng, &mut Vec<u8>),
) -> Corpus {
    let mut rng = Rng::new(seed);
    let mut bytes = Vec::with_capacity(TARGET + (1 << 20) + 64);
    let mut replies = 0;
    while bytes.len() < TARGET {
        reply(&mut rng, &mut bytes);
        replies += 1;
    }
    Corpus {
        name,
        proto,
        bytes,
        replies,
    }
}

/// An integer as applications see them: mostly small counters, some ids and timestamps.
fn integer(rng: &mut Rng) -> i64 {
    match rng.below(100) {
        0..30 => rng.below(2) as i64,
        30..60 => rng.below(1000) as i64,
        60..80 => rng.below(1 << 32) as i64,
        80..90 => 1_700_000_000_000 + rng.below(100_000_000_000) as i64,
        90..95 => rng.next_u64() as i64,
        _ => -(rng.below(1_000_000) as i64) - 1,
    }
}

/// A reply of a typical application pipeline; `resp3` picks how nulls and hashes look.
fn mixed_reply(rng: &mut Rng, out: &mut Vec<u8>, resp3: bool) {
    let null: &[u8] = if resp3 { b"_\r\n" } else { b"$-1\r\n" };
    match rng.below(100) {
        // SET, HSET...: a status.
        0..25 => out.extend_from_slice(b"+OK\r\n"),
        // INCR, EXISTS, DEL: integers.
        25..40 => out.extend_from_slice(format!(":{}\r\n", integer(rng)).as_bytes()),
        // GET of a short value, a missing key, a larger value.
        40..65 => {
            let n = rng.between(8, 128) as usize;
            bulk(out, &alnum(rng, n));
        }
        65..70 => out.extend_from_slice(null),
        70..73 => bulk(out, &alnum(rng, 1024)),
        // MGET: some keys missing.
        73..88 => {
            let n = rng.between(1, 20);
            out.extend_from_slice(format!("*{n}\r\n").as_bytes());
            for _ in 0..n {
                if rng.chance(10) {
                    out.extend_from_slice(null);
                } else {
                    bulk(out, &alnum(rng, 16));
                }
            }
        }
        // HGETALL: a flat array in RESP2, a map in RESP3.
        88..94 => {
            let n = rng.between(2, 10);
            let header = if resp3 {
                format!("%{n}\r\n")
            } else {
                format!("*{}\r\n", 2 * n)
            };
            out.extend_from_slice(header.as_bytes());
            for i in 0..n {
                bulk(out, format!("field{i}").as_bytes());
                bulk(out, &alnum(rng, 24));
            }
        }
        94..96 => out.extend_from_slice(b"*0\r\n"),
        96..98 => out.extend_from_slice(b"+QUEUED\r\n"),
        98 => out.extend_from_slice(
            b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        _ => out.extend_from_slice(b"-ERR unknown command 'FOO', with args beginning with: \r\n"),
    }
}

/// Every corpus, in table order.
pub fn all() -> Vec<Corpus> {
    vec![
        fill("simple +OK", Proto::Resp2, 1, |_, out| {
            out.extend_from_slice(b"+OK\r\n")
        }),
        fill("integer", Proto::Resp2, 2, |rng, out| {
            out.extend_from_slice(format!(":{}\r\n", integer(rng)).as_bytes())
        }),
        fill("bulk 16 B", Proto::Resp2, 3, |rng, out| {
            bulk(out, &alnum(rng, 16))
        }),
        fill("bulk 1 KiB", Proto::Resp2, 4, |rng, out| {
            bulk(out, &alnum(rng, 1024))
        }),
        fill("bulk 1 MiB", Proto::Resp2, 5, |rng, out| {
            bulk(out, &binary(rng, 1 << 20))
        }),
        // LRANGE 0 99 of short strings.
        fill("array 100 × 16 B", Proto::Resp2, 6, |rng, out| {
            out.extend_from_slice(b"*100\r\n");
            for _ in 0..100 {
                bulk(out, &alnum(rng, 16));
            }
        }),
        // XREAD: streams of entries of field/value arrays, three levels deep.
        fill("nested (XREAD)", Proto::Resp2, 7, |rng, out| {
            let streams = rng.between(1, 2);
            out.extend_from_slice(format!("*{streams}\r\n").as_bytes());
            for s in 0..streams {
                out.extend_from_slice(b"*2\r\n");
                bulk(out, format!("stream:{s}").as_bytes());
                let entries = rng.between(1, 10);
                out.extend_from_slice(format!("*{entries}\r\n").as_bytes());
                for e in 0..entries {
                    out.extend_from_slice(b"*2\r\n");
                    bulk(out, format!("1700000000000-{e}").as_bytes());
                    out.extend_from_slice(b"*6\r\n");
                    bulk(out, b"job_id");
                    bulk(out, &alnum(rng, 32));
                    bulk(out, b"status");
                    bulk(
                        out,
                        [&b"queued"[..], b"running", b"done"][rng.below(3) as usize],
                    );
                    bulk(out, b"payload");
                    let n = rng.between(16, 200) as usize;
                    bulk(out, &alnum(rng, n));
                }
            }
        }),
        // HGETALL under RESP3.
        fill("map 32 (RESP3)", Proto::Resp3, 8, |rng, out| {
            out.extend_from_slice(b"%32\r\n");
            for i in 0..32 {
                bulk(out, format!("field:{i:03}").as_bytes());
                bulk(out, &alnum(rng, 16));
            }
        }),
        fill("app mix (RESP2)", Proto::Resp2, 9, |rng, out| {
            mixed_reply(rng, out, false)
        }),
        // The same sequence of replies (same seed) as a HELLO 3 connection receives them.
        fill("app mix (RESP3)", Proto::Resp3, 9, |rng, out| {
            mixed_reply(rng, out, true)
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn corpora_are_deterministic_and_hold_their_reply_counts() {
        let (a, b) = (all(), all());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.bytes, y.bytes, "{}", x.name);
            // Our decoder, as the independent count (the harness checks every decoder
            // against `replies` before timing it).
            let mut buf = BytesMut::from(&x.bytes[..]);
            let mut d = resp_codec::Decoder::new();
            let mut n = 0;
            while d.decode(&mut buf).expect(x.name).is_some() {
                n += 1;
            }
            assert!(buf.is_empty(), "{}", x.name);
            assert_eq!(n, x.replies, "{}", x.name);
        }
    }
}
