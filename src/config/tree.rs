//! Turns keepalived.conf lines into a tree of statements: a keyword, its arguments, and an
//! optional `{ ... }` block. Follows `include` (nested, globbed relative to the including file).

use super::diag::{Diagnostics, Location};
use super::lexer::{tokenize, Token, Variables};
use super::source::{has_wildcard, Sources};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Statement {
    pub keyword: Token,
    pub args: Vec<Token>,
    pub block: Option<Block>,
}

#[derive(Clone, Debug)]
pub struct Block {
    pub open: Location,
    pub items: Vec<Statement>,
}

/// keepalived allows a few levels; a loop of includes must end somewhere.
const MAX_INCLUDE_DEPTH: usize = 16;

struct Frame {
    /// The statement this block belongs to; `None` for the file's top level or a stray `{`.
    owner: Option<Statement>,
    open: Location,
    items: Vec<Statement>,
}

/// Receives each top-level statement as soon as it is complete, so a large config never has to
/// sit in memory as a whole tree.
pub type Sink<'s> = dyn FnMut(Statement, &mut Diagnostics) + 's;

struct Builder<'s> {
    sources: &'s mut dyn Sources,
    diags: &'s mut Diagnostics,
    sink: &'s mut Sink<'s>,
    variables: Variables,
    frames: Vec<Frame>,
    depth: usize,
}

/// Reads `root` (or `text` as if read from `root`) and everything it includes, handing each
/// top-level statement to `sink` in file order. Structural problems (unreadable root, unbalanced
/// braces) are fatal diagnostics; whatever could be read is still handed over.
pub fn read_statements<'s>(
    root: &Path,
    text: Option<&str>,
    sources: &'s mut dyn Sources,
    diags: &'s mut Diagnostics,
    sink: &'s mut Sink<'s>,
) {
    let mut builder = Builder {
        sources,
        diags,
        sink,
        variables: Variables::default(),
        frames: vec![Frame {
            owner: None,
            open: Location::default(),
            items: Vec::new(),
        }],
        depth: 0,
    };
    let text: std::io::Result<std::borrow::Cow<str>> = match text {
        Some(t) => Ok(t.into()),
        None => builder.sources.read(root).map(Into::into),
    };
    match text {
        Ok(text) => {
            let file = builder.add_file(root);
            builder.feed(&text, file, root);
        }
        Err(e) => builder
            .diags
            .fatal(None, format!("cannot read {}: {e}", root.display())),
    }
    builder.finish();
}

/// The whole tree at once (tests, small inputs).
pub fn read_tree_str(
    name: &str,
    text: &str,
    sources: &mut dyn Sources,
    diags: &mut Diagnostics,
) -> Vec<Statement> {
    let mut tree = Vec::new();
    let mut sink = |s: Statement, _: &mut Diagnostics| tree.push(s);
    read_statements(Path::new(name), Some(text), sources, diags, &mut sink);
    tree
}

