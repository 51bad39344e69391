//! Times in records: ISO 8601 UTC with milliseconds, as `build_record`
//! writes them, and calendar dates for filters. (The `time` crate is built
//! without its parser here, so the one format we read is parsed by hand.)

use rand_core::{OsRng, RngCore};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// `2023-09-29T18:57:42.028Z`.
pub(crate) fn iso_millis(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

pub(crate) fn now_iso() -> String {
    iso_millis(OffsetDateTime::now_utc())
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `YYYY-MM-DD`.
pub(crate) fn parse_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || !s.is_ascii() || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = i32::try_from(digits(&s[0..4])?).ok()?;
    let month = Month::try_from(u8::try_from(digits(&s[5..7])?).ok()?).ok()?;
    let day = u8::try_from(digits(&s[8..10])?).ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`, the RFC 3339 subset
/// records use. `None` for anything else.
pub(crate) fn parse_iso(s: &str) -> Option<OffsetDateTime> {
    // ASCII only, so that every slice below is on a char boundary.
    if s.len() < 20 || !s.is_ascii() {
        return None;
    }
    let date = parse_date(&s[..10])?;
    let b = s.as_bytes();
    if !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let hour = u8::try_from(digits(&s[11..13])?).ok()?;
    let minute = u8::try_from(digits(&s[14..16])?).ok()?;
    let second = u8::try_from(digits(&s[17..19])?).ok()?;
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let end = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        if end == 0 {
            return None;
        }
        // Keep up to nanoseconds, padded.
        let mut ns = frac[..end.min(9)].to_owned();
        while ns.len() < 9 {
            ns.push('0');
        }
        nanos = digits(&ns)?;
        rest = &frac[end..];
    }
    let offset = match rest {
        "Z" | "z" => UtcOffset::UTC,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || !matches!(rb[0], b'+' | b'-') || rb[3] != b':' {
                return None;
            }
            let h = i8::try_from(digits(&rest[1..3])?).ok()?;
            let m = i8::try_from(digits(&rest[4..6])?).ok()?;
            let sign = if rb[0] == b'-' { -1 } else { 1 };
            UtcOffset::from_hms(sign * h, sign * m, 0).ok()?
        }
    };
    let time = Time::from_hms_nano(hour, minute, second, nanos).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_offset(offset))
}

/// A Verifik-style 5-character record id.
pub(crate) fn short_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut b = [0u8; 5];
    OsRng.fill_bytes(&mut b);
    b.iter()
        .map(|x| ALPHABET[usize::from(*x) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_writes_and_offsets() {
        let t = time::macros::datetime!(2023-09-29 18:57:42.028 UTC);
        assert_eq!(iso_millis(t), "2023-09-29T18:57:42.028Z");
        assert_eq!(parse_iso("2023-09-29T18:57:42.028Z"), Some(t));
        assert_eq!(parse_iso("2023-09-29T20:57:42.028+02:00"), Some(t));
        assert_eq!(
            parse_iso("2023-09-29T18:57:42.028000001Z").map(|x| x > t),
            Some(true)
        );
        assert_eq!(
            parse_iso("2023-09-29T18:57:42Z"),
            Some(time::macros::datetime!(2023-09-29 18:57:42 UTC))
        );
        for bad in [
            "",
            "2023-09-29",
            "2023-13-29T18:57:42Z",
            "2023-02-30T18:57:42Z",
            "2023-09-29T25:57:42Z",
            "2023-09-29T18:57:42.Z",
            "2023-09-29T18:57:42",
            "2023-09-29T18:57:42+0200",
            "September 29, 2023 6:57 PM",
            "2023-09-29T18:57:42.028Zé",
        ] {
            assert_eq!(parse_iso(bad), None, "{bad}");
        }
        assert_eq!(
            parse_date("2024-02-29"),
            Some(time::macros::date!(2024 - 02 - 29))
        );
        for bad in [
            "2023-02-29",
            "2024-2-29",
            "20240229",
            "2024-02-29x",
            "+024-02-29",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert_eq!(short_id().len(), 5);
    }
}
