//! Syntax errors, where they are reported (stream offsets), and that a failed decoder stays
//! failed.

use super::*;

#[test]
fn bare_lf_ending_a_line_is_an_error() {
    assert_eq!(err(b"+OK\n"), syntax(3, Expected::LineEnd, b'\n'));
    assert_eq!(err(b"-ERR\n"), syntax(4, Expected::LineEnd, b'\n'));
    assert_eq!(err(b"_\n"), syntax(1, Expected::LineEnd, b'\n'));
    assert_eq!(err(b":1\n"), syntax(2, Expected::Integer, b'\n'));
    assert_eq!(err(b"$1\n"), syntax(2, Expected::Length, b'\n'));
}

#[test]
fn cr_inside_a_line_is_an_error() {
    assert_eq!(err(b"+O\rK\r\n"), syntax(3, Expected::LineEnd, b'K'));
    assert_eq!(err(b":1\r2\r\n"), syntax(3, Expected::LineEnd, b'2'));
    assert_eq!(err(b"*1\r*\r\n"), syntax(3, Expected::LineEnd, b'*'));
    assert_eq!(err(b"$1\r1\r\n"), syntax(3, Expected::LineEnd, b'1'));
    assert_eq!(err(b",1\rx\r\n"), syntax(3, Expected::LineEnd, b'x'));
}

#[test]
fn wrong_terminator_after_bulk_payload_is_an_error() {
    assert_eq!(err(b"$3\r\nabcXY"), syntax(7, Expected::PayloadEnd, b'X'));
    assert_eq!(err(b"$3\r\nabc\rX"), syntax(8, Expected::PayloadEnd, b'X'));
    assert_eq!(
        err(b"$3\r\nabc\n\r"),
        syntax(7, Expected::PayloadEnd, b'\n')
    );
    assert_eq!(err(b"!1\r\naXX"), syntax(5, Expected::PayloadEnd, b'X'));
    // Also when the payload arrived in a later read than its header.
    let (_, error) = decode_chunks(Limits::default(), [&b"$3\r\n"[..], b"abcd\r\n"]);
    assert_eq!(error, Some(syntax(7, Expected::PayloadEnd, b'd')));
    // And after a streamed string's chunk.
    assert_eq!(
        err(b"$?\r\n;1\r\nab\r\n"),
        syntax(9, Expected::PayloadEnd, b'b')
    );
}

#[test]
fn lengths_reject_signs_spaces_empty_and_overflow() {
    let cases: &[(&[u8], DecodeError)] = &[
        (b"$+3\r\nabc\r\n", syntax(1, Expected::Length, b'+')),
        (b"$ 3\r\nabc\r\n", syntax(1, Expected::Length, b' ')),
        (b"$3 \r\nabc\r\n", syntax(2, Expected::Length, b' ')),
        (b"$\r\n", syntax(1, Expected::Length, b'\r')),
        (b"*\r\n", syntax(1, Expected::Length, b'\r')),
        (b"$-2\r\n", syntax(2, Expected::Length, b'2')),
        (b"$-\r\n", syntax(2, Expected::Length, b'\r')),
        (b"*-10\r\n", syntax(3, Expected::LineEnd, b'0')),
        (b"$1x\r\n", syntax(2, Expected::Length, b'x')),
        (b"*??\r\n", syntax(2, Expected::LineEnd, b'?')),
        (
            b"*99999999999999999999\r\n",
            syntax(20, Expected::Length, b'9'),
        ),
        // Only `$` and `*` have a RESP2 null, and `|` cannot be streamed.
        (b"%-1\r\n", syntax(1, Expected::Length, b'-')),
        (b"!-1\r\n", syntax(1, Expected::Length, b'-')),
        (b"=?\r\n", syntax(1, Expected::Length, b'?')),
        (b"|?\r\n", syntax(1, Expected::Length, b'?')),
    ];
    assert_rejects(cases);
}

#[test]
fn bulk_lengths_of_every_digit_count_decode_at_the_top_and_in_arrays() {
    // One to three digits take a shortcut past the general length parser; the lengths around
    // its edges must decode the same as longer ones, whole and split anywhere.
    for len in (0..=130).chain([998, 999, 1000, 1001, 1024, 65536]) {
        let payload: Vec<u8> = (0..len).map(|i| b"0123456789\r\n"[i % 12]).collect();
        let mut reply = format!("${len}\r\n").into_bytes();
        reply.extend_from_slice(&payload);
        reply.extend_from_slice(b"\r\n");
        assert_eq!(one(&reply), bulk(&payload), "len {len}");
        let mut array = b"*3\r\n".to_vec();
        array.extend_from_slice(&reply);
        array.extend_from_slice(b":7\r\n");
        array.extend_from_slice(&reply);
        let expected = Frame::Array(vec![bulk(&payload), Frame::Integer(7), bulk(&payload)]);
        assert_eq!(one(&array), expected, "len {len}");
        if len % 17 == 0 || len > 130 {
            let (frames, error) = decode_chunks(Limits::default(), array.chunks(3));
            assert_eq!((frames, error), (vec![expected], None), "len {len}");
        }
    }
    // A leading zero is a digit like any other, as in the general parser.
    assert_eq!(one(b"$05\r\nabcde\r\n"), bulk(b"abcde"));
    assert_eq!(one(b"$0005\r\nabcde\r\n"), bulk(b"abcde"));
}

