//! Credentials out of what netpol-fix prints: the password of a URL's user information
//! (`http://user:password@host`) and the values of query parameters whose names say they are
//! secrets (`?token=…`, `&access_key=…`) become `***` in messages, and as many `*` as they have
//! characters in source excerpts (so that columns still line up). Host, port and path stay:
//! they are what a finding is about.

use std::borrow::Cow;

/// Query parameter names (compared without case, `-` and `_`) whose values are secrets.
const SECRET_PARAMETERS: &[&str] = &[
    "token",
    "accesstoken",
    "accesskey",
    "secretkey",
    "secret",
    "password",
    "passwd",
    "pwd",
    "apikey",
    "key",
    "sig",
    "signature",
    "credential",
    "credentials",
    "auth",
    "xamzsignature",
    "xamzcredential",
    "xamzsecuritytoken",
];

const HIDDEN: &str = "***";

/// `text` with every credential it holds replaced by `***` (borrowed when it holds none).
pub fn redact(text: &str) -> Cow<'_, str> {
    hide(text, false)
}

/// `text` with every character of every credential it holds replaced by `*`.
pub fn mask(text: &str) -> Cow<'_, str> {
    hide(text, true)
}

fn hidden(secret: &str, keep_length: bool) -> Cow<'static, str> {
    if keep_length {
        Cow::Owned("*".repeat(secret.chars().count()))
    } else {
        Cow::Borrowed(HIDDEN)
    }
}

fn hide(text: &str, keep_length: bool) -> Cow<'_, str> {
    // A password needs `@` after it, a secret parameter `?` or `&` before it: most texts (a
    // finding's message, a line of YAML) have neither and are let through at once.
    if memchr::memchr3(b'@', b'?', b'&', text.as_bytes()).is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme) = rest.find("://") {
        let authority_start = scheme + 3;
        let authority_len = rest[authority_start..]
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(rest.len() - authority_start);
        let authority = &rest[authority_start..authority_start + authority_len];
        out.push_str(&rest[..authority_start]);
        match authority.rfind('@') {
            Some(at) => {
                let user_info = &authority[..at];
                match user_info.split_once(':') {
                    Some((user, password)) => {
                        out.push_str(user);
                        out.push(':');
                        out.push_str(&hidden(password, keep_length));
                    }
                    None => out.push_str(user_info),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &rest[authority_start + authority_len..];
    }
    out.push_str(rest);
    match redact_parameters(&out, keep_length) {
        Cow::Borrowed(_) if out == text => Cow::Borrowed(text),
        Cow::Borrowed(_) => Cow::Owned(out),
        Cow::Owned(redacted) => Cow::Owned(redacted),
    }
}

/// The values of secret-named `name=value` pairs after `?` or `&`.
fn redact_parameters(text: &str, keep_length: bool) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    for (i, c) in text.char_indices() {
        if c != '?' && c != '&' {
            continue;
        }
        let pair = &text[i + 1..];
        let Some(eq) = pair.find('=') else { continue };
        let name = &pair[..eq];
        if name.is_empty()
            || name.contains(|c: char| matches!(c, '&' | '?' | '/') || c.is_whitespace())
        {
            continue;
        }
        let folded: String = name
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        if !SECRET_PARAMETERS.contains(&folded.as_str()) {
            continue;
        }
        let value_start = i + 1 + eq + 1;
        let value_end = text[value_start..]
            .find(|c: char| matches!(c, '&' | '#' | '"' | '\'') || c.is_whitespace())
            .map_or(text.len(), |n| value_start + n);
        if value_end == value_start || value_start < copied {
            continue;
        }
        out.push_str(&text[copied..value_start]);
        out.push_str(&hidden(&text[value_start..value_end], keep_length));
        copied = value_end;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::{mask, redact};

    #[test]
    fn passwords_and_secret_parameters_are_hidden_and_the_rest_kept() {
        let cases = [
            ("http://mlflow.mlflow:80", "http://mlflow.mlflow:80"),
            (
                "postgresql://app:s3cret@db.apps:5432/main",
                "postgresql://app:***@db.apps:5432/main",
            ),
            ("https://user@host/x", "https://user@host/x"),
            (
                "http://minio:9000/b?access_key=AKIA1&region=eu&token=abc#f",
                "http://minio:9000/b?access_key=***&region=eu&token=***#f",
            ),
            (
                "s3://x?X-Amz-Signature=f00d&X-Amz-Credential=me",
                "s3://x?X-Amz-Signature=***&X-Amz-Credential=***",
            ),
            (
                "URL=redis://:pw@cache:6379 and http://a:b@c/",
                "URL=redis://:***@cache:6379 and http://a:***@c/",
            ),
            ("a=b, x@y", "a=b, x@y"),
            ("?password=", "?password="),
        ];
        for (text, expected) in cases {
            assert_eq!(redact(text), expected, "{text}");
            // In excerpts a credential keeps its length, so columns line up.
            assert_eq!(mask(text).chars().count(), text.chars().count(), "{text}");
            assert!(!mask(text).contains("s3cret") && !mask(text).contains("AKIA1"));
        }
    }
}
