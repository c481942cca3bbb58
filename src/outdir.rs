//! The output directory of `check --patches DIR` and `probes --out DIR`, whose file names come
//! from manifests an attacker may have written.
//!
//! - Names: every part of a file name taken from the input goes through [`name_part`] (only
//!   `[a-z0-9._-]` kept, anything else `%xx`, so different names stay different), and every
//!   relative path is checked to be plain components inside DIR before it is used.
//! - Links: DIR must not be a symlink, nor any directory netpol-fix creates or removes from in
//!   it; files are written to a new temporary file inside DIR (created exclusively) and renamed
//!   over the target, so a symlink at the target is replaced, never followed.
//! - Stale files: DIR holds [`MANIFEST`], one relative path per line, of what netpol-fix wrote;
//!   the next run removes exactly those (links themselves, not their targets) before writing. A
//!   non-empty DIR without a manifest is refused.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The list of files netpol-fix wrote into an output directory.
pub const MANIFEST: &str = ".netpol-fix-written";

/// `s` as a part of a file name: `[a-z0-9._-]` kept, every other byte `%xx` (so `%` itself is
/// `%25` and the mapping is one-to-one); never empty (`%`), never `.` or `..`.
pub fn name_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02x}")),
        }
    }
    match out.as_str() {
        "" => "%".into(),
        "." => "%2e".into(),
        ".." => "%2e%2e".into(),
        _ => out,
    }
}

/// The components of a relative path netpol-fix may write: `/`-separated, each non-empty, not
/// `.` or `..`, of `[a-z0-9._%-]` only, and not the manifest.
fn components(rel: &str) -> io::Result<Vec<&str>> {
    let parts: Vec<&str> = rel.split('/').collect();
    let ok = |p: &&str| {
        !p.is_empty()
            && *p != "."
            && *p != ".."
            && p.bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' | b'%'))
    };
    if rel == MANIFEST || !parts.iter().all(ok) {
        return Err(io::Error::other(format!(
            "{rel:?} is not a plain file name inside the output directory"
        )));
    }
    Ok(parts)
}

/// `path` must be a real directory (not a symlink to one).
fn real_dir(path: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Err(io::Error::other(format!(
            "{} is a symlink; netpol-fix does not write through links",
            path.display()
        )));
    }
    if !meta.is_dir() {
        return Err(io::Error::other(format!(
            "{} is not a directory",
            path.display()
        )));
    }
    Ok(())
}

/// An output directory being written: open it with [`OutDir::open`], write with
/// [`OutDir::write`]; each file is listed in the manifest before it is created.
pub struct OutDir {
    root: PathBuf,
    manifest: fs::File,
    written: BTreeSet<String>,
}

impl OutDir {
    /// Creates `dir` (and its parents) if needed, or takes over one netpol-fix wrote before:
    /// removes the files its manifest lists, and refuses a non-empty directory without one.
    pub fn open(dir: &Path) -> io::Result<OutDir> {
        match fs::symlink_metadata(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(dir)?,
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        real_dir(dir)?;
        let manifest = dir.join(MANIFEST);
        match fs::symlink_metadata(&manifest) {
            Ok(meta) if meta.is_file() => remove_listed(dir, &fs::read_to_string(&manifest)?)?,
            Ok(_) => {
                return Err(io::Error::other(format!(
                    "{} is not a regular file; choose an empty or new directory",
                    manifest.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if fs::read_dir(dir)?.next().is_some() {
                    return Err(io::Error::other(format!(
                        "{} holds files netpol-fix did not write (it has no {MANIFEST}); choose an empty or new directory",
                        dir.display()
                    )));
                }
            }
            Err(e) => return Err(e),
        }
        // The new manifest, empty, replaces the old one (or a link) without following it.
        let tmp = tempfile::Builder::new()
            .prefix(".netpol-fix-")
            .tempfile_in(dir)?;
        let manifest = tmp.persist(&manifest).map_err(|e| e.error)?;
        Ok(OutDir {
            root: dir.to_path_buf(),
            manifest,
            written: BTreeSet::new(),
        })
    }

    /// Writes `contents` to `rel` (`/`-separated, checked by [`components`]) inside the
    /// directory, creating subdirectories; with `mode` (Unix), sets those permissions. Refuses a
    /// path already written in this run. Returns the path written.
    pub fn write(&mut self, rel: &str, contents: &[u8], mode: Option<u32>) -> io::Result<PathBuf> {
        let parts = components(rel)?;
        if !self.written.insert(rel.to_string()) {
            return Err(io::Error::other(format!(
                "two outputs would both be written to {rel}; nothing more was written"
            )));
        }
        let mut parent = self.root.clone();
        for dir in &parts[..parts.len() - 1] {
            parent.push(dir);
            match fs::create_dir(&parent) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                _ => real_dir(&parent)?,
            }
        }
        let target = parent.join(parts[parts.len() - 1]);
        // Listed before it exists, so that a run cut short leaves no file the manifest misses
        // (not synced per file: tens of thousands of probe Jobs would each wait for the disk).
        writeln!(self.manifest, "{rel}")?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".netpol-fix-")
            .tempfile_in(&parent)?;
        tmp.write_all(contents)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = mode.unwrap_or(0o644);
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(mode))?;
        }
        #[cfg(not(unix))]
        let _ = mode;
        tmp.persist(&target).map_err(|e| e.error)?;
        Ok(target)
    }
}

/// Removes the files a previous manifest lists: only plain paths inside `dir` reached through
/// real directories; a link is removed itself. Empty subdirectories they leave are removed too.
fn remove_listed(dir: &Path, listed: &str) -> io::Result<()> {
    let mut subdirs = BTreeSet::new();
    for rel in listed.lines().filter(|l| !l.is_empty()) {
        let parts = components(rel)?;
        let mut path = dir.to_path_buf();
        let mut through_dirs = true;
        for (i, part) in parts[..parts.len() - 1].iter().enumerate() {
            path.push(part);
            if real_dir(&path).is_err() {
                through_dirs = false;
                break;
            }
            subdirs.insert(parts[..=i].join("/"));
        }
        if !through_dirs {
            continue;
        }
        path.push(parts[parts.len() - 1]);
        match fs::symlink_metadata(&path) {
            Ok(meta) if !meta.is_dir() => fs::remove_file(&path)?,
            _ => {}
        }
    }
    // Deepest first; a directory that still holds something stays.
    for sub in subdirs.iter().rev() {
        let _ = fs::remove_dir(dir.join(sub));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_parts_are_plain_and_distinct() {
        assert_eq!(name_part("default"), "default");
        assert_eq!(name_part("../../x"), "..%2f..%2fx");
        assert_eq!(name_part("/tmp/x"), "%2ftmp%2fx");
        assert_eq!(name_part(""), "%");
        assert_eq!(name_part("."), "%2e");
        assert_eq!(name_part(".."), "%2e%2e");
        assert_eq!(name_part("A%"), "%41%25");
        assert_ne!(name_part("a/b"), name_part("a%2fb"));
        for s in ["../x", "/x", "a/b", "..", ".", "", "é\n"] {
            assert!(components(&name_part(s)).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn paths_outside_are_refused() {
        for rel in [
            "../x", "/x", "a/../b", "a//b", ".", "jobs/..", MANIFEST, "A",
        ] {
            assert!(components(rel).is_err(), "{rel:?}");
        }
        assert!(components("jobs/a--b.yaml").is_ok());
    }
}
