//! The slot map: which master (and which replicas) serve each of the 16384 slots, read from
//! `CLUSTER SHARDS` (Redis 7) or `CLUSTER SLOTS` (older servers).

use resp_codec::Frame;

use super::slot::SLOT_COUNT;
use crate::config::ServerAddr;

/// No shard serves the slot.
const UNASSIGNED: u16 = u16::MAX;

/// A master and its replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shard {
    pub(crate) master: ServerAddr,
    pub(crate) replicas: Vec<ServerAddr>,
}

/// An immutable snapshot of the cluster's slot map. A change builds a new snapshot, so a
/// request routes with one consistent view from start to end.
#[derive(Debug, Clone)]
pub(crate) struct Topology {
    /// Slot to index in `shards`, or [`UNASSIGNED`].
    slots: Vec<u16>,
    shards: Vec<Shard>,
}

impl Default for Topology {
    fn default() -> Topology {
        Topology {
            slots: vec![UNASSIGNED; usize::from(SLOT_COUNT)],
            shards: Vec::new(),
        }
    }
}

impl Topology {
    /// The shard serving `slot`.
    pub(crate) fn shard_for(&self, slot: u16) -> Option<&Shard> {
        let i = *self.slots.get(usize::from(slot))?;
        self.shards.get(usize::from(i))
    }

    /// The master serving `slot`.
    pub(crate) fn master_for(&self, slot: u16) -> Option<&ServerAddr> {
        self.shard_for(slot).map(|s| &s.master)
    }

    /// Every shard, in a stable order (as the server listed them).
    pub(crate) fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// Shards that serve at least one slot.
    pub(crate) fn serving_shards(&self) -> Vec<&Shard> {
        let mut used = vec![false; self.shards.len()];
        for &i in &self.slots {
            if i != UNASSIGNED {
                used[usize::from(i)] = true;
            }
        }
        self.shards
            .iter()
            .zip(used)
            .filter_map(|(s, u)| u.then_some(s))
            .collect()
    }

    /// The first slot the master at `addr` serves.
    pub(crate) fn first_slot_of(&self, addr: &ServerAddr) -> Option<u16> {
        let shard = self.shards.iter().position(|s| &s.master == addr)?;
        let at = self.slots.iter().position(|&i| usize::from(i) == shard)?;
        u16::try_from(at).ok()
    }

