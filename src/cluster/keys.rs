//! Where a command's keys are: the server's key specifications (`COMMAND`), with a built-in
//! table for the common commands so that routing works before (or without) `COMMAND`.
//!
//! The evaluation follows the server's own `getKeysUsingKeySpecs`: a *begin search* finds
//! where the keys start (a fixed index, or just after a keyword such as `STREAMS`), then
//! *find keys* says how many there are (a range relative to that start, or a count read from
//! an argument, as in `EVAL script numkeys key...`).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use resp_codec::Frame;
use smallvec::SmallVec;

/// Where the keys of one key specification start.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Begin {
    /// At this argument index (the name is 0).
    Index(usize),
    /// Just after `keyword`, searched from `start_from` (from the end when negative).
    Keyword { keyword: Bytes, start_from: isize },
}

/// How many keys follow the start.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Find {
    /// `last` relative to the start (negative: from the end of the arguments), every `step`;
    /// with `limit > 1` and `last == -1`, only the first `1/limit` of the remaining arguments
    /// (`XREAD ... STREAMS k1 k2 id1 id2`).
    Range {
        last: isize,
        step: usize,
        limit: usize,
    },
    /// The count is the argument at `start + numkeys_at`; keys begin at `start + first`.
    KeyNum {
        numkeys_at: usize,
        first: usize,
        step: usize,
    },
}

/// One key specification.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeySpec {
    pub(crate) begin: Begin,
    pub(crate) find: Find,
}

/// What routing needs to know about a command. Cheap to clone (the specs are shared): the
/// router takes a copy per command it routes.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CommandInfo {
    pub(crate) specs: Arc<[KeySpec]>,
    /// Flagged `readonly` by the server: may be served by a replica after `READONLY`.
    pub(crate) readonly: bool,
    /// The table also has `name|subcommand` entries under this name.
    pub(crate) subcommands: bool,
}

impl CommandInfo {
    /// The indices of this command's keys in `args` (the name is `args[0]`), in order. Specs
    /// that do not match the arguments (a missing keyword, a bad count) contribute nothing.
    pub(crate) fn key_indices<A: AsRef<[u8]>>(&self, args: &[A]) -> SmallVec<[usize; 4]> {
        let argc = args.len();
        let mut keys = SmallVec::new();
        for spec in self.specs.iter() {
            let start = match &spec.begin {
                Begin::Index(i) => *i,
                Begin::Keyword {
                    keyword,
                    start_from,
                } => {
                    let found = if *start_from > 0 {
                        (*start_from as usize..argc)
                            .find(|&i| args[i].as_ref().eq_ignore_ascii_case(keyword))
                    } else {
                        let from = argc as isize + start_from;
                        (1..=from.max(0) as usize)
                            .rev()
                            .find(|&i| i < argc && args[i].as_ref().eq_ignore_ascii_case(keyword))
                    };
                    match found {
                        Some(i) => i + 1,
                        None => continue,
                    }
                }
            };
            let (first, last, step) = match spec.find {
                Find::Range { last, step, limit } => {
                    let end = if last >= 0 {
                        start as isize + last
                    } else if limit > 1 {
                        start as isize + (argc.saturating_sub(start) / limit) as isize + last
                    } else {
                        argc as isize + last
                    };
                    (start, end, step)
                }
                Find::KeyNum {
                    numkeys_at,
                    first,
                    step,
                } => {
                    let Some(n) = args
                        .get(start + numkeys_at)
                        .and_then(|a| std::str::from_utf8(a.as_ref()).ok())
                        .and_then(|a| a.parse::<usize>().ok())
                    else {
                        continue;
                    };
                    let first = start + first;
                    (first, first as isize + n as isize - 1, step)
                }
            };
            let mut i = first;
            while (i as isize) <= last && i < argc {
                keys.push(i);
                i += step.max(1);
            }
        }
        keys
    }
}

/// Command name (lower case, `name|subcommand` for subcommands) to [`CommandInfo`]. Hashed
/// with foldhash: looked up for every command a cluster client routes (SipHash and the
/// lookup's allocations were about a tenth of a pipelined command's cost), and its keys are
/// the server's command names.
#[derive(Debug, Clone, Default)]
pub(crate) struct CommandTable {
    map: Map,
}

type Map = HashMap<Vec<u8>, CommandInfo, foldhash::fast::RandomState>;

