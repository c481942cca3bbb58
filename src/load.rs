//! Inputs (files, directories, stdin) → Kubernetes objects as YAML nodes with byte spans.
//!
//! Directories are walked like git does (`.gitignore` honoured) in a deterministic order, files
//! are read and parsed in parallel, and every problem becomes a diagnostic: one bad file never
//! stops the run.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rayon::prelude::*;

use crate::diag::Diagnostic;
use crate::source::{FileId, Location, SourceFile, Sources, Span};
use crate::yaml::{self, Limits, Node, YamlErrorKind};

/// Something to read.
#[derive(Clone, Debug)]
pub enum Input {
    /// A file or a directory (walked recursively).
    Path(PathBuf),
    /// Text already in memory (tests, fixes in progress).
    Text { name: String, text: String },
    /// Standard input as read (named `-`): bytes, so that text that is not UTF-8 is an input
    /// error at its position like any file's; shared, as each round of fixes reads it again.
    Stdin(Arc<[u8]>),
}

#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    pub limits: Limits,
    /// Gitignore-style globs, relative to each walked directory, of paths to leave out.
    pub exclude: Vec<String>,
    /// Texts to use instead of reading a file, by the file's display name (fixes in progress).
    pub overrides: std::collections::HashMap<String, Arc<str>>,
    /// Counts files as they are read, for a progress display.
    pub progress: Option<Arc<Progress>>,
}

/// Files to read and files read so far, updated while loading.
#[derive(Debug, Default)]
pub struct Progress {
    pub total: std::sync::atomic::AtomicUsize,
    pub done: std::sync::atomic::AtomicUsize,
}

/// A Kubernetes object: a mapping with `apiVersion` and `kind`.
#[derive(Clone, Debug)]
pub struct Object<'t> {
    pub file: FileId,
    pub node: Node<'t>,
    /// The YAML document the object is in (a `List` document for its items).
    pub document: Span,
    /// The file, for names made from positions (`generateName`); `None` outside a load.
    pub source: Option<&'t SourceFile>,
}

impl Object<'_> {
    pub fn loc(&self) -> Location {
        Location {
            file: self.file,
            span: self.node.span,
        }
    }

    pub fn at(&self, node: &Node) -> Location {
        Location {
            file: self.file,
            span: node.span,
        }
    }
}

/// Everything read, in input order; `T` is what each object became (by default the object).
#[derive(Debug)]
pub struct Loaded<T> {
    pub sources: Sources,
    pub objects: Vec<T>,
    pub diagnostics: Vec<Diagnostic>,
}

/// A file to read: an input as given, or a file a directory walk found (a regular file then).
enum ToRead {
    Input(Input),
    WalkedFile(PathBuf),
}

/// What reading one file produced.
struct FileResult<T> {
    file: SourceFile,
    objects: Vec<T>,
    problems: Vec<(Span, Problem)>,
}

/// What parsing part of a file produced.
struct Parsed<T> {
    objects: Vec<T>,
    problems: Vec<(Span, Problem)>,
}

/// Files larger than this are split at document boundaries and parsed in parallel.
const CHUNK_BYTES: usize = 512 * 1024;

enum Problem {
    Error(String, Option<String>),
    /// Input that is not analysed, and why.
    Skipped(String),
}

