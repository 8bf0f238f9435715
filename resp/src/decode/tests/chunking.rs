//! Resumability: any split of the input into reads gives the same frames, what has been
//! examined is not examined again, and announced sizes are not trusted for memory.

use super::*;

#[test]
fn every_split_point_of_a_stream_gives_the_same_frames() {
    assert_every_split_point_gives(MIXED_STREAM, &mixed_frames());
}

#[test]
fn every_pair_of_split_points_gives_the_same_frames() {
    assert_every_pair_of_splits_gives(MIXED_STREAM, &mixed_frames());
}

#[test]
fn stream_fed_one_byte_at_a_time_gives_the_same_frames() {
    let (frames, error) = decode_chunks(Limits::default(), MIXED_STREAM.chunks(1));
    assert_eq!(error, None);
    assert_eq!(frames, mixed_frames());
}

/// Aggregates whose children alternate between scalars and nested aggregates, as in XREAD and
/// XRANGE replies: the lane leaves placeholders behind when it stops at a nested aggregate, and
/// the finished child must land in the right one, however the input is split.
#[test]
fn scalars_after_nested_aggregates_land_in_order_at_every_split() {
    let input = b"*4\r\n$1\r\na\r\n*2\r\n$2\r\nid\r\n*2\r\n:1\r\n:2\r\n:3\r\n\
*1\r\n*0\r\n%3\r\n+k\r\n*1\r\n_\r\n*1\r\n:4\r\n:5\r\n+v\r\n%1\r\n:6\r\n*0\r\n";
    let expected = vec![
        Frame::Array(vec![
            bulk(b"a"),
            Frame::Array(vec![
                bulk(b"id"),
                Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)]),
            ]),
            Frame::Integer(3),
            Frame::Array(vec![Frame::Array(vec![])]),
        ]),
        Frame::Map(vec![
            (simple("k"), Frame::Array(vec![Frame::Null])),
            (Frame::Array(vec![Frame::Integer(4)]), Frame::Integer(5)),
            (
                simple("v"),
                Frame::Map(vec![(Frame::Integer(6), Frame::Array(vec![]))]),
            ),
        ]),
    ];
    assert_every_pair_of_splits_gives(input, &expected);
}

/// The lane closes a finished child array straight into its parent when it fills that parent
/// itself; every other parent (a streamed aggregate, which counts its children against the
/// limit, an attribute map, a map waiting for a value) takes the child through the general
/// path. Both must give the same frames at every split, and several levels finished by one
/// element must all close.
#[test]
fn finished_children_land_in_every_kind_of_parent_at_every_split() {
    let input = b"*3\r\n*1\r\n*1\r\n*1\r\n:1\r\n~2\r\n:2\r\n:3\r\n>1\r\n*1\r\n+p\r\n\
*?\r\n*2\r\n:4\r\n:5\r\n*1\r\n*1\r\n:6\r\n.\r\n\
|1\r\n+a\r\n*1\r\n:7\r\n*2\r\n*1\r\n:8\r\n:9\r\n\
%2\r\n*1\r\n:10\r\n*1\r\n*1\r\n:11\r\n+k\r\n*?\r\n*1\r\n:12\r\n.\r\n";
    let array = Frame::Array;
    let int = Frame::Integer;
    let expected = vec![
        array(vec![
            array(vec![array(vec![array(vec![int(1)])])]),
            Frame::Set(vec![int(2), int(3)]),
            Frame::Push(vec![array(vec![simple("p")])]),
        ]),
        array(vec![
            array(vec![int(4), int(5)]),
            array(vec![array(vec![int(6)])]),
        ]),
        Frame::Attribute {
            attributes: vec![(simple("a"), array(vec![int(7)]))],
            data: Box::new(array(vec![array(vec![int(8)]), int(9)])),
        },
        Frame::Map(vec![
            (array(vec![int(10)]), array(vec![array(vec![int(11)])])),
            (simple("k"), array(vec![array(vec![int(12)])])),
        ]),
    ];
    assert_every_pair_of_splits_gives(input, &expected);
    // A streamed parent still counts the children the lane finished for it.
    let limits = Limits::default().max_aggregate_len(2);
    let (frames, error) =
        decode_chunks(limits, [&b"*?\r\n*1\r\n:1\r\n*1\r\n:2\r\n*1\r\n:3\r\n"[..]]);
    assert_eq!(frames, vec![]);
    assert_eq!(error, Some(limit(28, LimitKind::AggregateLen, 3, 2)));
}

