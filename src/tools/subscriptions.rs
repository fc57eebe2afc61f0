//! Following changes: `resources/subscribe` and `unsubscribe`, the subscription filter a
//! client may ask for, and the listening stream that tells it what changed. What a session
//! follows and how changes are noticed is [`session`](super::session)'s; this file wires it
//! to the client.

#[allow(deprecated)]
use rmcp::model::{SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData, Peer, RoleServer};

use super::resources::{self, requested_namespace};
use super::session::{self, Notice};
use super::{MemoryServer, access};

impl MemoryServer {
    /// Starts telling this session's client about changes to what it follows.
    pub(super) fn start_following(&self, peer: &Peer<RoleServer>) {
        let peer = peer.clone();
        self.session
            .start_following(&self.app, &self.changes, move |notice| {
                let peer = peer.clone();
                async move {
                    let sent = match notice {
                        Notice::Updated(uri) => {
                            peer.notify_resource_updated(
                                rmcp::model::ResourceUpdatedNotificationParam::new(uri),
                            )
                            .await
                        }
                        Notice::ListChanged => peer.notify_resource_list_changed().await,
                    };
                    sent.is_ok()
                }
            });
    }

    /// Answers `resources/subscribe`: follows one resource for this session.
    #[allow(deprecated)]
    pub(super) async fn on_subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        access::check_mcp(&access::caller(&context), access::uri_needs(&request.uri))?;
        self.session
            .followed
            .lock()
            .await
            .follow_resource(&self.app, &request.uri)
            .await?;
        self.start_following(&context.peer);
        Ok(())
    }

    /// Answers `resources/unsubscribe`.
    #[allow(deprecated)]
    pub(super) async fn on_unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
    ) -> Result<(), ErrorData> {
        resources::Target::parse(&request.uri)?;
        self.session
            .followed
            .lock()
            .await
            .unfollow_resource(&request.uri);
        Ok(())
    }

    /// The part of a requested subscription filter this server serves: list changes when
    /// asked for, and the subscriptions whose URIs name a resource.
    pub(super) fn accepted_filter(&self, requested: &SubscriptionFilter) -> SubscriptionFilter {
        let mut accepted = SubscriptionFilter::new();
        accepted.resources_list_changed = requested.resources_list_changed.filter(|on| *on);
        accepted.resource_subscriptions = requested.resource_subscriptions.as_ref().map(|uris| {
            uris.iter()
                .filter(|uri| resources::Target::parse(uri).is_ok())
                .cloned()
                .collect()
        });
        accepted
    }

    /// Serves a listening stream: tells it what changed among what it follows, until it is
    /// cancelled or its client goes away.
    pub(super) async fn on_listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let mut followed = session::Followed::default();
        let caller = access::caller(context.request_context());
        for uri in context.accepted().resource_subscriptions.iter().flatten() {
            access::check_mcp(&caller, access::uri_needs(uri))?;
            followed.follow_resource_as_is(&self.app, uri).await?;
        }
        if context.accepted().resources_list_changed == Some(true) {
            let meta = &context.request_context().meta.0.0;
            let namespace = requested_namespace(Some(meta))?;
            access::check_mcp(
                &caller,
                Some((namespace.clone(), crate::access::Scope::Read)),
            )?;
            followed.follow_list(&self.app, &namespace).await?;
        }
        let mut generations = self.changes.watch(self.app.store());
        loop {
            tokio::select! {
                _ = context.cancelled() => return Ok(()),
                moved = generations.changed() => if moved.is_err() { return Ok(()) },
            }
            // A failed read (database restarting) is tried again at the next change.
            for notice in followed.changes(&self.app).await.unwrap_or_default() {
                let sent = match notice {
                    Notice::Updated(uri) => context.sink().notify_resource_updated(uri).await,
                    Notice::ListChanged => context.sink().notify_resource_list_changed().await,
                };
                if sent.is_err() {
                    return Ok(());
                }
            }
        }
    }
}
