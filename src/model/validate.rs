//! The API server's rules for names, label keys and values, by hand (byte checks, no regex).
//!
//! From k8s.io/apimachinery/pkg/util/validation/validation.go (`IsDNS1123Subdomain`,
//! `IsDNS1123Label`, `IsDNS1035Label`, `IsQualifiedName`, `IsValidLabelValue`),
//! k8s.io/apimachinery/pkg/api/validation/generic.go (`NameIsDNSSubdomain` and the others with
//! `prefix` for `generateName`, `maskTrailingDash`), k8s.io/apiserver/pkg/storage/names
//! (a generated name is the prefix, cut to 58 bytes, and 5 random characters) and
//! k8s.io/apimachinery/pkg/api/validation/path (`IsValidPathSegmentName`, RBAC names).
//! Lengths are in bytes, as in Go. Each check returns what is wrong, for a message.

/// A rule a name must follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Most kinds, custom resources included.
    Subdomain,
    /// Namespaces (their own names and `metadata.namespace`).
    Label,
    /// Services.
    Label1035,
    /// CronJobs: a subdomain of at most 52 bytes (the controller appends 11 to name its Jobs).
    CronJob,
    /// Roles and bindings: anything but `.`/`..`, without `/` or `%`.
    PathSegment,
}

impl Rule {
    /// The rule `metadata.name` follows in an object of `kind`.
    pub fn for_kind(kind: &str) -> Rule {
        match kind {
            "Namespace" => Rule::Label,
            "Service" => Rule::Label1035,
            "CronJob" => Rule::CronJob,
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => Rule::PathSegment,
            _ => Rule::Subdomain,
        }
    }

    pub fn check(self, name: &str) -> Result<(), String> {
        self.check_bytes(name.as_bytes())
    }

    fn check_bytes(self, b: &[u8]) -> Result<(), String> {
        match self {
            Rule::Subdomain => dns1123_subdomain(b),
            Rule::Label => dns1123_label(b),
            Rule::Label1035 => dns1035_label(b),
            Rule::CronJob => dns1123_subdomain(b).and_then(|()| max_len(b, 52)),
            Rule::PathSegment => path_segment(b),
        }
    }

    /// Whether `prefix` is a valid `metadata.generateName`: the API server checks it with a
    /// trailing `-` masked, then the name it generates from it.
    pub fn check_prefix(self, prefix: &str) -> Result<(), String> {
        let b = prefix.as_bytes();
        // `maskTrailingDash`: upstream drops the last two bytes and appends `a`.
        match b {
            [rest @ .., _, b'-'] => self.check_bytes(&[rest, b"a"].concat()),
            _ => self.check_bytes(b),
        }?;
        self.check_bytes(&[&b[..b.len().min(58)], b"bbbbb"].concat())
    }

    /// What the rule asks, for a message's help.
    pub fn describe(self) -> &'static str {
        match self {
            Rule::Subdomain => {
                "a DNS-1123 subdomain: at most 253 characters, lowercase letters, digits, `-` and `.`, each part between dots starting and ending with a letter or digit"
            }
            Rule::Label => {
                "a DNS-1123 label: at most 63 characters, lowercase letters, digits and `-`, starting and ending with a letter or digit"
            }
            Rule::Label1035 => {
                "a DNS-1035 label: at most 63 characters, lowercase letters, digits and `-`, starting with a letter and ending with a letter or digit"
            }
            Rule::CronJob => {
                "a DNS-1123 subdomain of at most 52 characters (lowercase letters, digits, `-` and `.`, each part between dots starting and ending with a letter or digit)"
            }
            Rule::PathSegment => "anything but `.` or `..`, without `/` or `%`",
        }
    }
}

/// What a label key or an annotation key must be, for a message's help.
pub const QUALIFIED_NAME: &str = "an optional DNS-1123 subdomain prefix and `/`, then a name of at most 63 letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit";

/// What a label value must be, for a message's help.
pub const LABEL_VALUE: &str = "empty, or at most 63 letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit";

const EDGES: &str = "does not start and end with a letter or digit";

fn lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Whether the first and the last byte pass `edge` (false when empty).
fn edges(b: &[u8], edge: fn(u8) -> bool) -> bool {
    matches!((b.first(), b.last()), (Some(&first), Some(&last)) if edge(first) && edge(last))
}

/// The first byte outside `allowed`, as a message.
fn bad_char(b: &[u8], allowed: impl Fn(u8) -> bool) -> Result<(), String> {
    match b.iter().find(|&&c| !allowed(c)) {
        None => Ok(()),
        Some(c) if c.is_ascii_uppercase() => {
            Err(format!("contains the uppercase letter {:?}", *c as char))
        }
        Some(c) if c.is_ascii() => Err(format!("contains {:?}", *c as char)),
        Some(_) => Err("contains a character that is not ASCII".into()),
    }
}

fn max_len(b: &[u8], max: usize) -> Result<(), String> {
    if b.len() > max {
        return Err(format!("is {} characters long, over {max}", b.len()));
    }
    Ok(())
}

