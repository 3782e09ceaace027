//! Invite links: created by owners and admins, opened by the invited person, who joins the org
//! (signing up first if they have no account).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use chrono::{Duration, Utc};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tower_sessions::Session;
use uuid::Uuid;

use crate::auth::accounts::{self, CreateAccountError};
use crate::auth::csrf::AnonymousToken;
use crate::auth::extractors::{ClientIp, CurrentUser, OrgContext};
use crate::auth::session as auth_session;
use crate::db;
use crate::db::invites::InviteByToken;
use crate::domain::{InviteId, Role};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::accounts::{SignupErrors, SignupForm, validate_signup};
use crate::web::layout::{FlashKind, Layout, flash};
use crate::web::routes::Routes;
use axum::routing::{get, post};

/// How long an invite link works.
const INVITE_LIFETIME_DAYS: i64 = 7;

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The invite form.
#[derive(Debug, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    pub role: String,
}

/// POST /o/{org_slug}/invites: shows the new link once, in a flash message.
pub async fn create_invite(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Form(form): Form<InviteForm>,
) -> AppResult<Redirect> {
    ctx.require_manager()?;
    let role = Role::parse(&form.role)
        .ok_or_else(|| AppError::Validation("Choose owner, admin or member.".into()))?;
    if !ctx.role.can_assign(role) {
        return Err(AppError::Forbidden("Only owners can invite another owner."));
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let expires_at = Utc::now() + Duration::days(INVITE_LIFETIME_DAYS);
    let invite_id = db::invites::insert(
        &state.db,
        ctx.org.id,
        &token_hash(&token),
        role,
        ctx.user.id,
        expires_at,
    )
    .await?;
    tracing::info!(org_id = %ctx.org.id, %invite_id, role = role.as_str(), "invite created");
    let base = state
        .settings
        .application
        .base_url
        .as_str()
        .trim_end_matches('/');
    flash(
        &session,
        FlashKind::Invite,
        format!("{base}/invites/{token}"),
    )
    .await?;
    Ok(Redirect::to(&format!("/o/{}/members#invite", ctx.org.slug)))
}

/// Path of an invite-management route.
#[derive(Debug, Deserialize)]
pub struct InvitePath {
    pub org_slug: String,
    pub invite_id: Uuid,
}

/// POST /o/{org_slug}/invites/{invite_id}/revoke
pub async fn delete_invite(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<InvitePath>,
) -> AppResult<Redirect> {
    ctx.require_manager()?;
    let invite = InviteId(path.invite_id);
    let role = db::invites::pending_role(&state.db, ctx.org.id, invite)
        .await?
        .ok_or(AppError::NotFound)?;
    if !ctx.role.can_assign(role) {
        return Err(AppError::Forbidden(
            "Only owners can revoke an owner invite.",
        ));
    }
    db::invites::revoke(&state.db, ctx.org.id, invite).await?;
    flash(
        &session,
        FlashKind::Success,
        "Invite revoked; its link no longer works.",
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/o/{}/members#invite",
        path.org_slug
    )))
}

/// Finds a usable invite, or the error page that explains why it cannot be used.
async fn usable_invite(state: &AppState, token: &str) -> AppResult<InviteByToken> {
    let invite = db::invites::find_by_token_hash(&state.db, &token_hash(token))
        .await?
        .ok_or(AppError::NotFound)?;
    if invite.accepted_at.is_some() {
        return Err(AppError::Gone(
            "This invite link has already been used. Ask whoever invited you for a new one.",
        ));
    }
    if invite.revoked_at.is_some() {
        return Err(AppError::Gone(
            "This invite link was revoked. Ask whoever invited you for a new one.",
        ));
    }
    if invite.expires_at <= Utc::now() {
        return Err(AppError::Gone(
            "This invite link has expired. Invite links work for 7 days; ask whoever invited you for a new one.",
        ));
    }
    Ok(invite)
}

/// The page an invite link opens.
#[derive(Template, WebTemplate)]
#[template(path = "invites/show.html")]
pub struct InvitePage {
    pub layout: Layout,
    pub token: String,
    pub org_name: String,
    pub org_slug: String,
    pub role: Role,
    pub signed_in: bool,
    pub already_member: bool,
    pub form: SignupForm,
    pub errors: SignupErrors,
}

