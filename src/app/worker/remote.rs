//! The remote thread: remote comparisons one at a time, each with a fresh client for the
//! service and token the operator entered. Decisions are signed and logged like local ones.

use std::sync::mpsc::{Receiver, Sender};

use super::inference::compare;
use super::{
    recent, send, CompareError, CompareJob, Event, Purpose, RemoteService, SharedRecorder, Wake,
};
use crate::app::clock::SharedClock;
use crate::engine::{RemoteConfig, RemoteVerifier};

/// Ends when the UI drops its sender.
pub(super) fn run(
    recorder: SharedRecorder,
    jobs: Receiver<(Box<CompareJob>, RemoteService)>,
    events: Sender<Event>,
    wake: Wake,
    clock: SharedClock,
) {
    while let Ok((job, service)) = jobs.recv() {
        let purpose = job.purpose;
        let result = RemoteVerifier::new(
            RemoteConfig {
                base_url: service.base_url,
                ..RemoteConfig::default()
            },
            service.token,
        )
        .map_err(|e| CompareError::Engine(e.into()))
        .and_then(|mut v| compare(&mut v, *job, recorder.as_deref(), clock.as_ref()));
        if !send(&events, &wake, Event::Compared { purpose, result }) {
            return;
        }
        if purpose == Purpose::Decision {
            send(&events, &wake, Event::Recent(recent(recorder.as_deref())));
        }
    }
}
