//! Diagnostics: `FILE:LINE:COL: error: message`, collected while reading a config.

use std::fmt;
use std::path::PathBuf;

/// Where a token came from: an index into the list of files read, and a 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Location {
    pub file: u16,
    pub line: u32,
    pub col: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    /// The item is dropped; the rest of the config still runs.
    Error,
    /// The config as a whole cannot be used (unreadable, unbalanced braces, corrupt binary).
    Fatal,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// `None` for problems that belong to no line (a binary config, a missing root file).
    pub location: Option<Location>,
    pub message: String,
}

/// Everything found while reading one config, and the files it came from.
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub files: Vec<PathBuf>,
    pub items: Vec<Diagnostic>,
}

/// keepalived's `-t` exit codes, as the CLI reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Valid = 0,
    Unusable = 3,
    Runnable = 4,
}

impl Diagnostics {
    pub fn push(&mut self, severity: Severity, location: Option<Location>, message: String) {
        self.items.push(Diagnostic {
            severity,
            location,
            message,
        });
    }
    pub fn error(&mut self, at: Location, message: impl Into<String>) {
        self.push(Severity::Error, Some(at), message.into());
    }
    pub fn warning(&mut self, at: Location, message: impl Into<String>) {
        self.push(Severity::Warning, Some(at), message.into());
    }
    pub fn fatal(&mut self, at: Option<Location>, message: impl Into<String>) {
        self.push(Severity::Fatal, at, message.into());
    }

    pub fn verdict(&self) -> Verdict {
        match self.items.iter().map(|d| d.severity).max() {
            Some(Severity::Fatal) => Verdict::Unusable,
            Some(Severity::Error) => Verdict::Runnable,
            _ => Verdict::Valid,
        }
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.items.iter().filter(|d| d.severity == severity).count()
    }

    /// Display adapter for one diagnostic, with the file name resolved.
    pub fn render<'a>(&'a self, d: &'a Diagnostic) -> Rendered<'a> {
        Rendered { diags: self, d }
    }
}

pub struct Rendered<'a> {
    diags: &'a Diagnostics,
    d: &'a Diagnostic,
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.d.severity {
            Severity::Warning => "warning",
            Severity::Error | Severity::Fatal => "error",
        };
        if let Some(at) = self.d.location {
            let file = self.diags.files.get(at.file as usize);
            let name = file.map(|p| p.display().to_string()).unwrap_or_default();
            if at.line == 0 {
                // A whole-file problem (binary config): the file, no line.
                write!(f, "{name}: ")?;
            } else {
                write!(f, "{}:{}:{}: ", name, at.line, at.col)?;
            }
        }
        write!(f, "{kind}: {}", self.d.message)
    }
}
