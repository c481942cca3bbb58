//! Text from the input, escaped for each sink it is written into: a terminal (characters it
//! would act on become `�`), a markdown table cell (no cell break, no raw HTML), a mermaid
//! label (no quote to end it, no markup), a DOT string and HTML. Names are validated when they
//! are read, but each sink must be safe on its own: names also come from configuration and
//! from fields no API server checks (an Argo template's name).

use std::borrow::Cow;

/// Characters a terminal acts on instead of showing them: control characters (escape
/// sequences can rewrite the screen, the window title or the clipboard) and the bidirectional
/// marks, overrides and isolates (they reorder the text after them).
pub fn acted_on(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every character a terminal would act on as `�` (borrowed when there is none).
pub fn terminal(text: &str) -> Cow<'_, str> {
    replace_acted_on(text, |_| false)
}

/// Lines for a terminal: like [`terminal`], but line breaks stay.
pub fn terminal_lines(text: &str) -> Cow<'_, str> {
    replace_acted_on(text, |c| c == '\n')
}

fn replace_acted_on(text: &str, keep: fn(char) -> bool) -> Cow<'_, str> {
    let hidden = |c: char| acted_on(c) && !keep(c);
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if hidden(c) { '\u{fffd}' } else { c })
            .collect(),
    )
}

/// A markdown table cell: `|` escaped, HTML's special characters as entities, and what a
/// terminal would act on (line breaks included) as `�`.
pub fn markdown_cell(text: &str) -> String {
    html(&text.replace('\n', " ")).replace('|', "\\|")
}

/// Text in HTML (and markdown, which passes HTML through): `&`, `<`, `>` and `"` as entities,
/// and what a terminal would act on as `�`.
pub fn html(text: &str) -> String {
    terminal(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A mermaid label between `"…"`: quotes and markup as mermaid's entity codes.
pub fn mermaid(text: &str) -> String {
    terminal(text)
        .replace('#', "#35;")
        .replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

/// A DOT string, quotes included.
pub fn dot(text: &str) -> String {
    format!(
        "\"{}\"",
        terminal(text).replace('\\', "\\\\").replace('"', "\\\"")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_sink_gets_no_character_that_would_act_in_it() {
        let hostile = "a\u{1b}]52;c;ZWNobw==\u{7}|<b>\"x\"#1\n\u{202e}z";
        assert_eq!(
            terminal(hostile),
            "a\u{fffd}]52;c;ZWNobw==\u{fffd}|<b>\"x\"#1\u{fffd}\u{fffd}z"
        );
        assert_eq!(
            markdown_cell(hostile),
            "a\u{fffd}]52;c;ZWNobw==\u{fffd}\\|&lt;b&gt;&quot;x&quot;#1 \u{fffd}z"
        );
        assert_eq!(
            mermaid(hostile),
            "a\u{fffd}]52;c;ZWNobw==\u{fffd}|#lt;b#gt;#quot;x#quot;#35;1\u{fffd}\u{fffd}z"
        );
        assert_eq!(dot("a\"b\\c\u{1b}"), "\"a\\\"b\\\\c\u{fffd}\"");
        assert_eq!(terminal("plain: web-1"), "plain: web-1");
        assert_eq!(terminal_lines("a\u{1b}b\nc"), "a\u{fffd}b\nc");
    }
}
