//! A connection spoken frame by frame, for tools and tests that drive the protocol themselves
//! (a probe of a peer, a hostile-peer test). Nodes use [`serve`](super::serve) and
//! [`sync_once`](super::sync_once), which run a [`PeerSession`](crate::PeerSession).

use std::net::SocketAddr;

use carelog_ledger::ActorId;

use super::wire::{Incoming, read_frame, write_frame};
use super::{Endpoint, NetError};
use crate::Frame;

/// An authenticated connection to a peer with one stream open, moving whole frames.
pub struct FrameLink {
    conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    endpoint: Endpoint,
    peer: ActorId,
}

impl std::fmt::Debug for FrameLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameLink")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Dials `addr`, authenticates it as an enrolled clinic and opens the sync stream.
    pub async fn open_link(&self, addr: SocketAddr) -> Result<FrameLink, NetError> {
        let (conn, peer) = self.dial(addr).await?;
        let (send, recv) = conn.open_bi().await.map_err(NetError::from_connection)?;
        Ok(FrameLink {
            conn,
            send,
            recv,
            endpoint: self.clone(),
            peer,
        })
    }
}

impl FrameLink {
    /// The peer's clinic, as its certificate proved.
    pub fn peer(&self) -> ActorId {
        self.peer
    }

    /// Sends one frame.
    pub async fn send(&mut self, frame: &Frame) -> Result<(), NetError> {
        write_frame(&mut self.send, frame, self.endpoint.config.idle_timeout).await
    }

    /// The next frame, or `None` once the peer has finished its side.
    pub async fn receive(&mut self) -> Result<Option<Frame>, NetError> {
        let budget = self.endpoint.shared.read_budget.clone();
        match read_frame(&mut self.recv, self.endpoint.config.idle_timeout, &budget).await? {
            Incoming::Frame(frame) => Ok(Some(frame)),
            Incoming::End => Ok(None),
        }
    }

    /// Waits until the connection is closed, and says why.
    pub async fn closed(&self) -> String {
        self.conn.closed().await.to_string()
    }
}
