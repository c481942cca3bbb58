//! Calico's selector language — `app == 'web' && !has(debug)`, `tier in {'a', 'b'}`, `all()`,
//! `global()` — parsed into an expression and matched against labels as Calico matches them.
//!
//! Grammar (Calico's own precedence): `||` binds loosest, then `&&`, then any number of leading
//! `!`; operations are `label == 'v'`, `!=`, `in {…}`, `not in {…}`, `contains`, `starts with`,
//! `ends with`, `has(label)`, `all()`, `global()` and parenthesised expressions. Strings are
//! single- or double-quoted without escapes; only spaces and tabs separate tokens. An empty
//! selector is `all()`. A missing label makes `!=` and `not in` true and every other comparison
//! false.

use std::fmt;

use super::{Labels, Name};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    All,
    /// Matches non-namespaced endpoints (GlobalNetworkSets, host endpoints) where it is used as a
    /// `namespaceSelector`; as a label test it matches everything, as in Calico.
    Global,
    Has(Name),
    Eq(Name, Name),
    Ne(Name, Name),
    In(Name, Vec<Name>),
    NotIn(Name, Vec<Name>),
    Contains(Name, Name),
    StartsWith(Name, Name),
    EndsWith(Name, Name),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// Why a selector does not parse, at a byte offset into its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectorError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at character {})", self.message, self.offset + 1)
    }
}

