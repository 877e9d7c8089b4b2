//! The jCard route table: method, path template, handler and the permission it needs. The HTTP
//! router is built from this table, and a test checks it against the OpenAPI document.

/// Every jCard route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    EchoGet,
    EchoPost,
    SysconfigList,
    SysconfigCreate,
    SysconfigUpdate,
    SysconfigGet,
    SysconfigDelete,
    GlPostTransaction,
    GlBalance,
    GlStatement,
    GlCreateAccount,
}

/// Where every jCard route is mounted.
pub const PREFIX: &str = "/jcard/api";

/// A route as the table lists it.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    pub method: &'static str,
    /// Path below [`PREFIX`], `{name}` for a parameter.
    pub path: &'static str,
    pub route: Route,
    /// Permission the consumer must hold; empty for any authenticated consumer.
    pub permission: &'static str,
}

pub const SYSCONFIG_READ: &str = "sysconfig.read";
pub const SYSCONFIG_WRITE: &str = "sysconfig.write";
pub const GL_READ: &str = "gl.read";
pub const GL_WRITE: &str = "gl.write";

const fn spec(
    method: &'static str,
    path: &'static str,
    route: Route,
    permission: &'static str,
) -> RouteSpec {
    RouteSpec { method, path, route, permission }
}

pub const ROUTES: &[RouteSpec] = &[
    spec("GET", "/echo", Route::EchoGet, ""),
    spec("POST", "/echo", Route::EchoPost, ""),
    spec("GET", "/sysconfig", Route::SysconfigList, SYSCONFIG_READ),
    spec("POST", "/sysconfig", Route::SysconfigCreate, SYSCONFIG_WRITE),
    spec("PUT", "/sysconfig", Route::SysconfigUpdate, SYSCONFIG_WRITE),
    spec("GET", "/sysconfig/{id}", Route::SysconfigGet, SYSCONFIG_READ),
    spec("DELETE", "/sysconfig/{id}", Route::SysconfigDelete, SYSCONFIG_WRITE),
    spec("POST", "/gl/transactions", Route::GlPostTransaction, GL_WRITE),
    spec(
        "GET",
        "/gl/journals/{journalCode}/accounts/{accountCode}/balance",
        Route::GlBalance,
        GL_READ,
    ),
    spec(
        "GET",
        "/gl/journals/{journalCode}/accounts/{accountCode}/statement",
        Route::GlStatement,
        GL_READ,
    ),
    spec("POST", "/gl/charts/{chartName}/accounts", Route::GlCreateAccount, GL_WRITE),
];

impl Route {
    /// This route's table row.
    pub fn spec(self) -> &'static RouteSpec {
        ROUTES
            .iter()
            .find(|spec| spec.route == self)
            .unwrap_or_else(|| unreachable!("every route is in the table"))
    }
}
