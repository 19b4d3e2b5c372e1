# channels
PROGS		+= channels
channels_SQL	:= $(sort $(wildcard services/channels/sql/*.sql))
# The dashboard's sessions are a module of their own (dashsess/).
channels_SRCS	:= $(wildcard services/channels/*.c) \
		   $(wildcard services/channels/dashsess/*.c) \
		   $(BUILD)/gen/channels_sql.c
# Includes name the module: #include "dashsess/dashsess.h".
$(BUILD)/obj/services/channels/%.o: ALL_CFLAGS += -Iservices/channels

# Each channel adapter is a program of its own (adapters/NAME/adapter.mk).
# The adapters' library first: every adapter lists $(ADAPTER_LIB_SRCS).
include services/channels/adapters/lib/adapter.mk
include $(filter-out %/lib/adapter.mk,$(wildcard services/channels/adapters/*/adapter.mk))
