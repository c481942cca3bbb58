//! Fixes inside Calico policies: where a Calico Deny rule, or the end of a tier other than the
//! default one, drops a flow, a Kubernetes NetworkPolicy cannot help (Calico decides before
//! it); the fix inserts an Allow rule into that Calico policy just before the deciding point,
//! limited to the flow's two ends and ports (one rule per protocol).

use super::Edit;
use super::yaml_out::{Style, Y, emit_items};
use crate::lint::Peer;
use crate::model::calico::CalicoPolicy;
use crate::model::{Direction, Labels, Name};
use crate::net::Protocol;
use crate::source::{Sources, Span};

/// `k == 'v' && …` for labels (`all()` for none): the pods a Kubernetes selector with these
/// `matchLabels` selects, in Calico's language.
fn calico_selector(labels: &Labels) -> String {
    if labels.is_empty() {
        return "all()".into();
    }
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k} == '{v}'"))
        .collect();
    parts.join(" && ")
}

/// A rule side naming pods of a namespace.
fn pods(namespace: &str, labels: &Labels) -> Y {
    Y::Map(vec![
        ("selector".into(), Y::Str(calico_selector(labels).into())),
        (
            "namespaceSelector".into(),
            Y::Str(Name::from(&format!(
                "projectcalico.org/name == '{namespace}'"
            ))),
        ),
    ])
}

/// The rules allowing `selected` to send to (egress) or receive from (ingress) `peer`.
fn rules(
    direction: Direction,
    selected: &(Name, Labels),
    peer: &Peer,
    ports: &[(Protocol, u16)],
) -> Vec<Y> {
    let mut protocols: Vec<Protocol> = ports.iter().map(|(p, _)| *p).collect();
    protocols.sort();
    protocols.dedup();
    protocols
        .into_iter()
        .map(|protocol| {
            let numbers = ports
                .iter()
                .filter(|(p, _)| *p == protocol)
                .map(|(_, n)| Y::Raw(n.to_string()))
                .collect();
            let own = pods(&selected.0, &selected.1);
            let other = match peer {
                Peer::Pods { namespace, labels } => pods(namespace, labels),
                Peer::Cidrs(cidrs) => Y::Map(vec![(
                    "nets".into(),
                    Y::Seq(cidrs.iter().map(|c| Y::Str(c.to_string().into())).collect()),
                )]),
            };
            let (source, mut destination) = match direction {
                Direction::Egress => (own, other),
                Direction::Ingress => (other, own),
            };
            if let Y::Map(entries) = &mut destination {
                entries.push(("ports".into(), Y::Seq(numbers)));
            }
            Y::Map(vec![
                ("action".into(), Y::Str("Allow".into())),
                ("protocol".into(), Y::Str(protocol.as_str().into())),
                ("source".into(), source),
                ("destination".into(), destination),
            ])
        })
        .collect()
}

/// The edit inserting the allowing rules at `at` of `policy`'s rules for `direction`, in the
/// indentation of the rule list there, and a title for it.
pub fn rule_edit(
    sources: &Sources,
    policy: &CalicoPolicy,
    direction: Direction,
    at: usize,
    selected: &(Name, Labels),
    peer: &Peer,
    ports: &[(Protocol, u16)],
) -> Result<(Edit, String), String> {
    let id = &policy.meta.id;
    let list = policy.rules(direction);
    let title = format!(
        "add {} Allow rule(s) to Calico {} {} before {}",
        direction.as_str(),
        id.kind,
        id.name,
        if at < list.len() {
            format!("its {} rule #{}", direction.as_str(), at + 1)
        } else {
            format!("the end of tier {}", policy.tier)
        }
    );
    // The rule the new ones go before (or, at the end, after).
    let Some(neighbour) = list.get(at).or(list.last()) else {
        return Err(format!(
            "no safe fix: Calico {} {} has no {} rules to add one next to; add an `{}:` list with an Allow rule",
            id.kind,
            id.name,
            direction.as_str(),
            direction.as_str()
        ));
    };
    let file = sources.get(neighbour.loc.file);
    let text = file.text_for_fix()?;
    let start = neighbour.loc.span.start as usize;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let prefix = &text[line_start..start];
    let dash = prefix.trim_end();
    if !dash.ends_with('-') || !dash[..dash.len() - 1].chars().all(|c| c == ' ') {
        return Err(format!(
            "no safe fix: the {} rules of Calico {} {} are not a block list (`- action: …` on its own lines)",
            direction.as_str(),
            id.kind,
            id.name
        ));
    }
    let style = Style::of(&text);
    let items = emit_items(
        rules(direction, selected, peer, ports),
        dash.len() - 1,
        style,
    );
    let offset = if at < list.len() {
        line_start
    } else {
        let end = neighbour.loc.span.end as usize;
        text[end..].find('\n').map_or(text.len(), |i| end + i + 1)
    };
    // At the end of a file without a final newline, the new items start on a line of their own.
    let replacement = if offset == text.len() && !text.ends_with('\n') {
        format!("{}{items}", style.newline())
    } else {
        items
    };
    Ok((
        Edit {
            file: neighbour.loc.file,
            span: Span::new(offset, offset),
            replacement,
        },
        title,
    ))
}
