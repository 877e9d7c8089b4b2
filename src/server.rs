//! The accept loop: a connection limit, one task per connection, HTTP/1.1 with a header read
//! timeout, and a graceful stop that stops accepting, lets in-flight requests finish, then
//! stops the writer so everything is durable.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::http::{self, App};

/// Serves `listener` until `shutdown` completes, then drains and stops the core.
pub async fn run(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(app.config.connections_max));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // Take a connection slot before accepting: at the limit, new clients wait in the
        // kernel's backlog instead of being accepted and starved.
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
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
        serve_connection(&app, &graceful, stream, permit);
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

fn serve_connection(
    app: &Arc<App>,
    graceful: &GracefulShutdown,
    stream: tokio::net::TcpStream,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let service_app = Arc::clone(app);
    let service = service_fn(move |request| http::handle(Arc::clone(&service_app), request));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(app.config.header_read_timeout_ms))
        .keep_alive(true);
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
