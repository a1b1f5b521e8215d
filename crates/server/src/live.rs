//! Live updates of batch records as server-sent events.
//!
//! A stream (`GET …/batches/{id}/events`) first sends the stored entries
//! after the client's `Last-Event-ID` (or `?after=`), then each new entry
//! once it is committed. It learns of new entries in two ways: a request of
//! this process that appended entries announces its batch after the commit
//! ([`committed`]), and every [`POLL`] the stream reads the record again, so
//! that entries written by another `serve` process on the same PostgreSQL
//! database arrive too. The stored record is the only source: an announcement
//! only wakes the stream, which then reads the entries after the last one it
//! sent, so nothing is sent twice or out of order and nothing is missed.
//!
//! A comment line (`: keep-alive`) goes out every [`KEEP_ALIVE`] when nothing
//! else did, so proxies keep the connection. A stream ends when the client
//! disconnects (the body is dropped), when its `?timeout=` has passed, and
//! at once on shutdown ([`Live::shut_down`]), so a graceful shutdown does not
//! wait for open streams. At most [`Live::max_streams`] are open at once; a
//! further one is refused with 503.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use batch::Entry;
use store::Db;
use store::batch as sb;
use tokio::sync::{broadcast, watch};

use crate::AppState;
use crate::util::{ApiError, ApiResult};

/// How often an open stream reads the record for entries written by other
/// processes.
pub const POLL: Duration = Duration::from_secs(1);
/// Longest silence on an open stream before a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Longest `?timeout=` accepted (a day).
pub const MAX_TIMEOUT_S: u64 = 86_400;
/// Entries read from the database at a time.
const CHUNK: usize = 500;
/// Announcements a slow stream may fall behind before it only re-reads.
const BACKLOG: usize = 1024;

/// Open event streams allowed until the server's limits say otherwise
/// ([`crate::Limits::max_event_streams`]).
pub const DEFAULT_MAX_STREAMS: usize = 64;

/// The hub of live updates: announcements of committed entries, the count
/// of open streams and the shutdown signal.
#[derive(Debug)]
pub struct Live {
    changed: broadcast::Sender<Arc<str>>,
    stop: watch::Sender<bool>,
    open: AtomicUsize,
    max: AtomicUsize,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            changed: broadcast::channel(BACKLOG).0,
            stop: watch::channel(false).0,
            open: AtomicUsize::new(0),
            max: AtomicUsize::new(DEFAULT_MAX_STREAMS),
        }
    }
}

impl Live {
    /// Ends every open stream and refuses new ones (graceful shutdown).
    pub fn shut_down(&self) {
        self.stop.send_replace(true);
    }
    /// Whether [`Live::shut_down`] was called.
    pub fn stopping(&self) -> bool {
        *self.stop.borrow()
    }
    /// A receiver that turns true on shutdown (for background tasks).
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }
    /// Sets the most streams open at once.
    pub fn set_max_streams(&self, n: usize) {
        self.max.store(n, Ordering::SeqCst);
    }
    /// The most streams open at once.
    pub fn max_streams(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

/// Announces that entries of `batch` were committed by this process.
pub fn committed(st: &AppState, batch: &str) {
    // no receiver (no open stream) is not an error
    let _ = st.live.changed.send(Arc::from(batch));
}

/// One open stream's place in the count; released when the stream ends.
struct Slot(Arc<Live>);

impl Slot {
    fn take(live: &Arc<Live>) -> Result<Slot, ApiError> {
        let max = live.max_streams();
        let mut n = live.open.load(Ordering::SeqCst);
        loop {
            if n >= max {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "events: {n} event streams are open, at most {max} are served at once; \
                         retry later (the server's --max-event-streams)"
                    ),
                ));
            }
            match live
                .open
                .compare_exchange(n, n + 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return Ok(Slot(live.clone())),
                Err(now) => n = now,
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

fn event_text(entries: &[Entry]) -> Result<String, ApiError> {
    let mut text = String::new();
    for e in entries {
        let data = serde_json::to_string(e)
            .map_err(|err| ApiError::internal(format!("cannot serialise entry: {err}")))?;
        text.push_str(&format!("id: {}\nevent: entry\ndata: {data}\n\n", e.seq));
    }
    Ok(text)
}

fn read_after(db: &Db, id: &str, after: u64) -> Result<Vec<Entry>, ApiError> {
    db.read(|tx| -> Result<_, ApiError> {
        if !sb::exists(tx, id)? {
            return Err(ApiError::not_found(format!("no batch {id:?}")));
        }
        Ok(sb::entries(tx, id, after + 1, CHUNK)?)
    })
}

/// The events of batch `id` after entry `after`: the stored ones, then (for
/// `timeout` other than zero) every new one until the client goes, the
/// timeout passes (`None`: no timeout) or the server shuts down.
pub fn events(st: &AppState, id: &str, after: u64, timeout: Option<Duration>) -> ApiResult {
    // the stored backlog first (and a 404 before anything is streamed)
    let mut first = read_after(&st.store, id, after)?;
    let mut last = first.last().map_or(after, |e| e.seq);
    let mut head = String::from("retry: 1000\n\n");
    head.push_str(&event_text(&first)?);
    let body = if timeout == Some(Duration::ZERO) {
        // catch-up only: the whole stored backlog, then the end
        while first.len() == CHUNK {
            first = read_after(&st.store, id, last)?;
            last = first.last().map_or(last, |e| e.seq);
            head.push_str(&event_text(&first)?);
        }
        Body::from(head)
    } else {
        if st.live.stopping() {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "events: the server is shutting down",
            ));
        }
        let slot = Slot::take(&st.live)?;
        let stream = Stream {
            db: st.store.clone(),
            id: Arc::from(id),
            last,
            changed: st.live.changed.subscribe(),
            stop: st.live.stop.subscribe(),
            deadline: timeout.map(|t| tokio::time::Instant::now() + t),
            pending: Some(head),
            sent: tokio::time::Instant::now(),
            _slot: slot,
        };
        Body::from_stream(futures_util::stream::unfold(stream, Stream::next))
    };
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // proxies that buffer (nginx) pass the stream through
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(r)
}

