//! Pair lists: the CSV format the evaluation reads and the scored pair type.

use serde::{Deserialize, Serialize};

use super::EvalError;

/// One row of a pairs CSV: two image paths, the ground truth and the subset
/// it came from (e.g. `lfw_fold3`), used for k-fold and per-source breakdowns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairRow {
    pub a: String,
    pub b: String,
    pub same: bool,
    pub source: String,
}

impl PairRow {
    /// Attach the comparison result; `None` means no face was found.
    pub fn with_score(self, score: Option<f64>) -> ScoredPair {
        ScoredPair {
            a: self.a,
            b: self.b,
            same: self.same,
            source: self.source,
            score,
        }
    }
}

/// A pair after comparison. `score: None` = no face in one of the images,
/// which every metric treats as a rejection (predicted "different").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredPair {
    pub a: String,
    pub b: String,
    pub same: bool,
    pub source: String,
    pub score: Option<f64>,
}

const HEADER: [&str; 4] = ["a", "b", "same", "source"];

/// Parse a pairs CSV with header `a,b,same,source` (`same` is `0` or `1`).
///
/// Accepts CRLF line endings, a UTF-8 BOM, blank lines, whitespace around
/// fields and RFC 4180 double-quoted fields (a field cannot span lines).
/// Any malformed line is an error naming its 1-based line number, because a
/// silently skipped pair would change the reported accuracy. A header with
/// no rows yields an empty list; a document without a header is an error.
pub fn read_pairs_csv(text: &str) -> Result<Vec<PairRow>, EvalError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    let mut header_seen = false;
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let err = |message: String| EvalError::Csv { line, message };
        if raw.trim().is_empty() {
            continue;
        }
        let fields = split_line(raw).map_err(err)?;
        if !header_seen {
            if fields.len() != HEADER.len() || fields.iter().zip(HEADER).any(|(f, h)| f != h) {
                return Err(err(format!(
                    "expected header `a,b,same,source`, got `{}`",
                    raw.trim()
                )));
            }
            header_seen = true;
            continue;
        }
        let [a, b, same, source]: [String; 4] = fields.try_into().map_err(|f: Vec<String>| {
            err(format!(
                "expected 4 fields (a,b,same,source), got {}",
                f.len()
            ))
        })?;
        if a.is_empty() || b.is_empty() {
            return Err(err("image path `a` and `b` must not be empty".into()));
        }
        let same = match same.as_str() {
            "1" => true,
            "0" => false,
            other => return Err(err(format!("`same` must be 0 or 1, got `{other}`"))),
        };
        rows.push(PairRow { a, b, same, source });
    }
    if !header_seen {
        return Err(EvalError::Csv {
            line: 1,
            message: "empty document: missing header `a,b,same,source`".into(),
        });
    }
    Ok(rows)
}

/// Split one CSV line into trimmed fields, honouring double quotes.
fn split_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        // Skip leading whitespace of the field.
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        let mut field = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    Some('"') if chars.next_if_eq(&'"').is_some() => field.push('"'),
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("unterminated quoted field".into()),
                }
            }
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(c) => return Err(format!("unexpected `{c}` after quoted field")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field.trim().to_string());
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("stray `\"` inside an unquoted field".into()),
                    Some(c) => field.push(c),
                }
            }
            fields.push(field.trim().to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_err_line(text: &str) -> usize {
        match read_pairs_csv(text) {
            Err(EvalError::Csv { line, .. }) => line,
            other => panic!("expected a CSV error, got {other:?}"),
        }
    }

    #[test]
    fn parses_rows_crlf_bom_blank_and_quotes() {
        let text = "\u{feff}a,b,same,source\r\n\
                    x/1.jpg,y/2.jpg,1,lfw_fold1\r\n\
                    \r\n\
                    \"dir, with comma/3.jpg\" , \"q\"\"uote.jpg\",0,selfies\n";
        let rows = read_pairs_csv(text).expect("valid csv");
        assert_eq!(
            rows,
            vec![
                PairRow {
                    a: "x/1.jpg".into(),
                    b: "y/2.jpg".into(),
                    same: true,
                    source: "lfw_fold1".into()
                },
                PairRow {
                    a: "dir, with comma/3.jpg".into(),
                    b: "q\"uote.jpg".into(),
                    same: false,
                    source: "selfies".into()
                },
            ]
        );
    }

    #[test]
    fn header_only_is_empty_list_and_empty_doc_is_error() {
        assert_eq!(read_pairs_csv("a,b,same,source\n"), Ok(vec![]));
        assert_eq!(csv_err_line(""), 1);
        assert_eq!(csv_err_line("\n\n"), 1);
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(csv_err_line("a,b,label,source\n"), 1);
        assert_eq!(csv_err_line("\na,b,same\n"), 2);
        let good = "a,b,same,source\nx,y,1,s\n";
        assert_eq!(csv_err_line(&format!("{good}x,y,2,s\n")), 3);
        assert_eq!(csv_err_line(&format!("{good}x,y,yes,s\n")), 3);
        assert_eq!(csv_err_line(&format!("{good}x,y,1\n")), 3);
        assert_eq!(csv_err_line(&format!("{good}x,y,1,s,extra\n")), 3);
        assert_eq!(csv_err_line(&format!("{good}\n,y,1,s\n")), 4);
        assert_eq!(csv_err_line(&format!("{good}\"x,y,1,s\n")), 3);
        assert_eq!(csv_err_line(&format!("{good}\"x\"z,y,1,s\n")), 3);
        assert_eq!(csv_err_line(&format!("{good}x\"z,y,1,s\n")), 3);
    }

    #[test]
    fn error_message_mentions_line() {
        let err = read_pairs_csv("a,b,same,source\nx,y,7,s\n").expect_err("bad same");
        assert_eq!(
            err.to_string(),
            "pairs CSV line 2: `same` must be 0 or 1, got `7`"
        );
    }

    #[test]
    fn with_score_keeps_fields() {
        let row = PairRow {
            a: "a".into(),
            b: "b".into(),
            same: true,
            source: "s".into(),
        };
        let p = row.with_score(Some(0.5));
        assert_eq!((p.a.as_str(), p.b.as_str(), p.same), ("a", "b", true));
        assert_eq!((p.source.as_str(), p.score), ("s", Some(0.5)));
    }
}
