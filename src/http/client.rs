//! A minimal HTTP/1.1 keep-alive client for tools that drive a switch (the load generator):
//! one connection, one request at a time, no hyper types in its interface.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One request as a tool builds it: method, path with query, extra headers, body.
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// One answer: status and the whole body.
#[derive(Debug, Clone)]
pub struct IncomingAnswer {
    pub status: u16,
    pub body: Bytes,
}

/// A keep-alive HTTP/1.1 connection to one address.
pub struct ClientConnection {
    address: SocketAddr,
    sender: http1::SendRequest<Full<Bytes>>,
}

impl ClientConnection {
    /// Opens a TCP connection (no Nagle delay) and does the HTTP/1.1 handshake.
    pub async fn open(address: SocketAddr) -> Result<ClientConnection, String> {
        let stream = TcpStream::connect(address).await.map_err(|error| error.to_string())?;
        stream.set_nodelay(true).map_err(|error| error.to_string())?;
        let (sender, connection) =
            http1::handshake(TokioIo::new(stream)).await.map_err(|error| error.to_string())?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(ClientConnection { address, sender })
    }

    /// Sends `request` and reads the whole answer. An `Err` means the connection is unusable.
    pub async fn send(&mut self, request: &OutgoingRequest) -> Result<IncomingAnswer, String> {
        let mut builder = hyper::Request::builder()
            .method(request.method)
            .uri(request.path.as_str())
            .header("host", self.address.to_string());
        for (name, value) in &request.headers {
            builder = builder.header(*name, value.as_str());
        }
        if !request.body.is_empty() {
            builder = builder.header("content-type", "application/json");
        }
        let outgoing = builder
            .body(Full::new(Bytes::from(request.body.clone())))
            .map_err(|error| format!("request: {error}"))?;
        self.sender.ready().await.map_err(|error| format!("connection: {error}"))?;
        let response = self
            .sender
            .send_request(outgoing)
            .await
            .map_err(|error| format!("request: {error}"))?;
        let status = response.status().as_u16();
        let body =
            response.into_body().collect().await.map_err(|error| format!("body: {error}"))?;
        Ok(IncomingAnswer { status, body: body.to_bytes() })
    }
}