/// Commands whose keys are `first..=last` every `step` (`last` negative: from the end), and
/// whether they only read: the fallback used until `COMMAND` has been read from a node.
const BUILTIN_RANGES: &[(&str, usize, isize, usize, bool)] = &[
    ("get", 1, 1, 1, true),
    ("strlen", 1, 1, 1, true),
    ("getrange", 1, 1, 1, true),
    ("exists", 1, -1, 1, true),
    ("mget", 1, -1, 1, true),
    ("ttl", 1, 1, 1, true),
    ("pttl", 1, 1, 1, true),
    ("type", 1, 1, 1, true),
    ("hget", 1, 1, 1, true),
    ("hmget", 1, 1, 1, true),
    ("hgetall", 1, 1, 1, true),
    ("hkeys", 1, 1, 1, true),
    ("hvals", 1, 1, 1, true),
    ("hlen", 1, 1, 1, true),
    ("hexists", 1, 1, 1, true),
    ("llen", 1, 1, 1, true),
    ("lrange", 1, 1, 1, true),
    ("lindex", 1, 1, 1, true),
    ("smembers", 1, 1, 1, true),
    ("sismember", 1, 1, 1, true),
    ("scard", 1, 1, 1, true),
    ("zscore", 1, 1, 1, true),
    ("zcard", 1, 1, 1, true),
    ("zrange", 1, 1, 1, true),
    ("zrank", 1, 1, 1, true),
    ("xrange", 1, 1, 1, true),
    ("xlen", 1, 1, 1, true),
    ("set", 1, 1, 1, false),
    ("setnx", 1, 1, 1, false),
    ("setex", 1, 1, 1, false),
    ("psetex", 1, 1, 1, false),
    ("getset", 1, 1, 1, false),
    ("getdel", 1, 1, 1, false),
    ("getex", 1, 1, 1, false),
    ("append", 1, 1, 1, false),
    ("incr", 1, 1, 1, false),
    ("incrby", 1, 1, 1, false),
    ("incrbyfloat", 1, 1, 1, false),
    ("decr", 1, 1, 1, false),
    ("decrby", 1, 1, 1, false),
    ("setrange", 1, 1, 1, false),
    ("expire", 1, 1, 1, false),
    ("pexpire", 1, 1, 1, false),
    ("expireat", 1, 1, 1, false),
    ("pexpireat", 1, 1, 1, false),
    ("persist", 1, 1, 1, false),
    ("del", 1, -1, 1, false),
    ("unlink", 1, -1, 1, false),
    ("touch", 1, -1, 1, false),
    ("watch", 1, -1, 1, false),
    ("mset", 1, -1, 2, false),
    ("msetnx", 1, -1, 2, false),
    ("rename", 1, 2, 1, false),
    ("renamenx", 1, 2, 1, false),
    ("copy", 1, 2, 1, false),
    ("hset", 1, 1, 1, false),
    ("hsetnx", 1, 1, 1, false),
    ("hmset", 1, 1, 1, false),
    ("hdel", 1, 1, 1, false),
    ("hincrby", 1, 1, 1, false),
    ("hincrbyfloat", 1, 1, 1, false),
    ("lpush", 1, 1, 1, false),
    ("rpush", 1, 1, 1, false),
    ("lpop", 1, 1, 1, false),
    ("rpop", 1, 1, 1, false),
    ("lrem", 1, 1, 1, false),
    ("ltrim", 1, 1, 1, false),
    ("lset", 1, 1, 1, false),
    ("lmove", 1, 2, 1, false),
    ("rpoplpush", 1, 2, 1, false),
    ("blmove", 1, 2, 1, false),
    ("blpop", 1, -2, 1, false),
    ("brpop", 1, -2, 1, false),
    ("bzpopmin", 1, -2, 1, false),
    ("bzpopmax", 1, -2, 1, false),
    ("sadd", 1, 1, 1, false),
    ("srem", 1, 1, 1, false),
    ("spop", 1, 1, 1, false),
    ("smove", 1, 2, 1, false),
    ("sunionstore", 1, -1, 1, false),
    ("sinterstore", 1, -1, 1, false),
    ("sdiffstore", 1, -1, 1, false),
    ("sunion", 1, -1, 1, true),
    ("sinter", 1, -1, 1, true),
    ("sdiff", 1, -1, 1, true),
    ("zadd", 1, 1, 1, false),
    ("zrem", 1, 1, 1, false),
    ("zincrby", 1, 1, 1, false),
    ("zremrangebyscore", 1, 1, 1, false),
    ("zremrangebyrank", 1, 1, 1, false),
    ("zpopmin", 1, 1, 1, false),
    ("zpopmax", 1, 1, 1, false),
    ("xadd", 1, 1, 1, false),
    ("xdel", 1, 1, 1, false),
    ("xtrim", 1, 1, 1, false),
    ("xack", 1, 1, 1, false),
    ("pfadd", 1, 1, 1, false),
    ("pfcount", 1, -1, 1, false),
    ("pfmerge", 1, -1, 1, false),
    ("spublish", 1, 1, 1, false),
    ("ssubscribe", 1, -1, 1, false),
    ("sunsubscribe", 1, -1, 1, false),
];

