//! One call from inputs to a modelled world: load, then build the model.

use crate::diag::{Diagnostic, Severity};
use crate::load::{self, Input, LoadOptions};
use crate::model::{World, build};
use crate::source::Sources;
use crate::timings::Timings;

/// What the rest of the pipeline works from.
#[derive(Debug)]
pub struct Analysis {
    pub sources: Sources,
    pub world: World,
    /// Input problems and notices, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    pub timings: Timings,
}

impl Analysis {
    /// The input errors (not warnings or notices).
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// The notices of input that was not analysed (files, documents, objects).
    pub fn skipped(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.skipped)
    }
}

pub fn analyze(inputs: &[Input], options: LoadOptions) -> Analysis {
    analyze_with(Sources::default(), inputs, options)
}

/// Like [`analyze`], adding the inputs to `sources` that already hold other files (config, rules).
pub fn analyze_with(sources: Sources, inputs: &[Input], options: LoadOptions) -> Analysis {
    let mut timings = Timings::default();
    let earlier_files = sources.iter().count();
    let loaded = timings.phase("load, parse, model", || {
        load::load_with(sources, inputs, options, &|object| build::object(&object))
    });
    let objects = loaded.objects.len();
    let (world, model_diags) = timings.phase("assemble model", || build::assemble(loaded.objects));
    let bytes: usize = loaded
        .sources
        .iter()
        .skip(earlier_files)
        .map(|(_, f)| f.len())
        .sum();
    timings.count("bytes", bytes as u64);
    timings.count("objects", objects as u64);
    timings.count("workloads", world.workloads.len() as u64);
    timings.count("policies", world.policies.len() as u64);
    let mut diagnostics = loaded.diagnostics;
    diagnostics.extend(model_diags);
    // Input of which nothing at all was read must not look like a clean tree.
    if objects == 0
        && let Some(first) = diagnostics.iter().find(|d| d.skipped)
    {
        let loc = first.loc;
        diagnostics.push(
            Diagnostic::error(loc, "nothing in the input was analysed: every document was skipped (see the notices)")
                .with_help("render templates first, or pass the manifests themselves; a run that read nothing cannot be clean"),
        );
    }
    diagnostics
        .sort_by(|a, b| (a.loc, a.severity, &a.message).cmp(&(b.loc, b.severity, &b.message)));
    Analysis {
        sources: loaded.sources,
        world,
        diagnostics,
        timings,
    }
}
