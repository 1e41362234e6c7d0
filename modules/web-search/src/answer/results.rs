//! `web.results` read as the JSON streams past, without building it: only
//! the strings of the entries listed are kept, and the rest is skipped. A
//! `serde_json::Value` of a hostile megabyte of one-key objects needs some
//! fifty times its size (a map's first node is hundreds of bytes), more
//! than the module's 32 MiB; this reader needs the body and what it lists.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The strings of one entry of `web.results`; any other type is `None`.
#[derive(Debug, Default)]
pub struct Fields {
    pub title: Option<String>,
    pub url: Option<String>,
    pub description: Option<String>,
}

/// `web.results` of `body`: each entry's [`Fields`] given to `list`, until
/// `wanted` of them were listed; `None` when there is no `web` or no
/// `results` (or either is null). A body that is not JSON, or not an
/// object, or whose `web` is not an object, whose `results` is not a list
/// or one of whose entries read is not an object, is an error.
pub fn read(
    body: &[u8],
    wanted: usize,
    list: &dyn Fn(&Fields) -> Option<String>,
) -> Result<Option<Vec<String>>, serde_json::Error> {
    let mut reader = serde_json::Deserializer::from_slice(body);
    let listed = Answer { wanted, list }.deserialize(&mut reader)?;
    reader.end()?;
    Ok(listed)
}

/// The whole answer: an object of which only `web` is read.
struct Answer<'a> {
    wanted: usize,
    list: &'a dyn Fn(&Fields) -> Option<String>,
}

impl<'de> DeserializeSeed<'de> for Answer<'_> {
    type Value = Option<Vec<String>>;

    fn deserialize<D: Deserializer<'de>>(self, reader: D) -> Result<Self::Value, D::Error> {
        reader.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Answer<'_> {
    type Value = Option<Vec<String>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a web search answer (an object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut listed = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "web" {
                listed = map.next_value_seed(Web(&self))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(listed)
    }
}

/// `web`: null, or an object of which only `results` is read.
struct Web<'a, 'b>(&'a Answer<'b>);

impl<'de> DeserializeSeed<'de> for Web<'_, '_> {
    type Value = Option<Vec<String>>;

    fn deserialize<D: Deserializer<'de>>(self, reader: D) -> Result<Self::Value, D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Web<'_, '_> {
    type Value = Option<Vec<String>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("web as an object or null")
    }

    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut listed = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "results" {
                listed = map.next_value_seed(Results(self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(listed)
    }
}

/// `web.results`: null, or a list whose entries are read until enough
/// were listed, and skipped after.
struct Results<'a, 'b>(&'a Answer<'b>);

impl<'de> DeserializeSeed<'de> for Results<'_, '_> {
    type Value = Option<Vec<String>>;

    fn deserialize<D: Deserializer<'de>>(self, reader: D) -> Result<Self::Value, D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Results<'_, '_> {
    type Value = Option<Vec<String>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("web.results as a list or null")
    }

    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut listed = Vec::new();
        while listed.len() < self.0.wanted {
            let Some(entry) = seq.next_element_seed(Entry)? else {
                return Ok(Some(listed));
            };
            listed.extend((self.0.list)(&entry));
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Some(listed))
    }
}

/// One entry, an object of which only the strings of `title`, `url` and
/// `description` are read.
struct Entry;

impl<'de> DeserializeSeed<'de> for Entry {
    type Value = Fields;

    fn deserialize<D: Deserializer<'de>>(self, reader: D) -> Result<Fields, D::Error> {
        reader.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Entry {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a result (an object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<String>()? {
            let slot = match key.as_str() {
                "title" => &mut fields.title,
                "url" => &mut fields.url,
                "description" => &mut fields.description,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = map.next_value_seed(Text)?;
        }
        Ok(fields)
    }
}

/// A field's value: its text when it is a string, nothing otherwise.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, reader: D) -> Result<Self::Value, D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Some(text.to_owned()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_map(map).map(|_| None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| None)
    }

    fn visit_bool<E: Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}
