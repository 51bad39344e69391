//! RFC 8785 JSON Canonicalization Scheme (JCS).
//!
//! Signatures are computed over a canonical byte string so that a record
//! verifies no matter how it was later re-serialised (key order, whitespace,
//! `1.0` vs `1`), and so that any JCS implementation (JavaScript, Python, ...)
//! can re-check a record produced here.

use std::cmp::Ordering;
use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

use super::RecordError;

/// Serialises `v` as RFC 8785 canonical JSON.
///
/// Deviation kept on purpose: integers that serde_json holds as `i64`/`u64`
/// are printed exactly, even beyond 2^53 where a JavaScript implementation
/// would round them through an IEEE double. Every integer within ±2^53 (all
/// that I-JSON allows) prints identically to JCS.
pub fn canonical_json(v: &Value) -> Result<String, RecordError> {
    let mut out = String::new();
    write_value(&mut out, v)?;
    Ok(out)
}

fn write_value(out: &mut String, v: &Value) -> Result<(), RecordError> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item)?;
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map)?,
    }
    Ok(())
}

fn write_object(out: &mut String, map: &Map<String, Value>) -> Result<(), RecordError> {
    // JCS sorts by UTF-16 code units, which differs from Rust's UTF-8 byte
    // order for characters above U+FFFF versus U+E000..U+FFFF.
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| utf16_cmp(a.0, b.0));
    out.push('{');
    for (i, (k, val)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, k);
        out.push(':');
        write_value(out, val)?;
    }
    out.push('}');
    Ok(())
}

fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Escapes exactly as ECMAScript `JSON.stringify` does (RFC 8785 §3.2.2.2).
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0C}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_number(out: &mut String, n: &Number) -> Result<(), RecordError> {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
        return Ok(());
    }
    if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
        return Ok(());
    }
    match n.as_f64() {
        Some(f) if f.is_finite() => {
            write_es_number(out, f);
            Ok(())
        }
        _ => Err(RecordError::UnsupportedNumber(n.to_string())),
    }
}

/// ECMAScript `Number.prototype.toString()` (ECMA-262 Number::toString) for a
/// finite double.
///
/// Rust's `{:e}` formatting yields the shortest digit string that round-trips
/// (the same `k`-minimal digits ECMAScript asks for); only the layout rules
/// differ, and those are applied here.
fn write_es_number(out: &mut String, f: f64) {
    if f == 0.0 {
        // Covers -0 as well: ECMAScript prints both as "0".
        out.push('0');
        return;
    }
    if f < 0.0 {
        out.push('-');
    }
    let (digits, exp) = shortest_digits(f.abs());
    // value = 0.d1d2...dk × 10^n in ECMAScript's notation.
    let k = digits.len() as i32;
    let n = exp + 1;

    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let e = n - 1;
        let (first, rest) = digits.split_at_checked(1).unwrap_or((&digits, ""));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        let _ = write!(out, "{}", e.unsigned_abs());
    }
}

/// Splits Rust's `{:e}` output into (digits without '.', decimal exponent).
fn split_sci(sci: &str) -> (String, i32) {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let digits = mantissa.chars().filter(|c| *c != '.').collect();
    // The text comes from Rust's own formatter, so it always parses; fall
    // back to 0 rather than panic.
    (digits, exp.parse().unwrap_or(0))
}

/// Shortest round-tripping digits of a positive finite `f` and the exponent
/// of the first digit, with ECMAScript's tie rule.
///
/// Rust already returns the shortest digits closest to `f`, but when `f`
/// lies exactly halfway between two shortest candidates it does not pick
/// the even one as ECMA-262 requires (e.g. 1424953923781206.25 must print
/// as ...206.2). Detect that case from the exact expansion and fix it.
fn shortest_digits(f: f64) -> (String, i32) {
    let (digits, exp) = split_sci(&format!("{f:e}"));
    let k = digits.len();
    // 780 fractional digits are more than the 767 significant digits any
    // double can have, so this expansion is exact.
    let (exact, exact_exp) = split_sci(&format!("{f:.780e}"));
    let exact = exact.trim_end_matches('0');
    if exact_exp != exp || exact.len() != k + 1 || !exact.ends_with('5') {
        return (digits, exp);
    }
    // f == (lower + 0.5) units in the last place: `lower` and `lower + 1`
    // are equally close.
    let lower = &exact[..k];
    let Some(upper) = increment_digits(lower) else {
        return (digits, exp);
    };
    let even = |d: &str| matches!(d.bytes().last(), Some(b'0' | b'2' | b'4' | b'6' | b'8'));
    let choice = if even(lower) { lower.to_owned() } else { upper };
    // Only switch if the even candidate really denotes `f`.
    let scaled = exp - (k as i32 - 1);
    let round_trips = format!("{choice}e{scaled}").parse::<f64>().ok() == Some(f);
    if round_trips {
        (choice, exp)
    } else {
        (digits, exp)
    }
}

