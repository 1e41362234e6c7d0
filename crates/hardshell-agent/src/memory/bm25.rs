//! Full-text ranking for memory search: a tokenizer and Okapi BM25.
//!
//! Hand-written on purpose: the corpus is one owner's notes and conversations
//! (thousands of short documents at most), and the well-kept search crates are
//! engines (tantivy: an on-disk index, a query parser, dozens of dependencies)
//! far beyond a hundred lines of scoring. The lean BM25 crates found bundle their
//! own tokenizers and stemmers, while here exact-term matching is the behaviour
//! wanted: `coffee` does not match `coffees`.

use std::collections::HashMap;

/// Term-frequency saturation: how quickly repeats stop adding to a score.
const K1: f64 = 1.2;
/// Length normalisation: how much a long document is penalised for being long.
const B: f64 = 0.75;

/// Words too common to say anything about a document.
const STOP_WORDS: &[&str] = &[
    "an", "and", "are", "as", "at", "be", "but", "by", "did", "do", "for", "from", "had", "has",
    "have", "he", "her", "his", "if", "in", "into", "is", "it", "its", "me", "my", "of", "on",
    "or", "our", "she", "so", "than", "that", "the", "their", "them", "then", "there", "they",
    "this", "to", "was", "we", "were", "what", "when", "where", "which", "who", "will", "with",
    "you", "your",
];

/// One term of a text, with where it stands in the original (byte offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub term: String,
    pub start: usize,
    pub end: usize,
}

/// Lower-cases, splits on anything that is not a letter or digit, and drops
/// one-letter words and stop words.
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut start = None;
    for (index, c) in text.char_indices().chain([(text.len(), ' ')]) {
        match (start, c.is_alphanumeric()) {
            (None, true) => start = Some(index),
            (Some(from), false) => {
                start = None;
                let term = text[from..index].to_lowercase();
                let tiny = term.chars().count() == 1 && !term.chars().all(|c| c.is_numeric());
                if !tiny && !STOP_WORDS.contains(&term.as_str()) {
                    tokens.push(Token {
                        term,
                        start: from,
                        end: index,
                    });
                }
            }
            _ => {}
        }
    }
    tokens
}

/// A document reduced to what ranking needs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Terms {
    counts: HashMap<String, u32>,
    length: usize,
}

impl Terms {
    pub fn of(text: &str) -> Self {
        let mut counts = HashMap::new();
        let tokens = tokenize(text);
        for token in &tokens {
            *counts.entry(token.term.clone()).or_insert(0) += 1;
        }
        Self {
            counts,
            length: tokens.len(),
        }
    }
}

/// Scores `documents` against `query` with BM25 and returns `(index, score)` of
/// every document matching at least one query term, best first; ties keep the
/// documents' order.
pub(crate) fn rank(documents: &[&Terms], query: &str) -> Vec<(usize, f64)> {
    let mut query_terms: Vec<String> = tokenize(query).into_iter().map(|t| t.term).collect();
    query_terms.sort();
    query_terms.dedup();
    if documents.is_empty() || query_terms.is_empty() {
        return Vec::new();
    }
    let count = documents.len() as f64;
    let average_length =
        (documents.iter().map(|d| d.length).sum::<usize>() as f64 / count).max(1.0);
    let weights: Vec<(&str, f64)> = query_terms
        .iter()
        .map(|term| {
            let containing = documents
                .iter()
                .filter(|d| d.counts.contains_key(term))
                .count() as f64;
            // The "+ 1" (as in Lucene) keeps the weight positive for terms found in
            // more than half of the documents.
            let idf = ((count - containing + 0.5) / (containing + 0.5) + 1.0).ln();
            (term.as_str(), idf)
        })
        .collect();
    let mut scored: Vec<(usize, f64)> = documents
        .iter()
        .enumerate()
        .filter_map(|(index, document)| {
            let norm = K1 * (1.0 - B + B * document.length as f64 / average_length);
            let score: f64 = weights
                .iter()
                .filter_map(|(term, idf)| {
                    let frequency = f64::from(*document.counts.get(*term)?);
                    Some(idf * frequency * (K1 + 1.0) / (frequency + norm))
                })
                .sum();
            (score > 0.0).then_some((index, score))
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        tokenize(text).into_iter().map(|t| t.term).collect()
    }

    #[test]
    fn tokens_are_lowercase_words_without_stop_words() {
        assert_eq!(
            terms("The Coffee-order is: 2 flat whites, 7 a.m. Café!"),
            ["coffee", "order", "2", "flat", "whites", "7", "café"]
        );
        assert_eq!(terms("  ... ,, "), Vec::<String>::new());
    }

    #[test]
    fn token_offsets_point_into_the_original_text() {
        let text = "Hello, Wörld";
        let tokens = tokenize(text);
        assert_eq!(&text[tokens[1].start..tokens[1].end], "Wörld");
    }

    #[test]
    fn frequent_term_in_a_short_document_ranks_first() {
        let short = Terms::of("espresso espresso espresso: the owner loves espresso");
        let long = Terms::of(&format!(
            "a long diary entry {} and once espresso",
            "about travel plans and trains ".repeat(30)
        ));
        let unrelated = Terms::of("tea and biscuits");
        let ranked = rank(&[&long, &unrelated, &short], "espresso");
        let order: Vec<usize> = ranked.iter().map(|(index, _)| *index).collect();
        assert_eq!(order, [2, 0]);
    }

    #[test]
    fn only_exact_terms_match() {
        let plural = Terms::of("two coffees please");
        let ranked = rank(&[&plural], "coffee");
        assert!(ranked.is_empty());
        assert_eq!(rank(&[&plural], "COFFEES").len(), 1);
    }

    #[test]
    fn rare_terms_weigh_more_than_common_ones() {
        let docs: Vec<Terms> = ["train ticket", "train station", "train museum ticket"]
            .iter()
            .map(|t| Terms::of(t))
            .collect();
        let refs: Vec<&Terms> = docs.iter().collect();
        let ranked = rank(&refs, "train museum");
        assert_eq!(ranked[0].0, 2);
    }

    #[test]
    fn empty_queries_and_corpora_find_nothing() {
        let doc = Terms::of("something");
        assert!(rank(&[&doc], "the and of").is_empty());
        assert!(rank(&[], "something").is_empty());
        assert!(rank(&[&doc], "").is_empty());
    }
}
