//! The route table: (method, path) to a dialect's route. A table, no business logic; built
//! from each dialect's own route list.

use std::collections::HashMap;

use http::Method;

use crate::api::cashback::routes as cashback;
use crate::api::giftcard::routes as giftcard;
use crate::api::issuing::routes as issuing;
use crate::api::jcard::routes as jcard;

/// Operations routes served by the switch itself, without authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpsRoute {
    Health,
    Metrics,
    OpenApiJcard,
    OpenApiCardApi,
    OpenApiGiftcard,
    OpenApiCashback,
}

/// What a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Jcard(jcard::Route),
    Issuing(issuing::Route),
    Giftcard(giftcard::Route),
    Cashback(cashback::Route),
    Ops(OpsRoute),
}

/// Which dialect's error shape a path gets when it matches no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Jcard,
    Issuing,
    Giftcard,
    Cashback,
    Plain,
}

/// A route found for a request.
#[derive(Debug, Clone)]
pub struct Matched {
    pub target: Target,
    /// The path template, used as the metrics label.
    pub template: &'static str,
    pub params: Vec<(String, String)>,
}

/// Why no route answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    NotFound(Dialect),
    /// The path exists but not with this method; the second field is the path's methods, as
    /// an `Allow` header lists them (RFC 9110 wants one on every 405).
    MethodNotAllowed(Dialect, &'static str),
}