fn nonempty(b: &[u8]) -> Result<(), String> {
    if b.is_empty() {
        return Err("is empty".into());
    }
    Ok(())
}

/// `IsDNS1123Subdomain`: at most 253, `[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`.
pub fn dns1123_subdomain(b: &[u8]) -> Result<(), String> {
    nonempty(b)?;
    bad_char(b, |c| lower_alnum(c) || c == b'-' || c == b'.')?;
    max_len(b, 253)?;
    if !edges(b, lower_alnum) {
        return Err(EDGES.into());
    }
    for part in b.split(|&c| c == b'.') {
        if part.is_empty() {
            return Err("contains `..`".into());
        }
        if !edges(part, lower_alnum) {
            return Err(
                "has a part between dots that does not start and end with a letter or digit".into(),
            );
        }
    }
    Ok(())
}

/// `IsDNS1123Label`: at most 63, `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
pub fn dns1123_label(b: &[u8]) -> Result<(), String> {
    nonempty(b)?;
    bad_char(b, |c| lower_alnum(c) || c == b'-')?;
    max_len(b, 63)?;
    if !edges(b, lower_alnum) {
        return Err(EDGES.into());
    }
    Ok(())
}

/// `IsDNS1035Label`: at most 63, `[a-z]([-a-z0-9]*[a-z0-9])?`.
pub fn dns1035_label(b: &[u8]) -> Result<(), String> {
    dns1123_label(b)?;
    if b[0].is_ascii_digit() {
        return Err("starts with a digit".into());
    }
    Ok(())
}