/// Reads every input (`sources` may already hold files — config, rules — that diagnostics
/// name) and turns each object into a `T` right away, in parallel (files, and the documents of
/// a big file), so YAML trees never outlive their file.
pub fn load_with<T: Send>(
    mut sources: Sources,
    inputs: &[Input],
    options: LoadOptions,
    per_object: &(dyn for<'t> Fn(Object<'t>) -> T + Sync),
) -> Loaded<T> {
    let mut pending: Vec<(String, ToRead)> = Vec::new();
    let mut walk_errors: Vec<(String, String)> = Vec::new();
    for input in inputs {
        match input {
            Input::Path(path) if path.is_dir() => {
                walk(path, &options.exclude, &mut pending, &mut walk_errors)
            }
            Input::Path(path) => {
                pending.push((path.display().to_string(), ToRead::Input(input.clone())))
            }
            Input::Text { name, .. } => pending.push((name.clone(), ToRead::Input(input.clone()))),
            Input::Stdin(_) => pending.push(("-".into(), ToRead::Input(input.clone()))),
        }
    }
    let mut diagnostics = Vec::new();
    for (name, message) in walk_errors {
        let file = sources.add(SourceFile::new(name, "".into()));
        diagnostics.push(Diagnostic::error(
            Location {
                file,
                span: Span::default(),
            },
            message,
        ));
    }
    let patches = kustomize_patches(&pending);
    // File ids are handed out in input order, before the parallel reads.
    let first_id = sources.iter().count() as u32;
    if let Some(progress) = &options.progress {
        progress.total.store(pending.len(), Ordering::Relaxed);
    }
    let results: Vec<FileResult<T>> = pending
        .into_par_iter()
        .enumerate()
        .map(|(i, (name, input))| {
            if let Some(listed_in) = patch_listing(&patches, &input) {
                let file = SourceFile::new(name, "".into());
                return FileResult {
                    file,
                    objects: Vec::new(),
                    problems: vec![(
                        Span::default(),
                        Problem::Skipped(format!(
                            "a kustomize patch (listed in {listed_in}): kustomize merges it into a base, it is not applied alone; not analysed (render with `kustomize build DIR | netpol-fix check -` to analyse the result)"
                        )),
                    )],
                };
            }
            let result = read_one(
                FileId(first_id + i as u32),
                name,
                &input,
                &options,
                per_object,
            );
            if let Some(progress) = &options.progress {
                progress.done.fetch_add(1, Ordering::Relaxed);
            }
            result
        })
        .collect();
    let mut objects = Vec::with_capacity(results.iter().map(|r| r.objects.len()).sum());
    sources.reserve(results.len());
    for result in results {
        let file = sources.add(result.file);
        for (span, problem) in result.problems {
            let loc = Location { file, span };
            diagnostics.push(match problem {
                Problem::Error(message, help) => {
                    let d = Diagnostic::error(loc, message);
                    match help {
                        Some(h) => d.with_help(h),
                        None => d,
                    }
                }
                Problem::Skipped(message) => Diagnostic::not_analysed(loc, message),
            });
        }
        objects.extend(result.objects);
    }
    Loaded {
        sources,
        objects,
        diagnostics,
    }
}

fn is_manifest_name(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["yaml", "yml", "json"]
            .iter()
            .any(|x| e.eq_ignore_ascii_case(x))
    })
}

/// Walks a directory like git: `.gitignore` and `.git/info/exclude` honoured (even outside a
/// repository), hidden files included, `.git` itself skipped, paths sorted.
fn walk(
    dir: &Path,
    exclude: &[String],
    out: &mut Vec<(String, ToRead)>,
    errors: &mut Vec<(String, String)>,
) {
    let mut overrides = ignore::overrides::OverrideBuilder::new(dir);
    for glob in exclude {
        if let Err(e) = overrides.add(&format!("!{glob}")) {
            errors.push((
                dir.display().to_string(),
                format!("invalid exclude glob `{glob}`: {e}"),
            ));
        }
    }
    let overrides = overrides
        .build()
        .unwrap_or_else(|_| ignore::overrides::Override::empty());
    // Directories are read in parallel (the walk is a tenth of loading a large tree); what
    // the threads find is sorted below, so the order does not depend on them.
    let found = std::sync::Mutex::new(Vec::new());
    let walk_errors = std::sync::Mutex::new(Vec::new());
    ignore::WalkBuilder::new(dir)
        .overrides(overrides)
        .hidden(false)
        .require_git(false)
        .follow_links(true)
        .filter_entry(|e| e.file_name() != ".git")
        .threads(rayon::current_num_threads())
        .build_parallel()
        .run(|| {
            Box::new(|entry| {
                match entry {
                    Ok(e)
                        if e.file_type().is_some_and(|t| t.is_file())
                            && is_manifest_name(e.path()) =>
                    {
                        lock(&found).push(e.into_path())
                    }
                    Ok(_) => {}
                    Err(err) => lock(&walk_errors).push(walk_error(dir, &err)),
                }
                ignore::WalkState::Continue
            })
        });
    let mut found = found.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut walk_errors = walk_errors.into_inner().unwrap_or_else(|e| e.into_inner());
    walk_errors
        .sort_by_cached_key(|(path, message)| (path_order(Path::new(path)), message.clone()));
    errors.append(&mut walk_errors);
    found.par_sort_by_cached_key(|p| path_order(p));
    out.extend(
        found
            .into_iter()
            .map(|p| (p.display().to_string(), ToRead::WalkedFile(p))),
    );
}

