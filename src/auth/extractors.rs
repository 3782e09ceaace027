//! Request extractors: the signed-in user, the org a page belongs to, the client address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use tower_sessions::Session;

use crate::auth::session as auth_session;
use crate::db;
use crate::domain::{OrgId, Role, UserId};
use crate::error::AppError;
use crate::state::AppState;

/// The signed-in person. Handlers taking it redirect anonymous visitors to the login page.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: UserId,
    pub name: String,
    pub email: String,
}

fn return_path(parts: &Parts) -> String {
    parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned())
}

async fn session_of(parts: &mut Parts, state: &AppState) -> Result<Session, AppError> {
    Session::from_request_parts(parts, state)
        .await
        .map_err(|(_, msg)| AppError::Internal(anyhow::anyhow!("session layer missing: {msg}")))
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = session_of(parts, state).await?;
        let unauthenticated = || AppError::Unauthenticated {
            next: return_path(parts),
        };
        let Some(user_id) = auth_session::user_id(&session).await? else {
            return Err(unauthenticated());
        };
        match db::users::find_by_id(&state.db, user_id).await? {
            Some(user) => Ok(CurrentUser {
                id: user.id,
                name: user.name,
                email: user.email,
            }),
            None => {
                auth_session::log_out(&session).await?;
                Err(unauthenticated())
            }
        }
    }
}

/// The org named by the `{org_slug}` path segment, with the signed-in person's membership.
/// Anyone who is not a member gets 404, whether or not the org exists.
#[derive(Debug, Clone)]
pub struct OrgContext {
    pub user: CurrentUser,
    pub org: OrgRef,
    pub role: Role,
}

/// The org a request is about.
#[derive(Debug, Clone)]
pub struct OrgRef {
    pub id: OrgId,
    pub slug: String,
    pub name: String,
}

impl OrgContext {
    /// Refuses people whose role cannot manage members and integrations.
    pub fn require_manager(&self) -> Result<(), AppError> {
        if self.role.can_manage() {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "Only owners and admins of this organisation can do that.",
            ))
        }
    }
}

impl FromRequestParts<AppState> for OrgContext {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::NotFound)?;
        let slug = params
            .iter()
            .find(|(key, _)| *key == "org_slug")
            .map(|(_, value)| value.to_owned())
            .ok_or(AppError::NotFound)?;
        let session = session_of(parts, state).await?;
        let Some(user_id) = auth_session::user_id(&session).await? else {
            return Err(AppError::Unauthenticated {
                next: return_path(parts),
            });
        };
        match db::orgs::find_membership(&state.db, user_id, &slug).await? {
            Some(m) => {
                crate::telemetry::record_org_id(&parts.extensions, m.org_id);
                Ok(OrgContext {
                    user: CurrentUser {
                        id: m.user_id,
                        name: m.user_name,
                        email: m.user_email,
                    },
                    org: OrgRef {
                        id: m.org_id,
                        slug: m.org_slug,
                        name: m.org_name,
                    },
                    role: m.role,
                })
            }
            None => match db::users::find_by_id(&state.db, user_id).await? {
                Some(_) => Err(AppError::NotFound),
                None => {
                    auth_session::log_out(&session).await?;
                    Err(AppError::Unauthenticated {
                        next: return_path(parts),
                    })
                }
            },
        }
    }
}

/// The client's address, for throttling. `X-Forwarded-For` is used only when configured.
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

/// The client address as the outermost of `trusted` proxies saw it: the `trusted`-th entry from
/// the right of all `X-Forwarded-For` headers (each proxy appends the address it saw). Entries
/// further left were written by the client and prove nothing. `None` without trusted proxies, or
/// when the header has fewer entries than that or the entry is not an address.
pub fn forwarded_client(headers: &axum::http::HeaderMap, trusted: usize) -> Option<IpAddr> {
    if trusted == 0 {
        return None;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let index = entries.len().checked_sub(trusted)?;
    entries[index].parse().ok()
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(forwarded) = forwarded_client(&parts.headers, state.settings.trusted_proxies())
        {
            return Ok(ClientIp(forwarded.to_string()));
        }
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string())
            .unwrap_or_else(|| "unknown".to_owned());
        Ok(ClientIp(addr))
    }
}

#[cfg(test)]
mod tests {
    use super::forwarded_client;
    use axum::http::{HeaderMap, HeaderValue};

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn only_addresses_added_by_trusted_proxies_count() {
        let forged = headers(&["6.6.6.6, 203.0.113.7"]);
        assert_eq!(
            forwarded_client(&forged, 0),
            None,
            "no proxies: header ignored"
        );
        assert_eq!(
            forwarded_client(&forged, 1),
            Some("203.0.113.7".parse().unwrap()),
            "one proxy: the right-most entry, not the client's forged left-most one"
        );
        let two = headers(&["6.6.6.6", "198.51.100.2, 10.0.0.5"]);
        assert_eq!(
            forwarded_client(&two, 2),
            Some("198.51.100.2".parse().unwrap()),
            "entries of several headers count in order"
        );
        assert_eq!(forwarded_client(&headers(&["10.0.0.5"]), 2), None);
        assert_eq!(forwarded_client(&headers(&["not-an-ip"]), 1), None);
        assert_eq!(forwarded_client(&HeaderMap::new(), 1), None);
    }
}
