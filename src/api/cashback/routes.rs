//! The cashback card API's route table under `/cardapi`: the point-of-sale routes (search,
//! debit) for `cashback` tokens and the operator routes under `/admin` for `admin` tokens.

use crate::bearer::BearerScope;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Search,
    Debit,
    AdminGroup,
    AdminStore,
    AdminPointOfSale,
    AdminPass,
    AdminCredit,
}

pub const PREFIX: &str = "/cardapi";

/// (method, path below the prefix, route).
pub const ROUTES: &[(&str, &str, Route)] = &[
    ("GET", "/cards", Route::Search),
    ("POST", "/cards/cashback/debit", Route::Debit),
    ("POST", "/admin/groups", Route::AdminGroup),
    ("POST", "/admin/stores", Route::AdminStore),
    ("POST", "/admin/points-of-sale", Route::AdminPointOfSale),
    ("POST", "/admin/passes", Route::AdminPass),
    ("POST", "/admin/passes/{pass_id}/credit", Route::AdminCredit),
];

impl Route {
    /// The token scope the route needs.
    pub fn scope(self) -> BearerScope {
        match self {
            Route::Search | Route::Debit => BearerScope::Cashback,
            Route::AdminGroup
            | Route::AdminStore
            | Route::AdminPointOfSale
            | Route::AdminPass
            | Route::AdminCredit => BearerScope::Admin,
        }
    }
}
