//! Bearer-token authentication, part of the wire protocol: the remote client sends a token, the
//! server checks one. The token is held in memory only; `Debug` redacts it so that it cannot
//! leak into logs, panics or records by accident, and there is deliberately no `Display` and no
//! `Serialize`.

/// Why a string is not usable as a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is empty")]
    Empty,
    #[error("the token contains spaces or characters that cannot go in an HTTP header")]
    InvalidCharacters,
}

#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl BearerToken {
    /// Trims surrounding whitespace (token files end with a newline); refuses empty tokens and
    /// characters that cannot go in an HTTP header.
    pub fn new(token: &str) -> Result<Self, TokenError> {
        let t = token.trim();
        if t.is_empty() {
            return Err(TokenError::Empty);
        }
        if !t.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(TokenError::InvalidCharacters);
        }
        Ok(Self(t.to_string()))
    }

    /// Compares a presented token with this one in constant time (over SHA-256 digests, so that
    /// neither the content nor the length leaks through timing).
    pub fn matches(&self, presented: &str) -> bool {
        use sha2::{Digest, Sha256};
        use subtle::ConstantTimeEq;
        let a = Sha256::digest(self.0.as_bytes());
        let b = Sha256::digest(presented.as_bytes());
        a.ct_eq(&b).into()
    }

    /// Checks an `Authorization` header value. RFC 9110 section 11.1: the scheme is
    /// case-insensitive and is separated from the credentials by one or more spaces or tabs.
    pub fn matches_header(&self, header: &str) -> bool {
        parse_bearer(header).is_some_and(|t| self.matches(t))
    }

    /// The `Authorization` header value the client sends.
    pub fn header_value(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

/// The credentials of a `Bearer` authorization header, if it is one.
pub fn parse_bearer(header: &str) -> Option<&str> {
    let header = header.trim_matches([' ', '\t']);
    let split = header.find([' ', '\t'])?;
    let (scheme, rest) = header.split_at(split);
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim_start_matches([' ', '\t']);
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_redacted_and_trimmed() {
        let t = BearerToken::new("s3cr3t-token\n").expect("token");
        assert_eq!(format!("{t:?}"), "BearerToken(<redacted>)");
        assert!(t.matches("s3cr3t-token"));
        assert!(!t.matches("s3cr3t-token2"));
        assert_eq!(BearerToken::new("  "), Err(TokenError::Empty));
        assert_eq!(BearerToken::new("a b"), Err(TokenError::InvalidCharacters));
    }

    #[test]
    fn scheme_is_case_insensitive_and_any_whitespace_separates() {
        let t = BearerToken::new("abc").expect("token");
        for ok in [
            "Bearer abc",
            "BEARER abc",
            "bearer\tabc",
            "Bearer   abc",
            " Bearer abc ",
        ] {
            assert!(t.matches_header(ok), "{ok:?}");
        }
        for bad in [
            "Bearer",
            "Bearer ",
            "Basic abc",
            "Bearerabc",
            "Bearer abd",
            "",
        ] {
            assert!(!t.matches_header(bad), "{bad:?}");
        }
    }
}
