//! Reading commands back out of their encoded form.
//!
//! Commands reach the pool as RESP bytes written by an `encode` closure (`*N\r\n$len\r\n...`),
//! so the router parses them again to find the command name and its keys. The input is always
//! this crate's own encoder output, but the parser still checks every length instead of
//! trusting it: a malformed command is reported, never a panic.

use bytes::Bytes;

/// One command of a batch: its whole encoding and its arguments (the name first), all
/// zero-copy slices of the batch buffer.
#[derive(Debug, Clone)]
pub(crate) struct ParsedCommand {
    /// The command's bytes as they go on the wire.
    pub(crate) raw: Bytes,
    /// Its arguments; `args[0]` is the name.
    pub(crate) args: Vec<Bytes>,
}

impl ParsedCommand {
    /// The command name in upper case (`GET`), for table lookups.
    pub(crate) fn name_upper(&self) -> Vec<u8> {
        self.args
            .first()
            .map(|n| n.to_ascii_uppercase())
            .unwrap_or_default()
    }

    /// True when the command is named `name` (given in upper case).
    pub(crate) fn is(&self, name: &[u8]) -> bool {
        self.args
            .first()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    }
}

/// Parses every command in `buf`.
///
/// # Errors
///
/// The byte offset where the input stops being a sequence of arrays of bulk strings.
pub(crate) fn parse_commands(buf: &Bytes) -> Result<Vec<ParsedCommand>, usize> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let n = read_header(buf, &mut pos, b'*')?;
        let mut args = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let len = read_header(buf, &mut pos, b'$')?;
            let end = pos.checked_add(len).ok_or(pos)?;
            if buf.get(end..end + 2) != Some(&b"\r\n"[..]) {
                return Err(pos);
            }
            args.push(buf.slice(pos..end));
            pos = end + 2;
        }
        out.push(ParsedCommand {
            raw: buf.slice(start..pos),
            args,
        });
    }
    Ok(out)
}

/// Reads `<kind><decimal>\r\n` at `*pos`.
fn read_header(buf: &[u8], pos: &mut usize, kind: u8) -> Result<usize, usize> {
    let at = *pos;
    if buf.get(at) != Some(&kind) {
        return Err(at);
    }
    let line_end = buf[at..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|i| at + i)
        .ok_or(at)?;
    let digits = &buf[at + 1..line_end];
    let n = std::str::from_utf8(digits)
        .ok()
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<usize>().ok())
        .ok_or(at)?;
    *pos = line_end + 2;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn parses_what_the_encoder_writes() {
        let mut b = BytesMut::new();
        resp_codec::encode_command(&mut b, &["SET", "k", "v\r\n"]);
        resp_codec::encode_command(&mut b, &["GET", "k"]);
        resp_codec::encode_command(&mut b, &["PING"]);
        let buf = b.freeze();
        let cmds = parse_commands(&buf).unwrap();
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0].args, vec!["SET", "k", "v\r\n"]);
        assert!(cmds[1].is(b"GET") && cmds[1].name_upper() == b"GET");
        assert_eq!(&cmds[2].raw[..], b"*1\r\n$4\r\nPING\r\n");
        let joined: Vec<u8> = cmds.iter().flat_map(|c| c.raw.to_vec()).collect();
        assert_eq!(joined, &buf[..]);
    }

    #[test]
    fn malformed_input_reports_an_offset() {
        for bad in [
            &b"+OK\r\n"[..],
            b"*1\r\n$3\r\nGE",
            b"*1\r\n$3\r\nGETX\r\n",
            b"*1\r\n$-1\r\n",
            b"*x\r\n",
            b"*1",
        ] {
            assert!(
                parse_commands(&Bytes::copy_from_slice(bad)).is_err(),
                "{bad:?}"
            );
        }
        assert!(parse_commands(&Bytes::new()).unwrap().is_empty());
    }
}
