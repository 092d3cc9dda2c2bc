//! TCP proxies on loopback that see what clients send: the pass-through itself, and the one
//! in front of the service that notes each replica's requests.

use std::{
    io::{Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Passes every connection to `upstream`, with `tap` fed what the client sends (each
/// connection with a state of its own, made by `open`).
pub fn proxy<T: FnMut(&[u8]) + Send + 'static>(
    upstream: SocketAddr,
    open: impl Fn() -> T + Send + 'static,
) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(upstream) = TcpStream::connect(upstream) else {
                continue;
            };
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            let (Ok(mut client_read), Ok(mut upstream_write)) =
                (client.try_clone(), upstream.try_clone())
            else {
                continue;
            };
            let mut tap = open();
            std::thread::spawn(move || {
                let mut buffer = vec![0; 65536];
                while let Ok(n) = client_read.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    tap(&buffer[..n]);
                    if upstream_write.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
                let _ = upstream_write.shutdown(Shutdown::Write);
            });
            let (mut upstream, mut client) = (upstream, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut upstream, &mut client);
                let _ = client.shutdown(Shutdown::Write);
            });
        }
    });
    Ok(address)
}

/// The requests the replicas sent to the service, as their proxies saw them: (when, replica).
#[derive(Clone, Default)]
pub struct Requests(Arc<Mutex<Vec<(Instant, usize)>>>);

impl Requests {
    /// A proxy in front of the service for replica `index`, and its URL: it notes each request
    /// (each starts with `GET /`, possibly cut between two reads).
    pub fn proxy(&self, service: SocketAddr, index: usize) -> Result<String, String> {
        let requests = self.clone();
        let address = proxy(service, move || {
            let requests = requests.clone();
            let mut tail: Vec<u8> = Vec::new();
            move |data: &[u8]| {
                tail.extend_from_slice(data);
                let n = tail.windows(5).filter(|w| w == b"GET /").count();
                let now = Instant::now();
                if n > 0 {
                    requests.lock().extend((0..n).map(|_| (now, index)));
                }
                let keep = tail.len().min(4);
                tail.drain(..tail.len() - keep);
            }
        })?;
        Ok(format!("http://{address}"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Instant, usize)>> {
        self.0.lock().unwrap()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn first(&self) -> Option<Instant> {
        self.lock().first().map(|(at, _)| *at)
    }

    pub fn last(&self) -> Option<(Instant, usize)> {
        self.lock().last().copied()
    }

    /// The first request after `after` by another replica than `not`, among those noted from
    /// the `from`-th on.
    pub fn first_after(&self, from: usize, after: Instant, not: usize) -> Option<(Instant, usize)> {
        self.lock()[from..]
            .iter()
            .find(|(at, index)| *at > after && *index != not)
            .copied()
    }

    /// Requests in [`from`, `to`) by the replicas `by` keeps.
    pub fn count(&self, from: Instant, to: Instant, by: impl Fn(usize) -> bool) -> usize {
        self.lock()
            .iter()
            .filter(|(at, index)| *at >= from && *at < to && by(*index))
            .count()
    }

    /// Requests in each second from `from` on, for `seconds`.
    pub fn per_second(&self, from: Instant, seconds: u64) -> Vec<usize> {
        (0..seconds)
            .map(|s| {
                let start = from + Duration::from_secs(s);
                self.count(start, start + Duration::from_secs(1), |_| true)
            })
            .collect()
    }

    /// How often the next request came from another replica than the one before.
    pub fn switches(&self) -> usize {
        self.lock()
            .windows(2)
            .filter(|pair| pair[0].1 != pair[1].1)
            .count()
    }
}
