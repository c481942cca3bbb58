//! The sinks of one fix computation: a unified diff, atomic in-place writes, kustomize patches.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use similar::TextDiff;

use super::apply::Outcome;
use super::yaml_out::{Style, Y, emit};
use crate::lint::ValuePatch;
use crate::lint::deps::PatchTarget;
use crate::outdir::{OutDir, name_part};
use crate::source::mentions_secret;

/// A unified diff of every changed file (`a/NAME` → `b/NAME`).
pub fn write_diff(out: &mut dyn Write, outcome: &Outcome) -> io::Result<()> {
    // Files a Secret was read from, whatever their text says (looked up once, not per file).
    let secret_read: std::collections::HashSet<&str> = outcome
        .run
        .analysis
        .sources
        .iter()
        .filter(|(_, f)| f.secret_read())
        .map(|(_, f)| f.name.as_str())
        .collect();
    for (name, (original, fixed)) in &outcome.changed {
        // A credential in a URL or query of the file (a database password in a ConfigMap) is
        // masked, in the lines the diff changes too: such a diff shows the fix but does not
        // apply as a patch (`--write` applies it), and says so.
        let (shown_original, shown_fixed) =
            (crate::redact::mask(original), crate::redact::mask(fixed));
        let masked = shown_original != original.as_ref() || shown_fixed != fixed.as_str();
        if masked {
            writeln!(
                out,
                "# {name}: credentials are masked in this diff, which therefore does not apply as a patch; --write applies the fix"
            )?;
        }
        let diff = TextDiff::from_lines(shown_original.as_ref(), shown_fixed.as_ref());
        // Context lines of a file that may hold a Secret could be its values: none shown.
        let secret = mentions_secret(original) || secret_read.contains(name.as_str());
        let context = if secret || masked { 0 } else { 3 };
        write!(
            out,
            "{}",
            diff.unified_diff()
                .context_radius(context)
                .header(&format!("a/{name}"), &format!("b/{name}"))
        )?;
    }
    Ok(())
}

/// Writes every changed file in place, all or nothing: each file is locked, checked to still
/// hold what was analysed and staged in a temporary file next to it before any is replaced, and
/// every lock is held until all are replaced (or restored); if one file cannot be staged, none
/// is written, and a file that changed on disk since (an editor ignores the lock) is noticed
/// right before its rename and undoes the renames before it. SIGINT or SIGTERM while files
/// are staged removes them and writes nothing; during the renames it waits for them. Refuses
/// stdin, files reached through a symlink that leaves `roots`, and two names for one file.
/// Returns what was refused (empty when everything was written).
pub fn write_in_place(outcome: &Outcome, roots: &[PathBuf]) -> Vec<String> {
    let roots: Vec<PathBuf> = roots
        .iter()
        .filter_map(|r| fs::canonicalize(r).ok())
        .collect();
    let mut refused = Vec::new();
    // Real paths, sorted, so concurrent runs take the locks in the same order.
    let mut targets: Vec<(PathBuf, &str, &std::sync::Arc<str>, &String)> = Vec::new();
    for (name, (original, fixed)) in &outcome.changed {
        if name == "-" {
            refused.push("stdin cannot be written; use --diff".to_string());
            continue;
        }
        match resolve(Path::new(name), &roots) {
            Ok(real) => targets.push((real, name, original, fixed)),
            Err(e) => refused.push(format!("{name}: not written: {e}")),
        }
    }
    targets.sort_by(|a, b| a.0.cmp(&b.0));
    for pair in targets.windows(2) {
        if pair[0].0 == pair[1].0 {
            refused.push(format!(
                "{} and {} are the same file; not written",
                pair[0].1, pair[1].1
            ));
        }
    }
    // From here on SIGINT and SIGTERM only raise a flag: while files are staged, the run stops
    // and removes them; once they replace the originals, the few renames are finished.
    let interrupted = Interrupted::watch();
    let mut staged = Vec::new();
    if refused.is_empty() {
        for (real, name, original, fixed) in targets {
            if interrupted.raised() {
                refused.push(INTERRUPTED.to_string());
                break;
            }
            match stage(real, original, fixed) {
                Ok(s) => staged.push(s),
                Err(e) => {
                    refused.push(format!("{name}: not written: {e}"));
                    break;
                }
            }
        }
    }
    if interrupted.raised() && refused.is_empty() {
        refused.push(INTERRUPTED.to_string());
    }
    if !refused.is_empty() {
        refused.push("nothing was written, so the tree stays consistent".to_string());
        return refused;
    }
    let mut replaced: Vec<&Staged> = Vec::new();
    for s in &staged {
        // An editor may have saved the file since it was staged: then nothing is written.
        let renamed = match fs::read(&s.real) {
            Ok(now) if now == s.original.as_bytes() => fs::rename(s.tmp.path(), &s.real),
            Ok(_) => Err(io::Error::other(
                "it changed on disk while netpol-fix ran; run it again",
            )),
            Err(e) => Err(e),
        };
        if let Err(e) = renamed {
            refused.push(format!("{}: not written: {e}", s.real.display()));
            for done in replaced {
                if let Err(e) = restore(&done.real, &done.original) {
                    refused.push(format!(
                        "{}: could not be restored: {e}; its original is in git or your backup",
                        done.real.display()
                    ));
                }
            }
            break;
        }
        replaced.push(s);
    }
    // Dropping `staged` releases the locks; the temporary paths were renamed away (or are
    // removed here when nothing was written).
    refused
}