#[test]
fn short_bulk_headers_that_go_wrong_are_errors_at_the_top_and_in_arrays() {
    let cases: &[(&[u8], u64, Expected, u8)] = &[
        (b"$1\rX", 3, Expected::LineEnd, b'X'),
        (b"$12\rX", 4, Expected::LineEnd, b'X'),
        (b"$123\rX", 5, Expected::LineEnd, b'X'),
        (b"$1x2\r\n", 2, Expected::Length, b'x'),
        (b"$12x\r\n", 3, Expected::Length, b'x'),
        (b"$123x\r\n", 4, Expected::Length, b'x'),
        (b"$1\n", 2, Expected::Length, b'\n'),
        (b"$12\n", 3, Expected::Length, b'\n'),
        (b"$2\r\nab\rX", 7, Expected::PayloadEnd, b'X'),
        (b"$12\r\nabcdefghijkl\nX", 17, Expected::PayloadEnd, b'\n'),
    ];
    for &(input, at, expected, found) in cases {
        let shown = String::from_utf8_lossy(input);
        assert_eq!(err(input), syntax(at, expected, found), "{shown:?}");
        let mut nested = b"*2\r\n:1\r\n".to_vec();
        nested.extend_from_slice(input);
        assert_eq!(
            err(&nested),
            syntax(at + 8, expected, found),
            "in an array: {shown:?}"
        );
    }
}

#[test]
fn integers_reject_signs_spaces_empty_and_overflow() {
    let cases: &[(&[u8], DecodeError)] = &[
        (b":+1\r\n", syntax(1, Expected::Integer, b'+')),
        (b": 1\r\n", syntax(1, Expected::Integer, b' ')),
        (b":1 \r\n", syntax(2, Expected::Integer, b' ')),
        (b":\r\n", syntax(1, Expected::Integer, b'\r')),
        (b":-\r\n", syntax(2, Expected::Integer, b'\r')),
        (b":--1\r\n", syntax(2, Expected::Integer, b'-')),
        (b":1.5\r\n", syntax(2, Expected::Integer, b'.')),
        (
            b":9223372036854775808\r\n",
            syntax(19, Expected::Integer, b'8'),
        ),
        (
            b":-9223372036854775809\r\n",
            syntax(20, Expected::Integer, b'9'),
        ),
        (
            b":99999999999999999999\r\n",
            syntax(19, Expected::Integer, b'9'),
        ),
    ];
    assert_rejects(cases);
    // With more bytes behind the line, the word-at-a-time path reads nineteen digits itself:
    // out of range, it must leave them to the loop, which reports the same error.
    let followed: Vec<(Vec<u8>, DecodeError)> = cases
        .iter()
        .map(|(input, e)| ([&input[..], b"+OK\r\n+OK\r\n"].concat(), e.clone()))
        .collect();
    let followed: Vec<(&[u8], DecodeError)> =
        followed.iter().map(|(i, e)| (&i[..], e.clone())).collect();
    assert_rejects(&followed);
}

#[test]
fn malformed_resp3_scalars_are_errors() {
    let cases: &[(&[u8], DecodeError)] = &[
        (b",\r\n", syntax(1, Expected::Double, b'\r')),
        (b",abc\r\n", syntax(1, Expected::Double, b'a')),
        (b",infinity\r\n", syntax(1, Expected::Double, b'i')),
        (b",.5\r\n", syntax(1, Expected::Double, b'.')),
        (b",1.2.3\r\n", syntax(1, Expected::Double, b'1')),
        (b", 1\r\n", syntax(1, Expected::Double, b' ')),
        // A leading digit leaves `str::parse` only its number grammar; all else is rejected.
        (b",1inf\r\n", syntax(1, Expected::Double, b'1')),
        (b",1nan\r\n", syntax(1, Expected::Double, b'1')),
        (b",1e\r\n", syntax(1, Expected::Double, b'1')),
        (b",1e5e5\r\n", syntax(1, Expected::Double, b'1')),
        (b",1_000\r\n", syntax(1, Expected::Double, b'1')),
        (b",0x10\r\n", syntax(1, Expected::Double, b'0')),
        (b",1 \r\n", syntax(1, Expected::Double, b'1')),
        (b",+-1\r\n", syntax(1, Expected::Double, b'+')),
        (b",-\r\n", syntax(1, Expected::Double, b'-')),
        (b",1\xff\r\n", syntax(1, Expected::Double, b'1')),
        (b"#x\r\n", syntax(1, Expected::Boolean, b'x')),
        (b"#\r\n", syntax(1, Expected::Boolean, b'\r')),
        (b"#tt\r\n", syntax(1, Expected::Boolean, b't')),
        (b"_x\r\n", syntax(1, Expected::Null, b'x')),
        (b"(\r\n", syntax(1, Expected::BigNumber, b'\r')),
        (b"(-\r\n", syntax(1, Expected::BigNumber, b'-')),
        (b"(12a\r\n", syntax(1, Expected::BigNumber, b'1')),
        (b"=3\r\ntxt\r\n", syntax(7, Expected::VerbatimFormat, b'\r')),
        (
            b"=5\r\ntxtxy\r\n",
            syntax(7, Expected::VerbatimFormat, b'x'),
        ),
        (b"=0\r\n\r\n", syntax(4, Expected::VerbatimFormat, b'\r')),
    ];
    assert_rejects(cases);
}

