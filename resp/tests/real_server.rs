//! The codec against a real `redis-server`: raw commands over a blocking `TcpStream`, replies
//! decoded in RESP2 and, after `HELLO 3`, in RESP3, including every `DEBUG PROTOCOL` type.
//!
//! Each test starts its own private server (free loopback port, temporary directory, no
//! persistence) and stops it by pid when the guard drops. This crate must not depend on the
//! root crate, so the guard is a small, self-contained copy of what `tests/support` provides.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use resp_codec::{Decoder, Frame, Payload, ToArg, Verbatim, encode_command};

// ---- a private redis-server ----------------------------------------------------------------

struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    fn start() -> RedisServer {
        let dir = std::env::temp_dir().join(format!(
            "resp-codec-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        // Another process may grab the port between this probe and the server's bind; the
        // readiness loop below then fails loudly rather than talking to a stranger for long.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--enable-debug-command", "local"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}); install it: apt-get install redis-server")
            });
        let mut server = RedisServer { child, port, dir };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("redis-server exited early: {status}");
            }
            if let Ok(mut conn) = TcpStream::connect(("127.0.0.1", self.port)) {
                conn.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                let mut out = BytesMut::new();
                encode_command(&mut out, &["PING"]);
                let mut reply = [0u8; 64];
                if conn.write_all(&out).is_ok()
                    && matches!(conn.read(&mut reply), Ok(n) if reply[..n].starts_with(b"+PONG"))
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn connect(&self) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Conn {
            stream,
            decoder: Decoder::new(),
            buf: BytesMut::new(),
            reads: 0,
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---- a raw connection ----------------------------------------------------------------------

struct Conn {
    stream: TcpStream,
    decoder: Decoder,
    buf: BytesMut,
    /// Socket reads so far, to show that large replies really arrived in pieces.
    reads: usize,
}

impl Conn {
    fn send<A: ToArg>(&mut self, args: &[A]) {
        let mut out = BytesMut::new();
        encode_command(&mut out, args);
        self.stream.write_all(&out).unwrap();
    }

    /// The next reply, reading as many times as needed (with small reads, so that replies
    /// straddle them).
    fn read_frame(&mut self) -> Frame {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf).unwrap() {
                return frame;
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("server closed the connection"),
                Ok(n) => {
                    self.reads += 1;
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    fn call<A: ToArg>(&mut self, args: &[A]) -> Frame {
        self.send(args);
        self.read_frame()
    }

    fn hello3(&mut self) -> Frame {
        let reply = self.call(&["HELLO", "3"]);
        assert!(matches!(reply, Frame::Map(_)), "{reply:?}");
        reply
    }
}

/// What `DEBUG PROTOCOL double` sends: Redis's own literal, not an approximation of pi.
#[allow(clippy::approx_constant)]
const DEBUG_DOUBLE: f64 = 3.141;

fn bulk(s: &str) -> Frame {
    Frame::BulkString(Payload::copy_from_slice(s.as_bytes()))
}

fn int(i: i64) -> Frame {
    Frame::Integer(i)
}

/// The value of a map entry whose key is the bulk string `key`.
fn map_get<'a>(map: &'a Frame, key: &str) -> &'a Frame {
    let Frame::Map(pairs) = map else {
        panic!("not a map: {map:?}")
    };
    &pairs
        .iter()
        .find(|(k, _)| k.as_bytes().is_some_and(|b| b == key.as_bytes()))
        .unwrap_or_else(|| panic!("no {key} in {map:?}"))
        .1
}

// ---- tests ---------------------------------------------------------------------------------

#[test]
fn resp2_replies_of_everyday_commands_decode() {
    let server = RedisServer::start();
    let mut c = server.connect();
    assert_eq!(c.call(&["PING"]), Frame::SimpleString("PONG".into()));
    assert_eq!(c.call(&["SET", "k", "v"]), Frame::SimpleString("OK".into()));
    assert_eq!(c.call(&["GET", "k"]), bulk("v"));
    assert_eq!(c.call(&["GET", "missing"]), Frame::NullBulkString);
    assert_eq!(c.call(&[&"INCRBY" as &dyn ToArg, &"n", &-42i64]), int(-42));
    assert_eq!(c.call(&["RPUSH", "l", "a", "b", "c"]), int(3));
    assert_eq!(
        c.call(&["LRANGE", "l", "0", "-1"]),
        Frame::Array(vec![bulk("a"), bulk("b"), bulk("c")])
    );
    assert_eq!(
        c.call(&["LRANGE", "nothing", "0", "-1"]),
        Frame::Array(vec![])
    );
    // A blocking pop that times out is the RESP2 null array.
    assert_eq!(c.call(&["BLPOP", "nothing", "0.01"]), Frame::NullArray);
    let Frame::SimpleError(msg) = c.call(&["NOSUCHCOMMAND"]) else {
        panic!("an error reply")
    };
    assert!(msg.starts_with(b"ERR unknown command"), "{msg:?}");
    let Frame::SimpleError(msg) = c.call(&["LPUSH", "k", "x"]) else {
        panic!("an error reply")
    };
    assert!(msg.starts_with(b"WRONGTYPE"), "{msg:?}");
    // Doubles travel as bulk strings in RESP2.
    assert_eq!(c.call(&["INCRBYFLOAT", "f", "1.5"]), bulk("1.5"));
}

#[test]
fn binary_values_round_trip_byte_for_byte() {
    let server = RedisServer::start();
    let mut c = server.connect();
    let value: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    assert_eq!(
        c.call(&[&b"SET"[..], b"bin", &value]),
        Frame::SimpleString("OK".into())
    );
    assert_eq!(
        c.call(&["GET", "bin"]),
        Frame::BulkString(Payload::from(value))
    );
}

#[test]
fn large_reply_arriving_in_many_reads_decodes() {
    let server = RedisServer::start();
    let mut c = server.connect();
    let value = vec![b'x'; 4 << 20];
    c.call(&[&b"SET"[..], b"big", &value]);
    let reads_before = c.reads;
    let reply = c.call(&["GET", "big"]);
    assert_eq!(reply.as_bytes().map(|b| b.len()), Some(value.len()));
    assert!(reply.as_bytes().unwrap().iter().all(|&b| b == b'x'));
    assert!(
        c.reads - reads_before > 100,
        "the reply came in {} reads",
        c.reads - reads_before
    );

    // And a large array: 10,000 elements.
    let mut args: Vec<Vec<u8>> = vec![b"RPUSH".to_vec(), b"list".to_vec()];
    args.extend((0..10_000).map(|i| format!("element-{i}").into_bytes()));
    assert_eq!(c.call(&args), int(10_000));
    let Frame::Array(items) = c.call(&["LRANGE", "list", "0", "-1"]) else {
        panic!("an array")
    };
    assert_eq!(items.len(), 10_000);
    assert_eq!(items[9_999], bulk("element-9999"));
}

#[test]
fn pipelined_replies_decode_in_order() {
    let server = RedisServer::start();
    let mut c = server.connect();
    for i in 0..1000 {
        c.send(&[&"SET" as &dyn ToArg, &format!("key:{i}"), &i]);
        c.send(&[&"GET" as &dyn ToArg, &format!("key:{i}")]);
    }
    for i in 0..1000 {
        assert_eq!(c.read_frame(), Frame::SimpleString("OK".into()));
        assert_eq!(c.read_frame(), bulk(&i.to_string()));
    }
    assert!(c.buf.is_empty());
}

#[test]
fn resp3_replies_of_everyday_commands_decode() {
    let server = RedisServer::start();
    let mut c = server.connect();
    let hello = c.hello3();
    assert_eq!(map_get(&hello, "proto"), &int(3));
    assert_eq!(map_get(&hello, "server"), &bulk("redis"));
    assert_eq!(c.call(&["GET", "missing"]), Frame::Null);
    assert_eq!(c.call(&["BLPOP", "nothing", "0.01"]), Frame::Null);
    c.call(&["HSET", "h", "f1", "v1", "f2", "v2"]);
    let Frame::Map(mut pairs) = c.call(&["HGETALL", "h"]) else {
        panic!("HGETALL is a map in RESP3")
    };
    pairs.sort_by(|a, b| a.0.as_bytes().cmp(&b.0.as_bytes()));
    assert_eq!(
        pairs,
        vec![(bulk("f1"), bulk("v1")), (bulk("f2"), bulk("v2"))]
    );
    c.call(&["SADD", "s", "m"]);
    assert_eq!(c.call(&["SMEMBERS", "s"]), Frame::Set(vec![bulk("m")]));
    assert_eq!(c.call(&["ZADD", "z", "2.5", "m"]), int(1));
    assert_eq!(c.call(&["ZSCORE", "z", "m"]), Frame::Double(2.5));
    assert_eq!(c.call(&["EXISTS", "s"]), int(1));
}

/// Scores that are not short decimals come back with up to 17 significant digits (Redis 7.0
/// writes `%.17g`; later versions the shortest form): whichever the server sends, the decoded
/// double must be the one that was stored, bit for bit.
#[test]
fn resp3_scores_decode_to_the_double_that_was_stored() {
    let server = RedisServer::start();
    let mut c = server.connect();
    c.hello3();
    let scores = [
        0.1,
        0.3,
        1.0 / 3.0,
        std::f64::consts::PI,
        -2.0 / 3.0,
        123_456.789_012_345_67,
        4_503_599_627_370_495.5,
        1e-7,
        1e23,
        f64::MIN_POSITIVE,
        f64::MAX,
    ];
    for (i, score) in scores.iter().enumerate() {
        let (member, text) = (format!("m{i}"), format!("{score:e}"));
        c.call(&["ZADD", "scores", text.as_str(), member.as_str()]);
        match c.call(&["ZSCORE", "scores", member.as_str()]) {
            Frame::Double(got) => assert_eq!(got.to_bits(), score.to_bits(), "{score:e}"),
            other => panic!("ZSCORE of {score:e}: {other:?}"),
        }
    }
    let Frame::Array(pairs) = c.call(&["ZRANGE", "scores", "0", "-1", "WITHSCORES"]) else {
        panic!("ZRANGE WITHSCORES is an array in RESP3")
    };
    assert_eq!(pairs.len(), scores.len());
    for pair in pairs {
        let Frame::Array(pair) = pair else {
            panic!("each member and score is a pair: {pair:?}")
        };
        let Frame::Double(got) = pair[1] else {
            panic!("a score is a double: {:?}", pair[1])
        };
        assert!(
            scores.iter().any(|s| s.to_bits() == got.to_bits()),
            "{got:e} was not stored"
        );
    }
}

#[test]
fn debug_protocol_replies_decode_in_resp2() {
    let server = RedisServer::start();
    let mut c = server.connect();
    let mut debug = |ty: &str| c.call(&["DEBUG", "PROTOCOL", ty]);
    assert_eq!(debug("string"), bulk("Hello World"));
    assert_eq!(debug("integer"), int(12345));
    // RESP2 has no double: a bulk string whose digits depend on the server version.
    let double = debug("double");
    assert_eq!(
        double.as_str().and_then(|s| s.parse::<f64>().ok()),
        Some(DEBUG_DOUBLE)
    );
    assert_eq!(
        debug("bignum"),
        bulk("1234567999999999999999999999999999999")
    );
    assert_eq!(debug("null"), Frame::NullBulkString);
    let zero_one_two = Frame::Array(vec![int(0), int(1), int(2)]);
    assert_eq!(debug("array"), zero_one_two);
    assert_eq!(debug("set"), zero_one_two);
    // Maps flatten to key, value, key, value...; booleans become integers.
    assert_eq!(
        debug("map"),
        Frame::Array(vec![int(0), int(0), int(1), int(1), int(2), int(0)])
    );
    // Attributes are simply left out in RESP2.
    assert_eq!(
        debug("attrib"),
        bulk("Some real reply following the attribute")
    );
    let push = debug("push");
    assert!(push.is_error(), "{push:?}");
    assert_eq!(debug("verbatim"), bulk("This is a verbatim\nstring"));
    assert_eq!(debug("true"), int(1));
    assert_eq!(debug("false"), int(0));
}

#[test]
fn debug_protocol_replies_decode_in_resp3() {
    let server = RedisServer::start();
    let mut c = server.connect();
    c.hello3();
    let mut debug = |ty: &str| c.call(&["DEBUG", "PROTOCOL", ty]);
    assert_eq!(debug("string"), bulk("Hello World"));
    assert_eq!(debug("integer"), int(12345));
    assert_eq!(debug("double"), Frame::Double(DEBUG_DOUBLE));
    assert_eq!(
        debug("bignum"),
        Frame::BigNumber("1234567999999999999999999999999999999".into())
    );
    assert_eq!(debug("null"), Frame::Null);
    assert_eq!(debug("array"), Frame::Array(vec![int(0), int(1), int(2)]));
    assert_eq!(debug("set"), Frame::Set(vec![int(0), int(1), int(2)]));
    assert_eq!(
        debug("map"),
        Frame::Map(vec![
            (int(0), Frame::Boolean(false)),
            (int(1), Frame::Boolean(true)),
            (int(2), Frame::Boolean(false)),
        ])
    );
    // The attribute stays attached to the reply it annotates.
    assert_eq!(
        debug("attrib"),
        Frame::Attribute {
            attributes: vec![(
                bulk("key-popularity"),
                Frame::Array(vec![bulk("key:123"), int(90)]),
            )],
            data: Box::new(bulk("Some real reply following the attribute")),
        }
    );
    assert_eq!(
        debug("verbatim"),
        Frame::VerbatimString(Verbatim::new(*b"txt", b"This is a verbatim\nstring"))
    );
    assert_eq!(debug("true"), Frame::Boolean(true));
    assert_eq!(debug("false"), Frame::Boolean(false));
    // A push arrives first, then the command's real reply.
    assert_eq!(
        debug("push"),
        Frame::Push(vec![bulk("server-cpu-usage"), int(42)])
    );
    assert_eq!(
        c.read_frame(),
        bulk("Some real reply following the push reply")
    );
}

#[test]
fn pubsub_messages_arrive_as_push_frames_in_resp3() {
    let server = RedisServer::start();
    let mut sub = server.connect();
    sub.hello3();
    assert_eq!(
        sub.call(&["SUBSCRIBE", "news"]),
        Frame::Push(vec![bulk("subscribe"), bulk("news"), int(1)])
    );
    let mut publisher = server.connect();
    assert_eq!(
        publisher.call(&["PUBLISH", "news", "\u{1F600}\r\n"]),
        int(1)
    );
    assert_eq!(
        sub.read_frame(),
        Frame::Push(vec![bulk("message"), bulk("news"), bulk("\u{1F600}\r\n")])
    );
}
