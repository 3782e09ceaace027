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

/// The org's memberships as one change sees them, read under their row locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockedMembers {
    /// The role of the person making the change (`None`: no longer a member).
    pub actor: Option<Role>,
    /// The role of the member being changed.
    pub target: Role,
    /// How many owners the org has.
    pub owners: i64,
}

/// Locks the org's memberships until the transaction ends and reads the actor's and the target's
/// roles under that lock (so a change is authorised by the actor's role as it is now, not as it
/// was when the request began); `None` when the target is not a member.
pub async fn lock_for_change(
    conn: &mut PgConnection,
    org: OrgId,
    actor: UserId,
    target: UserId,
) -> sqlx::Result<Option<LockedMembers>> {
    let roles: Vec<(UserId, Role)> = sqlx::query_as(
        "select user_id, role from memberships where org_id = $1 order by user_id for update",
    )
    .bind(org)
    .fetch_all(conn)
    .await?;
    let owners = roles.iter().filter(|(_, r)| *r == Role::Owner).count() as i64;
    let role_of = |user: UserId| roles.iter().find(|(id, _)| *id == user).map(|(_, r)| *r);
    Ok(role_of(target).map(|target| LockedMembers {
        actor: role_of(actor),
        target,
        owners,
    }))
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
