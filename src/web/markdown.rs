//! Markdown from outside (Fathom's summaries) to HTML that is safe to put in a page: rendered with
//! pulldown-cmark, then cleaned by ammonia (no scripts, event handlers or `javascript:` links;
//! links open without handing over the page).

use pulldown_cmark::{Options, Parser, html};

/// Renders `markdown` and keeps only safe HTML.
pub fn render_safe(markdown: &str) -> String {
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(
        &mut raw,
        Parser::new_ext(
            markdown,
            Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
        ),
    );
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer"))
        .clean(&raw)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_markdown_renders() {
        let html = render_safe(
            "## Key takeaways\n\n- **Budget** approved\n- See [the deck](https://example.com/deck)\n",
        );
        assert!(html.contains("<h2>Key takeaways</h2>"), "{html}");
        assert!(
            html.contains("<li><strong>Budget</strong> approved</li>"),
            "{html}"
        );
        assert!(
            html.contains(
                r#"<a href="https://example.com/deck" rel="noopener noreferrer">the deck</a>"#
            ),
            "{html}"
        );
    }

    #[test]
    fn scripts_handlers_and_javascript_links_are_removed() {
        let html = render_safe(
            "<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n[x](javascript:alert(3)) <a href=\"javascript:alert(4)\">y</a>",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("alert(1)</script>"), "{html}");
    }
}