impl Expr {
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = |k: &Name| labels.get(k);
        match self {
            Expr::All | Expr::Global => true,
            Expr::Has(k) => labels.contains_key(k),
            Expr::Eq(k, v) => value(k) == Some(v),
            Expr::Ne(k, v) => value(k) != Some(v),
            Expr::In(k, vs) => value(k).is_some_and(|x| vs.contains(x)),
            Expr::NotIn(k, vs) => value(k).is_none_or(|x| !vs.contains(x)),
            Expr::Contains(k, v) => value(k).is_some_and(|x| x.contains(v.as_str())),
            Expr::StartsWith(k, v) => value(k).is_some_and(|x| x.starts_with(v.as_str())),
            Expr::EndsWith(k, v) => value(k).is_some_and(|x| x.ends_with(v.as_str())),
            Expr::Not(e) => !e.matches(labels),
            Expr::And(es) => es.iter().all(|e| e.matches(labels)),
            Expr::Or(es) => es.iter().any(|e| e.matches(labels)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Label(Name),
    Str(Name),
    LBrace,
    RBrace,
    Comma,
    Eq,
    Ne,
    Not,
    In,
    NotIn,
    Contains,
    StartsWith,
    EndsWith,
    All,
    Global,
    Has(Name),
    LParen,
    RParen,
    And,
    Or,
    End,
}

struct Token {
    kind: Kind,
    offset: usize,
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-')
}

/// The label name at the start of `text` (maybe empty).
fn label_at(text: &str) -> &str {
    let end = text.find(|c: char| !is_label_char(c)).unwrap_or(text.len());
    &text[..end]
}

fn error<T>(offset: usize, message: impl Into<String>) -> Result<T, SelectorError> {
    Err(SelectorError {
        offset,
        message: message.into(),
    })
}

fn tokenize(text: &str) -> Result<Vec<Token>, SelectorError> {
    let mut tokens: Vec<Token> = Vec::new();
    let mut at = 0;
    let skip_blanks =
        |at: usize| at + text[at..].len() - text[at..].trim_start_matches([' ', '\t']).len();
    loop {
        at = skip_blanks(at);
        let rest = &text[at..];
        let Some(c) = rest.chars().next() else {
            tokens.push(Token {
                kind: Kind::End,
                offset: at,
            });
            return Ok(tokens);
        };
        let after_label = matches!(
            tokens.last(),
            Some(Token {
                kind: Kind::Label(_),
                ..
            })
        );
        let start = at;
        let (kind, len) = match c {
            '(' => (Kind::LParen, 1),
            ')' => (Kind::RParen, 1),
            '{' => (Kind::LBrace, 1),
            '}' => (Kind::RBrace, 1),
            ',' => (Kind::Comma, 1),
            '"' | '\'' => match rest[1..].find(c) {
                Some(end) => (Kind::Str(rest[1..1 + end].into()), end + 2),
                None => return error(start, "unterminated string"),
            },
            '=' if rest.starts_with("==") => (Kind::Eq, 2),
            '=' => return error(start, "expected `==`"),
            '!' if rest.starts_with("!=") => (Kind::Ne, 2),
            '!' => (Kind::Not, 1),
            '&' if rest.starts_with("&&") => (Kind::And, 2),
            '&' => return error(start, "expected `&&`"),
            '|' if rest.starts_with("||") => (Kind::Or, 2),
            '|' => return error(start, "expected `||`"),
            _ if after_label => operator(text, at)?,
            _ if rest.starts_with("has(") => {
                let inner = skip_blanks(at + 4);
                let label = Name::from(label_at(&text[inner..]));
                if label.is_empty() {
                    return error(inner, "expected a label name in `has(…)`");
                }
                let close = skip_blanks(inner + label.len());
                if !text[close..].starts_with(')') {
                    return error(close, "expected `)` after `has(label`");
                }
                (Kind::Has(label), close + 1 - at)
            }
            _ if rest.starts_with("all(") || rest.starts_with("global(") => {
                let (kind, name) = if rest.starts_with("all(") {
                    (Kind::All, "all(")
                } else {
                    (Kind::Global, "global(")
                };
                let close = skip_blanks(at + name.len());
                if !text[close..].starts_with(')') {
                    return error(close, format!("expected `)` after `{name}`"));
                }
                (kind, close + 1 - at)
            }
            _ if is_label_char(c) => {
                let label = Name::from(label_at(rest));
                let len = label.len();
                (Kind::Label(label), len)
            }
            _ => return error(start, format!("unexpected character `{c}`")),
        };
        tokens.push(Token {
            kind,
            offset: start,
        });
        at += len;
    }
}

/// The operator after a label: `contains`, `starts with`, `ends with`, `not in`, `in`.
fn operator(text: &str, at: usize) -> Result<(Kind, usize), SelectorError> {
    let rest = &text[at..];
    let two_words = |first: &str, second: &str| {
        let after = rest.strip_prefix(first)?;
        let blanks = after.len() - after.trim_start_matches([' ', '\t']).len();
        after[blanks..]
            .starts_with(second)
            .then_some(first.len() + blanks + second.len())
    };
    if rest.starts_with("contains") {
        Ok((Kind::Contains, "contains".len()))
    } else if let Some(len) = two_words("starts", "with") {
        Ok((Kind::StartsWith, len))
    } else if let Some(len) = two_words("ends", "with") {
        Ok((Kind::EndsWith, len))
    } else if let Some(len) = two_words("not", "in") {
        Ok((Kind::NotIn, len))
    } else if rest.starts_with("in") {
        Ok((Kind::In, 2))
    } else {
        error(
            at,
            "expected an operator after the label: ==, !=, in, not in, contains, starts with, ends with",
        )
    }
}

/// Parentheses nested deeper than this are refused: parsing, matching and printing recurse,
/// and 3,000 levels overflowed a thread's stack. Real selectors nest two or three.
const MAX_NESTING: usize = 100;

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    /// Parentheses open at the token being read.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.next]
    }

    fn take(&mut self) -> &Token {
        let token = &self.tokens[self.next];
        if token.kind != Kind::End {
            self.next += 1;
        }
        token
    }

    fn or(&mut self) -> Result<Expr, SelectorError> {
        self.joined(Kind::Or, Parser::and, Expr::Or)
    }

    fn and(&mut self) -> Result<Expr, SelectorError> {
        self.joined(Kind::And, Parser::operation, Expr::And)
    }

