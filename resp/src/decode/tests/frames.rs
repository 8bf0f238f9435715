//! Values of every RESP2 type, and how payloads are held: inline when short, slices of the
//! read buffer when long, each frame consuming exactly its bytes.

use super::*;

#[test]
fn every_resp2_type_decodes() {
    let cases: Vec<(&[u8], Frame)> = vec![
        (b"+OK\r\n", simple("OK")),
        (b"+\r\n", simple("")),
        (
            b"-ERR unknown command\r\n",
            Frame::SimpleError("ERR unknown command".into()),
        ),
        (b":0\r\n", Frame::Integer(0)),
        (b":42\r\n", Frame::Integer(42)),
        (b":-42\r\n", Frame::Integer(-42)),
        (b":-0\r\n", Frame::Integer(0)),
        (b":9223372036854775807\r\n", Frame::Integer(i64::MAX)),
        (b":-9223372036854775808\r\n", Frame::Integer(i64::MIN)),
        (b"$5\r\nhello\r\n", bulk(b"hello")),
        (b"$0\r\n\r\n", bulk(b"")),
        // The payload is skipped by length, so CR and LF inside it are data.
        (b"$4\r\n\r\n\r\n\r\n", bulk(b"\r\n\r\n")),
        (b"$-1\r\n", Frame::NullBulkString),
        (b"*-1\r\n", Frame::NullArray),
        (b"*0\r\n", Frame::Array(vec![])),
        (
            b"*3\r\n:1\r\n$3\r\nfoo\r\n+bar\r\n",
            Frame::Array(vec![Frame::Integer(1), bulk(b"foo"), simple("bar")]),
        ),
        (
            b"*2\r\n*1\r\n:1\r\n*0\r\n",
            Frame::Array(vec![
                Frame::Array(vec![Frame::Integer(1)]),
                Frame::Array(vec![]),
            ]),
        ),
        (
            b"*3\r\n$-1\r\n*-1\r\n-E\r\n",
            Frame::Array(vec![
                Frame::NullBulkString,
                Frame::NullArray,
                Frame::SimpleError("E".into()),
            ]),
        ),
    ];
    assert_decodes(&cases);
}

#[test]
fn empty_aggregates_of_every_type_decode() {
    let cases: Vec<(&[u8], Frame)> = vec![
        (b"*0\r\n", Frame::Array(vec![])),
        (b"%0\r\n", Frame::Map(vec![])),
        (b"~0\r\n", Frame::Set(vec![])),
        (b">0\r\n", Frame::Push(vec![])),
        (b"*?\r\n.\r\n", Frame::Array(vec![])),
        (b"%?\r\n.\r\n", Frame::Map(vec![])),
        (b"~?\r\n.\r\n", Frame::Set(vec![])),
        (b">?\r\n.\r\n", Frame::Push(vec![])),
        (
            b"|0\r\n:1\r\n",
            Frame::Attribute {
                attributes: vec![],
                data: Box::new(Frame::Integer(1)),
            },
        ),
    ];
    assert_decodes(&cases);
}

#[test]
fn non_utf8_bytes_are_preserved_in_every_string_type() {
    let cases: Vec<(&[u8], Frame)> = vec![
        (
            b"+\xff\xfe\x00\r\n",
            Frame::SimpleString(Payload::from_static(b"\xff\xfe\x00")),
        ),
        (
            b"-\xc3\x28\r\n",
            Frame::SimpleError(Payload::from_static(b"\xc3\x28")),
        ),
        (b"$3\r\n\xff\x00\x80\r\n", bulk(b"\xff\x00\x80")),
        (
            b"!2\r\n\xfe\xff\r\n",
            Frame::BulkError(Payload::from_static(b"\xfe\xff")),
        ),
        (
            b"=6\r\n\xfftx:\x80\x81\r\n",
            Frame::VerbatimString(Verbatim::new(*b"\xfftx", b"\x80\x81")),
        ),
    ];
    for (input, expected) in cases {
        let frame = one(input);
        assert_eq!(frame, expected);
        assert_eq!(frame.as_str(), None);
    }
}

