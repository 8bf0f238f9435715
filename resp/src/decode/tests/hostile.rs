//! Hostile input: time linear in the input however it trickles in, length arithmetic that
//! cannot wrap when limits are lifted, and memory within the decoded-size budget.

use super::*;

/// Feeds `input` one byte per call; returns the frames, the error and the work done (bytes
/// examined by the parsing functions, see `work`).
fn trickle(limits: Limits, input: &[u8]) -> (Vec<Frame>, Option<DecodeError>, u64) {
    work::take();
    let (frames, error) = decode_chunks(limits, input.chunks(1));
    (frames, error, work::take())
}

fn padded(prefix: &[u8], fill: u8, n: usize, suffix: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.resize(prefix.len() + n, fill);
    v.extend_from_slice(suffix);
    v
}

#[test]
fn number_lines_longer_than_their_longest_valid_form_are_errors() {
    let zeros = |n| "0".repeat(n);
    // Twenty bytes, leading zeros included, are accepted.
    assert_eq!(
        one(format!(":{}1\r\n", zeros(19)).as_bytes()),
        Frame::Integer(1)
    );
    assert_eq!(
        one(format!(":-{}7\r\n", zeros(18)).as_bytes()),
        Frame::Integer(-7)
    );
    assert_eq!(
        one(format!("${}3\r\nabc\r\n", zeros(19)).as_bytes()),
        bulk(b"abc")
    );
    assert_eq!(
        one(format!("*{}1\r\n:1\r\n", zeros(19)).as_bytes()),
        Frame::Array(vec![Frame::Integer(1)])
    );
    // A 21st byte is an error where it stands, however the line arrives.
    let cases: Vec<(Vec<u8>, u64, Expected)> = vec![
        (format!(":{}1\r\n", zeros(20)).into(), 21, Expected::Integer),
        (
            format!(":-{}1\r\n", zeros(19)).into(),
            21,
            Expected::Integer,
        ),
        (
            format!("${}1\r\nx\r\n", zeros(20)).into(),
            21,
            Expected::Length,
        ),
        (
            format!("!{}1\r\nx\r\n", zeros(20)).into(),
            21,
            Expected::Length,
        ),
        (
            format!("*{}1\r\n:1\r\n", zeros(20)).into(),
            21,
            Expected::Length,
        ),
        (format!("%{}1\r\n", zeros(20)).into(), 21, Expected::Length),
        (format!("|{}1\r\n", zeros(20)).into(), 21, Expected::Length),
        (
            format!("*2\r\n:1\r\n:{}1\r\n", zeros(20)).into(),
            29,
            Expected::Integer,
        ),
        (
            format!("*?\r\n${}1\r\n", zeros(20)).into(),
            25,
            Expected::Length,
        ),
        (
            format!("$?\r\n;{}1\r\n", zeros(20)).into(),
            25,
            Expected::Length,
        ),
    ];
    for (input, offset, expected) in cases {
        let want = syntax(offset, expected, b'1');
        assert_eq!(err(&input), want, "{:?}", String::from_utf8_lossy(&input));
        assert_eq!(trickle(Limits::default(), &input).1, Some(want));
    }
}

