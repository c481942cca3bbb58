//! `check` as one call: configuration, rule catalogue and selection, load, model, lint.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::analysis::{Analysis, analyze_with};
use crate::config::{self, Config};
use crate::diag::{Diagnostic, Severity};
use crate::lint::{self, Finding, catalog, catalog::Rule};
use crate::load::{Input, LoadOptions};
use crate::source::{SourceFile, Sources};

/// What the command line adds to the configuration.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// `--config FILE`; otherwise `netpol-fix.yaml` at the root of `config_root`.
    pub config: Option<PathBuf>,
    /// The first directory given on the command line.
    pub config_root: Option<PathBuf>,
    /// `--rules DIR`.
    pub rule_dirs: Vec<PathBuf>,
    pub select: Vec<String>,
    pub ignore: Vec<String>,
    /// File texts to analyse instead of what is on disk (fixes in progress), by display name.
    pub overrides: std::collections::HashMap<String, Arc<str>>,
    /// Report only on these files or directories (canonical paths): findings located in them or
    /// pointing into them (such as the policy that isolates a workload elsewhere), and their
    /// warnings and notices; input errors in those files and in the files those findings point
    /// into (the others are counted in `hidden_errors`). `None` reports on everything.
    pub scope: Option<Vec<PathBuf>>,
    /// Counts files as they are read (for a progress display on a terminal).
    pub progress: Option<Arc<crate::load::Progress>>,
    /// Also record every flow the manifests imply and its verdict (`report`).
    pub record_flows: bool,
}

pub struct CheckRun {
    pub analysis: Analysis,
    pub config: Config,
    /// The whole catalogue (built in and user rules).
    pub catalog: Vec<Rule>,
    pub findings: Vec<Finding>,
    /// Per workload: is it isolated for [ingress, egress]? (Fixes must not isolate more.)
    pub isolated: Vec<[bool; 2]>,
    /// What `record_flows` asked for.
    pub recorded: lint::Recorded,
    /// Input errors in files outside `scope` that no reported finding points into: counted,
    /// not shown.
    pub hidden_errors: usize,
    /// Likewise, notices of input not analysed in files outside `scope`.
    pub hidden_skipped: usize,
}

impl CheckRun {
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.catalog.iter().find(|r| r.id == id)
    }
}

/// Loads `inputs` with what the configuration asks of the loader (`limits`, `exclude`), for the
/// commands that only need the model (`explain`, `graph`); configuration errors are included.
pub fn analyze_configured(inputs: &[Input], options: &CheckOptions) -> Analysis {
    let mut sources = Sources::default();
    let mut diagnostics = Vec::new();
    let (config, _) = load_config(options, &mut sources, &mut diagnostics);
    let mut analysis = analyze_with(sources, inputs, loader_options(&config, options));
    analysis.diagnostics.extend(diagnostics);
    analysis
}

fn loader_options(config: &Config, options: &CheckOptions) -> LoadOptions {
    LoadOptions {
        limits: config.limits,
        exclude: config.exclude.clone(),
        overrides: options.overrides.clone(),
        progress: options.progress.clone(),
    }
}

pub fn check(inputs: &[Input], options: &CheckOptions) -> CheckRun {
    let mut sources = Sources::default();
    let mut diagnostics = Vec::new();
    let (config, config_dir) = load_config(options, &mut sources, &mut diagnostics);
    let mut rule_dirs: Vec<PathBuf> = config
        .rule_dirs
        .iter()
        .map(|d| config_dir.as_deref().unwrap_or(Path::new(".")).join(d))
        .collect();
    rule_dirs.extend(options.rule_dirs.iter().cloned());
    let dirs: Vec<&Path> = rule_dirs.iter().map(PathBuf::as_path).collect();
    let (mut catalog, rule_diags) = catalog::load(&mut sources, &dirs);
    diagnostics.extend(rule_diags);

    let mut analysis = analyze_with(sources, inputs, loader_options(&config, options));
    let active = select(
        &mut catalog,
        &config,
        options,
        &mut analysis,
        &mut diagnostics,
    );
    let known: Vec<String> = catalog.iter().map(|r| r.id.clone()).collect();
    let mut timings = std::mem::take(&mut analysis.timings);
    let mut lint = lint::run(
        &mut analysis.world,
        &config,
        &active,
        &known,
        options.record_flows,
        &mut timings,
    );
    let (mut hidden_errors, mut hidden_skipped) = (0, 0);
    if let Some(scope) = &options.scope {
        let in_scope = in_scope(&analysis.sources, scope);
        lint.findings.retain(|f| {
            in_scope[f.loc.file.0 as usize]
                || f.related.iter().any(|r| in_scope[r.loc.file.0 as usize])
        });
        // Input errors count where they can change what is reported: in the files given, and
        // in the files the reported findings point into. The others are only counted: a hook
        // on one file must not fail for a broken file it never touched.
        let mut relevant = in_scope.clone();
        for finding in &lint.findings {
            relevant[finding.loc.file.0 as usize] = true;
            for related in &finding.related {
                relevant[related.loc.file.0 as usize] = true;
            }
        }
        let before = (analysis.errors().count(), analysis.skipped().count());
        analysis.diagnostics.retain(|d| {
            let file = d.loc.file.0 as usize;
            if d.severity == Severity::Error {
                relevant[file]
            } else {
                in_scope[file]
            }
        });
        hidden_errors = before.0 - analysis.errors().count();
        hidden_skipped = before.1 - analysis.skipped().count();
    }
    timings.count("findings", lint.findings.len() as u64);
    analysis.timings = timings;
    analysis.diagnostics.extend(diagnostics);
    analysis
        .diagnostics
        .sort_by(|a, b| (a.loc, a.severity, &a.message).cmp(&(b.loc, b.severity, &b.message)));
    CheckRun {
        analysis,
        config,
        catalog,
        findings: lint.findings,
        isolated: lint.isolated,
        recorded: lint.recorded,
        hidden_errors,
        hidden_skipped,
    }
}