    /// True when no slot is assigned (nothing learned yet).
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.iter().all(|&i| i == UNASSIGNED)
    }

    /// A copy in which `slot` is served by the master at `addr` (what a `MOVED` says). The
    /// master joins the shard it already leads, or a new shard of its own.
    pub(crate) fn with_moved(&self, slot: u16, addr: &ServerAddr) -> Topology {
        let mut next = self.clone();
        let i = match next.shards.iter().position(|s| &s.master == addr) {
            Some(i) => i,
            None => {
                next.shards.push(Shard {
                    master: addr.clone(),
                    replicas: Vec::new(),
                });
                next.shards.len() - 1
            }
        };
        if let Some(s) = next.slots.get_mut(usize::from(slot)) {
            *s = i as u16;
        }
        next
    }

    fn assign(&mut self, start: i64, end: i64, shard: usize) {
        let max = i64::from(SLOT_COUNT) - 1;
        if start < 0 || end > max || start > end {
            return;
        }
        for s in start..=end {
            self.slots[s as usize] = shard as u16;
        }
    }

    /// Reads a `CLUSTER SHARDS` reply. `origin` is the node that answered: nodes that do not
    /// know their own address (an empty or `?` endpoint) are reached at its host.
    pub(crate) fn from_shards(reply: &Frame, origin: &ServerAddr, tls: bool) -> Option<Topology> {
        let mut t = Topology::default();
        for shard in reply.without_attributes().as_slice()? {
            let slots = field(shard, "slots")?.as_slice()?;
            let nodes = field(shard, "nodes")?.as_slice()?;
            let mut master = None;
            let mut replicas = Vec::new();
            for node in nodes {
                let text = |name| field(node, name).and_then(Frame::as_str);
                let port = if tls {
                    field(node, "tls-port").and_then(int)
                } else {
                    None
                }
                .or_else(|| field(node, "port").and_then(int));
                let Some(port) = port.and_then(|p| u16::try_from(p).ok()).filter(|p| *p != 0)
                else {
                    continue;
                };
                let host = text("endpoint")
                    .filter(|h| !h.is_empty() && *h != "?")
                    .or_else(|| text("ip").filter(|h| !h.is_empty() && *h != "?"));
                let addr = with_host(host, port, origin);
                // Redis 7.0 reports a replica as `loading` until its replication offset
                // reaches the other nodes by gossip, long after it can serve reads; only
                // `failed` nodes are left out (a replica still loading answers `LOADING`,
                // and the read then goes to the master).
                let online = text("health").is_none_or(|h| h != "failed");
                match text("role") {
                    // After a failover the old master may still be listed, failed; an online
                    // master wins.
                    Some("master") if master.is_none() || online => master = Some(addr),
                    Some("master") => {}
                    _ if online => replicas.push(addr),
                    _ => {}
                }
            }
            let Some(master) = master else { continue };
            t.shards.push(Shard { master, replicas });
            let i = t.shards.len() - 1;
            for pair in slots.chunks(2) {
                if let [a, b] = pair
                    && let (Some(a), Some(b)) = (int(a), int(b))
                {
                    t.assign(a, b, i);
                }
            }
        }
        Some(t)
    }

    /// Reads a `CLUSTER SLOTS` reply: `[start, end, [host, port, id, ..], replicas...]` per
    /// range.
    pub(crate) fn from_slots(reply: &Frame, origin: &ServerAddr) -> Option<Topology> {
        let mut t = Topology::default();
        for range in reply.without_attributes().as_slice()? {
            let items = range.as_slice()?;
            let (Some(start), Some(end)) =
                (items.first().and_then(int), items.get(1).and_then(int))
            else {
                continue;
            };
            let mut addrs = items[2..].iter().filter_map(|n| {
                let n = n.as_slice()?;
                let host = n.first().and_then(Frame::as_str);
                let port = n.get(1).and_then(int).and_then(|p| u16::try_from(p).ok())?;
                Some(with_host(
                    host.filter(|h| !h.is_empty() && *h != "?"),
                    port,
                    origin,
                ))
            });
            let Some(master) = addrs.next() else { continue };
            let replicas: Vec<ServerAddr> = addrs.collect();
            let i = match t.shards.iter().position(|s| s.master == master) {
                Some(i) => i,
                None => {
                    t.shards.push(Shard { master, replicas });
                    t.shards.len() - 1
                }
            };
            t.assign(start, end, i);
        }
        Some(t)
    }
}

fn with_host(host: Option<&str>, port: u16, origin: &ServerAddr) -> ServerAddr {
    let host = match (host, origin) {
        (Some(h), _) => h.to_owned(),
        (None, ServerAddr::Tcp { host, .. }) => host.clone(),
        (None, ServerAddr::Unix(_)) => "127.0.0.1".to_owned(),
    };
    ServerAddr::Tcp { host, port }
}

fn int(f: &Frame) -> Option<i64> {
    match f.without_attributes() {
        Frame::Integer(i) => Some(*i),
        other => other.as_str()?.parse().ok(),
    }
}

/// A field of a RESP3 map or of a RESP2 flat key/value array.
fn field<'a>(frame: &'a Frame, name: &str) -> Option<&'a Frame> {
    let is = |k: &Frame| k.as_bytes().is_some_and(|b| b == name.as_bytes());
    match frame.without_attributes() {
        Frame::Map(pairs) => pairs.iter().find(|(k, _)| is(k)).map(|(_, v)| v),
        Frame::Array(items) => items
            .chunks(2)
            .find(|kv| is(&kv[0]))
            .and_then(|kv| kv.get(1)),
        _ => None,
    }
}

