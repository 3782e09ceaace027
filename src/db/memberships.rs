//! Who belongs to an org, with which role; keeps every org with at least one owner.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::{OrgId, Role, UserId};

/// A member as listed on the Members page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Member {
    pub user_id: UserId,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

/// Adds a person to an org; does nothing if they already belong. Returns whether they were added.
pub async fn insert(
    conn: &mut PgConnection,
    org: OrgId,
    user: UserId,
    role: Role,
) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "insert into memberships (org_id, user_id, role) values ($1, $2, $3)
         on conflict (org_id, user_id) do nothing",
    )
    .bind(org)
    .bind(user)
    .bind(role)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The org's members, owners first.
pub async fn list(db: &PgPool, org: OrgId) -> sqlx::Result<Vec<Member>> {
    sqlx::query_as(
        "select u.id as user_id, u.name, u.email, m.role, m.created_at as joined_at
         from memberships m join users u on u.id = m.user_id
         where m.org_id = $1
         order by case m.role when 'owner' then 0 when 'admin' then 1 else 2 end, lower(u.name), u.email",
    )
    .bind(org)
    .fetch_all(db)
    .await
}

/// Locks the org's memberships (in a transaction) and returns the member's role and the owner count,
/// so that "at least one owner" checks cannot race each other.
pub async fn lock_for_change(
    conn: &mut PgConnection,
    org: OrgId,
    user: UserId,
) -> sqlx::Result<Option<(Role, i64)>> {
    let roles: Vec<(UserId, Role)> = sqlx::query_as(
        "select user_id, role from memberships where org_id = $1 order by user_id for update",
    )
    .bind(org)
    .fetch_all(conn)
    .await?;
    let owners = roles.iter().filter(|(_, r)| *r == Role::Owner).count() as i64;
    Ok(roles
        .into_iter()
        .find(|(id, _)| *id == user)
        .map(|(_, role)| (role, owners)))
}

/// Sets a member's role.
pub async fn update_role(
    conn: &mut PgConnection,
    org: OrgId,
    user: UserId,
    role: Role,
) -> sqlx::Result<()> {
    sqlx::query("update memberships set role = $3 where org_id = $1 and user_id = $2")
        .bind(org)
        .bind(user)
        .bind(role)
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes a member from the org.
pub async fn delete(conn: &mut PgConnection, org: OrgId, user: UserId) -> sqlx::Result<()> {
    sqlx::query("delete from memberships where org_id = $1 and user_id = $2")
        .bind(org)
        .bind(user)
        .execute(conn)
        .await?;
    Ok(())
}
