//! Organisations and the lookups that tie a person to one.

use sqlx::{PgConnection, PgPool};

use crate::domain::slug::{slug_base, slug_candidate};
use crate::domain::{OrgId, OrgName, Role, UserId};

/// An org as listed for a member.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrgSummary {
    pub id: OrgId,
    pub slug: String,
    pub name: String,
    pub role: Role,
}

/// A person's membership of an org, with both sides' names (what `OrgContext` needs).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Membership {
    pub user_id: UserId,
    pub user_name: String,
    pub user_email: String,
    pub org_id: OrgId,
    pub org_slug: String,
    pub org_name: String,
    pub role: Role,
}

/// Creates an org with a unique slug derived from its name; returns its id and slug.
pub async fn insert(conn: &mut PgConnection, name: &OrgName) -> sqlx::Result<(OrgId, String)> {
    let base = slug_base(name.as_str());
    let id = OrgId::new();
    for n in 1..=50u32 {
        let slug = slug_candidate(&base, n);
        if try_insert(conn, id, &slug, name).await? {
            return Ok((id, slug));
        }
    }
    // Fifty orgs share this name: fall back to a random suffix rather than scanning further.
    loop {
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let slug = format!("{base}-{suffix}");
        if try_insert(conn, id, &slug, name).await? {
            return Ok((id, slug));
        }
    }
}

async fn try_insert(
    conn: &mut PgConnection,
    id: OrgId,
    slug: &str,
    name: &OrgName,
) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "insert into orgs (id, slug, name) values ($1, $2, $3) on conflict (slug) do nothing",
    )
    .bind(id)
    .bind(slug)
    .bind(name.as_str())
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The person's membership of the org with this slug, in one query; `None` if not a member.
pub async fn find_membership(
    db: &PgPool,
    user: UserId,
    slug: &str,
) -> sqlx::Result<Option<Membership>> {
    sqlx::query_as(
        "select u.id as user_id, u.name as user_name, u.email as user_email,
                o.id as org_id, o.slug as org_slug, o.name as org_name, m.role
         from memberships m
         join users u on u.id = m.user_id
         join orgs o on o.id = m.org_id
         where m.user_id = $1 and o.slug = $2",
    )
    .bind(user)
    .bind(slug)
    .fetch_optional(db)
    .await
}

/// Every org the person belongs to, by name.
pub async fn list_for_user(db: &PgPool, user: UserId) -> sqlx::Result<Vec<OrgSummary>> {
    sqlx::query_as(
        "select o.id, o.slug, o.name, m.role
         from memberships m join orgs o on o.id = m.org_id
         where m.user_id = $1
         order by lower(o.name), o.slug",
    )
    .bind(user)
    .fetch_all(db)
    .await
}
