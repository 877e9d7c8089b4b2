//! The jCard REST dialect (`/jcard/api`): authentication headers, permissions, and the
//! translation of each route to core commands and reads.

mod cards;
mod customers;
pub mod dates;
pub mod errors;
pub mod gl;
pub mod lenient;
mod movements;
mod render;
pub mod routes;
mod sysconfig;
mod wallets;
pub mod wire;
pub mod wire_card;
pub mod wire_wallet;

use http::StatusCode;
use serde_json::{json, Value};

use self::errors::JcardError;
use self::routes::Route;
use super::{ApiRequest, ApiResponse, TransportError};
use crate::core::auth::JcardCredentials;
use crate::core::command::{CardMovementKind, Outcome, WalletStateChange};
use crate::core::{Core, CoreError, Principal};
use crate::wallet::plan::Movement;

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
    if !principal.consumer.allows(route.spec().permission)
        || !within_scope(&principal, route, request)
    {
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
        other => dispatch_wallets(core, &principal, other, request).await,
    }
}

/// The routes of wallets, customers, agents, login and transactions by RRN.
async fn dispatch_wallets(
    core: &Core,
    principal: &Principal,
    route: Route,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    match route {
        Route::Login => customers::login(core, principal, request).await,
        Route::WalletCreate => wallets::create(core, principal, request).await,
        Route::WalletCredit => {
            movements::move_money(core, principal, request, Movement::Credit, None).await
        }
        Route::WalletDebit => {
            movements::move_money(core, principal, request, Movement::Debit, None).await
        }
        Route::WalletTransfer => {
            let destination = request.param("destinationWalletCode").to_owned();
            movements::move_money(core, principal, request, Movement::Transfer, Some(destination))
                .await
        }
        Route::WalletTransferDestinationInQuery => {
            let (destination, rewritten) = movements::destination_in_query(request)?;
            movements::move_money(core, principal, &rewritten, Movement::Transfer, destination)
                .await
        }
        Route::WalletBalance => wallets::balance(core, request),
        Route::WalletCashOutBalance => wallets::cash_out_balance(core, request),
        Route::WalletStatement => wallets::statement(core, request),
        Route::WalletTransactions => wallets::transactions(core, request),
        Route::WalletDetail => wallets::detail(core, request),
        Route::WalletCustomerGet => wallets::customer(core, request),
        Route::WalletLink => wallets::link(core, principal, request).await,
        Route::WalletCustomerUpdate => wallets::update_customer(core, principal, request).await,
        Route::WalletType => wallets::owner_type(core, request),
        Route::WalletChangePin => wallets::change_pin(core, principal, request).await,
        Route::WalletBlock => {
            wallets::change_state(core, principal, request, WalletStateChange::Block).await
        }
        Route::WalletUnblock => {
            wallets::change_state(core, principal, request, WalletStateChange::Unblock).await
        }
        Route::WalletDelete => {
            wallets::change_state(core, principal, request, WalletStateChange::Delete).await
        }
        Route::TransactionGet => movements::by_rrn(core, request),
        Route::TransactionReverse => movements::reverse(core, principal, request).await,
        Route::TransactionVoid => movements::void(core, principal, request).await,
        Route::CustomerCreate => customers::create(core, principal, request).await,
        Route::CustomerUpdate => customers::update(core, principal, request).await,
        Route::CustomerGet => customers::get(core, request),
        Route::CustomerBalance => customers::balances(core, request),
        Route::AgentCreate => customers::create_agent(core, principal, request).await,
        Route::AgentUpdate => customers::update_agent(core, principal, request).await,
        other => dispatch_cards(core, principal, other, request).await,
    }
}

/// The routes of card products, velocity profiles and cards.
async fn dispatch_cards(
    core: &Core,
    principal: &Principal,
    route: Route,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    match route {
        Route::CardProductCreate => cards::create_product(core, principal, request).await,
        Route::CardProductGet => cards::get_product(core, request),
        Route::CardProductUpdate => cards::update_product(core, principal, request).await,
        Route::VelocityCreate => cards::create_velocity(core, principal, request).await,
        Route::VelocityList => cards::list_velocity(core, request),
        Route::VelocityGet => cards::get_velocity(core, request),
        Route::VelocityUpdate => cards::update_velocity(core, principal, request).await,
        Route::VelocityDelete => cards::delete_velocity(core, principal, request).await,
        Route::CardCreate => cards::create_card(core, principal, request).await,
        Route::CardTransfer => {
            cards::move_money(core, principal, request, CardMovementKind::Transfer).await
        }
        Route::CardDebit => {
            cards::move_money(core, principal, request, CardMovementKind::Debit).await
        }
        Route::CardCredit => {
            cards::move_money(core, principal, request, CardMovementKind::Credit).await
        }
        Route::CardStatus => cards::set_status(core, principal, request).await,
        Route::CardActivate => cards::activate(core, principal, request).await,
        Route::CardGet => cards::detail(core, request),
        Route::CardUpdate => cards::update(core, principal, request).await,
        Route::CardPin => cards::set_pin(core, principal, request).await,
        Route::CardAccount => cards::set_account(core, principal, request).await,
        Route::CardCardholder => cards::set_cardholder(core, principal, request).await,
        Route::CardBalance => cards::balance(core, request),
        Route::CardTransactions => cards::transactions(core, request),
        Route::CustomerCards => cards::customer_cards(core, request),
        other => Err(JcardError::Core(CoreError::Corrupt(format!(
            "{other:?} dispatched as a card route"
        )))),
    }
}

/// A consumer created by a login may only use echo and the routes of its own wallet.
fn within_scope(principal: &Principal, route: Route, request: &ApiRequest) -> bool {
    match &principal.consumer.wallet_scope {
        None => true,
        Some(wallet) => {
            matches!(route, Route::EchoGet | Route::EchoPost)
                || request.param("walletCode") == wallet
        }
    }
}

/// An outcome a handler did not expect: a decline becomes the dialect's decline, anything
/// else is a bug.
fn unexpected_or_declined(outcome: Outcome) -> JcardError {
    match outcome {
        Outcome::Declined(decline) => JcardError::Declined(decline),
        other => JcardError::Core(CoreError::Corrupt(format!("unexpected outcome {other:?}"))),
    }
}

/// The journal every jCard wallet and customer account lives in.
const JOURNAL: &str = crate::core::bootstrap::DEFAULT_CHART;

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
