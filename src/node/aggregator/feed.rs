//! The aggregator's chain watch, in a task of its own: it reads the epoch, new events and task
//! snapshots, and hands them to the driver's loop as [`News`], so the loop that answers operators
//! never waits on the chain.
//!
//! Nothing it reads is dropped on an error. A task whose snapshot cannot be read yet stays at
//! the front of `waiting` and is read again on the next poll (the tasks behind it wait, so they
//! reach the machine in chain order); the cursor itself only moves past what it returned. A
//! lookup (a task id that a response named first) is one `eth_getLogs` over the latest
//! `max_range` blocks; it only speeds things up, so a failed lookup is dropped.

use crate::chain::avs::{Accepted, Avs};
use crate::chain::{ChainError, Client, EventCursor};
use crate::node::common::EpochClock;
use crate::protocol::{Epoch, Task, TaskId, TaskOperator};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::mpsc;

/// What the chain said, in the order the loop must apply it.
#[derive(Debug)]
pub enum News {
    Task {
        task: Task,
        snapshot: Vec<TaskOperator>,
    },
    Accepted(Accepted),
    /// The epoch of the latest block, after everything read in the same poll.
    Tick(Epoch),
}

pub struct Feed {
    pub chain: Client,
    pub avs: Avs,
    pub clock: EpochClock,
    pub cursor: EventCursor,
    pub poll_interval: Duration,
    /// Lower end of a lookup's block range (the watch's start block).
    pub start_block: u64,
    pub confirmations: u64,
    pub max_range: u64,
    pub lookups: mpsc::Receiver<TaskId>,
    pub news: mpsc::Sender<News>,
    /// Created tasks whose snapshot is not read yet, oldest first.
    pub waiting: VecDeque<Task>,
}

impl Feed {
    /// Poll until the loop stops listening.
    pub async fn run(mut self) {
        loop {
            match self.poll().await {
                Ok(()) => {}
                Err(FeedError::Closed) => return,
                Err(FeedError::Chain(e)) => tracing::warn!("chain: {e}"),
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }

    async fn poll(&mut self) -> Result<(), FeedError> {
        let now = self.clock.now(&self.chain).await?;
        self.look_up().await;
        match self.cursor.poll(self.chain.reader()).await {
            Ok(batch) => {
                for log in &batch.logs {
                    if let Some(task) = self.avs.decode_task_created(log) {
                        self.waiting.push_back(task);
                    } else if let Some(acc) = self.avs.decode_task_responded(log) {
                        self.send(News::Accepted(acc)).await?;
                    }
                }
            }
            // The cursor did not move: the same range is read again next time.
            Err(e) => tracing::warn!("reading events: {e}"),
        }
        while let Some(task) = self.waiting.front() {
            match self.avs.snapshot(self.chain.reader(), task.id).await {
                Ok(snapshot) => {
                    let task = self.waiting.pop_front().expect("front exists");
                    self.send(News::Task { task, snapshot }).await?;
                }
                Err(e) => {
                    tracing::warn!(
                        task = task.id,
                        waiting = self.waiting.len(),
                        "reading the task's operator snapshot (will retry): {e}"
                    );
                    break;
                }
            }
        }
        self.send(News::Tick(now)).await
    }

    /// Each requested id once: find its creation event among recent blocks and queue it.
    async fn look_up(&mut self) {
        let mut ids = Vec::new();
        while let Ok(id) = self.lookups.try_recv() {
            ids.push(id);
        }
        if ids.is_empty() {
            return;
        }
        let head = match self.chain.block_number().await {
            Ok(h) => h,
            Err(e) => {
                tracing::debug!("task lookup: {e}");
                return;
            }
        };
        let Some(to) = head.checked_sub(self.confirmations) else {
            return;
        };
        let from = to
            .saturating_sub(self.max_range.max(1) - 1)
            .max(self.start_block);
        for id in ids {
            if self.waiting.iter().any(|t| t.id == id) {
                continue;
            }
            match self
                .avs
                .find_task_created(self.chain.reader(), id, from, to)
                .await
            {
                Ok(Some(task)) => {
                    tracing::info!(task = id, "task looked up after a response named it");
                    self.waiting.push_back(task);
                }
                Ok(None) => tracing::debug!(task = id, "task lookup: not on chain (yet)"),
                Err(e) => tracing::debug!(task = id, "task lookup: {e}"),
            }
        }
    }

    async fn send(&self, news: News) -> Result<(), FeedError> {
        self.news.send(news).await.map_err(|_| FeedError::Closed)
    }
}

enum FeedError {
    Chain(ChainError),
    /// The loop is gone (the node was dropped).
    Closed,
}

impl From<ChainError> for FeedError {
    fn from(e: ChainError) -> Self {
        FeedError::Chain(e)
    }
}
