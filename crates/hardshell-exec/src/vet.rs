//! Whether a command may run without asking: every program it would run is in
//! `[exec] allow`. The command is parsed as bash parses it (the tool shell runs
//! it with bash), not matched by prefix: `ls; curl x` runs `curl` too.
//!
//! Vetting is conservative: whatever it cannot see through — command or
//! process substitution, `${…}` and arithmetic expansion (both can run
//! commands in bash), compound commands, function definitions, variable
//! assignments, a program name that is not a plain word — is not "allowed"
//! and goes to the owner (or is refused, in allowlist mode). So does a listed
//! program that can run other programs (`git`, `make`, interpreters… the
//! table in `hardshell-config`), and `sort` given an argument that is, or
//! could become, its `--compress-program`. Running it is never decided here
//! alone: every command runs in its own shell either way.

use std::collections::BTreeSet;

use brush_parser::ast::{
    AndOr, Command, CommandPrefixOrSuffixItem, IoFileRedirectTarget, IoRedirect, Program,
    SimpleCommand,
};

/// What vetting concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Vetting {
    /// Every program it runs is allowed.
    Allowed,
    /// Someone must decide; the reason says what vetting saw.
    NeedsApproval(String),
    /// Every program is listed, but one can run other programs as used here:
    /// someone must decide all the same.
    RunsPrograms(String),
}

/// Text that makes bash run something vetting cannot see statically.
const OPAQUE: [(&str, &str); 7] = [
    // Before "$(", which it contains.
    ("$((", "arithmetic expansion"),
    ("$(", "command substitution"),
    ("`", "command substitution"),
    ("<(", "process substitution"),
    (">(", "process substitution"),
    ("${", "parameter expansion with operators"),
    ("$[", "arithmetic expansion"),
];

/// Structure markers a command may hold before it is not parsed at all: the
/// parser descends recursively, and a command of a few thousand nested
/// parentheses (from a hostile agent) would overflow the edge's stack. Any of
/// these markers already makes a command need approval, so refusing to parse
/// past this count never allows anything vetting would not have.
const MAX_STRUCTURE: usize = 32;