/// Lines of every kind, padded with `n` filler bytes, at the top level and inside aggregates.
fn padded_lines(n: usize) -> Vec<Vec<u8>> {
    let lines: Vec<(&[u8], u8, &[u8])> = vec![
        (b"+", b'a', b"\r\n"),
        (b"-", b'a', b"\r\n"),
        (b"(", b'1', b"\r\n"),
        (b",", b'1', b"\r\n"),
        (b"#", b't', b"\r\n"),
        (b"_", b' ', b"\r\n"),
        (b":", b'0', b"1\r\n"),
        (b"$", b'0', b"1\r\nx\r\n"),
        (b"!", b'0', b"1\r\nx\r\n"),
        (b"=", b'0', b"5\r\ntxt:x\r\n"),
        (b"*", b'0', b"1\r\n:1\r\n"),
        (b"%", b'0', b"1\r\n:1\r\n:2\r\n"),
        (b"~", b'0', b"1\r\n:1\r\n"),
        (b">", b'0', b"1\r\n:1\r\n"),
        (b"|", b'0', b"1\r\n:1\r\n:2\r\n:3\r\n"),
        (b"$?\r\n;", b'0', b"1\r\nx\r\n;0\r\n"),
    ];
    let mut out = Vec::new();
    for (prefix, fill, suffix) in lines {
        let line = padded(prefix, fill, n, suffix);
        out.push(line.clone());
        out.push([&b"*2\r\n:1\r\n"[..], &line].concat());
        out.push([&b"*?\r\n:1\r\n"[..], &line, b".\r\n"].concat());
        out.push([&b"%1\r\n+k\r\n"[..], &line].concat());
    }
    out
}

#[test]
fn every_line_kind_fed_one_byte_at_a_time_costs_work_linear_in_its_length() {
    // Padded number lines used to be parsed again from their start on every call: quadratic.
    // Doubling the padding must (about) double the work, not quadruple it.
    let (n, m) = (2_000, 4_000);
    for (short, long) in padded_lines(n).into_iter().zip(padded_lines(m)) {
        let (_, _, w1) = trickle(Limits::default(), &short);
        let (_, _, w2) = trickle(Limits::default(), &long);
        let name = String::from_utf8_lossy(&short[..12]).into_owned();
        assert!(w2 * 4 <= w1 * 9 + 4_000, "{name}: {w1} then {w2}");
        assert!(
            w2 <= 100 * long.len() as u64,
            "{name}: {w2} for {} bytes",
            long.len()
        );
    }
}

#[test]
fn lengths_near_u64_max_are_errors_when_the_bulk_limit_is_lifted() {
    // With the limit at u64::MAX, `$18446744073709551614` used to wrap to an empty string in
    // release builds (and panic in debug builds), and a streamed chunk panicked.
    let unlimited = Limits::default().max_bulk_len(u64::MAX);
    assert_eq!(unlimited.bulk_len_limit(), Limits::MAX_BULK_LEN_CEILING);
    for input in [
        &b"$18446744073709551614\r\n"[..],
        b"!18446744073709551614\r\n",
        b"=18446744073709551615\r\n",
        b"*1\r\n$18446744073709551614\r\n",
        b"%1\r\n+k\r\n$18446744073709551613\r\n",
        b"$?\r\n;18446744073709551615\r\n",
        b"$?\r\n;1\r\nx\r\n;18446744073709551614\r\n",
    ] {
        let name = String::from_utf8_lossy(input).into_owned();
        let whole = err_with(unlimited, input);
        assert!(
            matches!(
                whole,
                DecodeError::LimitExceeded {
                    limit: LimitKind::BulkLen,
                    max: Limits::MAX_BULK_LEN_CEILING,
                    ..
                }
            ),
            "{name}: {whole:?}"
        );
        assert_eq!(trickle(unlimited, input).1, Some(whole), "{name}");
    }
    // At the ceiling, a length is accepted and waits for its payload.
    let mut decoder = Decoder::with_limits(unlimited);
    let mut buf = BytesMut::from(format!("${}\r\nabc", Limits::MAX_BULK_LEN_CEILING).as_bytes());
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert!(decoder.is_mid_frame());
}

#[test]
fn maps_announcing_more_than_u64_max_items_are_errors() {
    let unlimited = Limits::default()
        .max_aggregate_len(u64::MAX)
        .max_decoded_size(usize::MAX);
    let e = err_with(unlimited, b"%18446744073709551615\r\n");
    assert!(matches!(e, DecodeError::LimitExceeded { .. }), "{e:?}");
}

