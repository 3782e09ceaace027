//! Group commit for verified webhook deliveries: deliveries arriving while earlier ones are being
//! written are stored together, in one statement and one commit (`db::fathom_events::insert_batch`).
//!
//! Each caller still answers Fathom only after its own delivery has committed, so nothing changes
//! for durability; what changes is that a burst costs the database a few commits instead of one
//! per delivery. With no burst, a delivery is written at once on its own (no waiting for company).

use std::sync::{Arc, OnceLock};

use sqlx::PgPool;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::db::fathom_events::{self, BatchedEvent};

/// Statements in flight at once; while all are busy, arriving deliveries queue up and go together.
const MAX_IN_FLIGHT: usize = 4;
/// Deliveries in one statement at most.
const MAX_BATCH: usize = 64;
/// Body bytes in one statement at most.
const MAX_BATCH_BYTES: usize = 128 * 1024;
/// Bodies this large gain nothing from company (their cost is their bytes): they are written at
/// once, on their own, without taking a slot.
const ALONE_BYTES: usize = 64 * 1024;
/// Deliveries waiting for a statement at most; beyond it callers wait to queue (back-pressure).
const QUEUE: usize = 1024;

/// The database error of a failed statement, shared by every delivery that was in it.
pub type WriteError = Arc<sqlx::Error>;

type Reply = oneshot::Sender<Result<bool, WriteError>>;

/// Writes deliveries to `fathom_events` (with their tasks), batching concurrent ones. Its
/// background task starts with the first write, on the runtime of that write, and ends when the
/// writer is dropped.
pub struct EventWriter {
    db: PgPool,
    queue: OnceLock<mpsc::Sender<(BatchedEvent, Reply)>>,
}

impl EventWriter {
    /// A writer over `db`; nothing runs until the first [`EventWriter::write`].
    pub fn new(db: PgPool) -> EventWriter {
        EventWriter {
            db,
            queue: OnceLock::new(),
        }
    }

    /// Stores one delivery and its task; `Ok(false)` when its `webhook-id` was already stored for
    /// its org. Returns once the statement holding it has committed (or failed).
    pub async fn write(&self, event: BatchedEvent) -> Result<bool, WriteError> {
        if event.body.len() >= ALONE_BYTES {
            let stored = fathom_events::insert_batch(&self.db, std::slice::from_ref(&event)).await;
            return Ok(stored.map_err(Arc::new)?.first().copied().unwrap_or(false));
        }
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(run(self.db.clone(), receiver));
            sender
        });
        let (reply, answer) = oneshot::channel();
        if queue.send((event, reply)).await.is_err() {
            return Err(Arc::new(sqlx::Error::PoolClosed));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(Arc::new(sqlx::Error::PoolClosed)))
    }
}

async fn run(db: PgPool, mut queue: mpsc::Receiver<(BatchedEvent, Reply)>) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    loop {
        // Take a slot before taking deliveries, so that while every slot is busy they gather.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = queue.recv().await else {
            return;
        };
        let mut bytes = first.0.body.len();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match queue.try_recv() {
                Ok(next) => {
                    bytes += next.0.body.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let db = db.clone();
        tokio::spawn(async move {
            let (events, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            match fathom_events::insert_batch(&db, &events).await {
                Ok(stored) => {
                    for (reply, stored) in replies.into_iter().zip(stored) {
                        let _ = reply.send(Ok(stored));
                    }
                }
                Err(err) => {
                    let err = Arc::new(err);
                    for reply in replies {
                        let _ = reply.send(Err(err.clone()));
                    }
                }
            }
            drop(slot);
        });
    }
}
