/* Wait lists of requests parked by an authorization provider. */
#include <criterion/criterion.h>
#include <stddef.h>

#include "auth/authz.h"

struct parked {
  struct egw_authz_wait wait;
  int resumed;
  struct egw_authz_waitlist *requeue; /* wait again on this list when resumed */
  struct egw_authz_wait *cancel;      /* cancel this other wait when resumed */
};

static void on_resume(struct egw_authz_wait *w) {
  struct parked *p = (struct parked *)((char *)w - offsetof(struct parked, wait));
  p->resumed++;
  if (p->cancel)
    egw_authz_wait_cancel(p->cancel);
  if (p->requeue)
    egw_authz_waitlist_add(p->requeue, w);
}

static void init(struct parked *p) { *p = (struct parked){.wait = {.resume = on_resume}}; }

Test(waitlist, wake_resumes_each_wait_once) {
  struct egw_authz_waitlist l = {0};
  struct parked a, b, c;
  init(&a), init(&b), init(&c);
  egw_authz_waitlist_add(&l, &a.wait);
  egw_authz_waitlist_add(&l, &b.wait);
  egw_authz_waitlist_add(&l, &c.wait);
  egw_authz_waitlist_wake(&l);
  cr_assert_eq(a.resumed + b.resumed + c.resumed, 3);
  cr_assert_null(l.head);
  egw_authz_waitlist_wake(&l);
  cr_assert_eq(a.resumed + b.resumed + c.resumed, 3);
}

Test(waitlist, cancelled_wait_is_not_resumed) {
  struct egw_authz_waitlist l = {0};
  struct parked a, b;
  init(&a), init(&b);
  egw_authz_waitlist_add(&l, &a.wait);
  egw_authz_waitlist_add(&l, &b.wait);
  egw_authz_wait_cancel(&a.wait);
  egw_authz_wait_cancel(&a.wait); /* twice is harmless */
  egw_authz_waitlist_wake(&l);
  cr_assert_eq(a.resumed, 0);
  cr_assert_eq(b.resumed, 1);
}

Test(waitlist, a_resumed_wait_may_cancel_another_of_its_round) {
  struct egw_authz_waitlist l = {0};
  struct parked a, b;
  init(&a), init(&b);
  egw_authz_waitlist_add(&l, &a.wait);
  egw_authz_waitlist_add(&l, &b.wait); /* b is woken first and cancels a */
  b.cancel = &a.wait;
  egw_authz_waitlist_wake(&l);
  cr_assert_eq(b.resumed, 1);
  cr_assert_eq(a.resumed, 0);
}

Test(waitlist, waiting_again_goes_to_the_next_round) {
  struct egw_authz_waitlist l = {0};
  struct parked a;
  init(&a);
  a.requeue = &l;
  egw_authz_waitlist_add(&l, &a.wait);
  egw_authz_waitlist_wake(&l);
  cr_assert_eq(a.resumed, 1);
  cr_assert_eq(l.head, &a.wait);
  a.requeue = NULL;
  egw_authz_waitlist_wake(&l);
  cr_assert_eq(a.resumed, 2);
}