const INTERRUPTED: &str = "interrupted (SIGINT or SIGTERM) before any file was replaced";

/// SIGINT and SIGTERM, caught for as long as this lives instead of ending the process.
struct Interrupted {
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
    hooks: Vec<signal_hook::SigId>,
}

impl Interrupted {
    fn watch() -> Interrupted {
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let hooks = [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM]
            .into_iter()
            .filter_map(|signal| signal_hook::flag::register(signal, flag.clone()).ok())
            .collect();
        Interrupted { flag, hooks }
    }

    fn raised(&self) -> bool {
        self.flag.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Interrupted {
    fn drop(&mut self) {
        for hook in self.hooks.drain(..) {
            signal_hook::low_level::unregister(hook);
        }
    }
}

/// A fixed file ready to replace its original, which stays locked until every file is done.
struct Staged {
    real: PathBuf,
    tmp: tempfile::NamedTempFile,
    original: std::sync::Arc<str>,
    _lock: fs::File,
}

/// The real path of a file to write, which must lie inside one of `roots`.
fn resolve(path: &Path, roots: &[PathBuf]) -> io::Result<PathBuf> {
    let real = fs::canonicalize(path)?;
    if !roots.iter().any(|r| real.starts_with(r)) {
        return Err(io::Error::other(format!(
            "it resolves to {} outside the paths given; symlinks leaving them are not followed",
            real.display()
        )));
    }
    Ok(real)
}

fn stage(real: PathBuf, original: &std::sync::Arc<str>, fixed: &str) -> io::Result<Staged> {
    // An advisory lock: a concurrent netpol-fix waits here, then sees the changed text below.
    let lock = fs::File::open(&real)?;
    lock.lock()?;
    refuse_to_replace(&fs::metadata(&real)?)?;
    // The file must still hold what was analysed (another run may have changed it).
    if fs::read(&real)? != original.as_bytes() {
        return Err(io::Error::other(
            "it changed on disk while netpol-fix ran; run it again",
        ));
    }
    let tmp = temp_copy(&real, fixed)?;
    Ok(Staged {
        real,
        tmp,
        original: original.clone(),
        _lock: lock,
    })
}

/// Why a file must not be replaced by a new one: a read-only file was made so on purpose, and
/// a file with several hard links would be split from the others (they keep the old text).
fn refuse_to_replace(meta: &fs::Metadata) -> io::Result<()> {
    if meta.permissions().readonly() {
        return Err(io::Error::other(
            "it is read-only; netpol-fix does not replace read-only files (make it writable to have it fixed)",
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.nlink() > 1 {
            return Err(io::Error::other(format!(
                "it has {} hard links, which replacing it would split (the others would keep the old text); fix it by hand",
                meta.nlink()
            )));
        }
    }
    Ok(())
}

/// `text` in a temporary file next to `real`, synced, with `real`'s permissions, owner and
/// group (a run as root must not hand a user's file to root).
fn temp_copy(real: &Path, text: &str) -> io::Result<tempfile::NamedTempFile> {
    let dir = real.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".netpol-fix-")
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    let meta = fs::metadata(real)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let made = tmp.as_file().metadata()?;
        if (made.uid(), made.gid()) != (meta.uid(), meta.gid()) {
            std::os::unix::fs::fchown(tmp.as_file(), Some(meta.uid()), Some(meta.gid())).map_err(
                |e| {
                    io::Error::other(format!(
                        "it cannot be replaced keeping its owner and group: {e}"
                    ))
                },
            )?;
        }
    }
    fs::set_permissions(tmp.path(), meta.permissions())?;
    tmp.as_file().sync_all()?;
    Ok(tmp)
}

/// Puts a replaced file's original text back (atomically).
fn restore(real: &Path, original: &str) -> io::Result<()> {
    temp_copy(real, original)?
        .persist(real)
        .map(|_| ())
        .map_err(|e| e.error)
}

/// Writes the new policies and the value patches as separate files and a `kustomization.yaml`
/// listing them, without touching the sources; `dir` is handled by [`crate::outdir`] (names
/// from the input escaped, links never followed, the files of a previous run replaced).
pub fn write_patches(dir: &Path, outcome: &Outcome) -> io::Result<Vec<PathBuf>> {
    let mut out = OutDir::open(dir)?;
    let mut written = Vec::new();
    let mut resources = Vec::new();
    for (namespace, name, text) in &outcome.documents {
        let file = format!("{}-{}.yaml", name_part(namespace), name_part(name));
        written.push(out.write(&file, text.as_bytes(), None)?);
        resources.push(file);
    }
    let mut patches = Vec::new();
    for (i, patch) in outcome.patches.iter().enumerate() {
        let id = &patch.object;
        let file = format!(
            "patch-{}-{}-{}-{}.yaml",
            name_part(&id.kind.to_ascii_lowercase()),
            name_part(&id.namespace),
            name_part(&id.name),
            i + 1
        );
        let text = emit(
            &patch_document(patch),
            Style {
                indent_sequences: false,
                crlf: false,
            },
        );
        written.push(out.write(&file, text.as_bytes(), None)?);
        patches.push(file);
    }
    resources.sort();
    let mut kustomization = String::from(
        "# Generated by netpol-fix: the fixes for the flows enforcement would break.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n",
    );
    if !resources.is_empty() {
        kustomization.push_str("resources:\n");
        resources
            .iter()
            .for_each(|r| kustomization.push_str(&format!("- {r}\n")));
    }
    if !patches.is_empty() {
        kustomization.push_str("patches:\n");
        patches
            .iter()
            .for_each(|p| kustomization.push_str(&format!("- path: {p}\n")));
    }
    for s in &outcome.unpatchable {
        kustomization.push_str(&format!(
            "# not expressible as a patch (apply with --write): {s}\n"
        ));
    }
    written.push(out.write("kustomization.yaml", kustomization.as_bytes(), None)?);
    Ok(written)
}

/// A strategic-merge patch setting one ConfigMap key or one container env var.
fn patch_document(patch: &ValuePatch) -> Y {
    let id = &patch.object;
    let (api_version, body) = match &patch.target {
        PatchTarget::ConfigMapKey(key) => (
            "v1",
            (
                "data".into(),
                Y::Map(vec![(*key, Y::Str(patch.value.as_str().into()))]),
            ),
        ),
        PatchTarget::Env {
            list,
            container,
            name,
        } => {
            let containers = Y::Seq(vec![Y::Map(vec![
                ("name".into(), Y::Str(*container)),
                (
                    "env".into(),
                    Y::Seq(vec![Y::Map(vec![
                        ("name".into(), Y::Str(*name)),
                        ("value".into(), Y::Str(patch.value.as_str().into())),
                    ])]),
                ),
            ])]);
            let pod_spec = Y::Map(vec![(crate::model::Name::from(list), containers)]);
            let template = |pod_spec: Y| {
                Y::Map(vec![(
                    "template".into(),
                    Y::Map(vec![("spec".into(), pod_spec)]),
                )])
            };
            let (api_version, spec) = match id.kind.as_str() {
                "Pod" => ("v1", pod_spec),
                "ReplicationController" => ("v1", template(pod_spec)),
                "Job" => ("batch/v1", template(pod_spec)),
                "CronJob" => (
                    "batch/v1",
                    Y::Map(vec![(
                        "jobTemplate".into(),
                        Y::Map(vec![("spec".into(), template(pod_spec))]),
                    )]),
                ),
                _ => ("apps/v1", template(pod_spec)),
            };
            (api_version, ("spec".into(), spec))
        }
    };
    Y::Map(vec![
        ("apiVersion".into(), Y::Str(api_version.into())),
        ("kind".into(), Y::Str(id.kind)),
        (
            "metadata".into(),
            Y::Map(vec![
                ("name".into(), Y::Str(id.name)),
                ("namespace".into(), Y::Str(id.namespace)),
            ]),
        ),
        body,
    ])
}
