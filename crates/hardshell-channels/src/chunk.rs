//! TEMPORARY until helper A's chunking merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthUnit {
    Utf16,
    Chars,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimit {
    pub max: usize,
    pub unit: LengthUnit,
}
pub const TELEGRAM: ChunkLimit = ChunkLimit {
    max: 4096,
    unit: LengthUnit::Utf16,
};
pub fn split(text: &str, limit: ChunkLimit) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(limit.max / 2)
        .map(|c| c.iter().collect::<String>())
        .filter(|s| !s.is_empty())
        .collect()
}
