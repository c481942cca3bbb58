//! The fix loop: apply non-overlapping edits, re-load, re-check, repeat until nothing changes
//! (bounded). A file whose result no longer loads is left as it was, and a round that would
//! isolate a pod that was not isolated is undone.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::{Applicability, Edit, fixes};
use crate::check::{CheckOptions, CheckRun, check};
use crate::lint::ValuePatch;
use crate::load::Input;
use crate::model::{Direction, ObjectId};

const MAX_ROUNDS: usize = 8;

/// The result of fixing: the check of the fixed texts, and every changed file.
pub struct Outcome {
    pub run: CheckRun,
    /// Display name → (original text, fixed text), sorted by name.
    pub changed: BTreeMap<String, (Arc<str>, String)>,
    /// Fix titles applied, in order.
    pub applied: Vec<String>,
    /// New policy documents of the applied fixes: (namespace, name, text).
    pub documents: Vec<(String, String, String)>,
    /// Value rewrites of the applied fixes, as patches.
    pub patches: Vec<ValuePatch>,
    /// Applied value rewrites that no patch can express.
    pub unpatchable: Vec<String>,
    /// Why some fixes were not applied.
    pub problems: Vec<String>,
}

/// Applies the safe fixes (and the unsafe ones with `include_unsafe`) to in-memory copies.
pub fn fix_all(inputs: &[Input], options: &CheckOptions, include_unsafe: bool) -> Outcome {
    let mut options = options.clone();
    let mut run = check(inputs, &options);
    let mut originals: HashMap<String, Arc<str>> = HashMap::new();
    let mut frozen: HashSet<String> = HashSet::new();
    let mut tried: HashSet<(String, ObjectId, Option<&'static str>, String)> = HashSet::new();
    let mut applied = Vec::new();
    let mut documents = Vec::new();
    let mut patches = Vec::new();
    let mut unpatchable = Vec::new();
    let mut problems = Vec::new();
    for _ in 0..MAX_ROUNDS {
        // File name → (its text as analysed, the edits this round makes to it).
        let mut edits: BTreeMap<String, (Arc<str>, Vec<Edit>)> = BTreeMap::new();
        let mut titles = Vec::new();
        let mut round_documents = Vec::new();
        let mut round_patches = Vec::new();
        let mut round_unpatchable = Vec::new();
        for (finding, fix) in run.findings.iter().zip(fixes(&run)) {
            let Ok(fix) = fix else { continue };
            if fix.applicability == Applicability::Unsafe && !include_unsafe {
                continue;
            }
            let files: Result<Vec<(String, Arc<str>)>, String> = fix
                .edits
                .iter()
                .map(|e| {
                    let file = run.analysis.sources.get(e.file);
                    Ok((file.name.clone(), file.text_for_fix()?))
                })
                .collect();
            let files = match files {
                Ok(files) => files,
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            };
            if files.iter().any(|(name, _)| frozen.contains(name)) {
                continue;
            }
            let key = (
                finding.rule.clone(),
                finding.object.clone(),
                finding.side.map(Direction::as_str),
                finding.message.clone(),
            );
            if !tried.insert(key) {
                problems.push(format!(
                    "the fix for `{}` on {} did not resolve it; it was not applied again",
                    finding.rule, finding.object
                ));
                continue;
            }
            round_documents.extend(fix.documents);
            round_patches.extend(fix.patches);
            round_unpatchable.extend(fix.unpatchable);
            for (edit, (name, text)) in fix.edits.into_iter().zip(files) {
                edits
                    .entry(name)
                    .or_insert_with(|| (text, Vec::new()))
                    .1
                    .push(edit);
            }
            titles.push(fix.title);
        }
        if edits.is_empty() {
            break;
        }
        let before = isolation(&run);
        // (name, text before this round) of every file this round edits.
        let mut round: Vec<(String, Arc<str>)> = Vec::new();
        for (name, (text, mut file_edits)) in edits {
            originals
                .entry(name.clone())
                .or_insert_with(|| text.clone());
            file_edits.sort();
            file_edits.dedup();
            options
                .overrides
                .insert(name.clone(), apply_edits(&text, &file_edits).into());
            round.push((name, text));
        }
        let errors_before = error_counts(&run);
        let next = check(inputs, &options);
        let errors_after = error_counts(&next);
        let mut reverted = false;
        for (name, previous) in &round {
            if errors_after.get(name).copied().unwrap_or(0)
                > errors_before.get(name).copied().unwrap_or(0)
            {
                problems.push(format!(
                    "a fix would leave {name} unloadable; the file was left untouched"
                ));
                restore(&mut options, &originals, name, previous);
                frozen.insert(name.clone());
                reverted = true;
            }
        }
        let newly_isolated: Vec<String> = isolation(&next)
            .difference(&before)
            .map(|(id, d)| format!("{id} ({d})"))
            .collect();
        if !newly_isolated.is_empty() {
            problems.push(format!(
                "fixes would newly isolate {}; they were not applied",
                newly_isolated.join(", ")
            ));
            for (name, previous) in &round {
                restore(&mut options, &originals, name, previous);
                frozen.insert(name.clone());
            }
            run = check(inputs, &options);
            break;
        }
        run = if reverted {
            check(inputs, &options)
        } else {
            next
        };
        if !reverted {
            applied.extend(titles);
            documents.extend(round_documents);
            patches.extend(round_patches);
            unpatchable.extend(round_unpatchable);
        }
    }
    let changed = originals
        .into_iter()
        .filter_map(|(name, original)| {
            let fixed = options.overrides.get(&name)?.to_string();
            (fixed != *original).then_some((name, (original, fixed)))
        })
        .collect();
    Outcome {
        run,
        changed,
        applied,
        documents,
        patches,
        unpatchable,
        problems,
    }
}

/// Puts back the text the file had before this round (`previous`): no override when that was
/// the text on disk.
fn restore(
    options: &mut CheckOptions,
    originals: &HashMap<String, Arc<str>>,
    name: &str,
    previous: &Arc<str>,
) {
    if originals.get(name) == Some(previous) {
        options.overrides.remove(name);
    } else {
        options.overrides.insert(name.to_string(), previous.clone());
    }
}

/// Applies sorted edits, skipping any that overlap an earlier one (a later round retries).
pub fn apply_edits(text: &str, edits: &[Edit]) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    let mut at = 0;
    for e in edits {
        let (start, end) = (e.span.start as usize, e.span.end as usize);
        if start < at {
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(&e.replacement);
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

fn error_counts(run: &CheckRun) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for d in run.analysis.errors() {
        *counts
            .entry(run.analysis.sources.get(d.loc.file).name.clone())
            .or_default() += 1;
    }
    counts
}

/// Every (workload, direction) that is isolated, ordered (messages list them in this order).
fn isolation(run: &CheckRun) -> BTreeSet<(ObjectId, &'static str)> {
    let mut out = BTreeSet::new();
    for (w, isolated) in run.analysis.world.workloads.iter().zip(&run.isolated) {
        for (d, isolated) in [Direction::Ingress, Direction::Egress].iter().zip(isolated) {
            if *isolated {
                out.insert((w.meta.id.clone(), d.as_str()));
            }
        }
    }
    out
}
