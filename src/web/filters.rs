//! Template filters for values people read: moments in time and counts.
//!
//! Times render as `<time>` elements whose text is the exact UTC time (right without JavaScript);
//! `static/js/app.js` rewrites them in the viewer's time zone, recent ones as "3 min ago", keeping
//! the exact local time on hover. Each template module brings these in with `use super::filters;`
//! (askama looks filters up as `filters::name` where the template is derived).

use std::fmt::Display;

use askama::Values;
use chrono::{DateTime, Utc};

/// A moment as `<time>`: "2026-12-03 13:47 UTC" until the browser makes it local and relative.
/// Use with `|safe`; the output holds only digits, punctuation and fixed words.
#[askama::filter_fn]
pub fn when(at: &DateTime<Utc>, _: &dyn Values) -> askama::Result<String> {
    Ok(time_element(
        at,
        "when",
        &at.format("%Y-%m-%d %H:%M UTC").to_string(),
    ))
}

/// A calendar day as `<time>`: "2026-12-03" (UTC) until the browser shows the viewer's own date.
/// Use with `|safe`.
#[askama::filter_fn]
pub fn day(at: &DateTime<Utc>, _: &dyn Values) -> askama::Result<String> {
    Ok(time_element(at, "day", &at.format("%Y-%m-%d").to_string()))
}

fn time_element(at: &DateTime<Utc>, style: &str, text: &str) -> String {
    format!(
        "<time datetime=\"{}\" data-time=\"{style}\" title=\"{}\">{text}</time>",
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        at.format("%Y-%m-%d %H:%M:%S UTC"),
    )
}

/// A whole number with thousands separators: 1234567 → "1,234,567" (anything else as it is).
#[askama::filter_fn]
pub fn count(n: impl Display, _: &dyn Values) -> askama::Result<String> {
    Ok(grouped(&n.to_string()))
}

/// `number` (decimal digits, maybe a leading `-`) with a comma between groups of three digits;
/// any other text comes back unchanged.
pub fn grouped(number: &str) -> String {
    let digits = number.strip_prefix('-').unwrap_or(number);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return number.to_owned();
    }
    let mut out = String::with_capacity(number.len() + digits.len() / 3);
    if digits.len() < number.len() {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_in_threes() {
        for (n, text) in [
            (0, "0"),
            (7, "7"),
            (999, "999"),
            (1_000, "1,000"),
            (1_234, "1,234"),
            (123_456, "123,456"),
            (1_234_567, "1,234,567"),
            (-1_234, "-1,234"),
            (i64::MIN, "-9,223,372,036,854,775,808"),
        ] {
            assert_eq!(grouped(&n.to_string()), text, "{n}");
        }
        assert_eq!(grouped("12.5"), "12.5");
        assert_eq!(grouped("-"), "-");
    }

    #[test]
    fn moments_keep_the_exact_utc_time_as_text_and_a_machine_readable_datetime() {
        let at = DateTime::parse_from_rfc3339("2026-12-03T13:47:09Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            time_element(&at, "when", "2026-12-03 13:47 UTC"),
            "<time datetime=\"2026-12-03T13:47:09Z\" data-time=\"when\" \
             title=\"2026-12-03 13:47:09 UTC\">2026-12-03 13:47 UTC</time>"
        );
        assert_eq!(
            time_element(&at, "day", "2026-12-03"),
            "<time datetime=\"2026-12-03T13:47:09Z\" data-time=\"day\" \
             title=\"2026-12-03 13:47:09 UTC\">2026-12-03</time>"
        );
    }
}
