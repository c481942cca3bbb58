//! Fixes: each finding's remedy as text edits on the original files (new NetworkPolicy
//! documents next to the isolating policy, or an in-cluster name in place of an address).
//! [`apply`] applies them until nothing changes; `--diff`, `--write` and `--patches` are sinks.

pub mod apply;
mod calico;
pub mod output;
pub mod yaml_out;

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use rayon::prelude::*;

use crate::check::CheckRun;
use crate::lint::{Finding, Peer, Placement, Remedy, ValuePatch};
use crate::model::index::WorkloadIndex;
use crate::model::{Direction, Labels, Name, Selector, World};
use crate::net::Protocol;
use crate::source::{FileId, Sources, Span};
use yaml_out::{Style, Y, emit};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Applicability {
    /// Certainly what the manifests intend: applied by `--diff`/`--write`.
    Safe,
    /// Guessed (e.g. an API server address nobody configured): only with `--unsafe-fixes`.
    Unsafe,
}

impl Applicability {
    pub fn as_str(self) -> &'static str {
        match self {
            Applicability::Safe => "safe",
            Applicability::Unsafe => "unsafe",
        }
    }
}

/// Replace `span` of `file` with `replacement` (an insertion when the span is empty).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edit {
    pub file: FileId,
    pub span: Span,
    pub replacement: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fix {
    pub title: String,
    pub applicability: Applicability,
    pub edits: Vec<Edit>,
    /// New documents (namespace, name, text) for `--patches`.
    pub documents: Vec<(String, String, String)>,
    /// Value rewrites as patches of the objects holding them, for `--patches`.
    pub patches: Vec<ValuePatch>,
    /// Value rewrites no strategic-merge patch can express (args, Argo templates).
    pub unpatchable: Vec<String>,
}

/// What fix computation looks things up in, built once per run.
struct Index<'r> {
    world: &'r World,
    sources: &'r Sources,
    /// Per workload: isolated for [ingress, egress].
    isolated: &'r [[bool; 2]],
    workloads: WorkloadIndex<'r>,
    policies_by_namespace: HashMap<&'r str, Vec<usize>>,
    /// Per file, how it writes YAML, once a fix needs it.
    styles: Vec<OnceLock<Style>>,
    /// (namespace, name) of every existing policy.
    names: HashSet<(Name, Name)>,
}

/// The fix of every finding, in the order of `run.findings`; `Err` says why there is none.
pub fn fixes(run: &CheckRun) -> impl Iterator<Item = Result<Fix, String>> + '_ {
    in_order(run, Render::Edits, CHUNK)
}

/// Findings whose fixes are computed together.
const CHUNK: usize = 1024;

/// Fixes in the order of the findings, computed a chunk at a time (so a report never holds
/// them all) and in parallel within a chunk.
///
/// The name of an added policy depends on the fixes before it: it must be taken by no
/// existing policy and by no earlier fix. Each fix of a chunk is first computed against the
/// existing names alone; in order, a fix that took a name an earlier fix had taken is computed
/// again against those too. The first free name against fewer names, when it is free against
/// all, is the first free name against all, so the result is that of computing one at a time.
fn in_order(
    run: &CheckRun,
    render: Render,
    chunk: usize,
) -> impl Iterator<Item = Result<Fix, String>> + '_ {
    let index = Index::new(run);
    let mut added = HashSet::new();
    let none = HashSet::new();
    run.findings.chunks(chunk).flat_map(move |chunk| {
        let first_tries: Vec<_> = chunk
            .par_iter()
            .map(|f| fix_for(f, &index, render, &none))
            .collect();
        let mut fixes = Vec::with_capacity(chunk.len());
        for (finding, (fix, taken)) in chunk.iter().zip(first_tries) {
            let (fix, taken) = if taken.iter().any(|name| added.contains(name)) {
                fix_for(finding, &index, render, &added)
            } else {
                (fix, taken)
            };
            added.extend(taken);
            fixes.push(fix);
        }
        fixes
    })
}

/// What a report shows of a fix: its title and applicability, without rendering any text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub title: String,
    pub applicability: Applicability,
}

/// [`fixes`] as reports need them: the same titles (and added policy names), no edits.
pub fn summaries(run: &CheckRun) -> impl Iterator<Item = Result<Summary, String>> + '_ {
    in_order(run, Render::TitleOnly, CHUNK).map(|fix| {
        fix.map(|fix| Summary {
            title: fix.title,
            applicability: fix.applicability,
        })
    })
}

/// Whether a fix's new documents are rendered (for edits) or only named (for reports).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Render {
    Edits,
    TitleOnly,
}

