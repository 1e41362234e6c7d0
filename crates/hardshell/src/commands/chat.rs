//! `hardshell chat`: talk to the agent from a terminal, through the edge like any
//! other client, with an API token of scope `chat`. Replies stream as they are
//! written. The token comes from `HARDSHELL_TOKEN`, a file, or a hidden prompt —
//! never from the command line, where other users could read it in `ps`.
//!
//! When the agent asks to run a command that `[exec] allow` does not cover,
//! the question is put on the terminal (or read as a line from standard input
//! when that is not a terminal) and the answer sent back to the edge. The
//! command shown is the edge's record of the question, not the agent's words;
//! so is every command shown as having run, listed or approved.
//!
//! What it sends and reads is `hardshell_protocol::chat`'s, as the edge
//! serves it.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::StreamExt;
use hardshell_protocol::SessionSummary;
use hardshell_protocol::chat::{
    self, Approve, ChatEvent, CommandDecision, NewSession, SendMessage, SessionList, ToolState,
};
use rustyline::error::ReadlineError;
use zeroize::Zeroizing;

use crate::cli::{ChatArgs, Global};
use crate::context;
use crate::terminal::{one_line, printable};

pub async fn run(global: &Global, args: &ChatArgs) -> anyhow::Result<()> {
    let base = match &args.url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => match context::load_config(global) {
            Ok(loaded) => loaded.public_url.as_str().trim_end_matches('/').to_owned(),
            Err(_) => "http://127.0.0.1:8787".to_owned(),
        },
    };
    let token = token(args)?;
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .context("building the HTTP client")?;
    let client = Client { http, base, token };
    let mut session = match &args.session {
        Some(session) => session.clone(),
        None => client.new_session().await?,
    };
    if let Some(message) = &args.message {
        return client.turn(&session, message).await;
    }
    eprintln!(
        "session {}. /new starts another, /sessions lists them, Ctrl-D quits.",
        one_line(&session)
    );
    let mut editor = rustyline::DefaultEditor::new().context("starting line editing")?;
    loop {
        let line = match editor.readline("you> ") {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => return Ok(()),
            Err(e) => return Err(e).context("reading a line"),
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(line);
        match line {
            "/quit" | "/exit" => return Ok(()),
            "/new" => {
                session = client.new_session().await?;
                eprintln!("session {}", one_line(&session));
            }
            "/sessions" => client.list().await?,
            text => {
                if let Err(e) = client.turn(&session, text).await {
                    eprintln!("error: {e:#}");
                }
            }
        }
    }
}

fn token(args: &ChatArgs) -> anyhow::Result<Zeroizing<String>> {
    if let Ok(token) = std::env::var("HARDSHELL_TOKEN") {
        return Ok(Zeroizing::new(token.trim().to_owned()));
    }
    if let Some(path) = &args.token_file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return Ok(Zeroizing::new(text.trim().to_owned()));
    }
    let typed = rpassword::prompt_password("API token (hardshell token create --scope chat): ")
        .context("reading the token")?;
    Ok(Zeroizing::new(typed.trim().to_owned()))
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: Zeroizing<String>,
}

impl Client {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token.as_str())
    }

    async fn check(response: reqwest::Response) -> anyhow::Result<reqwest::Response> {
        match response.status() {
            status if status.is_success() => Ok(response),
            reqwest::StatusCode::UNAUTHORIZED => bail!("the edge refused the token (401)"),
            reqwest::StatusCode::FORBIDDEN => bail!("the token may not chat (403)"),
            reqwest::StatusCode::TOO_MANY_REQUESTS => {
                bail!("rate limited; try again shortly (429)")
            }
            status => bail!("the edge answered {status}"),
        }
    }

    async fn new_session(&self) -> anyhow::Result<String> {
        let response = self
            .request(reqwest::Method::POST, chat::path::SESSIONS)
            .send()
            .await
            .context("reaching the edge")?;
        let body: NewSession = Self::check(response)
            .await?
            .json()
            .await
            .context("the edge gave no session id")?;
        Ok(body.id)
    }

    async fn list(&self) -> anyhow::Result<()> {
        let response = self
            .request(reqwest::Method::GET, chat::path::SESSIONS)
            .send()
            .await?;
        let body: SessionList = Self::check(response).await?.json().await?;
        for session in &body.sessions {
            println!("{}", session_row(session));
        }
        Ok(())
    }

    /// Sends one message and prints the reply as it streams.
    async fn turn(&self, session: &str, text: &str) -> anyhow::Result<()> {
        let response = self
            .request(reqwest::Method::POST, &chat::path::messages(session))
            .json(&SendMessage {
                text: text.to_owned(),
            })
            .send()
            .await
            .context("reaching the edge")?;
        let mut events = Self::check(response).await?.bytes_stream();
        let mut pending = Vec::new();
        let mut stdout = std::io::stdout();
        while let Some(chunk) = events.next().await {
            pending.extend_from_slice(&chunk.context("the reply stream broke")?);
            while let Some(end) = find(&pending, b"\n\n") {
                let event: Vec<u8> = pending.drain(..end + 2).collect();
                let event = ChatEvent::from_sse(&String::from_utf8_lossy(&event));
                match event.map_or(Rendered::Nothing, rendered) {
                    Rendered::Reply(text) => {
                        print!("{text}");
                        let _ = stdout.flush();
                    }
                    Rendered::Note(text) => eprint!("{text}"),
                    Rendered::Question {
                        id,
                        command,
                        reason,
                    } => {
                        if let Some(reason) = reason {
                            println!("\n[asked because {}]", one_line(&reason));
                        }
                        let approve = ask(&command).await?;
                        self.answer(session, &id, approve).await?;
                    }
                    Rendered::Done => {
                        println!();
                        return Ok(());
                    }
                    Rendered::Failed(message) => {
                        println!();
                        bail!("{message}");
                    }
                    Rendered::Nothing => {}
                }
            }
        }
        println!();
        bail!("the reply ended early")
    }
}

