# agent-runtime
PROGS			+= agent-runtime
agent-runtime_SQL	:= $(sort $(wildcard services/agent-runtime/sql/*.sql))
agent-runtime_SRCS	:= $(wildcard services/agent-runtime/*.c) \
			   $(BUILD)/gen/agent-runtime_sql.c
