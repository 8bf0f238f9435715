//! [`Cmd`]: a command as a value that travels down the layers.
//!
//! # Design
//!
//! A command is encoded once, as it is built, into one buffer of bulk strings (the array
//! header is written when it is sent, because only then is the count final). Alongside that
//! buffer it records where each argument's payload lies and, when the builder knows them,
//! which arguments are keys. Everything below the command layer reads those records:
//!
//! - the cluster router takes the keys it was told, or applies the server's key
//!   specifications to the recorded arguments of a raw `cmd("…")`;
//! - the pool notices `SELECT`, `MULTI`, `WATCH`, … on an exclusive connection by comparing
//!   the recorded name, with no allocation;
//! - logs show the name and the number of arguments, never their values.
//!
//! Nothing parses the encoded bytes back. Invariant: `spans[i]` is the payload of argument
//! `i` inside `body`, `spans.len()` is the argument count (the name included), and every
//! index in `keys` is below it. `body`, `spans` and `keys` change together, only in
//! [`Cmd::push_arg`] and [`Cmd::push_key`].
//!
//! The recorded spans live inline for up to four arguments (and keys for up to two), so a
//! typical command costs one allocation, its buffer; they are `u32` offsets, so that the
//! value stays small enough to move cheaply through the builder calls.
//!
//! A command of [`SHARE_MIN`] bytes or more keeps its buffer frozen (`Body::Shared`): the
//! layers below only borrow a command (they may send it again: a retry of an unsent request,
//! a cluster redirection), and a frozen buffer lets each send hand the connection's write
//! queue a reference ([`Cmd::write_head`]) instead of a copy of the whole value. Adding an
//! argument to a frozen command thaws it, without a copy while nothing else holds it.

use bytes::{Bytes, BytesMut};
use resp_codec::{ToArg, encode_array_header, encode_bulk};
use smallvec::SmallVec;

/// Starts a command by name, for anything the typed methods do not cover.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: redis_manager::Client) -> redis_manager::Result<()> {
/// use redis_manager::cmd;
///
/// let n: i64 = client.query(cmd("INCRBY").key("counter").arg(5)).await?;
/// let info: String = client.query(cmd("CLIENT").arg("INFO")).await?;
/// # let _ = (n, info); Ok(()) }
/// ```
pub fn cmd(name: &str) -> Cmd {
    Cmd::new(name)
}

/// Where one argument's payload lies in the command's buffer. Offsets are `u32` to keep a
/// `Cmd` small (it is moved by every builder call); a command past 4 GiB, which no server
/// accepts, saturates them, and its arguments past that point read as absent.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Span {
        let at = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Span {
            start: at(start),
            end: at(end),
        }
    }
}

/// A new command's buffer: room for a name, a key and a value of up to about 200 bytes, so
/// that the usual `SET` does not grow it (a `realloc` cost about 500 instructions per
/// command, a tenth of a whole `SET` of 100 bytes); an allocation of this size costs no more
/// than a smaller one, and a command's buffer lives only until its reply.
const INITIAL_CAPACITY: usize = 256;

/// Commands at least this long (their arguments, encoded) are sent without being copied into
/// the connection's write queue: their buffer becomes a shared part of the queue's open
/// segment, still written in one batch with the small requests around it. Below it a copy
/// costs less than freezing the buffer and a part more in the vectored write.
pub(crate) const SHARE_MIN: usize = 8 * 1024;

/// A command's encoded arguments: growable while it is built small, frozen once it is large
/// (see the module's design note).
///
/// `Shared` is boxed so that `Body` is no larger than a `BytesMut` (the box fits beside its
/// non-null pointer): a `Cmd` is moved by every builder call and inside every request's
/// future, and 8 bytes more cost 4 % more instructions on small commands, in `memcpy`.
#[derive(Clone)]
enum Body {
    Open(BytesMut),
    Shared(Box<Bytes>),
}

impl Body {
    /// The buffer to append to, thawed if it was frozen.
    #[inline]
    fn buf(&mut self) -> &mut BytesMut {
        match self {
            Body::Open(b) => b,
            Body::Shared(_) => self.thaw(),
        }
    }

    /// Makes a frozen buffer growable again: no copy unless a clone of the command still
    /// holds it. Out of line: small commands never get here.
    #[cold]
    #[inline(never)]
    fn thaw(&mut self) -> &mut BytesMut {
        if let Body::Shared(b) = self {
            *self = Body::Open(BytesMut::from(std::mem::take(&mut **b)));
        }
        match self {
            Body::Open(b) => b,
            Body::Shared(_) => unreachable!("thawed above"),
        }
    }

    /// Freezes the buffer, so that sending it costs a reference count, not a copy.
    #[cold]
    #[inline(never)]
    fn freeze(&mut self) {
        if let Body::Open(b) = self {
            *self = Body::Shared(Box::new(std::mem::take(b).freeze()));
        }
    }
}

