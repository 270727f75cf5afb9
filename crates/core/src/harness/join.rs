//! Runs two futures together, polling the first one first.

use std::future::Future;
use std::future::poll_fn;
use std::pin::pin;
use std::task::Poll;

/// Awaits both futures. Each poll polls `first` before `second`, so what
/// `first` does before its first suspension happens before anything
/// `second` does.
pub(super) async fn join<A: Future, B: Future>(first: A, second: B) -> (A::Output, B::Output) {
    let mut first = pin!(first);
    let mut second = pin!(second);
    let mut a = None;
    let mut b = None;
    poll_fn(|cx| {
        if a.is_none()
            && let Poll::Ready(out) = first.as_mut().poll(cx)
        {
            a = Some(out);
        }
        if b.is_none()
            && let Poll::Ready(out) = second.as_mut().poll(cx)
        {
            b = Some(out);
        }
        if a.is_some()
            && b.is_some()
            && let (Some(a), Some(b)) = (a.take(), b.take())
        {
            return Poll::Ready((a, b));
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    #[tokio::test]
    async fn polls_the_first_future_first_and_returns_both_outputs() {
        let order = RefCell::new(Vec::new());
        let (x, y) = join(
            async {
                order.borrow_mut().push("first");
                tokio::task::yield_now().await;
                order.borrow_mut().push("first again");
                1
            },
            async {
                order.borrow_mut().push("second");
                "two"
            },
        )
        .await;
        assert_eq!((x, y), (1, "two"));
        assert_eq!(*order.borrow(), vec!["first", "second", "first again"]);
    }
}