    /// `operand (separator operand)*`, one operand as itself.
    fn joined(
        &mut self,
        separator: Kind,
        operand: fn(&mut Parser) -> Result<Expr, SelectorError>,
        combine: fn(Vec<Expr>) -> Expr,
    ) -> Result<Expr, SelectorError> {
        let mut terms = vec![operand(self)?];
        while self.peek().kind == separator {
            self.take();
            terms.push(operand(self)?);
        }
        Ok(if terms.len() == 1 {
            terms.pop().unwrap()
        } else {
            combine(terms)
        })
    }

    fn operation(&mut self) -> Result<Expr, SelectorError> {
        let mut negated = false;
        while self.peek().kind == Kind::Not {
            self.take();
            negated = !negated;
        }
        let token = self.take();
        let (kind, offset) = (token.kind.clone(), token.offset);
        let expr = match kind {
            Kind::All => Expr::All,
            Kind::Global => Expr::Global,
            Kind::Has(label) => Expr::Has(label),
            Kind::LParen => {
                if self.depth >= MAX_NESTING {
                    return error(
                        offset,
                        format!("parentheses nested deeper than {MAX_NESTING} levels"),
                    );
                }
                self.depth += 1;
                let inner = self.or()?;
                self.depth -= 1;
                let close = self.take();
                if close.kind != Kind::RParen {
                    return error(close.offset, "expected `)`");
                }
                inner
            }
            Kind::Label(label) => self.comparison(label)?,
            Kind::End => return error(offset, "unexpected end of the selector"),
            other => return error(offset, format!("unexpected {}", describe(&other))),
        };
        Ok(if negated {
            Expr::Not(Box::new(expr))
        } else {
            expr
        })
    }

    fn comparison(&mut self, label: Name) -> Result<Expr, SelectorError> {
        let op = self.take();
        let (op, op_offset) = (op.kind.clone(), op.offset);
        let string = |p: &mut Parser| {
            let token = p.take();
            match &token.kind {
                Kind::Str(s) => Ok(*s),
                _ => error(token.offset, "expected a quoted string"),
            }
        };
        Ok(match op {
            Kind::Eq => Expr::Eq(label, string(self)?),
            Kind::Ne => Expr::Ne(label, string(self)?),
            Kind::Contains => Expr::Contains(label, string(self)?),
            Kind::StartsWith => Expr::StartsWith(label, string(self)?),
            Kind::EndsWith => Expr::EndsWith(label, string(self)?),
            Kind::In | Kind::NotIn => {
                let brace = self.take();
                if brace.kind != Kind::LBrace {
                    return error(brace.offset, "expected a set: `{'a', 'b'}`");
                }
                let mut values = Vec::new();
                while let Kind::Str(s) = &self.peek().kind {
                    values.push(*s);
                    self.take();
                    if self.peek().kind != Kind::Comma {
                        break;
                    }
                    self.take();
                }
                let close = self.take();
                if close.kind != Kind::RBrace {
                    return error(close.offset, "expected `}` or a quoted string");
                }
                if op == Kind::In {
                    Expr::In(label, values)
                } else {
                    Expr::NotIn(label, values)
                }
            }
            _ => {
                return error(
                    op_offset,
                    "expected an operator after the label: ==, !=, in, not in, contains, starts with, ends with",
                );
            }
        })
    }
}

