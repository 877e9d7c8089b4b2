//! HTTP transport: turns a hyper request into an [`ApiRequest`] for the routed dialect and its
//! [`ApiResponse`] back into a hyper response. Enforces the body limit and the request
//! timeout, and records metrics per route. The only module (with `server.rs`) that knows hyper.

pub mod client;
pub mod limits;
pub mod router;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::json;

use self::router::{Dialect, Matched, Miss, OpsRoute, Router, Target};
use crate::api::{self, ApiRequest, ApiResponse, TransportError};
use crate::config::HttpConfig;
use crate::core::Core;

/// The OpenAPI description of the jCard dialect, as served.
pub const OPENAPI_JCARD: &str = include_str!("../../openapi/jcard.json");

/// The OpenAPI description of the card-issuing dialect, as served.
pub const OPENAPI_CARD_API: &str = include_str!("../../openapi/card-api.json");

/// The OpenAPI description of the gift-card history dialect, as served.
pub const OPENAPI_GIFTCARD: &str = include_str!("../../openapi/giftcard.json");
/// The cashback card API's OpenAPI document, served at `/openapi/cashback.json`.
pub const OPENAPI_CASHBACK: &str = include_str!("../../openapi/cashback.json");

/// Everything a connection needs to answer requests.
pub struct App {
    pub core: Core,
    pub router: Router,
    pub config: HttpConfig,
}

impl App {
    pub fn new(core: Core, config: HttpConfig) -> Arc<App> {
        Arc::new(App { core, router: Router::new(), config })
    }
}

/// Answers one request. Never fails: every problem becomes a response.
pub async fn handle(
    app: Arc<App>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let started = Instant::now();
    let mut allow = None;
    let (label, response) = match app.router.find(request.method(), request.uri().path()) {
        Ok(matched) => {
            let label = matched.template;
            let timeout = Duration::from_millis(app.config.request_timeout_ms);
            let dialect = dialect_of(matched.target);
            let answer = tokio::time::timeout(timeout, answer(&app, matched, request)).await;
            (label, answer.unwrap_or_else(|_| transport_error(dialect, TransportError::Timeout)))
        }
        Err(Miss::NotFound(dialect)) => {
            ("unmatched", transport_error(dialect, TransportError::NotFound))
        }
        Err(Miss::MethodNotAllowed(dialect, methods)) => {
            allow = Some(methods);
            ("unmatched", transport_error(dialect, TransportError::MethodNotAllowed))
        }
    };
    app.core.metrics().record_request(
        label,
        response.status.as_u16(),
        started.elapsed().as_secs_f64(),
    );
    let mut response = to_hyper(response);
    // A 405 names the methods the path has (a dialect may answer its own way, e.g. 404).
    if let Some(methods) = allow.filter(|_| response.status() == StatusCode::METHOD_NOT_ALLOWED) {
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(methods));
    }
    Ok(response)
}

/// Answers a request on a connection over `http.connections_max`: 503 in the dialect's shape,
/// without reading the body or calling the dialect; the connection closes after it.
pub async fn refuse(
    app: Arc<App>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let dialect = match app.router.find(request.method(), request.uri().path()) {
        Ok(matched) => dialect_of(matched.target),
        Err(Miss::NotFound(dialect) | Miss::MethodNotAllowed(dialect, _)) => dialect,
    };
    let response = transport_error(dialect, TransportError::Overloaded);
    app.core.metrics().record_request("overloaded", response.status.as_u16(), 0.0);
    Ok(to_hyper(response))
}

fn dialect_of(target: Target) -> Dialect {
    match target {
        Target::Jcard(_) => Dialect::Jcard,
        Target::Issuing(_) => Dialect::Issuing,
        Target::Giftcard(_) => Dialect::Giftcard,
        Target::Cashback(_) => Dialect::Cashback,
        Target::Ops(_) => Dialect::Plain,
    }
}