/// A key for path order, which compares component by component (`a/b` before `a-c`, unlike
/// the byte strings); sorting by a cached key splits each path once, not per comparison.
fn path_order(path: &Path) -> Vec<std::ffi::OsString> {
    path.components()
        .map(|c| c.as_os_str().to_os_string())
        .collect()
}

/// The list behind `mutex`, even if a thread panicked while holding it (a push cannot leave
/// it half-changed).
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The path a walk error is about (the unreadable file, the looping link), and the message.
fn walk_error(dir: &Path, err: &ignore::Error) -> (String, String) {
    match err {
        ignore::Error::WithPath { path, err } => (
            path.display().to_string(),
            format!(
                "cannot read this path: {}; it was skipped",
                walk_error(dir, err).1
            ),
        ),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            walk_error(dir, err)
        }
        ignore::Error::Loop { ancestor, child } => (
            child.display().to_string(),
            format!(
                "symlink loop: this points back to {}; it was not followed",
                ancestor.display()
            ),
        ),
        ignore::Error::Io(io) => (dir.display().to_string(), io.to_string()),
        other => (
            dir.display().to_string(),
            format!("cannot read part of the directory tree: {other}"),
        ),
    }
}

fn read_one<T: Send>(
    file: FileId,
    name: String,
    input: &ToRead,
    options: &LoadOptions,
    per_object: &(dyn for<'t> Fn(Object<'t>) -> T + Sync),
) -> FileResult<T> {
    let unread = |name: String, at: usize, problem: Problem| FileResult {
        file: SourceFile::new(name, "".into()),
        objects: Vec::new(),
        problems: vec![(Span::new(at, at), problem)],
    };
    // Texts already in memory (fixes in progress, tests, standard input) are read in place:
    // one copy of a file's text is made, the one the run keeps.
    let (bytes, path): (Cow<[u8]>, _) = match input {
        _ if options.overrides.contains_key(&name) => {
            (Cow::Borrowed(options.overrides[&name].as_bytes()), None)
        }
        ToRead::Input(Input::Text { text, .. }) => (Cow::Borrowed(text.as_bytes()), None),
        ToRead::Input(Input::Stdin(bytes)) => {
            if bytes.len() as u64 > options.limits.max_file_bytes {
                let limit = options.limits.max_file_bytes;
                return unread(
                    name,
                    0,
                    Problem::Error(
                        format!(
                            "standard input is over the limit of {limit} bytes (`limits.max_file_bytes`); it was not read"
                        ),
                        None,
                    ),
                );
            }
            (Cow::Borrowed(&bytes[..]), None)
        }
        ToRead::Input(Input::Path(path)) | ToRead::WalkedFile(path) => {
            let walked = matches!(input, ToRead::WalkedFile(_));
            match read_bounded(path, options.limits.max_file_bytes, walked) {
                Ok(bytes) => (Cow::Owned(bytes), Some(path)),
                Err(message) => return unread(name, 0, Problem::Error(message, None)),
            }
        }
    };
    let (text, utf16): (Arc<str>, bool) = match decode_utf16(&bytes) {
        Some(Ok(text)) => (text.into(), true),
        Some(Err(at)) => {
            return unread(
                name,
                0,
                Problem::Error(
                    format!(
                        "not valid UTF-16 at byte {at} (the file starts with a UTF-16 byte order mark); the file was not read"
                    ),
                    Some("re-encode the file as UTF-8".into()),
                ),
            );
        }
        None if bytes.contains(&0) => {
            return unread(
                name,
                0,
                Problem::Error(
                    "binary file (contains NUL bytes); it was not read".into(),
                    Some("remove it from the manifest tree or add it to .gitignore".into()),
                ),
            );
        }
        None => match std::str::from_utf8(&bytes) {
            Ok(text) => (text.into(), false),
            Err(e) => {
                let at = e.valid_up_to();
                // The text before the bad byte is kept, so that the error has its line and
                // column; not in a file that may hold a Secret, whose values are never shown.
                let secret = crate::source::mentions_secret(&String::from_utf8_lossy(&bytes));
                let before = std::str::from_utf8(&bytes[..if secret { 0 } else { at }]);
                return FileResult {
                    file: SourceFile::new(name, before.unwrap_or_default().into()),
                    objects: Vec::new(),
                    problems: vec![(
                        Span::new(at, at),
                        Problem::Error(
                            format!("not valid UTF-8 at byte {at}; the file was not read"),
                            Some("Kubernetes manifests must be UTF-8; re-encode the file".into()),
                        ),
                    )],
                };
            }
        },
    };
    drop(bytes);
    let source = match path {
        _ if utf16 => SourceFile::decoded(
            name,
            text.clone(),
            "the file is UTF-16; netpol-fix writes fixes only to UTF-8 files (convert it to UTF-8 to have it fixed)",
        ),
        Some(path) => SourceFile::on_disk(name, path.clone(), text.clone()),
        None => SourceFile::new(name, text.clone()),
    };
    let parsed = if in_helm_chart(Path::new(&source.name)) && text.contains("{{") {
        Parsed {
            objects: Vec::new(),
            problems: vec![(
                Span::default(),
                Problem::Skipped(format!(
                    "a Helm chart template (unrendered `{{{{ }}}}`): not analysed; {RENDER}"
                )),
            )],
        }
    } else {
        parse(file, &source, &text, options, per_object)
    };
    FileResult {
        file: source,
        objects: parsed.objects,
        problems: parsed.problems,
    }
}

