//! The accept loop: a connection limit, one task per connection, HTTP/1.1 with header count,
//! size and read-time limits, and a graceful stop that stops accepting, lets in-flight requests
//! finish, then stops the writer so everything is durable. Connections over the limit are
//! accepted (up to `http.overload_connections_max` at once) only to be answered 503 and closed.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::http::{self, App};

/// What an accepted connection may do, holding its place in one of the two limits.
enum Slot {
    /// Within `http.connections_max`: served.
    Serve(OwnedSemaphorePermit),
    /// Over it, within `http.overload_connections_max`: answered 503 and closed.
    Refuse(OwnedSemaphorePermit),
}

/// The two connection limits.
struct Slots {
    serving: Arc<Semaphore>,
    overload: Arc<Semaphore>,
}

impl Slots {
    fn new(config: &crate::config::HttpConfig) -> Slots {
        Slots {
            serving: Arc::new(Semaphore::new(config.connections_max)),
            overload: Arc::new(Semaphore::new(config.overload_connections_max)),
        }
    }

    /// A serving slot if one is free, else an overload slot, else waits for either: with both
    /// limits reached, new clients wait in the kernel's backlog.
    async fn next(&self) -> Option<Slot> {
        if let Some(slot) = self.upgrade(None) {
            return Some(slot);
        }
        if let Ok(permit) = Arc::clone(&self.overload).try_acquire_owned() {
            return Some(Slot::Refuse(permit));
        }
        tokio::select! {
            permit = Arc::clone(&self.serving).acquire_owned() => permit.ok().map(Slot::Serve),
            permit = Arc::clone(&self.overload).acquire_owned() => permit.ok().map(Slot::Refuse),
        }
    }

    /// A serving slot if one is free now, else `slot` as it was: a connection accepted while
    /// holding an overload slot is served if a serving one freed up meanwhile.
    fn upgrade(&self, slot: Option<Slot>) -> Option<Slot> {
        match (slot, Arc::clone(&self.serving).try_acquire_owned()) {
            (Some(Slot::Serve(permit)), _) => Some(Slot::Serve(permit)),
            (_, Ok(permit)) => Some(Slot::Serve(permit)),
            (slot, Err(_)) => slot,
        }
    }
}

/// Serves `listener` until `shutdown` completes, then drains and stops the core.
pub async fn run(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Slots::new(&app.config);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // Take a slot before accepting: past both limits, new clients wait in the kernel's
        // backlog instead of being accepted and starved.
        let slot = tokio::select! {
            slot = slots.next() => match slot {
                Some(slot) => slot,
                None => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        match slots.upgrade(Some(slot)) {
            Some(Slot::Serve(permit)) => serve_connection(&app, &graceful, stream, permit),
            Some(Slot::Refuse(permit)) => refuse_connection(&app, &graceful, stream, permit),
            None => {}
        }
    }
    drop(listener);
    let grace = Duration::from_millis(app.config.shutdown_grace_ms);
    let drained = async {
        graceful.shutdown().await;
        // A connection's task drops its handle on the app just after its connection ends;
        // wait for all of them so nothing holds the store once the core stops.
        while Arc::strong_count(&app) > 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    if tokio::time::timeout(grace, drained).await.is_err() {
        tracing::warn!("connections still open after the grace period; closing them");
    }
    if let Err(error) = app.core.shutdown().await {
        tracing::error!(%error, "stopping the writer failed");
        return Err(std::io::Error::other(error.to_string()));
    }
    Ok(())
}

/// HTTP/1.1 with the configured header limits: a request whose header block is too large or
/// has too many headers is answered 431 by hyper and the connection closed.
fn http1_builder(config: &crate::config::HttpConfig) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(config.header_read_timeout_ms))
        .max_headers(config.headers_max)
        .max_header_size(config.header_bytes_max);
    builder
}

fn serve_connection(
    app: &Arc<App>,
    graceful: &GracefulShutdown,
    stream: tokio::net::TcpStream,
    permit: OwnedSemaphorePermit,
) {
    let service_app = Arc::clone(app);
    let service = service_fn(move |request| http::handle(Arc::clone(&service_app), request));
    let mut builder = http1_builder(&app.config);
    builder.keep_alive(true);
    let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
    let metrics = Arc::clone(app.core.metrics());
    tokio::spawn(async move {
        metrics.http_connections_open.inc();
        if let Err(error) = connection.await {
            tracing::debug!(%error, "connection ended with an error");
        }
        metrics.http_connections_open.dec();
        drop(permit);
    });
}

/// Answers the connection's first request 503 and closes it (no keep-alive).
fn refuse_connection(
    app: &Arc<App>,
    graceful: &GracefulShutdown,
    stream: tokio::net::TcpStream,
    permit: OwnedSemaphorePermit,
) {
    app.core.metrics().http_connections_refused.inc();
    let service_app = Arc::clone(app);
    let service = service_fn(move |request| http::refuse(Arc::clone(&service_app), request));
    let mut builder = http1_builder(&app.config);
    builder.keep_alive(false);
    let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "refused connection ended with an error");
        }
        drop(permit);
    });
}

/// A switch started in this process (tests, benchmarks, the load generator).
pub struct RunningSwitch {
    pub address: std::net::SocketAddr,
    pub core: crate::core::Core,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningSwitch {
    /// Stops gracefully: stop accepting, drain, stop the writer (everything durable).
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.map_err(std::io::Error::other)?
    }
}

/// Starts a switch on `config.listen` (port 0 picks a free port) over an opened core.
pub async fn start(
    core: crate::core::Core,
    config: &crate::config::Config,
) -> std::io::Result<RunningSwitch> {
    let listener = TcpListener::bind(config.listen).await?;
    let address = listener.local_addr()?;
    let app = App::new(core.clone(), config.http.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run(listener, app, async move {
        let _ = stopped.await;
    }));
    Ok(RunningSwitch { address, core, stop: Some(stop), task })
}
