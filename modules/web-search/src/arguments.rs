//! The `search` tool's arguments, as the model wrote them: parsed into a
//! [`Search`] here, so the request is only ever built from checked values.

/// Brave's limit on a query: "Maximum of 400 characters and 50 words".
pub const MAX_QUERY_CHARS: usize = 400;
/// Brave's limit on a query's words.
pub const MAX_QUERY_WORDS: usize = 50;
/// Results asked for when the model names no count.
pub const DEFAULT_COUNT: u8 = 5;
/// Brave's largest `count` for web results.
pub const MAX_COUNT: u8 = 20;

/// A checked search: a query Brave accepts and a count in its range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub query: String,
    pub count: u8,
}

impl Search {
    /// Parses `{"query": string, "count"?: integer}`. The query's words are
    /// joined by single spaces and cut to Brave's limits (a model writes
    /// more than 400 characters as readily as a line break, and the first
    /// words are still a search); a count out of range is brought into it
    /// (a small model asks for 0 or a million as readily as for 5, and
    /// either still means "some results").
    pub fn parse(arguments: &str) -> Result<Self, String> {
        let value: serde_json::Value = serde_json::from_str(arguments)
            .map_err(|_| "the arguments are not a JSON object".to_owned())?;
        let object = value
            .as_object()
            .ok_or("the arguments are not a JSON object")?;
        let written = object
            .get("query")
            .and_then(serde_json::Value::as_str)
            .ok_or("`query` is required and must be a string")?;
        if written
            .chars()
            .any(|c| c.is_control() && !c.is_whitespace())
        {
            return Err("`query` holds control characters".to_owned());
        }
        let query = within_limits(written);
        if query.is_empty() {
            return Err("`query` is empty: say what to search for".to_owned());
        }
        let count = match object.get("count") {
            None | Some(serde_json::Value::Null) => DEFAULT_COUNT,
            Some(count) => {
                let count = count
                    .as_i64()
                    .or_else(|| count.as_u64().map(|_| i64::MAX))
                    .ok_or("`count` must be an integer")?;
                u8::try_from(count.clamp(1, i64::from(MAX_COUNT))).unwrap_or(MAX_COUNT)
            }
        };
        Ok(Self { query, count })
    }
}

/// `written`'s first words, joined by single spaces, within
/// [`MAX_QUERY_WORDS`] words and [`MAX_QUERY_CHARS`] characters.
fn within_limits(written: &str) -> String {
    let mut query = String::new();
    for word in written.split_whitespace().take(MAX_QUERY_WORDS) {
        let separator = usize::from(!query.is_empty());
        if query.chars().count() + separator + word.chars().count() > MAX_QUERY_CHARS {
            if query.is_empty() {
                // One word longer than the limit: its first characters.
                query = word.chars().take(MAX_QUERY_CHARS).collect();
            }
            break;
        }
        if separator == 1 {
            query.push(' ');
        }
        query.push_str(word);
    }
    query
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_query_and_a_count_are_read() {
        assert_eq!(
            Search::parse(r#"{"query": " rust wasm ", "count": 3}"#),
            Ok(Search {
                query: "rust wasm".into(),
                count: 3
            })
        );
        assert_eq!(
            Search::parse(r#"{"query": "rust"}"#).map(|s| s.count),
            Ok(DEFAULT_COUNT)
        );
    }

    #[test]
    fn a_count_out_of_range_is_brought_into_it() {
        for (count, expected) in [
            ("0", 1),
            ("-7", 1),
            ("201859764", MAX_COUNT),
            ("18446744073709551615", MAX_COUNT),
        ] {
            let arguments = format!(r#"{{"query": "q", "count": {count}}}"#);
            assert_eq!(Search::parse(&arguments).map(|s| s.count), Ok(expected));
        }
    }

    #[test]
    fn odd_arguments_are_refused_with_what_to_fix() {
        for arguments in [
            "",
            "[]",
            "{}",
            r#"{"query": 5}"#,
            r#"{"query": "   "}"#,
            r#"{"query": " \n\t "}"#,
            r#"{"query": "a\u0000b"}"#,
            r#"{"query": "q", "count": "five"}"#,
            r#"{"query": "q", "count": 2.5}"#,
        ] {
            assert!(Search::parse(arguments).is_err(), "{arguments}");
        }
    }

    #[test]
    fn a_query_is_one_line_within_braves_limits() {
        let read = |query: &str| {
            Search::parse(&serde_json::json!({ "query": query }).to_string()).map(|s| s.query)
        };
        assert_eq!(
            read("rust\n\tsandbox  guide\r\n"),
            Ok("rust sandbox guide".into())
        );
        let long = "word ".repeat(200);
        let cut = read(&long).unwrap();
        assert_eq!(cut.split(' ').count(), MAX_QUERY_WORDS);
        let wide = "abcdefghij ".repeat(60);
        let cut = read(&wide).unwrap();
        assert!(cut.chars().count() <= MAX_QUERY_CHARS && cut.ends_with("abcdefghij"));
        let one = "x".repeat(1000);
        assert_eq!(read(&one).unwrap().chars().count(), MAX_QUERY_CHARS);
    }
}