impl Client {
    /// Answers the agent's question `approval` in `session`.
    async fn answer(&self, session: &str, approval: &str, approve: bool) -> anyhow::Result<()> {
        let response = self
            .request(
                reqwest::Method::POST,
                &chat::path::approval(session, approval),
            )
            .json(&Approve { approve })
            .send()
            .await
            .context("reaching the edge")?;
        match response.status() {
            reqwest::StatusCode::NOT_FOUND => {
                eprintln!("[the question expired before the answer arrived: not run]");
                Ok(())
            }
            _ => Self::check(response).await.map(drop),
        }
    }
}

/// What one event of the reply stream puts on the terminal or asks of the
/// person at it. Everything in it that the agent or the edge wrote is already
/// escaped (see [`crate::terminal`]): a reply keeps its lines and tabs, a
/// note, a name or an error is one line.
#[derive(Debug, PartialEq, Eq)]
enum Rendered {
    /// Reply text, for standard output.
    Reply(String),
    /// Progress, for standard error.
    Note(String),
    /// The edge's question: run `command`? Shown escaped by [`ask`].
    Question {
        id: String,
        command: String,
        /// The edge's words on why it asks, when not the command itself.
        reason: Option<String>,
    },
    Done,
    Failed(String),
    Nothing,
}

fn rendered(event: ChatEvent) -> Rendered {
    match event {
        ChatEvent::Delta { text } => Rendered::Reply(printable(&text).into_owned()),
        ChatEvent::Tool {
            name,
            state: ToolState::Started,
            ..
        } => Rendered::Note(format!("[{}…] ", one_line(&name))),
        ChatEvent::Approval {
            command,
            id,
            reason,
        } => Rendered::Question {
            id,
            command,
            reason,
        },
        ChatEvent::ApprovalResolved { approved, .. } => Rendered::Note(format!(
            "[{}]\n",
            if approved { "approved" } else { "not run" }
        )),
        ChatEvent::Command { command, decision } => {
            Rendered::Note(format!("{}\n", ran_line(&command, decision)))
        }
        ChatEvent::Screenshot { id } => Rendered::Note(format!(
            "[a screenshot was taken: the web chat shows it (number {id})]\n"
        )),
        // The edge cleans the name; shown escaped all the same.
        ChatEvent::File { name, size, .. } => Rendered::Note(format!(
            "[the agent shared a file, {} ({size} bytes): the web chat offers it]\n",
            one_line(&name)
        )),
        ChatEvent::CommandsMissed { count } => Rendered::Note(format!(
            "[{count} more commands ran that this stream missed]\n"
        )),
        ChatEvent::Done { .. } => Rendered::Done,
        ChatEvent::Error { message } => Rendered::Failed(one_line(&message).into_owned()),
        ChatEvent::Accepted { .. } | ChatEvent::Tool { .. } => Rendered::Nothing,
    }
}

/// One row of `/sessions`: id and title, each on the one line.
fn session_row(session: &SessionSummary) -> String {
    format!(
        "{}  {}",
        one_line(session.id.as_str()),
        one_line(session.title.as_deref().unwrap_or(""))
    )
}

