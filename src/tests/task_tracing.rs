//! (feature `tracing`) Each task's span, entered around each poll: an
//! event logged inside a task is seen inside `task{id, name, spawned_at}`,
//! on whichever worker polls it; one logged outside tasks is not.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use super::common::rt;

#[derive(Default)]
struct Seen {
    next: AtomicU64,
    spans: Mutex<HashMap<u64, String>>,
    /// (message, the span the event was in).
    events: Mutex<Vec<(String, Option<String>)>>,
}

struct Recorder(Arc<Seen>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?};", field.name(), value);
    }
}

thread_local! {
    static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.0.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut f = Fields(format!("{}:", span.metadata().name()));
        span.record(&mut f);
        self.0.spans.lock().unwrap().insert(id, f.0);
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut f = Fields(String::new());
        event.record(&mut f);
        let current = ENTERED.with(|e| e.borrow().last().copied());
        let span = current.and_then(|id| self.0.spans.lock().unwrap().get(&id).cloned());
        self.0.events.lock().unwrap().push((f.0, span));
    }
    fn enter(&self, span: &Id) {
        ENTERED.with(|e| e.borrow_mut().push(span.into_u64()));
    }
    fn exit(&self, _: &Id) {
        ENTERED.with(|e| e.borrow_mut().pop());
    }
}

#[test]
fn a_task_logs_inside_its_span() {
    let seen = Arc::new(Seen::default());
    // Global: workers log through the global dispatcher. Only this test
    // sets one.
    tracing::subscriber::set_global_default(Recorder(seen.clone())).unwrap();
    let rt = rt(2);
    let line = line!() + 1;
    let task = ferrio::task::Builder::new().name("logger").spawn_on(
        async {
            tracing::info!("inside the task");
            ferrio::yield_now().await;
            tracing::info!("after a yield");
        },
        &rt.handle(),
    );
    let id = task.id();
    rt.block_on(task).unwrap();
    rt.block_on(async { tracing::info!("in block_on") });
    let events = seen.events.lock().unwrap().clone();
    let span_of = |msg: &str| {
        events
            .iter()
            .find(|(m, _)| m.contains(msg))
            .unwrap_or_else(|| panic!("no event {msg:?} in {events:?}"))
            .1
            .clone()
    };
    for msg in ["inside the task", "after a yield"] {
        let span = span_of(msg).unwrap_or_else(|| panic!("{msg:?} outside any span"));
        assert!(span.starts_with("task:"), "{span}");
        assert!(span.contains(&format!("id={id};")), "{span}");
        assert!(span.contains("name=\"logger\";"), "{span}");
        assert!(
            span.contains(&format!("spawned_at={}:{line}:", file!())),
            "{span}"
        );
    }
    assert_eq!(span_of("in block_on"), None);
}
