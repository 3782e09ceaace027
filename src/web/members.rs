//! The Members page: who belongs to the org, role changes, removal, and invites.

use super::filters;
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::Redirect;
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use crate::auth::extractors::OrgContext;
use crate::db;
use crate::domain::{Role, UserId};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::layout::{FlashKind, Layout, flash};
use crate::web::routes::Routes;
use axum::routing::{get, post};

/// A member row with what the viewer may do to it.
pub struct MemberRow {
    pub member: db::memberships::Member,
    pub is_you: bool,
    /// Roles the viewer may switch this member to (empty: no role control).
    pub assignable_roles: Vec<Role>,
    pub can_remove: bool,
}

/// The Members page.
#[derive(Template, WebTemplate)]
#[template(path = "members/list.html")]
pub struct MembersPage {
    pub layout: Layout,
    pub org_slug: String,
    pub can_manage: bool,
    pub rows: Vec<MemberRow>,
    pub invite_roles: Vec<Role>,
    pub invites: Vec<db::invites::PendingInvite>,
}

/// GET /o/{org_slug}/members
pub async fn list_members(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
) -> AppResult<MembersPage> {
    let members = db::memberships::list(&state.db, ctx.org.id).await?;
    let invites = if ctx.role.can_manage() {
        db::invites::list_pending(&state.db, ctx.org.id).await?
    } else {
        Vec::new()
    };
    let rows = members
        .into_iter()
        .map(|member| {
            let is_you = member.user_id == ctx.user.id;
            let manages_them = ctx.role.can_assign(member.role);
            let assignable_roles = if manages_them {
                Role::ALL
                    .into_iter()
                    .filter(|r| ctx.role.can_assign(*r))
                    .collect()
            } else {
                Vec::new()
            };
            MemberRow {
                can_remove: manages_them || is_you,
                is_you,
                assignable_roles,
                member,
            }
        })
        .collect();
    Ok(MembersPage {
        layout: Layout::for_org(&state.db, &session, &ctx, "members", "Members").await?,
        org_slug: ctx.org.slug.clone(),
        can_manage: ctx.role.can_manage(),
        rows,
        invite_roles: Role::ALL
            .into_iter()
            .filter(|r| ctx.role.can_assign(*r))
            .collect(),
        invites,
    })
}

/// Path of a member route.
#[derive(Debug, Deserialize)]
pub struct MemberPath {
    pub org_slug: String,
    pub user_id: Uuid,
}

/// The role-change form.
#[derive(Debug, Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    pub role: String,
}

const LAST_OWNER: &str =
    "An organisation must always have at least one owner. Make someone else an owner first.";

/// POST /o/{org_slug}/members/{user_id}/role
pub async fn update_member_role(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<MemberPath>,
    Form(form): Form<RoleForm>,
) -> AppResult<Redirect> {
    ctx.require_manager()?;
    let target = UserId(path.user_id);
    let new_role = Role::parse(&form.role)
        .ok_or_else(|| AppError::Validation("Choose owner, admin or member.".into()))?;
    let mut tx = state.db.begin().await?;
    let locked = db::memberships::lock_for_change(&mut tx, ctx.org.id, ctx.user.id, target)
        .await?
        .ok_or(AppError::NotFound)?;
    let (current, owners) = (locked.target, locked.owners);
    let actor = locked.actor.ok_or(AppError::NotFound)?;
    if !actor.can_manage() {
        return Err(AppError::Forbidden(
            "Only owners and admins of this organisation can do that.",
        ));
    }
    if !actor.can_assign(current) || !actor.can_assign(new_role) {
        return Err(AppError::Forbidden(
            "Only owners can change an owner's role or make someone an owner.",
        ));
    }
    if current == Role::Owner && new_role != Role::Owner && owners <= 1 {
        return Err(AppError::Conflict(LAST_OWNER.into()));
    }
    if current != new_role {
        db::memberships::update_role(&mut tx, ctx.org.id, target, new_role).await?;
    }
    tx.commit().await?;
    tracing::info!(org_id = %ctx.org.id, user_id = %target, role = new_role.as_str(), "member role changed");
    flash(
        &session,
        FlashKind::Success,
        format!("Role changed to {}.", new_role.label()),
    )
    .await?;
    Ok(Redirect::to(&format!("/o/{}/members", path.org_slug)))
}

/// POST /o/{org_slug}/members/{user_id}/remove: managers remove others; anyone may leave.
pub async fn delete_member(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<MemberPath>,
) -> AppResult<Redirect> {
    let target = UserId(path.user_id);
    let leaving = target == ctx.user.id;
    if !leaving {
        ctx.require_manager()?;
    }
    let mut tx = state.db.begin().await?;
    let locked = db::memberships::lock_for_change(&mut tx, ctx.org.id, ctx.user.id, target)
        .await?
        .ok_or(AppError::NotFound)?;
    let (current, owners) = (locked.target, locked.owners);
    let actor = locked.actor.ok_or(AppError::NotFound)?;
    if !leaving && !actor.can_manage() {
        return Err(AppError::Forbidden(
            "Only owners and admins of this organisation can do that.",
        ));
    }
    if !leaving && !actor.can_assign(current) {
        return Err(AppError::Forbidden("Only owners can remove an owner."));
    }
    if current == Role::Owner && owners <= 1 {
        return Err(AppError::Conflict(LAST_OWNER.into()));
    }
    db::memberships::delete(&mut tx, ctx.org.id, target).await?;
    tx.commit().await?;
    tracing::info!(org_id = %ctx.org.id, user_id = %target, "member removed");
    if leaving {
        flash(
            &session,
            FlashKind::Info,
            format!("You left {}.", ctx.org.name),
        )
        .await?;
        return Ok(Redirect::to("/"));
    }
    flash(&session, FlashKind::Success, "Member removed.").await?;
    Ok(Redirect::to(&format!("/o/{}/members", path.org_slug)))
}

/// This area's routes.
pub fn router() -> Routes {
    Routes::new()
        .route("/o/{org_slug}/members", get(list_members))
        .route(
            "/o/{org_slug}/members/{user_id}/role",
            post(update_member_role),
        )
        .route(
            "/o/{org_slug}/members/{user_id}/remove",
            post(delete_member),
        )
}
