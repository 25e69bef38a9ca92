//! Writes a [`Config`] back as normalized keepalived.conf text: every value explicit, one
//! statement per line, in a fixed order, so that parsing the output gives the same model.

mod global;
mod lvs;
mod vrrp;

use crate::config::model::{Command, Config, Micros, RunAs};
use crate::config::parse::value::show_secs;

pub fn dump(config: &Config) -> String {
    let mut w = Writer::default();
    global::global_defs(&mut w, &config.global);
    for script in &config.scripts {
        vrrp::vrrp_script(&mut w, script);
    }
    for file in &config.track_files {
        vrrp::track_file(&mut w, file);
    }
    for instance in &config.instances {
        vrrp::vrrp_instance(&mut w, instance);
    }
    for group in &config.sync_groups {
        vrrp::sync_group(&mut w, group);
    }
    for group in &config.server_groups {
        lvs::virtual_server_group(&mut w, group);
    }
    for vs in &config.virtual_servers {
        lvs::virtual_server(&mut w, vs);
    }
    w.out
}

/// Indented keepalived.conf output.
#[derive(Default)]
pub(crate) struct Writer {
    out: String,
    depth: usize,
}

impl Writer {
    /// One statement: words separated by spaces, quoted where the lexer would split them.
    pub fn line<S: AsRef<str>>(&mut self, words: &[S]) {
        self.indent();
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                self.out.push(' ');
            }
            push_word(&mut self.out, word.as_ref());
        }
        self.out.push('\n');
    }

    /// `words {`, then everything until [`Writer::close`] is indented one level deeper.
    pub fn open<S: AsRef<str>>(&mut self, words: &[S]) {
        self.indent();
        for word in words {
            push_word(&mut self.out, word.as_ref());
            self.out.push(' ');
        }
        self.out.push_str("{\n");
        self.depth += 1;
    }

    pub fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        self.out.push_str("}\n");
        if self.depth == 0 {
            self.out.push('\n');
        }
    }

    /// `keyword` alone when on; nothing when off.
    pub fn flag(&mut self, keyword: &str, on: bool) {
        if on {
            self.line(&[keyword]);
        }
    }

    /// `keyword on|off`, for switches whose default is not known at this level.
    pub fn bool_opt(&mut self, keyword: &str, value: Option<bool>) {
        if let Some(on) = value {
            self.line(&[keyword, if on { "on" } else { "off" }]);
        }
    }

    pub fn opt<T: ToString>(&mut self, keyword: &str, value: Option<T>) {
        if let Some(v) = value {
            self.line(&[keyword.to_string(), v.to_string()]);
        }
    }

    pub fn secs(&mut self, keyword: &str, value: Micros) {
        self.line(&[keyword.to_string(), show_secs(value)]);
    }

    pub fn secs_opt(&mut self, keyword: &str, value: Option<Micros>) {
        if let Some(v) = value {
            self.secs(keyword, v);
        }
    }

    /// `keyword "command" [user [group]]`.
    pub fn command(&mut self, keyword: &str, command: &Option<Command>) {
        if let Some(c) = command {
            let mut words = vec![keyword.to_string(), c.command.clone()];
            push_run_as(&mut words, c.run_as.as_deref());
            self.line(&words);
        }
    }

    pub fn run_as(&mut self, keyword: &str, run_as: Option<&RunAs>) {
        if run_as.is_some() {
            let mut words = vec![keyword.to_string()];
            push_run_as(&mut words, run_as);
            self.line(&words);
        }
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("    ");
        }
    }
}

fn push_run_as(words: &mut Vec<String>, run_as: Option<&RunAs>) {
    if let Some(r) = run_as {
        words.push(r.user.clone());
        if let Some(g) = &r.group {
            words.push(g.clone());
        }
    }
}

fn push_word(out: &mut String, word: &str) {
    // A bare `include` or `$NAME=` at the start of a line would mean something else when read back.
    let needs_quotes = word.is_empty()
        || word == "include"
        || word.starts_with('$')
        || word
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '#' | '!' | '{' | '}' | '"'));
    if needs_quotes {
        out.push('"');
        for c in word.chars() {
            if matches!(c, '"' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    } else {
        out.push_str(word);
    }
}
