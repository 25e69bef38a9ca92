//! From the statement tree to the typed [`Config`]: each keyword's value is checked where it is
//! written, and problems become located diagnostics. Unknown keywords warn, as in keepalived.

mod global;
mod lvs;
pub mod value;
mod vrrp;

use super::diag::{Diagnostics, Location};
use super::lexer::Token;
use super::model::{Command, Config, RunAs};
use super::source::{FileSystem, NoFiles, Sources};
use super::tree::{read_statements, Statement};
use std::collections::HashMap;
use std::path::Path;

/// A config read from text, with everything said about it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub diagnostics: Diagnostics,
}

/// Reads a keepalived.conf file and everything it includes.
pub fn parse_file(path: &Path) -> Loaded {
    parse(path, None, &mut FileSystem)
}

/// Parses text already read from `path`; includes are resolved from `path`'s directory.
pub fn parse_text(path: &Path, text: &str) -> Loaded {
    parse(path, Some(text), &mut FileSystem)
}

/// Parses text from memory; `include` is an error here, never a file access.
pub fn parse_str(name: &str, text: &str) -> Loaded {
    parse(Path::new(name), Some(text), &mut NoFiles)
}

/// For tests elsewhere: the config of `text`, which must parse without an error.
#[cfg(test)]
pub fn parse_valid(text: &str) -> crate::config::Config {
    let loaded = parse_str("test.conf", text);
    let errors: Vec<&str> = loaded
        .diagnostics
        .items
        .iter()
        .filter(|d| d.severity >= crate::config::Severity::Error)
        .map(|d| d.message.as_str())
        .collect();
    assert!(errors.is_empty(), "config errors: {errors:?}");
    loaded.config
}

fn parse(path: &Path, text: Option<&str>, sources: &mut dyn Sources) -> Loaded {
    let mut diagnostics = Diagnostics::default();
    let mut builder = ConfigBuilder::default();
    let mut sink = |s: Statement, d: &mut Diagnostics| builder.take(s, d);
    read_statements(path, text, sources, &mut diagnostics, &mut sink);
    let config = builder.finish(&mut diagnostics);
    Loaded {
        config,
        diagnostics,
    }
}

/// Builds the config as top-level statements arrive. Virtual servers (the bulk of a large
/// config) become model right away and their statement trees are dropped; names they refer to
/// are checked at the end, since keepalived allows them to be defined later. Everything else is
/// kept for the passes in [`ConfigBuilder::finish`], which need the whole file.
#[derive(Default)]
struct ConfigBuilder {
    names: Names,
    config: Config,
    rest: Vec<Statement>,
}

impl ConfigBuilder {
    fn take(&mut self, s: Statement, diags: &mut Diagnostics) {
        if s.keyword.text != "virtual_server" {
            self.rest.push(s);
            return;
        }
        let mut cx = Cx {
            diags,
            names: std::mem::take(&mut self.names),
        };
        let parsed = lvs::virtual_server(&mut cx, &s);
        self.names = cx.names;
        let index = self.config.virtual_servers.len();
        match parsed {
            Some(vs) => {
                self.config.virtual_servers.push(vs);
                for r in self
                    .names
                    .lvs_refs
                    .iter_mut()
                    .filter(|r| r.server == usize::MAX)
                {
                    r.server = index;
                }
            }
            None => self.names.lvs_refs.retain(|r| r.server != usize::MAX),
        }
    }

    fn finish(mut self, diags: &mut Diagnostics) -> Config {
        let mut cx = Cx {
            diags,
            names: std::mem::take(&mut self.names),
        };
        let mut config = self.config;
        build(&self.rest, &mut cx, &mut config);
        resolve_lvs_refs(&mut cx, &mut config);
        config
    }
}

/// Reports virtual servers naming an undefined `virtual_server_group` (the server is left out)
/// and FILE_CHECKs naming an undefined `track_file` (the checker is left out).
fn resolve_lvs_refs(cx: &mut Cx, config: &mut Config) {
    let refs = std::mem::take(&mut cx.names.lvs_refs);
    let mut drop_servers = Vec::new();
    for r in refs {
        let (table, what) = if r.group {
            (&cx.names.server_groups, "virtual_server_group")
        } else {
            (&cx.names.track_files, "track_file")
        };
        if table.contains_key(&r.name) {
            continue;
        }
        let message = if r.group {
            format!(
                "{what} `{}` is not defined; the virtual server is left out",
                r.name
            )
        } else {
            format!(
                "{what} `{}` is not defined; the FILE_CHECK is ignored",
                r.name
            )
        };
        cx.error(r.at, message);
        if r.group {
            drop_servers.push(r.server);
        } else if let Some(vs) = config.virtual_servers.get_mut(r.server) {
            for rs in &mut vs.real_servers {
                rs.checkers.retain(|c| !matches!(&c.kind, super::model::CheckKind::File(f) if f.track_file == r.name));
            }
        }
    }
    drop_servers.sort_unstable();
    drop_servers.dedup();
    for k in drop_servers.into_iter().rev() {
        if k < config.virtual_servers.len() {
            config.virtual_servers.remove(k);
        }
    }
}