impl<'r> Index<'r> {
    fn new(run: &'r CheckRun) -> Self {
        let world = &run.analysis.world;
        let mut policies_by_namespace: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, p) in world.policies.iter().enumerate() {
            policies_by_namespace
                .entry(p.meta.id.namespace.as_str())
                .or_default()
                .push(i);
        }
        Index {
            world,
            sources: &run.analysis.sources,
            isolated: &run.isolated,
            workloads: WorkloadIndex::new(world),
            policies_by_namespace,
            styles: run
                .analysis
                .sources
                .iter()
                .map(|_| OnceLock::new())
                .collect(),
            names: world
                .policies
                .iter()
                .map(|p| (p.meta.id.namespace, p.meta.id.name))
                .collect(),
        }
    }
}

/// The fix of `finding`, and the names of the policies it adds (taken even when a later
/// step fails), choosing names that no existing policy and none of `earlier` has.
fn fix_for(
    finding: &Finding,
    index: &Index,
    render: Render,
    earlier: &HashSet<(Name, Name)>,
) -> (Result<Fix, String>, Vec<(Name, Name)>) {
    let mut taken = Vec::new();
    let fix = fix_taking_names(finding, index, render, earlier, &mut taken);
    (fix, taken)
}

fn fix_taking_names(
    finding: &Finding,
    index: &Index,
    render: Render,
    earlier: &HashSet<(Name, Name)>,
    taken: &mut Vec<(Name, Name)>,
) -> Result<Fix, String> {
    let sources = index.sources;
    if finding.remedies.is_empty() {
        return Err("no fix: the right change depends on intent the manifests do not state".into());
    }
    let mut fix = Fix {
        title: String::new(),
        applicability: Applicability::Safe,
        edits: Vec::new(),
        documents: Vec::new(),
        patches: Vec::new(),
        unpatchable: Vec::new(),
    };
    let mut titles = Vec::new();
    for remedy in &finding.remedies {
        match remedy {
            Remedy::Allow {
                direction,
                selected,
                peer,
                ports,
                safe,
                placement,
            } => {
                if !safe {
                    fix.applicability = Applicability::Unsafe;
                }
                let anchor = match *placement {
                    Placement::CalicoRule { policy, index: at } => {
                        let (edit, title) = calico::rule_edit(
                            sources,
                            &index.world.calico.policies[policy],
                            *direction,
                            at,
                            selected,
                            peer,
                            ports,
                        )?;
                        titles.push(title);
                        if render == Render::Edits {
                            fix.edits.push(edit);
                        }
                        continue;
                    }
                    Placement::AfterPolicy(p) => yaml_anchor(index, p)?,
                    Placement::AfterCalicoPolicy(p) => {
                        let meta = &index.world.calico.policies[p].meta;
                        if sources.get(meta.document.file).is_json() {
                            return Err(format!(
                                "no safe fix: Calico {} {} is in a JSON file, where a YAML document cannot be added; use --patches",
                                meta.id.kind, meta.id.name
                            ));
                        }
                        meta.document
                    }
                };
                check_already_isolated(index, &selected.0, &selected.1, *direction)?;
                let name = unique_name(
                    [&index.names, earlier],
                    taken,
                    &selected.0,
                    &policy_name(finding, *direction, &selected.1, peer),
                );
                titles.push(format!(
                    "add NetworkPolicy {}/{name} allowing {} {} {} on {}",
                    selected.0,
                    direction.as_str(),
                    if *direction == Direction::Egress {
                        "to"
                    } else {
                        "from"
                    },
                    describe_peer(peer),
                    ports
                        .iter()
                        .map(|(p, n)| format!("{p} {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                if render == Render::Edits {
                    let file_text = sources.get(anchor.file).text_for_fix()?;
                    let style =
                        *index.styles[anchor.file.0 as usize].get_or_init(|| Style::of(&file_text));
                    let body = policy_document(finding, &name, *direction, selected, peer, ports);
                    let text = emit(&body, style);
                    fix.edits.push(insert_document_after(
                        anchor.file,
                        &file_text,
                        anchor.span.end as usize,
                        &text,
                        style,
                    ));
                    fix.documents.push((selected.0.to_string(), name, text));
                }
            }
            Remedy::ReplaceHost {
                value,
                host,
                replacement,
                patch,
                invalid,
            } => {
                if let Some(problem) = invalid {
                    return Err(format!("no fix: {problem}"));
                }
                let text = sources.get(value.file).text_for_fix()?;
                let slice = &text[value.span.range()];
                let bracketed = format!("[{host}]");
                let needle = if slice.contains(&bracketed) {
                    bracketed.as_str()
                } else {
                    host.as_str()
                };
                let found: Vec<usize> = slice.match_indices(needle).map(|(i, _)| i).collect();
                let [at] = found.as_slice() else {
                    return Err(format!(
                        "no fix: `{host}` is not written exactly once in the value"
                    ));
                };
                let start = value.span.start as usize + at;
                fix.edits.push(Edit {
                    file: value.file,
                    span: Span::new(start, start + needle.len()),
                    replacement: replacement.clone(),
                });
                let title = format!("replace `{host}` with `{replacement}`");
                match patch {
                    Some(p) => fix.patches.push(p.clone()),
                    None => fix
                        .unpatchable
                        .push(format!("{title} in {}", finding.object)),
                }
                titles.push(title);
            }
        }
    }
    fix.title = titles.join("; ");
    Ok(fix)
}

/// The document a new policy goes after: the isolating policy's, or, when that file is JSON
/// (where a YAML document cannot go), another policy's of the same namespace in a YAML file.
fn yaml_anchor(index: &Index, policy: usize) -> Result<crate::source::Location, String> {
    let (world, sources) = (index.world, index.sources);
    let is_yaml = |p: usize| !sources.get(world.policies[p].meta.document.file).is_json();
    let ns = world.policies[policy].meta.id.namespace.as_str();
    std::iter::once(policy)
        .chain(index.policies_by_namespace.get(ns).into_iter().flatten().copied())
        .find(|&p| is_yaml(p))
        .map(|p| world.policies[p].meta.document)
        .ok_or_else(|| format!("no safe fix: the policies of namespace {ns} are in JSON files, where a YAML document cannot be added; use --patches"))
}

/// A new policy selecting `labels` must not isolate a pod that was not isolated.
fn check_already_isolated(
    index: &Index,
    ns: &str,
    labels: &Labels,
    direction: Direction,
) -> Result<(), String> {
    for i in index.workloads.with_labels(ns, labels) {
        let w = &index.world.workloads[i];
        if !index.isolated[i][direction.index()] {
            return Err(format!(
                "no safe fix: a policy selecting `{}` would also isolate {} for {}, which is not isolated today",
                Selector::matching(labels),
                w.meta.id,
                direction.as_str()
            ));
        }
    }
    Ok(())
}

fn describe_peer(peer: &Peer) -> String {
    match peer {
        Peer::Pods { namespace, labels } => {
            let sel = Selector::matching(labels);
            format!("{namespace} pods `{sel}`")
        }
        Peer::Cidrs(cidrs) => cidrs
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// A DNS-1123 name that says what the policy is for: `<client>-allow-dns`,
/// `<client>-allow-apiserver`, `<client>-allow-to-<peer>`, `<selected>-allow-from-<client>`.
fn policy_name(finding: &Finding, direction: Direction, selected: &Labels, peer: &Peer) -> String {
    let short = |labels: &Labels| {
        labels
            .get("app")
            .or_else(|| labels.values().next())
            .cloned()
    };
    let client = &finding.object.name;
    let raw = match (finding.rule.as_str(), direction, peer) {
        ("missing-dns-egress", _, _) => format!("{client}-allow-dns"),
        ("missing-apiserver-egress", _, _) => format!("{client}-allow-apiserver"),
        (_, Direction::Egress, Peer::Pods { namespace, labels }) => {
            format!("{client}-allow-to-{}", short(labels).unwrap_or(*namespace))
        }
        (_, Direction::Egress, Peer::Cidrs(_)) => format!("{client}-allow-egress"),
        (_, Direction::Ingress, _) => {
            format!(
                "{}-allow-from-{client}",
                short(selected).unwrap_or_else(|| "pods".into())
            )
        }
    };
    dns_label(&raw)
}

fn dns_label(raw: &str) -> String {
    let mut out: String = raw
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.truncate(58);
    out.trim_matches('-').to_string()
}

/// `base`, or `base-2`, `base-3`…: the first that is in none of `names` and not yet
/// `taken`, which it then is.
fn unique_name(
    names: [&HashSet<(Name, Name)>; 2],
    taken: &mut Vec<(Name, Name)>,
    ns: &str,
    base: &str,
) -> String {
    let mut name = base.to_string();
    let mut n = 2;
    loop {
        let candidate = (Name::from(ns), Name::from(name.as_str()));
        if !names.iter().any(|set| set.contains(&candidate)) && !taken.contains(&candidate) {
            taken.push(candidate);
            return name;
        }
        name = format!("{base}-{n}");
        n += 1;
    }
}

fn match_labels(labels: &Labels) -> Y {
    if labels.is_empty() {
        return Y::Map(vec![]);
    }
    Y::Map(vec![(
        "matchLabels".into(),
        Y::Map(labels.iter().map(|(k, v)| (*k, Y::Str(*v))).collect()),
    )])
}

fn policy_document(
    finding: &Finding,
    name: &str,
    direction: Direction,
    selected: &(Name, Labels),
    peer: &Peer,
    ports: &[(Protocol, u16)],
) -> Y {
    let peer_y = match peer {
        Peer::Pods { namespace, labels } => Y::Seq(vec![Y::Map(vec![
            (
                "namespaceSelector".into(),
                match_labels(&[(Name::from("kubernetes.io/metadata.name"), *namespace)].into()),
            ),
            ("podSelector".into(), match_labels(labels)),
        ])]),
        Peer::Cidrs(cidrs) => Y::Seq(
            cidrs
                .iter()
                .map(|c| {
                    Y::Map(vec![(
                        "ipBlock".into(),
                        Y::Map(vec![("cidr".into(), Y::Str(c.to_string().into()))]),
                    )])
                })
                .collect(),
        ),
    };
    let ports_y = Y::Seq(
        ports
            .iter()
            .map(|(p, n)| {
                Y::Map(vec![
                    ("protocol".into(), Y::Str(p.as_str().into())),
                    ("port".into(), Y::Raw(n.to_string())),
                ])
            })
            .collect(),
    );
    let (kind, peers_key) = match direction {
        Direction::Egress => ("Egress", "to"),
        Direction::Ingress => ("Ingress", "from"),
    };
    Y::Map(vec![
        ("apiVersion".into(), Y::Str("networking.k8s.io/v1".into())),
        ("kind".into(), Y::Str("NetworkPolicy".into())),
        (
            "metadata".into(),
            Y::Map(vec![
                ("name".into(), Y::Str(name.into())),
                ("namespace".into(), Y::Str(selected.0)),
                (
                    "annotations".into(),
                    Y::Map(vec![(
                        "netpol-fix.io/added-for".into(),
                        Y::Str(Name::from(&format!("{} {}", finding.rule, finding.object))),
                    )]),
                ),
            ]),
        ),
        (
            "spec".into(),
            Y::Map(vec![
                ("podSelector".into(), match_labels(&selected.1)),
                ("policyTypes".into(), Y::Seq(vec![Y::Str(kind.into())])),
                (
                    direction.as_str().into(),
                    Y::Seq(vec![Y::Map(vec![
                        (peers_key.into(), peer_y),
                        ("ports".into(), ports_y),
                    ])]),
                ),
            ]),
        ),
    ])
}

/// Inserts `---` and the document after the line holding byte `doc_end` (the end of the anchor
/// document), keeping the file's line ends.
fn insert_document_after(
    file: FileId,
    text: &str,
    doc_end: usize,
    doc: &str,
    style: Style,
) -> Edit {
    let nl = style.newline();
    let at_line_start = doc_end == 0 || text.as_bytes().get(doc_end - 1) == Some(&b'\n');
    let at = if at_line_start {
        doc_end
    } else {
        text[doc_end..]
            .find('\n')
            .map_or(text.len(), |i| doc_end + i + 1)
    };
    let lead = if at == text.len() && !text.is_empty() && !text.ends_with('\n') {
        nl
    } else {
        ""
    };
    Edit {
        file,
        span: Span::new(at, at),
        replacement: format!("{lead}---{nl}{doc}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckOptions, check};
    use crate::load::Input;

    /// Names taken by the fixes of one chunk stay taken in the next: with a chunk per
    /// finding, the second workload named `web` still gets `-3` (`-2` went to the first).
    #[test]
    fn added_names_stay_taken_across_chunks() {
        let workload = |kind: &str, app: &str| Input::Text {
            name: format!("{kind}.yaml"),
            text: format!(
                "apiVersion: apps/v1\nkind: {kind}\nmetadata: {{name: web, namespace: shop}}\nspec:\n  selector: {{matchLabels: {{app: {app}}}}}\n  template:\n    metadata: {{labels: {{app: {app}}}}}\n    spec: {{containers: [{{name: web, image: web}}]}}\n"
            ),
        };
        let policies = Input::Text {
            name: "policies.yaml".into(),
            text: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: default-deny, namespace: shop}\nspec: {podSelector: {}, policyTypes: [Egress]}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web-allow-dns, namespace: shop}\nspec: {podSelector: {matchLabels: {app: nobody}}, policyTypes: [Ingress]}\n".into(),
        };
        let inputs = [
            workload("Deployment", "web"),
            workload("StatefulSet", "web-db"),
            policies,
        ];
        let run = check(&inputs, &CheckOptions::default());
        let titles = |chunk| -> Vec<String> {
            in_order(&run, Render::TitleOnly, chunk)
                .map(|fix| fix.unwrap().title)
                .collect()
        };
        let one_per_chunk = titles(1);
        assert_eq!(one_per_chunk.len(), 2, "{one_per_chunk:?}");
        assert!(
            one_per_chunk[0].contains("shop/web-allow-dns-2 "),
            "{one_per_chunk:?}"
        );
        assert!(
            one_per_chunk[1].contains("shop/web-allow-dns-3 "),
            "{one_per_chunk:?}"
        );
        assert_eq!(one_per_chunk, titles(CHUNK));
    }
}