/// A command the edge ran in the session's workspace (its own record of it),
/// as the terminal shows it: control characters escaped.
fn ran_line(command: &str, decision: CommandDecision) -> String {
    let why = match decision {
        CommandDecision::Approved => "approved",
        CommandDecision::Allowed => "allowed",
    };
    let mut shown = format!("\n[ran, {why}]");
    for line in command.lines() {
        shown.push_str("\n    ");
        shown.push_str(&printable(line));
    }
    shown
}

/// Puts the edge's command to the person at the terminal: yes only on `y` or
/// `yes`; anything else, or end of input, is no.
async fn ask(command: &str) -> anyhow::Result<bool> {
    eprintln!();
    eprintln!("hardshell wants to run this command in its workspace:");
    eprintln!();
    for line in command.lines() {
        eprintln!("    {}", printable(line));
    }
    eprintln!();
    eprint!("Run it? [y/N] ");
    let _ = std::io::stderr().flush();
    let answer = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await
    .context("reading the answer")?
    .context("reading the answer")?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use hardshell_protocol::SessionSummary;
    use hardshell_protocol::chat::{ChatEvent, CommandDecision, SessionList};

    use super::{Rendered, printable, ran_line, rendered, session_row};

    /// An event as the edge sends it, read as `hardshell chat` reads it.
    fn event(name: &str, data: serde_json::Value) -> ChatEvent {
        ChatEvent::from_sse(&format!("event: {name}\ndata: {data}\n\n")).unwrap()
    }

    #[test]
    fn every_command_that_ran_is_shown_with_why_and_cannot_drive_the_terminal() {
        let ran = event(
            "command",
            serde_json::json!({ "command": "echo hi > a\nls \u{1b}[2K", "decision": "allowed" }),
        );
        assert_eq!(
            rendered(ran),
            Rendered::Note("\n[ran, allowed]\n    echo hi > a\n    ls \\u{1b}[2K\n".to_owned())
        );
        let shown = ran_line("id", CommandDecision::Approved);
        assert!(shown.starts_with("\n[ran, approved]"), "{shown}");
    }

    #[test]
    fn a_command_cannot_drive_the_terminal_it_is_shown_on() {
        assert_eq!(printable("ls -la\t| head"), "ls -la\t| head");
        // Colour, cursor movement and a carriage return that would hide the
        // start of the line are shown, not obeyed.
        let shown = printable("rm -rf ~\r\u{1b}[2Kls\u{1b}[31m\u{7}");
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert!(shown.starts_with("rm -rf ~\\u{d}\\u{1b}[2Kls"), "{shown}");
        // Nor can one shown right to left.
        assert_eq!(printable("ls \u{202e}txt.sh"), "ls \\u{202e}txt.sh");
    }

    const HOSTILE: &str = "hi\u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}gpj.exe";

    #[test]
    fn a_reply_cannot_retitle_clear_or_reorder_the_terminal_but_keeps_its_lines() {
        let delta = event(
            "delta",
            serde_json::json!({ "text": format!("{HOSTILE}\n\tok") }),
        );
        assert_eq!(
            rendered(delta),
            Rendered::Reply("hi\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{202e}gpj.exe\n\tok".to_owned())
        );
    }

    #[test]
    fn a_shared_file_is_named_on_one_escaped_line() {
        let file = event(
            "file",
            serde_json::json!({ "id": "ab12", "name": format!("{HOSTILE}\nx"), "size": 5 }),
        );
        assert_eq!(
            rendered(file),
            Rendered::Note(
                "[the agent shared a file, hi\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{202e}gpj.exe\\u{a}x \
                 (5 bytes): the web chat offers it]\n"
                    .to_owned()
            )
        );
    }

    #[test]
    fn an_error_a_tool_name_and_a_session_row_are_one_escaped_line_each() {
        let escaped = "hi\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{202e}gpj.exe\\u{a}x";
        let text = format!("{HOSTILE}\nx");
        assert_eq!(
            rendered(event("error", serde_json::json!({ "message": text }))),
            Rendered::Failed(escaped.to_owned())
        );
        assert_eq!(
            rendered(event(
                "tool",
                serde_json::json!({ "state": "started", "name": text })
            )),
            Rendered::Note(format!("[{escaped}…] "))
        );
        let row = |id: &str| {
            serde_json::json!({ "sessions": [{
                "id": id, "title": text, "created": "2026-01-02T03:04:05Z",
                "updated": "2026-01-02T03:04:05Z", "message_count": 1,
            }] })
        };
        let listed: SessionList = serde_json::from_value(row("web-abc")).unwrap();
        let listed: &SessionSummary = &listed.sessions[0];
        assert_eq!(session_row(listed), format!("web-abc  {escaped}"));
        // An id is a session id or the listing is refused: it never reaches
        // the terminal.
        assert!(serde_json::from_value::<SessionList>(row(&text)).is_err());
    }
}
