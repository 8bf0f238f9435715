//! The fast paths take only what the state machine would accept the same way, and leave
//! every limit and error to it.

use super::*;

#[test]
fn fast_path_leaves_limits_and_errors_to_the_general_path() {
    // Each input is a complete top-level scalar that the fast path must not accept.
    let tight = Limits::default().max_line_len(1).max_bulk_len(2);
    assert_eq!(
        err_with(tight, b"+OK\r\n"),
        limit(0, LimitKind::LineLen, 2, 1)
    );
    assert_eq!(
        err_with(tight, b":10\r\n"),
        limit(0, LimitKind::LineLen, 2, 1)
    );
    assert_eq!(
        err_with(tight, b"$3\r\nabc\r\n"),
        limit(0, LimitKind::BulkLen, 3, 2)
    );
    assert_eq!(
        err_with(tight, b"$10\r\n"),
        limit(0, LimitKind::LineLen, 2, 1)
    );
    assert_eq!(err(b"+OK\rX"), syntax(4, Expected::LineEnd, b'X'));
    assert_eq!(err(b"$1\r\nabc"), syntax(5, Expected::PayloadEnd, b'b'));
    // The second tier (errors, RESP3 scalars, bulk errors, verbatim strings).
    for input in [&b"-ER\r\n"[..], b",1.5\r\n", b"(12\r\n", b"#tt\r\n"] {
        assert!(
            matches!(
                err_with(tight, input),
                DecodeError::LimitExceeded {
                    limit: LimitKind::LineLen,
                    ..
                }
            ),
            "{input:?}"
        );
    }
    assert_eq!(
        err_with(tight, b"!3\r\nERR\r\n"),
        limit(0, LimitKind::BulkLen, 3, 2)
    );
    // Lines past the 32-byte window of the first search take a second one bounded by the
    // line limit: one byte over it is still the general path's to report.
    let error = format!("-{}\r\n", "E".repeat(40));
    let big = format!("({}\r\n", "7".repeat(40));
    for line in [&error, &big] {
        let at_limit = Limits::default().max_line_len(40);
        let mut buf = BytesMut::from(line.as_bytes());
        let frame = Decoder::with_limits(at_limit).decode(&mut buf).unwrap();
        assert_eq!(frame.map(|f| f.type_byte()), Some(line.as_bytes()[0]));
        assert!(buf.is_empty());
        assert_eq!(
            err_with(Limits::default().max_line_len(39), line.as_bytes()),
            limit(0, LimitKind::LineLen, 40, 39)
        );
    }
    assert_eq!(
        err(b"-a long error line, longer than thirty-two bytes\n"),
        syntax(48, Expected::LineEnd, b'\n')
    );
    // Empty aggregates at the top level: depth and line limits still apply.
    for input in [&b"*0\r\n"[..], b"%0\r\n", b"~0\r\n", b">0\r\n"] {
        assert_eq!(
            err_with(Limits::default().max_depth(0), input),
            DecodeError::TooDeep { offset: 0, max: 0 }
        );
        assert_eq!(
            err_with(Limits::default().max_line_len(0), input),
            limit(0, LimitKind::LineLen, 1, 0)
        );
    }
    assert_eq!(err(b"*0\r*"), syntax(3, Expected::LineEnd, b'*'));
    assert_eq!(err(b"*0x\r\n"), syntax(2, Expected::Length, b'x'));
    assert_eq!(err(b"_x\r\n"), syntax(1, Expected::Null, b'x'));
    assert_eq!(err(b"#x\r\n"), syntax(1, Expected::Boolean, b'x'));
    assert_eq!(err(b",1.5x\r\n"), syntax(1, Expected::Double, b'1'));
    assert_eq!(err(b"(1x\r\n"), syntax(1, Expected::BigNumber, b'1'));
    assert_eq!(
        err(b"=3\r\ntxt\r\n"),
        syntax(7, Expected::VerbatimFormat, b'\r')
    );
    assert_eq!(
        err(b"=5\r\ntxt-x\r\n"),
        syntax(7, Expected::VerbatimFormat, b'-')
    );
    assert_eq!(err(b"!1\r\nEx\r\n"), syntax(5, Expected::PayloadEnd, b'x'));
}

#[test]
fn second_tier_fast_path_matches_the_general_path() {
    // Each reply decoded at the top level (second-tier fast path) and inside an array
    // (general path and lane) must give the same frame and consume the same bytes.
    let replies: [&[u8]; 16] = [
        b"*0\r\n",
        b"%0\r\n",
        b"~0\r\n",
        b">0\r\n",
        b"*3\r\n$2\r\nab\r\n$-1\r\n:7\r\n",
        b"~2\r\n+a\r\n_\r\n",
        b"-ERR unknown command\r\n",
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        b"_\r\n",
        b"#t\r\n",
        b"#f\r\n",
        b",-35733.11161048209\r\n",
        b",inf\r\n",
        b"(-3492890328409238509324850943850943825024385\r\n",
        b"!21\r\nSYNTAX invalid syntax\r\n",
        b"=15\r\ntxt:Some string\r\n",
    ];
    for reply in replies {
        let mut buf = BytesMut::from(reply);
        buf.extend_from_slice(b"+OK\r\n");
        let mut decoder = Decoder::new();
        let top = decoder.decode(&mut buf).unwrap().unwrap();
        assert_eq!(&buf[..], b"+OK\r\n", "{reply:?}");
        assert_eq!(decoder.bytes_consumed(), reply.len() as u64);
        let mut nested = BytesMut::from(&b"*1\r\n"[..]);
        nested.extend_from_slice(reply);
        assert_eq!(
            Decoder::new().decode(&mut nested).unwrap(),
            Some(Frame::Array(vec![top.clone()])),
            "{reply:?}"
        );
        assert!(nested.is_empty());
        let mut encoded = BytesMut::new();
        encode_frame(&mut encoded, &top);
        assert_eq!(&encoded[..], reply, "{top:?}");
    }
}
