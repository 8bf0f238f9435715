//! Key slots: CRC16-XMODEM of the key (or of its `{hash tag}`) modulo 16384, as the Redis
//! Cluster specification defines them.

/// Number of hash slots in a Redis Cluster.
pub(crate) const SLOT_COUNT: u16 = 16384;

/// CRC16-XMODEM (polynomial 0x1021, initial value 0, no reflection), the table built at
/// compile time.
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC16-XMODEM of `data`.
pub(crate) fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ b)]
    })
}

/// The part of `key` that is hashed: the bytes between the first `{` and the first `}` after
/// it, when that is not empty; otherwise the whole key. So `{user1000}.following` and
/// `{user1000}.followers` share a slot, while `{}x` and `x{` hash whole.
pub(crate) fn hash_part(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        let rest = &key[open + 1..];
        if let Some(close) = rest.iter().position(|&b| b == b'}')
            && close > 0
        {
            return &rest[..close];
        }
    }
    key
}

/// The slot `key` lives in.
pub(crate) fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_part(key)) % SLOT_COUNT
}

/// A set of slots, one bit each.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SlotSet(Box<[u64; SLOT_COUNT as usize / 64]>);

impl SlotSet {
    pub(crate) fn new() -> SlotSet {
        SlotSet(Box::new([0; SLOT_COUNT as usize / 64]))
    }

    /// Adds `slot`; slots past the last one are ignored.
    pub(crate) fn insert(&mut self, slot: u16) {
        if slot < SLOT_COUNT {
            self.0[usize::from(slot / 64)] |= 1 << (slot % 64);
        }
    }

    pub(crate) fn contains(&self, slot: u16) -> bool {
        slot < SLOT_COUNT && self.0[usize::from(slot / 64)] & (1 << (slot % 64)) != 0
    }

    /// The slots of `self` that are not in `other`.
    pub(crate) fn difference(&self, other: &SlotSet) -> SlotSet {
        let mut out = self.clone();
        for (a, b) in out.0.iter_mut().zip(other.0.iter()) {
            *a &= !b;
        }
        out
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }

    /// The slots a node holds by its own account: the `myself` line of its `CLUSTER NODES`
    /// reply lists the ranges it serves and, as `[slot-<-id]`, the slots it is importing.
    /// Slots it is migrating away (`[slot->-id]`) are still in its ranges. `None` when the
    /// text has no `myself` line.
    pub(crate) fn held_by_myself(cluster_nodes: &str) -> Option<SlotSet> {
        let line = cluster_nodes.lines().find(|l| {
            l.split_whitespace()
                .nth(2)
                .is_some_and(|flags| flags.split(',').any(|f| f == "myself"))
        })?;
        let mut set = SlotSet::new();
        for field in line.split_whitespace().skip(8) {
            if let Some(inner) = field.strip_prefix('[').and_then(|f| f.strip_suffix(']')) {
                if let Some((slot, _)) = inner.split_once("-<-")
                    && let Ok(slot) = slot.parse()
                {
                    set.insert(slot);
                }
                continue;
            }
            let (start, end) = field.split_once('-').unwrap_or((field, field));
            if let (Ok(start), Ok(end)) = (start.parse::<u16>(), end.parse::<u16>()) {
                for slot in start..=end.min(SLOT_COUNT - 1) {
                    set.insert(slot);
                }
            }
        }
        Some(set)
    }
}

impl std::fmt::Debug for SlotSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count: u32 = self.0.iter().map(|w| w.count_ones()).sum();
        write!(f, "SlotSet({count} slots)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_the_reference_check_value() {
        // The CRC catalogue's check value for CRC-16/XMODEM, and the cluster spec's example.
        assert_eq!(crc16(b"123456789"), 0x31c3);
        assert_eq!(crc16(b""), 0);
    }

    #[test]
    fn slots_match_known_values() {
        // Values from `CLUSTER KEYSLOT` on a Redis 7 server.
        for (key, slot) in [
            (&b"foo"[..], 12182),
            (b"bar", 5061),
            (b"hello", 866),
            (b"a", 15495),
            (b"", 0),
            (b"{user1000}.following", 3443),
            (b"somekey", 11058),
        ] {
            assert_eq!(key_slot(key), slot, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn hash_tags_follow_the_spec() {
        assert_eq!(
            key_slot(b"{user1000}.following"),
            key_slot(b"{user1000}.followers")
        );
        assert_eq!(key_slot(b"foo{bar}baz"), key_slot(b"bar"));
        // Only the first `{` counts, and the first `}` after it.
        assert_eq!(hash_part(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_part(b"foo{bar}{zap}"), b"bar");
        // Empty or unclosed tags hash the whole key.
        assert_eq!(hash_part(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_part(b"foo{bar"), b"foo{bar");
        assert_eq!(hash_part(b"}foo{"), b"}foo{");
    }

    #[test]
    fn a_node_holds_its_ranges_and_what_it_imports_by_its_own_account() {
        let nodes = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001,host myself,master - 0 0 1 connected 0-5460 7000 [5461-<-292f8b365bb7edb5e285caf0b7e6ddc7265a2f4f] [10-\x3e-292f8b365bb7edb5e285caf0b7e6ddc7265a2f4f]
292f8b365bb7edb5e285caf0b7e6ddc7265a2f4f 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5462-10922
";
        let held = SlotSet::held_by_myself(nodes).expect("a myself line");
        for slot in [0, 10, 5460, 5461, 7000] {
            assert!(held.contains(slot), "{slot}");
        }
        for slot in [5462, 6999, 7001, 10922, 16383] {
            assert!(!held.contains(slot), "{slot}");
        }
        assert!(SlotSet::held_by_myself("no such line\n").is_none());
        let mut small = SlotSet::new();
        small.insert(10);
        let gained = held.difference(&small);
        assert!(!gained.contains(10) && gained.contains(11) && !gained.is_empty());
        assert!(small.difference(&held).is_empty());
    }
}
