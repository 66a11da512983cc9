//! Frames on a QUIC stream: a big-endian `u32` length, then [`frame::encode`](crate::encode)
//! bytes. A zero length is a heartbeat (no frame encodes to zero bytes) that keeps a quiet but
//! live connection from hitting the reader's idle timeout.
//!
//! The reader refuses a length over [`MAX_FRAME_LEN`] before allocating, drops a peer that sends
//! nothing for the idle timeout, and drops one that trickles a frame slower than
//! [`MIN_RATE`] bytes per second (a slowloris).

use std::time::Duration;

use tokio::time::{Instant, timeout, timeout_at};

use super::NetError;
use crate::{Frame, MAX_FRAME_LEN, decode, encode};

/// The slowest a frame's body may arrive, in bytes per second, beyond the idle timeout.
pub const MIN_RATE: u64 = 16 * 1024;

/// What the reader got.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// One frame.
    Frame(Frame),
    /// The peer finished its side of the stream.
    End,
}

/// Reads one frame, skipping heartbeats. Its bytes are reserved from `budget` (shared by every
/// connection) before they are allocated, and given back once it is decoded.
pub(crate) async fn read_frame(
    recv: &mut quinn::RecvStream,
    idle: Duration,
    budget: &tokio::sync::Semaphore,
) -> Result<Incoming, NetError> {
    loop {
        let mut prefix = [0u8; 4];
        let filled = read_some(recv, &mut prefix, Instant::now() + idle, idle).await?;
        if filled == 0 {
            return Ok(Incoming::End);
        }
        if filled < prefix.len() {
            return Err(NetError::Connection(
                "the peer ended the stream inside a length prefix".into(),
            ));
        }
        let len = u32::from_be_bytes(prefix) as usize;
        if len == 0 {
            continue;
        }
        if len > MAX_FRAME_LEN {
            return Err(NetError::FrameTooLarge {
                len,
                max: MAX_FRAME_LEN,
            });
        }
        let reserve = u32::try_from(len).map_err(|_| NetError::FrameTooLarge {
            len,
            max: MAX_FRAME_LEN,
        })?;
        let _reserved = reserve_room(budget, reserve, idle).await.ok_or_else(|| {
            NetError::Timeout(format!(
                "no room to read a {len} byte frame: other peers' frames fill the read budget"
            ))
        })?;
        let mut body = vec![0u8; len];
        let deadline = Instant::now() + idle + Duration::from_secs(len as u64 / MIN_RATE);
        let got = read_some(recv, &mut body, deadline, idle).await?;
        if got < len {
            return Err(NetError::Connection(format!(
                "the peer ended the stream after {got} of a {len} byte frame"
            )));
        }
        return decode(&body)
            .map(Incoming::Frame)
            .map_err(|e| NetError::Malformed(e.to_string()));
    }
}

/// Takes `bytes` of the read budget once that much is free, waiting up to `limit`. A waiting
/// reader holds nothing meanwhile, so one large frame waiting for room never keeps small
/// frames from others out.
async fn reserve_room(
    budget: &tokio::sync::Semaphore,
    bytes: u32,
    limit: Duration,
) -> Option<tokio::sync::SemaphorePermit<'_>> {
    let deadline = Instant::now() + limit;
    loop {
        match budget.try_acquire_many(bytes) {
            Ok(permit) => return Some(permit),
            Err(tokio::sync::TryAcquireError::Closed) => return None,
            Err(tokio::sync::TryAcquireError::NoPermits) if Instant::now() >= deadline => {
                return None;
            }
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Fills `buf` unless the stream ends first (returns how much was read). Fails when no byte
/// arrives for `idle`, or the whole buffer has not arrived by `deadline`.
async fn read_some(
    recv: &mut quinn::RecvStream,
    buf: &mut [u8],
    deadline: Instant,
    idle: Duration,
) -> Result<usize, NetError> {
    let mut filled = 0;
    while filled < buf.len() {
        let next = (Instant::now() + idle).min(deadline);
        match timeout_at(next, recv.read(&mut buf[filled..])).await {
            Err(_) => {
                return Err(NetError::Timeout(format!(
                    "the peer sent nothing for {} s or trickled a frame too slowly",
                    idle.as_secs_f32()
                )));
            }
            Ok(Ok(Some(n))) => filled += n,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => return Err(NetError::from_read(e)),
        }
    }
    Ok(filled)
}

/// Writes one frame; fails when the peer does not take it within `limit` (flow control stall).
pub(crate) async fn write_frame(
    send: &mut quinn::SendStream,
    frame: &Frame,
    idle: Duration,
) -> Result<(), NetError> {
    let body = encode(frame);
    let len = u32::try_from(body.len())
        .ok()
        .filter(|len| *len as usize <= MAX_FRAME_LEN)
        .ok_or(NetError::FrameTooLarge {
            len: body.len(),
            max: MAX_FRAME_LEN,
        })?;
    let mut bytes = Vec::with_capacity(4 + body.len());
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(&body);
    write_bytes(send, &bytes, idle).await
}

/// Writes a heartbeat (a zero length).
pub(crate) async fn write_heartbeat(
    send: &mut quinn::SendStream,
    idle: Duration,
) -> Result<(), NetError> {
    write_bytes(send, &0u32.to_be_bytes(), idle).await
}

async fn write_bytes(
    send: &mut quinn::SendStream,
    bytes: &[u8],
    idle: Duration,
) -> Result<(), NetError> {
    let limit = idle + Duration::from_secs(bytes.len() as u64 / MIN_RATE);
    match timeout(limit, send.write_all(bytes)).await {
        Err(_) => Err(NetError::Timeout(
            "the peer stopped taking data (flow control stalled)".into(),
        )),
        // A peer that refused our certificate closes the connection with a TLS alert, which
        // can reach us first as a failed write: it is a refusal all the same.
        Ok(Err(quinn::WriteError::ConnectionLost(e))) => Err(NetError::from_connection(e)),
        Ok(Err(e)) => Err(NetError::Connection(format!("writing to the peer: {e}"))),
        Ok(Ok(())) => Ok(()),
    }
}
