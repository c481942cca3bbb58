//! Kubernetes label selectors (matchLabels AND matchExpressions) and label matching.

use super::Name;

/// Labels (or annotations) of an object: pairs sorted by key, keys unique. A sorted vector
/// rather than a B-tree: objects carry a handful of labels, and a B-tree node costs half a
/// kilobyte however few entries it holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<(Name, Name)>);

impl Labels {
    pub fn new() -> Labels {
        Labels(Vec::new())
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    pub fn get(&self, key: &str) -> Option<&Name> {
        self.position(key).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Sets `key`, replacing an earlier value.
    pub fn insert(&mut self, key: Name, value: Name) {
        match self.position(&key) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (key, value)),
        }
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Name, &Name)> + Clone {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &Name> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &Name> {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Later pairs win, as in a YAML mapping read into a map.
impl FromIterator<(Name, Name)> for Labels {
    fn from_iter<I: IntoIterator<Item = (Name, Name)>>(pairs: I) -> Labels {
        let mut labels = Labels::new();
        labels.extend(pairs);
        labels
    }
}

impl Extend<(Name, Name)> for Labels {
    fn extend<I: IntoIterator<Item = (Name, Name)>>(&mut self, pairs: I) {
        for (k, v) in pairs {
            self.insert(k, v);
        }
        self.0.shrink_to_fit();
    }
}

impl<const N: usize> From<[(Name, Name); N]> for Labels {
    fn from(pairs: [(Name, Name); N]) -> Labels {
        pairs.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a Name, &'a Name);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (Name, Name)>, PairRef>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

type PairRef = for<'a> fn(&'a (Name, Name)) -> (&'a Name, &'a Name);

impl IntoIterator for Labels {
    type Item = (Name, Name);
    type IntoIter = std::vec::IntoIter<(Name, Name)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// One requirement of a selector. `matchLabels: {k: v}` is `In(k, [v])`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Requirement {
    In(Name, Vec<Name>),
    NotIn(Name, Vec<Name>),
    Exists(Name),
    DoesNotExist(Name),
}

impl Requirement {
    pub fn key(&self) -> Name {
        match self {
            Requirement::In(k, _)
            | Requirement::NotIn(k, _)
            | Requirement::Exists(k)
            | Requirement::DoesNotExist(k) => *k,
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
                Requirement::In(k, vs) => format!("{k} in ({})", joined(vs)),
                Requirement::NotIn(k, vs) => format!("{k} notin ({})", joined(vs)),
                Requirement::Exists(k) => k.to_string(),
                Requirement::DoesNotExist(k) => format!("!{k}"),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Values as written in a selector string: `a,b,c`.
fn joined(values: &[Name]) -> String {
    values
        .iter()
        .map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Labels from pairs, for tests.
#[cfg(test)]
pub(crate) fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (Name::from(k), Name::from(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_a_map_sorted_by_key_where_later_pairs_win() {
        let mut l = labels(&[("tier", "a"), ("app", "web"), ("tier", "b")]);
        assert_eq!(l.len(), 2);
        assert_eq!(l.get("tier").map(Name::as_str), Some("b"));
        assert_eq!(l.get("team"), None);
        l.insert("env".into(), "prod".into());
        l.insert("app".into(), "api".into());
        let pairs: Vec<(&str, &str)> = l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("app", "api"), ("env", "prod"), ("tier", "b")]);
        assert!(l.contains_key("env") && !l.contains_key("e"));
    }

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