/// The state of one open stream.
struct Stream {
    db: Arc<Db>,
    id: Arc<str>,
    /// The last entry sent.
    last: u64,
    changed: broadcast::Receiver<Arc<str>>,
    stop: watch::Receiver<bool>,
    deadline: Option<tokio::time::Instant>,
    /// Text to send before waiting again.
    pending: Option<String>,
    /// When text was last sent (for the keep-alive).
    sent: tokio::time::Instant,
    _slot: Slot,
}

/// Why a stream woke up.
enum Wake {
    /// Maybe new entries: read the record.
    Read,
    KeepAlive,
    End,
}

impl Stream {
    /// The next piece of the body, or `None` at the end.
    async fn next(mut self) -> Option<(Result<Bytes, std::io::Error>, Stream)> {
        loop {
            if let Some(text) = self.pending.take() {
                self.sent = tokio::time::Instant::now();
                return Some((Ok(Bytes::from(text)), self));
            }
            match self.wait().await {
                Wake::End => return None,
                Wake::KeepAlive => {
                    self.pending = Some(": keep-alive\n\n".into());
                }
                Wake::Read => {
                    let (db, id, after) = (self.db.clone(), self.id.clone(), self.last);
                    let read =
                        tokio::task::spawn_blocking(move || read_after(&db, &id, after)).await;
                    match read {
                        Ok(Ok(entries)) if !entries.is_empty() => {
                            self.last = entries.last().map_or(self.last, |e| e.seq);
                            match event_text(&entries) {
                                Ok(t) => self.pending = Some(t),
                                Err(e) => return Some((Err(std::io::Error::other(e.text)), self)),
                            }
                        }
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => {
                            // the batch is gone or the database failed: end the
                            // stream; the client reconnects with its last id
                            tracing::warn!(batch = %self.id, error = %e.text, "event stream ended on a read error");
                            return None;
                        }
                        Err(e) => {
                            tracing::error!(batch = %self.id, error = %e, "event stream read failed");
                            return None;
                        }
                    }
                }
            }
        }
    }

    async fn wait(&mut self) -> Wake {
        let poll = tokio::time::sleep(POLL);
        let keep = tokio::time::sleep_until(self.sent + KEEP_ALIVE);
        tokio::pin!(poll, keep);
        let deadline = async {
            match self.deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = self.stop.wait_for(|s| *s) => return Wake::End,
                () = &mut deadline => return Wake::End,
                got = self.changed.recv() => match got {
                    Ok(b) if *b == *self.id => return Wake::Read,
                    Ok(_) => {}
                    // fell behind the announcements: read to be sure
                    Err(broadcast::error::RecvError::Lagged(_)) => return Wake::Read,
                    Err(broadcast::error::RecvError::Closed) => return Wake::End,
                },
                () = &mut keep => return Wake::KeepAlive,
                () = &mut poll => return Wake::Read,
            }
        }
    }
}
