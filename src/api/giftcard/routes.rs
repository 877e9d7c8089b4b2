//! The gift-card history API's route table: one `POST` under `/rest/v3`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    OrderCardHistory,
}

pub const PREFIX: &str = "/rest/v3";

/// (method, path below the prefix, route).
pub const ROUTES: &[(&str, &str, Route)] =
    &[("POST", "/order/{id}/cards", Route::OrderCardHistory)];