pub(crate) fn vet(command: &str, allow: &BTreeSet<String>) -> Vetting {
    if command.len() > hardshell_protocol::MAX_COMMAND_BYTES {
        return Vetting::NeedsApproval("it is too long to vet".into());
    }
    let keywords = ["if", "while", "until", "for", "case", "select", "function"];
    let structure = command.matches(['(', '{', '[']).count()
        + command
            .split(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|'))
            .filter(|word| keywords.contains(word))
            .count();
    if structure > MAX_STRUCTURE {
        return Vetting::NeedsApproval("it is too deeply structured to vet".into());
    }
    // Anywhere in the text, quoted or not: a false "needs approval" costs a
    // question; a false "allowed" runs a program nobody listed.
    if let Some((_, what)) = OPAQUE.iter().find(|(text, _)| command.contains(text)) {
        return Vetting::NeedsApproval(format!("it uses {what}"));
    }
    let mut reader = std::io::BufReader::new(command.as_bytes());
    let options = brush_parser::ParserOptions::default();
    let program = match brush_parser::Parser::new(&mut reader, &options).parse_program() {
        Ok(program) => program,
        Err(e) => return Vetting::NeedsApproval(format!("it does not parse as bash: {e}")),
    };
    let programs = match programs(&program) {
        Ok(programs) => programs,
        Err(why) => return Vetting::NeedsApproval(why.to_string()),
    };
    if let Some(run) = programs.iter().find(|run| !allow.contains(&run.program)) {
        return Vetting::NeedsApproval(format!("`{}` is not in [exec] allow", run.program));
    }
    for Run { program, arguments } in &programs {
        if let Some(reason) = hardshell_config::runs_programs(program) {
            return Vetting::RunsPrograms(format!(
                "`{program}` can run other programs ({reason}), so it is asked about even \
                 though it is listed"
            ));
        }
        // Any argument not plain text could turn into the option: quoted or
        // escaped pieces, expansions, and globs, which a file named like the
        // option (planted by an earlier command) would match.
        if let Some((options, reason)) = hardshell_config::options_that_run_programs(program)
            && arguments.iter().any(|argument| {
                !is_plain_argument(argument)
                    || options.iter().any(|option| argument.starts_with(option))
            })
        {
            return Vetting::RunsPrograms(format!(
                "`{program}` is given an argument that is or could become an option that runs \
                 programs ({reason})"
            ));
        }
    }
    Vetting::Allowed
}

/// A program a command runs, with the words it is given.
struct Run {
    program: String,
    arguments: Vec<String>,
}

/// An argument that is exactly the text written: nothing bash would unquote,
/// expand or match against file names.
fn is_plain_argument(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,+@%^".contains(&b))
}

/// Why the programs a command runs cannot all be known from its text: the
/// reason the owner is shown with the question.
#[derive(Debug, thiserror::Error)]
enum Unknowable {
    #[error("it has a compound command (if, for, while, case, a subshell or a group)")]
    Compound,
    #[error("it defines a function")]
    Function,
    #[error("it sets variables for a command")]
    Assignment,
    #[error("it uses process substitution")]
    ProcessSubstitution,
    /// The program's name, cut at 80 characters.
    #[error("the program `{0}` is not a plain name")]
    NotPlain(String),
}

/// Every program the command runs, or why they cannot all be known.
fn programs(program: &Program) -> Result<Vec<Run>, Unknowable> {
    let mut found = Vec::new();
    for list in &program.complete_commands {
        for item in &list.0 {
            let and_or = &item.0;
            let pipelines = std::iter::once(&and_or.first).chain(and_or.additional.iter().map(
                |next| match next {
                    AndOr::And(pipeline) | AndOr::Or(pipeline) => pipeline,
                },
            ));
            for pipeline in pipelines {
                for command in &pipeline.seq {
                    match command {
                        Command::Simple(simple) => found.extend(simple_program(simple)?),
                        Command::Compound(..) => {
                            return Err(Unknowable::Compound);
                        }
                        Command::Function(_) => return Err(Unknowable::Function),
                        Command::ExtendedTest(..) => found.push(Run {
                            program: "[[".into(),
                            arguments: Vec::new(),
                        }),
                    }
                }
            }
        }
    }
    Ok(found)
}

/// The program a simple command runs (none for a bare redirection).
fn simple_program(simple: &SimpleCommand) -> Result<Option<Run>, Unknowable> {
    let items = simple
        .prefix
        .iter()
        .flat_map(|prefix| prefix.0.iter())
        .chain(simple.suffix.iter().flat_map(|suffix| suffix.0.iter()));
    let mut in_prefix = simple.prefix.as_ref().map_or(0, |prefix| prefix.0.len());
    let mut arguments = Vec::new();
    for item in items {
        let prefix = in_prefix > 0;
        in_prefix = in_prefix.saturating_sub(1);
        match item {
            CommandPrefixOrSuffixItem::AssignmentWord(..) if prefix => {
                return Err(Unknowable::Assignment);
            }
            CommandPrefixOrSuffixItem::ProcessSubstitution(..)
            | CommandPrefixOrSuffixItem::IoRedirect(IoRedirect::File(
                _,
                _,
                IoFileRedirectTarget::ProcessSubstitution(..),
            )) => return Err(Unknowable::ProcessSubstitution),
            CommandPrefixOrSuffixItem::Word(word)
            | CommandPrefixOrSuffixItem::AssignmentWord(_, word) => {
                arguments.push(word.value.clone());
            }
            CommandPrefixOrSuffixItem::IoRedirect(_) => {}
        }
    }
    let Some(word) = &simple.word_or_name else {
        return Ok(None);
    };
    if !is_plain_program(&word.value) {
        return Err(Unknowable::NotPlain(
            word.value.chars().take(80).collect::<String>(),
        ));
    }
    Ok(Some(Run {
        program: word.value.clone(),
        arguments,
    }))
}

/// A name looked up on PATH or an absolute path, with nothing to expand: the
/// same test `[exec] allow` is held to.
pub(crate) fn is_plain_program(text: &str) -> bool {
    hardshell_config::is_program_name(text)
}

#[cfg(test)]
mod tests;
