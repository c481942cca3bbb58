//! Typed reads of YAML fields with Kubernetes' rules, each failure a diagnostic at the node.

use std::borrow::Cow;

use crate::diag::Diagnostic;
use crate::load::Object;
use crate::model::validate::{self, Rule};
use crate::model::{Labels, Meta, Name, ObjectId, Spanned};
use crate::source::Location;
use crate::yaml::{Node, Value};

pub type Result<T> = std::result::Result<T, Diagnostic>;

/// Reads fields of one object, turning type mismatches into positioned errors.
#[derive(Clone, Copy)]
pub struct Fields<'o> {
    pub object: &'o Object<'o>,
}

impl<'o> Fields<'o> {
    pub fn at(&self, node: &Node) -> Location {
        self.object.at(node)
    }

    pub fn error(&self, node: &Node, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(self.at(node), message)
    }

    /// A field that is present and not null.
    pub fn get<'n, 't>(&self, node: &'n Node<'t>, key: &str) -> Option<&'n Node<'t>> {
        node.get(key).filter(|n| !n.is_null())
    }

    /// Follows a path of keys; `None` if any step is absent or null.
    pub fn path<'n, 't>(&self, node: &'n Node<'t>, keys: &[&str]) -> Option<&'n Node<'t>> {
        keys.iter().try_fold(node, |n, k| self.get(n, k))
    }