/// Commands whose key count is an argument: (name, index of the count, whether they only
/// read). Keys follow the count; `ZUNIONSTORE`-like commands also have a destination at 1.
const BUILTIN_KEYNUM: &[(&str, usize, bool)] = &[
    ("eval", 2, false),
    ("evalsha", 2, false),
    ("eval_ro", 2, true),
    ("evalsha_ro", 2, true),
    ("fcall", 2, false),
    ("fcall_ro", 2, true),
    ("zunion", 1, true),
    ("zinter", 1, true),
    ("zdiff", 1, true),
    ("zintercard", 1, true),
    ("sintercard", 1, true),
    ("lmpop", 1, false),
    ("zmpop", 1, false),
    ("blmpop", 2, false),
    ("bzmpop", 2, false),
];

impl CommandTable {
    /// The built-in fallback table.
    pub(crate) fn builtin() -> CommandTable {
        let mut map = Map::default();
        for &(name, first, last, step, readonly) in BUILTIN_RANGES {
            let last = if last >= 0 {
                last - first as isize
            } else {
                last
            };
            let spec = KeySpec {
                begin: Begin::Index(first),
                find: Find::Range {
                    last,
                    step,
                    limit: 0,
                },
            };
            map.insert(
                name.as_bytes().to_vec(),
                CommandInfo {
                    specs: Arc::new([spec]),
                    readonly,
                    subcommands: false,
                },
            );
        }
        for &(name, at, readonly) in BUILTIN_KEYNUM {
            map.insert(
                name.as_bytes().to_vec(),
                CommandInfo {
                    specs: Arc::new([keynum(at)]),
                    readonly,
                    subcommands: false,
                },
            );
        }
        for name in ["zunionstore", "zinterstore", "zdiffstore"] {
            let dest = KeySpec {
                begin: Begin::Index(1),
                find: Find::Range {
                    last: 0,
                    step: 1,
                    limit: 0,
                },
            };
            map.insert(
                name.as_bytes().to_vec(),
                CommandInfo {
                    specs: Arc::new([dest, keynum(2)]),
                    readonly: false,
                    subcommands: false,
                },
            );
        }
        for (name, start_from) in [("xread", 1), ("xreadgroup", 4)] {
            map.insert(
                name.as_bytes().to_vec(),
                CommandInfo {
                    specs: Arc::new([KeySpec {
                        begin: Begin::Keyword {
                            keyword: Bytes::from_static(b"STREAMS"),
                            start_from,
                        },
                        find: Find::Range {
                            last: -1,
                            step: 1,
                            limit: 2,
                        },
                    }]),
                    readonly: name == "xread",
                    subcommands: false,
                },
            );
        }
        CommandTable { map }
    }

    /// The table described by a `COMMAND` reply (Redis 7 key specs; older servers' first key,
    /// last key and step), or `None` when the reply does not look like one.
    pub(crate) fn from_command_reply(reply: &Frame) -> Option<CommandTable> {
        let mut map = Map::default();
        for doc in reply.without_attributes().as_slice()? {
            insert_doc(&mut map, doc);
        }
        (!map.is_empty()).then_some(CommandTable { map })
    }