/// Every string length around the inline capacity, as a status line and as a bulk string, at
/// the top level and inside an array, with the next reply after it (so a whole 24-byte block
/// can be read past a short payload) and as the last bytes of the buffer (so it cannot): the
/// payload is the same either way, inline exactly up to the capacity.
#[test]
fn short_strings_decode_the_same_whether_or_not_a_whole_block_follows() {
    for len in 0..=Payload::INLINE_CAPACITY + 8 {
        let body: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        for ty in [b'+', b'$'] {
            let mut item = Vec::new();
            if ty == b'$' {
                item.extend_from_slice(format!("${len}\r\n").as_bytes());
            } else {
                item.push(b'+');
            }
            item.extend_from_slice(&body);
            item.extend_from_slice(b"\r\n");
            let expected = match ty {
                b'+' => Frame::SimpleString(Payload::copy_from_slice(&body)),
                _ => Frame::BulkString(Payload::copy_from_slice(&body)),
            };
            let mut array = b"*1\r\n".to_vec();
            array.extend_from_slice(&item);
            for (input, nested) in [(&item, false), (&array, true)] {
                for trailing in [&b""[..], &b":1234567890123456789\r\n+OK\r\n"[..]] {
                    let mut buf = BytesMut::from(&input[..]);
                    buf.extend_from_slice(trailing);
                    let frame = Decoder::new().decode(&mut buf).unwrap().unwrap();
                    let got = if nested {
                        let Frame::Array(mut items) = frame else {
                            panic!("not an array")
                        };
                        assert_eq!(items.len(), 1);
                        items.remove(0)
                    } else {
                        frame
                    };
                    let what = format!(
                        "{} len {len} nested {nested} trailing {}",
                        ty as char,
                        trailing.len()
                    );
                    assert_eq!(got, expected, "{what}");
                    let payload = got.as_payload().unwrap();
                    assert_eq!(
                        payload.is_inline(),
                        len <= Payload::INLINE_CAPACITY,
                        "{what}"
                    );
                    assert_eq!(&payload[..], &body[..], "{what}");
                    assert_eq!(buf.len(), trailing.len(), "{what}");
                }
            }
        }
    }
}

#[test]
fn long_payloads_are_slices_of_the_read_buffer_and_short_ones_inline() {
    let long = vec![b'x'; Payload::INLINE_CAPACITY + 1];
    let short = &long[..Payload::INLINE_CAPACITY];
    let mut input = Vec::new();
    for (ty, body) in [
        (b'$', &long[..]),
        (b'$', short),
        (b'!', &long[..]),
        (b'!', short),
    ] {
        input.extend_from_slice(format!("{}{}\r\n", ty as char, body.len()).as_bytes());
        input.extend_from_slice(body);
        input.extend_from_slice(b"\r\n");
    }
    input.extend_from_slice(b"*2\r\n");
    let nested_at = input.len() + 5;
    input.extend_from_slice(format!("${}\r\n", long.len()).as_bytes());
    input.extend_from_slice(&long);
    input.extend_from_slice(b"\r\n$1\r\ny\r\n");
    let mut buf = BytesMut::from(&input[..]);
    let base = buf.as_ptr() as usize;
    let mut decoder = Decoder::new();
    let mut next = || decoder.decode(&mut buf).unwrap().unwrap();
    let at = |p: &Payload| p.as_ptr() as usize - base;
    let (long_bulk, short_bulk) = (next(), next());
    let (long_err, short_err) = (next(), next());
    assert_eq!(at(long_bulk.as_payload().unwrap()), 5);
    assert!(!long_bulk.as_payload().unwrap().is_inline());
    assert!(short_bulk.as_payload().unwrap().is_inline());
    assert_eq!(short_bulk.as_payload().unwrap(), short);
    assert!(!long_err.as_payload().unwrap().is_inline());
    assert!(short_err.as_error().unwrap().is_inline());
    let Frame::Array(items) = next() else {
        panic!("expected an array")
    };
    assert_eq!(at(items[0].as_payload().unwrap()), nested_at);
    assert!(items[1].as_payload().unwrap().is_inline());
}

#[test]
fn consecutive_frames_each_consume_exactly_their_bytes() {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"+OK\r\n:1\r\n$1\r\nx\r\n*1\r\n:2"[..]);
    assert_eq!(decoder.decode(&mut buf).unwrap(), Some(simple("OK")));
    assert_eq!(&buf[..], b":1\r\n$1\r\nx\r\n*1\r\n:2");
    assert_eq!(decoder.decode(&mut buf).unwrap(), Some(Frame::Integer(1)));
    assert_eq!(decoder.decode(&mut buf).unwrap(), Some(bulk(b"x")));
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert!(decoder.is_mid_frame());
    buf.extend_from_slice(b"\r\n");
    assert_eq!(
        decoder.decode(&mut buf).unwrap(),
        Some(Frame::Array(vec![Frame::Integer(2)]))
    );
    assert!(buf.is_empty());
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
}

#[test]
fn status_replies_equal_their_text_at_top_level_and_nested() {
    for text in ["OK", "QUEUED", "PONG", "OKAY", "O"] {
        let wire = format!("+{text}\r\n*1\r\n+{text}\r\n");
        let (frames, error) = decode_chunks(Limits::default(), [wire.as_bytes()]);
        assert_eq!(error, None);
        assert_eq!(frames, vec![simple(text), Frame::Array(vec![simple(text)])]);
        // Short status lines are held inline: no shared buffer kept alive, nothing to release.
        assert!(frames[0].as_payload().unwrap().is_inline(), "{text}");
    }
}
