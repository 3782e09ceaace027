//! What Debrief keeps in a session: who is signed in and which org they last used.

use tower_sessions::Session;

use crate::domain::UserId;
use crate::error::AppResult;

const USER_KEY: &str = "user_id";
const LAST_ORG_KEY: &str = "last_org";

/// Signs `user` in. The session id and the CSRF token change, so an id or token planted before
/// login is worthless after it.
pub async fn log_in(session: &Session, user: UserId) -> AppResult<()> {
    session.cycle_id().await?;
    crate::auth::csrf::forget_token(session).await?;
    session.insert(USER_KEY, user).await?;
    Ok(())
}

/// Ends the session entirely (data and cookie).
pub async fn log_out(session: &Session) -> AppResult<()> {
    session.flush().await?;
    Ok(())
}

/// The signed-in user's id, if any.
pub async fn user_id(session: &Session) -> AppResult<Option<UserId>> {
    Ok(session.get(USER_KEY).await?)
}

/// Remembers the org a person is working in, so `/` takes them back to it.
pub async fn remember_org(session: &Session, slug: &str) -> AppResult<()> {
    if session.get::<String>(LAST_ORG_KEY).await?.as_deref() != Some(slug) {
        session.insert(LAST_ORG_KEY, slug).await?;
    }
    Ok(())
}

/// The org last worked in, if remembered.
pub async fn last_org(session: &Session) -> AppResult<Option<String>> {
    Ok(session.get(LAST_ORG_KEY).await?)
}
