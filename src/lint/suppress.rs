//! Suppression annotations: `netpol-fix.io/ignore: "<rule>[,<rule>…]"` (or `all`) with a reason
//! in `netpol-fix.io/ignore-reason`, on a workload, ConfigMap, NetworkPolicy or Namespace.

use super::catalog::{Check, Rule};
use super::{Finding, finding};
use crate::model::{Labels, ObjectId, World};
use crate::source::Location;

pub const IGNORE: &str = "netpol-fix.io/ignore";
pub const IGNORE_REASON: &str = "netpol-fix.io/ignore-reason";

struct Suppression {
    object: ObjectId,
    loc: Location,
    rules: Vec<String>,
    has_reason: bool,
    used: Vec<bool>,
}

fn suppressions(world: &World) -> Vec<Suppression> {
    let annotated = world
        .workloads
        .iter()
        .map(|w| (&w.meta.id, w.meta.name_loc, &w.meta.annotations))
        .chain(
            world
                .config_maps
                .iter()
                .map(|c| (&c.meta.id, c.meta.name_loc, &c.meta.annotations)),
        )
        .chain(
            world
                .policies
                .iter()
                .map(|p| (&p.meta.id, p.meta.name_loc, &p.meta.annotations)),
        );
    let mut out: Vec<Suppression> = annotated
        .filter_map(|(id, loc, annotations)| suppression(id.clone(), loc, annotations))
        .collect();
    out.extend(world.namespaces.iter().filter_map(|n| {
        let loc = n.declared_at?;
        suppression(n.id(), loc, &n.annotations)
    }));
    out
}

fn suppression(object: ObjectId, loc: Location, annotations: &Labels) -> Option<Suppression> {
    let list = annotations.get(IGNORE)?;
    let rules: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect();
    let has_reason = annotations
        .get(IGNORE_REASON)
        .is_some_and(|r| !r.trim().is_empty());
    Some(Suppression {
        object,
        loc,
        used: vec![false; rules.len()],
        rules,
        has_reason,
    })
}

/// The objects that carry an ignore annotation: the only entries of a finding's scope that a
/// suppression can match (so findings need keep no others).
pub(crate) fn annotated(world: &World) -> foldhash::HashSet<ObjectId> {
    suppressions(world).into_iter().map(|s| s.object).collect()
}

/// Drops suppressed findings and adds the findings of the suppression rules. `rules` are the
/// active rules; `known` every rule id of the catalogue.
pub(crate) fn apply(
    world: &World,
    rules: &[Rule],
    known: &[String],
    findings: Vec<Finding>,
) -> Vec<Finding> {
    let mut sups = suppressions(world);
    let mut kept: Vec<Finding> = findings
        .into_iter()
        .filter(|f| {
            let mut suppressed = false;
            for s in sups.iter_mut().filter(|s| f.scope.contains(&s.object)) {
                for (i, r) in s.rules.iter().enumerate() {
                    if r == &f.rule || r == "all" {
                        s.used[i] = true;
                        suppressed = true;
                    }
                }
            }
            !suppressed
        })
        .collect();
    for rule in rules {
        match rule.check {
            Check::UnusedSuppression => {
                for s in &sups {
                    for (i, r) in s.rules.iter().enumerate() {
                        let unknown = r != "all" && !known.contains(r);
                        let active = r == "all" || rules.iter().any(|a| &a.id == r);
                        if s.used[i] || (!unknown && !active) {
                            continue;
                        }
                        let mut f = finding(rule, s.object.clone(), s.loc);
                        f.message = if unknown {
                            format!("{} suppresses `{r}`, which is not a rule", s.object)
                        } else {
                            format!(
                                "{} suppresses `{r}`, but that rule reports nothing here",
                                s.object
                            )
                        };
                        f.help = format!(
                            "remove `{r}` from the `{IGNORE}` annotation (list the rules with `netpol-fix rules`)"
                        );
                        kept.push(f);
                    }
                }
            }
            Check::SuppressionWithoutReason => {
                for s in sups.iter().filter(|s| !s.has_reason) {
                    let mut f = finding(rule, s.object.clone(), s.loc);
                    f.message = format!("{} has `{IGNORE}` without `{IGNORE_REASON}`", s.object);
                    f.help = format!(
                        "say why in the `{IGNORE_REASON}` annotation, so reviewers can judge it"
                    );
                    kept.push(f);
                }
            }
            _ => {}
        }
    }
    kept
}
