//! Every [`Limits`] bound is enforced, on every path and however the input is split.

use super::*;

#[test]
fn bulk_length_limit_is_enforced() {
    let limits = Limits::default().max_bulk_len(10);
    assert_eq!(
        one_with(limits, b"$10\r\n0123456789\r\n"),
        bulk(b"0123456789")
    );
    assert_eq!(
        err_with(limits, b"$11\r\n"),
        limit(0, LimitKind::BulkLen, 11, 10)
    );
    assert_eq!(
        err_with(limits, b"+OK\r\n!11\r\n"),
        limit(5, LimitKind::BulkLen, 11, 10)
    );
    assert_eq!(
        err_with(limits, b"=11\r\n"),
        limit(0, LimitKind::BulkLen, 11, 10)
    );
    // Redis's default: 512 MiB.
    assert_eq!(
        err(b"$536870913\r\n"),
        limit(0, LimitKind::BulkLen, 536_870_913, 512 << 20)
    );
}

#[test]
fn streamed_string_total_counts_against_the_bulk_limit() {
    let limits = Limits::default().max_bulk_len(10);
    assert_eq!(
        one_with(limits, b"$?\r\n;5\r\n01234\r\n;5\r\n56789\r\n;0\r\n"),
        bulk(b"0123456789")
    );
    assert_eq!(
        err_with(limits, b"$?\r\n;5\r\n01234\r\n;6\r\n"),
        limit(15, LimitKind::BulkLen, 11, 10)
    );
}

#[test]
fn aggregate_length_limit_is_enforced() {
    let limits = Limits::default().max_aggregate_len(2);
    assert_eq!(
        one_with(limits, b"%2\r\n:1\r\n:2\r\n:3\r\n:4\r\n"),
        Frame::Map(vec![
            (Frame::Integer(1), Frame::Integer(2)),
            (Frame::Integer(3), Frame::Integer(4)),
        ])
    );
    for ty in [b'*', b'%', b'~', b'>', b'|'] {
        let input = [ty, b'3', b'\r', b'\n'];
        assert_eq!(
            err_with(limits, &input),
            limit(0, LimitKind::AggregateLen, 3, 2),
            "{}",
            ty as char
        );
    }
}

#[test]
fn streamed_aggregate_is_counted_as_elements_arrive() {
    let limits = Limits::default().max_aggregate_len(2);
    assert_eq!(
        one_with(limits, b"*?\r\n:1\r\n:2\r\n.\r\n"),
        Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)])
    );
    assert_eq!(
        err_with(limits, b"*?\r\n:1\r\n:2\r\n:3\r\n"),
        limit(16, LimitKind::AggregateLen, 3, 2)
    );
    assert_eq!(
        err_with(limits, b"%?\r\n:1\r\n:2\r\n:3\r\n:4\r\n:5\r\n"),
        limit(24, LimitKind::AggregateLen, 3, 2)
    );
}

#[test]
fn line_length_limit_is_enforced() {
    let limits = Limits::default().max_line_len(8);
    assert_eq!(one_with(limits, b"+12345678\r\n"), simple("12345678"));
    assert_eq!(
        err_with(limits, b"+123456789\r\n"),
        limit(0, LimitKind::LineLen, 9, 8)
    );
    // A line that never ends fails as soon as it is too long, without waiting for `\r\n`.
    let (_, error) = decode_chunks(limits, [&b"-1234"[..], b"56789"]);
    assert_eq!(error, Some(limit(0, LimitKind::LineLen, 9, 8)));
    let (_, error) = decode_chunks(limits, [&b":0000"[..], b"000000"]);
    assert!(matches!(
        error,
        Some(DecodeError::LimitExceeded {
            limit: LimitKind::LineLen,
            ..
        })
    ));
    let (_, error) = decode_chunks(limits, [&b"*0000"[..], b"000000"]);
    assert!(matches!(
        error,
        Some(DecodeError::LimitExceeded {
            limit: LimitKind::LineLen,
            ..
        })
    ));
    assert_eq!(
        err_with(limits, b",1234567890\r\n"),
        limit(0, LimitKind::LineLen, 10, 8)
    );
}