/// A top-level array, set or push of scalars is built without a stack level; when an element
/// is something the lane does not take, the elements before it are handed to the general path,
/// which must finish the same frame (or report the same error at the same offset) wherever that
/// element stands and however the input is split.
#[test]
fn top_level_lists_hand_over_at_any_element() {
    let scalars: [(&[u8], Frame); 3] = [
        (b"$3\r\nabc\r\n", bulk(b"abc")),
        (b":-7\r\n", Frame::Integer(-7)),
        (
            b"$30\r\n0123456789abcdefghijklmnopqrst\r\n",
            bulk(b"0123456789abcdefghijklmnopqrst"),
        ),
    ];
    let foreign: [(&[u8], Frame); 5] = [
        (b"*1\r\n:5\r\n", Frame::Array(vec![Frame::Integer(5)])),
        (
            b"-ERR x\r\n",
            Frame::SimpleError(Payload::copy_from_slice(b"ERR x")),
        ),
        (b",1.5\r\n", Frame::Double(1.5)),
        (
            b"%1\r\n+a\r\n:1\r\n",
            Frame::Map(vec![(simple("a"), Frame::Integer(1))]),
        ),
        (
            b"|1\r\n+k\r\n+v\r\n:9\r\n",
            Frame::Attribute {
                attributes: vec![(simple("k"), simple("v"))],
                data: Box::new(Frame::Integer(9)),
            },
        ),
    ];
    for (kind, build) in [
        (b'*', Frame::Array as fn(Vec<Frame>) -> Frame),
        (b'~', Frame::Set),
        (b'>', Frame::Push),
    ] {
        for (odd, odd_frame) in &foreign {
            for at in 0..=scalars.len() {
                let mut input = vec![kind];
                input.extend_from_slice(format!("{}\r\n", scalars.len() + 1).as_bytes());
                let mut items = Vec::new();
                for (i, (bytes, frame)) in scalars.iter().enumerate() {
                    if i == at {
                        input.extend_from_slice(odd);
                        items.push(odd_frame.clone());
                    }
                    input.extend_from_slice(bytes);
                    items.push(frame.clone());
                }
                if at == scalars.len() {
                    input.extend_from_slice(odd);
                    items.push(odd_frame.clone());
                }
                // A scalar after it shows the decoder is idle again afterwards.
                input.extend_from_slice(b"+OK\r\n");
                assert_every_split_point_gives(&input, &[build(items), simple("OK")]);
            }
        }
        // An invalid element after some valid ones is reported at its own offset.
        let mut input = vec![kind];
        input.extend_from_slice(b"3\r\n:1\r\n$2\r\nab\r\n?\r\n");
        assert_eq!(err(&input), syntax(16, Expected::TypeByte, b'?'));
    }
}

/// Top-level maps go through the general path and its lane (a second-tier map path like the
/// lists' measured slower); a foreign element as a key or as a value, wherever it stands and
/// however the input is split, must give the same frame, and a key read before a value the
/// lane does not take must wait for it.
#[test]
fn top_level_maps_hand_over_at_any_key_or_value() {
    let scalars: [(&[u8], Frame); 4] = [
        (b"+k1\r\n", simple("k1")),
        (b":2\r\n", Frame::Integer(2)),
        (
            b"$25\r\nabcdefghijklmnopqrstuvwxy\r\n",
            bulk(b"abcdefghijklmnopqrstuvwxy"),
        ),
        (b"_\r\n", Frame::Null),
    ];
    let foreign: [(&[u8], Frame); 3] = [
        (b"*1\r\n:5\r\n", Frame::Array(vec![Frame::Integer(5)])),
        (b"#t\r\n", Frame::Boolean(true)),
        (
            b"%1\r\n+a\r\n*0\r\n",
            Frame::Map(vec![(simple("a"), Frame::Array(vec![]))]),
        ),
    ];
    for (odd, odd_frame) in &foreign {
        for at in 0..=scalars.len() {
            // Five elements in all: the foreign one at `at`, the scalars around it, and one more
            // scalar to make up the last pair.
            let mut elements: Vec<(&[u8], Frame)> = scalars.to_vec();
            elements.insert(at, (odd, odd_frame.clone()));
            elements.push((b":9\r\n", Frame::Integer(9)));
            let mut input = b"%3\r\n".to_vec();
            for (bytes, _) in &elements {
                input.extend_from_slice(bytes);
            }
            input.extend_from_slice(b"+OK\r\n");
            let pairs = elements
                .chunks(2)
                .map(|p| (p[0].1.clone(), p[1].1.clone()))
                .collect();
            assert_every_split_point_gives(&input, &[Frame::Map(pairs), simple("OK")]);
        }
    }
    // A map of scalars only, and an invalid value after a valid key.
    assert_eq!(
        one(b"%2\r\n+a\r\n:1\r\n$1\r\nb\r\n_\r\n"),
        Frame::Map(vec![
            (simple("a"), Frame::Integer(1)),
            (bulk(b"b"), Frame::Null)
        ])
    );
    assert_eq!(
        err(b"%2\r\n+a\r\n:1\r\n+b\r\n?\r\n"),
        syntax(16, Expected::TypeByte, b'?')
    );
}

#[test]
fn bulk_string_split_at_every_byte_decodes() {
    let input = b"$10\r\n0123\r\n6789\r\n";
    for at in 0..=input.len() {
        let (frames, error) = decode_chunks(Limits::default(), [&input[..at], &input[at..]]);
        assert_eq!(error, None);
        assert_eq!(frames, vec![bulk(b"0123\r\n6789")], "split at {at}");
    }
}