impl Builder<'_> {
    fn add_file(&mut self, path: &Path) -> u16 {
        self.diags.files.push(path.to_path_buf());
        u16::try_from(self.diags.files.len() - 1).unwrap_or(u16::MAX)
    }

    fn finish(mut self) {
        while self.frames.len() > 1 {
            let frame = self.frames.pop().expect("len > 1");
            self.diags
                .fatal(Some(frame.open), "this `{` is never closed");
            self.close(frame);
        }
        self.flush(false);
    }

    /// Hands complete top-level statements to the sink. The last one stays while it has no
    /// block, since a `{` on the next line may still open one.
    fn flush(&mut self, keep_open_last: bool) {
        if self.frames.len() != 1 {
            return;
        }
        let items = &mut self.frames[0].items;
        let keep = usize::from(keep_open_last && items.last().is_some_and(|s| s.block.is_none()));
        let complete: Vec<Statement> = items.drain(..items.len() - keep).collect();
        for statement in complete {
            (self.sink)(statement, self.diags);
        }
    }

    fn feed(&mut self, text: &str, file: u16, path: &Path) {
        for (index, raw) in text.lines().enumerate() {
            let line_no = index as u32 + 1;
            if self.variables.define(raw) {
                continue;
            }
            let line = self.variables.substitute(raw);
            let tokens = tokenize(&line, file, line_no, self.diags);
            if tokens.first().is_some_and(|t| t.is("include")) {
                self.include(&tokens, path);
                continue;
            }
            self.feed_line(tokens);
            self.flush(true);
        }
    }

    fn feed_line(&mut self, tokens: Vec<Token>) {
        // Whether a statement was started on this line (arguments attach to it).
        let mut open_statement = false;
        for token in tokens {
            if token.is("{") {
                let top = self.frames.last_mut().expect("root frame");
                let owner = match top.items.last() {
                    Some(last) if last.block.is_none() => top.items.pop(),
                    _ => {
                        self.diags.error(token.at, "`{` with no keyword before it");
                        None
                    }
                };
                self.frames.push(Frame {
                    owner,
                    open: token.at,
                    items: Vec::new(),
                });
                open_statement = false;
            } else if token.is("}") {
                if self.frames.len() == 1 {
                    self.diags.fatal(Some(token.at), "`}` closes nothing");
                } else {
                    let frame = self.frames.pop().expect("len > 1");
                    self.close(frame);
                }
                open_statement = false;
            } else {
                let top = self.frames.last_mut().expect("root frame");
                match top.items.last_mut() {
                    Some(statement) if open_statement => statement.args.push(token),
                    _ => {
                        top.items.push(Statement {
                            keyword: token,
                            args: Vec::new(),
                            block: None,
                        });
                        open_statement = true;
                    }
                }
            }
        }
    }

    fn close(&mut self, frame: Frame) {
        if let Some(mut owner) = frame.owner {
            owner.block = Some(Block {
                open: frame.open,
                items: frame.items,
            });
            self.frames
                .last_mut()
                .expect("root frame")
                .items
                .push(owner);
        }
    }

    fn include(&mut self, tokens: &[Token], including: &Path) {
        let at = tokens[0].at;
        let Some(pattern) = tokens.get(1) else {
            self.diags
                .error(at, "`include` needs a file name or pattern");
            return;
        };
        if tokens.len() > 2 {
            self.diags.warning(
                tokens[2].at,
                "extra words after the include pattern are ignored",
            );
        }
        if self.depth >= MAX_INCLUDE_DEPTH {
            self.diags.error(
                at,
                format!("includes nested deeper than {MAX_INCLUDE_DEPTH} levels (a loop?)"),
            );
            return;
        }
        let relative = Path::new(&pattern.text);
        let full: PathBuf = match including.parent() {
            Some(dir) if relative.is_relative() => dir.join(relative),
            _ => relative.to_path_buf(),
        };
        let wildcard = has_wildcard(&pattern.text);
        let files = if wildcard {
            match self.sources.glob(&full) {
                Ok(files) => files,
                Err(e) => {
                    self.diags
                        .error(pattern.at, format!("cannot expand {}: {e}", full.display()));
                    return;
                }
            }
        } else {
            vec![full]
        };
        if files.is_empty() {
            self.diags.warning(
                pattern.at,
                format!("include pattern {} matches no file", pattern.text),
            );
        }
        for file in files {
            match self.sources.read(&file) {
                Ok(text) => {
                    let id = self.add_file(&file);
                    self.depth += 1;
                    self.feed(&text, id, &file);
                    self.depth -= 1;
                }
                Err(e) => self
                    .diags
                    .error(at, format!("cannot include {}: {e}", file.display())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::source::NoFiles;
    use super::*;

    fn tree(text: &str) -> (Vec<Statement>, Diagnostics) {
        let mut d = Diagnostics::default();
        let t = read_tree_str("t.conf", text, &mut NoFiles, &mut d);
        (t, d)
    }

    #[test]
    fn braces_anywhere() {
        let (t, d) = tree("a 1 {\n b\n c { x }\n}\nd\n{\n e 2\n}\nf { g } h\n");
        assert!(d.items.is_empty(), "{:?}", d.items);
        let names: Vec<_> = t.iter().map(|s| s.keyword.text.as_str()).collect();
        assert_eq!(names, ["a", "d", "f", "h"]);
        let a = t[0].block.as_ref().unwrap();
        assert_eq!(t[0].args[0].text, "1");
        assert_eq!(
            a.items[1].block.as_ref().unwrap().items[0].keyword.text,
            "x"
        );
        assert_eq!(t[1].block.as_ref().unwrap().items[0].args[0].text, "2");
    }

    #[test]
    fn unbalanced_braces_are_fatal_with_location() {
        let (_, d) = tree("a {\n b {\n }\n");
        assert_eq!(d.items.len(), 1);
        assert_eq!(d.items[0].location.unwrap().line, 1);
        let (_, d) = tree("a\n}\n");
        assert_eq!(d.items[0].location.unwrap().line, 2);
        assert_eq!(d.verdict(), super::super::diag::Verdict::Unusable);
    }

    #[test]
    fn include_without_filesystem_is_an_error() {
        let (_, d) = tree("include other.conf\n");
        assert_eq!(d.verdict(), super::super::diag::Verdict::Runnable);
    }
}
