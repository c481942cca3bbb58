//! One call from inputs to a modelled world: load, then build the model.

use crate::diag::{Diagnostic, Severity};
use crate::load::{self, Input, LoadOptions};
use crate::model::{World, build};
use crate::source::Sources;

/// What the rest of the pipeline works from.
#[derive(Debug)]
pub struct Analysis {
    pub sources: Sources,
    pub world: World,
    /// Input problems and notices, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Analysis {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

pub fn analyze(inputs: &[Input], options: LoadOptions) -> Analysis {
    analyze_with(Sources::default(), inputs, options)
}

/// Like [`analyze`], adding the inputs to `sources` that already hold other files (config, rules).
pub fn analyze_with(sources: Sources, inputs: &[Input], options: LoadOptions) -> Analysis {
    let loaded = load::load(sources, inputs, options);
    let (world, model_diags) = build::build(&loaded.objects);
    let mut diagnostics = loaded.diagnostics;
    diagnostics.extend(model_diags);
    diagnostics
        .sort_by(|a, b| (a.loc, a.severity, &a.message).cmp(&(b.loc, b.severity, &b.message)));
    Analysis {
        sources: loaded.sources,
        world,
        diagnostics,
    }
}