#[test]
fn huge_announced_array_does_not_preallocate() {
    let unbudgeted = Limits::default().max_decoded_size(usize::MAX);
    let mut decoder = Decoder::with_limits(unbudgeted);
    let mut buf = BytesMut::from(&b"*4294967295\r\n"[..]);
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert!(buf.is_empty(), "the header is consumed into the decoder");
    let Items::List(items) = &decoder.stack[0].items else {
        panic!("an array level")
    };
    assert!(items.capacity() <= Limits::MAX_PREALLOCATED_ELEMENTS);

    let mut decoder = Decoder::with_limits(unbudgeted);
    let mut buf = BytesMut::from(&b"%4294967295\r\n"[..]);
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    let Items::Pairs { pairs, .. } = &decoder.stack[0].items else {
        panic!("a map level")
    };
    assert!(pairs.capacity() <= Limits::MAX_PREALLOCATED_ELEMENTS);
}

#[test]
fn huge_announced_bulk_waits_without_allocating() {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"$536870912\r\nabc"[..]);
    let capacity_before = buf.capacity();
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert!(buf.capacity() <= capacity_before);
    assert_eq!(&buf[..], b"abc", "only the header is consumed");
}

#[test]
fn partial_bulk_payload_is_not_rescanned_on_every_call() {
    // The pending state remembers the length: feeding the rest in pieces never fails and
    // completes exactly once. The header is consumed once, on the first call, and every later
    // call only compares the buffer's length with the one remembered: the payload (all `\n`
    // here, which a scan for line ends would trip over) is never examined.
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"$100000\r\n"[..]);
    let mut frames = 0;
    for i in 1..=100 {
        buf.extend_from_slice(&[b'\n'; 1000]);
        if decoder.decode(&mut buf).unwrap().is_some() {
            frames += 1;
        }
        assert!(matches!(
            decoder.pending,
            Pending::Bulk {
                kind: b'$',
                len: 100_000
            }
        ));
        assert_eq!(decoder.bytes_consumed(), 9, "the header was parsed again");
        assert_eq!(buf.len(), 1000 * i);
    }
    assert_eq!(frames, 0);
    buf.extend_from_slice(b"\r\n");
    let frame = decoder.decode(&mut buf).unwrap().unwrap();
    assert_eq!(frame.as_bytes().unwrap().len(), 100_000);
}

#[test]
fn long_line_trickling_in_is_searched_once() {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"+"[..]);
    for _ in 0..1000 {
        buf.extend_from_slice(b"abcdefgh");
        assert_eq!(decoder.decode(&mut buf).unwrap(), None);
        assert_eq!(decoder.scanned, buf.len());
    }
    buf.extend_from_slice(b"\r");
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    buf.extend_from_slice(b"\n");
    assert_eq!(
        decoder
            .decode(&mut buf)
            .unwrap()
            .unwrap()
            .as_bytes()
            .unwrap()
            .len(),
        8000
    );
}

#[test]
fn partial_input_is_not_an_error_at_any_point() {
    for input in [MIXED_STREAM, b"*?\r\n%?\r\n|1\r\n+a\r\n"] {
        for end in 0..input.len() {
            let (_, error) = decode_chunks(Limits::default(), [&input[..end]]);
            assert_eq!(error, None, "prefix of {end} bytes");
        }
    }
}

/// `pending_payload` says how many bytes from the buffer's front the payload in progress
/// still needs, wherever the bulk is (top level, inside an aggregate, a streamed chunk), and
/// nothing once it is complete or when the decoder waits for a line.
#[test]
fn pending_payload_is_the_rest_of_the_payload_in_progress() {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"$10\r\n0123"[..]);
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert_eq!(decoder.pending_payload(), Some(12));
    assert_eq!(&buf[..], b"0123");
    buf.extend_from_slice(b"456789\r");
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert_eq!(decoder.pending_payload(), Some(12));
    buf.extend_from_slice(b"\n*2\r\n:1\r\n!5\r\nE");
    assert_eq!(decoder.decode(&mut buf).unwrap(), Some(bulk(b"0123456789")));
    assert_eq!(decoder.pending_payload(), None);
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert_eq!(
        decoder.pending_payload(),
        Some(7),
        "a bulk error inside an array"
    );
    buf.extend_from_slice(b"RROR\r\n$?\r\n;4\r\nab");
    assert_eq!(
        decoder.decode(&mut buf).unwrap(),
        Some(Frame::Array(vec![
            Frame::Integer(1),
            Frame::BulkError("ERROR".into())
        ]))
    );
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert_eq!(decoder.pending_payload(), Some(6), "a streamed chunk");
    buf.extend_from_slice(b"cd\r\n;0\r\n+O");
    assert_eq!(decoder.decode(&mut buf).unwrap(), Some(bulk(b"abcd")));
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert_eq!(
        decoder.pending_payload(),
        None,
        "a line has no announced size"
    );
}