impl std::ops::Deref for Body {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Body::Open(b) => b,
            Body::Shared(b) => b,
        }
    }
}

/// A command and its arguments, already in wire form, with the position of each argument and
/// (when marked with [`Cmd::key`]) of each key.
///
/// Arguments are encoded as they are added, so a `Cmd` holds one buffer and no per-argument
/// allocations; sending it copies that buffer into the connection's write queue, except a
/// large command's, which is shared with it (cloning a large command shares it too).
#[derive(Clone)]
pub struct Cmd {
    body: Body,
    spans: SmallVec<[Span; 4]>,
    /// Indices of the arguments marked as keys; `None` until one is marked, and then the
    /// cluster uses the server's key specifications instead.
    keys: Option<SmallVec<[u32; 2]>>,
}

impl Cmd {
    /// A command named `name` with no arguments yet.
    pub fn new(name: &str) -> Cmd {
        let mut c = Cmd {
            body: Body::Open(BytesMut::with_capacity(INITIAL_CAPACITY)),
            spans: SmallVec::new(),
            keys: None,
        };
        c.push_arg(name);
        c
    }

    /// A command from a list of words, the name first; no key is marked.
    pub(crate) fn from_args(args: &[&dyn ToArg]) -> Cmd {
        Cmd::encoded_in(&mut BytesMut::with_capacity(INITIAL_CAPACITY), args)
    }

    /// A command from a list of words, encoded at the end of `arena` and split off it: the
    /// command's buffer shares `arena`'s allocation, so a batch of commands built this way
    /// (a pipeline's) costs one allocation, not one each. `arena` must be empty.
    pub(crate) fn encoded_in(arena: &mut BytesMut, args: &[&dyn ToArg]) -> Cmd {
        debug_assert!(arena.is_empty());
        let mut c = Cmd {
            body: Body::Open(std::mem::take(arena)),
            spans: SmallVec::new(),
            keys: None,
        };
        for a in args {
            c.push_arg(a);
        }
        // Hand the spare capacity back to the arena; offsets stay valid (they count from the
        // start of the command's own buffer).
        *arena = match &mut c.body {
            Body::Open(b) => b.split_off(b.len()),
            // A large command has an allocation of its own (see `push_arg`).
            Body::Shared(_) => BytesMut::new(),
        };
        c
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl ToArg) -> Cmd {
        self.push_arg(arg);
        self
    }

    /// Adds every argument yielded by `args`.
    pub fn args<I>(mut self, args: I) -> Cmd
    where
        I: IntoIterator,
        I::Item: ToArg,
    {
        for a in args {
            self.push_arg(a);
        }
        self
    }

    /// Adds each pair as two consecutive arguments (`field value ...`).
    pub fn pairs<A: ToArg, B: ToArg>(mut self, pairs: &[(A, B)]) -> Cmd {
        for (a, b) in pairs {
            self.push_arg(a);
            self.push_arg(b);
        }
        self
    }

    /// Adds one argument that is a key.
    ///
    /// Marking keys tells a cluster client where to send the command without consulting the
    /// server's key specifications. Once one key is marked, the marked ones are taken as all
    /// the command's keys, so mark every key or none.
    pub fn key(mut self, key: impl ToArg) -> Cmd {
        self.push_key(key);
        self
    }

    /// Adds every key yielded by `keys` (see [`Cmd::key`]).
    pub fn keys<I>(mut self, keys: I) -> Cmd
    where
        I: IntoIterator,
        I::Item: ToArg,
    {
        // An empty list still says "these are all the keys": none.
        self.keys.get_or_insert_with(SmallVec::new);
        for k in keys {
            self.push_key(k);
        }
        self
    }

    /// Adds one argument in place.
    pub fn push_arg(&mut self, arg: impl ToArg) -> &mut Cmd {
        let arg = arg.to_arg();
        let n = arg.len();
        let body = self.body.buf();
        // Lengths below 1000 (nearly every argument) get their header written as one
        // fixed-size block, trimmed to its length afterwards: a constant-size copy is a
        // single store, where a copy of 4 to 6 bytes is a call to `memcpy` (about a quarter
        // of a pipeline's encoding cost). One capacity check covers the whole argument.
        if n < 1000 {
            let digit = |d: usize| b'0' + (d % 10) as u8;
            let (header, len): ([u8; 8], usize) = match n {
                0..=9 => ([b'$', digit(n), b'\r', b'\n', 0, 0, 0, 0], 4),
                10..=99 => ([b'$', digit(n / 10), digit(n), b'\r', b'\n', 0, 0, 0], 5),
                _ => (
                    [
                        b'$',
                        digit(n / 100),
                        digit(n / 10),
                        digit(n),
                        b'\r',
                        b'\n',
                        0,
                        0,
                    ],
                    6,
                ),
            };
            let at = body.len();
            body.reserve(8 + n + 2);
            body.extend_from_slice(&header);
            body.truncate(at + len);
            body.extend_from_slice(&arg);
            body.extend_from_slice(b"\r\n");
        } else {
            let needed = n + 24;
            if body.capacity() - body.len() < needed {
                // A new allocation, sized geometrically, with the little encoded so far copied
                // over: `reserve` grows through `realloc`, which copied far more than that.
                let len = body.len();
                let mut grown = BytesMut::with_capacity((len + needed).max(2 * len));
                grown.extend_from_slice(body);
                *body = grown;
            }
            encode_bulk(body, &arg);
        }
        // The payload is the last `n` bytes before the closing CRLF just written.
        let end = body.len() - 2;
        let large = body.len() >= SHARE_MIN;
        self.spans.push(Span::new(end - n, end));
        if large {
            self.body.freeze();
        }
        self
    }

