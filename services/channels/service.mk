# channels
PROGS		+= channels
channels_SQL	:= $(sort $(wildcard services/channels/sql/*.sql))
channels_SRCS	:= $(wildcard services/channels/*.c) $(BUILD)/gen/channels_sql.c

# Each channel adapter is a program of its own (adapters/NAME/adapter.mk).
# The adapters' library first: every adapter lists $(ADAPTER_LIB_SRCS).
include services/channels/adapters/lib/adapter.mk
include $(filter-out %/lib/adapter.mk,$(wildcard services/channels/adapters/*/adapter.mk))