#[test]
fn unknown_type_byte_is_an_error() {
    for byte in [b'x', b'A', b'0', b' ', b'\r', b'\n', b';', 0u8, 0xff] {
        let input = [byte, b'\r', b'\n'];
        assert_eq!(err(&input), syntax(0, Expected::TypeByte, byte));
    }
    // Inside an aggregate, at the element's offset.
    assert_eq!(
        err(b"*2\r\n:1\r\n?\r\n"),
        syntax(8, Expected::TypeByte, b'?')
    );
}

#[test]
fn dot_outside_a_streamed_aggregate_is_an_error() {
    assert_eq!(err(b".\r\n"), syntax(0, Expected::TypeByte, b'.'));
    assert_eq!(err(b"*1\r\n.\r\n"), syntax(4, Expected::TypeByte, b'.'));
    // The value an attribute annotates cannot be `.` either.
    assert_eq!(
        err(b"*?\r\n|1\r\n+a\r\n+b\r\n.\r\n"),
        syntax(16, Expected::TypeByte, b'.')
    );
    assert_eq!(err(b"*?\r\n.x\r\n"), syntax(5, Expected::LineEnd, b'x'));
}

#[test]
fn streamed_map_ending_between_key_and_value_is_an_error() {
    assert_eq!(
        err(b"%?\r\n+a\r\n:1\r\n+b\r\n.\r\n"),
        syntax(16, Expected::MapValue, b'.')
    );
}

#[test]
fn streamed_string_chunk_headers_are_strict() {
    assert_eq!(
        err(b"$?\r\n$1\r\na\r\n"),
        syntax(4, Expected::ChunkHeader, b'$')
    );
    assert_eq!(
        err(b"$?\r\n;-1\r\n"),
        syntax(5, Expected::ChunkHeader, b'-')
    );
    assert_eq!(err(b"$?\r\n;?\r\n"), syntax(5, Expected::ChunkHeader, b'?'));
    assert_eq!(err(b"$?\r\n;+1\r\n"), syntax(5, Expected::Length, b'+'));
    assert_eq!(err(b"$?\r\n;\r\n"), syntax(5, Expected::Length, b'\r'));
    assert_eq!(err(b"$?x\r\n"), syntax(2, Expected::LineEnd, b'x'));
}

#[test]
fn decoder_stays_failed_and_returns_the_same_error() {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"+OK\r\n*2\r\n:1\r\nx\r\n"[..]);
    assert_eq!(decoder.decode(&mut buf).unwrap(), Some(simple("OK")));
    let first = decoder.decode(&mut buf).unwrap_err();
    assert_eq!(first, syntax(13, Expected::TypeByte, b'x'));
    assert!(decoder.is_failed());
    assert!(!decoder.is_mid_frame(), "partial state is dropped");
    // Valid input afterwards does not revive it.
    let mut fresh = BytesMut::from(&b"+OK\r\n"[..]);
    assert_eq!(decoder.decode(&mut fresh).unwrap_err(), first);
    assert_eq!(decoder.decode(&mut BytesMut::new()).unwrap_err(), first);
    assert_eq!(&fresh[..], b"+OK\r\n", "a failed decoder consumes nothing");
}

#[test]
fn error_offsets_count_from_the_start_of_the_stream() {
    // Bytes consumed by earlier frames and by earlier calls all count.
    let (frames, error) = decode_chunks(
        Limits::default(),
        [
            &b"+OK\r\n:1\r\n*4\r\n$2\r\nab"[..],
            b"\r\n:2\r\n",
            b"#t\r\n#z\r\n",
        ],
    );
    assert_eq!(frames, vec![simple("OK"), Frame::Integer(1)]);
    assert_eq!(error, Some(syntax(30, Expected::Boolean, b'z')));
    assert_eq!(error.unwrap().offset(), 30);
}

#[test]
fn error_inside_a_pending_bulk_payload_reports_the_stream_offset() {
    let (_, error) = decode_chunks(
        Limits::default(),
        [&b":7\r\n$4\r\n"[..], b"ab", b"cd", b"!!"],
    );
    assert_eq!(error, Some(syntax(12, Expected::PayloadEnd, b'!')));
}
