//! TCP connections, driven through hyper's HTTP/1 state machine with a timer (which
//! `axum::serve` does not give it, so that none of hyper's timeouts applied).
//!
//! - **Cap.** At most [`Table::max`] connections are open. At the cap, a new connection closes the
//!   oldest one that has no request in progress (idle, or still sending its headers), as nginx
//!   reuses keep-alive connections; when every open connection is in a request, the new one is
//!   closed at once. So idle or half-open connections cannot starve a real request, and the
//!   process never runs out of file descriptors (the cap sits below the limit).
//! - **Timeouts.** hyper's header read timeout (from the moment a connection waits for a request
//!   until its headers are complete); a keep-alive timeout (no request and nothing sent); the
//!   body's deadlines are the extractor's ([`super::extract`]).
//! - **Lingering close.** A refusal that leaves the body unread is answered with
//!   `Connection: close`; the connection then sends FIN and reads and discards what the client
//!   still sends, for a bounded time and byte count, before it closes. Closing with unread data
//!   would send a reset, and a reset makes the client's kernel drop the answer it has not read.
//! - **Shutdown.** The listener closes; each connection is told to finish (hyper's graceful
//!   shutdown: idle ones close at once); one whose request is being decided gets up to the grace
//!   period, any other (idle, sending headers or a body, lingering) at most `shutdown_idle`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, Response};
use axum::Router;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::Timeouts;

/// How often a closing connection looks again at whether its decision is done.
const CLOSING_TICK: Duration = Duration::from_millis(50);

pub(super) struct Settings {
    pub timeouts: Timeouts,
    /// How long a shutdown waits for decisions in flight.
    pub grace: Duration,
    /// Bytes a lingering close reads and discards at most.
    pub linger_bytes: u64,
}

/// The open connections, oldest first.
pub(crate) struct Table {
    max: usize,
    inner: Mutex<TableInner>,
}

struct TableInner {
    next_id: u64,
    open: BTreeMap<u64, Arc<Conn>>,
}

