# memory
PROGS		+= memory
memory_SQL	:= $(sort $(wildcard services/memory/sql/*.sql))
memory_SRCS	:= $(wildcard services/memory/*.c) $(BUILD)/gen/memory_sql.c