/// `IsValidPathSegmentName`.
pub fn path_segment(b: &[u8]) -> Result<(), String> {
    nonempty(b)?;
    if b == b"." || b == b".." {
        return Err(format!("is {:?}", String::from_utf8_lossy(b)));
    }
    match b.iter().find(|&&c| c == b'/' || c == b'%') {
        Some(&c) => Err(format!("contains {:?}", c as char)),
        None => Ok(()),
    }
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]` of at most 63: a label value (but not empty)
/// and the name part of a qualified name.
fn name_part(b: &[u8]) -> Result<(), String> {
    bad_char(b, |c| {
        c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')
    })?;
    max_len(b, 63)?;
    if !edges(b, |c| c.is_ascii_alphanumeric()) {
        return Err(EDGES.into());
    }
    Ok(())
}

/// `IsQualifiedName`: a label key, a selector key or (lowercased) an annotation key.
pub fn qualified_name(b: &[u8]) -> Result<(), String> {
    let mut parts = b.splitn(3, |&c| c == b'/');
    let (prefix, name) = match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, _) => (None, name),
        (Some(prefix), Some(name), None) => (Some(prefix), name),
        _ => return Err("contains more than one `/`".into()),
    };
    if let Some(prefix) = prefix {
        dns1123_subdomain(prefix).map_err(|e| format!("has a prefix (before `/`) that {e}"))?;
    }
    if name.is_empty() {
        return Err("has an empty name (after any prefix)".into());
    }
    name_part(name).map_err(|e| match prefix {
        Some(_) => format!("has a name (after `/`) that {e}"),
        None => e,
    })
}

/// `IsValidLabelValue`.
pub fn label_value(b: &[u8]) -> Result<(), String> {
    if b.is_empty() {
        return Ok(());
    }
    name_part(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(check: fn(&[u8]) -> Result<(), String>, s: &str) -> bool {
        check(s.as_bytes()).is_ok()
    }

    #[test]
    fn subdomain() {
        let f = dns1123_subdomain;
        for good in [
            "a",
            "0",
            "shop",
            "web-1",
            "a.b",
            "a-b.c-d.e",
            "1.2.3",
            "a--b",
        ] {
            assert!(ok(f, good), "{good}");
        }
        let long_part = "a".repeat(100);
        assert!(ok(f, &long_part), "parts are not limited to 63");
        assert!(ok(f, &"a".repeat(253)));
        assert_eq!(
            f("a".repeat(254).as_bytes()).unwrap_err(),
            "is 254 characters long, over 253"
        );
        for bad in [
            "", "-a", "a-", ".a", "a.", "a..b", "a.-b", "a-.b", "Shop", "a b", "a_b", "../x", "a/b",
        ] {
            assert!(!ok(f, bad), "{bad:?}");
        }
        assert_eq!(f(b"Shop").unwrap_err(), "contains the uppercase letter 'S'");
        assert_eq!(f(b"a\0").unwrap_err(), "contains '\\0'");
        assert_eq!(f(b"a\n").unwrap_err(), "contains '\\n'");
        assert_eq!(
            f("é".as_bytes()).unwrap_err(),
            "contains a character that is not ASCII"
        );
        assert_eq!(f(b"-a").unwrap_err(), EDGES);
        assert_eq!(f(b"a.").unwrap_err(), EDGES);
        assert_eq!(f(b"a..b").unwrap_err(), "contains `..`");
        assert_eq!(
            f(b"a.-b").unwrap_err(),
            "has a part between dots that does not start and end with a letter or digit"
        );
    }

    #[test]
    fn labels_1123_and_1035() {
        for f in [dns1123_label, dns1035_label] {
            assert!(ok(f, "a") && ok(f, "web-1") && ok(f, "a--b"));
            assert!(ok(f, &"a".repeat(63)));
            assert!(!ok(f, &"a".repeat(64)));
            for bad in ["", "-a", "a-", "a.b", "A", "a_b", "a b"] {
                assert!(!ok(f, bad), "{bad:?}");
            }
        }
        assert!(ok(dns1123_label, "1a") && ok(dns1123_label, "1"));
        assert_eq!(dns1035_label(b"1a").unwrap_err(), "starts with a digit");
        assert!(ok(dns1035_label, "a1"));
    }

    #[test]
    fn path_segments() {
        let f = path_segment;
        for good in ["system:basic-user", "a b", "Admin", "..a", "x@y"] {
            assert!(ok(f, good), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "100%"] {
            assert!(!ok(f, bad), "{bad:?}");
        }
    }

    #[test]
    fn qualified_names() {
        let f = qualified_name;
        for good in [
            "app",
            "App_Name.v1",
            "a",
            "9",
            "example.com/app",
            "kubernetes.io/metadata.name",
            "a/B",
        ] {
            assert!(ok(f, good), "{good}");
        }
        assert!(ok(f, &"n".repeat(63)));
        assert!(ok(f, &format!("{}/{}", "p".repeat(253), "n".repeat(63))));
        for bad in [
            "",
            "app@b",
            "a b",
            "-a",
            "a-",
            "_a",
            "a.",
            "/a",
            "a/",
            "a/b/c",
            "Example.com/app",
            "ex_ample.com/app",
            "-x.com/a",
        ] {
            assert!(!ok(f, bad), "{bad:?}");
        }
        assert!(!ok(f, &"n".repeat(64)));
        assert!(!ok(f, &format!("{}/n", "p".repeat(254))));
        assert_eq!(f(b"app@b").unwrap_err(), "contains '@'");
        assert_eq!(f(b"a/b/c").unwrap_err(), "contains more than one `/`");
        assert_eq!(
            f(b"Example.com/app").unwrap_err(),
            "has a prefix (before `/`) that contains the uppercase letter 'E'"
        );
        assert_eq!(
            f(b"x.com/").unwrap_err(),
            "has an empty name (after any prefix)"
        );
    }

    #[test]
    fn label_values() {
        let f = label_value;
        for good in ["", "a", "Web_1.x-y", "9"] {
            assert!(ok(f, good), "{good}");
        }
        assert!(ok(f, &"v".repeat(63)));
        assert!(!ok(f, &"v".repeat(64)));
        for bad in [
            "-a", "a-", "_a", "a_", ".a", "a.", "a b", "a/b", "a@b", "a\n",
        ] {
            assert!(!ok(f, bad), "{bad:?}");
        }
    }

    #[test]
    fn names_by_kind() {
        assert!(Rule::for_kind("Deployment").check("a.b").is_ok());
        assert!(Rule::for_kind("Namespace").check("a.b").is_err());
        assert!(Rule::for_kind("Service").check("1web").is_err());
        assert!(
            Rule::for_kind("ClusterRoleBinding")
                .check("system:basic-user")
                .is_ok()
        );
        assert!(Rule::for_kind("RoleBinding").check("a/b").is_err());
        assert!(Rule::for_kind("CronJob").check(&"c".repeat(52)).is_ok());
        assert!(Rule::for_kind("CronJob").check(&"c".repeat(53)).is_err());
        assert!(Rule::for_kind("Job").check(&"c".repeat(53)).is_ok());
    }

    #[test]
    fn generate_name_prefixes() {
        let sub = Rule::Subdomain;
        for good in ["steps-", "a", "a-", "web.v1-", "x"] {
            assert!(sub.check_prefix(good).is_ok(), "{good}");
        }
        // `maskTrailingDash` masks a `-` only: a trailing `.` fails although the suffix would
        // make a valid name, and `a.-` fails on the name it generates (`a.-xxxxx`).
        for bad in ["", "-", "Steps-", "a b-", "a.", "a.-", "-a", "a_"] {
            assert!(sub.check_prefix(bad).is_err(), "{bad:?}");
        }
        // Cut to 58 before the suffix: a long prefix still fits a label.
        assert!(Rule::Label1035.check_prefix(&"s".repeat(63)).is_ok());
        assert!(Rule::Label1035.check_prefix(&"s".repeat(64)).is_err());
        assert!(Rule::Label1035.check_prefix("1a-").is_err());
        // A CronJob's generated name is at least 53 bytes from a prefix of 48.
        assert!(Rule::CronJob.check_prefix(&"c".repeat(47)).is_ok());
        assert!(Rule::CronJob.check_prefix(&"c".repeat(48)).is_err());
        // Multi-byte characters never panic the byte slicing.
        assert!(sub.check_prefix("é-").is_err());
        assert!(sub.check_prefix("é").is_err());
    }
}
