//! Typed reads of YAML fields with Kubernetes' rules, each failure a diagnostic at the node.

use crate::diag::Diagnostic;
use crate::load::Object;
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
        Ok(Name::from(&scalar.text))
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

    /// A string → string mapping such as `labels` or `matchLabels`.
    pub fn labels(&self, node: &Node, what: &str) -> Result<Labels> {
        self.map(node, what)?
            .iter()
            .map(|(k, v)| {
                // `on:` or `0644:` as a key is the string "true" or "420" to Kubernetes.
                let key = match k.as_scalar().filter(|s| !s.is_null()) {
                    Some(s) => Name::from(&s.key_text()),
                    None => self.string(k, what)?,
                };
                let value = if v.is_null() {
                    Name::default()
                } else {
                    self.string(v, &format!("{what}.{key}"))?
                };
                Ok((key, value))
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

    /// Metadata of the object; `namespaced` objects default to `default`.
    pub fn meta(&self, kind: &str, namespaced: bool) -> Result<Meta> {
        let root = &self.object.node;
        let metadata = self.get(root, "metadata");
        let name_node = metadata
            .and_then(|m| self.get(m, "name").or_else(|| self.get(m, "generateName")))
            .ok_or_else(|| self.error(root, format!("{kind} without `metadata.name`")))?;
        let name = self.string(name_node, "metadata.name")?;
        let namespace = match metadata.and_then(|m| self.get(m, "namespace")) {
            Some(n) if namespaced => self.string(n, "metadata.namespace")?,
            _ if namespaced => Name::from("default"),
            _ => Name::default(),
        };
        let annotations = match metadata {
            Some(m) => self.opt_labels(m, "annotations")?,
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
}

fn display(node: &Node) -> String {
    match node.as_scalar() {
        Some(s) => s.text.to_string(),
        None => node.kind_name().to_string(),
    }
}
