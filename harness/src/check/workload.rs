//! What the client does in each workload, and what a correct server answers.

use rand::RngCore;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::matrix::Workload;
use crate::codec::json::md5_hex;
use crate::service::Service;

/// Lockstep exchanges per connection for the small and large workloads.
const SMALL_EXCHANGES: usize = 5;
const LARGE_EXCHANGES: usize = 2;
/// Requests written at once in the pipelined workload.
const PIPELINE_DEPTH: usize = 4;
/// Uploads per connection, and their size: over one 1024-byte read, small enough that a
/// 1-4 byte split of it takes about a second.
const UPLOADS: usize = 1;
const UPLOAD_SIZE: usize = 1100;

/// One step of a workload on one connection.
#[derive(Debug, Clone)]
pub enum Step {
    /// Send the request, wait for its whole reply.
    Lockstep(Vec<u8>),
    /// Send every request in one write, then read the replies in order.
    Pipelined(Vec<Vec<u8>>),
    /// Upload a file; a correct server answers `{"ok": true, …, "md5": …}`.
    Upload { name: String, data: Vec<u8> },
}

impl Step {
    /// The requests this step sends, as text for reports.
    pub fn describe(&self) -> String {
        match self {
            Step::Lockstep(r) => String::from_utf8_lossy(r).into_owned(),
            Step::Pipelined(rs) => rs
                .iter()
                .map(|r| String::from_utf8_lossy(r).into_owned())
                .collect::<Vec<_>>()
                .join(" + "),
            Step::Upload { name, data } => format!(
                "upload {name} ({} bytes, md5 {})",
                data.len(),
                md5_hex(data)
            ),
        }
    }
}

/// The small request of each service.
fn small_request(service: Service) -> &'static [u8] {
    match service {
        Service::Cmd => b"echo hello",
        Service::Upper | Service::Echo => b"hello",
    }
}

/// The steps of `workload` on one connection, or `None` where the workload does not apply to
/// `service` (large replies need `cmd`'s `seq`).
pub fn steps(workload: Workload, service: Service, seed: u64) -> Option<Vec<Step>> {
    Some(match workload {
        Workload::Small => vec![Step::Lockstep(small_request(service).to_vec()); SMALL_EXCHANGES],
        Workload::Large if service == Service::Cmd => {
            vec![Step::Lockstep(b"seq 1 2000".to_vec()); LARGE_EXCHANGES]
        }
        Workload::Large => return None,
        Workload::Pipelined => {
            let words = ["alpha", "bravo", "charlie", "delta"];
            let reqs = words[..PIPELINE_DEPTH]
                .iter()
                .map(|w| match service {
                    Service::Cmd => format!("echo {w}").into_bytes(),
                    Service::Upper | Service::Echo => w.as_bytes().to_vec(),
                })
                .collect();
            vec![Step::Pipelined(reqs)]
        }
        Workload::Upload => {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            (0..UPLOADS)
                .map(|i| {
                    let mut data = vec![0u8; UPLOAD_SIZE];
                    rng.fill_bytes(&mut data);
                    Step::Upload {
                        name: format!("stickler-{seed:016x}-{i}.bin"),
                        data,
                    }
                })
                .collect()
        }
    })
}

/// The replies a correct server gives to `steps`, in order (uploads: none, checked by status).
pub fn expected_stream(steps: &[Step], service: Service) -> Vec<u8> {
    let mut out = Vec::new();
    for s in steps {
        match s {
            Step::Lockstep(r) => out.extend(service.reply(r)),
            Step::Pipelined(rs) => rs.iter().for_each(|r| out.extend(service.reply(r))),
            Step::Upload { .. } => {}
        }
    }
    out
}
