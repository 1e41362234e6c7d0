//! Whose memory a conversation reads and writes. Memory is per principal,
//! and a principal's linked identities share it: the owner's circle holds the
//! owner, every account the owner paired as their own (`--role owner`: its
//! sessions carry the owner's tag) and, as before chat channels existed,
//! the web's other logins and API tokens. A chat-channel guest (a sender
//! paired `--role guest`) has a circle of its own: its notes apart, its
//! search over its own conversations only, and a system prompt without the
//! owner's `USER.md` and `MEMORY.md`. Which circle a turn is in is read from
//! its session id, which the edge makes with its principal's tag and lets no
//! other principal use.

use hardshell_protocol::{SessionId, subject_tag};

/// The chat platforms' session channels, whose non-owner sessions are guests'.
const CHANNEL_SESSIONS: [&str; 4] = ["telegram", "slack", "discord", "whatsapp"];

/// A memory circle; see the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Circle {
    Owner,
    /// A guest, by the tag of its principal.
    Guest {
        tag: String,
    },
}

impl Circle {
    /// The circle of a turn in `session`.
    pub fn of(session: &SessionId) -> Circle {
        if !CHANNEL_SESSIONS.contains(&session.channel()) {
            return Circle::Owner;
        }
        match session.subject_tag() {
            Some(tag) if tag == subject_tag("owner") => Circle::Owner,
            Some(tag) => Circle::Guest {
                tag: tag.to_owned(),
            },
            // A channel session the edge did not make (it tags every one):
            // nobody's, so it sees nothing of anyone's.
            None => Circle::Guest {
                tag: "untagged".to_owned(),
            },
        }
    }

    /// Where the circle's notes are, in the agent's scope.
    pub fn notes(&self) -> String {
        match self {
            Circle::Owner => "memory/notes".to_owned(),
            Circle::Guest { tag } => format!("memory/guests/{tag}/notes"),
        }
    }

    /// Whether the workspace file `name` is in this circle's system prompt:
    /// `USER.md` and `MEMORY.md` are about the owner, and a guest is not.
    pub fn reads_workspace_file(&self, name: &str) -> bool {
        match self {
            Circle::Owner => true,
            Circle::Guest { .. } => !matches!(name, "USER.md" | "MEMORY.md"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(text: &str) -> SessionId {
        SessionId::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn channel_guests_have_circles_of_their_own_and_everyone_else_is_the_owners() {
        let owner = subject_tag("owner");
        let guest = subject_tag("telegram:555");
        assert_eq!(
            Circle::of(&session(&format!("web-{owner}-00"))),
            Circle::Owner
        );
        assert_eq!(
            Circle::of(&session(&format!("telegram-{owner}-00"))),
            Circle::Owner
        );
        assert_eq!(Circle::of(&session("api-x")), Circle::Owner);
        assert_eq!(
            Circle::of(&session(&format!("web-{guest}-00"))),
            Circle::Owner
        );
        let guest_circle = Circle::of(&session(&format!("telegram-{guest}-00")));
        assert_eq!(guest_circle, Circle::Guest { tag: guest.clone() });
        assert_eq!(guest_circle.notes(), format!("memory/guests/{guest}/notes"));
        assert!(!guest_circle.reads_workspace_file("USER.md"));
        assert!(!guest_circle.reads_workspace_file("MEMORY.md"));
        assert!(guest_circle.reads_workspace_file("SOUL.md"));
        assert!(matches!(
            Circle::of(&session("slack-nope")),
            Circle::Guest { .. }
        ));
    }
}
