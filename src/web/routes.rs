//! The routes of one web area, with their paths remembered: `web::router` merges every area's, and
//! `web::route_paths` lists them all so a test can check that every org-scoped route has a
//! cross-tenant case.

use axum::Router;
use axum::routing::MethodRouter;

use crate::state::AppState;

/// An area's router and the paths it serves.
#[derive(Default)]
pub struct Routes {
    pub(super) router: Router<AppState>,
    pub(super) paths: Vec<&'static str>,
}

impl Routes {
    /// No routes yet.
    pub fn new() -> Routes {
        Routes::default()
    }

    /// Serves `path` with `handlers` (as `Router::route`) and remembers it.
    pub fn route(mut self, path: &'static str, handlers: MethodRouter<AppState>) -> Routes {
        self.router = self.router.route(path, handlers);
        self.paths.push(path);
        self
    }
}
