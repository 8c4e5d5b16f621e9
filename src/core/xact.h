/*-------------------------------------------------------------------------
 *
 * xact.h
 *	  Transactions and subtransactions that return their error, and the
 *	  lock-aware retry built on them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_XACT_H
#define STEWARD_XACT_H

#include "postgres.h"

/* A unit of work run by the wrappers below. */
typedef void (*StewardXactFn) (void *arg);

/*
 * Is this error a real cancel or statement timeout (from the server's
 * interrupt processing), which must end the whole run?
 */
extern bool steward_is_interrupt(ErrorData *edata);

/*
 * A transaction of a worker's own, with SPI connected and a snapshot set;
 * commit it with steward_xact_commit().  An error aborts it as usual (the
 * worker's loop catches it).
 */
extern void steward_xact_begin(void);
extern void steward_xact_commit(void);

/*
 * Run fn(arg) in a transaction of its own (outside any transaction), with
 * SPI connected and a snapshot set.  Returns NULL once committed, or the
 * error (copied into 'mcxt') after rolling back.  A cancel (max_runtime,
 * shutdown) is rethrown: it ends the whole run.  Returns in 'mcxt'.
 */
extern ErrorData *steward_in_xact(StewardXactFn fn, void *arg, MemoryContext mcxt);

/*
 * Run fn(arg) in a subtransaction of the current transaction.  Returns
 * NULL on success; on error the subtransaction is rolled back and the
 * error returned (in the caller's memory context), so the caller decides
 * whether to retry, report or rethrow it.  SPI, if connected, stays
 * usable.  A real cancel is rethrown.
 */
extern ErrorData *steward_in_subxact(StewardXactFn fn, void *arg);

/*
 * Set lock_timeout to 'ms' for what follows; returns the GUC nest level to
 * pass to AtEOXact_GUC(true, level) to restore it (abort restores it too).
 */
extern int	steward_push_lock_timeout(int ms);

/*
 * Lock-aware retry.  Run fn(arg) under lock_timeout =
 * steward.partition_lock_timeout, each try in a subtransaction of the
 * current transaction (steward_in_subxact) or, outside any transaction, in
 * a transaction of its own (steward_in_xact).  A try that fails because a
 * lock was not granted in time (SQLSTATE 55P03) is rolled back and run
 * again after a wait on the process latch (100 ms, 200 ms, 400 ms, ...), up
 * to 'attempts' tries in all.  Returns NULL once a try succeeded, or the
 * error: the first error of another kind, or after the last try the lock
 * error, its message then "could not get a lock within
 * steward.partition_lock_timeout (N ms, M tries) <what>" (what: e.g. "for:
 * DROP TABLE ..." or "to delete from ..."; NULL keeps the message).  The
 * error is in the memory context current at the call, which is current on
 * return.  A real cancel is rethrown.
 */
extern ErrorData *steward_retry_on_lock_timeout(StewardXactFn fn, void *arg,
												int attempts, const char *what);

/*
 * One try that catches its own error (say, statements run at top level,
 * across transactions of their own): returns NULL or the error.
 */
typedef ErrorData *(*StewardAttemptFn) (void *arg);

/*
 * The same retry for tries that set their own lock_timeout and catch their
 * own errors: same waits, the same SQLSTATE retried, the same final message.
 */
extern ErrorData *steward_retry_attempts_on_lock_timeout(StewardAttemptFn attempt, void *arg,
														 int attempts, const char *what);

#endif							/* STEWARD_XACT_H */