/// GET /invites/{token}
pub async fn show_invite(
    State(state): State<AppState>,
    session: Session,
    csrf: AnonymousToken,
    Path(token): Path<String>,
) -> AppResult<InvitePage> {
    let invite = usable_invite(&state, &token).await?;
    let title = format!("Join {}", invite.org_name);
    let (layout, signed_in, already_member) = match auth_session::user_id(&session).await? {
        Some(user_id) => match db::users::find_by_id(&state.db, user_id).await? {
            Some(user) => {
                let current = CurrentUser {
                    id: user.id,
                    name: user.name,
                    email: user.email,
                };
                let member = db::orgs::find_membership(&state.db, user_id, &invite.org_slug)
                    .await?
                    .is_some();
                (
                    Layout::for_user(&state.db, &session, &current, title).await?,
                    true,
                    member,
                )
            }
            None => (
                Layout::anonymous(&session, &csrf, title).await?,
                false,
                false,
            ),
        },
        None => (
            Layout::anonymous(&session, &csrf, title).await?,
            false,
            false,
        ),
    };
    Ok(InvitePage {
        layout,
        token,
        org_name: invite.org_name,
        org_slug: invite.org_slug,
        role: invite.role,
        signed_in,
        already_member,
        form: SignupForm::default(),
        errors: SignupErrors::default(),
    })
}

/// POST /invites/{token}/accept: a signed-in person joins.
pub async fn accept_invite(
    State(state): State<AppState>,
    session: Session,
    user: CurrentUser,
    Path(token): Path<String>,
) -> AppResult<Redirect> {
    let invite = usable_invite(&state, &token).await?;
    if db::orgs::find_membership(&state.db, user.id, &invite.org_slug)
        .await?
        .is_some()
    {
        flash(
            &session,
            FlashKind::Info,
            format!("You are already a member of {}.", invite.org_name),
        )
        .await?;
        return Ok(Redirect::to(&format!("/o/{}/", invite.org_slug)));
    }
    let mut tx = state.db.begin().await?;
    if !db::invites::mark_accepted(&mut tx, invite.org_id, invite.id, user.id).await? {
        return Err(AppError::Gone(
            "This invite link has already been used. Ask whoever invited you for a new one.",
        ));
    }
    db::memberships::insert(&mut tx, invite.org_id, user.id, invite.role).await?;
    tx.commit().await?;
    tracing::info!(org_id = %invite.org_id, user_id = %user.id, "invite accepted");
    flash(
        &session,
        FlashKind::Success,
        format!("Welcome to {}!", invite.org_name),
    )
    .await?;
    Ok(Redirect::to(&format!("/o/{}/", invite.org_slug)))
}

/// POST /invites/{token}/signup: a new person creates an account and joins in one step.
pub async fn create_account_from_invite(
    State(state): State<AppState>,
    session: Session,
    csrf: AnonymousToken,
    ClientIp(client_ip): ClientIp,
    Path(token): Path<String>,
    Form(mut form): Form<SignupForm>,
) -> AppResult<Response> {
    let invite = usable_invite(&state, &token).await?;
    accounts::throttle_signup(&state, &client_ip).await?;
    const TAKEN: &str = "An account with this email already exists. Log in to accept the invite.";
    let valid = match validate_signup(&state, &mut form, false, TAKEN).await? {
        Ok(valid) => valid,
        Err(errors) => {
            let page = InvitePage {
                layout: Layout::anonymous(&session, &csrf, format!("Join {}", invite.org_name))
                    .await?,
                token,
                org_name: invite.org_name,
                org_slug: invite.org_slug,
                role: invite.role,
                signed_in: false,
                already_member: false,
                form,
                errors,
            };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let mut tx = state.db.begin().await?;
    let user_id =
        match accounts::create_user(&mut tx, &valid.email, &valid.name, &valid.password).await {
            Ok(id) => id,
            Err(CreateAccountError::EmailTaken) => return Err(AppError::Conflict(TAKEN.into())),
            Err(CreateAccountError::Other(err)) => return Err(err),
        };
    if !db::invites::mark_accepted(&mut tx, invite.org_id, invite.id, user_id).await? {
        return Err(AppError::Gone(
            "This invite link has already been used. Ask whoever invited you for a new one.",
        ));
    }
    db::memberships::insert(&mut tx, invite.org_id, user_id, invite.role).await?;
    tx.commit().await?;
    tracing::info!(org_id = %invite.org_id, %user_id, "account created from invite");
    auth_session::log_in(&session, user_id).await?;
    flash(
        &session,
        FlashKind::Success,
        format!("Welcome to {}!", invite.org_name),
    )
    .await?;
    Ok(Redirect::to(&format!("/o/{}/", invite.org_slug)).into_response())
}

/// This area's routes.
pub fn router() -> Routes {
    Routes::new()
        .route("/o/{org_slug}/invites", post(create_invite))
        .route(
            "/o/{org_slug}/invites/{invite_id}/revoke",
            post(delete_invite),
        )
        .route("/invites/{token}", get(show_invite))
        .route("/invites/{token}/accept", post(accept_invite))
        .route("/invites/{token}/signup", post(create_account_from_invite))
}