    /// The entry for the command in `args`: its `name|subcommand` entry when there is one,
    /// else its own.
    pub(crate) fn lookup<A: AsRef<[u8]>>(&self, args: &[A]) -> Option<&CommandInfo> {
        // On the stack for every name but the longest.
        let mut key: SmallVec<[u8; 48]> = SmallVec::from_slice(args.first()?.as_ref());
        key.make_ascii_lowercase();
        let info = self.map.get(&key[..]);
        if let (Some(parent), Some(sub)) = (info, args.get(1))
            && parent.subcommands
        {
            key.push(b'|');
            let at = key.len();
            key.extend_from_slice(sub.as_ref());
            key[at..].make_ascii_lowercase();
            if let Some(sub) = self.map.get(&key[..]) {
                return Some(sub);
            }
        }
        info
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

fn keynum(at: usize) -> KeySpec {
    KeySpec {
        begin: Begin::Index(at),
        find: Find::KeyNum {
            numkeys_at: 0,
            first: 1,
            step: 1,
        },
    }
}

/// Adds one command document of a `COMMAND` reply (and its subcommands).
fn insert_doc(map: &mut Map, doc: &Frame) {
    let Some(fields) = doc.without_attributes().as_slice() else {
        return;
    };
    let Some(name) = fields.first().and_then(Frame::as_bytes) else {
        return;
    };
    let readonly = fields
        .get(2)
        .and_then(Frame::as_slice)
        .is_some_and(|flags| {
            flags.iter().any(|f| {
                f.as_bytes()
                    .is_some_and(|b| b.eq_ignore_ascii_case(b"readonly"))
            })
        });
    let int = |i: usize| fields.get(i).and_then(Frame::as_integer);
    let mut specs: Vec<KeySpec> = fields
        .get(8)
        .and_then(Frame::as_slice)
        .map(|s| s.iter().filter_map(parse_key_spec).collect())
        .unwrap_or_default();
    if specs.is_empty() {
        // Servers before 7.0: first key, last key, step (0 when there are no keys).
        if let (Some(first), Some(last), Some(step)) = (int(3), int(4), int(5))
            && first > 0
        {
            let last = if last >= 0 { last - first } else { last };
            specs.push(KeySpec {
                begin: Begin::Index(first as usize),
                find: Find::Range {
                    last: last as isize,
                    step: step.max(1) as usize,
                    limit: 0,
                },
            });
        }
    }
    let subs = fields.get(9).and_then(Frame::as_slice).unwrap_or_default();
    for sub in subs {
        insert_doc(map, sub);
    }
    map.insert(
        name.to_ascii_lowercase(),
        CommandInfo {
            specs: specs.into(),
            readonly,
            subcommands: !subs.is_empty(),
        },
    );
}

/// A field of a RESP3 map or of a RESP2 flat key/value array.
fn field<'a>(frame: &'a Frame, name: &str) -> Option<&'a Frame> {
    match frame.without_attributes() {
        Frame::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| k.as_bytes().is_some_and(|b| b == name.as_bytes()))
            .map(|(_, v)| v),
        Frame::Array(items) => items
            .chunks(2)
            .find(|kv| kv[0].as_bytes().is_some_and(|b| b == name.as_bytes()))
            .and_then(|kv| kv.get(1)),
        _ => None,
    }
}

fn int_field(frame: &Frame, name: &str) -> Option<i64> {
    field(frame, name).and_then(Frame::as_integer)
}