#[test]
fn default_line_limit_stops_an_endless_line() {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"+"[..]);
    let chunk = [b'a'; 4096];
    let error = loop {
        buf.extend_from_slice(&chunk);
        match decoder.decode(&mut buf) {
            Ok(None) => assert!(buf.len() < 128 * 1024),
            Ok(Some(_)) => panic!("no frame expected"),
            Err(e) => break e,
        }
    };
    assert!(matches!(
        error,
        DecodeError::LimitExceeded {
            limit: LimitKind::LineLen,
            max: 65536,
            ..
        }
    ));
}

#[test]
fn depth_limit_is_enforced() {
    let limits = Limits::default().max_depth(2);
    assert_eq!(
        one_with(limits, b"*1\r\n*1\r\n:1\r\n"),
        Frame::Array(vec![Frame::Array(vec![Frame::Integer(1)])])
    );
    assert_eq!(
        err_with(limits, b"*1\r\n*1\r\n*1\r\n:1\r\n"),
        DecodeError::TooDeep { offset: 8, max: 2 }
    );
    // Attributes count as a level, as do empty and streamed aggregates.
    assert_eq!(
        err_with(limits, b"*1\r\n|1\r\n*0\r\n"),
        DecodeError::TooDeep { offset: 8, max: 2 }
    );
    assert_eq!(
        err_with(limits, b"*?\r\n~?\r\n%0\r\n"),
        DecodeError::TooDeep { offset: 8, max: 2 }
    );
}

/// Arrays nested in arrays are opened by the fast lane rather than by `step`: the same limits,
/// offsets and special cases must hold there as at the top level.
#[test]
fn array_headers_obey_every_limit_at_the_top_and_nested() {
    assert_eq!(
        err_with(Limits::default().max_depth(0), b"*1\r\n:1\r\n"),
        DecodeError::TooDeep { offset: 0, max: 0 }
    );
    assert_eq!(
        err_with(
            Limits::default().max_aggregate_len(2),
            b"*3\r\n:1\r\n:2\r\n:3\r\n"
        ),
        limit(0, LimitKind::AggregateLen, 3, 2)
    );
    assert_eq!(
        err_with(Limits::default().max_line_len(8), b"*000000001\r\n:1\r\n"),
        limit(0, LimitKind::LineLen, 9, 8)
    );
    assert_eq!(
        one_with(Limits::default().max_line_len(8), b"*00000001\r\n:1\r\n"),
        Frame::Array(vec![Frame::Integer(1)])
    );
    let count = Limits::default().max_aggregate_len(2);
    assert_eq!(
        err_with(count, b"*1\r\n*3\r\n:1\r\n:2\r\n:3\r\n"),
        limit(4, LimitKind::AggregateLen, 3, 2)
    );
    let line = Limits::default().max_line_len(8);
    assert_eq!(
        err_with(line, b"*1\r\n*000000001\r\n:1\r\n"),
        limit(4, LimitKind::LineLen, 9, 8)
    );
    assert_eq!(
        one_with(line, b"*1\r\n*00000001\r\n:1\r\n"),
        Frame::Array(vec![Frame::Array(vec![Frame::Integer(1)])])
    );
    let depth = Limits::default().max_depth(3);
    assert_eq!(
        err_with(depth, b"*2\r\n:0\r\n*1\r\n*1\r\n*1\r\n:1\r\n"),
        DecodeError::TooDeep { offset: 16, max: 3 }
    );
    // Top-level maps, sets and pushes are opened by the same fast path as arrays, and obey the
    // same limits: a map's count is of pairs.
    for (input, value) in [
        (&b"%3\r\n:1\r\n:2\r\n:3\r\n:4\r\n:5\r\n:6\r\n"[..], 3),
        (b"~3\r\n:1\r\n:2\r\n:3\r\n", 3),
        (b">3\r\n:1\r\n:2\r\n:3\r\n", 3),
    ] {
        assert_eq!(
            err_with(count, input),
            limit(0, LimitKind::AggregateLen, value, 2)
        );
        assert_eq!(
            err_with(Limits::default().max_depth(0), input),
            DecodeError::TooDeep { offset: 0, max: 0 }
        );
    }
    assert_eq!(
        one_with(count, b"%2\r\n:1\r\n:2\r\n:3\r\n:4\r\n"),
        Frame::Map(vec![
            (Frame::Integer(1), Frame::Integer(2)),
            (Frame::Integer(3), Frame::Integer(4))
        ])
    );
    assert_eq!(
        err_with(Limits::default().max_depth(1), b"%1\r\n*1\r\n:1\r\n:2\r\n"),
        DecodeError::TooDeep { offset: 4, max: 1 }
    );
    // Empty, null and long-count arrays, a map and a set among the children.
    let mut input =
        b"*6\r\n*0\r\n*-1\r\n*1\r\n*1\r\n:7\r\n%1\r\n:1\r\n*1\r\n:2\r\n~1\r\n*0\r\n*".to_vec();
    input.extend_from_slice(b"000000000002\r\n+a\r\n+b\r\n");
    assert_eq!(
        one(&input),
        Frame::Array(vec![
            Frame::Array(vec![]),
            Frame::NullArray,
            Frame::Array(vec![Frame::Array(vec![Frame::Integer(7)])]),
            Frame::Map(vec![(
                Frame::Integer(1),
                Frame::Array(vec![Frame::Integer(2)])
            )]),
            Frame::Set(vec![Frame::Array(vec![])]),
            Frame::Array(vec![simple("a"), simple("b")]),
        ])
    );
}

