//! Small charts drawn on the server as inline SVG (no chart library in the browser). The markup
//! is built from numbers only, so it is safe to include unescaped.

/// Meetings per week as bars, oldest first; `width` and `height` in CSS pixels.
pub fn weekly_bars(weekly: &[i32], width: u32, height: u32) -> String {
    let n = weekly.len().max(1) as f64;
    let max = weekly.iter().copied().max().unwrap_or(0).max(1) as f64;
    let slot = f64::from(width) / n;
    let bar = (slot * 0.7).max(1.0);
    let total: i64 = weekly.iter().map(|v| i64::from(*v)).sum();
    let mut svg = format!(
        "<svg class=\"weekly-chart\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{total} meetings in the last {} weeks\">",
        weekly.len()
    );
    for (i, v) in weekly.iter().enumerate() {
        let h = if *v > 0 {
            (f64::from(*v) / max * f64::from(height - 1)).max(2.0)
        } else {
            1.0
        };
        svg.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\"{}><title>{v}</title></rect>",
            i as f64 * slot,
            f64::from(height) - h,
            if *v > 0 { "" } else { " class=\"empty\"" }
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_busiest_week_and_say_the_total() {
        let svg = weekly_bars(&[0, 1, 4, 2], 40, 20);
        assert!(svg.contains("aria-label=\"7 meetings in the last 4 weeks\""));
        assert_eq!(svg.matches("<rect").count(), 4);
        assert!(svg.contains("height=\"19.0\"><title>4</title>"));
        assert!(svg.contains("class=\"empty\""));
        assert!(weekly_bars(&[], 10, 10).contains("0 meetings"));
    }
}