/// Every object of a file's text, parsed in parallel chunks of whole documents when it is big.
fn parse<T: Send>(
    file: FileId,
    source: &SourceFile,
    text: &str,
    options: &LoadOptions,
    per_object: &(dyn for<'t> Fn(Object<'t>) -> T + Sync),
) -> Parsed<T> {
    // A BOM is not part of the YAML; spans keep counting from the start of the file.
    let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let chunks = if text.len() > CHUNK_BYTES {
        yaml::document_chunks(text, bom, CHUNK_BYTES)
    } else {
        std::iter::once(bom..text.len()).collect()
    };
    let parts: Vec<Parsed<T>> = chunks
        .into_par_iter()
        .map(|range| {
            let mut objects = Vec::new();
            let mut problems = Vec::new();
            for doc in yaml::parse_range(text, range, options.limits) {
                match doc {
                    Ok(node) => {
                        let document = node.span;
                        collect_objects(node, false, source, &mut |found| match found {
                            Ok(node) => objects.push(per_object(Object {
                                file,
                                node,
                                document,
                                source: Some(source),
                            })),
                            Err(problem) => problems.push(problem),
                        });
                    }
                    Err(err) => problems.push((
                        err.span,
                        match err.kind {
                            YamlErrorKind::Invalid => Problem::Error(err.message, None),
                            YamlErrorKind::Ignored => Problem::Skipped(err.message),
                            // A template not rendered yet, not broken YAML.
                            YamlErrorKind::Template => Problem::Skipped(format!(
                                "an unrendered Helm/Go template: this document holds `{{{{ }}}}` actions and does not parse as YAML ({}); it is not analysed; {RENDER}",
                                err.message
                            )),
                        },
                    )),
                }
            }
            Parsed { objects, problems }
        })
        .collect();
    let mut all = Parsed {
        objects: Vec::new(),
        problems: Vec::new(),
    };
    for part in parts {
        all.objects.extend(part.objects);
        all.problems.extend(part.problems);
    }
    // A tree has a file per object or two; room for four would stay until the run assembles.
    all.objects.shrink_to_fit();
    all
}

/// The text of a file other than a manifest (configuration, rules): a regular file (not a FIFO
/// or a device behind a link, which would block or never end) of at most the default size
/// limit, in UTF-8.
pub fn read_text_file(path: &Path) -> Result<String, String> {
    let bytes = read_bounded(path, Limits::default().max_file_bytes, false)?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "not valid UTF-8 at byte {}; it was not read",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Reads a regular file of at most `max` bytes. A path given on the command line is checked
/// before it is opened (opening a FIFO would block); a walk has checked its files already,
/// which saves a path lookup per file of a large tree.
fn read_bounded(path: &Path, max: u64, walked: bool) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("cannot read: {e}");
    if !walked && !std::fs::metadata(path).map_err(cannot)?.is_file() {
        return Err("cannot read: not a regular file; it was not read".into());
    }
    let file = std::fs::File::open(path).map_err(cannot)?;
    let len = file.metadata().map_err(cannot)?.len();
    if len > max {
        return Err(format!(
            "file is {len} bytes, over the limit of {max} (`limits.max_file_bytes`); it was not read"
        ));
    }
    // Read through `take` so that std does not ask for the size and position again, and a file
    // that grows meanwhile still stops at the limit.
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > max {
        return Err(format!(
            "file grew past the limit of {max} bytes (`limits.max_file_bytes`) while it was read; it was not read"
        ));
    }
    Ok(bytes)
}