impl Table {
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            inner: Mutex::new(TableInner {
                next_id: 0,
                open: BTreeMap::new(),
            }),
        }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    pub fn len(&self) -> usize {
        self.lock().open.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TableInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a new connection, making room by closing the oldest idle one at the cap.
    /// `None`: every open connection is in a request.
    fn admit(&self, peer: SocketAddr) -> Option<(Arc<Conn>, bool)> {
        let mut inner = self.lock();
        let mut evicted = false;
        if inner.open.len() >= self.max {
            let victim = inner.open.values().find(|c| c.evictable()).cloned()?;
            inner.open.remove(&victim.id);
            victim.evict.notify_one();
            evicted = true;
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let conn = Arc::new(Conn::new(id, peer));
        inner.open.insert(id, conn.clone());
        Some((conn, evicted))
    }

    /// Closes the oldest idle connection (when the process is out of file descriptors).
    fn evict_one(&self) -> bool {
        let mut inner = self.lock();
        let Some(victim) = inner.open.values().find(|c| c.evictable()).cloned() else {
            return false;
        };
        inner.open.remove(&victim.id);
        victim.evict.notify_one();
        true
    }

    fn remove(&self, id: u64) {
        self.lock().open.remove(&id);
    }
}

/// What the server knows of one connection.
pub(crate) struct Conn {
    id: u64,
    peer: SocketAddr,
    /// Requests whose answer has not been sent in full.
    in_request: AtomicUsize,
    /// The current request's body has been read to its end (so the request is being decided).
    body_done: AtomicBool,
    /// Bytes read from the socket, and that count when the connection last became idle: more
    /// bytes than that mean a request is arriving.
    bytes_read: AtomicU64,
    idle_mark: AtomicU64,
    idle_since: Mutex<Instant>,
    /// Read and discard before closing (a refusal left the body unread).
    linger: AtomicBool,
    /// Close now (the table needs the place).
    evict: Notify,
    /// A request ended (the keep-alive clock restarts).
    changed: Notify,
}

impl Conn {
    fn new(id: u64, peer: SocketAddr) -> Self {
        Self {
            id,
            peer,
            in_request: AtomicUsize::new(0),
            body_done: AtomicBool::new(false),
            bytes_read: AtomicU64::new(0),
            idle_mark: AtomicU64::new(0),
            idle_since: Mutex::new(Instant::now()),
            linger: AtomicBool::new(false),
            evict: Notify::new(),
            changed: Notify::new(),
        }
    }

    fn evictable(&self) -> bool {
        self.in_request.load(Ordering::SeqCst) == 0
    }

    /// A decision is in progress: the body is in, the answer is not out.
    fn working(&self) -> bool {
        self.in_request.load(Ordering::SeqCst) > 0 && self.body_done.load(Ordering::SeqCst)
    }

    fn idle_since(&self) -> Option<Instant> {
        let idle = self.in_request.load(Ordering::SeqCst) == 0
            && self.bytes_read.load(Ordering::SeqCst) == self.idle_mark.load(Ordering::SeqCst);
        idle.then(|| *self.idle_since.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Marks a connection as in a request from the request head until the answer's body is dropped
/// (sent, or the connection gone).
struct RequestGuard(Arc<Conn>);

impl RequestGuard {
    fn begin(conn: Arc<Conn>, body_done: bool) -> Self {
        conn.in_request.fetch_add(1, Ordering::SeqCst);
        conn.body_done.store(body_done, Ordering::SeqCst);
        Self(conn)
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let conn = &self.0;
        *conn.idle_since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        conn.idle_mark
            .store(conn.bytes_read.load(Ordering::SeqCst), Ordering::SeqCst);
        conn.in_request.fetch_sub(1, Ordering::SeqCst);
        conn.changed.notify_one();
    }
}

/// The request body, noting when it has been read to its end.
struct TrackedBody {
    inner: Incoming,
    conn: Arc<Conn>,
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.conn.body_done.store(true, Ordering::SeqCst);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The answer's body, holding the request's guard until hyper has sent it (or dropped it).
struct GuardedBody {
    inner: Body,
    _guard: RequestGuard,
}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The router as one connection's hyper service.
#[derive(Clone)]
struct ConnService {
    router: Router,
    conn: Arc<Conn>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<GuardedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let guard = RequestGuard::begin(self.conn.clone(), request.body().is_end_stream());
        let conn = self.conn.clone();
        let mut request = request.map(|inner| {
            Body::new(TrackedBody {
                inner,
                conn: conn.clone(),
            })
        });
        request.extensions_mut().insert(ConnectInfo(conn.peer));
        let router = self.router.clone();
        Box::pin(async move {
            let mut response = match router.oneshot(request).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            if !conn.body_done.load(Ordering::SeqCst) {
                // Refused before its body was read: say the connection closes, and linger.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                conn.linger.store(true, Ordering::SeqCst);
            }
            Ok(response.map(|inner| GuardedBody {
                inner,
                _guard: guard,
            }))
        })
    }
}

/// The socket, counting what is read, with a lingering close when one is asked for.
struct ConnIo {
    stream: TcpStream,
    conn: Arc<Conn>,
    linger: Duration,
    linger_bytes: u64,
    closing: Option<Lingering>,
}

struct Lingering {
    until: Pin<Box<tokio::time::Sleep>>,
    write_shut: bool,
    drained: u64,
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        if n > 0 {
            self.conn.bytes_read.fetch_add(n, Ordering::SeqCst);
        }
        polled
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.conn.linger.load(Ordering::SeqCst) {
            return Pin::new(&mut self.stream).poll_shutdown(cx);
        }
        let this = &mut *self;
        let linger = this.linger;
        let closing = this.closing.get_or_insert_with(|| Lingering {
            until: Box::pin(tokio::time::sleep(linger)),
            write_shut: false,
            drained: 0,
        });
        if !closing.write_shut {
            // FIN after the answer; a failure here only means the peer is gone.
            if ready!(Pin::new(&mut this.stream).poll_shutdown(cx)).is_err() {
                return Poll::Ready(Ok(()));
            }
            closing.write_shut = true;
        }
        let mut scratch = [0u8; 32 * 1024];
        loop {
            if closing.until.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.stream).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    closing.drained += buf.filled().len() as u64;
                    if closing.drained > this.linger_bytes {
                        return Poll::Ready(Ok(()));
                    }
                }
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Counts repeated events and lets one log line through per second, with the count.
struct Throttle {
    last: Mutex<Option<Instant>>,
    count: AtomicU64,
}

impl Throttle {
    const fn new() -> Self {
        Self {
            last: Mutex::new(None),
            count: AtomicU64::new(0),
        }
    }

    fn hit(&self) -> Option<u64> {
        self.count.fetch_add(1, Ordering::SeqCst);
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if due {
            *last = Some(Instant::now());
            Some(self.count.swap(0, Ordering::SeqCst))
        } else {
            None
        }
    }
}

static REFUSED_AT_CAP: Throttle = Throttle::new();
static EVICTED: Throttle = Throttle::new();
static FD_EXHAUSTED: Throttle = Throttle::new();
static HEADER_TIMEOUTS: Throttle = Throttle::new();
static MALFORMED: Throttle = Throttle::new();

fn out_of_descriptors(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// Accepts and serves connections until `stop` turns true, then shuts down (see the module doc).
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    table: Arc<Table>,
    settings: Settings,
    mut stop: watch::Receiver<bool>,
) {
    let settings = Arc::new(settings);
    // Each connection gets its own receiver; the loop's own is busy waiting.
    let for_conns = stop.clone();
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match table.admit(peer) {
                    Some((conn, evicted)) => {
                        if evicted {
                            if let Some(n) = EVICTED.hit() {
                                tracing::info!(
                                    open = table.len(),
                                    max = table.max(),
                                    "connection limit reached: closed {n} idle connection(s) to make room"
                                );
                            }
                        }
                        let (router, settings, stop, table) =
                            (router.clone(), settings.clone(), for_conns.clone(), table.clone());
                        tasks.spawn(serve_one(stream, conn, router, settings, stop, table));
                    }
                    None => {
                        drop(stream);
                        if let Some(n) = REFUSED_AT_CAP.hit() {
                            tracing::warn!(
                                %peer,
                                max = table.max(),
                                "connection limit reached with every connection in a request: closed {n} new connection(s) at once"
                            );
                        }
                    }
                },
                Err(e) if out_of_descriptors(&e) => {
                    let freed = table.evict_one();
                    if let Some(n) = FD_EXHAUSTED.hit() {
                        tracing::warn!(
                            error = %e,
                            open = table.len(),
                            freed,
                            "out of file descriptors on accept ({n} time(s)); lower --max-connections"
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => tracing::debug!(error = %e, "accept failed"),
            },
        }
    }
    drop(listener);
    let open = tasks.len();
    tracing::info!(
        open,
        "shutting down: no new connections; finishing the decisions in flight"
    );
    let drained = tokio::time::timeout(settings.grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = tasks.len(),
            "decisions still in flight after {} s; closing their connections",
            settings.grace.as_secs_f64()
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}

/// Serves one connection (see the module doc for when it ends).
async fn serve_one(
    stream: TcpStream,
    conn: Arc<Conn>,
    router: Router,
    settings: Arc<Settings>,
    mut stop: watch::Receiver<bool>,
    table: Arc<Table>,
) {
    struct Leave(Arc<Table>, u64);
    impl Drop for Leave {
        fn drop(&mut self) {
            self.0.remove(self.1);
        }
    }
    let _leave = Leave(table, conn.id);
    let _ = stream.set_nodelay(true);
    let t = settings.timeouts;
    let io = TokioIo::new(ConnIo {
        stream,
        conn: conn.clone(),
        linger: t.linger,
        linger_bytes: settings.linger_bytes,
        closing: None,
    });
    let service = ConnService {
        router,
        conn: conn.clone(),
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(t.header_read)
        .keep_alive(true);
    let http = builder.serve_connection(io, service);
    tokio::pin!(http);
    let mut closing: Option<Instant> = None;
    if *stop.borrow() {
        http.as_mut().graceful_shutdown();
        closing = Some(Instant::now());
    }
    loop {
        let wake = match (closing, conn.idle_since()) {
            (Some(_), _) => Instant::now() + CLOSING_TICK,
            (None, Some(since)) => since + t.keep_alive,
            (None, None) => Instant::now() + t.keep_alive,
        };
        tokio::select! {
            ended = http.as_mut() => {
                if let Err(e) = ended {
                    note_error(&e, &conn, t);
                }
                return;
            }
            _ = conn.evict.notified() => {
                tracing::debug!(peer = %conn.peer, "closed an idle connection to make room");
                return;
            }
            _ = stop.wait_for(|s| *s), if closing.is_none() => {
                http.as_mut().graceful_shutdown();
                closing = Some(Instant::now());
            }
            _ = conn.changed.notified(), if closing.is_none() => {}
            _ = tokio::time::sleep_until(wake.into()) => match closing {
                Some(since) => {
                    if !conn.working() && since.elapsed() >= t.shutdown_idle {
                        tracing::debug!(peer = %conn.peer, "closed at shutdown (no decision in progress)");
                        return;
                    }
                }
                None => {
                    if conn.idle_since().is_some_and(|s| s.elapsed() >= t.keep_alive) {
                        tracing::debug!(peer = %conn.peer, "closed an idle connection (keep-alive timeout)");
                        // Idle: hyper closes at once.
                        http.as_mut().graceful_shutdown();
                        closing = Some(Instant::now());
                    }
                }
            },
        }
    }
}

fn note_error(e: &hyper::Error, conn: &Conn, t: Timeouts) {
    if e.is_timeout() {
        if let Some(n) = HEADER_TIMEOUTS.hit() {
            tracing::info!(
                peer = %conn.peer,
                "closed {n} connection(s) whose request headers did not arrive within {} s",
                t.header_read.as_secs_f64()
            );
        }
    } else if e.is_parse() || e.is_parse_too_large() {
        if let Some(n) = MALFORMED.hit() {
            tracing::info!(peer = %conn.peer, error = %e, "refused {n} malformed request(s)");
        }
    } else {
        tracing::debug!(peer = %conn.peer, error = %e, "connection ended");
    }
}
