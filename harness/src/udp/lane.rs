//! One direction of one client in the UDP proxy: the toxics' stages over a datagram sequence.
//!
//! A lane takes datagrams in arrival order and yields the datagrams to write, each when it is
//! due. Stages run truncate → drop → dup → reorder → delay; every random choice is drawn from the
//! lane's own ChaCha stream in datagram order, so the same seed and the same datagrams give the
//! same decisions. What a lane holds is bounded: the reorder window, at most `max_pending`
//! delayed datagrams, and the proxy-wide byte budget shared by all lanes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha20Rng;
use tokio::time::Instant;

use super::record::{Action, DatagramEvent, DatagramSink};
use super::toxic::Stages;
use crate::chaos::Direction;
use crate::codec::hex;

/// A datagram on its way out.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct OutgoingDatagram {
    pub seq: u64,
    pub copy: u8,
    pub data: Vec<u8>,
    pub truncated_from: Option<usize>,
    pub delay_us: u64,
}

/// Bytes held inside the proxy, against a limit shared by every lane.
#[derive(Debug)]
pub(crate) struct HeldBytes {
    pub held: AtomicUsize,
    pub limit: usize,
}

impl HeldBytes {
    /// Reserves `n` bytes; false (nothing reserved) when that would pass the limit.
    pub fn take(&self, n: usize) -> bool {
        let mut cur = self.held.load(Ordering::Relaxed);
        loop {
            if cur + n > self.limit {
                return false;
            }
            match self
                .held
                .compare_exchange_weak(cur, cur + n, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }
    pub fn give(&self, n: usize) {
        self.held.fetch_sub(n, Ordering::AcqRel);
    }
}

pub(crate) struct DatagramLane {
    client: u64,
    dir: Direction,
    stages: Stages,
    rng: ChaCha20Rng,
    seq: u64,
    burst_left: u32,
    /// The reorder window: (when held, datagram).
    held: Vec<(Instant, OutgoingDatagram)>,
    /// Delayed datagrams by (due, order of scheduling).
    pending: BinaryHeap<Reverse<(Instant, u64, OutgoingDatagram)>>,
    order: u64,
    max_pending: usize,
    budget: Arc<HeldBytes>,
    record: Option<DatagramSink>,
    start: Instant,
}

impl DatagramLane {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: u64,
        dir: Direction,
        stages: Stages,
        rng: ChaCha20Rng,
        max_pending: usize,
        budget: Arc<HeldBytes>,
        record: Option<DatagramSink>,
        start: Instant,
    ) -> DatagramLane {
        DatagramLane {
            client,
            dir,
            stages,
            rng,
            seq: 0,
            burst_left: 0,
            held: Vec::new(),
            pending: BinaryHeap::new(),
            order: 0,
            max_pending: max_pending.max(1),
            budget,
            record,
            start,
        }
    }

    fn event(&self, seq: u64, action: Action, data: &[u8], out: Option<&OutgoingDatagram>) {
        let Some(sink) = &self.record else { return };
        sink.push(DatagramEvent {
            client: self.client,
            dir: self.dir,
            seq,
            action,
            len: data.len(),
            copy: out.map_or(0, |o| o.copy),
            truncated_from: out.and_then(|o| o.truncated_from),
            delay_us: out.map_or(0, |o| o.delay_us),
            t_us: self.start.elapsed().as_micros() as u64,
            data: sink.with_bytes().then(|| hex(data)),
        });
    }

    /// Takes one datagram whose bytes the caller already reserved in the budget.
    pub fn accept(&mut self, mut data: Vec<u8>, now: Instant) {
        let seq = self.seq;
        self.seq += 1;
        let mut truncated_from = None;
        if let Some(len) = self.stages.truncate {
            if data.len() > len {
                truncated_from = Some(data.len());
                self.budget.give(data.len() - len);
                data.truncate(len);
            }
        }
        if let Some((p, burst)) = self.stages.drop {
            let dropped = if self.burst_left > 0 {
                self.burst_left -= 1;
                true
            } else if self.rng.gen_bool(p) {
                self.burst_left = burst - 1;
                true
            } else {
                false
            };
            if dropped {
                self.event(seq, Action::Drop, &data, None);
                self.budget.give(data.len());
                return;
            }
        }
        let dup = match self.stages.dup {
            Some(p) => self.rng.gen_bool(p),
            None => false,
        };
        let mut copies = vec![OutgoingDatagram {
            seq,
            copy: 0,
            data,
            truncated_from,
            delay_us: 0,
        }];
        if dup {
            if self.budget.take(copies[0].data.len()) {
                let data = copies[0].data.clone();
                copies.push(OutgoingDatagram {
                    seq,
                    copy: 1,
                    data,
                    truncated_from,
                    delay_us: 0,
                });
            } else {
                self.event(seq, Action::Overflow, &copies[0].data, None);
            }
        }
        for out in copies {
            match self.stages.reorder {
                Some((window, _)) => {
                    self.held.push((now, out));
                    if self.held.len() >= window {
                        let i = self.rng.gen_range(0..self.held.len());
                        let (_, out) = self.held.swap_remove(i);
                        self.schedule(out, now);
                    }
                }
                None => self.schedule(out, now),
            }
        }
    }

    fn schedule(&mut self, mut out: OutgoingDatagram, now: Instant) {
        let delay = match self.stages.delay {
            Some((delay, jitter)) => {
                let base = delay.as_micros() as i64;
                let j = jitter.as_micros() as i64;
                let offset = if j > 0 { self.rng.gen_range(-j..=j) } else { 0 };
                Duration::from_micros((base + offset).max(0) as u64)
            }
            None => Duration::ZERO,
        };
        if self.pending.len() >= self.max_pending {
            self.event(out.seq, Action::Overflow, &out.data, None);
            self.budget.give(out.data.len());
            return;
        }
        out.delay_us = delay.as_micros() as u64;
        self.order += 1;
        self.pending.push(Reverse((now + delay, self.order, out)));
    }

    /// When the lane next has something to do, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        let hold = self
            .stages
            .reorder
            .map(|(_, hold)| hold)
            .unwrap_or_default();
        let held = self.held.iter().map(|(t, _)| *t + hold).min();
        let due = self.pending.peek().map(|Reverse((t, _, _))| *t);
        match (held, due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The datagrams due by `now`, in order; their bytes leave the budget.
    pub fn due(&mut self, now: Instant) -> Vec<OutgoingDatagram> {
        if let Some((_, hold)) = self.stages.reorder {
            if self.held.iter().any(|(t, _)| *t + hold <= now) {
                let mut all: Vec<OutgoingDatagram> = self.held.drain(..).map(|(_, o)| o).collect();
                all.shuffle(&mut self.rng);
                for out in all {
                    self.schedule(out, now);
                }
            }
        }
        let mut ready = Vec::new();
        while let Some(Reverse((t, _, _))) = self.pending.peek() {
            if *t > now {
                break;
            }
            let Some(Reverse((_, _, out))) = self.pending.pop() else {
                break;
            };
            self.budget.give(out.data.len());
            self.event(out.seq, Action::Send, &out.data, Some(&out));
            ready.push(out);
        }
        ready
    }

    /// Gives back the budget of everything still held (the lane is going away).
    pub fn release_all(&mut self) {
        let held: usize = self.held.drain(..).map(|(_, o)| o.data.len()).sum();
        let pending: usize = self
            .pending
            .drain()
            .map(|Reverse((_, _, o))| o.data.len())
            .sum();
        self.budget.give(held + pending);
    }
}
