//! The specialised parsers against their references: integers and lengths of every digit
//! count, exact doubles against `str::parse`, big numbers, and the word-at-a-time line-end
//! finder against a byte loop.

use super::*;

#[test]
fn integers_and_lengths_of_every_digit_count_decode_exactly() {
    // The eight-bytes-at-a-time path handles 1 to 7 digits with 8 bytes readable, 8 to 15
    // with 16 readable and 16 to 19 with 24; the rest take the byte loop. All must agree, whatever follows the
    // line, at the top level and inside an aggregate.
    let mut values: Vec<i64> = vec![0, 1, 9, 10, i64::MAX, i64::MIN, -1];
    let mut p = 1i64;
    for _ in 0..18 {
        p *= 10;
        values.extend([p - 1, p, p + 1, -(p - 1), -p, p / 3 * 2 + 7]);
    }
    for v in values {
        for tail in [
            &b""[..],
            b"+OK\r\n",
            b":1\r\n:2\r\n",
            b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n",
        ] {
            let mut input = format!(":{v}\r\n").into_bytes();
            input.extend_from_slice(tail);
            let mut buf = BytesMut::from(&input[..]);
            assert_eq!(
                Decoder::new().decode(&mut buf).unwrap(),
                Some(Frame::Integer(v))
            );
            assert_eq!(&buf[..], tail);
            let mut input = format!("*2\r\n:{v}\r\n:{v}\r\n").into_bytes();
            input.extend_from_slice(tail);
            let mut buf = BytesMut::from(&input[..]);
            assert_eq!(
                Decoder::new().decode(&mut buf).unwrap(),
                Some(Frame::Array(vec![Frame::Integer(v), Frame::Integer(v)]))
            );
            assert_eq!(&buf[..], tail);
            if v >= 0 {
                let body = vec![b'x'; (v % 300) as usize];
                let mut input = format!("*1\r\n${}\r\n", body.len()).into_bytes();
                input.extend_from_slice(&body);
                input.extend_from_slice(b"\r\n");
                input.extend_from_slice(tail);
                let mut buf = BytesMut::from(&input[..]);
                let want = Frame::Array(vec![bulk(&body)]);
                assert_eq!(Decoder::new().decode(&mut buf).unwrap(), Some(want));
            }
        }
    }
    // Digit runs that end in something other than CRLF are errors on both paths.
    for bad in [
        &b":12x4567\r\n:1\r\n"[..],
        b":1234567\n:1\r\n",
        b":12345678x\r\n:1\r\n:1\r\n",
        b":123456789012\n:1\r\n:1\r\n",
        b":123456789012\r:1\r\n:1\r\n",
        b"$12 \r\nab\r\n:1\r\n",
    ] {
        assert!(
            Decoder::new().decode(&mut BytesMut::from(bad)).is_err(),
            "{bad:?}"
        );
    }
}

/// The reference the fast paths must agree with: the grammar check `parse_double` makes before
/// `str::parse`, then `str::parse` itself.
fn double_by_std(line: &[u8]) -> Option<f64> {
    let body = line
        .strip_prefix(b"-")
        .or(line.strip_prefix(b"+"))
        .unwrap_or(line);
    if !body.first()?.is_ascii_digit() {
        return None;
    }
    std::str::from_utf8(line).ok()?.parse().ok()
}