/// Reads `--config` or `netpol-fix.yaml` in the first directory given; returns the config and
/// the directory relative paths in it are resolved against.
fn load_config(
    options: &CheckOptions,
    sources: &mut Sources,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Config, Option<PathBuf>) {
    let path = match (&options.config, &options.config_root) {
        (Some(p), _) => p.clone(),
        (None, Some(root)) if root.join(config::FILE_NAME).is_file() => {
            root.join(config::FILE_NAME)
        }
        _ => return (Config::default(), None),
    };
    let dir = path.parent().map(Path::to_path_buf);
    match crate::load::read_text_file(&path) {
        Ok(text) => {
            let text: Arc<str> = text.into();
            let file = sources.add(SourceFile::new(path.display().to_string(), text.clone()));
            let (config, errors) = config::parse(file, &text);
            diagnostics.extend(errors);
            (config, dir)
        }
        Err(e) => {
            let file = sources.add(SourceFile::new(path.display().to_string(), "".into()));
            diagnostics.push(Diagnostic::error(
                config::file_start(file),
                format!("cannot read the configuration: {e}"),
            ));
            (Config::default(), dir)
        }
    }
}

/// Applies severity overrides and returns the active rules: `select` (config and command line;
/// empty = all) minus `ignore`. Unknown rule ids are errors.
fn select(
    catalog: &mut [Rule],
    config: &Config,
    options: &CheckOptions,
    analysis: &mut Analysis,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Rule> {
    let mut unknown = Vec::new();
    for (id, severity) in &config.rules.severity {
        match catalog.iter_mut().find(|r| &r.id == id) {
            Some(rule) => rule.severity = *severity,
            None => unknown.push(id.clone()),
        }
    }
    let select: Vec<&String> = config.rules.select.iter().chain(&options.select).collect();
    let ignore: Vec<&String> = config.rules.ignore.iter().chain(&options.ignore).collect();
    for id in select.iter().chain(&ignore) {
        if !catalog.iter().any(|r| &&r.id == id) {
            unknown.push(id.to_string());
        }
    }
    unknown.sort();
    unknown.dedup();
    if !unknown.is_empty() {
        let file = analysis
            .sources
            .add(SourceFile::new("<rule selection>".into(), "".into()));
        for id in unknown {
            diagnostics.push(Diagnostic {
                severity: Severity::Error,
                loc: config::file_start(file),
                message: format!("unknown rule `{id}` in --select/--ignore or the configuration"),
                help: Some("list the rules with `netpol-fix rules`".into()),
                skipped: false,
            });
        }
    }
    catalog
        .iter()
        .filter(|r| select.is_empty() || select.contains(&&r.id))
        .filter(|r| !ignore.contains(&&r.id))
        .cloned()
        .collect()
}

/// Per file id: is the file one of `scope` or inside one of its directories (canonical paths)?
fn in_scope(sources: &Sources, scope: &[PathBuf]) -> Vec<bool> {
    sources
        .iter()
        .map(|(_, file)| {
            std::fs::canonicalize(&file.name)
                .is_ok_and(|path| scope.iter().any(|s| path.starts_with(s)))
        })
        .collect()
}
