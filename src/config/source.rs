//! Where config text comes from: the filesystem (with `include` globs relative to the including
//! file), or nothing at all for text parsed from memory (fuzzing, tests).

use std::io;
use std::path::{Path, PathBuf};

pub trait Sources {
    fn read(&mut self, path: &Path) -> io::Result<String>;
    /// The files matching `pattern` (already made absolute or relative to the current directory),
    /// sorted, as keepalived's glob(3) returns them.
    fn glob(&mut self, pattern: &Path) -> io::Result<Vec<PathBuf>>;
}

/// Reads the real filesystem.
pub struct FileSystem;

/// Refuses every read: `include` in text parsed from memory is an error, never a file access.
pub struct NoFiles;

impl Sources for NoFiles {
    fn read(&mut self, _: &Path) -> io::Result<String> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "no filesystem"))
    }
    fn glob(&mut self, _: &Path) -> io::Result<Vec<PathBuf>> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "no filesystem"))
    }
}

/// Config files are small text files; anything bigger is a mistake (or `/dev/zero`).
const MAX_FILE_BYTES: u64 = 64 << 20;

impl Sources for FileSystem {
    fn read(&mut self, path: &Path) -> io::Result<String> {
        use std::io::Read;
        let file = std::fs::File::open(path)?;
        if file.metadata()?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a directory",
            ));
        }
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "file larger than 64 MiB",
            ));
        }
        String::from_utf8(bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("not UTF-8: {e}")))
    }

    fn glob(&mut self, pattern: &Path) -> io::Result<Vec<PathBuf>> {
        let mut found = vec![PathBuf::new()];
        for part in pattern.components() {
            let name = part.as_os_str().to_string_lossy();
            if !has_wildcard(&name) {
                found.iter_mut().for_each(|p| p.push(part));
                continue;
            }
            let mut next = Vec::new();
            for dir in &found {
                let listing = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir.as_path()
                };
                let Ok(entries) = std::fs::read_dir(listing) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let entry_name = entry.file_name().to_string_lossy().into_owned();
                    // As glob(3): a leading dot is matched only by a leading dot.
                    if entry_name.starts_with('.') && !name.starts_with('.') {
                        continue;
                    }
                    if wildcard_match(name.as_bytes(), entry_name.as_bytes()) {
                        next.push(dir.join(&entry_name));
                    }
                }
            }
            found = next;
        }
        found.retain(|p| p.is_file());
        found.sort();
        Ok(found)
    }
}

pub fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Shell wildcard match of one path component: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`.
pub fn wildcard_match(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| wildcard_match(rest, &name[skip..])),
        Some((b'?', rest)) => !name.is_empty() && wildcard_match(rest, &name[1..]),
        Some((b'[', rest)) => {
            let Some((&c, name_rest)) = name.split_first() else {
                return false;
            };
            let (negate, set) = match rest.first() {
                Some(b'!') | Some(b'^') => (true, &rest[1..]),
                _ => (false, rest),
            };
            // A `]` right after `[` or `[!` is a member, as in glob(7).
            let Some(close) = set.iter().skip(1).position(|&b| b == b']').map(|p| p + 1) else {
                return c == b'[' && wildcard_match(rest, name_rest);
            };
            let members = &set[..close];
            let mut hit = false;
            let mut i = 0;
            while i < members.len() {
                if i + 2 < members.len() && members[i + 1] == b'-' {
                    hit |= (members[i]..=members[i + 2]).contains(&c);
                    i += 3;
                } else {
                    hit |= members[i] == c;
                    i += 1;
                }
            }
            hit != negate && wildcard_match(&set[close + 1..], name_rest)
        }
        Some((&p, rest)) => name.first() == Some(&p) && wildcard_match(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match(b"*.conf", b"a.conf"));
        assert!(!wildcard_match(b"*.conf", b"a.conf~"));
        assert!(wildcard_match(b"vi_?.conf", b"vi_1.conf"));
        assert!(wildcard_match(b"[a-c]x", b"bx"));
        assert!(!wildcard_match(b"[!a-c]x", b"bx"));
        assert!(wildcard_match(b"a[", b"a["));
    }

    #[test]
    fn glob_on_disk() {
        let dir = std::env::temp_dir().join(format!("keeplite-glob-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("d")).unwrap();
        for f in ["d/b.conf", "d/a.conf", "d/.hidden.conf", "d/c.txt"] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let got = FileSystem.glob(&dir.join("d/*.conf")).unwrap();
        assert_eq!(got, [dir.join("d/a.conf"), dir.join("d/b.conf")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