/// `d + 1` for a decimal digit string, or `None` if it would gain a digit.
fn increment_digits(d: &str) -> Option<String> {
    let mut bytes = d.as_bytes().to_vec();
    for b in bytes.iter_mut().rev() {
        if *b == b'9' {
            *b = b'0';
        } else {
            *b += 1;
            return String::from_utf8(bytes).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: &Value) -> String {
        canonical_json(v).expect("canonicalizes")
    }

    fn num(bits: u64) -> String {
        let f = f64::from_bits(bits);
        let v = Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null);
        canon(&v)
    }

    #[test]
    fn rfc8785_number_vectors() {
        // RFC 8785 Appendix B.
        let cases: &[(u64, &str)] = &[
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for (bits, want) in cases {
            assert_eq!(num(*bits), *want, "bits {bits:#018x}");
        }
    }

    #[test]
    fn number_layouts() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (-1.5, "-1.5"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (1e-6, "0.000001"),
            (0.1, "0.1"),
            (0.92, "0.92"),
            (123.456, "123.456"),
            (4.5, "4.5"),
            (2e-3, "0.002"),
            (1e30, "1e+30"),
            (-0.0, "0"),
        ];
        for (f, want) in cases {
            let v = json!(*f);
            assert_eq!(canon(&v), *want, "{f}");
        }
    }

    #[test]
    fn integers_print_exactly() {
        assert_eq!(canon(&json!(0)), "0");
        assert_eq!(canon(&json!(-42)), "-42");
        assert_eq!(canon(&json!(i64::MIN)), "-9223372036854775808");
        assert_eq!(canon(&json!(u64::MAX)), "18446744073709551615");
        // Parsed float syntax is a double, and prints in ES form.
        let v: Value = serde_json::from_str("[1.0, 1e2, 1E-7, 4.50]").expect("test input");
        assert_eq!(canon(&v), "[1,100,1e-7,4.5]");
    }

    #[test]
    fn rfc8785_main_example() {
        // RFC 8785 §3.2.2 input, with the numbers built from their exact
        // doubles so the test does not depend on serde_json's float parser.
        let input = r#"{
          "numbers": [0, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#;
        let mut v: Value = serde_json::from_str(input).expect("test input");
        let first: f64 = "333333333.33333329".parse().expect("test input");
        v["numbers"][0] = json!(first);
        let want = r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#;
        assert_eq!(canon(&v), want);
    }

    #[test]
    fn rfc8785_key_sorting() {
        // RFC 8785 §3.2.3: sorting by UTF-16 code units.
        let input = r#"{
          "\u20ac": "Euro Sign",
          "\r": "Carriage Return",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One",
          "\ud83d\ude00": "Emoji: Grinning Face",
          "\u0080": "Control",
          "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let v: Value = serde_json::from_str(input).expect("test input");
        let want = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
                    \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
                    \"\u{1f600}\":\"Emoji: Grinning Face\",\
                    \"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(canon(&v), want);
        // UTF-8 byte order would put U+1F600 after U+FB33; UTF-16 must not.
        assert_eq!(utf16_cmp("\u{1f600}", "\u{fb33}"), Ordering::Less);
        assert_eq!(utf16_cmp("\u{1f600}", "\u{e000}"), Ordering::Less);
    }

    #[test]
    fn string_escapes() {
        let v = json!("\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f}\u{7f} \"\\/\u{2028}é");
        assert_eq!(
            canon(&v),
            "\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\u{7f} \\\"\\\\/\u{2028}é\""
        );
    }

    #[test]
    fn structure_has_no_whitespace_and_nests() {
        let v = json!({"b": [1, {"z": null, "a": []}], "a": {}, "c": "x y"});
        assert_eq!(canon(&v), r#"{"a":{},"b":[1,{"a":[],"z":null}],"c":"x y"}"#);
    }
}
