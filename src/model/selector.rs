//! Kubernetes label selectors (matchLabels AND matchExpressions) and label matching.

use std::collections::BTreeMap;

use super::Name;

/// Labels of a pod template or namespace.
pub type Labels = BTreeMap<Name, Name>;

/// One requirement of a selector. `matchLabels: {k: v}` is `In(k, [v])`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Requirement {
    In(Name, Vec<Name>),
    NotIn(Name, Vec<Name>),
    Exists(Name),
    DoesNotExist(Name),
}

impl Requirement {
    pub fn key(&self) -> &str {
        match self {
            Requirement::In(k, _)
            | Requirement::NotIn(k, _)
            | Requirement::Exists(k)
            | Requirement::DoesNotExist(k) => k,
        }
    }

    /// NotIn and DoesNotExist match objects that lack the key.
    pub fn matches(&self, labels: &Labels) -> bool {
        match self {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

/// A label selector in canonical form (requirements sorted, values sorted, duplicates removed),
/// so that equal selectors compare and hash equal. No requirements = matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// The empty selector `{}`: selects everything.
    pub fn everything() -> Selector {
        Selector::default()
    }

    pub fn new(mut requirements: Vec<Requirement>) -> Selector {
        for r in &mut requirements {
            if let Requirement::In(_, vs) | Requirement::NotIn(_, vs) = r {
                vs.sort();
                vs.dedup();
            }
        }
        requirements.sort_by(|a, b| (a.key(), a).cmp(&(b.key(), b)));
        requirements.dedup();
        Selector { requirements }
    }

    /// The selector matching exactly these labels (`matchLabels`).
    pub fn matching(labels: &Labels) -> Selector {
        Selector::from_labels(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// `matchLabels` only.
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Selector {
        Selector::new(
            labels
                .into_iter()
                .map(|(k, v)| Requirement::In(k.into(), vec![v.into()]))
                .collect(),
        )
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    pub fn selects_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

impl std::fmt::Display for Selector {
    /// kubectl's selector syntax: `app=web,tier in (a,b),!legacy`; `{}` selects everything.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.requirements.is_empty() {
            return f.write_str("{}");
        }
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| match r {
                Requirement::In(k, vs) if vs.len() == 1 => format!("{k}={}", vs[0]),
                Requirement::In(k, vs) => format!("{k} in ({})", vs.join(",")),
                Requirement::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
                Requirement::Exists(k) => k.to_string(),
                Requirement::DoesNotExist(k) => format!("!{k}"),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Labels from pairs, for tests.
#[cfg(test)]
pub(crate) fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (Name::from(*k), Name::from(*v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_in_and_does_not_exist_match_missing_keys() {
        let none = labels(&[]);
        let dev = labels(&[("env", "dev")]);
        let prod = labels(&[("env", "prod")]);
        let not_in = Requirement::NotIn("env".into(), vec!["prod".into()]);
        assert!(not_in.matches(&none));
        assert!(not_in.matches(&dev));
        assert!(!not_in.matches(&prod));
        let absent = Requirement::DoesNotExist("env".into());
        assert!(absent.matches(&none));
        assert!(!absent.matches(&dev));
        assert!(!Requirement::Exists("env".into()).matches(&none));
        assert!(!Requirement::In("env".into(), vec!["dev".into()]).matches(&none));
    }

    #[test]
    fn requirements_are_anded_and_empty_selects_all() {
        let sel = Selector::new(vec![
            Requirement::In("app".into(), vec!["web".into()]),
            Requirement::Exists("tier".into()),
        ]);
        assert!(sel.matches(&labels(&[("app", "web"), ("tier", "x")])));
        assert!(!sel.matches(&labels(&[("app", "web")])));
        assert!(Selector::everything().matches(&labels(&[])));
    }

    #[test]
    fn canonical_form_makes_equal_selectors_equal() {
        let a = Selector::new(vec![
            Requirement::In("b".into(), vec!["2".into(), "1".into()]),
            Requirement::Exists("a".into()),
        ]);
        let b = Selector::new(vec![
            Requirement::Exists("a".into()),
            Requirement::In("b".into(), vec!["1".into(), "2".into(), "1".into()]),
        ]);
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "a,b in (1,2)");
    }
}
