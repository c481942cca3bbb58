//! Network references inside configuration text: URLs, `host:port` and bare hosts in env values,
//! ConfigMap data and command-line arguments (`--backend-store-uri=postgresql://…`).

use std::net::IpAddr;

/// A host mentioned in a string, with the byte range of the host inside that string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRef {
    pub host: Host,
    /// The text of the host as written (what a rewrite replaces).
    pub host_range: std::ops::Range<usize>,
    pub port: Option<u16>,
    /// Byte range of `:port` including the colon, when written.
    pub port_range: Option<std::ops::Range<usize>>,
    /// URL scheme, lowercase, when written (`http`, `postgresql`, …).
    pub scheme: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
}

impl HostRef {
    /// The port a client uses: the written one, else the scheme's well-known port.
    pub fn effective_port(&self) -> Option<u16> {
        self.port
            .or_else(|| self.scheme.as_deref().and_then(default_port))
    }
}

/// Well-known ports of URL schemes seen in platform configuration.
pub fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        "postgres" | "postgresql" => 5432,
        "mysql" | "mysql+pymysql" => 3306,
        "redis" => 6379,
        "rediss" => 6380,
        "mongodb" => 27017,
        "amqp" => 5672,
        "amqps" => 5671,
        "nats" => 4222,
        "kafka" => 9092,
        "grpc" => 80,
        "grpcs" => 443,
        "ldap" => 389,
        "ldaps" => 636,
        _ => return None,
    })
}

/// Schemes whose "host" is a bucket, container or path, not a network peer (`s3://mlflow/`).
fn is_storage_scheme(scheme: &str) -> bool {
    matches!(
        scheme,
        "s3" | "s3a"
            | "s3n"
            | "gs"
            | "gcs"
            | "file"
            | "wasb"
            | "wasbs"
            | "abfs"
            | "abfss"
            | "az"
            | "oci"
            | "runs"
            | "models"
    )
}

/// Every host reference in `text`: URLs anywhere, and `host[:port]` as the whole value or the
/// value of a `--flag=` argument.
pub fn find(text: &str) -> Vec<HostRef> {
    let mut out = Vec::new();
    let mut rest_start = 0;
    // URLs: scheme://[user[:pass]@]host[:port][/…]
    while let Some(i) = text[rest_start..].find("://") {
        let sep = rest_start + i;
        let scheme_start = text[..sep]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |p| p + 1);
        let scheme = &text[scheme_start..sep];
        let authority_start = sep + 3;
        let authority_end = text[authority_start..]
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | ' ' | '"' | '\'' | ',' | ';') || c.is_whitespace()
            })
            .map_or(text.len(), |p| authority_start + p);
        let network_scheme = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && !is_storage_scheme(&scheme.to_ascii_lowercase());
        if network_scheme {
            let authority = &text[authority_start..authority_end];
            // Credentials may contain `:`; the host starts after the last `@`.
            let host_start = authority
                .rfind('@')
                .map_or(authority_start, |p| authority_start + p + 1);
            if let Some(mut r) = host_port(text, host_start, authority_end) {
                r.scheme = Some(scheme.to_ascii_lowercase());
                out.push(r);
            }
        }
        rest_start = authority_end.max(sep + 3);
    }
    if out.is_empty() {
        // A bare `host[:port]`, possibly after `--flag=`.
        let value_start = match text.strip_prefix("--").and_then(|t| t.find('=')) {
            Some(eq) => eq + 3,
            None => 0,
        };
        let value = &text[value_start..];
        if !value.is_empty()
            && !value.contains(char::is_whitespace)
            && let Some(r) =
                host_port(text, value_start, text.len()).filter(|r| plausible_bare(r, value))
        {
            out.push(r);
        }
    }
    out
}

/// A bare value is a host only if it is an IP or looks like a DNS name (not a path, a word
/// with no dot and no port, or a version number).
fn plausible_bare(r: &HostRef, value: &str) -> bool {
    match &r.host {
        Host::Ip(_) => true,
        Host::Name(name) => {
            !value.contains('/')
                && (name.contains('.') || r.port.is_some())
                && name.chars().any(|c| c.is_ascii_alphabetic())
                && !name.ends_with('.')
        }
    }
}

