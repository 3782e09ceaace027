//! What every full page needs around its content: title, navigation, org switcher, flash messages
//! and the CSRF token for its forms.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tower_sessions::Session;

use crate::auth::extractors::{CurrentUser, OrgContext};
use crate::auth::{csrf, session as auth_session};
use crate::db;
use crate::error::AppResult;

const FLASH_KEY: &str = "flash";

/// A one-time message shown on the next page a person sees.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    /// Picks the colour and ARIA role.
    pub kind: FlashKind,
    /// The message.
    pub message: String,
}

/// What a flash message says about the action before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlashKind {
    /// It worked.
    Success,
    /// Worth knowing; nothing went wrong.
    Info,
    /// It did not work.
    Error,
    /// A new invite link, shown once for copying.
    Invite,
}

impl FlashKind {
    /// The CSS class suffix (`flash-success`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            FlashKind::Success => "success",
            FlashKind::Info => "info",
            FlashKind::Error => "error",
            FlashKind::Invite => "invite",
        }
    }

    /// Whether it carries an invite link to copy.
    pub fn is_invite(self) -> bool {
        self == FlashKind::Invite
    }

    /// Whether screen readers should be interrupted (`role="alert"`).
    pub fn is_alert(self) -> bool {
        self == FlashKind::Error
    }
}

/// Queues a flash message for the next rendered page.
pub async fn flash(
    session: &Session,
    kind: FlashKind,
    message: impl Into<String>,
) -> AppResult<()> {
    let mut flashes: Vec<Flash> = session.get(FLASH_KEY).await?.unwrap_or_default();
    flashes.push(Flash {
        kind,
        message: message.into(),
    });
    session.insert(FLASH_KEY, flashes).await?;
    Ok(())
}

/// The signed-in person, for the navigation.
#[derive(Debug, Clone)]
pub struct NavUser {
    pub name: String,
    pub email: String,
}

/// An organisation in the switcher.
#[derive(Debug, Clone)]
pub struct NavOrg {
    pub slug: String,
    pub name: String,
}

/// Everything `base.html` renders around a page's content.
#[derive(Debug, Clone)]
pub struct Layout {
    pub title: String,
    /// Which navigation entry is highlighted.
    pub section: &'static str,
    pub user: Option<NavUser>,
    pub orgs: Vec<NavOrg>,
    pub current_org: Option<NavOrg>,
    pub flashes: Vec<Flash>,
    pub csrf_token: String,
    /// The viewer is an owner or admin of the current org (shows management links).
    pub can_manage: bool,
    /// Demo mode (simulated Fathom): every page says so in a banner.
    pub demo: bool,
}

tokio::task_local! {
    /// Whether the request being answered is served in demo mode (set by [`mark_demo`]).
    static DEMO: bool;
}

/// Middleware making `demo` known to every [`Layout`] built while answering the request, so
/// handlers need not pass settings down to the layout.
pub async fn mark_demo(
    demo: bool,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    DEMO.scope(demo, next.run(request)).await
}

fn in_demo() -> bool {
    DEMO.try_with(|demo| *demo).unwrap_or(false)
}

impl Layout {
    /// For pages shown to people who are not signed in.
    pub async fn anonymous(
        session: &Session,
        csrf: &csrf::AnonymousToken,
        title: impl Into<String>,
    ) -> AppResult<Layout> {
        Ok(Layout {
            title: title.into(),
            section: "",
            user: None,
            orgs: Vec::new(),
            current_org: None,
            flashes: take_flashes(session).await?,
            csrf_token: csrf.0.clone(),
            can_manage: false,
            demo: in_demo(),
        })
    }

    /// For pages of a signed-in person outside any org (for example "New organisation").
    pub async fn for_user(
        db: &PgPool,
        session: &Session,
        user: &CurrentUser,
        title: impl Into<String>,
    ) -> AppResult<Layout> {
        let orgs = db::orgs::list_for_user(db, user.id)
            .await?
            .into_iter()
            .map(|o| NavOrg {
                slug: o.slug,
                name: o.name,
            })
            .collect();
        Ok(Layout {
            title: title.into(),
            section: "",
            user: Some(NavUser {
                name: user.name.clone(),
                email: user.email.clone(),
            }),
            orgs,
            current_org: None,
            flashes: take_flashes(session).await?,
            csrf_token: csrf::token(session).await?,
            can_manage: false,
            demo: in_demo(),
        })
    }

    /// For pages inside an org; also remembers the org as the person's current one.
    pub async fn for_org(
        db: &PgPool,
        session: &Session,
        ctx: &OrgContext,
        section: &'static str,
        title: impl Into<String>,
    ) -> AppResult<Layout> {
        let mut layout = Layout::for_user(db, session, &ctx.user, title).await?;
        layout.section = section;
        layout.can_manage = ctx.role.can_manage();
        layout.current_org = Some(NavOrg {
            slug: ctx.org.slug.clone(),
            name: ctx.org.name.clone(),
        });
        auth_session::remember_org(session, &ctx.org.slug).await?;
        Ok(layout)
    }

    /// The document title: the page, the org it belongs to (when not the page itself), Debrief.
    pub fn document_title(&self) -> String {
        match &self.current_org {
            Some(org) if org.name != self.title => {
                format!("{} · {} · Debrief", self.title, org.name)
            }
            _ => format!("{} · Debrief", self.title),
        }
    }

    /// Whether `slug` is the org being viewed.
    pub fn is_current(&self, slug: &str) -> bool {
        self.current_org.as_ref().is_some_and(|o| o.slug == slug)
    }
}

async fn take_flashes(session: &Session) -> AppResult<Vec<Flash>> {
    Ok(session.remove(FLASH_KEY).await?.unwrap_or_default())
}
