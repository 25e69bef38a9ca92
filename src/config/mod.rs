//! keepalived.conf and the compact binary config: reading, checking, writing.

pub mod binary;
pub mod compact;
pub mod crc32;
pub mod diag;
pub mod lexer;
pub mod model;
pub mod source;
pub mod tree;
pub mod validate;

pub use diag::{Diagnostic, Diagnostics, Location, Severity, Verdict};
pub use model::*;
pub mod dump;
pub mod parse;

pub use dump::dump;
#[cfg(test)]
pub use parse::parse_valid;
pub use parse::{parse_file, parse_str, Loaded};

use std::path::Path;

/// Reads a config file in either form, told apart by the binary magic.
pub fn load(path: &Path) -> Loaded {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            let mut diagnostics = Diagnostics::default();
            diagnostics.fatal(None, format!("cannot read {}: {e}", path.display()));
            return Loaded {
                config: Config::default(),
                diagnostics,
            };
        }
    };
    if !binary::is_binary(&bytes) {
        return match String::from_utf8(bytes) {
            Ok(text) => parse::parse_text(path, &text),
            Err(e) => {
                let mut diagnostics = Diagnostics::default();
                diagnostics.fatal(None, format!("{}: not UTF-8 text: {e}", path.display()));
                Loaded {
                    config: Config::default(),
                    diagnostics,
                }
            }
        };
    }
    let mut diagnostics = Diagnostics::default();
    diagnostics.files.push(path.to_path_buf());
    let whole_file = Location {
        file: 0,
        line: 0,
        col: 0,
    };
    let config = match binary::decode(&bytes) {
        Ok(config) => config,
        Err(e) => {
            diagnostics.fatal(Some(whole_file), e.to_string());
            Config::default()
        }
    };
    Loaded {
        config,
        diagnostics,
    }
}
