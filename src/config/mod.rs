//! keepalived.conf and the compact binary config: reading, checking, writing.

pub mod diag;
pub mod lexer;
pub mod model;
pub mod source;
pub mod tree;

pub use diag::{Diagnostic, Diagnostics, Location, Severity, Verdict};
pub use model::*;
pub mod dump;
pub mod parse;

pub use dump::dump;
pub use parse::{parse_file, parse_str, Loaded};
