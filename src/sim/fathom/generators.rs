//! Small generators and types the simulator's meeting data and content share (a leaf module, so
//! `data` and `content` need not import each other both ways).

use rand::Rng;

/// Seconds as `HH:MM:SS`.
pub(super) fn hms(secs: i64) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// One of `items`, at random.
pub(super) fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

/// True with probability `p`.
pub(super) fn chance(rng: &mut impl Rng, p: f64) -> bool {
    rng.gen_bool(p.clamp(0.0, 1.0))
}

/// The lower-cased domain of an email address.
pub(super) fn domain_of(email: &str) -> Option<String> {
    email
        .rsplit_once('@')
        .map(|(_, d)| d.to_lowercase())
        .filter(|d| !d.is_empty())
}

/// Someone invited to a generated meeting.
pub(super) struct Person {
    pub name: Option<String>,
    pub email: Option<String>,
    pub first: String,
    pub team: Option<String>,
    pub external: bool,
}
