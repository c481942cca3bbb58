//! Seldon Core v2: which Servers run (each as the StatefulSet of its name), and the rclone
//! remotes in Secrets its agent reads model storage settings from — checked for the fields
//! Seldon needs, without keeping or showing any value but the endpoint (credentials removed).
//! A Secret is read here one object at a time; whether a Server can use it (it is in the
//! namespace of one) is decided when the model is assembled, which keeps or drops it with its
//! warnings.

use base64::Engine as _;

use super::fields::Fields;
use crate::diag::Diagnostic;
use crate::model::{Name, StorageSecret};
use crate::yaml::{self, Node, Value};

/// The rclone remote of a Secret, and the warnings to show if a Seldon Server can use it.
#[derive(Debug)]
pub struct Remote {
    pub secret: StorageSecret,
    pub warnings: Vec<Diagnostic>,
}

/// The rclone remote a Secret holds, if it holds one, and what Seldon would find wrong with it;
/// an error when the API server would refuse the Secret itself (its name).
pub fn storage_secret(f: Fields) -> Result<Option<Remote>, Diagnostic> {
    let root = &f.object.node;
    let meta = f.meta("Secret", true)?;
    for section in ["stringData", "data"] {
        let Some(Value::Map(entries)) = f.get(root, section).map(|n| &n.value) else {
            continue;
        };
        for (key, value) in entries {
            let (Some(key_text), Some(text)) = (key.as_str(), value.as_str()) else {
                continue;
            };
            let decoded = if section == "data" {
                let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text.trim())
                else {
                    continue;
                };
                let Ok(text) = String::from_utf8(bytes) else {
                    continue;
                };
                text
            } else {
                text.to_string()
            };
            let parsed = yaml::parse_stream(&decoded, yaml::Limits::default());
            let Some(Ok(remote)) = parsed.into_iter().next() else {
                continue;
            };
            if !matches!(remote.value, Value::Map(_))
                || (remote.get("type").is_none() && remote.get("parameters").is_none())
            {
                continue;
            }
            let problems = problems(&remote);
            let what = format!(
                "Seldon storage Secret {}/{} (key `{key_text}`)",
                meta.id.namespace, meta.id.name
            );
            let warnings = problems
                .into_iter()
                .map(|p| {
                    Diagnostic::warning(
                        f.at(key),
                        format!("{what}: {p}; Seldon's agent cannot load models from this remote"),
                    )
                    .with_help("Seldon expects `{name, type, parameters}` as YAML or JSON (values are not shown here)")
                })
                .collect();
            let endpoint = remote
                .get("parameters")
                .and_then(|p| p.get("endpoint"))
                .and_then(Node::as_str)
                .map(without_user_info);
            return Ok(Some(Remote {
                secret: StorageSecret {
                    key: Name::from(key_text),
                    key_loc: f.at(key),
                    endpoint,
                    meta,
                },
                warnings,
            }));
        }
    }
    Ok(None)
}

/// What Seldon's agent needs of an rclone remote that is missing, in words without values.
fn problems(remote: &Node) -> Vec<String> {
    let mut out = Vec::new();
    if remote.get("name").and_then(Node::as_str).is_none() {
        out.push(
            "no `name` (storageUri `<name>://bucket/path` picks the remote by it)".to_string(),
        );
    }
    let kind = remote.get("type").and_then(Node::as_str);
    if kind.is_none() {
        out.push("no `type` (s3, gcs, azureblob, …)".to_string());
    }
    match remote.get("parameters").map(|p| &p.value) {
        Some(Value::Map(_)) => {}
        _ => out.push("no `parameters` map".to_string()),
    }
    let parameters = remote.get("parameters");
    let provider = parameters
        .and_then(|p| p.get("provider"))
        .and_then(Node::as_str);
    let endpoint = parameters.and_then(|p| p.get("endpoint"));
    if kind == Some("s3") && endpoint.is_none() && provider.is_some_and(|p| p != "AWS") {
        out.push(format!(
            "an s3 remote with provider {} and no `parameters.endpoint`",
            provider.unwrap_or_default()
        ));
    }
    out
}

/// `scheme://user:password@host…` without `user:password@`.
fn without_user_info(url: &str) -> Name {
    let rest_start = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[rest_start..]
        .find('/')
        .map_or(url.len(), |i| rest_start + i);
    match url[rest_start..authority_end].rfind('@') {
        Some(at) => Name::from(&format!(
            "{}{}",
            &url[..rest_start],
            &url[rest_start + at + 1..]
        )),
        None => Name::from(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_removed_from_endpoints() {
        assert_eq!(
            without_user_info("http://ak:sk@minio.minio:9000/x"),
            "http://minio.minio:9000/x"
        );
        assert_eq!(
            without_user_info("http://minio.minio:9000"),
            "http://minio.minio:9000"
        );
        assert_eq!(without_user_info("minio:9000"), "minio:9000");
    }
}
