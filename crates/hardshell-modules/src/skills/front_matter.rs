//! `SKILL.md`'s YAML front matter, read only as far as review needs: the
//! skill's name and description, what `metadata.openclaw` requires, and
//! its `install` steps. The YAML is the skill's text: bounded before it is
//! parsed, parsed by a parser that does not panic and budgets aliases, and
//! never followed, only shown.

use serde_json::Value;

use super::SkillError;
use crate::error::shown;

/// The largest `SKILL.md` taken (OpenClaw's own limit is 256,000 bytes).
pub const MAX_SKILL_MD_BYTES: usize = 256_000;
/// The largest front matter parsed.
const MAX_FRONT_MATTER_BYTES: usize = 64 * 1024;

/// What `SKILL.md` says of itself, as shown at review and kept in the lock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FrontMatter {
    /// `name:`, as written (checked against the skill name rule by the
    /// caller).
    pub name: String,
    pub description: String,
    /// `metadata.openclaw`, less `install`, as compact JSON: what the skill
    /// requires (`requires.bins`, `requires.env`, `os`, `primaryEnv`…).
    pub requirements: Option<String>,
    /// Each `metadata.openclaw.install[]` step (and a top-level `install`,
    /// if any), as compact JSON: what OpenClaw would offer to run.
    pub install: Vec<String>,
}

impl FrontMatter {
    /// The front matter of `skill_md`: the YAML between a first line `---`
    /// and the next line `---`.
    pub fn parse(skill_md: &[u8]) -> Result<Self, SkillError> {
        if skill_md.len() > MAX_SKILL_MD_BYTES {
            return Err(SkillError::FileTooLarge {
                name: super::SKILL_MD.into(),
                limit: MAX_SKILL_MD_BYTES as u64,
            });
        }
        let refused = |detail: &str| SkillError::FrontMatter {
            detail: detail.to_owned(),
        };
        let text = std::str::from_utf8(skill_md).map_err(|_| refused("SKILL.md is not UTF-8"))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text.split_inclusive('\n');
        if lines.next().map(str::trim_end) != Some("---") {
            return Err(refused("SKILL.md does not start with a --- line"));
        }
        let mut yaml = String::new();
        let mut closed = false;
        for line in lines {
            if line.trim_end() == "---" {
                closed = true;
                break;
            }
            yaml.push_str(line);
            if yaml.len() > MAX_FRONT_MATTER_BYTES {
                return Err(refused("the front matter is over 64 KiB"));
            }
        }
        if !closed {
            return Err(refused("the front matter has no closing --- line"));
        }
        let value: Value = serde_saphyr::from_str(&yaml)
            .map_err(|e| refused(&format!("not YAML: {}", shown(&e.to_string(), 300))))?;
        Self::from_value(&value)
    }

    fn from_value(value: &Value) -> Result<Self, SkillError> {
        let refused = |detail: &str| SkillError::FrontMatter {
            detail: detail.to_owned(),
        };
        let Value::Object(map) = value else {
            return Err(refused("the front matter is not a mapping"));
        };
        let text = |key: &str| match map.get(key) {
            Some(Value::String(text)) => Ok(text.clone()),
            None => Err(refused(&format!("it has no {key}:"))),
            Some(_) => Err(refused(&format!("its {key}: is not text"))),
        };
        let name = text("name")?;
        let description = text("description")?;
        // `metadata` is a mapping, or (as some skills write it) JSON text.
        let metadata = match map.get("metadata") {
            Some(Value::String(json)) => Some(
                serde_json::from_str::<Value>(json)
                    .map_err(|_| refused("metadata: is text that is not JSON"))?,
            ),
            Some(other) => Some(other.clone()),
            None => None,
        };
        let mut openclaw = metadata.as_ref().and_then(|m| m.get("openclaw")).cloned();
        let mut install = Vec::new();
        if let Some(Value::Object(openclaw)) = openclaw.as_mut()
            && let Some(steps) = openclaw.remove("install")
        {
            push_steps(&mut install, steps);
        }
        if let Some(steps) = map.get("install") {
            push_steps(&mut install, steps.clone());
        }
        Ok(Self {
            name,
            description,
            requirements: openclaw.map(|v| v.to_string()),
            install,
        })
    }
}

fn push_steps(into: &mut Vec<String>, steps: Value) {
    match steps {
        Value::Array(steps) => into.extend(steps.into_iter().map(|step| step.to_string())),
        other => into.push(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn install_steps_and_requirements_are_listed() {
        let md = b"---\nname: weather\ndescription: Forecasts\nmetadata:\n  {\"openclaw\": {\"requires\": {\"bins\": [\"curl\"]}, \"install\": [{\"kind\": \"brew\", \"formula\": \"curl\"}, {\"kind\": \"download\", \"url\": \"https://x.example/a.sh\"}]}}\n---\n# Weather\n";
        let front = FrontMatter::parse(md).unwrap();
        assert_eq!(front.name, "weather");
        assert_eq!(front.install.len(), 2);
        assert!(front.install[1].contains("https://x.example/a.sh"));
        assert_eq!(
            front.requirements.as_deref(),
            Some(r#"{"requires":{"bins":["curl"]}}"#)
        );
    }

    #[test]
    fn metadata_as_json_text_is_read_too() {
        let md = b"---\nname: a\ndescription: b\nmetadata: '{\"openclaw\":{\"install\":[{\"kind\":\"node\",\"package\":\"x\"}]}}'\n---\n";
        let front = FrontMatter::parse(md).unwrap();
        assert_eq!(front.install, vec![r#"{"kind":"node","package":"x"}"#]);
    }

    #[test]
    fn missing_or_unclosed_or_hostile_front_matter_is_refused() {
        let laughs = format!(
            "---\nname: a\ndescription: b\nx: &a [{}]\ny: &b [{}]\nz: &c [{}]\nw: [{}]\n---\n",
            "1,".repeat(50),
            "*a,".repeat(50),
            "*b,".repeat(50),
            "*c,".repeat(50)
        );
        for md in [
            &b"# no front matter\n"[..],
            b"---\nname: a\ndescription: b\n",
            b"---\ndescription: b\n---\n",
            b"---\n- a list\n---\n",
            b"---\nname: [unclosed\n---\n",
            laughs.as_bytes(),
        ] {
            assert!(
                matches!(FrontMatter::parse(md), Err(SkillError::FrontMatter { .. })),
                "{}",
                String::from_utf8_lossy(md)
            );
        }
    }
}
