//! Diagnostics: what went wrong (or what to know), where, and what to do about it.

use crate::source::Location;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// A problem with the input (or a notice about it). Input errors make the run exit with 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub loc: Location,
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
    /// Input that was not analysed (a file, a document, an object): a notice that every output
    /// format lists and counts, so that a clean run never hides what it did not read.
    pub skipped: bool,
}

impl Diagnostic {
    pub fn error(loc: Location, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            loc,
            message: message.into(),
            help: None,
            skipped: false,
        }
    }

    pub fn warning(loc: Location, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(loc, message)
        }
    }

    pub fn info(loc: Location, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Info,
            ..Diagnostic::error(loc, message)
        }
    }

    /// A notice that input at `loc` was not analysed, and why.
    pub fn not_analysed(loc: Location, why: impl Into<String>) -> Diagnostic {
        Diagnostic {
            skipped: true,
            ..Diagnostic::info(loc, why)
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }
}
