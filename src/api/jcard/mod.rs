//! The jCard REST dialect (`/jcard/api`): authentication headers, permissions, and the
//! translation of each route to core commands and reads.

pub mod dates;
pub mod errors;
mod gl;
pub mod lenient;
pub mod routes;
mod sysconfig;
pub mod wire;

use http::StatusCode;
use serde_json::{json, Value};

use self::errors::JcardError;
use self::routes::Route;
use super::{ApiRequest, ApiResponse, TransportError};
use crate::core::auth::JcardCredentials;
use crate::core::{Core, Principal};

/// The build's source revision, stamped by `build.rs`.
pub const REVISION: &str = env!("CARDSWITCH_REVISION");

/// Answers one jCard request.
pub async fn handle(core: &Core, route: Route, request: ApiRequest) -> ApiResponse {
    match dispatch(core, route, &request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// A transport-level refusal in jCard's error shape.
pub fn transport_error(error: TransportError) -> ApiResponse {
    JcardError::Transport(error).into_response()
}

async fn dispatch(
    core: &Core,
    route: Route,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let principal = authenticate(core, request)?;
    if !principal.consumer.allows(route.spec().permission) {
        return Err(JcardError::Forbidden);
    }
    match route {
        Route::EchoGet => Ok(echo_get(core)),
        Route::EchoPost => echo_post(request),
        Route::SysconfigList => sysconfig::list(core, &principal),
        Route::SysconfigCreate => sysconfig::create(core, &principal, request).await,
        Route::SysconfigUpdate => sysconfig::update(core, &principal, request).await,
        Route::SysconfigGet => sysconfig::get(core, &principal, request),
        Route::SysconfigDelete => sysconfig::delete(core, &principal, request).await,
        Route::GlPostTransaction => gl::post_transaction(core, &principal, request).await,
        Route::GlBalance => gl::balance(core, request),
        Route::GlStatement => gl::statement(core, request),
        Route::GlCreateAccount => gl::create_account(core, &principal, request).await,
    }
}

fn authenticate(core: &Core, request: &ApiRequest) -> Result<Principal, JcardError> {
    let credentials = JcardCredentials {
        version: request.header("version"),
        consumer_id: request.header("consumer-id"),
        timestamp: request.header("timestamp"),
        nonce: request.header("nonce"),
        hash: request.header("hash"),
    };
    core.authenticate_jcard(&credentials, &request.body).map_err(JcardError::Auth)
}

fn echo_get(core: &Core) -> ApiResponse {
    let body = json!({
        "success": true,
        "version": env!("CARGO_PKG_VERSION"),
        "revision": REVISION,
        "timestamp": core.now_ms(),
    });
    ApiResponse::json(StatusCode::OK, &body)
}

/// Echoes any JSON; an object gets `success` added, anything else comes back under `echo`.
fn echo_post(request: &ApiRequest) -> Result<ApiResponse, JcardError> {
    let body = if request.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        wire::parse_json(&request.body)?
    };
    let answer = match body {
        Value::Object(mut members) => {
            members.insert("success".to_owned(), Value::Bool(true));
            Value::Object(members)
        }
        other => json!({"success": true, "echo": other}),
    };
    Ok(ApiResponse::json(StatusCode::CREATED, &answer))
}

/// `{"success": true}` with `status`.
fn success(status: StatusCode) -> ApiResponse {
    ApiResponse::json(status, &json!({"success": true}))
}