/// A name a virtual server refers to, checked once the whole file is read.
pub(crate) struct LvsRef {
    /// `virtual_server group NAME` (else FILE_CHECK's `track_file NAME`).
    pub group: bool,
    pub name: String,
    pub at: Location,
    /// Index in `config.virtual_servers`; `usize::MAX` while that server is being parsed.
    pub server: usize,
}

/// Blocks keepalived has that keeplite does not run; said once per block, not as unknown.
const UNSUPPORTED_BLOCKS: &[&str] = &[
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "vrrp_track_process",
    "linkbeat_interfaces",
    "bfd_instance",
    "SSL",
    "garp_group",
    "net_namespace",
    "instance",
];

fn build(tree: &[Statement], cx: &mut Cx, config: &mut Config) {
    // Pass 1: what others refer to by name, and the global defaults instances inherit.
    for s in tree {
        match s.keyword.text.as_str() {
            "global_defs" => global::global_defs(cx, s, &mut config.global),
            "vrrp_script" => {
                if let Some(script) = vrrp::vrrp_script(cx, s, &config.global) {
                    config.scripts.push(script);
                }
            }
            "track_file" | "vrrp_track_file" => {
                if let Some(file) = vrrp::track_file(cx, s) {
                    config.track_files.push(file);
                }
            }
            "virtual_server_group" => {
                if let Some(group) = lvs::virtual_server_group(cx, s) {
                    config.server_groups.push(group);
                }
            }
            _ => {}
        }
    }
    // Pass 2: instances and virtual servers.
    for s in tree {
        match s.keyword.text.as_str() {
            "vrrp_instance" => {
                if let Some(instance) = vrrp::vrrp_instance(cx, s, &config.global) {
                    config.instances.push(instance);
                }
            }
            "virtual_server" => {
                // Taken as they arrived (see `ConfigBuilder::take`).
            }
            _ => {}
        }
    }
    // Pass 3: sync groups name instances, which may come later in the file.
    for s in tree {
        match s.keyword.text.as_str() {
            "vrrp_sync_group" => {
                if let Some(group) = vrrp::sync_group(cx, s) {
                    config.sync_groups.push(group);
                }
            }
            "global_defs"
            | "vrrp_script"
            | "track_file"
            | "vrrp_track_file"
            | "virtual_server_group"
            | "vrrp_instance"
            | "virtual_server" => {}
            word if UNSUPPORTED_BLOCKS.contains(&word) => cx.warning(
                s.keyword.at,
                format!("`{word}` is not supported by keeplite; the block is ignored"),
            ),
            _ => cx.unknown(s),
        }
    }
}

/// Names defined so far, for references and duplicates; each remembers where it was defined.
#[derive(Default)]
pub(crate) struct Names {
    pub scripts: HashMap<String, Location>,
    pub track_files: HashMap<String, Location>,
    pub server_groups: HashMap<String, Location>,
    pub instances: HashMap<String, Location>,
    pub sync_groups: HashMap<String, Location>,
    /// (interface, IPv6, VRID, unicast) → where that VRID was first used.
    pub vrids: HashMap<(String, bool, u8, bool), Location>,
    /// Instance name → sync group it already belongs to.
    pub grouped: HashMap<String, String>,
    /// Names virtual servers used, checked at the end.
    pub lvs_refs: Vec<LvsRef>,
}

/// Parsing context: the diagnostics sink plus the names seen so far.
pub(crate) struct Cx<'d> {
    pub diags: &'d mut Diagnostics,
    pub names: Names,
}

