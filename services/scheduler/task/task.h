/*
 * task/task.h - the task queue ("task board", notes/kernel.md 4.2): the
 * operations tasks.* behind /api/tasks/... and the agent tools task_post,
 * task_claim, task_complete, task_list and task_status; queue.status and
 * inbox.status; and the stuck-task sweeper.
 *
 * Table scheduler.tasks (sql/005_goals_tasks.sql).  A task is pending,
 * in_progress (claimed by an agent), completed, failed or cancelled.  A
 * claim is one UPDATE of the oldest highest-priority pending task, chosen
 * FOR UPDATE SKIP LOCKED and set only while still pending, so two
 * replicas (or two agents) never claim one task twice.  Each replica runs
 * the sweeper; it moves in_progress tasks whose claim is older than
 * task_claim_ttl_secs back to pending (or to failed once task_max_retries
 * are used), row by row under the same locks, so sweepers never count one
 * expiry twice.
 *
 * Posting, claiming and completing publish System TaskPosted,
 * TaskClaimed and TaskCompleted on TOPIC_EVENTS (notes 2.1), which
 * task_posted triggers match to wake the assignee.  The row is committed
 * before the event is sent: a lost event loses a wake, never a task.
 */
#ifndef TASK_H
#define TASK_H

#include "svc.h"

/* [scheduler] keys read at start (docs/configuration.md). */
struct task_conf {
	long long	tc_claim_ttl_secs;	/* 600; 0: claims never expire */
	long long	tc_sweep_secs;		/* 30 */
	long long	tc_max_retries;		/* 0: unlimited */
	long long	tc_retention_days;	/* 7; 0: keep finished tasks */
};

extern struct task_conf	task_conf;
extern const struct svc_op task_ops[];
extern const struct svc_op task_board_ops[];

/* Reads the config and starts the sweeper thread: 0, or -1 (logged). */
int	 task_start(void);
/* Stops and joins the sweeper. */
void	 task_stop(void);

#endif
