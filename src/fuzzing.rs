//! The invariants the fuzz targets (`fuzz/`) check on arbitrary input, kept in the library so
//! the regression tests replay every input the fuzzers found with the same checks. Each function
//! panics when an invariant breaks.

use crate::check::{CheckOptions, check};
use crate::fix::{apply::fix_all, summaries};
use crate::load::Input;

fn input(text: &str) -> [Input; 1] {
    [Input::Text {
        name: "fuzz.yaml".into(),
        text: text.into(),
    }]
}

/// Loading, modelling, linting and describing fixes never panic, and every diagnostic and
/// finding points at a character boundary inside its file.
pub fn load(text: &str) {
    let run = check(&input(text), &CheckOptions::default());
    let sources = &run.analysis.sources;
    let locations = run
        .analysis
        .diagnostics
        .iter()
        .map(|d| d.loc)
        .chain(run.findings.iter().map(|f| f.loc));
    for loc in locations {
        let file = sources
            .get(loc.file)
            .text()
            .expect("input given as text stays resident");
        let (start, end) = (loc.span.start as usize, loc.span.end as usize);
        assert!(
            start <= end && end <= file.len(),
            "span {start}..{end} outside the file"
        );
        assert!(
            file.is_char_boundary(start) && file.is_char_boundary(end),
            "span {start}..{end} splits a character"
        );
        let _ = sources.position(loc);
    }
    summaries(&run).for_each(drop);
}

/// Fixing (unsafe fixes included) only produces texts that load with no new errors, and fixing
/// the result again changes nothing.
pub fn fix(text: &str) {
    let options = CheckOptions::default();
    let outcome = fix_all(&input(text), &options, true);
    let errors = |text: &str| check(&input(text), &options).analysis.errors().count();
    for (original, fixed) in outcome.changed.values() {
        assert!(
            errors(fixed) <= errors(original),
            "a fix added errors:\n{fixed}"
        );
        let again = fix_all(&input(fixed), &options, true);
        assert!(
            again.changed.is_empty(),
            "fixing twice changed more:\n{fixed}"
        );
    }
}