/// What a document holds: an object, or why it is not analysed.
type Found<'t> = Result<Node<'t>, (Span, Problem)>;

/// Keeps Kubernetes objects, expanding `List` kinds; documents without `apiVersion` or `kind`
/// (compose files, CI workflows, Helm's `Chart.yaml`) are not ours to judge, unless they have
/// `metadata`: such an object kubectl refuses ("apiVersion not set", "kind not set"), and so is
/// a list item without them. The items of a typed list (`PodList`, `NetworkPolicyList`, … as
/// client libraries and `kubectl get --raw` write them) carry no `kind` or `apiVersion`: an
/// item of `<Kind>List` is a `<Kind>` of the list's `apiVersion` unless it says otherwise. A
/// strategic-merge patch (`$patch`) is not an object; a Secret marks its file (see
/// [`SourceFile::mark_secret_read`]).
fn collect_objects<'t>(
    node: Node<'t>,
    in_list: bool,
    source: &SourceFile,
    out: &mut dyn FnMut(Found<'t>),
) {
    let at = Span::new(node.span.start as usize, node.span.start as usize);
    let kind = node.get("kind").and_then(Node::as_str);
    let api = node.get("apiVersion").and_then(Node::as_str);
    // Outside a list, only a document with `metadata` is taken for a Kubernetes object that
    // lost its kind or apiVersion (a Helm `Chart.yaml` has an apiVersion and no kind).
    let object_like = in_list || node.get("metadata").and_then(Node::as_map).is_some();
    let (kind, api) = match (kind, api) {
        (Some(kind), Some(api)) => (kind, api),
        _ if !object_like => return,
        (kind, api) => {
            let missing = match (kind, api) {
                (None, None) => "`apiVersion` and `kind`",
                (None, _) => "`kind`",
                _ => "`apiVersion`",
            };
            let why = format!(
                "an object without {missing} (strings): kubectl refuses it, and it is not analysed"
            );
            return out(Err((at, Problem::Error(why, None))));
        }
    };
    if kind == "Secret" {
        source.mark_secret_read();
    }
    if node.get("$patch").is_some() {
        let why =
            "a strategic-merge patch (`$patch`): kustomize applies it to a base; not analysed";
        return out(Err((at, Problem::Skipped(why.into()))));
    }
    let is_list = kind.ends_with("List") && node.get("items").and_then(Node::as_seq).is_some();
    if !is_list {
        return out(Ok(node));
    }
    let item_kind = kind
        .strip_suffix("List")
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    let api = api.to_string();
    let yaml::Value::Map(entries) = node.value else {
        return;
    };
    for (key, value) in entries {
        if key.as_str() == Some("items")
            && let yaml::Value::Seq(items) = value.value
        {
            for mut item in items {
                if let (Some(kind), yaml::Value::Map(fields)) = (&item_kind, &mut item.value) {
                    let at = Span::new(item.span.start as usize, item.span.start as usize);
                    for (field, default) in [("kind", kind), ("apiVersion", &api)] {
                        if !fields.iter().any(|(k, _)| k.as_str() == Some(field)) {
                            fields.push((implied(at, field), implied(at, default)));
                        }
                    }
                }
                collect_objects(item, true, source, out);
            }
        }
    }
}

/// A scalar the input implies without writing it, placed at `at`.
fn implied<'t>(at: Span, text: &str) -> Node<'t> {
    Node {
        span: at,
        value: yaml::Value::Scalar(yaml::Scalar {
            text: std::borrow::Cow::Owned(text.to_string()),
            plain: false,
        }),
    }
}