/// The memory held by the vectors of `frame`, measured by their capacities.
fn structure_bytes(frame: &Frame) -> u64 {
    match frame {
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => {
            v.capacity() as u64 * LIST_SLOT + v.iter().map(structure_bytes).sum::<u64>()
        }
        Frame::Map(pairs) => {
            pairs.capacity() as u64 * PAIR_SLOT
                + pairs
                    .iter()
                    .map(|(k, v)| structure_bytes(k) + structure_bytes(v))
                    .sum::<u64>()
        }
        Frame::Attribute { attributes, data } => {
            attributes.capacity() as u64 * PAIR_SLOT
                + LIST_SLOT
                + structure_bytes(data)
                + attributes
                    .iter()
                    .map(|(k, v)| structure_bytes(k) + structure_bytes(v))
                    .sum::<u64>()
        }
        _ => 0,
    }
}

#[test]
fn a_streamed_aggregate_of_tiny_elements_stops_at_the_decoded_size_budget() {
    // `_\r\n` is 3 bytes on the wire and a 40-byte frame: without a budget such a reply held
    // 13 times its size, bounded only by the input.
    let budget = 64 * 1024;
    let limits = Limits::default().max_decoded_size(budget);
    let mut input = b"*?\r\n".to_vec();
    for _ in 0..10_000 {
        input.extend_from_slice(b"_\r\n");
    }
    let whole = err_with(limits, &input);
    let DecodeError::LimitExceeded {
        limit: LimitKind::DecodedSize,
        offset,
        value,
        max,
    } = whole
    else {
        panic!("{whole:?}")
    };
    assert_eq!(max, budget as u64);
    assert!(value > max);
    // Stopped within the budget's worth of elements, not at the end of the input.
    assert!(
        offset <= 4 + 3 * (budget as u64 / LIST_SLOT + 1),
        "{offset}"
    );
    assert_eq!(trickle(limits, &input).1, Some(whole));

    // Well within the budget, the same reply decodes, and holds no more than the budget.
    let mut input = b"*?\r\n".to_vec();
    for _ in 0..budget / LIST_SLOT as usize / 4 {
        input.extend_from_slice(b"_\r\n");
    }
    input.extend_from_slice(b".\r\n");
    let frame = one_with(limits, &input);
    assert!(structure_bytes(&frame) <= budget as u64);
}

#[test]
fn an_announced_count_over_the_default_budget_fails_at_its_header() {
    let fits = Limits::default().decoded_size_limit() as u64 / LIST_SLOT;
    for ty in ["*", "~", ">"] {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::from(format!("{ty}{fits}\r\n").as_bytes());
        assert_eq!(decoder.decode(&mut buf).unwrap(), None);
        let e = err(format!("{ty}{}\r\n", fits + 1).as_bytes());
        assert!(
            matches!(
                e,
                DecodeError::LimitExceeded {
                    limit: LimitKind::DecodedSize,
                    offset: 0,
                    ..
                }
            ),
            "{e:?}"
        );
    }
    let pairs = Limits::default().decoded_size_limit() as u64 / PAIR_SLOT;
    assert!(matches!(
        err(format!("%{}\r\n", pairs + 1).as_bytes()),
        DecodeError::LimitExceeded {
            limit: LimitKind::DecodedSize,
            ..
        }
    ));
    // Nested: the children count towards the same frame.
    let parent = format!("*{}\r\n", fits - 1);
    let e = err(format!("{parent}*2\r\n").as_bytes());
    assert!(
        matches!(
            e,
            DecodeError::LimitExceeded {
                limit: LimitKind::DecodedSize,
                offset,
                ..
            } if offset == parent.len() as u64
        ),
        "{e:?}"
    );
}