/// The routes of one path: a target per method, and those methods as an `Allow` value.
struct PathRoutes {
    by_method: HashMap<Method, (Target, &'static str)>,
    allow: &'static str,
}

pub struct Router {
    paths: matchit::Router<PathRoutes>,
}

const OPS_ROUTES: [(&str, &str, OpsRoute); 6] = [
    ("GET", "/health", OpsRoute::Health),
    ("GET", "/metrics", OpsRoute::Metrics),
    ("GET", "/openapi/jcard.json", OpsRoute::OpenApiJcard),
    ("GET", "/openapi/card-api.json", OpsRoute::OpenApiCardApi),
    ("GET", "/openapi/giftcard.json", OpsRoute::OpenApiGiftcard),
    ("GET", "/openapi/cashback.json", OpsRoute::OpenApiCashback),
];

/// Every (method, full path template) of the gift-card history API, for documentation checks.
pub fn giftcard_templates() -> Vec<(&'static str, String)> {
    giftcard::ROUTES
        .iter()
        .map(|(method, path, _)| (*method, format!("{}{}", giftcard::PREFIX, path)))
        .collect()
}

/// Every (method, full path template) of the cashback card API, for documentation checks.
pub fn cashback_templates() -> Vec<(&'static str, String)> {
    cashback::ROUTES
        .iter()
        .map(|(method, path, _)| (*method, format!("{}{}", cashback::PREFIX, path)))
        .collect()
}

/// Every (method, full path) of the card-issuing API, for documentation checks.
pub fn issuing_templates() -> Vec<(&'static str, String)> {
    issuing::ROUTES
        .iter()
        .map(|(path, _, _)| ("POST", format!("{}{}", issuing::PREFIX, path)))
        .collect()
}

/// Every (method, full path template) the switch serves, for documentation checks.
pub fn jcard_templates() -> Vec<(&'static str, String)> {
    jcard::ROUTES
        .iter()
        .map(|spec| (spec.method, format!("{}{}", jcard::PREFIX, spec.path)))
        .collect()
}

/// Whether `path` is `prefix` itself or below it (`/cardapi/x`, not `/cardapix`), without
/// allocating: this runs for every request.
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl Router {
    pub fn new() -> Router {
        let mut table: Vec<(Method, String, Target)> = Vec::new();
        for spec in jcard::ROUTES {
            let method = Method::from_bytes(spec.method.as_bytes()).unwrap_or(Method::GET);
            table.push((
                method,
                format!("{}{}", jcard::PREFIX, spec.path),
                Target::Jcard(spec.route),
            ));
        }
        for (path, route, _) in issuing::ROUTES {
            table.push((
                Method::POST,
                format!("{}{}", issuing::PREFIX, path),
                Target::Issuing(*route),
            ));
        }
        for (method, path, route) in giftcard::ROUTES {
            let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::POST);
            table.push((method, format!("{}{}", giftcard::PREFIX, path), Target::Giftcard(*route)));
        }
        for (method, path, route) in cashback::ROUTES {
            let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
            table.push((method, format!("{}{}", cashback::PREFIX, path), Target::Cashback(*route)));
        }
        for (method, path, route) in OPS_ROUTES {
            let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
            table.push((method, path.to_owned(), Target::Ops(route)));
        }
        let mut by_path: HashMap<String, HashMap<Method, (Target, &'static str)>> = HashMap::new();
        for (method, path, target) in table {
            // Templates live for the whole process; leaking the few route strings once keeps
            // metrics labels free of allocation per request.
            let template: &'static str = Box::leak(path.clone().into_boxed_str());
            by_path.entry(path).or_default().insert(method, (target, template));
        }
        let mut paths = matchit::Router::new();
        for (path, by_method) in by_path {
            let routes = PathRoutes { allow: allow_header(&by_method), by_method };
            if let Err(error) = paths.insert(path, routes) {
                panic!("route table is inconsistent: {error}");
            }
        }
        Router { paths }
    }

    /// Finds the route for `method` and `path` (a trailing slash is ignored).
    pub fn find(&self, method: &Method, path: &str) -> Result<Matched, Miss> {
        let dialect = if path.starts_with(jcard::PREFIX) {
            Dialect::Jcard
        } else if path.starts_with(issuing::PREFIX) {
            Dialect::Issuing
        } else if under(path, giftcard::PREFIX) {
            Dialect::Giftcard
        } else if under(path, cashback::PREFIX) {
            Dialect::Cashback
        } else {
            Dialect::Plain
        };
        let trimmed = if path.len() > 1 { path.strip_suffix('/').unwrap_or(path) } else { path };
        let found = self.paths.at(trimmed).map_err(|_| Miss::NotFound(dialect))?;
        let routes = found.value;
        let (target, template) =
            routes.by_method.get(method).ok_or(Miss::MethodNotAllowed(dialect, routes.allow))?;
        let params =
            found.params.iter().map(|(name, value)| (name.to_owned(), decode(value))).collect();
        Ok(Matched { target: *target, template, params })
    }
}

impl Default for Router {
    fn default() -> Router {
        Router::new()
    }
}

/// The methods of one path, sorted and comma-separated, leaked once at start like the
/// templates.
fn allow_header(by_method: &HashMap<Method, (Target, &'static str)>) -> &'static str {
    let mut methods: Vec<&str> = by_method.keys().map(Method::as_str).collect();
    methods.sort_unstable();
    Box::leak(methods.join(", ").into_boxed_str())
}

/// Percent-decodes a path segment and trims the spaces the document's examples carry
/// (`/accounts/12.001.00 /balance`).
fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment).decode_utf8_lossy().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_routes_with_parameters_and_trailing_slashes() {
        let router = Router::new();
        let found = router
            .find(&Method::GET, "/jcard/api/gl/journals/jcard/accounts/12.001.00%20/balance")
            .unwrap();
        assert_eq!(found.target, Target::Jcard(jcard::Route::GlBalance));
        assert!(found.params.contains(&("accountCode".to_owned(), "12.001.00".to_owned())));
        let found = router.find(&Method::DELETE, "/jcard/api/sysconfig/perm.x/").unwrap();
        assert_eq!(found.target, Target::Jcard(jcard::Route::SysconfigDelete));
        assert_eq!(
            router.find(&Method::PATCH, "/jcard/api/echo").unwrap_err(),
            Miss::MethodNotAllowed(Dialect::Jcard, "GET, POST")
        );
        let found = router.find(&Method::POST, "/cardapi/admin/passes/abc/credit").unwrap();
        assert_eq!(found.target, Target::Cashback(cashback::Route::AdminCredit));
        assert_eq!(
            router.find(&Method::GET, "/cardapi/nowhere").unwrap_err(),
            Miss::NotFound(Dialect::Cashback)
        );
        assert_eq!(
            router.find(&Method::GET, "/cardapiary").unwrap_err(),
            Miss::NotFound(Dialect::Plain)
        );
        assert_eq!(
            router.find(&Method::GET, "/nowhere").unwrap_err(),
            Miss::NotFound(Dialect::Plain)
        );
        let found = router.find(&Method::POST, "/rest/v3/order/abc/cards/").unwrap();
        assert_eq!(found.target, Target::Giftcard(giftcard::Route::OrderCardHistory));
        assert!(found.params.contains(&("id".to_owned(), "abc".to_owned())));
        assert_eq!(
            router.find(&Method::POST, "/rest/v3/nowhere").unwrap_err(),
            Miss::NotFound(Dialect::Giftcard)
        );
        assert_eq!(
            router.find(&Method::GET, "/rest/v3/order/abc/cards").unwrap_err(),
            Miss::MethodNotAllowed(Dialect::Giftcard, "POST")
        );
    }
}
