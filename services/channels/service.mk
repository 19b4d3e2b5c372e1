# channels
PROGS		+= channels
channels_SQL	:= $(sort $(wildcard services/channels/sql/*.sql))
channels_SRCS	:= $(wildcard services/channels/*.c) $(BUILD)/gen/channels_sql.c

# Each channel adapter is a program of its own (adapters/NAME/adapter.mk).
include $(wildcard services/channels/adapters/*/adapter.mk)
