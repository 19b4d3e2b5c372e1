# scheduler
PROGS		+= scheduler
scheduler_SQL	:= $(sort $(wildcard services/scheduler/sql/*.sql))
scheduler_SRCS	:= $(wildcard services/scheduler/*.c) $(BUILD)/gen/scheduler_sql.c
