//! # Source diagnostics
//!
//! Shared by the Mova compilers and the Manda assembler. They collect every problem in a file as a [`Diagnostic`] with a
//! byte span; [`render`] turns them into `file:line:col` reports with the
//! source line and a caret, via `codespan-reporting`.

#![warn(missing_docs)]

use codespan_reporting::diagnostic::{Diagnostic as Report, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term;
use std::ops::Range;
use thiserror::Error;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The file cannot be compiled.
    Error,
    /// The file compiles, but probably not to what was meant.
    Warning,
}

/// One problem found in a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Byte range in the source the problem points at.
    pub span: Range<usize>,
    /// What is wrong, one line.
    pub message: String,
    /// Short text printed under the caret.
    pub label: String,
    /// Further explanation lines (why, what to do instead).
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(span: Range<usize>, message: impl Into<String>, label: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Error, span, message: message.into(), label: label.into(), notes: Vec::new() }
    }

    /// A warning at `span`.
    pub fn warning(span: Range<usize>, message: impl Into<String>, label: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(span, message, label) }
    }

    /// Adds an explanatory note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

/// The most diagnostics a compiler keeps: past them it only counts, and
/// [`finish`] adds one that says how many more there were. A hostile source
/// of a million bad lines would otherwise make a report of gigabytes (18 MB
/// of bad Mova lines took 1.3 GB).
pub const MAX_DIAGNOSTICS: usize = 100;

/// The diagnostics a compiler collects: the first [`MAX_DIAGNOSTICS`], and
/// a count of the rest.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    kept: Vec<Diagnostic>,
    more_errors: usize,
    more_warnings: usize,
}

impl Diagnostics {
    /// None yet.
    pub fn new() -> Self {
        Diagnostics::default()
    }

    /// Keeps `diagnostic`, or counts it once [`MAX_DIAGNOSTICS`] are kept.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        match (self.kept.len() < MAX_DIAGNOSTICS, diagnostic.severity) {
            (true, _) => self.kept.push(diagnostic),
            (false, Severity::Error) => self.more_errors += 1,
            (false, Severity::Warning) => self.more_warnings += 1,
        }
    }

    /// How many were pushed, kept or not.
    pub fn len(&self) -> usize {
        self.kept.len() + self.more_errors + self.more_warnings
    }

    /// True if none was pushed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if an error was pushed.
    pub fn has_errors(&self) -> bool {
        self.more_errors > 0 || self.kept.iter().any(|d| d.severity == Severity::Error)
    }
}

/// A source file that did not compile: every error found, in source order.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{} error(s) in source", self.diagnostics.iter().filter(|d| d.severity == Severity::Error).count())]
pub struct CompileError {
    /// All diagnostics, errors and warnings, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

/// Sorts diagnostics and splits the outcome: `Err` if any is an error.
/// Past [`MAX_DIAGNOSTICS`], a last one (at the end of the file) says how
/// many more there were.
pub fn finish<T>(value: T, collected: Diagnostics) -> Result<(T, Vec<Diagnostic>), CompileError> {
    let Diagnostics { kept: mut diagnostics, more_errors, more_warnings } = collected;
    diagnostics.sort_by_key(|d| d.span.start);
    if more_errors + more_warnings > 0 {
        let end = diagnostics.iter().map(|d| d.span.end).max().unwrap_or(0);
        let message = format!(
            "{more_errors} more error(s) and {more_warnings} more warning(s) not shown: the first {MAX_DIAGNOSTICS} are above"
        );
        diagnostics.push(match more_errors {
            0 => Diagnostic::warning(end..end, message, "the last one shown ends here"),
            _ => Diagnostic::error(end..end, message, "the last one shown ends here"),
        });
    }
    if diagnostics.iter().any(|d| d.severity == Severity::Error) {
        Err(CompileError { diagnostics })
    } else {
        Ok((value, diagnostics))
    }
}

/// Renders diagnostics against their source as `file:line:col` reports with
/// the offending line and a caret.
pub fn render(diagnostics: &[Diagnostic], file_name: &str, source: &str) -> String {
    let file = SimpleFile::new(file_name, source);
    let mut out = String::new();
    let config = term::Config::default();
    for d in diagnostics {
        let report = match d.severity {
            Severity::Error => Report::error(),
            Severity::Warning => Report::warning(),
        };
        let end = d.span.end.max(d.span.start).min(source.len());
        let start = d.span.start.min(end);
        let report = report
            .with_message(&d.message)
            .with_labels(vec![Label::primary((), start..end).with_message(&d.label)])
            .with_notes(d.notes.clone());
        // Writing into a String cannot fail and spans are clamped above.
        let _ = term::emit_to_string(&mut out, &config, &file, &report);
    }
    out
}