/// Files that a `kustomization.yaml` lists as patches (`patches`, `patchesStrategicMerge`,
/// `patchesJson6902`), by canonical path, with the kustomization that lists them. The
/// kustomizations looked at are those among the files to read and those in the directories
/// above a file given on its own (a pre-commit hook passes a changed patch without its
/// kustomization).
fn kustomize_patches(pending: &[(String, ToRead)]) -> Patches {
    const NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];
    let mut kustomizations: std::collections::BTreeSet<PathBuf> = std::collections::BTreeSet::new();
    for (_, input) in pending {
        match input {
            ToRead::WalkedFile(path) => {
                if path
                    .file_name()
                    .is_some_and(|n| NAMES.iter().any(|k| n == *k))
                {
                    kustomizations.insert(path.clone());
                }
            }
            ToRead::Input(Input::Path(path)) => {
                for dir in path.ancestors().skip(1).take(8) {
                    let dir = if dir.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        dir
                    };
                    kustomizations
                        .extend(NAMES.iter().map(|n| dir.join(n)).filter(|p| p.is_file()));
                    if dir.join(".git").exists() {
                        break;
                    }
                }
            }
            ToRead::Input(_) => {}
        }
    }
    let mut patches = Patches::new();
    for kustomization in kustomizations {
        // Read as configuration is: a regular file within the size limit (a link to a device
        // or a FIFO would never end). One that cannot be read lists no patch.
        let Ok(text) = read_text_file(&kustomization) else {
            continue;
        };
        let dir = kustomization.parent().unwrap_or(Path::new("."));
        for doc in yaml::parse_stream(&text, Limits::default())
            .into_iter()
            .flatten()
        {
            let listed = ["patches", "patchesJson6902", "patchesStrategicMerge"]
                .iter()
                .filter_map(|key| doc.get(key).and_then(Node::as_seq))
                .flatten()
                .filter_map(|entry| {
                    entry
                        .as_str()
                        .or_else(|| entry.get("path").and_then(Node::as_str))
                });
            for patch in listed {
                if let Ok(path) = std::fs::canonicalize(dir.join(patch))
                    && let Some(name) = path.file_name()
                {
                    let listing = (path.clone(), kustomization.display().to_string());
                    patches
                        .entry(name.to_os_string())
                        .or_default()
                        .push(listing);
                }
            }
        }
    }
    patches
}

/// Patch files by file name (a cheap first test for each file of a large tree): their
/// canonical paths and the kustomizations that list them.
type Patches = std::collections::HashMap<std::ffi::OsString, Vec<(PathBuf, String)>>;

/// The kustomization that lists this input as a patch, if one does.
fn patch_listing<'p>(patches: &'p Patches, input: &ToRead) -> Option<&'p str> {
    let (ToRead::WalkedFile(path) | ToRead::Input(Input::Path(path))) = input else {
        return None;
    };
    let listed = patches.get(path.file_name()?)?;
    let real = std::fs::canonicalize(path).ok()?;
    listed
        .iter()
        .find(|(patch, _)| *patch == real)
        .map(|(_, kustomization)| kustomization.as_str())
}

const RENDER: &str = "render it first (`helm template … | netpol-fix check -`)";

/// Whether a file is in a Helm chart's `templates/` directory (a `Chart.yaml` beside it).
fn in_helm_chart(path: &Path) -> bool {
    path.ancestors()
        .skip(1)
        .find(|p| p.file_name().is_some_and(|n| n == "templates"))
        .and_then(Path::parent)
        .is_some_and(|chart| chart.join("Chart.yaml").is_file())
}