#[test]
fn depth_limit_is_clamped_to_the_ceiling() {
    let limits = Limits::default().max_depth(usize::MAX);
    assert_eq!(limits.depth_limit(), Limits::MAX_DEPTH_CEILING);
}

#[test]
fn deepest_allowed_frame_decodes_and_drops_without_overflowing_the_stack() {
    let depth = Limits::MAX_DEPTH_CEILING;
    let mut input = b"*1\r\n".repeat(depth - 1);
    input.extend_from_slice(b"*0\r\n");
    // Run on a small stack so that recursion proportional to depth would show.
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            let frame = one_with(Limits::default().max_depth(depth), &input);
            let mut buf = BytesMut::new();
            encode_frame(&mut buf, &frame);
            assert_eq!(&buf[..], &input[..]);
            drop(frame);
            let error = err(&b"*1\r\n".repeat(10_000));
            assert_eq!(
                error,
                DecodeError::TooDeep {
                    offset: 512,
                    max: 128
                }
            );
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn number_line_limit_does_not_depend_on_how_the_input_is_split() {
    // Found by the limits property test: a partial number line used to be checked against the
    // line limit while a complete one was not, so splitting changed whether input was valid.
    let limits = Limits::default().max_line_len(2);
    for input in [
        &b":12\r\n"[..],
        b"*12\r\n",
        b"$-1\r\n",
        b"$?\r\n;10\r\n0123456789\r\n;0\r\n",
    ] {
        let whole = decode_chunks(limits, [input]);
        for at in 0..=input.len() {
            let (a, b) = input.split_at(at);
            assert_eq!(decode_chunks(limits, [a, b]), whole, "split at {at}");
        }
    }
    assert_eq!(
        err_with(limits, b":123\r\n"),
        limit(0, LimitKind::LineLen, 3, 2)
    );
    assert_eq!(
        err_with(limits, b"*100\r\n"),
        limit(0, LimitKind::LineLen, 3, 2)
    );
    assert_eq!(
        err_with(limits, b"$?\r\n;100\r\n"),
        limit(4, LimitKind::LineLen, 3, 2)
    );
    // Leading zeros are legal digits but still count.
    assert_eq!(
        err_with(limits, b"$0001\r\n"),
        limit(0, LimitKind::LineLen, 4, 2)
    );
}

#[test]
fn null_inside_an_aggregate_is_held_to_the_line_limit() {
    // The fast lane must check the same limits as the general path: `-1` is a 2-byte line.
    let limits = Limits::default().max_line_len(1);
    for input in [&b"*1\r\n$-1\r\n"[..], b"*2\r\n:1\r\n$-1\r\n", b"$-1\r\n"] {
        let err = Decoder::with_limits(limits)
            .decode(&mut BytesMut::from(input))
            .unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::LimitExceeded {
                    limit: LimitKind::LineLen,
                    ..
                }
            ),
            "{input:?}: {err:?}"
        );
    }
    let mut ok = BytesMut::from(&b"*1\r\n$-1\r\n"[..]);
    let frame = Decoder::with_limits(Limits::default().max_line_len(2)).decode(&mut ok);
    assert_eq!(
        frame.unwrap(),
        Some(Frame::Array(vec![Frame::NullBulkString]))
    );
}