async fn answer(app: &App, matched: Matched, request: Request<Incoming>) -> ApiResponse {
    let dialect = dialect_of(matched.target);
    let api_request = match read_request(matched.params, request, &app.config).await {
        Ok(api_request) => api_request,
        Err(error) => return transport_error(dialect, error),
    };
    match matched.target {
        Target::Jcard(route) => api::jcard::handle(&app.core, route, api_request).await,
        Target::Issuing(route) => api::issuing::handle(&app.core, route, api_request).await,
        Target::Giftcard(route) => api::giftcard::handle(&app.core, route, api_request).await,
        Target::Cashback(route) => api::cashback::handle(&app.core, route, api_request).await,
        Target::Ops(route) => ops(app, route),
    }
}

/// Reads the body within the size, time and nesting limits and decodes the query.
async fn read_request(
    params: Vec<(String, String)>,
    request: Request<Incoming>,
    config: &HttpConfig,
) -> Result<ApiRequest, TransportError> {
    let body_bytes_max = config.body_bytes_max;
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<usize>().ok());
    if declared.is_some_and(|length| length > body_bytes_max) {
        return Err(TransportError::BodyTooLarge);
    }
    let body_read_timeout = Duration::from_millis(config.body_read_timeout_ms);
    let collected =
        tokio::time::timeout(body_read_timeout, Limited::new(body, body_bytes_max).collect())
            .await
            .map_err(|_| TransportError::BodyTimeout)?;
    let body = match collected {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            return Err(TransportError::BodyTooLarge);
        }
        Err(_) => return Err(TransportError::BodyUnreadable),
    };
    if limits::json_too_deep(&body, config.json_depth_max) {
        return Err(TransportError::BodyTooDeep);
    }
    let query = parts
        .uri
        .query()
        .map(|query| {
            query
                .split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode_query(key), decode_query(value))
                })
                .collect()
        })
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let raw_query = parts.uri.query().unwrap_or_default().to_owned();
    Ok(ApiRequest {
        method: parts.method,
        path,
        raw_query,
        params,
        query,
        headers: parts.headers,
        body,
    })
}

fn decode_query(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

fn transport_error(dialect: Dialect, error: TransportError) -> ApiResponse {
    match dialect {
        Dialect::Jcard => api::jcard::transport_error(error),
        Dialect::Issuing => api::issuing::transport_error(error),
        Dialect::Giftcard => api::giftcard::transport_error(error),
        Dialect::Cashback => api::cashback::transport_error(error),
        Dialect::Plain => {
            let (status, code, message) = api::jcard::errors::transport_status(error);
            ApiResponse::json(status, &json!({"error": code, "message": message}))
        }
    }
}

fn ops(app: &App, route: OpsRoute) -> ApiResponse {
    match route {
        OpsRoute::Health => {
            let degraded = app.core.metrics().is_degraded();
            let status = if degraded { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
            let body = json!({"status": if degraded { "degraded" } else { "ok" }, "version": env!("CARGO_PKG_VERSION")});
            ApiResponse::json(status, &body)
        }
        OpsRoute::Metrics => ApiResponse::text(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            app.core.metrics().render(),
        ),
        OpsRoute::OpenApiJcard => {
            ApiResponse::text(StatusCode::OK, "application/json", OPENAPI_JCARD)
        }
        OpsRoute::OpenApiCardApi => {
            ApiResponse::text(StatusCode::OK, "application/json", OPENAPI_CARD_API)
        }
        OpsRoute::OpenApiGiftcard => {
            ApiResponse::text(StatusCode::OK, "application/json", OPENAPI_GIFTCARD)
        }
        OpsRoute::OpenApiCashback => {
            ApiResponse::text(StatusCode::OK, "application/json", OPENAPI_CASHBACK)
        }
    }
}

fn to_hyper(response: ApiResponse) -> Response<Full<Bytes>> {
    let mut hyper_response = Response::new(Full::new(response.body));
    *hyper_response.status_mut() = response.status;
    hyper_response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(response.content_type));
    hyper_response
}
