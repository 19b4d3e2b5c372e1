# channels
PROGS		+= channels
channels_SQL	:= $(sort $(wildcard services/channels/sql/*.sql))
channels_SRCS	:= $(wildcard services/channels/*.c) $(BUILD)/gen/channels_sql.c