fn parse_key_spec(spec: &Frame) -> Option<KeySpec> {
    let bs = field(spec, "begin_search")?;
    let bs_spec = field(bs, "spec")?;
    let begin = match field(bs, "type")?.as_bytes()? {
        b"index" => Begin::Index(usize::try_from(int_field(bs_spec, "index")?).ok()?),
        b"keyword" => Begin::Keyword {
            keyword: Bytes::copy_from_slice(field(bs_spec, "keyword")?.as_bytes()?),
            start_from: int_field(bs_spec, "startfrom")? as isize,
        },
        _ => return None,
    };
    let fk = field(spec, "find_keys")?;
    let fk_spec = field(fk, "spec")?;
    let find = match field(fk, "type")?.as_bytes()? {
        b"range" => Find::Range {
            last: int_field(fk_spec, "lastkey")? as isize,
            step: usize::try_from(int_field(fk_spec, "keystep")?).ok()?,
            limit: usize::try_from(int_field(fk_spec, "limit")?).ok()?,
        },
        b"keynum" => Find::KeyNum {
            numkeys_at: usize::try_from(int_field(fk_spec, "keynumidx")?).ok()?,
            first: usize::try_from(int_field(fk_spec, "firstkey")?).ok()?,
            step: usize::try_from(int_field(fk_spec, "keystep")?).ok()?,
        },
        _ => return None,
    };
    Some(KeySpec { begin, find })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn keys_of(table: &CommandTable, words: &[&str]) -> Vec<String> {
        let a = args(words);
        table
            .lookup(&a)
            .map(|i| {
                i.key_indices(&a)
                    .into_iter()
                    .map(|k| String::from_utf8_lossy(&a[k]).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn builtin_table_finds_keys() {
        let t = CommandTable::builtin();
        let cases: &[(&[&str], &[&str])] = &[
            (&["GET", "a"], &["a"]),
            (&["set", "a", "1", "EX", "5"], &["a"]),
            (&["MGET", "a", "b", "c"], &["a", "b", "c"]),
            (&["MSET", "a", "1", "b", "2"], &["a", "b"]),
            (&["BLPOP", "a", "b", "0"], &["a", "b"]),
            (&["RENAME", "a", "b"], &["a", "b"]),
            (&["EVALSHA", "sha", "2", "k1", "k2", "arg"], &["k1", "k2"]),
            (&["EVAL", "return 1", "0"], &[]),
            (
                &["ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"],
                &["d", "a", "b"],
            ),
            (&["BLMPOP", "0", "2", "a", "b", "LEFT"], &["a", "b"]),
            (
                &["XREAD", "COUNT", "2", "STREAMS", "s1", "s2", "0", "0"],
                &["s1", "s2"],
            ),
            (
                &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s1", "0"],
                &["s1"],
            ),
            (&["PING"], &[]),
            (&["EVAL", "x", "notanumber", "k"], &[]),
        ];
        for (cmd, want) in cases {
            assert_eq!(keys_of(&t, cmd), *want, "{cmd:?}");
        }
    }

    #[test]
    fn command_reply_key_specs_are_read() {
        let bulk = |s: &str| Frame::BulkString(resp_codec::Payload::copy_from_slice(s.as_bytes()));
        let map = |pairs: Vec<(&str, Frame)>| {
            Frame::Map(pairs.into_iter().map(|(k, v)| (bulk(k), v)).collect())
        };
        // `COMMAND INFO xread` (abridged): the keyword STREAMS, then half of the rest.
        let xread = Frame::Array(vec![
            bulk("xread"),
            Frame::Integer(-4),
            Frame::Array(vec![Frame::SimpleString("readonly".into())]),
            Frame::Integer(0),
            Frame::Integer(0),
            Frame::Integer(0),
            Frame::Array(vec![]),
            Frame::Array(vec![]),
            Frame::Array(vec![map(vec![
                (
                    "begin_search",
                    map(vec![
                        ("type", bulk("keyword")),
                        (
                            "spec",
                            map(vec![
                                ("keyword", bulk("STREAMS")),
                                ("startfrom", Frame::Integer(1)),
                            ]),
                        ),
                    ]),
                ),
                (
                    "find_keys",
                    map(vec![
                        ("type", bulk("range")),
                        (
                            "spec",
                            map(vec![
                                ("lastkey", Frame::Integer(-1)),
                                ("keystep", Frame::Integer(1)),
                                ("limit", Frame::Integer(2)),
                            ]),
                        ),
                    ]),
                ),
            ])]),
            Frame::Array(vec![]),
        ]);
        // An old server's document: first key 1, last key -1, step 2.
        let mset = Frame::Array(vec![
            bulk("mset"),
            Frame::Integer(-3),
            Frame::Array(vec![]),
            Frame::Integer(1),
            Frame::Integer(-1),
            Frame::Integer(2),
        ]);
        let t = CommandTable::from_command_reply(&Frame::Array(vec![xread, mset])).unwrap();
        assert_eq!(t.len(), 2);
        assert!(t.lookup(&args(&["XREAD"])).unwrap().readonly);
        assert_eq!(
            keys_of(&t, &["xread", "STREAMS", "a", "b", "c", "0", "0", "0"]),
            ["a", "b", "c"]
        );
        assert_eq!(keys_of(&t, &["MSET", "a", "1", "b", "2"]), ["a", "b"]);
    }
}
