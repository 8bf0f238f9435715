//! The RESP3 types: scalars (doubles, booleans, nulls, big numbers), maps, sets, pushes,
//! attributes, and the streamed forms of strings and aggregates.

use super::*;

#[test]
fn every_resp3_scalar_type_decodes() {
    let cases: Vec<(&[u8], Frame)> = vec![
        (b"_\r\n", Frame::Null),
        (b"#t\r\n", Frame::Boolean(true)),
        (b"#f\r\n", Frame::Boolean(false)),
        (b",3.25\r\n", Frame::Double(3.25)),
        (b",-2.5\r\n", Frame::Double(-2.5)),
        (b",+2.5\r\n", Frame::Double(2.5)),
        (b",10\r\n", Frame::Double(10.0)),
        (b",0\r\n", Frame::Double(0.0)),
        (
            b"(3492890328409238509324850943850943825024385\r\n",
            Frame::BigNumber("3492890328409238509324850943850943825024385".into()),
        ),
        (b"(-1\r\n", Frame::BigNumber("-1".into())),
        (b"(+7\r\n", Frame::BigNumber("+7".into())),
        (
            b"!21\r\nSYNTAX invalid syntax\r\n",
            Frame::BulkError("SYNTAX invalid syntax".into()),
        ),
        (
            b"=15\r\ntxt:Some string\r\n",
            Frame::VerbatimString(Verbatim::new(*b"txt", b"Some string")),
        ),
        (
            b"=4\r\nmkd:\r\n",
            Frame::VerbatimString(Verbatim::new(*b"mkd", b"")),
        ),
    ];
    assert_decodes(&cases);
}

#[test]
fn doubles_accept_infinities_nan_and_exponents() {
    let cases: &[(&[u8], f64)] = &[
        (b",inf\r\n", f64::INFINITY),
        (b",+inf\r\n", f64::INFINITY),
        (b",-inf\r\n", f64::NEG_INFINITY),
        (b",1e10\r\n", 1e10),
        (b",1E10\r\n", 1e10),
        (b",1.5e-3\r\n", 1.5e-3),
        (b",-1.5E+300\r\n", -1.5e300),
        (b",2.2250738585072014e-308\r\n", f64::MIN_POSITIVE),
    ];
    for &(input, value) in cases {
        let Frame::Double(d) = one(input) else {
            panic!("not a double")
        };
        assert_eq!(
            d.to_bits(),
            value.to_bits(),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    for nan in [&b",nan\r\n"[..], b",-nan\r\n"] {
        let Frame::Double(d) = one(nan) else {
            panic!("not a double")
        };
        assert!(d.is_nan());
    }
}

#[test]
fn every_resp3_aggregate_type_decodes() {
    let cases: Vec<(&[u8], Frame)> = vec![
        (
            b"%2\r\n+a\r\n:1\r\n$1\r\nb\r\n#t\r\n",
            Frame::Map(vec![
                (simple("a"), Frame::Integer(1)),
                (bulk(b"b"), Frame::Boolean(true)),
            ]),
        ),
        (
            b"~3\r\n:1\r\n:2\r\n:1\r\n",
            Frame::Set(vec![
                Frame::Integer(1),
                Frame::Integer(2),
                Frame::Integer(1),
            ]),
        ),
        (
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
            Frame::Push(vec![bulk(b"message"), bulk(b"ch"), bulk(b"hi")]),
        ),
        (
            b"%1\r\n*1\r\n:1\r\n%1\r\n_\r\n~0\r\n",
            Frame::Map(vec![(
                Frame::Array(vec![Frame::Integer(1)]),
                Frame::Map(vec![(Frame::Null, Frame::Set(vec![]))]),
            )]),
        ),
    ];
    assert_decodes(&cases);
}

#[test]
fn streamed_string_chunks_join_into_one_bulk_string() {
    assert_eq!(
        one(b"$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n"),
        bulk(b"Hello word")
    );
    assert_eq!(one(b"$?\r\n;0\r\n"), bulk(b""));
    // Chunk payloads are length-prefixed too: CR, LF and non-UTF-8 are data.
    assert_eq!(one(b"$?\r\n;3\r\n\r\n\xff\r\n;0\r\n"), bulk(b"\r\n\xff"));
}

#[test]
fn streamed_aggregates_end_at_dot() {
    let cases: Vec<(&[u8], Frame)> = vec![
        (
            b"*?\r\n:1\r\n:2\r\n.\r\n",
            Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)]),
        ),
        (
            b"%?\r\n+a\r\n:1\r\n+b\r\n:2\r\n.\r\n",
            Frame::Map(vec![
                (simple("a"), Frame::Integer(1)),
                (simple("b"), Frame::Integer(2)),
            ]),
        ),
        (b"~?\r\n+x\r\n.\r\n", Frame::Set(vec![simple("x")])),
        (b">?\r\n+x\r\n.\r\n", Frame::Push(vec![simple("x")])),
        // Nested streamed aggregates: each `.` closes the innermost one.
        (
            b"*?\r\n*?\r\n:1\r\n.\r\n*1\r\n$?\r\n;1\r\na\r\n;0\r\n.\r\n",
            Frame::Array(vec![
                Frame::Array(vec![Frame::Integer(1)]),
                Frame::Array(vec![bulk(b"a")]),
            ]),
        ),
    ];
    assert_decodes(&cases);
}

#[test]
fn top_level_attribute_is_kept_with_its_reply() {
    assert_eq!(
        one(b"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2039\r\n:9543\r\n"),
        Frame::Attribute {
            attributes: vec![(
                simple("key-popularity"),
                Frame::Map(vec![(bulk(b"a"), Frame::Double(0.19))]),
            )],
            data: Box::new(Frame::Array(vec![
                Frame::Integer(2039),
                Frame::Integer(9543)
            ])),
        }
    );
}

#[test]
fn attribute_inside_an_array_element_is_kept_with_that_element() {
    assert_eq!(
        one(b"*2\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n"),
        Frame::Array(vec![
            Frame::Integer(1),
            Frame::Attribute {
                attributes: vec![(simple("ttl"), Frame::Integer(3600))],
                data: Box::new(bulk(b"v")),
            },
        ])
    );
    // Also inside a streamed aggregate, and stacked attributes nest.
    assert_eq!(
        one(b"*?\r\n|1\r\n+a\r\n+b\r\n|0\r\n:1\r\n.\r\n"),
        Frame::Array(vec![Frame::Attribute {
            attributes: vec![(simple("a"), simple("b"))],
            data: Box::new(Frame::Attribute {
                attributes: vec![],
                data: Box::new(Frame::Integer(1)),
            }),
        }])
    );
}