    /// Adds one key in place (see [`Cmd::key`]).
    pub fn push_key(&mut self, key: impl ToArg) -> &mut Cmd {
        let index = u32::try_from(self.spans.len()).unwrap_or(u32::MAX);
        self.push_arg(key);
        self.keys.get_or_insert_with(SmallVec::new).push(index);
        self
    }

    /// Number of words, the command name included.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Always false: a command has at least its name.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The command name as given, for logs (`?` if it is not UTF-8).
    pub fn name(&self) -> &str {
        std::str::from_utf8(self.name_bytes()).unwrap_or("?")
    }

    /// The command name's bytes as given.
    pub(crate) fn name_bytes(&self) -> &[u8] {
        self.arg_bytes(0).unwrap_or_default()
    }

    /// True when the command is named `name`, in any case.
    pub(crate) fn is(&self, name: &str) -> bool {
        self.name_bytes().eq_ignore_ascii_case(name.as_bytes())
    }

    /// The bytes of argument `i` (0 is the command name).
    pub fn arg_bytes(&self, i: usize) -> Option<&[u8]> {
        self.spans.get(i).and_then(|s| self.payload(*s))
    }

    fn payload(&self, s: Span) -> Option<&[u8]> {
        self.body.get(s.start as usize..s.end as usize)
    }

    /// Every argument's bytes, the name first.
    pub(crate) fn arg_list(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.spans
            .iter()
            .map(|s| self.payload(*s).unwrap_or_default())
    }

    /// The indices of the arguments marked as keys, when any was marked.
    pub(crate) fn marked_keys(&self) -> Option<impl Iterator<Item = usize> + '_> {
        self.keys
            .as_ref()
            .map(|k| k.iter().map(|&i| i as usize).filter(|&i| i < self.len()))
    }

    /// Appends the whole command in RESP form to `dst`.
    pub fn write_to(&self, dst: &mut BytesMut) {
        self.write_all(dst, &self.body);
    }

    /// [`Cmd::write_to`] with the body already at hand: inlined into both of its callers,
    /// the send path's included, where it is most of the work of queueing a small command.
    #[inline(always)]
    fn write_all(&self, dst: &mut BytesMut, body: &[u8]) {
        dst.reserve(body.len() + 16);
        self.write_header(dst);
        dst.extend_from_slice(body);
    }

    /// Appends the command to `dst` like [`Cmd::write_to`], except the arguments of a large
    /// one ([`SHARE_MIN`]): those are returned, shared and not copied, to be sent right after
    /// what was appended.
    #[inline]
    pub(crate) fn write_head(&self, dst: &mut BytesMut) -> Option<Bytes> {
        match &self.body {
            Body::Open(body) => {
                self.write_all(dst, body);
                None
            }
            Body::Shared(body) => {
                self.write_header(dst);
                Some(Bytes::clone(body))
            }
        }
    }

    #[inline]
    fn write_header(&self, dst: &mut BytesMut) {
        match self.spans.len() {
            // Most commands: a constant-size header, written without a call (see `push_arg`).
            n @ 0..=9 => dst.extend_from_slice(&[b'*', b'0' + n as u8, b'\r', b'\n']),
            n => encode_array_header(dst, n),
        }
    }
}

impl PartialEq for Cmd {
    fn eq(&self, other: &Cmd) -> bool {
        self.body[..] == other.body[..] && self.spans == other.spans && self.keys == other.keys
    }
}

impl Eq for Cmd {}

