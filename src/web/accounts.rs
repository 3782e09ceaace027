//! Sign up, log in, log out.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tower_sessions::Session;

use crate::auth::accounts::{self, CreateAccountError};
use crate::auth::csrf::AnonymousToken;
use crate::auth::extractors::ClientIp;
use crate::auth::{login_throttle, password, session as auth_session};
use crate::db;
use crate::domain::{Email, NewPassword, OrgName, PersonName, Role};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::forms::safe_next;
use crate::web::layout::{FlashKind, Layout, flash};
use crate::web::routes::Routes;
use axum::routing::{get, post};

/// What a person typed into the sign-up form (the password is never echoed back, nor printed by
/// `Debug`).
#[derive(Debug, Default, Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: SecretString,
    #[serde(default)]
    pub org_name: String,
}

/// Field messages for the sign-up form.
#[derive(Debug, Default)]
pub struct SignupErrors {
    pub name: Option<&'static str>,
    pub email: Option<&'static str>,
    pub password: Option<&'static str>,
    pub org_name: Option<&'static str>,
}

/// A sign-up form whose fields all passed.
pub struct ValidSignup {
    pub name: PersonName,
    pub email: Email,
    pub password: NewPassword,
    /// The new org's name (plain sign-up only).
    pub org_name: Option<OrgName>,
}

/// Checks a sign-up form (with the org name when `with_org`), including whether the email is
/// taken (`taken` is the message then); the form's password is cleared when it fails.
pub async fn validate_signup(
    state: &AppState,
    form: &mut SignupForm,
    with_org: bool,
    taken: &'static str,
) -> AppResult<Result<ValidSignup, SignupErrors>> {
    let name = PersonName::parse(&form.name);
    let email = Email::parse(&form.email);
    let new_password = NewPassword::parse(std::mem::take(&mut form.password));
    let org_name = with_org.then(|| OrgName::parse(&form.org_name));
    let mut errors = SignupErrors {
        name: name.as_ref().err().copied(),
        email: email.as_ref().err().copied(),
        password: new_password.as_ref().err().copied(),
        org_name: org_name.as_ref().and_then(|o| o.as_ref().err().copied()),
    };
    if let Ok(email) = &email
        && db::users::email_exists(&state.db, email).await?
    {
        errors.email = Some(taken);
    }
    Ok(
        match (
            name,
            email,
            new_password,
            org_name.transpose(),
            errors.email,
        ) {
            (Ok(name), Ok(email), Ok(password), Ok(org_name), None) => Ok(ValidSignup {
                name,
                email,
                password,
                org_name,
            }),
            _ => Err(errors),
        },
    )
}

/// The sign-up page.
#[derive(Template, WebTemplate)]
#[template(path = "accounts/signup.html")]
pub struct SignupPage {
    pub layout: Layout,
    pub form: SignupForm,
    pub errors: SignupErrors,
}

/// GET /signup
pub async fn show_signup(session: Session, csrf: AnonymousToken) -> AppResult<Response> {
    if auth_session::user_id(&session).await?.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    Ok(SignupPage {
        layout: Layout::anonymous(&session, &csrf, "Sign up").await?,
        form: SignupForm::default(),
        errors: SignupErrors::default(),
    }
    .into_response())
}

const EMAIL_TAKEN: &str = "An account with this email already exists. Log in instead.";

/// POST /signup: creates the account, its organisation and the owner membership together.
pub async fn create_account(
    State(state): State<AppState>,
    session: Session,
    csrf: AnonymousToken,
    ClientIp(client_ip): ClientIp,
    Form(mut form): Form<SignupForm>,
) -> AppResult<Response> {
    accounts::throttle_signup(&state, &client_ip).await?;
    let valid = match validate_signup(&state, &mut form, true, EMAIL_TAKEN).await? {
        Ok(valid) => valid,
        Err(errors) => return rerender_signup(&session, &csrf, form, errors).await,
    };
    let Some(org_name) = valid.org_name else {
        return Err(AppError::Internal(anyhow::anyhow!(
            "sign-up without an org name"
        )));
    };
    let mut tx = state.db.begin().await?;
    let user_id =
        match accounts::create_user(&mut tx, &valid.email, &valid.name, &valid.password).await {
            Ok(id) => id,
            Err(CreateAccountError::EmailTaken) => {
                let errors = SignupErrors {
                    email: Some(EMAIL_TAKEN),
                    ..SignupErrors::default()
                };
                return rerender_signup(&session, &csrf, form, errors).await;
            }
            Err(CreateAccountError::Other(err)) => return Err(err),
        };
    let (org_id, slug) = db::orgs::insert(&mut tx, &org_name).await?;
    db::memberships::insert(&mut tx, org_id, user_id, Role::Owner).await?;
    tx.commit().await?;

    tracing::info!(%user_id, %org_id, "account and organisation created");
    auth_session::log_in(&session, user_id).await?;
    flash(
        &session,
        FlashKind::Success,
        format!("Welcome to Debrief! {} is ready.", org_name.as_str()),
    )
    .await?;
    Ok(Redirect::to(&format!("/o/{slug}/")).into_response())
}