/// Parses a redirection target (`MOVED 3999 127.0.0.1:6381`'s last word). An empty host
/// (`:6381`, a node that does not know its address) means the host of `origin`.
pub(crate) fn parse_target(target: &str, origin: &ServerAddr) -> Option<ServerAddr> {
    let (host, port) = target.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some(with_host((!host.is_empty()).then_some(host), port, origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Frame {
        Frame::BulkString(resp_codec::Payload::copy_from_slice(s.as_bytes()))
    }

    fn tcp(port: u16) -> ServerAddr {
        ServerAddr::Tcp {
            host: "127.0.0.1".into(),
            port,
        }
    }

    fn node(port: i64, role: &str, health: &str) -> Frame {
        // RESP2 shape: a flat key/value array.
        Frame::Array(vec![
            bulk("id"),
            bulk("abc"),
            bulk("port"),
            Frame::Integer(port),
            bulk("ip"),
            bulk("127.0.0.1"),
            bulk("endpoint"),
            bulk("127.0.0.1"),
            bulk("role"),
            bulk(role),
            bulk("health"),
            bulk(health),
        ])
    }

    #[test]
    fn shards_reply_maps_slots_to_masters() {
        let shard = |slots: Vec<i64>, nodes: Vec<Frame>| {
            Frame::Map(vec![
                (
                    bulk("slots"),
                    Frame::Array(slots.into_iter().map(Frame::Integer).collect()),
                ),
                (bulk("nodes"), Frame::Array(nodes)),
            ])
        };
        let reply = Frame::Array(vec![
            shard(
                vec![0, 5460, 10923, 10923],
                vec![
                    node(7000, "master", "online"),
                    node(7003, "replica", "online"),
                ],
            ),
            shard(
                vec![5461, 10922],
                vec![
                    // The old master, failed, is listed as a replica after the failover.
                    node(7001, "replica", "failed"),
                    node(7004, "master", "online"),
                ],
            ),
        ]);
        let t = Topology::from_shards(&reply, &tcp(7000), false).unwrap();
        assert_eq!(t.master_for(0), Some(&tcp(7000)));
        assert_eq!(t.master_for(10923), Some(&tcp(7000)));
        assert_eq!(t.shard_for(5460).unwrap().replicas, vec![tcp(7003)]);
        assert_eq!(t.master_for(6000), Some(&tcp(7004)));
        assert!(t.shard_for(6000).unwrap().replicas.is_empty());
        assert_eq!(t.master_for(16000), None);
        assert_eq!(t.serving_shards().len(), 2);
        let moved = t.with_moved(16000, &tcp(7004));
        assert_eq!(moved.master_for(16000), Some(&tcp(7004)));
        assert_eq!(t.master_for(16000), None, "snapshots are immutable");
    }

    #[test]
    fn slots_reply_maps_ranges() {
        let n = |host: &str, port: i64| {
            Frame::Array(vec![bulk(host), Frame::Integer(port), bulk("id")])
        };
        let reply = Frame::Array(vec![
            Frame::Array(vec![
                Frame::Integer(0),
                Frame::Integer(8191),
                n("127.0.0.1", 7000),
                n("127.0.0.1", 7002),
            ]),
            Frame::Array(vec![
                Frame::Integer(8192),
                Frame::Integer(16383),
                n("", 7001),
            ]),
        ]);
        let t = Topology::from_slots(&reply, &tcp(7000)).unwrap();
        assert_eq!(t.master_for(100), Some(&tcp(7000)));
        assert_eq!(t.shard_for(100).unwrap().replicas, vec![tcp(7002)]);
        // An empty host means "the node you asked".
        assert_eq!(t.master_for(9000), Some(&tcp(7001)));
        assert!(!t.is_empty());
        assert_eq!(t.first_slot_of(&tcp(7000)), Some(0));
        assert_eq!(t.first_slot_of(&tcp(7001)), Some(8192));
        assert_eq!(
            t.first_slot_of(&tcp(7002)),
            None,
            "a replica serves no slot"
        );
    }

    #[test]
    fn redirect_targets_parse() {
        assert_eq!(parse_target("127.0.0.1:7001", &tcp(1)), Some(tcp(7001)));
        assert_eq!(parse_target(":7001", &tcp(1)), Some(tcp(7001)));
        assert_eq!(
            parse_target("[::1]:7001", &tcp(1)),
            Some(ServerAddr::Tcp {
                host: "::1".into(),
                port: 7001
            })
        );
        assert_eq!(parse_target("nonsense", &tcp(1)), None);
    }
}
