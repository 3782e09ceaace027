//! Small helpers shared by form handlers.

use percent_encoding::percent_decode_str;
use url::Url;

/// A local path that is safe to redirect to after sign-in: a strict relative path on this site
/// (`/…`), never another host however a browser might read it. Control characters (a tab is
/// stripped by browsers, so `/\t/evil.example` would become `//evil.example`), backslashes and
/// anything outside printable ASCII are refused anywhere, raw or percent-encoded, and the result
/// must resolve to this very origin.
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let next = next?;
    let printable_ascii = |s: &str| s.chars().all(|c| c.is_ascii_graphic() && c != '\\');
    if !printable_ascii(next) || !next.starts_with('/') {
        return None;
    }
    let decoded = percent_decode_str(next).decode_utf8().ok()?;
    if !printable_ascii(&decoded) || decoded.starts_with("//") || next.starts_with("//") {
        return None;
    }
    let base = Url::parse("http://debrief.invalid/").ok()?;
    let resolved = base.join(next).ok()?;
    if resolved.origin() != base.origin() || resolved.fragment().is_some() {
        return None;
    }
    let mut local = resolved.path().to_owned();
    // `/../..//x` resolves to `//x`, which a browser reads as another host.
    if local.starts_with("//") {
        return None;
    }
    if let Some(query) = resolved.query() {
        local.push('?');
        local.push_str(query);
    }
    Some(local)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next(Some("/o/acme/")), Some("/o/acme/".into()));
        assert_eq!(
            safe_next(Some("/o/acme/meetings?before=1_2")),
            Some("/o/acme/meetings?before=1_2".into())
        );
        assert_eq!(safe_next(Some("//evil.example")), None);
        assert_eq!(safe_next(Some("https://evil.example")), None);
        assert_eq!(safe_next(Some("/\\evil.example")), None);
        assert_eq!(safe_next(None), None);
    }

    #[test]
    fn tricks_browsers_turn_into_another_host_are_refused() {
        for hostile in [
            "/\t/evil.example",
            "/%09/evil.example",
            "/%2F%2Fevil.example",
            "/%2f/evil.example",
            "%2F%2Fevil.example",
            "/\\\\evil.example",
            "/%5Cevil.example",
            "/%5c%5cevil.example",
            "/o/acme\\..\\..\\evil",
            "/\r\n/evil.example",
            "/%0d%0aSet-Cookie:x=1",
            " //evil.example",
            "/\u{FF0F}evil.example",
            "/\u{2215}evil.example",
            "/%EF%BC%8Fevil.example",
            "/\u{3002}evil.example",
            "/../..//evil.example",
            "/x#@evil.example",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(
                safe_next(Some(hostile)),
                None,
                "{hostile:?} must be refused"
            );
        }
    }
}
