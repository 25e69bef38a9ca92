//! Splits one line of keepalived.conf into tokens: `#`/`!` comments, double quotes, braces as
//! tokens of their own, and `$NAME=value` definitions with `$NAME` / `${NAME}` substitution.

use super::diag::{Diagnostics, Location};
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    pub at: Location,
    /// Written in double quotes: never a brace, never a keyword such as `include`.
    pub quoted: bool,
}

impl Token {
    pub fn is(&self, punct: &str) -> bool {
        !self.quoted && self.text == punct
    }
}

/// `$NAME=value` definitions seen so far (they apply to every later line, across includes).
#[derive(Default)]
pub struct Variables {
    values: HashMap<String, String>,
}

impl Variables {
    /// Takes a definition line; returns false when the line is not one.
    pub fn define(&mut self, line: &str) -> bool {
        let Some(rest) = line.trim_start().strip_prefix('$') else {
            return false;
        };
        let Some(eq) = rest.find('=') else {
            return false;
        };
        let name = rest[..eq].trim_end();
        if name.is_empty() || !name.bytes().all(is_name_byte) {
            return false;
        }
        let value = rest[eq + 1..].trim();
        self.values.insert(name.to_string(), value.to_string());
        true
    }

    /// Replaces `$NAME` and `${NAME}` with their values; unknown names stay as written, since a
    /// script argument may carry a shell variable (keepalived does the same).
    pub fn substitute<'a>(&self, line: &'a str) -> std::borrow::Cow<'a, str> {
        if self.values.is_empty() || !line.contains('$') {
            return line.into();
        }
        let mut out = String::with_capacity(line.len());
        let mut rest = line;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            let (name, used) = if let Some(braced) = after.strip_prefix('{') {
                match braced.find('}') {
                    Some(end) => (&braced[..end], end + 2),
                    None => ("", 0),
                }
            } else {
                let end = after
                    .bytes()
                    .position(|b| !is_name_byte(b))
                    .unwrap_or(after.len());
                (&after[..end], end)
            };
            match self.values.get(name) {
                Some(value) if !name.is_empty() => {
                    out.push_str(value);
                    rest = &after[used..];
                }
                _ => {
                    out.push('$');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out.into()
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Tokenizes one (already substituted) line. Columns are 1-based character positions.
pub fn tokenize(line: &str, file: u16, line_no: u32, diags: &mut Diagnostics) -> Vec<Token> {
    let mut tokens = Vec::new();
    // keepalived reads lines as C strings: a NUL ends the line.
    let line = match line.find('\0') {
        Some(nul) => {
            diags.error(
                Location {
                    file,
                    line: line_no,
                    col: line[..nul].chars().count() as u32 + 1,
                },
                "NUL byte in the config; the rest of the line is ignored",
            );
            &line[..nul]
        }
        None => line,
    };
    let mut chars = line.char_indices().peekable();
    let at = |byte: usize| Location {
        file,
        line: line_no,
        col: line[..byte].chars().count() as u32 + 1,
    };
    while let Some(&(start, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '#' | '!' => break,
            '{' | '}' => {
                chars.next();
                tokens.push(Token {
                    text: c.to_string(),
                    at: at(start),
                    quoted: false,
                });
            }
            '"' => {
                chars.next();
                let mut text = String::new();
                let mut closed = false;
                while let Some((_, c)) = chars.next() {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        // `\"` and `\\` inside quotes, as keepalived reads script lines.
                        '\\' if matches!(chars.peek(), Some((_, '"' | '\\'))) => {
                            if let Some((_, escaped)) = chars.next() {
                                text.push(escaped);
                            }
                        }
                        _ => text.push(c),
                    }
                }
                if !closed {
                    diags.error(at(start), "unterminated double quote");
                }
                tokens.push(Token {
                    text,
                    at: at(start),
                    quoted: true,
                });
            }
            _ => {
                let mut end = line.len();
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '{' | '}' | '"' | '#' | '!') {
                        end = i;
                        break;
                    }
                    chars.next();
                }
                tokens.push(Token {
                    text: line[start..end].to_string(),
                    at: at(start),
                    quoted: false,
                });
            }
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        let mut d = Diagnostics::default();
        tokenize(line, 0, 1, &mut d)
            .into_iter()
            .map(|t| t.text)
            .collect()
    }

    #[test]
    fn comments_quotes_braces() {
        assert_eq!(words("  priority 100 # main"), ["priority", "100"]);
        assert_eq!(words("! whole line"), Vec::<String>::new());
        assert_eq!(
            words("track_script {chk}"),
            ["track_script", "{", "chk", "}"]
        );
        assert_eq!(
            words(r#"notify "/bin/x a # b" ! c"#),
            ["notify", "/bin/x a # b"]
        );
    }

    #[test]
    fn escapes_inside_quotes_and_nul() {
        assert_eq!(
            words(r#"notify "/bin/n \"group G1\" a\\b" root"#),
            ["notify", r#"/bin/n "group G1" a\b"#, "root"]
        );
        assert_eq!(words(r"path C:\x"), ["path", r"C:\x"]);
        let mut d = Diagnostics::default();
        assert_eq!(tokenize("a b\0c", 0, 1, &mut d).len(), 2);
        assert_eq!(d.items.len(), 1);
    }

    #[test]
    fn columns_count_characters() {
        let mut d = Diagnostics::default();
        let t = tokenize("\tpriority  7", 0, 3, &mut d);
        assert_eq!((t[1].at.line, t[1].at.col), (3, 12));
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        let mut d = Diagnostics::default();
        let t = tokenize(r#"script "/bin/true"#, 0, 1, &mut d);
        assert_eq!(t[1].text, "/bin/true");
        assert_eq!(d.items.len(), 1);
    }

    #[test]
    fn variables() {
        let mut v = Variables::default();
        assert!(v.define("$IF=eth0"));
        assert!(v.define("  $PRIO = 150"));
        assert!(!v.define("priority 100"));
        assert_eq!(v.substitute("interface $IF"), "interface eth0");
        assert_eq!(v.substitute("x${IF}y $PRIO"), "xeth0y 150");
        assert_eq!(v.substitute("echo $HOME $"), "echo $HOME $");
    }
}
