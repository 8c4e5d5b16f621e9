/*-------------------------------------------------------------------------
 *
 * xact.c
 *	  Transactions and subtransactions that hand back their error, and the
 *	  lock-aware retry: DDL and batches run under a short lock_timeout and
 *	  are tried again, after a wait on the latch, when the lock was not
 *	  granted in time.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "core/compat.h"
#include "core/guc.h"
#include "core/xact.h"

/* The wait before the second try; it doubles each time, up to the cap. */
#define STEWARD_RETRY_FIRST_WAIT_MS 100
#define STEWARD_RETRY_MAX_WAIT_MS	10000

bool
steward_is_interrupt(ErrorData *edata)
{
	/*
	 * Only the server's interrupt processing raises a real cancel; a
	 * user's trigger can raise SQLSTATE 57014 too, and must not end the
	 * run for every other table.
	 */
	return edata != NULL && edata->sqlerrcode == ERRCODE_QUERY_CANCELED &&
		edata->funcname != NULL && strcmp(edata->funcname, "ProcessInterrupts") == 0 &&
		(edata->message_id == NULL ||
		 strcmp(edata->message_id, "canceling statement due to statement timeout") != 0);
}

ErrorData *
steward_in_subxact(StewardXactFn fn, void *arg)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	/* a cancel or statement timeout stops everything, not just this step */
	if (steward_is_interrupt(edata))
		ReThrowError(edata);
	return edata;
}

void
steward_xact_begin(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
}

void
steward_xact_commit(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	steward_notify_after_commit();
}

ErrorData *
steward_in_xact(StewardXactFn fn, void *arg, MemoryContext mcxt)
{
	ErrorData  *volatile edata = NULL;

	steward_xact_begin();
	PG_TRY();
	{
		fn(arg);
		steward_xact_commit();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(mcxt);
		/* a maintenance time limit armed inside (steward_owner_enter) */
		disable_timeout(STATEMENT_TIMEOUT, false);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(mcxt);
	if (steward_is_interrupt(edata))
		ReThrowError(edata);
	return edata;
}

int
steward_push_lock_timeout(int ms)
{
	char		value[32];
	int			level = NewGUCNestLevel();

	snprintf(value, sizeof(value), "%d", ms);
	(void) set_config_option("lock_timeout", value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

/*
 * Wait 'ms' on the process latch: a cancel or shutdown is served at once,
 * postmaster death ends the process, a latch set for another reason (a
 * wake-up, a reload) does not cut the wait short.
 */
static void
steward_backoff_wait(long ms)
{
	TimestampTz end = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);

	for (;;)
	{
		long		remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), end);

		if (remaining <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 remaining, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

ErrorData *
steward_retry_attempts_on_lock_timeout(StewardAttemptFn attempt, void *arg,
									   int attempts, const char *what)
{
	long		wait_ms = STEWARD_RETRY_FIRST_WAIT_MS;
	int			tries;

	for (tries = 1;; tries++)
	{
		ErrorData  *edata = attempt(arg);

		if (edata == NULL || edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			return edata;
		if (tries >= attempts)
		{
			/* say which work waited: it names the tables */
			if (what != NULL)
				edata->message = psprintf("could not get a lock within steward.partition_lock_timeout (%d ms, %d tries) %s",
										  steward_partition_lock_timeout, tries, what);
			return edata;
		}
		steward_backoff_wait(wait_ms);
		wait_ms = Min(wait_ms * 2, STEWARD_RETRY_MAX_WAIT_MS);
	}
}

typedef struct StewardLockTry
{
	StewardXactFn fn;
	void	   *arg;
	MemoryContext mcxt;			/* the caller's, for the error */
} StewardLockTry;

/* One try, inside its (sub)transaction, under the lock timeout. */
static void
steward_lock_try_body(void *arg)
{
	StewardLockTry *call = (StewardLockTry *) arg;
	int			level = steward_push_lock_timeout(steward_partition_lock_timeout);

	call->fn(call->arg);
	AtEOXact_GUC(true, level);
}

static ErrorData *
steward_lock_try(void *arg)
{
	StewardLockTry *call = (StewardLockTry *) arg;

	/* no other choice: a transaction cannot start inside another */
	if (IsTransactionState())
		return steward_in_subxact(steward_lock_try_body, call);
	return steward_in_xact(steward_lock_try_body, call, call->mcxt);
}

ErrorData *
steward_retry_on_lock_timeout(StewardXactFn fn, void *arg, int attempts, const char *what)
{
	StewardLockTry call = {fn, arg, CurrentMemoryContext};

	return steward_retry_attempts_on_lock_timeout(steward_lock_try, &call, attempts, what);
}
