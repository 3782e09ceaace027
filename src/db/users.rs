//! People's accounts (not org-scoped: one account can belong to several orgs).

use sqlx::{PgConnection, PgPool};

use crate::domain::{Email, PersonName, UserId};

/// A stored account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub password_hash: String,
}

/// Name of the unique constraint on emails.
pub const EMAIL_UNIQUE: &str = "users_email_key";

/// Inserts an account; fails with a unique violation on [`EMAIL_UNIQUE`] if the email is taken.
pub async fn insert(
    conn: &mut PgConnection,
    email: &Email,
    name: &PersonName,
    password_hash: &str,
) -> sqlx::Result<UserId> {
    let id = UserId::new();
    sqlx::query("insert into users (id, email, name, password_hash) values ($1, $2, $3, $4)")
        .bind(id)
        .bind(email.as_str())
        .bind(name.as_str())
        .bind(password_hash)
        .execute(conn)
        .await?;
    Ok(id)
}

/// The account with this (normalised) email.
pub async fn find_by_email(db: &PgPool, email: &Email) -> sqlx::Result<Option<User>> {
    sqlx::query_as("select id, email, name, password_hash from users where email = $1")
        .bind(email.as_str())
        .fetch_optional(db)
        .await
}

/// The account with this id.
pub async fn find_by_id(db: &PgPool, id: UserId) -> sqlx::Result<Option<User>> {
    sqlx::query_as("select id, email, name, password_hash from users where id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Whether an account uses this email.
pub async fn email_exists(db: &PgPool, email: &Email) -> sqlx::Result<bool> {
    sqlx::query_scalar("select exists(select 1 from users where email = $1)")
        .bind(email.as_str())
        .fetch_one(db)
        .await
}
