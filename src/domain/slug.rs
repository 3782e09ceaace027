//! URL slugs for organisations.

/// Longest slug base, before any uniqueness suffix.
const MAX_SLUG_LEN: usize = 48;

/// The slug an organisation name would like to have: lower-case ASCII words joined by dashes.
pub fn slug_base(name: &str) -> String {
    let mut slug = slug::slugify(name);
    if slug.len() > MAX_SLUG_LEN {
        slug.truncate(MAX_SLUG_LEN);
        slug = slug.trim_end_matches('-').to_owned();
    }
    if slug.is_empty() {
        "org".to_owned()
    } else {
        slug
    }
}

/// The `n`th candidate for a unique slug: `acme`, `acme-2`, `acme-3`, ….
pub fn slug_candidate(base: &str, n: u32) -> String {
    if n <= 1 {
        base.to_owned()
    } else {
        format!("{base}-{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_url_safe_and_never_empty() {
        assert_eq!(slug_base("Acme Sales, Inc."), "acme-sales-inc");
        assert_eq!(slug_base("Zürich Ärzte"), "zurich-arzte");
        assert_eq!(slug_base("!!!"), "org");
        assert!(slug_base(&"long name ".repeat(20)).len() <= MAX_SLUG_LEN);
        assert_eq!(slug_candidate("acme", 1), "acme");
        assert_eq!(slug_candidate("acme", 3), "acme-3");
    }
}
