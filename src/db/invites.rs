//! Invite links: single use, expiring, carrying a role. Only the token's hash is stored.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::{InviteId, OrgId, Role, UserId};

/// A pending invite as listed on the Members page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingInvite {
    pub id: InviteId,
    pub role: Role,
    pub created_by_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An invite found by its token, with its org.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InviteByToken {
    pub id: InviteId,
    pub org_id: OrgId,
    pub org_slug: String,
    pub org_name: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Stores a new invite.
pub async fn insert(
    db: &PgPool,
    org: OrgId,
    token_hash: &str,
    role: Role,
    created_by: UserId,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<InviteId> {
    let id = InviteId::new();
    sqlx::query(
        "insert into invites (id, org_id, token_hash, role, created_by, expires_at)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(org)
    .bind(token_hash)
    .bind(role)
    .bind(created_by)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(id)
}

/// Invites of the org that can still be used, newest first.
pub async fn list_pending(db: &PgPool, org: OrgId) -> sqlx::Result<Vec<PendingInvite>> {
    sqlx::query_as(
        "select i.id, i.role, u.name as created_by_name, i.created_at, i.expires_at
         from invites i left join users u on u.id = i.created_by
         where i.org_id = $1 and i.accepted_at is null and i.revoked_at is null and i.expires_at > now()
         order by i.created_at desc",
    )
    .bind(org)
    .fetch_all(db)
    .await
}

/// The invite with this token hash, used or not.
pub async fn find_by_token_hash(
    db: &PgPool,
    token_hash: &str,
) -> sqlx::Result<Option<InviteByToken>> {
    sqlx::query_as(
        "select i.id, i.org_id, o.slug as org_slug, o.name as org_name, i.role, i.expires_at,
                i.accepted_at, i.revoked_at
         from invites i join orgs o on o.id = i.org_id
         where i.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await
}

/// Marks the invite used by `user` if it is still usable; `false` if someone got there first.
pub async fn mark_accepted(
    conn: &mut PgConnection,
    org: OrgId,
    invite: InviteId,
    user: UserId,
) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "update invites set accepted_at = now(), accepted_by = $3
         where org_id = $1 and id = $2 and accepted_at is null and revoked_at is null and expires_at > now()",
    )
    .bind(org)
    .bind(invite)
    .bind(user)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Revokes a pending invite of the org; `false` if there is no such pending invite.
pub async fn revoke(db: &PgPool, org: OrgId, invite: InviteId) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "update invites set revoked_at = now()
         where org_id = $1 and id = $2 and accepted_at is null and revoked_at is null",
    )
    .bind(org)
    .bind(invite)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The role an invite carries, if it is a pending invite of this org.
pub async fn pending_role(db: &PgPool, org: OrgId, invite: InviteId) -> sqlx::Result<Option<Role>> {
    sqlx::query_scalar(
        "select role from invites
         where org_id = $1 and id = $2 and accepted_at is null and revoked_at is null",
    )
    .bind(org)
    .bind(invite)
    .fetch_optional(db)
    .await
}