mod hostile_properties {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Wire bytes of a frame of small elements, nested, streamed or not.
    fn wire() -> impl Strategy<Value = Vec<u8>> {
        let leaf = prop_oneof![
            Just(b"_\r\n".to_vec()),
            Just(b":1\r\n".to_vec()),
            Just(b"$1\r\nx\r\n".to_vec()),
            Just(b"+ok\r\n".to_vec()),
        ];
        leaf.prop_recursive(4, 96, 8, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..12).prop_map(|v| [
                    format!("*{}\r\n", v.len()).into_bytes(),
                    v.concat()
                ]
                .concat()),
                vec(inner.clone(), 0..12).prop_map(|v| [
                    b"~?\r\n".to_vec(),
                    v.concat(),
                    b".\r\n".to_vec()
                ]
                .concat()),
                vec((inner.clone(), inner.clone()), 0..6).prop_map(|v| {
                    let mut out = format!("%{}\r\n", v.len()).into_bytes();
                    for (k, x) in v {
                        out.extend(k);
                        out.extend(x);
                    }
                    out
                }),
                vec((inner.clone(), inner.clone()), 0..6).prop_map(|v| {
                    let mut out = b"%?\r\n".to_vec();
                    for (k, x) in v {
                        out.extend(k);
                        out.extend(x);
                    }
                    out.extend(b".\r\n");
                    out
                }),
                (inner.clone(), inner).prop_map(|(a, d)| [b"|1\r\n+a\r\n".to_vec(), a, d].concat()),
            ]
        })
    }

    /// A line of any kind padded with up to `max` filler bytes.
    fn padded_line(max: usize) -> impl Strategy<Value = Vec<u8>> {
        (0..16usize, 0..max).prop_map(|(kind, n)| {
            let lines = padded_lines(n);
            // Only the top-level form of each kind: `padded_lines` gives four per kind.
            lines[kind * 4].clone()
        })
    }

    fn chunks<'a>(input: &'a [u8], sizes: &'a [usize]) -> impl Iterator<Item = &'a [u8]> {
        let mut rest = input;
        let mut sizes = sizes.iter().cycle();
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let n = (*sizes.next()?).clamp(1, rest.len());
            let (a, b) = rest.split_at(n);
            rest = b;
            Some(a)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Work linear in the input under any chunking: padded lines of every kind, valid or
        /// not, each ends the stream at the latest at its first error.
        #[test]
        fn work_is_linear_in_the_input_under_any_chunking(
            lines in vec(padded_line(3_000), 1..6),
            sizes in vec(1..8usize, 1..8),
        ) {
            let input = lines.concat();
            work::take();
            let chunked = decode_chunks(Limits::default(), chunks(&input, &sizes));
            let w = work::take();
            prop_assert!(w <= 100 * input.len() as u64 + 1_000, "{w} for {} bytes", input.len());
            let whole = decode_chunks(Limits::default(), [&input[..]]);
            prop_assert_eq!(whole.0, chunked.0);
            prop_assert_eq!(whole.1.is_some(), chunked.1.is_some());
        }

        /// Memory within the budget at every call, and the same outcome however the input is
        /// split: the budget is charged by announced counts and by a streamed aggregate's
        /// growth, neither of which depends on the split.
        #[test]
        fn held_memory_stays_within_the_budget_under_any_chunking(
            frames in vec(wire(), 1..4),
            budget in 0..6_000usize,
            sizes in vec(1..16usize, 1..8),
        ) {
            let input = frames.concat();
            let limits = Limits::default().max_decoded_size(budget);
            let whole = decode_chunks(limits, [&input[..]]);
            let mut decoder = Decoder::with_limits(limits);
            let mut buf = BytesMut::new();
            let mut got = (Vec::new(), None);
            'feed: for chunk in chunks(&input, &sizes) {
                buf.extend_from_slice(chunk);
                loop {
                    let r = decoder.decode(&mut buf);
                    prop_assert!(decoder.held <= budget as u64);
                    match r {
                        Ok(Some(f)) => {
                            prop_assert!(structure_bytes(&f) <= budget as u64);
                            got.0.push(f);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            got.1 = Some(e);
                            break 'feed;
                        }
                    }
                }
            }
            prop_assert_eq!(got, whole);
        }
    }
}