impl std::fmt::Debug for Cmd {
    /// Shows the command name and the number of arguments, never their values: arguments can
    /// be passwords (`AUTH`, `HELLO ... AUTH`, `MIGRATE ... AUTH`) or user data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cmd")
            .field("name", &self.name())
            .field("args", &(self.len().saturating_sub(1)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_encodes_as_an_array_of_bulk_strings() {
        let c = cmd("SET").arg("k").arg(42).arg(1.5);
        let mut out = BytesMut::new();
        c.write_to(&mut out);
        assert_eq!(
            &out[..],
            b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n42\r\n$3\r\n1.5\r\n"
        );
        assert_eq!(c.arg_bytes(2), Some(&b"42"[..]));
        assert_eq!(c.arg_bytes(4), None);
        assert_eq!(c.name(), "SET");
    }

    #[test]
    fn recorded_arguments_are_the_encoded_payloads() {
        // Payloads with CRLF, empty ones and long ones: the spans must match what a decoder
        // reads back from the wire form, for every argument.
        let long = "x".repeat(300);
        let large: Vec<String> = (0..5).map(|i| i.to_string().repeat(4000 << i)).collect();
        let c = cmd("EVAL")
            .arg("return 1\r\n")
            .arg("")
            .arg(long.as_str())
            .args(["a", "b", "c", "d", "e"])
            .args(&large)
            .arg("after");
        let mut wire = BytesMut::new();
        c.write_to(&mut wire);
        let frame = resp_codec::Decoder::new()
            .decode(&mut wire)
            .unwrap()
            .unwrap();
        let resp_codec::Frame::Array(words) = frame else {
            panic!("an array")
        };
        assert_eq!(words.len(), c.len());
        for (i, (word, recorded)) in words.iter().zip(c.arg_list()).enumerate() {
            assert_eq!(word.as_bytes(), Some(recorded), "argument {i}");
        }
    }

    #[test]
    fn arguments_encode_as_bulk_strings_at_every_length_boundary() {
        for n in [0, 1, 9, 10, 99, 100, 999, 1000, 1001] {
            let payload = "x".repeat(n);
            let mut want = BytesMut::new();
            resp_codec::encode_bulk(&mut want, payload.as_bytes());
            let c = cmd(payload.as_str());
            let mut wire = BytesMut::new();
            c.write_to(&mut wire);
            assert_eq!(&wire[4..], &want[..], "length {n}");
            assert_eq!(c.arg_bytes(0), Some(payload.as_bytes()), "length {n}");
        }
    }

    #[test]
    fn a_command_body_is_no_larger_than_its_buffer() {
        assert_eq!(size_of::<Body>(), size_of::<BytesMut>());
    }

    #[test]
    fn a_large_command_shares_its_arguments_and_encodes_the_same() {
        for n in [10, SHARE_MIN - 100, SHARE_MIN, 1 << 20] {
            let value = vec![b'v'; n];
            let c = cmd("SET").key("k").arg(&value[..]).arg("EX").arg(10);
            let mut whole = BytesMut::new();
            c.write_to(&mut whole);
            let mut head = BytesMut::new();
            let shared = c.write_head(&mut head);
            assert_eq!(shared.is_some(), whole.len() - 4 >= SHARE_MIN, "length {n}");
            if let Some(body) = shared {
                // The header alone is copied; the arguments are the command's own buffer.
                assert_eq!(&head[..], b"*5\r\n");
                head.extend_from_slice(&body);
                assert_eq!(
                    body.as_ptr(),
                    c.arg_bytes(0).unwrap().as_ptr().wrapping_sub(4)
                );
            }
            assert_eq!(head, whole, "length {n}");
            assert_eq!(c.arg_bytes(2), Some(&value[..]));
            assert_eq!(c.arg_bytes(4), Some(&b"10"[..]));
            // Cloned, and grown afterwards: the clone is unchanged, the growth complete.
            let grown = c.clone().arg("KEEPTTL");
            assert_eq!(grown.len(), 6);
            assert_eq!(grown.arg_bytes(5), Some(&b"KEEPTTL"[..]));
            assert_eq!(c.len(), 5);
            let mut again = BytesMut::new();
            c.write_to(&mut again);
            assert_eq!(again, whole);
        }
    }

    #[test]
    fn marked_keys_are_their_argument_indices() {
        let c = cmd("MSET").key("a").arg(1).key("b").arg(2);
        assert_eq!(c.marked_keys().unwrap().collect::<Vec<_>>(), vec![1, 3]);
        assert!(cmd("GET").arg("a").marked_keys().is_none());
        let none: [&str; 0] = [];
        assert_eq!(cmd("PING").keys(none).marked_keys().unwrap().count(), 0);
        let many = cmd("DEL").keys(["a", "b", "c", "d"]);
        assert_eq!(
            many.marked_keys().unwrap().collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
    }

    #[test]
    fn name_matches_in_any_case_without_allocating() {
        let c = cmd("mUlTi");
        assert!(c.is("MULTI") && !c.is("MULT") && !c.is("MULTIX"));
    }

    #[test]
    fn debug_never_shows_arguments() {
        let c = cmd("AUTH").arg("user").arg("hunter2");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("AUTH"),
            "{shown}"
        );
    }
}