#[test]
fn exact_decimal_doubles_match_std_at_the_edges_of_the_fast_path() {
    let cases: &[&[u8]] = &[
        b"0",
        b"-0",
        b"+0",
        b"-0.0",
        b"9007199254740991",  // 2^53 - 1: the largest exact mantissa
        b"9007199254740992",  // 2^53: left to str::parse
        b"9007199254740993",  // rounds to even
        b"900719925474099.1", // 16 digits, fraction
        b"0.1",
        b"0.3",
        b"-35733.11161048209", // the shape servers send (shortest round trip)
        b"480186.41421343887", // 17 digits: past the fast path
        b"1.0000000000000000000001", // 22 fraction digits, mantissa too big
        b"0.0000000000000000000001", // 22 fraction digits
        b"0.00000000000000000000001", // 23: left to str::parse
        b"1.",
        b"1.5e3",
        b"00012.50",
        b"123456789012345678901234567890",
    ];
    for &line in cases {
        let ours = parse_double(line).map(f64::to_bits);
        assert_eq!(
            ours,
            double_by_std(line).map(f64::to_bits),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
}

/// Doubles of 17 to 19 significant digits (Redis 7.0 writes `%.17g`) take `nearest_quotient`
/// when the mantissa passes 2^53; it must agree with `str::parse` bit for bit, ties and binade
/// edges included.
#[test]
fn long_mantissa_doubles_match_std() {
    let mut cases: Vec<String> = [
        "4503599627370496.5",  // a tie between 2^52 and 2^52 + 1: to even
        "4503599627370497.5",  // a tie: to even, upwards
        "2251799813685248.25", // ties at 2^51, where the ulp is a half
        "2251799813685248.75",
        "4503599627370495.75", // a tie just below 2^52, where the gap below halves
        "4503599627370495.5",
        "4503599627370495.9", // just below 2^52: rounds up to it
        "4503599627370495.74",
        "4503599627370495.76",
        "9007199254740991.9", // rounds up to 2^53: past the quotient's range
        "0.10000000000000001",
        "0.30000000000000004",
        "3.1400000000000001",
        "1844674407370955161.5", // nineteen digits
        "9.999999999999999999",
        "0.0000000000000000001",
        "18446744073709551615", // twenty digits without a point: left to str::parse
        "1.8446744073709551615",
    ]
    .map(String::from)
    .to_vec();
    // Random doubles written with 17 significant digits, and random digit strings of 17 to 19
    // digits with the point anywhere.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for _ in 0..100_000 {
        let magnitude = 10f64.powi((next() % 24) as i32 - 8);
        let x = (next() >> 11) as f64 / (1u64 << 53) as f64 * magnitude;
        let int_digits = format!("{x:.0}").len();
        let places = 17usize.saturating_sub(int_digits).max(1);
        cases.push(format!("{x:.places$}"));
        let total = 17 + (next() % 3) as usize;
        let digits: String = (0..total)
            .map(|_| char::from(b'0' + (next() % 10) as u8))
            .collect();
        let point = 1 + (next() as usize % (total - 1));
        cases.push(format!("{}.{}", &digits[..point], &digits[point..]));
    }
    for case in &cases {
        for line in [case.clone(), format!("-{case}")] {
            assert_eq!(
                parse_double(line.as_bytes()).map(f64::to_bits),
                double_by_std(line.as_bytes()).map(f64::to_bits),
                "{line}"
            );
        }
    }
    // And the fast paths, not `str::parse`, answered nearly all of them.
    let fast = cases
        .iter()
        .filter(|c| exact_decimal(c.as_bytes()).is_some())
        .count();
    assert!(fast * 100 > cases.len() * 95, "{fast} of {}", cases.len());
}

#[test]
fn big_numbers_need_digits_in_every_byte_of_every_word() {
    assert!(is_big_number(
        b"3492890328409238509324850943850943825024385"
    ));
    assert!(is_big_number(b"-12345678"));
    assert!(is_big_number(b"+1234567890123456"));
    assert!(!is_big_number(b""));
    assert!(!is_big_number(b"-"));
    // One bad byte at every position of a 17-byte number, with the neighbours of `0`-`9`.
    for at in 0..17 {
        for bad in [b'/', b':', b' ', 0x00, 0xFF, 0x3F, 0xB0, b'a'] {
            let mut line = [b'7'; 17];
            line[at] = bad;
            assert!(!is_big_number(&line), "{at} {bad:#x}");
        }
    }
}

proptest::proptest! {
    #[test]
    fn doubles_decode_as_std_parses_them(
        sign in proptest::sample::select(vec!["", "-", "+"]),
        int in "[0-9]{1,20}",
        fraction in proptest::option::of("[0-9]{0,25}"),
        exponent in proptest::option::of("[eE][+-]?[0-9]{1,3}"),
    ) {
        let mut line = format!("{sign}{int}");
        if let Some(f) = fraction {
            line.push('.');
            line.push_str(&f);
        }
        if let Some(e) = exponent {
            line.push_str(&e);
        }
        proptest::prop_assert_eq!(
            parse_double(line.as_bytes()).map(f64::to_bits),
            double_by_std(line.as_bytes()).map(f64::to_bits),
            "{}", line
        );
    }

    #[test]
    fn big_numbers_are_exactly_signed_digit_strings(
        line in proptest::collection::vec(
            proptest::prop_oneof![
                9 => b'0'..=b'9',
                1 => proptest::prelude::any::<u8>(),
            ],
            0..40,
        ),
    ) {
        let body = line.strip_prefix(b"-").or(line.strip_prefix(b"+")).unwrap_or(&line);
        let expected = !body.is_empty() && body.iter().all(u8::is_ascii_digit);
        proptest::prop_assert_eq!(is_big_number(&line), expected);
    }
}

proptest::proptest! {
    #[test]
    fn line_ends_found_by_words_agree_with_the_byte_loop(
        line in proptest::collection::vec(
            proptest::prop_oneof![
                8 => b'0'..=b'9',
                1 => proptest::sample::select(vec![b'\r', b'\n', 0x0C, 0x0E, 0x8D, 0x00]),
            ],
            0..48,
        ),
    ) {
        proptest::prop_assert_eq!(short_line_end(&line), line_end_by_bytes(&line));
    }
}

#[test]
fn line_ends_found_by_words_at_every_position() {
    for len in 0..40 {
        for at in 0..len {
            for (a, b) in [
                (b'\r', b'\n'),
                (b'\r', b'x'),
                (b'\n', b'\r'),
                (b'\r', b'\r'),
            ] {
                let mut line = vec![b'5'; len];
                line[at] = a;
                if at + 1 < len {
                    line[at + 1] = b;
                }
                assert_eq!(
                    short_line_end(&line),
                    line_end_by_bytes(&line),
                    "{len} {at} {a} {b}"
                );
            }
        }
    }
}

/// The byte-at-a-time reference for [`short_line_end`].
fn line_end_by_bytes(src: &[u8]) -> Option<usize> {
    let n = src.len().min(32);
    let mut i = 1;
    while i < n {
        match src[i] {
            b'\r' => return (src.get(i + 1) == Some(&b'\n')).then_some(i),
            b'\n' => return None,
            _ => i += 1,
        }
    }
    None
}