impl Cx<'_> {
    pub fn error(&mut self, at: Location, message: impl Into<String>) {
        self.diags.error(at, message);
    }

    pub fn warning(&mut self, at: Location, message: impl Into<String>) {
        self.diags.warning(at, message);
    }

    pub fn unknown(&mut self, s: &Statement) {
        self.warning(
            s.keyword.at,
            format!("unknown keyword `{}` ignored", s.keyword.text),
        );
    }

    /// Registers a unique name; an error at `at` when it was defined before.
    pub fn define(
        &mut self,
        table: fn(&mut Names) -> &mut HashMap<String, Location>,
        what: &str,
        name: &Token,
    ) -> bool {
        let files = self.diags.files.clone();
        match table(&mut self.names).get(&name.text) {
            Some(first) => {
                let first_file = files
                    .get(first.file as usize)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                let msg = format!(
                    "{what} `{}` is already defined at {}:{}",
                    name.text, first_file, first.line
                );
                self.error(name.at, msg);
                false
            }
            None => {
                table(&mut self.names).insert(name.text.clone(), name.at);
                true
            }
        }
    }

    /// The block of a statement that needs one; an error (and no items) when it has none.
    pub fn block<'s>(&mut self, s: &'s Statement) -> &'s [Statement] {
        match &s.block {
            Some(block) => &block.items,
            None => {
                self.error(
                    s.keyword.at,
                    format!("`{}` needs a {{ ... }} block", s.keyword.text),
                );
                &[]
            }
        }
    }

    /// Warns when a block follows a keyword that takes none (its content would be lost).
    fn no_block(&mut self, s: &Statement) {
        if let Some(block) = &s.block {
            self.warning(
                block.open,
                format!("`{}` takes no block; the block is ignored", s.keyword.text),
            );
        }
    }

    /// The name argument of a named block (`vrrp_instance NAME {`).
    pub fn block_name<'s>(&mut self, s: &'s Statement) -> Option<&'s Token> {
        match s.args.first() {
            Some(name) => {
                if let Some(extra) = s.args.get(1) {
                    self.warning(extra.at, "extra words after the name are ignored");
                }
                Some(name)
            }
            None => {
                self.error(s.keyword.at, format!("`{}` needs a name", s.keyword.text));
                None
            }
        }
    }

    /// The statement's single argument: an error when missing, a warning for extra words.
    pub fn one_arg<'s>(&mut self, s: &'s Statement) -> Option<&'s Token> {
        self.no_block(s);
        if let Some(extra) = s.args.get(1) {
            self.warning(
                extra.at,
                format!("extra words after `{}` are ignored", s.keyword.text),
            );
        }
        let arg = s.args.first();
        if arg.is_none() {
            self.error(s.keyword.at, format!("`{}` needs a value", s.keyword.text));
        }
        arg
    }

    /// Parses the single argument; an error at the argument when it is not valid.
    pub fn value<T>(
        &mut self,
        s: &Statement,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let arg = self.one_arg(s)?;
        self.parse_token(s, arg, parse)
    }

    pub fn parse_token<T>(
        &mut self,
        s: &Statement,
        token: &Token,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match parse(&token.text) {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(token.at, format!("{}: {e}", s.keyword.text));
                None
            }
        }
    }

    /// Sets `field` from the single argument, leaving it unchanged on error.
    pub fn set<T>(
        &mut self,
        field: &mut T,
        s: &Statement,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) {
        if let Some(v) = self.value(s, parse) {
            *field = v;
        }
    }

    pub fn set_opt<T>(
        &mut self,
        field: &mut Option<T>,
        s: &Statement,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) {
        if let Some(v) = self.value(s, parse) {
            *field = Some(v);
        }
    }

    /// A keyword that is a switch: alone it means on; it may also take a `<BOOL>` word.
    pub fn flag(&mut self, s: &Statement) -> Option<bool> {
        self.no_block(s);
        match s.args.first() {
            None => Some(true),
            Some(arg) => {
                if let Some(extra) = s.args.get(1) {
                    self.warning(extra.at, "extra words are ignored");
                }
                self.parse_token(s, arg, value::boolean)
            }
        }
    }

    pub fn set_flag(&mut self, field: &mut bool, s: &Statement) {
        if let Some(on) = self.flag(s) {
            *field = on;
        }
    }

    /// Free text made of all arguments (keepalived joins unquoted words with single spaces).
    pub fn text(&mut self, s: &Statement) -> Option<String> {
        self.no_block(s);
        if s.args.is_empty() {
            self.error(s.keyword.at, format!("`{}` needs a value", s.keyword.text));
            return None;
        }
        Some(
            s.args
                .iter()
                .map(|t| t.text.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        )
    }

    /// `KEYWORD <STRING>|<QUOTED-STRING> [username [groupname]]`.
    pub fn command(&mut self, s: &Statement) -> Option<Command> {
        self.no_block(s);
        let Some(first) = s.args.first() else {
            self.error(
                s.keyword.at,
                format!("`{}` needs a command", s.keyword.text),
            );
            return None;
        };
        if first.text.trim().is_empty() {
            self.error(
                first.at,
                format!("`{}` has an empty command", s.keyword.text),
            );
            return None;
        }
        if let Some(extra) = s.args.get(3) {
            self.warning(extra.at, "extra words after the user and group are ignored (quote the command if these are its arguments)");
        }
        let run_as = s.args.get(1).map(|user| {
            Box::new(RunAs {
                user: user.text.clone(),
                group: s.args.get(2).map(|g| g.text.clone()),
            })
        });
        Some(Command {
            command: first.text.clone(),
            run_as,
        })
    }

    pub fn set_command(&mut self, field: &mut Option<Command>, s: &Statement) {
        if let Some(c) = self.command(s) {
            *field = Some(c);
        }
    }

    /// `user USERNAME [GROUPNAME]`.
    pub fn run_as(&mut self, s: &Statement) -> Option<RunAs> {
        self.no_block(s);
        let Some(user) = s.args.first() else {
            self.error(
                s.keyword.at,
                format!("`{}` needs a user name", s.keyword.text),
            );
            return None;
        };
        if let Some(extra) = s.args.get(2) {
            self.warning(extra.at, "extra words after the group are ignored");
        }
        Some(RunAs {
            user: user.text.clone(),
            group: s.args.get(1).map(|g| g.text.clone()),
        })
    }
}