    pub fn map<'n, 't>(
        &self,
        node: &'n Node<'t>,
        what: &str,
    ) -> Result<&'n [(Node<'t>, Node<'t>)]> {
        match &node.value {
            Value::Map(entries) => Ok(entries),
            _ if node.is_null() => Ok(&[]),
            _ => Err(self.error(
                node,
                format!("`{what}` must be a mapping, found {}", node.kind_name()),
            )),
        }
    }

    pub fn seq<'n, 't>(&self, node: &'n Node<'t>, what: &str) -> Result<&'n [Node<'t>]> {
        match &node.value {
            Value::Seq(items) => Ok(items),
            _ if node.is_null() => Ok(&[]),
            _ => Err(self.error(
                node,
                format!("`{what}` must be a list, found {}", node.kind_name()),
            )),
        }
    }

    /// A string as Kubernetes decodes it: an unquoted number or boolean is not a string.
    pub fn string(&self, node: &Node, what: &str) -> Result<Name> {
        self.str_of(node, what).map(Name::from)
    }

    /// [`Fields::string`] without interning it.
    pub fn str_of<'n>(&self, node: &'n Node, what: &str) -> Result<&'n str> {
        let Some(scalar) = node.as_scalar().filter(|s| !s.is_null()) else {
            return Err(self.error(
                node,
                format!("`{what}` must be a string, found {}", node.kind_name()),
            ));
        };
        if !scalar.is_string() {
            return Err(self
                .error(
                    node,
                    format!(
                        "`{what}` must be a string, found the unquoted value `{}`",
                        scalar.text
                    ),
                )
                .with_help(format!(
                    "quote it: \"{}\" (Kubernetes rejects a non-string here)",
                    scalar.text
                )));
        }
        Ok(&scalar.text)
    }

    /// The error for a value one of the API server's rules refuses, at its node: `what` and
    /// `place` say what it is ("label key", " in `matchLabels`"), `problem` what is wrong with
    /// it, `rule` what it must be ("a label key is …").
    pub fn refused(
        &self,
        node: &Node,
        what: &str,
        place: &str,
        value: &str,
        problem: &str,
        rule: &str,
    ) -> Diagnostic {
        let root = &self.object.node;
        let kind = root.get("kind").and_then(Node::as_str);
        let in_metadata = self
            .get(root, "metadata")
            .is_some_and(|m| m.span.start <= node.span.start && node.span.end <= m.span.end);
        let consequence = match kind {
            // An Argo template's pod labels are checked when its pods are created.
            Some(k) if !in_metadata && super::workloads::is_argo_kind(k) => {
                format!("the API server would reject the pods this {k} runs")
            }
            Some(k) => format!("the API server would reject this {k}"),
            None => "no Kubernetes object can have it".into(),
        };
        self.error(
            node,
            format!(
                "{what} {}{place} is not valid: it {problem}; {consequence}",
                shown(value)
            ),
        )
        .with_help(format!("change it: {rule}"))
    }

    pub fn spanned_string(&self, node: &Node, what: &str) -> Result<Spanned<Name>> {
        Ok(Spanned {
            value: self.string(node, what)?,
            loc: self.at(node),
        })
    }

    pub fn opt_string(&self, parent: &Node, key: &str) -> Result<Option<Name>> {
        self.get(parent, key)
            .map(|n| self.string(n, key))
            .transpose()
    }

    pub fn int(&self, node: &Node, what: &str) -> Result<i64> {
        node.as_scalar().and_then(|s| s.as_int()).ok_or_else(|| {
            self.error(
                node,
                format!("`{what}` must be an integer, found `{}`", display(node)),
            )
        })
    }

    pub fn opt_bool(&self, parent: &Node, key: &str) -> Result<Option<bool>> {
        self.get(parent, key)
            .map(|n| {
                n.as_scalar().and_then(|s| s.as_bool()).ok_or_else(|| {
                    self.error(
                        n,
                        format!("`{key}` must be true or false, found `{}`", display(n)),
                    )
                })
            })
            .transpose()
    }

    /// A port number 1..=65535.
    pub fn port(&self, node: &Node, what: &str) -> Result<u16> {
        let n = self.int(node, what)?;
        u16::try_from(n).ok().filter(|&p| p >= 1).ok_or_else(|| {
            self.error(
                node,
                format!("`{what}` {n} is out of range: ports are 1 to 65535"),
            )
        })
    }

    /// A string → string mapping such as `labels` or `matchLabels`, keys and values checked
    /// as the API server checks labels.
    pub fn labels(&self, node: &Node, what: &str) -> Result<Labels> {
        self.map(node, what)?
            .iter()
            .map(|(k, v)| {
                let (key, value) = self.label(k, v, what)?;
                Ok((Name::from(&key), Name::from(value)))
            })
            .collect()
    }

    /// Whether the object is Argo's (whose controller fills in `{{ }}` variables).
    fn is_argo(&self) -> bool {
        self.object
            .node
            .get("apiVersion")
            .and_then(Node::as_str)
            .is_some_and(|api| api.starts_with("argoproj.io/"))
    }

    /// [`Fields::labels`] without keeping them.
    pub fn check_labels(&self, node: &Node, what: &str) -> Result<()> {
        for (k, v) in self.map(node, what)? {
            self.label(k, v, what)?;
        }
        Ok(())
    }

    /// One label: its key (`on:` or `0644:` is the string "true" or "420" to Kubernetes) and
    /// its value (null is empty).
    fn label<'n>(&self, k: &'n Node, v: &'n Node, what: &str) -> Result<(Cow<'n, str>, &'n str)> {
        let key = match k.as_scalar().filter(|s| !s.is_null()) {
            Some(s) => s.key_text(),
            None => Cow::Borrowed(self.str_of(k, what)?),
        };
        validate::qualified_name(key.as_bytes()).map_err(|problem| {
            let place = format!(" in `{what}`");
            self.refused(k, "label key", &place, &key, &problem, &label_key_rule())
        })?;
        let value = match v.as_scalar() {
            _ if v.is_null() => "",
            Some(s) if s.is_string() => &s.text,
            // An error, its message made only then: a large tree has millions of labels.
            _ => self.str_of(v, &format!("{what}.{key}"))?,
        };
        // Argo substitutes `{{workflow.name}}` and the like before it creates the pods.
        if value.contains("{{") && self.is_argo() {
            return Ok((key, value));
        }
        validate::label_value(value.as_bytes()).map_err(|problem| {
            let place = format!(" of `{key}` in `{what}`");
            self.refused(
                v,
                "label value",
                &place,
                value,
                &problem,
                &label_value_rule(),
            )
        })?;
        Ok((key, value))
    }

    /// Annotations: keys are checked as the API server checks them (as label keys, case aside),
    /// values are free text.
    fn annotations(&self, node: &Node) -> Result<Labels> {
        self.map(node, "annotations")?
            .iter()
            .map(|(k, v)| {
                let key = match k.as_scalar().filter(|s| !s.is_null()) {
                    Some(s) => s.key_text(),
                    None => Cow::Borrowed(self.str_of(k, "annotations")?),
                };
                let lower = match key.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
                    true => Cow::Owned(key.to_lowercase()),
                    false => Cow::Borrowed(key.as_ref()),
                };
                validate::qualified_name(lower.as_bytes()).map_err(|problem| {
                    let rule = format!(
                        "an annotation key is {} (upper case allowed)",
                        validate::QUALIFIED_NAME
                    );
                    self.refused(k, "annotation key", "", &key, &problem, &rule)
                })?;
                let value = match v.as_scalar() {
                    _ if v.is_null() => "",
                    Some(s) if s.is_string() => &s.text,
                    _ => self.str_of(v, &format!("annotations.{key}"))?,
                };
                Ok((Name::from(&key), Name::from(value)))
            })
            .collect()
    }

    /// Every item of the list at `key` read with `read` (none when it is absent or null),
    /// stopping at the first error, in a vector of the list's length: a large tree keeps
    /// hundreds of thousands of these lists, and collecting would leave room in each.
    pub fn opt_list<'n, 't, T>(
        &self,
        parent: &'n Node<'t>,
        key: &str,
        read: impl FnMut(&'n Node<'t>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let items = match self.get(parent, key) {
            Some(list) => self.seq(list, key)?,
            None => &[],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items.iter().map(read) {
            out.push(item?);
        }
        Ok(out)
    }

    pub fn opt_labels(&self, parent: &Node, key: &str) -> Result<Labels> {
        self.get(parent, key)
            .map_or(Ok(Labels::new()), |n| self.labels(n, key))
    }

    /// Metadata of the object, checked as the API server checks it; `namespaced` objects
    /// default to `default`. An object with `generateName` and no name gets a name of its own
    /// ([`Fields::generated_name`]).
    pub fn meta(&self, kind: &str, namespaced: bool) -> Result<Meta> {
        let root = &self.object.node;
        let metadata = self.get(root, "metadata");
        let field = |key| metadata.and_then(|m| self.get(m, key));
        let rule = Rule::for_kind(kind);
        let prefix = match field("generateName") {
            Some(n) => {
                let prefix = self.str_of(n, "metadata.generateName")?;
                rule.check_prefix(prefix).map_err(|problem| {
                    let rule = format!(
                        "with 5 random characters appended it makes a {kind} name, which is {}",
                        rule.describe()
                    );
                    self.refused(n, "`metadata.generateName`", "", prefix, &problem, &rule)
                })?;
                Some((n, prefix))
            }
            None => None,
        };
        let (name_node, name) = match (field("name"), prefix) {
            (Some(n), p) if p.is_none() || n.as_str() != Some("") => {
                let name = self.str_of(n, "metadata.name")?;
                rule.check(name).map_err(|problem| {
                    let rule = format!("a {kind} name is {}", rule.describe());
                    self.refused(n, "`metadata.name`", "", name, &problem, &rule)
                })?;
                (n, Name::from(name))
            }
            (_, Some((n, prefix))) => (n, self.generated_name(prefix)),
            (_, None) => {
                return Err(self.error(root, format!("{kind} without `metadata.name`")));
            }
        };
        let namespace = match field("namespace") {
            Some(n) if namespaced => {
                let namespace = self.str_of(n, "metadata.namespace")?;
                if !namespace.is_empty() {
                    validate::dns1123_label(namespace.as_bytes()).map_err(|problem| {
                        let rule = format!("a namespace name is {}", Rule::Label.describe());
                        self.refused(n, "`metadata.namespace`", "", namespace, &problem, &rule)
                    })?;
                }
                Name::from(namespace)
            }
            _ => Name::default(),
        };
        let namespace = match namespace.is_empty() && namespaced {
            true => Name::from("default"),
            false => namespace,
        };
        if let Some(labels) = field("labels") {
            self.check_labels(labels, "metadata.labels")?;
        }
        let annotations = match field("annotations") {
            Some(a) => self.annotations(a)?,
            None => Labels::new(),
        };
        Ok(Meta {
            id: ObjectId {
                namespace,
                kind: Name::from(kind),
                name,
            },
            loc: self.object.loc(),
            name_loc: self.at(name_node),
            document: Location {
                file: self.object.file,
                span: self.object.document,
            },
            annotations,
        })
    }

    /// The name of an object that has only `generateName`: the API server would make a new one
    /// each time, so each object in the input is one of its own, named after where it starts,
    /// `<generateName>@<file>#<line>` (`.<column>` added unless it starts a line). No workload,
    /// Service or policy the API server accepts has `@` or `#` in its name; in `<file>` (a
    /// leading `./` dropped), `/` is `+` and every byte but letters, digits, `.`, `_` and `-` is
    /// `%XX`, so two files never give the same text and the name stays safe in a file name.
    fn generated_name(&self, prefix: &str) -> Name {
        let start = self.object.node.span.start;
        let (file, at) = match self.object.source {
            Some(source) => (source.name.as_str(), source.line_col(start)),
            None => (
                "",
                crate::source::LineCol {
                    line: 0,
                    column: start + 1,
                },
            ),
        };
        let mut name = format!("{prefix}@");
        for b in file.trim_start_matches("./").bytes() {
            match b {
                b'/' => name.push('+'),
                b'.' | b'_' | b'-' => name.push(b as char),
                _ if b.is_ascii_alphanumeric() => name.push(b as char),
                _ => name.push_str(&format!("%{b:02X}")),
            }
        }
        name.push_str(&format!("#{}", at.line));
        if at.column != 1 {
            name.push_str(&format!(".{}", at.column));
        }
        Name::from(&name)
    }
}

pub fn label_key_rule() -> String {
    format!("a label key is {}", validate::QUALIFIED_NAME)
}

pub fn label_value_rule() -> String {
    format!("a label value is {}", validate::LABEL_VALUE)
}

/// A value as messages quote it: escaped, and cut if long.
fn shown(value: &str) -> String {
    match value.char_indices().nth(64) {
        Some((cut, _)) => format!(
            "{:?}… ({} characters)",
            &value[..cut],
            value.chars().count()
        ),
        None => format!("{value:?}"),
    }
}

fn display(node: &Node) -> String {
    match node.as_scalar() {
        Some(s) => s.text.to_string(),
        None => node.kind_name().to_string(),
    }
}