async fn rerender_signup(
    session: &Session,
    csrf: &AnonymousToken,
    form: SignupForm,
    errors: SignupErrors,
) -> AppResult<Response> {
    let page = SignupPage {
        layout: Layout::anonymous(session, csrf, "Sign up").await?,
        form,
        errors,
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// Query of the login page.
#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    pub next: Option<String>,
    pub signed_out: Option<String>,
}

/// What a person typed into the login form (`Debug` does not show the password).
#[derive(Debug, Default, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: SecretString,
    #[serde(default)]
    pub next: Option<String>,
}

/// The login page.
#[derive(Template, WebTemplate)]
#[template(path = "accounts/login.html")]
pub struct LoginPage {
    pub layout: Layout,
    pub email: String,
    pub next: String,
    pub error: Option<String>,
    pub signed_out: bool,
}

/// GET /login
pub async fn show_login(
    session: Session,
    csrf: AnonymousToken,
    Query(query): Query<LoginQuery>,
) -> AppResult<Response> {
    let next = safe_next(query.next.as_deref());
    if auth_session::user_id(&session).await?.is_some() {
        return Ok(Redirect::to(next.as_deref().unwrap_or("/")).into_response());
    }
    Ok(LoginPage {
        layout: Layout::anonymous(&session, &csrf, "Log in").await?,
        email: String::new(),
        next: next.unwrap_or_default(),
        error: None,
        signed_out: query.signed_out.is_some(),
    }
    .into_response())
}

/// POST /login: throttled per email and per client address.
pub async fn create_login(
    State(state): State<AppState>,
    session: Session,
    csrf: AnonymousToken,
    ClientIp(client_ip): ClientIp,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    let next = safe_next(form.next.as_deref());
    let rerender = |status: StatusCode, message: String, email: String| {
        let session = session.clone();
        let next = next.clone();
        let csrf = csrf.clone();
        async move {
            let page = LoginPage {
                layout: Layout::anonymous(&session, &csrf, "Log in").await?,
                email,
                next: next.unwrap_or_default(),
                error: Some(message),
                signed_out: false,
            };
            Ok::<Response, AppError>((status, page).into_response())
        }
    };
    let typed_email = form.email.trim().to_owned();
    let email = match Email::parse(&form.email) {
        Ok(email) => email,
        Err(message) => {
            return rerender(
                StatusCode::UNPROCESSABLE_ENTITY,
                message.to_owned(),
                typed_email,
            )
            .await;
        }
    };
    if form.password.expose_secret().is_empty() {
        return rerender(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter your password.".to_owned(),
            typed_email,
        )
        .await;
    }
    // Any other error (the database) is returned as it is: the throttle fails closed.
    match login_throttle::check(
        &state.db,
        &state.settings.login_throttle,
        email.as_str(),
        &client_ip,
    )
    .await
    {
        Ok(()) => {}
        Err(AppError::RateLimited(message)) => {
            tracing::warn!("sign-in refused: too many recent failures");
            return rerender(StatusCode::TOO_MANY_REQUESTS, message, typed_email).await;
        }
        Err(err) => return Err(err),
    }

    let user = db::users::find_by_email(&state.db, &email).await?;
    let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
    let valid = password::verify_password(stored_hash, form.password).await?;
    let Some(user) = user.filter(|_| valid) else {
        login_throttle::record_failure(&state.db, email.as_str(), &client_ip).await?;
        tracing::info!("sign-in failed: wrong email or password");
        return rerender(
            StatusCode::UNPROCESSABLE_ENTITY,
            "That email and password do not match an account.".to_owned(),
            typed_email,
        )
        .await;
    };

    login_throttle::clear(&state.db, email.as_str()).await?;
    auth_session::log_in(&session, user.id).await?;
    tracing::info!(user_id = %user.id, "signed in");
    flash(
        &session,
        FlashKind::Success,
        format!("Welcome back, {}.", user.name),
    )
    .await?;
    Ok(Redirect::to(next.as_deref().unwrap_or("/")).into_response())
}

/// POST /logout
pub async fn delete_login(session: Session) -> AppResult<Redirect> {
    auth_session::log_out(&session).await?;
    Ok(Redirect::to("/login?signed_out=1"))
}

/// This area's routes.
pub fn router() -> Routes {
    Routes::new()
        .route("/signup", get(show_signup).post(create_account))
        .route("/login", get(show_login).post(create_login))
        .route("/logout", post(delete_login))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_never_print_their_passwords() {
        let signup = SignupForm {
            name: "Ada".into(),
            email: "ada@example.com".into(),
            password: SecretString::from("hunter2-correct-horse"),
            org_name: "Acme".into(),
        };
        let login = LoginForm {
            email: "ada@example.com".into(),
            password: SecretString::from("hunter2-correct-horse"),
            next: None,
        };
        for printed in [format!("{signup:?}"), format!("{login:?}")] {
            assert!(!printed.contains("hunter2"), "{printed}");
            assert!(printed.contains("ada@example.com"));
        }
    }
}
