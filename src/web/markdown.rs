//! Markdown from outside (Fathom's summaries) to HTML that is safe to put in a page: rendered with
//! pulldown-cmark, then cleaned by ammonia (no scripts, event handlers or `javascript:` links;
//! links open without handing over the page).

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd, html};

/// Renders `markdown` to sit in a page section headed by an `<h2>` named `section`, keeping only
/// safe HTML. Its headings move down so the largest is an `<h3>` (the page's outline stays
/// right), and a leading heading that only repeats `section` (Fathom's summaries often start
/// with "## Summary") is left out.
pub fn render_section(markdown: &str, section: &str) -> String {
    let mut events = parse(markdown);
    if let Some(end) = leading_heading_end(&events, section) {
        events.drain(..=end);
    }
    let largest = events
        .iter()
        .filter_map(|event| match event {
            Event::Start(Tag::Heading { level, .. }) => Some(*level as usize),
            _ => None,
        })
        .min();
    let shift = largest.map_or(0, |largest| 3usize.saturating_sub(largest));
    clean(events.into_iter().map(|event| match event {
        Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs,
        }) => Event::Start(Tag::Heading {
            level: lower(level, shift),
            id,
            classes,
            attrs,
        }),
        Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(lower(level, shift))),
        other => other,
    }))
}

fn parse(markdown: &str) -> Vec<Event<'_>> {
    Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    )
    .collect()
}

/// Where the document's first block ends, if that block is a heading whose text is `title`.
fn leading_heading_end(events: &[Event<'_>], title: &str) -> Option<usize> {
    if !matches!(events.first(), Some(Event::Start(Tag::Heading { .. }))) {
        return None;
    }
    let end = events
        .iter()
        .position(|event| matches!(event, Event::End(TagEnd::Heading(_))))?;
    let text: String = events[1..end]
        .iter()
        .filter_map(|event| match event {
            Event::Text(text) | Event::Code(text) => Some(text.as_ref()),
            _ => None,
        })
        .collect();
    text.trim().eq_ignore_ascii_case(title).then_some(end)
}

fn lower(level: HeadingLevel, by: usize) -> HeadingLevel {
    HeadingLevel::try_from((level as usize + by).min(6)).unwrap_or(HeadingLevel::H6)
}

fn clean<'a>(events: impl Iterator<Item = Event<'a>>) -> String {
    let mut raw = String::new();
    html::push_html(&mut raw, events);
    // No images at all: a remote image in a summary is a tracking pixel that tells its owner who
    // read the meeting, and when.
    ammonia::Builder::default()
        .rm_tags(["img"])
        .link_rel(Some("noopener noreferrer"))
        .clean(&raw)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_images_are_dropped() {
        let html = render_section(
            "Hello ![pixel](https://tracker.example/p.gif?u=1) <img src=\"https://t.example/x.png\">",
            "Summary",
        );
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("tracker.example"), "{html}");
        assert!(html.contains("Hello"));
    }

    #[test]
    fn ordinary_markdown_renders() {
        let html = render_section(
            "## Key takeaways\n\n- **Budget** approved\n- See [the deck](https://example.com/deck)\n",
            "Summary",
        );
        assert!(html.contains("<h3>Key takeaways</h3>"), "{html}");
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
    fn a_section_drops_a_heading_repeating_its_title_and_moves_headings_below_its_own() {
        let html = render_section(
            "## Summary\n\nIntro.\n\n## Key points\n\n- one\n\n### Detail\n\ntext\n",
            "Summary",
        );
        assert!(!html.contains("Summary"), "{html}");
        assert!(html.starts_with("<p>Intro.</p>"), "{html}");
        assert!(html.contains("<h3>Key points</h3>"), "{html}");
        assert!(html.contains("<h4>Detail</h4>"), "{html}");
    }

    #[test]
    fn a_section_keeps_headings_that_are_already_small_enough_and_other_leading_headings() {
        let html = render_section("# Meeting purpose\n\n###### Tiny\n", "Summary");
        assert!(html.contains("<h3>Meeting purpose</h3>"), "{html}");
        assert!(html.contains("<h6>Tiny</h6>"), "capped at h6: {html}");
        let html = render_section("#### Already small\n\ntext", "Summary");
        assert!(html.contains("<h4>Already small</h4>"), "{html}");
        let html = render_section("Summary of the call\n\n## Summary\n", "Summary");
        assert!(
            html.contains("<p>Summary of the call</p>") && html.contains("<h3>Summary</h3>"),
            "only a leading heading is dropped: {html}"
        );
    }

    #[test]
    fn a_section_is_sanitised_too() {
        let html = render_section(
            "## Summary\n\n<script>alert(1)</script><b onclick=x>hi</b>",
            "Summary",
        );
        assert!(
            !html.contains("<script") && !html.contains("onclick"),
            "{html}"
        );
    }

    #[test]
    fn scripts_handlers_and_javascript_links_are_removed() {
        let html = render_section(
            "<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n[x](javascript:alert(3)) <a href=\"javascript:alert(4)\">y</a>",
            "Summary",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("alert(1)</script>"), "{html}");
    }
}
