//! A session's interrupt signal: raised when a `user.interrupt` is
//! recorded, so that a model call waiting on a stalled provider ends at
//! once instead of at its next byte.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::pin::pin;
use std::rc::Rc;
use std::task::Context;
use std::task::Poll;
use std::task::Waker;
use std::time::Duration;

use futures_util::future::Either;
use futures_util::future::select;

/// Shared by the session object and the model calls it makes.
#[derive(Debug, Clone, Default)]
pub(crate) struct InterruptSignal(Rc<RefCell<Signal>>);

#[derive(Debug, Default)]
struct Signal {
    /// How many interrupts were raised.
    raised: u64,
    wakers: Vec<Waker>,
}

impl InterruptSignal {
    /// Wakes everything waiting for an interrupt.
    pub(crate) fn raise(&self) {
        let wakers = {
            let mut signal = self.0.borrow_mut();
            signal.raised += 1;
            std::mem::take(&mut signal.wakers)
        };
        for waker in wakers {
            waker.wake();
        }
    }

    /// How many interrupts were raised so far: what a call started now has seen.
    pub(crate) fn seen(&self) -> u64 {
        self.0.borrow().raised
    }

    /// Waits for `work` until `ms` pass or an interrupt after `seen` is
    /// raised, whichever comes first.
    pub(crate) async fn bounded<T>(
        &self,
        work: impl Future<Output = T>,
        ms: u64,
        seen: u64,
    ) -> Result<T, Cut> {
        let work = pin!(work);
        let timer = pin!(worker::Delay::from(Duration::from_millis(ms)));
        let interrupted = pin!(self.after(seen));
        match select(work, select(timer, interrupted)).await {
            Either::Left((value, _)) => Ok(value),
            Either::Right((Either::Left(_), _)) => Err(Cut::Deadline),
            Either::Right((Either::Right(_), _)) => Err(Cut::Interrupt),
        }
    }

    /// Resolves once an interrupt is raised after `seen`.
    pub(crate) fn after(&self, seen: u64) -> Interrupted {
        Interrupted {
            signal: self.clone(),
            seen,
        }
    }
}

/// Why [`InterruptSignal::bounded`] ended a wait early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// The deadline passed.
    Deadline,
    /// An interrupt was raised.
    Interrupt,
}

/// The future of [`InterruptSignal::after`].
#[derive(Debug)]
pub(crate) struct Interrupted {
    signal: InterruptSignal,
    seen: u64,
}

impl Future for Interrupted {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut signal = self.signal.0.borrow_mut();
        if signal.raised > self.seen {
            return Poll::Ready(());
        }
        if !signal.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            signal.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