/// Parses `host[:port]` in `text[start..end]`; IPv6 hosts are bracketed (`[::1]:80`).
fn host_port(text: &str, start: usize, end: usize) -> Option<HostRef> {
    let s = &text[start..end];
    let (host_range, port_part) = if let Some(inner) = s.strip_prefix('[') {
        let close = inner.find(']')?;
        (start + 1..start + 1 + close, &s[close + 2..])
    } else {
        match s.rfind(':') {
            Some(c) if s[..c].contains(':') => (start..end, ""), // unbracketed IPv6
            Some(c) => (start..start + c, &s[c..]),
            None => (start..end, ""),
        }
    };
    let host_text = &text[host_range.clone()];
    if host_text.is_empty() {
        return None;
    }
    let (port, port_range) = match port_part.strip_prefix(':') {
        Some(p) => (
            Some(p.parse::<u16>().ok().filter(|&n| n > 0)?),
            Some(host_range.end + usize::from(s.starts_with('['))..end),
        ),
        None => (None, None),
    };
    let host = match host_text.parse::<IpAddr>() {
        Ok(ip) => Host::Ip(ip),
        Err(_) if is_dns_name(host_text) => Host::Name(host_text.to_ascii_lowercase()),
        Err(_) => return None,
    };
    Some(HostRef {
        host,
        host_range,
        port,
        port_range,
        scheme: None,
    })
}

fn is_dns_name(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> HostRef {
        let refs = find(text);
        assert_eq!(refs.len(), 1, "{text}: {refs:?}");
        refs.into_iter().next().unwrap()
    }

    #[test]
    fn urls_with_credentials_ports_and_paths() {
        let text = "--backend-store-uri=postgresql://mlflow:$(PW)@postgres.mlflow.svc.cluster.local:5432/mlflow";
        let r = one(text);
        assert_eq!(
            r.host,
            Host::Name("postgres.mlflow.svc.cluster.local".into())
        );
        assert_eq!(
            &text[r.host_range.clone()],
            "postgres.mlflow.svc.cluster.local"
        );
        assert_eq!(r.port, Some(5432));
        assert_eq!(&text[r.port_range.clone().unwrap()], ":5432");
        assert_eq!(r.scheme.as_deref(), Some("postgresql"));
    }

    #[test]
    fn default_ports_follow_the_scheme() {
        assert_eq!(one("http://mlflow.mlflow").effective_port(), Some(80));
        assert_eq!(one("https://vault:8200/v1").effective_port(), Some(8200));
        assert_eq!(one("HTTPS://Vault.Example.com").effective_port(), Some(443));
    }

    #[test]
    fn ip_literals_in_urls_and_bare() {
        let r = one("http://192.168.10.241/api");
        assert_eq!(r.host, Host::Ip("192.168.10.241".parse().unwrap()));
        let r = one("10.96.55.12");
        assert_eq!(r.host, Host::Ip("10.96.55.12".parse().unwrap()));
        assert_eq!(r.port, None);
        let r = one("10.96.55.12:5432");
        assert_eq!(r.port, Some(5432));
        let r = one("http://[fd00::1]:8080/x");
        assert_eq!(r.host, Host::Ip("fd00::1".parse().unwrap()));
        assert_eq!(r.port, Some(8080));
        assert_eq!(one("fd00::1").host, Host::Ip("fd00::1".parse().unwrap()));
    }

    #[test]
    fn bare_hosts_need_a_dot_or_a_port() {
        assert_eq!(one("backend:8080").host, Host::Name("backend".into()));
        assert_eq!(one("minio.minio").host, Host::Name("minio.minio".into()));
        assert_eq!(
            one("--db-host=db.apps.svc").host,
            Host::Name("db.apps.svc".into())
        );
        for not_a_host in [
            "production",
            "/var/lib/data",
            "1.2.3",
            "true",
            "hello world",
            "s3cr3t:x",
            "a.b/c",
        ] {
            assert!(
                find(not_a_host).is_empty(),
                "{not_a_host}: {:?}",
                find(not_a_host)
            );
        }
    }

    #[test]
    fn storage_urls_name_buckets_not_hosts() {
        assert!(find("--default-artifact-root=s3://mlflow/").is_empty());
        assert!(find("gs://models/iris").is_empty());
        assert_eq!(
            one("hdfs://namenode.data:8020/x").host,
            Host::Name("namenode.data".into())
        );
    }

    #[test]
    fn several_urls_in_one_value() {
        let refs = find("primary=http://a.ns:1 replica=http://b.ns:2");
        let hosts: Vec<_> = refs.iter().map(|r| (r.host.clone(), r.port)).collect();
        assert_eq!(
            hosts,
            [
                (Host::Name("a.ns".into()), Some(1)),
                (Host::Name("b.ns".into()), Some(2))
            ]
        );
    }
}