/// A text that starts with a UTF-16 byte order mark, decoded (kubectl reads such files), or
/// the byte where it stops being UTF-16; `None` for any other text.
fn decode_utf16(bytes: &[u8]) -> Option<Result<String, usize>> {
    let little = match bytes {
        [0xFF, 0xFE, ..] => true,
        [0xFE, 0xFF, ..] => false,
        _ => return None,
    };
    let body = &bytes[2..];
    if body.len() % 2 == 1 {
        return Some(Err(bytes.len() - 1));
    }
    let units = body.chunks_exact(2).map(|p| {
        if little {
            u16::from_le_bytes([p[0], p[1]])
        } else {
            u16::from_be_bytes([p[0], p[1]])
        }
    });
    let mut text = String::with_capacity(body.len() / 2);
    for (i, c) in char::decode_utf16(units).enumerate() {
        match c {
            Ok(c) => text.push(c),
            Err(_) => return Some(Err(2 + 2 * i)),
        }
    }
    Some(Ok(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each object's kind and the span of its `metadata.name`.
    fn load_text(text: &str) -> Loaded<(String, Option<Span>)> {
        load_with(
            Sources::default(),
            &[Input::Text {
                name: "-".into(),
                text: text.into(),
            }],
            LoadOptions::default(),
            &|object| {
                let kind = object.node.get("kind").and_then(Node::as_str);
                let name = object.node.get("metadata").and_then(|m| m.get("name"));
                (kind.unwrap_or("").to_string(), name.map(|n| n.span))
            },
        )
    }

    /// Walked files come in path order, component by component, whichever thread found them:
    /// `a/b.yaml` before `a-c.yaml` (as a byte string, `a-` sorts before `a/`).
    #[test]
    fn walked_files_are_in_path_order() {
        let tmp = tempfile::tempdir().unwrap();
        let names = ["a-c.yaml", "a/b.yaml", "a/a/z.yaml", "b.yaml", "a.yaml"];
        for name in names {
            let path = tmp.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(
                &path,
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n",
            )
            .unwrap();
        }
        let (files, _) = walk_dir(tmp.path());
        assert_eq!(
            files,
            ["a/a/z.yaml", "a/b.yaml", "a-c.yaml", "a.yaml", "b.yaml"]
        );
    }

    /// Loads the directory; the names (relative to it) of the files read and of the files
    /// the diagnostics are about, in their order.
    fn walk_dir(dir: &Path) -> (Vec<String>, Vec<String>) {
        let loaded = load_with(
            Sources::default(),
            &[Input::Path(dir.to_path_buf())],
            LoadOptions::default(),
            &|_| (),
        );
        let relative = |name: &str| name[dir.display().to_string().len() + 1..].to_string();
        let files = loaded.sources.iter().map(|(_, f)| relative(&f.name));
        let diagnosed = loaded
            .diagnostics
            .iter()
            .map(|d| relative(&loaded.sources.get(d.loc.file).name));
        (files.collect(), diagnosed.collect())
    }

    /// Errors of the walk come in the same path order as the files.
    #[cfg(unix)]
    #[test]
    fn walk_errors_are_in_path_order() {
        let tmp = tempfile::tempdir().unwrap();
        for dir in ["a-c", "a"] {
            std::fs::create_dir(tmp.path().join(dir)).unwrap();
            // A link to itself cannot be read.
            std::os::unix::fs::symlink("self.yaml", tmp.path().join(dir).join("self.yaml"))
                .unwrap();
        }
        let (_, diagnosed) = walk_dir(tmp.path());
        assert_eq!(diagnosed, ["a/self.yaml", "a-c/self.yaml"]);
    }

    #[test]
    fn lists_expand_and_non_kubernetes_documents_are_skipped() {
        let loaded = load_text(
            "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: ServiceList, items: [{apiVersion: v1, kind: Service, metadata: {name: s}}]}\n---\nservices: {web: {image: nginx}}\n---\nname: ci\non: push\n",
        );
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let kinds: Vec<_> = loaded
            .objects
            .iter()
            .map(|(kind, _)| kind.clone())
            .collect();
        assert_eq!(kinds, ["ConfigMap", "Service"]);
    }

    #[test]
    fn json_manifests_load() {
        let loaded =
            load_text(r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}"#);
        assert_eq!(loaded.objects.len(), 1);
    }

    #[test]
    fn helm_templates_are_a_notice_but_argo_parameters_are_data() {
        let helm =
            load_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n");
        assert!(helm.objects.is_empty());
        assert_eq!(helm.diagnostics.len(), 1);
        assert_eq!(helm.diagnostics[0].severity, crate::diag::Severity::Info);
        let argo = load_text(
            "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\nspec:\n  arguments: {parameters: [{name: m, value: '{{inputs.parameters.x}}'}]}\n",
        );
        assert_eq!(argo.objects.len(), 1);
        assert!(argo.diagnostics.is_empty());
    }

    #[test]
    fn bom_is_skipped_and_spans_still_slice_the_file() {
        let text = "\u{feff}apiVersion: v1\nkind: Namespace\nmetadata: {name: é}\n";
        let loaded = load_text(text);
        let name = loaded.objects[0].1.unwrap();
        assert_eq!(&text[name.range()], "é");
    }

    #[test]
    fn a_broken_document_does_not_hide_the_others() {
        let loaded = load_text(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\na: 1\na: 2\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
        );
        assert_eq!(loaded.objects.len(), 2);
        assert_eq!(loaded.diagnostics.len(), 1);
        let file = loaded.sources.get(loaded.diagnostics[0].loc.file);
        assert_eq!(file.line_col(loaded.diagnostics[0].loc.span.start).line, 6);
    }
}