fn describe(kind: &Kind) -> String {
    match kind {
        Kind::Label(l) => format!("label `{l}`"),
        Kind::Str(s) => format!("string '{s}'"),
        Kind::RParen => "`)`".into(),
        Kind::RBrace => "`}`".into(),
        Kind::LBrace => "`{`".into(),
        Kind::Comma => "`,`".into(),
        Kind::And => "`&&`".into(),
        Kind::Or => "`||`".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Parses a Calico selector; an empty one is `all()`.
pub fn parse(text: &str) -> Result<Expr, SelectorError> {
    let mut parser = Parser {
        tokens: tokenize(text)?,
        next: 0,
        depth: 0,
    };
    if parser.peek().kind == Kind::End {
        return Ok(Expr::All);
    }
    let expr = parser.or()?;
    let rest = parser.peek();
    if rest.kind != Kind::End {
        return error(
            rest.offset,
            format!(
                "unexpected {} after a complete expression",
                describe(&rest.kind)
            ),
        );
    }
    Ok(expr)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::selector::labels;

    fn matches(selector: &str, pairs: &[(&str, &str)]) -> bool {
        parse(selector)
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
            .matches(&labels(pairs))
    }

    /// Rows from Calico's selector documentation and its parser's behaviour.
    #[test]
    fn documented_operators_match_as_calico_does() {
        let web = [
            ("app", "web"),
            ("tier", "frontend"),
            ("version", "v1.2-beta"),
        ];
        let rows: &[(&str, bool)] = &[
            ("", true),
            ("all()", true),
            ("all( )", true),
            ("global()", true),
            ("app == 'web'", true),
            ("app == \"web\"", true),
            ("app == 'db'", false),
            ("app != 'db'", true),
            ("missing != 'x'", true),
            ("missing == 'x'", false),
            ("has(app)", true),
            ("has( tier )", true),
            ("!has(app)", false),
            ("!!has(app)", true),
            ("has(missing)", false),
            ("tier in {'frontend', 'backend'}", true),
            ("tier in {'backend',}", false),
            ("tier in {}", false),
            ("tier not in {'backend'}", true),
            ("tier not  in {'frontend'}", false),
            ("missing not in {'a'}", true),
            ("missing in {'a'}", false),
            ("version contains 'beta'", true),
            ("version starts with 'v1'", true),
            ("version ends with 'beta'", true),
            ("version ends  with 'v1'", false),
            ("missing contains ''", false),
            ("app == 'web' && tier == 'backend'", false),
            ("app == 'web' || tier == 'backend'", true),
            // && binds tighter than ||.
            ("app == 'db' && tier == 'x' || has(app)", true),
            ("app == 'db' && (tier == 'x' || has(app))", false),
            ("!(app == 'db') && has(tier)", true),
            ("!app == 'web'", false),
            ("projectcalico.org/name == 'x' || app == 'web'", true),
            ("\tapp=='web'&&tier=='frontend'", true),
        ];
        for (selector, expected) in rows {
            assert_eq!(matches(selector, &web), *expected, "{selector}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}a == 'b'{}", "(".repeat(3000), ")".repeat(3000));
        let err = parse(&deep).unwrap_err();
        assert!(err.message.contains("nested deeper than"), "{err}");
        assert_eq!(err.offset, MAX_NESTING);
        let fine = format!(
            "{}a == 'b'{}",
            "(".repeat(MAX_NESTING),
            ")".repeat(MAX_NESTING)
        );
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn errors_point_into_the_expression() {
        let rows: &[(&str, usize, &str)] = &[
            ("app = 'web'", 4, "expected `==`"),
            ("app == web", 7, "expected a quoted string"),
            ("app == 'web", 7, "unterminated string"),
            ("app == 'web' &", 13, "expected `&&`"),
            ("app", 3, "expected an operator"),
            ("app is 'web'", 4, "expected an operator"),
            ("has(app", 7, "expected `)`"),
            ("has()", 4, "expected a label name"),
            ("(app == 'web'", 13, "expected `)`"),
            ("app in 'web'", 7, "expected a set"),
            ("app in {'a' 'b'}", 12, "expected `}`"),
            (
                "app == 'web' app == 'db'",
                13,
                "unexpected label `app` after a complete",
            ),
            ("app == 'web' &&", 15, "unexpected end"),
            ("app == 'web' @", 13, "unexpected character `@`"),
        ];
        for (selector, offset, message) in rows {
            let e = parse(selector).expect_err(selector);
            assert_eq!(
                (e.offset, e.message.contains(message)),
                (*offset, true),
                "{selector}: {e:?}"
            );
        }
    }
}
