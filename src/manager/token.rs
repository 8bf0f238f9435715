//! Random tokens: session ids, lock tokens and the rate limiter's member ids.
//!
//! # Design
//!
//! Session ids and lock tokens are bearer secrets (whoever knows one holds the session or
//! can release the lock), so they come from the operating system's CSPRNG through
//! `getrandom`, and from nowhere else: there is no weaker fallback. Should the OS generator
//! fail (on Linux `getrandom(2)` does not, once the kernel's pool is seeded at boot), the
//! failure is a typed error, [`RandomError`], which each caller turns into its usual
//! fallback through the manager's one fallback place: no session is created (`None`), the
//! lock is not acquired ([`LockError::Random`](super::LockError::Random)), the rate limiter
//! decides by its failure policy. Nothing panics.
//!
//! A token is 128 bits in lower-case hex: 32 characters, as before (and 6 bits more than the
//! seed's `uuid4`).

/// The operating system's random number generator failed, so no secret token could be made.
///
/// See the [`RedisManager`](super::RedisManager) patterns for what each one does then; none
/// falls back to a predictable token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RandomError(#[source] getrandom::Error);

/// A random 128-bit token in lower-case hex (32 characters), from the OS CSPRNG.
pub(crate) fn random_token() -> Result<String, RandomError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(RandomError)?;
    Ok(hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_are_32_lower_case_hex_chars_and_distinct() {
        let tokens: Vec<String> = (0..64).map(|_| random_token().unwrap()).collect();
        for t in &tokens {
            assert_eq!(t.len(), 32);
            assert!(
                t.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
                "{t}"
            );
        }
        let mut unique = tokens.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), tokens.len());
    }

    #[test]
    fn hex_encodes_every_nibble() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }

    #[test]
    fn the_error_names_the_os_generator_and_keeps_its_cause() {
        let e = RandomError(getrandom::Error::UNSUPPORTED);
        assert!(e.to_string().contains("random number generator"));
        assert!(std::error::Error::source(&e).is_some());
    }
}
