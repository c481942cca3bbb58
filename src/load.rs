//! Inputs (files, directories, stdin) → Kubernetes objects as YAML nodes with byte spans.
//!
//! Directories are walked like git does (`.gitignore` honoured) in a deterministic order, files
//! are read and parsed in parallel, and every problem becomes a diagnostic: one bad file never
//! stops the run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rayon::prelude::*;

use crate::diag::Diagnostic;
use crate::source::{FileId, Location, SourceFile, Sources, Span};
use crate::yaml::{self, Limits, Node};

/// Something to read.
#[derive(Clone, Debug)]
pub enum Input {
    /// A file or a directory (walked recursively).
    Path(PathBuf),
    /// Text already in memory, such as stdin (named `-`).
    Text { name: String, text: String },
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
    Notice(String),
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
    // File ids are handed out in input order, before the parallel reads.
    let first_id = sources.iter().count() as u32;
    if let Some(progress) = &options.progress {
        progress.total.store(pending.len(), Ordering::Relaxed);
    }
    let results: Vec<FileResult<T>> = pending
        .into_par_iter()
        .enumerate()
        .map(|(i, (name, input))| {
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
                Problem::Notice(message) => Diagnostic::info(loc, message),
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
    let (bytes, path) = match input {
        _ if options.overrides.contains_key(&name) => {
            (options.overrides[&name].as_bytes().to_vec(), None)
        }
        ToRead::Input(Input::Text { text, .. }) => (text.clone().into_bytes(), None),
        ToRead::Input(Input::Path(path)) | ToRead::WalkedFile(path) => {
            let walked = matches!(input, ToRead::WalkedFile(_));
            match read_bounded(path, options.limits.max_file_bytes, walked) {
                Ok(bytes) => (bytes, Some(path)),
                Err(message) => return unread(name, 0, Problem::Error(message, None)),
            }
        }
    };
    if bytes.contains(&0) {
        return unread(
            name,
            0,
            Problem::Error(
                "binary file (contains NUL bytes); it was not read".into(),
                Some("remove it from the manifest tree or add it to .gitignore".into()),
            ),
        );
    }
    let text: Arc<str> = match String::from_utf8(bytes) {
        Ok(t) => t.into(),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            return unread(
                name,
                at,
                Problem::Error(
                    format!("not valid UTF-8 at byte {at}; the file was not read"),
                    Some("Kubernetes manifests must be UTF-8; re-encode the file".into()),
                ),
            );
        }
    };
    let source = match path {
        Some(path) => SourceFile::on_disk(name, path.clone(), text.clone()),
        None => SourceFile::new(name, text.clone()),
    };
    let parsed = match helm_template(Path::new(&source.name), &text) {
        Some(why) => Parsed {
            objects: Vec::new(),
            problems: vec![(
                Span::default(),
                Problem::Notice(format!(
                    "skipped: {why}; render it first (`helm template … | netpol-fix check -`)"
                )),
            )],
        },
        None => parse(file, &source, &text, options, per_object),
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
                        collect_objects(node, document, &mut |node, document| {
                            objects.push(per_object(Object {
                                file,
                                node,
                                document,
                                source: Some(source),
                            }))
                        });
                    }
                    Err(err) => problems.push((err.span, Problem::Error(err.message, None))),
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

/// Keeps Kubernetes objects, expanding `List` kinds; other documents are not ours to judge.
fn collect_objects(node: Node, document: Span, out: &mut dyn FnMut(Node, Span)) {
    let kind = node.get("kind").and_then(Node::as_str);
    let is_object = kind.is_some() && node.get("apiVersion").and_then(Node::as_str).is_some();
    if !is_object {
        return;
    }
    let items = node.get("items").and_then(Node::as_seq);
    match (kind, items) {
        (Some(k), Some(_)) if k.ends_with("List") => {
            let Some(yaml::Value::Map(entries)) = Some(node.value) else {
                return;
            };
            for (key, value) in entries {
                if key.as_str() == Some("items")
                    && let yaml::Value::Seq(items) = value.value
                {
                    for item in items {
                        collect_objects(item, document, out);
                    }
                }
            }
        }
        _ => out(node, document),
    }
}

/// Why a file is an unrendered Helm template, if it is one: a file under a chart's `templates/`
/// directory, or Go template actions only Helm uses (Argo's `{{inputs.parameters.x}}` is data).
fn helm_template(path: &Path, text: &str) -> Option<&'static str> {
    let in_chart = path
        .ancestors()
        .skip(1)
        .find(|p| p.file_name().is_some_and(|n| n == "templates"))
        .and_then(Path::parent)
        .is_some_and(|chart| chart.join("Chart.yaml").is_file());
    if in_chart && text.contains("{{") {
        return Some("Helm chart template (unrendered `{{ }}`)");
    }
    let helm_action = memchr::memmem::find_iter(text.as_bytes(), "{{").any(|i| {
        let rest = text[i + 2..].trim_start_matches('-').trim_start();
        rest.starts_with('.')
            || rest.starts_with("/*")
            || rest.starts_with('$')
            || [
                "include ",
                "template ",
                "if ",
                "else",
                "end",
                "range ",
                "with ",
                "define ",
                "toYaml ",
                "tpl ",
                "required ",
                "default ",
            ]
            .iter()
            .any(|kw| rest.starts_with(kw))
    });
    helm_action.then_some("unrendered Helm/Go template (`{{ }}` actions)")
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
